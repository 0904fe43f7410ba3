"""SEARCH: the large listings (conversations, customers), backed by a search index, filtered by
`modifiedSince`, and changing while they are read: read as keyset chains, never trusting offset
pages where the API allows better (docs/design/listings.md).

`Reader` holds what the strategies share: the filter, pages with their children's readers,
checkpoints and the final bookmark. The strategy is the stream's `keyset`: BY_NUMBER reads
number windows (`number_windows.py`, with the offset fallback of `offset.py`), BY_MODIFIED a
`modifiedSince` chain (`keyset.py`). The next run starts from the server's clock when this one
began, less a margin for index lag.
"""
from tap_helpscout.logs import get_logger
from tap_helpscout.streams import BY_MODIFIED, BY_NUMBER
from tap_helpscout.sync.bookmarks import listing_since
from tap_helpscout.sync.readers.keyset import TimeKeyset
from tap_helpscout.sync.readers.number_windows import NumberWindows
from tap_helpscout.timefmt import CLOCK_RESOLUTION, api_time, parse_date_time, utc_now

LOGGER = get_logger(__name__)
STRATEGIES = {BY_NUMBER: NumberWindows, BY_MODIFIED: TimeKeyset}


class Reader:
    def __init__(self, context):
        self.context = context
        self.family = context.family
        self.stream = context.stream
        self.fetcher = context.fetcher
        self.children = context.children
        self.size = self.stream.page_size
        self.unconfirmed = False
        self.started_at = None
        self.server_clock = False       # started_at is the server's time (else: no bookmark from it)
        self.since = None
        self.params = {}

    # -- the run -------------------------------------------------------------------------
    def run(self):
        context = self.context
        self.since = listing_since({s.name: context.bookmarks.of(s.name) for s in self.family.selected},
                                   self.family.selected, context.clock.start_date)
        self.params = {**self.stream.params, "sortField": self.stream.sort_field,
                       "sortOrder": "asc", "modifiedSince": api_time(self.since)}
        embeds = [c.stream.embed for c in self.children if c.stream.embed]
        if embeds:
            self.params["embed"] = ",".join(embeds)
        self.strategy = STRATEGIES[self.stream.keyset](self)
        resume = self.resume_point()
        LOGGER.info("%s: listing rows modified since %s%s", self.stream.name, self.params["modifiedSince"],
                    f", resuming ({resume['mode']})" if resume else "")
        self.strategy.run(resume)
        if self.unconfirmed or any(child.unconfirmed for child in self.children):
            # Losing nothing comes first: the next run lists the same range again.
            LOGGER.warning("%s: the listing could not be confirmed complete; the bookmark stays at %s so that "
                           "the next run reads these rows again", self.stream.name, api_time(self.since))
            self.finish(self.since + context.clock.margin)
        elif not self.server_clock:
            # Rows are modified in the server's clock; this machine's may be ahead of it.
            LOGGER.warning("%s: no answer carried a usable Date header (the server's clock), so the bookmark "
                           "stays at %s and the next run reads these rows again", self.stream.name,
                           api_time(self.since))
            self.finish(self.since + context.clock.margin)
        else:
            self.finish(self.started_at)

    def resume_point(self):
        """The progress an interrupted run left, when it belongs to this same listing."""
        points = [self.context.bookmarks.of(s.name).get("listing") for s in self.family.selected]
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
        self.server_clock = point.get("server_clock", True) is True
        return point

    def first_page(self, params=None, with_children=True):
        """Page 1; its answer's Date header (the server's clock, which the index uses) starts the
        clock for the next run's bookmark: rows modified after that instant are the next run's.
        Without a usable Date, this machine's clock only tells where the listing stops, and the
        bookmark does not move (see `run`)."""
        page = self.fetch(1, params, with_children)
        self.context.total(self.stream, page.total)
        if self.started_at is None:
            # A row modified later in the same second carries that second: one second earlier.
            self.server_clock = page.server_time is not None
            self.started_at = (page.server_time if self.server_clock else utc_now()) - CLOCK_RESOLUTION
        return page

    # -- pages ---------------------------------------------------------------------------
    def fetch(self, number, params=None, with_children=True, expected=False):
        """Page `number` (of `params`, the listing's own by default); `expected`: earlier answers
        say it holds rows (see `fetch.Contradicted`)."""
        page = self.fetcher.page(self.stream, self.stream.path, params or self.params, number, self.size,
                                 expected=expected)
        if with_children:
            self.fetch_children(page)
        return page

    def fetch_children(self, page):
        for child in self.children:
            child.fetch(page)

    def emit(self, page, items=None):
        """Write a page's rows and, after them, their children."""
        items = page.items if items is None else items
        if self.family.is_selected(self.stream):
            self.family.emit_items(self.stream, items, page.fetched_at)
        for child in self.children:
            child.emit(page, items)

    def checkpoint(self, progress):
        listing = {"mode": progress.pop("mode"), "since": api_time(self.since),
                   "started_at": api_time(self.started_at), "server_clock": self.server_clock, **progress}
        for stream in self.family.selected:
            self.context.bookmarks.of(stream.name)["listing"] = listing
        self.context.checkpoint(self.stream)

    def finish(self, started_at):
        bookmark = api_time(started_at - self.context.clock.margin)
        for stream in self.family.selected:
            self.context.bookmarks.set(stream.name, {stream.replication_key: bookmark})
        self.context.checkpoint(self.stream)
