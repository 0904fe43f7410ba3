"""Every config key of the tap, defined once: name, type, default, secret or not, meaning.

config.py validates from this table, docs/configuration.md's config table and meltano.yml's `settings`
are generated from it (a test checks they match), so is the JSON Schema of `--about`, and the
rest of the tap reads its defaults here (`DEFAULTS["base_url"]`,
`SETTINGS["max_parallel_requests"].maximum`, `is_loopback`):

    python -m tap_helpscout.settings --markdown     # docs/configuration.md's table
    python -m tap_helpscout.settings --meltano      # meltano.yml's settings list
    python -m tap_helpscout.settings --json-schema  # the settings of `tap-helpscout --about --format json`
"""
import argparse
import copy
import ipaddress
import json
import sys
from dataclasses import dataclass
from typing import Optional

from tap_helpscout.version import VERSION

# Kinds: how config.py checks a value, and which Meltano setting kind it is.
STRING = "string"
PATH = "path"                 # a file path, relative to the working directory
URL = "url"                   # https://, or http:// to a loopback host only
DATE_TIME = "date-time"       # RFC 3339; normalized to YYYY-MM-DDTHH:MM:SSZ
SECONDS = "seconds"           # a number greater than 0
MINUTES = "minutes"           # a number greater than 0 (fractions too: 0.5)
INTEGER = "integer"           # between minimum and maximum
BOOLEAN = "boolean"

MELTANO_KINDS = {STRING: "string", PATH: "string", URL: "string", DATE_TIME: "date_iso8601",
                 SECONDS: "integer",
                 # Meltano's kinds have no fractional number: whole minutes there.
                 MINUTES: "integer", INTEGER: "integer", BOOLEAN: "boolean"}

# Each kind as JSON Schema (the settings of `--about --format json`).
JSON_SCHEMA_KINDS = {STRING: {"type": "string"}, PATH: {"type": "string"},
                     URL: {"type": "string", "format": "uri"},
                     DATE_TIME: {"type": "string", "format": "date-time"},
                     SECONDS: {"type": "number", "exclusiveMinimum": 0},
                     MINUTES: {"type": "number", "exclusiveMinimum": 0},
                     INTEGER: {"type": "integer"}, BOOLEAN: {"type": "boolean"}}
# Which credentials go together (config.py enforces them): the app's two keys together, a
# refresh token with both, and either the app's keys or an access token (or, for the Docs
# streams alone, the Docs API key).
CREDENTIAL_RULES = {
    "dependentRequired": {"client_id": ["client_secret"], "client_secret": ["client_id"],
                          "refresh_token": ["client_id", "client_secret"]},
    "anyOf": [{"required": ["client_id", "client_secret"]}, {"required": ["access_token"]},
              {"required": ["docs_api_key"]}],      # the Docs streams alone
}


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str
    meaning: str                          # one line, Markdown, for docs/configuration.md
    default: object = None                # None: not set (the meaning says what that does)
    secret: bool = False                  # never shown in a message or log; sensitive in Meltano
    required: str = "no"                  # the "required" column of docs/configuration.md
    shown_default: Optional[str] = None   # its "default" column, when not the value itself
    minimum: Optional[int] = None         # INTEGER only
    maximum: Optional[int] = None


