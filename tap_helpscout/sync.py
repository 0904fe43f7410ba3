"""The sync engine: every stream is read by one of a few readers, chosen by `Stream.reader`.

A stream and its children form a family that is read together: conversations with their
threads, mailboxes with their fields and folders, teams with their members. Records are emitted
in order by one thread at a time (a large listing hands its pages to an emitter thread, so that
the next page is requested while one is written); HTTP requests run on a small pool so that
several are in flight (`max_parallel_requests`). A STATE message follows every page of records,
and a bookmark never moves past a record that has not been emitted.
"""
import json
import queue
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import singer
from singer import metadata as md
from singer import metrics

from .http import HelpScoutClient
from .errors import ApiError, PermissionDenied
from .memory import HEAP
from .state import Output, migrate
from .streams import DATE_WINDOWS, EMBEDDED, MODIFIED_SINCE, PER_PARENT, STREAMS, WHOLE
from .transform import RecordShaper, format_date_time, parse_date_time

LOGGER = singer.get_logger()
GAP_PROBES = 8
CLOCK_RESOLUTION = timedelta(seconds=1)


def sync(config, config_path, catalog, state):
    client = HelpScoutClient(config, config_path)
    engine = Engine(config, client, catalog, state)
    try:
        engine.run()
    finally:
        engine.close()
        client.close()


def utc_now():
    return datetime.now(timezone.utc).replace(microsecond=0)


def api_time(moment):
    """The API's request format for date-times: whole seconds, UTC, `Z`."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def selected_columns(entry, stream):
    """Columns to emit: automatic ones, keys, and every other column not deselected
    (`selected: false`) or unsupported — the rule singer-python's Transformer applies."""
    mdata = md.to_map(entry.metadata)
    columns = set(stream.key_properties)
    if stream.replication_key:
        columns.add(stream.replication_key)
    for name in entry.schema.to_dict().get("properties", {}):
        meta = mdata.get(("properties", name), {})
        if meta.get("inclusion") == "automatic" or (
                meta.get("selected") is not False and meta.get("inclusion") != "unsupported"):
            columns.add(name)
    return columns


@dataclass
class Page:
    """One page of a listing, fetched on a worker thread."""
    number: int
    items: list
    total_elements: int
    total_pages: int
    seq: int                       # arrival order among this listing's pages
    fetched_at: datetime
    server_time: datetime = None
    children: dict = field(default_factory=dict)   # (child stream, parent id) -> future of child items
    next_page: int = 0                              # the resume point once this page is emitted


class Family:
    """A root stream with its child streams, the selected ones among them, and their output."""

    def __init__(self, engine, root, children):
        self.engine = engine
        self.root = root
        self.children = children
        self.selected = [s for s in [root, *children] if s.name in engine.entries]
        self.counts = {s.name: 0 for s in self.selected}
        self.shapers = {}
        for stream in self.selected:
            entry = engine.entries[stream.name]
            schema = entry.schema.to_dict()
            columns = selected_columns(entry, stream)
            embedded_children = [c.embed for c in children if c.embed]
            self.shapers[stream.name] = RecordShaper(stream, schema, columns, skip_embedded=embedded_children)
            schema = dict(schema, properties={k: v for k, v in schema["properties"].items() if k in columns})
            engine.out.schema(stream.name, schema, stream.key_properties,
                              [stream.replication_key] if stream.replication_key else [])

    def is_selected(self, stream):
        return stream.name in self.counts

    def shape(self, stream, item, parent_id=None):
        return self.shapers[stream.name](item, parent_id)

    def emit(self, stream, record, time_extracted):
        self.engine.out.record(stream.name, record, time_extracted)
        self.counts[stream.name] += 1

    def emitter(self, stream, time_extracted):
        """A function that shapes one API item of `stream` and writes its record: the
        per-record path of a page, with every lookup done once per page."""
        shape, write = self.shapers[stream.name], self.engine.out.writer(stream.name, time_extracted)
        counts, name = self.counts, stream.name

        def emit(item, parent_id=None):
            write(shape(item, parent_id))
            counts[name] += 1
        return emit


