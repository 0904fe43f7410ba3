"""Discovery: an offline, static catalog of the fifteen streams; the original eleven match the
contract (restated as data in tests/support/contract.py).

The catalog is the one `--discover` prints, from the command line's main in this process (the
executable, offline and with the catalog alone on stdout: tests/integration/test_discovery.py).
"""
import contextlib
import http.client
import io
import json
import socket

import pytest
from singer.catalog import Catalog

from tap_helpscout.cli import main as cli
from tests.support.contract import ALL_STREAMS, CONTRACT, DT, INT, NESTED, NEW_STREAMS, STR
from tests.support.configs import config_file

SECRETS = ("an-app-secret-7d2b", "a-refresh-token-41c8")


@pytest.fixture
def offline_config(tmp_path):
    """A config whose API is a loopback port nobody is asked about (discovery opens no connection)."""
    return config_file(tmp_path, base_url="http://127.0.0.1:9/v2")


def discover_in_process(config_path):
    """What `tap-helpscout --config config_path --discover` prints, from cli.main in this process:
    exit code 0, no secret of the config in the output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_:
        cli.main(["--config", str(config_path), "--discover"])
    assert exit_.value.code == 0, err.getvalue()
    for secret in SECRETS:
        assert secret not in out.getvalue() + err.getvalue()
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    path = tmp_path_factory.mktemp("discovery") / "config.json"
    path.write_text(json.dumps({"client_id": "an-app-id", "client_secret": SECRETS[0],
                                "refresh_token": SECRETS[1], "start_date": "2024-01-01T00:00:00Z"}))
    return discover_in_process(path)


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


# --- no network ---------------------------------------------------------------------------------

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
