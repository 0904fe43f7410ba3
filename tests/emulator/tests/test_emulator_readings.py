"""The emulator's stricter readings of the API (docs/api-readings.md), each an option that is off
by default: customer sort fields, thread counts, unstable tie order, the report's rating
default, the report status on the Standard plan, a maximum page depth, index lag, `query`
ranges; and the `mangle` hook for malformed answers."""
import json
from datetime import datetime, timezone

import pytest
import requests

from tests.support.api_client import ApiClient as Client
from tests.emulator import generate
from tests.emulator.dataset import iso, parse_iso
from tests.support.fake_clock import FakeClock

pytestmark = pytest.mark.timeout(60)

REPORT = {"start": "2019-01-01T00:00:00Z", "end": "2026-06-01T00:00:00Z"}


def assert_bad_request(response, path):
    assert response.status_code == 400 and response.headers["Content-Type"] == "application/vnd.error+json"
    body = response.json()
    assert {"logRef", "message", "_embedded"} <= set(body)
    assert body["_embedded"]["errors"][0]["path"] == path
    return body


def ids(items):
    return [item["id"] for item in items]


# ------------------------------------------------------------------------------------ customer sort

def test_customer_sort_strict_refuses_created_at(make_emulator):
    api = Client(make_emulator(conversations=20, customers=120, customer_sort_strict=True))
    refused = assert_bad_request(api.get("/customers", sortField="createdAt"), "sortField")
    assert refused["_embedded"]["errors"][0]["rejectedValue"] == "createdAt"
    assert_bad_request(api.get("/customers", sortField="email"), "sortField")
    for field in ("score", "firstName", "lastName", "modifiedAt"):
        assert api.get("/customers", sortField=field).status_code == 200
    customers = api.emu.data.customers
    by_default = ids(api.pages("/customers", "customers"))
    assert by_default == ids(api.pages("/customers", "customers", sortField="score"))
    assert by_default == [c["id"] for c in sorted(customers, key=lambda c: (c["createdAt"], c["id"]), reverse=True)]


def test_customers_accept_created_at_by_default(make_emulator):
    api = Client(make_emulator(conversations=20, customers=20))
    assert api.get("/customers", sortField="createdAt").status_code == 200


@pytest.mark.parametrize("inclusive", [False, True], ids=["strict", "inclusive"])
def test_modified_since_lists_rows_of_that_very_second_only_when_inclusive(make_emulator, inclusive):
    emu = make_emulator(conversations=30, customers=30, modified_since_inclusive=inclusive)
    api = Client(emu)
    customer = api.pages("/customers", "customers", sortField="modifiedAt")[10]
    listed = api.pages("/customers", "customers", sortField="modifiedAt", modifiedSince=customer["updatedAt"])
    assert (customer["id"] in ids(listed)) is inclusive
    conversation = emu.data.conversations[5]
    since = iso(emu.data.conversation_modified_at[conversation["id"]])
    listed = api.pages("/conversations", "conversations", status="all", modifiedSince=since)
    assert (conversation["id"] in ids(listed)) is inclusive


# ------------------------------------------------------------------------------------ thread count

def counted(threads):
    return sum(1 for t in threads if t["state"] == "published" and t["type"] != "lineitem")


def test_thread_count_published_only_leaves_out_line_items_and_drafts(make_emulator):
    emu = make_emulator(conversations=300, customers=160, thread_count_published_only=True)
    data, api = emu.data, Client(emu)
    for conv in data.conversations:
        assert conv["threads"] == counted(data.threads[conv["id"]])
    hidden = [c for c in data.conversations if len(data.threads[c["id"]]) > 25 >= c["threads"]]
    assert hidden, "conversations with more than 25 threads in all but 25 or fewer counted"
    assert any(c["threads"] < len(data.threads[c["id"]]) for c in data.conversations if c["threads"] > 25)
    for conv in hidden:
        item = api.json(f"/conversations/{conv['id']}", embed="threads")
        assert item["threads"] == conv["threads"] <= 25
        embedded = item["_embedded"]["threads"]
        assert len(embedded) == 25, "the embed still holds the 25 newest threads, whatever they are"
        assert any(t["type"] == "lineitem" or t["state"] == "draft" for t in embedded)
        listed = api.pages(f"/conversations/{conv['id']}/threads", "threads")
        assert len(listed) == len(data.threads[conv["id"]]) > 25, "the listing has every thread"
        assert {"lineitem"} <= {t["type"] for t in listed}
    chosen = hidden[0]["id"]
    before = data.conversation(chosen)["threads"]
    emu.add_thread(chosen, thread_type="lineitem")
    assert api.json(f"/conversations/{chosen}")["threads"] == before
    emu.add_thread(chosen, thread_type="customer")
    assert api.json(f"/conversations/{chosen}")["threads"] == before + 1


