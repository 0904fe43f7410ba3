"""When each request may start: Help Scout's per-account rate limit, read from the answers'
`X-RateLimit-*-Minute` headers (a budget spent in a burst, then paced so that a sync meets no
429, with the window's length learned, fixed or sliding), a 429's wait shared by every request,
and the tap's own `max_requests_per_minute`. How: docs/design/rate-limits.md.
"""
import math
import threading
import time
from collections import deque

from tap_helpscout.logs import get_logger

LOGGER = get_logger(__name__)

FIRST_PAUSE = 0.05          # s: the first pause while pacing
MIN_GROWTH = 0.25           # a pause is at least this share of the time waited so far
MAX_WINDOW_SECONDS = 60.0   # Help Scout's documented window; emulators only shorten it
PROBES = 16                 # requests of the reserve spent finding the refill
LEARNING_PROBES = 32        # the same while the window length is unknown
PAUSE_NOTICE_SECONDS = 10.0 # a pause at least this long gets a line (how long, and why)


class Ticket:
    __slots__ = ("started", "cost", "spent_at", "alone")

    def __init__(self, started, cost, spent_at, alone):
        self.started, self.cost, self.spent_at, self.alone = started, cost, spent_at, alone


def _number(headers, name):
    try:
        return int(float(headers[name]))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


