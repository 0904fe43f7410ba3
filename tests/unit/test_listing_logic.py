"""The listings' planning, in process and without a network: the sync engine runs against the
emulator's API object directly (no sockets, no subprocess), so that each test takes
milliseconds and can change the data between any two requests."""
import io
import json
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from singer.catalog import Catalog

from tap_helpscout.discover import discover
from tap_helpscout.sync.engine import Engine
from tap_helpscout.errors import ApiError, TapError
from tap_helpscout.sync.readers.fetch import PAGE_TRIES
from tap_helpscout.sync.readers.paging import PASSES, number_query
from tap_helpscout.sync.state import Output
from tap_helpscout.timefmt import api_time
from tests.emulator import generate
from tests.emulator.dataset import utc_now
from tests.emulator.api import Api
from tests.emulator.shapes import Readings
from tests.support.expected import expected_rows, key_of
from tests.support.tap_runner import select

START = "2019-01-01T00:00:00Z"


class InProcessClient:
    """What the engine needs of the HTTP client, answered by the emulator's Api object.
    `before(path, params)` runs before every answer (to change the data mid-listing);
    `mangle(path, params, body)` returns the body to answer instead (a server that contradicts
    itself)."""

    def __init__(self, api, before=None, mangle=None):
        self.api = api
        self.before = before or (lambda path, params: None)
        self.mangle = mangle or (lambda path, params, body: body)
        self.requests = []
        self.stats = SimpleNamespace(requests=0, throttled=0, retries=0, rate_waits=0)

    @property
    def request_count(self):
        return len(self.requests)

    def get(self, path, params=None, endpoint=None):
        params = dict(params or {})
        self.before(path, params)
        self.requests.append((path, params))
        self.stats.requests += 1
        reply = self.api.get("/v2" + path, urlencode(params))
        body = json.loads(reply.body) if reply.body else None
        if not 200 <= reply.status < 300:
            raise ApiError(f"{endpoint}: HTTP {reply.status}: {(body or {}).get('message')}",
                           status=reply.status, endpoint=endpoint)
        return SimpleNamespace(json=self.mangle(path, params, body), headers={}, status=reply.status,
                               server_time=None)


def sync(data, streams, readings=None, state=None, before=None, mangle=None, **config):
    api = Api(data, "http://emulator.invalid/v2", readings or Readings(), None)
    client = InProcessClient(api, before, mangle)
    out = io.StringIO()
    catalog = Catalog.from_dict(select(discover(), streams))
    settings = {"start_date": START, "max_parallel_requests": 4, "bookmark_margin_seconds": 0, **config}
    engine = Engine(settings, client, catalog, state or {}, lambda s: Output(s, out))
    try:
        engine.run()
    finally:
        engine.close()
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    return messages, client.requests


def rows(messages, stream):
    return {key_of(stream, m["record"]) for m in messages if m["type"] == "RECORD" and m["stream"] == stream}


def listed(requests, path="/conversations"):
    return [params for p, params in requests if p == path]


def test_conversations_are_split_into_windows_that_cover_every_number():
    data = generate(seed=3, conversations=1200, customers=5)
    messages, requests = sync(data, ["conversations"], Readings(query_ranges=True))
    assert rows(messages, "conversations") == set(expected_rows(data)["conversations"])
    queries = [p.get("query") for p in listed(requests)]
    assert len(set(queries)) > 4 and all(p.get("page") == "1" for p in listed(requests))
    assert len(listed(requests)) <= 1200 / 25 + 8


def test_without_query_ranges_conversations_are_read_by_offset_from_the_last_page():
    data = generate(seed=3, conversations=300, customers=5)
    messages, requests = sync(data, ["conversations"])
    assert rows(messages, "conversations") == set(expected_rows(data)["conversations"])
    pages = [int(p["page"]) for p in listed(requests) if "query" not in p]
    assert pages == [1] + list(range(12, 0, -1))        # page 1, then the last to the first


@pytest.mark.parametrize("query_ranges", [False, True], ids=["offset", "windows"])
def test_rows_that_start_to_match_mid_listing_push_no_row_out_of_reach(query_ranges):
    data = generate(seed=4, conversations=400, customers=5)
    first, _ = sync(data, ["conversations"], Readings(query_ranges=query_ranges))
    state = [m["value"] for m in first if m["type"] == "STATE"][-1]
    old = sorted(data.conversations, key=lambda c: c["number"])
    changed = iter(old[::7])

    def modify_some(path, params):          # a few old rows start to match before each page
        for _ in range(2):
            conversation = next(changed, None)
            if conversation is not None:
                data.modify_conversation(conversation["id"])
    for conversation in old[1::9]:          # and rows that matched all along
        data.modify_conversation(conversation["id"])
    before = {c["id"] for c in data.conversations if data.conversation_modified_at[c["id"]].year >= 2026}
    second, _ = sync(data, ["conversations"], Readings(query_ranges=query_ranges), state=state, before=modify_some)
    assert {(i,) for i in before} <= rows(second, "conversations")


