"""SIGTERM like SIGINT (issue 13, item 5), the handler in this process (tap_helpscout/signals.py):
a signal during a write of the output is raised once the whole page is written, one outside a
write at once, one during a token renewal once the new token is stored. The real executable
stopped mid-run: tests/integration/test_signals.py.
"""
import io
import json
import os
import signal
import time
from datetime import datetime, timezone

import pytest

from tap_helpscout.signals import SignalGuard, Terminated
from tap_helpscout.sync.state import Output

class SignalMidWrite:
    """A stdout that receives a signal half way through writing a page."""

    def __init__(self, signum):
        self.signum = signum
        self.text = ""

    def write(self, text):
        half = len(text) // 2
        self.text += text[:half]
        os.kill(os.getpid(), self.signum)
        for _ in range(1000):       # bytecodes for Python to run the handler on
            pass
        self.text += text[half:]

    def flush(self):
        pass


@pytest.fixture
def guard():
    guard = SignalGuard().install()
    yield guard
    guard.restore()


@pytest.mark.parametrize("signum, exception", [(signal.SIGTERM, Terminated),
                                                (signal.SIGINT, KeyboardInterrupt)])
def test_a_signal_during_a_write_is_raised_after_the_whole_page_is_written(guard, signum, exception):
    stream = SignalMidWrite(signum)
    out = guard.output_factory(Output)({"bookmarks": {}}, stream)
    write = out.writer("users", datetime.now(timezone.utc))
    for n in range(50):
        write({"id": n, "name": "x" * 100})
    with pytest.raises(exception):
        out.checkpoint()
    lines = stream.text.split("\n")
    assert lines[-1] == ""                                   # ends with a complete line
    messages = [json.loads(line) for line in lines[:-1]]
    assert len(messages) == 51 and messages[-1]["type"] == "STATE"


def test_a_signal_outside_a_write_is_raised_at_once(guard):
    out = guard.output_factory(Output)({"bookmarks": {}}, io.StringIO())
    with pytest.raises(Terminated):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert not out.writing


def test_a_signal_during_a_token_renewal_is_raised_once_the_new_token_is_stored(guard):
    stored = []
    with pytest.raises(Terminated):
        with guard.deferred():
            os.kill(os.getpid(), signal.SIGTERM)     # Help Scout has just rotated the token
            for _ in range(1000):
                pass
            stored.append("the new refresh token")
    assert stored == ["the new refresh token"]