class Engine:
    def __init__(self, config, client, catalog, state):
        self.config = config
        self.client = client
        self.start_date = parse_date_time(config["start_date"])
        self.margin = timedelta(seconds=int(config.get("bookmark_margin_seconds") or 0))
        self.window_days = config.get("report_window_days")
        self.report_lookback_days = config.get("report_lookback_days")
        self.parallel = int(config.get("max_parallel_requests") or 4)
        self.pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="helpscout")
        self.entries = {e.tap_stream_id: e for e in catalog.streams
                        if e.tap_stream_id in STREAMS and e.is_selected()}
        self.out = Output(migrate(state, STREAMS))
        self.sync_started = utc_now()
        self.pages_requested = Counter()     # per stream, for the logs
        self.lock = threading.Lock()

    def close(self):
        self.pool.shutdown(wait=False, cancel_futures=True)

    def families(self):
        roots = [s for s in STREAMS.values() if s.parent is None]
        families = []
        for root in roots:
            children = [s for s in STREAMS.values() if s.parent == root.name]
            if any(s.name in self.entries for s in [root, *children]):
                families.append((root, children))
        # An interrupted run resumes with the family it was syncing. Otherwise families that
        # are read one request at a time go first and the one whose children are fetched many
        # at once (conversations) last: under a rate limit its parallel requests use the budget
        # the sequential ones leave, instead of the sequential ones running alone at the end.
        current = self.out.state.get("currently_syncing")
        families.sort(key=lambda fam: (current not in [fam[0].name] + [c.name for c in fam[1]],
                                       any(c.reader == EMBEDDED for c in fam[1])))
        return families

    def run(self):
        if not self.entries:
            LOGGER.warning("No stream is selected in the catalog: nothing to sync")
        for root, children in self.families():
            self.sync_family(Family(self, root, children))
        self.out.currently_syncing(None)
        self.out.checkpoint()

    def sync_family(self, family):
        names = ", ".join(s.name for s in family.selected)
        for stream in family.selected:
            LOGGER.info("Starting %s", stream.name)
        requests_before, started = self.client.request_count, time.monotonic()
        pages_before = Counter(self.pages_requested)
        self.out.currently_syncing(family.selected[0].name)
        reader = READERS[family.root.reader](self, family)
        try:
            reader.run()
        except PermissionDenied as exc:
            if not family.root.plan_gated:
                raise
            LOGGER.warning("Skipping %s: %s (the account's Help Scout plan does not include it)", names, exc)
        seconds = time.monotonic() - started
        requests = self.client.request_count - requests_before
        pages = self.pages_requested - pages_before
        for stream in family.selected:
            LOGGER.info("Finished %s: %d records, %d pages requested", stream.name, family.counts[stream.name],
                        pages[stream.name])
            with metrics.record_counter(stream.name) as counter:
                counter.increment(family.counts[stream.name])
        # Requests include retries and the parent listings read for child streams.
        LOGGER.info("Finished %s: %d requests in %.1f s", names, requests, seconds)
        self.out.checkpoint()

    # --- listings -----------------------------------------------------------------------

    def get_page(self, stream, path, params, page):
        with self.lock:
            self.pages_requested[stream.name] += 1
        body = self.client.get(path, {**params, "page": str(page)}, endpoint=stream.name)
        data = body.json
        if not isinstance(data, dict):
            raise ApiError(f"{stream.name}: the API answered {path} with a body that is not a JSON object",
                           endpoint=path)
        return body, data

    def fetch_all(self, stream, path, params=None, parallel=False):
        """Every item of a small HAL listing: page 1 tells how many pages there are."""
        params = params or {}
        _, first = self.get_page(stream, path, params, 1)
        items = list((first.get("_embedded") or {}).get(stream.records_key) or [])
        total_pages = int((first.get("page") or {}).get("totalPages") or 1)
        rest = range(2, total_pages + 1)
        if parallel:
            futures = [self.pool.submit(self.get_page, stream, path, params, n) for n in rest]
            pages = (f.result()[1] for f in futures)
        else:
            pages = (self.get_page(stream, path, params, n)[1] for n in rest)
        for data in pages:
            items.extend((data.get("_embedded") or {}).get(stream.records_key) or [])
        return items

    def fetch_children(self, child, parent_id):
        """Every child item of one parent; none if the parent was deleted since it was listed."""
        try:
            return self.fetch_all(child, child.path.format(parent_id=parent_id))
        except ApiError as exc:
            if exc.status != 404:
                raise
            LOGGER.info("%s: parent %s was deleted during the sync; no rows", child.name, parent_id)
            return []