def test_customers_are_a_keyset_chain_and_an_import_larger_than_a_page_arrives_whole():
    data = generate(seed=5, conversations=5, customers=300)        # an import of 60 in one second
    messages, requests = sync(data, ["customers"])
    assert rows(messages, "customers") == set(expected_rows(data)["customers"])
    chain = listed(requests, "/customers")
    assert all(p["sortField"] == "modifiedAt" for p in chain)
    # About 49 new rows a request, plus the import read on its own: its pages at least twice
    # (ties may reorder between requests; a pass that brings no new row ends it).
    assert len(chain) <= 300 / 49 + 2 * 3 + 1


def test_an_interrupted_window_listing_resumes_from_its_state_without_loss():
    data = generate(seed=6, conversations=900, customers=5)
    readings = Readings(query_ranges=True)
    calls = []

    def stop_after_some(path, params):
        calls.append(path)
        if len(calls) == 15:
            raise KeyboardInterrupt
    out = io.StringIO()
    api = Api(data, "http://emulator.invalid/v2", readings, None)
    engine = Engine({"start_date": START, "max_parallel_requests": 4, "bookmark_margin_seconds": 0},
                    InProcessClient(api, stop_after_some), Catalog.from_dict(select(discover(), ["conversations"])),
                    {}, lambda s: Output(s, out))
    with pytest.raises(KeyboardInterrupt):
        engine.run()
    engine.close()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    last = max(i for i, m in enumerate(lines) if m["type"] == "STATE")
    committed, state = lines[:last + 1], lines[last]["value"]
    assert state["bookmarks"]["conversations"]["listing"]["mode"] == "windows"
    resumed, _ = sync(data, ["conversations"], readings, state=state)
    assert rows(committed, "conversations") | rows(resumed, "conversations") == set(
        expected_rows(data)["conversations"])


@pytest.mark.parametrize("inclusive", [False, True], ids=["strict", "inclusive"])
@pytest.mark.parametrize("query_ranges", [False, True], ids=["no-query", "query"])
def test_a_tie_larger_than_a_page_is_read_once_where_the_chains_next_totals_say_it_ends(inclusive, query_ranges):
    data = generate(seed=5, conversations=5, customers=300)        # an import of 60 in one second
    readings = Readings(modified_since_inclusive=inclusive, query_ranges=query_ranges)
    messages, requests = sync(data, ["customers"], readings)
    assert rows(messages, "customers") == set(expected_rows(data)["customers"])
    chain = listed(requests, "/customers")
    # No query and no second pass: the tie's two pages, from the last to the first, once more
    # than the chain's own page 1 of that listing.
    assert not any("query" in params for params in chain)
    by_since = {}
    for params in chain:
        by_since.setdefault(params["modifiedSince"], []).append(str(params.get("page", 1)))
    assert sorted(by_since.values(), key=len)[-1] == ["1", "2", "1"]


@pytest.mark.parametrize("inclusive", [False, True], ids=["strict", "inclusive"])
@pytest.mark.parametrize("query_ranges", [False, True], ids=["no-query", "query"])
def test_a_tie_whose_rows_reorder_between_its_pages_is_read_again_until_none_is_missing(inclusive, query_ranges):
    data = generate(seed=5, conversations=5, customers=300)
    readings = Readings(modified_since_inclusive=inclusive, query_ranges=query_ranges, unstable_ties=True)
    messages, _ = sync(data, ["customers"], readings)
    assert rows(messages, "customers") == set(expected_rows(data)["customers"])


def test_a_sync_interrupted_at_any_state_of_a_customer_tie_resumes_without_loss():
    data = generate(seed=5, conversations=5, customers=300)
    readings = Readings(unstable_ties=True)
    messages, _ = sync(data, ["customers"], readings)
    every = set(expected_rows(data)["customers"])
    states = [i for i, m in enumerate(messages) if m["type"] == "STATE"]
    assert len(states) > 3
    for index in states[:-1]:
        before = rows(messages[:index], "customers")
        resumed, _ = sync(data, ["customers"], readings, state=messages[index]["value"])
        assert before | rows(resumed, "customers") == every, f"resumed from state {index}"


