"""The two widely used Postgres targets load the tap's output into a real PostgreSQL server:
all fifteen tables exist with the catalog's columns and the expected row counts, and IDs above
2^31 (conversations, threads, customers) arrive exact. With meltanolabs-target-postgres, rows
deleted at the source leave the full-table tables (table versions and ACTIVATE_VERSION): marked
with `_sdc_deleted_at` by default, removed with `hard_delete`; an interrupted run removes nothing.

The server is the suite's own (fixture `postgres`, tests/e2e/conftest.py: one per pytest-xdist
worker that runs any of these tests); each load gets a database of its own. The tables are read with psql, so the tap's venv needs no Postgres driver.
"""
import itertools
import json

import pytest

from tests.e2e.tools import (MELTANOLABS_TARGET_POSTGRES, PIPELINEWISE_TARGET_POSTGRES, run_pipeline,
                             tap_bin_dir, tool_venv)
from tests.support.expected import FULL_TABLE_STREAMS, PRIMARY_KEYS, columns, expected_rows
from tests.support.tap_runner import offline_catalog, run_tap, run_until_killed, select, write_json

pytestmark = pytest.mark.e2e

SCHEMA = "helpscout"
BIG_ID_STREAMS = ("conversations", "conversation_threads", "customers")
DATABASE_NUMBERS = itertools.count(1)

# Each target: its pinned package, its executable, and its config for a server and a database
# (the two spell the database key differently).
TARGETS = {
    "meltanolabs-target-postgres": (
        MELTANOLABS_TARGET_POSTGRES, "target-postgres",
        lambda pg, database: {"host": pg.host, "port": pg.port, "user": pg.user, "password": pg.password,
                              "database": database, "default_target_schema": SCHEMA}),
    "pipelinewise-target-postgres": (
        PIPELINEWISE_TARGET_POSTGRES, "target-postgres",
        lambda pg, database: {"host": pg.host, "port": pg.port, "user": pg.user, "password": pg.password,
                              "dbname": database, "default_target_schema": SCHEMA}),
}


def new_database(postgres, target_name):
    return postgres.create_database(f"{target_name.split('-')[0]}_{next(DATABASE_NUMBERS)}")


def target_argv(postgres, target_name, database, workdir, **settings):
    """The target's command line, with its config for `database` (and `settings`)."""
    package, executable, target_config = TARGETS[target_name]
    target = tool_venv(target_name, package) / executable
    config = write_json(workdir / "target-config.json", {**target_config(postgres, database), **settings})
    return [target, "--config", config]


def load(postgres, target_name, config, catalog, workdir):
    """`tap-helpscout | <target>` into a new database; returns the database's name."""
    database = new_database(postgres, target_name)
    run_pipeline([tap_bin_dir() / "tap-helpscout", "--config", config, "--catalog", catalog],
                 target_argv(postgres, target_name, database, workdir), cwd=workdir).check()
    return database


def table_columns(postgres, database):
    """{table: {column}} of the target schema."""
    tables = {}
    for table, column in postgres.query(
            f"SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = '{SCHEMA}'",
            database):
        tables.setdefault(table, set()).add(column)
    return tables


@pytest.mark.parametrize("target_name", list(TARGETS))
def test_every_table_arrives_with_its_columns_rows_and_big_ids(target_name, postgres, small_account, tmp_path):
    emu, config, catalog = small_account()
    database = load(postgres, target_name, config, catalog, tmp_path)
    expected = expected_rows(emu.data, "2019-01-01T00:00:00Z")

    tables = table_columns(postgres, database)
    assert set(tables) == set(PRIMARY_KEYS)
    for stream in PRIMARY_KEYS:
        # A target may add bookkeeping columns of its own, all named _sdc_*.
        assert {c for c in tables[stream] if not c.startswith("_sdc_")} == columns(stream), stream
        [[count]] = postgres.query(f"SELECT count(*) FROM {SCHEMA}.{stream}", database)
        assert int(count) == len(expected[stream]), stream

    for stream in BIG_ID_STREAMS:
        stored = {int(row[0]) for row in postgres.query(f"SELECT id FROM {SCHEMA}.{stream}", database)}
        assert stored == {key[0] for key in expected[stream]}, stream
        assert max(stored) > 2 ** 31, stream
    # Nested objects arrive whole, as JSON, with their own big IDs exact.
    conversation = max(expected["conversations"].values(), key=lambda row: row["primary_customer"]["id"])
    [[customer]] = postgres.query(
        f"SELECT primary_customer FROM {SCHEMA}.conversations WHERE id = {conversation['id']}", database)
    assert json.loads(customer) == conversation["primary_customer"]


