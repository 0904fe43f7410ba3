"""The two widely used Postgres targets load the tap's output into a real PostgreSQL server:
all eleven tables exist with the catalog's columns and the expected row counts, and IDs above
2^31 (conversations, threads, customers) arrive exact.

The server is the suite's own (fixture `postgres`, tests/e2e/conftest.py); each load gets a
database of its own. The tables are read with psql, so the tap's venv needs no Postgres driver.
"""
import itertools
import json

import pytest

from tests.e2e.tools import (MELTANOLABS_TARGET_POSTGRES, PIPELINEWISE_TARGET_POSTGRES, run_pipeline,
                             tap_bin_dir, tool_venv)
from tests.expected import PRIMARY_KEYS, columns, expected_rows
from tests.tap_runner import write_json

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


def load(postgres, target_name, config, catalog, workdir):
    """`tap-helpscout | <target>` into a new database; returns the database's name."""
    package, executable, target_config = TARGETS[target_name]
    target = tool_venv(target_name, package) / executable
    database = postgres.create_database(f"{target_name.split('-')[0]}_{next(DATABASE_NUMBERS)}")
    settings = write_json(workdir / "target-config.json", target_config(postgres, database))
    run_pipeline([tap_bin_dir() / "tap-helpscout", "--config", config, "--catalog", catalog],
                 [target, "--config", settings], cwd=workdir).check()
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
