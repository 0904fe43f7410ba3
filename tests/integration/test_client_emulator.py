"""HelpScoutClient against the project's Help Scout emulator (tests/emulator): every fault kind
is survived with the same answer as without it, tokens rotate and persist across runs, rate
limits (fixed and sliding windows) are paced without a single 429, and errors carry the API's
own words.

The pacing tests run at a scaled time (the emulator's window lasts 60 * time_scale s), over two
or three windows: what they prove over many windows, the limiter proves on a fake clock
(tests/unit/test_ratelimit.py, the same scenarios)."""
import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest

import tap_helpscout.api.client as http_module
import tap_helpscout.api.mailbox as mailbox_module
from tap_helpscout.errors import ApiError, AuthError, PermissionDenied
from tap_helpscout.api.mailbox import HelpScoutClient
from tap_helpscout.api.ratelimit import RateLimiter, Ticket
from tap_helpscout.logs import configure_logging
from tap_helpscout.redact import Redactor
from tests.support import tap_runner

pytestmark = pytest.mark.timeout(60)

SMALL = dict(seed=3, conversations=30, customers=20)


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(http_module, "BACKOFF_FACTOR_SECONDS", 0.001)


def write_config(tmp_path, emu, **keys):
    config = {"client_id": emu.client_id, "client_secret": emu.client_secret,
              "refresh_token": emu.refresh_token, "base_url": emu.base_url,
              "start_date": "2024-01-01T00:00:00Z", **keys}
    config = {key: value for key, value in config.items() if value is not None}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config, indent=2))
    os.chmod(path, 0o600)
    return path


def client_for(path, **overrides):
    configure_logging()      # as the command line does first: log lines go to the stderr of the moment
    return HelpScoutClient({**json.loads(path.read_text()), **overrides}, str(path),
                           redactor=Redactor())


def api_requests(emu):
    return [r for r in emu.requests if not r.path.endswith("/oauth2/token")]


# ------------------------------------------------------------------------------- faults

@pytest.mark.parametrize("kind", ["500", "502", "503", "504", "429", "drop", "cut"])
def test_each_fault_is_survived_with_the_same_answer(make_emulator, tmp_path, kind):
    emu = make_emulator(**SMALL)
    api_client = client_for(write_config(tmp_path, emu))
    params = {"status": "all", "sortField": "createdAt", "sortOrder": "asc", "page": "1"}
    clean = api_client.get("/conversations", params, endpoint="conversations").json
    emu.add_fault(kind, path="/conversations", retry_after=0.2)
    faulted = api_client.get("/conversations", params, endpoint="conversations").json
    assert faulted == clean
    assert [r.fault for r in api_requests(emu)][-2:] == [kind, None]


def test_a_stall_past_the_request_timeout_is_survived_by_a_retry(make_emulator, tmp_path):
    emu = make_emulator(**SMALL)
    api_client = client_for(write_config(tmp_path, emu), request_timeout=1)
    clean = api_client.get("/mailboxes").json
    emu.add_fault("stall", path="/mailboxes", stall_seconds=3)
    emu.clear_requests()
    assert api_client.get("/mailboxes").json == clean
    # The stalled try, then (on a machine so loaded that an answer takes over a second, more
    # than one) a try that is answered.
    faults = [r.fault for r in api_requests(emu)]
    assert faults[0] == "stall" and faults[-1] is None and len(faults) >= 2


def test_retry_after_of_an_injected_429_is_waited_for(make_emulator, tmp_path):
    emu = make_emulator(**SMALL)
    api_client = client_for(write_config(tmp_path, emu))
    api_client.get("/users")
    emu.add_fault("429", path="/users", retry_after=0.3)
    api_client.get("/users")
    throttled, retried = api_requests(emu)[-2:]
    assert throttled.status == 429 and retried.status == 200
    assert retried.time - throttled.time >= 0.3, "no request before the server's wait is over"


def test_token_endpoint_faults_are_retried(make_emulator, tmp_path):
    emu = make_emulator(**SMALL)
    emu.add_fault("503", path="/oauth2/token")
    api_client = client_for(write_config(tmp_path, emu))
    assert api_client.get("/users").status == 200
    assert api_client.stats.token_requests == 2


