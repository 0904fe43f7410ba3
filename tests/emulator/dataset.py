"""The emulator's account: a deterministic, realistic Help Scout dataset and its mutations.

Every record is kept exactly in the shape the Mailbox API 2.0 serves it (camelCase keys,
`_embedded` sub-objects where the API puts them) but WITHOUT `_links`: links depend on the
emulator's base URL and are added when a record is rendered (see render.py).

Generation (generate.py) is a pure function of the seed and the size options, so two emulators
built with the same options hold the same records. Timestamps lie in a fixed historical range (2019..2025),
which is in the past for any test run (the `recent_conversations` option adds some in the last year before
`recent_until`, by default today's midnight, see generate.py); changes made later (drift, `modify_*`, `create_*`) use
the real current time, so changed records move to the end of a `modifiedAt asc` ordering, as
they do on the real service.

Deliberate traps (each one exposes a class of tap bugs; see docs/api-readings.md):
- IDs of conversations, threads and customers are above 2**31.
- Some conversations share a createdAt; a "bulk close" gives a whole group of conversations the
  same hidden modification time (more than a page of 25 when the dataset is big enough), and an
  "import" gives a group of customers the same createdAt and updatedAt (more than a page of 50).
- Some conversations have more than 25 threads, a couple more than 50 (threads list pages by 50).
- Closed fields only on closed conversations; one closed conversation has `closedBy: 0` and no
  `closedByUser` (closed by a workflow); `assignee` is absent on unassigned ones.
- Customers: some `_embedded` parts empty, some absent, a few customers without `_embedded`.
- Thread bodies with HTML, entities, non-ASCII text, emoji and U+2028.
"""
import random
import threading
from datetime import datetime, timedelta, timezone

UTC = timezone.utc
HISTORY_START = datetime(2019, 1, 1, tzinfo=UTC)
HISTORY_END = datetime(2025, 6, 30, tzinfo=UTC)    # threads and replies may follow for < 6 months

CONVERSATION_ID_BASE = 2_147_483_648 + 7_000_000     # > 2**31: catches 32-bit integer columns
THREAD_ID_BASE = 5_300_000_000
CUSTOMER_ID_BASE = 2_600_000_000
ATTACHMENT_ID_BASE = 90_000_000

FIRST_NAMES = ["Vernon", "Amanda", "José", "Zoë", "Søren", "Ольга", "Nguyễn", "Aoife", "Björn",
               "Chloé", "Mohammed", "Priya", "李", "Łukasz", "Renée", "Jürgen", "Ana", "Kwame",
               "Siobhán", "Hana", "O'Brien", "Émile", "Dmitri", "Fatima", "Yuki", "Noah"]
LAST_NAMES = ["Bear", "Herrington", "García", "Ødegård", "Müller", "Nováková", "Smith", "Dubois",
              "Kowalski", "Østergaard", "Papadopoulos", "Tanaka", "O'Neill", "Nuñez", "Schröder",
              "Van der Berg", "Ivanova", "Mensah", "Lefèvre", "Khan", "王", "Jones", "Brown"]
COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella GmbH", "Café Olé S.A.", "Søstrene",
             "Tyrell", "Wayne Enterprises", "株式会社テスト", "Stark Industries", "Hooli"]
DOMAINS = ["example.com", "testcompany.com", "mail.example.org", "exämple.de", "acme.io"]
SUBJECTS = ["Help with setup", "Invoice question", "Can't log in", "Feature request: dark mode",
            "Refund for order #{n}", "Ärger mit der Lieferung", "Problème de facturation",
            "Bug report — export fails", "注文について", "Password reset not arriving",
            "Upgrade to annual plan?", "API rate limits 🚀", "Question about \"quotes\" & <tags>",
            "Re: Re: Fwd: shipping delay", ""]
