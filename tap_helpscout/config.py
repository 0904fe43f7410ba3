"""Loading and validating the config file, before the tap does any work.

What each key may hold comes from the table in settings.py. Every problem is a ConfigError with
one line that names the key and says what is expected. Values of secret keys are never repeated
in a message (a config file is often pasted into a ticket together with the tap's output), and
neither are values of unknown keys, which may be misspelt secrets.
"""
import difflib
import json
import math
import os
import re
from datetime import datetime, timezone
from urllib.parse import urlsplit

from tap_helpscout import settings
from tap_helpscout.errors import ConfigError
from tap_helpscout.logs import get_logger
from tap_helpscout.settings import DEFAULTS, SETTINGS
from tap_helpscout.timefmt import api_time, parse_date_time

LOGGER = get_logger(__name__)
CREDENTIAL_KEYS = ("client_id", "client_secret", "refresh_token", "access_token")
# Help Scout began in 2011: an earlier start_date can only be a mistake (or mean "everything").
EARLIEST_START = datetime(2000, 1, 1, tzinfo=timezone.utc)


def validate_config(raw, now=None):
    """Check every known key of `raw` and return a new dict with defaults applied. Unknown keys
    are kept (a newer version's keys, the caller's own) and each gets one warning, first: a
    misspelt key often explains the error that follows ("client_secrte")."""
    for key in raw:
        warning = unknown_key_warning(key)
        if warning:
            LOGGER.warning("%s", warning)
    config = dict(raw)
    for key, value in raw.items():
        # Orchestrators write unset settings as null or "": both mean "not given".
        if value is None or (isinstance(value, str) and not value.strip()):
            del config[key]

    for key in CREDENTIAL_KEYS:
        if key in config:
            config[key] = _string(config, key)
    _check_credentials(config)

    for name, setting in SETTINGS.items():
        if name in config and name not in CREDENTIAL_KEYS:
            config[name] = _CHECKS[setting.kind](config, setting)
    if config.get("start_date"):
        _check_not_in_future(config["start_date"], now or datetime.now(timezone.utc))
    return {**DEFAULTS, **config}


def unknown_key_warning(key):
    """The warning for a config key the tap does not know, or None for a known key. Keys that
    start with "_" are left alone: that is where Meltano keeps its extras (`_select`,
    `_metadata`, ...; Meltano 4 does not write them into the config file it passes, but a
    hand-copied one may hold them), and a convention for comments."""
    if key in SETTINGS or key.startswith("_"):
        return None
    close = difflib.get_close_matches(key.lower(), list(SETTINGS), n=1, cutoff=0.6)
    hint = f'did you mean "{close[0]}"?' if close else "it is none of the tap's settings (see docs/configuration.md)"
    return f'config: unknown key "{_cut(key)}" is ignored; {hint}'


def _check_credentials(config):
    has = {key: key in config for key in CREDENTIAL_KEYS}
    if has["client_id"] != has["client_secret"]:
        present, missing = ("client_id", "client_secret") if has["client_id"] else \
            ("client_secret", "client_id")
        raise ConfigError(f'config: "{missing}" is required together with "{present}" '
                          "(both come from your Help Scout app under Your Profile > My Apps)")
    if has["refresh_token"] and not has["client_id"]:
        raise ConfigError('config: "client_id" and "client_secret" are required to use '
                          '"refresh_token" (they come from your Help Scout app)')
    if not has["client_id"] and not has["access_token"] and not config.get("docs_api_key"):
        raise ConfigError('config: credentials are missing: give "client_id", "client_secret" '
                          'and "refresh_token" (authorization-code flow), or "client_id" and '
                          '"client_secret" alone (client-credentials flow), or "access_token"; '
                          'for the docs_* streams alone, "docs_api_key"')


# --- one check per kind of setting ------------------------------------------------------------

def _string(config, key):
    value = config[key]
    if not isinstance(value, str):
        raise ConfigError(f'config: "{key}" must be a string (got {json_type(value)})')
    return value.strip()


def _string_setting(config, setting):
    return _string(config, setting.name)


def parse_start_date(value, key="start_date"):
    """`value` as UTC `YYYY-MM-DDTHH:MM:SSZ` (fractions of a second are dropped)."""
    expected = f'config: "{key}" must be an RFC 3339 date-time such as 2024-01-01T00:00:00Z'
    if not isinstance(value, str):
        raise ConfigError(f"{expected} (got {json_type(value)})")
    try:
        return api_time(parse_date_time(value))
    except ValueError:
        raise ConfigError(f"{expected} (got {_shown(value)})") from None