def test_thread_count_option_adds_threads_from_its_own_seeded_generator():
    plain = generate(seed=4, conversations=120)
    first, second = (generate(seed=4, conversations=120, thread_count_published_only=True) for _ in range(2))
    assert first.threads == second.threads and first.conversations == second.conversations
    assert plain.ratings == first.ratings and plain.customers == first.customers
    changed = [cid for cid in plain.threads if plain.threads[cid] != first.threads[cid]]
    assert 1 <= len(changed) <= 3
    for cid in changed:
        old = {t["id"] for t in plain.threads[cid]}
        assert old <= {t["id"] for t in first.threads[cid]}
        extra = [t for t in first.threads[cid] if t["id"] not in old]
        assert all(t["type"] == "lineitem" or t["state"] == "draft" for t in extra)


# ------------------------------------------------------------------------------------ ties

def test_unstable_ties_can_make_offset_paging_miss_rows(make_emulator):
    emu = make_emulator(conversations=30, customers=160, unstable_ties=True)
    api = Client(emu)
    everyone = {c["id"] for c in emu.data.customers}
    seen = api.pages("/customers", "customers")                     # createdAt desc; an import batch of 53
    assert len(seen) == len(everyone)
    assert everyone - set(ids(seen)), "a tie group across a page boundary lost rows"
    created = [c["createdAt"] for c in seen]
    assert created == sorted(created, reverse=True), "distinct values keep their order"


def test_ties_are_stable_by_default(make_emulator):
    emu = make_emulator(conversations=30, customers=160)
    api = Client(emu)
    assert set(ids(api.pages("/customers", "customers"))) == {c["id"] for c in emu.data.customers}
    assert api.json("/conversations", status="all", sortField="status") == \
        api.json("/conversations", status="all", sortField="status")


def test_unstable_ties_reorder_conversations_threads_and_the_report(make_emulator):
    emu = make_emulator(conversations=300, customers=160, unstable_ties=True)
    api, data = Client(emu), emu.data
    pages = [ids(api.json("/conversations", status="all", sortField="status", page=2)["_embedded"]["conversations"])
             for _ in range(3)]
    assert pages[0] != pages[1] or pages[1] != pages[2]
    statuses = [c["status"] for c in api.pages("/conversations", "conversations", status="all", sortField="status")]
    assert statuses == sorted(statuses, reverse=True)

    tied = next(cid for cid, threads in data.threads.items()
                if len({t["createdAt"] for t in threads}) < len(threads) <= 50)
    orders = {tuple(ids(api.json(f"/conversations/{tied}/threads")["_embedded"]["threads"])) for _ in range(12)}
    assert len(orders) > 1
    for order in orders:
        by_id = {t["id"]: t for t in data.threads[tied]}
        created = [by_id[i]["createdAt"] for i in order]
        assert created == sorted(created, reverse=True)

    report = [ids(api.json("/reports/happiness/ratings", **REPORT, sortField="rating", sortOrder="ASC")["results"])
              for _ in range(3)]
    assert report[0] != report[1] or report[1] != report[2]
    ratings = [r["ratingId"] for r in api.json("/reports/happiness/ratings", **REPORT, sortField="rating",
                                               sortOrder="ASC", page=5)["results"]]
    assert ratings == sorted(ratings)


