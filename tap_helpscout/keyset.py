"""Customers as a keyset chain on `modifiedAt` (see search.py for why listings are chains).

Customers show their modification time as `updatedAt`, the value `modifiedSince` compares
against. Each request is page 1 of `modifiedSince` = the last row's time less a second; a second
holding more rows than a page is read on its own.
"""
from datetime import datetime, timedelta, timezone

from .errors import ApiError, MalformedAnswer
from .logs import get_logger
from .pages import Pass, covered, identity, modified_query
from .timefmt import api_time, parse_date_time

LOGGER = get_logger()
CLOCK_RESOLUTION = timedelta(seconds=1)


class TimeKeyset:
    """Customers by `modifiedAt` (shown as `updatedAt`): each request is page 1 of
    `modifiedSince` = the last row's time less a second, so rows tied at that second come again
    (a row read twice is harmless) and no offset is used. Whether `modifiedSince` is strict or
    inclusive does not matter. A second holding more rows than a page is read on its own
    (`read_tie`). A modified row moves to the end, where the chain finds it again; the chain
    stops once it reaches the time the listing began (later changes are the next run's)."""

    modes = ("keyset",)

    def __init__(self, listing):
        self.listing = listing
        self.ties_read = set()
        self.recent = {}            # id -> updatedAt, for the rows of the last two seconds

    def run(self, resume):
        listing = self.listing
        cursor = listing.since
        if resume:
            try:
                cursor = parse_date_time(resume["cursor"])
            except (KeyError, ValueError):
                cursor = listing.since
        while True:
            params = dict(listing.params, modifiedSince=api_time(cursor))
            page = listing.first_page(params) if listing.started_at is None else listing.fetch(1, params)
            times = self.times(page.items)
            fresh = [i for i in page.items if not self.seen(i)]
            listing.emit(page, fresh)
            self.remember(page.items, times)
            if page.holds_rest or not times:
                if not page.holds_rest:
                    raise MalformedAnswer(f"{listing.stream.name}: a full page without any usable "
                                          f"updatedAt; the listing cannot go on")
                return
            if any(b < a for a, b in zip(times, times[1:])) and not listing.unconfirmed:
                # Not in updatedAt order: moving on from the last row is still safe when the
                # hidden modification time the API sorts by is never before updatedAt, which no
                # source confirms; the bookmark then stays where it was.
                LOGGER.warning("%s: the rows did not come in updatedAt order", listing.stream.name)
                listing.unconfirmed = True
            last = times[-1]
            following = last - CLOCK_RESOLUTION
            if following <= cursor:
                # A full page within one second (or two, if modifiedSince is inclusive).
                if last not in self.ties_read:
                    self.read_tie(last)
                following = last if cursor < last else last + CLOCK_RESOLUTION
            cursor = following
            self.forget_before(cursor)
            listing.checkpoint({"mode": "keyset", "cursor": api_time(cursor)})
            if cursor > listing.started_at:
                return

    @staticmethod
    def times(items):
        times = []
        for item in items:
            try:
                times.append(parse_date_time(item["updatedAt"]))
            except (TypeError, KeyError, ValueError):
                continue
        return times

    def seen(self, item):
        return isinstance(item, dict) and item.get("id") in self.recent

    def remember(self, items, times=None):
        for item in items:
            if isinstance(item, dict) and item.get("id") is not None:
                self.recent[item["id"]] = item.get("updatedAt")

    def forget_before(self, cursor):
        """Only rows at or after the next request's `modifiedSince` can come again."""
        self.recent = {k: v for k, v in self.recent.items() if self.at_or_after(v, cursor)}

    @staticmethod
    def at_or_after(value, moment):
        try:
            return parse_date_time(value) >= moment
        except (TypeError, ValueError):
            return False

    def read_tie(self, second):
        """Every row modified in `second`: more than a page, so offset pages are needed, and
        the API may order tied rows differently on each request. With `query` ranges the tie
        is a listing of its own whose total says how many rows to expect; without, its pages
        are read in passes until a pass brings no new row."""
        listing = self.listing
        self.ties_read.add(second)
        stamp = api_time(second)
        params = dict(listing.params, query=modified_query(stamp, stamp))
        try:
            tie = listing.fetcher.read_all(listing.stream, listing.stream.path, params, listing.size)
            rows, complete = tie.items, tie.complete
        except ApiError as exc:
            if exc.status != 400 or exc.fatal:
                raise
            rows, complete = self.read_tie_by_offset(second)
        rows = [i for i in rows if self.times([i]) == [second]]     # the tie only
        fresh = [i for i in rows if not self.seen(i)]
        listing.emit(_Rows(rows, listing), fresh)
        self.remember(rows)
        if not complete:
            listing.unconfirmed = True

    def read_tie_by_offset(self, second):
        listing = self.listing
        params = dict(listing.params, modifiedSince=api_time(second - CLOCK_RESOLUTION))
        found, passes = {}, []
        for _ in range(3):
            before, read, number = len(found), Pass(), 1
            while True:
                page = listing.fetch(number, params, with_children=False)
                read.add(page)
                for index, item in enumerate(page.items):
                    found.setdefault(identity(item, number, index), item)
                times = self.times(page.items)
                if page.holds_rest or page.number >= page.pages or (times and max(times) > second):
                    break
                number += 1
            passes.append(read)
            if len(passes) > 1 and len(found) == before:
                return list(found.values()), True
        return list(found.values()), covered(passes)


class _Rows:
    """A set of rows emitted like a page (children are fetched as for any page)."""

    def __init__(self, rows, listing):
        self.items = rows
        self.fetched_at = datetime.now(timezone.utc)
        self.children = {}
        listing.fetch_children(self)
