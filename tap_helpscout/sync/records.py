"""From an API item to a Singer record: snake_case columns at every depth, `_links` dropped (but
the hrefs a stream names), the `_embedded` lists lifted to top-level columns, every value of the
type its schema says, date-times as RFC 3339 UTC, and the catalog's column selection at every
depth. A value that cannot be conformed to its column's type becomes null (a value in a field
the schema does not type, and that is not valid JSON, such as NaN, is dropped): one bad value
never costs the row. `RecordShaper` returns the record with the list of such problems, each
naming the column path, so that the engine can warn. How and why: docs/design/records.md.
"""
import copy
import json
import math
import re
import threading
from datetime import date, datetime, timezone

from singer import metadata as singer_metadata

from tap_helpscout.errors import TapError
from tap_helpscout.streams import link_href
from tap_helpscout.timefmt import format_date_time, parse_date_time

__all__ = ["MalformedItem", "RecordShaper", "snake"]


class MalformedItem(TapError):
    """An item that is not an object at all (null, a list, a number): the engine skips it with
    a warning. `field` is None; `reason` says what it is, in one line."""

    def __init__(self, field, reason):
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


class _Unfit(Exception):
    """Raised by a conformer for a value that cannot be conformed. `drop`: the value is left
    out (not valid JSON) rather than made null."""

    def __init__(self, reason, drop=False):
        super().__init__(reason)
        self.reason = reason
        self.drop = drop


# The problems of the item being shaped on this thread: [(column path, innermost part first;
# reason)]. Containers add their member's name to the paths of problems found inside it.
_NOTED = threading.local()


def _note(part, reason):
    _NOTED.problems.append(([part], reason))


# --- names --------------------------------------------------------------------------------------

_CAMEL_BOUNDARY = re.compile(r"([a-z0-9])([A-Z])")
_SNAKE_CACHE = {}
_CACHE_LIMIT = 4096        # keys come from the server: never let its whims grow a cache unbounded


def snake(name):
    """`customerWaitingSince` -> `customer_waiting_since`; `social-profiles` -> `social_profiles`."""
    converted = _SNAKE_CACHE.get(name)
    if converted is None:
        converted = _CAMEL_BOUNDARY.sub(r"\1_\2", name).replace("-", "_").lower()
        if len(_SNAKE_CACHE) < _CACHE_LIMIT:
            _SNAKE_CACHE[name] = converted
    return converted


# --- leaf values ----------------------------------------------------------------------------------

class _Never:
    """A type no value has: its column always goes through its conformer."""


# The API's own form. It passes unparsed once its day is known to exist (2024-02-30 must not).
_CANONICAL_DATE_TIME = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z")
_INTEGER_TEXT = re.compile(r"\s*[+-]?[0-9]+\s*")


