"""Files that hold tokens (tap_helpscout/api/token_store.py) survive token rotation: atomic
replacement, other keys and mode kept, leftovers of a killed writer removed once stale; a file
in a read-only folder is rewritten in place. A writer killed at any instant:
tests/integration/test_token_store.py."""
import json
import os
import stat
import time

import pytest

from tap_helpscout.api.token_store import create_private_file, update_config_file, write_file_in_place
from tap_helpscout.errors import ConfigError

pytestmark = pytest.mark.timeout(60)


def write_config(path, mode=0o600, **extra):
    config = {"client_id": "app", "client_secret": "s3cret", "refresh_token": "rotation-0",
              "start_date": "2024-01-01T00:00:00Z", "padding": "x" * 200_000, **extra}
    path.write_text(json.dumps(config))
    os.chmod(path, mode)
    return config


def test_update_sets_the_tokens_and_keeps_every_other_key(tmp_path):
    path = tmp_path / "config.json"
    before = write_config(path, user_agent="acme/1", max_parallel_requests=4)
    update_config_file(str(path), {"refresh_token": "new", "access_token": "a"})
    after = json.loads(path.read_text())
    assert after == {**before, "refresh_token": "new", "access_token": "a"}
    assert list(after)[:4] == list(before)[:4], "key order kept"


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644])
def test_update_keeps_the_permission_bits(tmp_path, mode):
    path = tmp_path / "config.json"
    write_config(path, mode=mode)
    update_config_file(str(path), {"refresh_token": "new"})
    assert stat.S_IMODE(os.stat(path).st_mode) == mode


def test_update_keeps_the_owner(tmp_path):
    path = tmp_path / "config.json"
    write_config(path)
    before = os.stat(path)
    update_config_file(str(path), {"refresh_token": "new"})
    after = os.stat(path)
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)


def test_update_replaces_the_file_instead_of_rewriting_it(tmp_path):
    path = tmp_path / "config.json"
    write_config(path)
    inode = os.stat(path).st_ino
    update_config_file(str(path), {"refresh_token": "new"})
    assert os.stat(path).st_ino != inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"], "no temporary file left"


def test_update_through_a_symlink_writes_the_real_file(tmp_path):
    real = tmp_path / "secrets" / "config.json"
    real.parent.mkdir()
    write_config(real)
    link = tmp_path / "config.json"
    link.symlink_to(real)
    update_config_file(str(link), {"refresh_token": "new"})
    assert link.is_symlink()
    assert json.loads(real.read_text())["refresh_token"] == "new"


def test_a_config_that_is_not_json_is_refused_without_showing_its_content(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"client_secret": "s3cret", oops')
    with pytest.raises(ConfigError) as raised:
        update_config_file(str(path), {"refresh_token": "new"})
    assert "not valid JSON" in str(raised.value) and "s3cret" not in str(raised.value)
    assert path.read_text() == '{"client_secret": "s3cret", oops'


def test_a_failed_write_leaves_the_original_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    write_config(path)
    original = path.read_bytes()

    def disk_full(descriptor):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        update_config_file(str(path), {"refresh_token": "new"})
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_temporaries_left_by_a_killed_writer_are_removed_once_stale(tmp_path):
    path = tmp_path / "config.json"
    write_config(path)
    stale = tmp_path / ".config.json.abc123.tmp"
    fresh = tmp_path / ".config.json.def456.tmp"       # perhaps another process, mid-write
    for leftover in (stale, fresh):
        leftover.write_text('{"refresh_token": "half')
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    update_config_file(str(path), {"refresh_token": "new"})
    assert not stale.exists() and fresh.exists()


def test_in_place_writes_leave_valid_json_of_any_length(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"refresh_token": "a" * 500, "client_secret": "s3cret"}))
    inode = os.stat(path).st_ino
    for token in ("short", "x" * 2000, "mid" * 10):
        write_file_in_place(str(path), json.dumps({"refresh_token": token, "client_secret": "s3cret"}))
        assert json.loads(path.read_text())["refresh_token"] == token
    assert os.stat(path).st_ino == inode, "the same file, rewritten"


def test_a_private_file_is_created_once_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "token.json"
    assert create_private_file(str(path), "{}\n")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    path.write_text('{"kept": true}')
    assert not create_private_file(str(path), "{}\n")
    assert json.loads(path.read_text()) == {"kept": True}
