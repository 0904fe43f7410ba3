"""The rotating refresh token across processes. End to end with the real executable:
`token_store_path` survives orchestrators (Meltano) that write a fresh config file for every
run; a token that cannot be stored is never spent; two runs on one config never spend the same
refresh token. Token files and their lock shared with other processes: a writer killed at any
instant leaves a valid file; a run waits for another run's lock, or stops with one line."""
import json
import logging
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import tap_helpscout.api.token_store as token_store
from tap_helpscout.api.token_store import store_tokens
from tap_helpscout.errors import TapError
from tests.support import tap_runner
from tests.support.tap_runner import offline_catalog, run_tap, select, write_config
from tests.support.tokens import TokenEndpoint, config_file, manager

ROOT = Path(__file__).resolve().parents[2]


def meltano_like_config(emu, folder, original_refresh_token, store):
    """What Meltano does before every run: a new config file from its settings."""
    path = write_config(emu, folder, token_store_path=str(store))
    config = json.loads(path.read_text())
    config["refresh_token"] = original_refresh_token
    path.write_text(json.dumps(config))
    return path


def test_rotated_token_is_kept_in_the_store_and_used_by_the_next_run(make_emulator, tmp_path):
    emu = make_emulator(seed=3, conversations=10, customers=5)
    original = emu.refresh_token
    store = tmp_path / "secrets" / "helpscout-token.json"
    store.parent.mkdir()
    catalog = select(offline_catalog(), ["users"])
    for _ in range(3):
        config = meltano_like_config(emu, tmp_path, original, store)
        run = run_tap(config, catalog=catalog, extra_secrets=[emu.refresh_token])
        assert run.record_counts()["users"] == len(emu.data.users)
        assert json.loads(store.read_text())["refresh_token"] == emu.refresh_token
    assert emu.refresh_token != original
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o600
    assert original not in store.read_text()


def test_a_new_token_in_the_config_wins_over_the_store(make_emulator, tmp_path):
    emu = make_emulator(seed=3, conversations=10, customers=5)
    store = tmp_path / "token.json"
    config = meltano_like_config(emu, tmp_path, emu.refresh_token, store)
    catalog = select(offline_catalog(), ["users"])
    run_tap(config, catalog=catalog)
    # The user authorizes again: the emulator's current token stands for the new one.
    store.write_text(json.dumps({"refresh_token": "stale", "config_refresh_token_sha256": "0" * 64}))
    config = meltano_like_config(emu, tmp_path, emu.refresh_token, store)
    run = run_tap(config, catalog=catalog)
    assert run.record_counts()["users"] == len(emu.data.users)
    assert json.loads(store.read_text())["refresh_token"] == emu.refresh_token


def test_the_next_sync_uses_a_stored_token_when_the_config_has_no_refresh_token(make_emulator,
                                                                                tmp_path):
    emu = make_emulator(seed=3, conversations=10, customers=5)
    store = tmp_path / "token.json"
    config = meltano_like_config(emu, tmp_path, emu.refresh_token, store)
    catalog = select(offline_catalog(), ["users"])
    authorized = json.loads(config.read_text())
    store_tokens(authorized, str(config), emu.refresh_token, None)     # as --authorize does
    del authorized["refresh_token"]
    config.write_text(json.dumps(authorized))
    run = run_tap(config, catalog=catalog, extra_secrets=[emu.refresh_token])
    assert run.record_counts()["users"] == len(emu.data.users)
    grants = [r.body for r in emu.requests if r.path.endswith("/oauth2/token")]
    assert len(grants) == 1 and "grant_type=refresh_token" in str(grants[0])
    assert json.loads(store.read_text())["refresh_token"] == emu.refresh_token


# -- a folder that cannot be written ------------------------------------------------------------

READ_ONLY = ('mount --bind "$RO_FOLDER" "$RO_FOLDER" && '
             '{ [ -z "$RW_FILE" ] || mount --bind "$RW_FILE" "$RW_FILE"; } && '
             'mount -o remount,ro,bind "$RO_FOLDER" && exec "$@"')


def read_only_folder(monkeypatch, folder, writable_file=None):
    """Run the tap in a mount namespace where `folder` is read-only (the tests run as root,
    whom file modes do not stop), but for `writable_file`."""
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs unshare -m (a mount namespace)")
    monkeypatch.setattr(tap_runner, "TAP", ["unshare", "-m", "sh", "-c", READ_ONLY, "sh",
                                            sys.executable, "-m", "tap_helpscout"])
    return {"RO_FOLDER": str(folder), "RW_FILE": str(writable_file or "")}


