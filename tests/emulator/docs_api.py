"""The Docs API v1 (knowledge base), served by the same emulator under DOCS_PREFIX.

`Docs` is `emu.docs`: the key, the options, the rate limiter, the knowledge base (`data`,
docs_data.py, built on first use) and its change methods. `Docs.serve` answers one HTTP request
for the handler in server.py, in this order (each step can answer instead of the next ones):
  1. the Docs rate limit (its own 10-minute window; a 429 without Retry-After),
  2. an injected fault (`emu.add_fault(kind, path="/docs-api/...")`),
  3. HTTP Basic auth with the key as user name (401, or 403 with `docs_key_forbidden`),
  4. GET only (405), routing, then `emu.mangle` on a 2xx answer.
Requests with a wrong key count against the limit (the stricter reading: the docs do not say).
Every answer carries X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset (whole seconds
until the window ends, rounded up) and, from the API itself, a Correlation-Id. Errors use the
v1 envelope `{"status": N, "message": "..."}`.
"""
import base64
import binascii
import hmac
import math
import random
import secrets
import threading
import uuid
from dataclasses import dataclass, fields
from urllib.parse import parse_qsl

from .docs_data import DocsData, generate_docs
from .ratelimit import RateLimiter
from .render import shuffled_ties
from .shapes import JSON, Reply, dumps

DOCS_ROOT = "/docs-api"
DOCS_PREFIX = DOCS_ROOT + "/v1"
LIST_SIZE = 50                  # sites, collections, categories per page
ARTICLE_PAGE_SIZE = 50          # the article lists' default pageSize
MAX_PAGE_SIZE = 100
WINDOW_SECONDS = 600            # the Docs rate-limit window, times `time_scale`
REF_FIELDS = ("id", "number", "collectionId", "slug", "status", "hasDraft", "name", "publicUrl", "popularity",
              "viewCount", "createdBy", "updatedBy", "createdAt", "updatedAt", "lastPublishedAt")
ARTICLE_SORTS = ("order", "number", "status", "name", "popularity", "createdAt", "updatedAt")
COLLECTION_SORTS = ("order", "number", "visibility", "name", "createdAt", "updatedAt")
CATEGORY_SORTS = ("order", "number", "name", "articleCount", "createdAt", "updatedAt")
CHANGES = ("modify_article", "add_article", "delete_article", "view_article", "publish_article", "unpublish_article",
           "save_draft", "move_article", "add_category", "delete_category", "add_collection", "delete_collection")


def is_docs_path(path):
    return path == DOCS_ROOT or path.startswith(DOCS_ROOT + "/")


def limit_for_sites(sites):
    """The documented limit per 10 minutes: 2000 with one site, 3000 with two, 4000 from three."""
    return 2000 if sites <= 1 else 3000 if sites == 2 else 4000