def _shown(value):
    """A value for a message: JSON (so no control character reaches the log), cut short; objects
    and arrays only by kind, since they may hold personal data."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    try:
        text = json.dumps(value)
    except ValueError:              # NaN and infinities with allow_nan off; never here, but cheap
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _day_exists(text):
    try:
        date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
        return True
    except ValueError:
        return False


def _date_time(value):
    if type(value) is str:
        if _CANONICAL_DATE_TIME.fullmatch(value) and (value[8:10] <= "28" or _day_exists(value)):
            return value
        if not value:
            return None                 # an empty date-time is null, as singer-python reads it
        try:
            return format_date_time(parse_date_time(value))
        except ValueError:
            raise _Unfit(f"not a date-time: {_shown(value)}") from None
    if type(value) in (int, float):
        # Epoch seconds: never seen in v2, honoured as the original integration did.
        try:
            return format_date_time(datetime.fromtimestamp(value, timezone.utc))
        except (ValueError, OverflowError, OSError):
            pass
    raise _Unfit(f"not a date-time: {_shown(value)}")


def _integer(value):
    if type(value) is float and value.is_integer():     # 7.0; NaN and infinities are not
        return int(value)
    if type(value) is str and _INTEGER_TEXT.fullmatch(value):
        return int(value)
    raise _Unfit(f"not an integer: {_shown(value)}")


def _number(value):
    number = None
    if type(value) in (int, float):
        number = value
    elif type(value) is str:
        try:
            number = float(value)
        except ValueError:
            pass
    if number is None or not math.isfinite(number):     # NaN would break the JSON of the row
        raise _Unfit(f"not a number: {_shown(value)}")
    return number


def _string(value):
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return str(value)
    raise _Unfit(f"not a string: {_shown(value)}")


def _boolean(value):
    if type(value) is int and value in (0, 1):
        return bool(value)
    if type(value) is str and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _Unfit(f"not a boolean: {_shown(value)}")


def _keep(value):
    """A value the schema does not describe: kept, with snake_case keys and no `_links`; what is
    not valid JSON (NaN, infinities) is left out, and noted."""
    kind = type(value)
    if kind is dict:
        out = {}
        for key, member in value.items():
            if key != "_links":
                _keep_member(out, snake(key), member)
        return out
    if kind is list:
        out = []
        for member in value:
            _keep_member(out, f"[{len(out)}]", member)
        return out
    if kind is float and not math.isfinite(value):
        raise _Unfit(f"not valid JSON: {_shown(value)}", drop=True)
    return value


def _keep_member(out, name, member):
    problems = _NOTED.problems
    before = len(problems)
    try:
        kept = _keep(member)
    except _Unfit as exc:
        _note(name, exc.reason)
        if type(out) is list:
            out.append(None)
        return
    for index in range(before, len(problems)):
        problems[index][0].append(name)
    if type(out) is list:
        out.append(kept)
    else:
        out[name] = kept


def _types(schema):
    kinds = schema.get("type", [])
    return {kinds} if isinstance(kinds, str) else set(kinds)


def _conformer(schema, dropped):
    """(type that passes as it is, function conforming any other non-null value) for `schema`.
    `dropped` is the deselection tree below this node (see `_deselected`)."""
    kinds = _types(schema) - {"null"}
    if "object" in kinds and schema.get("properties"):
        return _Never, ObjectPlan(schema["properties"], dropped).conform
    if "array" in kinds:
        return _Never, ArrayPlan(schema.get("items", {}), dropped).conform
    if "string" in kinds and schema.get("format") == "date-time":
        return _Never, _date_time
    for kind, passes, conform in (("integer", int, _integer), ("number", int, _number),
                                  ("boolean", bool, _boolean), ("string", str, _string)):
        if kind in kinds:
            return passes, conform
    return _Never, _keep


# --- containers -----------------------------------------------------------------------------------

_DROP = (None, None, None)


class ObjectPlan:
    """How to conform the members of one JSON object: for each API key (cached on first sight),
    the column it becomes, the type that passes as it is, and the conformer for anything else.

    Keys the schema does not know are kept (snake_cased) in nested objects, and dropped at a
    record's top level, where only columns belong. `never` are API keys always dropped."""

    PLAN_LIMIT = 1024

    def __init__(self, properties, dropped=None, rename=None, top_level=False,
                 never=frozenset({"_links"})):
        dropped = dropped or {}
        self.fields = {name: _conformer(sub, dropped.get(name))
                       for name, sub in properties.items() if dropped.get(name) is not True}
        self.deselected = frozenset(name for name in properties if dropped.get(name) is True)
        self.rename = rename or {}
        self.top_level = top_level
        self.never = frozenset(never)
        self.plans = {}

    def with_never(self, never):
        """The same columns, dropping other API keys (for a record's `_embedded` members)."""
        other = copy.copy(self)
        other.never, other.plans = frozenset(never), {}
        return other

    def _plan(self, key):
        name = snake(key)
        name = self.rename.get(name, name)
        if key in self.never or name in self.deselected:
            plan = _DROP
        elif name in self.fields:
            plan = (name, *self.fields[name])
        else:
            plan = _DROP if self.top_level else (name, _Never, _keep)
        if len(self.plans) < self.PLAN_LIMIT:
            self.plans[key] = plan
        return plan

    def conform(self, value):
        if type(value) is not dict:
            raise _Unfit(f"not an object: {_shown(value)}")
        out = {}
        self.conform_into(out, value)
        return out

    def conform_into(self, out, value):
        """Conform `value`'s members into `out`; a member that cannot be conformed becomes null
        (or is left out, when it is not valid JSON), and is noted."""
        plans = self.plans
        for key, member in value.items():
            name, passes, conform = plans.get(key) or self._plan(key)
            if name is None:
                continue
            if member is None or type(member) is passes:
                out[name] = member
                continue
            problems = _NOTED.problems
            before = len(problems)
            try:
                out[name] = conform(member)
            except _Unfit as exc:
                _note(name, exc.reason)
                if not exc.drop:
                    out[name] = None
                continue
            except RecursionError:
                _note(name, "nested too deeply")
                continue
            for index in range(before, len(problems)):
                problems[index][0].append(name)


class ArrayPlan:
    def __init__(self, item_schema, dropped=None):
        self.passes, self.item = _conformer(item_schema, dropped)

    def conform(self, value):
        if type(value) is not list:
            raise _Unfit(f"not an array: {_shown(value)}")
        passes, item = self.passes, self.item
        if passes is not _Never:
            for member in value:
                if member is not None and type(member) is not passes:
                    break
            else:
                return value                 # a list of plain values that already fit
        out = []
        append = out.append
        for member in value:
            if member is None or type(member) is passes:
                append(member)
                continue
            problems = _NOTED.problems
            before = len(problems)
            try:
                append(item(member))
            except _Unfit as exc:
                _note(f"[{len(out)}]", exc.reason)
                append(None)
                continue
            for index in range(before, len(problems)):
                problems[index][0].append(f"[{len(out) - 1}]")
        return out


