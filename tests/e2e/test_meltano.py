"""Meltano runs the tap from the project's own meltano.yml (the README shows its extractor): `meltano
install` installs the tap from this repository and target-jsonl, `meltano run tap-helpscout
target-jsonl` loads every stream, and the next runs start from the state Meltano stored: nothing
new when nothing changed, only the changed conversation after one changed.

Both credential flows work across runs: with a refresh token, which Help Scout rotates at every
use while Meltano writes the tap a new config file (holding the original token) for every run,
the tap keeps the current token in `token_store_path`; with client credentials nothing rotates.

Meltano runs in a temporary copy of the project, so the repository gets no .meltano folder and
no output. The emulator runs in this process; its address and credentials reach the tap as
Meltano settings in the environment (TAP_HELPSCOUT_*), the way a user gives secrets.
"""
import json
import os
import re
import subprocess

import pytest

from tests.e2e.tools import MELTANO, REPO, copy_meltano_project, tool_venv
from tests.support.expected import expected_row_counts, expected_rows

pytestmark = pytest.mark.e2e

STATE_ID = "dev:tap-helpscout-to-target-jsonl"


@pytest.fixture(params=["refresh_token", "client_credentials"])
def meltano_project(request, make_emulator, tmp_path):
    """(emulator, run): `run(*args)` runs `meltano args` in a copy of the project whose tap
    talks to the emulator with the credential flow of the parameter; it returns the completed
    process, checked for exit 0 and for secrets in its output."""
    meltano = tool_venv("meltano", MELTANO) / "meltano"
    emu = make_emulator(seed=9, conversations=60, customers=40, ratings=20)
    project = tmp_path / "project"
    project.mkdir()
    copy_meltano_project(project)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("TAP_HELPSCOUT_", "TARGET_JSONL_", "MELTANO_")) and key != "VIRTUAL_ENV"}
    env.update({
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TAP_HELPSCOUT_CLIENT_ID": emu.client_id,
        "TAP_HELPSCOUT_CLIENT_SECRET": emu.client_secret,
        "TAP_HELPSCOUT_BASE_URL": emu.base_url,
        "TAP_HELPSCOUT_START_DATE": "2019-01-01T00:00:00Z",
    })
    secrets = {emu.client_secret}
    if request.param == "refresh_token":
        env["TAP_HELPSCOUT_REFRESH_TOKEN"] = emu.refresh_token
        secrets.add(emu.refresh_token)

    def run(*args, timeout=900):
        proc = subprocess.run([meltano, *args], cwd=project, env=env, capture_output=True, text=True,
                              timeout=timeout)
        assert proc.returncode == 0, f"meltano {' '.join(args)} exited {proc.returncode}:\n" \
                                     f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        secrets.add(emu.refresh_token)   # the newest, rotated by this run
        for secret in secrets:
            assert secret not in proc.stdout + proc.stderr, "a secret reached Meltano's log"
        return proc

    run.project = project
    run.flow = request.param
    run.original_refresh_token = env.get("TAP_HELPSCOUT_REFRESH_TOKEN")
    return emu, run


def landed(project, stream, extractor="tap-helpscout"):
    """The rows target-jsonl wrote for `stream` of `extractor` (meltano.yml: output/<extractor>)."""
    path = project / "output" / extractor / f"{stream}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_meltano_runs_the_tap_and_the_next_runs_are_incremental(meltano_project):
    emu, meltano = meltano_project
    meltano("install")

    meltano("run", "tap-helpscout", "target-jsonl")
    expected = expected_row_counts(emu.data, "2019-01-01T00:00:00Z")
    for stream, count in expected.items():
        assert len(landed(meltano.project, stream)) == count, stream
    stored = json.loads(meltano("state", "get", STATE_ID).stdout)
    assert {"conversations", "conversation_threads", "customers"} <= set(stored["singer_state"]["bookmarks"])

    # Nothing changed: the second run starts from the stored bookmarks and appends no
    # conversation, thread or customer.
    before = {stream: len(landed(meltano.project, stream)) for stream in expected}
    # The tap keeps the access token (48 h) with the refresh token; expired, every run renews
    # it, so that the refresh token rotates at every run.
    emu.expire_access_tokens()
    meltano("run", "tap-helpscout", "target-jsonl")
    for stream in ("conversations", "conversation_threads", "customers"):
        assert len(landed(meltano.project, stream)) == before[stream], stream

    # One conversation changed: the third run appends it, in its new version, and no customer.
    changed = emu.data.conversations[3]["id"]
    emu.modify_conversation(changed)
    emu.expire_access_tokens()
    meltano("run", "tap-helpscout", "target-jsonl")
    new_rows = landed(meltano.project, "conversations")[before["conversations"]:]
    assert [row["id"] for row in new_rows] == [changed]
    assert new_rows[0] == expected_rows(emu.data)["conversations"][(changed,)]
    assert len(landed(meltano.project, "customers")) == before["customers"]

    # Every run got its access token with the flow given, and never had a token refused.
    token_requests = [r for r in emu.requests if r.path.endswith("/oauth2/token")]
    assert len(token_requests) >= 3
    assert all(f"grant_type={meltano.flow}" in r.body and r.status == 200 for r in token_requests)
    store = meltano.project / ".meltano" / "tap-helpscout-token.json"
    if meltano.flow == "refresh_token":
        # The refresh token rotated at every run; the store holds the one that works now, for
        # the owner's eyes only.
        assert json.loads(store.read_text())["refresh_token"] == emu.refresh_token != meltano.original_refresh_token
        assert store.stat().st_mode & 0o077 == 0
    else:
        assert not store.exists()


def test_the_readmes_meltano_block_is_part_of_the_projects_meltano_yml():
    """The README shows the extractor's entry, not the whole file: what it shows must be in the
    file that the tests above run, verbatim, so the two cannot drift."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Running under Meltano", 1)[1].split("\n## ", 1)[0]
    shown = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert shown, "the README's Meltano section has no yaml block"
    assert "- name: tap-helpscout\n" in shown.group(1)
    assert shown.group(1) in (REPO / "meltano.yml").read_text()
