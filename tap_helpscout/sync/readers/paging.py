"""The arithmetic of reading listings, as pure functions: no I/O here.

- `Pass` collects the pages of one read of a listing and says whether that read was complete:
  every page reported the same total and the rows seen (by id) are as many as that total.
- `split_range` plans the windows of a listing split by a numeric key; `number_query` and
  `modified_query` write such windows as the API's search ranges.
- `numbers_of` reads the conversation numbers of a page's rows.
"""


# Reads of one listing (or window, or tie) whose rows keep changing or reordering between page
# requests: each read finds most of the rows the others missed (tied rows drawn in a new order
# for every request), so a few more are cheap insurance against a row never seen.
PASSES = 10


def numbers_of(items):
    """The `number` of each row that has one (an integer, not a boolean), in order."""
    return [i["number"] for i in items
            if isinstance(i, dict) and isinstance(i.get("number"), int) and not isinstance(i.get("number"), bool)]


def identity(item, page_number, index, key="id"):
    """What tells one row from another: its id (`key`: the stream's identifying field), or
    where it was seen when it has none (a malformed row still counts as a row of the page)."""
    value = item.get(key) if isinstance(item, dict) else None
    if isinstance(value, (int, float, str)):        # an object or list as id is a malformed row
        return ("id", value)
    return ("at", page_number, index)


class Pass:
    """One read of every page of a listing. Complete when every page told the same total and
    as many distinct rows were seen as that total: then no row slid between pages while they
    were read (or ties reordered between two requests)."""

    def __init__(self, identify=identity):
        self.identify = identify
        self.totals = set()
        self.seen = set()
        self.contradicted = False       # a page of it contradicted the others: it proves nothing

    def add(self, page):
        self.totals.add(page.total)
        for index, item in enumerate(page.items):
            self.seen.add(self.identify(item, page.number, index))

    @property
    def agreed(self):
        return len(self.totals) == 1 and not self.contradicted

    @property
    def complete(self):
        return self.agreed and len(self.seen) >= next(iter(self.totals))


def covered(passes):
    """Several reads together cover the listing when the rows seen across them are at least as
    many as the total of the latest one whose pages agreed."""
    agreed = [p for p in passes if p.agreed]
    if not agreed:
        return False
    seen = set().union(*(p.seen for p in passes))
    return len(seen) >= next(iter(agreed[-1].totals))


def split_range(low, high, parts):
    """[low, high] (integers, inclusive) in `parts` contiguous windows of nearly equal width."""
    parts = max(1, min(parts, high - low + 1))
    width = (high - low + 1) / parts
    bounds = [low + round(width * i) for i in range(parts)] + [high + 1]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(parts) if bounds[i] <= bounds[i + 1] - 1]


def number_query(low, high):
    """The documented advanced-search range on conversation numbers; `*` is an open end."""
    return f"(number:[{low} TO {'*' if high is None else high}])"


def modified_query(low, high):
    """The documented advanced-search range on modification times (API format strings)."""
    return f"(modifiedAt:[{low} TO {'*' if high is None else high}])"
