"""The command line, as orchestrators use it (singer-python's parse_args conventions)."""
import json
import logging
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tap_helpscout.cli import inputs
from tap_helpscout.cli import main as cli
from tap_helpscout.discover import discover
from tap_helpscout.streams import STREAMS
from tap_helpscout.version import VERSION
from tests.tap_runner import select

ROOT = Path(__file__).resolve().parent.parent
SECRET = "never-shown-client-secret-c0ffee"
REFRESH = "never-shown-refresh-token-beef42"


@pytest.fixture
def config_path(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"client_id": "app-id", "client_secret": SECRET,
                                "refresh_token": REFRESH, "start_date": "2024-01-01T00:00:00Z"}))
    return path


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


def tap(*argv):
    return subprocess.run([sys.executable, "-m", "tap_helpscout", *argv], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


# --- modes -------------------------------------------------------------------------------------

def test_version_prints_the_package_version():
    proc = tap("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"tap-helpscout {VERSION}"
    assert VERSION != "unknown"


def test_config_is_required_even_for_discovery():
    proc = tap("--discover")
    assert proc.returncode == 2 and "--config" in proc.stderr


@pytest.mark.parametrize("state", ['{"bookmarks": {}}', "not json at all"])
def test_state_is_accepted_and_ignored_with_discover(tmp_path, config_path, state):
    proc = tap("--config", str(config_path), "--state", write(tmp_path, "state.json", state),
               "--discover")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["streams"]) == len(STREAMS)


def test_short_option_names(tmp_path, config_path):
    proc = tap("-c", str(config_path), "-s", write(tmp_path, "state.json", "{}"), "-d")
    assert proc.returncode == 0, proc.stderr


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


# --- unusable catalog and state files ----------------------------------------------------------

def assert_one_line_failure(proc, *words):
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert SECRET not in proc.stderr and REFRESH not in proc.stderr


@pytest.mark.parametrize("content,words", [
    ("{ not json", ["catalog:", "not valid JSON"]),
    ("[]", ["catalog:", "JSON object"]),
    ('{"type": "SCHEMA"}', ["catalog:", '"streams"', "--discover"]),
    ('{"streams": [{"tap_stream_id": "users"}]}', ["catalog:", '"users"', '"schema"']),
    ('{"streams": ["users"]}', ["catalog:", "#1"]),
])
def test_an_unusable_catalog_is_one_clear_line(tmp_path, config_path, content, words):
    proc = tap("-c", str(config_path), "--catalog", write(tmp_path, "catalog.json", content))
    assert_one_line_failure(proc, *words)


def test_a_missing_catalog_file(tmp_path, config_path):
    proc = tap("-c", str(config_path), "--properties", str(tmp_path / "absent.json"))
    assert_one_line_failure(proc, "catalog:", "does not exist")


@pytest.mark.parametrize("content,words", [
    ("{ not json", ["state:", "not valid JSON"]),
    ('"2024-01-01T00:00:00Z"', ["state:", "JSON object", "a string"]),
])
def test_an_unusable_state_file_is_one_clear_line(tmp_path, config_path, content, words):
    proc = tap("-c", str(config_path), "--catalog", write(tmp_path, "catalog.json", discover()),
               "--state", write(tmp_path, "state.json", content))
    assert_one_line_failure(proc, *words)


def test_syncing_without_a_catalog_says_how_to_make_one(config_path):
    assert_one_line_failure(tap("-c", str(config_path)), "no catalog", "--discover")


def test_catalog_and_properties_together_are_ambiguous(tmp_path, config_path):
    catalog = write(tmp_path, "catalog.json", discover())
    assert_one_line_failure(tap("-c", str(config_path), "--catalog", catalog, "-p", catalog),
                            "--catalog", "--properties")


# --- failures during the run -------------------------------------------------------------------

def test_interrupt_exits_130(tmp_path, config_path, fake_sync, monkeypatch, capsys):
    def interrupted(*args, **options):
        raise KeyboardInterrupt
    monkeypatch.setattr(sys.modules["tap_helpscout.sync.engine"], "sync", interrupted)
    assert run_main("-c", str(config_path), "--catalog", write(tmp_path, "c.json", discover())) == 130


def test_a_bug_shows_its_traceback_without_any_secret(tmp_path, config_path, fake_sync,
                                                      monkeypatch, capsys):
    def buggy(config, *args, **options):
        raise RuntimeError(f"boom with {config['client_secret']} and {config['refresh_token']} "
                           "and Authorization: Bearer fresh-access-token-123")
    monkeypatch.setattr(sys.modules["tap_helpscout.sync.engine"], "sync", buggy)
    assert run_main("-c", str(config_path), "--catalog", write(tmp_path, "c.json", discover())) == 1
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
    assert run_main("-c", str(config_path), "--catalog", write(tmp_path, "c.json", discover())) == 1
    assert capsys.readouterr().err == \
        "tap-helpscout: Help Scout refused the refresh token: authorize the app again\n"
