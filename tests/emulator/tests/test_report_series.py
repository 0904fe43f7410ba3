"""The time-series report endpoints' shape, parameters and readings: field names of every
endpoint, plain JSON, `previous`, 400s for missing and bad parameters, the viewBy range limits
(day: 60 or 120 days), inclusive or half-open `end`, the quiet `time` readings, plan gating,
refused users and unknown users."""
from datetime import timedelta

import pytest

from tests.support.api_client import ApiClient
from tests.emulator import Emulator, generate, report_periods
from tests.emulator.dataset import iso, parse_iso
from tests.emulator.report_series import SERIES

from .report_account import LAST_SECOND, NEXT_MIDNIGHT, START, hand_account

pytestmark = pytest.mark.timeout(60)

POINT_KEYS = {
    "company/customers-helped": {"date", "customers"},
    "conversations/new": {"start", "count"},
    "conversations/volume-by-channel": {"date", "chat", "email", "phone"},
    "conversations/received-messages": {"start", "count"},
    "productivity/first-response-time": {"date", "time"},
    "productivity/replies-sent": {"date", "replies"},
    "productivity/resolution-time": {"date", "time"},
    "productivity/resolved": {"date", "resolved"},
    "productivity/response-time": {"date", "time"},
    "user/customers-helped": {"date", "customers"},
    "user/replies": {"date", "replies"},
    "user/resolutions": {"date", "resolved"},
}
DAY = {"start": START, "end": LAST_SECOND, "viewBy": "day"}


@pytest.fixture
def hand(make_emulator):
    emu, ids = hand_account(make_emulator)
    return ApiClient(emu), ids


def params_for(endpoint, ids, **params):
    return {**DAY, **({"user": ids["U1"]} if endpoint.startswith("user/") else {}), **params}


def assert_error(response, status, path=None):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/vnd.error+json"
    body = response.json()
    assert {"logRef", "message"} <= set(body)
    if path is not None:
        assert path in [e["path"] for e in body["_embedded"]["errors"]]
    return body


def test_the_twelve_endpoints_and_their_point_shapes(hand):
    api, ids = hand
    assert set(POINT_KEYS) == set(SERIES)
    for endpoint, keys in POINT_KEYS.items():
        response = api.get(f"/reports/{endpoint}", **params_for(endpoint, ids))
        assert response.status_code == 200, (endpoint, response.text)
        assert response.headers["Content-Type"] == "application/json"
        body = response.json()
        assert list(body) == ["current"], "plain JSON: no _links, _embedded, page or previous"
        assert len(body["current"]) == 3
        for point in body["current"]:
            assert set(point) == keys, endpoint
            stamp = point.get("date", point.get("start"))
            assert stamp.endswith("T00:00:00Z")
            for key in keys - {"date", "start", "time"}:
                assert isinstance(point[key], int), (endpoint, key)


def test_previous_only_with_both_bounds(hand):
    api, ids = hand
    body = api.json("/reports/conversations/new", **DAY, previousStart="2026-02-23T00:00:00Z",
                    previousEnd="2026-02-25T23:59:59Z")
    assert list(body) == ["current", "previous"]
    assert [p["start"] for p in body["previous"]] == ["2026-02-23T00:00:00Z", "2026-02-24T00:00:00Z",
                                                      "2026-02-25T00:00:00Z"]
    assert [p["count"] for p in body["previous"]] == [0, 0, 0]
    assert [p["count"] for p in body["current"]] == [2, 1, 0]
    # the previous range can be the current one: the same points
    same = api.json("/reports/user/replies", **DAY, user=ids["U1"], previousStart=START, previousEnd=LAST_SECOND)
    assert same["previous"] == same["current"]
    assert_error(api.get("/reports/conversations/new", **DAY, previousStart="2026-02-23T00:00:00Z"), 400, "previousEnd")
    assert_error(api.get("/reports/conversations/new", **DAY, previousEnd="2026-02-23T00:00:00Z"), 400, "previousStart")
    assert_error(api.get("/reports/conversations/new", **DAY, previousStart="2026-02-23T00:00:00Z",
                         previousEnd="2026-02-20T00:00:00Z"), 400, "previousEnd")
    assert_error(api.get("/reports/conversations/new", **DAY, previousStart="2025-12-01T00:00:00Z",
                         previousEnd="2026-02-25T23:59:59Z"), 400, "viewBy")      # the day limit holds there too


@pytest.mark.parametrize("missing", ["start", "end", "viewBy"])
def test_required_parameters(hand, missing):
    api, ids = hand
    for endpoint in ("conversations/new", "productivity/resolved", "user/replies"):
        params = {k: v for k, v in params_for(endpoint, ids).items() if k != missing}
        body = assert_error(api.get(f"/reports/{endpoint}", **params), 400, missing)
        assert body["_embedded"]["errors"][0]["message"] == "Required parameter is missing"


@pytest.mark.parametrize("name, value", [
    ("start", "2026-03-02"), ("start", "2026-03-02T00:00:00.000Z"), ("end", "2026-03-04T23:59:59+00:00"),
    ("end", "2026-02-30T00:00:00Z"), ("end", "2026-03-01T00:00:00Z"), ("viewBy", "hour"), ("viewBy", "DAY"),
    ("mailboxes", "1,x"), ("types", "fax"), ("tags", "vip"), ("folders", "x")])
