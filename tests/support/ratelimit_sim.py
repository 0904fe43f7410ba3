"""A discrete-event simulation of the tap's workers sharing one RateLimiter against a
rate-limited server, on a fake clock: no sockets, no sleeps, deterministic."""
import heapq
import math
import random
from collections import deque

from tap_helpscout.api.ratelimit import RateLimiter, Ticket


class FixedWindow:
    """Opens with the first request after the previous window ended (the emulator's)."""

    def __init__(self, limit, window):
        self.limit, self.window, self.start, self.used = limit, window, None, 0

    def slot(self, now):
        if self.start is None or now - self.start >= self.window:
            self.start, self.used = now, 0

    def take(self, now, cost):
        self.slot(now)
        if self.used + cost > self.limit:
            return False, 0, max(1, math.ceil(self.start + self.window - now))
        self.used += cost
        return True, self.limit - self.used, None


class ClockWindow(FixedWindow):
    """Fixed windows that follow the clock."""

    def slot(self, now):
        start = math.floor(now / self.window) * self.window
        if start != self.start:
            self.start, self.used = start, 0


class SlidingWindow:
    """Counts what was spent in the last `window` seconds (the emulator's sliding window)."""

    def __init__(self, limit, window):
        self.limit, self.window, self.log = limit, window, deque()

    def take(self, now, cost):
        while self.log and now - self.log[0][0] >= self.window:
            self.log.popleft()
        used = sum(c for _, c in self.log)
        if used + cost > self.limit:
            return False, 0, max(1, math.ceil(self.log[0][0] + self.window - now))
        self.log.append((now, cost))
        return True, self.limit - used - cost, None


class Run:
    def __init__(self, seconds, throttled, limiter):
        self.seconds, self.throttled, self.limiter = seconds, throttled, limiter


def minute_headers(server, remaining, now):
    return {"X-RateLimit-Limit-Minute": str(server.limit), "X-RateLimit-Remaining-Minute": str(remaining)}


def simulate(server, requests, workers=4, latency=0.015, overhead=0.005, cap=None, start=1000.0,
             jitter=None, limiter_class=RateLimiter, headers=minute_headers):
    """One token request (a POST, cost 2), then `requests` GETs by `workers` workers, each
    sending its next request `overhead` after an answer (`headers(server, remaining, now)`: the
    rate-limit headers of an answer, for a limiter of `limiter_class`). A 429 holds the limiter and is
    retried after the server's wait, as the client does. `jitter` (a seed): each leg of a
    request takes 0 to 2 times half the latency, so that requests overtake each other."""
    rng = random.Random(jitter)
    leg = (lambda: rng.uniform(0, latency)) if jitter is not None else (lambda: latency / 2)
    clock = [start]
    limiter = limiter_class(workers, cap, clock=lambda: clock[0])
    events, counter, waiting = [], [0], []
    state = {"todo": requests, "throttled": 0, "last": start}

    def at(moment, action):
        counter[0] += 1
        heapq.heappush(events, (moment, counter[0], action))

    def send(cost, then):
        def attempt():
            ticket = limiter.try_acquire(cost)
            if not isinstance(ticket, Ticket):
                if ticket == math.inf:
                    waiting.append(attempt)
                else:
                    at(clock[0] + ticket + 1e-9, attempt)
                return
            at(clock[0] + leg(), lambda: arrive(ticket, cost, then))
        attempt()

    def arrive(ticket, cost, then):
        allowed, remaining, retry = server.take(clock[0], cost)
        answered = headers(server, remaining, clock[0])
        at(clock[0] + leg(), lambda: answer(ticket, cost, then, allowed, answered, retry))

    def answer(ticket, cost, then, allowed, headers, retry):
        limiter.release(ticket, headers, refused=not allowed)
        state["last"] = clock[0]
        woken, waiting[:] = list(waiting), []
        for attempt in woken:
            at(clock[0], attempt)
        if allowed:
            then()
            return
        state["throttled"] += 1
        limiter.hold(retry)
        at(clock[0] + retry, lambda: send(cost, then))

    def next_request():
        if state["todo"] > 0:
            state["todo"] -= 1
            at(clock[0] + overhead, lambda: send(1, next_request))

    at(start, lambda: send(2, lambda: [next_request() for _ in range(workers)]))
    while events:
        moment, _, action = heapq.heappop(events)
        clock[0] = moment
        action()
        assert moment - start < 7200, "the simulated run took two hours"
    return Run(state["last"] - start, state["throttled"], limiter)


def floor_seconds(server, requests):
    """The rate-limit floor: the whole budget spent evenly (the token request costs 2)."""
    return (requests + 2) / server.limit * server.window
