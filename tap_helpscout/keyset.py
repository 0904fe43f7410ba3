"""Customers as a keyset chain on `modifiedAt` (see search.py for why listings are chains).

Customers show their modification time as `updatedAt`, the value `modifiedSince` compares
against. Each request is page 1 of `modifiedSince` = the last row's time less a second; a second
holding more rows than a page (a tie) is read on its own, and the chain's next totals tell how
many rows it holds.
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
        self.pending = None         # the tie whose count the chain's next totals tell: _Count
        self.query_refused = False

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
            following = None if page.holds_rest else self.following(cursor, page, times)
            if following is not None and following <= listing.started_at and not self.stuck(cursor, times):
                # The next request depends only on this page's last row: send it before this
                # page is written.
                ahead = listing.engine.chain_pool.submit(self.request, following)
            listing.emit(page, [i for i in page.items if not self.seen(i)])
            self.remember(page.items)
            self.count_tie(cursor, page, times)
            if following is None:
                break
            if self.stuck(cursor, times) and times[-1] not in self.ties_read:
                self.read_tie(times[-1], page if cursor == times[-1] - CLOCK_RESOLUTION else None)
            cursor = following
            self.forget_before(cursor)
            # Until a tie's count is known, a resumed run starts again from that tie.
            resume_at = cursor if self.pending is None else self.pending.second - CLOCK_RESOLUTION
            listing.checkpoint({"mode": "keyset", "cursor": api_time(resume_at)})
            if cursor > listing.started_at:
                break
        if self.pending is not None:        # the chain ended before its totals told the count
            second, self.pending = self.pending.second, None
            self.read_tie_again(second, expected=None)

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

    def remember(self, items):
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

    # -- ties ----------------------------------------------------------------------------
    def read_tie(self, second, first=None):
        """Every row modified in `second`: more than a page, so its offset pages are read once
        (`first` is its page 1 when the chain has it already). The API may order tied rows
        differently on each request, so a row can slip past. The chain's next totals tell how
        many rows the tie holds, at no cost (`count_tie`); only if some are missing is the tie
        read again."""
        self.ties_read.add(second)
        rows, total = self.read_tie_pages(second, first)
        self.emit_tie(second, rows)
        self.pending = _Count(second, total)

    def count_tie(self, cursor, page, times):
        """The chain's requests right after a tie. With a strict `modifiedSince`, the one from
        the tie's second lists the rows after it: the tie held (total before it) - (its total).
        With an inclusive one, that request lists the tie again, and the one after it (from the
        next second) gives the count instead."""
        count = self.pending
        if count is None:
            return
        if cursor != count.second + count.offset:
            if cursor > count.second + count.offset:    # the chain went past it: no count
                self.pending = None
                self.read_tie_again(count.second, expected=None)
            return
        at_second = [i for i, t in zip(page.items, self.times(page.items)) if t == count.second]
        self.tied.setdefault(count.second, set()).update(i.get("id") for i in at_second if isinstance(i, dict))
        if at_second and count.offset == timedelta(0):
            if page.holds_rest:             # every row from that second on is on this page
                self.pending = None
            else:
                self.pending = _Count(count.second, page.total, CLOCK_RESOLUTION)
            return
        self.pending = None
        expected = count.total - page.total
        if len(self.tied[count.second]) < expected:
            self.read_tie_again(count.second, expected)

    def read_tie_again(self, second, expected):
        """The tie read again until it holds `expected` rows (None: until a read brings no new
        row): as a `query` listing of its own, whose total is exact, or where the API refuses
        `query`, its offset pages in passes. What stays missing keeps the listing unconfirmed."""
        listing = self.listing
        if not self.query_refused:
            stamp = api_time(second)
            params = dict(listing.params, query=modified_query(stamp, stamp))
            try:
                tie = listing.fetcher.read_all(listing.stream, listing.stream.path, params, listing.size)
            except ApiError as exc:
                if exc.status != 400 or exc.fatal:
                    raise
                self.query_refused = True
            else:
                self.emit_tie(second, tie.items)
                if not tie.complete:
                    listing.unconfirmed = True
                return
        for _ in range(PASSES):
            before = len(self.tied.get(second, ()))
            if expected is not None and before >= expected:
                return
            rows, _ = self.read_tie_pages(second)
            self.emit_tie(second, rows)
            if expected is None and len(self.tied[second]) == before:
                return              # a pass that brings no new row
        if expected is None or len(self.tied.get(second, ())) < expected:
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


class _Count:
    """A tie whose row count the chain's request from `second + offset` tells: `total` rows
    were listed from the tie's start."""

    def __init__(self, second, total, offset=timedelta(0)):
        self.second, self.total, self.offset = second, total, offset


class _Rows:
    """A set of rows emitted like a page (children are fetched as for any page)."""

    def __init__(self, rows, listing):
        self.items = rows
        self.fetched_at = datetime.now(timezone.utc)
        self.children = {}
        listing.fetch_children(self)
