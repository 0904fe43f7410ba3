"""--authorize end to end: the real executable, the emulator's authorization page and token
endpoint, and the test in the browser's place (it follows the page's redirect to the loopback
callback, or calls the callback itself with the state of the printed address). No browser is
started: BROWSER names a script that only writes down the address it was given."""
import json
import os
import socket
import stat
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.tap_runner import BackgroundTap, offline_catalog, run_tap, select, write_json

URL_LINE = r"^\s+(http://\S+authorizeClientApplication\S+)$"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app(make_emulator, tmp_path):
    """An emulated account whose app has the Redirection URL of a free loopback port, and a
    config holding only what --authorize needs (and a key of the user's own)."""
    port = free_port()
    emu = make_emulator(seed=3, conversations=60, customers=30, ratings=10,
                        redirect_uri=f"http://127.0.0.1:{port}/callback")
    config = write_json(tmp_path / "config.json", {
        "client_id": emu.client_id, "client_secret": emu.client_secret, "base_url": emu.base_url,
        "authorize_url": emu.authorize_url, "start_date": "2019-01-01T00:00:00Z",
        "user_agent": "tap-helpscout tests", "_comment": "kept as it is"})
    os.chmod(config, 0o640)
    return emu, config, port


@pytest.fixture
def no_browser(tmp_path):
    """BROWSER for Python's webbrowser module: a script that writes the address down and exits."""
    script = tmp_path / "browser"
    script.write_text(f"#!{sys.executable}\nimport sys\nopen({str(tmp_path / 'opened')!r}, 'a').write(sys.argv[1] + '\\n')\n")
    script.chmod(0o755)
    return {"BROWSER": str(script)}


def state_of(url):
    return parse_qs(urlsplit(url).query)["state"][0]


