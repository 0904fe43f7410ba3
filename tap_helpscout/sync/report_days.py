"""The daily report streams' pure logic (readers/daily_reports.py does the requests): which days
a run reads for one scope, the windows it asks for them in, and how the points of the endpoints
join into one row per day. No I/O, no clock: the caller passes the server's now.

Windows start at 00:00:00Z of their first day and end at 23:59:59Z of their last (never at the
next midnight, which an inclusive `end` would count as one more point), at most WINDOW_DAYS days,
which both the current documentation (60) and the retired one (120) accept. Why: docs/streams.md.
"""
from datetime import timedelta, timezone

from tap_helpscout.timefmt import format_date_time, parse_date_time

WINDOW_DAYS = 60
DAY = timedelta(days=1)
LAST_SECOND = DAY - timedelta(seconds=1)
STAMPS = ("date", "start")          # the field that says where a point's period begins


class BadPoint(ValueError):
    """A point that cannot be placed on a day (no timestamp, or not a date-time)."""


def day_of(moment):
    """00:00:00Z of the UTC day of `moment` (an aware datetime)."""
    return moment.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def first_day(start_date, last_read, lookback_days):
    """The first day a run reads for one scope: the start date's day for a scope never read
    (`last_read` None), else the last day the previous run read less `lookback_days` days
    (that day itself is always read again: it was not over), never before the start date's."""
    start = day_of(start_date)
    if last_read is None:
        return start
    return max(start, day_of(last_read) - lookback_days * DAY)


def plan_windows(first, last, days=WINDOW_DAYS):
    """[(first day, last day), ...]: the days first..last (00:00:00Z datetimes) in consecutive
    windows of at most `days` days."""
    windows = []
    while first <= last:
        end = min(first + (days - 1) * DAY, last)
        windows.append((first, end))
        first = end + DAY
    return windows


def halves(first, last):
    """A window of two days or more in two windows (for an answer that refused its length)."""
    count = (last - first) // DAY + 1
    middle = first + (count // 2 - 1) * DAY
    return (first, middle), (middle + DAY, last)


def day_count(first, last):
    return (last - first) // DAY + 1


def request_range(first, last, now):
    """(start, end) of a request for the days first..last: 00:00:00Z of the first day to
    23:59:59Z of the last, or `now` when that is earlier (today is not over), whole seconds."""
    end = min(last + LAST_SECOND, now.replace(microsecond=0))
    return first, max(first, end)


def point_day(point):
    """The beginning of a point's period, from its `date` (or `start`)."""
    if not isinstance(point, dict):
        raise BadPoint(f"a point is not an object ({type(point).__name__})")
    for stamp in STAMPS:
        if point.get(stamp) is not None:
            try:
                return parse_date_time(point[stamp])
            except ValueError:
                raise BadPoint(f"a point's {stamp} is not a date-time") from None
    raise BadPoint("a point has neither date nor start")


def join_points(answers, first, last, columns):
    """{date: row} of the days first..last from `answers`, [(series, points)]: each row has
    `date` (the point's own beginning, RFC 3339) and every column of `columns`, null where no
    endpoint gave a figure. A point that begins at or after the next midnight (the extra point
    of an inclusive `end` there) is left out; one that begins up to a day before `first` is kept
    (days of another time zone than UTC begin there: visibly off, never lost). Raises BadPoint."""
    rows = {}
    end = last + DAY
    for series, points in answers:
        for point in points:
            moment = point_day(point)
            if not first - DAY < moment < end:
                continue
            date = format_date_time(moment)
            row = rows.get(date)
            if row is None:
                row = rows[date] = dict.fromkeys(columns)
                row["date"] = date
            for column, fields in series.figures.items():
                found = next((point[f] for f in fields if f in point), None)
                if found is not None or row[column] is None:
                    row[column] = found
    return dict(sorted(rows.items()))


def columns_of(series):
    return [column for one in series for column in one.figures]
