"""SIGTERM and SIGHUP like SIGINT, through the real executable: the run stops at once with the
STATE of the last complete page as the last line on stdout, one line on stderr, and exit code
143 (129 for SIGHUP, 130 for SIGINT); never between a refresh token's rotation and its storage,
whichever thread renews it; a SIGHUP ignored by whoever started the tap (nohup) stays ignored.
The handler in process: tests/unit/test_signals.py."""
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.expected import expected_rows, key_of
from tests.support.tap_runner import (TAP, BackgroundTap, offline_catalog, run_tap, select, write_config,
                                      write_json)

ROOT = Path(__file__).resolve().parents[2]


def start_tap(config, catalog, state, workdir, preexec_fn=None):
    argv = TAP + ["--config", str(config), "--catalog", str(write_json(workdir / "catalog.json", catalog))]
    if state is not None:
        argv += ["--state", str(write_json(workdir / "state.json", state))]
    stderr = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, cwd=ROOT, preexec_fn=preexec_fn)
    return proc, stderr


def finish(proc, stderr, timeout=120):
    """(stdout, stderr, exit code) of a started tap, once it has ended."""
    try:
        out = proc.stdout.read()
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    stderr.seek(0)
    err = stderr.read()
    stderr.close()
    return out.decode(), err, code


@pytest.mark.parametrize("signum, code, name", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT"),
                                                (signal.SIGHUP, 129, "SIGHUP")])
def test_a_signal_mid_run_leaves_a_complete_state_one_line_and_its_exit_code(make_emulator, tmp_path, signum,
                                                                             code, name):
    # Slow answers: the run is still busy when the signal comes after its first STATE.
    emu = make_emulator(seed=3, conversations=150, customers=120, ratings=30, latency=0.15)
    config = write_config(emu, tmp_path)
    catalog = select(offline_catalog())
    proc, stderr = start_tap(config, catalog, None, tmp_path)
    received = b""
    try:
        while b'{"type":"STATE"' not in received:
            line = proc.stdout.readline()
            assert line, "the tap ended before its first STATE"
            received += line
        assert proc.poll() is None, "the run ended before the signal could be sent"
        proc.send_signal(signum)
    except BaseException:
        proc.kill()
        raise
    finally:
        rest, err, exit_code = finish(proc, stderr)
    assert exit_code == code

    text = received.decode() + rest
    assert text.endswith("\n")
    messages = [json.loads(line) for line in text.splitlines()]
    assert messages[-1]["type"] == "STATE"
    assert "Traceback" not in err
    last_line = err.strip().splitlines()[-1]
    assert last_line.startswith(f"tap-helpscout: stopped by {name}")
    assert sum(1 for line in err.splitlines() if line.startswith("tap-helpscout:")) == 1

    # The state is good to continue from: the two runs together hold every row (the second
    # needs no slow answers).
    emu.latency = 0
    rerun = run_tap(config, catalog=catalog, state=messages[-1]["value"])
    expected = expected_rows(emu.data, "2019-01-01T00:00:00Z")
    for stream, rows in expected.items():
        got = {key_of(stream, m["record"]) for m in messages + rerun.messages
               if m["type"] == "RECORD" and m["stream"] == stream}
        assert got == set(rows), stream


@pytest.mark.parametrize("signum, code, name", [(signal.SIGHUP, 129, "SIGHUP"), (signal.SIGTERM, 143, "SIGTERM")])
def test_a_signal_while_a_worker_renews_the_token_waits_until_the_new_token_is_stored(make_emulator, tmp_path,
                                                                                   signum, code, name):
    emu = make_emulator(seed=3, conversations=150, customers=40, ratings=5, chat_fraction=0.6)
    config = write_config(emu, tmp_path)
    catalog = select(offline_catalog(), ["conversations", "conversation_threads"])
    proc, stderr = start_tap(config, catalog, None, tmp_path)
    signalled = []

    def signal_the_tap():
        # The first refresh is the tap's start; the second, after the tokens were expired, is
        # a worker's (the thread listings and the listing's chain run on workers).
        if len([r for r in emu.requests if r.path.endswith("/oauth2/token")]) >= 1 and not signalled:
            signalled.append(True)
            proc.send_signal(signum)
            import time
            time.sleep(0.5)                     # the signal lands while the token request waits
    try:
        while b'{"type":"STATE"' not in proc.stdout.readline():
            pass
        emu.before_token = signal_the_tap
        emu.expire_access_tokens()
    finally:
        out, err, exit_code = finish(proc, stderr)
    assert signalled, "no token request came while the run went on"
    assert exit_code == code, err[-2000:]
    assert err.strip().splitlines()[-1].startswith(f"tap-helpscout: stopped by {name}"), repr(err[-1500:])
    assert json.loads(config.read_text())["refresh_token"] == emu.refresh_token, "the rotated token was stored"
    emu.before_token = None
    run_tap(config, catalog=catalog)            # and works


