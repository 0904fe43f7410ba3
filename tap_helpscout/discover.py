"""Discovery: the catalog is static, built from the stream registry and the schema files.

It needs neither the network nor credentials, so `--discover` never refreshes (and so never
rotates) the OAuth2 refresh token, and works on a machine with no access to Help Scout. The
schemas ship as package data in `tap_helpscout/schemas/` and are read through
importlib.resources, so they load the same way from a source tree, a wheel or a zip.
"""
import json
from importlib import resources

from singer import metadata

from tap_helpscout.streams import STREAMS


def load_schema(stream_name):
    """The schema of one stream, as a fresh dict the caller may change."""
    text = resources.files("tap_helpscout").joinpath("schemas", f"{stream_name}.json").read_text(
        encoding="utf-8")
    return json.loads(text)


def stream_metadata(stream, schema):
    """Singer metadata for one stream: keys and replication come from the registry."""
    replication_keys = [stream.replication_key] if stream.replication_key else []
    mdata = metadata.to_map(metadata.get_standard_metadata(
        schema=schema,
        key_properties=list(stream.key_properties),
        valid_replication_keys=replication_keys,
        replication_method=stream.replication_method,
    ))
    # get_standard_metadata marks only key columns automatic; the replication key must be
    # emitted too, or bookmarks could not be computed when a user deselects it.
    for column in replication_keys:
        mdata = metadata.write(mdata, ("properties", column), "inclusion", "automatic")
    if stream.parent:
        mdata = metadata.write(mdata, (), "parent-tap-stream-id", stream.parent)
    return metadata.to_list(mdata)


def catalog_entry(stream):
    schema = load_schema(stream.name)
    return {
        "tap_stream_id": stream.name,
        "stream": stream.name,
        "key_properties": list(stream.key_properties),
        "schema": schema,
        "metadata": stream_metadata(stream, schema),
    }


def discover():
    """The catalog as a dict (the form `--discover` prints and `Catalog.from_dict` reads)."""
    return {"streams": [catalog_entry(stream) for stream in STREAMS.values()]}
