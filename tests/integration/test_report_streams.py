"""The daily report streams, end to end: report_daily (the account, each mailbox) and
report_user_daily (each user) against the emulator's time-series reports, under every reading
the report documentation leaves open (tests/emulator/README.md, "Time-series reports").

Expected rows come from the emulator's `report_points`, asked for the whole history in one range
per endpoint and scope (the tap asks in windows of at most 60 days): the two agree only when the
tap's windows join into the same days.
"""
import math
from datetime import datetime, timedelta, timezone

import pytest

from tests.emulator import report_points
from tests.support.expected import latest_by_key
from tests.support.tap_runner import offline_catalog, run_tap, run_until_killed, select, write_config

DAY = timedelta(days=1)
# endpoint -> {column: the point's field}, as Help Scout's report pages name them
ACCOUNT_SERIES = {
    "conversations/new": {"new_conversations": "count"},
    "conversations/volume-by-channel": {"email_conversations": "email", "chat_conversations": "chat",
                                        "phone_conversations": "phone"},
    "conversations/received-messages": {"received_messages": "count"},
    "company/customers-helped": {"customers_helped": "customers"},
    "productivity/replies-sent": {"replies_sent": "replies"},
    "productivity/resolved": {"resolved": "resolved"},
    "productivity/first-response-time": {"first_response_time": "time"},
    "productivity/response-time": {"response_time": "time"},
    "productivity/resolution-time": {"resolution_time": "time"},
}
USER_SERIES = {
    "user/replies": {"replies": "replies"},
    "user/resolutions": {"resolved": "resolved"},
    "user/customers-helped": {"customers_helped": "customers"},
}
BOTH = ["report_daily", "report_user_daily"]
ACCOUNT = {"seed": 5, "conversations": 30, "customers": 40, "mailboxes": 2, "users": 3,
           "recent_conversations": 800, "ratings": 5}


def today():
    return datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def expected_rows(emu, first, last, series, scope_column, scopes, scope_param):
    """{(date, scope): row} of the days first..last, from the emulator's figures as it serves them now."""
    rows = {}
    end = iso(last + DAY - timedelta(seconds=1))
    for scope in scopes:
        for endpoint, figures in series.items():
            filters = {scope_param: [scope] if scope_param == "mailboxes" else scope} if scope else {}
            for point in report_points(emu.data, endpoint, iso(first), end, "day", readings=emu.readings,
                                       **filters):
                date = point.get("date") or point.get("start")
                row = rows.setdefault((date, scope), {"date": date, scope_column: scope,
                                                      **{c: None for f in series.values() for c in f}})
                for column, field in figures.items():
                    row[column] = point.get(field)
    return rows


def expected_daily(emu, first, last=None, per_mailbox=True):
    scopes = [0] + ([m["id"] for m in emu.data.mailboxes] if per_mailbox else [])
    return expected_rows(emu, first, last or today(), ACCOUNT_SERIES, "mailbox_id", scopes, "mailboxes")


def expected_user_daily(emu, first, last=None, users=None):
    users = users if users is not None else [u["id"] for u in emu.data.users]
    return expected_rows(emu, first, last or today(), USER_SERIES, "user_id", users, "user")


def emitted(run, stream):
    column = "mailbox_id" if stream == "report_daily" else "user_id"
    return {(r["date"], r[column]): r for r in run.records(stream)}


def report_requests(emu):
    return [r for r in emu.requests if r.path.startswith("/v2/reports/")]


@pytest.fixture
def reports(make_emulator, tmp_path):
    """A factory: (emulator, config, catalog selecting `streams`) for an account with a year of
    daily activity and a start date a year back."""
    def start(streams=BOTH, days=365, config=None, **options):
        emu = make_emulator(**{**ACCOUNT, **options})
        first = today() - days * DAY
        path = write_config(emu, tmp_path, start_date=iso(first + timedelta(hours=9)), **(config or {}))
        return emu, path, select(offline_catalog(), streams), first
    return start


def test_report_backfill_delivers_every_day_within_the_request_bound(reports):
    emu, config, catalog, first = reports()
    run = run_tap(config, catalog=catalog)
    assert emitted(run, "report_daily") == expected_daily(emu, first)
    assert emitted(run, "report_user_daily") == expected_user_daily(emu, first)
    assert len(emitted(run, "report_daily")) == 366 * 3 and len(run.records("report_daily")) == 366 * 3
    windows = math.ceil(366 / 60)
    floor = (1 + len(emu.data.mailboxes)) * 9 * windows + len(emu.data.users) * 3 * windows
    assert len(report_requests(emu)) <= 1.1 * floor
    days = {r["date"] for r in run.records("report_daily")}
    assert all(d.endswith("T00:00:00Z") for d in days)
    assert any(r["first_response_time"] is not None and r["replies_sent"] for r in run.records("report_daily"))
    # Every request ends at 23:59:59Z of its last day (or now), and asks for days.
    for request in report_requests(emu):
        assert request.query["viewBy"] == "day" and request.query["start"].endswith("T00:00:00Z")
        assert "officeHours" not in request.query


