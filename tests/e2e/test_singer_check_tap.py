"""singer-check-tap (singer-tools), the Singer project's own conformance checker, accepts the
tap's output: every RECORD follows its stream's SCHEMA (Draft 4, date-times parsed) and comes
after it, and every line is a Singer message; both for a full sync and for the rerun from the
state the full sync ended with.

singer-check-tap can start the tap itself (`--tap`), but that mode returns before its reader
thread has finished (it never joins it), so a short run is reported as a crash at random. The
tap's output is therefore fed to its stdin mode, which reads to the end; the tap is run twice
here, the second time from the first run's last STATE, which is what `--tap` mode does.
"""
import json
import re
import subprocess

import pytest

from tests.e2e.tools import SINGER_TOOLS, tool_venv
from tests.support.expected import expected_row_counts
from tests.support.tap_runner import run_tap, write_json

pytestmark = pytest.mark.e2e


def singer_check_tap(output, workdir):
    """The records per stream that singer-check-tap counted in `output`; fails unless it says
    the output is valid. (It creates a folder in its working directory: `workdir`.)"""
    check_tap = tool_venv("singer-check-tap", SINGER_TOOLS) / "singer-check-tap"
    proc = subprocess.run([check_tap], input=output, capture_output=True, text=True, timeout=300, cwd=workdir)
    assert proc.returncode == 0, f"singer-check-tap refused the output:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    assert "The output is valid." in proc.stdout
    table = proc.stdout.split("Details by stream:")[1]
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^\| (\w+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|$", table, re.M)}


def test_full_sync_and_the_rerun_from_its_state_pass_singer_check_tap(small_account, tmp_path):
    emu, config, catalog = small_account()

    full = run_tap(config, "--catalog", catalog)
    counted = singer_check_tap(full.stdout, tmp_path)
    expected = expected_row_counts(emu.data, "2019-01-01T00:00:00Z")
    assert counted == expected

    state = write_json(tmp_path / "state.json", full.last_state)
    rerun = run_tap(config, "--catalog", catalog, "--state", state)
    counted = singer_check_tap(rerun.stdout, tmp_path)
    # Every stream still sends its SCHEMA; nothing changed, so no conversation, thread or
    # customer comes again.
    assert set(counted) == set(expected)
    for stream in ("conversations", "conversation_threads", "customers"):
        assert counted[stream] == 0, stream


def test_singer_check_tap_refuses_a_record_that_breaks_its_schema(small_account, tmp_path):
    """The check above has teeth: the same output with one conversation id turned into a string
    is refused."""
    emu, config, catalog = small_account()
    messages = run_tap(config, "--catalog", catalog).messages
    first = next(m for m in messages if m["type"] == "RECORD" and m["stream"] == "conversations")
    first["record"]["id"] = str(first["record"]["id"])
    check_tap = tool_venv("singer-check-tap", SINGER_TOOLS) / "singer-check-tap"
    proc = subprocess.run([check_tap], input="".join(json.dumps(m) + "\n" for m in messages),
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode != 0
    assert "ValidationError" in proc.stderr
