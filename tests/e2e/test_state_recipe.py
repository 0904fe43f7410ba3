"""The README's sync recipe, run as the README writes it (issue 13, item 1): the commands are read
from README.md's "Using it with your Help Scout account" section, so the two cannot drift.

The first run has no state file; a run that fails before any output (a broken catalog) leaves
the state as it was; a run that fails part-way (one stream's answers unusable) keeps the
progress of the streams that finished; and the next run resumes from the good state, reading
only what changed."""
import json
import os
import re
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from tests.e2e.conftest import SMALL_ACCOUNT
from tests.e2e.tools import REPO, TARGET_JSONL, tap_bin_dir, tool_venv
from tests.support.expected import expected_row_counts
from tests.support.tap_runner import write_config

pytestmark = pytest.mark.e2e

START = "2019-01-01T00:00:00Z"


def readme_commands():
    """(discovery, selection, sync script) as the README's "Using it" section shows them."""
    text = (REPO / "README.md").read_text()
    start = text.index("## Using it with your Help Scout account")
    section = text[start:text.index("\n## ", start + 1)]
    blocks = [body for _, body in re.findall(r"```(\w*)\n(.*?)```", section, re.S)]

    def block(*words):
        found = [b for b in blocks if all(w in b for w in words)]
        assert len(found) == 1, f"the README's Using it section has {len(found)} blocks with {words}"
        return found[0]
    return (block("--discover", "> catalog.json"), block("jq", "> selected.json"),
            block("set -o pipefail", "target-jsonl"))


class Workdir:
    """A user's folder: config.json, the README's commands, and target-jsonl's output files."""

    def __init__(self, path):
        self.path = path
        target_bin = tool_venv("target-jsonl", TARGET_JSONL)
        self.env = {**os.environ, "PATH": os.pathsep.join([str(tap_bin_dir()), str(target_bin),
                                                           os.environ.get("PATH", "")])}

    def sh(self, script, name):
        script_path = self.path / name
        script_path.write_text(script)
        return subprocess.run(["bash", str(script_path)], cwd=self.path, env=self.env,
                              capture_output=True, text=True, timeout=600)

    def rows(self, stream):
        """Every row target-jsonl has written for `stream`, over all runs (one file per run)."""
        rows = []
        for path in sorted(self.path.glob(f"{stream}-*.jsonl")):
            rows += [json.loads(line) for line in path.read_text().splitlines()]
        return rows

    def state(self):
        return json.loads((self.path / "state.json").read_text())


def test_the_readme_recipe_starts_without_state_and_never_loses_a_good_one(make_emulator, tmp_path):
    emu = make_emulator(seed=5, **SMALL_ACCOUNT)
    write_config(emu, tmp_path)
    work = Workdir(tmp_path)
    discovery, selection, sync = readme_commands()
    for number, script in enumerate((discovery, selection)):
        proc = work.sh(script, f"setup-{number}.sh")
        assert proc.returncode == 0, proc.stderr
    streams = expected_row_counts(emu.data, START)

    # 1. The very first run: no state file yet.
    assert not (tmp_path / "state.json").exists()
    first = work.sh(sync, "sync.sh")
    assert first.returncode == 0, first.stderr[-3000:]
    for stream, count in streams.items():
        assert len(work.rows(stream)) == count, stream
    good = work.state()
    assert good["bookmarks"]["customers"] and good["currently_syncing"] is None

    # 2. A run that fails before any output (a broken catalog): the state stays as it was.
    catalog = (tmp_path / "selected.json").read_text()
    (tmp_path / "selected.json").write_text('{"streams": [')
    state_bytes = (tmp_path / "state.json").read_bytes()
    broken = work.sh(sync, "sync.sh")
    assert broken.returncode == 1
    assert "tap-helpscout: catalog:" in broken.stderr
    assert (tmp_path / "state.json").read_bytes() == state_bytes
    (tmp_path / "selected.json").write_text(catalog)

    # 3. A run that fails part-way: the customers' answers are unusable, the rest finishes.
    changed_customer = emu.data.customers[4]["id"]
    emu.modify_customer(changed_customer)
    changed_conversation = emu.data.conversations[7]["id"]
    emu.modify_conversation(changed_conversation)
    changed_user = emu.data.users[1]
    changed_user["updatedAt"] = (datetime.now(timezone.utc) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    emu.invalidate()
    before = {stream: len(work.rows(stream)) for stream in streams}
    emu.mangle = lambda path, query, body: [] if path == "/v2/customers" else body
    failed = work.sh(sync, "sync.sh")
    assert failed.returncode == 1
    assert "customers failed" in failed.stderr
    progress = work.state()
    # The users' bookmark moved: the failed run's state was kept; the customers' did not.
    assert progress["bookmarks"]["users"] != good["bookmarks"]["users"]
    assert progress["bookmarks"]["users"]["updated_at"] == changed_user["updatedAt"]
    assert progress["bookmarks"]["customers"] == good["bookmarks"]["customers"]
    assert progress["bookmarks"]["conversations"]["updated_at"] >= good["bookmarks"]["conversations"]["updated_at"]
    assert changed_conversation in {r["id"] for r in work.rows("conversations")[before["conversations"]:]}

    # 4. The next run resumes from that state: only the changed customer, no full re-read.
    emu.mangle = None
    before = {stream: len(work.rows(stream)) for stream in streams}
    resumed = work.sh(sync, "sync.sh")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [r["id"] for r in work.rows("customers")[before["customers"]:]] == [changed_customer]
    # The conversation changed before run 3 may come again (bookmark_margin_seconds), nothing else.
    assert {r["id"] for r in work.rows("conversations")[before["conversations"]:]} <= {changed_conversation}
    assert {r["id"] for r in work.rows("users")[before["users"]:]} <= {changed_user["id"]}
    assert work.state()["currently_syncing"] is None
