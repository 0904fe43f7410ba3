"""The tap's main job, end to end: the real executable against the emulator on loopback."""
import json
import math
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.emulator import Drift
from tests.support.expected import FULL_TABLE_STREAMS, PRIMARY_KEYS, expected_rows, key_of, latest_by_key
from tests.support import tap_runner
from tests.support.tap_runner import offline_catalog, run_tap, run_until_killed, select, write_config

ALL_STREAMS = list(PRIMARY_KEYS)


def emitted(run, stream):
    return {key_of(stream, r): r for r in run.records(stream)}


def endpoint_counts(emu):
    counts = Counter()
    for request in emu.requests:
        counts["/".join("{id}" if part.isdigit() else part for part in request.path.split("/"))] += 1
    return counts


def test_full_sync_emits_every_record_field_by_field(account):
    emu, config, catalog = account()
    run = run_tap(config, catalog=select(catalog))
    expected = expected_rows(emu.data, "2019-01-01T00:00:00Z")
    for stream in ALL_STREAMS:
        got = emitted(run, stream)
        assert set(got) == set(expected[stream]), stream
        for key, row in expected[stream].items():
            assert got[key] == row, (stream, key)
    # IDs above 2^31 stay integers.
    assert any(r["id"] > 2 ** 31 for r in run.records("conversations"))


def test_full_sync_costs_list_pages_plus_only_the_needed_thread_fetches(account):
    emu, config, catalog = account()
    run_tap(config, catalog=select(catalog))
    data = emu.data
    pages = lambda n, size: max(1, math.ceil(n / size))   # noqa: E731
    # The emulator refuses search queries by default: conversations are then read by offset,
    # page 1 first (it tells the number of pages), then one refused query range, then every
    # page from the last to the first (page 1 again).
    listing = lambda n, size: pages(n, size) + (2 if n > size else 0)   # noqa: E731
    # Customers are a keyset chain on modifiedAt: each request starts at the last row's
    # second, so a page brings 49 new rows (one tied row comes again); this account has no tie
    # larger than a page.
    chain = lambda n, size: max(1, math.ceil((n - 1) / (size - 1)))   # noqa: E731
    # Chat threads come truncated when embedded, and a list at the cap of 25 may be cut.
    incomplete = [c for c in data.conversations if c["type"] == "chat" or c["threads"] >= 25]
    expected = {
        "/v2/conversations": listing(len(data.conversations), 25),
        "/v2/conversations/{id}/threads": sum(pages(len(data.threads[c["id"]]), 50) for c in incomplete),
        "/v2/customers": chain(len(data.customers), 50),
        "/v2/mailboxes": 1, "/v2/users": 1, "/v2/teams": 1, "/v2/workflows": 1,
        "/v2/mailboxes/{id}/fields": len(data.mailboxes), "/v2/mailboxes/{id}/folders": len(data.mailboxes),
        "/v2/teams/{id}/members": len(data.teams),
        "/v2/tags": pages(len(data.tags), 50), "/v2/organizations": pages(len(data.organizations), 50),
        "/v2/customer-properties": 1, "/v2/mailboxes/{id}/saved-replies": len(data.mailboxes),
        "/v2/mailboxes/{id}/saved-replies/{id}": 0,     # the full texts only when asked for
    }
    counts = endpoint_counts(emu)
    for endpoint, number in expected.items():
        assert counts[endpoint] == number, endpoint
    assert counts["/v2/oauth2/token"] == 1


def test_records_follow_their_schema_and_a_state_follows_every_page(account):
    emu, config, catalog = account()
    run = run_tap(config, catalog=select(catalog))
    seen_schema = set()
    states_in_conversations = 0
    for message in run.messages:
        if message["type"] == "SCHEMA":
            assert message["key_properties"] == list(PRIMARY_KEYS[message["stream"]])
            seen_schema.add(message["stream"])
        elif message["type"] == "RECORD":
            assert message["stream"] in seen_schema
            assert message["time_extracted"].endswith("Z")
        elif message["type"] == "STATE" and message["value"].get("currently_syncing") == "conversations":
            states_in_conversations += 1
    assert states_in_conversations >= math.ceil(len(emu.data.conversations) / 25)
    assert run.last_state["currently_syncing"] is None


