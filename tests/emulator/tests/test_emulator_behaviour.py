"""The emulator's specification, part 2: OAuth2, bearer tokens, rate limits, latency, injected
faults, changes between syncs, drift, keep-alive and the command line. No test here asserts how
fast anything is (speed is measured by `python -m tests.emulator.speed`); rate-limit windows are
stepped with a fake clock."""
import http.client
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.emulator import Emulator
from tests.support.fake_clock import FakeClock

pytestmark = pytest.mark.timeout(60)

INVALID_REFRESH = {"error_description": "Invalid refresh_token", "error": "invalid_request"}
SMALL = dict(conversations=40, customers=30)


def token_url(emu):
    return emu.base_url + "/oauth2/token"


def refresh(emu, refresh_token=None, **extra):
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token or emu.refresh_token,
            "client_id": emu.client_id, "client_secret": emu.client_secret, **extra}
    return requests.post(token_url(emu), data=form, timeout=10)


def authorized(emu, token=None):
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + (token or emu.issue_access_token())
    return session


# ------------------------------------------------------------------------------------ OAuth2

def test_refresh_token_rotates_and_the_old_one_is_rejected_verbatim(make_emulator):
    emu = make_emulator(**SMALL, token_lifetime=3600)
    old = emu.refresh_token
    response = refresh(emu)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"token_type", "access_token", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert body["refresh_token"] != old and emu.refresh_token == body["refresh_token"]
    assert len(body["access_token"]) == 32
    assert authorized(emu, body["access_token"]).get(emu.base_url + "/mailboxes").status_code == 200
    again = refresh(emu, refresh_token=old)
    assert again.status_code == 400
    assert again.content == b'{"error_description":"Invalid refresh_token","error":"invalid_request"}'
    assert refresh(emu).status_code == 200, "the rotated token works once"


def test_client_authentication_by_json_query_string_and_basic(make_emulator):
    emu = make_emulator(**SMALL)
    as_json = requests.post(token_url(emu), json={"grant_type": "refresh_token", "refresh_token": emu.refresh_token,
                                                  "client_id": emu.client_id, "client_secret": emu.client_secret})
    assert as_json.status_code == 200
    as_query = requests.post(token_url(emu), params={"grant_type": "refresh_token", "refresh_token": emu.refresh_token,
                                                     "client_id": emu.client_id, "client_secret": emu.client_secret})
    assert as_query.status_code == 200
    as_basic = requests.post(token_url(emu), data={"grant_type": "refresh_token", "refresh_token": emu.refresh_token},
                             auth=(emu.client_id, emu.client_secret))
    assert as_basic.status_code == 200
    # a JSON body is read only when the Content-Type says so
    unlabelled = requests.post(token_url(emu), data=json.dumps({"grant_type": "client_credentials",
                                                                "client_id": emu.client_id,
                                                                "client_secret": emu.client_secret}),
                               headers={"Content-Type": "text/plain"})
    assert unlabelled.status_code == 400


def test_client_credentials_and_authorization_code_grants(make_emulator):
    emu = make_emulator(**SMALL)
    creds = requests.post(token_url(emu), data={"grant_type": "client_credentials", "client_id": emu.client_id,
                                                "client_secret": emu.client_secret})
    assert creds.status_code == 200 and "refresh_token" not in creds.json()
    code = emu.authorization_code
    first = requests.post(token_url(emu), data={"grant_type": "authorization_code", "code": code,
                                                "client_id": emu.client_id, "client_secret": emu.client_secret})
    assert first.status_code == 200 and "refresh_token" in first.json()
    assert emu.refresh_token == first.json()["refresh_token"]
    replay = requests.post(token_url(emu), data={"grant_type": "authorization_code", "code": code,
                                                 "client_id": emu.client_id, "client_secret": emu.client_secret})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert emu.authorization_code != code, "a fresh one-time code is ready"


def test_bad_client_and_bad_grant(make_emulator):
    emu = make_emulator(**SMALL)
    bad_secret = refresh(emu, client_secret="nope")
    assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"
    assert requests.post(token_url(emu), data={"client_id": emu.client_id}).status_code == 400
    password = requests.post(token_url(emu), data={"grant_type": "password", "client_id": emu.client_id,
                                                   "client_secret": emu.client_secret})
    assert password.status_code == 400 and password.json()["error"] == "unsupported_grant_type"
    assert refresh(emu, refresh_token="0" * 32).json() == INVALID_REFRESH


