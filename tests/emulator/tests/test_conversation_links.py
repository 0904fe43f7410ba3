"""Conversations carry `_links.web`, the conversation's page in the Help Scout web app, on list
items with and without embedded threads, and on the single conversation."""
import pytest

from tests.support.api_client import ApiClient

pytestmark = pytest.mark.timeout(60)


def web(conversation):
    return {"href": f"https://secure.helpscout.net/conversation/{conversation['id']}/{conversation['number']}/"}


def test_web_link_everywhere(make_emulator):
    emu = make_emulator(seed=3, conversations=40, customers=20)
    api = ApiClient(emu)
    for params in ({}, {"embed": "threads"}):
        items = api.pages("/conversations", "conversations", status="all", **params)
        assert len(items) == 40
        for item in items:
            assert item["_links"]["web"] == web(item)
    one = emu.data.conversations[0]
    assert api.json(f"/conversations/{one['id']}")["_links"]["web"] == web(one)
    assert api.json(f"/conversations/{one['id']}", embed="threads")["_links"]["web"] == web(one)
    organization = next(o for o in emu.data.organizations
                        if api.json(f"/organizations/{o['id']}/conversations").get("_embedded"))
    for item in api.json(f"/organizations/{organization['id']}/conversations")["_embedded"]["conversations"]:
        assert item["_links"]["web"] == web(item)
