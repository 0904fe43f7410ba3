"""Issue 13, "unattended for years", through the real executable against the emulator: dates
checked before any work, a state's foreign keys dropped, catalog overrides the tap does not
support reported, the run-time budget, and logs that say what happened.

(Elsewhere: the README's state recipe in tests/e2e/test_state_recipe.py, SIGTERM in
tests/integration/test_signals.py, unknown config keys in tests/unit/test_config.py and
tests/integration/test_config.py, progress lines in tests/unit/test_progress.py, the token's
pre-flight and lock with the HTTP client's tests and tests/integration/test_token_store.py.)"""
import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.support.expected import expected_rows, key_of
from tap_helpscout.discover import discover as discover_catalog
from tests.support.tap_runner import run_tap, select, write_config

START = "2019-01-01T00:00:00Z"
TIMESTAMPED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) .*")


@pytest.fixture
def account(make_emulator, tmp_path):
    def start(**config):
        emu = make_emulator(seed=11, conversations=60, customers=60, ratings=20)
        path = write_config(emu, tmp_path, **config)
        return emu, path, discover_catalog()
    return start


def now_text(delta=timedelta()):
    return (datetime.now(timezone.utc) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def warnings_of(run):
    return [line for line in run.stderr.splitlines() if " WARNING " in line]


def assert_one_line_before_any_output(run, *words):
    assert run.returncode == 1, run.stderr
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tap-helpscout: "), run.stderr
    assert "Traceback" not in run.stderr
    for word in words:
        assert word in lines[0], lines[0]


# --- dates ---------------------------------------------------------------------------------------

def test_a_start_date_in_the_future_stops_the_sync_before_any_output(account):
    emu, config, catalog = account(start_date=now_text(timedelta(days=3)))
    run = run_tap(config, catalog=select(catalog), check=False)
    assert_one_line_before_any_output(run, "config:", '"start_date"', "in the future")
    assert emu.requests == []


def test_a_bookmark_in_the_future_is_capped_at_now_with_a_warning_naming_the_stream(account):
    emu, config, catalog = account()
    catalog = select(catalog, ["users"])
    first = run_tap(config, catalog=catalog, state={"bookmarks": {"users": {"updated_at": "2999-01-01T00:00:00Z"}}})
    future = [line for line in warnings_of(first) if "in the future" in line]
    assert len(future) == 1 and "users" in future[0] and "2999-01-01T00:00:00Z" in future[0]
    assert first.last_state["bookmarks"]["users"]["updated_at"] <= now_text()
    # A user changed after that run is read by the next one (with the bookmark left in 2999,
    # no user would be read again before that year).
    changed = emu.data.users[2]
    changed["updatedAt"] = now_text()
    emu.invalidate()
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert changed["id"] in {r["id"] for r in second.records("users")}


BAD_BOOKMARKS = {
    "not a date": ({"conversations": {"updated_at": "last tuesday"}}, "bookmarks.conversations.updated_at"),
    "a number": ({"conversations": {"updated_at": 1717243200}}, "bookmarks.conversations.updated_at"),
    "a bare number": ({"conversations": 1717243200}, "bookmarks.conversations"),
    "an impossible date": ({"customers": {"updated_at": "2024-02-30T00:00:00Z"}}, "bookmarks.customers.updated_at"),
    "a parent's date": ({"mailbox_folders": {"parents": {"1": "soon"}}}, "bookmarks.mailbox_folders.parents.1"),
}


@pytest.mark.parametrize("case", sorted(BAD_BOOKMARKS))
def test_a_bookmark_that_is_not_a_date_is_one_line_naming_file_and_key_before_any_output(account, case):
    emu, config, catalog = account()
    bookmarks, key = BAD_BOOKMARKS[case]
    run = run_tap(config, catalog=select(catalog), state={"bookmarks": bookmarks}, check=False)
    assert_one_line_before_any_output(run, "state.json", key)
    assert emu.requests == []


@pytest.mark.parametrize("listing", ["garbage", [1, 2], {"mode": "pages", "next_page": "x", "total": 60},
                                     {"mode": "pages", "next_page": 2, "since": "later"},
                                     {"mode": "windows", "windows": [{"low": "a"}]}])
def test_a_malformed_resume_point_is_dropped_with_a_warning_and_the_stream_read_in_full(account, listing):
    emu, config, catalog = account()
    state = {"bookmarks": {"conversations": {"listing": listing}}}
    run = run_tap(config, catalog=select(catalog, ["conversations"]), state=state, check=False)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-3000:]
    dropped = [line for line in warnings_of(run) if "resume point" in line]
    assert len(dropped) == 1 and "conversations" in dropped[0]
    assert {r["id"] for r in run.records("conversations")} == {c["id"] for c in emu.data.conversations}


# --- config keys -----------------------------------------------------------------------------

def test_misspelt_config_keys_get_one_warning_each_with_the_key_meant(account):
    emu, config, catalog = account(max_request_per_minute=100, requests_timeout=5)
    run = run_tap(config, catalog=select(catalog, ["users"]))
    unknown = [line for line in warnings_of(run) if "unknown key" in line]
    assert len(unknown) == 2
    assert any('"max_request_per_minute"' in line and 'did you mean "max_requests_per_minute"?' in line
               for line in unknown)
    assert any('"requests_timeout"' in line and 'did you mean "request_timeout"?' in line for line in unknown)
    assert len(run.records("users")) == len(emu.data.users)


