"""Organizations as their documentation reads them: the list with or without the counts
(`organization_list_counts`), Get Organization's `includeCounts` and `includeProperties`, the
organization property definitions (`/organizations/properties`) and the helpers that change them."""
import pytest

from tests.support.api_client import ApiClient, embedded
from tests.emulator.resources import organization_counts

pytestmark = pytest.mark.timeout(60)

BASE_KEYS = {"id", "name", "website", "description", "location", "logoUrl", "note", "domains", "phones",
             "brandColor", "_links"}
COUNT_KEYS = {"customerCount", "conversationCount", "lastInteractionAt"}
SIZES = dict(seed=4, conversations=80, customers=50, organizations=14)


def test_list_with_counts_by_default(make_emulator):
    api = ApiClient(make_emulator(**SIZES))
    items = api.pages("/organizations", "organizations")
    assert len(items) == 14
    assert all({"customerCount", "conversationCount"} <= set(item) for item in items)
    assert any("lastInteractionAt" in item for item in items)


def test_list_without_counts(make_emulator):
    emu = make_emulator(**SIZES, organization_list_counts=False)
    api = ApiClient(emu)
    counts = organization_counts(emu.data)
    for field, position in (("customerCount", 0), ("conversationCount", 1)):
        items = api.pages("/organizations", "organizations", sort=f"{field},desc")
        for item in items:
            assert set(item) == BASE_KEYS, "the documented list item: no counts, no lastInteractionAt"
        # still sorted by the counts it does not show
        assert [counts[i["id"]][position] for i in items] == sorted((c[position] for c in counts.values()),
                                                                    reverse=True)
    # Get Organization still gives them on request
    organization = emu.data.organizations[0]
    assert {"customerCount", "conversationCount"} <= set(
        api.json(f"/organizations/{organization['id']}", includeCounts="true"))


def test_get_organization_counts_and_properties_only_on_request(make_emulator):
    emu = make_emulator(**SIZES)
    api = ApiClient(emu)
    data = emu.data
    counts = organization_counts(data)
    definitions = {d["slug"]: d for d in data.organization_properties}
    with_values = 0
    for organization in data.organizations:
        oid = organization["id"]
        plain = api.json(f"/organizations/{oid}")
        assert set(plain) == BASE_KEYS
        assert set(api.json(f"/organizations/{oid}", includeCounts="false", includeProperties="false")) == BASE_KEYS
        counted = api.json(f"/organizations/{oid}", includeCounts="true")
        assert (counted["customerCount"], counted["conversationCount"]) == counts[oid][:2]
        assert counted.get("lastInteractionAt") == counts[oid][2]
        assert "properties" not in counted
        full = api.json(f"/organizations/{oid}", includeProperties="true")
        assert set(full) == BASE_KEYS | {"properties"}
        values = data.organization_property_values.get(oid, {})
        assert [p["slug"] for p in full["properties"]] == [d["slug"] for d in data.organization_properties
                                                           if d["slug"] in values], "definitions' order"
        for prop in full["properties"]:
            definition = definitions[prop["slug"]]
            expected = {"definitionId", "slug", "name", "type", "value"} | (
                {"options"} if definition["type"] == "dropdown" else set())
            assert set(prop) == expected
            assert prop["definitionId"] == data.organization_property_ids[prop["slug"]]
            assert (prop["name"], prop["type"], prop["value"]) == (definition["name"], definition["type"],
                                                                   values[prop["slug"]])
            assert isinstance(prop["value"], str), "values are text, numbers and dates too"
            if definition["type"] == "dropdown":
                assert prop["value"] in [o["label"] for o in definition["options"]]
        with_values += bool(full["properties"])
        both = api.json(f"/organizations/{oid}", includeCounts="true", includeProperties="true")
        assert set(both) >= BASE_KEYS | {"customerCount", "conversationCount", "properties"}
    assert 0 < with_values, "some organizations have property values"
    for bad in ("yes", "1", "TRUE"):
        response = api.get(f"/organizations/{data.organizations[0]['id']}", includeProperties=bad)
        assert response.status_code == 400 and response.json()["_embedded"]["errors"][0]["path"] == "includeProperties"


