"""HelpScoutClient, specified against a tiny scripted stand-in of the API (`StubApi`, below).

The stub issues rotating tokens like Help Scout, answers every GET with an echo of what it
received, and plays scripted faults in order. The emulator-level behaviour (every fault kind,
token rotation across runs, rate limits) is in test_client_emulator.py.
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

import tap_helpscout.auth as auth_module
import tap_helpscout.client as client_module
from tap_helpscout.client import ApiResponse, HelpScoutClient, RateLimitPacer
from tap_helpscout.errors import ApiError, AuthError, PermissionDenied, TapError

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
    """Backoff pauses of milliseconds; the schedule itself is checked with recorded sleeps."""
    monkeypatch.setattr(client_module, "BACKOFF_BASE_SECONDS", 0.001)


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
    config = {**json.loads(path.read_text()), **overrides}
    return HelpScoutClient(config, str(path))


@pytest.fixture
def config_path(tmp_path, stub):
    return write_config(tmp_path, stub)


@pytest.fixture
def client(config_path):
    api_client = client_for(config_path)
    yield api_client
    api_client.close()


def recorded_sleeps(api_client):
    sleeps = []
    api_client._sleep = sleeps.append
    return sleeps


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


def test_default_user_agent_names_the_tap_and_its_version(stub, client):
    client.get("/mailboxes")
    assert stub.api_requests()[0][3]["User-Agent"].startswith("tap-helpscout/2.")


def test_answer_exposes_json_status_and_server_time(stub, client):
    answer = client.get("/users", endpoint="users")
    assert isinstance(answer, ApiResponse)
    assert answer.status == 200 and answer.json["path"] == "/users"
    assert answer.server_time.utcoffset().total_seconds() == 0
    assert abs(answer.server_time.timestamp() - time.time()) < 5


def test_absolute_links_are_followed_only_on_the_api_host(stub, client):
    assert client.get(stub.base_url + "/users?page=2").json["query"] == {"page": "2"}
    with pytest.raises(ValueError):
        client.get("https://elsewhere.example/v2/users")


def test_request_count_includes_retries_and_token_requests_are_counted_apart(stub, client):
    stub.script("/users", {"status": 503}, {"fault": "drop"})
    client.get("/users")
    assert client.request_count == 3 and client.token_request_count == 1


# -------------------------------------------------------------------------------- retries

@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_until_the_answer_comes(stub, client, status):
    stub.script("/users", {"status": status, "body": "<html>busy</html>"},
                {"status": status, "body": {"message": "still busy"}})
    assert client.get("/users").json["path"] == "/users"
    assert len(stub.api_requests()) == 3


@pytest.mark.parametrize("fault", ["drop", "cut"])
def test_a_dropped_connection_or_cut_body_is_retried(stub, client, fault):
    stub.script("/users", {"fault": fault})
    assert client.get("/users").json["path"] == "/users"
    assert len(stub.api_requests()) == 2


def test_a_body_that_is_not_json_is_retried(stub, client):
    stub.script("/users", {"status": 200, "body": "<html>proxy error page</html>"},
                {"status": 200, "body": ""})
    assert client.get("/users").json["path"] == "/users"
    assert len(stub.api_requests()) == 3


def test_a_stall_past_the_read_timeout_is_retried(stub, config_path):
    api_client = client_for(config_path, request_timeout=0.5)
    stub.script("/users", {"fault": "stall", "seconds": 2})
    started = time.monotonic()
    assert api_client.get("/users").json["path"] == "/users"
    assert time.monotonic() - started < 1.8, "the stall was cut by the timeout, not sat out"
    assert api_client._timeout == (0.5, 0.5)


def test_timeouts_default_to_a_short_connect_and_a_long_read(stub, client):
    assert client._timeout == (10.0, 300.0)


def test_retry_after_is_honoured_exactly(stub, client):
    sleeps = recorded_sleeps(client)
    stub.script("/users", {"status": 429, "headers": {"X-RateLimit-Retry-After": "0.3",
                                                      "Retry-After": "1"}},
                {"status": 503, "headers": {"Retry-After": "0.2"}})
    client.get("/users")
    assert sleeps == [0.3, 0.2]


def test_backoff_doubles_with_jitter_and_is_capped(stub, client, monkeypatch):
    monkeypatch.setattr(client_module, "BACKOFF_BASE_SECONDS", 1.0)
    monkeypatch.setattr(client_module, "BACKOFF_MAX_SECONDS", 10.0)
    sleeps = recorded_sleeps(client)
    stub.script("/users", *[{"status": 502}] * 7)
    client.get("/users")
    ceilings = [1, 2, 4, 8, 10, 10, 10]
    assert len(sleeps) == 7
    for slept, ceiling in zip(sleeps, ceilings):
        assert ceiling / 2 <= slept <= ceiling


def test_after_the_last_try_the_error_names_endpoint_status_and_api_message(stub, client):
    stub.script("/conversations", *[{"status": 500, "body": {"logRef": "x#12",
                                                              "message": "Internal error"}}] * 8)
    with pytest.raises(ApiError) as raised:
        client.get("/conversations", endpoint="conversations")
    message = str(raised.value)
    assert "conversations" in message and "500" in message and "Internal error" in message
    assert f"{client_module.MAX_TRIES} tries" in message
    assert raised.value.status == 500 and raised.value.endpoint == "conversations"
    assert len(stub.api_requests()) == client_module.MAX_TRIES


def test_after_the_last_try_a_network_failure_is_named(stub, client):
    stub.script("/users", *[{"fault": "drop"}] * 8)
    with pytest.raises(ApiError, match=r"users: connection failed .* still after 8 tries"):
        client.get("/users", endpoint="users")


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


# ----------------------------------------------------------------------------- OAuth2 modes

def test_refresh_token_grant_rotates_and_stores_the_new_token_before_using_it(stub, config_path,
                                                                               monkeypatch):
    stored_before_use = []
    real_update = auth_module.update_config_file

    def update_then_check(path, updates):
        real_update(path, updates)
        stored_before_use.append(not any(r[0] == "GET" for r in stub.requests))
    monkeypatch.setattr(auth_module, "update_config_file", update_then_check)

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
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"], "no temporary file left"


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
    with pytest.raises(AuthError, match="authorization-code flow again, see README") as raised:
        client.get("/users", endpoint="users")
    assert raised.value.status == 401 and raised.value.endpoint == "users"
    assert client.token_request_count == 2


def test_a_rejected_refresh_token_explains_what_happened(stub, tmp_path):
    path = write_config(tmp_path, stub, refresh_token="stub-refresh-used-elsewhere")
    with pytest.raises(AuthError) as raised:
        client_for(path).get("/users")
    message = str(raised.value)
    assert "the refresh token was rejected (it may have been used by another process, or the " \
           "app was de-authorized): run the authorization-code flow again, see README" in message
    assert "Invalid refresh_token" in message
    assert "stub-refresh-used-elsewhere" not in message


def test_bad_client_credentials_are_named(stub, tmp_path):
    path = write_config(tmp_path, stub, client_secret="wrong-secret")
    with pytest.raises(AuthError, match="refused the client_id/client_secret") as raised:
        client_for(path).get("/users")
    assert "wrong-secret" not in str(raised.value)


def test_the_token_is_renewed_shortly_before_it_expires(tmp_path):
    stub = StubApi(expires_in=1).start()
    try:
        api_client = client_for(write_config(tmp_path, stub))
        api_client.get("/users")
        time.sleep(1.0)
        api_client.get("/users")
        assert stub.token_grants == ["refresh_token", "refresh_token"]
        assert all(r[3]["Authorization"] != "Bearer stub-access-1"
                   for r in stub.api_requests()[1:]), "no request went out with the old token"
        assert len(stub.api_requests()) == 2, "no 401 was needed"
    finally:
        stub.stop()


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


def test_an_unwritable_config_file_stops_the_tap_before_the_new_token_is_used(
        stub, config_path, monkeypatch):
    def read_only(path, updates):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(auth_module, "update_config_file", read_only)
    with pytest.raises(TapError) as raised:
        client_for(config_path).get("/users")
    message = str(raised.value)
    assert "could not be updated (Permission denied)" in message
    assert "run the authorization-code flow again" in message
    assert "stub-refresh" not in message
    assert stub.api_requests() == []


def test_no_secret_or_token_reaches_stdout_or_stderr(stub, tmp_path, capfd):
    path = write_config(tmp_path, stub, access_token="stub-access-expired")
    secrets = {CLIENT_SECRET, stub.refresh_token, "stub-access-expired"}
    api_client = client_for(path)
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

def test_a_rate_limited_burst_never_meets_a_429_and_wastes_little_time(tmp_path):
    stub = StubApi(rate_limit=40, window_seconds=0.5).start()
    try:
        api_client = client_for(write_config(tmp_path, stub, refresh_token=None))
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: api_client.get("/users", {"page": str(i)}), range(240)))
        elapsed = time.monotonic() - started
        assert stub.throttled == 0
        # How close to the limit the pacing gets is measured by `make bench`; here, only that it
        # learns the short window instead of waiting out whole minutes (a minute would be 60 s).
        assert elapsed < 20, "the pacer waited as if the window were a minute"
    finally:
        stub.stop()


def test_max_requests_per_minute_spaces_the_taps_own_requests(stub, tmp_path):
    api_client = client_for(write_config(tmp_path, stub, refresh_token=None),
                            max_requests_per_minute=600)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: api_client.get("/users"), range(6)))
    arrivals = [r[4] for r in stub.api_requests()]
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:])]
    assert min(gaps) > 0.08 and sum(gaps) > 0.45     # arrival times jitter a little


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def headers(limit, remaining):
    return {"X-RateLimit-Limit-Minute": str(limit), "X-RateLimit-Remaining-Minute": str(remaining)}


def test_pacer_sends_one_request_until_the_first_answer_tells_the_budget():
    pacer = RateLimitPacer(parallelism=4, clock=FakeClock())
    first = pacer.acquire()
    assert pacer._delay(pacer._clock(), 1) == (float("inf"), False)
    pacer.release(first, headers(400, 399))
    assert pacer._delay(pacer._clock(), 1) == (None, False)


def test_pacer_stops_bursting_at_the_reserve_and_probes_for_the_next_window():
    clock = FakeClock()
    pacer = RateLimitPacer(parallelism=4, clock=clock)
    pacer.release(pacer.acquire(), headers(100, 20))
    assert pacer._delay(clock.now, 1)[0] is None           # 20 left: burst on
    pacer.release(pacer.acquire(), headers(100, 15))
    delay, _ = pacer._delay(clock.now, 1)
    assert delay == pytest.approx(RateLimitPacer.FIRST_PROBE_PAUSE)
    clock.now += delay
    probe = pacer.acquire()
    assert probe.probe
    clock.now += 0.01
    pacer.release(probe, headers(100, 99))                 # the window reset
    assert pacer._delay(clock.now, 1)[0] is None


def test_pacer_holds_every_request_for_the_retry_after_of_a_429():
    clock = FakeClock()
    pacer = RateLimitPacer(parallelism=4, clock=clock)
    pacer.release(pacer.acquire(), headers(100, 50))
    pacer.hold_off(1.5)
    assert pacer._delay(clock.now, 1)[0] == pytest.approx(1.5)
    clock.now += 1.5
    assert pacer._delay(clock.now, 1)[0] is None


def test_pacer_learns_the_window_and_then_waits_until_its_predicted_end():
    clock = FakeClock()
    pacer = RateLimitPacer(parallelism=1, clock=clock)
    window = 3.0
    opened = clock.now
    used = 0

    def send():
        nonlocal opened, used
        ticket = pacer.acquire() if pacer._delay(clock.now, 1)[0] is None else None
        if ticket is None:
            return False
        if clock.now - opened >= window:            # windows open with the first request after
            opened, used = clock.now, 0
        used += 1
        clock.now += 0.001
        pacer.release(ticket, headers(100, 100 - used))
        return True

    for _ in range(6):                                # six windows' worth of work
        sent = 0
        while sent < 100:
            if send():
                sent += 1
            else:
                clock.now += pacer._delay(clock.now, 1)[0]
    shortest, longest = pacer._window
    assert shortest <= window <= longest and longest - shortest < 0.2 * window


def test_pacer_does_not_serialize_requests_when_answers_carry_no_rate_headers():
    pacer = RateLimitPacer(parallelism=4, clock=FakeClock())
    pacer.release(pacer.acquire(), {"Content-Type": "application/json"})
    pacer.acquire()
    pacer.acquire()                                  # two in flight, and a third may go
    assert pacer._delay(pacer._clock(), 1) == (None, False)


def test_refused_credentials_are_asked_once_even_by_parallel_workers(stub, tmp_path):
    api_client = client_for(write_config(tmp_path, stub, refresh_token="stub-refresh-revoked"))
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda i: _error_of(api_client.get, "/users"), range(8)))
    assert all(isinstance(outcome, AuthError) for outcome in outcomes)
    assert len(stub.token_requests()) == 1


def _error_of(call, *args):
    try:
        call(*args)
    except Exception as exc:     # the test inspects whatever was raised
        return exc
    return None
