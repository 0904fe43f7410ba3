"""One line, never a traceback: for every bad catalog, every date the config accepts or refuses,
a memory limit, a proxy the tap cannot use or that fails, an API out of reach (naming the setting
to check), and a target that stops reading its input (bounded by max_run_minutes)."""
import json
import resource
import subprocess
import sys
import time

import pytest

from tests.support import tap_runner
from tests.support.tap_runner import ROOT, TAP, run_tap, select, write_json


def assert_one_line(run, code=1):
    assert run.returncode == code, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-helpscout: ")
    return last


# -- catalogs -------------------------------------------------------------------------------------

def test_a_catalog_entry_without_metadata_is_read_as_one_with_none(account):
    emu, config, catalog = account(conversations=30, customers=20, ratings=5)
    catalog = select(catalog, ["users"])
    del next(e for e in catalog["streams"] if e["tap_stream_id"] == "teams")["metadata"]
    run = run_tap(config, catalog=catalog)
    assert len(run.records("users")) == len(emu.data.users) and not run.records("teams")


@pytest.mark.parametrize("metadata", ["all", [1, 2], [{"breadcrumb": [], "metadata": "selected"}]])
def test_catalog_metadata_that_is_not_a_list_of_entries_is_one_line(account, metadata):
    emu, config, catalog = account(conversations=30, customers=20, ratings=5)
    catalog = select(catalog, ["users"])
    next(e for e in catalog["streams"] if e["tap_stream_id"] == "users")["metadata"] = metadata
    last = assert_one_line(run_tap(config, catalog=catalog, check=False))
    assert '"users"' in last and "metadata" in last


# -- dates ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("start_date, accepted", [
    ("0001-01-01T00:00:00Z", False), ("1999-12-31T23:59:59Z", False), ("9999-12-31T23:59:59Z", False),
    ("9999-12-31T23:59:59-12:00", False), ("0001-01-01T00:00:00+01:00", False),
    ("2000-01-01T00:00:00Z", True), ("2024-01-01T00:00:00+14:00", True), ("2024-01-01", True),
])
def test_every_start_date_is_run_or_refused_in_one_line(account, tmp_path, start_date, accepted):
    emu, config, catalog = account(conversations=30, customers=20, ratings=5)
    config.write_text(json.dumps({**json.loads(config.read_text()), "start_date": start_date}))
    run = run_tap(config, catalog=select(catalog, ["users", "happiness_ratings_report"]), check=False)
    if accepted:
        assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-2000:]
    else:
        assert "start_date" in assert_one_line(run)


# -- memory -----------------------------------------------------------------------------------------

def limited(megabytes):
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (megabytes << 20, megabytes << 20))
    return limit


def lowest_limit_that_imports():
    """The address-space limit, in MiB, under which the interpreter itself (and the tap's
    imports) cannot even start: below it, what fails is Python's own start-up, before any code of
    the tap's can say a word."""
    for megabytes in range(16, 400, 4):
        probe = subprocess.run([sys.executable, "-c", "import tap_helpscout.cli.main, tap_helpscout.sync.engine"],
                               cwd=ROOT, capture_output=True, preexec_fn=limited(megabytes), timeout=60)
        if probe.returncode == 0:
            return megabytes
    pytest.skip("no memory limit lets the tap's modules import here")


def test_a_memory_limit_at_any_height_ends_in_one_line_or_a_complete_run(account, tmp_path):
    emu, config, catalog = account(conversations=30, customers=20, ratings=5)
    catalog_path = write_json(tmp_path / "catalog.json", select(catalog, ["users"]))
    lowest = lowest_limit_that_imports()
    outcomes = []
    for megabytes in range(lowest, lowest + 120, 12):
        proc = subprocess.run(TAP + ["--config", str(config), "--catalog", str(catalog_path)], cwd=ROOT,
                              capture_output=True, text=True, timeout=120, preexec_fn=limited(megabytes))
        assert "Traceback" not in proc.stderr, (megabytes, proc.stderr[-2000:])
        if proc.returncode == 0:
            outcomes.append("ran")
            continue
        assert proc.returncode == 1, (megabytes, proc.returncode, proc.stderr[-1000:])
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("tap-helpscout: ") and ("memory" in last or "thread" in last), (megabytes, last)
        outcomes.append("limit")
    assert "ran" in outcomes, outcomes


# -- the network -----------------------------------------------------------------------------------

def test_a_socks_proxy_without_socks_support_is_a_config_error_at_start(account):
    emu, config, catalog = account(conversations=30, customers=20, ratings=5)
    try:
        import socks  # noqa: F401
        pytest.skip("PySocks is installed here")
    except ImportError:
        pass
    run = run_tap(config, catalog=select(catalog, ["users"]), check=False,
                  env={"ALL_PROXY": "socks5://proxy-user:proxy-password@127.0.0.1:1080", "NO_PROXY": ""})
    last = assert_one_line(run)
    assert "socks5://127.0.0.1:1080" in last and "PySocks" in last and "proxy-password" not in run.stderr
    assert not emu.requests, "nothing was sent"


def test_a_proxy_that_refuses_is_named_and_not_tried_again_and_again(account, unused_port):
    emu, config, catalog = account(conversations=30, customers=20, ratings=5)
    run = run_tap(config, catalog=select(catalog, ["users"]), check=False,
                  env={"HTTP_PROXY": f"http://127.0.0.1:{unused_port}", "NO_PROXY": ""})
    last = assert_one_line(run)
    assert f"the proxy http://127.0.0.1:{unused_port} refused the connection" in last
    assert "tries" not in last


def test_an_api_out_of_reach_names_base_url(account, unused_port, monkeypatch):
    monkeypatch.setattr(tap_runner, "TAP", tap_runner.QUICK_TAP)
    emu, config, catalog = account(conversations=30, customers=20, ratings=5)
    config.write_text(json.dumps({**json.loads(config.read_text()), "base_url": f"http://127.0.0.1:{unused_port}/v2"}))
    last = assert_one_line(tap_runner.run_tap(config, catalog=select(catalog, ["users"]), check=False))
    assert "connection refused" in last and f"check base_url (http://127.0.0.1:{unused_port}/v2)" in last


@pytest.fixture
def unused_port():
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- a target that stops reading ----------------------------------------------------------------

def test_a_target_that_stops_reading_cannot_hold_the_run_past_max_run_minutes(account, tmp_path):
    emu, config, catalog = account(conversations=200, customers=60, ratings=5)
    config.write_text(json.dumps({**json.loads(config.read_text()), "max_run_minutes": 0.05}))      # 3 s
    catalog_path = write_json(tmp_path / "catalog.json", select(catalog, ["conversations", "conversation_threads"]))
    # A pipe nobody reads: once it is full, every write would block for ever.
    reader, writer = __import__("os").pipe()
    started = time.monotonic()
    proc = subprocess.Popen(TAP + ["--config", str(config), "--catalog", str(catalog_path)], cwd=ROOT,
                            stdout=writer, stderr=subprocess.PIPE, text=True)
    __import__("os").close(writer)
    try:
        _, err = proc.communicate(timeout=120)      # a guard, not a timing check
    finally:
        __import__("os").close(reader)
    assert proc.returncode == 1 and time.monotonic() - started < 120
    assert "Traceback" not in err
    assert "the target stopped reading" in err.strip().splitlines()[-1]
    assert sys.executable
