"""The JSON schemas of the streams, shipped as package data in `tap_helpscout/schemas/`.

They are read through importlib.resources so that they load the same way from a source tree,
an editable install, a wheel or a zip.
"""
import json
from importlib import resources

from tap_helpscout.streams import STREAMS


def load_schema(stream_name):
    """The schema of one stream, as a fresh dict the caller may change."""
    text = resources.files("tap_helpscout").joinpath("schemas", f"{stream_name}.json").read_text(
        encoding="utf-8")
    return json.loads(text)


def load_schemas():
    """Every registered stream's schema, by stream name."""
    return {name: load_schema(name) for name in STREAMS}
