"""Every line the tap logs carries its time in UTC, even after singer-python's get_logger() has
reloaded its logging configuration (which its metrics do for every counter and timer)."""
import json
import os
import re
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (DEBUG|INFO|WARNING|ERROR|CRITICAL) (.*)")

SCRIPT = textwrap.dedent("""
    import logging, warnings
    import singer, singer.metrics
    from tap_helpscout.logs import configure_logging, get_logger

    configure_logging()
    get_logger("tap_helpscout.cli.main").info("before the reload")
    singer.get_logger()                                   # singer-python's reload
    get_logger("tap_helpscout.sync").warning("after the reload")
    with singer.metrics.record_counter("users") as counter:   # reloads again, then logs a METRIC
        counter.increment(3)
    singer.get_logger().info("through singer's own logger")
    logging.getLogger("urllib3.connectionpool").warning("from a library")
    warnings.warn("a library's warning")
    get_logger().error("first line\\nsecond line")
""")


def run_script(**env):
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, **env})


def test_every_line_carries_a_utc_timestamp_after_singers_reload():
    proc = run_script(TZ="Pacific/Honolulu")          # ten hours from UTC: local time would show
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""                          # logs never go to stdout
    lines = proc.stderr.splitlines()
    parsed = [LINE.fullmatch(line) for line in lines]
    assert all(parsed), proc.stderr
    assert all(m.group(3).strip() for m in parsed), proc.stderr
    messages = [m.group(3) for m in parsed]
    for expected in ("before the reload", "after the reload", "through singer's own logger", "from a library",
                     "first line", "second line"):
        assert any(expected in m for m in messages), (expected, proc.stderr)
    assert any("a library's warning" in m for m in messages)
    stamp = datetime.strptime(parsed[0].group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert abs(stamp - datetime.now(timezone.utc)) < timedelta(hours=1)


def test_singer_metric_lines_keep_their_form_after_the_timestamp():
    proc = run_script()
    metrics = [LINE.fullmatch(line) for line in proc.stderr.splitlines() if "METRIC" in line]
    assert len(metrics) == 1, proc.stderr
    level, message = metrics[0].group(2), metrics[0].group(3)
    assert level == "INFO" and message.startswith("METRIC: ")
    point = json.loads(message[len("METRIC: "):])
    assert point["type"] == "counter" and point["value"] == 3 and point["tags"]["endpoint"] == "users"


