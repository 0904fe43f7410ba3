"""Small listings read whole on every run (mailboxes, users, teams, workflows), with their
per-parent children (fields and folders of every mailbox, members of every team).

Each listing is read in passes until one is complete (`fetch.Fetcher.read_all`). Incremental
streams emit the rows at or after their bookmark, oldest first; a child stream keeps one
bookmark per parent, so a later row under one mailbox never hides an earlier change under
another. A listing that could not be confirmed complete keeps its old bookmark.
"""
from datetime import datetime, timezone

from tap_helpscout.sync.readers.per_parent import child_rows
from tap_helpscout.streams import PER_PARENT
from tap_helpscout.timefmt import format_date_time, parse_date_time


class WholeListing:
    def __init__(self, engine, family):
        self.engine = engine
        self.family = family

    def run(self):
        engine, family, root = self.engine, self.family, self.family.root
        fetched_at = datetime.now(timezone.utc)
        listing = engine.fetcher.read_all(root, root.path, root.params, parallel=True)
        items = listing.items
        if family.is_selected(root):
            if not listing.complete:
                family.incomplete.add(root.name)
            self.emit(root, items, None, fetched_at, listing.complete)
            engine.checkpoint(root)

        children = [c for c in family.children if c.reader == PER_PARENT and family.is_selected(c)]
        parents = [item["id"] for item in items if isinstance(item, dict) and item.get("id") is not None]
        futures = {(child.name, parent_id): engine.pool.submit(child_rows, engine, child, parent_id)
                   for child in children for parent_id in parents}
        try:
            for child in children:
                fetched_at = datetime.now(timezone.utc)
                for parent_id in parents:
                    rows = futures[(child.name, parent_id)].result()
                    if not rows.complete:
                        family.incomplete.add(child.name)
                    self.emit(child, rows.items, parent_id, fetched_at, rows.complete)
                if child.replication_key:
                    bookmark = engine.out.bookmark(child.name)
                    if bookmark.get("parents"):
                        bookmark[child.replication_key] = min(bookmark["parents"].values(), key=parse_date_time)
                if not listing.complete or len(parents) < len(items):
                    family.incomplete.add(child.name)     # a parent may be missing, or unreadable
                engine.checkpoint(child)
        finally:
            for future in futures.values():
                future.cancel()

    def emit(self, stream, items, parent_id, fetched_at, complete):
        family = self.family
        records = family.shape_items(stream, items, parent_id)
        if not stream.replication_key:
            family.write(stream, records, fetched_at)
            return
        bookmark = self.engine.out.bookmark(stream.name)
        if parent_id is None:
            since = bookmark.get(stream.replication_key)
        else:
            since = bookmark.setdefault("parents", {}).get(str(parent_id))
        new_value = self.emit_since(stream, records, since, fetched_at)
        if new_value and complete:
            if parent_id is None:
                bookmark[stream.replication_key] = new_value
            else:
                bookmark["parents"][str(parent_id)] = new_value

    def emit_since(self, stream, records, bookmark, fetched_at):
        """Emit records whose replication key is at or after the bookmark, oldest first; return
        the new bookmark (never later than the sync's start)."""
        key = stream.replication_key
        since = parse_date_time(bookmark) if bookmark else self.engine.start_date
        dated = []
        for record in records:
            try:
                moment = parse_date_time(record.get(key)) if record.get(key) else None
            except ValueError:
                moment = None
            if moment is None or moment >= since:
                dated.append((moment or since, record))
        dated.sort(key=lambda pair: (pair[0], str(pair[1].get("id"))))
        self.family.write(stream, [record for _, record in dated], fetched_at)
        if not dated:
            return None
        latest = max(moment for moment, _ in dated)
        return format_date_time(min(latest, self.engine.sync_started))
