"""The pure parts of the Docs API streams: its list answers proved (api/pages.py `docs_page`),
which articles a run reads in full and where its bookmark goes (sync/readers/docs.py `Mark`),
its rate limiter on a simulated 10-minute window, and its secrets hidden. No sockets, no sleeps."""
import base64
import logging
import math
from datetime import datetime, timedelta, timezone

import pytest

from tap_helpscout.api.docs import DocsClient, DocsRateLimiter
from tap_helpscout.api.pages import PageError, docs_page
from tap_helpscout.api.ratelimit import Ticket
from tap_helpscout.config import validate_config
from tap_helpscout.errors import ConfigError
from tap_helpscout.redact import Redactor
from tap_helpscout.sync.readers.docs import Mark, changed_at
from tests.support.ratelimit_sim import FixedWindow, simulate

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def quiet():
    logging.disable(logging.INFO)
    yield
    logging.disable(logging.NOTSET)


def envelope(items, page=1, pages=1, count=None, key="articles"):
    return {key: {"page": page, "pages": pages, "count": len(items) if count is None else count, "items": items}}


# -- the list answers --------------------------------------------------------------------------

def test_a_docs_list_page_reads_its_items_and_totals():
    page = docs_page(envelope([{"id": "a"}, {"id": "b"}], page=2, pages=3, count=250), "articles", 2)
    assert (page.items, page.total, page.pages, page.number) == ([{"id": "a"}, {"id": "b"}], 250, 3, 2)
    assert not page.short          # the page size is not trusted: the rows are proved by count


def test_the_sites_list_may_come_wrapped_or_bare():
    wrapped = envelope([{"id": "s"}], key="sites")
    assert docs_page(wrapped, "sites", 1).items == [{"id": "s"}]
    assert docs_page(wrapped["sites"], "sites", 1).items == [{"id": "s"}]


def test_an_empty_list_has_no_pages():
    page = docs_page(envelope([], pages=0, count=0, key="collections"), "collections", 1)
    assert (page.items, page.total, page.pages) == ([], 0, 0)


@pytest.mark.parametrize("body", [
    [], {"articles": []}, {"articles": {"items": []}}, {"articles": {"page": 1, "pages": 1, "items": []}},
    envelope([], page=2), envelope([{"id": "a"}], pages=0, count=1), envelope([{"id": "a"}], pages=5, count=3),
    envelope([{"id": "a"}, {"id": "b"}], count=1), envelope([], count="many"), {"articles": {**envelope([])["articles"],
                                                                                           "items": {"id": "a"}}},
], ids=["a list", "no block", "no totals", "no count", "another page", "rows without pages",
        "more pages than rows", "more rows than count", "count not a number", "items not a list"])
def test_a_docs_list_answer_that_contradicts_itself_is_not_trusted(body):
    with pytest.raises(PageError):
        docs_page(body, "articles", 1)


# -- which articles a run reads, and its bookmark -----------------------------------------------

def article(ident, updated=None, created="2020-01-01T00:00:00Z"):
    return {"id": ident, "updatedAt": updated, "createdAt": created}


def stamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_never_edited_article_changed_when_it_was_created():
    assert changed_at(article("a", None, "2021-05-01T10:00:00Z")) == datetime(2021, 5, 1, 10, tzinfo=timezone.utc)
    assert changed_at(article("a", "2022-05-01T10:00:00Z")) == datetime(2022, 5, 1, 10, tzinfo=timezone.utc)
    assert changed_at({"id": "a", "updatedAt": "soon"}) is None


def test_the_first_run_reads_every_article_oldest_first():
    items = [article("b", "2023-01-01T00:00:00Z"), article("a", None, "2021-01-01T00:00:00Z"), {"id": "c"}]
    chosen = Mark({}, NOW).to_read(items)
    assert [item["id"] for _, item in chosen] == ["c", "a", "b"]      # an unknown time first


def test_a_later_run_reads_the_articles_changed_at_or_after_the_bookmark():
    mark = Mark({"updated_at": "2024-01-01T00:00:00Z"}, NOW)
    items = [article("old", "2023-12-31T23:59:59Z"), article("same", "2024-01-01T00:00:00Z"),
             article("new", None, "2024-02-01T00:00:00Z"), {"id": "unknown", "updatedAt": None, "createdAt": None}]
    assert {item["id"] for _, item in mark.to_read(items)} == {"same", "new", "unknown"}


def test_the_bookmark_follows_what_was_written_and_skips_its_second_only_once_it_is_over():
    mark = Mark({}, NOW)
    second = NOW - timedelta(hours=1)
    for ident in ("a", "b"):
        mark.written(second, ident)
    entry = {}
    mark.save(entry)
    assert entry == {"updated_at": stamp(second), "ids": ["a", "b"]}
    later = Mark(entry, NOW + timedelta(days=1))
    items = [article("a", stamp(second)), article("b", stamp(second)), article("c", stamp(second))]
    assert [item["id"] for _, item in later.to_read(items)] == ["c"]   # changed in that second, unseen


