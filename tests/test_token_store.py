"""`token_store_path`: the rotating refresh token survives orchestrators (Meltano) that write a
fresh config file, holding the original refresh token, for every run."""
import json
import os
import stat

from tests.tap_runner import discover, run_tap, select, write_config


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
