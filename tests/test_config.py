"""The config file is checked before any work; each mistake gets one clear line and exit 1.

Values of secret keys never appear in a message, even when the mistake is in that very key.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tap_helpscout.config import DEFAULT_BASE_URL, validate_config
from tap_helpscout.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SECRET = "do-not-print-this-secret-1b9f"
REFRESH = "do-not-print-this-refresh-77aa"
GOOD = {"client_id": "app-id-1234", "client_secret": SECRET, "refresh_token": REFRESH,
        "start_date": "2024-01-01T00:00:00Z"}


def without(*keys):
    return {k: v for k, v in GOOD.items() if k not in keys}


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
    "missing start_date": (without("start_date"), ['"start_date"', "required"]),
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


# --- what a valid config becomes ---------------------------------------------------------------

def test_defaults_are_applied():
    config = validate_config(GOOD)
    assert config["base_url"] == DEFAULT_BASE_URL == "https://api.helpscout.net/v2"
    assert config["request_timeout"] == 300.0
    assert config["max_requests_per_minute"] is None
    assert config["max_parallel_requests"] == 4
    assert config["report_window_days"] is None
    assert config["report_lookback_days"] is None
    assert config["bookmark_margin_seconds"] == 0
    assert config["user_agent"] is None and config["access_token"] is None


@pytest.mark.parametrize("given,normalized", [
    ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
    ("2024-01-01T00:00:00.123456Z", "2024-01-01T00:00:00Z"),
    ("2024-01-01T02:30:00+02:00", "2024-01-01T00:30:00Z"),
    ("2023-12-31T22:00:00-0300", "2024-01-01T01:00:00Z"),
    ("2024-01-01t00:00:00z", "2024-01-01T00:00:00Z"),
    ("2024-01-01", "2024-01-01T00:00:00Z"),                 # a bare date is midnight UTC
    ("2024-01-01T05:06:07", "2024-01-01T05:06:07Z"),        # no offset is read as UTC
    ("2024-01-01 05:06", "2024-01-01T05:06:00Z"),
])
def test_start_date_is_normalized_to_utc_seconds(given, normalized):
    assert validate_config({**GOOD, "start_date": given})["start_date"] == normalized


def test_numeric_strings_are_accepted_because_orchestrators_pass_strings():
    config = validate_config({**GOOD, "request_timeout": "30", "max_requests_per_minute": "200",
                              "max_parallel_requests": "8", "report_window_days": "30",
                              "bookmark_margin_seconds": "60"})
    assert config["request_timeout"] == 30.0
    assert (config["max_requests_per_minute"], config["max_parallel_requests"],
            config["report_window_days"], config["bookmark_margin_seconds"]) == (200, 8, 30, 60)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/v2", "http://127.9.9.9/v2",
                                 "http://localhost:5000/v2", "http://[::1]:5000/v2"])
def test_plain_http_is_allowed_only_to_loopback(url):
    assert validate_config({**GOOD, "base_url": url})["base_url"] == url


def test_base_url_loses_its_trailing_slash():
    assert validate_config({**GOOD, "base_url": "https://hs.example.com/v2/"})["base_url"] == \
        "https://hs.example.com/v2"


def test_http_to_a_private_but_not_loopback_address_is_refused():
    with pytest.raises(ConfigError, match='"base_url" must use https://'):
        validate_config({**GOOD, "base_url": "http://10.0.0.5/v2"})


def test_the_three_ways_to_authenticate():
    validate_config(GOOD)                                                   # refresh flow
    validate_config(without("refresh_token"))                               # client credentials
    validate_config({"access_token": "a-token", "start_date": "2024-01-01T00:00:00Z"})


def test_a_refresh_token_needs_the_app_credentials():
    with pytest.raises(ConfigError, match='"client_id" and "client_secret" are required'):
        validate_config({"refresh_token": REFRESH, "access_token": "a-token",
                         "start_date": "2024-01-01T00:00:00Z"})


def test_null_and_empty_values_mean_not_given():
    config = validate_config({**GOOD, "user_agent": "", "access_token": None,
                              "request_timeout": None, "base_url": ""})
    assert config["user_agent"] is None and config["access_token"] is None
    assert config["request_timeout"] == 300.0 and config["base_url"] == DEFAULT_BASE_URL


def test_unknown_keys_are_kept_for_forward_compatibility():
    assert validate_config({**GOOD, "custom_setting": 1})["custom_setting"] == 1


def test_validation_does_not_change_the_callers_dict():
    given = {**GOOD, "start_date": "2024-01-01"}
    validate_config(given)
    assert given["start_date"] == "2024-01-01"