class RateLimiter:
    """Thread-safe. `acquire(cost)` blocks until a request may start and returns its ticket,
    which goes back to `release(ticket, headers)` when the answer's headers arrive (None when
    no answer came). `try_acquire` makes the same decision without waiting.

    The class attributes name the headers and the window of the Mailbox API's limit; another
    API's limiter (api/docs.py) names its own, and a header of the seconds left in the window
    when the API sends one."""

    remaining_header = "X-RateLimit-Remaining-Minute"
    limit_header = "X-RateLimit-Limit-Minute"
    reset_header = None             # seconds until the window ends, when the API says
    window_seconds = MAX_WINDOW_SECONDS
    window_name = "a minute"

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
        self._unmetered = False          # answers came without rate-limit headers so far
        self._answers = deque()          # (time, cost) of the counted answers of the last minute
        self._last_answer = -math.inf
        self._span = None                # window length: (shortest, likely longest, longest)
        self._trust_openers = True       # windows open with a request (not on the clock)
        self._opener = None              # (started, answered) of the request that opened it
        self._old_start = -math.inf      # latest start of a request answered from it
        self._refilled = False           # it has shown a refill
        self._sliding = False            # a refill came bit by bit: a sliding window
        self._last_end = None            # the previous window ended after this
        self._ends_by = None             # a 429 said when it ends
        self._hold_until = -math.inf
        self._low_since = None           # pacing since
        self._idle_since = None
        self._noticed = False            # the current long pause has had its line
        self.waits = 0                   # pacing episodes
        self.wait_seconds = 0.0          # time with nothing in flight because of the limits

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
            if delay != math.inf and delay >= PAUSE_NOTICE_SECONDS and not self._noticed:
                # Once per spell of pacing, whichever thread meets it first: how long until the
                # budget surely comes back.
                self._noticed = True
                until = max(delay, self._refill_by(likely=self._trust_openers) - now) if self._fresh else delay
                LOGGER.info("rate limit: pausing about %.0f s, until the account's budget comes back (%s "
                            "requests %s)", until, self.limit or "an unknown number of", self.window_name)
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
            return Ticket(now, cost, self._spent, self._in_flight == 1)

    def release(self, ticket, headers, refused=False):
        """`refused`: the server did not count the request (a 429)."""
        with self._cond:
            now = self._clock()
            self._in_flight -= 1
            remaining = None if headers is None else _number(headers, self.remaining_header)
            if remaining is not None:
                self.limit = _number(headers, self.limit_header) or self.limit
                self._last_answer = now
                while self._answers and self._answers[0][0] < now - self.window_seconds:
                    self._answers.popleft()
                if refused:                   # nothing left, and nothing to learn from
                    if self._fresh is None or ticket.spent_at > self._fresh[0]:
                        self._fresh = (ticket.spent_at, 0)
                else:
                    self._answers.append((now, ticket.cost))
                    self._observe(ticket, remaining, now)
                    reset = _number(headers, self.reset_header) if self.reset_header else None
                    if reset is not None and ticket.spent_at >= self._fresh[0]:
                        # The API says when it refills (never later than a window's length).
                        self._ends_by = now + min(max(0, reset), self.window_seconds)
            elif headers is not None and self._fresh is None:
                self._unmetered = True
            self._cond.notify_all()

    def hold(self, seconds):
        """A 429: nobody starts for `seconds`, after which the server's window has reset. The
        learned window length misled (or others share the account): learn it again."""
        with self._cond:
            self._hold_until = max(self._hold_until, self._clock() + seconds)
            self._ends_by, self._span, self._trust_openers = self._hold_until, None, False
            self._cond.notify_all()

    # -- deciding ---------------------------------------------------------------------------

    def _delay(self, now, cost):
        waits = [self._hold_until - now, self._bucket_next - now]
        if self._fresh is None:
            # Nothing known yet: one request at a time until an answer tells the budget (unless
            # answers come without one).
            waits.append(math.inf if self._in_flight and not self._unmetered else 0.0)
            return max(waits)
        spare = min(self._parallelism, max(1, (self.limit or 0) // 10))
        probes = PROBES if self._span else LEARNING_PROBES
        reserve = spare + min(probes, max(2, (self.limit or 0) // 4))
        left = self._fresh[1] - (self._spent - self._fresh[0]) - cost
        if left >= reserve:
            self._low_since, self._noticed = None, False      # no longer pacing
            return max(waits)
        if self._in_flight:
            return math.inf               # their answers may show the refill
        if self._low_since is None:
            self._start_pacing(now, left)
        if left >= spare:
            waits.append(self._next_paced(now, left - spare + 1, reserve - spare) - now)
        else:
            waits.append(max(self._refill_by(likely=self._trust_openers),
                             self._last_answer + FIRST_PAUSE) - now)
        return max(waits)

    def _start_pacing(self, now, left):
        self._low_since = now
        self.waits += 1

    def _next_paced(self, now, probes, reserve):
        """When the next paced request may start, with `probes` requests (this one included)
        to spend before the budget is surely back."""
        last, likely = self._last_answer, self._refill_by(likely=True)
        cap = self._refill_by(likely=self._trust_openers)     # trusted until a 429
        earliest = None
        if self._span is not None and self._opener is not None and self._ends_by is None:
            earliest = self._opener[0] + self._span[0]
        keep = reserve // 2               # for after the earliest end
        if earliest is not None and now < earliest:
            if probes <= keep:
                return earliest
            return last + (earliest - last) / (probes - keep)
        base = max(self._low_since, earliest or -math.inf)
        growth = max(MIN_GROWTH, (max(likely - base, FIRST_PAUSE) / FIRST_PAUSE) ** (1 / probes) - 1)
        return min(last + max(FIRST_PAUSE, (last - base) * growth), max(cap, last + FIRST_PAUSE))

    def _refill_by(self, likely=False):
        """When the budget surely (or likely) comes back: when the oldest request counted in
        the latest figure stops counting (in a fixed window, the window's first: all then)."""
        if self._ends_by is not None:
            return self._ends_by
        longest = self._span[1 if likely else 2] if self._span else self.window_seconds
        used, total = (self.limit or 0) - self._fresh[1], 0
        for moment, cost in reversed(self._answers):
            total += cost
            if total >= used:
                return moment + longest
        return self._last_answer + longest    # others spent the budget: all of ours ages first

    # -- learning ------------------------------------------------------------------------------

    def _observe(self, ticket, remaining, now):
        # Overtaking makes two answers of one window differ from the expected by up to twice
        # the requests in flight; not for a request sent alone (everything before it answered).
        if self._fresh is not None and ticket.spent_at <= self._fresh[0]:
            return                        # older news than what is known
        opens = self.limit is not None and remaining + ticket.cost >= self.limit
        if self._fresh is None:
            self._fresh = (ticket.spent_at, remaining)
            self._start_window(ticket, now, opens)
            return
        gain = remaining - (self._fresh[1] - (ticket.spent_at - self._fresh[0]))
        self._fresh = (ticket.spent_at, remaining)
        whole = self.limit is not None and remaining + ticket.cost + self._parallelism >= self.limit
        if whole and gain >= max(2 * self._parallelism, self.limit // 4):
            self._learn(now)              # a new window (or a sliding one refilled whole)
            self._start_window(ticket, now, opens)
        elif gain >= (1 if ticket.alone else 2 * self._parallelism):
            if not self._sliding:         # bounds learned as if windows were fixed do not hold
                self._sliding, self._span = True, None
            if not self._refilled:        # the first refill since the whole budget was seen
                self._learn(now)
                self._refilled = True
        else:
            if opens and self._opener is None:
                self._opener = (ticket.started, now)
            self._old_start = max(self._old_start, ticket.started)
            return
        self._low_since = None            # a refill: pace afresh from here

    def _start_window(self, ticket, now, opens):
        self._old_start, self._ends_by = ticket.started, None
        self._opener = (ticket.started, now) if opens else None
        self._refilled = False
        self._hold_until = -math.inf

    def _learn(self, now):
        """A window ended after `_old_start` and before `now`. It lasted at least from the
        answer of the request that showed its whole budget to `_old_start`. At most: from the
        previous end to `now` (fixed windows, whether they open on a request or on the clock),
        or (sliding windows) from that request's start. Likely at most: from that request's
        start, unless windows follow the clock (a contradiction tells)."""
        shortest, longest = 0.0, self.window_seconds
        if self._opener is not None:
            shortest = max(0.0, self._old_start - self._opener[1])
            if self._sliding:
                longest = min(longest, now - self._opener[0])
        if self._last_end is not None and not self._sliding:
            longest = min(longest, now - self._last_end)
        self._last_end = self._old_start
        likely = longest
        if self._opener is not None and self._trust_openers:
            likely = min(longest, now - self._opener[0])
        new = (shortest, likely, longest)
        if self._span is not None:
            merged = tuple(f(a, b) for f, a, b in zip((max, min, min), self._span, new))
            if merged[0] > merged[1] and self._trust_openers:
                self._trust_openers = False           # windows follow the clock
                merged = (merged[0], merged[2], merged[2])
            new = merged if merged[0] <= merged[1] <= merged[2] else new
        self._span = new if new[0] <= new[1] else None