_TABLE = (
    Setting("client_id", STRING, "the app's App ID", required="for the OAuth2 flows"),
    Setting("client_secret", STRING, "the app's App Secret", secret=True, required="for the OAuth2 flows"),
    Setting("refresh_token", STRING, "written by `--authorize` (step 3); the tap replaces it in the file as Help Scout rotates it",
            secret=True, required="for the authorization-code flow"),
    Setting("access_token", STRING,
            "a current access token. Used first if present; alone (without `client_id`/`client_secret`) "
            "it is used as is and never refreshed", secret=True),
    Setting("start_date", DATE_TIME,
            "RFC 3339 date-time from which to replicate, e.g. `2024-01-01T00:00:00Z`. A bare date means "
            "midnight UTC; a date-time without offset is read as UTC; a date in the future is refused. "
            "Without it the first run starts one year before it began, and that start is kept in the "
            "state, so that later runs (and the report's full reads) use the same one",
            shown_default="one year before the first run"),
    Setting("user_agent", STRING, "the User-Agent header of every request",
            default=f"tap-helpscout/{VERSION}", shown_default="`tap-helpscout/<version>`"),
    Setting("base_url", URL,
            "the API root. Plain `http://` is refused unless the host is loopback (`localhost`, "
            "`127.0.0.0/8`, `::1`), so credentials never travel in clear",
            default="https://api.helpscout.net/v2"),
    Setting("request_timeout", SECONDS,
            "seconds to wait for a whole answer (headers and body), a number greater than 0; a request "
            "that takes longer is retried a bounded number of times", default=300.0, shown_default="`300`"),
    Setting("max_requests_per_minute", INTEGER,
            "a cap on the tap's request rate, to leave room for other API users of the account (the rate "
            "limit is per account). Without it the tap follows Help Scout's rate-limit headers", minimum=1),
    Setting("max_parallel_requests", INTEGER, "requests in flight at once, 1 to 16",
            default=4, minimum=1, maximum=16),
    Setting("max_rate_limit_wait_seconds", INTEGER,
            "the longest wait, in seconds, that the tap accepts when Help Scout's rate limit tells it to "
            "wait (`Retry-After`); a longer one stops the run with one line instead of sleeping",
            default=600, minimum=1),
    Setting("report_window_days", INTEGER,
            "longest window, in days, in which the happiness ratings report is requested; without it the "
            "tap starts with one window from `start_date` to now and halves any window holding more than "
            "50 pages", minimum=1),
    Setting("report_lookback_days", INTEGER,
            "makes the happiness ratings report cheap on repeated runs: after a complete run, the next one "
            "requests the report only from the end of the previous one less this many days (at least 1), "
            "instead of from `start_date`. The report is full table by contract and, without this key, "
            "read in full on every run: at ten ratings per page, an account with years of ratings spends "
            "that many requests on each run. With it, a rating changed longer than this many days after it "
            "was first read is not read again", minimum=1),
    Setting("token_store_path", PATH,
            "a JSON file in which the tap keeps the rotating refresh token, for orchestrators such as "
            "Meltano that write a new config file (with the original refresh token) for every run; created "
            "readable by its owner only; relative to the working directory. A new `refresh_token` put in "
            "the config later wins over the store"),
    Setting("bookmark_margin_seconds", INTEGER,
            "seconds subtracted from the server's clock when a bookmark is set, for a Help Scout search "
            "index that lags behind its clock: rows changed in that margin are read again by the next run",
            default=300, minimum=0),
    Setting("max_run_minutes", MINUTES,
            "a budget for one run, in minutes (a number greater than 0; fractions too): when it is reached "
            "the tap stops at the next page boundary with a complete STATE and exit code 0, and the next "
            "run continues from there; for schedulers that kill a task after a hard timeout, set it well "
            "below that timeout. Without it a run goes on until everything is read"),
    Setting("progress_seconds", SECONDS,
            "seconds between the progress lines a running stream writes to stderr (rows so far, share "
            "done, time left); they go on during long rate-limit pauses", default=30.0, shown_default="`30`"),
    Setting("log_request_metrics", BOOLEAN,
            "also write Singer's per-request `METRIC` lines (`http_request_duration`) to stderr, for "
            "orchestrators that read them; the per-stream `record_count` metrics are always written",
            default=False),
    Setting("fetch_saved_reply_text", BOOLEAN,
            "also read each saved reply's full `text` and `chat_text`, at one request per saved reply "
            "(the listing gives previews only)", default=False),
    Setting("organization_details", BOOLEAN,
            "also read each organization in full (`includeCounts`, `includeProperties`), at one request per "
            "organization on every run: its custom `properties`, and the counts the listing may lack. Without "
            "it `properties` is null, and so are `customer_count`, `conversation_count` and "
            "`last_interaction_at` when the listing does not carry them", default=False),
    Setting("report_daily_per_mailbox", BOOLEAN,
            "`report_daily` also has rows of each mailbox (`mailbox_id` its id), besides the account-wide ones "
            "(`mailbox_id` 0); `false` keeps only the account-wide rows, for accounts of many mailboxes "
            "(each mailbox costs as many requests as the account)", default=True),
    Setting("report_daily_lookback_days", INTEGER,
            "how many days before the last day read by the previous run `report_daily` and `report_user_daily` "
            "read again (that day itself is always read again): Help Scout's figures of recent days still change "
            "as conversations are answered and closed", default=7, minimum=0, maximum=366),
    Setting("report_office_hours", BOOLEAN,
            "send `officeHours=true` to the productivity reports of `report_daily` (times and counts within "
            "the account's office hours only); without it `officeHours` is not sent", default=False),
    Setting("authorize_url", URL,
            "the address of Help Scout's authorization page that `--authorize` opens (for emulators "
            "and tests)", default="https://secure.helpscout.net/authentication/authorizeClientApplication"),
    Setting("docs_api_key", STRING,
            "the Docs API key, for the `docs_*` streams (the knowledge base): Help Scout, Your Profile > "
            "Authentication > API Keys. The Docs streams need only this key, the Mailbox streams only the "
            "OAuth2 keys; without it, selected `docs_*` streams are skipped with a warning",
            secret=True, required="for the `docs_*` streams"),
    Setting("docs_base_url", URL,
            "the Docs API root (plain `http://` only for a loopback host, as `base_url`)",
            default="https://docsapi.helpscout.net/v1"),
)

