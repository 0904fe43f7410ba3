"""When each request may start: Help Scout's per-account rate limit, and the tap's own cap.

Every answer carries `X-RateLimit-Limit-Minute` and `X-RateLimit-Remaining-Minute`, but not when
the budget comes back; whether the window is fixed or sliding is undocumented, and emulators
shrink the minute. So the limiter relies only on what the answers show:
- **Budget.** What is left is the remaining count of the latest-started request that was
  answered, less what started since. Answers that overtake each other make this estimate err
  by at most the requests in flight, which is why a few (`spare`) are never spent.
- **Burst, then pace.** While more than a small reserve is left, requests go at once. Below it,
  they go one at a time, spreading the reserve over the time the window may still last: evenly
  until the earliest moment the window can end, once its length is known, then at pauses that
  grow with the time waited (so a refill is noticed within a fraction of that time) and reach
  the latest moment it can end. Each of these requests does useful work and shows whether the
  budget came back: all of it (a new fixed window) or a little (a sliding window).
- **Learning the window.** A jump of the budget is a new window. It began after the start of
  the last request answered from the old one and before the answer showing it; the request
  whose answer shows the whole budget but its own cost opened it. Each new window bounds the
  window length between those moments and the old window's opening; the bounds are kept as the
  intersection over windows. Until one is seen, the window may last up to a minute.
- **429.** The server's wait holds every request (`hold`).
- **`max_requests_per_minute`** is a token bucket holding one request: starts are evenly spaced.
"""
import math
import threading
import time

import singer

LOGGER = singer.get_logger()

FIRST_PAUSE = 0.05          # s: the first pause while pacing
MIN_GROWTH = 0.25           # pauses are at least this share of the time waited so far
MAX_WINDOW_SECONDS = 60.0   # Help Scout's documented window; emulators only shorten it
PROBES = 16                 # requests of the reserve spent finding the refill
KEEP_FOR_THE_END = 2        # of them, kept for after the earliest end once the length is known
LOG_EVERY_SECONDS = 60.0    # at most one INFO line about pacing in that time


class Ticket:
    __slots__ = ("started", "cost", "spent_at")

    def __init__(self, started, cost, spent_at):
        self.started, self.cost, self.spent_at = started, cost, spent_at


def _number(headers, name):
    try:
        return int(float(headers[name]))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