def test_missing_invalid_and_expired_bearer_tokens_are_401(make_emulator):
    emu = make_emulator(**SMALL)
    url = emu.base_url + "/conversations"
    assert requests.get(url).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer 0123"}).status_code == 401
    assert requests.get(url, headers={"Authorization": "Basic abc"}).status_code == 401
    # a token past its lifetime is refused (a lifetime that has already run out: no sleeping)
    assert authorized(emu, emu.issue_access_token(lifetime=3600)).get(url).status_code == 200
    assert authorized(emu, emu.issue_access_token(lifetime=-1)).get(url).status_code == 401
    lasting = authorized(emu)
    assert lasting.get(url).status_code == 200
    emu.expire_access_tokens()
    expired = lasting.get(url)
    assert expired.status_code == 401 and expired.json()["message"]
    fresh = refresh(emu).json()["access_token"]
    assert authorized(emu, fresh).get(url).status_code == 200


# ------------------------------------------------------------------------------------ rate limits

def test_every_answer_has_date_and_rate_limit_headers(make_emulator):
    emu = make_emulator(**SMALL)
    answers = [requests.get(emu.base_url + "/conversations"), authorized(emu).get(emu.base_url + "/nothing"),
               refresh(emu), authorized(emu).get(emu.base_url + "/users")]
    for response in answers:
        assert {"Date", "Content-Type", "Content-Length", "X-RateLimit-Limit-Minute",
                "X-RateLimit-Remaining-Minute"} <= set(response.headers), response.headers
    # without a rate limit the advertised budget is large and never runs out
    assert int(answers[-1].headers["X-RateLimit-Limit-Minute"]) >= 100_000


def test_exhausted_budget_gives_429_with_retry_after_then_recovers(make_emulator):
    emu = make_emulator(**SMALL, rate_limit=6, time_scale=1 / 60)       # a "minute" of 1 s
    clock = emu.rate_limiter.clock = FakeClock(100.0)                   # steps, not sleeps
    session = authorized(emu)
    url = emu.base_url + "/mailboxes"
    remaining = [int(session.get(url).headers["X-RateLimit-Remaining-Minute"]) for _ in range(6)]
    assert remaining == [5, 4, 3, 2, 1, 0]
    throttled = session.get(url)
    assert throttled.status_code == 429
    assert throttled.json() == {"message": "API rate limit exceeded"}
    assert throttled.headers["X-RateLimit-Limit-Minute"] == "6"
    assert throttled.headers["X-RateLimit-Remaining-Minute"] == "0"
    retry_after = int(throttled.headers["X-RateLimit-Retry-After"])
    assert throttled.headers["Retry-After"] == str(retry_after) and retry_after == 1, "ceil, at least 1"
    assert emu.throttled == 1
    clock.now += retry_after
    assert session.get(url).status_code == 200


def test_token_requests_count_twice_against_the_budget(make_emulator):
    emu = make_emulator(**SMALL, rate_limit=100)
    response = refresh(emu)
    assert response.headers["X-RateLimit-Remaining-Minute"] == "98", "a POST costs 2"


def test_latency_fixed_and_seeded_random(make_emulator):
    emu = make_emulator(**SMALL, latency=0.15)
    started = time.perf_counter()
    authorized(emu).get(emu.base_url + "/users")
    assert time.perf_counter() - started >= 0.15
    ranged = make_emulator(**SMALL, latency=(0.01, 0.03))
    session = authorized(ranged)
    for _ in range(3):
        started = time.perf_counter()
        session.get(ranged.base_url + "/users")
        assert time.perf_counter() - started >= 0.01


# ------------------------------------------------------------------------------------ faults

@pytest.fixture
def faulty(make_emulator):
    emu = make_emulator(**SMALL)
    return emu, authorized(emu)


@pytest.mark.parametrize("kind", ["500", "502", "503", "504"])
def test_server_error_faults_on_the_nth_request(faulty, kind):
    emu, session = faulty
    emu.add_fault(kind, nth=2)
    url = emu.base_url + "/users"
    assert session.get(url).status_code == 200
    failed = session.get(url)
    assert failed.status_code == int(kind)
    if kind == "500":
        assert failed.headers["Content-Type"] == "application/vnd.error+json" and "logRef" in failed.json()
    else:
        assert failed.headers["Content-Type"] == "text/html", "gateways answer HTML, not JSON"
    assert session.get(url).status_code == 200, "an nth fault fires once"
    assert [r.fault for r in emu.requests] == [None, kind, None]


