"""What a reader gets from the run: one small, named context, built the same way for every
reader (`sync/readers/`), instead of the whole engine."""
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping

from tap_helpscout.streams import Stream


@dataclass(frozen=True)
class RunClock:
    """The run's times: where history starts, and what bookmarks take off the server's clock
    (bookmarks come from the server's clock, never from this machine's)."""
    start_date: datetime
    margin: timedelta


@dataclass(frozen=True)
class Workers:
    """Threads for requests: `pool` for most (with `chain`, at most `parallel` in flight), and
    `chain` for the next page of a listing chain, which never waits behind queued requests."""
    pool: Any
    chain: Any
    parallel: int


class Bookmarks:
    """The bookmarks of the run's state (each stream's entry is a dict the reader may change),
    and `checkpoint`, which writes them in a STATE after the records written so far."""

    def __init__(self, out, checkpoint):
        self._out = out
        self.checkpoint = checkpoint            # checkpoint(stream=None)

    def of(self, name):
        return self._out.bookmark(name)

    def set(self, name, values):
        self._out.set_bookmark(name, values)

    def clear(self, name):
        self._out.clear_bookmark(name)


@dataclass
class ReaderContext:
    """One reader's view of the run.

    stream: what the reader reads; family: the family's selected streams, their shaping and
    writing (`sync.engine.Family`); client and fetcher: the API of the stream, for single
    items and for pages; workers: threads for requests; bookmarks: the state; clock: the run's
    times; config: the run's settings; progress: where a listing tells its size (`total`);
    children: the readers of the stream's selected child streams (a root reader drives them)."""
    stream: Stream
    family: Any
    client: Any
    fetcher: Any
    workers: Workers
    bookmarks: Bookmarks
    clock: RunClock
    config: Mapping
    progress: Any = None
    children: list = field(default_factory=list)

    def checkpoint(self, stream=None):
        """A STATE after the records written so far (and the run's budget checked)."""
        self.bookmarks.checkpoint(stream)

    def total(self, stream, rows):
        """The listing of `stream` says it holds `rows` rows (for the progress lines)."""
        if self.progress is not None:
            self.progress.total(stream, rows)

    def for_stream(self, stream, **changes):
        """The same context for another stream of the family (a child reader's)."""
        values = {**self.__dict__, "stream": stream, "children": [], **changes}
        return ReaderContext(**values)

