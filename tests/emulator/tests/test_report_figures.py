"""The time-series reports' figures: every endpoint against figures worked out by hand on a tiny
account (report_account.py), the filters, the serving against `report_points`, figures
recomputed independently on a seeded account, and figures that change with new activity."""
from datetime import datetime, timedelta, timezone

import pytest

from tests.support.api_client import ApiClient
from tests.emulator import report_points
from tests.emulator.dataset import iso, parse_iso
from tests.emulator.report_series import SERIES

from .report_account import EXPECTED, EXPECTED_M1, EXPECTED_USERS, LAST_SECOND, START, hand_account

pytestmark = pytest.mark.timeout(60)

FIGURE_KEY = {"conversations/new": "count", "conversations/received-messages": "count",
              "company/customers-helped": "customers", "productivity/replies-sent": "replies",
              "productivity/resolved": "resolved", "productivity/first-response-time": "time",
              "productivity/response-time": "time", "productivity/resolution-time": "time",
              "user/replies": "replies", "user/customers-helped": "customers", "user/resolutions": "resolved"}


def series(api, endpoint, **params):
    body = api.json(f"/reports/{endpoint}", **{"start": START, "end": LAST_SECOND, "viewBy": "day", **params})
    return body["current"]


def figures(points, endpoint):
    if endpoint == "conversations/volume-by-channel":
        return [(p["chat"], p["email"], p["phone"]) for p in points]
    return [p[FIGURE_KEY[endpoint]] for p in points]


@pytest.fixture
def hand(make_emulator):
    emu, ids = hand_account(make_emulator)
    return ApiClient(emu), ids


def test_every_company_figure_matches_the_hand_computation(hand):
    api, _ = hand
    for endpoint, expected in EXPECTED.items():
        points = series(api, endpoint)
        stamp = "start" if endpoint in ("conversations/new", "conversations/received-messages") else "date"
        assert [p[stamp] for p in points] == ["2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z", "2026-03-04T00:00:00Z"]
        assert figures(points, endpoint) == expected, endpoint


def test_averages_are_decimals_rounded_to_two_places(hand):
    api, _ = hand
    raw = api.get("/reports/productivity/response-time", start=START, end=LAST_SECOND, viewBy="day").text
    assert '"time":1840.33' in raw and '"time":7200.0' in raw and '"time":null' in raw


def test_every_user_figure_matches_the_hand_computation(hand):
    api, ids = hand
    for name, by_endpoint in EXPECTED_USERS.items():
        for endpoint, expected in by_endpoint.items():
            assert figures(series(api, endpoint, user=ids[name]), endpoint) == expected, (name, endpoint)


def test_the_mailbox_filter_applies_to_every_report(hand):
    api, ids = hand
    for endpoint in ("conversations/new", "productivity/replies-sent", "productivity/first-response-time"):
        assert figures(series(api, endpoint, mailboxes=ids["M1"]), endpoint) == EXPECTED_M1[endpoint]
    assert figures(series(api, "user/replies", user=ids["U1"], mailboxes=ids["M1"]),
                   "user/replies") == EXPECTED_M1["user/replies U1"]
    both = f"{ids['M1']},{ids['M2']}"
    for endpoint in EXPECTED:
        assert series(api, endpoint, mailboxes=both) == series(api, endpoint), "every mailbox = no filter"
    assert figures(series(api, "conversations/new", mailboxes="999"), "conversations/new") == [0, 0, 0]


def test_types_and_tags_filters(hand):
    api, ids = hand
    assert figures(series(api, "conversations/new", types="chat"), "conversations/new") == [1, 0, 0]
    assert figures(series(api, "conversations/new", types="email,phone"), "conversations/new") == [1, 1, 0]
    # tag id 1 stands for untagged: the hand account has no tags at all
    assert figures(series(api, "conversations/new", tags="1"), "conversations/new") == [2, 1, 0]
    assert figures(series(api, "conversations/new", tags="424242"), "conversations/new") == [0, 0, 0]


def test_weeks_and_months_sum_the_days(hand):
    api, _ = hand
    week = api.json("/reports/conversations/received-messages", start=START, end="2026-03-15T23:59:59Z",
                    viewBy="week")["current"]
    # D: 3, D+1: 2, D+3: E's message at 00:00:00; nothing in the second week
    assert week == [{"start": "2026-03-02T00:00:00Z", "count": 6}, {"start": "2026-03-09T00:00:00Z", "count": 0}]
    month = api.json("/reports/productivity/resolved", start="2026-01-01T00:00:00Z", end="2026-03-31T23:59:59Z",
                     viewBy="month")["current"]
    assert month == [{"date": "2026-01-01T00:00:00Z", "resolved": 0}, {"date": "2026-02-01T00:00:00Z", "resolved": 0},
                     {"date": "2026-03-01T00:00:00Z", "resolved": 2}]
    month = api.json("/reports/productivity/resolution-time", start="2026-01-01T00:00:00Z",
                     end="2026-03-31T23:59:59Z", viewBy="month")["current"]
    assert month[2]["time"] == 84600.0                 # (104400 + 64800) / 2


