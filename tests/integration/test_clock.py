"""Bookmarks never come from this machine's clock. They come from the server's (the Date header
of a listing's first answer, less the margin); without a usable Date the bookmark does not move
(re-reading costs requests, never rows). The machine's clock is put hours ahead of the server,
or behind it, with libfaketime (Debian's faketime package; `make deps` installs it)."""
import glob
import os
from datetime import datetime, timedelta, timezone

import pytest

from tests.support.tap_runner import run_tap, select

LIBFAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))), None)


def machine_clock(offset):
    """The environment that puts the tap's clock `offset` ("+3h", "-3h") off the server's."""
    if LIBFAKETIME is None:
        if os.environ.get("CI"):
            pytest.fail("libfaketime is missing (make deps installs Debian's faketime package)")
        pytest.skip("libfaketime is not installed (apt-get install faketime)")
    return {"LD_PRELOAD": LIBFAKETIME, "FAKETIME": offset, "DONT_FAKE_MONOTONIC": "1"}


@pytest.mark.parametrize("offset", ["+3h", "-3h"])
@pytest.mark.parametrize("with_date", [True, False], ids=["with Date", "without Date"])
def test_changes_made_after_a_run_arrive_whatever_the_machines_clock(account, offset, with_date):
    emu, config, catalog = account(conversations=60, customers=40, ratings=5)
    emu.send_date = with_date
    catalog = select(catalog, ["conversations", "customers", "users"])
    env = machine_clock(offset)
    first = run_tap(config, catalog=catalog, env=env)
    if not with_date:
        assert "no answer carried a usable Date header" in first.stderr
    changed = [c["id"] for c in emu.data.conversations[:5]]
    for ident in changed:
        emu.modify_conversation(ident)
    customer = emu.data.customers[0]["id"]
    emu.modify_customer(customer)
    second = run_tap(config, catalog=catalog, state=first.last_state, env=env)
    assert set(changed) <= {r["id"] for r in second.records("conversations")}, "a change was lost"
    assert customer in {r["id"] for r in second.records("customers")}


def test_with_the_servers_date_the_bookmark_is_the_servers_time_less_the_margin(account):
    emu, config, catalog = account(conversations=30, customers=20, ratings=5)
    run = run_tap(config, catalog=select(catalog, ["customers"]), env=machine_clock("+3h"))
    bookmark = datetime.strptime(run.last_state["bookmarks"]["customers"]["updated_at"], "%Y-%m-%dT%H:%M:%SZ")
    server_now = datetime.now(timezone.utc).replace(tzinfo=None)
    assert server_now - timedelta(minutes=6) <= bookmark <= server_now - timedelta(minutes=4), \
        "the server's clock less the 5 minutes' margin, not this machine's 3 hours ahead"


def test_the_report_reads_to_the_servers_now_when_the_machines_clock_is_behind(account):
    emu, config, catalog = account(ratings=35)
    recent = dict(emu.data.ratings[0], ratingCustomerId=emu.data.ratings[0]["ratingCustomerId"] + 1,
                  ratingCreatedAt=(datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    emu.data.ratings.append(recent)
    emu.invalidate()
    run = run_tap(config, catalog=select(catalog, ["happiness_ratings_report"]), env=machine_clock("-3h"))
    assert recent["ratingCustomerId"] in {r["rating_customer_id"] for r in run.records("happiness_ratings_report")}


def test_a_server_clock_seconds_ahead_costs_the_report_no_extra_request(account):
    # This machine's now and the first answer's Date, a moment later, are the same now.
    emu, config, catalog = account(ratings=35)
    run_tap(config, catalog=select(catalog, ["happiness_ratings_report"]), env=machine_clock("-2"))
    assert sum("ratings" in r.path for r in emu.requests) == 4      # 35 ratings, 10 a page
