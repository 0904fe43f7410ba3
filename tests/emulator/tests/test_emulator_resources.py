"""The emulator's endpoints beyond the original eleven streams (tags, organizations, customer
properties, saved replies, users/me), the authorization page of the OAuth code flow, and the
changes a test makes between runs (deletions and additions)."""
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.api_client import ApiClient as Client, embedded
from tests.emulator import Emulator, generate

pytestmark = pytest.mark.timeout(60)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
PAGE_KEYS = {"size", "totalElements", "totalPages", "number"}
ORGANIZATION_KEYS = {"id", "name", "website", "description", "location", "logoUrl", "note", "domains", "phones",
                     "brandColor", "customerCount", "conversationCount", "_links"}


@pytest.fixture(scope="module")
def emu():
    with Emulator(seed=1, conversations=300, customers=160, mailboxes=4, organizations=14,
                  tags_never_updated=3) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def api(emu):
    return Client(emu)


def token(emu, **form):
    return requests.post(emu.base_url + "/oauth2/token", timeout=10,
                         data={"client_id": emu.client_id, "client_secret": emu.client_secret, **form})


# ------------------------------------------------------------------------------------ tags

def test_tags_alphabetical_50_per_page_updated_at_absent_when_never_updated(make_emulator):
    emu = make_emulator(conversations=120, customers=60, tags_never_updated=2)
    api = Client(emu)
    for k in range(45):
        emu.add_tag(f"Zz added {k:02d}" if k % 2 else f"aa added {k:02d}")
    first = api.json("/tags")
    assert set(first) == {"_embedded", "_links", "page"} and set(first["page"]) == PAGE_KEYS
    assert first["page"] == {"size": 50, "totalElements": 57, "totalPages": 2, "number": 1}
    assert len(embedded(first, "tags")) == 50
    tags = api.pages("/tags", "tags")
    names = [t["name"] for t in tags]
    assert names == sorted(names, key=str.casefold) and len(names) == 57
    never = [t for t in tags if "updatedAt" not in t]
    assert len(never) == 2 + 45, "two generated tags and every added one were never updated"
    for tag in tags:
        assert {"id", "slug", "name", "color", "createdAt", "ticketCount", "_links"} <= set(tag)
        assert set(tag) - {"updatedAt"} == {"id", "slug", "name", "color", "createdAt", "ticketCount", "_links"}
        assert tag["ticketCount"] == sum(1 for c in emu.data.conversations if any(t["id"] == tag["id"] for t in c["tags"]))
        assert tag["_links"]["self"]["href"] == f"{emu.base_url}/tags/{tag['id']}"
    assert api.json(f"/tags/{tags[0]['id']}")["name"] == tags[0]["name"]
    assert api.get("/tags/1").status_code == 404


def test_every_generated_tag_has_updated_at_by_default():
    assert all("updatedAt" in t for t in generate(seed=1, conversations=30).tags)


# ------------------------------------------------------------------------------------ organizations

def test_organizations_shape_and_counts_follow_the_dataset(api, emu):
    data = emu.data
    body = api.json("/organizations")
    assert body["page"] == {"size": 50, "totalElements": 14, "totalPages": 1, "number": 1}
    items = embedded(body, "organizations")
    members = {}
    for cust in data.customers:
        if "organizationId" in cust:
            assert isinstance(cust["organizationId"], int)
            members.setdefault(cust["organizationId"], set()).add(cust["id"])
    assert members and any("organizationId" not in c for c in data.customers)
    by_id = {o["id"]: o for o in data.organizations}
    for cust in data.customers:
        if "organizationId" in cust:
            assert by_id[cust["organizationId"]]["name"] == cust["organization"]
    for item in items:
        assert ORGANIZATION_KEYS <= set(item) <= ORGANIZATION_KEYS | {"lastInteractionAt"}
        assert isinstance(item["domains"], list) and isinstance(item["phones"], list)
        assert item["customerCount"] == len(members.get(item["id"], ()))
        convs = [c for c in data.conversations if c["primaryCustomer"]["id"] in members.get(item["id"], ())]
        assert item["conversationCount"] == len(convs)
        if convs:
            assert item["lastInteractionAt"] == max(max(c["userUpdatedAt"], c["customerWaitingSince"]["time"])
                                                    for c in convs)
        else:
            assert "lastInteractionAt" not in item
        assert item["_links"]["self"]["href"] == f"{emu.base_url}/organizations/{item['id']}"
    assert any(i["customerCount"] == 0 for i in items), "more organizations than the customers' company names"
    last = [i.get("lastInteractionAt", "") for i in items]
    assert last == sorted(last, reverse=True), "default sort lastInteractionAt,desc"