BODIES = [
    "<p>Hi there,</p><p>I love your service, but the export fails with <code>E42</code>.</p>",
    "<div>Grüße aus München! Könnten Sie mir bitte helfen? Ich habe eine Frage zur Rechnung.</div>",
    "<p>Bonjour, j'ai un problème avec ma commande n°{n}. Merci d'avance — Chloé</p>",
    "<p>注文した商品がまだ届きません。確認していただけますか？</p>",
    "<p>Thanks! 🙂👍 That fixed it.</p><br/><blockquote>On Monday you wrote: &gt; try again</blockquote>",
    "<p>Here is the log:</p><pre>Traceback (most recent call last):\n  File \"x.py\", line 1</pre>",
    "Plain text body with a line separator\u2028and a paragraph separator\u2029inside.",
    "<p>Αγαπητή ομάδα, ευχαριστώ για τη βοήθεια.</p>",
    "<p dir=\"rtl\">שלום, יש לי שאלה לגבי החשבון שלי</p>",
    "<table><tr><td>Seats</td><td>12</td></tr></table><p>&amp; &lt;script&gt;alert(1)&lt;/script&gt;</p>",
    "<p>Could you call me back at +44 20 7946 0958?</p>",
    "<p>Our invoice shows €1.234,56 instead of $1,234.56 — please check.</p>",
]
CHAT_LINES = ["Hi, anyone there?", "Sure, how can I help you today?", "My card was declined 😕",
              "Let me check that for you.", "¿Hablan español?", "Yes! ¿En qué puedo ayudarle?",
              "Thanks, that's all.", "Have a great day!", "Ok 👍", "One moment please…"]
NOTES = ["<p>Escalating to @engs — looks like a regression.</p>", "<p>Customer is on the legacy plan.</p>",
         "<p>Called back, no answer. Will retry tomorrow.</p>", "<p>Refund approved by finance ✅</p>"]
TAG_NAMES = [("vip", "#929499"), ("billing", "green"), ("bug", "red"), ("feature-request", "blue"),
             ("refund", "#ff9900"), ("urgent", "orange"), ("onboarding", "purple"), ("spam-report", "grey"),
             ("api", "#1f8ded"), ("größe", "yellow"), ("日本", "#e0e0e0"), ("churn-risk", "#c0392b")]
TIMEZONES = ["America/New_York", "Europe/London", "Europe/Berlin", "Asia/Tokyo", "America/Los_Angeles",
             "Australia/Sydney", "UTC"]
ROLES = ["owner", "admin", "user", "light user"]
ATTACHMENTS = [("logo.png", "image/png", 344, 65), ("invoice-2024.pdf", "application/pdf", None, None),
               ("screenshot 1.jpg", "image/jpeg", 1280, 800), ("données.csv", "text/csv", None, None),
               ("error.log", "text/plain", None, None)]


def iso(dt):
    """The API's date-time format: UTC, seconds precision, literal Z."""
    dt = dt.astimezone(UTC)
    return f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}Z"


def parse_iso(text):
    """Inverse of `iso` (input already in that exact format)."""
    return datetime.fromisoformat(text[:-1] + "+00:00")


def utc_now():
    return datetime.now(UTC).replace(microsecond=0)


def friendly(dt):
    """`customerWaitingSince.friendly` is a human string such as "Jun 20"."""
    return f"{dt.strftime('%b')} {dt.day}"