class PageEmitter:
    """Emits pages on a thread of its own, in the order they were queued, each once its
    separately fetched children have arrived, so that the next page is requested while this one
    is written. A short queue bounds the memory held by pages waiting."""

    WAITING_PAGES = 2

    def __init__(self, emit):
        self.emit = emit
        self.pages = queue.Queue(maxsize=self.WAITING_PAGES)
        self.error = None
        self.closed = False
        self.thread = threading.Thread(target=self.work, name="helpscout-emitter", daemon=True)
        self.thread.start()

    def work(self):
        while True:
            page = self.pages.get()
            if page is None:
                return
            if self.error is None:
                try:
                    self.emit(page)
                except BaseException as exc:        # handed to the listing thread
                    self.error = exc

    def put(self, page):
        if self.error is not None:
            raise self.error
        self.pages.put(page)

    def close(self, raise_error=True):
        """Wait until every queued page is written; raise what went wrong while writing."""
        if not self.closed:
            self.closed = True
            self.pages.put(None)
            self.thread.join()
        if raise_error and self.error is not None:
            raise self.error


class ModifiedSinceListing:
    """A large listing (conversations, customers) filtered by `modifiedSince` on the server.

    Help Scout pages by offset. Rows are listed in `createdAt` ascending order, which a
    modification does not change, and the pages are read one after the other from the last to
    the first, each requested only when the one above it has arrived. Then:
    - a row modified during the sync keeps its place (and its change is in the next run, whose
      bookmark is the server's clock when this listing began);
    - a row created during the sync is appended above every page read so far: it shifts nothing;
    - a row deleted during the sync shifts the rows above it down, towards pages not yet read:
      a row may be read twice, never skipped;
    - a row that starts to match (modified after the bookmark, in an incremental run) shifts the
      rows above it up, into pages already read. `page.totalElements` changes when that happens,
      and then the stretch of rows around that page boundary is read again (`cover_gap`).
    Page 1 is requested first because it says how many pages there are; when there are more,
    it is read again last, as the lowest page of the pass (rows deleted meanwhile may have pushed
    others down into it). Child rows that must be fetched separately (truncated
    embedded threads) are fetched on the pool while the listing goes on; pages are emitted in
    order as their children arrive.
    """

    SORT_FIELD = "createdAt"        # a row's place in the listing; no modification changes it

    def __init__(self, engine, family):
        self.engine = engine
        self.family = family
        self.stream = family.root
        self.embedded = [c for c in family.children if c.reader == EMBEDDED and family.is_selected(c)]
        self.totals = []            # page.totalElements of every fetch, in the order fetched
        self.max_total_pages = 0
        self.unconfirmed = False    # a boundary could not be confirmed: keep the old bookmark

    def bookmark_value(self, stream):
        value = self.engine.out.bookmark(stream.name).get(stream.replication_key)
        return max(parse_date_time(value), self.engine.start_date) if value else self.engine.start_date

    def run(self):
        family, engine = self.family, self.engine
        members = family.selected
        since = min(self.bookmark_value(s) for s in members)
        listings = [engine.out.bookmark(s.name).get("listing") for s in members]
        resume = listings[0] if all(listing == listings[0] for listing in listings) else None
        if resume and resume.get("since") != api_time(since):
            resume = None
        self.params = {**self.stream.params, "sortField": self.SORT_FIELD, "sortOrder": "asc",
                       "modifiedSince": api_time(since)}
        if self.embedded:
            self.params["embed"] = ",".join(c.embed for c in self.embedded)
        LOGGER.info("%s: listing rows modified since %s%s", self.stream.name, self.params["modifiedSince"],
                    f", resuming at page {resume['next_page']}" if resume else "")

        self.emitter = PageEmitter(self.emit_and_checkpoint)
        try:
            self.list_pages(since, resume)
        finally:
            self.emitter.close(raise_error=False)

    def list_pages(self, since, resume):
        upper = None
        if resume:
            self.totals.append(resume["total"])      # the last page read before the interruption
            upper = Page(resume["next_page"] + 1, [], resume["total"], 0, 0, None)
        requested_at = utc_now()
        first = self.fetch(1, with_children=False)
        if resume:
            started_at = parse_date_time(resume["started_at"])
        else:
            # The next run lists rows modified after this instant. Both clocks count whole
            # seconds, and a row modified later in the same second as the listing began carries
            # that same second: start one second earlier (re-reading a row beats losing it).
            # The earlier of the server's clock and ours is the safer one.
            started_at = min(first.server_time or requested_at, requested_at) - CLOCK_RESOLUTION
        self.listing = {"since": api_time(since), "started_at": api_time(started_at)}
        pages = first.total_pages
        if pages <= 1:
            self.fetch_children(first)
            self.queue(first, next_page=0)
        top = min(resume["next_page"], pages) if resume else pages
        for number in range(top, 0, -1) if pages > 1 else ():
            page = self.fetch(number)
            if upper is not None and self.changed(upper, page):
                self.cover_gap(page, upper)
            self.queue(page, next_page=number - 1)
            upper = page
        # Pages that appeared meanwhile hold rows created (or pushed up) during the listing.
        number, last = pages + 1, self.max_total_pages
        while number <= last:
            page = self.fetch(number)
            self.queue(page, next_page=0)
            number, last = number + 1, page.total_pages
        self.emitter.close()
        if self.unconfirmed:
            # Losing nothing comes first: the next run lists the same range again.
            LOGGER.warning("%s: the listing kept shifting while it was read; the bookmark stays at %s so that "
                           "the next run reads these rows again", self.stream.name, self.listing["since"])
            started_at = since + self.engine.margin
        self.finish(started_at)

    def fetch(self, number, with_children=True):
        response, data = self.engine.get_page(self.stream, self.stream.path, self.params, number)
        block = data.get("page") or {}
        items = (data.get("_embedded") or {}).get(self.stream.records_key) or []
        total_pages = int(block.get("totalPages") or (1 if items else 0))
        total = int(block.get("totalElements", len(items)))
        self.totals.append(total)
        self.max_total_pages = max(self.max_total_pages, total_pages)
        page = Page(number, items, total, total_pages, len(self.totals) - 1,
                    datetime.now(timezone.utc), response.server_time)
        if with_children:
            self.fetch_children(page)
        return page

    def fetch_children(self, page):
        for child in self.embedded:
            for item in page.items:
                embedded = (item.get("_embedded") or {}).get(child.embed) or []
                if child.incomplete(item, embedded):
                    page.children[(child.name, item["id"])] = self.engine.pool.submit(
                        self.engine.fetch_children, child, item["id"])

    def changed(self, a, b):
        """Did the listing's size change between (or while) two pages were fetched?"""
        low, high = sorted((a.seq, b.seq))
        return len(set(self.totals[low:high + 1])) > 1

    def cover_gap(self, lower, upper):
        """The listing changed between the reads of `upper` (page n+1) and `lower` (page n):
        rows may have been pushed up from n into n+1 after n+1 was read. Such rows were created
        between the last row of `lower` and the first row of `upper`, and `createdAt` never
        changes; so read pages around the boundary until a single page (one consistent view)
        holds the whole stretch, from before its start to past its end, and emit it.
        Rows read twice are harmless. If no page does after a few tries, the listing is marked
        unconfirmed and the bookmark does not move."""
        if not lower.items or not upper.items:
            low, high = None, None
        else:
            low, high = self.created(lower.items[-1]), self.created(upper.items[0])
        number = upper.number
        for _ in range(GAP_PROBES):
            probe = self.fetch(number)
            self.queue(probe, next_page=lower.number)
            if low is None:         # an empty side: nothing to locate, one fresh read will do
                return
            starts_before = probe.number == 1 or (probe.items and self.created(probe.items[0]) < low)
            ends_after = probe.number >= probe.total_pages or (probe.items and self.created(probe.items[-1]) > high)
            if starts_before and ends_after:
                return
            number = max(1, number - 1) if not starts_before else number + 1
        self.unconfirmed = True

    def created(self, item):
        return parse_date_time(item[self.SORT_FIELD])

    def queue(self, page, next_page):
        page.next_page = next_page
        self.emitter.put(page)

    def emit_and_checkpoint(self, page):
        self.emit(page)
        self.checkpoint(page.next_page, page.total_elements)
        HEAP.tidy()

    def emit(self, page):
        family = self.family
        emit_parent = family.emitter(self.stream, page.fetched_at) if family.is_selected(self.stream) else None
        embedded = [(child, family.emitter(child, page.fetched_at)) for child in self.embedded]
        for item in page.items:
            if emit_parent is not None:
                emit_parent(item)
            for child, emit_child in embedded:
                fetched = page.children.get((child.name, item["id"]))
                if fetched is not None:
                    children = fetched.result()
                else:
                    children = (item.get("_embedded") or {}).get(child.embed) or []
                # The API lists threads newest first; emit them in the order they happened.
                parent_id = item["id"]
                for child_item in reversed(children):
                    emit_child(child_item, parent_id)

    def checkpoint(self, next_page, total):
        for stream in self.family.selected:
            self.engine.out.bookmark(stream.name)["listing"] = dict(self.listing, next_page=next_page, total=total)
        self.engine.out.checkpoint()

    def finish(self, started_at):
        bookmark = api_time(started_at - self.engine.margin)
        for stream in self.family.selected:
            self.engine.out.set_bookmark(stream.name, {stream.replication_key: bookmark})
        self.engine.out.checkpoint()


