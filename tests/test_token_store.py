"""The rotating refresh token, end to end with the real executable: `token_store_path` survives
orchestrators (Meltano) that write a fresh config file for every run; a token that cannot be
stored is never spent; two runs on one config never spend the same refresh token."""
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tap_helpscout.api.token_store import store_tokens
from tests import tap_runner
from tests.tap_runner import discover, run_tap, select, write_config

ROOT = Path(__file__).resolve().parent.parent


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
    catalog = select(discover(meltano_like_config(emu, tmp_path, original, store)), ["users"])
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
    catalog = select(discover(config), ["users"])
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
    catalog = select(discover(config), ["users"])
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
    return emu, folder, config, select(discover(config), ["users"])


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
    catalog = select(discover(config), ["users"])
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
    catalog = select(discover(config), ["users"])
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
