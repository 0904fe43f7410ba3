"""The sync engine: reads every selected stream family with the reader its `Stream.reader` names,
keeps one family's failure from stopping the others, and ends the run with one summary line.

A family is a root stream with its children (conversations with their threads, mailboxes with
fields, folders and saved replies, teams with their members). Records are written by the main
thread; requests run on a small pool. How the pieces fit: docs/design/architecture.md.
"""
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from singer import metadata as md
from singer import metrics

from tap_helpscout.api.docs import DocsClient
from tap_helpscout.api.mailbox import HelpScoutClient
from tap_helpscout.errors import ApiError, AuthError, PermissionDenied, TapError
from tap_helpscout.logs import get_logger
from tap_helpscout.settings import DEFAULTS
from tap_helpscout.signals import leave_stop_signals_to_the_main_thread
from tap_helpscout.streams import (API_KEY_SETTING, DAILY_REPORTS, DATE_WINDOWS, DOCS, EMBEDDED, KNOWLEDGE_BASE,
                                   MAILBOX, PER_PARENT, SEARCH, STREAMS, WHOLE)
from tap_helpscout.sync import bookmarks
from tap_helpscout.sync.context import Bookmarks, ReaderContext, RunClock, Workers
from tap_helpscout.sync.progress import Progress, client_stats, counted, summary_line
from tap_helpscout.sync.readers import daily_reports, date_windows, docs, embedded, per_parent, search, whole
from tap_helpscout.sync.readers.fetch import Fetcher
from tap_helpscout.sync.records import RecordShaper
from tap_helpscout.sync.state import prepare
from tap_helpscout.sync.versions import TableVersions
from tap_helpscout.timefmt import utc_now

LOGGER = get_logger(__name__)
# Each reader kind of streams.py is read by the `Reader` of one module.
READERS = {SEARCH: search, WHOLE: whole, DATE_WINDOWS: date_windows, PER_PARENT: per_parent,
           EMBEDDED: embedded, KNOWLEDGE_BASE: docs, DAILY_REPORTS: daily_reports}
WARNINGS_PER_STREAM = 20


class BudgetReached(Exception):
    """max_run_minutes is over: stop at this page boundary, with a clean STATE."""


class Family:
    """A root stream with its child streams, the selected ones among them, and their output:
    SCHEMA messages at the start, records shaped and written, counts, and the streams whose
    read this run could not prove complete."""

    def __init__(self, root, children, entries, out):
        self.root = root
        self.children = children
        self.out = out
        self.selected = [s for s in [root, *children] if s.name in entries]
        self.counts = Counter()
        self.skipped = Counter()       # items without their key, per stream
        self.nulled = Counter()        # values made null (or left out), per stream
        self.incomplete = set()
        self.shapers = {}
        self.versions = TableVersions(out, self.selected)     # full-table streams only
        embedded_lists = tuple(c.embed for c in children if c.embed)
        for stream in self.selected:
            entry = entries[stream.name]
            shaper = RecordShaper(stream, entry.schema.to_dict(), md.to_map(entry.metadata),
                                  skip_embedded=embedded_lists)
            self.shapers[stream.name] = shaper
            out.schema(stream.name, shaper.schema, stream.key_properties,
                       [stream.replication_key] if stream.replication_key else [])

    def is_selected(self, stream):
        return stream.name in self.shapers

    def shape_items(self, stream, items, parent_id=None):
        """The records of `items`. A value that cannot be conformed becomes null, with a
        warning naming stream, id and field; only an item without its key (not an object, no
        id, or a key column that cannot be conformed) is skipped, with a warning."""
        shape = self.shapers[stream.name].shape
        keys = set(stream.key_properties) - {stream.parent_id_column}
        records = []
        for item in items:
            ident = item.get(stream.item_id) if isinstance(item, dict) else None
            if ident is None:
                self.skip(stream, None, stream.item_id, "missing" if isinstance(item, dict) else
                          f"the item is {'null' if item is None else type(item).__name__}")
                continue
            record, problems = shape(item, parent_id)
            keyless = [(field, reason) for field, reason in problems if field in keys]
            if keyless:
                self.skip(stream, ident, *keyless[0])
                continue
            for field, reason in problems:
                self.warn(stream, "nulled", f"a value made null (id {ident}, field {field}: {reason})")
            records.append(record)
        return records

    def skip(self, stream, ident, field, reason):
        self.incomplete.add(stream.name)
        self.warn(stream, "skipped", f"skipped an item without its key (id {'unknown' if ident is None else ident}, "
                                     f"field {field}: {reason})")

    def warn(self, stream, kind, text):
        """A warning about one item: the first WARNINGS_PER_STREAM of a stream, then a count."""
        counter = self.skipped if kind == "skipped" else self.nulled
        counter[stream.name] += 1
        shown = self.skipped[stream.name] + self.nulled[stream.name]
        if shown <= WARNINGS_PER_STREAM:
            LOGGER.warning("%s: %s%s", stream.name, text,
                           "; further ones are only counted" if shown == WARNINGS_PER_STREAM else "")

    def write(self, stream, records, fetched_at):
        write = self.out.writer(stream.name, fetched_at, self.versions.of(stream.name))
        for record in records:
            write(record)
        self.counts[stream.name] += len(records)

    def emit_items(self, stream, items, fetched_at, parent_id=None):
        self.write(stream, self.shape_items(stream, items, parent_id), fetched_at)


