"""Answer bodies parsed through narrow text (tap_helpscout/api/jsonbody.py): the same values and
the same errors as json.loads, from a str that holds no character wider than the body needs."""
import codecs
import json

import pytest

from tap_helpscout.api.jsonbody import SLICE_BYTES, loads, narrow_text, narrowing

LATIN = "Thanks! That fixed it. Café, naïve, Zoë. "
GREEK = "Ευχαριστώ πολύ, λειτουργεί τώρα. "


def page(text, rows=40):
    """A HAL page whose rows hold `text` in a few fields, as the API sends it (raw UTF-8)."""
    items = [{"id": i, "subject": text[:30], "body": text * 3, "tags": [text[:5]]} for i in range(rows)]
    return json.dumps({"_embedded": {"conversations": items}, "page": {"number": 1}},
                      ensure_ascii=False).encode("utf-8")


def text_of(body):
    narrow = narrowing(body)
    return body.decode("utf-8") if narrow is None else narrow_text(body, narrow)


@pytest.mark.parametrize("text, widest", [
    (LATIN + "🙂", 0xFF),               # one emoji would make the whole str 4 bytes a character
    (LATIN + "— 王 α", 0xFF),
    (GREEK + "🙂", 0xFFFF),             # Greek stays, the emoji is escaped
    (GREEK, 0xFFFF),                    # already two bytes a character: parsed as it is
    ("🙂👍" * 20, 0x10FFFF),            # mostly emoji: escaping would only make it longer
    ("plain ASCII", 0x7F),
])
def test_a_body_is_parsed_from_the_narrowest_text(text, widest):
    body = page(text)
    assert loads(body) == json.loads(body)
    assert max(map(ord, text_of(body))) <= widest


def test_escaping_happens_only_when_it_makes_the_text_smaller():
    assert narrowing(page(GREEK)) is None
    assert narrowing(page("🙂👍" * 20)) is None
    assert narrowing(page(LATIN + "🙂")) is not None


@pytest.mark.parametrize("offset", range(4))
def test_characters_across_slice_boundaries(offset):
    # A group is 17 bytes; over 18 slices a slice ends at every byte of a group.
    text = "x" * offset + "abcdefghé王🙂" * (18 * SLICE_BYTES // 17)
    body = json.dumps([text, "\\", '"', "\u2028"], ensure_ascii=False).encode("utf-8")
    assert loads(body) == json.loads(body) == [text, "\\", '"', "\u2028"]
    assert max(map(ord, text_of(body))) <= 0xFF


def at_slice_end(before):
    """A body whose slice ends with `before` and whose next slice starts with a wide character."""
    head = '["' + "x" * (SLICE_BYTES - 2 - len(before)) + before
    return (head + '王 🙂 and more"]').encode("utf-8")


@pytest.mark.parametrize("body", [
    b'["caf\xc3\xa9 \\\\\xe7\x8e\x8b \xf0\x9f\x99\x82"]',       # an escaped backslash, then a character
    at_slice_end("\\\\"),
    b'["\\ud83d\xf0\x9f\x99\x82", "\xf0\x9f\x99\x82\\ude00"]',  # lone escaped surrogates next to an emoji
    codecs.BOM_UTF8 + '{"a": "é🙂"}'.encode(),
    '{"a": "é🙂"}'.encode("utf-16-le"),
    '{"a": "é🙂"}'.encode("utf-32"),
])
def test_the_same_value_as_json_loads(body):
    assert loads(body) == json.loads(body)


@pytest.mark.parametrize("body", [
    b'["\\\xe7\x8e\x8b \xf0\x9f\x99\x82"]',    # a backslash before a character: invalid, escaped or not
    at_slice_end("\\"),
    b'["caf\xc3\xa9 \xf0\x9f\x99\x82"',        # cut short
    b'["caf\xe9 \xf0\x9f\x99\x82"]',           # Latin-1, not UTF-8
    b'["\xed\xa0\x80 \xf0\x9f\x99\x82"]',      # an encoded surrogate, which json.loads lets through
    b'caf\xc3\xa9 \xf0\x9f\x99\x82',           # not JSON at all
])
def test_the_same_outcome_as_json_loads_for_broken_bodies(body):
    try:
        expected = json.loads(body)
    except ValueError:
        with pytest.raises(ValueError):
            loads(body)
    else:
        assert loads(body) == expected


def test_random_bodies_and_their_corruptions_give_what_json_loads_gives():
    # Seeded, so that a failure can be replayed: text mixing every width of character with the
    # characters JSON treats specially, then the same bodies with a byte changed or removed.
    import random
    rng = random.Random(20261201)
    alphabet = list("ab \\\"/\n\t{}[]:,") + ["é", "ÿ", "Ā", "王", "\u2028", "\ud7ff", "\ue000", "🙂", "𝄞"]
    for _ in range(400):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3 * SLICE_BYTES)))
        body = json.dumps({"body": text, "more": [text[:7], rng.random()]}, ensure_ascii=False).encode("utf-8")
        corrupt = bytearray(body)
        at = rng.randrange(len(corrupt))
        if rng.random() < 0.5:
            corrupt[at] = rng.randrange(256)
        else:
            del corrupt[at]
        for candidate in (body, bytes(corrupt)):
            try:
                expected = json.loads(candidate)
            except ValueError:
                with pytest.raises(ValueError):
                    loads(candidate)
            else:
                assert loads(candidate) == expected
