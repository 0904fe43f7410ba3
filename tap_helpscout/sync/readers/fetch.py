"""Requesting pages and refusing the ones that cannot be trusted; reading small listings whole.

Every reader goes through a `Fetcher`: it asks the client for one page, checks the answer with
`api/pages.py`, reads a page again when it is short (fewer rows than a full page below the last one),
and turns an answer that stays unusable into a `MalformedAnswer` that fails the stream. A small
listing is read in passes until one pass is complete (`pages.Pass`).
"""
import functools
import itertools
from collections import deque
from datetime import datetime, timezone

from tap_helpscout.api.pages import PageError, array_or_hal_page, docs_page, hal_page
from tap_helpscout.errors import ApiError, MalformedAnswer
from tap_helpscout.logs import get_logger
from tap_helpscout.streams import DOCS, PAGE_SIZE
from tap_helpscout.sync.readers.paging import PASSES, Pass, covered, identity

LOGGER = get_logger(__name__)

PAGE_TRIES = 3                  # reads of one page that came back short or inconsistent


class Contradicted(MalformedAnswer):
    """An answer without rows where the earlier answers of the same read say rows must be, read
    again and still without: the reader checks an earlier answer afresh before it trusts it."""

    def __init__(self, stream, path, problem, passes=1):
        checked = f" in {passes} passes, each checked against an earlier request read afresh" if passes > 1 else ""
        super().__init__(f"{stream}: the API's answers to {path} cannot be trusted: {problem} "
                         f"(read {PAGE_TRIES * passes} times{checked})", endpoint=path)
        self.stream, self.path, self.problem = stream, path, problem

    def again(self, passes):
        """The same contradiction met on each of `passes` passes (each of PAGE_TRIES reads, then a
        fresh earlier answer that still showed rows): the message counts every read."""
        return Contradicted(self.stream, self.path, self.problem, passes)


def proved(fetch, still_expected, trusted):
    """A page that earlier answers say holds rows: `fetch(expected=True)`, which raises
    Contradicted when it comes back without. The empty answer is trusted (`trusted()`, which
    says why and reads it as it is) only once `still_expected()`, asked afresh, no longer says
    rows are there; when it does (rows created or modified into the listing after the empty
    answer), the page is asked again, PASSES times, then Contradicted."""
    for _ in range(PASSES):
        try:
            return fetch(expected=True)
        except Contradicted as exc:
            problem = exc
        if not still_expected():
            return trusted()
    raise problem.again(PASSES)


class Listing:
    """Every row of a listing as read: `items` in the order first seen, `complete` when the
    reads prove no row was missed, `server_time` the server's clock at its first answer (None
    without a usable Date header)."""

    def __init__(self, items, complete, server_time=None):
        self.items = items
        self.complete = complete
        self.server_time = server_time


