"""HTTP to a Help Scout API: requests and backoff do the generic work; `ApiClient` adds what
keeps a broken or hostile server from hanging, crashing or leaking the tap: a deadline for a
whole answer (wire.Watchdog), redirects followed only within the API's origin, a size cap on
bodies, bounded retries with backoff, 429 waits the rate limiter shares, and every message
through the run's Redactor. Each API (mailbox.py) adds its authentication. The design:
docs/design/http.md.
"""
import json
import logging
import os
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urljoin, urlsplit

import backoff
import requests
from singer import metrics

from tap_helpscout.api import jsonbody
from tap_helpscout.api.wire import (Adapter, Failure, NoAuth, RateLimited, Session, Watchdog, check_proxy,
                                    distrust, network_failure, origin, parse_http_date, retry_after_seconds)
from tap_helpscout.errors import (ApiError, ApiUnreachable, ConfigError, MalformedAnswer, PermissionDenied,
                                  RateLimitWaitTooLong)
from tap_helpscout.logs import get_logger
from tap_helpscout.settings import DEFAULTS

LOGGER = get_logger(__name__)

# A server Date further from this machine's clock than this is not trusted for a bookmark.
MAX_CLOCK_SKEW = timedelta(days=7)
MAX_CONNECT_TIMEOUT = 10.0
MAX_BODY_BYTES = 50 * 1024 * 1024       # real pages are a few MB
MAX_ERROR_BODY_BYTES = 64 * 1024        # enough for any error message
CHUNK_BYTES = 64 * 1024
MAX_REDIRECTS = 3
MAX_TRIES = 8                           # per request, for failures
BACKOFF_FACTOR_SECONDS = 1.0            # pauses: up to 1, 2, 4, ... s, capped
BACKOFF_MAX_SECONDS = 60.0
MAX_RATE_LIMIT_WAITS = 10               # 429s in a row for one request
DEFAULT_RATE_LIMIT_WAIT = 2.0           # for a 429 that says nothing
RETRY_STATUSES = frozenset((500, 502, 503, 504))
ACCEPT = "application/hal+json, application/json"


class ApiResponse:
    """A successful (2xx) answer with a JSON body."""

    __slots__ = ("status", "json", "headers", "url")

    def __init__(self, status, json_body, headers, url):
        self.status, self.json, self.headers, self.url = status, json_body, headers, url

    @property
    def server_time(self):
        """The server's clock (the Date header), as an aware UTC datetime; None without a
        usable one (see `usable_date`)."""
        return usable_date(self.headers.get("Date"))


def usable_date(value, now=None):
    """The moment an HTTP Date header says, if it is one a bookmark may come from: it parses,
    and it is within MAX_CLOCK_SKEW of this machine's clock (hours off are fine; a server date
    in 2099, or a machine whose clock is weeks off, make it unusable). Else None."""
    moment = parse_http_date(value)
    now = now or datetime.now(timezone.utc)
    if moment is None or abs(moment - now) > MAX_CLOCK_SKEW:
        return None
    return moment


class ClientStats:
    """What the client did so far (live): requests (API), token_requests, retries, throttled
    (429s seen), rate_waits (times the rate limit paced or held requests), rate_wait_seconds."""

    def __init__(self, limiter):
        self._limiter = limiter
        self._lock = threading.Lock()
        self.requests = self.token_requests = self.retries = self.throttled = 0
        self._held_seconds = 0.0

    def add(self, name, amount=1):
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    @property
    def rate_waits(self):
        return self._limiter.waits + self.throttled

    @property
    def rate_wait_seconds(self):
        return self._limiter.wait_seconds


