"""The state (Singer's `{"bookmarks": ..., "currently_syncing": ...}`, with the tap's own keys in
each stream's entry: see docs/operations.md) and the Singer output it travels with. `prepare`
checks a state before any output (what cannot be used stops the run with one line naming the key;
what is stale is reported and dropped); `Output` writes the messages, a STATE after the records
it covers.
"""
import copy
import json
import os
import select
import stat
import sys
import threading
import time
from datetime import timezone

import singer

from tap_helpscout.errors import InputError, TapError
from tap_helpscout.logs import get_logger
from tap_helpscout.timefmt import format_date_time, parse_date_time, utc_now

LOGGER = get_logger(__name__)
# Compact JSON: fewer bytes to write and for the target to read; ASCII-only like singer-python.
_ENCODE = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode   # strict JSON only
STATE_KEYS = ("bookmarks", "currently_syncing", "start_date")
# After max_run_minutes, how long a write may still wait for a target that reads slowly.
OUTPUT_GRACE_SECONDS = 10
DATED_KEYS = ("window_start", "read_until")


def prepare(state, streams, source="state"):
    """A copy of `state` the sync can trust, or InputError naming `source` and the key."""
    state = copy.deepcopy(state or {})
    if state.get("type") == "STATE" and isinstance(state.get("value"), dict):
        state = state["value"]          # a whole STATE message, as some targets echo it
    foreign = sorted(k for k in state if k not in STATE_KEYS)
    if foreign:
        LOGGER.warning("%s: dropping keys the tap does not use: %s", source, ", ".join(foreign))
    bookmarks = state.get("bookmarks") or {}
    if not isinstance(bookmarks, dict):
        raise InputError(f'{source}: "bookmarks" must be an object (got {type(bookmarks).__name__})')
    unknown = sorted(name for name in bookmarks if name not in streams)
    if unknown:
        LOGGER.warning("%s: dropping bookmarks of streams this tap does not have: %s", source, ", ".join(unknown))
    prepared = {}
    for name, value in bookmarks.items():
        stream = streams.get(name)
        if stream is None:
            continue
        if isinstance(value, str):
            _migrate_bare(name, stream, value, streams, prepared, source)
        elif isinstance(value, dict):
            prepared.setdefault(name, {}).update(_checked(name, stream, value, source))
        elif value is not None:
            raise InputError(f"{source}: bookmarks.{name} must be an object (got {type(value).__name__})")
    start = state.get("start_date")
    result = {"bookmarks": prepared, "currently_syncing": state.get("currently_syncing")}
    if start is not None:
        result["start_date"] = _date(start, f"{source}: start_date")
    if result["currently_syncing"] not in streams:
        result["currently_syncing"] = None
    return result


def _migrate_bare(name, stream, value, streams, prepared, source):
    """The original tap-helpscout kept a bare timestamp per stream. Its `conversations`
    bookmark covered the threads too (it read the threads of every conversation it emitted);
    child streams shared one bookmark across all parents and lost rows with it, so they start
    again (they are small)."""
    if not stream.replication_key or stream.parent and stream.reader != "embedded":
        LOGGER.info("%s: the original tap's bookmark is not used; the stream is read in full", name)
        return
    value = _date(value, f"{source}: bookmarks.{name}", name)
    LOGGER.info("%s: continuing from the original tap's bookmark %s", name, value)
    prepared.setdefault(name, {})[stream.replication_key] = value
    for child in streams.values():
        if child.parent == name and child.reader == "embedded" and child.replication_key:
            prepared.setdefault(child.name, {}).setdefault(child.replication_key, value)


def _checked(name, stream, entry, source):
    entry = dict(entry)
    where = f"{source}: bookmarks.{name}"
    key = stream.replication_key
    if key and key in entry:
        entry[key] = _date(entry[key], f"{where}.{key}", name)
    for dated in DATED_KEYS:
        if dated in entry:
            entry[dated] = _date(entry[dated], f"{where}.{dated}", name)
    for nested in ("parents", "scopes"):       # per parent (per_parent.py), per scope (daily_reports.py)
        if nested in entry:
            values = entry[nested]
            if not isinstance(values, dict):
                raise InputError(f"{where}.{nested} must be an object of id to date-time")
            entry[nested] = {str(k): _date(v, f"{where}.{nested}.{k}", name) for k, v in values.items()}
    if "listing" in entry and not _usable_listing(entry["listing"]):
        LOGGER.warning("%s: the resume point in the state is not usable; the listing restarts from its bookmark", name)
        del entry["listing"]
    return entry


