"""TokenManager and its grants (tap_helpscout/api/auth.py) with a fake token endpoint and a
fake clock: no sockets, no sleeps. The token store's files are real (in tmp_path). The lock
held by another process: tests/integration/test_token_store.py."""
import json
import os
import threading

import pytest

from tap_helpscout.api import safe_files
from tap_helpscout.api.auth import TokenAnswer
from tap_helpscout.errors import AuthError, ConfigError, TapError
from tap_helpscout.api.token_store import TokenStore, fingerprint, store_tokens
from tests.support.tokens import FakeClock, TokenEndpoint, config_file, manager


def test_nothing_is_requested_until_a_token_is_needed(tmp_path):
    endpoint = TokenEndpoint()
    tokens = manager(config_file(tmp_path), endpoint)
    assert endpoint.forms == [] and tokens.mode == "refresh_token"
    assert tokens.token() == "at-1"
    assert tokens.token() == "at-1" and len(endpoint.forms) == 1


def test_the_rotated_refresh_token_is_stored_before_the_access_token_is_handed_out(tmp_path):
    path = config_file(tmp_path)
    tokens = manager(path, TokenEndpoint())
    token = tokens.token()
    stored = json.loads(path.read_text())
    assert (stored["refresh_token"], stored["access_token"], token) == ("rt-1", "at-1", "at-1")


def test_a_new_refresh_token_without_an_access_token_is_still_stored(tmp_path):
    path = config_file(tmp_path)
    endpoint = TokenEndpoint()
    endpoint.answers = [TokenAnswer(200, {"refresh_token": "rt-new", "expires_in": 10})]
    with pytest.raises(AuthError, match="without an access token"):
        manager(path, endpoint).token()
    assert json.loads(path.read_text())["refresh_token"] == "rt-new"


@pytest.mark.parametrize("expires_in", [0, -5, None, "soon", float("nan")])
def test_a_lifetime_that_is_not_positive_does_not_renew_per_request(tmp_path, expires_in):
    clock = FakeClock()
    endpoint = TokenEndpoint(expires_in=expires_in)
    tokens = manager(config_file(tmp_path), endpoint, clock)
    tokens.token()
    clock.now += 10_000
    tokens.token()
    assert len(endpoint.forms) == 1


def test_a_token_is_renewed_shortly_before_it_expires(tmp_path):
    clock = FakeClock()
    endpoint = TokenEndpoint(expires_in=100)
    tokens = manager(config_file(tmp_path), endpoint, clock)
    assert tokens.token() == "at-1"
    clock.now += 89
    assert tokens.token() == "at-1"
    clock.now += 2                    # within a tenth of the lifetime of the end
    assert tokens.token() == "at-2"


def test_refused_credentials_are_asked_once_and_everyone_gets_the_same_error(tmp_path):
    endpoint = TokenEndpoint(refresh_token="rt-elsewhere")
    tokens = manager(config_file(tmp_path), endpoint)
    errors = []

    def ask():
        try:
            tokens.token()
        except AuthError as exc:
            errors.append(str(exc))
    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(endpoint.forms) == 1 and len(errors) == 8 and len(set(errors)) == 1
    assert "the refresh token was rejected" in errors[0] and "Invalid refresh_token" in errors[0]


def test_a_refused_token_is_replaced_once_for_all_threads(tmp_path):
    endpoint = TokenEndpoint()
    tokens = manager(config_file(tmp_path), endpoint)
    first = tokens.token()
    replacements = {tokens.replace_refused(first) for _ in range(5)}
    assert replacements == {"at-2"} and len(endpoint.forms) == 2


def test_server_text_in_a_refusal_is_redacted(tmp_path):
    endpoint = TokenEndpoint()
    endpoint.answers = [TokenAnswer(400, {"error": "invalid_request", "error_description":
                                          "rt-0 is not valid for app-secret\nINFO forged"})]
    with pytest.raises(AuthError) as raised:
        manager(config_file(tmp_path), endpoint).token()
    message = str(raised.value)
    assert "rt-0" not in message and "app-secret" not in message and "\n" not in message


def test_client_credentials_and_a_bare_access_token(tmp_path):
    endpoint = TokenEndpoint()
    tokens = manager(config_file(tmp_path, refresh_token=None), endpoint)
    assert tokens.mode == "client_credentials" and tokens.token() == "at-1"
    bare = manager(config_file(tmp_path, client_id=None, client_secret=None, refresh_token=None,
                               access_token="given-token"), endpoint)
    assert bare.mode == "access_token" and bare.token() == "given-token"
    with pytest.raises(AuthError, match="refused the configured access_token"):
        bare.replace_refused("given-token")


def test_no_credentials_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no Help Scout credentials"):
        manager(config_file(tmp_path, client_id=None, client_secret=None, refresh_token=None),
                TokenEndpoint())


# -- the token store ---------------------------------------------------------------------------

