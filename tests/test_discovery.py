"""Discovery: an offline, static catalog of the fifteen streams; the original eleven match the
contract.

The contract is the Stitch documentation of the original integration's tables (docs/sources.md,
"Stitch's Help Scout (v1) documentation"). It is restated below as data, so that a change to a
schema file or to the stream registry that breaks a warehouse built by the original integration
fails here. The four streams beyond it (tags, organizations, customer properties and saved
replies, as Help Scout's API reference documents them) are restated the same way in NEW_STREAMS.
"""
import http.client
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from singer.catalog import Catalog

from tap_helpscout.cli import main as cli
from tests.tap_runner import discover as discover_via_cli

ROOT = Path(__file__).resolve().parent.parent

INT = ["null", "integer"]
STR = ["null", "string"]
BOOL = ["null", "boolean"]
DT = "date-time"
OBJ = ["null", "object"]
ARR = ["null", "array"]

#   stream: (replication, primary key, replication key, parent, {column: type})
CONTRACT = {
    "conversations": ("INCREMENTAL", ["id"], "updated_at", None, {
        "assignee": OBJ, "bcc": ARR, "cc": ARR, "closed_at": DT, "closed_by": INT,
        "created_at": DT, "created_by": OBJ, "custom_fields": ARR,
        "customer_waiting_since": OBJ, "folder_id": INT, "id": INT, "mailbox_id": INT,
        "number": INT, "preview": STR, "primary_customer": OBJ, "source": OBJ, "state": STR,
        "status": STR, "subject": STR, "tags": ARR, "threads": INT, "type": STR,
        "updated_at": DT, "user_updated_at": DT}),
    "conversation_threads": ("INCREMENTAL", ["id"], "created_at", "conversations", {
        "action": OBJ, "assigned_to": OBJ, "attachments": ARR, "bcc": ARR, "body": STR,
        "cc": ARR, "conversation_id": INT, "created_at": DT, "created_by": OBJ,
        "customer": OBJ, "id": INT, "opened_at": DT, "saved_reply_id": INT, "source": OBJ,
        "state": STR, "status": STR, "to": ARR, "type": STR}),
    "customers": ("INCREMENTAL", ["id"], "updated_at", None, {
        "address": OBJ, "age": STR, "background": STR, "chats": ARR, "created_at": DT,
        "emails": ARR, "first_name": STR, "gender": STR, "id": INT, "job_title": STR,
        "last_name": STR, "location": STR, "organization": STR, "phones": ARR,
        "photo_type": STR, "photo_url": STR, "properties": ARR, "social_profiles": ARR,
        "updated_at": DT, "websites": ARR}),
    "happiness_ratings_report": (
        "FULL_TABLE", ["conversation_id", "rating_created_at", "rating_customer_id"], None, None, {
            "conversation_id": INT, "rating_comments": STR, "rating_created_at": DT,
            "rating_customer_id": INT, "rating_customer_name": STR, "rating_id": INT,
            "rating_user_id": INT, "rating_user_name": STR, "thread_created_at": DT,
            "thread_id": INT, "type": STR}),
    "mailbox_fields": ("FULL_TABLE", ["id"], None, "mailboxes", {
        "id": INT, "mailbox_id": INT, "name": STR, "options": ARR, "order": INT,
        "required": BOOL, "type": STR}),
    "mailbox_folders": ("INCREMENTAL", ["id"], "updated_at", "mailboxes", {
        "active_count": INT, "id": INT, "mailbox_id": INT, "name": STR, "total_count": INT,
        "type": STR, "updated_at": DT, "user_id": INT}),
    "mailboxes": ("INCREMENTAL", ["id"], "updated_at", None, {
        "created_at": DT, "email": STR, "id": INT, "name": STR, "slug": STR,
        "updated_at": DT}),
    "team_members": ("FULL_TABLE", ["team_id", "user_id"], None, "teams", {
        "team_id": INT, "user_id": INT}),
    "teams": ("INCREMENTAL", ["id"], "updated_at", None, {
        "created_at": DT, "id": INT, "initials": STR, "mention": STR, "name": STR,
        "photo_url": STR, "timezone": STR, "updated_at": DT}),
    "users": ("INCREMENTAL", ["id"], "updated_at", None, {
        "created_at": DT, "email": STR, "first_name": STR, "id": INT, "last_name": STR,
        "photo_url": STR, "role": STR, "timezone": STR, "type": STR, "updated_at": DT}),
    "workflows": ("INCREMENTAL", ["id"], "modified_at", None, {
        "created_at": DT, "id": INT, "mailbox_id": INT, "modified_at": DT, "name": STR,
        "order": INT, "status": STR, "type": STR}),
}