def _usable_listing(listing):
    """Whether a resume point has the shape the listings write it in (readers/search.py, offset.py):
    one from a hand edit or a broken file is dropped here, before it can fail a listing."""
    if not isinstance(listing, dict):
        return False
    for key in ("since", "started_at", "cursor"):
        if key in listing and not _is_date(listing[key]):
            return False
    if "next_page" in listing and not _count(listing["next_page"]):
        return False
    if listing.get("total") is not None and not _count(listing["total"]):
        return False
    windows = listing.get("windows", [])
    return isinstance(windows, list) and all(
        isinstance(w, dict) and _count(w.get("low")) and (w.get("high") is None or _count(w["high"]))
        for w in windows)


def _count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_date(value):
    try:
        parse_date_time(value)
        return isinstance(value, str)
    except (TypeError, ValueError):
        return False


def _date(value, where, stream=None):
    if not isinstance(value, str):
        raise InputError(f"{where} must be a date-time string such as 2024-01-01T00:00:00Z "
                         f"(got {type(value).__name__}); fix the state file or remove that key")
    try:
        moment = parse_date_time(value)
    except ValueError:
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise InputError(f'{where} is not a date-time (got "{shown}"); fix the state file or remove '
                         f"that key") from None
    now = utc_now()
    if moment > now and stream is not None:
        LOGGER.warning("%s: the state's bookmark %s is in the future; using now (%s) instead",
                       stream, value, format_date_time(now))
        moment = now
    return format_date_time(moment)


class OutputStalled(TapError):
    """The reader of stdout took nothing until the run's budget was over."""


class Output:
    """Singer messages on stdout. Lines are collected and written with each STATE (one write per
    page, whatever the buffering of stdout), so a reader never sees a STATE before the records
    it covers, and a STATE is never written before them either.

    RECORD lines are built here rather than by singer.RecordMessage: that formats
    time_extracted and runs simplejson for every record; the lines have exactly the shape
    singer-python writes. `writing` tells a signal handler that a write is under way."""

    def __init__(self, state, stream=None):
        self.state = state
        self.stream = stream or sys.stdout
        self.lines = []
        self.writing = False
        self.deadline = None            # time.monotonic() after which a stalled reader is given up on
        self.lock = threading.Lock()
        self._extracted = (None, None)

    def schema(self, name, schema, key_properties, bookmark_properties):
        self.lines.append(singer.format_message(singer.SchemaMessage(
            stream=name, schema=schema, key_properties=list(key_properties),
            bookmark_properties=list(bookmark_properties))))

    def message(self, message):
        """Any other singer-python message (ACTIVATE_VERSION, ...)."""
        self.lines.append(singer.format_message(message))

    def writer(self, name, time_extracted, version=None):
        """A function that writes one record of stream `name`: the envelope is the same for
        every record of a page, so only the record itself is encoded."""
        if self._extracted[0] is not time_extracted:
            self._extracted = (time_extracted, ',"time_extracted":' + _ENCODE(
                singer.utils.strftime(time_extracted.astimezone(timezone.utc))) + "}")
        suffix = self._extracted[1]
        if version is not None:
            suffix = ',"version":' + _ENCODE(version) + suffix
        prefix = '{"type":"RECORD","stream":' + _ENCODE(name) + ',"record":'
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
        with self.lock:
            # Serialised at once, so no copy of the state is needed.
            self.lines.append(_ENCODE({"type": "STATE", "value": self.state}))
            self.lines.append("")
            self.writing = True
            try:
                self._write("\n".join(self.lines))
            finally:
                self.writing = False
            self.lines.clear()          # in place: writers hold its append

    def _write(self, text):
        """Write `text` whole to the output's file descriptor: a write that a signal cuts short
        (or a pipe that takes part of it) goes on from where it stopped, whatever the buffering
        of stdout (with PYTHONUNBUFFERED a text stream would drop the rest). With a `deadline`
        (the run's budget), give up on a reader that takes nothing by then (OutputStalled)
        instead of blocking for ever."""
        try:
            descriptor = self.stream.fileno()
        except (AttributeError, OSError, ValueError):       # not a real file (a test's StringIO)
            self.stream.write(text)
            self.stream.flush()
            return
        self.stream.flush()                                 # anything written through it before
        data = memoryview(text.encode("utf-8"))
        if self.deadline is None or not _is_pipe(self.stream):
            while data:
                data = data[os.write(descriptor, data):]
            return
        blocking = os.get_blocking(descriptor)
        os.set_blocking(descriptor, False)
        try:
            while data:
                left = self.deadline + OUTPUT_GRACE_SECONDS - time.monotonic()
                if left <= 0 or not select.select([], [descriptor], [], left)[1]:
                    raise OutputStalled(
                        "the target stopped reading the tap's output, and max_run_minutes is over: stopping "
                        "without the last records and STATE (the next run starts from the last STATE the "
                        "target took); look at the target's log")
                try:
                    data = data[os.write(descriptor, data):]
                except BlockingIOError:
                    continue
        finally:
            os.set_blocking(descriptor, blocking)


def _is_pipe(stream):
    try:
        return stat.S_ISFIFO(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):
        return False        # not a real file (a test's StringIO)