def test_unstable_ties_are_seeded(make_emulator):
    def first_pages():
        api = Client(make_emulator(conversations=60, customers=160, unstable_ties=True, seed=9))
        return [ids(api.json("/customers", page=p).get("_embedded", {}).get("customers", [])) for p in (1, 2, 1)]

    assert first_pages() == first_pages()


# ------------------------------------------------------------------------------------ report

def test_report_rating_default_great(make_emulator):
    emu = make_emulator(conversations=300, customers=160, ratings=80, report_rating_default="great")
    api, ratings = Client(emu), emu.data.ratings

    def listed(**params):
        body = api.json("/reports/happiness/ratings", **REPORT, **params)
        rows = []
        for page in range(1, body["pages"] + 1):
            rows += api.json("/reports/happiness/ratings", **REPORT, **params, page=page)["results"]
        assert len(rows) == body["count"]
        return rows

    assert {r["ratingId"] for r in listed()} == {1}
    assert len(listed()) == sum(1 for r in ratings if r["ratingId"] == 1) < len(ratings)
    assert len(listed(rating="all")) == len(ratings)
    assert {r["ratingId"] for r in listed(rating="ok")} == {2}
    assert {r["ratingId"] for r in listed(rating="not-good")} == {3}
    assert_bad_request(api.get("/reports/happiness/ratings", **REPORT, rating="bad"), "rating")


def test_report_lists_every_rating_without_rating_by_default(make_emulator):
    emu = make_emulator(conversations=300, customers=160, ratings=80)
    api = Client(emu)
    assert api.json("/reports/happiness/ratings", **REPORT)["count"] == len(emu.data.ratings)
    great = api.json("/reports/happiness/ratings", **REPORT, rating="great")
    assert great["count"] == sum(1 for r in emu.data.ratings if r["ratingId"] == 1)


def test_reports_status_401_on_the_standard_plan(make_emulator):
    emu = make_emulator(conversations=10, customers=10, plan="standard", reports_status=401)
    api = Client(emu)
    refused = api.get("/reports/happiness/ratings", **REPORT)
    assert refused.status_code == 401 and refused.headers["Content-Type"] == "application/vnd.error+json"
    assert {"logRef", "message", "_links"} <= set(refused.json())
    assert api.get("/users").status_code == 200, "the same token works elsewhere"
    assert api.get("/conversations").status_code == 200
    plus = Client(make_emulator(conversations=10, customers=10, reports_status=401))
    assert plus.get("/reports/happiness/ratings", **REPORT).status_code == 200
    with pytest.raises(ValueError):
        make_emulator(conversations=10, customers=10, reports_status=200)


# ------------------------------------------------------------------------------------ page depth

def test_max_page_depth_refuses_deep_pages_of_search_backed_listings(make_emulator):
    emu = make_emulator(conversations=120, customers=160, max_page_depth=2)
    api = Client(emu)
    assert api.get("/conversations", status="all", page=2).status_code == 200
    for path in ("/conversations", "/customers"):
        for page in (3, 40):
            body = assert_bad_request(api.get(path, status="all", page=page), "page")
            assert body["message"] == "Result window is too large, page must be <= 2"
            assert body["_embedded"]["errors"][0]["rejectedValue"] == str(page)
    big = max(emu.data.threads, key=lambda cid: len(emu.data.threads[cid]))
    assert api.get(f"/conversations/{big}/threads", page=3).status_code == 200, "thread lists are not search-backed"
    unlimited = Client(make_emulator(conversations=120, customers=20))
    assert unlimited.get("/conversations", status="all", page=40).status_code == 200


# ------------------------------------------------------------------------------------ index lag