# ---------------------------------------------------------------------------------------------
# Deletions: table versions with meltanolabs-target-postgres
# ---------------------------------------------------------------------------------------------

# What the tap needs of the target (all three are its defaults; written out to say so).
VERSIONED = {"activate_version": True, "add_record_metadata": True}
REMOVED_STREAMS = ("team_members", "mailbox_fields", "tags")


def table_rows(postgres, database, stream):
    """{primary key: row} of a table, the row as JSON (bookkeeping columns `_sdc_*` included)."""
    rows = {}
    for [text] in postgres.query(f"SELECT row_to_json(t)::text FROM {SCHEMA}.{stream} t", database):
        row = json.loads(text)
        rows[tuple(row[k] for k in PRIMARY_KEYS[stream])] = row
    return rows


def same_keys(keys):
    """Keys as the database shows them: a date-time in a key (the report's) without its `Z`."""
    return {tuple(part[:-1] if isinstance(part, str) and part.endswith("Z") else part for part in key)
            for key in keys}


def data_of(row):
    return {k: v for k, v in row.items() if not k.startswith("_sdc_")}


def live(rows):
    return {key: row for key, row in rows.items() if row["_sdc_deleted_at"] is None}


def echoed_state(run):
    lines = [line for line in run.target_stdout.splitlines() if line.strip()]
    return json.loads(lines[-1])


def remove_one_of_each(emu):
    """A team member, a mailbox field and a tag removed at the source; their primary keys."""
    data = emu.data
    team = next(t["id"] for t in data.teams if data.members[t["id"]])
    user = data.members[team][0]
    emu.remove_team_member(team, user)
    mailbox = next(m["id"] for m in data.mailboxes if data.fields[m["id"]])
    field = data.fields[mailbox][0]["id"]
    emu.delete_mailbox_field(mailbox, field)
    tag = data.tags[0]["id"]
    emu.delete_tag(tag)
    return {"team_members": (team, user), "mailbox_fields": (field,), "tags": (tag,)}


def interrupted_messages(config, catalog, state, workdir):
    """The messages a target gets from a run killed (SIGKILL) just before it would have sent
    its first ACTIVATE_VERSION for one of REMOVED_STREAMS: that stream's whole read has
    arrived, with a new version, and the activation has not. The kill point is found in an
    identical run whose output is thrown away (the tap only reads from the source)."""
    reference = run_tap(config, "--catalog", str(catalog), state=state, workdir=workdir)
    position = next(i for i, m in enumerate(reference.messages)
                    if m["type"] == "ACTIVATE_VERSION" and m["stream"] in REMOVED_STREAMS)
    run = run_until_killed(config, json.loads(catalog.read_text()), state, position, workdir)
    assert run.returncode == -9 and run.messages
    assert not [m for m in run.messages if m["type"] == "ACTIVATE_VERSION" and m["stream"] in REMOVED_STREAMS]
    return run.messages


