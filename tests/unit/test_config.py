"""What a valid config becomes, and which keys are warned about (tap_helpscout/config.py,
validate_config), in process. A bad config file through the executable (one clear line and exit
1): tests/integration/test_config.py."""
import logging
from datetime import datetime, timezone

import pytest

from tap_helpscout.config import unknown_key_warning, validate_config
from tap_helpscout.errors import ConfigError
from tap_helpscout.settings import DEFAULTS, SETTINGS
from tests.support.configs import GOOD, REFRESH, SECRET, without

DEFAULT_BASE_URL = DEFAULTS["base_url"]


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


def test_validation_does_not_change_the_callers_dict():
    given = {**GOOD, "start_date": "2024-01-01"}
    validate_config(given)
    assert given["start_date"] == "2024-01-01"
