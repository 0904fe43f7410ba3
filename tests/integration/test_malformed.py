"""Inconsistent or malformed answers: never a traceback, never a row silently dropped behind a
bookmark that moves on. The emulator's `mangle` hook corrupts its own answers."""
import json
import math

import pytest

from tests.support.tap_runner import run_tap, select



@pytest.fixture
def account(account):
    def start(**options):
        return account(**{"conversations": 125, "ratings": 20, **options})
    return start


def stdout_messages(run):
    return [json.loads(line) for line in run.stdout.splitlines() if line.strip()]


def records(run, stream):
    return [m["record"] for m in stdout_messages(run) if m["type"] == "RECORD" and m["stream"] == stream]


def last_state(run):
    return [m["value"] for m in stdout_messages(run) if m["type"] == "STATE"][-1]


def assert_one_clear_line(run):
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("tap-helpscout: ")


def drop_rows(page_number, keep, times=None):
    """A mangler that cuts page `page_number` of the conversations listing to `keep` rows."""
    hits = []

    def mangle(path, query, body):
        if path.endswith("/conversations") and query.get("page") == str(page_number) \
                and (times is None or len(hits) < times):
            hits.append(1)
            body["_embedded"]["conversations"] = body["_embedded"]["conversations"][:keep]
            if not keep:
                del body["_embedded"]
        return body
    return mangle


def test_a_short_page_read_once_is_read_again_and_nothing_is_lost(account):
    emu, config, catalog = account()
    emu.mangle = drop_rows(3, 10, times=1)
    run = run_tap(config, catalog=select(catalog, ["conversations"]))
    assert {r["id"] for r in run.records("conversations")} == {c["id"] for c in emu.data.conversations}


@pytest.mark.parametrize("keep", [10, 0], ids=["short page", "page without _embedded"])
def test_a_page_that_stays_short_fails_the_stream_and_keeps_its_bookmark(account, keep):
    emu, config, catalog = account()
    emu.mangle = drop_rows(3, keep)
    run = run_tap(config, catalog=select(catalog, ["conversations", "users"]), check=False)
    assert_one_clear_line(run)
    assert "conversations" in run.stderr.strip().splitlines()[-1]
    assert "updated_at" not in last_state(run)["bookmarks"].get("conversations", {})
    assert len(records(run, "users")) == len(emu.data.users)


@pytest.mark.parametrize("path", ["/v2/users", "/v2/conversations"])
def test_an_absurd_page_count_neither_queues_nor_walks_a_billion_pages(account, path):
    emu, config, catalog = account()

    def mangle(request_path, query, body):
        if request_path == path and isinstance(body.get("page"), dict):
            body["page"]["totalPages"] = 10 ** 9
            body["page"]["totalElements"] = 10 ** 9 * body["page"]["size"]
        return body
    emu.mangle = mangle
    run = run_tap(config, catalog=select(catalog, ["users", "conversations"]), check=False, timeout=120)
    assert_one_clear_line(run)
    assert sum(r.path == path for r in emu.requests) < 20


@pytest.mark.parametrize("corrupt", [
    lambda body: dict(body, page=[body["page"]]),
    lambda body: dict(body, _embedded=[]),
    lambda body: dict(body, page=dict(body["page"], totalPages="many")),
], ids=["page as a list", "_embedded as a list", "totalPages many"])
def test_an_answer_of_the_wrong_shape_fails_that_stream_with_one_line(account, corrupt):
    emu, config, catalog = account()
    emu.mangle = lambda path, query, body: corrupt(body) if path == "/v2/users" else body
    run = run_tap(config, catalog=select(catalog, ["users", "workflows"]), check=False)
    assert_one_clear_line(run)
    assert "users" in run.stderr.strip().splitlines()[-1]
    assert len(records(run, "workflows")) == len(emu.data.workflows)


