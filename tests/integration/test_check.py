"""--check: against the emulator through the real executable (the estimate against what the
following sync really requested, plans without reports, refused credentials, broken input). The
estimate's arithmetic on its own: tests/unit/test_estimate.py."""
import json

import pytest

from tap_helpscout.cli.check import KEYS, MAX_REQUESTS
from tests.support.expected import PRIMARY_KEYS
from tests.support.tap_runner import offline_catalog, run_tap, select, write_config, write_json


def check(config, *args, **kwargs):
    run = run_tap(config, "--check", "--json", *args, check=False, **kwargs)
    assert run.stdout.count("\n") == 1, run.stdout
    result = json.loads(run.stdout)
    assert tuple(result) == KEYS
    assert run.returncode == (0 if result["ok"] else 1)
    return result, run


@pytest.mark.parametrize("shape", [
    dict(conversations=600, customers=300, ratings=100),                        # the default mix
    dict(conversations=600, customers=300, chat_fraction=0.5, ratings=100),     # half chats
    dict(conversations=600, customers=300, long_threads=0.3, ratings=100),      # many long threads
    dict(conversations=200, customers=1000, ratings=60),                        # 5x more customers
    dict(conversations=300, customers=120, chat_fraction=0.6, ratings=60),      # mostly chats
    dict(conversations=700, customers=450, chat_fraction=0.02, ratings=300),    # hardly any
], ids=["default", "half chats", "long threads", "5x customers", "mostly chats", "hardly any chats"])
def test_the_estimate_is_within_35_percent_of_the_sync_that_follows(make_emulator, tmp_path, shape):
    emu = make_emulator(seed=11, **shape)
    config = write_config(emu, tmp_path)
    # The Mailbox streams (the Docs streams need a key of their own: tests/integration/test_docs_check.py).
    catalog = select(offline_catalog(), list(PRIMARY_KEYS))
    catalog_path = write_json(tmp_path / "selected.json", catalog)
    original_refresh_token = emu.refresh_token

    result, _ = check(config, "--catalog", str(catalog_path))
    assert result["ok"] and result["problems"] == []
    assert len(emu.requests) <= MAX_REQUESTS
    assert result["user"]["email"] == emu.data.users[0]["email"]
    assert result["mailboxes"] == len(emu.data.mailboxes)
    assert result["reports_available"] is True
    assert result["rate_limit_per_minute"] == 1_000_000       # the emulator's header without a limit
    assert result["conversations"] == len(emu.data.conversations)
    assert result["customers"] == len(emu.data.customers)
    stored = json.loads(config.read_text())["refresh_token"]
    assert stored != original_refresh_token, "the check's refresh rotated the token, and it was stored"

    emu.clear_requests()
    run_tap(config, catalog=catalog, workdir=tmp_path)
    spent = len(emu.requests)
    print(f"estimated {result['estimated_requests']}, spent {spent}")
    assert abs(result["estimated_requests"] - spent) <= 0.35 * spent, (result["estimated_requests"], spent)


@pytest.mark.parametrize("status", [403, 401])
def test_a_plan_without_reports(make_emulator, tmp_path, status):
    emu = make_emulator(seed=5, conversations=80, customers=40, plan="standard", reports_status=status)
    # A stale access token as well: the worst case, two renewals, still within the budget.
    config = write_config(emu, tmp_path, access_token="0" * 32)
    result, run = check(config)
    assert result["reports_available"] is False
    assert result["ok"] is True, result["problems"]      # without a catalog: a note, not a problem
    assert len(emu.requests) <= MAX_REQUESTS

    # With the report selected in the catalog it is a problem, which says what to do.
    catalog = write_json(tmp_path / "selected.json", select(offline_catalog()))
    result, run = check(config, "--catalog", str(catalog))
    assert result["ok"] is False and run.returncode == 1
    assert result["reports_available"] is False
    assert any("happiness_ratings_report" in p and "deselect" in p for p in result["problems"])


def test_refused_credentials(make_emulator, tmp_path):
    emu = make_emulator(seed=5, conversations=30, customers=10)
    config = write_config(emu, tmp_path, refresh_token="0" * 32)
    result, _ = check(config)
    assert result["ok"] is False
    assert result["user"] is None and result["estimated_requests"] is None
    assert len(result["problems"]) == 1 and "refresh token was rejected" in result["problems"][0]


@pytest.mark.parametrize("config, state, words", [
    ({"client_id": "an-app-id"}, None, '"client_secret" is required'),
    ({"client_id": "an-app-id", "client_secret": "an-app-secret"},
     {"bookmarks": {"customers": {"updated_at": "soon"}}}, "is not a date-time"),
])
def test_input_that_a_sync_would_refuse_is_a_problem(tmp_path, config, state, words):
    config_path = write_json(tmp_path / "config.json", config)
    args = ["--state", str(write_json(tmp_path / "state.json", state))] if state else []
    result, _ = check(config_path, *args)
    assert result["ok"] is False
    assert len(result["problems"]) == 1 and words in result["problems"][0]


