"""The account's resources beyond the original eleven streams (organizations, customer property
definitions, saved replies), the options' extra traps, and the changes a test makes to them
between runs (deletions for the tap's table-versioning tests, and a few additions).

Each part is drawn from its own seeded generator, never from the dataset's main one, so adding
it leaves every record of the original dataset exactly as it was.
"""
import random
import uuid
from datetime import timedelta

from .dataset import COMPANIES, _strip_html, iso, parse_iso, utc_now

ORGANIZATION_ID_BASE = 41_000_000
SAVED_REPLY_ID_BASE = 7_700_000

# (type, slug, name, option labels). `plan` is the property the customers' embedded
# `properties` carry (type text, as they show it).
PROPERTY_DEFINITIONS = [("text", "plan", "Plan", []), ("dropdown", "tier", "Tier", ["Gold", "Silver", "Bronze"]),
                        ("number", "seats", "Seats", []), ("date", "renewal-date", "Renewal date", []),
                        ("url", "crm-profile", "CRM profile", []),
                        ("dropdown", "region", "Région", ["EMEA", "Americas", "APAC", "日本"])]
# (type, slug, name, dropdown labels) of the organization properties, and what their values look like
ORGANIZATION_PROPERTY_DEFINITIONS = [
    ("text", "customer-tier", "Customer tier", []), ("number", "annual-revenue", "Annual revenue", []),
    ("dropdown", "industry", "Industry", ["Software", "Healthcare", "Finance", "Retail", "Éducation"]),
    ("date", "founded-date", "Founded", []), ("url", "crm-profile", "CRM profile", [])]
ORGANIZATION_PROPERTY_ID_BASE = 1000
SAVED_REPLIES = [
    ("Refund policy", "<p>Hi {{customer.firstName}},</p><p>Refunds take 5–7 business days to appear.</p>", None),
    ("Password reset", "<p>Use the <a href=\"https://example.com/reset\">reset link</a>; it is valid for 1 hour.</p>",
     "Use the reset link at example.com/reset (valid for 1 hour)."),
    ("Shipping times", "<p>Orders ship within 48 h. Versand nach Deutschland: 3–5 Tage.</p>", None),
    ("Welcome 🎉", "<p>Welcome aboard! Here is how to get started…</p>", "Welcome aboard! 🎉"),
    ("Escalated to engineering", "<p>I passed this to our engineers and will update you.</p>", None),
    ("Facturation — réponse type", "<p>Votre facture est disponible dans votre espace client.</p>", None),
]
CHAT_REPLIES = [("Chat greeting", "Hi! How can I help you today?"), ("Chat closing", "Thanks for chatting, have a great day!"),
                ("One moment", "One moment please while I check that…")]


def _uuid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def add_resources(data, seed, organizations=5, tags_never_updated=0, hidden_threads=False):
    """Add the resources to a freshly generated dataset (called by `dataset.generate`)."""
    _add_organizations(data, random.Random(f"organizations/{seed}"), organizations)
    rng = random.Random(f"customer-properties/{seed}")
    for kind, slug, name, labels in PROPERTY_DEFINITIONS:
        data.customer_properties.append({"type": kind, "slug": slug, "name": name,
                                         "options": [{"id": _uuid(rng), "label": label} for label in labels]})
    _add_saved_replies(data, random.Random(f"saved-replies/{seed}"))
    _add_organization_properties(data, random.Random(f"organization-properties/{seed}"))
    rng = random.Random(f"tags/{seed}")
    for tag in rng.sample(data.tags, min(tags_never_updated, len(data.tags))):
        tag.pop("updatedAt")                     # never updated: the key is absent [section 9]
    if hidden_threads:
        _add_hidden_threads(data, random.Random(f"hidden-threads/{seed}"))