def test_incremental_run_emits_changed_rows_and_moves_bookmarks_forward(account):
    emu, config, catalog = account()
    catalog = select(catalog)
    first = run_tap(config, catalog=catalog)
    changed_conversation = emu.data.conversations[5]["id"]
    emu.modify_conversation(changed_conversation)
    threaded = emu.data.conversations[9]["id"]
    new_thread = emu.add_thread(threaded)
    new_conversation = emu.create_conversation()
    changed_customer = emu.data.customers[3]["id"]
    emu.modify_customer(changed_customer)

    second = run_tap(config, catalog=catalog, state=first.last_state)
    conversations = emitted(second, "conversations")
    assert {(changed_conversation,), (threaded,), (new_conversation,)} <= set(conversations)
    assert len(conversations) == 3
    assert (new_thread["id"],) in emitted(second, "conversation_threads")
    assert set(emitted(second, "customers")) == {(changed_customer,)}
    expected = expected_rows(emu.data)
    for key, record in conversations.items():
        assert record == expected["conversations"][key]
    for stream, key in (("conversations", "updated_at"), ("customers", "updated_at"),
                        ("conversation_threads", "created_at")):
        assert second.last_state["bookmarks"][stream][key] >= first.last_state["bookmarks"][stream][key]


def test_run_without_changes_emits_no_conversation_or_customer_rows(account):
    emu, config, catalog = account()
    catalog = select(catalog)
    first = run_tap(config, catalog=catalog)
    emu.clear_requests()
    second = run_tap(config, catalog=catalog, state=first.last_state)
    counts = second.record_counts()
    for stream in ("conversations", "conversation_threads", "customers"):
        assert counts.get(stream, 0) == 0
    # At most one request per listed endpoint.
    assert all(n <= 1 for endpoint, n in endpoint_counts(emu).items()
               if "{id}" not in endpoint and "ratings" not in endpoint), endpoint_counts(emu)


def test_killed_sync_resumes_from_its_last_state_and_loses_nothing(account, tmp_path):
    emu, config, catalog = account(conversations=300, customers=200, latency=0.002)
    catalog = select(catalog)
    expected = expected_rows(emu.data)
    runs, state = [], None
    for kill_after in (40, 150, 90, 400, 60, 700, 250, 120, 900, 333):
        run = run_until_killed(config, catalog, state, kill_after, tmp_path)
        runs.append(run)
        state = run.last_state or state
    runs.append(run_tap(config, catalog=catalog, state=state))
    for stream in ALL_STREAMS:
        assert set(latest_by_key(runs, stream)) == set(expected[stream]), stream


@pytest.mark.parametrize("drift", [Drift(every=2, modify=2, create=1, delete=1),
                                   Drift(every=1, modify=3, create=1, delete=1)],    # before every request
                         ids=["steady", "heavy"])
def test_drift_during_syncs_loses_no_record_and_every_latest_version_arrives(account, drift):
    emu, config, catalog = account(conversations=250, customers=150, drift=drift)
    catalog = select(catalog, ["conversations", "conversation_threads", "customers"])
    runs = [run_tap(config, catalog=catalog)]
    runs.append(run_tap(config, catalog=catalog, state=runs[-1].last_state))
    assert emu.drifts > 0
    emu.drift = None
    runs.append(run_tap(config, catalog=catalog, state=runs[-1].last_state))
    expected = expected_rows(emu.data)
    for stream in ("conversations", "conversation_threads", "customers"):
        latest = latest_by_key(runs, stream)
        missing = set(expected[stream]) - set(latest)
        assert not missing, (stream, len(missing))
        stale = [k for k, row in expected[stream].items() if latest[k] != row]
        assert not stale, (stream, stale[:3])


def test_threads_can_be_selected_without_conversations(account):
    emu, config, catalog = account()
    run = run_tap(config, catalog=select(catalog, ["conversation_threads"]))
    assert set(run.record_counts()) == {"conversation_threads"}
    assert set(emitted(run, "conversation_threads")) == set(expected_rows(emu.data)["conversation_threads"])
    assert set(run.last_state["bookmarks"]) == {"conversation_threads"}


def test_child_streams_can_be_selected_without_their_parents(account):
    emu, config, catalog = account()
    children = ["mailbox_fields", "mailbox_folders", "team_members", "saved_replies"]
    run = run_tap(config, catalog=select(catalog, children))
    expected = expected_rows(emu.data)
    assert set(run.record_counts()) == set(children)
    for stream in children:
        assert set(emitted(run, stream)) == set(expected[stream])


