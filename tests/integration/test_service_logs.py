"""Logs for a person: a backfill of 3,000 conversations at 400 requests a minute writes a
readable log (a line per family start and end, progress about every `progress_seconds` with the
share done and the time left, the summary) in at most 80 lines, with no silence over 40 s; the
per-request METRIC lines come only when `log_request_metrics` asks. Run on scaled time: the
emulator's minute lasts 3 s (time_scale 0.05), and so do the tap's 30 s between progress lines
(1.5 s)."""
import json
from datetime import datetime

from tests.support.tap_runner import run_tap, select

SCALE = 0.05
ACCOUNT = {"seed": 4, "conversations": 3000, "customers": 1000, "ratings": 200}


def moments(stderr):
    """The time of every log line (lines that are not the log's have none)."""
    found = []
    for line in stderr.splitlines():
        try:
            found.append(datetime.strptime(line[:24], "%Y-%m-%dT%H:%M:%S.%fZ"))
        except ValueError:
            continue
    return found


def test_a_paced_backfill_writes_a_short_log_with_no_long_silence(make_emulator, tmp_path):
    emu = make_emulator(**ACCOUNT, rate_limit=400, time_scale=SCALE)
    from tests.support.tap_runner import offline_catalog, write_config
    config = write_config(emu, tmp_path, progress_seconds=30 * SCALE)
    run = run_tap(config, catalog=select(offline_catalog()), timeout=600)
    lines = run.stderr.strip().splitlines()
    assert len(lines) <= 80, f"{len(lines)} lines:\n" + "\n".join(lines)
    assert not [line for line in lines if "http_request_duration" in line], "no per-request METRIC lines"
    times = moments(run.stderr)
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    # 40 s scaled is 2 s; the margin is for a machine busy with other tests.
    assert max(gaps) <= 80 * SCALE, f"a silence of {max(gaps):.1f} s:\n" + "\n".join(lines)
    progress = [line for line in lines if "conversations:" in line and "rows (about" in line]
    assert progress, "progress lines with the share of the listing's total"
    assert any(" left at " in line for line in progress), progress
    assert len(run.records("conversations")) == ACCOUNT["conversations"]


def test_per_request_metrics_come_back_when_asked(account, tmp_path):
    emu, config, catalog = account(conversations=30, customers=20, ratings=5)
    config.write_text(json.dumps({**json.loads(config.read_text()), "log_request_metrics": True}))
    run = run_tap(config, catalog=select(catalog, ["users", "teams"]))
    metrics = [line for line in run.stderr.splitlines() if "http_request_duration" in line]
    assert len(metrics) == len([r for r in emu.requests if not r.path.endswith("/oauth2/token")]) + 1
    assert any('"record_count"' in line for line in run.stderr.splitlines())


def test_without_metrics_each_stream_still_counts_its_records(account):
    emu, config, catalog = account(conversations=30, customers=20, ratings=5)
    run = run_tap(config, catalog=select(catalog, ["users"]))
    assert not [line for line in run.stderr.splitlines() if "http_request_duration" in line]
    counts = [json.loads(line.split("METRIC: ", 1)[1]) for line in run.stderr.splitlines() if "METRIC: " in line]
    assert {c["tags"]["endpoint"] if "endpoint" in c["tags"] else c["tags"]["count_type"] for c in counts}
    assert [c["value"] for c in counts if c["metric"] == "record_count"] == [len(emu.data.users)]
