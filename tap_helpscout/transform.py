"""From an API item to a Singer record, in one pass.

The API speaks camelCase with HAL decorations; the contract wants snake_case columns, with the
`_embedded` lists lifted to the top level and `_links` dropped, every value of the type its
schema says, and date-times as RFC 3339 UTC. A `RecordShaper` is compiled once per stream from
its schema and then applied to every item. singer-python's Transformer would do the type part,
but it parses every date-time and costs several times more CPU than the rest of the sync.
"""
import re
from datetime import datetime, timezone

import ciso8601
import singer

LOGGER = singer.get_logger()

_CAMEL_BOUNDARY = re.compile(r"([a-z0-9])([A-Z])")
_SNAKE_CACHE = {}
# The API's own format; anything else is parsed and rewritten.
_CANONICAL_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")


def snake(name):
    try:
        return _SNAKE_CACHE[name]
    except KeyError:
        converted = _SNAKE_CACHE[name] = _CAMEL_BOUNDARY.sub(r"\1_\2", name).replace("-", "_").lower()
        return converted


class Unconformable(ValueError):
    """A value that cannot be turned into its schema's type without losing meaning."""


def format_date_time(moment):
    moment = moment.astimezone(timezone.utc)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_date_time(text):
    """Any ISO 8601 date or date-time; one without an offset is taken as UTC (the API's only
    zone, though one documented example omits the `Z`)."""
    moment = ciso8601.parse_datetime(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def _date_time(value):
    if type(value) is str:
        if _CANONICAL_DATE_TIME.match(value):
            return value
        try:
            return format_date_time(parse_date_time(value))
        except ValueError as exc:
            raise Unconformable(f"not a date-time: {value!r}") from exc
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # Epoch seconds (never seen in v2, but cheap to honour).
        return format_date_time(datetime.fromtimestamp(value, timezone.utc))
    raise Unconformable(f"not a date-time: {value!r}")


def _integer(value):
    if type(value) is int:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise Unconformable(f"not an integer: {value!r}")


def _number(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise Unconformable(f"not a number: {value!r}") from exc


def _string(value):
    if type(value) is str:
        return value
    if isinstance(value, (dict, list)):
        raise Unconformable(f"not a string: {value!r}")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _boolean(value):
    if type(value) is bool:
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise Unconformable(f"not a boolean: {value!r}")


def _types(schema):
    kinds = schema.get("type", [])
    return [kinds] if isinstance(kinds, str) else list(kinds)


def compile_value(schema):
    """A function conforming one value to `schema`; None passes through (every column is
    nullable). Keys of nested objects are snake_cased; keys the schema does not know are kept."""
    kinds = set(_types(schema)) - {"null"}
    if "object" in kinds and "properties" in schema:
        return _object_conformer(schema["properties"])
    if "array" in kinds:
        item = compile_value(schema.get("items", {}))

        def conform_array(value):
            if value is None:
                return None
            if not isinstance(value, list):
                raise Unconformable(f"not an array: {value!r}")
            return [item(v) for v in value]
        return conform_array
    if "string" in kinds and schema.get("format") == "date-time":
        leaf = _date_time
    elif "integer" in kinds:
        leaf = _integer
    elif "number" in kinds:
        leaf = _number
    elif "boolean" in kinds:
        leaf = _boolean
    elif "string" in kinds:
        leaf = _string
    else:
        return _untyped

    def conform_leaf(value):
        return None if value is None else leaf(value)
    return conform_leaf


def _untyped(value):
    return _snake_keys(value)


def _snake_keys(value):
    if isinstance(value, dict):
        return {snake(k): _snake_keys(v) for k, v in value.items() if k != "_links"}
    if isinstance(value, list):
        return [_snake_keys(v) for v in value]
    return value


def _object_conformer(properties):
    fields = {name: compile_value(sub) for name, sub in properties.items()}

    def conform_object(value):
        if value is None:
            return None
        if not isinstance(value, dict):
            raise Unconformable(f"not an object: {value!r}")
        out = {}
        for key, sub in value.items():
            if key == "_links":
                continue
            name = snake(key)
            conform = fields.get(name)
            out[name] = conform(sub) if conform else _snake_keys(sub)
        return out
    return conform_object


class RecordShaper:
    """Turns one API item of a stream into the record the contract describes.

    `selected` is the set of columns to keep (None keeps all); `skip_embedded` names embedded
    lists that are child streams, not columns (a conversation's `threads`)."""

    def __init__(self, stream, schema, selected=None, skip_embedded=()):
        self.stream = stream
        self.columns = {name: compile_value(sub) for name, sub in schema["properties"].items()}
        self.rename = dict(stream.rename)
        self.skip_embedded = frozenset(skip_embedded)
        self.drop = tuple(c for c in self.columns if selected is not None and c not in selected)
        self.warned = set()

    def _put(self, out, key, value):
        name = snake(key)
        name = self.rename.get(name, name)
        conform = self.columns.get(name)
        if conform is None:
            return
        try:
            out[name] = conform(value)
        except Unconformable as exc:
            # Emitting a row that breaks its own SCHEMA would stop most targets; a null with a
            # warning keeps the row and says what happened.
            if name not in self.warned:
                self.warned.add(name)
                LOGGER.warning("%s.%s: %s; written as null (further cases not logged)",
                               self.stream.name, name, exc)
            out[name] = None

    def __call__(self, item, parent_id=None):
        out = {}
        for key, value in item.items():
            if key == "_links":
                continue
            if key == "_embedded":
                for embedded_key, embedded in value.items():
                    if embedded_key not in self.skip_embedded:
                        self._put(out, embedded_key, embedded)
                continue
            self._put(out, key, value)
        if self.stream.parent_id_column:
            out[self.stream.parent_id_column] = parent_id
        if self.stream.derive:
            self.stream.derive(out)
        for name in self.drop:
            out.pop(name, None)
        return out
