"""The emulator's rate-limit windows, fixed and sliding, stepped with a fake clock (no sleeping,
no timing assertions): unit tests of RateLimiter, then the same rules over HTTP."""
import pytest
import requests

from tests.emulator.ratelimit import UNLIMITED, RateLimiter
from tests.support.fake_clock import FakeClock

pytestmark = pytest.mark.timeout(60)


def limiter(limit, mode, window=60.0):
    clock = FakeClock()
    return RateLimiter(limit, window, mode, clock=clock), clock


# ------------------------------------------------------------------------------------ fixed

def test_fixed_window_gives_the_whole_budget_back_when_it_ends():
    rate, clock = limiter(3, "fixed")
    assert [rate.take(1)[2] for _ in range(3)] == [2, 1, 0]
    clock.advance(59.2)
    assert rate.take(1) == (False, 3, 0, 1), "0.8 s left, rounded up"
    clock.advance(0.8)
    assert [rate.take(1)[:3] for _ in range(3)] == [(True, 3, 2), (True, 3, 1), (True, 3, 0)]


def test_fixed_window_opens_with_the_first_request_after_the_previous_one_ended():
    rate, clock = limiter(2, "fixed")
    rate.take(1)
    clock.advance(100)                       # idle for longer than a window
    rate.take(1)
    clock.advance(30)
    rate.take(1)
    allowed, _, _, retry_after = rate.take(1)
    assert not allowed and retry_after == 30, "the window opened 30 s ago, at the request after the idle time"


# ------------------------------------------------------------------------------------ sliding

def test_sliding_window_counts_what_was_spent_in_the_last_window():
    rate, clock = limiter(3, "sliding")
    assert rate.take(1) == (True, 3, 2, 0)            # t = 0
    clock.advance(20)
    assert rate.take(1) == (True, 3, 1, 0)            # t = 20
    clock.advance(20)
    assert rate.take(1) == (True, 3, 0, 0)            # t = 40
    clock.advance(10.5)                               # t = 50.5: the first request leaves at t = 60
    assert rate.take(1) == (False, 3, 0, 10), "9.5 s until the oldest one leaves, rounded up"
    clock.advance(9.5)                                # t = 60: one unit back, not the whole budget
    assert rate.take(1) == (True, 3, 0, 0)
    allowed, _, remaining, retry_after = rate.take(1)
    assert (allowed, remaining, retry_after) == (False, 0, 20), "the next one leaves at t = 80"
    clock.advance(20)                                 # t = 80: the t = 20 request left
    assert rate.take(1)[:3] == (True, 3, 0)


def test_sliding_window_differs_from_fixed_after_a_burst():
    fixed, fixed_clock = limiter(4, "fixed")
    sliding, sliding_clock = limiter(4, "sliding")
    for rate, clock in ((fixed, fixed_clock), (sliding, sliding_clock)):
        rate.take(1)
        clock.advance(50)
        for _ in range(3):
            rate.take(1)
        clock.advance(15)                             # t = 65
    # fixed: the window of t = 0 ended at 60, the whole budget is back
    assert [fixed.take(1)[0] for _ in range(5)] == [True, True, True, True, False]
    # sliding: only the t = 0 request left; the three of t = 50 still count until t = 110
    assert [sliding.take(1)[0] for _ in range(2)] == [True, False]
    assert sliding.take(1)[3] == 45


def test_sliding_window_retry_after_is_at_least_one_second_and_refusals_cost_nothing():
    rate, clock = limiter(2, "sliding", window=1.0)
    rate.take(1)
    rate.take(1)
    for _ in range(5):
        assert rate.take(1) == (False, 2, 0, 1)
    clock.advance(1.0)
    assert rate.take(1) == (True, 2, 1, 0), "refused requests were not counted"


def test_sliding_window_a_write_needs_room_for_its_cost_of_two():
    rate, clock = limiter(3, "sliding")
    rate.take(1)                                      # t = 0
    clock.advance(10)
    rate.take(1)                                      # t = 10
    allowed, _, remaining, retry_after = rate.take(2)
    assert (allowed, remaining, retry_after) == (False, 1, 50), "one unit must leave first (t = 60)"
    assert rate.take(1) == (True, 3, 0, 0)
    allowed, _, _, retry_after = rate.take(2)
    assert not allowed and retry_after == 60, "two units must leave: the t = 10 one at t = 70"


def test_without_a_limit_both_windows_never_refuse():
    for mode in ("fixed", "sliding"):
        rate, _ = limiter(None, mode)
        answers = [rate.take(2) for _ in range(1000)]
        assert all(a[0] and a[1] == UNLIMITED for a in answers)


def test_unknown_window_kind_is_refused():
    with pytest.raises(ValueError):
        RateLimiter(10, 60, "leaky")


# ------------------------------------------------------------------------------------ over HTTP

def test_sliding_window_over_http(make_emulator):
    emu = make_emulator(conversations=10, customers=10, rate_limit=3, rate_window="sliding", time_scale=1 / 60)
    clock = emu.rate_limiter.clock = FakeClock()
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + emu.issue_access_token()
    url = emu.base_url + "/users"

    def get():
        response = session.get(url, timeout=10)
        return response.status_code, response.headers["X-RateLimit-Remaining-Minute"]

    assert get() == (200, "2")
    clock.advance(0.5)
    assert [get(), get()] == [(200, "1"), (200, "0")]
    clock.advance(0.25)
    throttled = session.get(url, timeout=10)
    assert throttled.status_code == 429 and throttled.json() == {"message": "API rate limit exceeded"}
    assert throttled.headers["X-RateLimit-Retry-After"] == throttled.headers["Retry-After"] == "1"
    assert throttled.headers["X-RateLimit-Limit-Minute"] == "3"
    clock.advance(0.25)                      # the first request (t = 0) left the 1 s window
    assert get() == (200, "0")
    assert session.get(url, timeout=10).status_code == 429, "the two of t = 0.5 still count"
    clock.advance(0.5)                       # now only the request of t = 1.0 counts
    assert get() == (200, "1")
    assert emu.throttled == 2


def test_fixed_window_stays_the_default(make_emulator):
    emu = make_emulator(conversations=10, customers=10, rate_limit=2)
    assert emu.rate_limiter.mode == "fixed"
