"""A lagging search index (`index_lag_seconds`): what `/v2/conversations` and `/v2/customers`
see of each record's modification time, catching up with the dataset `lag` seconds after each
change, as a search-backed listing does when its index is refreshed behind the database.

Until a change becomes visible, `modifiedSince`, `sortField=modifiedAt` and `query` ranges on
`modifiedAt` see the record's previous modification time; a created record is not listed at
all, and a deleted one is still listed (served as it was rendered last). Every other filter,
and the JSON served, use the current record: the real service serves documents from its
database, only the index lags.

The lag is in real (unscaled) seconds; `clock` (monotonic seconds) is a public attribute so that
a test can step through it with a fake clock.
"""
import time
from collections import deque

KINDS = ("conversation", "customer")


class SearchIndex:
    def __init__(self, data, lag, clock=time.monotonic):
        self.data, self.lag, self.clock = data, lag, clock
        self.records = {kind: {} for kind in KINDS}     # id -> record, as the listings see them
        self.modified = {kind: {} for kind in KINDS}    # id -> modification time the listings see
        self.pending = deque()                          # (visible_at, kind, id, record or None, modified)
        self.latest = {kind: {} for kind in KINDS}      # id -> (record, modified) last recorded
        self.applied = 0                                # changes that have become visible so far
        for kind in KINDS:
            for record_id in self._current_ids(kind):
                record, modified = self.current(kind, record_id)
                self.records[kind][record_id] = record
                self.modified[kind][record_id] = modified
                self.latest[kind][record_id] = (record, modified)

    def _current_ids(self, kind):
        records = self.data.conversations if kind == "conversation" else self.data.customers
        return [r["id"] for r in records]

    def current(self, kind, record_id):
        """(record, modification time) in the dataset now; (None, None) when deleted. Customers'
        modification time is `updatedAt` (a string in one fixed format: it sorts as a time)."""
        if kind == "conversation":
            record = self.data.conversation(record_id)
            return (record, self.data.conversation_modified_at[record_id]) if record else (None, None)
        record = self.data.customer(record_id)
        return (record, record["updatedAt"]) if record else (None, None)

    def changed(self, kind, record_id):
        """The dataset changed this record: the change becomes visible `lag` seconds from now."""
        record, modified = self.current(kind, record_id)
        self.pending.append((self.clock() + self.lag, kind, record_id, record, modified))
        self.latest[kind][record_id] = (record, modified)

    def resync(self):
        """After hand edits of the dataset (`Emulator.invalidate`): every record that differs
        from what was last recorded counts as changed now."""
        for kind in KINDS:
            ids = set(self.latest[kind]) | set(self._current_ids(kind))
            for record_id in sorted(ids):
                known = self.latest[kind].get(record_id, (None, None))
                record, modified = self.current(kind, record_id)
                if record is not known[0] or modified != known[1]:
                    self.changed(kind, record_id)

    def catch_up(self):
        """Apply the changes whose time has come; returns how many were applied so far, which
        cached listings use to know that what the index shows has moved."""
        now = self.clock()
        while self.pending and self.pending[0][0] <= now:
            _, kind, record_id, record, modified = self.pending.popleft()
            if record is None:
                self.records[kind].pop(record_id, None)
                self.modified[kind].pop(record_id, None)
            else:
                self.records[kind][record_id] = record
                self.modified[kind][record_id] = modified
            self.applied += 1
        return self.applied

    def view(self, kind):
        """(records, {id: modification time}) as the listings see them now."""
        self.catch_up()
        return list(self.records[kind].values()), self.modified[kind]
