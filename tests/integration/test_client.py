"""HelpScoutClient (tap_helpscout/api/client.py), specified against a tiny scripted stand-in of the
API on 127.0.0.1 (`StubApi`, below).

The stub issues rotating tokens like Help Scout, answers every GET with an echo of what it
received, and plays scripted faults in order. The emulator-level behaviour is in
test_client_emulator.py; hostile servers and the real executable in test_http_hostile.py.
"""
import json
import os
import socket
import stat
import threading
import time
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

import tap_helpscout.api.client as http_module
import tap_helpscout.api.token_store as token_store_module
from tap_helpscout.errors import (ApiError, ApiUnreachable, AuthError, MalformedAnswer,
                                  PermissionDenied, RateLimitWaitTooLong)
from tap_helpscout.api.client import ApiResponse
from tap_helpscout.api.mailbox import HelpScoutClient
from tap_helpscout.logs import configure_logging
from tap_helpscout.redact import Redactor

pytestmark = pytest.mark.timeout(60)

CLIENT_ID = "stub-client-id"
CLIENT_SECRET = "stub-client-secret-9f8e7d"


class StubApi:
    """Help Scout in miniature: rotating OAuth2 tokens, bearer checks, a fixed rate-limit window
    (optional) and scripted answers, on 127.0.0.1."""

    def __init__(self, rate_limit=None, window_seconds=None, expires_in=172800, latency=0.0):
        self.latency = latency
        self.requests = []              # (method, path, query or form, headers, arrival time)
        self.refresh_token = "stub-refresh-0"
        self.valid_access_tokens = {"stub-access-given"}
        self.expires_in = expires_in
        self.token_grants = []
        self.rate_limit = rate_limit
        self.window_seconds = window_seconds
        self.window_started = None
        self.window_used = 0
        self.throttled = 0
        self._scripts = defaultdict(deque)
        self._counter = 0
        self._lock = threading.Lock()
        self._server = None

    # -- control -------------------------------------------------------------------------------

    def start(self):
        stub = self

        class Handler(_Handler):
            api = stub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self._server.server_address[1]}/v2"

    def script(self, path, *answers):
        """Queue answers for the next requests to `path` (or "/oauth2/token"). Each is a dict:
        {"status": int, "body": obj or str, "headers": {...}} or {"fault": "drop"|"cut"|"stall",
        "seconds": float}. Unscripted requests get the normal answer."""
        self._scripts[path].extend(answers)

    def revoke_access_tokens(self):
        with self._lock:
            self.valid_access_tokens.clear()

    def api_requests(self):
        return [r for r in self.requests if not r[1].endswith("/oauth2/token")]

    def token_requests(self):
        return [r for r in self.requests if r[1].endswith("/oauth2/token")]

    # -- behaviour -------------------------------------------------------------------------

    def next_scripted(self, path):
        with self._lock:
            queue = self._scripts.get(path)
            return queue.popleft() if queue else None

    def issue_tokens(self, form):
        with self._lock:
            grant = form.get("grant_type")
            self.token_grants.append(grant)
            if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                return 401, {"error": "invalid_client",
                             "error_description": "Bad client credentials"}
            self._counter += 1
            access = f"stub-access-{self._counter}"
            body = {"token_type": "bearer", "access_token": access, "expires_in": self.expires_in}
            if grant == "refresh_token":
                if form.get("refresh_token") != self.refresh_token:
                    return 400, {"error_description": "Invalid refresh_token",
                                 "error": "invalid_request"}
                self.refresh_token = f"stub-refresh-{self._counter}"
                body["refresh_token"] = self.refresh_token
            elif grant != "client_credentials":
                return 400, {"error": "unsupported_grant_type", "error_description": "nope"}
            self.valid_access_tokens.add(access)
            return 200, body

    def rate_headers(self):
        """Spend one request of the current window; (headers, throttled?)."""
        if not self.rate_limit:
            return {}, False
        with self._lock:
            now = time.monotonic()
            if self.window_started is None or now - self.window_started >= self.window_seconds:
                elapsed_windows = 0 if self.window_started is None else \
                    int((now - self.window_started) // self.window_seconds)
                self.window_started = now if self.window_started is None else \
                    self.window_started + elapsed_windows * self.window_seconds
                self.window_used = 0
            if self.window_used >= self.rate_limit:
                self.throttled += 1
                retry = self.window_started + self.window_seconds - now
                return {"X-RateLimit-Limit-Minute": str(self.rate_limit),
                        "X-RateLimit-Remaining-Minute": "0",
                        "X-RateLimit-Retry-After": f"{retry:.3f}"}, True
            self.window_used += 1
            return {"X-RateLimit-Limit-Minute": str(self.rate_limit),
                    "X-RateLimit-Remaining-Minute": str(self.rate_limit - self.window_used)}, False


class _Handler(BaseHTTPRequestHandler):
    api = None
    protocol_version = "HTTP/1.1"
    # Headers and body in one segment: two small writes would meet the client's delayed ACK
    # and cost 40 ms per answer.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        parts = urlsplit(self.path)
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        self.api.requests.append(("POST", parts.path, form, dict(self.headers), time.monotonic()))
        if self._play_script(parts.path[len("/v2"):]):
            return
        status, body = self.api.issue_tokens(form)
        self._send(status, body)

    def do_GET(self):
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self.api.requests.append(("GET", parts.path, query, dict(self.headers), time.monotonic()))
        path = parts.path[len("/v2"):]
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        if token not in self.api.valid_access_tokens:
            self._send(401, {"logRef": "x", "message": "Invalid Credentials"})
            return
        if self.api.latency:
            time.sleep(self.api.latency)
        rate_headers, throttled = self.api.rate_headers()
        if throttled:
            self._send(429, {"message": "API rate limit exceeded"}, rate_headers)
            return
        if self._play_script(path, rate_headers):
            return
        self._send(200, {"path": path, "query": query, "raw_query": parts.query}, rate_headers)

    def _play_script(self, path, extra_headers=None):
        answer = self.api.next_scripted(path)
        if answer is None:
            return False
        fault = answer.get("fault")
        if fault == "drop":
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif fault == "cut":
            payload = json.dumps({"path": path, "padding": "x" * 200}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/hal+json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif fault == "redirect":
            self.send_response(answer.get("status", 301))
            self.send_header("Location", answer["location"])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif fault == "stall":
            time.sleep(answer.get("seconds", 2))
            self.close_connection = True
            return True
        else:
            headers = {**(extra_headers or {}), **answer.get("headers", {})}
            self._send(answer.get("status", 200), answer.get("body", {"path": path}), headers)
        return True

    def _send(self, status, body, headers=None):
        payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/hal+json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


# ------------------------------------------------------------------------------- fixtures

@pytest.fixture
def stub():
    api = StubApi().start()
    yield api
    api.stop()


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    """Backoff pauses of milliseconds."""
    monkeypatch.setattr(http_module, "BACKOFF_FACTOR_SECONDS", 0.001)


def write_config(tmp_path, stub, mode=0o600, **keys):
    config = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
              "refresh_token": stub.refresh_token, "base_url": stub.base_url,
              "start_date": "2024-01-01T00:00:00Z", **keys}
    config = {key: value for key, value in config.items() if value is not None}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config, indent=2))
    os.chmod(path, mode)
    return path