def test_index_lag_delays_what_listings_see_of_changes(make_emulator):
    emu = make_emulator(conversations=60, customers=40, index_lag_seconds=30)
    clock = emu.search_index.clock = FakeClock(5000.0)
    api, data = Client(emu), emu.data
    order = dict(status="all", sortField="modifiedAt", sortOrder="asc")
    before = ids(api.pages("/conversations", "conversations", **order))
    newest = iso(max(data.conversation_modified_at.values()))
    changed, deleted = before[0], before[5]
    deleted_item = api.json("/conversations", **order)["_embedded"]["conversations"][5]
    emu.modify_conversation(changed)
    created = emu.create_conversation()
    emu.delete_conversation(deleted)

    assert ids(api.pages("/conversations", "conversations", modifiedSince=newest, **order)) == []
    listed = api.pages("/conversations", "conversations", **order)
    assert ids(listed) == before, "old order, the deleted one still there, the created one not yet"
    assert listed[5] == deleted_item, "a deleted conversation is served as it was"
    assert api.json(f"/conversations/{changed}")["userUpdatedAt"] > newest, "content is current"
    assert api.get(f"/conversations/{deleted}").status_code == 404
    assert api.get(f"/conversations/{created}").status_code == 200
    clock.advance(29.5)
    assert ids(api.pages("/conversations", "conversations", modifiedSince=newest, **order)) == []
    clock.advance(0.5)
    assert ids(api.pages("/conversations", "conversations", modifiedSince=newest, **order)) == [changed, created]
    after = ids(api.pages("/conversations", "conversations", **order))
    assert deleted not in after and after[-2:] == [changed, created]


def test_index_lag_for_customers_and_hand_edits(make_emulator):
    emu = make_emulator(conversations=20, customers=60, index_lag_seconds=10)
    clock = emu.search_index.clock = FakeClock(5000.0)
    api, data = Client(emu), emu.data
    order = dict(sortField="modifiedAt", sortOrder="asc")
    newest = max(c["updatedAt"] for c in data.customers)
    modified = data.customers[3]["id"]
    emu.modify_customer(modified)
    created = emu.create_customer()
    gone = data.customers_without_conversations()[0]
    emu.delete_customer(gone)
    assert api.pages("/customers", "customers", modifiedSince=newest, **order) == []
    everyone = ids(api.pages("/customers", "customers"))
    assert gone in everyone and created not in everyone
    clock.advance(10)
    assert ids(api.pages("/customers", "customers", modifiedSince=newest, **order)) == [modified, created]
    assert gone not in ids(api.pages("/customers", "customers"))

    # a hand edit of the hidden time, announced with invalidate(), lags as well
    conv = data.conversations[0]
    data.conversation_modified_at[conv["id"]] = datetime.now(timezone.utc).replace(microsecond=0)
    emu.invalidate()
    since = iso(max(t for cid, t in data.conversation_modified_at.items() if cid != conv["id"]))
    assert api.pages("/conversations", "conversations", status="all", modifiedSince=since) == []
    clock.advance(10)
    assert ids(api.pages("/conversations", "conversations", status="all", modifiedSince=since)) == [conv["id"]]


def test_no_index_lag_by_default(make_emulator):
    emu = make_emulator(conversations=20, customers=20)
    assert emu.search_index is None
    newest = iso(max(emu.data.conversation_modified_at.values()))
    emu.modify_conversation(emu.data.conversations[0]["id"])
    assert len(Client(emu).pages("/conversations", "conversations", status="all", modifiedSince=newest)) == 1


# ------------------------------------------------------------------------------------ query ranges

@pytest.fixture(scope="module")
def ranged():
    from tests.emulator import Emulator
    with Emulator(seed=2, conversations=300, customers=160, query_ranges=True) as emu:
        yield emu


