"""EMBEDDED: child rows that arrive inside their parent's rows (`embed=threads`), read separately
only where the embedded copy may be incomplete (`Stream.incomplete`: chats, conversations at the
cap of 25 embedded threads, fewer embedded than counted). Driven by the parent's reader, page by
page; the rows are written after their parent's, oldest first.
"""


def _embedded(item, key):
    embedded = item.get("_embedded")
    return embedded.get(key) if isinstance(embedded, dict) else None


class Reader:
    def __init__(self, context):
        self.context = context
        self.stream = context.stream
        self.unconfirmed = False            # a child listing could not be confirmed complete

    def fetch(self, page):
        """Start reading the child listings that the embedded copies of `page` cannot replace."""
        stream, context = self.stream, self.context
        for item in page.items:
            if not isinstance(item, dict) or item.get("id") is None:
                continue
            rows = _embedded(item, stream.embed)
            if not isinstance(rows, list) or stream.incomplete(item, rows):
                # Embedded rows, or a count above 0, say that the listing is not empty.
                count = item.get(stream.parent_count) if stream.parent_count else None
                has_rows = bool(rows) or (isinstance(count, int) and not isinstance(count, bool) and count > 0)
                page.children[(stream.name, item["id"])] = context.workers.pool.submit(
                    context.fetcher.children, stream, item["id"], has_rows)

    def emit(self, page, items):
        """Write the children of each of `items` (parents on `page`), parent by parent."""
        stream, family = self.stream, self.context.family
        for item in items:
            if not isinstance(item, dict) or item.get("id") is None:
                continue
            fetched = page.children.get((stream.name, item["id"]))
            if fetched is not None:
                listing = fetched.result()
                rows = listing.items
                self.unconfirmed = self.unconfirmed or not listing.complete
            else:
                rows = item["_embedded"][stream.embed]
            # The API lists threads newest first; emit them in the order they happened.
            family.emit_items(stream, list(reversed(rows)), page.fetched_at, parent_id=item["id"])

    def finish(self, parents_complete):
        """Nothing to do: the parent's listing keeps the bookmark of the family."""

    def cancel(self):
        """Nothing to do: pending reads belong to pages the parent's reader cancels."""
