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


def _already_conform(schema):
    """The Python types that need no work for `schema` (checked with `type(v) in ...`, so
    bool never passes for integer)."""
    kinds = set(_types(schema)) - {"null"}
    if len(kinds) != 1 or schema.get("format") == "date-time":
        return frozenset()
    return {"string": frozenset({str}), "integer": frozenset({int}), "boolean": frozenset({bool}),
            "number": frozenset({int, float})}.get(kinds.pop(), frozenset())


def compile_value(schema):
    """A function conforming one value to `schema`; None passes through (every column is
    nullable). Keys of nested objects are snake_cased; keys the schema does not know are kept."""
    return _compile(schema)[0]


def _compile(schema):
    """(conformer, kind, nested Fields or None); `kind` lets a compiled shape inline the
    common case: DATE_TIME, OBJECT, ARRAY or LEAF."""
    kinds = set(_types(schema)) - {"null"}
    if "object" in kinds and "properties" in schema:
        fields = Fields(schema["properties"])

        def conform_object(value):
            if value is None:
                return None
            if not isinstance(value, dict):
                raise Unconformable(f"not an object: {value!r}")
            return fields.conform(value)
        return conform_object, OBJECT, fields
    if "array" in kinds:
        item_schema = schema.get("items", {})
        item = compile_value(item_schema)
        ready = _already_conform(item_schema)

        def conform_array(value):
            if value is None:
                return None
            if not isinstance(value, list):
                raise Unconformable(f"not an array: {value!r}")
            if ready and all(type(v) in ready for v in value):
                return value
            return [item(v) for v in value]
        return conform_array, ARRAY, None
    kind = LEAF
    if "string" in kinds and schema.get("format") == "date-time":
        leaf, kind = _date_time, DATE_TIME
    elif "integer" in kinds:
        leaf = _integer
    elif "number" in kinds:
        leaf = _number
    elif "boolean" in kinds:
        leaf = _boolean
    elif "string" in kinds:
        leaf = _string
    else:
        return _snake_keys, LEAF, None

    def conform_leaf(value):
        return None if value is None else leaf(value)
    return conform_leaf, kind, None


DATE_TIME, OBJECT, ARRAY, LEAF = "date-time", "object", "array", "leaf"


def _snake_keys(value):
    if isinstance(value, dict):
        return {snake(k): _snake_keys(v) for k, v in value.items() if k != "_links"}
    if isinstance(value, list):
        return [_snake_keys(v) for v in value]
    return value