def _field(path):
    """A noted problem's column path (its parts innermost first), outermost first:
    `custom_fields[2].id`."""
    text = ""
    for part in reversed(path):
        text += part if part.startswith("[") or not text else "." + part
    return text


# --- selection ------------------------------------------------------------------------------------

def _is_selected(meta):
    """singer-python's rule for one breadcrumb (Transformer.filter_data_by_metadata)."""
    if not meta or meta.get("inclusion") == "automatic":
        return True
    return meta.get("selected") is not False and meta.get("inclusion") != "unsupported"


def _items_of(schema, breadcrumb):
    """The object schema whose properties a column's values carry: the column itself, or the
    items of an array (of arrays...), with the matching breadcrumb."""
    while "array" in _types(schema) and isinstance(schema.get("items"), dict):
        schema, breadcrumb = schema["items"], breadcrumb + ("items",)
    return schema, breadcrumb


def _deselected(schema, mdata, breadcrumb=(), always=()):
    """The deselection tree of an object schema: {column: True} for a column to drop, {column:
    subtree} for a column with something dropped inside (an array's subtree applies to its
    items). Empty when everything is selected."""
    tree = {}
    for name, sub in (schema.get("properties") or {}).items():
        crumb = breadcrumb + ("properties", name)
        if name not in always and not _is_selected(mdata.get(crumb)):
            tree[name] = True
            continue
        inner, inner_crumb = _items_of(sub, crumb)
        below = _deselected(inner, mdata, inner_crumb)
        if below:
            tree[name] = below
    return tree


def _without(schema, tree):
    """A copy of `schema` without the deselected properties of `tree`."""
    schema = dict(schema)
    if "properties" in schema:
        schema["properties"] = {name: sub if name not in tree else _without(sub, tree[name])
                                for name, sub in schema["properties"].items() if tree.get(name) is not True}
    elif isinstance(schema.get("items"), dict):
        schema["items"] = _without(schema["items"], tree)
    return schema


def _prune(value, tree):
    if type(value) is list:
        for member in value:
            _prune(member, tree)
    elif type(value) is dict:
        for name, below in tree.items():
            if below is True:
                value.pop(name, None)
            elif name in value:
                _prune(value[name], below)


# --- the shaper -----------------------------------------------------------------------------------

class RecordShaper:
    """Turns one API item of a stream into the record the contract describes. stream: a
    streams.Stream (rename, derive, links, parent_id_column, key_properties, replication_key);
    schema: the catalog entry's schema; mdata: `singer.metadata.to_map(entry.metadata)` (None
    selects every column); skip_embedded: `_embedded` lists that are child streams, not columns
    (a conversation's `threads`). `schema` (the attribute) is what the SCHEMA message announces."""

    def __init__(self, stream, schema, mdata=None, skip_embedded=()):
        if isinstance(mdata, list):
            mdata = singer_metadata.to_map(mdata)
        always = set(stream.key_properties) | ({stream.replication_key} if stream.replication_key else set())
        tree = _deselected(schema, mdata or {}, always=frozenset(always))
        self.stream = stream
        self.schema = _without(copy.deepcopy(schema), tree)
        # A derived column (conversations' updated_at) may be computed from deselected ones: such
        # a stream conforms every column and prunes after deriving; others never touch them.
        self.prune_after = tree if stream.derive and tree else None
        top = ObjectPlan(schema.get("properties", {}), None if stream.derive else tree,
                         rename=stream.rename, top_level=True, never={"_links", "_embedded"})
        self.top = top
        self.embedded = top.with_never({"_links", *skip_embedded})

    def __call__(self, item, parent_id=None):
        """The record of `item` (see `shape`), its problems left aside."""
        return self.shape(item, parent_id)[0]

    def shape(self, item, parent_id=None):
        """(the record of `item`, [(column path, reason)] of the values made null or left out).
        Raises MalformedItem only for an item that is not an object."""
        if type(item) is not dict:
            raise MalformedItem(None, f"the item is {_shown(item)}, not an object")
        out = {}
        _NOTED.problems = problems = []
        self.top.conform_into(out, item)
        embedded = item.get("_embedded")
        if embedded:
            if type(embedded) is dict:
                self.embedded.conform_into(out, embedded)
            else:
                _note("_embedded", f"not an object: {_shown(embedded)}")
        stream = self.stream
        if stream.parent_id_column:
            out[stream.parent_id_column] = parent_id
        for column in (c for c in stream.links if c in self.schema["properties"]):     # selected link columns
            out[column] = link_href(item.get("_links"), stream.links[column])
        if stream.derive:
            stream.derive(out)
        if self.prune_after:
            _prune(out, self.prune_after)
        return out, [(_field(path), reason) for path, reason in problems]
