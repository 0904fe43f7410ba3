"""The emulator's specification, part 1: the dataset and every endpoint's shape, paging, links,
filters and sorting, checked against the examples of Help Scout's API documentation
(docs/sources.md lists the pages).

Part 2 (test_emulator_behaviour.py) covers OAuth2, 401s, rate limits, faults, drift, the
command line and speed.
"""
import re
from datetime import datetime, timezone

import pytest

from tests.support.api_client import ApiClient as Client, embedded
from tests.emulator import Emulator, generate
from tests.emulator.dataset import parse_iso

pytestmark = pytest.mark.timeout(60)

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
PAGE_KEYS = {"size", "totalElements", "totalPages", "number"}


@pytest.fixture(scope="module")
def emu():
    """One read-only emulator for this module (tests that change data start their own)."""
    with Emulator(seed=1, conversations=300, customers=160) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def api(emu):
    return Client(emu)


def assert_timestamp(value):
    assert isinstance(value, str) and TIMESTAMP.match(value), value
    assert parse_iso(value) < datetime.now(timezone.utc)


# ------------------------------------------------------------------------------------ dataset

def test_dataset_is_deterministic_from_the_seed():
    first, second, other = generate(seed=7, conversations=60), generate(seed=7, conversations=60), generate(seed=8, conversations=60)
    assert first.conversations == second.conversations and first.threads == second.threads
    assert first.customers == second.customers and first.ratings == second.ratings
    assert first.conversation_modified_at == second.conversation_modified_at
    assert first.conversations != other.conversations


def test_dataset_has_the_traps_a_tap_must_survive(emu):
    data = emu.data
    conversations = data.conversations
    assert all(c["id"] > 2**31 for c in conversations)
    assert all(t["id"] > 2**31 for threads in data.threads.values() for t in threads)
    assert all(c["id"] > 2**31 for c in data.customers)
    assert {c["status"] for c in conversations} == {"active", "pending", "closed", "spam"}
    assert {c["type"] for c in conversations} == {"email", "chat", "phone"}
    created = [c["createdAt"] for c in conversations]
    assert len(set(created)) < len(created), "some conversations share a createdAt"
    modified = list(data.conversation_modified_at.values())
    assert max(modified.count(m) for m in modified) > 1, "a bulk change gives several the same modification time"
    customer_created = [c["createdAt"] for c in data.customers]
    assert max(customer_created.count(c) for c in customer_created) > 50, "an import batch larger than a page"
    sizes = sorted(len(t) for t in data.threads.values())
    assert sum(1 for s in sizes if s > 25) >= 3 and sum(1 for s in sizes if s > 50) >= 2
    assert any("assignee" not in c for c in conversations) and any("assignee" in c for c in conversations)
    for conv in conversations:
        closed = conv["status"] == "closed"
        assert ("closedAt" in conv) == closed and ("closedBy" in conv) == closed
        assert conv["threads"] == len(data.threads[conv["id"]])
        for key in ("createdAt", "userUpdatedAt", "closedAt"):
            if key in conv:
                assert_timestamp(conv[key])
        hidden = data.conversation_modified_at[conv["id"]]
        assert hidden >= max(parse_iso(conv["userUpdatedAt"]), parse_iso(conv["customerWaitingSince"]["time"]))
    assert any(c.get("closedBy") == 0 and "closedByUser" not in c for c in conversations)
    thread_types = {t["type"] for threads in data.threads.values() for t in threads}
    assert {"customer", "reply", "note", "lineitem", "chat", "phone"} <= thread_types
    bodies = " ".join(t.get("body", "") for threads in data.threads.values() for t in threads)
    assert "<p>" in bodies and "注文" in bodies and "\u2028" in bodies and "🙂" in bodies
    assert any("_embedded" in t for threads in data.threads.values() for t in threads), "attachments"
    assert any("_embedded" not in c for c in data.customers)
    assert any(c.get("_embedded", {}).get("emails") == [] for c in data.customers)
    assert any("_embedded" in c and "phones" not in c["_embedded"] for c in data.customers)
    custom = [f for c in conversations for f in c["customFields"]]
    dropdowns = {f["id"]: f for fields in data.fields.values() for f in fields if f["type"] == "dropdown"}
    for value in custom:
        if value["id"] in dropdowns:
            option = next(o for o in dropdowns[value["id"]]["options"] if str(o["id"]) == value["value"])
            assert value["text"] == option["label"]
    assert all(set(r) == {"number", "threadid", "threadCreatedAt", "id", "type", "ratingId", "ratingCustomerId",
                          "ratingComments", "ratingCreatedAt", "ratingCustomerName", "ratingUserId",
                          "ratingUserName"} for r in data.ratings)
    assert {r["ratingId"] for r in data.ratings} == {1, 2, 3}
    assert all("_links" not in c for c in conversations), "links are added when serving"