def _date_time(config, setting):
    return parse_start_date(config[setting.name], setting.name)


def _check_not_in_future(start_date, now):
    # A future start would set every bookmark to now: the history before it would never be read,
    # even after the date is corrected.
    moment = parse_date_time(start_date)
    if moment > now:
        raise ConfigError(f'config: "start_date" is in the future ({start_date}); give a past '
                          "date-time, or leave it out to start one year back")
    if moment < EARLIEST_START:
        raise ConfigError(f'config: "start_date" {start_date} is before {api_time(EARLIEST_START)}, and Help '
                          f"Scout holds nothing that old; to read everything, give {api_time(EARLIEST_START)}")


def _url(config, setting):
    key, value = setting.name, config[setting.name]
    example = setting.default
    if not isinstance(value, str):
        raise ConfigError(f'config: "{key}" must be a URL such as {example} (got {json_type(value)})')
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f'config: "{key}" must be an https:// URL such as {example} (got {_shown(value)})')
    if parts.username or parts.password or parts.query or parts.fragment:
        # Credentials go in their own keys; the URL is printed in logs.
        raise ConfigError(f'config: "{key}" must be a plain URL without user, password, '
                          f"query or fragment, such as {example}")
    if parts.scheme == "http" and not settings.is_loopback(parts.hostname):
        raise ConfigError(f'config: "{key}" must use https:// (plain http:// is allowed only '
                          f'for a loopback host such as 127.0.0.1; got host "{parts.hostname}")')
    try:
        parts.port     # raises on a port that is not a number in 0..65535
    except ValueError:
        raise ConfigError(f'config: "{key}" has an invalid port (got {_shown(value)})') from None
    return value.strip().rstrip("/")


def _positive_number(config, setting):
    """SECONDS and MINUTES: a number greater than 0, fractions allowed."""
    key, value = setting.name, config[setting.name]
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):         # orchestrators pass every setting as a string
        try:
            number = float(value.strip())
        except ValueError:
            pass
    if number is None or not math.isfinite(number) or number <= 0:
        example = f"{setting.default:g}" if setting.default is not None else "60 or 0.5"
        raise ConfigError(f'config: "{key}" must be a number of {setting.kind} greater than 0, '
                          f"such as {example} (got {_shown(value)})")
    return number


def _integer(config, setting):
    key, value = setting.name, config[setting.name]
    low, high = setting.minimum, setting.maximum
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):
        number = int(value)
    expected = f"an integer of at least {low}" if high is None else f"an integer from {low} to {high}"
    if number is None or number < low or (high is not None and number > high):
        raise ConfigError(f'config: "{key}" must be {expected} (got {_shown(value)})')
    return number


def _boolean(config, setting):
    key, value = setting.name, config[setting.name]
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise ConfigError(f'config: "{key}" must be true or false (got {_shown(value)})')


_CHECKS = {settings.STRING: _string_setting, settings.PATH: _string_setting, settings.URL: _url,
           settings.DATE_TIME: _date_time, settings.SECONDS: _positive_number,
           settings.MINUTES: _positive_number, settings.INTEGER: _integer,
           settings.BOOLEAN: _boolean}


# --- messages -----------------------------------------------------------------------------------

def json_type(value):
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
    return _cut(json.dumps(value))


def _cut(text):
    text = json.dumps(text)[1:-1] if any(c < " " for c in text) else text   # no control characters
    return text if len(text) <= 60 else text[:57] + "..."


def meltano_extractor(environ=None):
    """The name of the Meltano extractor that runs the tap, or None when Meltano does not run it.
    Meltano (4.x, the version tested) sets MELTANO_PROJECT_ROOT and MELTANO_EXTRACTOR_NAME in
    the environment of every extractor it runs (invoke, run, el): the name is the one Meltano
    ran, an inherited extractor's own (`tap-helpscout-acme`), not its parent's."""
    environ = os.environ if environ is None else environ
    name = (environ.get("MELTANO_EXTRACTOR_NAME") or "").strip()
    return name if name and environ.get("MELTANO_PROJECT_ROOT") else None


def authorize_command(environ=None):
    """The command that authorizes the app, as the user runs the tap: under Meltano the config
    file is Meltano's, so `tap-helpscout --config CONFIG` would name a file the user never sees."""
    extractor = meltano_extractor(environ)
    return f"meltano invoke {extractor} --authorize" if extractor else "tap-helpscout --config CONFIG --authorize"
