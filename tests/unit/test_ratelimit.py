"""The rate limiter, on a fake clock with fake answers: no sockets, no sleeps.

The simulated runs (tests/support/ratelimit_sim.py) put four workers against a server with a fixed or a
sliding window and count the 429s; their durations are simulated time, not wall time."""
import logging
import math

import pytest

from tap_helpscout.api.ratelimit import RateLimiter, Ticket
from tests.support.ratelimit_sim import ClockWindow, FixedWindow, SlidingWindow, floor_seconds, simulate
from tests.support.fake_clock import FakeClock


@pytest.fixture(autouse=True)
def quiet():
    logging.disable(logging.INFO)
    yield
    logging.disable(logging.NOTSET)


def limits(limit, remaining):
    return {"X-RateLimit-Limit-Minute": str(limit), "X-RateLimit-Remaining-Minute": str(remaining)}


def test_one_request_at_a_time_until_an_answer_tells_the_budget():
    limiter = RateLimiter(4, clock=FakeClock())
    first = limiter.try_acquire()
    assert isinstance(first, Ticket)
    assert limiter.try_acquire() == math.inf
    limiter.release(first, limits(400, 399))
    assert all(isinstance(limiter.try_acquire(), Ticket) for _ in range(4))


def test_answers_without_rate_limit_headers_are_not_paced():
    limiter = RateLimiter(4, clock=FakeClock())
    limiter.release(limiter.try_acquire(), {"Content-Type": "application/json"})
    assert all(isinstance(limiter.try_acquire(), Ticket) for _ in range(8))


def test_bursts_above_the_reserve_then_sends_one_at_a_time():
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock)
    limiter.release(limiter.try_acquire(), limits(400, 100))
    tickets = [limiter.try_acquire() for _ in range(50)]
    assert all(isinstance(t, Ticket) for t in tickets)            # 100 left: a burst
    for ticket in tickets:
        limiter.release(ticket, limits(400, 50))
    burst = []
    while isinstance(ticket := limiter.try_acquire(), Ticket):
        burst.append(ticket)
    assert 0 < len(burst) < 50, "stops at a reserve"
    for ticket in burst:
        limiter.release(ticket, limits(400, 50 - len(burst)))
    clock.now += 0.01
    paced = limiter.try_acquire()
    while not isinstance(paced, Ticket):
        assert 0 < paced < math.inf
        clock.now += paced
        paced = limiter.try_acquire()
    assert limiter.try_acquire() == math.inf, "one at a time while pacing"
    limiter.release(paced, limits(400, 399))                     # the window reset
    assert isinstance(limiter.try_acquire(), Ticket) and isinstance(limiter.try_acquire(), Ticket)


def test_a_429_holds_every_request_for_the_servers_wait():
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock)
    limiter.release(limiter.try_acquire(), limits(400, 300))
    limiter.hold(1.5)
    assert limiter.try_acquire() == pytest.approx(1.5)
    clock.now += 1.5
    assert isinstance(limiter.try_acquire(), Ticket)


def test_max_requests_per_minute_spaces_starts_evenly():
    clock = FakeClock()
    limiter = RateLimiter(4, max_requests_per_minute=600, clock=clock)
    starts = []
    while len(starts) < 6:
        ticket = limiter.try_acquire()
        if isinstance(ticket, Ticket):
            starts.append(clock.now)
            limiter.release(ticket, None)
        else:
            clock.now += ticket
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:])]
    assert gaps == pytest.approx([0.1] * 5)


def test_a_post_costs_two():
    limiter = RateLimiter(1, max_requests_per_minute=60, clock=FakeClock())
    limiter.release(limiter.try_acquire(cost=2), None)
    assert limiter.try_acquire() == pytest.approx(2.0)


@pytest.mark.parametrize("window", [FixedWindow, SlidingWindow])
def test_the_bench_backfill_meets_no_429_and_comes_close_to_the_floor(window):
    # make bench: 400 requests per 3 s window, 15 ms latency, 576 requests, 4 in flight.
    server = window(400, 3.0)
    run = simulate(server, 576, workers=4, latency=0.015, overhead=0.012)
    assert run.throttled == 0
    # Simulated time: the tap's own speed here is about the floor (as in the bench).
    assert run.seconds <= 1.1 * floor_seconds(server, 576)


@pytest.mark.parametrize("window", [FixedWindow, SlidingWindow])
@pytest.mark.parametrize("limit, seconds, requests, latency", [
    (400, 3.0, 5000, 0.015),        # many short windows
    (400, 60.0, 2500, 0.1),         # Help Scout's minute
    (200, 60.0, 1200, 0.3),         # the Standard plan, a slow API
    (30, 3.0, 300, 0.01),           # a tiny budget: few requests to probe with
])
def test_long_runs_meet_no_429(window, limit, seconds, requests, latency):
    server = window(limit, seconds)
    run = simulate(server, requests, workers=4, latency=latency)
    assert run.throttled == 0
    assert run.seconds <= 2.0 * floor_seconds(server, requests)


@pytest.mark.parametrize("window", [FixedWindow, SlidingWindow])
def test_many_short_windows_come_close_to_the_floor_once_learned(window):
    server = window(400, 3.0)
    run = simulate(server, 5000, workers=4, latency=0.015, overhead=0.005)
    assert run.seconds <= 1.1 * floor_seconds(server, 5000)


