"""SIGTERM like SIGINT (issue 13, item 5): the run stops at once with the STATE of the last
complete page as the last line on stdout, one line on stderr, and exit code 143 (130 for SIGINT).
"""
import io
import json
import os
import signal
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tap_helpscout.signals import SignalGuard, Terminated
from tap_helpscout.sync.state import Output
from tests.expected import expected_rows, key_of
from tests.tap_runner import TAP, discover, run_tap, select, write_config, write_json

ROOT = Path(__file__).resolve().parent.parent


# --- the handler, in this process ----------------------------------------------------------------

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


# --- the real executable -------------------------------------------------------------------------

def start_tap(config, catalog, state, workdir):
    argv = TAP + ["--config", str(config), "--catalog", str(write_json(workdir / "catalog.json", catalog))]
    if state is not None:
        argv += ["--state", str(write_json(workdir / "state.json", state))]
    stderr = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, cwd=ROOT)
    return proc, stderr


@pytest.mark.parametrize("signum, code, name", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")])
def test_a_signal_mid_run_leaves_a_complete_state_one_line_and_its_exit_code(make_emulator, tmp_path, signum,
                                                                             code, name):
    # Slow answers: the run is still busy when the signal comes after its first STATE.
    emu = make_emulator(seed=3, conversations=150, customers=120, ratings=30, latency=0.15)
    config = write_config(emu, tmp_path)
    catalog = select(discover(config))
    proc, stderr = start_tap(config, catalog, None, tmp_path)
    try:
        received = b""
        while b'{"type":"STATE"' not in received:
            line = proc.stdout.readline()
            assert line, "the tap ended before its first STATE"
            received += line
        assert proc.poll() is None, "the run ended before the signal could be sent"
        proc.send_signal(signum)
        received += proc.stdout.read()
        assert proc.wait(timeout=120) == code
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    stderr.seek(0)
    err = stderr.read()
    stderr.close()

    text = received.decode()
    assert text.endswith("\n")
    messages = [json.loads(line) for line in text.splitlines()]
    assert messages[-1]["type"] == "STATE"
    assert "Traceback" not in err
    last_line = err.strip().splitlines()[-1]
    assert last_line.startswith(f"tap-helpscout: stopped by {name}")
    assert sum(1 for line in err.splitlines() if line.startswith("tap-helpscout:")) == 1

    # The state is good to continue from: the two runs together hold every row.
    rerun = run_tap(config, catalog=catalog, state=messages[-1]["value"])
    expected = expected_rows(emu.data, "2019-01-01T00:00:00Z")
    for stream, rows in expected.items():
        got = {key_of(stream, m["record"]) for m in messages + rerun.messages
               if m["type"] == "RECORD" and m["stream"] == stream}
        assert got == set(rows), stream