@pytest.fixture
def config_in_folder(make_emulator, tmp_path):
    """An account, and a config for it alone in a folder of its own: (emulator, folder, config,
    catalog of users)."""
    emu = make_emulator(seed=3, conversations=10, customers=5)
    folder = tmp_path / "conf"
    folder.mkdir()
    config = write_config(emu, folder)
    return emu, folder, config, select(offline_catalog(), ["users"])


def test_a_read_only_config_stops_before_the_refresh_token_is_spent(config_in_folder, tmp_path, monkeypatch):
    emu, folder, config, catalog = config_in_folder
    before = config.read_text()
    env = read_only_folder(monkeypatch, folder)
    run = run_tap(config, catalog=catalog, workdir=tmp_path, check=False, env=env)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert "cannot be rewritten" in last and "set token_store_path to a writable file" in last
    assert not any(r.path.endswith("/oauth2/token") for r in emu.requests), "nothing was spent"
    assert config.read_text() == before


def test_a_writable_config_in_a_read_only_folder_is_rewritten_in_place(config_in_folder, tmp_path, monkeypatch):
    emu, folder, config, catalog = config_in_folder
    env = read_only_folder(monkeypatch, folder, writable_file=config)
    run = run_tap(config, catalog=catalog, workdir=tmp_path, env=env)
    assert run.record_counts()["users"] == len(emu.data.users)
    assert json.loads(config.read_text())["refresh_token"] == emu.refresh_token
    assert sorted(p.name for p in folder.iterdir()) == ["config.json"]


def test_an_unwritable_token_store_stops_before_the_refresh_token_is_spent(make_emulator,
                                                                           tmp_path, monkeypatch):
    emu = make_emulator(seed=3, conversations=10, customers=5)
    folder = tmp_path / "secrets"
    folder.mkdir()
    config = meltano_like_config(emu, tmp_path, emu.refresh_token, folder / "token.json")
    catalog = select(offline_catalog(), ["users"])
    env = read_only_folder(monkeypatch, folder)
    run = run_tap(config, catalog=catalog, check=False, env=env)
    assert run.returncode == 1
    assert "token_store_path" in run.stderr.strip().splitlines()[-1]
    assert not any(r.path.endswith("/oauth2/token") for r in emu.requests)


# -- two runs at once ---------------------------------------------------------------------------

def test_two_runs_on_one_config_never_spend_one_refresh_token(make_emulator, tmp_path):
    # Latency makes the two refreshes overlap: without the lock, one run would be refused.
    emu = make_emulator(seed=3, conversations=10, customers=5, latency=0.3)
    config = write_config(emu, tmp_path)
    catalog = select(offline_catalog(), ["users"])
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))
    argv = [sys.executable, "-m", "tap_helpscout", "--config", str(config), "--catalog",
            str(catalog_path)]
    runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=ROOT) for _ in range(2)]
    outcomes = [run.communicate(timeout=120) + (run.returncode,) for run in runs]
    for out, err, code in outcomes:
        assert code == 0, err[-2000:]
        records = [line for line in out.splitlines() if json.loads(line)["type"] == "RECORD"]
        assert len(records) == len(emu.data.users)
    assert json.loads(config.read_text())["refresh_token"] == emu.refresh_token


# -- token files and their lock, shared with other processes ------------------------------------

# A process that forks writers: each child rotates for ever (refresh tokens rotation-1,
# rotation-2, ... with a large padding key in the file, so that each write takes long enough to
# be interrupted in the middle) and prints each token after its write returned, so that the test
# knows which ones were completely stored. The interpreter starts once; every writer killed is a
# process of its own. Protocol on stdin: "fork" (answered "pid N", then the child's numbers),
# "reap N" (answered "reaped" once child N is dead: every line it printed came before). Parent and
# child share stdout, so each line goes out in one write(2) (print() makes several when
# PYTHONUNBUFFERED is set, and two writers' pieces would interleave).
WRITERS = r"""
import os, sys
from tap_helpscout.api.token_store import update_config_file
path = sys.argv[1]

def say(line):
    os.write(1, (line + "\n").encode())

for command in sys.stdin:
    word, _, argument = command.strip().partition(" ")
    if word == "fork":
        pid = os.fork()
        if pid == 0:
            n = 0
            while True:
                n += 1
                update_config_file(path, {"refresh_token": f"rotation-{n}", "access_token": f"access-{n}"})
                say(str(n))
        say(f"pid {pid}")
    elif word == "reap":
        os.waitpid(int(argument), 0)
        say("reaped")
    else:
        break
"""