#   the streams beyond the contract, in the same form
NEW_STREAMS = {
    "tags": ("FULL_TABLE", ["id"], None, None, {
        "id": INT, "slug": STR, "name": STR, "color": STR, "created_at": DT, "updated_at": DT,
        "ticket_count": INT}),
    "organizations": ("FULL_TABLE", ["id"], None, None, {
        "id": INT, "name": STR, "website": STR, "description": STR, "location": STR, "logo_url": STR,
        "note": STR, "domains": ARR, "phones": ARR, "brand_color": STR, "customer_count": INT,
        "conversation_count": INT, "last_interaction_at": DT}),
    "customer_properties": ("FULL_TABLE", ["slug"], None, None, {
        "type": STR, "slug": STR, "name": STR, "options": ARR}),
    "saved_replies": ("FULL_TABLE", ["id"], None, "mailboxes", {
        "id": INT, "mailbox_id": INT, "name": STR, "preview": STR, "chat_preview": STR, "text": STR,
        "chat_text": STR}),
}
ALL_STREAMS = {**CONTRACT, **NEW_STREAMS}

# Nested columns whose sub-schemas the API documents (its List Conversations, List Threads and
# List Customers pages, docs/sources.md):
#   (stream, path through properties / items, expected type or DT)
NESTED = [
    ("conversations", "customer_waiting_since.time", DT),
    ("conversations", "customer_waiting_since.friendly", STR),
    ("conversations", "primary_customer.photo_url", STR),
    ("conversations", "primary_customer.id", INT),
    ("conversations", "assignee.email", STR),
    ("conversations", "created_by.type", STR),
    ("conversations", "closed_by_user.id", INT),
    ("conversations", "source.via", STR),
    ("conversations", "custom_fields[].id", INT),
    ("conversations", "custom_fields[].name", STR),
    ("conversations", "custom_fields[].value", STR),
    ("conversations", "custom_fields[].text", STR),
    ("conversations", "tags[].id", INT),
    ("conversations", "tags[].tag", STR),
    ("conversations", "tags[].color", STR),
    ("conversations", "cc[]", STR),
    ("conversation_threads", "attachments[].id", INT),
    ("conversation_threads", "attachments[].mime_type", STR),
    ("conversation_threads", "attachments[].filename", STR),
    ("conversation_threads", "attachments[].size", INT),
    ("conversation_threads", "action.text", STR),
    ("conversation_threads", "customer.email", STR),
    ("conversation_threads", "assigned_to.id", INT),
    ("conversation_threads", "to[]", STR),
    ("customers", "emails[].id", INT),
    ("customers", "emails[].type", STR),
    ("customers", "emails[].value", STR),
    ("customers", "phones[].value", STR),
    ("customers", "chats[].value", STR),
    ("customers", "social_profiles[].value", STR),
    ("customers", "websites[].value", STR),
    ("customers", "address.postal_code", STR),
    ("customers", "address.lines[]", STR),
    ("customers", "properties[].slug", STR),
    ("customers", "properties[].value", STR),
    ("mailbox_fields", "options[].id", INT),
    ("mailbox_fields", "options[].label", STR),
    ("mailbox_fields", "options[].order", INT),
    ("users", "alternate_emails[]", STR),
    ("customers", "organization_id", INT),
    ("organizations", "domains[]", STR),
    ("organizations", "phones[]", STR),
    ("customer_properties", "options[].id", STR),
    ("customer_properties", "options[].label", STR),
]