def _add_organizations(data, rng, count):
    names = list(COMPANIES)
    rng.shuffle(names)
    next_id = ORGANIZATION_ID_BASE
    for k in range(count):
        name = names[k % len(names)] + ("" if k < len(names) else f" {k // len(names) + 1}")
        next_id += rng.randint(1, 997)
        data.organizations.append(_organization(rng, next_id, name))
    data._next_ids["organization"] = next_id
    data._organization_by_name.update((o["name"], o) for o in data.organizations)
    # customers whose `organization` names an organization of the account belong to it
    for cust in data.customers:
        data.link_organization(cust)


def _organization(rng, organization_id, name):
    slug = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum()) or f"org{organization_id}"
    return {"id": organization_id, "name": name, "website": f"https://www.{slug}.example.com",
            "description": rng.choice(["Long-time customer since 2019.", "Reseller in the DACH region.", None,
                                       "Enterprise account — 24/7 support contract"]),
            "location": rng.choice(["San Francisco, CA", "Berlin", "東京", "São Paulo", None]),
            "logoUrl": rng.choice([f"https://d33v4339jhl8k0.cloudfront.net/organizations/{organization_id}.png", None]),
            "note": rng.choice(["", "Key account: escalate billing issues.", "Prefers phone calls."]),
            "domains": [f"{slug}.example.com"] + ([f"{slug}.example.org"] if rng.random() < 0.3 else []),
            "phones": [f"+1-555-{rng.randint(1000, 9999)}"] if rng.random() < 0.6 else [],
            "brandColor": "#%06x" % rng.getrandbits(24)}


def _add_saved_replies(data, rng):
    next_id = SAVED_REPLY_ID_BASE
    for mailbox in data.mailboxes:
        replies = []
        for name, text, chat_text in rng.sample(SAVED_REPLIES, rng.randint(2, len(SAVED_REPLIES))):
            next_id += rng.randint(1, 97)
            replies.append({"id": next_id, "name": name, "text": text, "chatText": chat_text})
        for name, chat_text in rng.sample(CHAT_REPLIES, rng.randint(0, len(CHAT_REPLIES))):
            next_id += rng.randint(1, 97)
            replies.append({"id": next_id, "name": name, "text": chat_text, "chatText": chat_text})
            data.chat_saved_reply_ids.add(next_id)
        data.saved_replies[mailbox["id"]] = sorted(replies, key=lambda r: r["id"])
    data._next_ids["saved_reply"] = next_id


def _add_hidden_threads(data, rng):
    """Line items and drafts beyond the count (`thread_count_published_only`): the three email
    or phone conversations with the most counted threads (25 or fewer) get enough of them to
    hold more than 25 threads in all, one of them among the newest (so it is embedded)."""
    candidates = sorted((c for c in data.conversations
                         if c["type"] != "chat" and 0 < data.thread_count(c["id"]) <= 25),
                        key=lambda c: (-data.thread_count(c["id"]), c["id"]))
    main_rng, data._rng = data._rng, rng         # _make_thread draws from data._rng
    try:
        for conv in candidates[:3]:
            threads = data.threads[conv["id"]]
            first, last = parse_iso(threads[0]["createdAt"]), parse_iso(threads[-1]["createdAt"])
            span = max(0, int((last - first).total_seconds()))
            for k in range(26 - len(threads) + rng.randint(2, 8)):
                when = last if k == 0 else first + timedelta(seconds=rng.randint(0, span))
                if k % 4 == 3:
                    thread = data._make_thread(conv, "reply", when)
                    thread["state"] = "draft"
                else:
                    thread = data._make_thread(conv, "lineitem", when)
                threads.append(thread)
            threads.sort(key=lambda t: t["createdAt"])
            conv["threads"] = data.thread_count(conv["id"])
    finally:
        data._rng = main_rng