def test_fault_429_has_the_rate_limit_headers(faulty):
    emu, session = faulty
    emu.add_fault("429", retry_after=2)
    response = session.get(emu.base_url + "/users")
    assert response.status_code == 429 and response.json() == {"message": "API rate limit exceeded"}
    assert response.headers["X-RateLimit-Retry-After"] == response.headers["Retry-After"] == "2"
    assert response.headers["X-RateLimit-Remaining-Minute"] == "0"
    assert emu.throttled == 1


def test_fault_401_expires_the_token_until_the_client_refreshes(faulty):
    emu, session = faulty
    emu.add_fault("401")
    url = emu.base_url + "/users"
    assert session.get(url).status_code == 401
    assert session.get(url).status_code == 401, "retrying with the same token does not help"
    fresh = refresh(emu).json()["access_token"]
    assert authorized(emu, fresh).get(url).status_code == 200


def test_fault_drop_closes_without_an_answer(faulty):
    emu, session = faulty
    emu.add_fault("drop")
    with pytest.raises(requests.ConnectionError):
        session.get(emu.base_url + "/users")
    assert emu.requests[-1].status == 0 and emu.requests[-1].fault == "drop"
    assert session.get(emu.base_url + "/users").status_code == 200


def test_fault_cut_sends_half_the_announced_body(faulty):
    emu, session = faulty
    emu.add_fault("cut")
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        session.get(emu.base_url + "/conversations", params={"status": "all"})
    with socket_to(emu) as conn:
        emu.add_fault("cut")
        conn.request("GET", "/v2/users", headers={"Authorization": session.headers["Authorization"]})
        response = conn.getresponse()
        announced = int(response.getheader("Content-Length"))
        with pytest.raises(http.client.IncompleteRead) as cut:
            response.read()
        assert len(cut.value.partial) == announced // 2


