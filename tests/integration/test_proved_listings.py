"""A listing's answer is proved, never trusted: an answer without its paging block, or without
rows where its own totals or the listing's earlier answers say rows are, is read again; an
answer that stays so fails that stream with its bookmark kept, and the other streams finish.
Every listing kind, with such answers at its first, a middle and its last request: either every
row arrives, or the run exits non-zero with the bookmark where it was. Never exit 0 with a row
missing."""
import json

import pytest

from tests.support.expected import expected_row_counts
from tests.support.tap_runner import run_tap, select

ACCOUNT = {"seed": 11, "conversations": 80, "customers": 130, "ratings": 35, "organizations": 120}
# kind: (streams selected, the path whose answers are broken, emulator options, the stream that fails)
KINDS = {
    "number windows": (["conversations"], "/v2/conversations", {"query_ranges": True}, "conversations"),
    "offset pages": (["conversations"], "/v2/conversations", {}, "conversations"),
    "keyset chain": (["customers"], "/v2/customers", {}, "customers"),
    "per-parent thread listing": (["conversation_threads"], "/threads", {}, "conversation_threads"),
    "whole listing in pages": (["organizations"], "/v2/organizations", {}, "organizations"),
    "report pages": (["happiness_ratings_report"], "/v2/reports/happiness/ratings", {}, "happiness_ratings_report"),
}


def no_page_block(path, body):
    return {}


def no_rows_no_page_block(path, body):
    return {"_embedded": {}}


def empty_by_its_own_totals(path, body):
    """An answer that says, consistently with itself, that the listing is empty."""
    if "reports" in path:
        return {"results": [], "page": body.get("page"), "count": 0, "pages": 0}
    return {"page": {**body["page"], "totalElements": 0, "totalPages": 0}}


BREAKS = {"no page block": no_page_block, "no rows, no page block": no_rows_no_page_block,
          "empty by its own totals": empty_by_its_own_totals}


def queries_of(emu, path):
    """The distinct queries of `path`'s answers, in the order first asked."""
    seen = []
    for request in emu.requests:
        if request.path.endswith(path) or (path == "/threads" and request.path.endswith("/threads")):
            key = (request.path, request.raw_query)
            if key not in seen:
                seen.append(key)
    return seen


def positions(queries):
    return {"first": queries[0], "middle": queries[len(queries) // 2], "last": queries[-1]}


# A report's `end` is the moment of the run: the same request of another run has another one.
MOVING = ("end",)


def same_request(query, raw_query):
    from urllib.parse import parse_qsl
    other = dict(parse_qsl(raw_query, keep_blank_values=True))
    return {k: v for k, v in query.items() if k not in MOVING} == {k: v for k, v in other.items() if k not in MOVING}


def broken(target, rule, always):
    """A mangle that breaks the answers to one request (`target`: path and query): every time
    (`always`), or only the first time it is asked."""
    done = []

    def mangle(path, query, body):
        if path == target[0] and same_request(query, target[1]) and (always or not done):
            done.append(path)
            return rule(path, body)
        return body
    return mangle


@pytest.fixture(scope="module")
def accounts(tmp_path_factory):
    """For each kind, one emulated account (started on first use, for the module's tests on this
    worker) with its config, and the queries a clean run asks of the path whose answers break."""
    from tests.emulator import Emulator
    from tests.support.tap_runner import offline_catalog, write_config
    started = {}

    def get(kind):
        if kind not in started:
            streams, path, options, _ = KINDS[kind]
            emu = Emulator(**ACCOUNT, **options).start()
            config = write_config(emu, tmp_path_factory.mktemp(kind.replace(" ", "-")))
            run_tap(config, catalog=select(offline_catalog(), streams))
            started[kind] = (emu, config, queries_of(emu, path))
        emu, config, queries = started[kind]
        emu.mangle = None
        return emu, config, offline_catalog(), queries
    yield get
    for emu, _, _ in started.values():
        emu.stop()


CASES = [(kind, where, name) for kind in KINDS for where in ("first", "middle", "last") for name in BREAKS
         # An empty listing that says so of itself, asked first, is an empty listing: nothing
         # earlier says otherwise. And an answer with no rows and no page block fails as one with
         # rows and no page block does: once is enough.
         if not (where == "first" and name == "empty by its own totals")
         and not (where != "middle" and name == "no rows, no page block")]


@pytest.mark.parametrize("kind, where, name", CASES)
def test_an_answer_that_stays_broken_never_ends_in_success_with_a_row_missing(accounts, kind, where, name):
    """Either every row arrives (the listing found its rows through other requests: the report
    reads the window again in halves), or the stream fails with its bookmark kept and the other
    streams finish."""
    streams, path, options, failing = KINDS[kind]
    emu, config, catalog, queries = accounts(kind)
    emu.mangle = broken(positions(queries)[where], BREAKS[name], always=True)
    before = {"bookmarks": {}}
    run = run_tap(config, catalog=select(catalog, streams + ["users"]), state=before, check=False)
    assert "Traceback" not in run.stderr
    messages = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    users = [m for m in messages if m["type"] == "RECORD" and m["stream"] == "users"]
    assert len(users) == len(emu.data.users), "the other stream finished"
    if run.returncode == 0:
        counts = {}
        for m in messages:
            if m["type"] == "RECORD":
                counts[m["stream"]] = counts.get(m["stream"], 0) + 1
        expected = expected_row_counts(emu.data, "2019-01-01T00:00:00Z")
        assert all(counts.get(s, 0) == expected[s] for s in streams), f"exit 0 with rows missing: {counts}"
        return
    assert run.returncode == 1
    assert failing in run.stderr.strip().splitlines()[-1]
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    kept = (states[-1] if states else before)["bookmarks"].get(failing, {})
    assert not {k: v for k, v in kept.items() if k in ("updated_at", "created_at", "read_until")}, kept


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_answer_broken_once_is_read_again_and_every_row_arrives(accounts, kind):
    streams, path, options, _ = KINDS[kind]
    emu, config, catalog, queries = accounts(kind)
    for where, name in (("middle", "empty by its own totals"), ("last", "no page block")):
        emu.mangle = broken(positions(queries)[where], BREAKS[name], always=False)
        run = run_tap(config, catalog=select(catalog, streams))
        counts = run.record_counts()
        expected = expected_row_counts(emu.data, "2019-01-01T00:00:00Z")
        for stream in streams:
            assert counts.get(stream, 0) == expected[stream], (where, name, stream)