def listed_ids(api, path, key, **params):
    body = api.json(path, **params)
    items = api.pages(path, key, **params)
    assert body["page"]["totalElements"] == len(items)
    assert body["page"]["totalPages"] == -(-len(items) // body["page"]["size"])
    return set(ids(items))


def test_query_ranges_on_conversation_created_at(ranged):
    api, convs = Client(ranged), ranged.data.conversations
    created = sorted({c["createdAt"] for c in convs})
    low, high = created[40], created[120]

    def where(test):
        return {c["id"] for c in convs if test(c["createdAt"])}

    def q(text):
        return listed_ids(api, "/conversations", "conversations", status="all", query=text)

    assert q(f"(createdAt:[{low} TO {high}])") == where(lambda t: low <= t <= high)
    assert q(f"(createdAt:{{{low} TO {high}}})") == where(lambda t: low < t < high)
    assert q(f"(createdAt:[{low} TO {high}}})") == where(lambda t: low <= t < high)
    assert q(f"(createdAt:[{low} TO *])") == where(lambda t: t >= low)
    assert q(f"(createdAt:[* TO {high}])") == where(lambda t: t <= high)
    assert q(f"createdAt:[{low} TO {low}]") == where(lambda t: t == low)


def test_query_ranges_on_modified_at_and_number_combined(ranged):
    api, data = Client(ranged), ranged.data
    hidden = data.conversation_modified_at
    times = sorted(set(hidden.values()))
    low = times[100]
    numbers = sorted(c["number"] for c in data.conversations)
    first, last = numbers[50], numbers[250]
    expected = {c["id"] for c in data.conversations if hidden[c["id"]] >= low and first <= c["number"] <= last}
    both = f"(modifiedAt:[{iso(low)} TO *]) AND (number:[{first} TO {last}])"
    wrapped = f"(modifiedAt:[{iso(low)} TO *] AND number:[{first} TO {last}])"
    assert listed_ids(api, "/conversations", "conversations", status="all", query=both) == expected
    assert listed_ids(api, "/conversations", "conversations", status="all", query=wrapped) == expected
    assert listed_ids(api, "/conversations", "conversations", status="all", query=f"(number:{first})") == \
        {c["id"] for c in data.conversations if c["number"] == first}
    # ANDed with every other parameter
    since = times[150]
    closed = {c["id"] for c in data.conversations if c["id"] in expected and c["status"] == "closed"
              and hidden[c["id"]] > since}
    assert listed_ids(api, "/conversations", "conversations", status="closed", query=both,
                      modifiedSince=iso(since), sortField="modifiedAt", sortOrder="asc") == closed
    ordered = api.pages("/conversations", "conversations", status="all", query=both, sortField="number",
                        sortOrder="asc")
    assert [c["number"] for c in ordered] == sorted(c["number"] for c in data.conversations if c["id"] in expected)


def test_query_ranges_on_customers(ranged):
    api, customers = Client(ranged), ranged.data.customers
    updated = sorted({c["updatedAt"] for c in customers})
    low, high = updated[30], updated[90]
    assert listed_ids(api, "/customers", "customers", query=f"(modifiedAt:[{low} TO {high}])") == \
        {c["id"] for c in customers if low <= c["updatedAt"] <= high}
    created = sorted({c["createdAt"] for c in customers})
    text = f"(createdAt:{{{created[10]} TO *]) AND (modifiedAt:[* TO {high}])"
    assert listed_ids(api, "/customers", "customers", query=text) == \
        {c["id"] for c in customers if c["createdAt"] > created[10] and c["updatedAt"] <= high}


@pytest.mark.parametrize("text", ["", "createdAt", "(createdAt:[2024-01-01 TO *])", "(subject:\"refund\")",
                                  "(number:[1 TO 5]) OR (number:[9 TO 12])", "(number:[1 TO 5]", "number:[1 TO 5])",
                                  "(number:[a TO 5])", "(createdAt:[2024-02-30T00:00:00Z TO *])", "number:*",
                                  "(number:[1 TO 5]) and (number:[2 TO 3])", "NOT number:5"])
def test_malformed_queries_are_400_naming_the_query(ranged, text):
    response = Client(ranged).get("/conversations", query=text)
    body = assert_bad_request(response, "query")
    assert body["_embedded"]["errors"][0]["rejectedValue"] == text
    assert text in body["_embedded"]["errors"][0]["message"]


def test_number_ranges_are_only_for_conversations(ranged):
    assert_bad_request(Client(ranged).get("/customers", query="(number:[1 TO 5])"), "query")


def test_queries_are_refused_by_default(make_emulator):
    api = Client(make_emulator(conversations=10, customers=10))
    for path in ("/conversations", "/customers"):
        body = assert_bad_request(api.get(path, query="(createdAt:[* TO *])"), "query")
        assert "not supported" in body["_embedded"]["errors"][0]["message"]


# ------------------------------------------------------------------------------------ mangle

def test_mangle_rewrites_2xx_resource_answers(make_emulator):
    emu = make_emulator(conversations=30, customers=20)
    api, calls = Client(emu), []

    def mangle(path, query, body):
        calls.append((path, query))
        if path == "/v2/conversations":
            body["page"] = []
            body["_embedded"]["conversations"][0] = None
        return body

    emu.mangle = mangle
    response = api.get("/conversations", status="all", page="1")
    assert len(response.content) == int(response.headers["Content-Length"])
    body = response.json()
    assert body["page"] == [] and body["_embedded"]["conversations"][0] is None
    assert calls == [("/v2/conversations", {"status": "all", "page": "1"})]
    assert api.json("/users")["_embedded"]["users"], "the function decides what it changes"
    assert api.get("/nothing").status_code == 404 and len(calls) == 2, "errors are not mangled"
    token = requests.post(emu.base_url + "/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": emu.client_id, "client_secret": emu.client_secret})
    assert token.status_code == 200 and "access_token" in token.json() and len(calls) == 2

    emu.mangle = lambda path, query, body: {**body, "page": {**body["page"], "totalPages": float("nan")},
                                            "createdAt": 1e20}
    raw = api.get("/mailboxes")
    assert b'"totalPages": NaN' in raw.content and b"1e+20" in raw.content
    emu.mangle = lambda path, query, body: b'{"page": {"totalPages": "many"}, "_embedded": []}'
    verbatim = api.get("/mailboxes")
    assert verbatim.content == b'{"page": {"totalPages": "many"}, "_embedded": []}'
    assert int(verbatim.headers["Content-Length"]) == len(verbatim.content)
    emu.mangle = None
    assert "page" in api.json("/mailboxes")
    assert emu.errors == []


