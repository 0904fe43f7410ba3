"""Conversations by `number` (unique, never changes) for the SEARCH reader: page 1 of the plain
listing, then chains of page-1 requests over `(number:[N TO M])` windows, several at once; where
the API refuses or ignores `query` ranges, offset pages from the last to the first
(`offset.OffsetPages`). docs/design/listings.md tells why.
"""
import functools
from concurrent.futures import FIRST_COMPLETED, wait

from tap_helpscout.errors import ApiError, MalformedAnswer
from tap_helpscout.logs import get_logger
from tap_helpscout.sync.readers.fetch import proved
from tap_helpscout.sync.readers.offset import OffsetPages
from tap_helpscout.sync.readers.paging import number_query, numbers_of, split_range

LOGGER = get_logger(__name__)
WINDOW_MIN_PAGES = 10           # a window shorter than this is not worth a chain of its own


class QueryRefused(Exception):
    """The API refused or ignored a `query` range: the listing falls back to offset pages."""


class NumberWindows:
    """Conversations by `number`: page 1 of the plain listing first, then chains of page-1
    requests over `(number:[N TO M])` windows, several at once. No offset, so rows sliding
    between pages and refused deep pages do not matter; `number` is unique, so there are no
    ties. Where the API refuses or ignores `query`, the offset reader takes over."""

    modes = ("windows", "pages")

    def __init__(self, listing):
        self.listing = listing

    def run(self, resume):
        listing = self.listing
        if resume and resume["mode"] == "pages":
            return OffsetPages(listing).run(resume=resume)
        if resume:
            windows = [dict(w) for w in resume.get("windows", []) if isinstance(w, dict) and "low" in w]
            return self.read_windows(windows)
        first = listing.first_page(with_children=False)
        if first.holds_rest or not numbers_of(first.items):
            listing.fetch_children(first)
            listing.emit(first)
            return None
        window = {"low": max(numbers_of(first.items)) + 1, "high": None}
        try:
            probe = self.fetch_window(window, probe=True, earlier=listing.params)
        except QueryRefused as why:
            # Page 1 is read again at the end of the offset pass: it is not written twice.
            LOGGER.info("%s: %s; reading the listing page by page instead", listing.stream.name, why)
            return OffsetPages(listing).run(first=first)
        listing.fetch_children(first)
        listing.emit(first)
        windows = [window]
        ready = [(probe, window)]
        remaining = probe.total - len(probe.items)
        if self.worth_splitting(remaining) and numbers_of(probe.items):
            top = self.top_page(window)
            windows, ready = self.split(probe, window, top)
        return self.read_windows(windows, ready)

    def worth_splitting(self, remaining):
        listing = self.listing
        return listing.context.workers.parallel > 1 and remaining > 2 * WINDOW_MIN_PAGES * listing.size

    def top_page(self, window):
        """The highest numbers of the window (one request, whose rows are emitted like any
        other): the windows can then be planned between the two ends. The probe showed rows
        there, so it cannot be empty unless they were deleted meanwhile."""
        listing = self.listing
        params = dict(listing.params, sortOrder="desc", query=number_query(window["low"], None))
        top = self.trusted(params, self.window_params(window), window["low"])
        self.check_range(top, window, descending=True)
        return top

    def window_params(self, window):
        return dict(self.listing.params, query=number_query(window["low"], window["high"]))

    def trusted(self, params, earlier, low):
        """Page 1 of `params`, which earlier answers (to `earlier`) say holds rows numbered from
        `low` on. An answer without rows is trusted only when `earlier`, read afresh, shows none
        from `low` on any more (deleted meanwhile); a row that shows there was perhaps created,
        or modified into the listing, after the empty answer: asked again, PASSES times, then
        Contradicted."""
        listing = self.listing
        if earlier is None:
            return listing.fetch(1, params)

        def trusted():
            LOGGER.info("%s: the rows numbered from %d were deleted while the listing was read",
                        listing.stream.name, low)
            return listing.fetch(1, params)
        return proved(functools.partial(listing.fetch, 1, params), lambda: self.shows_from(earlier, low), trusted)

    def shows_from(self, earlier, low):
        """Does the listing of `earlier` hold a row numbered from `low` on? Its highest numbers
        first (page 1 in descending order), so that rows below `low` that joined it meanwhile
        cannot hide them; a page not in that order proves nothing (counted as showing one)."""
        latest = self.listing.fetch(1, dict(earlier, sortOrder="desc"), with_children=False)
        numbers = numbers_of(latest.items)
        descending = latest.holds_rest or numbers == sorted(numbers, reverse=True)
        return not descending or any(n >= low for n in numbers)

    def split(self, probe, window, top):
        """Windows between the probe's rows and the top page's. The two pages are windows of
        their own, done once written (until then a resumed run reads them again)."""
        listing = self.listing
        low = max(numbers_of(probe.items)) + 1
        tops = numbers_of(top.items)
        if top.holds_rest or not tops or min(tops) - 1 < low:
            # The two ends meet: what the probe did not hold, the top page does.
            probe_window = {"low": window["low"], "high": low - 1, "final": True}
            top_window = {"low": low, "high": None, "final": True}
            return [probe_window, top_window], [(probe, probe_window), (top, top_window)]
        high = min(tops) - 1
        parts = min(listing.context.workers.parallel,
                    max(1, (probe.total - len(probe.items) - len(top.items)) // (WINDOW_MIN_PAGES * listing.size)))
        probe_window = {"low": window["low"], "high": low - 1, "final": True}
        top_window = {"low": min(tops), "high": None, "final": True}
        middle = [{"low": a, "high": b} for a, b in split_range(low, high, parts)]
        return [probe_window, *middle, top_window], [(probe, probe_window), (top, top_window)]

    def fetch_window(self, window, probe=False, earlier=None):
        """Page 1 of a window; `earlier`: the params of an earlier request whose answer showed
        rows in it (see `trusted`). The probe, the first window, tells whether the API takes
        `query` ranges at all: refused, ignored or answered empty where the listing's first page
        shows rows, the listing is read by offset pages instead."""
        params = self.window_params(window)
        try:
            page = self.trusted(params, None if probe else earlier, window["low"])
            if probe and earlier is not None and not page.items:
                raise QueryRefused("the API answered the search query without rows where the listing has some")
        except ApiError as exc:
            if probe and exc.status == 400 and not exc.fatal:
                raise QueryRefused(f"the API refused the search query ({exc})") from None
            raise
        self.check_range(page, window, probe)
        return page

    def check_range(self, page, window, probe=False, descending=False):
        """The chain moves on from the highest number of a page: that is only safe when the
        rows came in number order and within the range asked for."""
        numbers = numbers_of(page.items)
        outside = [n for n in numbers if n < window["low"] or (window["high"] is not None and n > window["high"])]
        ordered = numbers == sorted(numbers, reverse=descending)
        problem = None
        if outside:
            problem = "rows outside the requested number range came back"
        elif not ordered:
            problem = "the rows did not come in number order"
        elif not page.holds_rest and len(numbers) < len(page.items):
            problem = "a page holds rows without a number"
        if problem is None:
            return
        if probe:
            raise QueryRefused(f"the API ignored the search query ({problem})")
        raise MalformedAnswer(f"{self.listing.stream.name}: {problem} for "
                              f"{number_query(window['low'], window['high'])}")

    def read_windows(self, windows, ready=()):
        """Chains over `windows`, several in flight: a window's next page is requested as soon
        as its previous one arrives, and its `low` moves only once that page is written, so the
        state never passes a row that was not emitted."""
        pool = self.listing.context.workers.pool
        ready = list(ready)
        in_flight = {}
        for page, window in ready:
            self.chain_on(page, window, in_flight)
        for window in windows:
            if not any(window is w for _, w in ready):
                in_flight[pool.submit(self.fetch_window, dict(window))] = window
        try:
            while ready or in_flight:
                if not ready:
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        window = in_flight.pop(future)
                        page = future.result()
                        self.chain_on(page, window, in_flight)
                        ready.append((page, window))
                page, window = ready.pop(0)
                self.listing.emit(page)
                if window.get("final") or page.holds_rest or not numbers_of(page.items):
                    window["done"] = True
                else:
                    window["low"] = max(numbers_of(page.items)) + 1
                self.listing.checkpoint({"mode": "windows", "windows": [
                    {"low": w["low"], "high": w["high"]} for w in windows if not w.get("done")]})
        finally:
            for future in in_flight:
                future.cancel()

    def chain_on(self, page, window, in_flight):
        """Ask for the window's next page at once, before this one is written."""
        if window.get("final") or page.holds_rest or not numbers_of(page.items):
            return
        following = {"low": max(numbers_of(page.items)) + 1, "high": window["high"]}
        earlier = self.window_params(window)        # the page's own request: it showed more rows
        in_flight[self.listing.context.workers.pool.submit(self.fetch_window, following, False, earlier)] = window