def test_bad_parameters(hand, name, value):
    api, _ = hand
    assert_error(api.get("/reports/company/customers-helped", **{**DAY, name: value}), 400, name)


def test_office_hours_on_productivity_reports(hand):
    api, _ = hand
    plain = api.json("/reports/productivity/response-time", **DAY)
    for value in ("true", "false"):
        assert api.json("/reports/productivity/response-time", **DAY, officeHours=value) == plain
    assert_error(api.get("/reports/productivity/response-time", **DAY, officeHours="1"), 400, "officeHours")
    assert_error(api.get("/reports/productivity/resolved", **DAY, officeHours="yes"), 400, "officeHours")
    # not a parameter of the other reports: ignored, like every unknown parameter
    assert api.get("/reports/conversations/new", **DAY, officeHours="yes").status_code == 200


def test_user_reports_need_a_known_user(hand):
    api, ids = hand
    for endpoint in ("user/replies", "user/resolutions", "user/customers-helped"):
        assert_error(api.get(f"/reports/{endpoint}", **DAY), 400, "user")
        assert_error(api.get(f"/reports/{endpoint}", **DAY, user="me"), 400, "user")
        body = assert_error(api.get(f"/reports/{endpoint}", **DAY, user="12345"), 404)
        assert body["message"] == "User not found"
        team = api.emu.data.teams[0]["id"]
        assert_error(api.get(f"/reports/{endpoint}", **DAY, user=team), 404)      # team ids: not here
        assert api.get(f"/reports/{endpoint}", **DAY, user=ids["U2"]).status_code == 200


def test_refused_users_get_403_and_the_others_their_report(make_emulator):
    # the hand account's ids are a function of its seed and sizes: read U1's from the same dataset
    u1 = generate(seed=11, conversations=5, customers=3, mailboxes=2, users=3, teams=1, workflows=0, ratings=0,
                  organizations=1).users[1]["id"]
    emu, ids = hand_account(make_emulator, report_refused_users=(u1,))
    assert ids["U1"] == u1
    api = ApiClient(emu)
    for endpoint in ("user/replies", "user/resolutions", "user/customers-helped"):
        body = assert_error(api.get(f"/reports/{endpoint}", **DAY, user=ids["U1"]), 403)
        assert "_embedded" not in body
        assert api.get(f"/reports/{endpoint}", **DAY, user=ids["U2"]).status_code == 200
    assert api.get("/reports/productivity/replies-sent", **DAY).status_code == 200


def test_refused_users_option(make_emulator):
    probe = make_emulator(seed=5, conversations=5, customers=3)
    refused, allowed = probe.data.users[2]["id"], probe.data.users[3]["id"]
    emu = make_emulator(seed=5, conversations=5, customers=3, report_refused_users=[refused])
    api = ApiClient(emu)
    assert_error(api.get("/reports/user/replies", **DAY, user=refused), 403)
    assert api.get("/reports/user/replies", **DAY, user=allowed).status_code == 200


@pytest.mark.parametrize("status", [403, 401])
def test_standard_plan_refuses_every_report(make_emulator, status):
    emu = make_emulator(seed=5, conversations=10, customers=5, plan="standard", reports_status=status)
    api = ApiClient(emu)
    user = emu.data.users[0]["id"]
    for endpoint in SERIES:
        body = assert_error(api.get(f"/reports/{endpoint}", **DAY, user=user), status)
        assert "Standard plan" in body["message"]
    # even a request that would be a 400 is refused first, and the rest of the API keeps working
    assert_error(api.get("/reports/conversations/new"), status)
    assert api.get("/conversations").status_code == 200
    assert api.get("/users").status_code == 200


def test_unknown_report_paths_are_404(hand):
    api, _ = hand
    for path in ("/reports/conversations/old", "/reports/user", "/reports/productivity/resolved/extra"):
        assert_error(api.get(path, **DAY), 404)


# ------------------------------------------------------------------------------------ range limits

def days_after(start, days, seconds=0):
    return iso(parse_iso(start) + timedelta(days=days, seconds=seconds))


@pytest.mark.parametrize("limit", [60, 120])
def test_day_limit(make_emulator, limit):
    emu, _ = hand_account(make_emulator, report_day_limit=limit)
    api = ApiClient(emu)
    start = "2026-01-01T00:00:00Z"
    longest = api.json("/reports/conversations/new", start=start, end=days_after(start, limit), viewBy="day")
    assert len(longest["current"]) == limit + 1          # inclusive end: the last second's own point
    half_open_safe = api.json("/reports/conversations/new", start=start, end=days_after(start, limit, -1),
                              viewBy="day")
    assert len(half_open_safe["current"]) == limit
    body = assert_error(api.get("/reports/conversations/new", start=start, end=days_after(start, limit, 1),
                                viewBy="day"), 400, "viewBy")
    error = body["_embedded"]["errors"][0]
    assert "too long for viewBy=day" in error["message"] and f"at most {limit} days" in error["message"]
    assert error["rejectedValue"] == "day"
    # the same range is fine by week
    assert api.get("/reports/conversations/new", start=start, end=days_after(start, limit, 1),
                   viewBy="week").status_code == 200
    if limit == 60:
        assert_error(api.get("/reports/conversations/new", start=start, end=days_after(start, 120),
                             viewBy="day"), 400, "viewBy")