def client_for(path, **overrides):
    configure_logging()      # as the command line does first: log lines go to the stderr of the moment
    config = {**json.loads(path.read_text()), **overrides}
    return HelpScoutClient(config, str(path), redactor=Redactor())


@pytest.fixture
def config_path(tmp_path, stub):
    return write_config(tmp_path, stub)


@pytest.fixture
def client(config_path):
    api_client = client_for(config_path)
    yield api_client
    api_client.close()


# ------------------------------------------------------------------------ requests as sent

# ------------------------------------------------------------------------ requests as sent

def test_building_a_client_makes_no_request(stub, config_path):
    HelpScoutClient(json.loads(config_path.read_text()), str(config_path)).close()
    assert stub.requests == []


def test_query_strings_are_url_encoded(stub, client):
    params = {"query": "(email:a+b@example.com)", "modifiedSince": "2024-01-01T00:00:00Z",
              "tag": "a b&c"}
    echoed = client.get("/conversations", params).json
    assert echoed["query"] == params
    raw = echoed["raw_query"]
    assert "%2B" in raw and "%3A" in raw and "%28" in raw and ":" not in raw
    assert "a%2Bb%40example.com" in raw, "a literal + would arrive as a space"


def test_every_request_carries_user_agent_and_accept_and_api_calls_a_bearer_token(stub,
                                                                                   config_path):
    api_client = client_for(config_path, user_agent="acme-etl/1.0 (data@acme.example)")
    api_client.get("/mailboxes")
    token_call, api_call = stub.requests
    assert token_call[3]["User-Agent"] == "acme-etl/1.0 (data@acme.example)"
    assert "Authorization" not in token_call[3]
    assert api_call[3]["User-Agent"] == "acme-etl/1.0 (data@acme.example)"
    assert api_call[3]["Accept"] == "application/hal+json, application/json"
    assert api_call[3]["Authorization"] == "Bearer stub-access-1"