def test_mangled_bodies_keep_non_ascii_text(make_emulator):
    emu = make_emulator(conversations=30, customers=20)
    emu.mangle = lambda path, query, body: body
    api = Client(emu)
    item = api.json("/conversations", status="all")["_embedded"]["conversations"][0]
    emu.mangle = None
    assert item == api.json("/conversations", status="all")["_embedded"]["conversations"][0]
    assert json.dumps(item)
    assert parse_iso(item["createdAt"])


# ------------------------------------------------------------------------------------ command line

def test_command_line_flags_set_the_readings(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    config = tmp_path / "config.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--port", "0", "--conversations", "60", "--customers", "80",
         "--plan", "standard", "--reports-status", "401", "--customer-sort-strict", "--query-ranges",
         "--max-page-depth", "2", "--rate-window", "sliding", "--rate-limit", "500", "--organizations", "3",
         "--saved-replies-hal", "--config-out", str(config)],
        cwd=Path(__file__).resolve().parents[3], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base_url = process.stdout.readline().strip()
        settings = json.loads(config.read_text())
        access = requests.post(base_url + "/oauth2/token", data={
            "grant_type": "client_credentials", "client_id": settings["client_id"],
            "client_secret": settings["client_secret"]}, timeout=10).json()["access_token"]
        session = requests.Session()
        session.headers["Authorization"] = "Bearer " + access

        def get(path, **params):
            return session.get(base_url + path, params=params, timeout=10)

        assert get("/customers", sortField="createdAt").status_code == 400
        assert get("/customers", query="(createdAt:[* TO *])").status_code == 200
        assert get("/conversations", status="all", page=3).status_code == 400
        assert get("/reports/happiness/ratings", **REPORT).status_code == 401
        assert get("/organizations").json()["page"]["totalElements"] == 3
        mailbox = get("/mailboxes").json()["_embedded"]["mailboxes"][0]["id"]
        assert "savedReplies" in get(f"/mailboxes/{mailbox}/saved-replies").json()["_embedded"]
        assert get("/users").headers["X-RateLimit-Limit-Minute"] == "500"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


@pytest.mark.parametrize("options", [{"report_rating_default": "best"}, {"reports_status": 302},
                                     {"max_page_depth": 0}, {"index_lag_seconds": -1}, {"rate_window": "leaky"}])
def test_bad_option_values_are_refused(options):
    from tests.emulator import Emulator
    with pytest.raises(ValueError):
        Emulator(conversations=5, customers=5, **options)
