"""The daily reports' pure logic (sync/report_days.py): which days a run reads, the windows it
asks for them in, and how the endpoints' points join into rows. A fixed clock stands for the
server's."""
from datetime import datetime, timedelta, timezone

import pytest

from tap_helpscout.streams import SCOPE_SERIES, USER_SERIES, Series
from tap_helpscout.sync import report_days
from tap_helpscout.sync.report_days import (BadPoint, first_day, halves, join_points, plan_windows, request_range)

UTC = timezone.utc
NOW = datetime(2026, 3, 15, 13, 45, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def day(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_scope_never_read_starts_on_the_start_dates_day():
    assert first_day(day("2025-03-15T09:30:00"), None, 7) == day("2025-03-15")


def test_a_scope_read_before_starts_the_lookback_before_its_last_day_and_never_before_the_start():
    assert first_day(day("2025-03-15"), day("2026-03-14"), 7) == day("2026-03-07")
    assert first_day(day("2025-03-15"), day("2026-03-14"), 0) == day("2026-03-14")
    assert first_day(day("2026-03-10T10:00:00"), day("2026-03-14"), 30) == day("2026-03-10")


@pytest.mark.parametrize("days", [1, 59, 60, 61, 366, 730])
def test_windows_cover_every_day_once_in_at_most_sixty_days(days):
    first = day("2025-01-01")
    last = first + (days - 1) * DAY
    windows = plan_windows(first, last)
    assert windows[0][0] == first and windows[-1][1] == last
    assert all(b + DAY == c for (_, b), (c, _) in zip(windows, windows[1:]))
    assert all(report_days.day_count(a, b) <= 60 for a, b in windows)
    assert len(windows) == -(-days // 60)


def test_a_request_ends_one_second_before_the_next_midnight_or_now_and_never_before_its_start():
    assert request_range(day("2026-01-01"), day("2026-03-01"), NOW) == (day("2026-01-01"),
                                                                       day("2026-03-01T23:59:59"))
    assert request_range(day("2026-03-01"), day("2026-03-15"), NOW) == (day("2026-03-01"),
                                                                       day("2026-03-15T13:45:12"))
    # Whatever the end, the length stays under 60 days (the limit is on end - start).
    start, end = request_range(day("2026-01-01"), day("2026-01-01") + 59 * DAY, NOW + 365 * DAY)
    assert end - start < timedelta(days=60)


@pytest.mark.parametrize("days", [2, 3, 60, 61])
def test_halves_split_a_window_without_losing_a_day(days):
    first = day("2026-01-01")
    last = first + (days - 1) * DAY
    (a, b), (c, d) = halves(first, last)
    assert a == first and d == last and b + DAY == c and a <= b < c <= d


def test_points_of_every_endpoint_join_into_one_row_per_day_with_nulls_where_none_is_given():
    new = Series("/reports/conversations/new", {"new_conversations": ("count",)})
    channels = Series("/reports/conversations/volume-by-channel",
                      {"email_conversations": ("email",), "chat_conversations": ("chat",)})
    time = Series("/reports/productivity/first-response-time", {"first_response_time": ("time",)})
    columns = report_days.columns_of([new, channels, time])
    answers = [
        (new, [{"start": "2026-03-01T00:00:00Z", "count": 3}, {"start": "2026-03-02T00:00:00Z", "count": 0}]),
        (channels, [{"date": "2026-03-01T00:00:00Z", "email": 2, "chat": 1}]),
        (time, [{"date": "2026-03-01T00:00:00Z", "time": 1234.57}, {"date": "2026-03-02T00:00:00Z"},
                # the extra point of an inclusive end at the next midnight
                {"date": "2026-03-03T00:00:00Z", "time": None}]),
    ]
    rows = join_points(answers, day("2026-03-01"), day("2026-03-02"), columns)
    assert list(rows) == ["2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"]
    assert rows["2026-03-01T00:00:00Z"] == {"date": "2026-03-01T00:00:00Z", "new_conversations": 3,
                                            "email_conversations": 2, "chat_conversations": 1,
                                            "first_response_time": 1234.57}
    assert rows["2026-03-02T00:00:00Z"] == {"date": "2026-03-02T00:00:00Z", "new_conversations": 0,
                                            "email_conversations": None, "chat_conversations": None,
                                            "first_response_time": None}


def test_a_figure_named_as_an_older_description_names_it_is_read_too():
    received = next(s for s in SCOPE_SERIES if s.path.endswith("received-messages"))
    rows = join_points([(received, [{"date": "2026-03-01T00:00:00Z", "messages": 29}])],
                       day("2026-03-01"), day("2026-03-01"), ["received_messages"])
    assert rows["2026-03-01T00:00:00Z"]["received_messages"] == 29


@pytest.mark.parametrize("point", [{"count": 1}, {"date": "yesterday", "count": 1}, [1]])
def test_a_point_that_cannot_be_placed_on_a_day_is_refused(point):
    with pytest.raises(BadPoint):
        join_points([(SCOPE_SERIES[0], [point])], day("2026-03-01"), day("2026-03-01"), ["new_conversations"])


def test_the_reports_are_the_documented_twelve():
    paths = {s.path for s in SCOPE_SERIES + USER_SERIES}
    assert len(paths) == 12 and all(p.startswith("/reports/") for p in paths)
    assert {s.path for s in SCOPE_SERIES if s.office_hours} == {
        s.path for s in SCOPE_SERIES if s.path.startswith("/reports/productivity/")}
