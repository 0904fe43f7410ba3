"""The command line in process (tap_helpscout/cli): what main hands to the sync engine (a
stand-in records it), the catalog file's unknown streams, and how failures during the run end
(exit code, stderr). The executable itself: tests/integration/test_cli.py."""
import json
import logging
import sys
import types

import pytest

from tap_helpscout.cli import inputs
from tap_helpscout.cli import main as cli
from tap_helpscout.discover import discover
from tap_helpscout.streams import STREAMS
from tests.support.tap_runner import select
from tests.support.configs import REFRESH, SECRET, config_file


@pytest.fixture
def config_path(tmp_path):
    return config_file(tmp_path)


@pytest.fixture
def fake_sync(monkeypatch):
    """Stands in for the sync engine and records what main hands to it."""
    calls = []
    module = types.ModuleType("tap_helpscout.sync.engine")
    module.sync = lambda config, config_path, catalog, state, *rest, **options: calls.append(
        {"config": config, "config_path": config_path, "catalog": catalog, "state": state})
    monkeypatch.setitem(sys.modules, "tap_helpscout.sync.engine", module)
    return calls


def write(tmp_path, name, value):
    path = tmp_path / name
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return str(path)


def run_main(*argv):
    with pytest.raises(SystemExit) as exit_:
        cli.main(list(argv))
    return exit_.value.code


# --- the catalog reaches the sync, under either of its names -----------------------------------

@pytest.mark.parametrize("option", ["--properties", "-p", "--catalog"])
def test_the_catalog_is_honoured_under_each_name(tmp_path, config_path, fake_sync, option):
    catalog = write(tmp_path, "catalog.json", select(discover(), ["users"]))
    assert run_main("--config", str(config_path), option, catalog) == 0
    [call] = fake_sync
    selected = [s.tap_stream_id for s in call["catalog"].get_selected_streams({})]
    assert selected == ["users"]
    assert len(call["catalog"].streams) == len(STREAMS)
    assert call["config_path"] == str(config_path)
    assert call["config"]["start_date"] == "2024-01-01T00:00:00Z"
    assert call["state"] == {}


def test_the_state_reaches_the_sync(tmp_path, config_path, fake_sync):
    state = {"bookmarks": {"users": {"updated_at": "2024-02-01T00:00:00Z"}},
             "currently_syncing": None}
    assert run_main("-c", str(config_path), "--catalog",
                    write(tmp_path, "catalog.json", select(discover())),
                    "--state", write(tmp_path, "state.json", state)) == 0
    assert fake_sync[0]["state"] == state


def test_an_empty_state_file_is_no_state(tmp_path, config_path, fake_sync):
    assert run_main("-c", str(config_path), "--catalog",
                    write(tmp_path, "catalog.json", select(discover())),
                    "--state", write(tmp_path, "state.json", "")) == 0
    assert fake_sync[0]["state"] == {}


def test_unknown_streams_are_reported_and_skipped(tmp_path, caplog):
    catalog = select(discover(), ["teams"])
    catalog["streams"].append({"tap_stream_id": "tickets", "schema": {}, "metadata": []})
    with caplog.at_level(logging.WARNING):
        loaded = inputs.load_catalog(write(tmp_path, "catalog.json", catalog))
    assert "tickets" not in [s.tap_stream_id for s in loaded.streams]
    assert len(loaded.streams) == len(STREAMS)
    assert any('unknown stream "tickets"' in r.getMessage() for r in caplog.records)


# --- failures during the run -------------------------------------------------------------------

def test_interrupt_exits_130(tmp_path, config_path, fake_sync, monkeypatch, capsys):
    def interrupted(*args, **options):
        raise KeyboardInterrupt
    monkeypatch.setattr(sys.modules["tap_helpscout.sync.engine"], "sync", interrupted)
    assert run_main("-c", str(config_path), "--catalog", write(tmp_path, "c.json", select(discover(), ["users"]))) == 130


def test_a_bug_shows_its_traceback_without_any_secret(tmp_path, config_path, fake_sync,
                                                      monkeypatch, capsys):
    def buggy(config, *args, **options):
        raise RuntimeError(f"boom with {config['client_secret']} and {config['refresh_token']} "
                           "and Authorization: Bearer fresh-access-token-123")
    monkeypatch.setattr(sys.modules["tap_helpscout.sync.engine"], "sync", buggy)
    assert run_main("-c", str(config_path), "--catalog", write(tmp_path, "c.json", select(discover(), ["users"]))) == 1
    err = capsys.readouterr().err
    assert err.startswith("tap-helpscout: unexpected error: RuntimeError: boom")
    assert "Traceback" in err
    for secret in (SECRET, REFRESH, "fresh-access-token-123"):
        assert secret not in err


def test_errors_the_user_must_fix_print_one_line(tmp_path, config_path, fake_sync, monkeypatch,
                                                 capsys):
    from tap_helpscout.errors import AuthError

    def refused(*args, **options):
        raise AuthError("Help Scout refused the refresh token: authorize the app again")
    monkeypatch.setattr(sys.modules["tap_helpscout.sync.engine"], "sync", refused)
    assert run_main("-c", str(config_path), "--catalog", write(tmp_path, "c.json", select(discover(), ["users"]))) == 1
    assert capsys.readouterr().err == \
        "tap-helpscout: Help Scout refused the refresh token: authorize the app again\n"