# --- the state carries only the tap's own keys ----------------------------------------------------

def test_foreign_keys_of_an_old_state_are_reported_once_and_never_copied(account):
    emu, config, catalog = account()
    huge = "x" * 1_000_000
    state = {"bookmarks": {"some_other_tap_stream": {"blob": huge},
                           "customers": {"updated_at": "2024-05-01T00:00:00Z"}},
             "another_taps_key": {"blob": huge}, "currently_syncing": None}
    run = run_tap(config, catalog=select(catalog, ["users"]), state=state)
    states = [line for line in run.stdout.splitlines() if line.startswith('{"type":"STATE"')]
    assert states and max(len(line) for line in states) < 2000
    last = run.last_state
    assert "some_other_tap_stream" not in last["bookmarks"] and "another_taps_key" not in last
    # A bookmark of a stream the tap has, though not selected this time, is kept.
    assert last["bookmarks"]["customers"] == {"updated_at": "2024-05-01T00:00:00Z"}
    warned = warnings_of(run)
    assert sum("another_taps_key" in line for line in warned) == 1
    assert sum("some_other_tap_stream" in line for line in warned) == 1
    assert all(len(line) < 1000 for line in run.stderr.splitlines())


# --- catalog overrides --------------------------------------------------------------------------

def set_stream_metadata(catalog, stream, **values):
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] == stream:
            top = next(m for m in entry["metadata"] if m["breadcrumb"] == [])
            top["metadata"].update({k.replace("_", "-"): v for k, v in values.items()})


def test_replication_overrides_in_the_catalog_get_one_warning_per_stream_saying_what_the_tap_does(account):
    emu, config, catalog = account()
    catalog = select(catalog, ["teams", "team_members", "users", "workflows"])
    set_stream_metadata(catalog, "teams", replication_method="FULL_TABLE")
    set_stream_metadata(catalog, "team_members", replication_method="INCREMENTAL", replication_key="updated_at")
    set_stream_metadata(catalog, "users", replication_method="INCREMENTAL", replication_key="updated_at")  # as is
    set_stream_metadata(catalog, "workflows", replication_key="created_at")
    set_stream_metadata(catalog, "customers", replication_method="FULL_TABLE")     # not selected
    run = run_tap(config, catalog=catalog)
    overrides = [line for line in warnings_of(run) if "replication-" in line]
    by_stream = {name: [line for line in overrides if f'"{name}"' in line]
                 for name in ("teams", "team_members", "users", "workflows", "customers")}
    assert len(overrides) == 3
    assert len(by_stream["teams"]) == 1 and 'INCREMENTAL by "updated_at"' in by_stream["teams"][0]
    assert len(by_stream["team_members"]) == 1 and "FULL_TABLE" in by_stream["team_members"][0]
    assert len(by_stream["workflows"]) == 1 and '"created_at"' in by_stream["workflows"][0] \
        and 'INCREMENTAL by "modified_at"' in by_stream["workflows"][0]
    assert by_stream["users"] == [] and by_stream["customers"] == []
    # And the tap does what it says: teams still incremental (a bookmark), team_members in full.
    assert run.last_state["bookmarks"]["teams"]["updated_at"]
    assert len(run.records("team_members")) == sum(len(m) for m in emu.data.members.values())


# --- the run-time budget (item 7) --------------------------------------------------------------------

def test_a_run_stopped_by_max_run_minutes_exits_0_with_a_clean_state_and_the_next_run_continues(account, tmp_path):
    emu, config, catalog = account(max_run_minutes=0.001)
    catalog = select(catalog)
    first = run_tap(config, catalog=catalog)          # exit 0 (checked by run_tap)
    assert first.messages[-1]["type"] == "STATE"
    assert any("max_run_minutes" in line for line in warnings_of(first))
    # (Requests already in flight may still log their METRIC lines after it.)
    assert sum(" INFO Sync stopped in " in line for line in first.stderr.splitlines()) == 1
    expected = expected_rows(emu.data, START)
    assert sum(first.record_counts().values()) < sum(len(rows) for rows in expected.values())

    unlimited = write_config(emu, tmp_path)           # the same config without the budget
    second = run_tap(unlimited, catalog=catalog, state=first.last_state)
    assert second.last_state["currently_syncing"] is None
    for stream, rows in expected.items():
        got = {key_of(stream, m["record"]) for m in first.messages + second.messages
               if m["type"] == "RECORD" and m["stream"] == stream}
        assert got == set(rows), stream


# --- logs ----------------------------------------------------------------------------------------

def test_every_stderr_line_of_a_sync_has_a_timestamp_and_the_last_is_the_summary(account):
    emu, config, catalog = account()
    run = run_tap(config, catalog=select(catalog))
    lines = run.stderr.strip().splitlines()
    assert any("METRIC" in line for line in lines)
    untimed = [line for line in lines if not TIMESTAMPED.fullmatch(line)]
    assert untimed == []
    summary = lines[-1]
    counts = run.record_counts()
    assert " INFO Sync finished in " in summary
    for stream in ("conversations", "customers", "users", "happiness_ratings_report"):
        assert f"{stream} {counts[stream]}" in summary
    assert re.search(r"[\d,]+ requests?, 0 x 429, 0 retries", summary), summary