class Dataset:
    """The account's records. Attributes are the public view (`emu.data`); names starting with
    an underscore are indexes and generators kept in step with them."""

    def __init__(self):
        self.conversations = []          # conversation items, without _embedded.threads
        self.threads = {}                # conversation id -> threads, oldest first
        self.customers = []
        self.mailboxes = []
        self.fields = {}                 # mailbox id -> fields
        self.folders = {}                # mailbox id -> folders
        self.users = []
        self.teams = []
        self.members = {}                # team id -> [user id]
        self.workflows = []
        self.ratings = []                # happiness report result items
        self.tags = []
        self.organizations = []          # organization items, without the counts (computed when served)
        self.customer_properties = []    # definitions of the customer properties, by slug
        self.organization_properties = []    # definitions of the organization properties, as listed
        self.organization_property_ids = {}  # hidden: slug -> definitionId (shown on organizations' values)
        self.organization_property_values = {}   # organization id -> {slug: value (text)}
        self.saved_replies = {}          # mailbox id -> saved replies {id, name, text, chatText}
        self.chat_saved_reply_ids = set()    # hidden: replies for chat, listed only with includeChatReplies
        self.conversation_modified_at = {}   # hidden: conversation id -> aware datetime
        self.user_mailboxes = {}         # hidden: user id -> mailbox ids the user can see
        self.deleted_conversation_ids = set()
        self.deleted_customer_ids = set()
        self.lock = threading.RLock()    # held around every mutation and every read of a page
        self.revision = 0                # bumped on every change; invalidates sorted orders
        self.on_change = None            # callback(kind, id): drops cached JSON fragments
        self._conversation_by_id = {}
        self._customer_by_id = {}
        self._user_by_id = {}
        self._tag_by_name = {}
        self._folder_by_id = {}
        self._organization_by_name = {}
        self.published_thread_count = False   # `threads` counts only published non-lineitem threads
        self._next_ids = {}
        self._rng = random.Random()

    # ----------------------------------------------------------------- lookups
    def conversation(self, conversation_id):
        return self._conversation_by_id.get(conversation_id)

    def customer(self, customer_id):
        return self._customer_by_id.get(customer_id)

    def user(self, user_id):
        return self._user_by_id.get(user_id)

    def _new_id(self, kind, step_max=997):
        self._next_ids[kind] += self._rng.randint(1, step_max)
        return self._next_ids[kind]

    def thread_count(self, conversation_id):
        """The conversation's `threads` field: every thread, or (with `published_thread_count`,
        as v1 and the webhook docs define it) only published threads that are not line items."""
        threads = self.threads[conversation_id]
        if not self.published_thread_count:
            return len(threads)
        return sum(1 for t in threads if t["state"] == "published" and t["type"] != "lineitem")

    def link_organization(self, cust):
        """`organizationId` follows the customer's `organization` name (absent when the name is
        no organization of the account), placed right after `organization`."""
        organization = self._organization_by_name.get(cust.get("organization"))
        if organization is None:
            cust.pop("organizationId", None)
            return
        if "organizationId" not in cust:
            rebuilt = {}
            for key, value in cust.items():
                rebuilt[key] = value
                if key == "organization":
                    rebuilt["organizationId"] = None
            cust.clear()
            cust.update(rebuilt)
        cust["organizationId"] = organization["id"]

    def _changed(self, kind, record_id):
        self.revision += 1
        if self.on_change:
            self.on_change(kind, record_id)

    # ----------------------------------------------------------------- mutations
    # Each one bumps the hidden modification time (conversations) or updatedAt (customers) to
    # the real current time, exactly as an edit in the Help Scout UI would.

    def modify_conversation(self, conversation_id, now=None):
        with self.lock:
            conv = self._conversation_by_id[conversation_id]
            now = now or utc_now()
            rng = self._rng
            change = rng.choice(["status", "tags", "assignee", "subject"])
            old_folder = conv["folderId"]
            if change == "status":
                new_status = rng.choice([s for s in ("active", "pending", "closed", "spam") if s != conv["status"]])
                self._set_status(conv, new_status, now)
            elif change == "tags":
                self._set_tags(conv, rng.sample(self.tags, rng.randint(0, 3)))
            elif change == "assignee":
                users = self._users_of_mailbox(conv["mailboxId"])
                if "assignee" in conv and rng.random() < 0.3:
                    del conv["assignee"]
                else:
                    conv["assignee"] = self._person(rng.choice(users), "user", photo=False)
                conv["folderId"] = self._folder_for(conv)
            else:
                conv["subject"] = rng.choice(SUBJECTS).format(n=conv["number"]) + " (updated)"
            conv["userUpdatedAt"] = iso(now)
            self.conversation_modified_at[conversation_id] = now
            self._recount_folders({old_folder, conv["folderId"]}, now)
            self._changed("conversation", conversation_id)
            return conv

    def add_thread(self, conversation_id, now=None, thread_type=None, author_id=None, at=None):
        """`author_id`: the user who writes it (a user-written thread, published; a chat line then
        comes from that user). `at`: its `createdAt` when not now (an imported thread); it is placed among
        the threads by time. The hidden modification time is `now` either way."""
        with self.lock:
            conv = self._conversation_by_id[conversation_id]
            now = now or utc_now()
            when = at or now
            if author_id is not None and author_id not in self._user_by_id:
                raise KeyError(f"no user {author_id}")
            thread_type = thread_type or ("chat" if conv["type"] == "chat" else self._rng.choice(["customer", "reply", "note"]))
            thread = self._make_thread(conv, thread_type, when, author_id=author_id)
            if author_id is not None:
                thread["state"] = "published"        # never a draft when a test names the author
                if thread["createdBy"]["type"] == "customer" and thread_type == "chat":
                    thread["createdBy"] = self._person(self._user_by_id[author_id], "user")
                    thread["source"]["via"] = "user"
            threads = self.threads[conversation_id]
            position = len(threads)
            while position and threads[position - 1]["createdAt"] > thread["createdAt"]:
                position -= 1
            threads.insert(position, thread)
            conv["threads"] = self.thread_count(conversation_id)
            if position == len(threads) - 1:
                self._after_thread(conv, thread, when)
            self.conversation_modified_at[conversation_id] = now
            self._changed("conversation", conversation_id)
            return thread

    def close_conversation(self, conversation_id, user_id=None, now=None, at=None):
        """Close it (again, when closed: `closedAt` moves) at `at` or now, by `user_id` (default:
        a user of its mailbox)."""
        with self.lock:
            conv = self._conversation_by_id[conversation_id]
            now = now or utc_now()
            when = at or now
            if user_id is not None and user_id not in self._user_by_id:
                raise KeyError(f"no user {user_id}")
            old_folder = conv["folderId"]
            self._set_status(conv, "closed", when)
            if user_id is not None:
                conv["closedBy"] = user_id
                conv["closedByUser"] = self._person(self._user_by_id[user_id], "user")
            conv["userUpdatedAt"] = max(conv["userUpdatedAt"], iso(when))
            self.conversation_modified_at[conversation_id] = now
            self._recount_folders({old_folder, conv["folderId"]}, now)
            self._changed("conversation", conversation_id)
            return conv

    def reopen_conversation(self, conversation_id, status="active", now=None):
        """Set the status to active, pending or spam: the closed fields go."""
        if status not in ("active", "pending", "spam"):
            raise ValueError("status must be active, pending or spam")
        with self.lock:
            conv = self._conversation_by_id[conversation_id]
            now = now or utc_now()
            old_folder = conv["folderId"]
            self._set_status(conv, status, now)
            conv["userUpdatedAt"] = iso(now)
            self.conversation_modified_at[conversation_id] = now
            self._recount_folders({old_folder, conv["folderId"]}, now)
            self._changed("conversation", conversation_id)
            return conv

    def create_conversation(self, now=None):
        with self.lock:
            now = now or utc_now()
            conv = self._make_conversation(now, self._rng.random() < self._chat_fraction)
            self.conversations.append(conv)
            self._conversation_by_id[conv["id"]] = conv
            self._make_threads(conv, now, count=self._rng.randint(1, 3), span_seconds=0)
            self._finish_conversation(conv, status="active", now=now)
            self.conversation_modified_at[conv["id"]] = now
            self._recount_folders({conv["folderId"]}, now)
            self._changed("conversation", conv["id"])
            return conv["id"]

    def delete_conversation(self, conversation_id):
        with self.lock:
            conv = self._conversation_by_id.pop(conversation_id)
            self.conversations.remove(conv)
            self.threads.pop(conversation_id, None)
            self.conversation_modified_at.pop(conversation_id, None)
            self._set_tags(conv, [])
            self.ratings[:] = [r for r in self.ratings if r["id"] != conversation_id]
            self.deleted_conversation_ids.add(conversation_id)
            self._recount_folders({conv["folderId"]}, utc_now())
            self._changed("conversation", conversation_id)

    def modify_customer(self, customer_id, now=None):
        with self.lock:
            cust = self._customer_by_id[customer_id]
            now = now or utc_now()
            rng = self._rng
            change = rng.choice(["jobTitle", "organization", "phone", "background"])
            if change == "jobTitle":
                cust["jobTitle"] = rng.choice(["CTO", "Support Lead", "Buyer", "Directrice financière"])
            elif change == "organization":
                cust["organization"] = rng.choice(COMPANIES)
                self.link_organization(cust)
            elif change == "phone":
                embedded = cust.setdefault("_embedded", {})
                embedded.setdefault("phones", []).append(
                    {"id": self._new_id("entry"), "value": f"+1-555-{rng.randint(1000, 9999)}", "type": "work"})
            else:
                cust["background"] = "Updated: " + rng.choice(BODIES)[:60]
            cust["updatedAt"] = iso(now)
            self._changed("customer", customer_id)
            return cust

    def create_customer(self, now=None):
        with self.lock:
            now = now or utc_now()
            cust = self._make_customer(now, now)
            self.link_organization(cust)
            self.customers.append(cust)
            self._customer_by_id[cust["id"]] = cust
            self._changed("customer", cust["id"])
            return cust["id"]

    def delete_customer(self, customer_id):
        """Deleting a customer in Help Scout also deletes the customer's conversations."""
        with self.lock:
            cust = self._customer_by_id.pop(customer_id)
            self.customers.remove(cust)
            for conv in [c for c in self.conversations if c["primaryCustomer"]["id"] == customer_id]:
                self.delete_conversation(conv["id"])
            self.deleted_customer_ids.add(customer_id)
            self._changed("customer", customer_id)

    def _recount_folders(self, folder_ids, now):
        """Folder counters follow the conversations; a folder whose counters change gets a new
        updatedAt (the tap bookmarks folders on it)."""
        for folder_id in folder_ids:
            folder = self._folder_by_id[folder_id]
            inside = [c for c in self.conversations if c["folderId"] == folder_id]
            counts = (len(inside), sum(1 for c in inside if c["status"] == "active"))
            if counts != (folder["totalCount"], folder["activeCount"]):
                folder["totalCount"], folder["activeCount"] = counts
                folder["updatedAt"] = iso(now)

    def customers_without_conversations(self):
        used = {c["primaryCustomer"]["id"] for c in self.conversations}
        return [c["id"] for c in self.customers if c["id"] not in used]

    # ----------------------------------------------------------------- building blocks
    def _person(self, user, kind, photo=True):
        """A user reference as embedded in conversations/threads: first/last, not firstName."""
        ref = {"id": user["id"], "type": kind, "first": user["firstName"], "last": user["lastName"]}
        if photo:
            ref["photoUrl"] = user["photoUrl"]
        ref["email"] = user["email"]
        return ref

    def _customer_ref(self, cust, with_type=True):
        ref = {"id": cust["id"]}
        if with_type:
            ref["type"] = "customer"
        ref["first"] = cust.get("firstName")
        ref["last"] = cust.get("lastName")
        email = self._customer_email(cust)
        if email:      # phone-only customers have no email: the key is then absent
            ref["email"] = email
        ref["photoUrl"] = cust.get("photoUrl")
        return ref

    @staticmethod
    def _customer_email(cust):
        emails = cust.get("_embedded", {}).get("emails") or []
        return emails[0]["value"] if emails else None

    def _users_of_mailbox(self, mailbox_id):
        return [u for u in self.users if mailbox_id in self.user_mailboxes[u["id"]]] or self.users

    def _folder_for(self, conv):
        by_type = {f["type"]: f["id"] for f in self.folders[conv["mailboxId"]]}
        if conv["status"] == "spam":
            return by_type["spam"]
        if conv["status"] == "closed":
            return by_type["closed"]
        return by_type["assigned"] if "assignee" in conv else by_type["open"]

    def _set_tags(self, conv, tags):
        for old in conv["tags"]:
            self._tag_by_name[old["tag"]]["ticketCount"] -= 1
        conv["tags"] = [{"id": t["id"], "color": t["color"], "tag": t["name"]} for t in tags]
        for tag in tags:
            tag["ticketCount"] += 1

    def _set_status(self, conv, status, now):
        conv["status"] = status
        for key in ("closedBy", "closedByUser", "closedAt"):
            conv.pop(key, None)
        if status == "closed":
            user = self._rng.choice(self._users_of_mailbox(conv["mailboxId"]))
            # keep the API's key order: closed fields sit after createdBy/createdAt
            rebuilt = {}
            for key, value in conv.items():
                rebuilt[key] = value
                if key == "createdAt":
                    rebuilt["closedBy"] = user["id"]
                    rebuilt["closedByUser"] = self._person(user, "user")
                    rebuilt["closedAt"] = iso(now)
            conv.clear()
            conv.update(rebuilt)
        conv["folderId"] = self._folder_for(conv)

    def _make_customer(self, created, updated):
        rng = self._rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        cid = self._new_id("customer")
        cust = {"id": cid, "firstName": first, "lastName": last}
        if rng.random() < 0.8:                      # gender is not always known or set
            cust["gender"] = rng.choice(["male", "female", "unknown"])
        cust["jobTitle"] = rng.choice(["Software Engineer", "Office Manager", "CEO", "Ingénieure", None])
        cust["location"] = rng.choice(["San Francisco, CA", "Berlin", "東京", "São Paulo", None])
        cust["organization"] = rng.choice(COMPANIES + [None])
        cust["photoType"] = rng.choice(["unknown", "gravatar", "twitter", "facebook", "googleprofile", "linkedin"])
        cust["photoUrl"] = f"https://d33v4339jhl8k0.cloudfront.net/customer-avatar/{cid:x}.png"
        cust["age"] = rng.choice(["25-30", "30-40", "18-24", "", None])
        cust["createdAt"] = iso(created)
        cust["updatedAt"] = iso(updated)
        cust["background"] = rng.choice(["Experienced developer", "Met at the 2019 conference.", "", None,
                                         "Prefers e-mail; speaks Deutsch & Français 🇩🇪🇫🇷"])
        cust["draft"] = rng.random() < 0.03
        shape = rng.random()
        if shape < 0.05:
            return cust                             # no _embedded at all
        embedded = {}
        domain = rng.choice(DOMAINS)
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        parts = {
            "emails": lambda: [{"id": self._new_id("entry"), "value": f"{local}{cid % 1000}@{domain}", "type": "work"}]
                              + ([{"id": self._new_id("entry"), "value": f"{cid}@home.example", "type": "home"}]
                                 if rng.random() < 0.2 else []),
            "phones": lambda: [{"id": self._new_id("entry"), "value": f"+1-555-{rng.randint(1000, 9999)}",
                                "type": rng.choice(["work", "home", "mobile", "other"])}] if rng.random() < 0.5 else [],
            "chats": lambda: [{"id": self._new_id("entry"), "value": f"{local[:6]}{rng.randint(1, 99)}",
                               "type": rng.choice(["aim", "skype", "gtalk", "other"])}] if rng.random() < 0.15 else [],
            "social_profiles": lambda: [{"id": self._new_id("entry"), "value": f"https://twitter.com/{local[:8]}",
                                         "type": "twitter"}] if rng.random() < 0.25 else [],
            "websites": lambda: [{"id": self._new_id("entry"), "value": f"https://www.{domain}"}] if rng.random() < 0.3 else [],
        }
        for key, make in parts.items():
            if key == "emails" and rng.random() < 0.06:
                embedded[key] = []                  # phone-only customer
            elif shape < 0.15 and rng.random() < 0.5:
                continue                            # this part absent, not merely empty
            else:
                embedded[key] = make()
        if rng.random() < 0.4:                      # address only when the customer has one
            embedded["address"] = {"city": rng.choice(["Dallas", "Köln", "Lyon", "Osaka"]),
                                   "state": rng.choice(["TX", "NRW", "", "Kansai"]),
                                   "postalCode": str(rng.randint(10000, 99999)),
                                   "country": rng.choice(["US", "DE", "FR", "JP"]),
                                   "lines": rng.choice([["123 West Main St", "Suite 123"], ["Hauptstraße 5"], []])}
        if shape >= 0.15 or rng.random() < 0.5:
            embedded["properties"] = ([{"type": "text", "slug": "plan", "name": "Plan",
                                        "value": rng.choice(["Pro", "Plus", "Standard"]), "source": {}}]
                                      if rng.random() < 0.5 else [])
        cust["_embedded"] = embedded
        return cust

    def _make_conversation(self, created, is_chat):
        rng = self._rng
        mailbox = rng.choice(self.mailboxes)
        cust = rng.choice(self.customers)
        number = self._new_id("number", step_max=3)
        conv_type = "chat" if is_chat else ("phone" if rng.random() < 0.1 else "email")
        by_user = conv_type == "phone" or rng.random() < 0.1
        creator_user = rng.choice(self._users_of_mailbox(mailbox["id"]))
        conv = {"id": self._new_id("conversation"), "number": number, "threads": 0, "type": conv_type,
                "folderId": 0, "status": "active", "state": "published",
                "subject": rng.choice(SUBJECTS).format(n=number), "preview": "", "mailboxId": mailbox["id"]}
        if rng.random() < 0.6:
            conv["assignee"] = self._person(rng.choice(self._users_of_mailbox(mailbox["id"])), "user", photo=False)
        if by_user:
            conv["createdBy"] = self._person(creator_user, "user")
        else:
            conv["createdBy"] = {"id": cust["id"], "type": "customer", **({"email": self._customer_email(cust)}
                                                                         if self._customer_email(cust) else {})}
        conv["createdAt"] = iso(created)
        conv["userUpdatedAt"] = iso(created)
        conv["customerWaitingSince"] = {"time": iso(created), "friendly": friendly(created), "latestReplyFrom": "customer"}
        source_type = {"chat": "beacon", "phone": "phone"}.get(conv_type, rng.choice(["email", "email", "web", "api", "emailfwd"]))
        conv["source"] = {"type": source_type, "via": "user" if by_user else "customer"}
        conv["tags"] = []
        self._set_tags(conv, rng.sample(self.tags, rng.choice([0, 0, 1, 1, 2, 3])))
        conv["cc"] = [f"cc{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"] if rng.random() < 0.15 else []
        conv["bcc"] = [f"audit@{rng.choice(DOMAINS)}"] if rng.random() < 0.05 else []
        conv["primaryCustomer"] = self._customer_ref(cust)
        conv["customFields"] = self._custom_field_values(mailbox["id"])
        return conv

    def _custom_field_values(self, mailbox_id):
        rng = self._rng
        values = []
        for field in self.fields[mailbox_id]:
            if rng.random() < 0.35:
                continue                              # only fields that have a value are listed
            if field["type"] == "dropdown":
                option = rng.choice(field["options"])
                values.append({"id": field["id"], "name": field["name"], "value": str(option["id"]), "text": option["label"]})
            else:
                raw = {"number": str(rng.randint(1, 500)),
                       "date": iso(HISTORY_START + timedelta(days=rng.randint(0, 2500)))[:10],
                       "single_line": rng.choice(["ORD-" + str(rng.randint(1000, 9999)), "naïve café", "x"]),
                       "multi_line": "Line one\nLine two — ünïcödé"}[field["type"]]
                # text mirrors the raw value for non-dropdown fields (UNCONFIRMED; FreeScout sends "")
                values.append({"id": field["id"], "name": field["name"], "value": raw, "text": raw})
        return values

    def _make_thread(self, conv, thread_type, created, author_id=None):
        rng = self._rng
        cust = self._customer_by_id.get(conv["primaryCustomer"]["id"])
        user = self._user_by_id[author_id or rng.choice(self._users_of_mailbox(conv["mailboxId"]))["id"]]
        thread = {"id": self._new_id("thread"), "type": thread_type, "status": "active", "state": "published"}
        by_customer = thread_type == "customer" or (thread_type == "chat" and rng.random() < 0.5) \
            or (thread_type == "beaconchat")
        if thread_type == "lineitem":
            thread["action"] = {"type": rng.choice(["manual-workflow", "automatic-workflow", "moved-from-mailbox", "merged"]),
                                "text": rng.choice(["You ran the Assign to Spam workflow", "Workflow “Tag VIPs” ran",
                                                    "Moved from another mailbox"]),
                                "associatedEntities": rng.choice([{}, {"user": user["id"]}, {"workflow": 1234}])}
            thread["status"] = "nochange"
        else:
            if thread_type == "chat":
                thread["body"] = rng.choice(CHAT_LINES)
            elif thread_type == "note":
                thread["body"] = rng.choice(NOTES)
            else:
                thread["body"] = rng.choice(BODIES).format(n=conv["number"])
        via = "customer" if by_customer else "user"
        thread["source"] = {"type": {"chat": "chat", "beaconchat": "beacon", "phone": "phone"}.get(thread_type, "email"),
                            "via": via}
        if cust is not None:
            thread["customer"] = self._customer_ref(cust, with_type=False)
        if by_customer and cust is not None:
            thread["createdBy"] = self._customer_ref(cust)
        else:
            thread["createdBy"] = self._person(user, "user")
        if thread_type in ("reply", "note") and rng.random() < 0.3:
            if rng.random() < 0.8:
                thread["assignedTo"] = self._person(user, "user", photo=False)
            else:
                team = rng.choice(self.teams) if self.teams else None
                if team:
                    thread["assignedTo"] = {"id": team["id"], "type": "team", "first": team["name"], "last": "",
                                            "email": f"{team['mention']}@teams.helpscout.net"}
        if thread_type == "reply" and rng.random() < 0.2:
            thread["savedReplyId"] = rng.randint(10, 9999)
        if thread_type in ("customer", "reply", "forwardparent", "forwardchild"):
            cust_email = self._customer_email(cust) if cust else None
            mailbox_email = next(m["email"] for m in self.mailboxes if m["id"] == conv["mailboxId"])
            thread["to"] = [mailbox_email if by_customer else (cust_email or "unknown@example.com")]
            thread["cc"] = list(conv["cc"]) if rng.random() < 0.5 else []
            thread["bcc"] = list(conv["bcc"]) if not by_customer else []
        if rng.random() < 0.05 and thread_type in ("reply", "note"):
            thread["state"] = rng.choice(["draft", "underreview"])
        thread["createdAt"] = iso(created)
        if thread_type == "reply" and rng.random() < 0.6:
            thread["openedAt"] = iso(created + timedelta(minutes=rng.randint(1, 600)))
        if thread_type in ("customer", "reply", "note") and rng.random() < 0.15:
            attachments = []
            for _ in range(rng.randint(1, 3)):
                name, mime, width, height = rng.choice(ATTACHMENTS)
                att = {"id": self._new_id("attachment"), "filename": name, "mimeType": mime}
                if width:
                    att["width"], att["height"] = width, height
                att["size"] = rng.randint(22, 4_000_000)
                attachments.append(att)
            thread["_embedded"] = {"attachments": attachments}
        return thread

    def _after_thread(self, conv, thread, when):
        """Keep userUpdatedAt/customerWaitingSince consistent with the latest thread."""
        if thread["createdBy"]["type"] == "customer":
            conv["customerWaitingSince"] = {"time": iso(when), "friendly": friendly(when), "latestReplyFrom": "customer"}
        else:
            conv["customerWaitingSince"]["latestReplyFrom"] = "user"
        conv["userUpdatedAt"] = iso(when)   # equals customerWaitingSince after a customer action

    def _make_threads(self, conv, start, count, span_seconds):
        """`count` threads from `start`, spread over at most `span_seconds`, oldest first."""
        rng = self._rng
        types = []
        if conv["type"] == "chat":
            types = ["beaconchat"] + ["chat"] * (count - 1)
        else:
            first = "phone" if conv["type"] == "phone" else ("reply" if conv["createdBy"]["type"] == "user" else "customer")
            types = [first]
            for _ in range(count - 1):
                types.append(rng.choices(["customer", "reply", "note", "lineitem", "phone", "forwardparent", "forwardchild"],
                                         [30, 35, 12, 15, 3, 3, 2])[0])
        times = sorted(start + timedelta(seconds=rng.randint(0, span_seconds)) for _ in range(count - 1))
        when = start
        threads, moments = [], []
        # the first thread is written by whoever created the conversation
        creator = conv["createdBy"]["id"] if conv["createdBy"]["type"] == "user" else None
        for thread_type, t in zip(types, [start] + times):
            if threads and rng.random() < 0.08:
                t = when                  # two threads in the same second (e.g. reply + line item)
            when = max(when, t)
            thread = self._make_thread(conv, thread_type, when, author_id=None if threads else creator)
            threads.append(thread)
            moments.append(when)
        self.threads[conv["id"]] = threads
        conv["threads"] = self.thread_count(conv["id"])
        for thread, moment in zip(threads, moments):
            self._after_thread(conv, thread, moment)
        first_body = next((t["body"] for t in threads if t.get("body")), "")
        conv["preview"] = _strip_html(first_body)[:100]

    def _finish_conversation(self, conv, status, now, closed_at=None):
        if status == "closed":
            self._set_status(conv, "closed", closed_at or now)
            conv["userUpdatedAt"] = conv["closedAt"]
        else:
            conv["status"] = status
            conv["folderId"] = self._folder_for(conv)


def _strip_html(text):
    out, inside = [], False
    for ch in text:
        if ch == "<":
            inside = True
        elif ch == ">":
            inside = False
        elif not inside:
            out.append(ch)
    return "".join(out).replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&").strip()


def _random_time(rng, start=HISTORY_START, end=HISTORY_END):
    return start + timedelta(seconds=rng.randint(0, int((end - start).total_seconds())))
