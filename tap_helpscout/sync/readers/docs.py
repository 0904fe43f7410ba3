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
from datetime import datetime, timedelta, timezone

from tap_helpscout.errors import ApiError, MalformedAnswer
from tap_helpscout.logs import get_logger
from tap_helpscout.streams import STREAMS
from tap_helpscout.sync.readers.whole import warn_no_server_clock
from tap_helpscout.timefmt import format_date_time, parse_date_time

LOGGER = get_logger(__name__)

SITES, COLLECTIONS, CATEGORIES = "docs_sites", "docs_collections", "docs_categories"
ARTICLES, STATS = "docs_articles", "docs_article_stats"
CHECKPOINT_EVERY = 100          # articles written between two STATEs
KEY, IDS = "updated_at", "ids"  # the bookmark's keys
SETTLED = timedelta(seconds=2)  # a second this far behind the server's clock is over
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


class Mark:
    """The docs_articles bookmark, pure: `time`, the latest change written (never later than the
    server's clock when the lists were first read), and `ids`, the articles written that changed
    in that very second, kept only when the second was over `margin` before the lists were read
    (`bookmark_margin_seconds`, at least SETTLED: for a clock that stamps changes behind the one
    that dates answers): none of them can have changed again within it since, so they are not
    read again (a second not yet over when read is read again, whole: `>=`)."""

    def __init__(self, entry, server_time, margin=SETTLED):
        self.settled = max(SETTLED, margin)
        self.time = entry.get(KEY)
        ids = entry.get(IDS)
        self.ids = {i for i in ids if isinstance(i, str)} if self.time and isinstance(ids, list) else set()
        self.server_time = server_time

    def wanted(self, moment, ident):
        """Whether an article listed as changed at `moment` is read in full."""
        if not self.time or moment is None:
            return True
        since = parse_date_time(self.time)
        return moment > since or (moment == since and ident not in self.ids)

    def to_read(self, items):
        """[(time, item)] of the list items read in full, oldest first (unknown times first)."""
        chosen = [(changed_at(item) if isinstance(item, dict) else None, item) for item in items]
        chosen = [(moment, item) for moment, item in chosen
                  if not isinstance(item, dict) or self.wanted(moment, item.get("id"))]
        chosen.sort(key=lambda pair: (pair[0] or EARLIEST, str(pair[1].get("id") if isinstance(pair[1], dict) else "")))
        return chosen

    def written(self, moment, ident):
        """An article changed at `moment` was written (in time order)."""
        if moment is None or self.server_time is None:
            return
        new = format_date_time(min(moment, self.server_time))
        if self.time and parse_date_time(self.time) > parse_date_time(new):
            return
        if new != self.time:
            self.time, self.ids = new, set()
        if moment <= self.server_time - self.settled and isinstance(ident, str):
            self.ids.add(ident)

    def save(self, entry):
        if self.time:
            entry[KEY] = self.time
            entry[IDS] = sorted(self.ids)
            if not self.ids:
                del entry[IDS]


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
        # An article moved to another collection while the lists were read is listed twice.
        items = list({(item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else index): item
                      for index, item in enumerate(item for _, listing in lists for item in listing.items)}.values())
        times = [listing.server_time for _, listing in lists]
        server_time = None if None in times else min(times, default=None)
        if self.selected(STATS):
            self.emit(STREAMS[STATS], items)
        if not self.selected(ARTICLES):
            return
        stream = STREAMS[ARTICLES]
        mark = Mark(context.bookmarks.of(ARTICLES), server_time, context.clock.margin)
        chosen = mark.to_read(items)
        context.total(stream, len(chosen))
        if mark.time:
            LOGGER.info("%s: %d of %d articles are new or changed since %s; reading their text", ARTICLES,
                        len(chosen), len(items), mark.time)
        else:
            LOGGER.info("%s: no bookmark yet; reading the text of all %d articles", ARTICLES, len(chosen))
        fetched_at = datetime.now(timezone.utc)
        batch, done = [], []
        for moment, article in self.full_versions(chosen):
            if article is not None:
                batch.append(article)
            done.append((moment, article))
            if len(batch) >= CHECKPOINT_EVERY:
                self.write_articles(mark, batch, done, fetched_at)
                batch, done = [], []
        self.write_articles(mark, batch, done, fetched_at)
        if chosen and server_time is None:
            warn_no_server_clock(stream, mark.time)

    def write_articles(self, mark, batch, done, fetched_at):
        """Write `batch`, then move the bookmark past `done` ([(time, article or None)])."""
        context = self.context
        context.family.emit_items(STREAMS[ARTICLES], batch, fetched_at)
        for moment, article in done:
            mark.written(moment, article.get("id") if isinstance(article, dict) else None)
        mark.save(context.bookmarks.of(ARTICLES))
        context.checkpoint(STREAMS[ARTICLES])

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
        # The GET takes an id or a number, and tells them apart by digits alone: a 24-hex id of
        # digits only would be read as a number. Such an article is asked for by its number.
        number = item.get("number")
        by_number = ident.isdigit() and isinstance(number, int) and not isinstance(number, bool)
        path = stream.detail_path.format(id=number if by_number else ident)
        try:
            body = self.context.client.get(path, {}, endpoint=stream.name).json
        except ApiError as exc:
            if exc.status != 404:
                raise
            LOGGER.info("%s: %s was deleted during the sync; left out", stream.name, ident)
            return None
        article = body.get("article") if isinstance(body, dict) else None
        if article is None and isinstance(body, dict) and "text" in body:
            article = body              # the object itself, without its documented wrapper
        if not isinstance(article, dict) or str(article.get("id")) != ident:
            raise MalformedAnswer(f"{stream.name}: the answer to {path} has no article object with id {ident}",
                                  endpoint=path)
        return {**item, **article}
