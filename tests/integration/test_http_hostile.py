"""A broken or hostile server cannot hang, crash or leak the tap: the real executable against
small servers on 127.0.0.1 that trickle, bomb, redirect elsewhere or echo secrets. Each test
asserts how the run ended (exit code, its one line on stderr), never how fast."""
import gzip
import json
import socket
import time

import pytest

from tests.support import tap_runner
from tests.support.loopback import LoopbackServer, read_request
from tests.support.tap_runner import offline_catalog, run_tap, select, write_json

pytestmark = pytest.mark.timeout(180)

ACCESS_TOKEN = "hostile-test-access-0123456789"
REFRESH_TOKEN = "hostile-test-refresh-9876543210"
CLIENT_SECRET = "hostile-test-client-secret-5555"


class HostileServer(LoopbackServer):
    """Reads each request on 127.0.0.1 and lets `handler(server, conn, method, path, body)`
    answer with raw bytes (or not at all)."""

    def __init__(self, handler):
        self.handler = handler
        self.requests = []
        super().__init__()

    def handle(self, conn):
        buffered = b""
        try:
            while (request := read_request(conn, buffered)) is not None:
                head, headers, body, buffered = request
                method, path = head.split("\r\n")[0].split()[:2]
                self.requests.append((method, path, headers, body))
                if self.handler(self, conn, method, path, body) == "close":
                    return
        except OSError:
            pass
        finally:
            conn.close()


def reply(conn, status, body=b"", headers=()):
    body = body if isinstance(body, bytes) else json.dumps(body).encode()
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json", f"Content-Length: {len(body)}",
            *headers]
    conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)


def trickle(conn, data, pause=0.05):
    """A byte at a time, each well within the read timeout: only the whole-answer deadline
    (request_timeout) can end it."""
    for i in range(len(data)):
        conn.sendall(data[i:i + 1])
        time.sleep(pause)


@pytest.fixture
def hostile():
    servers = []

    def start(handler):
        server = HostileServer(handler)
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.close()


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setattr(tap_runner, "TAP", tap_runner.QUICK_TAP)


def run_against(tmp_path, base_url, secrets=(), **config):
    """The tap syncing `users` from `base_url`, with a bare access token unless `config` says."""
    config = {"access_token": ACCESS_TOKEN, "base_url": base_url,
              "start_date": "2024-01-01T00:00:00Z", **config}
    path = write_json(tmp_path / "config.json", config)
    catalog = select(offline_catalog(), ["users"])
    run = run_tap(path, catalog=catalog, check=False, extra_secrets=secrets)
    lines = run.stderr.strip().splitlines()
    return run, lines[-1] if lines else ""


def assert_one_clean_line(run, last):
    assert run.returncode == 1, run.stderr[-3000:]
    assert last.startswith("tap-helpscout: ") and "Traceback" not in run.stderr
    assert all(ch.isprintable() for ch in last)


# -- hanging ------------------------------------------------------------------------------------

def test_a_server_trickling_its_headers_is_cut_off_at_the_deadline(hostile, quick, tmp_path):
    def headers_forever(server, conn, *_):
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        trickle(conn, b"X-Slow: " + b"z" * 1000)
    server = hostile(headers_forever)
    run, last = run_against(tmp_path, server.base_url, request_timeout=0.4)
    assert_one_clean_line(run, last)
    assert f"users: timeout: no complete answer within 0.4 s (127.0.0.1:{server.port}), still after " \
           f"8 tries" in last
    assert len(server.requests) == 8


def test_a_server_trickling_its_body_is_cut_off_at_the_deadline(hostile, quick, tmp_path):
    def body_forever(server, conn, *_):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n")
        trickle(conn, b'{"_embedded": {"users": [' + b" " * 5000)
    server = hostile(body_forever)
    run, last = run_against(tmp_path, server.base_url, request_timeout=0.4)
    assert_one_clean_line(run, last)
    assert "timeout: no complete answer within 0.4 s" in last and "still after 8 tries" in last


# -- too large ----------------------------------------------------------------------------------

def test_a_gzip_bomb_fails_the_request_with_a_clear_line(hostile, tmp_path):
    bomb = gzip.compress(b"{" + b" " * (200 * 1024 * 1024) + b"}", compresslevel=9)   # 200 MB
    server = hostile(lambda server, conn, *_: reply(conn, "200 OK", bomb, ["Content-Encoding: gzip"]))
    run, last = run_against(tmp_path, server.base_url)
    assert_one_clean_line(run, last)
    assert "users: the answer from 127.0.0.1" in last and "is larger once decompressed, over the " \
           "50 MB the tap accepts" in last
    assert "MemoryError" not in run.stderr and len(server.requests) == 1


