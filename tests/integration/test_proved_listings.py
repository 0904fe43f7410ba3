"""A listing's answer is proved, never trusted: an answer without its paging block, or without
rows where its own totals or the listing's earlier answers say rows are, is read again; an
answer that stays so fails that stream with its bookmark kept, and the other streams finish.
Every listing kind, with such answers at its first, a middle and its last request: either every
row arrives, or the run exits non-zero with the bookmark where it was. Never exit 0 with a row
missing."""
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


def broken(target, rule, always):
    """A mangle that breaks the answers to one request (`target`: path and query): every time
    (`always`), or only the first time it is asked."""
    done = []

    def mangle(path, query, body):
        request = (path, "&".join(f"{k}={v}" for k, v in query.items()))
        if path == target[0] and query == dict(_pairs(target[1])) and (always or not done):
            done.append(request)
            return rule(path, body)
        return body
    return mangle


def _pairs(raw_query):
    from urllib.parse import parse_qsl
    return parse_qsl(raw_query, keep_blank_values=True)


@pytest.fixture(scope="module")
def clean_runs(tmp_path_factory):
    """For each kind: the queries a clean run asks of the broken path (started once per kind)."""
    from tests.emulator import Emulator
    from tests.support.tap_runner import offline_catalog, write_config
    found = {}
    for kind, (streams, path, options, _) in KINDS.items():
        with Emulator(**ACCOUNT, **options).start() as emu:
            config = write_config(emu, tmp_path_factory.mktemp(kind.replace(" ", "-")))
            run_tap(config, catalog=select(offline_catalog(), streams))
            found[kind] = queries_of(emu, path)
    return found


CASES = [(kind, where, name) for kind in KINDS for where in ("first", "middle", "last") for name in BREAKS
         # An empty listing that says so of itself, asked first, is an empty listing: nothing
         # earlier says otherwise.
         if not (where == "first" and name == "empty by its own totals")]


@pytest.mark.parametrize("kind, where, name", CASES)
def test_an_answer_that_stays_broken_fails_its_stream_with_the_bookmark_kept(account, clean_runs, kind, where, name):
    streams, path, options, failing = KINDS[kind]
    emu, config, catalog = account(**ACCOUNT, **options)
    target = positions(clean_runs[kind])[where]
    emu.mangle = broken(target, BREAKS[name], always=True)
    before = {"bookmarks": {}}
    run = run_tap(config, catalog=select(catalog, streams + ["users"]), state=before, check=False)
    assert run.returncode == 1, f"a broken answer was trusted:\n{run.stderr[-2000:]}"
    last_line = run.stderr.strip().splitlines()[-1]
    assert failing in last_line and "Traceback" not in run.stderr
    states = [line for line in run.stdout.splitlines() if '"type":"STATE"' in line]
    import json
    last_state = json.loads(states[-1])["value"] if states else before
    kept = last_state["bookmarks"].get(failing, {})
    assert not {k: v for k, v in kept.items() if k in ("updated_at", "created_at", "read_until")}, kept
    users = [json.loads(line) for line in run.stdout.splitlines() if '"stream":"users"' in line]
    assert len([m for m in users if m["type"] == "RECORD"]) == len(emu.data.users), "the other stream finished"


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_answer_broken_once_is_read_again_and_every_row_arrives(account, clean_runs, kind):
    streams, path, options, _ = KINDS[kind]
    emu, config, catalog = account(**ACCOUNT, **options)
    for where, name in (("middle", "empty by its own totals"), ("last", "no page block")):
        emu.mangle = broken(positions(clean_runs[kind])[where], BREAKS[name], always=False)
        run = run_tap(config, catalog=select(catalog, streams))
        counts = run.record_counts()
        expected = expected_row_counts(emu.data, "2019-01-01T00:00:00Z")
        for stream in streams:
            assert counts.get(stream, 0) == expected[stream], (where, name, stream)
