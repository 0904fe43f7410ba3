"""A rotated refresh token always reaches the disk: before a refresh the tap takes, on the
store's disk, the room the new token needs; a disk that fills up while the token request is in
flight cannot keep the new token out. A store that cannot take a token stops the run before the
token is spent. On a real full file system: a tiny tmpfs, mounted by the test (as root, which CI
is); elsewhere these tests are skipped."""
import json
import os
import subprocess

import pytest

from tests.support.tap_runner import run_tap, select

pytestmark = pytest.mark.xdist_group("tmpfs")


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs at tmp_path/disk, and a function that fills it up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")

    def fill():
        descriptor = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            while True:
                os.write(descriptor, b"x" * 4096)
        except OSError:
            pass
        finally:
            os.close(descriptor)
        try:
            os.close(os.open(mount / "probe", os.O_WRONLY | os.O_CREAT))
            with open(mount / "probe", "wb") as probe:
                probe.write(b"y" * 8192)
        except OSError:
            return                                  # full, as wanted
        raise AssertionError("the disk is not full")

    yield mount, fill
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def config_on(disk, emu, **extra):
    config = {"client_id": emu.client_id, "client_secret": emu.client_secret, "refresh_token": emu.refresh_token,
              "start_date": "2019-01-01T00:00:00Z", "base_url": emu.base_url, **extra}
    path = disk / "config.json"
    path.write_text(json.dumps(config, indent=2))
    return path


@pytest.mark.parametrize("store", ["config file", "token_store_path"])
def test_a_disk_that_fills_up_during_the_token_request_keeps_the_rotated_token(account, tiny_disk, store):
    disk, fill = tiny_disk
    emu, _, catalog = account(conversations=30, customers=20, ratings=5)
    extra = {"token_store_path": str(disk / "tokens.json")} if store == "token_store_path" else {}
    config = config_on(disk, emu, **extra)
    emu.before_token = fill                     # full when Help Scout rotates the token
    run = run_tap(config, catalog=select(catalog, ["users"]), workdir=disk.parent)
    assert len(run.records("users")) == len(emu.data.users)
    stored = json.loads((disk / ("tokens.json" if extra else "config.json")).read_text())
    assert stored["refresh_token"] == emu.refresh_token, "the rotated token is on the disk"
    emu.before_token = None
    os.unlink(disk / "filler")
    emu.expire_access_tokens()                  # the next run must spend the stored refresh token
    run_tap(config, catalog=select(catalog, ["users"]), workdir=disk.parent)


def test_a_store_on_a_full_disk_stops_the_run_before_the_token_is_spent(account, tiny_disk):
    disk, fill = tiny_disk
    emu, _, catalog = account(conversations=30, customers=20, ratings=5)
    config = config_on(disk, emu)
    original = emu.refresh_token
    fill()
    run = run_tap(config, catalog=select(catalog, ["users"]), workdir=disk.parent, check=False)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert "no room" in last and "stops before spending it" in last
    assert not [r for r in emu.requests if r.path.endswith("/oauth2/token")], "the token was not spent"
    assert emu.refresh_token == original