class WholeListing:
    """A small listing read in full on every run (mailboxes, users, teams, workflows), with its
    per-parent children (fields and folders of every mailbox, members of every team)."""

    def __init__(self, engine, family):
        self.engine = engine
        self.family = family

    def run(self):
        engine, family, root = self.engine, self.family, self.family.root
        fetched_at = datetime.now(timezone.utc)
        items = engine.fetch_all(root, root.path, root.params, parallel=True)
        if family.is_selected(root):
            rows = [family.shape(root, item) for item in items]
            bookmark = engine.out.bookmark(root.name)
            new_value = self.emit_since(root, rows, bookmark.get(root.replication_key), fetched_at)
            if new_value:
                bookmark[root.replication_key] = new_value
            engine.out.checkpoint()

        children = [c for c in family.children if c.reader == PER_PARENT and family.is_selected(c)]
        futures = {(child.name, item["id"]): engine.pool.submit(engine.fetch_children, child, item["id"])
                   for child in children for item in items}
        for child in children:
            fetched_at = datetime.now(timezone.utc)
            bookmark = engine.out.bookmark(child.name) if child.replication_key else None
            by_parent = bookmark.setdefault("parents", {}) if bookmark is not None else None
            for item in items:
                parent_id = item["id"]
                rows = [family.shape(child, c, parent_id) for c in futures[(child.name, parent_id)].result()]
                if by_parent is None:
                    for row in rows:
                        family.emit(child, row, fetched_at)
                    continue
                # Each parent keeps its own bookmark: a later row under one mailbox must not
                # hide an earlier change under another.
                new_value = self.emit_since(child, rows, by_parent.get(str(parent_id)), fetched_at)
                if new_value:
                    by_parent[str(parent_id)] = new_value
            if by_parent:
                bookmark[child.replication_key] = min(by_parent.values(), key=parse_date_time)
            engine.out.checkpoint()

    def emit_since(self, stream, rows, bookmark, fetched_at):
        """Emit rows whose replication key is at or after the bookmark, oldest first; return
        the new bookmark (never later than the sync's start)."""
        key = stream.replication_key
        since = parse_date_time(bookmark) if bookmark else self.engine.start_date
        dated = []
        for row in rows:
            value = row.get(key)
            moment = parse_date_time(value) if value else None
            if moment is None or moment >= since:
                dated.append((moment or since, row))
        dated.sort(key=lambda pair: (pair[0], pair[1].get("id") or 0))
        for _, row in dated:
            self.family.emit(stream, row, fetched_at)
        if not dated:
            return None
        latest = max(moment for moment, _ in dated)
        return format_date_time(min(latest, self.engine.sync_started))


