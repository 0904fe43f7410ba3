"""target-jsonl, the simplest file target: the tap's output lands in one JSON Lines file per
stream with every row, and a second run fed the STATE the target echoed appends only what
changed."""
import json

import pytest

from tests.e2e.tools import TARGET_JSONL, run_pipeline, tap_bin_dir, tool_venv
from tests.support.expected import expected_row_counts, expected_rows, key_of
from tests.support.tap_runner import write_json

pytestmark = pytest.mark.e2e


def read_rows(directory, stream):
    path = directory / f"{stream}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def sync_into_jsonl(config, catalog, destination, state=None):
    """`tap-helpscout … | target-jsonl`; returns the last STATE the target echoed."""
    target = tool_venv("target-jsonl", TARGET_JSONL) / "target-jsonl"
    target_config = write_json(destination.parent / "target-config.json",
                               {"destination_path": str(destination), "do_timestamp_file": False})
    tap = [tap_bin_dir() / "tap-helpscout", "--config", config, "--catalog", catalog]
    if state is not None:
        tap += ["--state", write_json(destination.parent / "state.json", state)]
    run = run_pipeline(tap, [target, "--config", target_config], cwd=destination.parent).check()
    echoed = [line for line in run.target_stdout.splitlines() if line.strip()]
    assert echoed, "target-jsonl echoed no state"
    return json.loads(echoed[-1])


def test_every_stream_lands_with_every_row_and_ids_above_2_31_intact(small_account, tmp_path):
    emu, config, catalog = small_account()
    destination = tmp_path / "output"
    destination.mkdir()
    state = sync_into_jsonl(config, catalog, destination)

    expected = expected_rows(emu.data, "2019-01-01T00:00:00Z")
    counts = expected_row_counts(emu.data, "2019-01-01T00:00:00Z")
    for stream, rows in expected.items():
        landed = read_rows(destination, stream)
        assert len(landed) == counts[stream], stream
        assert {key_of(stream, row) for row in landed} == set(rows), stream
    big = [row["id"] for row in read_rows(destination, "conversations") if row["id"] > 2 ** 31]
    assert big and all(isinstance(i, int) for i in big)
    assert state["currently_syncing"] is None
    assert set(state["bookmarks"]) >= {"conversations", "conversation_threads", "customers"}


def test_second_run_from_the_echoed_state_appends_only_the_changed_rows(small_account, tmp_path):
    emu, config, catalog = small_account()
    destination = tmp_path / "output"
    destination.mkdir()
    state = sync_into_jsonl(config, catalog, destination)
    before = {stream: len(read_rows(destination, stream)) for stream in expected_rows(emu.data)}

    changed_conversation = emu.data.conversations[7]["id"]
    emu.modify_conversation(changed_conversation)
    changed_customer = emu.data.customers[4]["id"]
    emu.modify_customer(changed_customer)
    threaded = emu.data.conversations[12]["id"]
    new_thread = emu.add_thread(threaded)
    sync_into_jsonl(config, catalog, destination, state=state)

    def appended(stream):
        return read_rows(destination, stream)[before[stream]:]

    assert [r["id"] for r in appended("customers")] == [changed_customer]
    assert sorted(r["id"] for r in appended("conversations")) == sorted([changed_conversation, threaded])
    # Threads come with their conversation: the new one, and maybe the others of the two
    # changed conversations, nothing else.
    threads = appended("conversation_threads")
    assert new_thread["id"] in {r["id"] for r in threads}
    assert {r["conversation_id"] for r in threads} <= {changed_conversation, threaded}
    # The appended rows are the new versions.
    current = expected_rows(emu.data)
    for row in appended("conversations"):
        assert row == current["conversations"][(row["id"],)]
    assert appended("customers")[0] == current["customers"][(changed_customer,)]