def test_netrc_never_replaces_the_token_nor_reaches_the_token_endpoint(stub, config_path,
                                                                        tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text("machine 127.0.0.1 login netrc-user password netrc-pass\n")
    os.chmod(home / ".netrc", 0o600)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NETRC", str(home / ".netrc"))
    client_for(config_path).get("/users")
    token_call, api_call = stub.requests
    assert "Authorization" not in token_call[3]
    assert api_call[3]["Authorization"] == "Bearer stub-access-1"


def test_default_user_agent_names_the_tap_and_its_version(stub, client):
    client.get("/mailboxes")
    assert stub.api_requests()[0][3]["User-Agent"].startswith("tap-helpscout/2.")


def test_answer_exposes_json_status_headers_and_server_time(stub, client):
    answer = client.get("/users", endpoint="users")
    assert isinstance(answer, ApiResponse)
    assert answer.status == 200 and answer.json["path"] == "/users"
    assert answer.headers["content-type"] == answer.headers["Content-Type"] == "application/hal+json"
    assert answer.server_time.utcoffset().total_seconds() == 0
    assert abs(answer.server_time.timestamp() - time.time()) < 5


def test_absolute_links_are_followed_only_on_the_api_origin(stub, client):
    assert client.get(stub.base_url + "/users?page=2").json["query"] == {"page": "2"}
    with pytest.raises(ApiError, match="elsewhere.example:443"):
        client.get("https://elsewhere.example/v2/users")
    assert len(stub.api_requests()) == 1


def test_stats_count_requests_retries_and_token_requests_apart(stub, client):
    stub.script("/users", {"status": 503}, {"fault": "drop"},
                {"status": 429, "headers": {"Retry-After": "0.01"}})
    client.get("/users")
    stats = client.stats
    assert (stats.requests, stats.token_requests, stats.retries, stats.throttled) == (4, 1, 3, 1)
    assert client.request_count == 4


# ------------------------------------------------------------------------------- redirects

def test_a_redirect_on_the_api_origin_is_followed(stub, client):
    stub.script("/conversations/7", {"fault": "redirect", "location": "/v2/conversations/8?x=1"})
    assert client.get("/conversations/7").json == {"path": "/conversations/8",
                                                    "query": {"x": "1"}, "raw_query": "x=1"}
    assert [r[3]["Authorization"] for r in stub.api_requests()] == ["Bearer stub-access-1"] * 2


def test_a_redirect_elsewhere_is_an_error_naming_host_and_port(stub, client):
    other = StubApi().start()
    try:
        target = other.base_url + "/conversations/8"
        stub.script("/conversations/7", {"fault": "redirect", "status": 307, "location": target})
        with pytest.raises(ApiError) as raised:
            client.get("/conversations/7", endpoint="conversation")
        port = urlsplit(other.base_url).port
        assert f"127.0.0.1:{port}" in str(raised.value) and raised.value.status == 307
        assert other.requests == [], "the token never travels to another origin"
    finally:
        other.stop()


def test_endless_redirects_on_the_origin_are_an_error(stub, client):
    stub.script("/loop", *[{"fault": "redirect", "location": "/v2/loop"}] * 10)
    with pytest.raises(ApiError, match="more than 3 redirects"):
        client.get("/loop")


# -------------------------------------------------------------------------------- retries

@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_until_the_answer_comes(stub, client, status):
    stub.script("/users", {"status": status, "body": "<html>busy</html>",
                           "headers": {"Retry-After": "0.01"}},
                {"status": status, "body": {"message": "still busy"}, "headers": {"Retry-After": "0"}})
    assert client.get("/users").json["path"] == "/users"
    assert len(stub.api_requests()) == 3


@pytest.mark.parametrize("fault", ["drop", "cut"])
def test_a_dropped_connection_or_cut_body_is_retried(stub, client, fault):
    stub.script("/users", {"fault": fault})
    assert client.get("/users").json["path"] == "/users"
    assert len(stub.api_requests()) == 2


def test_a_body_that_is_not_json_is_retried_then_a_malformed_answer(stub, client):
    stub.script("/users", {"status": 200, "body": "<html>proxy error page</html>"},
                {"status": 200, "body": ""})
    assert client.get("/users").json["path"] == "/users"
    assert len(stub.api_requests()) == 3
    stub.script("/users", *[{"status": 200, "body": "not json"}] * http_module.MAX_TRIES)
    with pytest.raises(MalformedAnswer, match="not complete JSON"):
        client.get("/users", endpoint="users")


def test_a_stall_past_the_request_timeout_is_retried(stub, config_path):
    api_client = client_for(config_path, request_timeout=1)
    stub.script("/users", {"fault": "stall", "seconds": 3})
    assert api_client.get("/users").json["path"] == "/users"
    assert len(stub.api_requests()) >= 2        # more only where the machine is too loaded to answer in 1 s


def test_a_rate_limit_wait_is_honoured_exactly_and_logged(stub, client, caplog):
    stub.script("/users", {"status": 429, "headers": {"X-RateLimit-Retry-After": "0.3",
                                                      "Retry-After": "1"}},
                {"status": 503, "headers": {"Retry-After": "0.2"}})
    client.get("/users")
    err = "\n".join(f"{r.levelname} {r.getMessage()}" for r in caplog.records)
    assert "WARNING rate limit reached (HTTP 429 from 127.0.0.1:" in err
    assert "every request waits 0.3 s, as the server asks" in err
    assert "users: HTTP 503" in err and "try 2 of 8 in 0.2 s" in err


@pytest.mark.parametrize("value", ["1000000", "inf", "Wed, 21 Oct 2099 07:28:00 GMT"])
def test_a_wait_longer_than_allowed_stops_at_once(stub, client, value):
    stub.script("/users", {"status": 429, "headers": {"Retry-After": value}})
    started = time.monotonic()
    with pytest.raises(RateLimitWaitTooLong, match="max_rate_limit_wait_seconds=600") as raised:
        client.get("/users", endpoint="users")
    assert raised.value.fatal and len(stub.api_requests()) == 1
    assert time.monotonic() - started < 60, "it did not sleep"


def test_a_nan_wait_is_ignored(stub, client, monkeypatch):
    # Ignored, the 429 waits the client's default for a 429 that says nothing (2 s; shortened
    # here, as the backoff pauses are).
    monkeypatch.setattr(http_module, "DEFAULT_RATE_LIMIT_WAIT", 0.01)
    stub.script("/users", {"status": 429, "headers": {"Retry-After": "nan",
                                                      "X-RateLimit-Retry-After": "NaN"}})
    assert client.get("/users").status == 200


def test_after_the_last_try_the_error_names_endpoint_status_and_api_message(stub, client):
    stub.script("/conversations", *[{"status": 500, "body": {"logRef": "x#12",
                                                              "message": "Internal error"}}] * 8)
    with pytest.raises(ApiError) as raised:
        client.get("/conversations", endpoint="conversations")
    message = str(raised.value)
    assert "conversations" in message and "500" in message and "Internal error" in message
    assert f"still after {http_module.MAX_TRIES} tries" in message
    assert raised.value.status == 500 and raised.value.endpoint == "conversations"
    assert not raised.value.fatal
    assert len(stub.api_requests()) == http_module.MAX_TRIES


def test_after_the_last_try_a_network_failure_names_host_and_is_fatal(stub, client):
    stub.script("/users", *[{"fault": "drop"}] * 8)
    with pytest.raises(ApiUnreachable, match=r"users: the connection was closed without an answer "
                                             r".*\(127\.0\.0\.1:\d+\), still after 8 tries") as raised:
        client.get("/users", endpoint="users")
    assert raised.value.fatal


VND_ERROR = {"logRef": "64bb72b4", "message": "Bad request",
             "_embedded": {"errors": [{"path": "status", "message": "Expected one of these: "
                                       "'active', 'closed'", "rejectedValue": "Wrong"}]}}


@pytest.mark.parametrize("status", [400, 404, 409, 412, 413, 415])
def test_client_errors_are_not_retried_and_carry_the_api_message(stub, client, status):
    stub.script("/conversations", {"status": status, "body": VND_ERROR})
    with pytest.raises(ApiError) as raised:
        client.get("/conversations", {"status": "Wrong"}, endpoint="conversations")
    assert type(raised.value) is ApiError
    message = str(raised.value)
    assert f"HTTP {status}" in message and "conversations" in message
    assert "Bad request" in message and "status: Expected one of these" in message
    assert raised.value.status == status and raised.value.endpoint == "conversations"
    assert len(stub.api_requests()) == 1


def test_403_is_a_permission_error_the_sync_engine_can_catch(stub, client):
    stub.script("/reports/happiness/ratings",
                {"status": 403, "body": {"logRef": "r", "message": "Reports need the Plus plan"}})
    with pytest.raises(PermissionDenied, match="Reports need the Plus plan") as raised:
        client.get("/reports/happiness/ratings", endpoint="happiness_ratings_report")
    assert raised.value.status == 403 and raised.value.endpoint == "happiness_ratings_report"
    assert len(stub.api_requests()) == 1


def test_server_text_is_one_line_without_any_secret(stub, config_path):
    api_client = client_for(config_path)
    api_client.get("/users")
    echo = (f"bad token stub-access-1 for {CLIENT_SECRET}\nINFO forged log line\r\n"
            f"refresh stub-refresh-1 Bearer anything-else " + "x" * 2000)
    stub.script("/users", {"status": 400, "body": {"message": echo}})
    with pytest.raises(ApiError) as raised:
        api_client.get("/users")
    message = str(raised.value)
    assert "\n" not in message and "\r" not in message and len(message) <= 300
    for secret in ("stub-access-1", CLIENT_SECRET, "stub-refresh-1", "anything-else"):
        assert secret not in message
    assert "forged log line" in message


# ----------------------------------------------------------------------------- OAuth2 modes

def test_refresh_token_grant_rotates_and_stores_the_new_token_before_using_it(stub, config_path,
                                                                               monkeypatch):
    stored_before_use = []
    real_update = token_store_module.update_config_file

    def update_then_check(path, updates, *more):
        real_update(path, updates, *more)
        stored_before_use.append(not any(r[0] == "GET" for r in stub.requests))
    monkeypatch.setattr(token_store_module, "update_config_file", update_then_check)

    api_client = client_for(config_path)
    api_client.get("/users")
    assert stub.token_grants == ["refresh_token"]
    stored = json.loads(config_path.read_text())
    assert stored["refresh_token"] == stub.refresh_token == "stub-refresh-1"
    assert stored["access_token"] == "stub-access-1"
    assert stored_before_use == [True]


def test_rotation_keeps_every_other_key_and_the_file_mode(stub, tmp_path):
    path = write_config(tmp_path, stub, mode=0o640, user_agent="acme/1", report_window_days=30)
    before = json.loads(path.read_text())
    client_for(path).get("/users")
    after = json.loads(path.read_text())
    assert {k: v for k, v in after.items() if k not in ("refresh_token", "access_token")} == \
        {k: v for k, v in before.items() if k not in ("refresh_token", "access_token")}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == [".config.json.lock", "config.json"], \
        "no temporary file left"


def test_the_next_run_starts_with_the_stored_access_token_without_rotating(stub, config_path):
    client_for(config_path).get("/users")
    client_for(config_path).get("/users")
    assert stub.token_grants == ["refresh_token"]


def test_client_credentials_grant_writes_nothing(stub, tmp_path):
    path = write_config(tmp_path, stub, refresh_token=None)
    before = path.read_bytes()
    api_client = client_for(path)
    api_client.get("/users")
    api_client.get("/users")
    assert stub.token_grants == ["client_credentials"]
    assert path.read_bytes() == before


def test_a_bare_access_token_is_used_as_is(stub, tmp_path):
    path = write_config(tmp_path, stub, client_id=None, client_secret=None, refresh_token=None,
                        access_token="stub-access-given")
    client_for(path).get("/users")
    assert stub.token_requests() == []
    assert stub.api_requests()[0][3]["Authorization"] == "Bearer stub-access-given"


def test_a_refused_bare_access_token_is_a_clear_auth_error(stub, tmp_path):
    path = write_config(tmp_path, stub, client_id=None, client_secret=None, refresh_token=None,
                        access_token="stub-access-given")
    stub.revoke_access_tokens()
    with pytest.raises(AuthError, match="refused the configured access_token"):
        client_for(path).get("/users")
    assert stub.token_requests() == [] and len(stub.api_requests()) == 1


def test_a_given_access_token_is_tried_before_refreshing(stub, tmp_path):
    path = write_config(tmp_path, stub, access_token="stub-access-given")
    client_for(path).get("/users")
    assert stub.token_requests() == []


def test_a_401_refreshes_once_and_retries_once(stub, tmp_path):
    path = write_config(tmp_path, stub, access_token="stub-access-expired")
    answer = client_for(path).get("/users")
    assert answer.json["path"] == "/users"
    assert [r[3]["Authorization"] for r in stub.api_requests()] == \
        ["Bearer stub-access-expired", "Bearer stub-access-1"]
    assert json.loads(path.read_text())["refresh_token"] == "stub-refresh-1"


def test_second_401_asks_user_to_reauthorize(stub, client):
    client.get("/users")
    stub.script("/users", {"status": 401, "body": {"message": "Invalid Credentials"}},
                {"status": 401, "body": {"message": "Invalid Credentials"}})
    with pytest.raises(AuthError, match="authorize the app again: tap-helpscout --config CONFIG --authorize") as raised:
        client.get("/users", endpoint="users")
    assert raised.value.status == 401 and raised.value.endpoint == "users"
    assert client.stats.token_requests == 2


def test_a_rejected_refresh_token_explains_what_happened(stub, tmp_path):
    path = write_config(tmp_path, stub, refresh_token="stub-refresh-used-elsewhere")
    with pytest.raises(AuthError) as raised:
        client_for(path).get("/users")
    message = str(raised.value)
    assert "the refresh token was rejected (it may have been used by another process, or the " \
           "app was de-authorized): authorize the app again: tap-helpscout --config CONFIG --authorize" in message
    assert "Invalid refresh_token" in message
    assert "stub-refresh-used-elsewhere" not in message


def test_bad_client_credentials_are_named(stub, tmp_path):
    path = write_config(tmp_path, stub, client_secret="wrong-secret")
    with pytest.raises(AuthError, match="refused the client_id/client_secret") as raised:
        client_for(path).get("/users")
    assert "wrong-secret" not in str(raised.value)


def test_token_endpoint_failures_are_retried(stub, client):
    stub.script("/oauth2/token", {"status": 503}, {"fault": "drop"})
    client.get("/users")
    assert len(stub.token_requests()) == 3


def test_parallel_401s_share_one_refresh(stub, config_path):
    api_client = client_for(config_path, max_parallel_requests=8)
    api_client.get("/users")
    stub.revoke_access_tokens()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: api_client.get("/users", {"page": str(i)}), range(16)))
    assert [a.json["query"]["page"] for a in answers] == [str(i) for i in range(16)]
    assert stub.token_grants == ["refresh_token", "refresh_token"]