@dataclass
class DocsOptions:
    """The Emulator's `docs_*` keyword options (README.md, "Docs API")."""
    docs_sites: int = 2
    docs_collections: int = 4
    docs_categories: int = 4                     # named categories per collection (the last one has none)
    docs_articles: int = 300                     # 0: no knowledge base at all
    docs_api_key: str = None                     # None: a random 40-hex key
    docs_rate_limit: object = "sites"            # requests per window; "sites": by the number of sites; None: off
    docs_key_forbidden: bool = False             # the key's user lacks Docs permission: 403 everywhere
    docs_sites_envelope: str = "wrapped"         # "wrapped" {"sites": {...}} | "bare" {page, pages, count, items}
    docs_new_article_updated_at: str = "null"    # never-edited articles: "null" | "created" (= createdAt)
    docs_page_size_over_100: str = "reject"      # "reject" (400) | "clamp" (to 100)
    docs_unstable_ties: bool = False             # tied rows in a new order on every request
    docs_views_touch_updated_at: bool = False    # a view changes updatedAt
    docs_null_updated_at_sort: str = "lowest"    # null updatedAt sorts "lowest" | as its "created" time
    docs_uncategorized_in_categories: bool = False   # an article in no category lists Uncategorized's id

    def __post_init__(self):
        for name, allowed in (("docs_sites_envelope", ("wrapped", "bare")),
                              ("docs_new_article_updated_at", ("null", "created")),
                              ("docs_page_size_over_100", ("reject", "clamp")),
                              ("docs_null_updated_at_sort", ("lowest", "created"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}")
        limit = self.docs_rate_limit
        if not (limit is None or limit == "sites" or (isinstance(limit, int) and limit >= 1)):
            raise ValueError('docs_rate_limit must be a positive integer, "sites" or None')
        if self.docs_api_key is not None and not (isinstance(self.docs_api_key, str) and self.docs_api_key):
            raise ValueError("docs_api_key must be a non-empty string")

    @classmethod
    def pick(cls, options):
        """The docs options out of the Emulator's extra keyword arguments; any other name is a TypeError."""
        known = {f.name for f in fields(cls)}
        for name in options:
            if name not in known:
                raise TypeError(f"Emulator() got an unexpected keyword argument {name!r}")
        return cls(**options)


class DocsRateLimiter(RateLimiter):
    """A fixed window (it opens with the first request after the previous one ended) that also
    tells how long the current window has left. `clock` can be replaced, as on RateLimiter."""

    def __init__(self, limit, window, clock=None):
        super().__init__(limit, window, "fixed", **({"clock": clock} if clock else {}))

    def take_with_reset(self, cost=1):
        """(allowed, limit, remaining, reset): reset is whole seconds until the window ends, rounded up."""
        with self.lock:
            now = self.clock()
            allowed, limit, remaining, _ = self._take_fixed(cost, now)
            left = round(self.window - (now - self.window_start), 6)     # 600 * 0.1 is 60.00000000000001
            return allowed, limit, remaining, max(1, math.ceil(left))


class DocsError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def docs_reply(status, body, headers=None):
    return Reply(status, dumps(body), JSON, {"Correlation-Id": str(uuid.uuid4()), **(headers or {})})


def error(status, message, headers=None):
    return docs_reply(status, {"status": status, "message": message}, headers)


def choice(query, name, allowed, default):
    value = query.get(name, "")
    if value == "":
        return default
    if value not in allowed:
        raise DocsError(400, f"Invalid value for {name}: {value!r}; expected one of {', '.join(allowed)}")
    return value


def positive(query, name, default):
    value = query.get(name, "")
    if value == "":
        return default
    if not value.isdigit() or int(value) < 1:
        raise DocsError(400, f"Invalid value for {name}: {value!r}; expected a positive integer")
    return int(value)


class Docs:
    """`emu.docs`. See README.md, "Docs API"."""

    def __init__(self, emulator, seed, time_scale, user_ids, mailbox_ids, options):
        self.emulator = emulator
        self.options = options
        self.api_key = options.docs_api_key or secrets.token_hex(20)
        self.key_forbidden = options.docs_key_forbidden
        self.seed = seed
        limit = options.docs_rate_limit
        if limit == "sites":
            limit = limit_for_sites(options.docs_sites if options.docs_articles > 0 else 0)
        self.rate_limiter = DocsRateLimiter(limit, WINDOW_SECONDS * time_scale)
        self._sizes = dict(seed=seed, sites=options.docs_sites, collections=options.docs_collections,
                           categories=options.docs_categories, articles=options.docs_articles,
                           user_ids=user_ids, mailbox_ids=mailbox_ids)
        self._data = None
        self._data_lock = threading.Lock()
        self._tie_requests = 0
        self._tie_lock = threading.Lock()

    @property
    def data(self):
        """The knowledge base (DocsData), generated on first use (Mailbox-only tests never pay for it)."""
        if self._data is None:
            with self._data_lock:
                if self._data is None:
                    data = generate_docs(**self._sizes)
                    data.views_touch_updated_at = self.options.docs_views_touch_updated_at
                    self._data = data
        return self._data

    def invalidate(self):
        """Nothing is cached (every answer is built from `data`), so hand edits serve at once;
        this only bumps `data.revision`, for symmetry with `emu.invalidate()`."""
        with self.data.lock:
            self.data.revision += 1

    # ------------------------------------------------------------------ HTTP
    def serve(self, handler, entry, method, path, raw_query, headers):
        emu = self.emulator
        allowed, limit, remaining, reset = self.rate_limiter.take_with_reset(1)
        handler.rate_headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining),
                                "X-RateLimit-Reset": str(reset)}
        if not allowed:
            emu._count_throttled()
            handler.answer(entry, error(429, "Rate limit exceeded: wait X-RateLimit-Reset seconds"))
            return
        fault = emu._next_fault(path)
        if fault is not None:
            entry.fault = fault.kind
            if self.apply_fault(handler, entry, fault):
                return
        handler.answer(entry, self.route(handler, method, path, raw_query, headers))

    def apply_fault(self, handler, entry, fault):
        """The fault kinds with Docs bodies (500, 429, 401, cut); the others as on /v2. False
        when the request must then be served normally (stall)."""
        kind = fault.kind
        if kind == "500":
            handler.answer(entry, error(500, "Internal server error"))
        elif kind == "429":
            self.emulator._count_throttled()
            handler.rate_headers.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(fault.retry_after)})
            handler.answer(entry, error(429, "Rate limit exceeded: wait X-RateLimit-Reset seconds"))
        elif kind == "401":
            # the key stays valid: the next request with it is served (a key cannot be refreshed)
            handler.answer(entry, error(401, "Invalid API key"))
        elif kind == "cut":
            reply = self.route(handler, entry.method, entry.path, entry.raw_query, entry.headers)
            entry.status = reply.status
            handler.wfile.write(handler.head_bytes(reply) + reply.body[: len(reply.body) // 2])
            handler.close_connection = True
            handler.hang_up()
        else:
            return handler.apply_fault(entry, fault)
        return True

    def key_of(self, headers):
        authorization = headers.get("authorization", "")
        if authorization[:6].lower() != "basic ":
            return None
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0]

    def route(self, handler, method, path, raw_query, headers):
        key = self.key_of(headers)
        if not key or not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return error(401, "Invalid API key")
        if self.key_forbidden:
            return error(403, "Access denied: this user has no permission to use the Docs API")
        if method != "GET":
            return error(405, "Method not allowed: the emulator serves the read API only", {"Allow": "GET"})
        return handler.mangled(path, raw_query, self.get(path, raw_query))

    # ------------------------------------------------------------------ routing (no HTTP)
    def get(self, path, raw_query):
        """Answer a GET of `path` (starting with DOCS_PREFIX). Unknown parameters are ignored."""
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        if path != DOCS_PREFIX and not path.startswith(DOCS_PREFIX + "/"):
            return error(404, "Not found")
        parts = [p for p in path[len(DOCS_PREFIX):].split("/") if p]
        data = self.data
        try:
            with data.lock:
                return self._route(data, parts, query)
        except DocsError as problem:
            return error(problem.status, problem.message)

    def _route(self, data, parts, query):
        n, head = len(parts), parts[0] if parts else ""
        if head == "sites" and n == 1:
            body = self.listing("sites", data.sites, query, LIST_SIZE, None, dict)
            return docs_reply(200, body if self.options.docs_sites_envelope == "wrapped" else body["sites"])
        if head == "sites" and n == 2:
            return docs_reply(200, {"site": self.found(data.site(parts[1]), "Site")})
        if head == "collections" and n == 1:
            return docs_reply(200, self.list_collections(data, query))
        if head == "collections" and n in (2, 3):
            collection = self.found(data.collection(parts[1]), "Collection")
            if n == 2:
                return docs_reply(200, {"collection": self.collection_json(data, collection)})
            if parts[2] == "categories":
                rows = [c for c in data.categories if c["collectionId"] == collection["id"]]
                return docs_reply(200, self.listing("categories", rows, query, LIST_SIZE,
                                                    (CATEGORY_SORTS, "order", "asc"),
                                                    lambda c: self.category_json(data, c)))
            if parts[2] == "articles":
                return docs_reply(200, self.list_articles(data, data.articles_in_collection(collection["id"]), query))
        if head == "categories" and n == 2:
            category = self.found(data.category(parts[1]), "Category")
            return docs_reply(200, {"category": self.category_json(data, category)})
        if head == "categories" and n == 3 and parts[2] == "articles":
            category = self.found(data.category(parts[1]) if not parts[1].isdigit() else None, "Category")
            return docs_reply(200, self.list_articles(data, data.articles_in_category(category), query))
        if head == "articles" and n == 2:
            article = self.found(data.article(parts[1]), "Article")
            draft = choice(query, "draft", ("true", "false"), "false") == "true"
            return docs_reply(200, {"article": self.article_json(data, article, draft)})
        if head == "articles" and n == 3 and parts[2] == "related":
            article = self.found(data.article(parts[1]) if not parts[1].isdigit() else None, "Article")
            related = [data.article(i) for i in article["related"]]
            return docs_reply(200, self.list_articles(data, [a for a in related if a is not None], query))
        raise DocsError(404, "Not found")

    @staticmethod
    def found(record, kind):
        if record is None:
            raise DocsError(404, f"{kind} not found")
        return record

    # ------------------------------------------------------------------ lists
    def list_collections(self, data, query):
        rows = data.collections
        site_id = query.get("siteId", "")
        if site_id:
            rows = [c for c in rows if c["siteId"] == site_id]
        visibility = choice(query, "visibility", ("all", "public", "private"), "all")
        if visibility != "all":
            rows = [c for c in rows if c["visibility"] == visibility]
        return self.listing("collections", rows, query, LIST_SIZE, (COLLECTION_SORTS, "order", "asc"),
                            lambda c: self.collection_json(data, c))

    def list_articles(self, data, rows, query):
        status = choice(query, "status", ("all", "published", "notpublished"), "all")
        if status != "all":
            rows = [a for a in rows if a["status"] == status]
        size = positive(query, "pageSize", ARTICLE_PAGE_SIZE)
        if size > MAX_PAGE_SIZE:
            if self.options.docs_page_size_over_100 == "reject":
                raise DocsError(400, f"Invalid value for pageSize: {size}; the maximum is {MAX_PAGE_SIZE}")
            size = MAX_PAGE_SIZE
        return self.listing("articles", rows, query, size, (ARTICLE_SORTS, "order", "desc"), self.article_ref)

    def listing(self, plural, rows, query, size, sorting, render):
        """`{plural: {page, pages, count, items}}`. `sorting` is (allowed sorts, default sort,
        default order), or None for a list in creation order (sites)."""
        page = positive(query, "page", 1)
        tie = None
        if sorting is not None:
            allowed, default_sort, default_order = sorting
            field = choice(query, "sort", allowed, default_sort)
            descending = choice(query, "order", ("asc", "desc"), default_order) == "desc"

            def tie(row):
                return self.sort_value(plural, row, field)
            rows = sorted(rows, key=lambda r: (tie(r), r["id"]), reverse=descending)
        start = (page - 1) * size
        if self.options.docs_unstable_ties and tie is not None and start < len(rows):
            with self._tie_lock:
                self._tie_requests += 1
                rng = random.Random(f"docs-ties/{self.seed}/{self._tie_requests}")
            chunk = shuffled_ties(rows, start, min(start + size, len(rows)), tie, rng)
        else:
            chunk = rows[start:start + size]
        return {plural: {"page": page, "pages": math.ceil(len(rows) / size), "count": len(rows),
                         "items": [render(r) for r in chunk]}}

    def sort_value(self, plural, row, field):
        """What a row sorts by: (present, value), so a null sorts lowest (first ascending, last
        descending), or, with docs_null_updated_at_sort="created", as its createdAt. Articles'
        `order` is a hidden manual position (the docs name it the default without saying what it is)."""
        if field == "order" and plural == "articles":
            return (True, self.data.manual_order.get(row["id"], 0))
        if field == "articleCount":
            return (True, len(self.data.articles_in_category(row)))
        value = self.updated_at(row) if field == "updatedAt" else row.get(field)
        if value is None and field == "updatedAt" and self.options.docs_null_updated_at_sort == "created":
            value = row["createdAt"]
        return (value is not None, value)

    # ------------------------------------------------------------------ records
    def updated_at(self, record):
        """An article's served updatedAt: null when never edited, unless the reading "created"."""
        if record.get("updatedAt") is None and "text" in record and \
                self.options.docs_new_article_updated_at == "created":
            return record["createdAt"]
        return record.get("updatedAt")

    def article_ref(self, article):
        ref = {name: article[name] for name in REF_FIELDS}
        ref["updatedAt"] = self.updated_at(article)
        return ref

    def article_json(self, data, article, draft=False):
        full = self.article_ref(article)
        full["text"] = data.drafts.get(article["id"], article["text"]) if draft else article["text"]
        categories = list(article["categories"])
        if not categories and self.options.docs_uncategorized_in_categories:
            categories = [data.uncategorized(article["collectionId"])["id"]]
        full.update(categories=categories, related=list(article["related"]), keywords=list(article["keywords"]))
        return full

    @staticmethod
    def collection_json(data, collection):
        rows = data.articles_in_collection(collection["id"])
        out = {}
        for key, value in collection.items():
            if key == "createdBy":
                out["articleCount"] = len(rows)
                out["publishedArticleCount"] = sum(a["status"] == "published" for a in rows)
            out[key] = value
        return out

    @staticmethod
    def category_json(data, category):
        out = {}
        for key, value in category.items():
            if key == "createdBy":
                out["articleCount"] = len(data.articles_in_category(category))
            out[key] = value
        return out


def _delegate(name):
    def change(self, *args, **kwargs):
        return getattr(self.data, name)(*args, **kwargs)
    change.__name__ = name
    change.__doc__ = getattr(DocsData, name).__doc__
    return change


for _name in CHANGES:
    setattr(Docs, _name, _delegate(_name))
