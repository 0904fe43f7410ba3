"""Customers as a keyset chain on `modifiedAt` (see search.py for why listings are chains).

Customers show their modification time as `updatedAt`, the value `modifiedSince` compares
against. Each request is page 1 of `modifiedSince` = the last row's time less a second; a second
holding more rows than a page is read on its own.
"""
from datetime import datetime, timedelta, timezone

from .errors import ApiError, MalformedAnswer
from .logs import get_logger
from .pages import modified_query
from .timefmt import api_time, parse_date_time

LOGGER = get_logger()
CLOCK_RESOLUTION = timedelta(seconds=1)
PASSES = 5                      # reads of a tie whose rows keep reordering


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
        self.recent = {}            # id -> updatedAt, for the rows the next request may repeat
        self.tied = {}              # second -> ids of the rows seen in that tie
        self.pending = None         # (second, total) of a tie whose count the next request tells

    def run(self, resume):
        listing = self.listing
        cursor = listing.since
        if resume:
            try:
                cursor = parse_date_time(resume["cursor"])
            except (KeyError, ValueError):
                cursor = listing.since
        ahead = None
        while True:
            page = ahead.result() if ahead is not None else self.request(cursor)
            ahead = None
            times = self.times(page.items)
            if not page.holds_rest and not times:
                raise MalformedAnswer(f"{listing.stream.name}: a full page without any usable updatedAt; "
                                      f"the listing cannot go on")
            self.check_tie(cursor, page)
            following = None if page.holds_rest else self.following(cursor, page, times)
            if following is not None and following <= listing.started_at and not self.stuck(cursor, times):
                # The next request depends only on this page's last row: send it before this
                # page is written.
                ahead = listing.engine.chain_pool.submit(self.request, following)
            listing.emit(page, [i for i in page.items if not self.seen(i)])
            self.remember(page.items)
            if following is None:
                return
            if self.stuck(cursor, times) and times[-1] not in self.ties_read:
                self.read_tie(times[-1], page if cursor == times[-1] - CLOCK_RESOLUTION else None)
            cursor = following
            self.forget_before(cursor)
            listing.checkpoint({"mode": "keyset", "cursor": api_time(cursor)})
            if cursor > listing.started_at:
                return

    def request(self, cursor):
        listing = self.listing
        params = dict(listing.params, modifiedSince=api_time(cursor))
        return listing.first_page(params) if listing.started_at is None else listing.fetch(1, params)

    @staticmethod
    def stuck(cursor, times):
        """A full page within one second (or two, if modifiedSince is inclusive): moving on
        from its last row would not move the cursor."""
        return bool(times) and times[-1] - CLOCK_RESOLUTION <= cursor

    def following(self, cursor, page, times):
        listing = self.listing
        if any(b < a for a, b in zip(times, times[1:])) and not listing.unconfirmed:
            # Not in updatedAt order: moving on from the last row is still safe when the
            # hidden modification time the API sorts by is never before updatedAt, which no
            # source confirms; the bookmark then stays where it was.
            LOGGER.warning("%s: the rows did not come in updatedAt order", listing.stream.name)
            listing.unconfirmed = True
        last = times[-1]
        if not self.stuck(cursor, times):
            return last - CLOCK_RESOLUTION
        # After a tie: the rows after its second (modifiedSince=last), or after last + 1 s when
        # the API has shown that modifiedSince is inclusive (it returned rows at the cursor).
        return last if cursor < last else last + CLOCK_RESOLUTION

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

    def read_tie(self, second, first=None):
        """Every row modified in `second`: more than a page, so offset pages are needed, and
        the API may order tied rows differently on each request. With `query` ranges the tie
        is a listing of its own whose total says how many rows to expect. Without, its pages
        are read once (`first` is its page 1 when the chain has it already), and the next chain
        request, which lists the rows after that second, tells by its total how many rows the
        tie holds (`check_tie`): the tie is read again only if some are missing."""
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
            rows, total = self.read_tie_pages(second, first)
            complete = True
            self.pending = (second, total)
        self.emit_tie(second, rows)
        if not complete:
            listing.unconfirmed = True

    def emit_tie(self, second, rows):
        rows = [i for i in rows if self.times([i]) == [second]]     # the tie only
        self.tied.setdefault(second, set()).update(i.get("id") for i in rows if isinstance(i, dict))
        fresh = [i for i in rows if not self.seen(i)]
        self.listing.emit(_Rows(rows, self.listing), fresh)
        self.remember(rows)

    def read_tie_pages(self, second, first=None):
        """One pass over the pages of `modifiedSince` = `second` less a second, until a row
        after `second`; the rows and that listing's total."""
        listing = self.listing
        params = dict(listing.params, modifiedSince=api_time(second - CLOCK_RESOLUTION))
        rows, number, page = [], 1, first
        while True:
            if page is None:
                page = listing.fetch(number, params, with_children=False)
            rows.extend(page.items)
            times = self.times(page.items)
            if page.holds_rest or page.number >= page.pages or (times and max(times) > second):
                return rows, page.total
            number, page = number + 1, None

    def check_tie(self, cursor, page):
        """The chain's request right after a tie read by offset pages: with a strict
        modifiedSince, the tie held (total before it) - (total after it) rows. Missing ones
        are read again, in passes, until all are there (or the listing stays unconfirmed)."""
        if self.pending is None or self.pending[0] != cursor:
            return
        second, total_from_before = self.pending
        self.pending = None
        if any(t == second for t in self.times(page.items)):
            expected = None         # an inclusive modifiedSince: the totals tell nothing
        else:
            expected = total_from_before - page.total
        for _ in range(PASSES):
            if expected is not None and len(self.tied.get(second, ())) >= expected:
                return
            before = len(self.tied.get(second, ()))
            rows, _ = self.read_tie_pages(second)
            self.emit_tie(second, rows)
            if expected is None and len(self.tied[second]) == before:
                return              # a pass that brings no new row
        self.listing.unconfirmed = True


class _Rows:
    """A set of rows emitted like a page (children are fetched as for any page)."""

    def __init__(self, rows, listing):
        self.items = rows
        self.fetched_at = datetime.now(timezone.utc)
        self.children = {}
        listing.fetch_children(self)
