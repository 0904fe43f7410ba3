"""Loading and validating the config file, before the tap does any work.

Every problem is a ConfigError with one line that names the key and says what is expected.
Values of secret keys are never repeated in a message: a config file is often pasted into a
ticket together with the tap's output.
"""
import ipaddress
import json
import math
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from tap_helpscout.errors import ConfigError

DEFAULT_BASE_URL = "https://api.helpscout.net/v2"
SECRET_KEYS = ("client_secret", "refresh_token", "access_token")

DEFAULTS = {
    "user_agent": None,
    "token_store_path": None,            # None: the rotated refresh token goes to the config file
    "access_token": None,
    "client_id": None,
    "client_secret": None,
    "refresh_token": None,
    "base_url": DEFAULT_BASE_URL,
    "request_timeout": 300.0,
    "max_requests_per_minute": None,     # None: follow the server's rate-limit headers only
    "max_parallel_requests": 4,
    "report_window_days": None,          # None: windows sized by the data alone
    "report_lookback_days": None,        # None: the report is read in full on every run
    "bookmark_margin_seconds": 0,
}
MAX_PARALLEL_REQUESTS = 16

# RFC 3339, plus two lenient forms that orchestrators produce: a bare date (midnight UTC) and a
# date-time without offset (read as UTC, as singer-python does).
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?)?")


def load_config(path):
    """Read the config file at `path` and return the normalized config (defaults applied)."""
    return validate_config(read_json_object(path, "config", ConfigError))


def read_json_object(path, what, error):
    """The JSON object in file `path`; `what` names the file in messages ("config", "state")."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise error(f'{what}: file "{path}" does not exist') from None
    except IsADirectoryError:
        raise error(f'{what}: "{path}" is a directory, not a JSON file') from None
    except PermissionError:
        raise error(f'{what}: file "{path}" is not readable (permission denied)') from None
    except UnicodeDecodeError:
        raise error(f'{what}: file "{path}" is not UTF-8 text') from None
    except OSError as exc:
        raise error(f'{what}: cannot read file "{path}": {exc.strerror}') from None
    try:
        value = json.loads(text)
    except ValueError as exc:
        # The decoder's message holds only a position, never the file's content.
        where = f" at line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else ""
        raise error(f'{what}: file "{path}" is not valid JSON ({exc.msg}{where})') from None
    if not isinstance(value, dict):
        raise error(f'{what}: file "{path}" must hold a JSON object ({{...}}), '
                    f"not {_json_type(value)}")
    return value


def validate_config(raw):
    """Check every known key of `raw` and return a new dict with defaults applied."""
    config = dict(raw)
    for key, value in raw.items():
        # Orchestrators write unset settings as null or "": both mean "not given".
        if value is None or (isinstance(value, str) and not value.strip()):
            del config[key]

    for key in ("client_id", "client_secret", "refresh_token", "access_token", "user_agent",
                "token_store_path"):
        if key in config:
            config[key] = _string(config, key)
    _check_credentials(config)

    if "start_date" not in config:
        raise ConfigError('config: "start_date" is required: the RFC 3339 date-time from which '
                          "to replicate, such as 2024-01-01T00:00:00Z")
    config["start_date"] = parse_start_date(config["start_date"])

    config["base_url"] = _base_url(config.get("base_url", DEFAULT_BASE_URL))
    if "request_timeout" in config:
        config["request_timeout"] = _positive_number(config, "request_timeout")
    for key, low, high in (("max_requests_per_minute", 1, None),
                           ("max_parallel_requests", 1, MAX_PARALLEL_REQUESTS),
                           ("report_window_days", 1, None),
                           ("report_lookback_days", 1, None),
                           ("bookmark_margin_seconds", 0, None)):
        if key in config:
            config[key] = _integer(config, key, low, high)

    return {**DEFAULTS, **config}


def _check_credentials(config):
    has = {key: key in config for key in ("client_id", "client_secret", "refresh_token",
                                           "access_token")}
    if has["client_id"] != has["client_secret"]:
        present, missing = ("client_id", "client_secret") if has["client_id"] else \
            ("client_secret", "client_id")
        raise ConfigError(f'config: "{missing}" is required together with "{present}" '
                          "(both come from your Help Scout app under Your Profile > My Apps)")
    if has["refresh_token"] and not has["client_id"]:
        raise ConfigError('config: "client_id" and "client_secret" are required to use '
                          '"refresh_token" (they come from your Help Scout app)')
    if not has["client_id"] and not has["access_token"]:
        raise ConfigError('config: credentials are missing: give "client_id", "client_secret" '
                          'and "refresh_token" (authorization-code flow), or "client_id" and '
                          '"client_secret" alone (client-credentials flow), or "access_token"')


def parse_start_date(value):
    """`value` as UTC `YYYY-MM-DDTHH:MM:SSZ` (fractions of a second are dropped)."""
    expected = ('config: "start_date" must be an RFC 3339 date-time such as '
                "2024-01-01T00:00:00Z")
    if not isinstance(value, str):
        raise ConfigError(f"{expected} (got {_json_type(value)})")
    match = _DATE_TIME.fullmatch(value.strip())
    if not match:
        raise ConfigError(f"{expected} (got {_shown(value)})")
    year, month, day, hour, minute, second, _zulu, sign, off_h, off_m = match.groups()
    try:
        offset = timedelta(0)
        if sign:
            offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (1 if sign == "+" else -1)
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                          int(second or 0), tzinfo=timezone(offset))
    except ValueError as exc:         # month 13, hour 25, offset beyond 24 h, ...
        raise ConfigError(f"{expected} (got {_shown(value)}: {exc})") from None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _base_url(value):
    if not isinstance(value, str):
        raise ConfigError(f'config: "base_url" must be a URL such as {DEFAULT_BASE_URL} '
                          f"(got {_json_type(value)})")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f'config: "base_url" must be an https:// URL such as '
                          f"{DEFAULT_BASE_URL} (got {_shown(value)})")
    if parts.username or parts.password or parts.query or parts.fragment:
        # Credentials go in their own keys; the URL is printed in logs.
        raise ConfigError('config: "base_url" must be a plain URL without user, password, '
                          f"query or fragment, such as {DEFAULT_BASE_URL}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError('config: "base_url" must use https:// (plain http:// is allowed only '
                          f'for a loopback host such as 127.0.0.1; got host "{parts.hostname}")')
    try:
        parts.port     # raises on a port that is not a number in 0..65535
    except ValueError:
        raise ConfigError(f'config: "base_url" has an invalid port (got {_shown(value)})') from None
    return value.strip().rstrip("/")


def _is_loopback(host):
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _string(config, key):
    value = config[key]
    if not isinstance(value, str):
        raise ConfigError(f'config: "{key}" must be a string (got {_json_type(value)})')
    return value.strip()


def _positive_number(config, key):
    value = config[key]
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):         # orchestrators pass every setting as a string
        try:
            number = float(value.strip())
        except ValueError:
            pass
    if number is None or not math.isfinite(number) or number <= 0:
        raise ConfigError(f'config: "{key}" must be a number of seconds greater than 0, '
                          f"such as 300 (got {_shown(value)})")
    return number


def _integer(config, key, low, high):
    value = config[key]
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        number = int(value)
    if high is None:
        expected = f"an integer of at least {low}"
    else:
        expected = f"an integer from {low} to {high}"
    if number is None or number < low or (high is not None and number > high):
        raise ConfigError(f'config: "{key}" must be {expected} (got {_shown(value)})')
    return number


def _json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _shown(value):
    """A non-secret value as it appears in a message: JSON, cut short."""
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