def test_week_and_month_limits(hand):
    api, _ = hand
    start = "2025-03-01T00:00:00Z"
    year = api.json("/reports/productivity/resolved", start=start, end=days_after(start, 365), viewBy="week")
    assert len(year["current"]) == 53
    body = assert_error(api.get("/reports/productivity/resolved", start=start, end=days_after(start, 365, 1),
                                viewBy="week"), 400, "viewBy")
    assert "too long for viewBy=week" in body["_embedded"]["errors"][0]["message"]
    body = assert_error(api.get("/reports/productivity/resolved", start=start, end=days_after(start, 61, -1),
                                viewBy="month"), 400, "viewBy")
    assert "too short for viewBy=month" in body["_embedded"]["errors"][0]["message"]
    months = api.json("/reports/productivity/resolved", start=start, end=days_after(start, 61), viewBy="month")
    assert [p["date"] for p in months["current"]] == ["2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z",
                                                      "2025-05-01T00:00:00Z"]
    # long months are fine
    assert api.get("/reports/productivity/resolved", start="2020-01-01T00:00:00Z", end=LAST_SECOND,
                   viewBy="month").status_code == 200


def test_month_periods_clamp_the_day():
    periods = report_periods("2026-01-31T06:00:00Z", "2026-04-30T06:00:00Z", "month", end_inclusive=False)
    assert [(b.isoformat(), s.isoformat()) for b, s in periods] == [
        ("2026-01-31T06:00:00+00:00", "2026-02-28T06:00:00+00:00"),
        ("2026-02-28T06:00:00+00:00", "2026-03-31T06:00:00+00:00"),
        ("2026-03-31T06:00:00+00:00", "2026-04-30T06:00:00+00:00")]


# ------------------------------------------------------------------------------------ end, quiet time

def test_inclusive_end_gives_the_next_midnight_its_own_point(hand):
    api, _ = hand
    points = api.json("/reports/conversations/new", start=START, end=NEXT_MIDNIGHT, viewBy="day")["current"]
    # E was created at that very second: the extra, nearly empty point holds it
    assert points == [{"start": "2026-03-02T00:00:00Z", "count": 2}, {"start": "2026-03-03T00:00:00Z", "count": 1},
                      {"start": "2026-03-04T00:00:00Z", "count": 0}, {"start": "2026-03-05T00:00:00Z", "count": 1}]
    safe = api.json("/reports/conversations/new", start=START, end=LAST_SECOND, viewBy="day")["current"]
    assert safe == points[:3]
    single = api.json("/reports/conversations/new", start=START, end=START, viewBy="day")["current"]
    assert single == [{"start": START, "count": 0}]


def test_half_open_end(make_emulator):
    emu, _ = hand_account(make_emulator, report_end_inclusive=False)
    api = ApiClient(emu)
    points = api.json("/reports/conversations/new", start=START, end=NEXT_MIDNIGHT, viewBy="day")["current"]
    assert [p["count"] for p in points] == [2, 1, 0] and points[-1]["start"] == "2026-03-04T00:00:00Z"
    # the last second's events are lost to a half-open range ending at 23:59:59
    points = api.json("/reports/conversations/new", start=START, end=LAST_SECOND, viewBy="day")["current"]
    assert len(points) == 3
    assert api.json("/reports/conversations/new", start=START, end=START, viewBy="day")["current"] == []


def test_partial_last_point(hand):
    api, _ = hand
    # the second day is cut at 12:00: C (15:00) is not in it
    points = api.json("/reports/conversations/new", start=START, end="2026-03-03T12:00:00Z", viewBy="day")["current"]
    assert points == [{"start": START, "count": 2}, {"start": "2026-03-03T00:00:00Z", "count": 0}]


@pytest.mark.parametrize("reading, expected", [("null", {"time": None}), ("zero", {"time": 0}), ("absent", {})])
def test_quiet_time_readings(make_emulator, reading, expected):
    options = {} if reading == "null" else {"report_quiet_time": reading}
    emu, _ = hand_account(make_emulator, **options)
    api = ApiClient(emu)
    points = api.json("/reports/productivity/first-response-time", **DAY)["current"]
    assert points[0] == {"date": START, "time": 2730.5}
    assert points[1] == {"date": "2026-03-03T00:00:00Z", **expected}
    assert points[2] == {"date": "2026-03-04T00:00:00Z", **expected}
    # counts of quiet periods are 0 under every reading
    assert api.json("/reports/productivity/resolved", **DAY)["current"][0] == {"date": START, "resolved": 0}


def test_reading_options_are_checked():
    with pytest.raises(ValueError):
        Emulator(report_quiet_time="nothing")
    with pytest.raises(ValueError):
        Emulator(report_day_limit=0)
