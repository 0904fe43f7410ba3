"""WHOLE: a small listing read in full on every run (mailboxes, users, teams, workflows, tags,
organizations, customer and organization properties), then the readers of its selected children.
Rows whose listing gives a summary only (organizations) are completed from their own resource
when the stream has `detail_path` and the config asks for it (one request per row).

The listing is read in passes until one is complete (`fetch.Fetcher.read_all`). An incremental
stream emits the rows at or after its bookmark, oldest first; a listing that could not be
confirmed complete keeps its old bookmark.
"""
from datetime import datetime, timezone

from tap_helpscout.logs import get_logger
from tap_helpscout.timefmt import format_date_time, parse_date_time

LOGGER = get_logger(__name__)


class Reader:
    def __init__(self, context):
        self.context = context

    def run(self):
        context = self.context
        family, root = context.family, context.stream
        fetched_at = datetime.now(timezone.utc)
        listing = context.fetcher.read_all(root, root.path, root.params, parallel=True)
        if root.detail_path and context.config.get(root.detail_setting) and family.is_selected(root):
            listing.items = context.fetcher.detailed_all(root, listing.items)   # one request per row
        if family.is_selected(root):
            if not listing.complete:
                family.incomplete.add(root.name)
            self.emit(listing, fetched_at)
            context.checkpoint(root)
        parents = [item for item in listing.items if isinstance(item, dict) and item.get("id") is not None]
        # A parent may be missing (the listing unconfirmed) or unreadable (no id).
        parents_complete = listing.complete and len(parents) == len(listing.items)
        for child in context.children:
            child.fetch(listing)
        try:
            for child in context.children:
                child.emit(listing, listing.items)
                child.finish(parents_complete)
                context.checkpoint(child.stream)
        finally:
            for child in context.children:
                child.cancel()

    def emit(self, listing, fetched_at):
        context, stream = self.context, self.context.stream
        records = context.family.shape_items(stream, listing.items)
        if not stream.replication_key:
            context.family.write(stream, records, fetched_at)
            return
        bookmark = context.bookmarks.of(stream.name)
        latest = write_since(context, stream, records, bookmark.get(stream.replication_key), fetched_at,
                             listing.server_time)
        if latest and listing.complete:
            bookmark[stream.replication_key] = latest
        elif records and listing.server_time is None:
            warn_no_server_clock(stream, bookmark.get(stream.replication_key))


def warn_no_server_clock(stream, bookmark):
    LOGGER.warning("%s: the answers carried no usable Date header (the server's clock), so the bookmark "
                   "stays at %s and the next run emits these rows again", stream.name, bookmark or "the start date")


def write_since(context, stream, records, bookmark, fetched_at, server_time):
    """Write the records whose replication key is at or after `bookmark` (the start date
    without one), oldest first; the new bookmark: the latest written, never later than the
    server's clock when the listing was read (None when nothing was written, or when the
    server's clock is unknown: a bookmark never comes from this machine's clock)."""
    key = stream.replication_key
    since = parse_date_time(bookmark) if bookmark else context.clock.start_date
    dated = []
    for record in records:
        try:
            moment = parse_date_time(record.get(key)) if record.get(key) else None
        except ValueError:
            moment = None
        if moment is None or moment >= since:
            dated.append((moment or since, record))
    dated.sort(key=lambda pair: (pair[0], str(pair[1].get("id"))))
    context.family.write(stream, [record for _, record in dated], fetched_at)
    if not dated:
        return None
    if server_time is None:
        return None
    latest = max(moment for moment, _ in dated)
    return format_date_time(min(latest, server_time))
