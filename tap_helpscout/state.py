"""Bookmarks, in the standard Singer shape, and the Singer output they travel with.

State: {"bookmarks": {stream: {replication_key: value, ...}}, "currently_syncing": stream|null}.
Besides its replication key, a stream's entry may hold the progress of an unfinished listing
(`listing`), per-parent bookmarks (`parents`) or a report's next window (`window_start`).
"""
import copy
import sys

import singer

LOGGER = singer.get_logger()


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
    """Singer messages on stdout: records are buffered and flushed with each STATE, so a
    reader of the stream never sees a STATE before the records it covers."""

    def __init__(self, state, stream=None):
        self.state = state
        self.stream = stream or sys.stdout

    def schema(self, name, schema, key_properties, bookmark_properties):
        self._write(singer.SchemaMessage(stream=name, schema=schema, key_properties=list(key_properties),
                                         bookmark_properties=list(bookmark_properties)))

    def record(self, name, record, time_extracted):
        self._write(singer.RecordMessage(stream=name, record=record, time_extracted=time_extracted))

    def bookmark(self, name):
        return self.state["bookmarks"].setdefault(name, {})

    def set_bookmark(self, name, values):
        self.state["bookmarks"][name] = values

    def clear_bookmark(self, name):
        self.state["bookmarks"].pop(name, None)

    def currently_syncing(self, name):
        self.state["currently_syncing"] = name

    def checkpoint(self):
        self._write(singer.StateMessage(value=copy.deepcopy(self.state)))
        self.stream.flush()

    def _write(self, message):
        self.stream.write(singer.format_message(message) + "\n")
