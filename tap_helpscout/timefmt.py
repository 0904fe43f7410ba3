"""Date-times as the tap reads and writes them: one parser and one formatter for every module.

The API writes `YYYY-MM-DDTHH:MM:SSZ`; one documented example omits the `Z`, and users write
dates in config and state files. Anything ISO 8601-like is read (a missing offset means UTC, a
bare date means midnight UTC); every date-time the tap writes is RFC 3339 UTC with a `Z`.
"""
import re
from datetime import datetime, timedelta, timezone

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(?:([Zz])|([+-])(\d{2}):?(\d{2}))?)?")
# The API's times, and both clocks (its Date header, ours), count whole seconds.
CLOCK_RESOLUTION = timedelta(seconds=1)
# The API's own format, which needs no parsing to be rewritten.
CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")


def parse_date_time(text):
    """The aware UTC datetime of an ISO 8601 date or date-time; ValueError for anything else,
    including dates that do not exist (2024-02-30) and moments beyond year 9999 in UTC."""
    if not isinstance(text, str):
        raise ValueError(f"not a date-time string: {text!r}")
    match = _ISO.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not an ISO 8601 date-time: {text!r}")
    year, month, day, hour, minute, second, fraction, _zulu, sign, off_h, off_m = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    offset = timedelta(0)
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (1 if sign == "+" else -1)
    try:
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                          int(second or 0), micro, tzinfo=timezone(offset))
        return moment.astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"not a valid date-time: {text!r} ({exc})") from None


def format_date_time(moment):
    """RFC 3339 UTC with `Z`; fractions of a second only when there are any."""
    moment = moment.astimezone(timezone.utc)
    if moment.microsecond:
        return api_time(moment)[:-1] + f".{moment.microsecond:06d}Z"
    return api_time(moment)


def api_time(moment):
    """The API's request format: whole seconds, UTC, `Z` (it refuses anything else); four-digit
    years always (strftime writes year 1 as "1")."""
    moment = moment.astimezone(timezone.utc)
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z")


def utc_now():
    """Now, in UTC, to the whole second (the API's precision)."""
    return datetime.now(timezone.utc).replace(microsecond=0)