def test_a_second_not_over_when_the_lists_were_read_is_read_again_whole():
    mark = Mark({}, NOW)
    mark.written(NOW - timedelta(seconds=1), "a")
    entry = {}
    mark.save(entry)
    assert entry == {"updated_at": stamp(NOW - timedelta(seconds=1))}
    assert len(Mark(entry, NOW).to_read([article("a", entry["updated_at"])])) == 1


def test_with_a_margin_the_ids_of_the_bookmarks_second_are_kept_only_once_it_is_that_far_behind():
    for age, kept in ((timedelta(minutes=4), False), (timedelta(minutes=6), True)):
        mark = Mark({}, NOW, margin=timedelta(minutes=5))
        mark.written(NOW - age, "a")
        entry = {}
        mark.save(entry)
        assert ("ids" in entry) is kept


def test_the_bookmark_is_never_later_than_the_servers_clock_nor_moves_back():
    mark = Mark({"updated_at": "2024-01-01T00:00:00Z"}, NOW)
    mark.written(NOW + timedelta(hours=2), "future")         # an article dated ahead of the server
    assert mark.time == stamp(NOW)
    mark.written(datetime(2023, 1, 1, tzinfo=timezone.utc), "old")
    assert mark.time == stamp(NOW)


def test_without_the_servers_clock_the_bookmark_stays():
    mark = Mark({"updated_at": "2024-01-01T00:00:00Z", "ids": ["x"]}, None)
    mark.written(NOW, "a")
    entry = {}
    mark.save(entry)
    assert entry == {"updated_at": "2024-01-01T00:00:00Z", "ids": ["x"]}


# -- the rate limit ----------------------------------------------------------------------------

def docs_headers(server, remaining, now):
    reset = max(1, math.ceil(server.start + server.window - now)) if server.start is not None else server.window
    return {"X-RateLimit-Limit": str(server.limit), "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset)}


@pytest.mark.parametrize("limit", [100, 2000])
def test_a_sync_larger_than_the_10_minute_budget_meets_no_429(limit):
    server = FixedWindow(limit, 600)
    requests = 2 * limit + limit // 2
    run = simulate(server, requests, limiter_class=DocsRateLimiter, headers=docs_headers)
    assert run.throttled == 0
    assert run.seconds <= 2 * 600 + 60        # the third window is entered as soon as it opens


def test_the_limiter_waits_for_the_window_the_answer_says_ends():
    clock = [1000.0]
    limiter = DocsRateLimiter(4, clock=lambda: clock[0])
    limiter.release(limiter.try_acquire(), {"X-RateLimit-Limit": "2000", "X-RateLimit-Remaining": "0",
                                            "X-RateLimit-Reset": "240"})
    wait = limiter.try_acquire()
    assert not isinstance(wait, Ticket) and 239 <= wait <= 241
    clock[0] += 241
    assert isinstance(limiter.try_acquire(), Ticket)


def test_a_reset_beyond_the_window_is_read_as_the_window():
    clock = [1000.0]
    limiter = DocsRateLimiter(4, clock=lambda: clock[0])
    limiter.release(limiter.try_acquire(), {"X-RateLimit-Limit": "2000", "X-RateLimit-Remaining": "0",
                                            "X-RateLimit-Reset": "1767225600"})     # an epoch, not seconds
    assert limiter.try_acquire() <= 600


# -- secrets and config ------------------------------------------------------------------------

def test_the_key_and_its_basic_header_forms_are_hidden_from_every_message():
    key = "0f3c9a7b5e1d2c4b6a8f0e1d2c3b4a5f69788796"
    redactor = Redactor()
    client = DocsClient({"docs_api_key": key, "docs_base_url": "http://127.0.0.1:9/v1"}, redactor=redactor)
    client.close()
    encoded = base64.b64encode(f"{key}:X".encode()).decode()
    line = redactor.line(f"refused {key}; Authorization: {encoded}; raw={encoded}")
    assert key not in line and encoded not in line


def test_a_config_with_the_docs_key_alone_is_valid_and_one_with_no_credential_is_not():
    assert validate_config({"docs_api_key": "k" * 40})["docs_base_url"] == "https://docsapi.helpscout.net/v1"
    with pytest.raises(ConfigError, match="docs_api_key"):
        validate_config({"start_date": "2024-01-01T00:00:00Z"})
    with pytest.raises(ConfigError, match="docs_base_url"):
        validate_config({"docs_api_key": "k" * 40, "docs_base_url": "http://docs.example.com/v1"})
