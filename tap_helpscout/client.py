"""HTTP client for the Help Scout Mailbox API 2.0.

One `HelpScoutClient` serves a whole run and is shared by the sync engine's worker threads:
- one `transport.Transport`: keep-alive connections, a pool as large as the parallelism;
- OAuth2 tokens from `auth.TokenManager` (lazy, refreshed before expiry and on a 401);
- retries with capped, jittered exponential backoff on 429, 500, 502, 503, 504, connection
  errors, timeouts and bodies that are cut short or not JSON, honouring the server's
  `X-RateLimit-Retry-After` / `Retry-After` exactly;
- rate-limit pacing from the `X-RateLimit-*-Minute` headers (`RateLimitPacer`), so that a normal
  sync never meets a 429, plus the optional `max_requests_per_minute` cap on the tap's own share;
- errors classified for the caller: `PermissionDenied` (403), `AuthError` (credentials),
  `ApiError` (anything else that is not worth retrying, or still failing after the last try),
  each naming the endpoint, the status and the API's own message.
"""
import email.utils
import json
import math
import random
import threading
import time
from collections import deque
from datetime import timezone
from urllib.parse import urlsplit

import singer
from singer import metrics

from tap_helpscout.auth import TokenAnswer, TokenManager
from tap_helpscout.errors import ApiError, AuthError, ConfigError, PermissionDenied
from tap_helpscout.transport import Transport, TransportError
from tap_helpscout.version import VERSION

LOGGER = singer.get_logger()

DEFAULT_BASE_URL = "https://api.helpscout.net/v2"
DEFAULT_REQUEST_TIMEOUT = 300.0
DEFAULT_PARALLEL_REQUESTS = 4
MAX_CONNECT_TIMEOUT = 10.0

# Tries per request (the first one included), and the backoff between them: base * 2^(n-1)
# seconds, capped, then scaled by a random factor in [0.5, 1] so that parallel workers that
# failed together do not retry together.
MAX_TRIES = 8
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0
# A server-sent wait is honoured exactly, up to this bound (a garbled header must not park the
# tap for hours).
MAX_RETRY_AFTER_SECONDS = 900.0

RETRY_STATUSES = frozenset((429, 500, 502, 503, 504))
ACCEPT = "application/hal+json, application/json"
TOKEN_PATH = "/oauth2/token"
TOKEN_ENDPOINT = "oauth2/token"

DEFAULT_USER_AGENT = f"tap-helpscout/{VERSION}"


class ApiResponse:
    """A successful (2xx) answer with a JSON body."""

    __slots__ = ("status", "json", "headers", "url")

    def __init__(self, status, json_body, headers, url):
        self.status = status
        self.json = json_body
        self.headers = headers
        self.url = url

    @property
    def server_time(self):
        """The server's clock (the Date header), parsed only when asked for."""
        return parse_http_date(self.headers.get("Date"))

    def __repr__(self):
        return f"ApiResponse(status={self.status}, url={self.url!r})"


def parse_http_date(value):
    """The timezone-aware UTC datetime of an HTTP date header, or None."""
    if not value:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:           # "-0000" means UTC with no further information
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def retry_after_seconds(headers):
    """Seconds the server asks us to wait (`X-RateLimit-Retry-After`, else `Retry-After`, as
    seconds or an HTTP date), or None."""
    for name in ("X-RateLimit-Retry-After", "Retry-After"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value)
        except ValueError:
            moment = parse_http_date(value)
            if moment is None:
                continue
            seconds = moment.timestamp() - time.time()
        if seconds == seconds:          # not NaN
            return max(0.0, seconds)
    return None


def api_message(body, text=""):
    """The API's own explanation of an error: the vnd.error `message` with each
    `_embedded.errors[]` `path: message`, or an OAuth `error_description`, or a short text."""
    if isinstance(body, dict):
        parts = []
        main = body.get("message") or body.get("error_description") or body.get("error")
        if main:
            parts.append(str(main))
        embedded = body.get("_embedded")
        errors = embedded.get("errors") if isinstance(embedded, dict) else None
        for error in errors if isinstance(errors, list) else ():
            if not isinstance(error, dict):
                continue
            detail = str(error.get("message") or "")
            if error.get("path"):
                detail = f"{error['path']}: {detail}" if detail else str(error["path"])
            if detail:
                parts.append(detail)
        if parts:
            return "; ".join(parts)
    text = " ".join((text or "").split())
    return text[:200] + ("..." if len(text) > 200 else "")