def closed_loopback_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]      # nothing listens once the socket is closed


@pytest.fixture
def offline_config(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({
        "client_id": "bogus-client-id",
        "client_secret": "bogus-client-secret-5f3a",
        "refresh_token": "bogus-refresh-token-9c1e",
        "start_date": "2024-01-01T00:00:00Z",
        "base_url": f"http://127.0.0.1:{closed_loopback_port()}/v2",
    }, indent=4))
    return path


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    path = tmp_path_factory.mktemp("discovery") / "config.json"
    path.write_text(json.dumps({"client_id": "an-app-id", "client_secret": "an-app-secret-7d2b",
                                "refresh_token": "a-refresh-token-41c8",
                                "start_date": "2024-01-01T00:00:00Z"}))
    return discover_via_cli(path)


def entry_of(catalog, stream):
    return next(e for e in catalog["streams"] if e["tap_stream_id"] == stream)


def metadata_of(entry):
    return {tuple(m["breadcrumb"]): m["metadata"] for m in entry["metadata"]}


def schema_at(schema, path):
    """Follow `a.b[].c` through properties and array items."""
    node = schema
    for part in path.split("."):
        is_list = part.endswith("[]")
        node = node["properties"][part[:-2] if is_list else part]
        if is_list:
            assert "array" in node["type"]
            node = node["items"]
    return node


def assert_type(node, expected, where):
    if expected == DT:
        assert node["type"] == STR and node.get("format") == "date-time", where
    else:
        assert node["type"] == expected, where


# --- no network, no config rewrite -------------------------------------------------------------

def test_discovery_works_offline_and_leaves_the_config_file_untouched(offline_config):
    before = offline_config.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "tap_helpscout", "--config", str(offline_config),
                           "--discover"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["streams"]) == len(ALL_STREAMS)
    assert offline_config.read_bytes() == before
    for secret in ("bogus-client-secret-5f3a", "bogus-refresh-token-9c1e"):
        assert secret not in proc.stdout + proc.stderr


