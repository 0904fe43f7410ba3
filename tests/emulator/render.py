"""Rendering: records to JSON byte fragments (cached), absolute HAL links, HAL pages, and the
per-request order of tied rows (`Readings.unstable_ties`).

Records are rendered to JSON once and cached as byte fragments (a conversation, a conversation
with its embedded threads, a thread, a customer); a page is then a concatenation of cached
fragments, so serving a page costs a filter, a sort (cached per dataset revision) and a join,
never a deep copy of the dataset. The dataset calls `forget(kind, id)` whenever it changes a
record.
"""
import math
import random
import threading

from .shapes import (CHAT_EMBEDDED_THREADS, EMBEDDED_THREADS_CAP, HAL, PAGE_SIZE, WEB, Reply, Readings, dumps,
                     parse_int)


class Renderer:
    def __init__(self, data, base_url, readings=None, index=None):
        self.data = data
        self.base = base_url            # "http://127.0.0.1:PORT/v2"
        self.readings = readings or Readings()
        self.index = index              # a SearchIndex when changes reach listings late, else None
        self._conv = {}                 # id -> bytes of the conversation item
        self._conv_embed = {}           # id -> bytes of the item with _embedded.threads
        self._thread = {}               # thread id -> bytes
        self._customer = {}             # id -> bytes
        self._orders = {}               # (kind, sortField, sortOrder) -> (revision, [records])
        self._selections = {}           # (kind, filter params) -> (revision, [records])
        self._tombstones = {}           # (kind, id, embed) -> bytes of a deleted record still in the index
        self._tie_requests = 0
        self._tie_lock = threading.Lock()
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
        if self.index is not None:
            self.index.resync()

    def forget(self, kind, record_id):
        if kind == "conversation":
            plain, embedded = self._conv.pop(record_id, None), self._conv_embed.pop(record_id, None)
            if self.index is not None and self.data.conversation(record_id) is None:
                # deleted, but a lagging index still lists it: keep serving its last rendering
                self._tombstones[("conversation", record_id, False)] = plain
                self._tombstones[("conversation", record_id, True)] = embedded
        elif kind == "customer":
            rendered = self._customer.pop(record_id, None)
            if self.index is not None and self.data.customer(record_id) is None:
                self._tombstones[("customer", record_id, False)] = rendered
        if self.index is not None and kind in ("conversation", "customer"):
            self.index.changed(kind, record_id)

    def revision(self):
        """What cached orders and selections depend on: the dataset, and what the index shows."""
        return self.data.revision if self.index is None else (self.data.revision, self.index.catch_up())

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
        cached = cache.get(conv["id"]) or self._tombstones.get(("conversation", conv["id"], embed_threads))
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

    def threads_newest_first(self, conversation_id):
        # threads are stored oldest first; the API lists them newest first (ties: newest id first)
        return sorted(self.data.threads.get(conversation_id, ()), key=lambda t: (t["createdAt"], t["id"]),
                      reverse=True)

    def customer_json(self, cust):
        cached = self._customer.get(cust["id"]) or self._tombstones.get(("customer", cust["id"], False))
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


    def simple_list(self, rel_path, records, query, raw_query, links_of, key=None, order=None, tie=None):
        """A small list, sorted by `order` (id ascending by default: UNCONFIRMED); `tie` gives
        the sort value without the id tiebreaker, for `unstable_ties`."""
        number = self.page_number(query)
        ordered = sorted(records, key=order or (lambda r: r["id"]))
        chunk = self.page_rows(ordered, number, PAGE_SIZE, tie)
        fragments = [dumps({**r, "_links": links_of(r)} if links_of else r) for r in chunk]
        return self.page(rel_path, raw_query, key or rel_path, fragments, number, PAGE_SIZE, len(ordered))

    def sorted_records(self, kind, records, sort_key, reverse, name):
        """Sorted views are cached until the dataset (or what the index shows) changes."""
        cache_key = (kind, name, reverse)
        cached = self._orders.get(cache_key)
        revision = self.revision()
        if cached is None or cached[0] != revision:
            cached = self._orders[cache_key] = (revision, sorted(records, key=sort_key, reverse=reverse))
        return cached[1]

    # ------------------------------------------------------------------ tied rows
    def page_rows(self, rows, number, size, tie=None):
        """Page `number` of the sorted `rows`. With `unstable_ties` and a `tie` function (the
        sort value without the id tiebreaker), rows with equal sort values come in an order
        drawn anew for every request, as from a search index with replicas; rows with distinct
        values keep their order. Paging stays offset-based over that per-request order, so a
        tie group that straddles a page boundary can be missed or duplicated by a client."""
        start, stop = (number - 1) * size, number * size
        if not (self.readings.unstable_ties and tie) or start >= len(rows):
            return rows[start:stop]
        with self._tie_lock:
            self._tie_requests += 1
            rng = random.Random(f"ties/{self.readings.seed}/{self._tie_requests}")
        return shuffled_ties(rows, start, min(stop, len(rows)), tie, rng)


def shuffled_ties(rows, start, stop, tie, rng):
    """rows[start:stop] after shuffling each group of equal `tie` values that reaches into the
    slice (only those groups: the rest of the order cannot matter to this page)."""
    low, high = start, stop
    while low > 0 and tie(rows[low - 1]) == tie(rows[start]):
        low -= 1
    while high < len(rows) and tie(rows[high]) == tie(rows[stop - 1]):
        high += 1
    window, out, i = rows[low:high], [], 0
    while i < len(window):
        j = i + 1
        while j < len(window) and tie(window[j]) == tie(window[i]):
            j += 1
        group = window[i:j]
        rng.shuffle(group)
        out += group
        i = j
    return out[start - low: stop - low]