class Fetcher:
    def __init__(self, client, pool, parallel):
        self.client = client
        self.pool = pool
        self.parallel = parallel

    def page(self, stream, path, params, number, size=PAGE_SIZE, parse=None, expected=False):
        """Page `number` of a listing, checked; read again (a few times) while it is short,
        inconsistent, or empty where `expected` (earlier answers say it holds rows), then a
        MalformedAnswer (Contradicted for the last) naming the stream, the page and what is wrong."""
        listing_page = docs_page if stream.api == DOCS else array_or_hal_page if stream.bare_array else hal_page
        parse = parse or (lambda data, n: listing_page(data, stream.records_key, n, size, stream.paged))
        problem, contradicted = None, False
        for _ in range(PAGE_TRIES):
            response = self.client.get(path, {**params, "page": str(number)}, endpoint=stream.name)
            try:
                page = parse(response.json, number)
            except PageError as exc:
                problem, contradicted = str(exc), False
                continue
            page.server_time = response.server_time
            page.fetched_at = datetime.now(timezone.utc)
            if page.short:
                problem, contradicted = (f"page {number} of {page.pages} holds {len(page.items)} rows "
                                         f"where a full page holds {page.size}"), False
            elif expected and not page.items:
                problem, contradicted = (f"page {number} holds no row where the listing's earlier "
                                         f"answers say rows are"), True
            else:
                return page
        if contradicted:
            raise Contradicted(stream.name, path, problem)
        raise MalformedAnswer(f"{stream.name}: the API's answers to {path} cannot be trusted: "
                              f"{problem} (read {PAGE_TRIES} times)", endpoint=path)

    def pages(self, stream, path, params, numbers, size=PAGE_SIZE, parallel=False, parse=None):
        """Pages `numbers` in order, each one that an earlier answer said exists (so none may
        come back empty); with `parallel`, a few requested ahead on the pool (never all at once:
        a huge `totalPages` must not queue a huge number of tasks)."""
        if not parallel:
            for number in numbers:
                yield self.page(stream, path, params, number, size, parse, expected=True)
            return
        numbers = iter(numbers)
        ahead = deque(self.pool.submit(self.page, stream, path, params, n, size, parse, True)
                      for n in itertools.islice(numbers, self.parallel))
        try:
            while ahead:
                future = ahead.popleft()
                following = next(numbers, None)
                if following is not None:
                    ahead.append(self.pool.submit(self.page, stream, path, params, following, size, parse, True))
                yield future.result()
        finally:
            for future in ahead:
                future.cancel()

    def read_all(self, stream, path, params=None, size=PAGE_SIZE, parallel=False, expected=False):
        """Every row of a small listing. Pages are read in passes; a pass is complete when its
        pages agree on the total and hold that many distinct rows. A listing that changes or
        reorders its ties while it is read, or whose pages contradict each other, is read
        again, at most PASSES times; the rows of every pass are kept (a row read twice is
        harmless, a row never read is lost). Without a complete pass, MalformedAnswer: the
        stream fails rather than miss a row. `expected`: an earlier answer (the parent's count)
        says the listing has rows, so its first page may not come back empty either."""
        params = params or {}
        passes, rows, problem, server_time = [], {}, None, None
        identify = functools.partial(identity, key=stream.item_id)
        for attempt in range(1, PASSES + 1):
            read = Pass(identify=identify)
            try:
                first = self.page(stream, path, params, 1, size, expected=expected)
                server_time = server_time or first.server_time
                for page in itertools.chain([first], self.pages(stream, path, params,
                                                                range(2, first.pages + 1), size, parallel)):
                    read.add(page)
                    for index, item in enumerate(page.items):
                        rows.setdefault(identify(item, page.number, index), item)
            except Contradicted as exc:
                problem = exc
                read.contradicted = True           # this pass proves nothing
            passes.append(read)
            if read.complete or covered(passes):
                return Listing(list(rows.values()), True, server_time)
            LOGGER.info("%s: %s changed or reordered while it was read (pass %d of %d); reading it again",
                        stream.name, path, attempt, PASSES)
        raise MalformedAnswer(f"{stream.name}: {path} kept changing while it was read {PASSES} times, or its "
                              f"pages disagree{f' ({problem})' if problem else ''}; the stream is read "
                              f"again next run", endpoint=path)

    def children(self, child, parent_id, expected=False):
        """A child listing of one parent (threads of a conversation, members of a team); empty,
        and complete, when the parent was deleted since it was listed (404). `expected`: the
        parent says it has children (see `read_all`)."""
        try:
            return self.read_all(child, child.path.format(parent_id=parent_id), child.params, expected=expected)
        except ApiError as exc:
            if exc.status != 404:
                raise
            LOGGER.info("%s: parent %s was deleted during the sync; no rows", child.name, parent_id)
            return Listing([], True)

    def detailed_all(self, stream, items, parent_id=None):
        """`items` each completed with the `detail_fields` of its own resource (`detail_path`
        with `detail_params`, one request each, a few on the pool at once); an item deleted
        since it was listed (404) is left out, one without an id left as it is."""
        items = iter(items)
        ahead = deque(self.pool.submit(self.detailed, stream, item, parent_id)
                      for item in itertools.islice(items, 2 * self.parallel))
        completed = []
        try:
            while ahead:
                item = ahead.popleft().result()
                following = next(items, None)
                if following is not None:
                    ahead.append(self.pool.submit(self.detailed, stream, following, parent_id))
                if item is not None:
                    completed.append(item)
        finally:
            for future in ahead:
                future.cancel()
        return completed

    def detailed(self, stream, item, parent_id=None):
        ident = item.get(stream.item_id) if isinstance(item, dict) else None
        if ident is None:
            return item
        path = stream.detail_path.format(parent_id=parent_id, id=ident)
        try:
            full = self.client.get(path, dict(stream.detail_params), endpoint=stream.name).json
        except ApiError as exc:
            if exc.status != 404:
                raise
            LOGGER.info("%s: %s was deleted during the sync; left out", stream.name, ident)
            return None
        if not isinstance(full, dict):
            raise MalformedAnswer(f"{stream.name}: the answer to {path} is not a JSON object", endpoint=path)
        # A field the full item lacks keeps the listing's value.
        return {**item, **{name: full[name] for name in stream.detail_fields if name in full}}