def test_a_body_declared_over_the_cap_is_not_read(hostile, tmp_path):
    def huge(server, conn, *_):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 60000000\r\n\r\n{")
        return "close"
    server = hostile(huge)
    run, last = run_against(tmp_path, server.base_url)
    assert_one_clean_line(run, last)
    assert "declares 60,000,000 bytes, over the 50 MB the tap accepts" in last


def test_an_endless_chunked_body_is_cut_at_the_cap(hostile, tmp_path):
    def endless(server, conn, *_):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (1 << 20, b" " * (1 << 20))
        for _ in range(200):
            conn.sendall(chunk)
        return "close"
    server = hostile(endless)
    run, last = run_against(tmp_path, server.base_url)
    assert_one_clean_line(run, last)
    assert "is larger once decompressed, over the 50 MB" in last


# -- secrets and forged lines ---------------------------------------------------------------------

def test_a_token_endpoint_echoing_the_refresh_token_and_secret_shows_neither(hostile, tmp_path):
    def echo(server, conn, method, path, body):
        reply(conn, "400 Bad Request", {
            "error": "invalid_request",
            "error_description": f"refresh_token {REFRESH_TOKEN} is not valid for client "
                                 f"{CLIENT_SECRET}\nINFO METRIC forged line\x1b[2J"})
    server = hostile(echo)
    run, last = run_against(tmp_path, server.base_url, access_token=None, client_id="app-id",
                            client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)
    assert_one_clean_line(run, last)              # run_tap checks no secret reached the output
    assert "the refresh token was rejected" in last and "<redacted>" in last
    assert "forged line" in last and "\x1b" not in run.stderr
    assert not any(line.startswith("INFO METRIC forged") for line in run.stderr.splitlines())


def test_an_api_echoing_the_bearer_token_shows_none_of_it(hostile, tmp_path):
    new_access, new_refresh = "hostile-new-access-4444444444", "hostile-new-refresh-3333333333"

    def echo(server, conn, method, path, body):
        if path.endswith("/oauth2/token"):
            reply(conn, "200 OK", {"access_token": new_access, "refresh_token": new_refresh,
                                   "expires_in": 172800})
        else:
            authorization = server.requests[-1][2].get("authorization", "")
            reply(conn, "400 Bad Request", {"message": f"{authorization} was refused; token="
                                                       f"{new_access}\nWARNING forged"})
    server = hostile(echo)
    run, last = run_against(tmp_path, server.base_url, secrets=[new_access, new_refresh],
                            access_token=None, client_id="app-id", client_secret=CLIENT_SECRET,
                            refresh_token=REFRESH_TOKEN)
    assert_one_clean_line(run, last)
    assert "HTTP 400" in last and "Bearer <redacted>" in last
    assert not any(line.startswith("WARNING forged") for line in run.stderr.splitlines())


def test_an_html_error_page_echoing_the_token_is_shown_as_one_safe_line(hostile, quick, tmp_path):
    page = (f"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>\n"
            f"<pre>Authorization: Bearer {ACCESS_TOKEN}\nupstream died</pre></body></html>").encode()
    server = hostile(lambda server, conn, *_: reply(conn, "502 Bad Gateway", page,
                                                    ["Content-Type: text/html"]))
    run, last = run_against(tmp_path, server.base_url)
    assert_one_clean_line(run, last)
    assert "HTTP 502: 502 Bad Gateway Bad Gateway Authorization: Bearer <redacted> upstream died" in last
    assert "still after 8 tries" in last


# -- elsewhere --------------------------------------------------------------------------------------

def test_a_redirect_to_another_port_is_refused_and_nothing_goes_there(hostile, tmp_path):
    elsewhere = hostile(lambda server, conn, *_: reply(conn, "200 OK", {}))
    server = hostile(lambda server, conn, method, path, body: reply(
        conn, "302 Found", b"", [f"Location: http://127.0.0.1:{elsewhere.port}/v2/users"]))
    run, last = run_against(tmp_path, server.base_url)
    assert_one_clean_line(run, last)
    assert f"HTTP 302 redirects to 127.0.0.1:{elsewhere.port}" in last
    assert elsewhere.connections == 0 and elsewhere.requests == []


def test_a_host_that_does_not_resolve_is_named_at_once(tmp_path):
    run, last = run_against(tmp_path, "https://api.helpscout.invalid/v2")
    assert_one_clean_line(run, last)
    assert "users: DNS: the host name does not resolve (api.helpscout.invalid:443)" in last


def test_a_refused_connection_is_named_after_its_tries(quick, tmp_path):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    run, last = run_against(tmp_path, f"http://127.0.0.1:{port}/v2")
    assert_one_clean_line(run, last)
    assert f"users: connection refused (127.0.0.1:{port}), still after 8 tries" in last


@pytest.mark.parametrize("wait", ["1000000", "inf"])
def test_a_rate_limit_wait_longer_than_allowed_stops_the_run_at_once(hostile, tmp_path, wait):
    server = hostile(lambda server, conn, *_: reply(
        conn, "429 Too Many Requests", {"message": "API rate limit exceeded"},
        [f"X-RateLimit-Retry-After: {wait}", "X-RateLimit-Limit-Minute: 400",
         "X-RateLimit-Remaining-Minute: 0"]))
    run, last = run_against(tmp_path, server.base_url)
    assert_one_clean_line(run, last)
    assert f"the server asks to wait {float(wait):g} s" in last
    assert "more than max_rate_limit_wait_seconds=600" in last
    assert len(server.requests) == 1