# ------------------------------------------------------------------------------------ conversations

def test_conversation_items_have_the_documented_shape(api, emu):
    body = api.json("/conversations", status="all")
    assert set(body) == {"_embedded", "_links", "page"}
    assert set(body["page"]) == PAGE_KEYS and body["page"]["size"] == 25
    items = embedded(body, "conversations")
    assert len(items) == 25
    required = {"id", "number", "threads", "type", "folderId", "status", "state", "subject", "preview",
                "mailboxId", "createdBy", "createdAt", "userUpdatedAt", "customerWaitingSince", "source",
                "tags", "cc", "bcc", "primaryCustomer", "customFields", "_links"}
    for item in items:
        assert required <= set(item), required - set(item)
        assert "_embedded" not in item, "threads are embedded only with embed=threads"
        assert "modifiedAt" not in item and "updatedAt" not in item, "v2 conversations have no modifiedAt"
        assert isinstance(item["id"], int) and isinstance(item["number"], int) and isinstance(item["threads"], int)
        assert set(item["customerWaitingSince"]) >= {"time", "friendly"}
        assert set(item["source"]) == {"type", "via"}
        for tag in item["tags"]:
            assert set(tag) == {"id", "color", "tag"}
        for field in item["customFields"]:
            assert set(field) == {"id", "name", "value", "text"} and isinstance(field["value"], str)
        assert set(item["primaryCustomer"]) >= {"id", "type", "first", "last"}
        links = item["_links"]
        assert {"self", "mailbox", "primaryCustomer", "threads", "web"} <= set(links)
        assert ("createdByCustomer" in links) == (item["createdBy"]["type"] == "customer")
        assert ("assignee" in links) == ("assignee" in item)
        assert links["self"]["href"] == f"{emu.base_url}/conversations/{item['id']}"


def test_default_status_is_active_and_status_all_lists_everything(api, emu):
    by_status = {}
    for conv in emu.data.conversations:
        by_status[conv["status"]] = by_status.get(conv["status"], 0) + 1
    assert api.json("/conversations")["page"]["totalElements"] == by_status["active"]
    assert {c["status"] for c in api.all_items("/conversations", "conversations")} == {"active"}
    assert api.json("/conversations", status="all")["page"]["totalElements"] == len(emu.data.conversations)
    for status in ("pending", "closed", "spam"):
        assert api.json("/conversations", status=status)["page"]["totalElements"] == by_status[status]
    assert api.json("/conversations", status="open")["page"]["totalElements"] == by_status["active"] + by_status["pending"]


