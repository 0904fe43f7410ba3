"""The range part of Help Scout's advanced search syntax (`query=`), as documented for List
Conversations and List Customers and in the documentation's llms.txt (docs/sources.md):

    (createdAt:[2024-01-01T00:00:00Z TO 2024-02-01T00:00:00Z])
    (modifiedAt:[2024-01-01T00:00:00Z TO *]) AND (number:[100 TO 200])
    (createdAt:[* TO 2024-01-01T00:00:00Z} AND number:42)

Terms are `field:[low TO high]` with Lucene's bounds: `[ ]` inclusive, `{ }` exclusive (they may
be mixed), `*` for an open end; or `field:value` for one value. Terms are joined with `AND`,
and any group of them may be wrapped in parentheses. Dates are `YYYY-MM-DDTHH:MM:SSZ`. Anything
else (OR, NOT, phrases, other fields) is refused: a test emulator that guessed would hide the
question of whether the real API supports it.
"""
import re
from dataclasses import dataclass
from datetime import datetime, timezone

DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
RANGE = re.compile(r"([A-Za-z]+):([\[{])\s*(\S+?)\s+TO\s+(\S+?)\s*([\]}])")
SINGLE = re.compile(r"([A-Za-z]+):([^\s()\[\]{}]+)")
AND = re.compile(r"\s+AND\s+")


class QueryError(ValueError):
    pass


@dataclass(frozen=True)
class Range:
    field: str
    low: object            # None for an open end
    high: object
    low_inclusive: bool = True
    high_inclusive: bool = True

    def contains(self, value):
        if self.low is not None and (value < self.low or (value == self.low and not self.low_inclusive)):
            return False
        if self.high is not None and (value > self.high or (value == self.high and not self.high_inclusive)):
            return False
        return True


def parse_query(text, fields):
    """The terms of `text`, a list of Range (all must hold). `fields` maps each accepted field
    name to "date" or "int". Raises QueryError when the text is not in the supported syntax."""
    parser = _Parser(text, fields)
    terms = parser.expression()
    parser.skip_space()
    if parser.pos != len(text) or not terms:
        raise QueryError(text)
    return terms


def matches(terms, value_of):
    """Whether a record satisfies every term; `value_of[field]` gives the record's value."""
    return all(term.contains(value_of[term.field]()) for term in terms)


class _Parser:
    def __init__(self, text, fields):
        self.text, self.fields, self.pos = text, fields, 0

    def skip_space(self):
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def expression(self):
        terms = self.group()
        while True:
            joined = AND.match(self.text, self.pos)
            if not joined:
                return terms
            self.pos = joined.end()
            terms += self.group()

    def group(self):
        self.skip_space()
        if self.text.startswith("(", self.pos):
            self.pos += 1
            terms = self.expression()
            self.skip_space()
            if not self.text.startswith(")", self.pos):
                raise QueryError(self.text)
            self.pos += 1
            return terms
        return [self.term()]

    def term(self):
        found = RANGE.match(self.text, self.pos)
        if found:
            name, opening, low, high, closing = found.groups()
            self.pos = found.end()
            return Range(name, self.value(name, low), self.value(name, high), opening == "[", closing == "]")
        found = SINGLE.match(self.text, self.pos)
        if found:
            name, raw = found.groups()
            self.pos = found.end()
            value = self.value(name, raw)
            if value is None:
                raise QueryError(self.text)
            return Range(name, value, value)
        raise QueryError(self.text)

    def value(self, name, raw):
        kind = self.fields.get(name)
        if kind is None:
            raise QueryError(self.text)
        if raw == "*":
            return None
        if kind == "int":
            if not re.fullmatch(r"\d+", raw):
                raise QueryError(self.text)
            return int(raw)
        if not DATE.fullmatch(raw):
            raise QueryError(self.text)
        try:
            return datetime.strptime(raw, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            raise QueryError(self.text) from None
