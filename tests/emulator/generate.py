"""Generation of the account: `generate(seed, sizes...)` builds a `Dataset` that is a pure
function of its arguments (see dataset.py for the records and the traps they hold)."""
import random
from datetime import datetime, timedelta

from .dataset import (ATTACHMENT_ID_BASE, CONVERSATION_ID_BASE, CUSTOMER_ID_BASE, FIRST_NAMES, HISTORY_END,
                      HISTORY_START, LAST_NAMES, ROLES, TAG_NAMES, THREAD_ID_BASE, TIMEZONES, UTC, Dataset,
                      _random_time, iso, parse_iso)
from .resources import add_resources


def generate(seed=1, conversations=200, customers=100, mailboxes=3, users=8, teams=3, workflows=6,
             ratings=50, chat_fraction=0.2, organizations=5, tags_never_updated=0,
             thread_count_published_only=False, recent_conversations=0, recent_days=400, recent_until=None,
             long_threads=None):
    """Build the account. Deterministic: the same arguments give the same records. The parts
    beyond the original eleven streams (organizations, customer properties, saved replies) and
    the options' extra traps come from their own seeded generators (resources.py), so they
    leave every other record exactly as it was without them.

    `recent_conversations` more conversations (default none) come last, from their own seeded
    generator, with their activity in the `recent_days` days before `recent_until` (a datetime;
    default: today's 00:00:00Z, so the same all day long): see `add_recent_conversations`.

    `long_threads`: the share of email and phone conversations with 26 to 120 threads (beyond the
    cap of 25 embedded threads, many beyond a thread page of 50); None keeps the default mix
    (4% with 26 to 50)."""
    if conversations > 0 and customers < 1:
        raise ValueError("conversations need at least one customer")
    data = Dataset()
    rng = data._rng = random.Random(f"helpscout-emulator/{seed}")
    data._chat_fraction = chat_fraction
    data.published_thread_count = thread_count_published_only
    data._next_ids = {"conversation": CONVERSATION_ID_BASE, "thread": THREAD_ID_BASE, "customer": CUSTOMER_ID_BASE,
                      "attachment": ATTACHMENT_ID_BASE, "entry": 700_000_000, "number": 1000, "user": 400_000,
                      "team": 900_000, "mailbox": 100_000, "folder": 3_000_000, "field": 8_000, "option": 33_000,
                      "workflow": 600_000, "tag": 9_100}

    # Users: every role, one owner. Light users see one mailbox only.
    for i in range(max(users, 1)):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        created = _random_time(rng, HISTORY_START, datetime(2021, 1, 1, tzinfo=UTC))
        uid = data._new_id("user")
        user = {"id": uid, "firstName": first, "lastName": last,
                "email": f"{first[:1].lower()}.{uid}@helpdesk.example.com",
                "role": "owner" if i == 0 else ROLES[1 + (i - 1) % 3],
                "timezone": rng.choice(TIMEZONES),
                "photoUrl": f"https://d33v4339jhl8k0.cloudfront.net/users/{uid}.png",
                "createdAt": iso(created), "updatedAt": iso(_random_time(rng, created)),
                "type": "user", "mention": f"{first[:1]}{last}".lower().replace(" ", "").replace("'", ""),
                "initials": (first[:1] + last[:1]).upper(), "jobTitle": rng.choice(["Support Hero", "Honey Master", None]),
                "phone": rng.choice(["555-2368", None]),
                "alternateEmails": rng.choice([[], [f"alt.{uid}@example.com"]])}
        data.users.append(user)
        data._user_by_id[uid] = user

    # Mailboxes, their custom fields and folders.
    field_templates = [("Account Type", "dropdown", ["Premium", "Basic", "Trial", "Entreprise (FR)"]),
                       ("Order number", "single_line", None), ("Seats", "number", None),
                       ("Renewal date", "date", None), ("Notes", "multi_line", None)]
    for i in range(max(mailboxes, 1)):
        created = _random_time(rng, HISTORY_START, datetime(2019, 6, 1, tzinfo=UTC))
        mid = data._new_id("mailbox")
        name = ["Support", "Billing", "Ventes & Partenariats", "Engineering", "Press"][i % 5] + ("" if i < 5 else f" {i}")
        data.mailboxes.append({"id": mid, "name": name, "slug": "%016x" % rng.getrandbits(64),
                               "email": f"{name.split()[0].lower()}{i}@acme.example.com",
                               "createdAt": iso(created), "updatedAt": iso(_random_time(rng, created))})
        # the last mailbox has no custom fields at all (and its conversations have customFields [])
        templates = [] if (i == max(mailboxes, 1) - 1 and mailboxes > 1) else field_templates[: 5 - i % 3]
        fields = []
        for order, (fname, ftype, labels) in enumerate(templates, start=1):
            options = [{"id": data._new_id("option", 50), "order": k, "label": label}
                       for k, label in enumerate(labels or [], start=1)]
            fields.append({"id": data._new_id("field", 20), "required": order == 1, "order": order,
                           "type": ftype, "name": fname, "options": options})
        data.fields[mid] = fields
    for user in data.users:
        if user["role"] == "light user":
            data.user_mailboxes[user["id"]] = {data.mailboxes[0]["id"]}
        else:
            data.user_mailboxes[user["id"]] = {m["id"] for m in data.mailboxes}

    # Teams and members (one team without members: its members listing has no _embedded).
    for i in range(teams):
        created = _random_time(rng, HISTORY_START, datetime(2021, 1, 1, tzinfo=UTC))
        tid = data._new_id("team")
        name = ["Engineers", "Tier 2", "Équipe Europe", "Night shift", "VIP desk"][i % 5] + ("" if i < 5 else f" {i}")
        data.teams.append({"id": tid, "name": name, "timezone": rng.choice(TIMEZONES),
                           "mention": name.split()[0].lower().replace("é", "e"),
                           "initials": "".join(w[0] for w in name.split())[:2].upper(),
                           "photoUrl": f"https://d33v4339jhl8k0.cloudfront.net/teams/{tid}.png",
                           "createdAt": iso(created), "updatedAt": iso(_random_time(rng, created))})
        if i == teams - 1 and teams > 2:
            data.members[tid] = []
        else:
            data.members[tid] = sorted(u["id"] for u in rng.sample(data.users, rng.randint(1, len(data.users))))

    # Workflows: manual and automatic, every status, `order` within each mailbox.
    order_in_mailbox = {}
    for i in range(workflows):
        mailbox = rng.choice(data.mailboxes)
        order_in_mailbox[mailbox["id"]] = order_in_mailbox.get(mailbox["id"], 0) + 1
        created = _random_time(rng)
        data.workflows.append({"id": data._new_id("workflow"), "mailboxId": mailbox["id"],
                               "type": ["manual", "automatic"][i % 2], "status": ["active", "inactive", "invalid"][i % 3],
                               "order": order_in_mailbox[mailbox["id"]],
                               "name": rng.choice(["Assign to Spam", "Tag VIPs", "Auto-close after 7 days",
                                                   "Weiterleitung an Vertrieb", "Escalate"]),
                               "createdAt": iso(created), "modifiedAt": iso(_random_time(rng, created))})

    # Folders: the standard set per mailbox, plus a personal "Mine" folder of the owner.
    owner = data.users[0]
    for mailbox in data.mailboxes:
        folders = []
        for fname, ftype in [("Unassigned", "open"), ("Mine", "mytickets"), ("Assigned", "assigned"),
                             ("Drafts", "drafts"), ("Closed", "closed"), ("Spam", "spam")]:
            folders.append({"id": data._new_id("folder", 30), "name": fname, "type": ftype,
                            "userId": owner["id"] if ftype == "mytickets" else 0,
                            "totalCount": 0, "activeCount": 0, "updatedAt": ""})
        data.folders[mailbox["id"]] = folders
        data._folder_by_id.update((f["id"], f) for f in folders)

    # Tags.
    for name, color in TAG_NAMES:
        created = _random_time(rng, HISTORY_START, datetime(2020, 1, 1, tzinfo=UTC))
        tag = {"id": data._new_id("tag", 40), "name": name, "slug": name.lower(), "color": color,
               "createdAt": iso(created), "updatedAt": iso(_random_time(rng, created)), "ticketCount": 0}
        data.tags.append(tag)
        data._tag_by_name[name] = tag

    # Customers, created in time order (ids grow with createdAt), with an "import" batch sharing
    # createdAt and updatedAt.
    created_times = sorted(_random_time(rng) for _ in range(customers))
    if customers >= 6:
        batch = min(60, customers // 3)
        start = rng.randint(0, customers - batch)
        for k in range(start, start + batch):
            created_times[k] = created_times[start]
    import_time = created_times[start] if customers >= 6 else None
    for k, created in enumerate(created_times):
        if import_time is not None and created == import_time:
            updated = created
        else:
            updated = created if rng.random() < 0.2 else _random_time(rng, created, HISTORY_END)
        cust = data._make_customer(created, updated)
        data.customers.append(cust)
        data._customer_by_id[cust["id"]] = cust

    # Conversations in time order; some share createdAt with their predecessor.
    created_times = sorted(_random_time(rng) for _ in range(conversations))
    for k in range(1, conversations):
        if rng.random() < 0.05:
            created_times[k] = created_times[k - 1]
    big = set(rng.sample(range(conversations), min(2, conversations))) if conversations >= 10 else set()
    statuses = ["active"] * 35 + ["pending"] * 15 + ["closed"] * 42 + ["spam"] * 8
    for k, created in enumerate(created_times):
        conv = data._make_conversation(created, rng.random() < chat_fraction)
        data.conversations.append(conv)
        data._conversation_by_id[conv["id"]] = conv
        if k in big:
            count = [55, 120][sorted(big).index(k)]     # beyond two thread pages of 50
        elif conv["type"] == "chat":
            count = rng.randint(6, 40)
        else:
            if long_threads is None:
                count = rng.choices([rng.randint(1, 8), rng.randint(9, 25), rng.randint(26, 50)], [85, 11, 4])[0]
            else:
                count = rng.choices([rng.randint(1, 8), rng.randint(9, 25), rng.randint(26, 120)],
                                    [88 * (1 - long_threads), 12 * (1 - long_threads), 100 * long_threads])[0]
        span = (3 * 3600 if conv["type"] == "chat" else min(count, 20) * 3 * 86400)
        data._make_threads(conv, created, count, span)
        last = max(parse_iso(t["createdAt"]) for t in data.threads[conv["id"]])
        status = rng.choice(statuses)
        closed_at = last + timedelta(minutes=rng.randint(1, 4000)) if status == "closed" else None
        data._finish_conversation(conv, status, created, closed_at)
        modified = max(parse_iso(conv["userUpdatedAt"]), parse_iso(conv["customerWaitingSince"]["time"]), created)
        if rng.random() < 0.2:
            # invisible changes (a workflow re-tagging, a custom field edit) move only the
            # hidden modification time
            modified += timedelta(seconds=rng.randint(1, 3000))
        data.conversation_modified_at[conv["id"]] = modified

    # A bulk close: a group of conversations closed in the same second, so their hidden
    # modification times are all equal (more than a page of 25 when the dataset is big enough).
    if conversations >= 8:
        group = rng.sample(data.conversations, min(30, max(2, conversations // 15)))
        when = max(data.conversation_modified_at[c["id"]] for c in group) + timedelta(hours=1)
        for conv in group:
            data._set_status(conv, "closed", when)
            conv["userUpdatedAt"] = iso(when)
            data.conversation_modified_at[conv["id"]] = when
        # one conversation closed by a workflow: closedBy 0 and no closedByUser (UNCONFIRMED)
        workflow_closed = next(c for c in data.conversations if c["status"] == "closed" and c not in group)
        workflow_closed["closedBy"] = 0
        del workflow_closed["closedByUser"]

    count_folders(data)

    # Happiness ratings on user replies; some share ratingCreatedAt.
    rated = [(c, t) for c in data.conversations for t in data.threads[c["id"]]
             if t["type"] == "reply" and t["createdBy"]["type"] == "user" and t["state"] == "published"]
    rng.shuffle(rated)
    previous = None
    for conv, thread in rated[:ratings]:
        user = data._user_by_id[thread["createdBy"]["id"]]
        cust = data._customer_by_id[conv["primaryCustomer"]["id"]]
        rating_id = rng.choices([1, 2, 3], [70, 20, 10])[0]
        created = parse_iso(thread["createdAt"]) + timedelta(minutes=rng.randint(1, 2000))
        if previous is not None and rng.random() < 0.1:
            created = previous
        previous = created
        data.ratings.append({
            "number": conv["number"], "threadid": thread["id"], "threadCreatedAt": thread["createdAt"],
            "id": conv["id"], "type": conv["type"], "ratingId": rating_id, "ratingCustomerId": cust["id"],
            "ratingComments": rng.choice(["Thanks for the clear reply, Amanda!", "", None, "Très bien 👍",
                                          "Took too long.", "素晴らしい対応でした"]),
            "ratingCreatedAt": iso(created),
            "ratingCustomerName": f"{cust['firstName']} {cust['lastName']}",
            "ratingUserId": user["id"], "ratingUserName": f"{user['firstName']} {user['lastName']}"})

    add_resources(data, seed, organizations=organizations, tags_never_updated=tags_never_updated,
                  hidden_threads=thread_count_published_only)
    if recent_conversations:
        add_recent_conversations(data, seed, recent_conversations, recent_days, recent_until)
    return data


def count_folders(data):
    """Folder counters and dates reflect the generated conversations."""
    for mailbox_id, folders in data.folders.items():
        for folder in folders:
            inside = [c for c in data.conversations if c["folderId"] == folder["id"]]
            folder["totalCount"] = len(inside)
            folder["activeCount"] = sum(1 for c in inside if c["status"] == "active")
            folder["updatedAt"] = iso(max([data.conversation_modified_at[c["id"]] for c in inside],
                                          default=datetime(2019, 6, 1, tzinfo=UTC)))


def add_recent_conversations(data, seed, count, days=400, until=None):
    """`count` conversations whose whole activity lies in the `days` days before `until`, for
    the time-series reports (the historical ones end in 2025). They are spread evenly: the
    window is cut into `count` equal slots and each conversation is created at a seeded moment
    of its own slot, so with `count >= 2 * days` every UTC day of the window has at least one
    new conversation. Their threads, statuses (closed ones included) and mix of types are drawn
    as for the others, from a generator of their own (`recent/<seed>`), and they end before
    `until` (threads and closedAt at most `until` - 1 s)."""
    if until is None:
        until = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    elif until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    until = until.replace(microsecond=0)
    window = int(days * 86400)
    begin = until - timedelta(seconds=window)
    statuses = ["active"] * 35 + ["pending"] * 15 + ["closed"] * 42 + ["spam"] * 8
    rng = random.Random(f"recent/{seed}")
    main_rng, data._rng = data._rng, rng          # the dataset's helpers draw from data._rng
    try:
        for k in range(count):
            created = begin + timedelta(seconds=int((k + rng.random()) * window / count))
            conv = data._make_conversation(created, rng.random() < data._chat_fraction)
            data.conversations.append(conv)
            data._conversation_by_id[conv["id"]] = conv
            if conv["type"] == "chat":
                threads = rng.randint(6, 40)
            else:
                threads = rng.choices([rng.randint(1, 8), rng.randint(9, 25)], [88, 12])[0]
            room = max(0, int((until - created).total_seconds()) - 1)
            span = min(3 * 3600 if conv["type"] == "chat" else min(threads, 20) * 3 * 86400, room)
            data._make_threads(conv, created, threads, span)
            last = max(parse_iso(t["createdAt"]) for t in data.threads[conv["id"]])
            status = rng.choice(statuses)
            closed_at = None
            if status == "closed":
                closed_at = max(last, min(last + timedelta(minutes=rng.randint(1, 4000)),
                                          until - timedelta(seconds=1)))
            data._finish_conversation(conv, status, created, closed_at)
            data.conversation_modified_at[conv["id"]] = max(parse_iso(conv["userUpdatedAt"]),
                                                            parse_iso(conv["customerWaitingSince"]["time"]), created)
    finally:
        data._rng = main_rng
    count_folders(data)
