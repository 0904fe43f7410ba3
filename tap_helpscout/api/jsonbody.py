"""Parsing an answer's body as JSON without a str wider than the body needs: the body is decoded a
slice at a time and the few characters wider than the rest are written as their JSON escapes,
so that the parser reads narrow text and returns exactly what `json.loads(body)` returns (one
emoji in a page of Latin text would otherwise make the whole page four bytes a character, and
fragment the heap: docs/design/http.md, docs/performance.md).
"""
import codecs
import json
import re
from json.encoder import encode_basestring_ascii

SLICE_BYTES = 1024              # decoded a slice at a time: at most 4 KB of str at once

# What each byte of UTF-8 text is: "a" ASCII, "c" a continuation byte, or the first byte of a
# character of 1 (U+0080-U+00FF), 2 (up to U+FFFF) or 4 bytes in a str ("4" also for bytes that
# start no valid character: decoding them fails, and the body is then parsed as it is).
_KINDS = bytes(b"a"[0] if byte < 0x80 else b"c"[0] if byte < 0xC0 else b"1"[0] if byte < 0xC4
               else b"2"[0] if byte < 0xF0 else b"4"[0] for byte in range(256))
_BEYOND_BMP = re.compile("[\U00010000-\U0010ffff]+")
_ESCAPE = "tap_helpscout.api.jsonbody.escape"


class _AsIs(Exception):
    """This body is parsed as it is."""


def _escaped(text, start, end):
    """The JSON escapes of text[start:end]; raises _AsIs right after a backslash."""
    if start and text[start - 1] == "\\":
        raise _AsIs()
    return encode_basestring_ascii(text[start:end])[1:-1]


def _latin1_handler(error):
    return _escaped(error.object, error.start, error.end), error.end


# Towards Latin-1, the codec calls the handler for every run of characters beyond U+00FF (from
# C, faster than a regular expression); beyond U+FFFF (UTF-16 has no such gap) a pattern does.
codecs.register_error(_ESCAPE, _latin1_handler)


def _latin1(piece):
    return piece.encode("latin-1", _ESCAPE).decode("latin-1")


def _bmp(piece):
    return _BEYOND_BMP.sub(lambda match: _escaped(piece, match.start(), match.end()), piece)


def loads(body):
    """The JSON value of `body` (bytes), exactly as `json.loads(body)`; raises ValueError."""
    if body.isascii() or json.detect_encoding(body) != "utf-8":
        return json.loads(body)
    narrow = narrowing(body)
    if narrow is None:
        return json.loads(body)
    try:
        text = narrow_text(body, narrow)
    except (_AsIs, UnicodeDecodeError):
        return json.loads(body)
    return json.loads(text)


def narrowing(body):
    """How to write UTF-8 `body` as the smallest str: a function that escapes the characters of
    a decoded slice wider than the rest, or None when the plain decoded str is the smallest."""
    kinds = body.translate(_KINDS)
    two, four = kinds.count(b"2"), kinds.count(b"4")
    chars = len(body) - kinds.count(b"c")
    plain = chars * (4 if four else 2 if two else 1)
    latin1 = chars + 5 * two + 11 * four            # an escape is 6 characters, or 12
    bmp = 2 * (chars + 11 * four)
    if plain <= min(latin1, bmp):
        return None
    return _latin1 if latin1 <= bmp else _bmp


def narrow_text(body, narrow):
    """UTF-8 `body` decoded a slice at a time, each slice through `narrow`."""
    pieces, start, size = [], 0, len(body)
    while start < size:
        end = min(size, start + SLICE_BYTES)
        for _ in range(3):              # never inside a character: step over continuation bytes
            if end < size and 0x80 <= body[end] < 0xC0:
                end += 1
        if start and body[start] >= 0x80 and body[start - 1] == 0x5C:     # after a backslash
            raise _AsIs()
        pieces.append(narrow(body[start:end].decode("utf-8")))
        start = end
    return "".join(pieces)
