"""The three files the command line reads (config, catalog, state), read the same way for a
sync, `--check`, `--discover` and `--authorize`: each problem is one line naming the file and
what to do.

The config's keys are checked by `config.validate_config` (from the settings table); unknown
catalog streams are reported and left out; an empty state file counts as no state.
"""
import json
import os

from singer import metadata
from singer.catalog import Catalog

from tap_helpscout.config import json_type, validate_config
from tap_helpscout.errors import ConfigError, InputError, NothingSelected
from tap_helpscout.logs import get_logger
from tap_helpscout.streams import STREAMS
from tap_helpscout.version import PROG

LOGGER = get_logger(__name__)


def load_config(path):
    """Read the config file at `path` and return the normalized config (defaults applied)."""
    return validate_config(read_json_object(path, "config", ConfigError))


def read_json_object(path, what, error):
    """The JSON object in file `path`; `what` names the file in messages ("config", "state")."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise error(f'{what}: file "{path}" does not exist') from None
    except IsADirectoryError:
        raise error(f'{what}: "{path}" is a directory, not a JSON file') from None
    except PermissionError:
        raise error(f'{what}: file "{path}" is not readable (permission denied)') from None
    except UnicodeDecodeError:
        raise error(f'{what}: file "{path}" is not UTF-8 text') from None
    except OSError as exc:
        raise error(f'{what}: cannot read file "{path}": {exc.strerror}') from None
    try:
        value = json.loads(text)
    except ValueError as exc:
        # The decoder's message holds only a position, never the file's content.
        where = f" at line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else ""
        raise error(f'{what}: file "{path}" is not valid JSON ({exc.msg}{where})') from None
    if not isinstance(value, dict):
        raise error(f'{what}: file "{path}" must hold a JSON object ({{...}}), '
                    f"not {json_type(value)}")
    return value


def load_catalog(path):
    """The catalog in file `path`, as a singer Catalog of the streams this tap knows.

    Entries for unknown streams (from another tap, or from an older version of this one) are
    reported on stderr and left out, so that the known streams still sync."""
    raw = read_json_object(path, "catalog", InputError)
    streams = raw.get("streams")
    if not isinstance(streams, list):
        raise InputError(f'catalog: file "{path}" has no "streams" list; create one with '
                         f"{PROG} --config CONFIG --discover > catalog.json")
    known = []
    for position, entry in enumerate(streams):
        if not isinstance(entry, dict):
            raise InputError(f"catalog: stream entry #{position + 1} is not a JSON object")
        stream_id = entry.get("tap_stream_id") or entry.get("stream")
        if not isinstance(stream_id, str):
            raise InputError(f'catalog: stream entry #{position + 1} has no "tap_stream_id"')
        if stream_id not in STREAMS:
            LOGGER.warning('catalog: skipping unknown stream "%s" (known streams: %s)',
                           stream_id, ", ".join(STREAMS))
            continue
        if not isinstance(entry.get("schema"), dict):
            raise InputError(f'catalog: stream "{stream_id}" has no "schema" object')
        if entry.get("metadata") is None:
            entry = {**entry, "metadata": []}      # none: nothing selected by metadata
        if not isinstance(entry["metadata"], list) or not all(
                isinstance(m, dict) and isinstance(m.get("metadata", {}), dict) for m in entry["metadata"]):
            raise InputError(f'catalog: stream "{stream_id}": "metadata" must be a list of '
                             f'{{"breadcrumb": [...], "metadata": {{...}}}} objects')
        known.append({**entry, "tap_stream_id": stream_id})
    catalog = Catalog.from_dict({"streams": known})
    for entry in catalog.streams:
        if entry.is_selected():
            warn_unsupported_replication(entry, STREAMS[entry.tap_stream_id])
    return catalog


def require_selection(catalog, path):
    """NothingSelected when the catalog selects no stream."""
    if not any(entry.is_selected() for entry in catalog.streams):
        raise NothingSelected(
            f'catalog: "{path}" selects no stream, so a sync would do nothing; set "selected": true in the '
            f"stream-level metadata of each stream to sync (README: Discover, select, run)")


def warn_unsupported_replication(entry, stream):
    """One warning for a selected stream whose catalog asks for a replication method or key
    other than the stream's own: as in the original integration, they are not configurable
    (every key is the one the API can filter on), so the tap does what it always does."""
    top = metadata.to_map(entry.metadata).get((), {})
    asked = {"replication-method": top.get("replication-method", entry.replication_method),
             "replication-key": top.get("replication-key", entry.replication_key)}
    differs = []
    method = asked["replication-method"]
    if method and str(method).upper() != stream.replication_method:
        differs.append(f"replication-method {json.dumps(method)}")
    key = asked["replication-key"]
    if key and key != stream.replication_key:
        differs.append(f"replication-key {json.dumps(key)}")
    if not differs:
        return
    does = (f'INCREMENTAL by "{stream.replication_key}"' if stream.replication_key
            else "FULL_TABLE (no replication key)")
    LOGGER.warning('catalog: stream "%s": %s %s not supported and ignored; the tap replicates this stream %s',
                   stream.name, " and ".join(differs), "are" if len(differs) > 1 else "is", does)


def load_state(path):
    """The state in file `path`, as a dict. An empty file counts as no state, since some
    schedulers create the file before the first run."""
    try:
        if os.path.getsize(path) == 0:
            return {}
    except OSError:
        pass                             # read_json_object reports it
    return read_json_object(path, "state", InputError)