class Fields:
    """How to conform the members of one JSON object, compiled from its schema's properties.

    Records of one stream come in a handful of shapes (the same keys, some optional), so the
    work for a shape — which column each key becomes, which values pass as they are — is done
    the first time the shape is seen; a shape seen a few times more is compiled into a Python
    function that does exactly that shape's work with no loop or dispatch (a third of the
    shaping CPU). Nested objects keep keys their schema does not know (snake_cased); a record's
    top level keeps only its columns and lifts HAL's `_embedded` lists to columns of their own."""

    MAX_SHAPES = 512            # more distinct shapes than this: conform key by key
    COMPILE_AFTER = 4           # uses of a shape before it is compiled (one-offs never are)

    def __init__(self, properties, rename=None, top_level=False, skip_embedded=()):
        compiled = {name: _compile(sub) for name, sub in properties.items()}
        self.conformers = {name: c[0] for name, c in compiled.items()}
        self.kinds = {name: (c[1], c[2]) for name, c in compiled.items()}
        self.ready = {name: _already_conform(sub) for name, sub in properties.items()}
        self.rename = rename or {}
        self.top_level = top_level
        self.skip_embedded = frozenset(skip_embedded)
        self.shapes = {}        # keys -> steps, for shapes not compiled (yet)
        self.seen = {}          # keys -> uses so far
        self.compiled = {}      # keys -> function(value) -> out
        self.plans = {}

    def plan(self, key):
        """(column, types that pass as they are, conformer or None for an unknown key)."""
        try:
            return self.plans[key]
        except KeyError:
            name = snake(key)
            name = self.rename.get(name, name)
            plan = (name, self.ready.get(name, frozenset()), self.conformers.get(name))
            if len(self.plans) < self.MAX_SHAPES:
                self.plans[key] = plan
            return plan

    def _shape(self, keys):
        steps = []
        for key in keys:
            if key == "_links":
                continue
            if key == "_embedded" and self.top_level:
                steps.append((key, None, None, None, EMBEDDED))
                continue
            name, ready, conform = self.plan(key)
            if conform is None:
                if not self.top_level:
                    steps.append((key, name, None, None, UNKNOWN))
            else:
                steps.append((key, name, ready, conform, COLUMN))
        return steps

    def conform(self, value):
        keys = tuple(value)
        compiled = self.compiled.get(keys)
        if compiled is not None:
            return compiled(value)
        return self._interpret(keys, value)

    def _interpret(self, keys, value):
        steps = self.shapes.get(keys)
        if steps is None:
            steps = self._shape(keys)
            if len(self.shapes) < self.MAX_SHAPES:
                self.shapes[keys] = steps
        uses = self.seen.get(keys, 0) + 1
        if uses <= self.COMPILE_AFTER and len(self.seen) < self.MAX_SHAPES:
            self.seen[keys] = uses
        elif uses > self.COMPILE_AFTER and len(self.compiled) < self.MAX_SHAPES:
            self.compiled[keys] = self._compile_shape(steps)
            self.shapes.pop(keys, None)
        out = {}
        for key, name, ready, conform, kind in steps:
            member = value[key]
            if kind is COLUMN:
                out[name] = member if member is None or type(member) in ready else conform(member)
            elif kind is UNKNOWN:
                out[name] = _snake_keys(member)
            else:
                self.put_embedded(out, member)
        return out

    def _compile_shape(self, steps):
        """The Python function for one shape: each step's common case inline (a value that
        already has its column's type), the conformer called otherwise."""
        namespace = {"_snake_keys": _snake_keys, "_canonical": _CANONICAL_DATE_TIME.match,
                     "_embedded": self.put_embedded}
        lines = ["def conform(value):", "    out = {}"]
        for number, (key, name, ready, conform, kind) in enumerate(steps):
            lines.append(f"    v = value[{key!r}]")
            if kind is EMBEDDED:
                lines.append("    _embedded(out, v)")
                continue
            if kind is UNKNOWN:
                lines.append(f"    out[{name!r}] = _snake_keys(v)")
                continue
            conformer, nested = f"c{number}", f"f{number}"
            namespace[conformer] = conform
            value_kind, fields = self.kinds.get(name, (LEAF, None))
            if value_kind is DATE_TIME:
                fast = "type(v) is str and _canonical(v)"
            elif value_kind is OBJECT and fields is not None:
                namespace[nested] = fields.conform
                lines.append(f"    out[{name!r}] = v if v is None else "
                             f"({nested}(v) if type(v) is dict else {conformer}(v))")
                continue
            elif value_kind is ARRAY:
                fast = "type(v) is list and not v"
            elif len(ready) == 1:
                namespace[f"t{number}"] = next(iter(ready))
                fast = f"type(v) is t{number}"
            elif ready:
                namespace[f"t{number}"] = ready
                fast = f"type(v) in t{number}"
            else:
                fast = "False"
            lines.append(f"    out[{name!r}] = v if v is None or {fast} else {conformer}(v)")
        lines.append("    return out")
        exec(compile("\n".join(lines), "<shape>", "exec"), namespace)  # pylint: disable=exec-used
        return namespace["conform"]

    def put_embedded(self, out, embedded):
        """HAL's embedded lists are columns of their own (a customer's emails, ...)."""
        for embedded_key, value in embedded.items():
            if embedded_key not in self.skip_embedded:
                self.put(out, embedded_key, value)

    def put(self, out, key, value):
        name, ready, conform = self.plan(key)
        if conform is not None:
            out[name] = value if value is None or type(value) in ready else conform(value)
        elif not self.top_level:
            out[name] = _snake_keys(value)


COLUMN, UNKNOWN, EMBEDDED = "column", "unknown", "embedded"


class RecordShaper:
    """Turns one API item of a stream into the record the contract describes.

    `selected` is the set of columns to keep (None keeps all); `skip_embedded` names embedded
    lists that are child streams, not columns (a conversation's `threads`)."""

    def __init__(self, stream, schema, selected=None, skip_embedded=()):
        self.stream = stream
        self.fields = Fields(schema["properties"], stream.rename, top_level=True, skip_embedded=skip_embedded)
        self.skip_embedded = frozenset(skip_embedded)
        self.drop = tuple(c for c in schema["properties"] if selected is not None and c not in selected)
        self.warned = set()

    def __call__(self, item, parent_id=None):
        try:
            out = self.fields.conform(item)
        except Unconformable:
            out = self._conform_column_by_column(item)
        if self.stream.parent_id_column:
            out[self.stream.parent_id_column] = parent_id
        if self.stream.derive:
            self.stream.derive(out)
        for name in self.drop:
            out.pop(name, None)
        return out

    def _conform_column_by_column(self, item):
        """The slow path, for an item with a value that does not fit its schema: emitting a row
        that breaks its own SCHEMA would stop most targets, so that column is written as null,
        with a warning, and the rest of the row is kept."""
        out = {}
        flat = dict(item)
        embedded = flat.pop("_embedded", None) or {}
        flat.update({k: v for k, v in embedded.items() if k not in self.skip_embedded})
        for key, value in flat.items():
            if key == "_links":
                continue
            try:
                self.fields.put(out, key, value)
            except Unconformable as exc:
                name = self.fields.plan(key)[0]
                out[name] = None
                if name not in self.warned:
                    self.warned.add(name)
                    LOGGER.warning("%s.%s: %s; written as null (further cases not logged)",
                                   self.stream.name, name, exc)
        return out