def test_the_human_report(make_emulator, tmp_path):
    # The cap is a quarter of the account's limit, and the estimate large enough for the minutes
    # to tell which of the two they follow; the cap paces the check's own requests (0.05 s each).
    emu = make_emulator(seed=5, conversations=800, customers=400, rate_limit=4800)
    config = write_config(emu, tmp_path, max_requests_per_minute=1200)
    run = run_tap(config, "--check", check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    text = run.stdout
    assert text.rstrip().endswith("OK: a sync can run")
    for words in ("credentials: work", "mailboxes: 3", "reports: available",
                  "4,800 requests per minute for the account", "caps the tap at 1,200",
                  "conversations: 800", "sampled", "customers: 400", "estimate of a full backfill"):
        assert words in text, words
    result, _ = check(config)
    assert result["rate_limit_per_minute"] == 4800
    assert result["estimated_minutes"] == round(result["estimated_requests"] / 1200, 1)
    assert result["estimated_minutes"] != round(result["estimated_requests"] / 4800, 1)


def test_a_wrong_secret_is_found_even_while_the_stored_access_token_works(make_emulator, tmp_path):
    emu = make_emulator(seed=5, conversations=30, customers=10)
    config = write_config(emu, tmp_path, access_token=emu.issue_access_token(), client_secret="not-the-secret")
    original = emu.refresh_token
    result, _ = check(config)
    assert result["ok"] is False and result["user"] is not None        # the token works ...
    assert any("client_id/client_secret" in p for p in result["problems"]), result["problems"]   # ... the secret not
    assert emu.refresh_token == original, "the refresh token was not spent to find it out"


def test_a_catalog_that_selects_nothing_is_a_problem(make_emulator, tmp_path):
    emu = make_emulator(seed=5, conversations=30, customers=10)
    config = write_config(emu, tmp_path)
    catalog = write_json(tmp_path / "catalog.json", offline_catalog())     # as discovered: nothing selected
    result, _ = check(config, "--catalog", str(catalog))
    assert result["ok"] is False and any("selects no stream" in p for p in result["problems"])
    run = run_tap(config, "--catalog", str(catalog), check=False)
    assert run.returncode == 3 and "selects no stream" in run.stderr.strip().splitlines()[-1]
    assert "Traceback" not in run.stderr and not emu.requests


def test_an_api_out_of_reach_is_given_up_on_within_seconds(tmp_path):
    import socket
    import time
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_json(tmp_path / "config.json", {"client_id": "app", "client_secret": "secret",
                                                   "refresh_token": "r" * 32, "base_url": f"http://127.0.0.1:{port}/v2"})
    started = time.monotonic()
    result, _ = check(config, timeout=60)
    assert time.monotonic() - started < 30, "a generous bound: the sync's retries would take two minutes"
    assert result["ok"] is False and any(f"check base_url (http://127.0.0.1:{port}/v2)" in p for p in result["problems"])


def test_the_estimate_covers_the_daily_reports_and_organizations_in_full(make_emulator, tmp_path):
    emu = make_emulator(seed=11, conversations=200, customers=100, ratings=30, users=4, mailboxes=3,
                        recent_conversations=300, organizations=20)
    config = write_config(emu, tmp_path, start_date="2025-06-01T00:00:00Z", organization_details=True)
    catalog = select(offline_catalog(), ["report_daily", "report_user_daily", "organizations",
                                         "organization_properties"])
    catalog_path = write_json(tmp_path / "selected.json", catalog)
    result, _ = check(config, "--catalog", str(catalog_path))
    assert result["ok"], result["problems"]
    emu.clear_requests()
    first = run_tap(config, catalog=catalog, workdir=tmp_path)
    spent = len(emu.requests)
    assert abs(result["estimated_requests"] - spent) <= 0.1 * spent, (result["estimated_requests"], spent)
    # With the state of that run, the estimate is of a run that reads the lookback only.
    state = write_json(tmp_path / "first-state.json", first.last_state)
    result, _ = check(config, "--catalog", str(catalog_path), "--state", str(state))
    emu.clear_requests()
    run_tap(config, catalog=catalog, workdir=tmp_path, state=first.last_state)
    spent = len(emu.requests)
    assert abs(result["estimated_requests"] - spent) <= 0.1 * spent, (result["estimated_requests"], spent)


def test_a_plan_without_reports_with_the_daily_reports_selected(make_emulator, tmp_path):
    emu = make_emulator(seed=5, conversations=80, customers=40, plan="standard")
    config = write_config(emu, tmp_path)
    catalog = write_json(tmp_path / "selected.json", select(offline_catalog(), ["report_daily", "report_user_daily"]))
    result, run = check(config, "--catalog", str(catalog))
    assert result["ok"] is False and result["reports_available"] is False
    assert any("report_daily, report_user_daily are selected" in p and "deselect them" in p
               for p in result["problems"])
