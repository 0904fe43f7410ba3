"""`make demo` (tests/demo/demo.py) runs to its end: the check's estimate beside what the sync made,
the commands it ran, and the next step for a real account."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_the_demo_shows_the_estimate_the_cost_and_the_next_step():
    run = subprocess.run([sys.executable, "-m", "tests.demo"], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    out = run.stdout
    assert "Pre-flight check (--check):" in out and "OK: a sync can run" in out
    estimated, spent = map(lambda n: int(n.replace(",", "")), re.search(
        r"The check estimated ([\d,]+) requests for this backfill; the full sync made ([\d,]+)", out).groups())
    assert abs(estimated - spent) <= 0.35 * spent
    assert "tap-helpscout --config demo-output/config.json --check --catalog demo-output/catalog.json" in out
    assert out.rstrip().endswith("tap-helpscout --config config.json --check")
    assert 'section "Using it with your Help Scout account"' in out
