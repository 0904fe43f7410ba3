"""Table versions: the records of one complete read of a full-table stream carry one `version`,
and ACTIVATE_VERSION follows the read, so that targets that support it retire the rows the read
did not find (deletions at the source). Only a read that saw every row sends it; an interrupted
read that resumes keeps its version. Why and when: docs/design/table-versions.md.
"""
import time

import singer

from tap_helpscout.logs import get_logger
from tap_helpscout.streams import FULL_TABLE

LOGGER = get_logger(__name__)
VERSION_KEY = "version"
RESUME_KEYS = ("window_start",)     # bookmark keys with which a read continues where one stopped


def resumes(bookmark):
    return any(bookmark.get(key) for key in RESUME_KEYS)


def is_version(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


class TableVersions:
    """The versions of one family's selected full-table streams, from the start of their read
    to its end."""

    def __init__(self, out, streams, clock=time.time):
        self.out = out
        self.versions = {}
        self.unversioned = set()    # reads resuming one whose rows carry no usable version
        started = int(clock() * 1000)
        for stream in streams:
            if stream.replication_method != FULL_TABLE:
                continue
            bookmark = out.bookmark(stream.name)
            kept = bookmark.get(VERSION_KEY)
            if kept is not None and not is_version(kept):
                LOGGER.warning("%s: the state's table version %r is not a positive integer; the read "
                               "takes a new one", stream.name, kept)
            if resumes(bookmark) and is_version(kept):
                version = kept
            else:
                version = started
                if resumes(bookmark):
                    # The rows read before the interruption do not carry this version: activating
                    # it would retire them.
                    self.unversioned.add(stream.name)
            bookmark[VERSION_KEY] = version
            self.versions[stream.name] = version

    def of(self, stream_name):
        """The version the records of `stream_name` carry; None for incremental streams."""
        return self.versions.get(stream_name)

    def activate(self, incomplete):
        """After the family's reader finished: ACTIVATE_VERSION for every read that is not in
        `incomplete`. It goes out with the next STATE, after the read's last record."""
        for name, version in self.versions.items():
            if name in incomplete or name in self.unversioned:
                LOGGER.info("%s: the read was not complete; rows missing from it are kept (no "
                            "ACTIVATE_VERSION)", name)
                continue
            self.out.message(singer.ActivateVersionMessage(stream=name, version=version))

    def settle(self):
        """The family's read is over (complete, incomplete or failed): drop the versions that no
        later read continues; a read that resumes keeps its version in the state."""
        bookmarks = self.out.state["bookmarks"]
        for name in self.versions:
            bookmark = bookmarks.get(name)
            if bookmark is None or resumes(bookmark):
                continue
            bookmark.pop(VERSION_KEY, None)
            if not bookmark:
                del bookmarks[name]
