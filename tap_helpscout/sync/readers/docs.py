"""KNOWLEDGE_BASE: the Docs API's five streams, read as one family (docs/streams.md).

- docs_sites and docs_collections: one listing each; docs_categories: one listing per collection.
- The articles: every list page of every collection on every run (sorted by the unique `number`,
  read in passes until one is complete: `fetch.Fetcher.read_all`). They give docs_article_stats
  (every article, its views) and tell docs_articles which articles are new or changed since its
  bookmark: only those cost one request each for their full version (`text`, `categories`,
  `related`, `keywords`), so an unchanged knowledge base costs its list pages only.

The bookmark is the latest time written, an article's `updatedAt` or, never edited, its
`createdAt` (the record keeps the served values), compared with `>=` (whole seconds), and never
later than the server's clock at the first article list: a change made while the lists were read
is read again next run. Articles go out oldest first, so an interrupted run continues from its
last STATE. Only the root stream's Reader runs; the engine builds the others as for any family.
"""
import itertools
from collections import deque
from datetime import datetime, timezone

from tap_helpscout.errors import ApiError, MalformedAnswer
from tap_helpscout.logs import get_logger
from tap_helpscout.streams import STREAMS
from tap_helpscout.sync.readers.whole import warn_no_server_clock
from tap_helpscout.timefmt import format_date_time, parse_date_time

LOGGER = get_logger(__name__)

SITES, COLLECTIONS, CATEGORIES = "docs_sites", "docs_collections", "docs_categories"
ARTICLES, STATS = "docs_articles", "docs_article_stats"
CHECKPOINT_EVERY = 100          # articles written between two STATEs
EARLIEST = datetime.min.replace(tzinfo=timezone.utc)


def changed_at(item):
    """When an article last changed, as an item of a list says: `updatedAt`, or `createdAt`
    when it was never edited (`updatedAt` null); None when neither is a usable time."""
    value = item.get("updatedAt") or item.get("createdAt")
    if not isinstance(value, str):
        return None
    try:
        return parse_date_time(value)
    except ValueError:
        return None


def to_read(items, bookmark):
    """[(time, item)] of the list items whose full version is read: each changed at or after
    `bookmark` (every one without a bookmark, and those whose time is unknown), oldest first
    (unknown times first)."""
    since = parse_date_time(bookmark) if bookmark else None
    chosen = []
    for item in items:
        if not isinstance(item, dict):
            chosen.append((None, item))
            continue
        moment = changed_at(item)
        if since is None or moment is None or moment >= since:
            chosen.append((moment, item))
    chosen.sort(key=lambda pair: (pair[0] or EARLIEST, str(pair[1].get("id") if isinstance(pair[1], dict) else "")))
    return chosen


def next_bookmark(old, moment, server_time):
    """The bookmark after writing an article changed at `moment`: that time, never later than
    the server's clock when the lists were first read, never earlier than `old`; `old` when
    either time is unknown."""
    if moment is None or server_time is None:
        return old
    new = min(moment, server_time)
    if old and parse_date_time(old) >= new:
        return old
    return format_date_time(new)


def ids_of(items):
    return [item["id"] for item in items if isinstance(item, dict) and isinstance(item.get("id"), (str, int))
            and not isinstance(item.get("id"), bool) and str(item["id"])]