@pytest.mark.parametrize("query_ranges", [False, True], ids=["no-query", "query"])
@pytest.mark.parametrize("unstable", [False, True], ids=["stable", "unstable"])
def test_a_tied_customer_modified_while_the_tie_is_read_makes_no_other_row_slip_past(query_ranges, unstable):
    data = generate(seed=5, conversations=5, customers=300)        # an import of 60 in one second
    tie = [c for c in data.customers if c["updatedAt"] == data.customers[0]["updatedAt"]] or None
    seconds = {}
    for customer in data.customers:
        seconds.setdefault(customer["updatedAt"], []).append(customer["id"])
    tied = max(seconds.values(), key=len)
    assert len(tied) > 50 and tie is None or len(tied) > 50
    every = set(expected_rows(data)["customers"])
    changed = []

    def modify_a_tied_row_once(path, params):
        # Right before any further page of the tie's listing: the tie's first row moves to the
        # end, so that every row after it shifts up by one.
        if path == "/customers" and str(params.get("page")) != "1" and not changed:
            changed.append(tied[0])
            data.modify_customer(tied[0])
    readings = Readings(query_ranges=query_ranges, unstable_ties=unstable)
    messages, _ = sync(data, ["customers"], readings, before=modify_a_tied_row_once)
    assert changed, "the tie was read by offset pages"
    got = rows(messages, "customers")
    assert every - {(changed[0],)} <= got


def bulk_change_at_the_end(data, size=60):
    """`size` customers changed in one second (an import, a workflow), the latest change of the
    account: a tie larger than a page with no row after it. Returns that second."""
    second = utc_now() - timedelta(seconds=10)
    for customer in data.customers[:size]:
        data.modify_customer(customer["id"], second)
    return second


@pytest.mark.parametrize("inclusive", [False, True], ids=["strict", "inclusive"])
def test_a_tie_larger_than_a_page_at_the_listings_end_arrives_whole_and_fails_nothing(inclusive):
    # The request for the rows after the tie's second is rightly empty, while the answer before
    # it said rows remain (the tie's own): not a contradiction.
    data = generate(seed=8, conversations=5, customers=150)
    bulk_change_at_the_end(data)
    messages, _ = sync(data, ["customers"], Readings(modified_since_inclusive=inclusive))
    assert rows(messages, "customers") == set(expected_rows(data)["customers"])


def test_rows_after_a_tie_deleted_just_before_the_chain_asks_for_them_fail_nothing_and_lose_nothing():
    data = generate(seed=8, conversations=5, customers=150)
    second = bulk_change_at_the_end(data)
    later = [data.modify_customer(c["id"], second + timedelta(seconds=5))["id"] for c in data.customers[60:63]]

    def delete_the_later_rows(path, params):
        if params.get("modifiedSince") == api_time(second) and later:
            for customer_id in later:
                data.delete_customer(customer_id)
            later.clear()
    messages, _ = sync(data, ["customers"], before=delete_the_later_rows)
    assert not later, "the chain asked for the rows after the tie"
    assert rows(messages, "customers") == set(expected_rows(data)["customers"])


def test_a_row_created_while_an_empty_answer_is_checked_is_read_on_the_next_pass():
    data = generate(seed=8, conversations=5, customers=150)
    bulk_change_at_the_end(data)
    created = []

    def create_one_as_the_earlier_listing_is_read_again(path, params):
        if params.get("sortOrder") == "desc" and not created:
            created.append(data.create_customer())
    messages, _ = sync(data, ["customers"], before=create_one_as_the_earlier_listing_is_read_again)
    assert created, "an empty answer was checked"
    assert rows(messages, "customers") == set(expected_rows(data)["customers"])


def test_an_empty_answer_while_the_earlier_listing_still_shows_rows_after_it_fails_the_stream_in_one_line():
    data = generate(seed=8, conversations=5, customers=150)
    second = bulk_change_at_the_end(data)
    data.modify_customer(data.customers[60]["id"], second + timedelta(seconds=5))

    def empty_after_the_tie(path, params, body):
        if params.get("modifiedSince") == api_time(second):
            return {"page": {**body["page"], "totalElements": 0, "totalPages": 0}}
        return body
    with pytest.raises(TapError) as failed:
        sync(data, ["customers"], mangle=empty_after_the_tie)
    message = str(failed.value)
    assert "customers failed" in message and "\n" not in message
    assert "page 1 holds no row where the listing's earlier answers say rows are" in message
    assert f"read {PASSES * PAGE_TRIES} times" in message


# -- conversations: an empty answer checked while the account changes ----------------------------
def empty(body):
    return not (body.get("_embedded") or {}).get("conversations")


