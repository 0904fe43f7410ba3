"""--authorize, the parts without sockets: the authorization page's address, what a callback is
answered, what a pasted address or code gives."""
import io
from urllib.parse import parse_qs, urlsplit

import pytest

from tap_helpscout.cli.authorize import (Callbacks, authorization_url, check_port, describe_user,
                                     new_state, parse_pasted, redirect_url)
from tap_helpscout.errors import TapError

STATE = "s3cr3t-state-of-this-run"


def test_the_redirection_url_is_on_the_literal_loopback_address():
    assert redirect_url(8765) == "http://127.0.0.1:8765/callback"


def test_the_authorization_page_gets_the_documented_parameters_only():
    url = authorization_url({"client_id": "app-id", "authorize_url": "https://example.test/authorize"}, STATE)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://example.test/authorize"
    assert parse_qs(parts.query) == {"client_id": ["app-id"], "state": [STATE]}


def test_the_default_authorization_page_is_help_scouts():
    url = authorization_url({"client_id": "app-id"}, STATE)
    assert url.startswith("https://secure.helpscout.net/authentication/authorizeClientApplication?")


def test_states_are_unguessable_and_fresh():
    states = {new_state() for _ in range(50)}
    assert len(states) == 50 and all(len(s) >= 32 for s in states)


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_a_port_out_of_range_is_refused(port):
    with pytest.raises(TapError, match="--port"):
        check_port(port)


def callbacks():
    return Callbacks(STATE, io.StringIO())


def test_a_callback_with_another_state_is_refused_and_the_wait_goes_on():
    waiting = callbacks()
    status, title, _ = waiting.handle("/callback?code=planted&state=other")
    assert status == 400 and "Not this" in title
    assert waiting.handle("/callback?code=planted")[0] == 400        # no state at all
    assert waiting.wait(0) is None
    assert "ignored a callback" in waiting.out.getvalue()
    status, _, text = waiting.handle(f"/callback?code=the-code&state={STATE}")
    assert status == 200 and "close this tab" in text
    assert waiting.wait(0).code == "the-code"


def test_the_first_matching_callback_wins():
    waiting = callbacks()
    waiting.handle(f"/callback?code=first&state={STATE}")
    assert waiting.handle(f"/callback?code=second&state={STATE}")[0] == 200
    assert waiting.wait(0).code == "first"


def test_a_refusal_in_the_browser_ends_the_wait():
    waiting = callbacks()
    assert waiting.handle(f"/callback?error=access_denied&state={STATE}")[0] == 400
    assert waiting.wait(0).error == "access_denied"


def test_other_paths_and_a_callback_without_code():
    waiting = callbacks()
    assert waiting.handle("/favicon.ico")[0] == 404
    assert waiting.handle(f"/callback?state={STATE}")[0] == 400
    assert waiting.wait(0) is None


@pytest.mark.parametrize("pasted", [
    f"http://127.0.0.1:8765/callback?code=abc123def456&state={STATE}\n",
    f"  'https://localhost/callback?state={STATE}&code=abc123def456'  ",
    f"?code=abc123def456&state={STATE}",
    f"code=abc123def456&state={STATE}",
])
def test_a_pasted_address_gives_its_code(pasted):
    assert parse_pasted(pasted, STATE) == ("abc123def456", None)


def test_a_pasted_address_with_another_state_is_refused():
    with pytest.raises(TapError, match="another state"):
        parse_pasted("http://127.0.0.1:8765/callback?code=abc123def456&state=elsewhere", STATE)


def test_a_bare_code_is_accepted_with_a_warning():
    code, warning = parse_pasted("0123456789abcdef0123456789abcdef\n", STATE)
    assert code == "0123456789abcdef0123456789abcdef"
    assert "cannot be checked" in warning


def test_an_address_without_state_is_accepted_with_a_warning():
    code, warning = parse_pasted("https://localhost/callback?code=abc123def456", STATE)
    assert code == "abc123def456" and "no state" in warning


@pytest.mark.parametrize("pasted, words", [
    ("", "nothing was pasted"),
    (f"https://localhost/callback?state={STATE}", "no code"),
    (f"https://localhost/callback?error=access_denied&state={STATE}", "did not authorize"),
    ("this is not it", "neither"),
])
def test_unusable_pastes_are_one_clear_line(pasted, words):
    with pytest.raises(TapError, match=words) as raised:
        parse_pasted(pasted, STATE)
    assert "\n" not in str(raised.value)


def test_the_authorized_user_is_named():
    assert describe_user({"id": 4, "firstName": "Vernon", "lastName": "Bear", "email": "bear@acme.com"}) \
        == "Vernon Bear <bear@acme.com> (user 4)"
    assert describe_user({"id": 4, "email": "bear@acme.com"}) == "bear@acme.com (user 4)"