class RateLimiter:
    """Thread-safe. `acquire(cost)` blocks until a request may start and returns its ticket,
    which goes back to `release(ticket, headers)` when the answer's headers arrive (None when
    no answer came). `try_acquire` is the same decision without waiting (for tests)."""

    def __init__(self, parallelism=4, max_requests_per_minute=None, clock=time.monotonic):
        self._clock = clock
        self._cond = threading.Condition()
        self._parallelism = max(1, int(parallelism))
        self._interval = 60.0 / max_requests_per_minute if max_requests_per_minute else None
        self._bucket_next = -math.inf    # when the bucket next holds a request
        self.limit = None                # the last X-RateLimit-Limit-Minute seen
        self._spent = 0                  # cost of every request started
        self._in_flight = 0
        self._fresh = None               # (spent_at, remaining) of the latest-started answered
        self._unmetered = False          # answers come without rate-limit headers
        self._last_answer = -math.inf
        # The current window.
        self._window_seen = None         # time of its first answer
        self._opener = None              # (started, answered) of the request that opened it
        self._old_start = None           # latest start of a request answered from it
        self._ends_by = None             # a 429 said when
        self._span = None                # (shortest, longest) window length, learned
        # Pacing.
        self._low_since = None
        self._hold_until = -math.inf
        self._idle_since = None
        self._logged_at = -math.inf
        self.waits = 0                   # pacing episodes
        self.wait_seconds = 0.0          # time with nothing in flight because of pacing

    # -- the interface --------------------------------------------------------------------------

    def acquire(self, cost=1):
        with self._cond:
            while True:
                ticket = self.try_acquire(cost)
                if isinstance(ticket, Ticket):
                    return ticket
                self._cond.wait(None if ticket == math.inf else ticket)

    def try_acquire(self, cost=1):
        """A Ticket when a request of `cost` may start now; else the seconds to wait (inf:
        until an answer arrives)."""
        with self._cond:
            now = self._clock()
            delay = self._delay(now, cost)
            if delay > 0:
                if self._in_flight == 0 and self._idle_since is None:
                    self._idle_since = now
                return delay
            if self._idle_since is not None:
                self.wait_seconds += now - self._idle_since
                self._idle_since = None
            if self._interval:
                self._bucket_next = max(self._bucket_next, now) + cost * self._interval
            self._spent += cost
            self._in_flight += 1
            return Ticket(now, cost, self._spent)

    def release(self, ticket, headers):
        with self._cond:
            now = self._clock()
            self._in_flight -= 1
            remaining = None if headers is None else _number(headers, "X-RateLimit-Remaining-Minute")
            if remaining is not None:
                self.limit = _number(headers, "X-RateLimit-Limit-Minute") or self.limit
                self._observe(ticket, remaining, now)
            elif headers is not None and self._fresh is None:
                self._unmetered = True
            self._last_answer = now if headers is not None else self._last_answer
            self._cond.notify_all()

    def hold(self, seconds):
        """A 429: nobody starts for `seconds`, after which the server's window has reset."""
        with self._cond:
            now = self._clock()
            self._hold_until = max(self._hold_until, now + seconds)
            self._ends_by = self._hold_until
            self._cond.notify_all()

    # -- deciding ---------------------------------------------------------------------------

    @property
    def _spare(self):
        return min(self._parallelism, max(1, (self.limit or 0) // 10))

    @property
    def _reserve(self):
        return self._spare + min(PROBES, max(2, (self.limit or 0) // 4))

    def _delay(self, now, cost):
        waits = [self._hold_until - now, self._bucket_next - now]
        if self._fresh is None or self._unmetered:
            # Nothing known yet: one request at a time until an answer tells the budget.
            waits.append(math.inf if self._in_flight and not self._unmetered else 0.0)
            return max(waits)
        left = self._fresh[1] - (self._spent - self._fresh[0]) - cost
        if left >= self._reserve:
            self._low_since = None
            return max(waits)
        if self._in_flight:
            return math.inf               # their answers may show the refill
        if self._low_since is None:
            self._start_pacing(now, left)
        if left >= self._spare:
            waits.append(self._next_paced(now, left - self._spare + 1) - now)
        else:
            waits.append(max(self._sure_end(), self._last_answer + FIRST_PAUSE) - now)
        return max(waits)

    def _start_pacing(self, now, left):
        self._low_since = now
        self.waits += 1
        if now - self._logged_at >= LOG_EVERY_SECONDS:
            self._logged_at = now
            known = "" if self._span is None else f", window {self._span[0]:.1f}-{self._span[1]:.1f} s"
            LOGGER.info("rate limit: %d of %s requests left in this window; pacing until the next "
                        "one%s", max(0, left), self.limit, known)

    def _next_paced(self, now, probes):
        """When the next paced request may start, with `probes` requests (this one included)
        to spend before the window surely ends."""
        earliest, sure_end = self._earliest_end(), self._sure_end()
        if earliest is not None and now < earliest:
            if probes <= KEEP_FOR_THE_END:
                return earliest
            return self._last_answer + (earliest - self._last_answer) / (probes - KEEP_FOR_THE_END)
        base = max(self._low_since, earliest or -math.inf)
        growth = max(MIN_GROWTH, (max(sure_end - base, FIRST_PAUSE) / FIRST_PAUSE) ** (1 / probes) - 1)
        pause = max(FIRST_PAUSE, (self._last_answer - base) * growth)
        return min(self._last_answer + pause, max(sure_end, self._last_answer + FIRST_PAUSE))

    def _earliest_end(self):
        if self._span is None or self._opener is None or self._ends_by is not None:
            return None
        return self._opener[0] + self._span[0]

    def _sure_end(self):
        """A moment by which the current window has surely ended."""
        if self._ends_by is not None:
            return self._ends_by
        longest = self._span[1] if self._span else MAX_WINDOW_SECONDS
        opened_before = self._opener[1] if self._opener else self._window_seen
        return opened_before + longest

    # -- learning ------------------------------------------------------------------------------

    def _observe(self, ticket, remaining, now):
        if self._fresh is not None and ticket.spent_at <= self._fresh[0]:
            return                        # older news than what is known
        opens = self.limit is not None and remaining + ticket.cost >= self.limit
        if self._fresh is None:
            self._fresh = (ticket.spent_at, remaining)
            self._window_seen, self._old_start = now, ticket.started
            self._opener = (ticket.started, now) if opens else None
            return
        expected = self._fresh[1] - (ticket.spent_at - self._fresh[0])
        self._fresh = (ticket.spent_at, remaining)
        gain = remaining - expected
        if gain >= max(2 * self._parallelism, (self.limit or 0) // 4):
            self._new_window(ticket, now, opens)
        else:
            if opens and self._opener is None:
                self._opener = (ticket.started, now)
            self._old_start = max(self._old_start, ticket.started)
        if gain > 0:
            self._low_since = None        # a refill: pace afresh from here

    def _new_window(self, ticket, now, opens):
        """The old window ended after `_old_start` and before `now`; it opened with `_opener`."""
        if self._opener is not None:
            shortest = self._old_start - self._opener[1]
            longest = min(now - self._opener[0], MAX_WINDOW_SECONDS)
            if self._span is not None and max(shortest, self._span[0]) <= min(longest, self._span[1]):
                shortest, longest = max(shortest, self._span[0]), min(longest, self._span[1])
            if 0 < longest and shortest <= longest:
                self._span = (max(shortest, 0.0), longest)
        self._window_seen, self._old_start, self._ends_by = now, ticket.started, None
        self._opener = (ticket.started, now) if opens else None
        self._hold_until = -math.inf
