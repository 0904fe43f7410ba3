"""Changes a test makes to the account between runs, for the tap's deletion tests: removing a
team member, a mailbox field, a tag, an organization, a customer property, a rating or a saved
reply (and adding some), each served at once, with the records they touch changed as well."""
import pytest

from tests.support.api_client import ApiClient as Client
from tests.emulator.dataset import iso

pytestmark = pytest.mark.timeout(60)

REPORT = {"start": "2019-01-01T00:00:00Z", "end": "2026-06-01T00:00:00Z"}


@pytest.fixture
def emu(make_emulator):
    emulator = make_emulator(conversations=120, customers=80, ratings=60)
    yield emulator
    assert emulator.errors == []


def newest_conversation_change(emu):
    return iso(max(emu.data.conversation_modified_at.values()))


def test_remove_and_add_a_team_member(emu):
    api = Client(emu)
    team = next(t for t in emu.data.teams if len(emu.data.members[t["id"]]) >= 2)
    members = api.ids(f"/teams/{team['id']}/members", "users")
    emu.remove_team_member(team["id"], members[0])
    assert api.ids(f"/teams/{team['id']}/members", "users") == members[1:]
    with pytest.raises(KeyError):
        emu.remove_team_member(team["id"], members[0])
    emu.add_team_member(team["id"], members[0])
    assert api.ids(f"/teams/{team['id']}/members", "users") == members
    assert api.ids("/users", "users") == sorted(u["id"] for u in emu.data.users), "the user stays"


def test_delete_a_mailbox_field_and_its_values(emu):
    api = Client(emu)
    mailbox = emu.data.mailboxes[0]["id"]
    fields = api.ids(f"/mailboxes/{mailbox}/fields", "fields")
    field = fields[0]
    holders = {c["id"] for c in emu.data.conversations if any(f["id"] == field for f in c["customFields"])}
    assert holders
    before = newest_conversation_change(emu)
    emu.delete_mailbox_field(mailbox, field)
    assert api.ids(f"/mailboxes/{mailbox}/fields", "fields") == fields[1:]
    for conv in holders:
        assert all(f["id"] != field for f in api.json(f"/conversations/{conv}")["customFields"]), "cache dropped"
    changed = set(api.ids("/conversations", "conversations", status="all", modifiedSince=before))
    assert changed == holders, "a conversation losing a value is a change of it"
    with pytest.raises(KeyError):
        emu.delete_mailbox_field(mailbox, field)
    added = emu.add_mailbox_field(mailbox, name="Priority")
    assert api.ids(f"/mailboxes/{mailbox}/fields", "fields")[-1] == added["id"]


def test_delete_a_tag_from_the_account_and_its_conversations(emu):
    api = Client(emu)
    tag = max(emu.data.tags, key=lambda t: t["ticketCount"])
    tagged = {c["id"] for c in emu.data.conversations if any(t["id"] == tag["id"] for t in c["tags"])}
    assert len(tagged) == tag["ticketCount"] > 0
    before = newest_conversation_change(emu)
    emu.delete_tag(tag["id"])
    assert tag["id"] not in api.ids("/tags", "tags")
    assert api.get(f"/tags/{tag['id']}").status_code == 404
    assert api.json("/conversations", status="all", tag=tag["name"])["page"]["totalElements"] == 0
    for conv in tagged:
        assert all(t["id"] != tag["id"] for t in api.json(f"/conversations/{conv}", embed="threads")["tags"])
    assert set(api.ids("/conversations", "conversations", status="all", modifiedSince=before)) == tagged
    added = emu.add_tag("brand new")
    listed = api.json("/tags")["_embedded"]["tags"]
    assert any(t["id"] == added["id"] and "updatedAt" not in t and t["ticketCount"] == 0 for t in listed)
    with pytest.raises(ValueError):
        emu.add_tag("brand new")
    with pytest.raises(KeyError):
        emu.delete_tag(tag["id"])


def test_delete_an_organization_unlinks_its_customers(emu):
    api = Client(emu)
    organization = next(o for o in emu.data.organizations
                        if any(c.get("organizationId") == o["id"] for c in emu.data.customers))
    members = {c["id"] for c in emu.data.customers if c.get("organizationId") == organization["id"]}
    newest = max(c["updatedAt"] for c in emu.data.customers)
    emu.delete_organization(organization["id"])
    assert organization["id"] not in api.ids("/organizations", "organizations")
    assert api.get(f"/organizations/{organization['id']}").status_code == 404
    for customer in members:
        served = api.json(f"/customers/{customer}")
        assert "organizationId" not in served and served["organization"] == organization["name"]
    assert set(api.ids("/customers", "customers", modifiedSince=newest)) == members
    for cust in emu.data.customers[:30]:
        emu.modify_customer(cust["id"])                  # the name no longer links anyone
    assert all(c.get("organizationId") != organization["id"] for c in emu.data.customers)
    created = emu.add_organization("Brand New Org")
    assert any(o["id"] == created and o["customerCount"] == 0
               for o in api.json("/organizations")["_embedded"]["organizations"])


