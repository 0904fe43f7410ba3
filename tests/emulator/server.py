"""The emulator's HTTP side: `Emulator` (start/stop, OAuth2, rate limits, latency, faults,
drift, request log) on a ThreadingHTTPServer speaking HTTP/1.1 with keep-alive.

Order of processing for every request (each step can answer instead of the next ones):
  1. latency (sleep), 2. rate limit (429 when the window's budget is spent), 3. injected fault,
  4. routing: the token endpoint, or bearer-token check (401) then the resource endpoint,
  with drift applied just before a conversations/customers listing is answered, and
  `emu.mangle` applied to a 2xx answer.
Every answer carries Date, Content-Type, Content-Length and the two X-RateLimit headers, except
the authorization page (a browser page outside the API: step 1, then the page; no rate limit).
Requests under /docs-api (the Docs API, docs_api.py) go to `Docs.serve` after step 1: its own
rate limit and headers, the same faults, Basic auth with the Docs key, `emu.mangle`.

Time: the rate-limit window lasts 60 * time_scale seconds. Token lifetimes (`token_lifetime`,
`expires_in`) are real, unscaled seconds: pass a small `token_lifetime` to test expiry.
"""
import email.utils
import json
import random
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

from . import resources
from .api import Api
from .dataset import utc_now
from .docs_api import DOCS_PREFIX, DOCS_ROOT, Docs, DocsOptions, is_docs_path
from .generate import generate
from .index import SearchIndex
from .oauth import AUTHORIZE_PATH, DEFAULT_REDIRECT_URI, OAuth
from .ratelimit import RateLimiter
from .shapes import JSON, Readings, Reply, dumps, error_reply

FAULT_KINDS = ("500", "502", "503", "504", "429", "401", "drop", "cut", "stall")
REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 429: "Too Many Requests", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
TOKEN_PATH = "/v2/oauth2/token"
PLANS = ("standard", "plus", "pro")


@dataclass
class LoggedRequest:
    method: str
    path: str               # e.g. "/v2/conversations"
    query: dict             # decoded parameters, str -> str (last one wins)
    status: int             # 0 when the connection was dropped without an answer
    time: float             # time.time() when the request arrived
    raw_query: str = ""
    headers: dict = field(default_factory=dict)
    body: str = ""
    fault: str = None       # the injected fault kind, if any
    duration: float = 0.0


@dataclass
class Drift:
    """Every `every`-th listing request (GET /v2/conversations or /v2/customers, counted
    together), before it is answered: modify `modify` random conversations AND `modify` random
    customers (their modification time becomes now), create `create` of each, delete `delete`
    of each. Seeded from the emulator's seed."""
    every: int
    modify: int = 0
    create: int = 0
    delete: int = 0


class Fault:
    def __init__(self, kind, nth, path, fraction, rng, stall_seconds, retry_after):
        self.kind, self.nth, self.path, self.fraction = kind, nth, path, fraction
        self.rng, self.stall_seconds, self.retry_after = rng, stall_seconds, retry_after
        self.seen = 0
        self.spent = False

    def matches(self, path):
        if self.path is not None:
            return path.startswith(self.path)
        # without an explicit path, faults hit API requests, not the token endpoint
        return path != TOKEN_PATH

    def fires(self, path):
        """Called once per request; True when this request gets the fault."""
        if self.spent or not self.matches(path):
            return False
        if self.fraction is not None:
            return self.rng.random() < self.fraction
        self.seen += 1
        if self.seen == self.nth:
            self.spent = True
            return True
        return False