def test_organization_property_definitions(make_emulator):
    emu = make_emulator(**SIZES)
    api = ApiClient(emu)
    response = api.get("/organizations/properties")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/hal+json"
    body = response.json()
    assert set(body) == {"_embedded", "_links"}, "one answer, no page block"
    assert body["_links"] == {"self": {"href": f"{emu.base_url}/organizations/properties"}}
    items = embedded(body, "organization-properties")
    assert items == emu.data.organization_properties and len(items) >= 5
    types = set()
    for item in items:
        types.add(item["type"])
        if item["type"] == "dropdown":
            assert set(item) == {"type", "slug", "name", "options"}
            assert item["options"] and all(set(o) == {"label"} for o in item["options"])
        else:
            assert set(item) == {"type", "slug", "name"}, "options only on dropdowns"
    assert types == {"text", "number", "dropdown", "date", "url"}
    # a page parameter changes nothing: there is only one answer
    assert api.json("/organizations/properties", page="2") == body


def test_organization_property_helpers(make_emulator):
    emu = make_emulator(**SIZES)
    api = ApiClient(emu)
    organization = emu.data.organizations[0]["id"]

    def properties():
        return {p["slug"]: p for p in api.json(f"/organizations/{organization}", includeProperties="true")["properties"]}

    slug = emu.add_organization_property("contract-tier", "Contract tier", kind="dropdown", labels=("A", "B"))
    listed = embedded(api.json("/organizations/properties"), "organization-properties")
    assert listed[-1] == {"type": "dropdown", "slug": slug, "name": "Contract tier",
                          "options": [{"label": "A"}, {"label": "B"}]}
    assert slug not in properties()
    emu.set_organization_property(organization, slug, "B")
    assert properties()[slug]["value"] == "B" and properties()[slug]["options"] == [{"label": "A"}, {"label": "B"}]
    emu.set_organization_property(organization, "annual-revenue", 1234)
    assert properties()["annual-revenue"]["value"] == "1234"
    emu.set_organization_property(organization, "annual-revenue", None)
    assert "annual-revenue" not in properties()
    emu.delete_organization_property(slug)
    assert slug not in properties()
    assert slug not in [p["slug"] for p in embedded(api.json("/organizations/properties"), "organization-properties")]
    with pytest.raises(KeyError):
        emu.delete_organization_property(slug)
    with pytest.raises(KeyError):
        emu.set_organization_property(organization, "nope", "x")
    with pytest.raises(KeyError):
        emu.set_organization_property(1, "customer-tier", "x")
    with pytest.raises(ValueError):
        emu.add_organization_property("customer-tier")
    # an organization added later has no values; a deleted one takes its values with it
    added = emu.add_organization()
    assert api.json(f"/organizations/{added}", includeProperties="true")["properties"] == []
    emu.delete_organization(organization)
    assert organization not in emu.data.organization_property_values


def test_no_definitions_at_all(make_emulator):
    emu = make_emulator(seed=4, conversations=5, customers=5, organizations=2)
    for definition in list(emu.data.organization_properties):
        emu.delete_organization_property(definition["slug"])
    body = ApiClient(emu).json("/organizations/properties")
    assert body == {"_links": {"self": {"href": f"{emu.base_url}/organizations/properties"}}}


def test_standard_plan_keeps_organizations(make_emulator):
    emu = make_emulator(seed=4, conversations=5, customers=5, plan="standard")
    api = ApiClient(emu)
    assert api.get("/organizations/properties").status_code == 200
    assert api.get(f"/organizations/{emu.data.organizations[0]['id']}", includeProperties="true").status_code == 200