SETTINGS = {setting.name: setting for setting in _TABLE}
DEFAULTS = {setting.name: setting.default for setting in _TABLE}
SECRET_KEYS = tuple(setting.name for setting in _TABLE if setting.secret)


def is_loopback(host):
    """Whether plain http:// may go to `host`: only this machine (`localhost`, 127.0.0.0/8,
    ::1), so that credentials never cross a network in clear."""
    host = (host or "").strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- the generated documentation --------------------------------------------------------------

def _shown_default(setting):
    if setting.shown_default is not None:
        return setting.shown_default
    if setting.default is None:
        return "–"
    if isinstance(setting.default, bool):
        return f"`{str(setting.default).lower()}`"
    return f"`{setting.default}`"


def markdown_table():
    """The config table of docs/configuration.md."""
    lines = ["| key | required | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{s.name}` | {s.required} | {_shown_default(s)} | {s.meaning} |" for s in _TABLE]
    return "\n".join(lines) + "\n"


def meltano_settings():
    """meltano.yml's `settings` entries: name, Meltano kind, and `sensitive` for secrets."""
    entries = []
    for s in _TABLE:
        entry = {"name": s.name, "kind": MELTANO_KINDS[s.kind]}
        if s.secret:
            entry["sensitive"] = True
        entries.append(entry)
    return entries


def meltano_yaml(indent="    "):
    """meltano.yml's `settings` list, one flow mapping per line, as the file writes it."""
    def line(entry):
        fields = ", ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in entry.items())
        return f"{indent}- {{{fields}}}"
    return "\n".join(line(entry) for entry in meltano_settings()) + "\n"


def json_schema():
    """The config as a JSON Schema, in the shape of a Meltano SDK tap's `--about --format json`
    settings: every key optional (so its type admits null, as the SDK writes optional
    properties), with its default and meaning, and secrets marked `secret` and `writeOnly` as
    the SDK marks them. Unknown keys are allowed (the tap warns about them)."""
    properties = {}
    for s in _TABLE:
        prop = dict(JSON_SCHEMA_KINDS[s.kind])
        prop["type"] = [prop["type"], "null"]
        if s.minimum is not None:
            prop["minimum"] = s.minimum
        if s.maximum is not None:
            prop["maximum"] = s.maximum
        if s.default is not None:
            prop["default"] = s.default
        prop["description"] = s.meaning
        if s.secret:
            prop.update(secret=True, writeOnly=True)
        properties[s.name] = prop
    return {"type": "object", "properties": properties, **copy.deepcopy(CREDENTIAL_RULES)}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tap_helpscout.settings",
                                     description="Print the tap's config keys as documentation.")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--markdown", action="store_true", help="the config table of docs/configuration.md")
    group.add_argument("--meltano", action="store_true", help="meltano.yml's settings list")
    group.add_argument("--json-schema", action="store_true", help="the settings of --about --format json")
    args = parser.parse_args(argv)
    if args.json_schema:
        sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
    else:
        sys.stdout.write(markdown_table() if args.markdown else meltano_yaml())


if __name__ == "__main__":
    main()
