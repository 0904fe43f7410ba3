"""The sync engine: every stream is read by one of a few readers, chosen by `Stream.reader`.

A stream and its children form a family that is read together: conversations with their
threads, mailboxes with their fields and folders, teams with their members. Records are written
by the main thread in order; HTTP requests run on a small pool so that several are in flight
(`max_parallel_requests`). A STATE message follows every page of records, and a bookmark never
moves past a record that has not been emitted.

One family failing (an answer that stays wrong, a 4xx other than auth) does not stop the others:
its bookmarks stay, the rest finish, and the run ends with one line naming each failed stream.
What concerns the whole account (credentials refused, a rate-limit wait beyond the maximum, the
API out of reach) stops the run at once.
"""
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from singer import metadata as md
from singer import metrics

from tap_helpscout.errors import ApiError, AuthError, PermissionDenied, TapError
from tap_helpscout.sync.readers.fetch import Fetcher
from tap_helpscout.logs import get_logger
from tap_helpscout.sync.progress import Progress
from tap_helpscout.sync.records import MalformedItem, RecordShaper
from tap_helpscout.sync.readers.date_windows import DateWindowReport
from tap_helpscout.sync.readers.search import SearchListing
from tap_helpscout.sync.readers.whole import WholeListing
from tap_helpscout.sync.state import prepare
from tap_helpscout.streams import DATE_WINDOWS, EMBEDDED, SEARCH, STREAMS, WHOLE
from tap_helpscout.timefmt import format_date_time, parse_date_time, utc_now
from tap_helpscout.sync.versions import TableVersions

LOGGER = get_logger()
READERS = {SEARCH: SearchListing, WHOLE: WholeListing, DATE_WINDOWS: DateWindowReport}
DEFAULT_HISTORY = timedelta(days=365)     # without start_date: one year, as the original integration
WARNINGS_PER_STREAM = 20


class BudgetReached(Exception):
    """max_run_minutes is over: stop at this page boundary, with a clean STATE."""


class Family:
    """A root stream with its child streams, the selected ones among them, and their output."""

    def __init__(self, engine, root, children):
        self.engine = engine
        self.root = root
        self.children = children
        self.selected = [s for s in [root, *children] if s.name in engine.entries]
        self.counts = Counter()
        self.skipped = Counter()
        self.incomplete = set()        # streams whose read this run could not prove complete
        self.shapers = {}
        self.versions = TableVersions(engine.out, self.selected)     # full-table streams only
        embedded = tuple(c.embed for c in children if c.embed)
        for stream in self.selected:
            entry = engine.entries[stream.name]
            shaper = RecordShaper(stream, entry.schema.to_dict(), md.to_map(entry.metadata),
                                  skip_embedded=embedded)
            self.shapers[stream.name] = shaper
            engine.out.schema(stream.name, shaper.schema, stream.key_properties,
                              [stream.replication_key] if stream.replication_key else [])

    def is_selected(self, stream):
        return stream.name in self.shapers

    def shape_items(self, stream, items, parent_id=None):
        """The records of `items`; an item that is not an object, has no id, or has a value
        that cannot be conformed is skipped with a warning naming stream, id and field."""
        shape = self.shapers[stream.name]
        records = []
        for item in items:
            ident = item.get(stream.item_id) if isinstance(item, dict) else None
            if ident is None:
                self.skip(stream, None, stream.item_id, "missing" if isinstance(item, dict) else
                          f"the item is {'null' if item is None else type(item).__name__}")
                continue
            try:
                records.append(shape(item, parent_id))
            except MalformedItem as exc:
                self.skip(stream, ident, exc.field, exc.reason)
        return records

    def skip(self, stream, ident, field, reason):
        self.skipped[stream.name] += 1
        self.incomplete.add(stream.name)
        if self.skipped[stream.name] <= WARNINGS_PER_STREAM:
            LOGGER.warning("%s: skipped a malformed item (id %s, field %s: %s)%s", stream.name,
                           "unknown" if ident is None else ident, field, reason,
                           "; further ones are only counted" if self.skipped[stream.name] == WARNINGS_PER_STREAM else "")

    def write(self, stream, records, fetched_at):
        write = self.engine.out.writer(stream.name, fetched_at, self.versions.of(stream.name))
        for record in records:
            write(record)
        self.counts[stream.name] += len(records)

    def emit_items(self, stream, items, fetched_at, parent_id=None):
        self.write(stream, self.shape_items(stream, items, parent_id), fetched_at)