class Emulator:
    """A Help Scout Mailbox API 2.0 account served over HTTP on 127.0.0.1. Options and methods
    are described in README.md beside this file."""

    def __init__(self, seed=1, conversations=200, customers=100, mailboxes=3, users=8, teams=3, workflows=6,
                 ratings=50, chat_fraction=0.2, plan="plus", rate_limit=None, time_scale=1.0, latency=0.0,
                 token_lifetime=172800, drift=None, rate_window="fixed", host="127.0.0.1", port=0,
                 client_id=None, client_secret=None, refresh_token=None, prerender=True,
                 organizations=5, tags_never_updated=0, redirect_uri=DEFAULT_REDIRECT_URI,
                 customer_sort_strict=False, thread_count_published_only=False, unstable_ties=False,
                 report_rating_default=None, reports_status=403, max_page_depth=None, index_lag_seconds=0,
                 query_ranges=False, saved_replies_hal=False, modified_since_inclusive=False,
                 report_day_limit=60, report_end_inclusive=True, report_quiet_time="null", report_refused_users=(),
                 organization_list_counts=True, recent_conversations=0, recent_days=400, recent_until=None,
                 long_threads=None, **docs_options):
        if plan not in PLANS:
            raise ValueError(f"plan must be one of {PLANS}")
        if index_lag_seconds < 0:
            raise ValueError("index_lag_seconds must not be negative")
        self.seed = seed
        self.readings = Readings(plan=plan, reports_status=reports_status, customer_sort_strict=customer_sort_strict,
                                 unstable_ties=unstable_ties, report_rating_default=report_rating_default,
                                 max_page_depth=max_page_depth, query_ranges=query_ranges,
                                 saved_replies_hal=saved_replies_hal,
                                 modified_since_inclusive=modified_since_inclusive,
                                 report_day_limit=report_day_limit, report_end_inclusive=report_end_inclusive,
                                 report_quiet_time=report_quiet_time, report_refused_users=report_refused_users,
                                 organization_list_counts=organization_list_counts, seed=seed)
        self.prerender = prerender
        self.time_scale = time_scale
        self.latency = latency
        self.mangle = None                # fn(path, query, body) -> body: see Handler.mangled
        self.before_token = None          # fn(): called as a token request arrives, before it is answered
        self.send_date = True             # False: answers carry no Date header (the server's clock)
        self.drift = Drift(**drift) if isinstance(drift, dict) else drift
        if self.drift is not None and self.drift.every < 1:
            raise ValueError("drift.every must be at least 1")
        self.host, self.port = host, port
        self.data = generate(seed=seed, conversations=conversations, customers=customers, mailboxes=mailboxes,
                             users=users, teams=teams, workflows=workflows, ratings=ratings,
                             chat_fraction=chat_fraction, organizations=organizations,
                             tags_never_updated=tags_never_updated,
                             thread_count_published_only=thread_count_published_only,
                             recent_conversations=recent_conversations, recent_days=recent_days,
                             recent_until=recent_until, long_threads=long_threads)
        # with an index lag, listings see changes late (index.py); its clock can be replaced
        self.search_index = SearchIndex(self.data, index_lag_seconds) if index_lag_seconds else None
        self.oauth = OAuth(client_id, client_secret, refresh_token, token_lifetime, redirect_uri)
        # the Docs API (docs_api.py): its own key, rate limit and knowledge base; `docs_*` options
        self.docs = Docs(self, seed, time_scale, [u["id"] for u in self.data.users],
                         [m["id"] for m in self.data.mailboxes], DocsOptions.pick(docs_options))
        self.rate_limiter = RateLimiter(rate_limit, 60 * time_scale, rate_window)
        self.throttled = 0                # 429 answers sent (rate limit and injected)
        self.drifts = 0                   # drift rounds applied
        self.requests = []
        self.errors = []                  # tracebacks of emulator bugs (answered as 500)
        self._faults = []
        self._fault_lock = threading.Lock()
        self._latency_rng = random.Random(f"latency/{seed}")
        self._drift_rng = random.Random(f"drift/{seed}")
        self._listing_count = 0
        self._stopping = threading.Event()
        self._connections = set()
        self._server = None
        self._thread = None
        self.api = None
        self.base_url = None

    # ------------------------------------------------------------------ lifecycle
    def start(self):
        handler = type("BoundHandler", (Handler,), {"emulator": self})
        self._server = Server((self.host, self.port), handler)
        self.port = self._server.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}/v2"
        self.api = Api(self.data, self.base_url, self.readings, self.search_index)
        if self.prerender:
            self.api.prerender()
        # a short poll interval keeps stop() (and so every test teardown) fast
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"emulator:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        for conn in list(self._connections):      # end keep-alive connections still open
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._server = None

    def __enter__(self):
        return self.start() if self._server is None else self

    def __exit__(self, *exc):
        self.stop()

    plan = property(lambda self: self.readings.plan)

    # ------------------------------------------------------------------ tokens (oauth.py)
    client_id = property(lambda self: self.oauth.client_id)
    client_secret = property(lambda self: self.oauth.client_secret)
    token_lifetime = property(lambda self: self.oauth.token_lifetime)

    @property
    def refresh_token(self):
        """The currently valid refresh token (it changes whenever a client rotates it)."""
        return self.oauth.refresh_token

    @property
    def authorization_code(self):
        """A code for the authorization_code grant, always ready; single use (a fresh one takes
        its place). The authorization page hands out more, see `authorize_url`."""
        return self.oauth.authorization_code

    @property
    def authorize_url(self):
        """The authorization page of the code flow (without query), for `authorize_url` in a
        tap config: `?client_id=…&state=…[&redirect_uri=…]` answers 302 with a fresh code."""
        return f"http://{self.host}:{self.port}{AUTHORIZE_PATH}"

    @property
    def docs_base_url(self):
        """The Docs API's base URL, e.g. http://127.0.0.1:<port>/docs-api/v1."""
        return f"http://{self.host}:{self.port}{DOCS_PREFIX}"

    docs_api_key = property(lambda self: self.docs.api_key)

    def issue_access_token(self, lifetime=None):
        return self.oauth.issue_access_token(lifetime)

    def expire_access_tokens(self):
        self.oauth.expire_access_tokens()

    def token_valid(self, token):
        return self.oauth.token_valid(token)

    # ------------------------------------------------------------------ faults
    def add_fault(self, kind, nth=None, path=None, fraction=None, seed=None, stall_seconds=30.0, retry_after=1):
        """Inject a fault on the `nth` matching request from now (1-based; default 1, fires once)
        or on a seeded random `fraction` of matching requests (until `clear_faults`).
        `path` is a path prefix ("/v2/conversations" or "/conversations", or a Docs API path
        such as "/docs-api/v1/articles"); without it every request except the token endpoint
        matches, Docs API requests included. Kinds: 500 (vnd.error body), 502/503/504 (an
        HTML gateway page, as a load balancer sends), 429 (the rate-limit answer with
        Retry-After `retry_after`), 401 (the presented access token is expired from now on, so
        retrying with it keeps failing until the client refreshes), drop (the connection is
        closed without an answer), cut (headers with the full Content-Length, then half the
        body, then close), stall (no answer for `stall_seconds`, then the normal answer)."""
        kind = str(kind)
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}")
        if path is not None and not path.startswith(("/v2", DOCS_ROOT)):
            path = "/v2" + (path if path.startswith("/") else "/" + path)
        if fraction is None and nth is None:
            nth = 1
        rng = random.Random(f"fault/{self.seed if seed is None else seed}/{kind}")
        with self._fault_lock:
            self._faults.append(Fault(kind, nth, path, fraction, rng, stall_seconds, retry_after))

    def clear_faults(self):
        with self._fault_lock:
            self._faults.clear()

    def _next_fault(self, path):
        with self._fault_lock:
            chosen = None
            for fault in self._faults:
                # every fault counts every request it matches; when two would fire on the same
                # request, the first added wins and the other one moves to the next request
                if fault.fires(path):
                    if chosen is None:
                        chosen = fault
                    elif fault.fraction is None:
                        fault.spent = False
                        fault.nth += 1
            self._faults = [f for f in self._faults if not f.spent]
            return chosen

    # ------------------------------------------------------------------ changes between syncs
    def modify_conversation(self, conversation_id):
        return self.data.modify_conversation(conversation_id)

    def add_thread(self, conversation_id, thread_type=None, user_id=None, at=None):
        """A new thread, newest of the conversation; `thread_type` e.g. "lineitem" (default:
        chat for chats, else a customer thread, a reply or a note). `user_id`: the user who
        writes it (a published reply, note or chat line by that user). `at`: its createdAt (an aware
        datetime) when not now, e.g. a day the reports have already shown."""
        return self.data.add_thread(conversation_id, thread_type=thread_type, author_id=user_id, at=at)

    def close_conversation(self, conversation_id, user_id=None, at=None):
        """Close it now (or `at`), by `user_id` (default: a user of its mailbox)."""
        return self.data.close_conversation(conversation_id, user_id=user_id, at=at)

    def reopen_conversation(self, conversation_id, status="active"):
        """Give a closed conversation another status (active, pending, spam): it loses its
        closed fields, so its resolution leaves the reports."""
        return self.data.reopen_conversation(conversation_id, status)

    def create_conversation(self):
        return self.data.create_conversation()

    def delete_conversation(self, conversation_id):
        self.data.delete_conversation(conversation_id)

    def modify_customer(self, customer_id):
        return self.data.modify_customer(customer_id)

    def create_customer(self):
        return self.data.create_customer()

    def delete_customer(self, customer_id):
        self.data.delete_customer(customer_id)

    # The resources of the newer streams and the full-table ones (resources.py): deletions for
    # the tap's table-versioning tests, and additions. Each raises KeyError for an unknown id.
    def add_tag(self, name=None, color="#929499"):
        return resources.add_tag(self.data, name, color)

    def delete_tag(self, tag_id):
        resources.delete_tag(self.data, tag_id)

    def add_organization(self, name=None):
        return resources.add_organization(self.data, name)

    def delete_organization(self, organization_id):
        resources.delete_organization(self.data, organization_id)

    def add_organization_property(self, slug=None, name=None, kind="text", labels=()):
        return resources.add_organization_property(self.data, slug, name, kind, labels)

    def delete_organization_property(self, slug):
        resources.delete_organization_property(self.data, slug)

    def set_organization_property(self, organization_id, slug, value):
        resources.set_organization_property(self.data, organization_id, slug, value)

    def add_customer_property(self, slug=None, name=None, kind="text", labels=()):
        return resources.add_customer_property(self.data, slug, name, kind, labels)

    def delete_customer_property(self, slug):
        resources.delete_customer_property(self.data, slug)

    def add_saved_reply(self, mailbox_id, name=None, text="<p>Thanks for reaching out!</p>", chat_text=None,
                        chat=False):
        return resources.add_saved_reply(self.data, mailbox_id, name, text, chat_text, chat)

    def delete_saved_reply(self, mailbox_id, reply_id):
        resources.delete_saved_reply(self.data, mailbox_id, reply_id)

    def add_team_member(self, team_id, user_id):
        resources.add_team_member(self.data, team_id, user_id)

    def remove_team_member(self, team_id, user_id):
        resources.remove_team_member(self.data, team_id, user_id)

    def add_mailbox_field(self, mailbox_id, name=None, field_type="single_line"):
        return resources.add_mailbox_field(self.data, mailbox_id, name, field_type)

    def delete_mailbox_field(self, mailbox_id, field_id):
        resources.delete_mailbox_field(self.data, mailbox_id, field_id)

    def delete_rating(self, which):
        return resources.delete_rating(self.data, which)

    def invalidate(self):
        """Call after editing `emu.data` records by hand (the `modify_*`/`create_*`/`delete_*`
        methods do this themselves): drops every cached JSON fragment and sorted view."""
        with self.data.lock:
            self.data.revision += 1
            if self.api is not None:
                self.api.forget_all()

    def apply_drift_round(self):
        """One round of drift (see `Drift`), also callable directly from a test."""
        drift, rng, data = self.drift, self._drift_rng, self.data
        with data.lock:
            now = utc_now()
            for conv in rng.sample(data.conversations, min(drift.modify, len(data.conversations))):
                data.modify_conversation(conv["id"], now)
            for cust in rng.sample(data.customers, min(drift.modify, len(data.customers))):
                data.modify_customer(cust["id"], now)
            for _ in range(drift.create):
                data.create_conversation(now)
                data.create_customer(now)
            for conv in rng.sample(data.conversations, min(drift.delete, len(data.conversations))):
                data.delete_conversation(conv["id"])
            # prefer customers without conversations: deleting one cascades to its conversations
            lonely = data.customers_without_conversations()
            pool = lonely if len(lonely) >= drift.delete else [c["id"] for c in data.customers]
            for customer_id in rng.sample(sorted(pool), min(drift.delete, len(pool))):
                data.delete_customer(customer_id)
            self.drifts += 1

    def _maybe_drift(self, path):
        if self.drift is None or path not in ("/v2/conversations", "/v2/customers"):
            return
        with self.data.lock:
            self._listing_count += 1
            if self._listing_count % self.drift.every == 0:
                self.apply_drift_round()

    # ------------------------------------------------------------------ request log
    def clear_requests(self):
        self.requests.clear()

    @property
    def throttled_requests(self):
        return [r for r in self.requests if r.status == 429]

    def _count_throttled(self):
        with self._fault_lock:
            self.throttled += 1

    def _delay(self):
        latency = self.latency
        if isinstance(latency, (tuple, list)):
            with self._fault_lock:
                latency = self._latency_rng.uniform(latency[0], latency[1])
        if latency:
            self._stopping.wait(latency)