def test_every_mailbox_keeps_its_own_folder_bookmark(account):
    emu, config, catalog = account()
    catalog = select(catalog, ["mailbox_folders"])
    first = run_tap(config, catalog=catalog)
    parents = first.last_state["bookmarks"]["mailbox_folders"]["parents"]
    assert set(parents) == {str(m["id"]) for m in emu.data.mailboxes}
    # A folder older than another mailbox's newest folder still arrives in a fresh sync.
    oldest = min(first.records("mailbox_folders"), key=lambda r: r["updated_at"])
    assert oldest["updated_at"] < max(parents.values())


def test_state_of_the_original_tap_is_migrated(account):
    emu, config, catalog = account()
    catalog = select(catalog, ["conversations", "customers", "mailbox_folders", "users"])
    original_state = {"bookmarks": {"conversations": "2030-01-01T00:00:00Z", "customers": "2030-01-01T00:00:00Z",
                                    "mailbox_folders": "2030-01-01T00:00:00Z", "users": "2030-01-01T00:00:00Z"},
                      "currently_syncing": None}
    run = run_tap(config, catalog=catalog, state=original_state)
    counts = run.record_counts()
    # Bookmarks in the future: nothing changed since, except the folders, whose shared bookmark
    # was the original tap's bug and is dropped.
    assert counts.get("conversations", 0) == 0 and counts.get("customers", 0) == 0 and counts.get("users", 0) == 0
    assert counts["mailbox_folders"] == len(expected_rows(emu.data)["mailbox_folders"])
    assert isinstance(run.last_state["bookmarks"]["conversations"], dict)


def test_deselected_columns_are_left_out_and_keys_are_kept(account):
    emu, config, catalog = account()
    catalog = select(catalog, ["users"])
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] in (["properties", "email"], ["properties", "id"]):
                item["metadata"]["selected"] = False
    run = run_tap(config, catalog=catalog)
    schema = run.schemas()["users"]["schema"]
    assert "email" not in schema["properties"] and "id" in schema["properties"]
    for record in run.records("users"):
        assert "email" not in record and "id" in record and "first_name" in record


@pytest.mark.parametrize("kind", ["500", "502", "503", "504", "429", "401", "drop", "cut", "stall"])
def test_sync_survives_each_fault_and_emits_the_same_records(account, kind, monkeypatch):
    emu, config, catalog = account(conversations=60, customers=30)
    catalog = select(catalog, ["conversations", "conversation_threads", "customers", "users"])
    clean = run_tap(config, catalog=catalog)
    # Retried as always, after pauses of hundredths of a second (the tap's are up to seconds),
    # a 429's Retry-After of 0.1 s, a stall well past a request_timeout of half a second.
    monkeypatch.setattr(tap_runner, "TAP", tap_runner.QUICK_TAP)
    for nth in (1, 3, 6):
        emu.add_fault(kind, nth=nth, stall_seconds=2, retry_after=0.1)
    config.write_text(config.read_text().replace("}", ', "request_timeout": 0.5}', 1)
                      if "request_timeout" not in config.read_text() else config.read_text())
    faulty = run_tap(config, catalog=catalog)
    for stream in ("conversations", "conversation_threads", "customers", "users"):
        assert emitted(faulty, stream) == emitted(clean, stream), stream


def test_rate_limited_sync_is_paced_by_the_headers_and_gets_no_429(account):
    # 30 requests per 1.2 s; the sync makes about 55. Over many windows, on a fake clock:
    # tests/unit/test_ratelimit.py.
    emu, config, catalog = account(conversations=150, customers=100, rate_limit=30, time_scale=0.02)
    run = run_tap(config, catalog=select(catalog, ["conversations", "conversation_threads", "customers"]))
    assert run.record_counts()["conversations"] == len(emu.data.conversations)
    assert emu.throttled == 0


def test_report_is_read_in_windows_that_split_when_large_and_each_rating_arrives_once(account):
    emu, config, catalog = account(conversations=400, ratings=700)
    catalog = select(catalog, ["happiness_ratings_report"])
    run = run_tap(config, catalog=catalog)
    expected = expected_rows(emu.data, "2019-01-01T00:00:00Z")["happiness_ratings_report"]
    keys = [key_of("happiness_ratings_report", r) for r in run.records("happiness_ratings_report")]
    assert set(keys) == set(expected)
    # Every rating once, even two that share the contract's primary key.
    in_range = [r for r in emu.data.ratings if r["ratingCreatedAt"] >= "2019-01-01T00:00:00Z"]
    assert len(keys) == len(in_range)
    windows = {(r.query["start"], r.query["end"]) for r in emu.requests if "ratings" in r.path}
    assert len(windows) > 1     # 70 pages of 10: more than one window holds
    assert "happiness_ratings_report" not in run.last_state["bookmarks"]