def _add_organization_properties(data, rng):
    """A handful of definitions, and values on about 60% of (organization, property) pairs."""
    data._next_ids["organization_property"] = ORGANIZATION_PROPERTY_ID_BASE
    for kind, slug, name, labels in ORGANIZATION_PROPERTY_DEFINITIONS:
        _define_organization_property(data, rng, kind, slug, name, labels)
    for organization in data.organizations:
        values = data.organization_property_values.setdefault(organization["id"], {})
        for definition in data.organization_properties:
            if rng.random() < 0.6:
                values[definition["slug"]] = _property_value(rng, definition, organization["id"])


def _define_organization_property(data, rng, kind, slug, name, labels):
    data._next_ids["organization_property"] += rng.randint(1, 9)
    definition = {"type": kind, "slug": slug, "name": name}
    if kind == "dropdown":                       # options only on dropdowns, labels only
        definition["options"] = [{"label": label} for label in labels]
    data.organization_properties.append(definition)
    data.organization_property_ids[slug] = data._next_ids["organization_property"]
    return definition


def _property_value(rng, definition, organization_id):
    """Values are text, whatever the type (a number as "5000000", a date as "2020-01-15", a
    dropdown's value is an option's label), as the Get Organization documentation shows them."""
    kind = definition["type"]
    if kind == "dropdown":
        return rng.choice(definition["options"])["label"] if definition["options"] else ""
    if kind == "number":
        return str(rng.randint(10_000, 50_000_000))
    if kind == "date":
        return f"{rng.randint(1950, 2024):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if kind == "url":
        return f"https://crm.example.com/accounts/{organization_id}"
    return rng.choice(["Gold", "Silver", "Bronze", "Platinum ✨", "Strategic — EMEA"])


def organization_property_values(data, organization_id):
    """An organization's `properties` as Get Organization serves them with
    `includeProperties=true`: one `{definitionId, slug, name, type, value}` (plus `options` for
    a dropdown) per defined property that has a value, in the definitions' order."""
    values = data.organization_property_values.get(organization_id, {})
    served = []
    for definition in data.organization_properties:
        slug = definition["slug"]
        if slug in values:
            item = {"definitionId": data.organization_property_ids[slug], "slug": slug, "name": definition["name"],
                    "type": definition["type"], "value": values[slug]}
            if "options" in definition:
                item["options"] = [dict(o) for o in definition["options"]]
            served.append(item)
    return served


def add_organization_property(data, slug=None, name=None, kind="text", labels=()):
    """A new definition (no organization has a value of it yet); returns the slug."""
    with data.lock:
        slug = slug or f"org-property-{len(data.organization_properties) + 1}"
        if slug in data.organization_property_ids:
            raise ValueError(f"an organization property {slug!r} exists")
        _define_organization_property(data, random.Random(f"organization-property/{slug}"), kind, slug,
                                      name or slug.replace("-", " ").title(), labels)
        data._changed("organization-property", slug)
        return slug


def delete_organization_property(data, slug):
    """The definition goes, and every organization loses its value of it."""
    with data.lock:
        definition = next((p for p in data.organization_properties if p["slug"] == slug), None)
        if definition is None:
            raise KeyError(f"no organization property {slug!r}")
        data.organization_properties.remove(definition)
        del data.organization_property_ids[slug]
        for values in data.organization_property_values.values():
            values.pop(slug, None)
        data._changed("organization-property", slug)


def set_organization_property(data, organization_id, slug, value):
    """Set (a text; `None` removes) an organization's value of a defined property."""
    with data.lock:
        _find(data.organizations, organization_id, "organization")
        if slug not in data.organization_property_ids:
            raise KeyError(f"no organization property {slug!r}")
        values = data.organization_property_values.setdefault(organization_id, {})
        if value is None:
            values.pop(slug, None)
        else:
            values[slug] = str(value)
        data._changed("organization", organization_id)