def test_a_stored_token_is_used_even_when_the_config_has_no_refresh_token(tmp_path):
    store = tmp_path / "token.json"
    store.write_text(json.dumps({"refresh_token": "rt-0", "access_token": None,
                                 "config_refresh_token_sha256": None}))
    endpoint = TokenEndpoint()
    tokens = manager(config_file(tmp_path, refresh_token=None, token_store_path=str(store)), endpoint)
    assert tokens.mode == "refresh_token"
    assert tokens.token() == "at-1"
    assert endpoint.forms[0]["refresh_token"] == "rt-0"
    assert json.loads(store.read_text())["refresh_token"] == "rt-1"


def test_the_store_is_used_for_the_config_token_it_was_written_for(tmp_path):
    store = tmp_path / "token.json"
    store.write_text(json.dumps({"refresh_token": "rt-0", "access_token": "at-stored",
                                 "config_refresh_token_sha256": fingerprint("rt-original")}))
    endpoint = TokenEndpoint()
    tokens = manager(config_file(tmp_path, refresh_token="rt-original", token_store_path=str(store)),
                     endpoint)
    assert tokens.token() == "at-stored" and endpoint.forms == []


def test_a_new_refresh_token_in_the_config_wins_over_the_store(tmp_path):
    store = tmp_path / "token.json"
    store.write_text(json.dumps({"refresh_token": "rt-stale", "access_token": "at-stale",
                                 "config_refresh_token_sha256": fingerprint("rt-original")}))
    endpoint = TokenEndpoint()
    tokens = manager(config_file(tmp_path, refresh_token="rt-0", token_store_path=str(store)),
                     endpoint)
    assert tokens.token() == "at-1" and endpoint.forms[0]["refresh_token"] == "rt-0"
    stored = json.loads(store.read_text())
    assert stored["refresh_token"] == "rt-1"
    assert stored["config_refresh_token_sha256"] == fingerprint("rt-0")


def test_an_unwritable_token_store_stops_before_spending_the_refresh_token(tmp_path):
    store = tmp_path / "no-such-folder" / "token.json"
    endpoint = TokenEndpoint()
    tokens = manager(config_file(tmp_path, token_store_path=str(store)), endpoint)
    with pytest.raises(TapError, match="token_store_path .* cannot be written: it does not exist"):
        tokens.token()
    with pytest.raises(TapError):
        tokens.token()
    assert endpoint.forms == []


def test_a_file_in_a_read_only_folder_is_written_in_place(tmp_path, monkeypatch):
    path = config_file(tmp_path)
    refuse_new_files(monkeypatch, tmp_path)
    inode = os.stat(path).st_ino
    manager(path, TokenEndpoint()).token()
    assert json.loads(path.read_text())["refresh_token"] == "rt-1"
    assert os.stat(path).st_ino == inode


def refuse_new_files(monkeypatch, folder):
    """`folder` takes no new file (a read-only folder holding a writable file), as root sees it
    too: creating one there is refused."""
    real_open, real_mkstemp = safe_files.os.open, safe_files.tempfile.mkstemp

    def guarded_open(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and os.path.dirname(os.path.abspath(path)) == str(folder) and not os.path.exists(path):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)

    def guarded_mkstemp(*args, dir=None, **kwargs):
        if dir is not None and os.path.abspath(dir) == str(folder):
            raise PermissionError(13, "Permission denied")
        return real_mkstemp(*args, dir=dir, **kwargs)
    monkeypatch.setattr(safe_files.os, "open", guarded_open)
    monkeypatch.setattr(safe_files.tempfile, "mkstemp", guarded_mkstemp)


# -- store_tokens (for --authorize) ----------------------------------------------------------------

def test_store_tokens_writes_the_config_file_keeping_its_keys_and_mode(tmp_path):
    path = config_file(tmp_path, refresh_token=None, user_agent="acme/1")
    os.chmod(path, 0o640)
    store_tokens(json.loads(path.read_text()), str(path), "rt-new", "at-new")
    stored = json.loads(path.read_text())
    assert (stored["refresh_token"], stored["access_token"], stored["user_agent"]) == \
        ("rt-new", "at-new", "acme/1")
    assert os.stat(path).st_mode & 0o777 == 0o640


def test_store_tokens_creates_a_missing_config_file_private(tmp_path):
    path = tmp_path / "new-config.json"
    store_tokens({"client_id": "a", "client_secret": "b"}, str(path), "rt-new", "at-new")
    assert json.loads(path.read_text()) == {"refresh_token": "rt-new", "access_token": "at-new"}
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_store_tokens_goes_to_the_token_store_and_the_next_run_uses_it(tmp_path):
    store = tmp_path / "token.json"
    path = config_file(tmp_path, refresh_token=None, token_store_path=str(store))
    before = path.read_text()
    config = json.loads(before)
    store_tokens(config, str(path), "rt-0", "at-authorized")
    assert path.read_text() == before
    assert os.stat(store).st_mode & 0o777 == 0o600
    assert TokenStore(config, str(path)).initial() == ("rt-0", "at-authorized")
    tokens = manager(path, TokenEndpoint())
    assert tokens.mode == "refresh_token" and tokens.token() == "at-authorized"