def parse_limit_headers(headers):
    """(limit, remaining) of the current rate-limit window, each None when absent."""
    def number(name):
        try:
            return int(float(headers[name]))
        except (KeyError, TypeError, ValueError):
            return None
    return number("X-RateLimit-Limit-Minute"), number("X-RateLimit-Remaining-Minute")


class _Failure:
    """Why one try failed, kept to report the last one."""

    def __init__(self, description, status=None, body=None, text="", retry_after=None,
                 may_have_reached_server=True):
        self.description = description
        self.status = status
        self.body = body
        self.text = text
        self.retry_after = retry_after
        self.may_have_reached_server = may_have_reached_server


class _RequestTimer(metrics.Timer):
    """singer-python's http_request_timer, the same METRIC lines, without its get_logger() call:
    that re-reads the logging configuration file on every request (about a tenth of the tap's
    CPU in the benchmark) and leaves garbage that fragments memory."""

    def __init__(self, endpoint):   # pylint: disable=super-init-not-called
        self.metric = metrics.Metric.http_request_duration
        self.tags = {metrics.Tag.endpoint: endpoint}
        self.logger = LOGGER
        self.start_time = None


class HelpScoutClient:
    """See the module docstring. Thread-safe; makes no request until the first `get`."""

    def __init__(self, config, config_path=None):
        # singer-python configures logging when asked for its logger; ask once here (not per
        # request) so that the client logs to the stderr of the moment it was made.
        singer.get_logger()
        self._base_url = (config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        self._user_agent = config.get("user_agent") or DEFAULT_USER_AGENT
        read_timeout = float(config.get("request_timeout") or DEFAULT_REQUEST_TIMEOUT)
        self._timeout = (min(MAX_CONNECT_TIMEOUT, read_timeout), read_timeout)
        parallelism = int(config.get("max_parallel_requests") or DEFAULT_PARALLEL_REQUESTS)

        try:
            self._transport = Transport(self._base_url, connect_timeout=self._timeout[0],
                                        read_timeout=self._timeout[1], pool_size=parallelism + 1)
        except ValueError as exc:
            raise ConfigError(f"cannot reach the API: {exc}") from None

        self._counter_lock = threading.Lock()
        self.request_count = 0
        self.token_request_count = 0
        self._sleep = time.sleep
        self._pacer = RateLimitPacer(parallelism=parallelism,
                                     max_requests_per_minute=config.get("max_requests_per_minute"))
        self._tokens = TokenManager(config, config_path, self._request_token)

    # -- public interface ------------------------------------------------------------------

    def get(self, path, params=None, endpoint=None):
        """GET `path` (relative to base_url) with query `params`; the parsed 2xx answer.

        Raises PermissionDenied on 403, AuthError when the credentials are refused, ApiError on
        any other status not worth retrying and when the last try failed."""
        url = self._url(path)
        endpoint = endpoint or path
        token = self._tokens.token()
        response = self._send("GET", url, endpoint, params=params, token=token)
        if response.status == 401:
            LOGGER.info("%s: access token refused (401); renewing it and trying once more",
                        endpoint)
            token = self._tokens.replace_refused(token)
            response = self._send("GET", url, endpoint, params=params, token=token)
            if response.status == 401:
                raise AuthError(
                    f"Help Scout refused a freshly renewed access token on {endpoint} (401): the "
                    f"authorizing user may be inactive or the app de-authorized; run the "
                    f"authorization-code flow again, see README", status=401, endpoint=endpoint)
        return response.api_response

    def close(self):
        self._transport.close()

    @property
    def refresh_count(self):
        """How many access tokens the client has obtained from the token endpoint."""
        return self._tokens.refresh_count

    # -- internals ---------------------------------------------------------------------------

    def _url(self, path):
        if path.startswith(("http://", "https://")):
            # Absolute links (HAL `_links`) are followed only on the API's own host: the bearer
            # token must never travel anywhere else.
            if urlsplit(path)[:2] != urlsplit(self._base_url)[:2]:
                raise ValueError(f"refusing to send credentials to {urlsplit(path).netloc}")
            return path
        return self._base_url + "/" + path.lstrip("/")

    def _count(self, token_call):
        with self._counter_lock:
            if token_call:
                self.token_request_count += 1
            else:
                self.request_count += 1

    def _request_token(self, form):
        """POST the grant `form` to the token endpoint, retrying transport failures, 429 and
        5xx; the final answer for TokenManager to interpret."""
        response = self._send("POST", self._base_url + TOKEN_PATH, TOKEN_ENDPOINT, form=form,
                              token_call=True, accept_statuses=(400, 401, 403))
        return TokenAnswer(response.status, response.parsed_body,
                           response.earlier_attempt_lost)

    def _send(self, method, url, endpoint, params=None, form=None, token=None, token_call=False,
              accept_statuses=()):
        """Send until the answer is final; return the transport's Answer, with `api_response`
        (2xx), `parsed_body` and `earlier_attempt_lost` attached. 401 and `accept_statuses` are
        returned for the caller to handle; other errors are raised."""
        headers = {"User-Agent": self._user_agent, "Accept": ACCEPT}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        earlier_attempt_lost = False
        failure = None
        for attempt in range(1, MAX_TRIES + 1):
            if failure is not None:
                earlier_attempt_lost = earlier_attempt_lost or failure.may_have_reached_server
                self._wait_before_retry(endpoint, attempt, failure)
            outcome = self._try_once(method, url, endpoint, params, form, headers, token_call)
            if not isinstance(outcome, _Failure):
                outcome = self._judge(outcome, endpoint, accept_statuses)
            if isinstance(outcome, _Failure):
                failure = outcome
                if failure.status == 429:
                    self._pacer.hold_off(failure.retry_after)
                continue
            outcome.earlier_attempt_lost = earlier_attempt_lost
            return outcome
        raise self._final_error(endpoint, failure)

    def _try_once(self, method, url, endpoint, params, form, headers, token_call):
        """One HTTP exchange: the transport's Answer, or a _Failure when no complete answer
        arrived."""
        # Token requests are paced too: they count against the account's budget, a POST as
        # two requests.
        ticket = self._pacer.acquire(cost=1 if method == "GET" else 2)
        self._count(token_call)
        answer_headers = None
        try:
            with _RequestTimer(endpoint) as timer:
                try:
                    answer = self._transport.request(method, url, params=params, form=form,
                                                     headers=headers)
                except TransportError as exc:
                    timer.tags[metrics.Tag.status] = metrics.Status.failed
                    return _Failure(exc.description,
                                    may_have_reached_server=exc.may_have_reached_server)
                timer.tags[metrics.Tag.http_status_code] = answer.status
                if not 200 <= answer.status < 300:
                    timer.tags[metrics.Tag.status] = metrics.Status.failed
                answer_headers = answer.headers
                return answer
        finally:
            self._pacer.release(ticket, answer_headers)

    def _wait_before_retry(self, endpoint, attempt, failure):
        if failure.retry_after is not None:
            delay = min(failure.retry_after, MAX_RETRY_AFTER_SECONDS)
            reason = "as the server asked"
        else:
            delay = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 2))
            delay *= random.uniform(0.5, 1.0)
            reason = "backing off"
        LOGGER.info("%s: %s; try %d of %d in %.2f s (%s)", endpoint, failure.description,
                    attempt, MAX_TRIES, delay, reason)
        self._sleep(delay)

    def _final_error(self, endpoint, failure):
        if failure.status is None:
            return ApiError(f"Help Scout API {endpoint}: {failure.description}, still after "
                            f"{MAX_TRIES} tries", endpoint=endpoint)
        message = api_message(failure.body, failure.text)
        detail = f": {message}" if message else ""
        return ApiError(f"Help Scout API {endpoint}: {failure.description} after {MAX_TRIES} "
                        f"tries{detail}", status=failure.status, endpoint=endpoint)

    def _judge(self, answer, endpoint, accept_statuses):
        status = answer.status
        try:
            body = json.loads(answer.body) if answer.body.strip() else None
        except ValueError:
            body = None
        answer.parsed_body = body
        if 200 <= status < 300:
            if body is None:
                return _Failure(f"HTTP {status} with a body that is not complete JSON "
                                f"({len(answer.body)} bytes)", status=status)
            answer.api_response = ApiResponse(status, body, answer.headers, answer.url)
            return answer
        if status == 401 or status in accept_statuses:
            return answer
        if status in RETRY_STATUSES:
            # A 429 was refused before any work; a 5xx may have done the work (a refresh may
            # have rotated the token) before failing.
            return _Failure(f"HTTP {status}", status=status, body=body, text=answer.text,
                            retry_after=retry_after_seconds(answer.headers),
                            may_have_reached_server=status != 429)
        message = api_message(body, answer.text) or answer.reason or "no message"
        if status == 403:
            raise PermissionDenied(f"Help Scout API {endpoint}: HTTP 403 permission denied: "
                                   f"{message}", status=status, endpoint=endpoint)
        raise ApiError(f"Help Scout API {endpoint}: HTTP {status}: {message}", status=status,
                       endpoint=endpoint)