class Engine:
    """One run over the selected streams of `catalog`. `clients` maps each API of streams.py to
    its client (a single client: the Mailbox API's)."""

    def __init__(self, config, clients, catalog, state, out_factory, state_source="state"):
        self.config = config
        self.clients = clients if isinstance(clients, Mapping) else {MAILBOX: clients}
        self.entries = {e.tap_stream_id: e for e in catalog.streams
                        if e.tap_stream_id in STREAMS and e.is_selected()}
        self.out = out_factory(prepare(state, STREAMS, state_source))
        self.skipped_streams = without_client(self.entries, self.clients)
        now = utc_now()
        start, kept = bookmarks.start_date(config, self.out.state, now)
        if kept is None:
            self.out.state.pop("start_date", None)
        else:
            if "start_date" not in self.out.state and any(STREAMS[name].api == MAILBOX for name in self.entries):
                LOGGER.info("No start_date in the config: replicating from %s (one year back); later runs "
                            "keep this start", kept)
            self.out.state["start_date"] = kept
        self.clock = RunClock(start_date=start, margin=bookmarks.margin(config))
        parallel = int(config.get("max_parallel_requests") or DEFAULTS["max_parallel_requests"])
        # A listing chain (the next page of conversations or customers) must never wait behind
        # the many child requests (threads of chats) queued on the pool: it has a worker of its
        # own, and the pool the rest, so that at most max_parallel_requests are in flight.
        threads = {"initializer": leave_stop_signals_to_the_main_thread}
        if parallel > 1:
            pool = ThreadPoolExecutor(max_workers=parallel - 1, thread_name_prefix="helpscout", **threads)
            chain = ThreadPoolExecutor(max_workers=1, thread_name_prefix="helpscout-chain", **threads)
        else:
            pool = chain = ThreadPoolExecutor(max_workers=1, thread_name_prefix="helpscout", **threads)
        self.workers = Workers(pool=pool, chain=chain, parallel=parallel)
        self.progress = Progress(float(config.get("progress_seconds") or DEFAULTS["progress_seconds"]),
                                 rate_per_minute=self.rate_per_minute)
        self.fetchers = {api: Fetcher(client, pool, parallel) for api, client in self.clients.items()}
        self.bookmarks = Bookmarks(self.out, self.checkpoint)
        minutes = config.get("max_run_minutes")
        self.deadline = time.monotonic() + float(minutes) * 60 if minutes else None
        self.out.deadline = self.deadline       # a target that stops reading cannot hold the run
        self.failures = []             # (stream names, reason)

    @property
    def start_date(self):
        return self.clock.start_date

    def close(self):
        for pool in {self.workers.pool, self.workers.chain}:
            pool.shutdown(wait=False, cancel_futures=True)

    def rate_per_minute(self):
        """The requests a minute the sync may make: the account's limit, or the cap below it."""
        current = getattr(self.progress, "client", None)         # the API of the family under way
        rates = [getattr(c, "rate_limit_per_minute", None) for c in ([current] if current else self.clients.values())]
        rates = [r for r in rates + [self.config.get("max_requests_per_minute")] if r]
        return min(rates) if rates else None

    def checkpoint(self, stream=None):
        self.out.checkpoint()
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise BudgetReached()

    def families(self):
        families = []
        for root in (s for s in STREAMS.values() if s.parent is None and s.family_of is None):
            children = [s for s in STREAMS.values() if s is not root and root_of(s) == root.name]
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

    def reader(self, family):
        """The root stream's reader, with the readers of its selected children."""
        api = family.root.api
        context = ReaderContext(stream=family.root, family=family, client=self.clients[api],
                                fetcher=self.fetchers[api], workers=self.workers, bookmarks=self.bookmarks,
                                clock=self.clock, config=self.config, progress=self.progress)
        context.children = [READERS[child.reader].Reader(context.for_stream(child))
                            for child in family.children if family.is_selected(child)]
        return READERS[family.root.reader].Reader(context)

    def run(self):
        """Sync every selected stream; raises TapError naming the streams that failed."""
        if not self.entries and not self.skipped_streams:
            LOGGER.warning("No stream is selected in the catalog: nothing to sync")
        started = time.monotonic()
        totals = Counter()
        self.progress.run_timer()
        try:
            for root, children in self.families():
                family = Family(root, children, self.entries, self.out)
                self.sync_family(family)
                totals.update(family.counts)
                totals.update({f"skipped {k}": v for k, v in family.skipped.items()})
                totals.update({f"nulled {k}": v for k, v in family.nulled.items()})
        except BudgetReached:
            LOGGER.warning("max_run_minutes (%s) reached: stopping at a page boundary; the next run continues "
                           "from this state", self.config.get("max_run_minutes"))
            self.out.checkpoint()
            self.summary(totals, started, stopped=True)
            return
        finally:
            self.progress.stop_timer()
        self.out.currently_syncing(None)
        self.out.checkpoint()
        self.summary(totals, started)
        if self.failures:
            raise TapError("sync incomplete: " + "; ".join(
                f"{', '.join(names)} failed ({reason})" for names, reason in self.failures)
                + ". Their bookmarks were kept: the next run reads them again")

    def summary(self, totals, started, stopped=False):
        LOGGER.info("%s", summary_line(totals, time.monotonic() - started, client_stats(self.clients.values()),
                                       self.skipped_streams, self.failures, stopped))

    def sync_family(self, family):
        names = [s.name for s in family.selected]
        LOGGER.info("Starting %s", ", ".join(names))
        client = self.clients[family.root.api]
        requests_before, started = client.request_count, time.monotonic()
        self.out.currently_syncing(family.selected[0].name)
        self.progress.start(family, client)
        try:
            self.reader(family).run()
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
        finally:
            self.progress.finish()
        family.versions.settle()
        for stream in family.selected:
            with metrics.record_counter(stream.name) as counter:
                counter.increment(family.counts[stream.name])
        LOGGER.info("Finished %s: %s in %.1f s", ", ".join(
            f"{s.name} ({counted(family.counts[s.name], 'record')}{self.notes(family, s)})" for s in family.selected),
            counted(client.request_count - requests_before, "request"), time.monotonic() - started)
        self.out.checkpoint()

    @staticmethod
    def notes(family, stream):
        notes = [f"{n} {what}" for n, what in ((family.skipped[stream.name], "skipped without their key"),
                                               (family.nulled[stream.name], "values made null")) if n]
        return "".join(f", {note}" for note in notes)

    def plan_lacks(self, family, exc):
        """A 403, or a 401 that persists with a freshly issued token while the token works on
        other endpoints, on a plan-gated endpoint: the account's plan lacks it."""
        if not family.root.plan_gated:
            return False
        if isinstance(exc, PermissionDenied):
            return True
        return exc.status == 401 and self.clients[family.root.api].token_works(exc)


