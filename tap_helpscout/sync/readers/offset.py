"""Conversations page by page, for an API that refuses the `query` ranges that number windows use:
offset pages in `number` order, read from the last to the first, each requested as soon as the
one above it has arrived; a change of the listing's total between two pages has the stretch
around that boundary read again. docs/design/listings.md tells why no row is lost.
"""
import functools
import threading

from tap_helpscout.api.pages import Page
from tap_helpscout.errors import ApiError
from tap_helpscout.logs import get_logger
from tap_helpscout.sync.readers.fetch import proved
from tap_helpscout.sync.readers.paging import numbers_of

LOGGER = get_logger(__name__)
GAP_PROBES = 8


def first_number(page):
    numbers = numbers_of(page.items)
    return numbers[0] if numbers else None


def last_number(page):
    numbers = numbers_of(page.items)
    return numbers[-1] if numbers else None


class OffsetPages:
    def __init__(self, listing):
        self.listing = listing
        self.totals = []            # page.totalElements of every read, in the order read
        self.max_pages = 0
        self.lock = threading.Lock()

    def run(self, first=None, resume=None):
        """Read from the last page to page 1. `first` (page 1, read to learn the number of
        pages, not written) is read again at the end, since rows deleted meanwhile may have
        pushed others down into it (a deletion and a creation leave the total as it was, so an
        unchanged total would prove nothing)."""
        upper = None
        if resume:
            self.totals.append(resume.get("total"))
            upper = Page(resume["next_page"] + 1, [], self.listing.size, resume.get("total"), 0)
            upper.seq = 0
            first = self.fetch(1, with_children=False)
            top = min(resume["next_page"], first.pages)
        else:
            self.note(first)
            top = first.pages
        chain = _Chain(self, top)
        try:
            for number in range(top, 0, -1):
                page = chain.take(number)
                if upper is not None and self.changed(upper, page):
                    self.cover_gap(page, upper)
                self.write(page, next_page=number - 1)
                upper = page
        finally:
            chain.stop()
        # Pages that appeared meanwhile hold rows created (or pushed up) during the read.
        number, last = first.pages + 1, self.max_pages
        while number <= last:
            page = self.fetch(number)
            self.write(page, next_page=0)
            number, last = number + 1, page.pages

    def note(self, page):
        with self.lock:
            self.totals.append(page.total)
            page.seq = len(self.totals) - 1
            self.max_pages = max(self.max_pages, page.pages)

    def fetch(self, number, with_children=True, expected=False):
        """Page `number`; `expected`: an earlier answer of this pass said it exists (see `proved`)."""
        listing = self.listing
        try:
            if expected:
                page = self.proved(number, with_children)
            else:
                page = listing.fetch(number, with_children=with_children)
        except ApiError as exc:
            if exc.status == 400 and number > 1 and not exc.fatal:
                raise ApiError(f"{listing.stream.name}: the API refused page {number} ({exc}); it does not "
                               f"accept search-query ranges either, so this listing cannot be read past page "
                               f"{number - 1}. Narrow it with a later start_date, or ask Help Scout support",
                               status=400, endpoint=exc.endpoint) from None
            raise
        self.note(page)
        return page

    def proved(self, number, with_children):
        """Page `number`, which an earlier answer said exists: it may come back empty only when a
        fresh page 1 shows that the listing has shrunk past it. A page 1 that still counts it
        perhaps counts rows created (or modified into the listing) after the empty answer: the
        page is asked again, PASSES times, then Contradicted."""
        listing = self.listing

        def trusted():
            LOGGER.info("%s: the listing shrank below page %d while it was read", listing.stream.name, number)
            return listing.fetch(number, with_children=with_children)
        return proved(functools.partial(listing.fetch, number, with_children=with_children),
                      lambda: self.fetch(1, with_children=False).pages >= number, trusted)

    def write(self, page, next_page):
        self.listing.emit(page)
        self.listing.checkpoint({"mode": "pages", "next_page": next_page, "total": page.total})

    def changed(self, a, b):
        """Did the listing's size change between (or while) two pages were read?"""
        low, high = sorted((a.seq, b.seq))
        return len(set(self.totals[low:high + 1])) > 1

    def cover_gap(self, lower, upper):
        """The listing changed between the reads of `upper` (page n+1) and `lower` (page n):
        rows may have been pushed up from n into n+1 after n+1 was read. Such rows have numbers
        between the last of `lower` and the first of `upper`; read pages around the boundary
        until one page (one consistent view) holds that whole stretch, and emit it. If none does
        after a few reads, the listing stays unconfirmed and its bookmark does not move."""
        low, high = last_number(lower), first_number(upper)
        number = upper.number
        for _ in range(GAP_PROBES):
            probe = self.fetch(number)
            self.write(probe, next_page=lower.number)
            if low is None or high is None:     # an empty side: one fresh read will do
                return
            numbers = numbers_of(probe.items)
            starts_before = probe.number == 1 or (numbers and numbers[0] < low)
            ends_after = probe.number >= probe.pages or (numbers and numbers[-1] > high)
            if starts_before and ends_after:
                return
            number = max(1, number - 1) if not starts_before else number + 1
        self.listing.unconfirmed = True


class _Chain:
    """Pages top..1 requested one at a time, each as soon as the one above it has arrived
    (on the listing's own worker, without waiting for the main thread to take it), at most
    AHEAD pages ahead of the one being written, so that memory stays bounded. Once a read
    fails, or the listing stops, no further page is requested."""

    AHEAD = 2

    def __init__(self, pages, top):
        self.pages = pages
        self.pool = pages.listing.context.workers.chain
        self.lock = threading.Lock()
        self.next_number = top          # the next page to request
        self.taken = top + 1            # the lowest page the main thread has taken
        self.in_flight = False
        self.stopped = False
        self.futures = {}
        with self.lock:
            self.request_more()

    def request_more(self):
        """(With the lock held.) Request the next page if none is in flight and the reads are
        not too far ahead of the writes."""
        number = self.next_number
        if self.stopped or self.in_flight or number < 1 or self.taken - number > self.AHEAD:
            return
        self.in_flight, self.next_number = True, number - 1
        self.futures[number] = self.pool.submit(self.fetch, number)

    def fetch(self, number):
        try:
            return self.pages.fetch(number, expected=True)
        except BaseException:
            self.stop()
            raise
        finally:
            with self.lock:
                self.in_flight = False
                self.request_more()

    def take(self, number):
        with self.lock:
            self.request_more()
            future = self.futures.pop(number)
        page = future.result()
        with self.lock:
            self.taken = number
            self.request_more()
        return page

    def stop(self):
        with self.lock:
            self.stopped = True
