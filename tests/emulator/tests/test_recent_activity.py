"""`recent_conversations`: activity in the last `recent_days` days before `recent_until`, so that a
year of daily reports has figures; the default dataset is unchanged by it."""
import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.support.api_client import ApiClient
from tests.emulator import generate
from tests.emulator.dataset import iso, parse_iso

pytestmark = pytest.mark.timeout(120)

UNTIL = datetime(2026, 6, 1, tzinfo=timezone.utc)


def moments(data, conversations):
    for conv in conversations:
        yield conv["createdAt"]
        if "closedAt" in conv:
            yield conv["closedAt"]
        for thread in data.threads[conv["id"]]:
            yield thread["createdAt"]


def test_the_original_records_stay_as_they_were():
    plain = generate(seed=3, conversations=60, customers=40)
    recent = generate(seed=3, conversations=60, customers=40, recent_conversations=90, recent_days=100,
                      recent_until=UNTIL)
    assert len(recent.conversations) == 150
    for name in ("conversations", "customers", "users", "mailboxes", "organizations", "ratings", "workflows"):
        original = getattr(plain, name)
        assert json.dumps(getattr(recent, name)[:len(original)]) == json.dumps(original), name
    assert all(recent.threads[c["id"]] == plain.threads[c["id"]] for c in plain.conversations)
    assert plain._rng.getstate() == recent._rng.getstate(), "later changes draw the same"
    again = generate(seed=3, conversations=60, customers=40, recent_conversations=90, recent_days=100,
                     recent_until=UNTIL)
    assert json.dumps(again.conversations) == json.dumps(recent.conversations), "seeded"


def test_recent_activity_lies_in_the_window():
    data = generate(seed=3, conversations=20, customers=20, recent_conversations=200, recent_days=100,
                    recent_until=UNTIL)
    new = data.conversations[20:]
    stamps = list(moments(data, new))
    assert min(stamps) >= iso(UNTIL - timedelta(days=100)) and max(stamps) < iso(UNTIL)
    assert {c["type"] for c in new} == {"email", "chat", "phone"}
    assert {c["status"] for c in new} == {"active", "pending", "closed", "spam"}
    # spread evenly: 2 per day, so every day of the window has new conversations
    days = {c["createdAt"][:10] for c in new}
    assert len(days) == 100
    for conv in new:
        threads = data.threads[conv["id"]]
        assert threads[0]["createdAt"] == conv["createdAt"]
        assert [t["createdAt"] for t in threads] == sorted(t["createdAt"] for t in threads)
        if conv["status"] == "closed":
            assert conv["closedAt"] >= threads[-1]["createdAt"]


def test_default_window_ends_today_at_midnight():
    data = generate(seed=5, conversations=0, customers=10, recent_conversations=50)
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    stamps = list(moments(data, data.conversations))
    assert len(data.conversations) == 50
    assert max(stamps) < iso(today) and min(stamps) >= iso(today - timedelta(days=400))


def test_a_year_of_daily_reports_has_figures_every_day(make_emulator):
    emu = make_emulator(seed=6, conversations=30, customers=40, recent_conversations=800, recent_until=UNTIL)
    api = ApiClient(emu)
    start = UNTIL - timedelta(days=364)
    counts, replies = [], []
    while start < UNTIL:
        end = min(start + timedelta(days=60), UNTIL) - timedelta(seconds=1)
        params = {"start": iso(start), "end": iso(end), "viewBy": "day"}
        counts += [p["count"] for p in api.json("/reports/conversations/new", **params)["current"]]
        replies += [p["replies"] for p in api.json("/reports/productivity/replies-sent", **params)["current"]]
        start += timedelta(days=60)
    assert len(counts) == 364
    assert min(counts) >= 1, "800 conversations over 400 days: at least one new conversation every day"
    assert sum(1 for r in replies if r) > 330
    assert parse_iso(emu.data.conversations[-1]["createdAt"]) < UNTIL
