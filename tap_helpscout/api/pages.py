"""One answer of a listing as a `Page`, proved rather than trusted; pure functions, no I/O.

`hal_page` (HAL lists), `array_or_hal_page` (a bare array or HAL), `report_page` (the report's
`{results, page, count, pages}`) and `docs_page` (the Docs API's lists) turn one answer into a `Page`, or raise `PageError` when its
shape cannot be trusted (a `page` block that is a list, `totalPages: "many"`, a `totalPages` that
does not match `totalElements`, ...).
"""
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional

# No account holds this many rows of one listing: a larger total is a broken answer, and
# trusting it would mean walking (or queueing) a billion empty pages.
MAX_TOTAL = 10 ** 9


class PageError(ValueError):
    """An answer whose shape or paging block is inconsistent; the message says what."""


@dataclass
class Page:
    number: int                  # 1-based, as requested
    items: list
    size: int                    # rows a full page holds
    total: int                   # rows of the whole listing (totalElements / count)
    pages: int                   # totalPages / pages
    server_time: Optional[datetime] = None
    fetched_at: Optional[datetime] = None
    children: dict = field(default_factory=dict)   # (child stream name, parent id) -> future

    @property
    def short(self):
        """A page holding fewer rows than its own paging block says it holds (a full page below
        the last one, the remainder on the last): within one answer that cannot be, so the page
        is read again rather than trusted. Unknown when the page size is unknown (reports)."""
        if not self.size or self.number > self.pages:
            return False
        expected = min(self.size, self.total - (self.number - 1) * self.size)
        return len(self.items) < expected

    @property
    def holds_rest(self):
        """This page holds every row that is left of the listing (a keyset read can stop)."""
        return self.total <= len(self.items) or self.pages <= self.number


def _count(block, name, where):
    value = block.get(name)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PageError(f"{where}: {name} is not a count ({_shown(value)})")
    if value > MAX_TOTAL:
        raise PageError(f"{where}: {name} {value} is beyond any real account")
    return value


def _shown(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _rows(container, key, where):
    """The list of rows under `key` (absent or null: none)."""
    items = container.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise PageError(f"{where} is {_kind(items)}, not a list")
    return items


def hal_page(data, records_key, number, default_size, paged=True):
    """The HAL answer `data` to a request for page `number` of a listing whose rows sit under
    `_embedded.<records_key>`. A listing documented as paged must say its totals in a `page`
    block; one documented without (`paged` False: mailbox fields, definition lists) may answer
    the whole listing at once, without it."""
    if not isinstance(data, dict):
        raise PageError(f"the answer is {_kind(data)}, not a JSON object")
    embedded = data.get("_embedded")
    if embedded is None:
        embedded = {}           # the API omits `_embedded` when there is nothing in it
    if not isinstance(embedded, dict):
        raise PageError(f"_embedded is {_kind(embedded)}, not an object")
    items = _rows(embedded, records_key, f"_embedded.{records_key}")
    block = data.get("page")
    if block is None:
        if paged:
            raise PageError("the answer has no page block, which every answer of this listing carries")
        return Page(number, items, max(default_size, len(items)), len(items), 1 if items else 0)
    if not isinstance(block, dict):
        raise PageError(f"page is {_kind(block)}, not an object")
    size = _count(block, "size", "page") if "size" in block else default_size
    total = _count(block, "totalElements", "page")
    pages = _count(block, "totalPages", "page")
    if "number" in block and _count(block, "number", "page") != number:
        raise PageError(f"page {number} was asked for and page {block['number']} came back")
    if size and pages != math.ceil(total / size) and not (total == 0 and pages == 1):
        raise PageError(f"page: totalPages {pages} does not match totalElements {total} "
                        f"at {size} per page")
    if len(items) > max(size, 1) and size:
        raise PageError(f"page {number} holds {len(items)} rows, more than its size {size}")
    return Page(number, items, size or default_size, total, pages)


def array_or_hal_page(data, records_key, number, default_size, paged=False):
    """A listing documented as a bare JSON array (the whole listing, unpaged) that an older
    note describes as HAL pages (saved replies): either shape."""
    if isinstance(data, list):
        return Page(number, data, max(default_size, len(data)), len(data), 1 if data else 0)
    return hal_page(data, records_key, number, default_size, paged)


def report_page(data, records_key, number, size):
    """An answer of a paged report endpoint: `{results, page, count, pages}` (not HAL); the
    totals are part of every answer."""
    if not isinstance(data, dict):
        raise PageError(f"the answer is {_kind(data)}, not a JSON object")
    missing = [name for name in (records_key, "count", "pages") if name not in data]
    if missing:
        raise PageError(f"the answer has no {' and no '.join(missing)}, which every answer of the report carries")
    items = _rows(data, records_key, records_key)
    total = _count(data, "count", "report")
    pages = _count(data, "pages", "report")
    if size and pages > math.ceil(total / size) + 1:
        raise PageError(f"report: pages {pages} does not match count {total}")
    if len(items) > total and number <= pages:
        raise PageError(f"report: page {number} holds {len(items)} rows of {total} in all")
    return Page(number, items, size, total, pages)


def docs_page(data, records_key, number, default_size=0, paged=True):
    """An answer of a Docs API list: `{<records_key>: {page, pages, count, items}}`, or the bare
    block (the sites list, as one example shows). Every answer carries its totals. The page
    size is not trusted (only the article lists take one): the rows are counted by `count`,
    and a page below the last may not come back empty."""
    if not isinstance(data, dict):
        raise PageError(f"the answer is {_kind(data)}, not a JSON object")
    block = data.get(records_key)
    if block is None and "items" in data and "pages" in data:
        block = data
    if not isinstance(block, dict):
        raise PageError(f"{records_key} is {_kind(block)}, not an object with page, pages, count and items")
    missing = [name for name in ("page", "pages", "count", "items") if name not in block]
    if missing:
        raise PageError(f"{records_key} has no {' and no '.join(missing)}, which every answer of the list carries")
    items = _rows(block, "items", f"{records_key}.items")
    total = _count(block, "count", records_key)
    pages = _count(block, "pages", records_key)
    if _count(block, "page", records_key) != number:
        raise PageError(f"page {number} was asked for and page {block['page']} came back")
    if (total and not pages) or pages > max(total, 1):
        raise PageError(f"{records_key}: pages {pages} does not match count {total}")
    if len(items) > total:
        raise PageError(f"{records_key}: page {number} holds {len(items)} rows of {total} in all")
    return Page(number, items, 0, total, pages)


def _kind(value):
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number")
