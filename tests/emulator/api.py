"""The Mailbox API 2.0 resource endpoints: routing, parameter validation, filtering, sorting,
HAL paging and rendering.

Everything here is independent of HTTP: `Api.get(path, raw_query)` returns a `Reply`. Records
are rendered to JSON once and cached as byte fragments (a conversation, a conversation with its
embedded threads, a thread, a customer); a page is then a concatenation of cached fragments, so
serving a page costs a filter, a sort (cached per dataset revision) and a join, never a deep copy
of the dataset. The dataset calls `Api.forget(kind, id)` whenever it changes a record.
"""
import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import parse_qsl

HAL = "application/hal+json"
JSON = "application/json"
VND_ERROR = "application/vnd.error+json"

CONVERSATIONS_PAGE_SIZE = 25     # the one list endpoint with 25 per page [D-PAGE]
PAGE_SIZE = 50                   # every other HAL list
THREADS_PAGE_SIZE = 50           # by the doc rule; UNCONFIRMED (Airbyte used 25)
REPORT_PAGE_SIZE = 10            # inferred from count 165 -> pages 17; UNCONFIRMED
EMBEDDED_THREADS_CAP = 25        # Get Conversation embeds 25 threads [PHP#269]
# "embedded chat threads are truncated" [D-CONV]: how much is UNCONFIRMED. We embed only the 3
# newest threads of a chat, so a tap that trusts embedded threads visibly loses most of a chat.
CHAT_EMBEDDED_THREADS = 3

CONVERSATION_STATUSES = ("active", "all", "closed", "open", "pending", "spam")
CONVERSATION_SORT_FIELDS = ("createdAt", "customerEmail", "customerName", "mailboxid", "modifiedAt",
                            "number", "score", "status", "subject", "waitingSince")
CUSTOMER_SORT_FIELDS = ("createdAt", "firstName", "lastName", "modifiedAt", "score")
DATE_PARAM = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
WEB = "https://secure.helpscout.net"
ERRORS_ABOUT = "http://developer.helpscout.net/mailbox-api/overview/errors"