class Engine:
    def __init__(self, config, client, catalog, state, out_factory, state_source="state"):
        self.config = config
        self.client = client
        self.entries = {e.tap_stream_id: e for e in catalog.streams
                        if e.tap_stream_id in STREAMS and e.is_selected()}
        self.out = out_factory(prepare(state, STREAMS, state_source))
        self.start_date = self.resolve_start_date()
        self.margin = timedelta(seconds=int(config.get("bookmark_margin_seconds") or 0))
        self.window_days = config.get("report_window_days")
        self.report_lookback_days = config.get("report_lookback_days")
        self.parallel = int(config.get("max_parallel_requests") or 4)
        # A listing chain (the next page of conversations or customers) must never wait behind
        # the many child requests (threads of chats) queued on the pool: it has a worker of its
        # own, and the pool the rest, so that at most max_parallel_requests are in flight.
        if self.parallel > 1:
            self.pool = ThreadPoolExecutor(max_workers=self.parallel - 1, thread_name_prefix="helpscout")
            self.chain_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="helpscout-chain")
        else:
            self.pool = self.chain_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="helpscout")
        self.progress = Progress(client)
        self.fetcher = Fetcher(client, self.pool, self.parallel, on_page=self.progress.page_requested)
        self.sync_started = utc_now()
        minutes = config.get("max_run_minutes")
        self.deadline = time.monotonic() + float(minutes) * 60 if minutes else None
        self.failures = []             # (stream names, reason)
        self.skipped_streams = []
        self._token_works = None

    def resolve_start_date(self):
        """The config's start_date; without one, the start the first run chose (kept in the
        state), or one year before now."""
        if self.config.get("start_date"):
            self.out.state.pop("start_date", None)
            return parse_date_time(self.config["start_date"])
        kept = self.out.state.get("start_date")
        start = parse_date_time(kept) if kept else utc_now() - DEFAULT_HISTORY
        self.out.state["start_date"] = format_date_time(start)
        if not kept:
            LOGGER.info("No start_date in the config: replicating from %s (one year back); later runs keep "
                        "this start", format_date_time(start))
        return start

    def close(self):
        for pool in {self.pool, self.chain_pool}:
            pool.shutdown(wait=False, cancel_futures=True)

    def bookmark_time(self, stream):
        value = self.out.bookmark(stream.name).get(stream.replication_key)
        return max(parse_date_time(value), self.start_date) if value else self.start_date

    def checkpoint(self, stream=None):
        self.out.checkpoint()
        if stream is not None:
            self.progress.maybe_log(stream)
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise BudgetReached()

    def families(self):
        families = []
        for root in (s for s in STREAMS.values() if s.parent is None):
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
        """Sync every selected stream; raises TapError naming the streams that failed."""
        if not self.entries:
            LOGGER.warning("No stream is selected in the catalog: nothing to sync")
        started = time.monotonic()
        totals = Counter()
        try:
            for root, children in self.families():
                family = Family(self, root, children)
                self.sync_family(family)
                totals.update(family.counts)
                totals.update({f"skipped {k}": v for k, v in family.skipped.items()})
        except BudgetReached:
            LOGGER.warning("max_run_minutes (%s) reached: stopping at a page boundary; the next run continues "
                           "from this state", self.config.get("max_run_minutes"))
            self.checkpoint_final(keep_current=True)
            self.progress.summary(totals, time.monotonic() - started, self.skipped_streams, self.failures,
                                  stopped=True)
            return
        self.checkpoint_final()
        self.progress.summary(totals, time.monotonic() - started, self.skipped_streams, self.failures)
        if self.failures:
            raise TapError("sync incomplete: " + "; ".join(
                f"{', '.join(names)} failed ({reason})" for names, reason in self.failures)
                + ". Their bookmarks were kept: the next run reads them again")

    def checkpoint_final(self, keep_current=False):
        if not keep_current:
            self.out.currently_syncing(None)
        self.out.checkpoint()

    def sync_family(self, family):
        names = [s.name for s in family.selected]
        LOGGER.info("Starting %s", ", ".join(names))
        requests_before, started = self.client.request_count, time.monotonic()
        self.out.currently_syncing(family.selected[0].name)
        self.progress.start(family)
        try:
            READERS[family.root.reader](self, family).run()
        except (PermissionDenied, AuthError) as exc:
            if not self.plan_lacks(family, exc):
                raise
            LOGGER.warning("Skipping %s: %s (the account's Help Scout plan does not include it)",
                           ", ".join(names), exc)
            self.skipped_streams.extend(names)
        except ApiError as exc:
            if exc.fatal:
                raise
            LOGGER.error("%s failed: %s", ", ".join(names), exc)
            self.failures.append((names, str(exc)))
        else:
            family.versions.activate(family.incomplete)     # deletions reach the target
        family.versions.settle()
        for stream in family.selected:
            LOGGER.info("Finished %s: %d records%s", stream.name, family.counts[stream.name],
                        f", {family.skipped[stream.name]} malformed items skipped" if family.skipped[stream.name] else "")
            with metrics.record_counter(stream.name) as counter:
                counter.increment(family.counts[stream.name])
        LOGGER.info("Finished %s: %d requests in %.1f s", ", ".join(names),
                    self.client.request_count - requests_before, time.monotonic() - started)
        self.out.checkpoint()

    def plan_lacks(self, family, exc):
        """A 403, or a 401 that persists with a freshly issued token while the token works on
        other endpoints, on a plan-gated endpoint: the account's plan lacks it."""
        if not family.root.plan_gated:
            return False
        if isinstance(exc, PermissionDenied):
            return True
        if exc.status != 401 or exc.endpoint == "oauth2/token":
            return False
        if self._token_works is None:
            try:
                self.client.get("/users/me", endpoint="users/me")
                self._token_works = True
            except AuthError:
                self._token_works = False
        return self._token_works


def sync(config, config_path, catalog, state, out_factory, state_source="state"):
    from tap_helpscout.api.client import HelpScoutClient
    client = HelpScoutClient(config, config_path)
    engine = Engine(config, client, catalog, state, out_factory, state_source)
    try:
        engine.run()
    finally:
        engine.close()
        client.close()