def test_periods_follow_the_start_not_midnight(hand):
    api, _ = hand
    points = api.json("/reports/conversations/new", start="2026-03-02T12:00:00Z", end="2026-03-04T11:59:59Z",
                      viewBy="day")["current"]
    # A (08:00) falls before the start; B (D 10:00) too; C (D+1 15:00) in the second noon-to-noon day
    assert points == [{"start": "2026-03-02T12:00:00Z", "count": 0}, {"start": "2026-03-03T12:00:00Z", "count": 1}]


def test_serving_equals_report_points(hand):
    api, ids = hand
    emu = api.emu
    for endpoint in SERIES:
        user = ids["U1"] if endpoint.startswith("user/") else None
        params = {"user": user} if user else {}
        assert series(api, endpoint, **params) == report_points(emu.data, endpoint, START, LAST_SECOND, "day",
                                                                user=user, readings=emu.readings)


# ------------------------------------------------------------------------------------ a seeded account

UNTIL = datetime(2026, 6, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def seeded():
    from tests.emulator import Emulator
    emu = Emulator(seed=4, conversations=40, customers=30, recent_conversations=300, recent_days=120,
                   recent_until=UNTIL).start()
    yield ApiClient(emu)
    emu.stop()


def window_params(days=60):
    start = UNTIL - timedelta(days=days)
    return {"start": iso(start), "end": iso(UNTIL - timedelta(seconds=1)), "viewBy": "day"}, start


def test_seeded_counts_recomputed_independently(seeded):
    """new, replies-sent and resolved by day over 60 days, counted straight from emu.data."""
    params, start = window_params()
    data = seeded.emu.data
    days = [iso(start + timedelta(days=k))[:10] for k in range(60)]
    live = [c for c in data.conversations if c["status"] != "spam"]
    new = {d: sum(1 for c in live if c["createdAt"][:10] == d) for d in days}
    replies = {d: sum(1 for c in live for t in data.threads[c["id"]]
                      if t["createdAt"][:10] == d and t["type"] in ("reply", "chat")
                      and t["createdBy"]["type"] == "user" and t["state"] == "published") for d in days}

    def replied(c):
        return any(t["type"] in ("reply", "chat") and t["createdBy"]["type"] == "user" and t["state"] == "published"
                   for t in data.threads[c["id"]])

    resolved = {d: sum(1 for c in live if c["status"] == "closed" and c["closedAt"][:10] == d and replied(c))
                for d in days}
    got = {endpoint: {p.get("start", p.get("date"))[:10]: p[key] for p in seeded.json(f"/reports/{endpoint}",
                                                                                        **params)["current"]}
           for endpoint, key in (("conversations/new", "count"), ("productivity/replies-sent", "replies"),
                                 ("productivity/resolved", "resolved"))}
    assert got["conversations/new"] == new and sum(new.values()) > 100
    assert got["productivity/replies-sent"] == replies and sum(replies.values()) > 100
    assert got["productivity/resolved"] == resolved and sum(resolved.values()) > 20


def test_seeded_first_response_time_recomputed_independently(seeded):
    params, start = window_params(30)
    data = seeded.emu.data
    waits = {}
    for conv in data.conversations:
        if conv["status"] == "spam":
            continue
        threads = sorted((t for t in data.threads[conv["id"]] if t["state"] == "published"),
                         key=lambda t: t["createdAt"])       # sorted() is stable: ties keep the list order
        waiting = None
        for t in threads:
            if t["createdBy"]["type"] == "customer":
                waiting = waiting or parse_iso(t["createdAt"])
            elif t["type"] in ("reply", "chat") and waiting is not None:
                waits.setdefault(t["createdAt"][:10], []).append(
                    int((parse_iso(t["createdAt"]) - waiting).total_seconds()))
                break
    served = seeded.json("/reports/productivity/first-response-time", **params)["current"]
    assert len(served) == 30
    for point in served:
        day = waits.get(point["date"][:10])
        assert point["time"] == (round(sum(day) / len(day), 2) if day else None)
    assert sum(1 for p in served if p["time"] is not None) > 20


def test_seeded_serving_equals_report_points_for_every_endpoint(seeded):
    params, _ = window_params()
    emu = seeded.emu
    user = emu.data.users[1]["id"]
    mailbox = emu.data.mailboxes[0]["id"]
    for endpoint in SERIES:
        extra = {"user": user} if endpoint.startswith("user/") else {}
        for filters in ({}, {"mailboxes": str(mailbox)}):
            served = seeded.json(f"/reports/{endpoint}", **params, **extra, **filters)["current"]
            assert served == report_points(emu.data, endpoint, params["start"], params["end"], "day",
                                           mailboxes={mailbox} if filters else None, user=extra.get("user"),
                                           readings=emu.readings), (endpoint, filters)
            assert len(served) == 60


# ------------------------------------------------------------------------------------ changes

def test_figures_follow_new_activity(hand):
    api, ids = hand
    emu = api.emu
    # E waits since D+3 00:00 (a customer message): a reply by U1 at D+3 02:00 is its first response
    emu.add_thread(ids["E"], thread_type="reply", user_id=ids["U1"],
                   at=datetime(2026, 3, 5, 2, tzinfo=timezone.utc))
    params = {"start": "2026-03-05T00:00:00Z", "end": "2026-03-05T23:59:59Z", "viewBy": "day"}
    assert api.json("/reports/productivity/first-response-time", **params)["current"][0]["time"] == 7200.0
    assert api.json("/reports/user/replies", user=ids["U1"], **params)["current"][0]["replies"] == 1
    assert api.json("/reports/company/customers-helped", **params)["current"][0]["customers"] == 1
    assert api.json("/reports/productivity/resolved", **params)["current"][0]["resolved"] == 0
    emu.close_conversation(ids["E"], at=datetime(2026, 3, 5, 6, tzinfo=timezone.utc))
    assert api.json("/reports/productivity/resolved", **params)["current"][0]["resolved"] == 1
    assert api.json("/reports/productivity/resolution-time", **params)["current"][0]["time"] == 21600.0
    assert api.json("/reports/user/resolutions", user=ids["U1"], **params)["current"][0]["resolved"] == 1
    # reopening takes the resolution back; marking A as spam takes it out of every past figure
    emu.reopen_conversation(ids["E"])
    assert api.json("/reports/productivity/resolved", **params)["current"][0]["resolved"] == 0
    emu.reopen_conversation(ids["A"], status="spam")
    assert figures(series(api, "conversations/new"), "conversations/new") == [1, 1, 0]
    assert figures(series(api, "productivity/resolved"), "productivity/resolved") == [0, 0, 1]


def test_a_late_reply_makes_a_past_closure_a_resolution(hand):
    """A conversation closed without a reply is no resolution until someone replies."""
    api, ids = hand
    emu = api.emu
    four_days = {"end": "2026-03-05T23:59:59Z"}

    def resolved(**params):
        return figures(series(api, "productivity/resolved", **four_days, **params), "productivity/resolved")

    emu.close_conversation(ids["B"], user_id=ids["U0"], at=datetime(2026, 3, 4, 12, tzinfo=timezone.utc))
    assert resolved() == [0, 1, 2, 0]
    emu.close_conversation(ids["E"], at=datetime(2026, 3, 5, 6, tzinfo=timezone.utc))
    assert resolved() == [0, 1, 2, 0]
    emu.add_thread(ids["E"], thread_type="reply", user_id=ids["U2"])      # now: long after the closure
    assert resolved() == [0, 1, 2, 1]
    assert figures(series(api, "user/resolutions", user=ids["U2"], **four_days), "user/resolutions") == [0, 1, 1, 1]


def test_activity_now_shows_in_todays_point(make_emulator):
    emu = make_emulator(seed=2, conversations=10, customers=5)
    api = ApiClient(emu)
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    params = {"start": iso(today), "end": iso(today + timedelta(days=1, seconds=-1)), "viewBy": "day"}
    before = api.json("/reports/productivity/replies-sent", **params)["current"][0]["replies"]
    conversation = next(c for c in emu.data.conversations if c["status"] != "spam")
    thread = emu.add_thread(conversation["id"], thread_type="reply", user_id=emu.data.users[0]["id"])
    if thread["createdAt"] < params["end"]:                  # not across midnight
        assert api.json("/reports/productivity/replies-sent", **params)["current"][0]["replies"] == before + 1
    created = emu.create_conversation()
    assert emu.data.conversation(created)["createdAt"] >= params["start"]