def test_paging_links_keep_the_query_and_replace_page(api, emu):
    first = api.json("/conversations", status="all", sortField="modifiedAt", sortOrder="asc")
    links = first["_links"]
    assert "previous" not in links and "next" in links
    assert links["self"]["href"] == f"{emu.base_url}/conversations?status=all&sortField=modifiedAt&sortOrder=asc&page=1"
    assert links["next"]["href"].endswith("sortOrder=asc&page=2")
    assert links["last"]["href"].endswith(f"page={first['page']['totalPages']}")
    assert links["page"] == {"href": f"{emu.base_url}/conversations?status=all&sortField=modifiedAt&sortOrder=asc{{&page}}",
                             "templated": True}
    everything = api.all_items("/conversations", "conversations", status="all", sortField="modifiedAt", sortOrder="asc")
    assert len(everything) == len({c["id"] for c in everything}) == len(emu.data.conversations)
    last_page = first["page"]["totalPages"]
    last = api.json("/conversations", status="all", page=last_page)
    assert "next" not in last["_links"] and "previous" in last["_links"]
    beyond = api.json("/conversations", status="all", page=last_page + 1)
    assert "_embedded" not in beyond, "a page past the end is 200 without _embedded"
    assert beyond["page"] == {"size": 25, "totalElements": len(emu.data.conversations),
                              "totalPages": last_page, "number": last_page + 1}


def test_the_taps_hand_built_query_string_is_accepted(api, emu):
    # `?&page=1` (empty first parameter) and unencoded colons, exactly as tap-helpscout 1.x sends
    url = f"{emu.base_url}/conversations?&status=all&modifiedSince=2019-01-01T00:00:00Z&page=1"
    response = api.session.get(url)
    assert response.status_code == 200
    assert response.json()["_links"]["self"]["href"] == \
        f"{emu.base_url}/conversations?status=all&modifiedSince=2019-01-01T00:00:00Z&page=1"


def test_sorting_with_id_as_tiebreaker(api, emu):
    data = emu.data
    default = [c["id"] for c in api.all_items("/conversations", "conversations", status="all")]
    assert default == [c["id"] for c in sorted(data.conversations, key=lambda c: (c["createdAt"], c["id"]), reverse=True)]
    by_modified = [c["id"] for c in api.all_items("/conversations", "conversations", status="all",
                                                  sortField="modifiedAt", sortOrder="asc")]
    hidden = data.conversation_modified_at
    assert by_modified == sorted(hidden, key=lambda i: (hidden[i], i))
    numbers = [c["number"] for c in api.all_items("/conversations", "conversations", status="all",
                                                  sortField="number", sortOrder="asc")]
    assert numbers == sorted(numbers)
    for field in ("customerEmail", "customerName", "mailboxid", "score", "status", "subject", "waitingSince"):
        assert api.get("/conversations", sortField=field).status_code == 200


def test_modified_since_is_strictly_after_the_hidden_modification_time(api, emu):
    hidden = emu.data.conversation_modified_at
    times = sorted(hidden.values())
    shared = max(set(times), key=times.count)                  # the bulk-closed group
    since = shared.strftime("%Y-%m-%dT%H:%M:%SZ")
    listed = {c["id"] for c in api.all_items("/conversations", "conversations", status="all", modifiedSince=since)}
    assert listed == {i for i, t in hidden.items() if t > shared}
    assert not listed & {i for i, t in hidden.items() if t == shared}


@pytest.mark.parametrize("value", ["2019-01-01T00:00:00.000Z", "2019-01-01T00:00:00+00:00", "2019-01-01",
                                   "yesterday", "2019-13-01T00:00:00Z", ""])
def test_malformed_modified_since_is_a_400_vnd_error(api, value):
    response = api.get("/conversations", modifiedSince=value)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/vnd.error+json"
    body = response.json()
    assert {"logRef", "message", "_embedded"} <= set(body)
    assert body["_embedded"]["errors"][0]["path"] == "modifiedSince"
    assert body["_embedded"]["errors"][0]["rejectedValue"] == value


@pytest.mark.parametrize("params", [{"status": "Wrong"}, {"sortField": "modifiedat"}, {"sortOrder": "up"},
                                    {"embed": "customers"}, {"page": "0"}, {"page": "x"}, {"mailbox": "a,b"}])
def test_bad_conversation_parameters_are_400(api, params):
    response = api.get("/conversations", **params)
    assert response.status_code == 400 and response.headers["Content-Type"] == "application/vnd.error+json"
    assert response.json()["_embedded"]["errors"][0]["path"] == next(iter(params))


