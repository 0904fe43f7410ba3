"""Bookmarks, in the standard Singer shape, and the Singer output they travel with.

State: {"bookmarks": {stream: {replication_key: value, ...}}, "currently_syncing": stream|null}.
Besides its replication key, a stream's entry may hold the progress of an unfinished listing
(`listing`), per-parent bookmarks (`parents`), a report's next window (`window_start`) or, with
`report_lookback_days`, the end of the report's last complete read (`read_until`).
"""
import copy
import json
import sys
from datetime import timezone

import singer

LOGGER = singer.get_logger()
# Compact JSON: fewer bytes to write and for the target to read; ASCII-only like singer-python.
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def migrate(state, streams):
    """Accept the original tap-helpscout's state, where each bookmark was a bare timestamp
    string, so its users can switch by changing only the executable."""
    state = copy.deepcopy(state or {})
    bookmarks = state.get("bookmarks")
    if not isinstance(bookmarks, dict):
        bookmarks = {}
    migrated = {}
    for name, value in bookmarks.items():
        stream = streams.get(name)
        if isinstance(value, str):
            if stream is None or not stream.replication_key:
                continue
            if stream.parent:
                # The original shared one bookmark across all parents and lost rows with it;
                # child listings are small, so they start again from start_date.
                LOGGER.info("%s: the original tap's shared bookmark is dropped; re-reading in full", name)
                continue
            LOGGER.info("%s: migrating the original tap's bookmark %s", name, value)
            value = {stream.replication_key: value}
        if isinstance(value, dict):
            migrated[name] = value
    state["bookmarks"] = migrated
    state.setdefault("currently_syncing", None)
    return state


class Output:
    """Singer messages on stdout. Lines are collected and written with each STATE (one write per
    page, whatever the buffering of stdout), so a reader never sees a STATE before the records
    it covers, and a STATE is never written before them either.

    RECORD and STATE lines are built here rather than by singer.RecordMessage/StateMessage: those
    format time_extracted and run simplejson for every record, which measured at about half the
    tap's CPU per record; the lines have exactly the shape singer-python writes."""

    def __init__(self, state, stream=None):
        self.state = state
        self.stream = stream or sys.stdout
        self.lines = []
        self._extracted = (None, None)
        self._record_prefixes = {}

    def schema(self, name, schema, key_properties, bookmark_properties):
        self.lines.append(singer.format_message(singer.SchemaMessage(
            stream=name, schema=schema, key_properties=list(key_properties),
            bookmark_properties=list(bookmark_properties))))

    def record(self, name, record, time_extracted):
        self.writer(name, time_extracted)(record)

    def writer(self, name, time_extracted):
        """A function that writes one record of stream `name`: the envelope is the same for
        every record of a page, so only the record itself is encoded."""
        if self._extracted[0] is not time_extracted:
            self._extracted = (time_extracted, ',"time_extracted":' + _ENCODE(
                singer.utils.strftime(time_extracted.astimezone(timezone.utc))) + "}")
        suffix = self._extracted[1]
        prefix = self._record_prefixes.get(name)
        if prefix is None:
            prefix = self._record_prefixes[name] = '{"type":"RECORD","stream":' + _ENCODE(name) + ',"record":'
        append, encode = self.lines.append, _ENCODE

        def write(record):
            append(prefix + encode(record) + suffix)
        return write

    def bookmark(self, name):
        return self.state["bookmarks"].setdefault(name, {})

    def set_bookmark(self, name, values):
        self.state["bookmarks"][name] = values

    def clear_bookmark(self, name):
        self.state["bookmarks"].pop(name, None)

    def currently_syncing(self, name):
        self.state["currently_syncing"] = name

    def checkpoint(self):
        # Serialised at once, so no copy of the state is needed.
        self.lines.append(_ENCODE({"type": "STATE", "value": self.state}))
        self.lines.append("")
        self.stream.write("\n".join(self.lines))
        self.stream.flush()
        self.lines.clear()          # in place: writers hold its append