def write_padded_config(path, mode=0o600):
    config = {"client_id": "app", "client_secret": "s3cret", "refresh_token": "rotation-0",
              "start_date": "2024-01-01T00:00:00Z", "padding": "x" * 200_000}
    path.write_text(json.dumps(config))
    os.chmod(path, mode)


@pytest.mark.timeout(60)
def test_a_kill_at_any_instant_leaves_a_valid_config_with_a_written_token(tmp_path):
    path = tmp_path / "config.json"
    write_padded_config(path, mode=0o600)
    rng = random.Random(4)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = subprocess.Popen([sys.executable, "-c", WRITERS, str(path)], cwd=ROOT, env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               start_new_session=True)     # a process group: the writers too

    def tell(command):
        writers.stdin.write(command + "\n")
        writers.stdin.flush()
    kills = 0
    try:
        while kills < 50:
            tell("fork")
            pid, completed = None, []
            while pid is None or not completed:      # a writer started, a rotation done
                line = writers.stdout.readline()
                assert line, "the writers' process ended"
                if line.startswith("pid "):
                    pid = int(line.split()[1])
                else:
                    completed.append(line)
            assert completed[0].strip().isdigit()
            time.sleep(rng.uniform(0, 0.03))
            os.kill(pid, signal.SIGKILL)
            tell(f"reap {pid}")
            while (line := writers.stdout.readline()) != "reaped\n":
                assert line, "the writers' process ended"
                completed.append(line)
            kills += 1
            last_complete = int(completed[-1])
            config = json.loads(path.read_text())       # valid JSON, every time
            stored = int(config["refresh_token"].removeprefix("rotation-"))
            # The kill may land after a write but before its line was printed: then the file
            # holds the next token, whose write had completed.
            assert stored in (last_complete, last_complete + 1)
            assert config["client_secret"] == "s3cret" and len(config["padding"]) == 200_000
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        os.killpg(writers.pid, signal.SIGKILL)     # with a writer not yet reaped, if any
        writers.wait()
        writers.stdin.close()
        writers.stdout.close()
    # Kills in the middle of a write leave their temporary file behind, never a broken config:
    # proof that the kills did land mid-write.
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "config.json"]
    assert all(name.startswith(".config.json.") and name.endswith(".tmp") for name in leftovers)
    assert leftovers, "no kill landed during a write; the test lost its point"


def test_a_run_waiting_for_the_lock_takes_the_token_the_other_run_stored(tmp_path):
    path = config_file(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)], cwd=ROOT, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "locked"
        endpoint = TokenEndpoint(refresh_token="rt-other-1")
        tokens = manager(path, endpoint)
        waiting = threading.Event()
        handler = _OnMessage("waiting for another run", waiting)
        logging.getLogger().addHandler(handler)
        result = {}
        worker = threading.Thread(target=lambda: result.setdefault("token", tokens.token()))
        worker.start()
        try:
            assert waiting.wait(30), "the second run waits for the lock"
        finally:
            logging.getLogger().removeHandler(handler)
        # The other run rotates the token meanwhile and stores the new pair, then lets go.
        token_store.update_config_file(str(path), {"refresh_token": "rt-other-1",
                                                   "access_token": "at-other-1"})
        holder.stdin.write("release\n")
        holder.stdin.flush()
        worker.join(30)
        assert result["token"] == "at-other-1" and endpoint.forms == []
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_held_too_long_stops_with_one_clear_line(tmp_path, monkeypatch):
    path = config_file(tmp_path)
    monkeypatch.setattr(token_store, "LOCK_WAIT_SECONDS", 0.2)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)], cwd=ROOT, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "locked"
        endpoint = TokenEndpoint()
        with pytest.raises(TapError, match="another tap-helpscout run is renewing the Help Scout "
                                           "token .* run one sync at a time"):
            manager(path, endpoint).token()
        assert endpoint.forms == []
    finally:
        holder.kill()
        holder.wait()


HOLD_LOCK = r"""
import json, sys
from tap_helpscout.api.token_store import TokenStore
path = sys.argv[1]
store = TokenStore(json.load(open(path)), path)
with store.lock():
    print("locked", flush=True)
    sys.stdin.readline()
"""


class _OnMessage(logging.Handler):
    def __init__(self, text, event):
        super().__init__()
        self.text, self.event = text, event

    def emit(self, record):
        if self.text in record.getMessage():
            self.event.set()