def test_items_that_are_null_or_have_no_id_are_skipped_with_a_warning(account):
    emu, config, catalog = account()

    def mangle(path, query, body):
        if path == "/v2/users":
            body["_embedded"]["users"][0] = None
            del body["_embedded"]["users"][1]["id"]
        return body
    emu.mangle = mangle
    run = run_tap(config, catalog=select(catalog, ["users"]))
    assert len(run.records("users")) == len(emu.data.users) - 2
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line and "users" in line]
    assert len([w for w in warnings if "skipped" in w]) == 2
    assert "2 skipped without their key" in run.stderr


@pytest.mark.parametrize("value", [1e20, math.nan, "9999-12-31T23:59:59-12:00", "2024-02-30T00:00:00Z"])
def test_a_date_time_that_cannot_be_read_becomes_null_naming_stream_id_and_field(account, value):
    emu, config, catalog = account()
    victim = emu.data.customers[0]["id"]

    def mangle(path, query, body):
        for customer in (body.get("_embedded") or {}).get("customers", []) if path == "/v2/customers" else []:
            if customer["id"] == victim:
                customer["createdAt"] = value
        return body
    emu.mangle = mangle
    run = run_tap(config, catalog=select(catalog, ["customers"]))
    got = {r["id"]: r for r in run.records("customers")}
    assert len(got) == len(emu.data.customers), "the row is never dropped for one bad value"
    assert got[victim]["created_at"] is None and got[victim]["updated_at"]
    warning = next(line for line in run.stderr.splitlines() if "made null" in line)
    assert "customers" in warning and str(victim) in warning and "created_at" in warning
    assert "1 values made null" in run.stderr.strip().splitlines()[-1]


def test_a_value_the_schema_does_not_type_that_is_not_json_is_left_out_and_the_row_arrives(account):
    emu, config, catalog = account()
    victim = emu.data.conversations[0]["id"]

    def mangle(path, query, body):
        for conversation in (body.get("_embedded") or {}).get("conversations", []) if path == "/v2/conversations" else []:
            if conversation["id"] == victim:
                conversation["source"]["score"] = math.nan
        return body
    emu.mangle = mangle
    run = run_tap(config, catalog=select(catalog, ["conversations"]))
    rows = {r["id"]: r for r in run.records("conversations")}
    assert len(rows) == len(emu.data.conversations)
    assert "score" not in rows[victim]["source"] and rows[victim]["source"]["type"]
    assert "NaN" not in run.stdout
    assert any("made null" in line and "source.score" in line for line in run.stderr.splitlines())


def test_a_key_that_cannot_be_read_skips_its_item_with_a_warning(account):
    emu, config, catalog = account()

    def mangle(path, query, body):
        if path == "/v2/users":
            body["_embedded"]["users"][0]["id"] = "not-a-number"
        return body
    emu.mangle = mangle
    run = run_tap(config, catalog=select(catalog, ["users"]))
    assert len(run.records("users")) == len(emu.data.users) - 1
    assert "1 skipped without their key" in run.stderr


def test_bytes_that_are_not_utf8_are_replaced_and_the_stream_goes_on(account):
    emu, config, catalog = account()
    victim = emu.data.customers[0]

    def mangle(path, query, body):
        if path != "/v2/customers":
            return body
        for customer in (body.get("_embedded") or {}).get("customers", []):
            if customer["id"] == victim["id"]:
                customer["firstName"] = "@@NOT-UTF-8@@"
        return json.dumps(body).encode().replace(b"@@NOT-UTF-8@@", b"Br\xf6k")     # Latin-1 bytes
    emu.mangle = mangle
    run = run_tap(config, catalog=select(catalog, ["customers"]))
    rows = {r["id"]: r for r in run.records("customers")}
    assert len(rows) == len(emu.data.customers)
    assert rows[victim["id"]]["first_name"] == "Br\ufffdk"
    assert any("not UTF-8" in line for line in run.stderr.splitlines())