def server_message(text):
    """The API's own explanation in an error body: the vnd.error `message` with each
    `_embedded.errors[]` `path: message`, an OAuth `error_description`, or the text itself
    (an HTML page without its tags). Not yet redacted."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        parts = [str(body.get("message") or body.get("error_description") or body.get("error") or "")]
        embedded = body.get("_embedded")
        errors = embedded.get("errors") if isinstance(embedded, dict) else None
        for error in errors if isinstance(errors, list) else ():
            if isinstance(error, dict):
                path, detail = str(error.get("path") or ""), str(error.get("message") or "")
                parts.append(f"{path}: {detail}" if path and detail else path or detail)
        return "; ".join(part for part in parts if part)
    return re.sub(r"<[^>]*>", " ", text)


class _RequestTimer(metrics.Timer):
    """singer-python's http_request_timer (the same METRIC lines) without its get_logger() call,
    which re-reads the logging configuration file on every request."""

    def __init__(self, endpoint):       # pylint: disable=super-init-not-called
        self.metric = metrics.Metric.http_request_duration
        self.tags = {metrics.Tag.endpoint: endpoint}
        self.logger = LOGGER
        self.start_time = None


class _Untimed:
    """No METRIC line (the default: `log_request_metrics` asks for them)."""

    def __init__(self, endpoint):
        self.tags = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class ApiClient:
    """One API's HTTP, for its subclass's `get`. Thread-safe; makes no request until the first
    call. `name` names the API in every message ("Help Scout API")."""

    name = "Help Scout API"
    base_url_setting = "base_url"           # the config key of its address, for messages

    def __init__(self, config, base_url, redactor, limiter, max_tries=None):
        # urllib3 logs what a hostile server sends (unparsable headers) with a traceback; the
        # client reports every failure itself, in one redacted line.
        logging.getLogger("urllib3").setLevel(logging.ERROR)
        self._redactor = redactor
        self._base_url = base_url.rstrip("/")
        if urlsplit(self._base_url).scheme not in ("http", "https") or not urlsplit(self._base_url).hostname:
            raise ConfigError(f"the {self.name}'s URL must be an http(s) URL, not {self._base_url!r}")
        self._origin = origin(self._base_url)
        total = float(config.get("request_timeout") or DEFAULTS["request_timeout"])
        self._timeouts = (min(MAX_CONNECT_TIMEOUT, total), total, total)   # connect, read, whole
        self._max_wait = float(config.get("max_rate_limit_wait_seconds") or DEFAULTS["max_rate_limit_wait_seconds"])
        parallelism = int(config.get("max_parallel_requests") or DEFAULTS["max_parallel_requests"])
        self._limiter = limiter
        self.max_tries = max_tries or MAX_TRIES
        self.stats = ClientStats(self._limiter)
        self._watchdog = Watchdog()
        self._session = Session()
        # The environment, read once per run the way requests reads it for every request (which
        # costs a fifth of a request's CPU): proxies for the API host unless NO_PROXY spares it,
        # the CA bundle. Without trust_env, requests never reads ~/.netrc either.
        self._session.trust_env = False
        self._session.proxies = requests.utils.get_environ_proxies(self._base_url)
        self._proxy = requests.utils.select_proxy(self._base_url, self._session.proxies)
        check_proxy(self._proxy, self.name)
        self._session.verify = (os.environ.get("REQUESTS_CA_BUNDLE") or
                                os.environ.get("CURL_CA_BUNDLE") or True)
        self._session.headers.update({"User-Agent": config.get("user_agent") or DEFAULTS["user_agent"],
                                      "Accept": ACCEPT})
        adapter = Adapter(pool_connections=2, pool_maxsize=parallelism + 1)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        # Failures: exponential pauses with full jitter (or the server's Retry-After), bounded
        # tries. Rate-limit waits: exactly the server's (no jitter), a bounded number in a row.
        failures = backoff.on_exception(
            self._pauses, Failure, max_tries=lambda: self.max_tries, jitter=None,
            giveup=lambda failure: failure.permanent, on_backoff=self._log_retry, logger=None)
        self._try = backoff.on_exception(
            backoff.runtime, RateLimited, value=lambda limited: limited.wait, jitter=None,
            max_tries=MAX_RATE_LIMIT_WAITS, on_backoff=self._log_rate_wait, logger=None,
        )(failures(self._try_once))
        self._timer = _RequestTimer if config.get("log_request_metrics") else _Untimed
        self._clock_lock = threading.Lock()
        self._server_clock = None           # (the latest usable Date seen, time.monotonic() then)

    def server_now(self):
        """The server's clock now, from the latest usable Date header of an answer and the
        time elapsed since; None before any answer carried one."""
        with self._clock_lock:
            if self._server_clock is None:
                return None
            moment, seen = self._server_clock
        return moment + timedelta(seconds=time.monotonic() - seen)

    def _saw_date(self, headers):
        moment = usable_date(headers.get("Date"))
        if moment is not None:
            with self._clock_lock:
                self._server_clock = (moment, time.monotonic())

    @property
    def request_count(self):
        return self.stats.requests

    def close(self):
        self._session.close()

    # -- sending ---------------------------------------------------------------------------------

    def _url(self, path, endpoint):
        if not path.startswith(("http://", "https://")):
            return self._base_url + "/" + path.lstrip("/")
        if origin(path) != self._origin:
            # Credentials never travel to another origin.
            raise ApiError(self._line(f"{self.name} {endpoint}: refusing to follow a link to "
                                      f"{_host_port(path)}, outside {self._base_url}"), endpoint=endpoint)
        return path

    def _send(self, method, url, endpoint, params=None, data=None, auth=None, counted="requests"):
        """Send with retries: (the final answer: 2xx, 401, or a POST's 400 or 403; whether an
        earlier try may have reached the server in vain). Anything else is raised. `auth` is a
        requests auth (none: nothing, never ~/.netrc); `counted` the stats counter it adds to."""
        call = {"lost": False, "endpoint": endpoint, "host": _host_port(url), "counted": counted}
        try:
            response = self._try(call, method, url, params, data, auth or NoAuth())
        except Failure as failure:
            raise self._final_error(failure, call) from None
        except RateLimited:
            raise ApiError(self._line(f"{self.name} {endpoint}: still rate limited (HTTP 429) "
                                      f"after {MAX_RATE_LIMIT_WAITS} waits"), status=429,
                           endpoint=endpoint) from None
        return response, call["lost"]

    @staticmethod
    def _pauses():
        """backoff's exponential pauses with full jitter; a server-sent Retry-After instead."""
        expo = backoff.expo(factor=BACKOFF_FACTOR_SECONDS, max_value=BACKOFF_MAX_SECONDS)
        next(expo)
        failure = yield
        while True:
            pause = backoff.full_jitter(next(expo))
            failure = yield pause if failure.retry_after is None else failure.retry_after

    def _try_once(self, call, method, url, params, data, auth):
        """One try, redirects on the API's origin included."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self._exchange(call, method, url, params, data, auth)
            if not isinstance(response, str):
                return response
            url, params = response, None      # a redirect on the API's origin: its own query
        raise ApiError(self._line(f"{self.name} {call['endpoint']}: more than {MAX_REDIRECTS} "
                                  f"redirects"), endpoint=call["endpoint"])

    def _exchange(self, call, method, url, params, data, auth):
        """One HTTP exchange: an ApiResponse, or the URL of a redirect to follow; raises
        Failure or RateLimited for another try, other errors for none."""
        endpoint = call["endpoint"]
        ticket = self._limiter.acquire(1 if method == "GET" else 2)
        self.stats.add(call["counted"])
        watch = self._watchdog.watch(self._timeouts[2])
        response, released = None, False
        try:
            with self._timer(endpoint) as timer:
                try:
                    response = self._session.request(
                        method, url, params=params, data=data, stream=True, allow_redirects=False,
                        timeout=self._timeouts[:2], auth=auth)
                except requests.RequestException as exc:
                    timer.tags[metrics.Tag.status] = metrics.Status.failed
                    failure = network_failure(exc, watch, self._timeouts, in_body=False, proxy=self._proxy)
                    call["lost"] |= failure.reached_server
                    raise failure from None
                status = response.status_code
                timer.tags[metrics.Tag.http_status_code] = status
                if not 200 <= status < 300:
                    timer.tags[metrics.Tag.status] = metrics.Status.failed
                self._limiter.release(ticket, response.headers, refused=status == 429)
                released = True
                self._saw_date(response.headers)
                try:
                    return self._judge(call, method, url, response, watch)
                except Failure:
                    distrust(watch)
                    raise
        finally:
            if not released:
                self._limiter.release(ticket, None)
            self._watchdog.done(watch)
            if response is not None:
                response.close()

    def _judge(self, call, method, url, response, watch):
        endpoint, status, headers = call["endpoint"], response.status_code, response.headers
        if watch.expired:         # what arrived before the watchdog cut it is not all
            call["lost"] = True
            raise network_failure(None, watch, self._timeouts, in_body=False)
        if 300 <= status < 400 and headers.get("Location"):
            return self._redirect(endpoint, method, url, status, headers["Location"])
        ok = 200 <= status < 300
        body = self._read(call, response, watch, MAX_BODY_BYTES if ok else MAX_ERROR_BODY_BYTES)
        if watch.expired:
            call["lost"] = True
            raise network_failure(None, watch, self._timeouts, in_body=False)
        if ok or (method == "POST" and status in (400, 401, 403)):
            try:
                parsed = jsonbody.loads(body)
            except UnicodeDecodeError:
                parsed = self._loads_replacing(body, endpoint)
            except ValueError:
                parsed = None
            if ok and parsed is None:
                call["lost"] = True
                raise Failure("body", f"HTTP {status} with a body that is not complete JSON "
                                       f"({len(body)} bytes)", status=status)
            return ApiResponse(status, parsed, headers, url)
        if status == 401:
            return ApiResponse(status, None, headers, url)
        text = body.decode("utf-8", errors="replace")
        retry_after = self._retry_after(status, headers)
        if status == 429 or (status in RETRY_STATUSES and retry_after is not None):
            wait = DEFAULT_RATE_LIMIT_WAIT if retry_after is None else retry_after
            if wait > self._max_wait:
                raise RateLimitWaitTooLong(self._line(
                    f"{self.name} {endpoint}: the server asks to wait {wait:g} s before the "
                    f"next request (HTTP {status}), more than max_rate_limit_wait_seconds="
                    f"{self._max_wait:g}; stopping now instead of waiting"), status=status,
                    endpoint=endpoint)
        if status == 429:
            self.stats.add("throttled")
            self._limiter.hold(wait)
            raise RateLimited(wait)
        message = self._line(server_message(text)) or response.reason or "no message"
        if status in RETRY_STATUSES:
            call["lost"] = True
            raise Failure("status", f"HTTP {status}: {message}", status=status, retry_after=retry_after)
        error = PermissionDenied if status == 403 else ApiError
        detail = "permission denied: " if status == 403 else ""
        raise error(self._line(f"{self.name} {endpoint}: HTTP {status} {detail}{message}"),
                    status=status, endpoint=endpoint)

    def _retry_after(self, status, headers):
        """Seconds the server asks to wait before the next request, or None (see
        wire.retry_after_seconds); an API with its own header says so in its subclass."""
        return retry_after_seconds(headers)

    def _loads_replacing(self, body, endpoint):
        """A JSON body with bytes that are not UTF-8, read with U+FFFD in their place (one
        record's broken text must not block a stream for ever), and a warning; None when it is
        not JSON even so."""
        try:
            parsed = json.loads(body.decode("utf-8", errors="replace"))
        except ValueError:
            return None
        LOGGER.warning("%s", self._line(f"{endpoint}: the answer held bytes that are not UTF-8; they were read as "
                                        f"the replacement character U+FFFD"))
        return parsed

    def _redirect(self, endpoint, method, url, status, location):
        target = urljoin(url, location)
        try:
            same = origin(target) == self._origin
        except ValueError:
            same = False
        if same and method == "GET":
            return target
        raise ApiError(self._line(
            f"{self.name} {endpoint}: HTTP {status} redirects to {_host_port(target)}; the tap "
            f"follows redirects only within {self._base_url} (and sends its token nowhere else)"),
            status=status, endpoint=endpoint)

    def _read(self, call, response, watch, limit):
        """The body, decompressed, at most `limit` bytes (an error page is cut there; a 2xx
        answer over it fails the request)."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit and limit == MAX_BODY_BYTES:
            raise self._too_large(call, f"declares {int(declared):,} bytes")
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(CHUNK_BYTES):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    if limit == MAX_BODY_BYTES:
                        raise self._too_large(call, "is larger once decompressed")
                    break
        except requests.RequestException as exc:
            failure = network_failure(exc, watch, self._timeouts, in_body=True, proxy=self._proxy)
            call["lost"] = True
            raise failure from None
        return b"".join(chunks)[:limit]

    def _too_large(self, call, how):
        return MalformedAnswer(self._line(
            f"{self.name} {call['endpoint']}: the answer from {call['host']} {how}, over the "
            f"{MAX_BODY_BYTES // (1024 * 1024)} MB the tap accepts"), endpoint=call["endpoint"])

    def _final_error(self, failure, call):
        endpoint = call["endpoint"]
        tries = "" if failure.permanent else f", still after {self.max_tries} tries"
        hint = ""
        if failure.kind == "network" and not failure.reached_server and "proxy" not in failure.reason:
            hint = f"; check {self.base_url_setting} ({self._base_url}) and the network"
        message = self._line(f"{self.name} {endpoint}: {failure.reason} ({call['host']}){tries}{hint}")
        if failure.kind == "network":
            return ApiUnreachable(message, endpoint=endpoint)
        if failure.kind == "body":
            return MalformedAnswer(message, status=failure.status, endpoint=endpoint)
        return ApiError(message, status=failure.status, endpoint=endpoint)

    # -- logging ---------------------------------------------------------------------------------

    def _line(self, text):
        return self._redactor.line(text)

    def _log_retry(self, details):
        self.stats.add("retries")
        call, failure = details["args"][0], details["exception"]
        LOGGER.warning("%s", self._line(
            f"{call['endpoint']}: {failure.reason} ({call['host']}); try {details['tries'] + 1} of "
            f"{self.max_tries} in {details['wait']:.1f} s"))

    def _log_rate_wait(self, details):
        self.stats.add("retries")
        call = details["args"][0]
        LOGGER.warning("%s", self._line(
            f"rate limit reached (HTTP 429 from {call['host']} on {call['endpoint']}): every "
            f"request waits {details['wait']:.1f} s, as the server asks"))


def _host_port(url):
    try:
        return "%s:%d" % origin(url)[1:]
    except ValueError:
        return urlsplit(url).netloc or url
