"""Every row arrives under each stricter reading of the API (docs/api-readings.md): the
emulator takes one reading at a time and the real executable syncs the whole account."""
import json

import pytest

from tests.emulator import Drift
from tests.support.expected import expected_row_counts, expected_rows, key_of, latest_by_key
from tests.support.tap_runner import run_tap, select

LISTINGS = ["conversations", "conversation_threads", "customers"]


def assert_every_row(run, emu, streams):
    expected = expected_rows(emu.data, "2019-01-01T00:00:00Z")
    for stream in streams:
        got = {key_of(stream, r): r for r in run.records(stream)}
        missing = set(expected[stream]) - set(got)
        assert not missing, (stream, len(missing))
        stale = [k for k, row in expected[stream].items() if got[k] != row]
        assert not stale, (stream, stale[:3])


def test_customers_without_sort_by_created_at(account):
    emu, config, catalog = account(customer_sort_strict=True)
    run = run_tap(config, catalog=select(catalog, ["customers"]))
    assert_every_row(run, emu, ["customers"])
    assert all(r.query.get("sortField") == "modifiedAt" for r in emu.requests if r.path == "/v2/customers")


@pytest.mark.parametrize("inclusive", [False, True], ids=["strict", "inclusive"])
@pytest.mark.parametrize("query_ranges", [False, True], ids=["offset", "query"])
def test_tied_rows_in_another_order_on_every_request_lose_nothing(account, query_ranges, inclusive):
    # 300 customers hold an import of 60 with one updatedAt: more than a page of 50.
    emu, config, catalog = account(conversations=200, customers=300, ratings=120, unstable_ties=True,
                                   query_ranges=query_ranges, modified_since_inclusive=inclusive)
    run = run_tap(config, catalog=select(catalog, LISTINGS + ["happiness_ratings_report"]))
    assert_every_row(run, emu, LISTINGS)
    counts = run.record_counts()
    assert counts["happiness_ratings_report"] == expected_row_counts(emu.data, "2019-01-01T00:00:00Z")[
        "happiness_ratings_report"]


def test_threads_beyond_the_embedded_cap_when_the_count_leaves_out_line_items_and_drafts(account):
    emu, config, catalog = account(thread_count_published_only=True)
    truncated = [c for c in emu.data.conversations if len(emu.data.threads[c["id"]]) > 25 >= c["threads"]]
    assert truncated, "the emulator should hold such conversations"
    run = run_tap(config, catalog=select(catalog, ["conversation_threads"]))
    assert_every_row(run, emu, ["conversation_threads"])


def test_the_report_asks_for_every_rating_kind(account):
    emu, config, catalog = account(report_rating_default="great")
    run = run_tap(config, catalog=select(catalog, ["happiness_ratings_report"]))
    assert len(run.records("happiness_ratings_report")) == expected_row_counts(
        emu.data, "2019-01-01T00:00:00Z")["happiness_ratings_report"]
    assert all(r.query.get("rating") == "all" for r in emu.requests if "ratings" in r.path)


@pytest.mark.parametrize("status", [401, 403])
def test_a_plan_without_reports_skips_the_report_and_finishes_the_rest(account, status):
    emu, config, catalog = account(plan="standard", reports_status=status)
    run = run_tap(config, catalog=select(catalog))
    counts = run.record_counts()
    assert "happiness_ratings_report" not in counts
    assert counts["conversations"] == len(emu.data.conversations)
    assert counts["users"] == len(emu.data.users)
    assert "happiness_ratings_report" in run.stderr and "plan" in run.stderr


def test_deep_pages_refused_are_avoided_with_query_ranges(account):
    emu, config, catalog = account(conversations=300, customers=200, max_page_depth=3, query_ranges=True)
    run = run_tap(config, catalog=select(catalog, LISTINGS))
    assert_every_row(run, emu, LISTINGS)
    assert all(int(r.query.get("page", 1)) <= 3 for r in emu.requests if r.path == "/v2/conversations")


def test_parallel_windows_cost_about_one_request_per_page(account):
    emu, config, catalog = account(conversations=1000, customers=10, query_ranges=True)
    run = run_tap(config, catalog=select(catalog, ["conversations"]))
    assert_every_row(run, emu, ["conversations"])
    listed = [r for r in emu.requests if r.path == "/v2/conversations"]
    windows = {json.dumps(r.query.get("query")) for r in listed}
    assert len(windows) > 4                       # several chains, not one
    assert len(listed) <= 1000 / 25 + 8           # the floor, plus a partial page per window


def test_deep_pages_refused_without_query_ranges_fail_only_that_stream(account):
    emu, config, catalog = account(conversations=300, customers=200, max_page_depth=3)
    run = run_tap(config, catalog=select(catalog, LISTINGS + ["users"]), check=False)
    assert run.returncode == 1
    last_line = run.stderr.strip().splitlines()[-1]
    assert "conversations" in last_line and "refused page" in last_line
    # Once a page is refused, no further page is requested (none is left in flight either).
    deep = [r for r in emu.requests if r.path == "/v2/conversations" and int(r.query.get("page", 1)) > 3]
    assert len(deep) == 1
    states = [json.loads(line)["value"] for line in run.stdout.splitlines() if '"type":"STATE"' in line]
    assert "updated_at" not in states[-1]["bookmarks"].get("conversations", {})
    records = [json.loads(line) for line in run.stdout.splitlines() if '"type":"RECORD"' in line]
    assert sum(m["stream"] == "users" for m in records) == len(emu.data.users)
    assert sum(m["stream"] == "customers" for m in records) == len(emu.data.customers)


def test_changes_that_reach_the_index_late_arrive_in_a_later_run(account, tmp_path):
    emu, config, catalog = account(index_lag_seconds=2)
    catalog = select(catalog, LISTINGS)
    first = run_tap(config, catalog=catalog)
    changed = emu.data.conversations[4]["id"]
    emu.modify_conversation(changed)
    customer = emu.data.customers[2]["id"]
    emu.modify_customer(customer)
    second = run_tap(config, catalog=catalog, state=first.last_state)     # the change is not visible yet
    emu.search_index.clock = lambda real=emu.search_index.clock: real() + 5
    third = run_tap(config, catalog=catalog, state=second.last_state)
    assert_every_row(type("Runs", (), {"records": lambda self, s: list(
        latest_by_key([first, second, third], s).values())})(), emu, LISTINGS)


@pytest.mark.parametrize("reading", [{"unstable_ties": True}, {"index_lag_seconds": 1},
                                     {"modified_since_inclusive": True, "unstable_ties": True}],
                         ids=["unstable ties", "index lag", "inclusive modifiedSince"])
def test_drift_under_a_stricter_reading_loses_nothing(account, reading):
    emu, config, catalog = account(conversations=250, customers=150,
                                   drift=Drift(every=2, modify=2, create=1, delete=1), **reading)
    catalog = select(catalog, LISTINGS)
    runs = [run_tap(config, catalog=catalog)]
    runs.append(run_tap(config, catalog=catalog, state=runs[-1].last_state))
    emu.drift = None
    if "index_lag_seconds" in reading:
        emu.search_index.clock = lambda real=emu.search_index.clock: real() + 5
    runs.append(run_tap(config, catalog=catalog, state=runs[-1].last_state))
    expected = expected_rows(emu.data)
    for stream in LISTINGS:
        latest = latest_by_key(runs, stream)
        missing = set(expected[stream]) - set(latest)
        assert not missing, (stream, len(missing))
        stale = [k for k, row in expected[stream].items() if latest[k] != row]
        assert not stale, (stream, stale[:3])
