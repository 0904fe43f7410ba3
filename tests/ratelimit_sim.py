"""A discrete-event simulation of the tap's workers against a rate-limited server, on a fake
clock: no sockets, no sleeps. Used by tests/test_ratelimit.py."""
import heapq
import math
from collections import deque

from tap_helpscout.ratelimit import RateLimiter, Ticket


class FixedWindow:
    """Opens with the first request after the previous window ended (the emulator's kind)."""

    def __init__(self, limit, window):
        self.limit, self.window, self.start, self.used = limit, window, None, 0

    def take(self, now, cost):
        if self.start is None or now - self.start >= self.window:
            self.start, self.used = now, 0
        if self.used + cost > self.limit:
            return False, 0, max(1, math.ceil(self.start + self.window - now))
        self.used += cost
        return True, self.limit - self.used, None


class ClockWindow(FixedWindow):
    """Fixed windows aligned to the clock (Kong's fixed windows)."""

    def take(self, now, cost):
        slot = math.floor(now / self.window) * self.window
        if self.start != slot:
            self.start, self.used = slot, 0
        if self.used + cost > self.limit:
            return False, 0, max(1, math.ceil(self.start + self.window - now))
        self.used += cost
        return True, self.limit - self.used, None


class SlidingLog:
    """Counts the requests of the last `window` seconds."""

    def __init__(self, limit, window):
        self.limit, self.window, self.log = limit, window, deque()

    def take(self, now, cost):
        while self.log and self.log[0][0] <= now - self.window:
            self.log.popleft()
        used = sum(c for _, c in self.log)
        if used + cost > self.limit:
            return False, 0, max(1, math.ceil(self.log[0][0] + self.window - now))
        self.log.append((now, cost))
        return True, self.limit - used - cost, None


class WeightedSliding:
    """Kong's sliding window: the previous fixed window's count, weighted by how much of it
    still overlaps the last `window` seconds, plus the current one's."""

    def __init__(self, limit, window):
        self.limit, self.window, self.counts = limit, window, {}

    def take(self, now, cost):
        slot = math.floor(now / self.window)
        weight = 1 - (now / self.window - slot)
        used = self.counts.get(slot - 1, 0) * weight + self.counts.get(slot, 0)
        if used + cost > self.limit:
            return False, 0, max(1, math.ceil((slot + 1) * self.window - now))
        self.counts[slot] = self.counts.get(slot, 0) + cost
        return True, int(self.limit - used - cost), None


def simulate(server, requests, workers=4, latency=0.015, overhead=0.005, parallelism=None,
             token_cost=2, cap=None, limit_header=None, start=1000.0):
    """Run `requests` GETs (after one token POST) through `workers` threads sharing one
    RateLimiter; returns (seconds from first to last answer, 429s, limiter)."""
    clock = [start]
    limiter = RateLimiter(parallelism or workers, cap, clock=lambda: clock[0])
    events, order = [], [0]
    waiting = []
    todo = [requests]
    throttled = [0]
    last_answer = [start]

    def at(time, action):
        order[0] += 1
        heapq.heappush(events, (time, order[0], action))

    def attempt(worker, cost):
        def run():
            ticket = limiter.try_acquire(cost)
            if not isinstance(ticket, Ticket):
                if ticket == math.inf:
                    waiting.append(run)
                else:
                    at(clock[0] + ticket + 1e-9, run)
                return
            at(clock[0] + latency / 2, lambda: arrive(worker, ticket, cost))
        return run

    def arrive(worker, ticket, cost):
        allowed, remaining, retry = server.take(clock[0], cost)
        headers = {"X-RateLimit-Limit-Minute": str(limit_header or server.limit),
                   "X-RateLimit-Remaining-Minute": str(remaining)}
        at(clock[0] + latency / 2, lambda: answer(worker, ticket, cost, allowed, headers, retry))

    def answer(worker, ticket, cost, allowed, headers, retry):
        limiter.release(ticket, headers, refused=not allowed)
        last_answer[0] = clock[0]
        wake, waiting[:] = list(waiting), []
        for run in wake:
            at(clock[0], run)
        if not allowed:
            throttled[0] += 1
            limiter.hold(retry)
            at(clock[0] + retry, attempt(worker, cost))
            return
        next_request(worker)

    def next_request(worker):
        if todo[0] > 0:
            todo[0] -= 1
            at(clock[0] + overhead, attempt(worker, 1))

    first = attempt(0, token_cost)

    def after_token():
        for worker in range(workers):
            next_request(worker)
    # The token request goes alone, then every worker starts.
    original_answer = answer

    def token_answer(worker, ticket, cost, allowed, headers, retry):
        limiter.release(ticket, headers)
        after_token()
    at(start, lambda: _token(limiter, server, clock, at, latency, token_answer, token_cost))
    while events:
        time, _, action = heapq.heappop(events)
        clock[0] = time
        action()
        if clock[0] - start > 3600:
            raise AssertionError("the simulation ran for an hour")
    return last_answer[0] - start, throttled[0], limiter


def _token(limiter, server, clock, at, latency, done, cost):
    ticket = limiter.try_acquire(cost)
    assert isinstance(ticket, Ticket)

    def arrive():
        allowed, remaining, retry = server.take(clock[0], cost)
        headers = {"X-RateLimit-Limit-Minute": str(server.limit),
                   "X-RateLimit-Remaining-Minute": str(remaining)}
        at(clock[0] + latency / 2, lambda: done(0, ticket, cost, allowed, headers, retry))
    at(clock[0] + latency / 2, arrive)