def test_a_sighup_ignored_at_start_stays_ignored(make_emulator, tmp_path):
    emu = make_emulator(seed=3, conversations=120, customers=60, ratings=10, latency=0.02)
    config = write_config(emu, tmp_path)
    catalog = select(offline_catalog(), ["conversations", "customers"])
    proc, stderr = start_tap(config, catalog, None, tmp_path,
                             preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))     # nohup
    while b'{"type":"STATE"' not in proc.stdout.readline():
        pass
    proc.send_signal(signal.SIGHUP)
    out, err, exit_code = finish(proc, stderr)
    assert exit_code == 0 and "Sync finished" in err


def tap_in_a_rate_limit_pause(make_emulator, tmp_path):
    """A tap started on an account allowing 30 requests a minute, returned once it says it
    pauses for most of a minute after its first 30 requests."""
    emu = make_emulator(seed=3, conversations=400, customers=40, ratings=5, rate_limit=30)
    config = write_config(emu, tmp_path)
    catalog = write_json(tmp_path / "catalog.json", select(offline_catalog(), ["conversations", "conversation_threads"]))
    tap = BackgroundTap(config, "--catalog", str(catalog))
    try:
        tap.wait_for(r"rate limit: pausing about \d+ s", timeout=120)
    except BaseException:
        tap.kill()
        raise
    return tap


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_stop_during_a_rate_limit_pause_ends_the_run_within_seconds(make_emulator, tmp_path, signum, code):
    tap = tap_in_a_rate_limit_pause(make_emulator, tmp_path)
    try:
        sent = time.monotonic()
        tap.proc.send_signal(signum)
        run = tap.finish(timeout=60)
        took = time.monotonic() - sent
    finally:
        tap.kill()
    assert run.returncode == code
    assert took < 5, f"the run went on {took:.1f} s after the signal"
    assert "Traceback" not in run.stderr
    assert json.loads(run.stdout.splitlines()[-1])["type"] == "STATE"


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def stop_signals_blocked(pid, thread_id):
    """The stop signals that thread `thread_id` of process `pid` blocks (Linux's /proc)."""
    status = Path(f"/proc/{pid}/task/{thread_id}/status").read_text()
    mask = int(next(line for line in status.splitlines() if line.startswith("SigBlk:")).split()[1], 16)
    return {signum for signum in STOP_SIGNALS if mask >> (signum - 1) & 1}


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the threads' signal masks in /proc")
def test_only_the_main_thread_takes_the_stop_signals(make_emulator, tmp_path):
    # Python runs handlers in the main thread only: a signal the kernel gave a worker would wait
    # until the main thread next wakes, maybe after a long pause.
    tap = tap_in_a_rate_limit_pause(make_emulator, tmp_path)
    try:
        pid = tap.proc.pid
        blocked = {int(tid): stop_signals_blocked(pid, tid) for tid in os.listdir(f"/proc/{pid}/task")}
    finally:
        tap.kill()
    assert blocked.pop(pid) == set()            # the main thread's id is the process's
    assert len(blocked) >= 3                    # the request workers, the deadlines, the progress timer
    assert all(signals == STOP_SIGNALS for signals in blocked.values()), blocked


def test_a_second_sigint_ends_the_run_at_once_without_a_traceback(make_emulator, tmp_path):
    tap = tap_in_a_rate_limit_pause(make_emulator, tmp_path)
    try:
        tap.proc.send_signal(signal.SIGINT)
        tap.proc.send_signal(signal.SIGINT)
        run = tap.finish(timeout=60)
    finally:
        tap.kill()
    assert run.returncode == 130
    assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("tap-helpscout: stopped by SIGINT")