def test_conversation_filters(api, emu):
    data = emu.data
    mailbox = data.mailboxes[0]["id"]
    assert {c["mailboxId"] for c in api.all_items("/conversations", "conversations", status="all",
                                                  mailbox=str(mailbox))} == {mailbox}
    tagged = api.all_items("/conversations", "conversations", status="all", tag="vip,bug")
    assert tagged and all({t["tag"] for t in c["tags"]} & {"vip", "bug"} for c in tagged)
    conv = data.conversations[5]
    assert [c["id"] for c in embedded(api.json("/conversations", status="all", number=conv["number"]),
                                      "conversations")] == [conv["id"]]
    assignee = next(c["assignee"]["id"] for c in data.conversations if "assignee" in c)
    assert all(c["assignee"]["id"] == assignee
               for c in api.all_items("/conversations", "conversations", status="all", assigned_to=assignee))
    field = next(f for c in data.conversations for f in c["customFields"])
    matched = api.all_items("/conversations", "conversations", status="all",
                            customFieldsByIds=f"{field['id']}:{field['value']}")
    assert matched and all(any(f["id"] == field["id"] and f["value"] == field["value"] for f in c["customFields"])
                           for c in matched)


def test_embed_threads_newest_first_capped_at_25_and_chats_truncated(api, emu):
    data = emu.data
    items = api.all_items("/conversations", "conversations", status="all", embed="threads")
    assert len(items) == len(data.conversations)
    for item in items:
        threads = item["_embedded"]["threads"]
        newest_first = sorted(data.threads[item["id"]], key=lambda t: (t["createdAt"], t["id"]), reverse=True)
        cap = 3 if item["type"] == "chat" else 25
        assert [t["id"] for t in threads] == [t["id"] for t in newest_first[:cap]]
    assert any(len(i["_embedded"]["threads"]) < i["threads"] for i in items if i["type"] == "chat")
    assert any(i["threads"] > 25 and len(i["_embedded"]["threads"]) == 25 for i in items if i["type"] != "chat")


def test_thread_list_newest_first_50_per_page(api, emu):
    data = emu.data
    big = max(data.threads, key=lambda cid: len(data.threads[cid]))
    assert len(data.threads[big]) > 100
    first = api.json(f"/conversations/{big}/threads")
    assert first["page"]["size"] == 50 and first["page"]["totalPages"] == 3
    listed = api.all_items(f"/conversations/{big}/threads", "threads")
    expected = sorted(data.threads[big], key=lambda t: (t["createdAt"], t["id"]), reverse=True)
    assert [t["id"] for t in listed] == [t["id"] for t in expected]
    created = [t["createdAt"] for t in listed]
    assert created == sorted(created, reverse=True)


def test_thread_items_have_the_documented_shape(api, emu):
    data = emu.data
    with_attachment = next(cid for cid, threads in data.threads.items() if any("_embedded" in t for t in threads))
    threads = api.all_items(f"/conversations/{with_attachment}/threads", "threads")
    for thread in threads:
        assert {"id", "type", "status", "state", "source", "createdBy", "createdAt", "_links"} <= set(thread)
        assert_timestamp(thread["createdAt"])
        if thread["type"] == "lineitem":
            assert set(thread["action"]) == {"type", "text", "associatedEntities"}
    attachment = next(a for t in threads for a in t.get("_embedded", {}).get("attachments", []))
    assert {"id", "filename", "mimeType", "size", "_links"} <= set(attachment)
    assert attachment["_links"]["data"]["href"].startswith(f"{emu.base_url}/conversations/{with_attachment}/attachments/")
    stored = {t["id"]: t for t in data.threads[with_attachment]}
    for thread in threads:
        assert thread.get("body") == stored[thread["id"]].get("body"), "bodies arrive byte for byte (non-ASCII)"


def test_thread_list_ignores_stray_params_and_404s_unknown_conversations(api, emu):
    conv = emu.data.conversations[0]["id"]
    assert api.get(f"/conversations/{conv}/threads", start="2019-01-01T00:00:00Z", end="x").status_code == 200
    assert api.get("/conversations/1/threads").status_code == 404
    assert api.get(f"/conversations/{conv}").json()["id"] == conv


