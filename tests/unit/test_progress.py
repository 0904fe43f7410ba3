"""Progress and summary lines (issue 13, item 8), with a fake clock: a line per stream about every
30 s while a listing runs, never more often, with rows, pages, requests, rate-limit waits and an
ETA; and one summary line at the end of the run."""
import logging
from collections import Counter
from types import SimpleNamespace

import pytest

from tap_helpscout.sync.progress import PROGRESS_SECONDS, Progress


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def lines(caplog):
    caplog.set_level(logging.INFO, logger="tap_helpscout")
    return lambda: [r.getMessage() for r in caplog.records if r.name.startswith("tap_helpscout")]


def make_progress():
    clock = Clock()
    client = SimpleNamespace(stats=SimpleNamespace(requests=0, rate_waits=0, throttled=0, retries=0))
    return Progress(client, clock=clock), clock, client


def test_a_progress_line_comes_about_every_30_s_and_never_more_often(lines):
    progress, clock, client = make_progress()
    stream = SimpleNamespace(name="conversations")
    family = SimpleNamespace(counts=Counter())
    client.stats.requests = 5                    # before this family
    progress.start(family)
    progress.total(stream, 1000)
    logged_at = []
    for second in range(0, 125):                 # a page a second
        clock.now = 1000.0 + second
        progress.page_requested(stream)
        client.stats.requests += 1
        family.counts["conversations"] += 8
        before = len(lines())
        progress.maybe_log(stream)
        if len(lines()) > before:
            logged_at.append(second)
    assert logged_at == [30, 60, 90, 120]
    assert PROGRESS_SECONDS == 30.0
    first = lines()[0]
    # 31 pages of 8 rows by second 30; 31 requests of this family; 248 of about 1000 rows.
    assert first.startswith("conversations: 248 rows of about 1000 so far, 31 pages, 31 requests, 0 rate-limit waits, 30 s elapsed")
    assert "left" in first                        # the ETA from the total and the rate so far


def test_no_progress_line_for_a_family_that_ends_within_30_s(lines):
    progress, clock, _ = make_progress()
    stream = SimpleNamespace(name="users")
    progress.start(SimpleNamespace(counts=Counter(users=3)))
    for second in (1, 10, 29):
        clock.now = 1000.0 + second
        progress.maybe_log(stream)
    assert lines() == []


def test_the_summary_line_has_rows_per_stream_requests_429s_retries_and_what_failed(lines):
    progress, _, client = make_progress()
    client.stats.requests, client.stats.throttled, client.stats.retries = 120, 2, 3
    progress.summary(Counter({"users": 8, "conversations": 60, "skipped conversations": 1}), 75.0,
                     ["happiness_ratings_report"], [(["customers"], "boom")])
    [summary] = lines()
    assert summary.startswith("Sync finished in 1 min 15 s: conversations 60, users 8; ")
    for part in ("120 requests", "2 x 429", "3 retries", "1 skipped without their key",
                 "skipped: happiness_ratings_report", "failed: customers"):
        assert part in summary, summary
