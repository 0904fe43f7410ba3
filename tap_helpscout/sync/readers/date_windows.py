"""DATE_WINDOWS: the happiness ratings report, read window by window from the start date to now:
a window of more than MAX_PAGES pages is split in halves, windows overlap by one second (rows
seen twice are written once), every request asks for `rating=all`, and a window's pages are read
in passes until they agree with its `count`. With `report_lookback_days`, a run after a complete
one reads only the recent days. docs/design/listings.md.
"""
import itertools
import json
from collections import deque
from datetime import datetime, timedelta, timezone

from tap_helpscout.api.pages import report_page
from tap_helpscout.errors import MalformedAnswer
from tap_helpscout.logs import get_logger
from tap_helpscout.sync.bookmarks import report_start
from tap_helpscout.sync.readers.fetch import Contradicted
from tap_helpscout.sync.readers.paging import PASSES, Pass, covered
from tap_helpscout.timefmt import api_time, utc_now

LOGGER = get_logger(__name__)
MAX_PAGES = 50
OVERLAP = timedelta(seconds=1)
SHORTEST = timedelta(days=1)        # a window holding many pages is split down to this
SMALLEST = timedelta(seconds=4)     # a window whose pages disagree is split down to this
# This machine's now and the Date of the first answer, made a moment later, are one now when
# they differ by less than this: the ratings of those seconds are read by the next run (its
# lookback or its full read), and this one makes no extra request for them.
SAME_NOW = timedelta(seconds=5)


def row_identity(item, page_number, index):
    """The whole row: two ratings may share the contract's primary key."""
    return json.dumps(item, sort_keys=True, default=str)


class Reader:
    def __init__(self, context):
        self.context = context
        self.family = context.family
        self.stream = context.stream
        self.size = None            # rows per page, learned from the first full page

    def run(self):
        context, stream = self.context, self.stream
        bookmark = context.bookmarks.of(stream.name)
        lookback = context.config.get("report_lookback_days")
        window_days = context.config.get("report_window_days")
        start, partial = report_start(bookmark, context.clock.start_date, lookback)
        if partial:
            self.family.incomplete.add(stream.name)    # not read from the start: nothing to retire
        # The report is read up to the server's now (its clock dates the ratings); until an
        # answer has told it, this machine's, and the end moves once the first answer tells.
        server_now = context.client.server_now()
        end_of_all = (server_now or utc_now()).replace(microsecond=0)
        cap = timedelta(days=window_days) if window_days else None
        windows = deque([(start, min(start + cap, end_of_all) if cap else end_of_all)])
        seen_at_edge = set()
        while windows:
            start, end = windows.popleft()
            first = self.page(start, end, 1)
            context.total(stream, first.total)
            if server_now is None and first.server_time is not None:
                server_now = first.server_time
                if server_now - end_of_all > SAME_NOW:      # this machine's clock is behind
                    end_of_all = server_now.replace(microsecond=0)
            if first.pages > MAX_PAGES and end - start > SHORTEST:
                middle = start + (end - start) / 2
                windows.extendleft([(middle - OVERLAP, end), (start, middle)])
                continue
            fetched_at = datetime.now(timezone.utc)
            rows = self.read_window(start, end, first, last_try=end - start <= SMALLEST)
            if rows is None:
                # Its pages disagreed: ratings slid or tied ratings reordered between two page
                # requests. Halves hold fewer pages, and a window of one page is one consistent
                # view; the halves are read next, in order.
                middle = start + (end - start) / 2
                windows.extendleft([(middle - OVERLAP, end), (start, middle)])
                continue
            keys_in_window = set()
            records = []
            for item in rows:
                key = row_identity(item, 0, 0)
                if key not in seen_at_edge and key not in keys_in_window:
                    keys_in_window.add(key)
                    records.append(item)
            self.family.write(stream, self.family.shape_items(stream, records), fetched_at)
            seen_at_edge = keys_in_window
            if not windows and end < end_of_all:
                windows.append((end - OVERLAP, min(end + cap, end_of_all) if cap else end_of_all))
            if windows:
                bookmark["window_start"] = api_time(windows[0][0])
                bookmark["partial"] = partial
                context.checkpoint(stream)
        context.bookmarks.clear(stream.name)
        if lookback and server_now is not None:
            context.bookmarks.set(stream.name, {"read_until": api_time(min(end_of_all, server_now))})
        elif lookback:
            LOGGER.warning("%s: no answer carried a usable Date header (the server's clock), so the next run "
                           "reads the report from the start date again", stream.name)
        context.checkpoint(stream)

    def read_window(self, start, end, first, last_try):
        """Every rating of one window when a read of its pages agrees with `count`; None when
        it does not and the window can still be split. A window too short to split is read in
        passes, and the ratings of all of them are kept."""
        passes, rows = [], {}
        for attempt in range(1, (PASSES if last_try else 1) + 1):
            read = Pass(identify=row_identity)
            if attempt > 1:
                first = self.page(start, end, 1)
            if self.size is None and first.pages > 1:
                self.size = len(first.items)
            pages = self.context.fetcher.pages(self.stream, self.stream.path, self.params(start, end),
                                              range(2, first.pages + 1), self.size, parallel=True,
                                              parse=self.parse)
            try:
                for page in itertools.chain([first], pages):
                    read.add(page)
                    for item in page.items:
                        rows.setdefault(row_identity(item, 0, 0), item)
            except Contradicted:
                read.contradicted = True           # its pages contradict each other: this read proves nothing
            passes.append(read)
            if read.complete or covered(passes):
                return list(rows.values())
            if not last_try:
                return None
            LOGGER.info("%s: the ratings of %s to %s changed or reordered while they were read (pass %d of %d); "
                        "reading them again", self.stream.name, api_time(start), api_time(end), attempt, PASSES)
        raise MalformedAnswer(f"{self.stream.name}: the ratings of {api_time(start)} to {api_time(end)} kept "
                              f"changing while they were read {PASSES} times, or the report's pages disagree; "
                              f"the report is read again next run", endpoint=self.stream.path)

    def params(self, start, end):
        return {"start": api_time(start), "end": api_time(end), "rating": "all"}

    def parse(self, data, number):
        return report_page(data, self.stream.records_key, number, self.size)

    def page(self, start, end, number):
        return self.context.fetcher.page(self.stream, self.stream.path, self.params(start, end), number,
                                        self.size, parse=self.parse)