def dumps(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = HAL
    headers: dict = field(default_factory=dict)


class ParamError(Exception):
    """A query parameter the API would refuse with a 400 vnd.error."""

    def __init__(self, path, message, rejected):
        super().__init__(message)
        self.path, self.message, self.rejected = path, message, rejected


def error_reply(status, message, errors=()):
    """The vnd.error shape of [D-ERR]; `_embedded` only when there are field errors."""
    body = {"logRef": f"{uuid.uuid4()}#{status}", "message": message}
    if errors:
        body["_embedded"] = {"errors": [
            {"path": e.path, "message": e.message, "rejectedValue": e.rejected, "source": "QUERY",
             "_links": {"about": {"href": f"{ERRORS_ABOUT}#{'EnumValue' if 'one of' in e.message else 'Format'}"}}}
            for e in errors]}
    body["_links"] = {"about": {"href": ERRORS_ABOUT}}
    return Reply(status, dumps(body), VND_ERROR)


def parse_date_param(name, value):
    """Only `YYYY-MM-DDTHH:MM:SSZ`. Milliseconds and offsets get a 400: the docs show this form
    only, [HSCLI] reports milliseconds rejected, and offsets are UNCONFIRMED; refusing them is
    the stricter choice (a tap sending another format learns it here, not in production)."""
    if not DATE_PARAM.match(value):
        raise ParamError(name, "Invalid date, expected format yyyy-MM-ddTHH:mm:ssZ", value)
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise ParamError(name, "Invalid date, expected format yyyy-MM-ddTHH:mm:ssZ", value) from None


def parse_int(name, value, minimum=None):
    if not re.fullmatch(r"-?\d+", value or ""):
        raise ParamError(name, "Expected a number", value)
    number = int(value)
    if minimum is not None and number < minimum:
        raise ParamError(name, f"Must be greater than or equal to {minimum}", value)
    return number


def parse_int_list(name, value):
    return {parse_int(name, part) for part in value.split(",") if part != ""}


def one_of(name, value, allowed):
    if value not in allowed:
        raise ParamError(name, "Expected one of these: " + ", ".join(f"'{a}'" for a in allowed), value)
    return value


class Api:
    def __init__(self, data, base_url, plan="plus"):
        self.data = data
        self.base = base_url            # "http://127.0.0.1:PORT/v2"
        self.plan = plan
        self._conv = {}                 # id -> bytes of the conversation item
        self._conv_embed = {}           # id -> bytes of the item with _embedded.threads
        self._thread = {}               # thread id -> bytes
        self._customer = {}             # id -> bytes
        self._orders = {}               # (kind, sortField, sortOrder) -> (revision, [records])
        self._selections = {}           # (kind, filter params) -> (revision, [records])
        data.on_change = self.forget

    def prerender(self):
        """Render every conversation (with and without embedded threads) and customer once, so
        that even the first sync is served from cached fragments (~0.1 s per 500 conversations)."""
        with self.data.lock:
            for conv in self.data.conversations:
                self.conversation_json(conv, False)
                self.conversation_json(conv, True)
            for cust in self.data.customers:
                self.customer_json(cust)

    def forget_all(self):
        for cache in (self._conv, self._conv_embed, self._thread, self._customer, self._orders, self._selections):
            cache.clear()

    def forget(self, kind, record_id):
        if kind == "conversation":
            self._conv.pop(record_id, None)
            self._conv_embed.pop(record_id, None)
        elif kind == "customer":
            self._customer.pop(record_id, None)

    # ------------------------------------------------------------------ routing
    def get(self, path, raw_query):
        """Answer a GET on `path` (starting with /v2). Unknown parameters are ignored, as the
        tap's stray `start`/`end` on full-table streams require; known ones are validated."""
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        parts = [p for p in path.split("/") if p][1:]      # drop "v2"
        try:
            return self._route(parts, query, raw_query)
        except ParamError as error:
            return error_reply(400, "Bad request", [error])

    def _route(self, parts, query, raw_query):
        n = len(parts)
        head = parts[0] if parts else ""
        ident = parts[1] if n > 1 and parts[1].isdigit() else None
        if head == "conversations":
            if n == 1:
                return self.list_conversations(query, raw_query)
            if ident and n == 2:
                return self.get_conversation(int(ident), query)
            if ident and n == 3 and parts[2] == "threads":
                return self.list_threads(int(ident), query, raw_query)
        elif head == "customers":
            if n == 1:
                return self.list_customers(query, raw_query)
            if ident and n == 2:
                return self.get_customer(int(ident))
        elif head == "mailboxes":
            if n == 1:
                return self.simple_list("mailboxes", self.data.mailboxes, query, raw_query, self.mailbox_links)
            mailbox = next((m for m in self.data.mailboxes if ident and m["id"] == int(ident)), None)
            if mailbox is not None and n == 2:
                return Reply(200, dumps({**mailbox, "_links": self.mailbox_links(mailbox)}))
            if mailbox is not None and n == 3 and parts[2] == "fields":
                # field items carry no _links in the docs
                return self.simple_list(f"mailboxes/{ident}/fields", self.data.fields[mailbox["id"]], query,
                                        raw_query, None, key="fields")
            if mailbox is not None and n == 3 and parts[2] == "folders":
                return self.simple_list(f"mailboxes/{ident}/folders", self.data.folders[mailbox["id"]], query,
                                        raw_query, lambda f: {"self": self.link(f"mailboxes/{ident}/folders/{f['id']}")},
                                        key="folders")
        elif head == "users":
            if n == 1:
                return self.list_users(query, raw_query)
            if n == 2 and parts[1] == "me":
                # the token's user: the account owner who authorized the app
                return Reply(200, dumps({**self.data.users[0], "_links": self.user_links(self.data.users[0])}))
            user = self.data.user(int(ident)) if ident and n == 2 else None
            if user is not None:
                return Reply(200, dumps({**user, "_links": self.user_links(user)}))
        elif head == "teams":
            if n == 1:
                return self.simple_list("teams", self.data.teams, query, raw_query, self.team_links)
            team = next((t for t in self.data.teams if ident and t["id"] == int(ident)), None)
            if team is not None and n == 3 and parts[2] == "members":
                members = [self.data.user(uid) for uid in self.data.members[team["id"]]]
                return self.simple_list(f"teams/{ident}/members", members, query, raw_query, self.user_links,
                                        key="users")
        elif head == "workflows" and n == 1:
            return self.list_workflows(query, raw_query)
        elif head == "tags" and n == 1:
            return self.simple_list("tags", self.data.tags, query, raw_query,
                                    lambda t: {"self": self.link(f"tags/{t['id']}")})
        elif head == "reports":
            if self.plan == "standard":
                # Standard plans have no reporting endpoints [HS-KB]; 403 is UNCONFIRMED but is
                # what "token valid, access denied" means in the tap's error map.
                return error_reply(403, "Reports are not available on the Standard plan")
            if parts[1:] == ["happiness", "ratings"]:
                return self.happiness_ratings(query)
        return error_reply(404, "Resource not found")

    # ------------------------------------------------------------------ links
    def link(self, rel_path):
        return {"href": f"{self.base}/{rel_path}"}

    def conversation_links(self, conv):
        links = {"self": self.link(f"conversations/{conv['id']}"),
                 "mailbox": self.link(f"mailboxes/{conv['mailboxId']}"),
                 "primaryCustomer": self.link(f"customers/{conv['primaryCustomer']['id']}")}
        created_by = conv["createdBy"]
        if created_by["type"] == "customer":
            links["createdByCustomer"] = self.link(f"customers/{created_by['id']}")
        else:
            links["createdByUser"] = self.link(f"users/{created_by['id']}")
        if conv.get("closedBy"):
            links["closedBy"] = self.link(f"users/{conv['closedBy']}")
        links["threads"] = self.link(f"conversations/{conv['id']}/threads")
        if "assignee" in conv:
            links["assignee"] = self.link(f"users/{conv['assignee']['id']}")
        links["web"] = {"href": f"{WEB}/conversation/{conv['id']}/{conv['number']}/"}
        return links

    def thread_json(self, conversation_id, thread):
        cached = self._thread.get(thread["id"])
        if cached is None:
            rendered = dict(thread)
            if "_embedded" in thread:
                rendered["_embedded"] = {"attachments": [
                    {**a, "_links": {"data": self.link(f"conversations/{conversation_id}/attachments/{a['id']}/data"),
                                     "web": {"href": f"{WEB}/file/{a['id']}/{a['filename']}"}}}
                    for a in thread["_embedded"]["attachments"]]}
            links = {}
            created_by = thread["createdBy"]
            if created_by["type"] == "customer":
                links["createdByCustomer"] = self.link(f"customers/{created_by['id']}")
            else:
                links["createdByUser"] = self.link(f"users/{created_by['id']}")
            if "customer" in thread:
                links["customer"] = self.link(f"customers/{thread['customer']['id']}")
            if "assignedTo" in thread:
                kind = "teams" if thread["assignedTo"]["type"] == "team" else "users"
                links["assignedTo"] = self.link(f"{kind}/{thread['assignedTo']['id']}")
            rendered["_links"] = links
            cached = self._thread[thread["id"]] = dumps(rendered)
        return cached

    def conversation_json(self, conv, embed_threads):
        cache = self._conv_embed if embed_threads else self._conv
        cached = cache.get(conv["id"])
        if cached is None:
            head = dumps(conv)[:-1]        # the item without its closing brace
            embedded = b""
            if embed_threads:
                newest = self.threads_newest_first(conv["id"])
                keep = CHAT_EMBEDDED_THREADS if conv["type"] == "chat" else EMBEDDED_THREADS_CAP
                fragments = [self.thread_json(conv["id"], t) for t in newest[:keep]]
                if fragments:
                    embedded = b',"_embedded":{"threads":[' + b",".join(fragments) + b"]}"
            cached = cache[conv["id"]] = (head + embedded + b',"_links":' + dumps(self.conversation_links(conv)) + b"}")
        return cached

    def customer_json(self, cust):
        cached = self._customer.get(cust["id"])
        if cached is None:
            cid = cust["id"]
            links = {"address": self.link(f"customers/{cid}/address"), "chats": self.link(f"customers/{cid}/chats"),
                     "emails": self.link(f"customers/{cid}/emails"), "phones": self.link(f"customers/{cid}/phones"),
                     "social-profiles": self.link(f"customers/{cid}/social-profiles"),
                     "websites": self.link(f"customers/{cid}/websites"), "self": self.link(f"customers/{cid}")}
            cached = self._customer[cid] = dumps({**cust, "_links": links})
        return cached

    def mailbox_links(self, mailbox):
        mid = mailbox["id"]
        return {"self": self.link(f"mailboxes/{mid}"), "folders": self.link(f"mailboxes/{mid}/folders"),
                "fields": self.link(f"mailboxes/{mid}/fields")}

    def user_links(self, user):
        return {"self": self.link(f"users/{user['id']}")}

    def team_links(self, team):
        return {"teamMembers": self.link(f"teams/{team['id']}/members"), "self": self.link(f"teams/{team['id']}")}

    # ------------------------------------------------------------------ paging
    @staticmethod
    def page_number(query):
        return parse_int("page", query["page"], minimum=1) if query.get("page", "") != "" else 1

    def page(self, rel_path, raw_query, key, fragments, number, size, total):
        """A HAL page. Links are absolute and keep every query parameter as the client sent it,
        with `page` replaced; `_embedded` is omitted when this page holds nothing."""
        total_pages = math.ceil(total / size)
        kept = [t for t in raw_query.split("&") if t and t.split("=", 1)[0] != "page"]

        def href(page_no):
            return {"href": f"{self.base}/{rel_path}?" + "&".join(kept + [f"page={page_no}"])}

        links = {"self": href(number), "first": href(1)}
        if number > 1:
            links["previous"] = href(min(number - 1, max(total_pages, 1)))
        if number < total_pages:
            links["next"] = href(number + 1)
        links["last"] = href(max(total_pages, 1))
        template = f"{self.base}/{rel_path}" + (("?" + "&".join(kept) + "{&page}") if kept else "{?page}")
        links["page"] = {"href": template, "templated": True}
        body = b"{"
        if fragments:
            body += b'"_embedded":{"' + key.encode() + b'":[' + b",".join(fragments) + b"]},"
        body += b'"_links":' + dumps(links)
        body += b',"page":' + dumps({"size": size, "totalElements": total, "totalPages": total_pages, "number": number})
        return Reply(200, body + b"}")

    def simple_list(self, rel_path, records, query, raw_query, links_of, key=None, order=None):
        number = self.page_number(query)
        ordered = sorted(records, key=order or (lambda r: r["id"]))     # id ascending (UNCONFIRMED)
        chunk = ordered[(number - 1) * PAGE_SIZE: number * PAGE_SIZE]
        fragments = [dumps({**r, "_links": links_of(r)} if links_of else r) for r in chunk]
        return self.page(rel_path, raw_query, key or rel_path, fragments, number, PAGE_SIZE, len(ordered))

    def sorted_records(self, kind, records, sort_key, reverse, name):
        """Sorted views are cached until the dataset changes (its revision moves)."""
        cache_key = (kind, name, reverse)
        cached = self._orders.get(cache_key)
        if cached is None or cached[0] != self.data.revision:
            cached = self._orders[cache_key] = (self.data.revision, sorted(records, key=sort_key, reverse=reverse))
        return cached[1]

    # ------------------------------------------------------------------ conversations
    def conversation_sort_key(self, field):
        modified = self.data.conversation_modified_at
        keys = {
            "createdAt": lambda c: (c["createdAt"], c["id"]),
            "modifiedAt": lambda c: (modified[c["id"]], c["id"]),
            "number": lambda c: (c["number"], c["id"]),
            "customerEmail": lambda c: (c["primaryCustomer"].get("email") or "", c["id"]),
            "customerName": lambda c: (f"{c['primaryCustomer'].get('first') or ''} {c['primaryCustomer'].get('last') or ''}", c["id"]),
            "mailboxid": lambda c: (c["mailboxId"], c["id"]),
            "score": lambda c: (c["createdAt"], c["id"]),      # no search query: relevance is flat
            "status": lambda c: (c["status"], c["id"]),
            "subject": lambda c: (c["subject"], c["id"]),
            "waitingSince": lambda c: (c["customerWaitingSince"]["time"], c["id"]),
        }
        return keys[field]

    def list_conversations(self, query, raw_query):
        status = one_of("status", query.get("status", "active"), CONVERSATION_STATUSES)
        sort_field = one_of("sortField", query.get("sortField", "createdAt"), CONVERSATION_SORT_FIELDS)
        # lower case only: the docs show asc/desc here (reports use ASC/DESC)
        sort_order = one_of("sortOrder", query.get("sortOrder", "desc"), ("asc", "desc"))
        embed = query.get("embed")
        if embed is not None:
            one_of("embed", embed, ("threads",))
        number = self.page_number(query)
        since = parse_date_param("modifiedSince", query["modifiedSince"]) if "modifiedSince" in query else None
        mailboxes = parse_int_list("mailbox", query["mailbox"]) if "mailbox" in query else None
        folder = parse_int("folder", query["folder"]) if "folder" in query else None
        assigned = parse_int("assigned_to", query["assigned_to"]) if "assigned_to" in query else None
        conv_number = parse_int("number", query["number"]) if "number" in query else None
        tags = {t for t in query["tag"].split(",") if t} if query.get("tag") else None
        custom = self.parse_custom_fields(query["customFieldsByIds"]) if "customFieldsByIds" in query else None
        if "query" in query:
            raise ParamError("query", "Advanced search queries are not supported by this emulator", query["query"])
        # status=open's meaning is UNCONFIRMED; we read it as active + pending
        statuses = {"active": {"active"}, "open": {"active", "pending"}, "pending": {"pending"},
                    "closed": {"closed"}, "spam": {"spam"},
                    "all": {"active", "pending", "closed", "spam"}}[status]
        modified = self.data.conversation_modified_at
        with self.data.lock:
            selected = self.cached_selection("conversations", query)
            if selected is not None:
                return self.conversations_page(selected, number, embed, raw_query)
            ordered = self.sorted_records("conversations", self.data.conversations,
                                          self.conversation_sort_key(sort_field), sort_order == "desc", sort_field)
            # modifiedSince is strict ">" on the hidden modification time: "modified after this
            # timestamp" [D-CONV]; strict vs inclusive is UNCONFIRMED, strict is the one that
            # loses records for a tap that resumes from its bookmark without an overlap.
            selected = [c for c in ordered
                        if c["status"] in statuses
                        and (since is None or modified[c["id"]] > since)
                        and (mailboxes is None or c["mailboxId"] in mailboxes)
                        and (folder is None or c["folderId"] == folder)
                        and (assigned is None or c.get("assignee", {}).get("id") == assigned)
                        and (conv_number is None or c["number"] == conv_number)
                        and (tags is None or any(t["tag"] in tags for t in c["tags"]))      # OR, as v1
                        and (custom is None or self.custom_fields_match(c, custom))]
            self.remember_selection("conversations", query, selected)
            return self.conversations_page(selected, number, embed, raw_query)

    def conversations_page(self, selected, number, embed, raw_query):
        chunk = selected[(number - 1) * CONVERSATIONS_PAGE_SIZE: number * CONVERSATIONS_PAGE_SIZE]
        fragments = [self.conversation_json(c, embed == "threads") for c in chunk]
        return self.page("conversations", raw_query, "conversations", fragments, number,
                         CONVERSATIONS_PAGE_SIZE, len(selected))

    def cached_selection(self, kind, query):
        """The filtered, sorted records of an earlier request with the same parameters (page
        and embed aside), valid until the dataset changes: paging through a big listing then
        costs a slice per page, not a scan."""
        hit = self._selections.get((kind, self.selection_key(query)))
        return hit[1] if hit is not None and hit[0] == self.data.revision else None

    def remember_selection(self, kind, query, selected):
        if len(self._selections) > 64:
            self._selections.clear()
        self._selections[(kind, self.selection_key(query))] = (self.data.revision, selected)

    @staticmethod
    def selection_key(query):
        return tuple(sorted((k, v) for k, v in query.items() if k not in ("page", "embed")))

    @staticmethod
    def parse_custom_fields(value):
        pairs = []
        for part in value.split(","):
            field_id, sep, wanted = part.partition(":")
            if not sep or not field_id.isdigit():
                raise ParamError("customFieldsByIds", "Expected fieldId:value pairs", value)
            pairs.append((int(field_id), wanted))
        return pairs

    @staticmethod
    def custom_fields_match(conv, pairs):
        values = {(f["id"], f["value"]) for f in conv["customFields"]}
        return all(pair in values for pair in pairs)

    def get_conversation(self, conversation_id, query):
        embed = query.get("embed")
        if embed is not None:
            one_of("embed", embed, ("threads",))
        with self.data.lock:
            conv = self.data.conversation(conversation_id)
            if conv is None:
                return error_reply(404, "Conversation not found")
            return Reply(200, self.conversation_json(conv, embed == "threads"))

    def threads_newest_first(self, conversation_id):
        # threads are stored oldest first; the API lists them newest first (ties: newest id first)
        return sorted(self.data.threads[conversation_id], key=lambda t: (t["createdAt"], t["id"]), reverse=True)

    def list_threads(self, conversation_id, query, raw_query):
        number = self.page_number(query)
        with self.data.lock:
            if self.data.conversation(conversation_id) is None:
                return error_reply(404, "Conversation not found")
            newest = self.threads_newest_first(conversation_id)
            chunk = newest[(number - 1) * THREADS_PAGE_SIZE: number * THREADS_PAGE_SIZE]
            fragments = [self.thread_json(conversation_id, t) for t in chunk]
        return self.page(f"conversations/{conversation_id}/threads", raw_query, "threads", fragments, number,
                         THREADS_PAGE_SIZE, len(newest))

    # ------------------------------------------------------------------ customers
    def list_customers(self, query, raw_query):
        sort_field = one_of("sortField", query.get("sortField", "createdAt"), CUSTOMER_SORT_FIELDS)
        sort_order = one_of("sortOrder", query.get("sortOrder", "desc"), ("asc", "desc"))
        number = self.page_number(query)
        # updatedAt strings are in one fixed format, so they compare correctly as strings
        since = parse_date_param("modifiedSince", query["modifiedSince"]) if "modifiedSince" in query else None
        since_text = since.strftime("%Y-%m-%dT%H:%M:%SZ") if since else None
        mailbox = parse_int("mailbox", query["mailbox"]) if "mailbox" in query else None
        if "query" in query:
            raise ParamError("query", "Advanced search queries are not supported by this emulator", query["query"])
        first, last = query.get("firstName"), query.get("lastName")
        keys = {"createdAt": lambda c: (c["createdAt"], c["id"]), "score": lambda c: (c["createdAt"], c["id"]),
                "modifiedAt": lambda c: (c["updatedAt"], c["id"]),
                "firstName": lambda c: (c.get("firstName") or "", c["id"]),
                "lastName": lambda c: (c.get("lastName") or "", c["id"])}
        with self.data.lock:
            selected = self.cached_selection("customers", query)
            if selected is not None:
                return self.customers_page(selected, number, raw_query)
            ordered = self.sorted_records("customers", self.data.customers, keys[sort_field],
                                          sort_order == "desc", sort_field)
            in_mailbox = ({c["primaryCustomer"]["id"] for c in self.data.conversations if c["mailboxId"] == mailbox}
                          if mailbox is not None else None)
            selected = [c for c in ordered
                        if (since_text is None or c["updatedAt"] > since_text)       # strict, as conversations
                        and (first is None or c.get("firstName") == first)
                        and (last is None or c.get("lastName") == last)
                        and (in_mailbox is None or c["id"] in in_mailbox)]
            self.remember_selection("customers", query, selected)
            return self.customers_page(selected, number, raw_query)

    def customers_page(self, selected, number, raw_query):
        chunk = selected[(number - 1) * PAGE_SIZE: number * PAGE_SIZE]
        fragments = [self.customer_json(c) for c in chunk]
        return self.page("customers", raw_query, "customers", fragments, number, PAGE_SIZE, len(selected))

    def get_customer(self, customer_id):
        with self.data.lock:
            cust = self.data.customer(customer_id)
            if cust is None:
                return error_reply(404, "Customer not found")
            return Reply(200, self.customer_json(cust))

    # ------------------------------------------------------------------ users, workflows
    def list_users(self, query, raw_query):
        users = self.data.users
        if "email" in query:
            users = [u for u in users if u["email"] == query["email"]]
        if "mailbox" in query:
            mailbox = parse_int("mailbox", query["mailbox"])
            users = [u for u in users if mailbox in self.data.user_mailboxes[u["id"]]]
        return self.simple_list("users", users, query, raw_query, self.user_links)

    def list_workflows(self, query, raw_query):
        workflows = self.data.workflows
        if "mailboxId" in query:
            mailbox = parse_int("mailboxId", query["mailboxId"])
            workflows = [w for w in workflows if w["mailboxId"] == mailbox]
        if "type" in query:
            kind = one_of("type", query["type"], ("manual", "automatic"))
            workflows = [w for w in workflows if w["type"] == kind]
        # ordered by `order` (v1 stated it; v2 UNCONFIRMED), id as tiebreaker
        return self.simple_list("workflows", workflows, query, raw_query,
                                lambda w: {"self": self.link(f"workflows/{w['id']}")},
                                order=lambda w: (w["order"], w["id"]))

    # ------------------------------------------------------------------ reports
    def happiness_ratings(self, query):
        """Not HAL: {"facets", "results", "page", "count", "pages"}, 10 per page.

        `start` and `end` are required (the v2 docs mark nothing required; v1 required them and
        refusing their absence is the stricter reading). A rating is in range when
        start <= ratingCreatedAt < end (half-open, so consecutive ranges never double count)."""
        missing = [ParamError(name, "Required parameter is missing", None) for name in ("start", "end")
                   if name not in query]
        if missing:
            return error_reply(400, "Bad request", missing)
        start = parse_date_param("start", query["start"])
        end = parse_date_param("end", query["end"])
        for name in ("previousStart", "previousEnd"):
            if name in query:
                parse_date_param(name, query[name])
        if end < start:
            raise ParamError("end", "end must not be before start", query["end"])
        number = self.page_number(query)
        rating_filter = one_of("rating", query.get("rating", "all"), ("great", "ok", "all", "not-good"))
        wanted_rating = {"great": {1}, "ok": {2}, "not-good": {3}, "all": {1, 2, 3}}[rating_filter]
        sort_field = one_of("sortField", query.get("sortField", "modifiedAt"), ("number", "modifiedAt", "rating"))
        sort_order = one_of("sortOrder", query.get("sortOrder", "DESC"), ("ASC", "DESC"))
        mailboxes = parse_int_list("mailboxes", query["mailboxes"]) if query.get("mailboxes") else None
        tag_ids = parse_int_list("tags", query["tags"]) if query.get("tags") else None
        folders = parse_int_list("folders", query["folders"]) if query.get("folders") else None
        types = None
        if query.get("types"):
            types = {one_of("types", t, ("email", "chat", "phone")) for t in query["types"].split(",")}
        start_text, end_text = query["start"], query["end"]
        with self.data.lock:
            results = []
            for rating in self.data.ratings:
                conv = self.data.conversation(rating["id"])
                if not (start_text <= rating["ratingCreatedAt"] < end_text) or rating["ratingId"] not in wanted_rating:
                    continue
                if types is not None and rating["type"] not in types:
                    continue
                if conv is not None and (
                        (mailboxes is not None and conv["mailboxId"] not in mailboxes)
                        or (folders is not None and conv["folderId"] not in folders)
                        or (tag_ids is not None and not any(t["id"] in tag_ids for t in conv["tags"]))):
                    continue
                results.append(rating)
            field_of = {"number": "number", "modifiedAt": "ratingCreatedAt", "rating": "ratingId"}[sort_field]
            results.sort(key=lambda r: (r[field_of], r["threadid"]), reverse=sort_order == "DESC")
            count = len(results)
            chunk = results[(number - 1) * REPORT_PAGE_SIZE: number * REPORT_PAGE_SIZE]
            body = dumps({"facets": {}, "results": chunk, "page": number, "count": count,
                          "pages": math.ceil(count / REPORT_PAGE_SIZE)})
        return Reply(200, body, JSON)
