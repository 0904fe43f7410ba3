"""Progress and summary lines, with a fake clock: while a family runs, a line every
`progress_seconds` (from a timer, so that they go on during pauses) with the rows so far, the
share of the listing's total and the time left at the rate limit; never more often; none for a
family that ends sooner; and one summary line at the end of the run."""
import logging
from collections import Counter
from types import SimpleNamespace

import pytest

from tap_helpscout.sync.progress import Progress, client_stats, progress_line, summary_line
from tests.support.fake_clock import FakeClock


@pytest.fixture
def lines(caplog):
    caplog.set_level(logging.INFO, logger="tap_helpscout")
    return lambda: [r.getMessage() for r in caplog.records if r.name.startswith("tap_helpscout")]


def family(root, **counts):
    return SimpleNamespace(root=SimpleNamespace(name=root), counts=Counter(counts))


def test_a_progress_line_comes_every_interval_and_never_more_often(lines):
    clock = FakeClock()
    client = SimpleNamespace(request_count=5)               # 5 requests before this family
    progress = Progress(30.0, rate_per_minute=lambda: 400, clock=clock)
    conversations = family("conversations")
    progress.start(conversations, client)
    progress.total(SimpleNamespace(name="conversations"), 3000)
    logged_at = []
    for second in range(0, 125):                            # a page of 25 a second, 3 thread listings
        clock.now = 1000.0 + second
        client.request_count += 4
        conversations.counts["conversations"] += 25
        conversations.counts["conversation_threads"] += 90
        before = len(lines())
        progress.tick()                                     # the timer's call, every few seconds at most
        if len(lines()) > before:
            logged_at.append(second)
    assert logged_at == [30, 60, 90, 120]
    first = lines()[0]
    assert first.startswith("conversations: 775 of about 3,000 rows (about 26%), conversation_threads 2,790; "
                            "124 requests in 30 s"), first
    # 124 requests for 775 rows: about 356 to go for the other 2,225, at 400 a minute.
    assert first.endswith("about 356 to go: about 53 s left at 400 requests a minute"), first


def test_no_progress_line_for_a_family_that_ends_sooner(lines):
    clock = FakeClock()
    progress = Progress(30.0, clock=clock)
    progress.start(family("users", users=3), SimpleNamespace(request_count=0))
    for second in (1, 10, 29):
        clock.now = 1000.0 + second
        progress.tick()
    progress.finish()
    clock.now = 1100.0
    progress.tick()
    assert lines() == []


@pytest.mark.parametrize("counts, totals, rate, expected", [
    ({"customers": 0}, {}, None, "customers: 0 rows; 1 request in 30 s"),
    ({"customers": 50}, {}, 400, "customers: 50 rows; 1 request in 30 s"),
    ({"customers": 100}, {"customers": 400}, None,
     "customers: 100 of about 400 rows (about 25%); 2 requests in 30 s, about 6 to go: about 1 min 30 s left at the pace so far"),
])
def test_the_line_says_what_is_known(counts, totals, rate, expected):
    assert progress_line(next(iter(counts)), counts, totals, 1 if len(counts) == 1 and not totals else 2,
                         30.0, rate) == expected


def test_the_summary_line_has_rows_per_stream_requests_429s_retries_and_what_failed():
    clients = [SimpleNamespace(stats=SimpleNamespace(requests=100, throttled=2, retries=3, rate_waits=4)),
               SimpleNamespace(stats=SimpleNamespace(requests=20, throttled=0, retries=0, rate_waits=0))]
    summary = summary_line(Counter({"users": 8, "conversations": 60, "skipped conversations": 1, "nulled users": 2}),
                           75.0, client_stats(clients), ["happiness_ratings_report"], [(["customers"], "boom")])
    assert summary.startswith("Sync finished in 1 min 15 s: conversations 60, users 8; ")
    for part in ("120 requests", "2 x 429", "3 retries", "4 rate-limit waits", "1 skipped without their key",
                 "2 values made null", "skipped: happiness_ratings_report", "failed: customers"):
        assert part in summary, summary
