"""The emulator's rate limiter: a fixed or a sliding window of `window` seconds.

Help Scout's rate-limiting page (docs/sources.md) documents the headers
(`X-RateLimit-Limit-Minute`, `X-RateLimit-Remaining-Minute`, `X-RateLimit-Retry-After`) but not
the window type. The header names are those of the Kong gateway, whose rate-limiting plugins
offer both kinds (sliding by default in the advanced plugin), so the emulator offers both:

- "fixed": the window opens with the first request after the previous window ended, and its
  whole budget comes back when it ends. Deterministic, and today's behaviour.
- "sliding": a request is allowed when what was spent in the last `window` seconds, plus its
  own cost, stays within the limit. Budget comes back request by request, `window` seconds
  after each one was made, so a client that spends its budget in a burst gets it back in the
  same burst pattern, not all at once.

Writes cost 2 (the same page); the token endpoint is a POST and costs 2 as well (whether it is
rate limited at all is UNCONFIRMED: counting it is the stricter choice). A refused request costs
nothing.

`clock` (seconds, monotonic) is a public attribute so that a test can replace it with a fake
clock and step through a window without sleeping.
"""
import math
import threading
import time
from collections import deque

UNLIMITED = 1_000_000        # the limit advertised when rate limiting is off
WINDOWS = ("fixed", "sliding")


class RateLimiter:
    def __init__(self, limit, window, mode="fixed", clock=time.monotonic):
        if mode not in WINDOWS:
            raise ValueError(f"rate_window must be one of {WINDOWS}")
        self.limit, self.window, self.mode = limit, window, mode
        self.clock = clock
        self.lock = threading.Lock()
        self.window_start = None     # fixed: when the current window opened
        self.used = 0                # fixed: cost spent in the current window
        self.spent = deque()         # sliding: (time, cost) of the requests in the last window
        self.spent_total = 0         # sliding: sum of the costs in `spent`

    def take(self, cost):
        """Returns (allowed, limit, remaining, retry_after_seconds); retry_after is 0 when
        allowed, else whole seconds (rounded up, at least 1) until the request would fit."""
        with self.lock:
            now = self.clock()
            if self.mode == "sliding":
                return self._take_sliding(cost, now)
            return self._take_fixed(cost, now)

    def _take_fixed(self, cost, now):
        if self.window_start is None or now - self.window_start >= self.window:
            self.window_start, self.used = now, 0
        limit = self.limit if self.limit is not None else UNLIMITED
        if self.limit is not None and self.used + cost > self.limit:
            return False, limit, 0, max(1, math.ceil(self.window_start + self.window - now))
        self.used += cost
        return True, limit, max(0, limit - self.used), 0

    def _take_sliding(self, cost, now):
        spent = self.spent
        while spent and now - spent[0][0] >= self.window:
            self.spent_total -= spent.popleft()[1]
        if self.limit is None:
            return True, UNLIMITED, UNLIMITED, 0      # nothing to remember without a limit
        if self.spent_total + cost > self.limit:
            return False, self.limit, max(0, self.limit - self.spent_total), self._wait(cost, now)
        spent.append((now, cost))
        self.spent_total += cost
        return True, self.limit, max(0, self.limit - self.spent_total), 0

    def _wait(self, cost, now):
        """Seconds until enough of the oldest counted requests have left the window for a
        request of `cost` to fit (for a GET on a full window: until the oldest one leaves)."""
        to_free = self.spent_total + cost - self.limit
        freed = 0
        for moment, spent_cost in self.spent:
            freed += spent_cost
            if freed >= to_free:
                return max(1, math.ceil(moment + self.window - now))
        return max(1, math.ceil(self.window))          # a cost above the whole limit never fits