# ---------------------------------------------------------------------------- organizations
def organization_counts(data):
    """{organization id: (customerCount, conversationCount, lastInteractionAt or None)}, from
    the current customers and conversations (a conversation counts for its primary customer's
    organization; its last interaction is its latest customer or user activity)."""
    member_of = {c["id"]: c["organizationId"] for c in data.customers if "organizationId" in c}
    counts = {o["id"]: [0, 0, None] for o in data.organizations}
    for organization_id in member_of.values():
        if organization_id in counts:
            counts[organization_id][0] += 1
    for conv in data.conversations:
        entry = counts.get(member_of.get(conv["primaryCustomer"]["id"]))
        if entry is not None:
            entry[1] += 1
            moment = max(conv["userUpdatedAt"], conv["customerWaitingSince"]["time"])
            entry[2] = moment if entry[2] is None else max(entry[2], moment)
    return {k: tuple(v) for k, v in counts.items()}


def add_organization(data, name=None):
    with data.lock:
        data._next_ids["organization"] += data._rng.randint(1, 997)
        organization_id = data._next_ids["organization"]
        organization = _organization(random.Random(organization_id), organization_id,
                                     name or f"New Organization {organization_id}")
        data.organizations.append(organization)
        data._organization_by_name[organization["name"]] = organization
        data._changed("organization", organization_id)
        return organization_id


def delete_organization(data, organization_id):
    """Customers of the organization lose their `organizationId` (and get a new updatedAt)."""
    with data.lock:
        organization = _find(data.organizations, organization_id, "organization")
        data.organizations.remove(organization)
        data._organization_by_name.pop(organization["name"], None)
        data.organization_property_values.pop(organization_id, None)
        now = iso(utc_now())
        for cust in data.customers:
            if cust.get("organizationId") == organization_id:
                del cust["organizationId"]
                cust["updatedAt"] = now
                data._changed("customer", cust["id"])
        data._changed("organization", organization_id)


# ---------------------------------------------------------------------------- tags, fields, members
def add_tag(data, name=None, color="#929499"):
    """A new tag, never updated (so without `updatedAt`), on no conversation."""
    with data.lock:
        tag_id = data._new_id("tag", 40)
        name = name or f"tag-{tag_id}"
        if name in data._tag_by_name:
            raise ValueError(f"a tag named {name!r} exists")
        tag = {"id": tag_id, "name": name, "slug": name.lower().replace(" ", "-"), "color": color,
               "createdAt": iso(utc_now()), "ticketCount": 0}
        data.tags.append(tag)
        data._tag_by_name[name] = tag
        data._changed("tag", tag_id)
        return tag


def delete_tag(data, tag_id):
    """Conversations lose the tag; that is a change of theirs (their hidden modification time
    becomes now), as any change of a conversation's tags is."""
    with data.lock:
        tag = _find(data.tags, tag_id, "tag")
        data.tags.remove(tag)
        data._tag_by_name.pop(tag["name"], None)
        now = utc_now()
        for conv in data.conversations:
            if any(t["id"] == tag_id for t in conv["tags"]):
                conv["tags"] = [t for t in conv["tags"] if t["id"] != tag_id]
                data.conversation_modified_at[conv["id"]] = now
                data._changed("conversation", conv["id"])
        data._changed("tag", tag_id)


def add_mailbox_field(data, mailbox_id, name=None, field_type="single_line"):
    with data.lock:
        fields = data.fields[mailbox_id]
        field_id = data._new_id("field", 20)
        field = {"id": field_id, "required": False, "order": max((f["order"] for f in fields), default=0) + 1,
                 "type": field_type, "name": name or f"Field {field_id}", "options": []}
        fields.append(field)
        data._changed("field", field_id)
        return field


def delete_mailbox_field(data, mailbox_id, field_id):
    """Conversations lose their value of the field (a change of theirs, as for tags)."""
    with data.lock:
        fields = data.fields[mailbox_id]
        fields.remove(_find(fields, field_id, "field"))
        now = utc_now()
        for conv in data.conversations:
            if any(f["id"] == field_id for f in conv["customFields"]):
                conv["customFields"] = [f for f in conv["customFields"] if f["id"] != field_id]
                data.conversation_modified_at[conv["id"]] = now
                data._changed("conversation", conv["id"])
        data._changed("field", field_id)