def test_a_later_run_reads_only_the_lookback_and_re_emits_the_changed_days(reports):
    emu, config, catalog, first = reports()
    run1 = run_tap(config, catalog=catalog)
    before = emitted(run1, "report_daily")
    # New activity on the last days: a reply yesterday, a closure today.
    yesterday = today() - DAY + timedelta(hours=10)
    conversation = next(c for c in reversed(emu.data.conversations) if c["status"] != "spam")
    user = next(u["id"] for u in emu.data.users)
    emu.add_thread(conversation["id"], thread_type="reply", user_id=user, at=yesterday)
    emu.clear_requests()
    run2 = run_tap(config, catalog=catalog, state=run1.last_state)
    lookback = today() - 7 * DAY
    got = emitted(run2, "report_daily")
    assert set(d for d, _ in got) == {iso(lookback + k * DAY) for k in range(8)}
    assert got == expected_daily(emu, lookback)
    assert emitted(run2, "report_user_daily") == expected_user_daily(emu, lookback)
    key = (iso(today() - DAY), 0)
    assert got[key]["replies_sent"] == before[key]["replies_sent"] + 1
    # One window per scope and endpoint.
    scopes = 1 + len(emu.data.mailboxes)
    assert len(report_requests(emu)) == scopes * 9 + len(emu.data.users) * 3
    assert all(r.query["start"] == iso(lookback) for r in report_requests(emu))


def test_default_lookback_setting_changes_how_far_a_later_run_reads(reports):
    emu, config, catalog, first = reports(streams=["report_daily"], days=30,
                                          config={"report_daily_lookback_days": 0, "report_daily_per_mailbox": False})
    run1 = run_tap(config, catalog=catalog)
    run2 = run_tap(config, catalog=catalog, state=run1.last_state)
    assert set(emitted(run2, "report_daily")) == {(iso(today()), 0)}
    assert set(emitted(run1, "report_daily")) == set(expected_daily(emu, first, per_mailbox=False))


@pytest.mark.parametrize("status", [403, 401])
def test_standard_plan_skips_both_report_streams_with_one_warning_and_exit_0(reports, status):
    emu, config, catalog, first = reports(streams=BOTH + ["tags"], days=30, plan="standard", reports_status=status)
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0
    counts = run.record_counts()
    assert "report_daily" not in counts and "report_user_daily" not in counts
    assert counts["tags"] == len(emu.data.tags)
    skipping = [line for line in run.stderr.splitlines() if "Skipping" in line]
    assert len(skipping) == 1 and "report_daily" in skipping[0] and "report_user_daily" in skipping[0]


def test_standard_plan_skips_the_user_report_alone_with_one_warning(reports):
    emu, config, catalog, first = reports(streams=["report_user_daily"], days=30, plan="standard")
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0 and not run.record_counts()
    assert sum("Skipping report_user_daily" in line for line in run.stderr.splitlines()) == 1


@pytest.mark.parametrize("streams", [BOTH, ["report_user_daily"]], ids=["both", "users-alone"])
def test_a_user_whose_reports_are_refused_is_skipped_and_the_others_arrive(reports, streams):
    emu, config, catalog, first = reports(streams=streams, days=130)
    users = [u["id"] for u in emu.data.users]
    refused = users[0]
    emu.readings.report_refused_users = (refused,)     # a 403 on this user's reports only
    run = run_tap(config, catalog=catalog)
    assert emitted(run, "report_user_daily") == expected_user_daily(emu, first, users=users[1:])
    assert sum(f"skipping user {refused}" in line for line in run.stderr.splitlines()) == 1
    assert str(refused) not in run.last_state["bookmarks"]["report_user_daily"]["scopes"]
    if "report_daily" in streams:
        assert emitted(run, "report_daily") == expected_daily(emu, first)


