"""PER_PARENT: a child listing read for every parent row on every run (fields, folders and saved
replies of each mailbox, members of each team), driven by the parent's reader.

An incremental child keeps one bookmark per parent, so a later row under one mailbox never
hides an earlier change under another; the stream's own bookmark is the earliest of them. Items
whose listing gives a summary only (saved replies) are completed from their own resource when
the stream has `detail_path` and the config asks for it (one request per item).
"""
from datetime import datetime, timezone

from tap_helpscout.logs import get_logger
from tap_helpscout.sync.readers.whole import warn_no_server_clock, write_since
from tap_helpscout.timefmt import parse_date_time

LOGGER = get_logger(__name__)


def parent_ids(items):
    return [item["id"] for item in items if isinstance(item, dict) and item.get("id") is not None]


class Reader:
    def __init__(self, context):
        self.context = context
        self.stream = context.stream
        self.futures = {}
        self.unconfirmed = False
        self.clockless = False              # a child listing came without the server's clock

    def fetch(self, page):
        """Start reading the children of the parents on `page`."""
        for parent_id in parent_ids(page.items):
            self.futures[parent_id] = self.context.workers.pool.submit(self.rows, parent_id)

    def rows(self, parent_id):
        """The child listing of one parent, its items completed when asked for."""
        context, stream = self.context, self.stream
        listing = context.fetcher.children(stream, parent_id)
        if stream.detail_path and context.config.get(stream.detail_setting):
            # One request per row, in this worker: the pool's others read other parents.
            completed = (context.fetcher.detailed(stream, item, parent_id) for item in listing.items)
            listing.items = [item for item in completed if item is not None]
        return listing

    def emit(self, page, items):
        """Write the children of `items`, parent by parent."""
        context, stream, family = self.context, self.stream, self.context.family
        fetched_at = datetime.now(timezone.utc)
        for parent_id in parent_ids(items):
            listing = self.futures.pop(parent_id).result()
            if not listing.complete:
                family.incomplete.add(stream.name)
                self.unconfirmed = True
            records = family.shape_items(stream, listing.items, parent_id)
            if not stream.replication_key:
                family.write(stream, records, fetched_at)
                continue
            parents = context.bookmarks.of(stream.name).setdefault("parents", {})
            latest = write_since(context, stream, records, parents.get(str(parent_id)), fetched_at,
                                 listing.server_time)
            if latest and listing.complete:
                parents[str(parent_id)] = latest
            elif records and listing.server_time is None:
                self.clockless = True

    def finish(self, parents_complete):
        """After the last parent: the stream's bookmark is the earliest of its parents'."""
        stream = self.stream
        if self.clockless:
            warn_no_server_clock(stream, self.context.bookmarks.of(stream.name).get(stream.replication_key))
        if stream.replication_key:
            bookmark = self.context.bookmarks.of(stream.name)
            if bookmark.get("parents"):
                bookmark[stream.replication_key] = min(bookmark["parents"].values(), key=parse_date_time)
        if not parents_complete:
            self.context.family.incomplete.add(stream.name)

    def cancel(self):
        for future in self.futures.values():
            future.cancel()
