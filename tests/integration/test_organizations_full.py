"""Organizations in full: their counts whether or not the list carries them, their custom
properties with `organization_details`, the property definitions (organization_properties), and
conversations' web address."""
import pytest

from tests.support.expected import expected_rows, organization_counts
from tests.support.tap_runner import offline_catalog, run_tap, select, write_config

COUNTS = ("customer_count", "conversation_count", "last_interaction_at")


def property_values(emu, organization_id):
    """An organization's properties as Get Organization documents them, snake_cased."""
    data = emu.data
    values = data.organization_property_values.get(organization_id, {})
    rows = []
    for definition in data.organization_properties:
        if definition["slug"] in values:
            row = {"definition_id": data.organization_property_ids[definition["slug"]], "slug": definition["slug"],
                   "name": definition["name"], "type": definition["type"], "value": values[definition["slug"]]}
            if "options" in definition:
                row["options"] = [dict(o) for o in definition["options"]]
            rows.append(row)
    return rows


@pytest.fixture
def organizations(make_emulator, tmp_path):
    def start(list_counts, **config):
        emu = make_emulator(seed=9, conversations=60, customers=80, organizations=7,
                            organization_list_counts=list_counts)
        path = write_config(emu, tmp_path, **config)
        return emu, path, select(offline_catalog(), ["organizations", "organization_properties"])
    return start


@pytest.mark.parametrize("list_counts", [True, False], ids=["list-with-counts", "list-as-documented"])
def test_with_organization_details_counts_and_properties_arrive_at_one_request_per_organization(
        organizations, list_counts):
    emu, config, catalog = organizations(list_counts, organization_details=True)
    run = run_tap(config, catalog=catalog)
    counts = organization_counts(emu.data)
    rows = {r["id"]: r for r in run.records("organizations")}
    assert set(rows) == {o["id"] for o in emu.data.organizations}
    for organization_id, row in rows.items():
        for column in COUNTS:
            assert row.get(column) == counts[organization_id].get(column), (organization_id, column)
        assert row["properties"] == property_values(emu, organization_id)
    assert any(row["properties"] for row in rows.values())
    details = [r for r in emu.requests if r.path.startswith("/v2/organizations/") and r.path[19:].isdigit()]
    assert len(details) == len(emu.data.organizations)
    assert all(r.query == {"includeCounts": "true", "includeProperties": "true"} for r in details)


def test_without_organization_details_the_counts_come_from_a_list_that_carries_them(organizations):
    emu, config, catalog = organizations(True)
    run = run_tap(config, catalog=catalog)
    expected = expected_rows(emu.data)["organizations"]
    assert {(r["id"],): r for r in run.records("organizations")} == expected
    assert not [r for r in emu.requests if r.path.startswith("/v2/organizations/") and r.path[19:].isdigit()]


def test_without_organization_details_and_a_list_without_counts_the_counts_stay_null(organizations):
    emu, config, catalog = organizations(False)
    run = run_tap(config, catalog=catalog)
    for row in run.records("organizations"):
        assert all(row.get(column) is None for column in COUNTS + ("properties",))
        assert row["name"]
    assert len(run.records("organizations")) == len(emu.data.organizations)


def test_organization_property_definitions_arrive_as_a_versioned_full_table(organizations):
    emu, config, catalog = organizations(True)
    run = run_tap(config, catalog=catalog)
    expected = expected_rows(emu.data)["organization_properties"]
    assert {(r["slug"],): r for r in run.records("organization_properties")} == expected
    assert any(r.get("options") for r in run.records("organization_properties"))
    assert any(m["type"] == "ACTIVATE_VERSION" and m["stream"] == "organization_properties" for m in run.messages)
    assert [r.query.get("page") for r in emu.requests if r.path == "/v2/organizations/properties"] == ["1"]


def test_conversations_carry_their_web_address(account):
    emu, config, catalog = account()
    run = run_tap(config, catalog=select(catalog, ["conversations"]))
    rows = run.records("conversations")
    assert rows and all(r["web_url"] == f"https://secure.helpscout.net/conversation/{r['id']}/{r['number']}/"
                        for r in rows)
