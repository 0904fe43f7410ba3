"""The command line, as orchestrators use it (singer-python's parse_args conventions): the real
executable's modes, options and unusable input files. What main hands to the sync, in process:
tests/unit/test_cli.py."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tap_helpscout.discover import discover
from tests.support.tap_runner import select
from tap_helpscout.streams import STREAMS
from tap_helpscout.version import VERSION
from tests.support.configs import REFRESH, SECRET, config_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_path(tmp_path):
    return config_file(tmp_path)


def write(tmp_path, name, value):
    path = tmp_path / name
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return str(path)


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
    proc = tap("-c", str(config_path), "--catalog", write(tmp_path, "catalog.json", select(discover(), ["users"])),
               "--state", write(tmp_path, "state.json", content))
    assert_one_line_failure(proc, *words)


def test_syncing_without_a_catalog_says_how_to_make_one(config_path):
    assert_one_line_failure(tap("-c", str(config_path)), "no catalog", "--discover")


def test_catalog_and_properties_together_are_ambiguous(tmp_path, config_path):
    catalog = write(tmp_path, "catalog.json", discover())
    assert_one_line_failure(tap("-c", str(config_path), "--catalog", catalog, "-p", catalog),
                            "--catalog", "--properties")
