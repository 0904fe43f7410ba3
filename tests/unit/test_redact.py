"""The Redactor: every secret the run knows is hidden, and server text becomes one safe line."""
from tap_helpscout.redact import MASK, Redactor


def test_every_known_secret_is_hidden_also_url_encoded():
    redactor = Redactor(["s3cret-client", "refresh/a+b="])
    text = "client_secret s3cret-client, token refresh%2Fa%2Bb%3D and refresh%2Fa%2Bb%3D again"
    line = redactor.line(text)
    assert "s3cret-client" not in line and "refresh" not in line.replace("refresh%", "")
    assert line.count(MASK) == 3


def test_secrets_added_later_are_hidden_from_then_on():
    redactor = Redactor()
    assert redactor.line("token abcd1234") == "token abcd1234"
    redactor.add("abcd1234", None, "")
    assert redactor.line("token abcd1234") == f"token {MASK}"


def test_a_secret_containing_another_is_hidden_whole():
    redactor = Redactor(["abcd", "abcdefgh"])
    assert redactor.line("x abcdefgh y") == f"x {MASK} y"


def test_credentials_it_was_not_told_about_are_hidden_by_shape():
    line = Redactor().line('Authorization: Bearer 0123456789abcdef; {"refresh_token": "rt-1", '
                           '"access_token":"at-2"} client_secret=cs-3&x=1 Basic dXNlcjpwdw==')
    for secret in ("0123456789abcdef", "rt-1", "at-2", "cs-3", "dXNlcjpwdw=="):
        assert secret not in line
    assert "Bearer <redacted>" in line and "x=1" in line


def test_a_line_has_no_control_characters_and_is_cut():
    text = "first\nINFO fake log line\r\n\x1b[31mred\x1b[0m \u202egnirts\u2028next\t" + "y" * 1000
    line = Redactor().line(text, limit=120)
    assert len(line) <= 120 and line.endswith("…")
    assert all(ch.isprintable() for ch in line)
    assert "\n" not in line and "\x1b" not in line and "\u202e" not in line
    assert line.startswith("first INFO fake log line [31mred [0m gnirts next y")


def test_scrub_keeps_line_breaks_for_a_traceback():
    assert Redactor(["secret-value"]).scrub("a\nsecret-value\nb") == f"a\n{MASK}\nb"


def test_a_secret_cut_at_the_limit_is_hidden_before_the_cut():
    secret = "z" * 40
    line = Redactor([secret]).line("x" * 95 + secret, limit=100)
    assert "zzzz" not in line


def test_short_values_are_not_treated_as_secrets():
    assert Redactor(["x", "ab"]).line("x ab xab") == "x ab xab"