class Reader:
    def __init__(self, context):
        self.context = context

    def selected(self, name):
        return self.context.family.is_selected(STREAMS[name])

    def run(self):
        context, family = self.context, self.context.family
        if self.selected(SITES):
            sites = STREAMS[SITES]
            listing = context.fetcher.read_all(sites, sites.path, sites.params)
            self.emit(sites, listing.items)
        if not any(self.selected(name) for name in (COLLECTIONS, CATEGORIES, ARTICLES, STATS)):
            return
        stream = STREAMS[COLLECTIONS]
        collections = context.fetcher.read_all(stream, stream.path, stream.params)
        if self.selected(COLLECTIONS):
            self.emit(stream, collections.items)
        ids = ids_of(collections.items)
        if len(ids) != len(collections.items):
            # A collection without an id: its categories and articles cannot be read.
            family.incomplete.update({CATEGORIES, STATS, ARTICLES})
        if self.selected(CATEGORIES):
            for _, listing in self.per_collection(STREAMS[CATEGORIES], ids):
                self.emit(STREAMS[CATEGORIES], listing.items)
        if self.selected(ARTICLES) or self.selected(STATS):
            self.articles(ids)

    def emit(self, stream, items):
        self.context.family.emit_items(stream, items, datetime.now(timezone.utc))
        self.context.total(stream, len(items))
        self.context.checkpoint(stream)

    def per_collection(self, stream, ids):
        """[(collection id, Listing)] of a list read for every collection, a few at once (a
        collection deleted since it was listed has none)."""
        context = self.context
        futures = [(ident, context.workers.pool.submit(context.fetcher.children, stream, ident)) for ident in ids]
        try:
            return [(ident, future.result()) for ident, future in futures]
        finally:
            for _, future in futures:
                future.cancel()

    def articles(self, ids):
        context = self.context
        lists = self.per_collection(STREAMS[ARTICLES], ids)
        items = [item for _, listing in lists for item in listing.items]
        times = [listing.server_time for _, listing in lists]
        server_time = None if None in times else min(times, default=None)
        if self.selected(STATS):
            self.emit(STREAMS[STATS], items)
        if not self.selected(ARTICLES):
            return
        stream = STREAMS[ARTICLES]
        bookmark = context.bookmarks.of(ARTICLES)
        chosen = to_read(items, bookmark.get(stream.replication_key))
        context.total(stream, len(chosen))
        LOGGER.info("%s: %d of %d articles are new or changed since %s; reading their text", ARTICLES,
                    len(chosen), len(items), bookmark.get(stream.replication_key) or "the first run")
        fetched_at = datetime.now(timezone.utc)
        batch, latest = [], None
        for moment, article in self.full_versions(chosen):
            if article is not None:
                batch.append(article)
            latest = moment or latest
            if len(batch) >= CHECKPOINT_EVERY:
                self.write_articles(batch, latest, server_time, fetched_at)
                batch = []
        self.write_articles(batch, latest, server_time, fetched_at)
        if chosen and server_time is None:
            warn_no_server_clock(stream, bookmark.get(stream.replication_key))

    def write_articles(self, batch, latest, server_time, fetched_at):
        context, stream = self.context, STREAMS[ARTICLES]
        context.family.emit_items(stream, batch, fetched_at)
        bookmark = context.bookmarks.of(ARTICLES)
        new = next_bookmark(bookmark.get(stream.replication_key), latest, server_time)
        if new:
            bookmark[stream.replication_key] = new
        context.checkpoint(stream)

    def full_versions(self, chosen):
        """(time, the article in full, or None when it was deleted since it was listed), in
        the order of `chosen`, a few requested ahead on the pool."""
        context = self.context
        pairs = iter(chosen)
        submit = lambda pair: (pair[0], context.workers.pool.submit(self.full_version, pair[1]))  # noqa: E731
        ahead = deque(submit(pair) for pair in itertools.islice(pairs, 2 * context.workers.parallel))
        try:
            while ahead:
                moment, future = ahead.popleft()
                following = next(pairs, None)
                if following is not None:
                    ahead.append(submit(following))
                yield moment, future.result()
        finally:
            for _, future in ahead:
                future.cancel()

    def full_version(self, item):
        """The list item with the fields of the article's own GET (its text, categories,
        related articles and keywords); None when it was deleted since it was listed. An item
        without an id stays as it is: the engine skips it with a warning."""
        stream = STREAMS[ARTICLES]
        ident = item.get("id") if isinstance(item, dict) else None
        if not isinstance(ident, str) or not ident:
            return item
        path = stream.detail_path.format(id=ident)
        try:
            body = self.context.client.get(path, {}, endpoint=stream.name).json
        except ApiError as exc:
            if exc.status != 404:
                raise
            LOGGER.info("%s: %s was deleted during the sync; left out", stream.name, ident)
            return None
        article = body.get("article") if isinstance(body, dict) else None
        if not isinstance(article, dict):
            raise MalformedAnswer(f"{stream.name}: the answer to {path} has no article object", endpoint=path)
        return {**item, **article}