@pytest.mark.parametrize("hard_delete", [False, True], ids=["soft-delete", "hard-delete"])
def test_rows_removed_at_the_source_leave_the_tables_and_an_interrupted_run_removes_nothing(
        hard_delete, postgres, small_account, tmp_path):
    emu, config, catalog = small_account()
    database = new_database(postgres, "meltanolabs-target-postgres")
    target = target_argv(postgres, "meltanolabs-target-postgres", database, tmp_path, hard_delete=hard_delete,
                         **VERSIONED)
    tap = [tap_bin_dir() / "tap-helpscout", "--config", config, "--catalog", catalog]
    first = run_pipeline(tap, target, cwd=tmp_path).check()
    loaded = {stream: table_rows(postgres, database, stream) for stream in PRIMARY_KEYS}
    for stream, rows in loaded.items():
        assert rows and all(row["_sdc_deleted_at"] is None for row in rows.values()), stream
    removed = remove_one_of_each(emu)
    for stream, key in removed.items():
        assert key in loaded[stream], stream

    # Interrupted: every row stays, none is marked deleted, though a new version arrived.
    messages = interrupted_messages(config, catalog, echoed_state(first), tmp_path)
    feed = tmp_path / "interrupted.jsonl"
    feed.write_text("".join(json.dumps(m) + "\n" for m in messages))
    interrupted = run_pipeline(["cat", feed], target, cwd=tmp_path).check()
    reread = set()
    for stream in PRIMARY_KEYS:
        rows = table_rows(postgres, database, stream)
        assert set(loaded[stream]) <= set(live(rows)), stream
        if stream in REMOVED_STREAMS and any(
                rows[k]["_sdc_table_version"] != loaded[stream][k]["_sdc_table_version"] for k in loaded[stream]):
            reread.add(stream)
    assert reread, "the interrupted run delivered no new version of the three tables"

    # Complete: the removed rows are gone (hard_delete) or marked deleted; nothing else changes.
    run_pipeline(tap + ["--state", write_json(tmp_path / "state.json", echoed_state(interrupted))],
                 target, cwd=tmp_path).check()
    expected = expected_rows(emu.data, "2019-01-01T00:00:00Z")
    for stream in PRIMARY_KEYS:
        rows = table_rows(postgres, database, stream)
        assert same_keys(live(rows)) == same_keys(expected[stream]), stream
        if stream in removed:
            key = removed[stream]
            if hard_delete:
                assert key not in rows, stream
            else:
                assert rows[key]["_sdc_deleted_at"] is not None, stream
                assert data_of(rows[key]) == data_of(loaded[stream][key]), stream
            for other in set(loaded[stream]) - {key}:
                assert data_of(rows[other]) == data_of(loaded[stream][other]), (stream, other)
        elif stream in FULL_TABLE_STREAMS:
            assert set(rows) == set(loaded[stream]), stream      # nothing removed at the source


def test_an_article_deleted_in_help_scout_leaves_docs_article_stats(postgres, make_emulator, tmp_path):
    """The knowledge base: `docs_article_stats` is a full-table read of every article, so one
    deleted in Help Scout is marked deleted there; `docs_articles` (incremental) keeps it."""
    emu = make_emulator(seed=5, docs_articles=40)
    config = write_json(tmp_path / "config.json", {"docs_api_key": emu.docs_api_key, "docs_base_url": emu.docs_base_url})
    catalog = write_json(tmp_path / "docs-catalog.json", select(offline_catalog(), ["docs_articles", "docs_article_stats"]))
    database = new_database(postgres, "meltanolabs-target-postgres")
    target = target_argv(postgres, "meltanolabs-target-postgres", database, tmp_path, **VERSIONED)
    tap = [tap_bin_dir() / "tap-helpscout", "--config", config, "--catalog", catalog]
    first = run_pipeline(tap, target, cwd=tmp_path).check()
    deleted = emu.docs.data.articles[7]["id"]
    emu.docs.delete_article(deleted)
    run_pipeline(tap + ["--state", write_json(tmp_path / "state.json", echoed_state(first))], target,
                 cwd=tmp_path).check()
    stats = {}
    for [text] in postgres.query(f"SELECT row_to_json(t)::text FROM {SCHEMA}.docs_article_stats t", database):
        row = json.loads(text)
        stats[row["id"]] = row
    assert {ident for ident, row in stats.items() if row["_sdc_deleted_at"] is None} == \
        {a["id"] for a in emu.docs.data.articles}
    assert stats[deleted]["_sdc_deleted_at"] is not None
    [[count]] = postgres.query(f"SELECT count(*) FROM {SCHEMA}.docs_articles", database)
    assert int(count) == 40