# ------------------------------------------------------------------------------- OAuth2

def test_a_401_refreshes_the_token_and_retries(make_emulator, tmp_path):
    emu = make_emulator(**SMALL)
    api_client = client_for(write_config(tmp_path, emu))
    clean = api_client.get("/users").json
    emu.add_fault("401", path="/users")
    assert api_client.get("/users").json == clean
    assert api_client.stats.token_requests == 2


def test_expired_tokens_are_replaced(make_emulator, tmp_path):
    emu = make_emulator(**SMALL)
    api_client = client_for(write_config(tmp_path, emu))
    api_client.get("/users")
    emu.expire_access_tokens()
    assert api_client.get("/users").status == 200


def test_second_401_asks_user_to_reauthorize(make_emulator, tmp_path):
    emu = make_emulator(**SMALL)
    api_client = client_for(write_config(tmp_path, emu))
    api_client.get("/users")
    emu.add_fault("401", path="/users")
    emu.add_fault("401", path="/users")           # moves on to the retry after the refresh
    with pytest.raises(AuthError, match="authorize the app again: tap-helpscout --config CONFIG --authorize"):
        api_client.get("/users", endpoint="users")


def test_rotation_is_persisted_and_the_new_token_works_in_the_next_run(make_emulator, tmp_path):
    emu = make_emulator(**SMALL)
    path = write_config(tmp_path, emu)
    first_token = emu.refresh_token
    client_for(path).get("/users")
    stored = json.loads(path.read_text())
    assert stored["refresh_token"] == emu.refresh_token != first_token
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # The next run, with only the stored refresh token (no access token): the emulator takes it.
    next_run = write_config(tmp_path, emu, refresh_token=stored["refresh_token"])
    client_for(next_run).get("/users")
    assert json.loads(next_run.read_text())["refresh_token"] == emu.refresh_token


def test_an_old_refresh_token_is_rejected_with_a_clear_message(make_emulator, tmp_path):
    emu = make_emulator(**SMALL)
    old = emu.refresh_token
    client_for(write_config(tmp_path, emu)).get("/users")        # rotates it
    stale = write_config(tmp_path, emu, refresh_token=old)
    with pytest.raises(AuthError) as raised:
        client_for(stale).get("/users")
    message = str(raised.value)
    assert "the refresh token was rejected (it may have been used by another process, or the " \
           "app was de-authorized): authorize the app again: tap-helpscout --config CONFIG --authorize" in message
    assert "Invalid refresh_token" in message and old not in message


def test_a_refresh_whose_answer_was_lost_explains_that_the_token_may_have_rotated(
        make_emulator, tmp_path):
    emu = make_emulator(**SMALL)
    emu.add_fault("cut", path="/oauth2/token")       # rotated on the server, answer cut short
    with pytest.raises(AuthError) as raised:
        client_for(write_config(tmp_path, emu)).get("/users")
    assert "refresh token was rejected" in str(raised.value)
    assert "may have rotated the token without the tap receiving the new one" in str(raised.value)


def test_client_credentials_and_a_bare_access_token(make_emulator, tmp_path):
    emu = make_emulator(**SMALL)
    path = write_config(tmp_path, emu, refresh_token=None)
    before = path.read_text()
    assert client_for(path).get("/users").status == 200
    assert path.read_text() == before
    bare = write_config(tmp_path, emu, client_id=None, client_secret=None, refresh_token=None,
                        access_token=emu.issue_access_token())
    assert client_for(bare).get("/users").status == 200


# ------------------------------------------------------------------------------- errors

def test_a_400_names_the_endpoint_and_the_api_message(make_emulator, tmp_path):
    emu = make_emulator(**SMALL)
    api_client = client_for(write_config(tmp_path, emu))
    with pytest.raises(ApiError) as raised:
        api_client.get("/conversations", {"status": "Wrong"}, endpoint="conversations")
    message = str(raised.value)
    assert raised.value.status == 400 and "conversations" in message and "status" in message
    assert len(api_requests(emu)) == 1


def test_a_404_is_not_retried(make_emulator, tmp_path):
    emu = make_emulator(**SMALL)
    api_client = client_for(write_config(tmp_path, emu))
    with pytest.raises(ApiError) as raised:
        api_client.get("/conversations/1", endpoint="conversation")
    assert raised.value.status == 404 and "conversation" in str(raised.value)
    assert len(api_requests(emu)) == 1


