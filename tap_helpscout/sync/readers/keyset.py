"""Customers as a keyset chain on `modifiedAt` (see search.py for why listings are chains).

Customers show their modification time as `updatedAt`, the value `modifiedSince` compares
against. Each request is page 1 of `modifiedSince` = the last row's time less a second; a second
holding more rows than a page (a tie) is read on its own, and the chain's next totals tell how
many rows it holds.
"""
import functools
from datetime import datetime, timezone

from tap_helpscout.errors import ApiError, MalformedAnswer
from tap_helpscout.logs import get_logger
from tap_helpscout.sync.readers.fetch import proved
from tap_helpscout.sync.readers.paging import PASSES, modified_query
from tap_helpscout.timefmt import CLOCK_RESOLUTION, api_time, parse_date_time

LOGGER = get_logger(__name__)


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
        self.pending = None         # the tie whose end the chain's next totals tell: _Tie
        self.query_refused = False

    def run(self, resume):
        listing = self.listing
        cursor = listing.since
        if resume:
            try:
                cursor = parse_date_time(resume["cursor"])
            except (KeyError, ValueError):
                cursor = listing.since
        ahead, previous = None, None
        while True:
            page = ahead.result() if ahead is not None else self.request(cursor, previous)
            ahead = None
            times = self.times(page.items)
            if not page.holds_rest and not times:
                raise MalformedAnswer(f"{listing.stream.name}: a full page without any usable updatedAt; "
                                      f"the listing cannot go on")
            following = None if page.holds_rest else self.following(cursor, page, times)
            if following is not None and following <= listing.started_at and not self.stuck(cursor, times):
                # The next request depends only on this page's last row: send it before this
                # page is written.
                ahead = listing.context.workers.chain.submit(self.request, following, cursor)
            listing.emit(page, [i for i in page.items if not self.seen(i)])
            self.remember(page.items)
            if self.pending is not None:
                self.pending.note(self.upto_end(self.pending, page.items))
            self.count_tie(cursor, page, times, following)
            if following is None:
                break
            if self.stuck(cursor, times) and times[-1] not in self.ties_read:
                self.ties_read.add(times[-1])
                self.pending = _Tie(times[-1], cursor, page.total, following)
                self.pending.note(self.upto_end(self.pending, page.items))
            cursor, previous = following, cursor
            self.forget_before(cursor)
            # Until a tie has been read, a resumed run starts again from before it.
            resume_at = cursor if self.pending is None else self.pending.since
            listing.checkpoint({"mode": "keyset", "cursor": api_time(resume_at)})
            if cursor > listing.started_at:
                break
        if self.pending is not None:        # the chain ended before its totals told the tie's end
            tie, self.pending = self.pending, None
            self.read_tie_again(tie, expected=None)

    def request(self, cursor, previous=None):
        """Page 1 of the rows modified since `cursor`. `previous`: the cursor of the request
        before it, whose answer said rows remain. An answer without any is not trusted unless
        the listing from `previous`, read afresh, shows no row modified after `cursor` (deleted
        meanwhile, or the rows that remained were all of the tie's second that `cursor` is, which
        a strict `modifiedSince` leaves out); a row that shows there was perhaps modified after
        the empty answer: asked again, PASSES times, then Contradicted."""
        listing = self.listing
        params = dict(listing.params, modifiedSince=api_time(cursor))
        if listing.started_at is None:
            return listing.first_page(params)
        if previous is None:
            return listing.fetch(1, params)

        def trusted():
            LOGGER.info("%s: no row is modified after %s (deleted while the listing was read, or the "
                        "rows that remained were all of that second)", listing.stream.name, api_time(cursor))
            return listing.fetch(1, params)
        return proved(functools.partial(listing.fetch, 1, params),
                      lambda: self.shows_after(previous, cursor), trusted)

    def shows_after(self, since, moment):
        """Does the listing from `since` hold a row modified after `moment`? Its latest rows
        first (page 1 in descending order), so that a tie larger than a page cannot hide them."""
        listing = self.listing
        params = dict(listing.params, modifiedSince=api_time(since), sortOrder="desc")
        latest = listing.fetch(1, params, with_children=False)
        return any(t > moment for t in self.times(latest.items))

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
    # A second holding more rows than a page (a tie) is found on page 1 of the listing from
    # just before it, and read by that listing's offset pages. Where in that listing the tie
    # ends is told, at no cost, by the chain's next totals: the listing after the tie holds
    # (total from before it) - (rows up to its end). The pages are then read from the last one
    # to the first, page 1 again too: a tied row modified meanwhile moves to the end, so rows
    # behind it shift to lower offsets, which are still to be read; none can slip past.

    def count_tie(self, cursor, page, times, following):
        """The chain's requests right after a tie: with a strict `modifiedSince` the one from
        the tie's second lists the rows after it; with an inclusive one, that one lists the tie
        again and the one from the next second tells instead."""
        tie = self.pending
        if tie is None or cursor < tie.told_by:
            return
        if cursor > tie.told_by:                # the chain went past it: no totals to go by
            self.pending = None
            self.read_tie_again(tie, expected=None)
            return
        if any(t == tie.second for t in times):
            if page.holds_rest or max(times) > tie.second:
                self.pending = None         # the whole tie is on this very page
            else:
                tie.told_by = following
            return
        self.pending = None
        self.read_tie(tie, span=tie.total - page.total)

    def read_tie(self, tie, span):
        """The tie's listing, pages of the first `span` rows from the last to the first, then
        again until the rows up to the tie's end are all there (see above). Totals that do not
        fit what the pages show are not relied on: the pages are then read from the first on."""
        rows = self.read_span_pages(tie, span)
        if rows is None:
            self.read_tie_again(tie, expected=None)
            return
        self.emit_tie(tie, rows)
        if len(tie.seen) < span:
            self.read_tie_again(tie, expected=span)

    def read_span_pages(self, tie, span):
        """The pages of the tie's listing that hold its first `span` rows, from the last to the
        first; None when the totals do not fit what the pages show (the last of them holds no
        row up to the tie's end)."""
        listing = self.listing
        pages = -(-span // listing.size)
        if not 1 <= pages <= tie.total // listing.size + 1:
            return None
        params = dict(listing.params, modifiedSince=api_time(tie.since))
        rows = []
        for number in range(pages, 0, -1):
            page = listing.fetch(number, params, with_children=False)
            if number == pages and not self.upto_end(tie, page.items):
                return None
            rows.extend(page.items)
        return rows

    def upto_end(self, tie, rows):
        """The rows from the tie's listing start to the tie's end."""
        return [i for i in rows if any(tie.since <= t <= tie.second for t in self.times([i]))]

    def read_tie_again(self, tie, expected):
        """The tie read again until the rows up to its end number `expected` (None: until a
        read brings no new row): as a `query` listing of its own, complete when its pages agree,
        or where the API refuses `query`, its pages from the first on, in passes. What stays
        missing keeps the listing unconfirmed."""
        listing = self.listing
        if not self.query_refused:
            stamp = api_time(tie.second)
            params = dict(listing.params, query=modified_query(stamp, stamp))
            try:
                read = listing.fetcher.read_all(listing.stream, listing.stream.path, params, listing.size)
            except ApiError as exc:
                if exc.status != 400 or exc.fatal:
                    raise
                self.query_refused = True
            else:
                self.emit_tie(tie, read.items)
                if not read.complete:
                    listing.unconfirmed = True
                return
        for _ in range(PASSES):
            before = len(tie.seen)
            rows = self.read_span_pages(tie, expected) if expected is not None else None
            self.emit_tie(tie, rows if rows is not None else self.read_tie_pages(tie))
            if expected is not None and len(tie.seen) >= expected:
                return
            if expected is None and len(tie.seen) == before:
                return              # a pass that brings no new row
        listing.unconfirmed = True

    def read_tie_pages(self, tie):
        """One pass over the tie's listing from page 1, until a row after the tie."""
        listing = self.listing
        params = dict(listing.params, modifiedSince=api_time(tie.since))
        rows, number = [], 1
        while True:
            page = listing.fetch(number, params, with_children=False)
            rows.extend(page.items)
            times = self.times(page.items)
            if page.holds_rest or page.number >= page.pages or (times and max(times) > tie.second):
                return rows
            number += 1

    def emit_tie(self, tie, rows):
        rows = self.upto_end(tie, rows)
        fresh = [i for i in rows if not self.seen(i) and not tie.has(i)]
        tie.note(rows)
        self.listing.emit(_Rows(rows, self.listing), fresh)
        self.remember(rows)


class _Tie:
    """A second holding more rows than a page, found on page 1 of the listing from `since`
    (`total` rows in all), until the chain's request from `told_by` tells where it ends."""

    def __init__(self, second, since, total, told_by):
        self.second, self.since, self.total, self.told_by = second, since, total, told_by
        self.seen = set()           # ids of the rows up to its end seen so far, on any page

    def note(self, rows):
        self.seen.update(i.get("id") for i in rows if isinstance(i, dict))

    def has(self, row):
        return isinstance(row, dict) and row.get("id") in self.seen


class _Rows:
    """A set of rows emitted like a page (children are fetched as for any page)."""

    def __init__(self, rows, listing):
        self.items = rows
        self.fetched_at = datetime.now(timezone.utc)
        self.children = {}
        listing.fetch_children(self)