def _growth_to_cover(first_pause, probes, span):
    """The growth factor g for which `probes` pauses first_pause, first_pause * g, ... add up
    to `span` (at least 1)."""
    if probes <= 0 or first_pause * probes >= span:
        return 1.0
    low, high = 1.0, 64.0
    for _ in range(50):
        middle = (low + high) / 2
        if first_pause * (middle ** probes - 1) / (middle - 1) >= span:
            high = middle
        else:
            low = middle
    return high


class _Ticket:
    __slots__ = ("started", "probe", "cost")

    def __init__(self, started, probe, cost):
        self.started = started
        self.probe = probe
        self.cost = cost


class RateLimitPacer:
    """Decides when each request may start, so that the account's per-minute budget is never
    exhausted by the tap and no time is wasted.

    Every answer tells the window's limit and what remains of it, but not when the window
    resets; emulators shrink the minute, and a window may be a fixed slot of the clock or open
    with the first request after the previous one ended. So the pacer sends freely while the
    remaining budget, less the requests in flight, stays above a small reserve; then it waits
    for the next window, and learns when that comes:
    - each window start is bracketed in time: after the start of the last request answered from
      the old window, before the first answer showing the refill arrived;
    - two brackets bound the window length; every later one narrows the bounds;
    - a sharper guess is kept beside those sure bounds: that the window opened with the request
      whose answer showed the full budget less its own cost. It holds for windows that open on
      request; for windows that follow the clock it is dropped the first time it misleads;
    - for windows that follow the clock, the sharpest start seen, carried forward by whole
      windows, sharpens the later starts and the length;
    - while the length is unknown, the pacer probes with single (useful) requests at growing
      pauses until an answer shows the refill; once it is known, it sleeps until the earliest
      moment the window can end and spreads a few probes over the span where it must end.
    The reserve is what those probes need, plus a little for the account's other integrations.

    `max_requests_per_minute` caps the tap's own rate: starts are spaced evenly and no 60 s
    span holds more of them than the cap.
    """

    MAX_WINDOW_SECONDS = 60.0          # Help Scout's window; emulators only ever shorten it
    FIRST_PROBE_PAUSE = 0.05
    PROBE_PAUSE_GROWTH = 1.3
    # Probes while the window length is unknown: the more, the finer the first refill is found
    # (pauses grow by less); a share of the limit, as unused budget matters less when it is big.
    LEARNING_RESERVE = 16
    LEARNING_RESERVE_SHARE = 1 / 12
    MAX_PROBES_PER_WAIT = 8            # once it is known, within bounds
    PROBE_PRECISION = 0.01             # of the window: a finer bracket is not worth a probe
    SPARE = 2                          # kept for the account's other integrations

    def __init__(self, parallelism=DEFAULT_PARALLEL_REQUESTS, max_requests_per_minute=None,
                 clock=time.monotonic):
        self._parallelism = max(1, int(parallelism))
        self._cap = int(max_requests_per_minute) if max_requests_per_minute else None
        self._clock = clock
        self._cond = threading.Condition()
        self._in_flight = 0           # budget taken by requests sent and not answered yet
        self._cap_starts = deque(maxlen=self._cap or 1)
        self._cap_logged = False
        self._first_start = None      # of the run's first request
        self._spent_before_first_answer = 0
        self._unmetered = False       # an answer came without rate-limit headers
        self._limit = None
        self._remaining = None        # least budget reported in the current window
        self._last_old_start = None   # latest start of a request answered from this window
        self._window_start = None     # (earliest, latest) start of the current window, sure
        self._opened_by = None        # start of the request that may have opened it
        self._trust_opened_by = True  # until a prediction based on it fails
        self._anchor = None           # the sharpest start seen, once windows seem clock slots
        self._sure_window = None      # (shortest, longest) window length, sure bounds
        self._window = None           # the same, sharpened by the opened-by guess
        self._hold_until = 0.0        # after a 429: nobody sends before this
        self._waiting = False         # the budget is spent: waiting for the next window
        self._wait_started = 0.0
        self._probe_at = 0.0
        self._probe_pause = self.FIRST_PROBE_PAUSE
        self._probe_growth = self.PROBE_PAUSE_GROWTH
        self._expected_by = None      # while waiting on a prediction: the latest window end
        self.waits = 0                # how many times the budget ran low

    # -- what the client calls -------------------------------------------------------------

    def acquire(self, cost=1):
        """Block until a request of `cost` (a GET costs 1, a POST 2) may start; the ticket
        goes back to `release`."""
        with self._cond:
            while True:
                now = self._clock()
                delay, probe = self._delay(now, cost)
                if delay is None:
                    self._in_flight += cost
                    if self._remaining is None:
                        self._first_start = now if self._first_start is None else self._first_start
                        self._spent_before_first_answer += cost
                    if self._cap:
                        self._cap_starts.append(now)
                    return _Ticket(now, probe, cost)
                self._cond.wait(None if delay == float("inf") else delay)

    def release(self, ticket, headers):
        """The request of `ticket` ended; `headers` are its answer's (None if none came)."""
        with self._cond:
            self._in_flight -= ticket.cost
            limit, remaining = parse_limit_headers(headers) if headers is not None else (None, None)
            if remaining is not None:
                self._observe(ticket, limit, remaining, self._clock())
            elif headers is not None:
                self._unmetered = True
            self._cond.notify_all()

    def hold_off(self, seconds):
        """A 429 arrived: nobody sends for `seconds` (the server's Retry-After, after which
        the window has reset)."""
        with self._cond:
            now = self._clock()
            known = seconds is not None
            seconds = seconds if known else self.FIRST_PROBE_PAUSE
            self._hold_until = max(self._hold_until, now + seconds)
            self._waiting = True
            self._wait_started = now
            self._remaining = 0
            self._probe_at = self._hold_until
            self._probe_pause, self._probe_growth = self.FIRST_PROBE_PAUSE, self.PROBE_PAUSE_GROWTH
            self._expected_by = None
            LOGGER.info("rate limit reached (429): pausing all requests for %.2f s%s", seconds,
                        " as the server asked" if known else "")
            self._cond.notify_all()

    # -- when to send --------------------------------------------------------------------------

    def _delay(self, now, cost):
        """(None, probe?) to start now; (seconds, _) to wait that long, or until an answer
        arrives (inf)."""
        if now < self._hold_until:
            return self._hold_until - now, False
        cap_delay = self._cap_delay(now)
        if cap_delay > 0:
            return cap_delay, False
        if self._remaining is None:
            # Nothing known about the budget yet: one request at a time until an answer tells,
            # unless answers come without rate-limit headers (then there is nothing to pace).
            if self._unmetered or self._in_flight == 0:
                return None, False
            return float("inf"), False
        if not self._waiting:
            if self._remaining - self._in_flight - cost >= self._reserve(now):
                return None, False
            if self._in_flight:
                return float("inf"), False       # their answers may show that the window reset
            self._start_waiting(now)
        if self._in_flight:
            return float("inf"), False           # a probe is out
        if now >= self._probe_at:
            return None, True
        return self._probe_at - now, False

    def _reserve(self, now):
        if self._window is None:
            reserve = max(self.LEARNING_RESERVE,
                          int((self._limit or 0) * self.LEARNING_RESERVE_SHARE))
        else:
            reserve = self._planned_probes(now) + self.SPARE
        if self._limit:
            # A tiny limit (tests) must still leave room to work in.
            reserve = min(reserve, max(1, self._limit // 4))
        return reserve

    def _planned_probes(self, now):
        """Probes worth spreading over the span where the current window must end."""
        span = self._expected_end(now)
        if span is None:
            return self.MAX_PROBES_PER_WAIT
        precision = self.PROBE_PRECISION * self._window[0]
        return max(1, min(self.MAX_PROBES_PER_WAIT, math.ceil((span[1] - span[0]) / precision)))

    def _expected_end(self, now):
        """(earliest, latest) end of the current window; None while unknown, or when the
        window should have ended already (a refill may have gone unnoticed)."""
        if self._window is None or self._window_start is None:
            return None
        started = self._window_start[0]
        if self._trust_opened_by and self._opened_by is not None:
            started = max(started, self._opened_by)
        span = (started + self._window[0], self._window_start[1] + self._window[1])
        return span if span[1] > now else None

    def _cap_delay(self, now):
        if not self._cap or not self._cap_starts:
            return 0.0
        spacing = 60.0 / self._cap
        delay = self._cap_starts[-1] + spacing - now
        if len(self._cap_starts) == self._cap:
            delay = max(delay, self._cap_starts[0] + 60.0 - now)
        if delay > 0 and not self._cap_logged:
            self._cap_logged = True
            LOGGER.info("max_requests_per_minute=%d: starting requests at most every %.2f s",
                        self._cap, spacing)
        return delay

    def _start_waiting(self, now):
        self._waiting = True
        self._wait_started = now
        self.waits += 1
        self._plan_probes(now)
        if self._expected_by is not None:
            LOGGER.info("rate limit: %s of %s requests left in this window; waiting %.2f s for "
                        "the next one", self._remaining, self._limit, self._probe_at - now)
        else:
            LOGGER.info("rate limit: %s of %s requests left in this window; waiting for the "
                        "next one (checking with single requests at growing pauses)",
                        self._remaining, self._limit)

    def _plan_probes(self, now):
        """Spread the probes left over the span where the window must end, when it is known;
        otherwise start probing at growing pauses."""
        span = self._expected_end(now)
        if span is not None:
            earliest, latest = max(now, span[0]), span[1]
            probes = max(1, min(self._planned_probes(now), self._remaining - 1))
            self._probe_pause = max(0.001, (latest - earliest) / probes)
            self._probe_growth = 1.0
            self._probe_at = earliest + self._probe_pause
            self._expected_by = latest
        else:
            self._probe_pause, self._probe_growth = self.FIRST_PROBE_PAUSE, self.PROBE_PAUSE_GROWTH
            self._probe_at = now + self._probe_pause
            self._expected_by = None

    def _schedule_next_probe(self, now):
        """A probe came back from the old window."""
        if self._expected_by is not None and now >= self._expected_by:
            # The window did not end when predicted: the guess that windows open on request
            # misled (they follow the clock); fall back on what is sure.
            self._trust_opened_by = False
            self._window = self._sure_window
            self._plan_probes(now)
            if self._expected_by is not None:
                return
        if self._expected_by is None:
            # Unknown window: grow the pauses fast enough that the probes left reach the
            # latest moment the window can end; the last request is kept for that moment.
            opened_before = self._window_start[1] if self._window_start else self._wait_started
            horizon = opened_before + self.MAX_WINDOW_SECONDS
            if self._remaining <= 1:
                self._probe_at = max(now + self._probe_pause, horizon)
                return
            growth = _growth_to_cover(self._probe_pause, self._remaining - 1, horizon - now)
            self._probe_growth = max(self.PROBE_PAUSE_GROWTH, growth)
        elif self._remaining <= 1:
            self._probe_at = max(now + self._probe_pause, self._expected_by)
            return
        self._probe_at = now + self._probe_pause
        self._probe_pause *= self._probe_growth

    # -- what the answers tell -------------------------------------------------------------------

    def _observe(self, ticket, limit, remaining, now):
        if limit is not None:
            self._limit = limit
        if self._remaining is None:
            # The first answer of the run. When the budget is full but for the requests sent
            # so far, the first of them may have opened the window.
            self._remaining = remaining
            self._last_old_start = ticket.started
            self._window_start = (-math.inf, now)
            if self._limit and remaining + self._spent_before_first_answer >= self._limit:
                self._opened_by = self._first_start
            return
        # Answers overtake each other (a slow one can be passed by many), so a budget somewhat
        # higher than the least seen is still the same window; a refill raises it by far more.
        if remaining > self._remaining + max(2 * self._parallelism, (self._limit or 0) // 4):
            self._observe_new_window(ticket, remaining, now)
            return
        self._remaining = min(self._remaining, remaining)
        self._last_old_start = max(self._last_old_start, ticket.started)
        if ticket.probe and self._waiting:
            self._schedule_next_probe(now)

    def _observe_new_window(self, ticket, remaining, now):
        """The answer to `ticket`, arrived `now`, comes from a new window: bracket its start,
        and narrow the window length with the previous start."""
        ended_after = self._last_old_start      # the old window still ran when that one started
        previous, previous_opened_by = self._window_start, self._opened_by
        self._window_start = (ended_after, now)
        first_request = self._limit and remaining + ticket.cost >= self._limit
        self._opened_by = ticket.started if first_request else None
        self._remaining = remaining
        self._last_old_start = ticket.started
        self._waiting = False
        self._hold_until = 0.0
        if previous is None:
            return
        shortest = ended_after - previous[1]
        longest = now - previous[0]
        self._sure_window = self._narrowed(self._sure_window, shortest, longest, now - previous[1])
        if not self._trust_opened_by:
            self._carry_anchor()
            self._window = self._sure_window
            return
        if previous_opened_by is not None:
            longest = min(longest, now - previous_opened_by)
        self._window = self._narrowed(self._window, shortest, longest, now - previous[1])

    def _narrowed(self, known, shortest, longest, elapsed):
        """`known` (shortest, longest) intersected with the bounds measured over `elapsed`
        seconds; the new bounds alone when nothing is known or the two disagree."""
        if known is not None:
            # A window may pass unseen (when its budget was hardly touched).
            windows = max(1, round(elapsed / ((known[0] + known[1]) / 2)))
            narrowed = (max(known[0], shortest / windows), min(known[1], longest / windows))
            if narrowed[0] <= narrowed[1]:
                return narrowed
        shortest, longest = max(shortest, 1e-3), min(longest, self.MAX_WINDOW_SECONDS)
        return (shortest, longest) if shortest <= longest else None

    def _carry_anchor(self):
        """Windows that follow the clock start every window length exactly: the sharpest start
        seen (the anchor), carried forward, sharpens both the current start and the length."""
        current, anchor, window = self._window_start, self._anchor, self._sure_window
        if anchor is not None and window is not None:
            windows = round((current[1] - anchor[1]) / ((window[0] + window[1]) / 2))
            if windows >= 1:
                window = self._narrowed(window, current[0] - anchor[1], current[1] - anchor[0],
                                        current[1] - anchor[1])
                self._sure_window = window
                carried = (anchor[0] + windows * window[0], anchor[1] + windows * window[1])
                sharper = (max(current[0], carried[0]), min(current[1], carried[1]))
                if sharper[0] <= sharper[1]:
                    self._window_start = current = sharper
        if anchor is None or current[1] - current[0] <= anchor[1] - anchor[0]:
            self._anchor = current