def test_fault_stall_outlasts_a_client_timeout(faulty):
    emu, session = faulty
    emu.add_fault("stall", stall_seconds=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        session.get(emu.base_url + "/users", timeout=0.3)
    assert emu.requests[0].fault == "stall"
    assert session.get(emu.base_url + "/users", timeout=5).status_code == 200


def test_fault_path_prefix_counts_only_matching_requests(faulty):
    emu, session = faulty
    emu.add_fault("503", nth=2, path="/conversations")
    statuses = [session.get(emu.base_url + path).status_code
                for path in ("/users", "/conversations", "/users", "/conversations", "/conversations")]
    assert statuses == [200, 200, 200, 503, 200]
    emu.add_fault("500", path="/v2/oauth2/token")
    assert refresh(emu).status_code == 500, "the token endpoint is hit only when named"
    emu.add_fault("500")
    assert refresh(emu).status_code == 200, "by default faults spare the token endpoint"
    emu.clear_faults()


def test_fault_fraction_is_seeded_and_lasts_until_cleared(make_emulator):
    def pattern():
        emu = make_emulator(**SMALL)
        emu.add_fault("502", fraction=0.3, seed=42)
        session = authorized(emu)
        statuses = [session.get(emu.base_url + "/users").status_code for _ in range(40)]
        emu.clear_faults()
        assert session.get(emu.base_url + "/users").status_code == 200
        return statuses

    first = pattern()
    assert first == pattern()
    assert 4 <= first.count(502) <= 20


# ------------------------------------------------------------------------------------ changes and drift

def all_ids(session, emu, path, key, **params):
    ids, page = [], 1
    while True:
        body = session.get(emu.base_url + path, params={**params, "page": page}).json()
        ids += [item["id"] for item in body.get("_embedded", {}).get(key, [])]
        if page >= body["page"]["totalPages"]:
            return ids
        page += 1


def test_changes_between_syncs_move_records_to_the_end_of_modified_order(make_emulator):
    emu = make_emulator(**SMALL)
    session = authorized(emu)
    order = dict(status="all", sortField="modifiedAt", sortOrder="asc")
    before = all_ids(session, emu, "/conversations", "conversations", **order)
    newest = max(emu.data.conversation_modified_at.values()).strftime("%Y-%m-%dT%H:%M:%SZ")
    changed = before[0]
    emu.modify_conversation(changed)
    threaded = before[1]
    thread = emu.add_thread(threaded)
    created = emu.create_conversation()
    deleted = before[2]
    emu.delete_conversation(deleted)
    since = all_ids(session, emu, "/conversations", "conversations", modifiedSince=newest, **order)
    assert set(since) == {changed, threaded, created}
    after = all_ids(session, emu, "/conversations", "conversations", **order)
    assert deleted not in after and after[-3:] == since
    assert session.get(f"{emu.base_url}/conversations/{deleted}").status_code == 404
    threads = session.get(f"{emu.base_url}/conversations/{threaded}/threads").json()["_embedded"]["threads"]
    assert threads[0]["id"] == thread["id"], "the new thread is the newest"
    conv = session.get(f"{emu.base_url}/conversations/{threaded}").json()
    assert conv["threads"] == len(emu.data.threads[threaded])

    customers_before = all_ids(session, emu, "/customers", "customers")
    newest_customer = max(c["updatedAt"] for c in emu.data.customers)
    emu.modify_customer(customers_before[0])
    new_customer = emu.create_customer()
    gone = emu.data.customers_without_conversations()[0]
    emu.delete_customer(gone)
    changed_customers = all_ids(session, emu, "/customers", "customers", modifiedSince=newest_customer,
                                sortField="modifiedAt", sortOrder="asc")
    assert set(changed_customers) == {customers_before[0], new_customer}
    assert gone not in all_ids(session, emu, "/customers", "customers")


def test_drift_modifies_creates_and_deletes_while_a_reader_pages(make_emulator):
    emu = make_emulator(conversations=150, customers=120, drift=dict(every=2, modify=3, create=2, delete=1))
    session = authorized(emu)
    original = {c["id"] for c in emu.data.conversations}
    original_customers = {c["id"] for c in emu.data.customers}
    seen = all_ids(session, emu, "/conversations", "conversations", status="all",
                   sortField="modifiedAt", sortOrder="asc")
    seen_customers = all_ids(session, emu, "/customers", "customers", sortField="modifiedAt", sortOrder="asc")
    listings = sum(1 for r in emu.requests if r.path in ("/v2/conversations", "/v2/customers"))
    rounds = listings // 2
    assert rounds >= 4 and emu.drifts == rounds
    final = {c["id"] for c in emu.data.conversations}
    assert len(final) == len(original) + rounds * (2 - 1)
    assert final - original, "new conversations appeared"
    assert emu.data.deleted_conversation_ids and not (emu.data.deleted_conversation_ids & final)
    assert {c["id"] for c in emu.data.customers} - original_customers
    # offset paging under drift: what one pass saw differs from the final state
    assert set(seen) != final or len(seen) != len(set(seen))
    assert set(seen_customers) != {c["id"] for c in emu.data.customers}
    # the drifted conversations carry a modification time of "now" and sort last
    hidden = emu.data.conversation_modified_at
    latest = max(hidden.values())
    assert latest.year >= 2026 and sum(1 for t in hidden.values() if t.year >= 2026) >= rounds * 3


def test_drift_is_seeded(make_emulator):
    def final_ids():
        emu = make_emulator(**SMALL, drift=dict(every=1, modify=2, create=1, delete=1))
        session = authorized(emu)
        for _ in range(3):
            session.get(emu.base_url + "/conversations")
        return sorted(c["id"] for c in emu.data.conversations)

    assert final_ids() == final_ids()


# ------------------------------------------------------------------------------------ transport

class socket_to:
    """A raw HTTP/1.1 connection, to check keep-alive and framing without requests' help."""

    def __init__(self, emu):
        self.conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)

    def __enter__(self):
        return self.conn

    def __exit__(self, *exc):
        self.conn.close()


def test_keep_alive_serves_many_requests_on_one_connection(make_emulator):
    emu = make_emulator(**SMALL)
    token = emu.issue_access_token()
    with socket_to(emu) as conn:
        for path in ("/v2/users", "/v2/conversations?status=all&embed=threads", "/v2/nothing", "/v2/mailboxes"):
            conn.request("GET", path, headers={"Authorization": "Bearer " + token})
            response = conn.getresponse()
            body = response.read()
            assert len(body) == int(response.getheader("Content-Length"))
            assert response.getheader("Connection") != "close"
        first_socket = conn.sock
        conn.request("GET", "/v2/users", headers={"Authorization": "Bearer " + token})
        conn.getresponse().read()
        assert conn.sock is first_socket


