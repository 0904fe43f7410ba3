"""The bench's section on the streams beyond the original's (issue 22): requests of the daily
reports (report_daily, report_user_daily) and of organizations in full, against their floor.

The floor of a daily report read is scopes x endpoints x windows of 60 days (plus the listings
of mailboxes and users that give the scopes); of organizations in full, their pages plus one
request per organization; of organization_properties, one. Run alone:

    python -m tests.bench.bench_reports
"""
import math
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tests.emulator import Emulator
from tests.support.tap_runner import offline_catalog, run_tap, select, write_config

SEED = 1
WINDOW_DAYS = 60
ACCOUNT_ENDPOINTS, USER_ENDPOINTS = 9, 3
LOOKBACK_DAYS = 7                # the default of report_daily_lookback_days
TARGET = 1.1                     # x the floor (issue 22)
STREAMS = ["report_daily", "report_user_daily", "organizations", "organization_properties"]


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def counts(emu):
    reports = [r for r in emu.requests if r.path.startswith("/v2/reports/") and "happiness" not in r.path]
    organizations = [r for r in emu.requests if r.path.startswith("/v2/organizations")
                     and not r.path.endswith("/properties")]
    properties = [r for r in emu.requests if r.path == "/v2/organizations/properties"]
    listings = [r for r in emu.requests if r.path in ("/v2/mailboxes", "/v2/users")]
    return len(reports) + len(listings), len(organizations), len(properties)


def measure(days=365, mailboxes=3, users=8, organizations=60):
    """(markdown text, [(target, measured, met)])."""
    rows, targets = [], []
    with tempfile.TemporaryDirectory() as scratch, Emulator(
            seed=SEED, conversations=200, customers=300, mailboxes=mailboxes, users=users,
            organizations=organizations, recent_conversations=800, organization_list_counts=False) as emu:
        today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=days)
        config = write_config(emu, Path(scratch), start_date=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                              organization_details=True)
        catalog = select(offline_catalog(), STREAMS)
        first = run_tap(config, catalog=catalog)
        windows = math.ceil((days + 1) / WINDOW_DAYS)
        scopes = 1 + mailboxes
        report_floor = scopes * ACCOUNT_ENDPOINTS * windows + users * USER_ENDPOINTS * windows + 2
        organization_floor = math.ceil(organizations / 50) + organizations
        reports, orgs, properties = counts(emu)
        rows.append([f"backfill, {days + 1} days ({windows} windows)", "daily reports", report_floor, reports,
                     f"{reports / report_floor:.3f}"])
        rows.append(["every run", "organizations in full", organization_floor, orgs, f"{orgs / organization_floor:.3f}"])
        rows.append(["every run", "organization_properties", 1, properties, f"{properties:.3f}"])
        targets.append((f"daily reports backfill ≤ {TARGET} × floor", f"{reports / report_floor:.3f} × floor",
                        reports <= TARGET * report_floor))
        emu.clear_requests()
        run_tap(config, catalog=catalog, state=first.last_state)
        reports, _, _ = counts(emu)
        later_floor = scopes * ACCOUNT_ENDPOINTS + users * USER_ENDPOINTS + 2
        rows.append([f"later run ({LOOKBACK_DAYS}-day lookback, 1 window)", "daily reports", later_floor, reports,
                     f"{reports / later_floor:.3f}"])
        targets.append((f"daily reports later run ≤ {TARGET} × floor", f"{reports / later_floor:.3f} × floor",
                        reports <= TARGET * later_floor))
    text = table(["run", "streams", "floor", "ours", "ours / floor"], rows)
    text += (f"\n\nAccount: {mailboxes} mailboxes, {users} users, {organizations} organizations (the list without "
             f"counts), `organization_details` on, a year of daily activity (emulator seed {SEED}). Floor of the "
             f"daily reports: (1 + mailboxes) × {ACCOUNT_ENDPOINTS} endpoints × windows + users × {USER_ENDPOINTS} "
             f"× windows + the two listings (mailboxes, users); a window holds at most {WINDOW_DAYS} days.")
    return text, targets


def main():
    text, targets = measure()
    print(text)
    for target, measured, met in targets:
        print(f"- {target}: {measured} ({'met' if met else 'NOT met'})")
    return 0 if all(met for _, _, met in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