def test_discovery_opens_no_connection(offline_config, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise AssertionError("discovery tried to use the network")
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(http.client.HTTPConnection, "connect", refuse)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--config", str(offline_config), "--discover"])
    assert exit_.value.code == 0
    assert len(json.loads(capsys.readouterr().out)["streams"]) == len(ALL_STREAMS)


def test_only_the_catalog_goes_to_stdout(offline_config):
    proc = subprocess.run([sys.executable, "-m", "tap_helpscout", "-c", str(offline_config), "-d"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    json.loads(proc.stdout)       # one JSON document, nothing else


# --- the catalog matches the contract ----------------------------------------------------------

def test_singer_python_loads_the_catalog_with_the_eleven_contract_streams_and_the_four_new_ones(catalog):
    loaded = Catalog.from_dict(catalog)
    assert sorted(s.tap_stream_id for s in loaded.streams) == sorted(ALL_STREAMS)
    assert set(CONTRACT) <= {s.tap_stream_id for s in loaded.streams}
    assert all(s.stream == s.tap_stream_id for s in loaded.streams)


def test_no_stream_is_selected_by_default(catalog):
    for entry in catalog["streams"]:
        assert "selected" not in metadata_of(entry)[()], entry["tap_stream_id"]


@pytest.mark.parametrize("stream", sorted(ALL_STREAMS))
def test_every_contract_column_has_its_nullable_type(catalog, stream):
    properties = entry_of(catalog, stream)["schema"]["properties"]
    for column, expected in ALL_STREAMS[stream][4].items():
        assert column in properties, f"{stream}.{column} is missing"
        assert_type(properties[column], expected, f"{stream}.{column}")


@pytest.mark.parametrize("stream", sorted(NEW_STREAMS))
def test_new_streams_have_exactly_their_documented_columns(catalog, stream):
    assert set(entry_of(catalog, stream)["schema"]["properties"]) == set(NEW_STREAMS[stream][4])


@pytest.mark.parametrize("stream", sorted(ALL_STREAMS))
def test_stream_metadata_carries_keys_replication_and_parent(catalog, stream):
    replication, keys, replication_key, parent, _ = ALL_STREAMS[stream]
    entry = entry_of(catalog, stream)
    top = metadata_of(entry)[()]
    assert top["table-key-properties"] == keys
    assert entry["key_properties"] == keys
    assert top["forced-replication-method"] == replication
    assert top["valid-replication-keys"] == ([replication_key] if replication_key else [])
    assert top.get("parent-tap-stream-id") == parent


@pytest.mark.parametrize("stream", sorted(ALL_STREAMS))
def test_keys_and_replication_keys_are_automatic_and_the_rest_available(catalog, stream):
    _, keys, replication_key, _, _ = ALL_STREAMS[stream]
    entry = entry_of(catalog, stream)
    mdata = metadata_of(entry)
    automatic = set(keys) | ({replication_key} if replication_key else set())
    for column in entry["schema"]["properties"]:
        expected = "automatic" if column in automatic else "available"
        assert mdata[("properties", column)]["inclusion"] == expected, f"{stream}.{column}"


def test_child_rows_carry_their_parent_id_and_team_members_only_the_two_ids(catalog):
    for stream, column in (("conversation_threads", "conversation_id"), ("mailbox_fields", "mailbox_id"),
                           ("mailbox_folders", "mailbox_id"), ("saved_replies", "mailbox_id")):
        assert entry_of(catalog, stream)["schema"]["properties"][column]["type"] == INT
    assert set(entry_of(catalog, "team_members")["schema"]["properties"]) == {"team_id", "user_id"}


@pytest.mark.parametrize("stream,path,expected", NESTED,
                         ids=[f"{s}.{p}" for s, p, _ in NESTED])
def test_nested_objects_and_arrays_have_full_sub_schemas(catalog, stream, path, expected):
    assert_type(schema_at(entry_of(catalog, stream)["schema"], path), expected, path)


def test_documented_extra_columns_are_offered(catalog):
    def columns(stream):
        return entry_of(catalog, stream)["schema"]["properties"]
    assert {"mention", "initials", "job_title", "phone", "alternate_emails"} <= set(columns("users"))
    assert "closed_by_user" in columns("conversations")
    assert "number" in columns("happiness_ratings_report")


def test_every_schema_node_is_nullable_and_self_contained(catalog):
    def walk(node, where):
        assert "$ref" not in node and "definitions" not in node, where
        assert isinstance(node["type"], list) and "null" in node["type"], where
        for name, child in node.get("properties", {}).items():
            walk(child, f"{where}.{name}")
        if "items" in node:
            walk(node["items"], f"{where}[]")
    for entry in catalog["streams"]:
        for column, node in entry["schema"]["properties"].items():
            walk(node, f'{entry["tap_stream_id"]}.{column}')


def test_discovery_reads_keys_and_replication_from_the_stream_registry(catalog):
    from tap_helpscout.streams import STREAMS
    for name, stream in STREAMS.items():
        top = metadata_of(entry_of(catalog, name))[()]
        assert top["table-key-properties"] == list(stream.key_properties)
        assert top["forced-replication-method"] == stream.replication_method


def test_schema_files_ship_with_the_package(tmp_path):
    """A non-editable install gets the schemas: build the package as pip would."""
    subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path)],
                   cwd=ROOT, check=True, capture_output=True, timeout=120)
    shipped = {p.stem for p in (tmp_path / "tap_helpscout" / "schemas").glob("*.json")}
    assert shipped == set(ALL_STREAMS)
