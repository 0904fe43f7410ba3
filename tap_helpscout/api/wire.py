"""The wire under `client.ApiClient`: a requests Session that never follows or reads a redirect,
a `Watchdog` that bounds a whole exchange (it shuts the socket of a request past its deadline),
auths that keep `~/.netrc` out, and failures described in words a user can act on.
docs/design/http.md.
"""
import email.utils
import heapq
import math
import socket
import ssl
import threading
import time
from datetime import timezone
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import pool_classes_by_scheme

from tap_helpscout.errors import ConfigError
from tap_helpscout.signals import leave_stop_signals_to_the_main_thread

# -- the watchdog ------------------------------------------------------------------------------

_current = threading.local()        # the Watch of the request this thread is sending


class _Watch:
    __slots__ = ("deadline", "connection", "done", "expired")

    def __init__(self, deadline):
        self.deadline, self.connection, self.done, self.expired = deadline, None, False, False


class Watchdog:
    """One thread that shuts the socket of any request past its deadline."""

    def __init__(self):
        self._cond = threading.Condition()
        self._heap = []
        self._thread = None
        self._count = 0

    def watch(self, seconds):
        watch = _Watch(time.monotonic() + seconds)
        with self._cond:
            self._count += 1
            heapq.heappush(self._heap, (watch.deadline, self._count, watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
                self._thread.start()
            if self._heap[0][2] is watch:     # the earliest deadline: wake the thread for it
                self._cond.notify()
        _current.watch = watch
        return watch

    def done(self, watch):
        with self._cond:
            watch.done = True
            while self._heap and self._heap[0][2].done:      # answers end roughly in order
                heapq.heappop(self._heap)
        _current.watch = None

    def _run(self):
        leave_stop_signals_to_the_main_thread()
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                delay = self._heap[0][0] - time.monotonic() if self._heap else None
                if delay is None or delay > 0:
                    self._cond.wait(delay)
                    continue
                watch = heapq.heappop(self._heap)[2]
                watch.expired = True
                sock = getattr(_carrying(watch), "sock", None)
                if sock is not None:
                    try:
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)   # wakes the blocked read
                    except OSError:
                        pass


class _Watched:
    """Connection mixin: tells the current request's Watch which connection (socket) it uses;
    a connection `distrust`ed is not reused (the pool opens a new one in its place)."""

    distrusted = False

    def request(self, *args, **kwargs):
        watch = getattr(_current, "watch", None)
        self.watch = watch
        if watch is not None:
            watch.connection = self
        return super().request(*args, **kwargs)

    def connect(self):
        self.distrusted = False
        super().connect()

    @property
    def is_connected(self):
        return not self.distrusted and super().is_connected


def _carrying(watch):
    """The connection of `watch`'s request if it still carries it (not another request's, after
    going back to the pool), else None."""
    connection = watch.connection
    return connection if getattr(connection, "watch", None) is watch else None


def distrust(watch):
    """The connection that carried `watch`'s request is not used again: after an answer that
    could not be read (a body cut short or not JSON), the server may be closing its end, and a
    request sent on it would be lost to a reset."""
    connection = _carrying(watch)
    if connection is not None:
        connection.distrusted = True


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class Adapter(HTTPAdapter):
    """requests' adapter with the watched connection classes (also through a proxy)."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if manager.pool_classes_by_scheme is pool_classes_by_scheme:     # not SOCKS
            manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        return manager


class Session(requests.Session):
    def get_redirect_target(self, resp):
        return None         # the client decides (see the module docstring)


class Bearer(requests.auth.AuthBase):
    def __init__(self, token):
        self.token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class NoAuth(requests.auth.AuthBase):
    """For the token endpoint: an auth that adds nothing, so that requests does not add
    ~/.netrc's credentials instead."""

    def __call__(self, request):
        return request


# -- failures -----------------------------------------------------------------------------------

class Failure(Exception):
    """One try failed in a way worth another. `kind`: "network" (no complete answer),
    "body" (a 2xx body not usable) or "status" (5xx)."""

    def __init__(self, kind, reason, status=None, retry_after=None, permanent=False,
                 reached_server=True):
        super().__init__(reason)
        self.kind, self.reason, self.status = kind, reason, status
        self.retry_after, self.permanent, self.reached_server = retry_after, permanent, reached_server


class RateLimited(Exception):
    def __init__(self, wait):
        super().__init__(f"HTTP 429, waiting {wait:g} s")
        self.wait = wait


def _causes(exc):
    """`exc` and everything it wraps (causes, contexts, urllib3's `reason`)."""
    seen = []
    while exc is not None and exc not in seen and len(seen) < 12:
        seen.append(exc)
        inner = getattr(exc, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next((a for a in getattr(exc, "args", ()) if isinstance(a, BaseException)), None)
        exc = inner or exc.__cause__ or exc.__context__
    return seen


def network_failure(exc, watch, timeouts, in_body, proxy=None):
    """What failed, in words a user can act on. `proxy`: the proxy the request went through
    (shown without credentials), named when it is what failed."""
    chain = _causes(exc)
    found = {type(c): c for c in reversed(chain)}
    kind = "body" if in_body else "network"
    if watch.expired:
        return Failure("network", f"timeout: no complete answer within {timeouts[2]:g} s")
    if isinstance(exc, requests.exceptions.ProxyError):
        # Refused or unknown, the proxy will not do better on the next try.
        refused = ConnectionRefusedError in found or any(isinstance(c, socket.gaierror) for c in chain)
        cause = "refused the connection" if ConnectionRefusedError in found else (
            "does not resolve" if any(isinstance(c, socket.gaierror) for c in chain) else
            f"failed ({type(chain[-1]).__name__})")
        return Failure("network", f"the proxy {shown_proxy(proxy)} {cause}; check HTTPS_PROXY, HTTP_PROXY, "
                                  f"ALL_PROXY and NO_PROXY", permanent=refused, reached_server=False)
    dns = next((c for c in chain if isinstance(c, socket.gaierror)), None)
    if dns is not None:
        permanent = dns.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None))
        return Failure("network", "DNS: the host name does not resolve" if permanent else
                        "DNS: the name lookup failed", permanent=permanent, reached_server=False)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return Failure("network", f"timeout: no connection within {timeouts[0]:g} s",
                        reached_server=False)
    if isinstance(exc, requests.exceptions.ReadTimeout) or any(
            isinstance(c, (socket.timeout, TimeoutError)) for c in chain):
        return Failure(kind if in_body else "network", f"timeout: no data for {timeouts[1]:g} s")
    verify = next((c for c in chain if isinstance(c, ssl.SSLCertVerificationError)), None)
    if verify is not None:
        return Failure("network", f"TLS: certificate verify failed ({verify.verify_message})",
                        permanent=True, reached_server=False)
    if isinstance(exc, requests.exceptions.SSLError):
        return Failure("network", f"TLS failed ({type(chain[-1]).__name__})", reached_server=False)
    if ConnectionRefusedError in found:
        return Failure("network", "connection refused", reached_server=False)
    if in_body or isinstance(exc, requests.exceptions.ChunkedEncodingError):
        if isinstance(exc, requests.exceptions.ContentDecodingError):
            return Failure("body", "the answer could not be decompressed (cut short?)")
        return Failure("body", "the answer was cut short")
    if ConnectionResetError in found:
        return Failure("network", "the connection was reset")
    return Failure("network", f"the connection was closed without an answer ({type(chain[-1]).__name__})")



