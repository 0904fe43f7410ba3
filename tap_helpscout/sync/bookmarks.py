"""Where a sync starts reading, computed once for the sync and for `--check`: the start date,
each stream's bookmark time, the margin taken off the server's clock, and where the happiness
report's next read begins. Pure functions of the config, the state and the clock."""
from datetime import timedelta

from tap_helpscout.timefmt import format_date_time, parse_date_time

# Without start_date, the first run reads one year back (as the original integration did), and
# that start is kept in the state for every later run.
DEFAULT_HISTORY = timedelta(days=365)


def start_date(config, state, now):
    """(the start date, the value the state keeps as its `start_date`, or None to keep none).
    The config's start_date wins; without one, the start the first run chose, kept in the
    state; without that, one year before `now`."""
    if config.get("start_date"):
        return parse_date_time(config["start_date"]), None
    kept = state.get("start_date")
    start = parse_date_time(kept) if kept else now - DEFAULT_HISTORY
    return start, format_date_time(start)


def margin(config):
    """What a bookmark takes off the server's clock, for an index that lags behind it."""
    return timedelta(seconds=int(config.get("bookmark_margin_seconds") or 0))


def bookmark_time(bookmark, key, start):
    """The time a stream reads from: its bookmark under `key`, never before `start`."""
    value = (bookmark or {}).get(key)
    return max(parse_date_time(value), start) if value else start


def listing_since(bookmarks, streams, start):
    """Where one listing of several streams starts: the earliest of their bookmark times."""
    return min(bookmark_time(bookmarks.get(s.name), s.replication_key, start) for s in streams)


def report_start(bookmark, start, lookback_days):
    """(where the happiness report's read starts, whether it starts after `start`): where an
    interrupted read stopped; with `report_lookback_days`, the end of the previous complete
    read less that many days; else `start`."""
    bookmark = bookmark or {}
    if bookmark.get("window_start"):
        resume = parse_date_time(bookmark["window_start"])
        return resume, bookmark.get("partial", resume > start)
    if lookback_days and bookmark.get("read_until"):
        begin = max(start, parse_date_time(bookmark["read_until"]) - timedelta(days=lookback_days))
        return begin, begin > start
    return start, False