def oauth_error(status, error, description):
    return Reply(status, dumps({"error": error, "error_description": description}), JSON)


_date_cache = [0, ""]


def http_date():
    """The Date header, formatted once per second (the tap uses it as the server clock)."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[:] = [now, email.utils.formatdate(now, usegmt=True)]
    return _date_cache[1]


GATEWAY_PAGE = ("<html><head><title>{code} {reason}</title></head><body><center><h1>{code} {reason}</h1>"
                "</center><hr><center>nginx</center></body></html>\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True           # a stuck keep-alive connection never blocks shutdown
    request_queue_size = 128        # parallel clients and benchmarks open many connections


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"        # keep-alive; every answer has a Content-Length
    server_version = "helpscout-emulator"
    disable_nagle_algorithm = True       # headers and body go out in one write anyway
    emulator = None                      # set on the bound subclass

    def setup(self):
        super().setup()
        self.emulator._connections.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            self.emulator._connections.discard(self.connection)

    def log_message(self, *args):        # keep test output clean
        pass

    def do_GET(self):
        self.serve("GET")

    def do_POST(self):
        self.serve("POST")

    def do_PUT(self):
        self.serve("PUT")

    def do_PATCH(self):
        self.serve("PATCH")

    def do_DELETE(self):
        self.serve("DELETE")

    def serve(self, method):
        emu = self.emulator
        arrived = time.time()
        path, _, raw_query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        entry = LoggedRequest(method, path, dict(parse_qsl(raw_query, keep_blank_values=True)), 0, arrived,
                              raw_query, headers, body.decode("utf-8", "replace"))
        emu.requests.append(entry)
        try:
            emu._delay()
            if path == AUTHORIZE_PATH:
                # a browser page, not the API: no rate limit, no faults, no rate-limit headers
                self.rate_headers = {}
                self.answer(entry, emu.oauth.authorize_page(entry.query) if method == "GET"
                            else error_reply(405, "Method not allowed"))
                return
            if is_docs_path(path):
                emu.docs.serve(self, entry, method, path, raw_query, headers)
                return
            allowed, limit, remaining, retry_after = emu.rate_limiter.take(1 if method == "GET" else 2)
            self.rate_headers = {"X-RateLimit-Limit-Minute": str(limit), "X-RateLimit-Remaining-Minute": str(remaining)}
            if not allowed:
                emu._count_throttled()
                self.answer(entry, self.too_many(retry_after))
                return
            fault = emu._next_fault(path)
            if fault is not None:
                entry.fault = fault.kind
                if self.apply_fault(entry, fault):
                    return
            self.answer(entry, self.route(method, path, raw_query, headers, body))
        except Exception:                  # an emulator bug: answer 500 and keep the traceback
            emu.errors.append(traceback.format_exc())
            self.rate_headers = getattr(self, "rate_headers", {})
            self.answer(entry, error_reply(500, "Emulator error (see Emulator.errors)"))
        finally:
            entry.duration = time.time() - arrived

    def route(self, method, path, raw_query, headers, body):
        emu = self.emulator
        if path == TOKEN_PATH:
            if method != "POST":
                return error_reply(405, "Method not allowed")
            if emu.before_token is not None:
                emu.before_token()
            return emu.oauth.token_endpoint(parse_qsl(raw_query, keep_blank_values=True), headers, body)
        if not path.startswith("/v2/") and path != "/v2":
            return error_reply(404, "Resource not found")
        authorization = headers.get("authorization", "")
        token = authorization[7:].strip() if authorization[:7].lower() == "bearer " else None
        if not token or not emu.token_valid(token):
            # body UNCONFIRMED; the vnd.error shape of Help Scout's errors page
            return error_reply(401, "OAuth2 token is either not provided or not valid")
        if method != "GET":
            return error_reply(405, "Method not allowed: the emulator serves the read API only")
        emu._maybe_drift(path)
        return self.mangled(path, raw_query, emu.api.get(path, raw_query))

    def mangled(self, path, raw_query, reply):
        """`emu.mangle(path, query, body)`, when set, rewrites every 2xx answer of a resource
        endpoint (not the token endpoint): it gets the parsed JSON body and returns the body to
        send, a JSON value (NaN and infinities are written as Python's json writes them) or
        bytes to send verbatim. Content-Length follows the new body."""
        mangle = self.emulator.mangle
        if mangle is None or not 200 <= reply.status < 300:
            return reply
        body = mangle(path, dict(parse_qsl(raw_query, keep_blank_values=True)), json.loads(reply.body))
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
        return Reply(reply.status, data, reply.content_type, reply.headers)

    @staticmethod
    def too_many(retry_after):
        return Reply(429, b'{"message":"API rate limit exceeded"}', JSON,
                     {"X-RateLimit-Retry-After": str(retry_after), "Retry-After": str(retry_after)})

    def apply_fault(self, entry, fault):
        """Answer with the fault; False when the request must then be served normally (stall)."""
        emu = self.emulator
        kind = fault.kind
        if kind == "500":
            self.answer(entry, error_reply(500, "Internal error"))
        elif kind in ("502", "503", "504"):
            code = int(kind)
            page = GATEWAY_PAGE.format(code=code, reason=REASONS[code]).encode()
            self.answer(entry, Reply(code, page, "text/html"))
        elif kind == "429":
            emu._count_throttled()
            self.rate_headers["X-RateLimit-Remaining-Minute"] = "0"
            self.answer(entry, self.too_many(fault.retry_after))
        elif kind == "401":
            authorization = entry.headers.get("authorization", "")
            if authorization[:7].lower() == "bearer ":
                emu.oauth.expire(authorization[7:].strip())
            self.answer(entry, error_reply(401, "OAuth2 token is either not provided or not valid"))
        elif kind == "drop":
            entry.status = 0
            self.close_connection = True
            self.hang_up()
        elif kind == "cut":
            reply = self.route(entry.method, entry.path, entry.raw_query, entry.headers, entry.body.encode())
            entry.status = reply.status
            data = self.head_bytes(reply) + reply.body[: len(reply.body) // 2]
            self.wfile.write(data)
            self.close_connection = True
            self.hang_up()
        elif kind == "stall":
            emu._stopping.wait(fault.stall_seconds)
            return False
        return True

    def hang_up(self):
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def head_bytes(self, reply):
        lines = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Unknown')}"]
        if self.emulator.send_date:
            lines.append(f"Date: {http_date()}")
        lines += [f"Server: {self.server_version}",
                  f"Content-Type: {reply.content_type}", f"Content-Length: {len(reply.body)}"]
        lines += [f"{k}: {v}" for k, v in self.rate_headers.items()]
        lines += [f"{k}: {v}" for k, v in reply.headers.items()]
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def answer(self, entry, reply):
        entry.status = reply.status
        try:
            self.wfile.write(self.head_bytes(reply) + reply.body)    # one write: no Nagle stalls
        except OSError:
            self.close_connection = True
