"""The config file is checked before any work; each mistake gets one clear line and exit 1.

Values of secret keys never appear in a message, even when the mistake is in that very key.
"""
import json
import logging
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tap_helpscout.config import unknown_key_warning, validate_config
from tap_helpscout.errors import ConfigError
from tap_helpscout.settings import DEFAULTS, SETTINGS

DEFAULT_BASE_URL = DEFAULTS["base_url"]

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


# --- what a valid config becomes ---------------------------------------------------------------

def test_defaults_are_applied():
    config = validate_config(GOOD)
    assert config["base_url"] == DEFAULT_BASE_URL == "https://api.helpscout.net/v2"
    assert config["request_timeout"] == 300.0
    assert config["max_requests_per_minute"] is None
    assert config["max_parallel_requests"] == 4
    assert config["max_rate_limit_wait_seconds"] == 600
    assert config["report_window_days"] is None
    assert config["report_lookback_days"] is None
    assert config["bookmark_margin_seconds"] == 300
    assert config["max_run_minutes"] is None
    assert config["fetch_saved_reply_text"] is False
    assert config["authorize_url"] == "https://secure.helpscout.net/authentication/authorizeClientApplication"
    assert config["user_agent"].startswith("tap-helpscout/") and config["access_token"] is None
    assert {k: config[k] for k in DEFAULTS if k not in GOOD} == {k: v for k, v in DEFAULTS.items() if k not in GOOD}


def test_start_date_is_optional():
    assert validate_config(without("start_date"))["start_date"] is None
    assert validate_config({**GOOD, "start_date": ""})["start_date"] is None


def test_a_start_date_of_now_is_accepted_and_one_second_later_refused():
    now = datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert validate_config({**GOOD, "start_date": "2024-06-01T12:00:00Z"}, now=now)["start_date"] == \
        "2024-06-01T12:00:00Z"
    with pytest.raises(ConfigError, match='"start_date" is in the future'):
        validate_config({**GOOD, "start_date": "2024-06-01T12:00:01Z"}, now=now)
    with pytest.raises(ConfigError, match='"start_date" is in the future'):
        validate_config({**GOOD, "start_date": "2024-06-01T13:30:00+01:00"}, now=now)


@pytest.mark.parametrize("given, value", [(True, True), (False, False), ("true", True), ("false", False),
                                          ("TRUE", True), (" False ", False), (1, True), (0, False),
                                          ("1", True), ("0", False)])
def test_booleans_accept_true_false_and_one_zero(given, value):
    assert validate_config({**GOOD, "fetch_saved_reply_text": given})["fetch_saved_reply_text"] is value


def test_authorize_url_may_be_plain_http_to_loopback_only():
    url = "http://127.0.0.1:5000/authentication/authorizeClientApplication"
    assert validate_config({**GOOD, "authorize_url": url})["authorize_url"] == url


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
    assert config["user_agent"] == DEFAULTS["user_agent"] and config["access_token"] is None
    assert config["request_timeout"] == 300.0 and config["base_url"] == DEFAULT_BASE_URL


def test_unknown_keys_are_kept_for_forward_compatibility():
    assert validate_config({**GOOD, "custom_setting": 1})["custom_setting"] == 1


@pytest.mark.parametrize("typo, meant", [
    ("max_request_per_minute", "max_requests_per_minute"), ("requests_timeout", "request_timeout"),
    ("start_dat", "start_date"), ("Start_Date", "start_date"), ("max_parallel_request", "max_parallel_requests"),
    ("client_secrte", "client_secret"), ("refreshtoken", "refresh_token"),
])
def test_an_unknown_key_is_warned_about_with_the_closest_known_key(typo, meant):
    assert unknown_key_warning(typo) == f'config: unknown key "{typo}" is ignored; did you mean "{meant}"?'


def test_an_unknown_key_like_none_of_the_settings_is_still_warned_about():
    warning = unknown_key_warning("colour")
    assert '"colour"' in warning and "did you mean" not in warning


@pytest.mark.parametrize("key", sorted(SETTINGS) + ["_select", "_metadata", "_catalog", "_state",
                                                    "_load_schema", "_select_filter", "_comment"])
def test_known_keys_and_underscore_keys_are_not_warned_about(key):
    assert unknown_key_warning(key) is None


def test_validation_logs_one_warning_per_unknown_key(caplog):
    with caplog.at_level(logging.WARNING, logger="tap_helpscout"):
        config = validate_config({**GOOD, "max_request_per_minute": 100, "requests_timeout": 5,
                                  "_select": ["*.*"], "client_secrte": SECRET})
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("tap_helpscout")]
    assert len(messages) == 3
    assert any('did you mean "max_requests_per_minute"?' in m for m in messages)
    assert any('did you mean "request_timeout"?' in m for m in messages)
    assert all(SECRET not in m for m in messages)
    assert config["max_request_per_minute"] == 100 and config["max_requests_per_minute"] is None


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


def test_validation_does_not_change_the_callers_dict():
    given = {**GOOD, "start_date": "2024-01-01"}
    validate_config(given)
    assert given["start_date"] == "2024-01-01"


def test_a_misspelt_key_is_pointed_out_before_the_error_it_causes(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**without("client_secret"), "client_secrte": SECRET}))
    proc = run_discover(path)
    assert proc.returncode == 1 and proc.stdout == ""
    warning, error = proc.stderr.strip().splitlines()
    assert 'did you mean "client_secret"?' in warning
    assert error.startswith("tap-helpscout: config: ") and '"client_secret"' in error
    assert SECRET not in proc.stderr and "Traceback" not in proc.stderr
