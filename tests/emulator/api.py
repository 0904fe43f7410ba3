"""The Mailbox API 2.0 resource endpoints: routing, parameter validation, filtering and sorting
of the original eleven streams' endpoints. Rendering and paging are in render.py, the report in
report.py, the newer endpoints in api_more.py, the `query` syntax in search.py.

Everything here is independent of HTTP: `Api.get(path, raw_query)` returns a `Reply`.
"""
from urllib.parse import parse_qsl

from .api_more import MoreEndpoints
from .dataset import parse_iso
from .render import Renderer
from .report import happiness_ratings
from .report_series import SERIES, time_series
from .search import QueryError, matches, parse_query
from .shapes import (CONVERSATION_SORT_FIELDS, CONVERSATION_STATUSES, CONVERSATIONS_PAGE_SIZE, CUSTOMER_SORT_FIELDS,
                     JSON, PAGE_SIZE, THREADS_PAGE_SIZE, ParamError, Reply, dumps, error_reply, one_of,
                     parse_date_param, parse_int, parse_int_list)

__all__ = ["Api", "JSON", "Reply", "dumps", "error_reply"]

# The sort fields the official PHP SDK accepts for customers (CustomerFilters::sortField);
# `customer_sort_strict` refuses every other one, `createdAt` included.
STRICT_CUSTOMER_SORT_FIELDS = ("score", "firstName", "lastName", "modifiedAt")
CONVERSATION_QUERY_FIELDS = {"createdAt": "date", "modifiedAt": "date", "number": "int"}
CUSTOMER_QUERY_FIELDS = {"createdAt": "date", "modifiedAt": "date"}