# ------------------------------------------------------------------------------------ customers

def test_customer_items_have_the_documented_shape(api, emu):
    body = api.json("/customers")
    assert body["page"]["size"] == 50 and body["page"]["totalElements"] == len(emu.data.customers)
    items = api.all_items("/customers", "customers")
    assert len(items) == len(emu.data.customers)
    for item in items:
        assert {"id", "firstName", "lastName", "photoUrl", "createdAt", "updatedAt", "_links"} <= set(item)
        assert "social-profiles" in item["_links"] and "social_profiles" not in item["_links"]
        for key, value in item.get("_embedded", {}).items():
            assert key in {"emails", "phones", "chats", "social_profiles", "websites", "address", "properties"}
            if key == "address":
                assert {"city", "state", "postalCode", "country", "lines"} == set(value)
            elif key != "properties":
                assert all({"id", "value"} <= set(entry) for entry in value)
    created = [(c["createdAt"], c["id"]) for c in items]
    assert created == sorted(created, reverse=True), "default order createdAt desc"


def test_customer_modified_since_and_sorting(api, emu):
    customers = emu.data.customers
    pivot = sorted(c["updatedAt"] for c in customers)[len(customers) // 2]
    listed = api.all_items("/customers", "customers", modifiedSince=pivot, sortField="modifiedAt", sortOrder="asc")
    assert [c["id"] for c in listed] == [c["id"] for c in sorted(customers, key=lambda c: (c["updatedAt"], c["id"]))
                                         if c["updatedAt"] > pivot]
    assert api.get("/customers", sortField="email").status_code == 400
    assert api.get("/customers", modifiedSince="2019-01-01T00:00:00.123Z").status_code == 400
    names = [c["lastName"] for c in api.all_items("/customers", "customers", sortField="lastName", sortOrder="asc")]
    assert names == sorted(names)
    one = customers[0]
    assert api.json(f"/customers/{one['id']}")["id"] == one["id"]


# ------------------------------------------------------------------------------------ small lists

def test_mailboxes_fields_and_folders(api, emu):
    mailboxes = embedded(api.json("/mailboxes", page=1), "mailboxes")
    assert [m["id"] for m in mailboxes] == sorted(m["id"] for m in emu.data.mailboxes)
    for mailbox in mailboxes:
        assert set(mailbox) == {"id", "name", "slug", "email", "createdAt", "updatedAt", "_links"}
        assert re.fullmatch(r"[0-9a-f]{16}", mailbox["slug"])
        assert set(mailbox["_links"]) == {"self", "folders", "fields"}
        fields = api.json(mailbox["_links"]["fields"]["href"])
        assert set(fields["page"]) == PAGE_KEYS
        for field in embedded(fields, "fields"):
            assert set(field) == {"id", "required", "order", "type", "name", "options"}
            assert (field["options"] != []) == (field["type"] == "dropdown")
        folders = embedded(api.json(mailbox["_links"]["folders"]["href"]), "folders")
        assert folders and all(set(f) == {"id", "name", "type", "userId", "totalCount", "activeCount", "updatedAt",
                                          "_links"} for f in folders)
    empty = next(m for m in emu.data.mailboxes if not emu.data.fields[m["id"]])
    body = api.json(f"/mailboxes/{empty['id']}/fields")
    assert "_embedded" not in body and body["page"]["totalElements"] == 0 and body["page"]["totalPages"] == 0


def test_users_teams_members_workflows_tags(api, emu):
    users = embedded(api.json("/users"), "users")
    assert {u["role"] for u in users} == {"owner", "admin", "user", "light user"}
    for user in users:
        assert {"id", "firstName", "lastName", "email", "role", "timezone", "photoUrl", "createdAt", "updatedAt",
                "type", "mention", "initials", "_links"} <= set(user)
    assert [u["id"] for u in embedded(api.json("/users", email=users[1]["email"]), "users")] == [users[1]["id"]]
    teams = embedded(api.json("/teams"), "teams")
    for team in teams:
        assert set(team) == {"id", "name", "timezone", "mention", "initials", "photoUrl", "createdAt", "updatedAt",
                             "_links"}
        members = api.json(team["_links"]["teamMembers"]["href"])
        expected = emu.data.members[team["id"]]
        assert [u["id"] for u in embedded(members, "users")] == expected
        assert all("firstName" in u and "role" in u for u in embedded(members, "users")), "full user objects"
        if not expected:
            assert "_embedded" not in members
    workflows = embedded(api.json("/workflows"), "workflows")
    assert {w["type"] for w in workflows} == {"manual", "automatic"}
    assert {w["status"] for w in workflows} == {"active", "inactive", "invalid"}
    assert all(set(w) == {"id", "mailboxId", "type", "status", "order", "name", "createdAt", "modifiedAt", "_links"}
               for w in workflows)
    assert all(w["type"] == "manual" for w in embedded(api.json("/workflows", type="manual"), "workflows"))
    assert api.get("/workflows", type="sometimes").status_code == 400
    tags = embedded(api.json("/tags"), "tags")
    assert all({"id", "name", "slug", "color", "createdAt", "updatedAt", "ticketCount"} <= set(t) for t in tags)
    counts = {t["name"]: t["ticketCount"] for t in tags}
    for name in counts:
        assert counts[name] == sum(1 for c in emu.data.conversations if any(t["tag"] == name for t in c["tags"]))


# ------------------------------------------------------------------------------------ report

def test_happiness_ratings_report_shape_and_paging(api, emu):
    start, end = "2019-01-01T00:00:00Z", "2026-06-01T00:00:00Z"
    response = api.get("/reports/happiness/ratings", start=start, end=end, page=1)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"facets", "results", "page", "count", "pages"}
    assert body["count"] == len(emu.data.ratings) and body["pages"] == -(-body["count"] // 10)
    assert len(body["results"]) == 10 and body["page"] == 1
    item = body["results"][0]
    assert "threadid" in item and "threadId" not in item
    assert isinstance(item["id"], int) and isinstance(item["threadid"], int)
    collected = []
    for page in range(1, body["pages"] + 2):
        collected += api.json("/reports/happiness/ratings", start=start, end=end, page=page)["results"]
    assert len(collected) == body["count"]


def test_happiness_ratings_range_is_half_open(api, emu):
    moment = emu.data.ratings[0]["ratingCreatedAt"]
    at = [r for r in emu.data.ratings if r["ratingCreatedAt"] == moment]
    ending_there = api.json("/reports/happiness/ratings", start="2019-01-01T00:00:00Z", end=moment)
    starting_there = api.json("/reports/happiness/ratings", start=moment, end="2026-06-01T00:00:00Z")
    assert ending_there["count"] + starting_there["count"] == len(emu.data.ratings)
    assert starting_there["count"] >= len(at)


@pytest.mark.parametrize("params", [{}, {"start": "2019-01-01T00:00:00Z"}, {"end": "2026-01-01T00:00:00Z"},
                                    {"start": "2019-01-01", "end": "2026-01-01T00:00:00Z"},
                                    {"start": "2019-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z", "rating": "bad"}])
def test_happiness_ratings_bad_params_are_400(api, params):
    response = api.get("/reports/happiness/ratings", **params)
    assert response.status_code == 400 and response.headers["Content-Type"] == "application/vnd.error+json"


def test_reports_are_403_on_the_standard_plan(make_emulator):
    emu = make_emulator(plan="standard", conversations=10, customers=10)
    response = Client(emu).get("/reports/happiness/ratings", start="2019-01-01T00:00:00Z", end="2026-01-01T00:00:00Z")
    assert response.status_code == 403
    assert Client(emu).get("/conversations").status_code == 200


def test_unknown_paths_are_404(api):
    for path in ("/nothing", "/conversations/abc", "/mailboxes/1/fields", "/teams/1/members", "/reports/unknown"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert "message" in response.json()