@pytest.mark.parametrize("limit", [120, 25], ids=["1.0-pages", "shorter-than-60"])
def test_every_day_arrives_whatever_the_day_limit(reports, limit):
    emu, config, catalog, first = reports(report_day_limit=limit)
    run = run_tap(config, catalog=catalog)
    assert emitted(run, "report_daily") == expected_daily(emu, first)
    assert emitted(run, "report_user_daily") == expected_user_daily(emu, first)
    refused = [r for r in report_requests(emu) if r.status == 400]
    if limit >= 60:
        assert not refused
    else:
        # Learned from the first refusals (the windows already in flight), then asked for in
        # halves: 60 days, refused; 30, refused; 15 days accepted.
        assert len(refused) <= 2 * 2 * 9
        assert max(r.status for r in report_requests(emu)) == 400
        assert len(report_requests(emu)) <= len(refused) + 1.1 * 3 * 9 * math.ceil(366 / 15) + \
            len(emu.data.users) * 3 * math.ceil(366 / 15)


@pytest.mark.parametrize("options", [{"report_end_inclusive": False}, {"report_quiet_time": "zero"},
                                     {"report_quiet_time": "absent"}], ids=["end-exclusive", "quiet-zero",
                                                                            "quiet-absent"])
def test_figures_are_right_under_each_reading_of_the_report_pages(reports, options):
    emu, config, catalog, first = reports(streams=["report_daily"], days=130, **options)
    run = run_tap(config, catalog=catalog)
    assert emitted(run, "report_daily") == expected_daily(emu, first)
    quiet = [r for r in run.records("report_daily") if not r["replies_sent"]]
    assert quiet
    if options.get("report_quiet_time") == "zero":
        assert all(r["first_response_time"] == 0 for r in quiet)
    else:
        assert all(r["first_response_time"] is None for r in quiet)


def test_without_per_mailbox_rows_only_the_account_is_read(reports):
    emu, config, catalog, first = reports(streams=["report_daily"], days=130, config={"report_daily_per_mailbox": False})
    run = run_tap(config, catalog=catalog)
    assert emitted(run, "report_daily") == expected_daily(emu, first, per_mailbox=False)
    assert all("mailboxes" not in r.query for r in report_requests(emu))
    assert not [r for r in emu.requests if r.path == "/v2/mailboxes"]


def test_office_hours_are_asked_for_on_the_productivity_reports_only_when_set(reports):
    emu, config, catalog, first = reports(streams=["report_daily"], days=20, config={"report_office_hours": True})
    run_tap(config, catalog=catalog)
    for request in report_requests(emu):
        assert ("officeHours" in request.query) == request.path.startswith("/v2/reports/productivity/")
        if "officeHours" in request.query:
            assert request.query["officeHours"] == "true"


def test_a_mailbox_that_appears_later_gets_its_history_from_the_start_date(reports):
    emu, config, catalog, first = reports(streams=["report_daily"], days=130)
    run1 = run_tap(config, catalog=catalog)
    new_mailbox = dict(emu.data.mailboxes[0], id=199999, name="Late", slug="late0000", email="late@acme.example.com")
    emu.data.mailboxes.append(new_mailbox)
    emu.data.folders[199999] = []
    emu.data.fields[199999] = []
    emu.invalidate()
    run2 = run_tap(config, catalog=catalog, state=run1.last_state)
    late = {k: v for k, v in emitted(run2, "report_daily").items() if k[1] == 199999}
    assert len(late) == 131
    assert late == {k: v for k, v in expected_daily(emu, first).items() if k[1] == 199999}
    assert run2.last_state["bookmarks"]["report_daily"]["scopes"]["199999"] == iso(today())


def test_report_requests_run_in_parallel_and_a_state_follows_every_window(reports):
    emu, config, catalog, first = reports(streams=["report_daily"], latency=0.02,
                                          config={"max_parallel_requests": 4})
    run = run_tap(config, catalog=catalog)
    requests = report_requests(emu)
    assert len(requests) == 3 * 9 * 7
    # Several in flight at once: some request arrived before an earlier one was answered.
    spans = sorted((r.time, r.time + r.duration) for r in requests)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:]))
    windows = [s["bookmarks"]["report_daily"]["scopes"] for s in run.states() if "report_daily" in s["bookmarks"]]
    assert len({tuple(sorted(w.items())) for w in windows}) >= 3 * 7


def test_a_killed_report_run_resumes_from_its_last_state_and_loses_no_day(reports, tmp_path):
    emu, config, catalog, first = reports()
    runs, state = [], None
    for kill_after in (150, 900, 1500):
        run = run_until_killed(config, catalog, state, kill_after, tmp_path)
        runs.append(run)
        state = run.last_state or state
    assert state is not None and state["bookmarks"]["report_daily"]["scopes"]
    runs.append(run_tap(config, catalog=catalog, state=state))
    assert latest_by_key(runs, "report_daily") == expected_daily(emu, first)
    assert latest_by_key(runs, "report_user_daily") == expected_user_daily(emu, first)