def root_of(stream):
    """The root of the family `stream` belongs to (itself, a parent, a parent's parent, or the
    stream it is read with: `family_of`)."""
    while stream.parent or stream.family_of:
        stream = STREAMS[stream.parent or stream.family_of]
    return stream.name


def without_client(entries, clients):
    """Leave out of `entries` the selected streams of an API without a client (its key is not
    in the config), with one warning per API naming the key; their names."""
    skipped = []
    for api, setting in API_KEY_SETTING.items():
        names = [name for name in entries if STREAMS[name].api == api and api not in clients]
        if names:
            LOGGER.warning("Skipping %s: the config has no %s, which the %s API needs (give it, or deselect "
                           "these streams); the other streams sync", ", ".join(names), setting, api.capitalize())
            for name in names:
                del entries[name]
            skipped += names
    return skipped


def selected_apis(catalog):
    return {STREAMS[e.tap_stream_id].api for e in catalog.streams if e.tap_stream_id in STREAMS and e.is_selected()}


def sync(config, config_path, catalog, state, out_factory, state_source="state"):
    apis = selected_apis(catalog)
    clients = {}
    if MAILBOX in apis or not apis:
        clients[MAILBOX] = HelpScoutClient(config, config_path)
    if DOCS in apis and config.get(API_KEY_SETTING[DOCS]):
        clients[DOCS] = DocsClient(config)
    engine = Engine(config, clients, catalog, state, out_factory, state_source)
    try:
        engine.run()
    finally:
        engine.close()
        for client in clients.values():
            client.close()
