"""The config file is checked before any work: through the executable, each mistake gets one
clear line and exit 1, and unknown keys one timestamped warning each.

Values of secret keys never appear in a message, even when the mistake is in that very key.
What a valid config becomes, in process: tests/unit/test_config.py.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.configs import GOOD, REFRESH, SECRET, without

ROOT = Path(__file__).resolve().parents[2]


def run_discover(config_path):
    return subprocess.run([sys.executable, "-m", "tap_helpscout", "--config", str(config_path),
                           "--discover"], capture_output=True, text=True, timeout=60, cwd=ROOT)


def assert_clear_failure(proc, *words):
    """Exit 1, nothing on stdout, one line on stderr holding `words`, no traceback, no secret."""
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tap-helpscout: ")
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert SECRET not in proc.stderr and REFRESH not in proc.stderr


BAD_CONFIGS = {
    "start_date in the future": ({**GOOD, "start_date": "2999-01-01T00:00:00Z"},
                                 ['"start_date"', "in the future", "2999-01-01T00:00:00Z"]),
    "unparsable start_date": ({**GOOD, "start_date": "yesterday"},
                              ['"start_date"', "RFC 3339", '"yesterday"']),
    "impossible start_date": ({**GOOD, "start_date": "2024-13-01T00:00:00Z"}, ['"start_date"']),
    "start_date of the wrong type": ({**GOOD, "start_date": 20240101}, ['"start_date"', "number"]),
    "client_secret missing": (without("client_secret"), ['"client_secret"', '"client_id"']),
    "client_id missing": (without("client_id"), ['"client_id"']),
    "no credentials at all": (without("client_id", "client_secret", "refresh_token"),
                              ['"client_id"', '"access_token"']),
    "secret of the wrong type": ({**GOOD, "client_secret": 12345}, ['"client_secret"', "string"]),
    "http base_url to a remote host": ({**GOOD, "base_url": "http://api.helpscout.net/v2"},
                                       ['"base_url"', "https://"]),
    "base_url that is no URL": ({**GOOD, "base_url": "api.helpscout.net"}, ['"base_url"']),
    "base_url with a password": ({**GOOD, "base_url": f"https://u:{SECRET}@api.helpscout.net/v2"},
                                 ['"base_url"']),
    "negative request_timeout": ({**GOOD, "request_timeout": -5},
                                 ['"request_timeout"', "greater than 0"]),
    "request_timeout not a number": ({**GOOD, "request_timeout": "soon"}, ['"request_timeout"']),
    "request_timeout of true": ({**GOOD, "request_timeout": True}, ['"request_timeout"']),
    "zero max_requests_per_minute": ({**GOOD, "max_requests_per_minute": 0},
                                     ['"max_requests_per_minute"', "at least 1"]),
    "too many parallel requests": ({**GOOD, "max_parallel_requests": 17},
                                   ['"max_parallel_requests"', "1 to 16"]),
    "fractional report window": ({**GOOD, "report_window_days": 1.5}, ['"report_window_days"']),
    "zero report lookback": ({**GOOD, "report_lookback_days": 0}, ['"report_lookback_days"', "at least 1"]),
    "negative bookmark margin": ({**GOOD, "bookmark_margin_seconds": -1},
                                 ['"bookmark_margin_seconds"']),
    "start_date beyond year 9999 in UTC": ({**GOOD, "start_date": "9999-12-31T23:59:59-12:00"},
                                           ['"start_date"']),
    "start_date on a day that does not exist": ({**GOOD, "start_date": "2024-02-30"}, ['"start_date"']),
    "zero max_rate_limit_wait_seconds": ({**GOOD, "max_rate_limit_wait_seconds": 0},
                                         ['"max_rate_limit_wait_seconds"', "at least 1"]),
    "zero max_run_minutes": ({**GOOD, "max_run_minutes": "0"}, ['"max_run_minutes"', "greater than 0"]),
    "max_run_minutes that is no number": ({**GOOD, "max_run_minutes": "1h"}, ['"max_run_minutes"', "minutes"]),
    "boolean that is not one": ({**GOOD, "fetch_saved_reply_text": "yes"},
                                ['"fetch_saved_reply_text"', "true or false"]),
    "boolean of 2": ({**GOOD, "fetch_saved_reply_text": 2}, ['"fetch_saved_reply_text"']),
    "http authorize_url to a remote host": (
        {**GOOD, "authorize_url": "http://secure.helpscout.net/authentication/authorizeClientApplication"},
        ['"authorize_url"', "https://"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_a_bad_value_is_one_clear_line_and_exit_1(tmp_path, case):
    config, words = BAD_CONFIGS[case]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert_clear_failure(run_discover(path), "config:", *words)


def test_a_file_that_is_not_json(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"client_secret": "%s", "start_date": ' % SECRET)
    assert_clear_failure(run_discover(path), "config:", "not valid JSON", "line 1")


def test_a_file_that_holds_no_object(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps([GOOD]))
    assert_clear_failure(run_discover(path), "config:", "JSON object", "an array")


def test_a_missing_file(tmp_path):
    assert_clear_failure(run_discover(tmp_path / "nowhere.json"), "config:", "does not exist",
                         "nowhere.json")


# --- unknown keys ------------------------------------------------------------------------------

def test_unknown_keys_are_one_timestamped_warning_line_each_on_stderr(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**GOOD, "max_request_per_minute": 100, "client_secrte": SECRET,
                                "_select": ["*.*"]}))
    proc = run_discover(path)
    assert proc.returncode == 0, proc.stderr
    json.loads(proc.stdout)
    lines = [line for line in proc.stderr.splitlines() if "unknown key" in line]
    assert len(lines) == 2, proc.stderr
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING config: unknown key "
    assert all(re.match(stamp, line) for line in lines), lines
    assert SECRET not in proc.stderr and "_select" not in proc.stderr


def test_a_misspelt_key_is_pointed_out_before_the_error_it_causes(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**without("client_secret"), "client_secrte": SECRET}))
    proc = run_discover(path)
    assert proc.returncode == 1 and proc.stdout == ""
    warning, error = proc.stderr.strip().splitlines()
    assert 'did you mean "client_secret"?' in warning
    assert error.startswith("tap-helpscout: config: ") and '"client_secret"' in error
    assert SECRET not in proc.stderr and "Traceback" not in proc.stderr