def listening_addresses(port):
    """The local addresses listening on TCP `port` (IPv4 and IPv6), from /proc/net."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.append(address)
    return found


def test_authorize_with_the_loopback_callback_then_sync(app, no_browser, tmp_path):
    emu, config, port = app
    tap = BackgroundTap(config, "--authorize", "--port", str(port), env=no_browser)
    try:
        url = tap.wait_for(URL_LINE).group(1)
        tap.wait_for("waiting up to")
        assert "client_id" in parse_qs(urlsplit(url).query) and "redirect_uri" not in url
        if os.path.exists("/proc/net/tcp"):
            assert listening_addresses(port) == ["0100007F"], "listens on 127.0.0.1 only"
        callback = f"http://127.0.0.1:{port}/callback"
        # A callback with another state (a page planting its own code) is refused ...
        planted = requests.get(callback, params={"code": emu.authorization_code, "state": "forged"})
        assert planted.status_code == 400
        tap.wait_for("does not match")
        # ... and the wait goes on: the browser follows Help Scout's page to the callback.
        answer = requests.get(url)
        assert answer.status_code == 200 and "close this tab" in answer.text
        assert answer.url.startswith(callback) and state_of(answer.url) == state_of(url)
        run = tap.finish()
    finally:
        tap.kill()
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    last = run.stderr.strip().splitlines()[-1]
    owner = emu.data.users[0]
    assert last.startswith(f"Authorized as {owner['firstName']} {owner['lastName']} <{owner['email']}>")
    assert (tmp_path / "opened").read_text().strip() == url

    stored = json.loads(config.read_text())
    assert stat.S_IMODE(config.stat().st_mode) == 0o640, "the config file keeps its mode"
    assert stored["_comment"] == "kept as it is" and stored["user_agent"] == "tap-helpscout tests"
    assert stored["refresh_token"] and stored["access_token"]

    # The stored refresh token works for a sync (the access token is dropped so that it is spent).
    write_json(config, {k: v for k, v in stored.items() if k != "access_token"})
    catalog = select(offline_catalog(), ["users", "mailboxes"])
    synced = run_tap(config, catalog=catalog, workdir=tmp_path)
    assert synced.record_counts()["users"] == len(emu.data.users)
    assert any(r.path.endswith("/oauth2/token") for r in emu.requests)
    assert json.loads(config.read_text())["refresh_token"] != stored["refresh_token"], "rotated and kept"


def test_the_tokens_go_to_token_store_path_and_a_sync_uses_them(app, no_browser, tmp_path):
    emu, config, port = app
    store = tmp_path / "tokens.json"
    write_json(config, {**json.loads(config.read_text()), "token_store_path": str(store)})
    before = config.read_text()
    tap = BackgroundTap(config, "--authorize", "--port", str(port), env=no_browser)
    try:
        url = tap.wait_for(URL_LINE).group(1)
        tap.wait_for("waiting up to")
        assert requests.get(url).status_code == 200
        run = tap.finish()
    finally:
        tap.kill()
    assert run.returncode == 0, run.stderr
    assert config.read_text() == before, "the config file is left alone"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    tokens = json.loads(store.read_text())
    assert tokens["refresh_token"]
    # The config holds no refresh_token: the sync renews with the stored one (not by client
    # credentials). Without the stored access token it has to.
    write_json(store, {**tokens, "access_token": None})
    emu.clear_requests()
    synced = run_tap(config, catalog=select(offline_catalog(), ["users"]), workdir=tmp_path,
                     extra_secrets=[tokens["access_token"]])
    assert synced.record_counts()["users"] == len(emu.data.users)
    grants = [parse_qs(r.body or "").get("grant_type") for r in emu.requests if r.path.endswith("/oauth2/token")]
    assert grants == [["refresh_token"]]
    assert json.loads(store.read_text())["refresh_token"] != tokens["refresh_token"], "rotated into the store"


def test_a_busy_port_is_one_clear_line(app, no_browser):
    emu, config, port = app
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        run = run_tap(config, "--authorize", "--port", str(port), check=False, env=no_browser)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1].startswith(f"tap-helpscout: port {port} on 127.0.0.1 is already in use")
    assert "Traceback" not in run.stderr


def test_a_refused_code_is_one_clear_line(app, no_browser):
    emu, config, port = app
    tap = BackgroundTap(config, "--authorize", "--port", str(port), env=no_browser)
    try:
        url = tap.wait_for(URL_LINE).group(1)
        tap.wait_for("waiting up to")
        requests.get(f"http://127.0.0.1:{port}/callback", params={"code": "0" * 32, "state": state_of(url)})
        run = tap.finish()
    finally:
        tap.kill()
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1].startswith("tap-helpscout: Help Scout refused the authorization code")
    assert "refresh_token" not in json.loads(config.read_text())


def test_no_browser_with_the_pasted_address(app):
    emu, config, _ = app
    tap = BackgroundTap(config, "--authorize", "--no-browser")
    try:
        url = tap.wait_for(URL_LINE).group(1)
        tap.wait_for("Paste the address")
        # The browser lands on the Redirection URL, where nothing listens: its address is pasted.
        landed = requests.get(url, allow_redirects=False).headers["Location"]
        tap.send(landed + "\n")
        run = tap.finish()
    finally:
        tap.kill()
    assert run.returncode == 0, run.stderr
    assert "warning" not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("Authorized as ")
    assert json.loads(config.read_text())["refresh_token"]


def test_no_browser_with_a_bare_code_warns_that_the_state_is_not_checked(app):
    emu, config, _ = app
    code = emu.authorization_code
    run = run_tap(config, "--authorize", "--no-browser", stdin=code + "\n", extra_secrets=[code])
    assert "cannot be checked" in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("Authorized as ")


def test_no_browser_with_the_address_of_another_attempt_is_refused(app):
    emu, config, _ = app
    pasted = f"http://127.0.0.1:8765/callback?code={emu.authorization_code}&state=another-attempt\n"
    run = run_tap(config, "--authorize", "--no-browser", stdin=pasted, check=False)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1].startswith("tap-helpscout: the pasted address carries another state")
    assert "refresh_token" not in json.loads(config.read_text())


def test_authorize_needs_the_app_credentials(tmp_path):
    config = write_json(tmp_path / "config.json", {"access_token": "a-token-of-someone"})
    run = run_tap(config, "--authorize", "--no-browser", check=False, stdin="")
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        'tap-helpscout: config: --authorize needs "client_id" and "client_secret" (the App ID and App '
        "Secret of your app under Help Scout > Your Profile > My Apps)"]


@pytest.mark.parametrize("args", [["--port", "9000"], ["--no-browser"], ["--json"],
                                  ["--authorize", "--check"], ["--check", "--discover"]])
def test_options_out_of_their_mode_are_refused(tmp_path, args):
    config = write_json(tmp_path / "config.json", {"client_id": "x", "client_secret": "y"})
    run = run_tap(config, *args, check=False)
    assert run.returncode == 2