def test_reports_on_the_standard_plan_raise_permission_denied(make_emulator, tmp_path):
    emu = make_emulator(**SMALL, plan="standard")
    api_client = client_for(write_config(tmp_path, emu))
    with pytest.raises(PermissionDenied) as raised:
        api_client.get("/reports/happiness/ratings",
                       {"start": "2024-01-01T00:00:00Z", "end": "2024-02-01T00:00:00Z"},
                       endpoint="happiness_ratings_report")
    assert raised.value.status == 403


# --------------------------------------------------------------------------- rate limits

@pytest.mark.parametrize("window", ["fixed", "sliding"])
def test_a_rate_limited_run_meets_no_429(make_emulator, tmp_path, capfd, window):
    emu = make_emulator(**SMALL, rate_limit=60, time_scale=0.01, rate_window=window)  # 60 per 0.6 s
    api_client = client_for(write_config(tmp_path, emu))
    with ThreadPoolExecutor(4) as pool:        # two windows and more
        list(pool.map(lambda page: api_client.get("/users", {"page": "1"}), range(100)))
    assert emu.throttled == 0
    assert api_client.stats.throttled == 0 and api_client.stats.rate_waits > 0


def test_max_requests_per_minute_caps_the_taps_share(make_emulator, tmp_path, monkeypatch):
    # When each request may start is read from the limiter's own clock: the times the requests
    # arrive at the emulator also hold how long each took to get there, which a loaded machine
    # stretches for one request more than for another.
    starts = []

    class RecordingLimiter(RateLimiter):
        def try_acquire(self, cost=1):
            ticket = super().try_acquire(cost)
            if isinstance(ticket, Ticket):
                starts.append((ticket.started, cost))
            return ticket
    monkeypatch.setattr(mailbox_module, "RateLimiter", RecordingLimiter)
    emu = make_emulator(**SMALL)
    api_client = client_for(write_config(tmp_path, emu), max_requests_per_minute=600)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda page: api_client.get("/users"), range(6)))
    assert [cost for _, cost in starts] == [2, 1, 1, 1, 1, 1, 1]     # the token request costs two
    assert len(emu.requests) == 7, "each started request reached the server"
    times = [at for at, _ in starts]
    assert times[-1] - times[0] >= 7 * 0.1 - 1e-6, "no faster than the cap"
    for (earlier, cost), later in zip(starts, times[1:]):
        assert later - earlier >= cost * 0.1 - 1e-6


# ----------------------------------------------------------------------------- secrecy

def test_no_secret_appears_in_any_output(make_emulator, tmp_path, capfd):
    emu = make_emulator(**SMALL)
    path = write_config(tmp_path, emu)
    secrets = {emu.client_secret, emu.refresh_token}
    api_client = client_for(path)
    for kind in ("500", "drop", "cut", "401", "429"):
        emu.add_fault(kind, path="/users", retry_after=0.1)
        api_client.get("/users")
    with pytest.raises(ApiError):
        api_client.get("/conversations", {"status": "Wrong"})
    stored = json.loads(path.read_text())
    secrets |= {stored["refresh_token"], stored["access_token"], emu.refresh_token}
    out, err = capfd.readouterr()
    assert out == ""
    assert "try 2 of 8" in err and "HTTP 500" in err
    for secret in secrets:
        assert secret not in err


@pytest.mark.parametrize("window", ["fixed", "sliding"])
def test_a_paced_sync_of_the_real_executable_meets_no_429(make_emulator, tmp_path, window):
    emu = make_emulator(seed=5, conversations=150, customers=100, rate_limit=40, time_scale=0.02,
                        rate_window=window)           # 40 per 1.2 s
    config = tap_runner.write_config(emu, tmp_path)
    catalog = tap_runner.select(tap_runner.offline_catalog(),
                                ["conversations", "conversation_threads", "customers"])
    run = tap_runner.run_tap(config, catalog=catalog)
    assert run.record_counts()["conversations"] == len(emu.data.conversations)
    assert emu.throttled == 0
    assert len(api_requests(emu)) > 40, "the run spanned windows"