def test_organizations_sort_and_single_get(api, emu):
    for field in ("name", "customerCount", "conversationCount", "lastInteractionAt"):
        for order in ("asc", "desc"):
            items = embedded(api.json("/organizations", sort=f"{field},{order}"), "organizations")
            values = [i["name"].casefold() if field == "name" else i.get(field, "") for i in items]
            assert values == sorted(values, reverse=order == "desc"), (field, order)
    assert [i["name"] for i in embedded(api.json("/organizations", sort="name"), "organizations")] == \
        sorted((o["name"] for o in emu.data.organizations), key=str.casefold)
    for bad in ("size,asc", "name,up"):
        assert api.get("/organizations", sort=bad).status_code == 400
    organization = next(o for o in emu.data.organizations
                        if any(c.get("organizationId") == o["id"] for c in emu.data.customers))
    plain = api.json(f"/organizations/{organization['id']}")
    assert "customerCount" not in plain and plain["name"] == organization["name"]
    counted = api.json(f"/organizations/{organization['id']}", includeCounts="true")
    listed = next(i for i in embedded(api.json("/organizations"), "organizations") if i["id"] == organization["id"])
    assert counted == listed
    assert api.get("/organizations/1").status_code == 404
    customers = api.pages(f"/organizations/{organization['id']}/customers", "customers")
    assert len(customers) == listed["customerCount"]
    assert all(c["organizationId"] == organization["id"] for c in customers)
    conversations = api.pages(f"/organizations/{organization['id']}/conversations", "conversations")
    assert len(conversations) == listed["conversationCount"]


def test_organizations_page_by_50_and_organization_ids_follow_customer_changes(make_emulator):
    emu = make_emulator(conversations=40, customers=80, organizations=60)
    api = Client(emu)
    assert api.json("/organizations")["page"]["totalPages"] == 2
    assert len(api.pages("/organizations", "organizations")) == 60
    for cust in emu.data.customers[:40]:
        emu.modify_customer(cust["id"])
    names = {o["name"]: o["id"] for o in emu.data.organizations}
    for cust in emu.data.customers:
        assert cust.get("organizationId") == names.get(cust.get("organization"))
    keys = list(next(c for c in emu.data.customers if "organizationId" in c))
    assert keys[keys.index("organization") + 1] == "organizationId"


# ------------------------------------------------------------------------------------ customer properties

def test_customer_properties_hal_with_a_hyphenated_key(api, emu):
    body = api.json("/customer-properties")
    assert set(body) == {"_embedded", "_links", "page"} and list(body["_embedded"]) == ["customer-properties"]
    items = body["_embedded"]["customer-properties"]
    assert body["page"]["totalElements"] == len(items) <= 50
    assert {i["type"] for i in items} >= {"text", "dropdown", "number", "date"}
    for item in items:
        assert set(item) == {"type", "slug", "name", "options", "_links"}
        assert set(item["_links"]) == {"self"}
        assert (item["options"] != []) == (item["type"] == "dropdown")
        for option in item["options"]:
            assert set(option) == {"id", "label"} and UUID.match(option["id"])
        assert api.json(item["_links"]["self"]["href"])["slug"] == item["slug"]
    slugs = {i["slug"]: i for i in items}
    used = [p for c in emu.data.customers for p in c.get("_embedded", {}).get("properties", [])]
    assert used
    for value in used:
        assert value["slug"] in slugs and slugs[value["slug"]]["type"] == value["type"]
    assert api.get("/customer-properties/nothing").status_code == 404


# ------------------------------------------------------------------------------------ saved replies

def test_saved_replies_are_a_bare_array(api, emu):
    seen_chat = False
    for mailbox in emu.data.mailboxes:
        stored = emu.data.saved_replies[mailbox["id"]]
        chat_ids = {r["id"] for r in stored if r["id"] in emu.data.chat_saved_reply_ids}
        seen_chat = seen_chat or bool(chat_ids)
        response = api.get(f"/mailboxes/{mailbox['id']}/saved-replies", includeChatReplies="true")
        assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
        replies = response.json()
        assert isinstance(replies, list) and [r["id"] for r in replies] == [r["id"] for r in stored]
        for reply in replies:
            assert set(reply) == {"id", "name", "preview", "chatPreview"}
            assert isinstance(reply["id"], int) and "<" not in (reply["preview"] or "")
            full = api.json(f"/mailboxes/{mailbox['id']}/saved-replies/{reply['id']}")
            assert set(full) == {"id", "name", "text", "chatText"} and full["name"] == reply["name"]
            assert (full["chatText"] is None) == (reply["chatPreview"] is None)
        without = api.json(f"/mailboxes/{mailbox['id']}/saved-replies")
        assert [r["id"] for r in without] == [r["id"] for r in stored if r["id"] not in chat_ids]
        assert api.json(f"/mailboxes/{mailbox['id']}/saved-replies", includeChatReplies="false") == without
    assert seen_chat
    mailbox = emu.data.mailboxes[0]["id"]
    assert api.get(f"/mailboxes/{mailbox}/saved-replies", includeChatReplies="yes").status_code == 400
    assert api.get(f"/mailboxes/{mailbox}/saved-replies/1").status_code == 404
    assert api.get("/mailboxes/1/saved-replies").status_code == 404


