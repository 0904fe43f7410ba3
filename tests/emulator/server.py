"""The emulator's HTTP side: `Emulator` (start/stop, OAuth2, rate limits, latency, faults,
drift, request log) on a ThreadingHTTPServer speaking HTTP/1.1 with keep-alive.

Order of processing for every request (each step can answer instead of the next ones):
  1. latency (sleep), 2. rate limit (429 when the window's budget is spent), 3. injected fault,
  4. routing: the token endpoint, or bearer-token check (401) then the resource endpoint,
  with drift applied just before a conversations/customers listing is answered.
Every answer carries Date, Content-Type, Content-Length and the two X-RateLimit headers.

Time: the rate-limit window lasts 60 * time_scale seconds. Token lifetimes (`token_lifetime`,
`expires_in`) are real, unscaled seconds: pass a small `token_lifetime` to test expiry.
"""
import base64
import binascii
import email.utils
import json
import random
import secrets
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

from .api import JSON, Api, Reply, dumps, error_reply
from .dataset import generate, utc_now
from .ratelimit import RateLimiter

FAULT_KINDS = ("500", "502", "503", "504", "429", "401", "drop", "cut", "stall")
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
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
    """A Help Scout Mailbox API 2.0 account served over HTTP on 127.0.0.1."""

    def __init__(self, seed=1, conversations=200, customers=100, mailboxes=3, users=8, teams=3, workflows=6,
                 ratings=50, chat_fraction=0.2, plan="plus", rate_limit=None, time_scale=1.0, latency=0.0,
                 token_lifetime=172800, drift=None, rate_window="fixed", host="127.0.0.1", port=0,
                 client_id=None, client_secret=None, refresh_token=None, prerender=True):
        if plan not in PLANS:
            raise ValueError(f"plan must be one of {PLANS}")
        self.seed = seed
        self.plan = plan
        self.prerender = prerender
        self.time_scale = time_scale
        self.latency = latency
        self.token_lifetime = token_lifetime
        self.drift = Drift(**drift) if isinstance(drift, dict) else drift
        if self.drift is not None and self.drift.every < 1:
            raise ValueError("drift.every must be at least 1")
        self.host, self.port = host, port
        self.data = generate(seed=seed, conversations=conversations, customers=customers, mailboxes=mailboxes,
                             users=users, teams=teams, workflows=workflows, ratings=ratings,
                             chat_fraction=chat_fraction)
        self.client_id = client_id or secrets.token_hex(16)
        self.client_secret = client_secret or secrets.token_hex(16)
        self.authorization_code = secrets.token_hex(16)
        self._refresh_tokens = [refresh_token or secrets.token_hex(16)]    # valid ones, newest last
        self._access_tokens = {}          # token -> expiry (time.time())
        self._auth_lock = threading.Lock()
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
        self.api = Api(self.data, self.base_url, self.plan)
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

    # ------------------------------------------------------------------ tokens
    @property
    def refresh_token(self):
        """The currently valid refresh token (it changes whenever a client rotates it)."""
        with self._auth_lock:
            return self._refresh_tokens[-1]

    def issue_access_token(self, lifetime=None):
        token = secrets.token_hex(16)
        with self._auth_lock:
            self._access_tokens[token] = time.time() + (self.token_lifetime if lifetime is None else lifetime)
        return token

    def expire_access_tokens(self):
        with self._auth_lock:
            for token in self._access_tokens:
                self._access_tokens[token] = 0.0

    def token_valid(self, token):
        with self._auth_lock:
            return self._access_tokens.get(token, 0.0) > time.time()

    def _expire(self, token):
        with self._auth_lock:
            if token in self._access_tokens:
                self._access_tokens[token] = 0.0

    def token_endpoint(self, query, headers, body):
        """POST /v2/oauth2/token: parameters from the query string and from the body if its
        Content-Type says form or JSON ("as long as the appropriate Content-Type header is
        included" [D-AUTH]); client credentials may also come by HTTP Basic."""
        params = dict(query)
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if body:
            if content_type == "application/x-www-form-urlencoded":
                params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            elif content_type == "application/json":
                try:
                    parsed = json.loads(body)
                except ValueError:
                    return oauth_error(400, "invalid_request", "Malformed JSON body")
                if not isinstance(parsed, dict):
                    return oauth_error(400, "invalid_request", "Malformed JSON body")
                params.update({k: str(v) for k, v in parsed.items()})
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(authorization[6:].strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return oauth_error(401, "invalid_client", "Bad client credentials")
            params.setdefault("client_id", user)
            params.setdefault("client_secret", password)
        grant = params.get("grant_type")
        if not grant:
            return oauth_error(400, "invalid_request", "Missing grant_type")
        if (params.get("client_id"), params.get("client_secret")) != (self.client_id, self.client_secret):
            # codes and strings for a bad client are UNCONFIRMED; standard OAuth2 answer
            return oauth_error(401, "invalid_client", "Bad client credentials")
        with self._auth_lock:
            if grant == "refresh_token":
                if params.get("refresh_token") not in self._refresh_tokens:
                    # verbatim real answer, key order included [PHP#291]
                    return Reply(400, b'{"error_description":"Invalid refresh_token","error":"invalid_request"}', JSON)
                # rotation: the used token dies at once (no grace period: UNCONFIRMED, stricter)
                self._refresh_tokens.remove(params["refresh_token"])
                new_refresh = secrets.token_hex(16)
                self._refresh_tokens.append(new_refresh)
            elif grant == "authorization_code":
                if params.get("code") != self.authorization_code:
                    return oauth_error(400, "invalid_grant", "Invalid authorization code")
                self.authorization_code = secrets.token_hex(16)    # codes are single use
                new_refresh = secrets.token_hex(16)
                self._refresh_tokens.append(new_refresh)
            elif grant == "client_credentials":
                new_refresh = None
            else:
                return oauth_error(400, "unsupported_grant_type", f"Unsupported grant type: {grant}")
            access = secrets.token_hex(16)
            self._access_tokens[access] = time.time() + self.token_lifetime
        answer = {"token_type": "bearer", "access_token": access, "expires_in": self.token_lifetime}
        if new_refresh:
            answer["refresh_token"] = new_refresh
        return Reply(200, dumps(answer), JSON)

    # ------------------------------------------------------------------ faults
    def add_fault(self, kind, nth=None, path=None, fraction=None, seed=None, stall_seconds=30.0, retry_after=1):
        """Inject a fault on the `nth` matching request from now (1-based; default 1, fires once)
        or on a seeded random `fraction` of matching requests (until `clear_faults`).
        `path` is a path prefix ("/v2/conversations" or "/conversations"); without it every
        request except the token endpoint matches. Kinds: 500 (vnd.error body), 502/503/504 (an
        HTML gateway page, as a load balancer sends), 429 (the rate-limit answer with
        Retry-After `retry_after`), 401 (the presented access token is expired from now on, so
        retrying with it keeps failing until the client refreshes), drop (the connection is
        closed without an answer), cut (headers with the full Content-Length, then half the
        body, then close), stall (no answer for `stall_seconds`, then the normal answer)."""
        kind = str(kind)
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}")
        if path is not None and not path.startswith("/v2"):
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

    def add_thread(self, conversation_id):
        return self.data.add_thread(conversation_id)

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
            return emu.token_endpoint(parse_qsl(raw_query, keep_blank_values=True), headers, body)
        if not path.startswith("/v2/") and path != "/v2":
            return error_reply(404, "Resource not found")
        authorization = headers.get("authorization", "")
        token = authorization[7:].strip() if authorization[:7].lower() == "bearer " else None
        if not token or not emu.token_valid(token):
            # body UNCONFIRMED; vnd.error shape as suggested by helpscout-api.md §1.2
            return error_reply(401, "OAuth2 token is either not provided or not valid")
        if method != "GET":
            return error_reply(405, "Method not allowed: the emulator serves the read API only")
        emu._maybe_drift(path)
        return emu.api.get(path, raw_query)

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
                emu._expire(authorization[7:].strip())
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
        lines = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Unknown')}",
                 f"Date: {http_date()}", f"Server: {self.server_version}",
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