class Api(Renderer, MoreEndpoints):
    @property
    def plan(self):
        return self.readings.plan

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
            return self._route_mailboxes(parts, ident, query, raw_query)
        elif head == "users":
            if n == 1:
                return self.list_users(query, raw_query)
            if n == 2 and parts[1] == "me":
                # the token's user: the account owner who authorized the app (for every grant)
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
        elif head == "tags":
            if n == 1:
                return self.list_tags(query, raw_query)
            if ident and n == 2:
                return self.get_tag(int(ident))
        elif head == "organizations":
            if n == 1:
                return self.list_organizations(query, raw_query)
            if n == 2 and parts[1] == "properties":       # before /organizations/{id}
                return self.list_organization_properties()
            if ident and n == 2:
                return self.get_organization(int(ident), query)
            if ident and n == 3 and parts[2] == "customers":
                return self.organization_customers(int(ident), query, raw_query)
            if ident and n == 3 and parts[2] == "conversations":
                return self.organization_conversations(int(ident), query, raw_query)
        elif head == "customer-properties":
            if n == 1:
                return self.list_customer_properties(query, raw_query)
            if n == 2:
                return self.get_customer_property(parts[1])
        elif head == "reports":
            if self.plan == "standard":
                return self.reports_refused()
            if parts[1:] == ["happiness", "ratings"]:
                return happiness_ratings(self, query)
            if "/".join(parts[1:]) in SERIES:
                return time_series(self, "/".join(parts[1:]), query)
        return error_reply(404, "Resource not found")

    def _route_mailboxes(self, parts, ident, query, raw_query):
        n = len(parts)
        if n == 1:
            return self.simple_list("mailboxes", self.data.mailboxes, query, raw_query, self.mailbox_links)
        mailbox = next((m for m in self.data.mailboxes if ident and m["id"] == int(ident)), None)
        if mailbox is None:
            return error_reply(404, "Resource not found")
        if n == 2:
            return Reply(200, dumps({**mailbox, "_links": self.mailbox_links(mailbox)}))
        if n == 3 and parts[2] == "fields":
            # field items carry no _links in the docs
            return self.simple_list(f"mailboxes/{ident}/fields", self.data.fields[mailbox["id"]], query,
                                    raw_query, None, key="fields")
        if n == 3 and parts[2] == "folders":
            return self.simple_list(f"mailboxes/{ident}/folders", self.data.folders[mailbox["id"]], query,
                                    raw_query, lambda f: {"self": self.link(f"mailboxes/{ident}/folders/{f['id']}")},
                                    key="folders")
        if n == 3 and parts[2] == "saved-replies":
            return self.list_saved_replies(mailbox["id"], query, raw_query)
        if n == 4 and parts[2] == "saved-replies" and parts[3].isdigit():
            return self.get_saved_reply(mailbox["id"], int(parts[3]))
        return error_reply(404, "Resource not found")

    def reports_refused(self):
        """Standard plans have no reporting endpoints (Help Scout's knowledge base on plans and
        limits, docs/sources.md). The status is UNCONFIRMED (the "Access denied" entry of Help
        Scout's errors page names reports but no code): 403 by default, what "token valid, access
        denied" means in the tap's error map; `reports_status` picks another (e.g. 401)."""
        status = self.readings.reports_status
        if status == 403:
            return error_reply(403, "Reports are not available on the Standard plan")
        return error_reply(status, "Access denied: reports are not available on the Standard plan")

    # ------------------------------------------------------------------ search-backed listings
    def check_depth(self, number):
        """`max_page_depth`: a search backend refuses result windows beyond a depth (10,000 rows
        by default in Elasticsearch, page 401 at 25 per page), whatever the number of hits."""
        depth = self.readings.max_page_depth
        if depth is not None and number > depth:
            message = f"Result window is too large, page must be <= {depth}"
            return error_reply(400, message, [ParamError("page", message, str(number))])
        return None

    def parse_search(self, query, fields):
        """The `query` parameter's range terms, or None without one. Unsupported unless
        `query_ranges`: refused rather than silently ignored, so no test passes by accident."""
        if "query" not in query:
            return None
        text = query["query"]
        if not self.readings.query_ranges:
            raise ParamError("query", "Advanced search queries are not supported by this emulator", text)
        try:
            return parse_query(text, fields)
        except QueryError:
            raise ParamError("query", f"Unsupported or malformed query: {text}", text) from None

    def conversation_view(self):
        """The conversations a listing sees and their hidden modification times: the dataset's,
        or, with `index_lag_seconds`, the lagging index's."""
        if self.index is None:
            return self.data.conversations, self.data.conversation_modified_at
        return self.index.view("conversation")

    def customer_view(self):
        """The customers a listing sees and their updatedAt as the index sees it."""
        if self.index is None:
            return self.data.customers, None
        return self.index.view("customer")

    # ------------------------------------------------------------------ conversations
    @staticmethod
    def conversation_sort_value(field, modified):
        """The value a conversation sorts on (the id breaks ties, see conversation_sort_key)."""
        values = {
            "createdAt": lambda c: c["createdAt"],
            "modifiedAt": lambda c: modified[c["id"]],
            "number": lambda c: c["number"],
            "customerEmail": lambda c: c["primaryCustomer"].get("email") or "",
            "customerName": lambda c: f"{c['primaryCustomer'].get('first') or ''} {c['primaryCustomer'].get('last') or ''}",
            "mailboxid": lambda c: c["mailboxId"],
            "score": lambda c: c["createdAt"],      # no search query: relevance is flat
            "status": lambda c: c["status"],
            "subject": lambda c: c["subject"],
            "waitingSince": lambda c: c["customerWaitingSince"]["time"],
        }
        return values[field]

    def conversation_sort_key(self, field, modified=None):
        value = self.conversation_sort_value(field, modified or self.data.conversation_modified_at)
        return lambda c: (value(c), c["id"])

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
        terms = self.parse_search(query, CONVERSATION_QUERY_FIELDS)
        refused = self.check_depth(number)
        if refused is not None:
            return refused
        # status=open's meaning is UNCONFIRMED; we read it as active + pending
        statuses = {"active": {"active"}, "open": {"active", "pending"}, "pending": {"pending"},
                    "closed": {"closed"}, "spam": {"spam"},
                    "all": {"active", "pending", "closed", "spam"}}[status]
        with self.data.lock:
            records, modified = self.conversation_view()
            tie = self.conversation_sort_value(sort_field, modified)
            selected = self.cached_selection("conversations", query)
            if selected is not None:
                return self.conversations_page(selected, number, embed, raw_query, tie)
            ordered = self.sorted_records("conversations", records, self.conversation_sort_key(sort_field, modified),
                                          sort_order == "desc", sort_field)
            # modifiedSince compares the hidden modification time (strict by default, which
            # loses records for a tap that resumes from its bookmark without an overlap).
            selected = [c for c in ordered
                        if c["status"] in statuses
                        and (since is None or self.after(modified[c["id"]], since))
                        and (mailboxes is None or c["mailboxId"] in mailboxes)
                        and (folder is None or c["folderId"] == folder)
                        and (assigned is None or c.get("assignee", {}).get("id") == assigned)
                        and (conv_number is None or c["number"] == conv_number)
                        and (tags is None or any(t["tag"] in tags for t in c["tags"]))      # OR, as v1
                        and (custom is None or self.custom_fields_match(c, custom))
                        and (terms is None or matches(terms, {
                            "createdAt": lambda: parse_iso(c["createdAt"]),
                            "modifiedAt": lambda: modified[c["id"]], "number": lambda: c["number"]}))]
            self.remember_selection("conversations", query, selected)
            return self.conversations_page(selected, number, embed, raw_query, tie)

    def conversations_page(self, selected, number, embed, raw_query, tie=None):
        chunk = self.page_rows(selected, number, CONVERSATIONS_PAGE_SIZE, tie)
        fragments = [self.conversation_json(c, embed == "threads") for c in chunk]
        return self.page("conversations", raw_query, "conversations", fragments, number,
                         CONVERSATIONS_PAGE_SIZE, len(selected))

    def after(self, modified, since):
        """modifiedSince: "modified after this timestamp" (List Conversations), strict by default;
        strict vs inclusive is UNCONFIRMED (`modified_since_inclusive`)."""
        return modified >= since if self.readings.modified_since_inclusive else modified > since

    def cached_selection(self, kind, query):
        """The filtered, sorted records of an earlier request with the same parameters (page
        and embed aside), valid until the dataset changes: paging through a big listing then
        costs a slice per page, not a scan."""
        hit = self._selections.get((kind, self.selection_key(query)))
        return hit[1] if hit is not None and hit[0] == self.revision() else None

    def remember_selection(self, kind, query, selected):
        if len(self._selections) > 64:
            self._selections.clear()
        self._selections[(kind, self.selection_key(query))] = (self.revision(), selected)

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

    def list_threads(self, conversation_id, query, raw_query):
        number = self.page_number(query)
        with self.data.lock:
            if self.data.conversation(conversation_id) is None:
                return error_reply(404, "Conversation not found")
            newest = self.threads_newest_first(conversation_id)
            chunk = self.page_rows(newest, number, THREADS_PAGE_SIZE, tie=lambda t: t["createdAt"])
            fragments = [self.thread_json(conversation_id, t) for t in chunk]
        return self.page(f"conversations/{conversation_id}/threads", raw_query, "threads", fragments, number,
                         THREADS_PAGE_SIZE, len(newest))

    # ------------------------------------------------------------------ customers
    def list_customers(self, query, raw_query):
        if self.readings.customer_sort_strict:
            # only the PHP SDK's fields; without sortField the API then sorts by score
            sort_field = one_of("sortField", query.get("sortField", "score"), STRICT_CUSTOMER_SORT_FIELDS)
        else:
            sort_field = one_of("sortField", query.get("sortField", "createdAt"), CUSTOMER_SORT_FIELDS)
        sort_order = one_of("sortOrder", query.get("sortOrder", "desc"), ("asc", "desc"))
        number = self.page_number(query)
        # updatedAt strings are in one fixed format, so they compare correctly as strings
        since = parse_date_param("modifiedSince", query["modifiedSince"]) if "modifiedSince" in query else None
        since_text = since.strftime("%Y-%m-%dT%H:%M:%SZ") if since else None
        mailbox = parse_int("mailbox", query["mailbox"]) if "mailbox" in query else None
        terms = self.parse_search(query, CUSTOMER_QUERY_FIELDS)
        refused = self.check_depth(number)
        if refused is not None:
            return refused
        first, last = query.get("firstName"), query.get("lastName")
        with self.data.lock:
            records, indexed = self.customer_view()

            def updated(c):
                return c["updatedAt"] if indexed is None else indexed[c["id"]]

            values = {"createdAt": lambda c: c["createdAt"], "score": lambda c: c["createdAt"],
                      "modifiedAt": updated,
                      "firstName": lambda c: c.get("firstName") or "",
                      "lastName": lambda c: c.get("lastName") or ""}
            tie = values[sort_field]
            selected = self.cached_selection("customers", query)
            if selected is not None:
                return self.customers_page(selected, number, raw_query, tie)
            ordered = self.sorted_records("customers", records, lambda c: (tie(c), c["id"]),
                                          sort_order == "desc", sort_field)
            in_mailbox = ({c["primaryCustomer"]["id"] for c in self.data.conversations if c["mailboxId"] == mailbox}
                          if mailbox is not None else None)
            selected = [c for c in ordered
                        if (since_text is None or self.after(updated(c), since_text))   # as conversations
                        and (first is None or c.get("firstName") == first)
                        and (last is None or c.get("lastName") == last)
                        and (in_mailbox is None or c["id"] in in_mailbox)
                        and (terms is None or matches(terms, {"createdAt": lambda: parse_iso(c["createdAt"]),
                                                              "modifiedAt": lambda: parse_iso(updated(c))}))]
            self.remember_selection("customers", query, selected)
            return self.customers_page(selected, number, raw_query, tie)

    def customers_page(self, selected, number, raw_query, tie=None):
        chunk = self.page_rows(selected, number, PAGE_SIZE, tie)
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
                                order=lambda w: (w["order"], w["id"]), tie=lambda w: w["order"])
