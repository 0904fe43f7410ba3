"""The large listings (conversations, customers): backed by a search index, paged by offset,
filtered by `modifiedSince`, and changing while they are read.

Offset paging loses rows when rows slide between pages (created, deleted or modified during the
read, or tied rows returned in another order by the next request), and a search backend may
refuse deep pages. So wherever the API allows, a listing is read as a *keyset* chain: every
request asks for page 1 of the rows after the last one read, and no offset is ever used.
- Conversations are ordered by `number` (unique, never changes). With the documented `query`
  ranges the listing is split into windows `(number:[N TO M])` read in parallel
  (`NumberWindows`); where the API refuses `query`, the offset pages are read from the last to
  the first with boundary checks (`offset.OffsetPages`).
- Customers are ordered by `modifiedAt`, which they show as `updatedAt`: the chain moves
  `modifiedSince` forward (`TimeKeyset`); a tie larger than a page is read on its own.
The next run starts from the server's clock when this one began, less a margin for index lag.
"""
from concurrent.futures import FIRST_COMPLETED, wait
from datetime import timedelta

from tap_helpscout.errors import ApiError, MalformedAnswer
from tap_helpscout.logs import get_logger
from tap_helpscout.sync.readers.offset import OffsetPages
from tap_helpscout.sync.readers.paging import number_query, numbers_of, split_range
from tap_helpscout.streams import BY_MODIFIED, BY_NUMBER, EMBEDDED
from tap_helpscout.timefmt import api_time, parse_date_time, utc_now

LOGGER = get_logger()
CLOCK_RESOLUTION = timedelta(seconds=1)
WINDOW_MIN_PAGES = 10           # a window shorter than this is not worth a chain of its own


class QueryRefused(Exception):
    """The API refused or ignored a `query` range: the listing falls back to offset pages."""