def shown_proxy(proxy):
    """A proxy's address for a message: scheme, host and port, never its credentials."""
    if not proxy:
        return "(unknown)"
    parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


def check_proxy(proxy, api_name):
    """ConfigError for a proxy the installed libraries cannot use (a SOCKS proxy without
    PySocks, an unknown scheme): said at start, rather than retried as a network failure."""
    if not proxy:
        return
    scheme = urlsplit(proxy if "://" in proxy else "http://" + proxy).scheme.lower()
    if scheme in ("http", "https"):
        return
    if scheme.startswith("socks"):
        try:
            import urllib3.contrib.socks  # noqa: F401  (needs PySocks)
        except ImportError:
            raise ConfigError(
                f"the proxy {shown_proxy(proxy)} for the {api_name} (from HTTPS_PROXY, HTTP_PROXY or ALL_PROXY) is "
                f"a SOCKS proxy, which needs PySocks: install requests[socks] beside the tap, or unset that "
                f"variable (or add the API's host to NO_PROXY)") from None
        return
    raise ConfigError(f"the proxy {shown_proxy(proxy)} for the {api_name} (from HTTPS_PROXY, HTTP_PROXY or "
                      f"ALL_PROXY) has the scheme {scheme!r}, which the tap cannot use; give an http://, "
                      f"https:// or socks5:// proxy")


def origin(url):
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


def parse_http_date(value):
    """The aware UTC datetime of an HTTP date, or None."""
    try:
        moment = email.utils.parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def retry_after_seconds(headers, now=None):
    """Seconds the server asks to wait (`X-RateLimit-Retry-After`, else `Retry-After`; seconds
    or an HTTP date), or None. Never NaN or negative; may be inf."""
    for name in ("X-RateLimit-Retry-After", "Retry-After"):
        value = (headers.get(name) or "").strip()
        try:
            seconds = float(value)
        except ValueError:
            moment = parse_http_date(value)
            if moment is None:
                continue
            seconds = moment.timestamp() - (time.time() if now is None else now)
        if not math.isnan(seconds):
            return max(0.0, seconds)
    return None