def add_team_member(data, team_id, user_id):
    with data.lock:
        if data.user(user_id) is None:
            raise KeyError(f"no user {user_id}")
        members = data.members[team_id]
        if user_id not in members:
            members.append(user_id)
            members.sort()
        data._changed("team", team_id)


def remove_team_member(data, team_id, user_id):
    with data.lock:
        members = data.members[team_id]
        if user_id not in members:
            raise KeyError(f"user {user_id} is no member of team {team_id}")
        members.remove(user_id)
        data._changed("team", team_id)


# ---------------------------------------------------------------------------- properties, replies, ratings
def add_customer_property(data, slug=None, name=None, kind="text", labels=()):
    with data.lock:
        rng = random.Random(f"property/{len(data.customer_properties)}/{slug}")
        slug = slug or f"property-{len(data.customer_properties) + 1}"
        if any(p["slug"] == slug for p in data.customer_properties):
            raise ValueError(f"a customer property {slug!r} exists")
        data.customer_properties.append({"type": kind, "slug": slug, "name": name or slug.replace("-", " ").title(),
                                         "options": [{"id": _uuid(rng), "label": label} for label in labels]})
        data._changed("customer-property", slug)
        return slug


def delete_customer_property(data, slug):
    """Customers lose their value of the property (and get a new updatedAt)."""
    with data.lock:
        definition = next((p for p in data.customer_properties if p["slug"] == slug), None)
        if definition is None:
            raise KeyError(f"no customer property {slug!r}")
        data.customer_properties.remove(definition)
        now = iso(utc_now())
        for cust in data.customers:
            values = cust.get("_embedded", {}).get("properties")
            if values and any(v["slug"] == slug for v in values):
                cust["_embedded"]["properties"] = [v for v in values if v["slug"] != slug]
                cust["updatedAt"] = now
                data._changed("customer", cust["id"])
        data._changed("customer-property", slug)


def add_saved_reply(data, mailbox_id, name=None, text="<p>Thanks for reaching out!</p>", chat_text=None, chat=False):
    with data.lock:
        replies = data.saved_replies[mailbox_id]
        data._next_ids["saved_reply"] += data._rng.randint(1, 97)
        reply_id = data._next_ids["saved_reply"]
        replies.append({"id": reply_id, "name": name or f"Saved reply {reply_id}", "text": text,
                        "chatText": chat_text})
        if chat:
            data.chat_saved_reply_ids.add(reply_id)
        data._changed("saved-reply", reply_id)
        return reply_id


def delete_saved_reply(data, mailbox_id, reply_id):
    with data.lock:
        replies = data.saved_replies[mailbox_id]
        replies.remove(_find(replies, reply_id, "saved reply"))
        data.chat_saved_reply_ids.discard(reply_id)
        data._changed("saved-reply", reply_id)


def delete_rating(data, which):
    """`which`: an index into `data.ratings`; a report key (conversation id, ratingCreatedAt,
    ratingCustomerId), which removes every rating with that key (two can share one); or a
    rating row (a dict), which removes the first equal row. Returns how many were removed."""
    with data.lock:
        if isinstance(which, int):
            removed = [data.ratings.pop(which)]
        elif isinstance(which, tuple):
            removed = [r for r in data.ratings if (r["id"], r["ratingCreatedAt"], r["ratingCustomerId"]) == which]
            data.ratings[:] = [r for r in data.ratings if r not in removed]
        else:
            index = data.ratings.index(which)          # ValueError when absent
            removed = [data.ratings.pop(index)]
        if not removed:
            raise KeyError(f"no rating with key {which!r}")
        data._changed("rating", None)
        return len(removed)


def preview(text, length=100):
    return _strip_html(text or "")[:length] if text else None


def _find(records, record_id, what):
    found = next((r for r in records if r["id"] == record_id), None)
    if found is None:
        raise KeyError(f"no {what} {record_id}")
    return found