def test_refused_credentials_are_asked_once_even_by_parallel_workers(stub, tmp_path):
    api_client = client_for(write_config(tmp_path, stub, refresh_token="stub-refresh-revoked"))
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda i: _error_of(api_client.get, "/users"), range(8)))
    assert all(isinstance(outcome, AuthError) for outcome in outcomes)
    assert len({str(outcome) for outcome in outcomes}) == 1
    assert len(stub.token_requests()) == 1


def test_post_token_returns_the_answer_and_hides_its_tokens_from_then_on(stub, config_path):
    redactor = Redactor()
    api_client = HelpScoutClient(json.loads(config_path.read_text()), str(config_path),
                                 redactor=redactor)
    body = api_client.post_token({"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                  "client_secret": CLIENT_SECRET})
    assert body["access_token"] == "stub-access-1"
    assert redactor.line("got stub-access-1") == "got <redacted>"
    with pytest.raises(AuthError, match="refused the client_id/client_secret"):
        api_client.post_token({"grant_type": "client_credentials", "client_id": CLIENT_ID,
                               "client_secret": "nope-nope"})


def test_no_secret_or_token_reaches_stdout_or_stderr(stub, tmp_path, capfd):
    path = write_config(tmp_path, stub, access_token="stub-access-expired")
    secrets = {CLIENT_SECRET, stub.refresh_token, "stub-access-expired"}
    api_client = client_for(path, log_request_metrics=True)      # METRIC lines too
    stub.script("/users", {"status": 503}, {"fault": "drop"}, {"fault": "cut"},
                {"status": 429, "headers": {"Retry-After": "0.01"}})
    api_client.get("/users")
    stub.revoke_access_tokens()
    api_client.get("/users")
    with pytest.raises(ApiError):
        stub.script("/bad", {"status": 400, "body": VND_ERROR})
        api_client.get("/bad")
    secrets |= {stub.refresh_token, *stub.valid_access_tokens, "stub-refresh-1"}
    out, err = capfd.readouterr()
    assert out == "", "nothing but Singer messages may go to stdout"
    assert "METRIC" in err and "try 2 of 8" in err
    for secret in secrets:
        assert secret not in err


# -------------------------------------------------------------------------- rate limits

def test_a_rate_limited_burst_never_meets_a_429(tmp_path):
    # Three windows of 0.5 s; many more, on a fake clock: tests/unit/test_ratelimit.py.
    stub = StubApi(rate_limit=40, window_seconds=0.5).start()
    try:
        api_client = client_for(write_config(tmp_path, stub, refresh_token=None))
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: api_client.get("/users", {"page": str(i)}), range(100)))
        assert stub.throttled == 0
        assert api_client.rate_limit_per_minute == 40
        assert api_client.stats.rate_waits > 0
    finally:
        stub.stop()


def _error_of(call, *args):
    try:
        call(*args)
    except Exception as exc:     # the test inspects whatever was raised
        return exc
    return None


def test_a_dead_server_is_given_up_on_in_about_two_minutes(monkeypatch):
    monkeypatch.undo()                # the real pauses, not the quick ones of these tests
    # With request_timeout 5: every try may take its 5 s, and the pauses between tries are at
    # most 1, 2, 4, ... s (full jitter: half that on average), capped.
    tries = http_module.MAX_TRIES
    pauses = [min(http_module.BACKOFF_MAX_SECONDS, http_module.BACKOFF_FACTOR_SECONDS * 2 ** n)
              for n in range(tries - 1)]
    assert 90 <= tries * 5 + sum(pauses) / 2 <= 150 and tries * 5 + sum(pauses) <= 180