def test_small_report_costs_only_its_pages(account):
    emu, config, catalog = account(ratings=35)
    run_tap(config, catalog=select(catalog, ["happiness_ratings_report"]))
    assert sum("ratings" in r.path for r in emu.requests) == math.ceil(len(emu.data.ratings) / 10)


def test_report_lookback_rereads_only_recent_ratings_and_catches_new_ones(account, tmp_path):
    emu, _, catalog = account(ratings=35)
    config = write_config(emu, tmp_path, report_lookback_days=30)
    catalog = select(catalog, ["happiness_ratings_report"])
    first = run_tap(config, catalog=catalog)
    assert len(first.records("happiness_ratings_report")) == len(emu.data.ratings)
    read_until = first.last_state["bookmarks"]["happiness_ratings_report"]["read_until"]

    # A rating given since the first run, and one given long before (outside the lookback).
    now = datetime.now(timezone.utc)
    template = dict(emu.data.ratings[0])
    fresh = dict(template, ratingCreatedAt=(now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 ratingCustomerId=template["ratingCustomerId"] + 1)
    emu.data.ratings.append(fresh)
    emu.invalidate()
    emu.clear_requests()
    second = run_tap(config, catalog=catalog, state=first.last_state)

    since = (datetime.strptime(read_until, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
             - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent = [r for r in emu.data.ratings if r["ratingCreatedAt"] >= since]
    rows = second.records("happiness_ratings_report")
    assert fresh["ratingCustomerId"] in {r["rating_customer_id"] for r in rows}
    assert len(rows) == len(recent) < len(emu.data.ratings)
    requests = [r for r in emu.requests if "ratings" in r.path]
    assert len(requests) == max(1, math.ceil(len(recent) / 10))
    assert all(r.query["start"] <= since for r in requests)


def test_without_lookback_the_report_is_full_table_on_every_run(account):
    emu, config, catalog = account(ratings=35)
    catalog = select(catalog, ["happiness_ratings_report"])
    first = run_tap(config, catalog=catalog)
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert len(second.records("happiness_ratings_report")) == len(emu.data.ratings)


def test_the_original_taps_conversations_bookmark_covers_the_threads_too(account):
    emu, config, catalog = account()
    catalog = select(catalog, ["conversations", "conversation_threads"])
    since = "2025-03-01T00:00:00Z"
    run = run_tap(config, catalog=catalog, state={"bookmarks": {"conversations": since}})
    listed = [r for r in emu.requests if r.path == "/v2/conversations"]
    assert listed and all(r.query["modifiedSince"] == since for r in listed)
    modified = {c for c, at in emu.data.conversation_modified_at.items() if at.strftime("%Y-%m-%dT%H:%M:%SZ") > since}
    assert {r["conversation_id"] for r in run.records("conversation_threads")} <= modified
    assert set(run.last_state["bookmarks"]) >= {"conversations", "conversation_threads"}


def test_a_state_saved_by_version_2_0_0_mid_listing_resumes_without_loss(make_emulator, tmp_path):
    # Saved from the previous release killed in the middle of the conversations listing; its
    # resume point counted pages in another order, so it is dropped and the listing restarts.
    emu = make_emulator(seed=7, conversations=300, customers=200)
    config = write_config(emu, tmp_path)
    catalog = select(offline_catalog(), ["conversations", "conversation_threads", "customers", "users"])
    saved = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "state_from_2.0.0_mid_listing.json").read_text())
    run = run_tap(config, catalog=catalog, state=saved)
    assert "resume point" in run.stderr
    expected = expected_rows(emu.data)
    for stream in ("conversations", "conversation_threads"):
        assert set(emitted(run, stream)) == set(expected[stream]), stream
    assert run.last_state["bookmarks"]["conversations"]["updated_at"] > "2026-01-01T00:00:00Z"


def test_saved_reply_texts_cost_one_request_per_reply_and_only_when_asked(account, tmp_path):
    emu, _, catalog = account()
    config = write_config(emu, tmp_path, fetch_saved_reply_text=True)
    run = run_tap(config, catalog=select(catalog, ["saved_replies"]))
    expected = expected_rows(emu.data, saved_reply_text=True)["saved_replies"]
    assert emitted(run, "saved_replies") == expected
    assert any(row["chat_text"] for row in expected.values()) and any(row["text"] for row in expected.values())
    counts = endpoint_counts(emu)
    assert counts["/v2/mailboxes/{id}/saved-replies/{id}"] == len(expected)
    assert counts["/v2/mailboxes/{id}/saved-replies"] == len(emu.data.mailboxes)
    # Chat replies are listed too.
    assert all(r.query.get("includeChatReplies") == "true" for r in emu.requests
               if r.path.endswith("/saved-replies"))
    assert set(emu.data.chat_saved_reply_ids) <= {key[0] for key in expected}


def test_saved_replies_read_as_hal_pages_arrive_in_full(account):
    emu, config, catalog = account(saved_replies_hal=True)
    mailbox = emu.data.mailboxes[0]["id"]
    for k in range(60):                  # more than a page of 50
        emu.add_saved_reply(mailbox, name=f"Canned answer {k}")
    run = run_tap(config, catalog=select(catalog, ["saved_replies"]))
    assert emitted(run, "saved_replies") == expected_rows(emu.data)["saved_replies"]


def versions_of(run, stream):
    """(the versions the stream's records carry, [(position, version) of its ACTIVATE_VERSION
    messages], the position of its last record)."""
    carried = {m.get("version") for m in run.messages if m["type"] == "RECORD" and m["stream"] == stream}
    activations = [(i, m["version"]) for i, m in enumerate(run.messages)
                   if m["type"] == "ACTIVATE_VERSION" and m["stream"] == stream]
    last = max(i for i, m in enumerate(run.messages) if m["type"] == "RECORD" and m["stream"] == stream)
    return carried, activations, last


def test_rows_deleted_at_the_source_leave_a_complete_full_table_read_and_it_activates_its_version(account):
    emu, config, catalog = account()
    catalog = select(catalog)
    first = run_tap(config, catalog=catalog)
    data = emu.data
    team = data.teams[0]["id"]
    emu.remove_team_member(team, data.members[team][0])
    mailbox = next(m["id"] for m in data.mailboxes if data.fields[m["id"]])
    emu.delete_mailbox_field(mailbox, data.fields[mailbox][0]["id"])
    emu.delete_tag(data.tags[0]["id"])
    emu.delete_organization(data.organizations[0]["id"])
    emu.delete_customer_property(data.customer_properties[0]["slug"])
    emu.delete_organization_property(data.organization_properties[0]["slug"])
    emu.delete_rating(0)
    emu.delete_saved_reply(mailbox, data.saved_replies[mailbox][0]["id"])
    second = run_tap(config, catalog=catalog, state=first.last_state)

    expected = expected_rows(data, "2019-01-01T00:00:00Z")
    for stream in FULL_TABLE_STREAMS:
        assert set(emitted(second, stream)) == set(expected[stream]), stream
        assert len(emitted(second, stream)) < len(emitted(first, stream)), stream
        for run in (first, second):
            carried, activations, last = versions_of(run, stream)
            [(position, version)] = activations
            assert carried == {version} and position > last, stream
        assert versions_of(second, stream)[1][0][1] > versions_of(first, stream)[1][0][1], stream
    # Incremental streams carry no version: the API reports no deletions for them.
    for stream in set(ALL_STREAMS) - set(FULL_TABLE_STREAMS):
        assert not any(m["type"] == "ACTIVATE_VERSION" and m["stream"] == stream for m in second.messages)
    # The customers that belonged to the deleted organization changed: they come again, unlinked.
    for key, row in emitted(second, "customers").items():
        assert row == expected["customers"][key]
    assert not any(m["type"] == "ACTIVATE_VERSION" for m in first.messages[:next(
        i for i, m in enumerate(first.messages) if m["type"] == "RECORD")])


def test_a_report_read_only_from_the_lookback_retires_nothing(account, tmp_path):
    emu, _, catalog = account(ratings=35)
    config = write_config(emu, tmp_path, report_lookback_days=30)
    catalog = select(catalog, ["happiness_ratings_report"])
    first = run_tap(config, catalog=catalog)
    assert [m["type"] for m in first.messages].count("ACTIVATE_VERSION") == 1
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert "ACTIVATE_VERSION" not in [m["type"] for m in second.messages]