def test_request_log_records_method_path_query_status_time(make_emulator):
    emu = make_emulator(**SMALL)
    session = authorized(emu)
    session.get(emu.base_url + "/conversations?status=all&page=2")
    entry = emu.requests[-1]
    assert (entry.method, entry.path, entry.query, entry.status) == ("GET", "/v2/conversations",
                                                                     {"status": "all", "page": "2"}, 200)
    assert abs(entry.time - time.time()) < 5
    emu.clear_requests()
    assert emu.requests == []


def test_stop_ends_open_keep_alive_connections(make_emulator):
    emu = Emulator(**SMALL).start()
    session = authorized(emu)
    assert session.get(emu.base_url + "/users").status_code == 200
    emu.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(emu.base_url + "/users", timeout=2)


def test_command_line_prints_the_base_url_and_serves_until_killed(tmp_path):
    config = tmp_path / "config.json"
    process = subprocess.Popen([sys.executable, "-m", "tests.emulator", "--port", "0", "--seed", "3",
                                "--conversations", "30", "--config-out", str(config)],
                               cwd=Path(__file__).resolve().parents[3], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v2")
        settings = json.loads(config.read_text())
        assert settings["base_url"] == base_url
        token = requests.post(base_url + "/oauth2/token", data={
            "grant_type": "refresh_token", "refresh_token": settings["refresh_token"],
            "client_id": settings["client_id"], "client_secret": settings["client_secret"]}).json()["access_token"]
        body = requests.get(base_url + "/conversations", params={"status": "all"},
                            headers={"Authorization": "Bearer " + token}).json()
        assert body["page"]["totalElements"] == 30
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


# ------------------------------------------------------------------------------------ many pages

def test_serves_many_conversation_pages_with_embedded_threads_over_one_connection(make_emulator):
    """What the speed test (`python -m tests.emulator.speed`) relies on, checked for
    correctness only: every page of the tap's listing, three times over, on one keep-alive
    connection, each complete, framed by its Content-Length and in the listing's order."""
    emu = make_emulator(conversations=500, customers=200)
    token = emu.issue_access_token()
    hidden = emu.data.conversation_modified_at
    expected = sorted(hidden, key=lambda i: (hidden[i], i))
    path = "/v2/conversations?status=all&sortField=modifiedAt&sortOrder=asc&embed=threads&page={}"
    with socket_to(emu) as conn:
        conn.connect()
        first_socket = conn.sock
        for _ in range(3):
            listed = []
            for page in range(1, 21):
                conn.request("GET", path.format(page), headers={"Authorization": "Bearer " + token})
                response = conn.getresponse()
                body = response.read()
                assert response.status == 200 and len(body) == int(response.getheader("Content-Length"))
                items = json.loads(body)["_embedded"]["conversations"]
                assert all(item["_embedded"]["threads"] for item in items)
                listed += [item["id"] for item in items]
            assert listed == expected
        assert conn.sock is first_socket, "one connection throughout"
    assert emu.errors == []


def test_folder_and_tag_counters_follow_changes(make_emulator):
    emu = make_emulator(**SMALL)
    data = emu.data
    for conv in list(data.conversations[:12]):
        emu.modify_conversation(conv["id"])
    emu.create_conversation()
    emu.delete_conversation(data.conversations[20]["id"])
    for folders in data.folders.values():
        for folder in folders:
            inside = [c for c in data.conversations if c["folderId"] == folder["id"]]
            assert folder["totalCount"] == len(inside)
            assert folder["activeCount"] == sum(1 for c in inside if c["status"] == "active")
    for tag in data.tags:
        assert tag["ticketCount"] == sum(1 for c in data.conversations if any(t["id"] == tag["id"] for t in c["tags"]))


def test_hand_edits_of_the_dataset_are_served_after_invalidate(make_emulator):
    emu = make_emulator(**SMALL)
    session = authorized(emu)
    conv = emu.data.conversations[0]
    session.get(f"{emu.base_url}/conversations/{conv['id']}")
    conv["subject"] = "Edited by hand ✍"
    emu.invalidate()
    assert session.get(f"{emu.base_url}/conversations/{conv['id']}").json()["subject"] == "Edited by hand ✍"