def test_delete_a_customer_property_and_its_values(emu):
    api = Client(emu)
    holders = {c["id"] for c in emu.data.customers
               if any(p["slug"] == "plan" for p in c.get("_embedded", {}).get("properties", []))}
    assert holders
    newest = max(c["updatedAt"] for c in emu.data.customers)
    emu.delete_customer_property("plan")
    slugs = [p["slug"] for p in api.json("/customer-properties")["_embedded"]["customer-properties"]]
    assert "plan" not in slugs
    for customer in holders:
        assert all(p["slug"] != "plan" for p in api.json(f"/customers/{customer}")["_embedded"]["properties"])
    assert set(api.ids("/customers", "customers", modifiedSince=newest)) == holders
    with pytest.raises(KeyError):
        emu.delete_customer_property("plan")
    emu.add_customer_property("vip-since", kind="date")
    assert api.json("/customer-properties/vip-since")["type"] == "date"
    emu.add_customer_property("color", kind="dropdown", labels=("red", "blue"))
    assert [o["label"] for o in api.json("/customer-properties/color")["options"]] == ["red", "blue"]


def report_rows(api):
    body = api.json("/reports/happiness/ratings", **REPORT)
    rows = []
    for page in range(1, body["pages"] + 1):
        rows += api.json("/reports/happiness/ratings", **REPORT, page=page)["results"]
    return rows


def test_delete_ratings_by_index_key_or_row(emu):
    api, ratings = Client(emu), emu.data.ratings
    total = len(ratings)
    first = dict(ratings[0])
    assert emu.delete_rating(0) == 1
    assert first not in report_rows(api) and len(report_rows(api)) == total - 1
    row = dict(ratings[3])
    assert emu.delete_rating(row) == 1 and row not in report_rows(api)
    twin = {**ratings[5], "threadid": ratings[5]["threadid"] + 1}   # shares the report's key
    ratings.append(twin)
    key = (twin["id"], twin["ratingCreatedAt"], twin["ratingCustomerId"])
    assert emu.delete_rating(key) == 2
    rows = report_rows(api)
    assert len(rows) == total - 3
    assert all((r["id"], r["ratingCreatedAt"], r["ratingCustomerId"]) != key for r in rows)
    with pytest.raises(KeyError):
        emu.delete_rating(key)
    with pytest.raises(ValueError):
        emu.delete_rating(row)


def test_delete_and_add_saved_replies(emu):
    api = Client(emu)
    mailbox = emu.data.mailboxes[0]["id"]
    replies = [r["id"] for r in api.json(f"/mailboxes/{mailbox}/saved-replies", includeChatReplies="true")]
    emu.delete_saved_reply(mailbox, replies[0])
    assert [r["id"] for r in api.json(f"/mailboxes/{mailbox}/saved-replies", includeChatReplies="true")] == replies[1:]
    assert api.get(f"/mailboxes/{mailbox}/saved-replies/{replies[0]}").status_code == 404
    with pytest.raises(KeyError):
        emu.delete_saved_reply(mailbox, replies[0])
    chat = emu.add_saved_reply(mailbox, name="Chat hello", text="Hello!", chat_text="Hello!", chat=True)
    assert chat not in [r["id"] for r in api.json(f"/mailboxes/{mailbox}/saved-replies")]
    assert chat in [r["id"] for r in api.json(f"/mailboxes/{mailbox}/saved-replies", includeChatReplies="true")]
    assert api.json(f"/mailboxes/{mailbox}/saved-replies/{chat}")["chatText"] == "Hello!"


def test_changes_touching_conversations_reach_a_lagging_index_late(make_emulator):
    emu = make_emulator(conversations=60, customers=40, index_lag_seconds=5)
    emu.search_index.clock = lambda: 100.0
    api = Client(emu)
    tag = max(emu.data.tags, key=lambda t: t["ticketCount"])
    before = newest_conversation_change(emu)
    emu.delete_tag(tag["id"])
    assert api.ids("/conversations", "conversations", status="all", modifiedSince=before) == []
    emu.search_index.clock = lambda: 105.0
    assert len(api.ids("/conversations", "conversations", status="all", modifiedSince=before)) == tag["ticketCount"]