class DateWindowReport:
    """A report queried window by window from start_date to now, so that no single query grows
    without bound: the first window is the whole range; a window whose first page says it holds
    more than MAX_PAGES pages is split in two (that page is read again later, as part of the
    first half). `report_window_days` caps the length of a window as well.
    Neighbouring windows overlap by one second, which is right whether the API treats `start`
    and `end` as inclusive or exclusive; rows seen in both are emitted once.

    The report is full table (the contract): every run reads it from start_date. With
    `report_lookback_days`, a run that follows a complete one reads only from the previous run's
    end less that many days, so that an account with years of ratings does not re-read them all
    (at ten ratings a page) on every run; ratings changed longer ago than that are not re-read."""

    MAX_PAGES = 50
    OVERLAP = timedelta(seconds=1)
    SHORTEST = timedelta(days=1)

    def __init__(self, engine, family):
        self.engine = engine
        self.family = family
        self.stream = family.root

    def run(self):
        engine, stream = self.engine, self.stream
        bookmark = engine.out.bookmark(stream.name)
        start = engine.start_date
        if bookmark.get("window_start"):            # an interrupted run: resume where it stopped
            start = parse_date_time(bookmark["window_start"])
        elif engine.report_lookback_days and bookmark.get("read_until"):
            start = max(start, parse_date_time(bookmark["read_until"])
                        - timedelta(days=engine.report_lookback_days))
        end_of_all = utc_now()
        cap = timedelta(days=engine.window_days) if engine.window_days else None
        windows = deque([(start, min(start + cap, end_of_all) if cap else end_of_all)])
        seen_at_edge = set()
        while windows:
            start, end = windows.popleft()
            results, pages = self.page(start, end, 1)
            if pages > self.MAX_PAGES and end - start > self.SHORTEST:
                middle = start + (end - start) / 2
                windows.extendleft([(middle - self.OVERLAP, end), (start, middle)])
                continue
            fetched_at = datetime.now(timezone.utc)
            keys_in_window = set()
            futures = [engine.pool.submit(self.page, start, end, n) for n in range(2, pages + 1)]
            for items in [results] + [f.result()[0] for f in futures]:
                for item in items:
                    row = self.family.shape(stream, item)
                    # The whole row is the identity: two ratings may share the primary key.
                    key = json.dumps(row, sort_keys=True)
                    if key not in seen_at_edge and key not in keys_in_window:
                        keys_in_window.add(key)
                        self.family.emit(stream, row, fetched_at)
            seen_at_edge = keys_in_window
            if not windows and end < end_of_all:
                windows.append((end - self.OVERLAP, min(end + cap, end_of_all)))
            if windows:
                bookmark["window_start"] = api_time(windows[0][0])
                engine.out.checkpoint()
        engine.out.clear_bookmark(stream.name)
        if engine.report_lookback_days:
            engine.out.set_bookmark(stream.name, {"read_until": api_time(end_of_all)})
        engine.out.checkpoint()

    def page(self, start, end, number):
        params = {"start": api_time(start), "end": api_time(end)}
        data = self.engine.get_page(self.stream, self.stream.path, params, number)[1]
        return data.get(self.stream.records_key) or [], int(data.get("pages") or 0)


READERS = {MODIFIED_SINCE: ModifiedSinceListing, WHOLE: WholeListing, DATE_WINDOWS: DateWindowReport}
