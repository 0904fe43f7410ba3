"""Temporary bridge to transform.py until records.py lands (issue 11)."""
from .transform import RecordShaper as _Shaper


class MalformedItem(ValueError):
    def __init__(self, field, reason):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


class RecordShaper:
    def __init__(self, stream, schema, mdata, skip_embedded=()):
        columns = set(stream.key_properties)
        if stream.replication_key:
            columns.add(stream.replication_key)
        for name in schema.get("properties", {}):
            meta = mdata.get(("properties", name), {})
            if meta.get("inclusion") == "automatic" or (
                    meta.get("selected") is not False and meta.get("inclusion") != "unsupported"):
                columns.add(name)
        self.schema = dict(schema, properties={k: v for k, v in schema["properties"].items() if k in columns})
        self._shape = _Shaper(stream, schema, columns, skip_embedded)

    def __call__(self, item, parent_id=None):
        return self._shape(item, parent_id)