@pytest.mark.parametrize("window", [FixedWindow, SlidingWindow])
@pytest.mark.parametrize("seed", range(6))
def test_requests_that_overtake_each_other_meet_no_429(window, seed):
    server = window(40, 3.0)
    run = simulate(server, 400, workers=4, latency=0.02, overhead=0.002, jitter=seed)
    assert run.throttled == 0


def test_windows_that_follow_the_clock_cost_at_most_one_429_to_learn():
    server = ClockWindow(400, 60.0)
    run = simulate(server, 3000, workers=4, latency=0.1, overhead=0.01)
    assert run.throttled <= 1


def test_a_429_as_the_very_first_answer_is_waited_out():
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock)
    limiter.release(limiter.try_acquire(), limits(400, 0), refused=True)
    limiter.hold(1.0)
    assert limiter.try_acquire() == pytest.approx(1.0)
    clock.now += 1.0
    ticket = limiter.try_acquire()
    limiter.release(ticket, limits(400, 399))
    assert isinstance(limiter.try_acquire(), Ticket)


def test_answers_with_headers_after_an_answer_without_them_are_paced():
    limiter = RateLimiter(4, clock=FakeClock())
    limiter.release(limiter.try_acquire(), {})                   # e.g. a token endpoint
    limiter.release(limiter.try_acquire(), limits(40, 5))
    delay = limiter.try_acquire()
    assert 0 < delay < math.inf, "paced: the budget is nearly spent"


# -- the scenarios of the integration checks, in simulated time ------------------------------------
# tests/integration runs each of them once, at a scaled time, against the emulator or a stub; here
# they run in full on the fake clock.

@pytest.mark.parametrize("window", [FixedWindow, SlidingWindow])
@pytest.mark.parametrize("limit", [30, 40])
def test_a_paced_sync_spanning_windows_meets_no_429(window, limit):
    # A sync of the executable under a rate limit (tests/integration/test_sync.py and
    # test_client_emulator.py): about 55 requests, 30 or 40 a window.
    server = window(limit, 3.0)
    run = simulate(server, 55, workers=4, latency=0.01, overhead=0.003)
    assert run.throttled == 0
    assert run.limiter.waits > 0, "it paced"
    assert run.seconds >= floor_seconds(server, 55) - server.window, "no faster than the budget allows"


@pytest.mark.parametrize("window", [FixedWindow, SlidingWindow])
def test_a_burst_of_the_client_is_paced_without_a_429(window, caplog):
    # The client's own workers (tests/integration/test_client_emulator.py): 300 requests, 60 a
    # second. Its pauses are short: nothing to tell.
    logging.disable(logging.NOTSET)
    with caplog.at_level(logging.INFO):
        run = simulate(window(60, 1.0), 300, workers=4, latency=0.004, overhead=0.001)
    assert run.throttled == 0 and run.limiter.waits > 0
    assert not [r for r in caplog.records if r.getMessage().startswith("rate limit: pausing")]


@pytest.mark.parametrize("window", [FixedWindow, SlidingWindow])
def test_a_pause_of_more_than_ten_seconds_is_told_once_with_its_length(window, caplog):
    # Help Scout's real minute: 200 requests, 400 to make; the second half waits for the window.
    logging.disable(logging.NOTSET)
    with caplog.at_level(logging.INFO):
        run = simulate(window(200, 60.0), 400, workers=4)
    assert run.throttled == 0
    told = [r.getMessage() for r in caplog.records if r.getMessage().startswith("rate limit: pausing")]
    assert told, "a long pause is told"
    assert all(10 <= float(line.split("about ")[1].split(" s")[0]) <= 60 for line in told), told
    assert len(told) <= 3, "once per pause, not once per request"


def test_windows_on_a_grid_from_the_first_request_meet_no_429():
    # The stub API of tests/integration/test_client.py: a window opens with the first request,
    # the next ones follow on its grid (40 requests per 0.5 s); 240 requests.
    server = ClockWindow(40, 0.5)          # the simulated run starts on a multiple of 0.5 s
    run = simulate(server, 240, workers=4, latency=0.004, overhead=0.001)
    assert run.throttled == 0 and run.limiter.waits > 0
    assert run.limiter.limit == 40


def test_max_requests_per_minute_spaces_a_token_request_and_the_gets_after_it():
    # tests/integration/test_client_emulator.py: at 300 a minute, the token request (a POST,
    # costing two) and six GETs by four workers start 7 * 0.2 s apart from first to last.
    clock = FakeClock()
    limiter = RateLimiter(4, max_requests_per_minute=300, clock=clock)
    starts, costs = [], [2] + [1] * 6
    while costs:
        ticket = limiter.try_acquire(costs[0])
        if isinstance(ticket, Ticket):
            starts.append(clock.now)
            costs.pop(0)
            limiter.release(ticket, None)
        else:
            clock.now += ticket
    assert starts[-1] - starts[0] == pytest.approx(7 * 0.2)
    assert all(later > earlier for earlier, later in zip(starts, starts[1:]))