class SearchListing:
    """What the strategies share: the family being read, the filter, emitting pages with their
    separately fetched children, checkpoints and the final bookmark."""

    def __init__(self, engine, family):
        self.engine = engine
        self.family = family
        self.stream = family.root
        self.fetcher = engine.fetcher
        self.embedded = [c for c in family.children if c.reader == EMBEDDED and family.is_selected(c)]
        self.size = self.stream.page_size
        self.unconfirmed = False
        self.started_at = None
        self.since = None
        self.params = {}

    # -- the run -------------------------------------------------------------------------
    def run(self):
        members = self.family.selected
        self.since = min(self.engine.bookmark_time(s) for s in members)
        self.params = {**self.stream.params, "sortField": self.stream.sort_field,
                       "sortOrder": "asc", "modifiedSince": api_time(self.since)}
        if self.embedded:
            self.params["embed"] = ",".join(c.embed for c in self.embedded)
        self.strategy = STRATEGIES[self.stream.keyset](self)
        resume = self.resume_point()
        LOGGER.info("%s: listing rows modified since %s%s", self.stream.name, self.params["modifiedSince"],
                    f", resuming ({resume['mode']})" if resume else "")
        self.strategy.run(resume)
        if self.unconfirmed:
            # Losing nothing comes first: the next run lists the same range again.
            LOGGER.warning("%s: the listing could not be confirmed complete; the bookmark stays at %s so that "
                           "the next run reads these rows again", self.stream.name, api_time(self.since))
            self.finish(self.since + self.engine.margin)
        else:
            self.finish(self.started_at)

    def resume_point(self):
        """The progress an interrupted run left, when it belongs to this same listing."""
        points = [self.engine.out.bookmark(s.name).get("listing") for s in self.family.selected]
        point = points[0]
        if not point or any(p != point for p in points):
            return None
        if not isinstance(point, dict) or point.get("since") != api_time(self.since) \
                or point.get("mode") not in self.strategy.modes:
            LOGGER.warning("%s: the state's resume point is from another version or another listing; it is "
                           "dropped and the listing restarts from its bookmark", self.stream.name)
            return None
        try:
            self.started_at = parse_date_time(point["started_at"])
        except (KeyError, ValueError):
            return None
        return point

    def first_page(self, params=None, with_children=True):
        """Page 1; its answer's Date header starts the clock for the next run's bookmark."""
        requested_at = utc_now()
        page = self.fetch(1, params, with_children)
        if self.started_at is None:
            # The next run lists rows modified after this instant. Both clocks count whole
            # seconds and a row modified later in the same second carries that second: one
            # second earlier, from the earlier of the two clocks.
            self.started_at = min(page.server_time or requested_at, requested_at) - CLOCK_RESOLUTION
        return page

    # -- pages ---------------------------------------------------------------------------
    def fetch(self, number, params=None, with_children=True):
        page = self.fetcher.page(self.stream, self.stream.path, params or self.params, number, self.size)
        if with_children:
            self.fetch_children(page)
        return page

    def fetch_children(self, page):
        for child in self.embedded:
            for item in page.items:
                if not isinstance(item, dict) or item.get("id") is None:
                    continue
                embedded = (item.get("_embedded") or {}).get(child.embed) \
                    if isinstance(item.get("_embedded"), dict) else None
                if not isinstance(embedded, list) or child.incomplete(item, embedded):
                    page.children[(child.name, item["id"])] = self.engine.pool.submit(
                        self.fetcher.children, child, item["id"])

    def emit(self, page, items=None):
        """Write a page's rows and, after each parent, its children (oldest first)."""
        family = self.family
        items = page.items if items is None else items
        if family.is_selected(self.stream):
            family.emit_items(self.stream, items, page.fetched_at)
        for child in self.embedded:
            for item in items:
                if not isinstance(item, dict) or item.get("id") is None:
                    continue
                fetched = page.children.get((child.name, item["id"]))
                if fetched is not None:
                    listing = fetched.result()
                    rows, self.unconfirmed = listing.items, self.unconfirmed or not listing.complete
                else:
                    rows = item["_embedded"][child.embed]
                # The API lists threads newest first; emit them in the order they happened.
                family.emit_items(child, list(reversed(rows)), page.fetched_at, parent_id=item["id"])

    def checkpoint(self, progress):
        listing = {"mode": progress.pop("mode"), "since": api_time(self.since),
                   "started_at": api_time(self.started_at), **progress}
        for stream in self.family.selected:
            self.engine.out.bookmark(stream.name)["listing"] = listing
        self.engine.checkpoint(self.stream)

    def finish(self, started_at):
        bookmark = api_time(started_at - self.engine.margin)
        for stream in self.family.selected:
            self.engine.out.set_bookmark(stream.name, {stream.replication_key: bookmark})
        self.engine.checkpoint(self.stream)


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
            probe = self.fetch_window(window, probe=True)
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
        return listing.engine.parallel > 1 and remaining > 2 * WINDOW_MIN_PAGES * listing.size

    def top_page(self, window):
        """The highest numbers of the window (one request, whose rows are emitted like any
        other): the windows can then be planned between the two ends."""
        listing = self.listing
        params = dict(listing.params, sortOrder="desc", query=number_query(window["low"], None))
        top = listing.fetch(1, params)
        self.check_range(top, window, descending=True)
        return top

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
        parts = min(listing.engine.parallel,
                    max(1, (probe.total - len(probe.items) - len(top.items)) // (WINDOW_MIN_PAGES * listing.size)))
        probe_window = {"low": window["low"], "high": low - 1, "final": True}
        top_window = {"low": min(tops), "high": None, "final": True}
        middle = [{"low": a, "high": b} for a, b in split_range(low, high, parts)]
        return [probe_window, *middle, top_window], [(probe, probe_window), (top, top_window)]

    def fetch_window(self, window, probe=False):
        listing = self.listing
        params = dict(listing.params, query=number_query(window["low"], window["high"]))
        try:
            page = listing.fetch(1, params)
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
        pool = self.listing.engine.pool
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
        in_flight[self.listing.engine.pool.submit(self.fetch_window, following)] = window


from tap_helpscout.sync.readers.keyset import TimeKeyset  # noqa: E402  (it needs nothing from this module)

STRATEGIES = {BY_NUMBER: NumberWindows, BY_MODIFIED: TimeKeyset}