def after_the_listing_shrinks(data, query_ranges):
    """300 conversations (12 pages of 25). Returns `is_target(params)`, true for the request that
    earlier answers say holds rows, and `shrink()`, which deletes its rows just before it is
    first asked: with query ranges, the window after the chain's third page (the rows numbered
    from the 76th on); without, the last page (the listing then has 11)."""
    numbers = sorted(c["number"] for c in data.conversations)
    if query_ranges:
        query, doomed = number_query(numbers[75], None), numbers[75:]
        is_target = lambda params: params.get("query") == query                       # noqa: E731
    else:
        doomed = numbers[275:]
        is_target = lambda params: "query" not in params and params.get("page") == "12"  # noqa: E731
    by_number = {c["number"]: c["id"] for c in data.conversations}

    def shrink():
        for number in doomed:
            data.delete_conversation(by_number[number])
        doomed.clear()
    return is_target, shrink


@pytest.mark.parametrize("query_ranges", [False, True], ids=["offset", "windows"])
def test_a_conversation_created_while_an_empty_answer_is_checked_is_read_on_the_next_pass(query_ranges):
    # The rows an earlier answer promised are deleted just before they are asked for (an empty
    # answer, rightly), and a conversation is created after that answer, before the earlier
    # request is read afresh: the fresh read shows a row there, and the next pass reads it.
    data = generate(seed=3, conversations=300, customers=5)
    is_target, shrink = after_the_listing_shrinks(data, query_ranges)
    empties, created = [], []

    def delete_before(path, params):
        if path == "/conversations" and is_target(params):
            shrink()

    def create_after_the_last_empty_read(path, params, body):
        if path == "/conversations" and is_target(params) and empty(body):
            empties.append(1)
            if len(empties) == PAGE_TRIES and not created:
                created.append(data.create_conversation())
        return body
    messages, _ = sync(data, ["conversations"], Readings(query_ranges=query_ranges), before=delete_before,
                       mangle=create_after_the_last_empty_read)
    assert created, "an empty answer was checked"
    assert (created[0],) in rows(messages, "conversations")
    assert rows(messages, "conversations") == set(expected_rows(data)["conversations"])


@pytest.mark.parametrize("query_ranges", [False, True], ids=["offset", "windows"])
def test_conversations_whose_server_keeps_answering_empty_where_rows_show_fail_the_stream_in_one_line(
        query_ranges):
    data = generate(seed=3, conversations=300, customers=5)
    is_target, _ = after_the_listing_shrinks(data, query_ranges)
    asked = []

    def always_empty(path, params, body):
        if path == "/conversations" and is_target(params):
            asked.append(1)
            return {"page": {**body["page"], "totalElements": 0, "totalPages": 0}}
        return body
    with pytest.raises(TapError) as failed:
        sync(data, ["conversations"], Readings(query_ranges=query_ranges), mangle=always_empty)
    message = str(failed.value)
    assert "conversations failed" in message and "\n" not in message
    assert "holds no row where the listing's earlier answers say rows are" in message
    assert len(asked) == PASSES * PAGE_TRIES
    assert f"read {PASSES * PAGE_TRIES} times" in message


def test_a_conversation_modified_into_the_window_while_an_empty_answer_is_checked_fails_nothing():
    # Only the conversations modified since start_date are listed. The rows an earlier window's
    # answer promised after its page are deleted (the next answer is rightly empty), and an old
    # conversation numbered within that earlier page is modified after the empty answer: the
    # earlier window, read afresh, holds more than a page, yet nothing from the cursor on.
    data = generate(seed=3, conversations=600, customers=5)
    moments = sorted(data.conversation_modified_at.values())
    start = moments[len(moments) // 2].replace(microsecond=0)
    since = sorted((c["number"], c["id"]) for c in data.conversations if data.conversation_modified_at[c["id"]] > start)
    joining = since[60][1]                  # last modified before start_date, until the check below
    data.conversation_modified_at[joining] = start - timedelta(days=1)
    matching = [(n, i) for n, i in since if i != joining]
    query = number_query(matching[74][0] + 1, None)
    doomed = [i for _, i in matching[75:]]
    empties, modified = [], []

    def delete_before(path, params):
        if path == "/conversations" and params.get("query") == query:
            for conversation_id in doomed:
                data.delete_conversation(conversation_id)
            doomed.clear()

    def modify_after_the_last_empty_read(path, params, body):
        if path == "/conversations" and params.get("query") == query and empty(body):
            empties.append(1)
            if len(empties) == PAGE_TRIES and not modified:
                modified.append(data.modify_conversation(joining)["id"])
        return body
    messages, _ = sync(data, ["conversations"], Readings(query_ranges=True), before=delete_before,
                       mangle=modify_after_the_last_empty_read, start_date=api_time(start))
    assert modified, "an empty answer was checked"
    assert {(i,) for _, i in matching[:75]} <= rows(messages, "conversations")