def test_saved_replies_hal_reading(make_emulator):
    emu = make_emulator(conversations=20, customers=20, saved_replies_hal=True)
    api = Client(emu)
    mailbox = emu.data.mailboxes[0]["id"]
    for k in range(55):
        emu.add_saved_reply(mailbox, name=f"Reply {k}")
    body = api.json(f"/mailboxes/{mailbox}/saved-replies", includeChatReplies="true")
    assert set(body) == {"_embedded", "_links", "page"} and list(body["_embedded"]) == ["savedReplies"]
    assert body["page"]["size"] == 50 and body["page"]["totalPages"] == 2
    replies = api.pages(f"/mailboxes/{mailbox}/saved-replies", "savedReplies", includeChatReplies="true")
    assert len(replies) == len(emu.data.saved_replies[mailbox])
    assert all(set(r) == {"id", "name", "preview", "chatPreview", "_links"} for r in replies)
    assert "includeChatReplies=true" in body["_links"]["next"]["href"]


# ------------------------------------------------------------------------------------ users/me

def test_users_me_is_the_owner_for_every_grant(make_emulator):
    emu = make_emulator(conversations=10, customers=10)
    owner = emu.data.users[0]
    assert owner["role"] == "owner"
    by_refresh = token(emu, grant_type="refresh_token", refresh_token=emu.refresh_token).json()["access_token"]
    by_client = token(emu, grant_type="client_credentials").json()["access_token"]
    for access in (by_refresh, by_client, emu.issue_access_token()):
        me = Client(emu, access).json("/users/me")
        assert me["id"] == owner["id"] and me["_links"]["self"]["href"] == f"{emu.base_url}/users/{owner['id']}"


# ------------------------------------------------------------------------------------ authorization page

def test_authorization_page_redirects_with_a_single_use_code(make_emulator):
    emu = make_emulator(conversations=10, customers=10, rate_limit=4)     # exactly the two token requests
    assert emu.authorize_url == f"http://127.0.0.1:{emu.port}/authentication/authorizeClientApplication"
    answer = requests.get(emu.authorize_url, params={"client_id": emu.client_id, "state": "s t&ate",
                                                     "redirect_uri": "http://127.0.0.1:9999/callback?x=1"},
                          allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    target = urlsplit(answer.headers["Location"])
    assert (target.scheme, target.netloc, target.path) == ("http", "127.0.0.1:9999", "/callback")
    query = parse_qs(target.query)
    assert query["state"] == ["s t&ate"] and query["x"] == ["1"] and re.fullmatch(r"[0-9a-f]{32}", query["code"][0])
    code = query["code"][0]
    exchanged = token(emu, grant_type="authorization_code", code=code)
    assert exchanged.status_code == 200 and emu.refresh_token == exchanged.json()["refresh_token"]
    again = token(emu, grant_type="authorization_code", code=code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # the default redirect URI, no state: no state in the redirect either
    plain = requests.get(emu.authorize_url, params={"client_id": emu.client_id}, allow_redirects=False, timeout=10)
    location = plain.headers["Location"]
    assert location.startswith("http://127.0.0.1:8765/callback?code=") and "state" not in location
    assert all(r.status != 429 for r in emu.requests), "the page is outside the API's rate limit"


def test_authorization_page_refuses_an_unknown_client_and_knows_its_redirect_option(make_emulator):
    emu = make_emulator(conversations=10, customers=10, redirect_uri="http://127.0.0.1:4321/done")
    refused = requests.get(emu.authorize_url, params={"client_id": "nope", "state": "x"}, allow_redirects=False,
                           timeout=10)
    assert refused.status_code == 400 and refused.headers["Content-Type"].startswith("text/html")
    assert "<html" in refused.text and "Location" not in refused.headers
    assert requests.get(emu.authorize_url, allow_redirects=False, timeout=10).status_code == 400
    sent = requests.get(emu.authorize_url, params={"client_id": emu.client_id, "state": "abc"},
                        allow_redirects=False, timeout=10)
    assert sent.headers["Location"].startswith("http://127.0.0.1:4321/done?code=")
    assert sent.headers["Location"].endswith("&state=abc")
    assert token(emu, grant_type="authorization_code", code="0" * 32).status_code == 400
    # the always-ready code of emu.authorization_code works beside the page's codes
    assert token(emu, grant_type="authorization_code", code=emu.authorization_code).status_code == 200


# ------------------------------------------------------------------------------------ determinism

def test_new_resources_are_a_pure_function_of_the_seed():
    first, second, other = (generate(seed=s, conversations=50, customers=40, organizations=6) for s in (5, 5, 6))
    for name in ("organizations", "customer_properties", "saved_replies", "customers"):
        assert getattr(first, name) == getattr(second, name)
    assert first.organizations != other.organizations
