"""The README's "Loading into PostgreSQL" recipe, run as the README writes it: its install line
names the pinned meltanolabs-target-postgres, its config file (connection keys substituted for the
suite's throwaway server, the rest as written) and its pipeline line put into the README's own
`sync.sh` in place of target-jsonl's. The tables must then hold the emulated account's rows; a
second run continues from the state the target echoed, re-loads only what changed, and a tag
deleted in Help Scout gets `_sdc_deleted_at`, as the README says with `hard_delete: false`."""
import json
import os
import re
import subprocess
import time

import pytest

from tests.e2e.conftest import SMALL_ACCOUNT
from tests.e2e.test_state_recipe import readme_commands
from tests.e2e.tools import MELTANOLABS_TARGET_POSTGRES, REPO, tap_bin_dir, tool_venv
from tests.support.expected import FULL_TABLE_STREAMS, PRIMARY_KEYS, REPORT_KEYS, expected_rows
from tests.support.tap_runner import write_config

pytestmark = pytest.mark.e2e

START = "2019-01-01T00:00:00Z"
CONNECTION_KEYS = ("host", "port", "user", "password", "database")
# sync.sh's pipeline as the "Using it" section writes it, which the recipe replaces.
JSONL_PIPELINE = ("tap-helpscout --config config.json --catalog selected.json --state state.json \\\n"
                  "  | target-jsonl > state-out.jsonl\n")


def readme_postgres():
    """(venv folder, pinned requirement, config text, pipeline) from the README's section."""
    text = (REPO / "README.md").read_text()
    start = text.index("## Loading into PostgreSQL")
    section = text[start:text.index("\n## ", start + 1)]
    install = re.search(r"`python3 -m venv (\S+) &&\s+(\S+)/bin/pip install (\S+)`", section)
    assert install and install.group(1) == install.group(2), "no install line in the PostgreSQL section"
    config = re.findall(r"```json\n(.*?)```", section, re.S)
    pipeline = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert len(config) == 1 and len(pipeline) == 1, "the section has one config and one pipeline block"
    return install.group(1), install.group(3), config[0], pipeline[0]


def test_the_readme_postgres_recipe_loads_the_account_and_the_next_run_is_incremental(
        make_emulator, postgres, tmp_path):
    venv, requirement, config_text, pipeline = readme_postgres()
    assert requirement == MELTANOLABS_TARGET_POSTGRES, "the README installs the version the tests pin"
    # The README's venv is the suite's venv of that same pin.
    (tmp_path / venv).symlink_to(tool_venv("meltanolabs-target-postgres", MELTANOLABS_TARGET_POSTGRES).parent)

    target_config = json.loads(config_text)
    assert set(CONNECTION_KEYS) <= set(target_config)
    assert (target_config["activate_version"], target_config["add_record_metadata"],
            target_config["hard_delete"]) == (True, True, False)
    schema = target_config["default_target_schema"]
    database = postgres.create_database("recipe_postgres")
    target_config.update(host=postgres.host, port=postgres.port, user=postgres.user,
                         password=postgres.password, database=database)
    (tmp_path / "target-postgres.json").write_text(json.dumps(target_config))
    os.chmod(tmp_path / "target-postgres.json", 0o600)

    discovery, selection, sync = readme_commands()
    assert sync.count(JSONL_PIPELINE) == 1, "the README's sync.sh no longer has the pipeline the recipe replaces"
    sync = sync.replace(JSONL_PIPELINE, pipeline)
    assert "target-postgres --config target-postgres.json" in sync

    emu = make_emulator(seed=13, **SMALL_ACCOUNT)
    write_config(emu, tmp_path)
    env = {**os.environ, "PATH": os.pathsep.join([str(tap_bin_dir()), os.environ.get("PATH", "")])}

    def sh(script, name):
        (tmp_path / name).write_text(script)
        proc = subprocess.run(["bash", name], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{proc.stderr[-4000:]}"
        for secret in (emu.client_secret, emu.refresh_token, postgres.password):
            assert secret not in proc.stdout + proc.stderr, "a secret reached the output"
        return proc

    def query(sql):
        return postgres.query(sql, database)

    sh(discovery, "discover.sh")
    sh(selection, "select.sh")
    sh(sync, "sync.sh")
    # The target upserts: one row per primary key (two ratings of the report may share one).
    for stream, rows_by_key in expected_rows(emu.data, START).items():
        [[rows, live]] = query(f"SELECT count(*), count(*) FILTER (WHERE _sdc_deleted_at IS NULL) "
                               f"FROM {schema}.{stream}")
        assert int(rows) == int(live) == len(rows_by_key), stream
    first_state = json.loads((tmp_path / "state.json").read_text())
    assert first_state["bookmarks"]["conversations"]["updated_at"]

    # Changed and deleted at the source; the next run starts from the state sync.sh kept.
    changed = emu.data.conversations[5]["id"]
    emu.modify_conversation(changed)
    tag = emu.data.tags[0]["id"]
    # The conversations that carried the tag lose it, a change of theirs (as the emulator reads it).
    untagged = {c["id"] for c in emu.data.conversations if any(t["id"] == tag for t in c.get("tags") or [])}
    emu.delete_tag(tag)
    since = round(time.time() * 1000)       # the target stamps each row it receives (_sdc_sequence)
    sh(sync, "sync.sh")
    reloaded = {int(i) for [i] in query(f"SELECT id FROM {schema}.conversations WHERE _sdc_sequence >= {since}")}
    assert reloaded == {changed} | untagged, "only the changed conversations are read again"
    assert len(reloaded) < len(emu.data.conversations) / 2
    [[customers]] = query(f"SELECT count(*) FROM {schema}.customers WHERE _sdc_sequence >= {since}")
    assert int(customers) == 0
    expected = expected_rows(emu.data, START)
    [[updated_at]] = query(f"""SELECT to_char(updated_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                               FROM {schema}.conversations WHERE id = {changed}""")
    assert updated_at == expected["conversations"][(changed,)]["updated_at"], "the new version replaced the old"
    [[deleted_at]] = query(f"SELECT _sdc_deleted_at FROM {schema}.tags WHERE id = {tag}")
    assert deleted_at is not None, "the deleted tag is marked, not left as live"
    for stream in FULL_TABLE_STREAMS:
        live = query(f"SELECT count(*) FROM {schema}.{stream} WHERE _sdc_deleted_at IS NULL")
        assert int(live[0][0]) == len(expected[stream]), stream
    # The README's jq selects every stream, the daily reports too.
    assert set(PRIMARY_KEYS) | set(REPORT_KEYS) == {table for [table] in query(
        f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}'")}
    second_state = json.loads((tmp_path / "state.json").read_text())
    assert second_state["bookmarks"]["conversations"]["updated_at"] > first_state["bookmarks"]["conversations"]["updated_at"]


def test_meltano_yml_loads_with_the_same_pinned_target():
    """meltano.yml's target-postgres is the package the recipe installs and the tests pin."""
    text = (REPO / "meltano.yml").read_text()
    entry = text[text.index("  - name: target-postgres\n"):]
    assert re.search(r"^    pip_url: (\S+)$", entry, re.M).group(1) == MELTANOLABS_TARGET_POSTGRES
