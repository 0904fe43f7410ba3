"""What every endpoint shares: content types, page sizes, the `Reply` an endpoint returns, the
vnd.error body of a refused request, query-parameter parsing, and `Readings`, the choices the
emulator makes on points the API documentation leaves open."""
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

HAL = "application/hal+json"
JSON = "application/json"
VND_ERROR = "application/vnd.error+json"

CONVERSATIONS_PAGE_SIZE = 25     # the one list endpoint with 25 per page (the pagination page)
PAGE_SIZE = 50                   # every other HAL list
THREADS_PAGE_SIZE = 50           # by the doc rule; UNCONFIRMED (Airbyte used 25)
REPORT_PAGE_SIZE = 10            # inferred from count 165 -> pages 17; UNCONFIRMED
EMBEDDED_THREADS_CAP = 25        # Get Conversation embeds 25 threads (PHP SDK issue 269)
# "embedded chat threads are truncated" (List Conversations): how much is UNCONFIRMED. We embed
# only the 3 newest threads of a chat, so a tap that trusts embedded threads visibly loses most of
# a chat. (Sources named in comments here: docs/sources.md.)
CHAT_EMBEDDED_THREADS = 3

CONVERSATION_STATUSES = ("active", "all", "closed", "open", "pending", "spam")
CONVERSATION_SORT_FIELDS = ("createdAt", "customerEmail", "customerName", "mailboxid", "modifiedAt",
                            "number", "score", "status", "subject", "waitingSince")
CUSTOMER_SORT_FIELDS = ("createdAt", "firstName", "lastName", "modifiedAt", "score")
DATE_PARAM = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
WEB = "https://secure.helpscout.net"
ERRORS_ABOUT = "http://developer.helpscout.net/mailbox-api/overview/errors"


def dumps(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = HAL
    headers: dict = field(default_factory=dict)


class ParamError(Exception):
    """A query parameter the API would refuse with a 400 vnd.error."""

    def __init__(self, path, message, rejected):
        super().__init__(message)
        self.path, self.message, self.rejected = path, message, rejected


def error_reply(status, message, errors=()):
    """The vnd.error shape of Help Scout's errors page; `_embedded` only when there are field errors."""
    body = {"logRef": f"{uuid.uuid4()}#{status}", "message": message}
    if errors:
        body["_embedded"] = {"errors": [
            {"path": e.path, "message": e.message, "rejectedValue": e.rejected, "source": "QUERY",
             "_links": {"about": {"href": f"{ERRORS_ABOUT}#{'EnumValue' if 'one of' in e.message else 'Format'}"}}}
            for e in errors]}
    body["_links"] = {"about": {"href": ERRORS_ABOUT}}
    return Reply(status, dumps(body), VND_ERROR)


def parse_date_param(name, value):
    """Only `YYYY-MM-DDTHH:MM:SSZ`. Milliseconds and offsets get a 400: the docs show this form
    only, the hscli client's notes report milliseconds rejected, and offsets are UNCONFIRMED;
    refusing them is the stricter choice (a tap sending another format learns it here, not in
    production)."""
    if not DATE_PARAM.match(value):
        raise ParamError(name, "Invalid date, expected format yyyy-MM-ddTHH:mm:ssZ", value)
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise ParamError(name, "Invalid date, expected format yyyy-MM-ddTHH:mm:ssZ", value) from None


def parse_int(name, value, minimum=None):
    if not re.fullmatch(r"-?\d+", value or ""):
        raise ParamError(name, "Expected a number", value)
    number = int(value)
    if minimum is not None and number < minimum:
        raise ParamError(name, f"Must be greater than or equal to {minimum}", value)
    return number


def parse_int_list(name, value):
    return {parse_int(name, part) for part in value.split(",") if part != ""}


def one_of(name, value, allowed):
    if value not in allowed:
        raise ParamError(name, "Expected one of these: " + ", ".join(f"'{a}'" for a in allowed), value)
    return value



REPORT_RATINGS = ("great", "ok", "all", "not-good")
REPORT_QUIET_TIMES = ("null", "zero", "absent")


@dataclass
class Readings:
    """The emulator's reading of points the documentation leaves open (docs/api-readings.md).
    Every default is the emulator's original behaviour; each other value is a stricter reading
    that the real API may take. The time-series reports' readings (report_*) were new with those
    reports: their defaults are the stricter readings."""
    plan: str = "plus"
    reports_status: int = 403            # what report endpoints answer on the Standard plan
    customer_sort_strict: bool = False   # /customers: sortField only score, firstName, lastName, modifiedAt
    unstable_ties: bool = False          # rows with equal sort values come in a new order per request
    report_rating_default: str = None    # the report's `rating` when absent; None = all
    max_page_depth: int = None           # deepest page a search-backed listing serves
    query_ranges: bool = False           # `query` range syntax on /conversations and /customers
    saved_replies_hal: bool = False      # saved replies as a HAL page instead of a bare array
    modified_since_inclusive: bool = False   # modifiedSince lists rows at that second too (>=)
    report_day_limit: int = 60           # longest range (days) the time-series reports serve by day
    report_end_inclusive: bool = True    # a time-series report's `end` second belongs to the range
    report_quiet_time: str = "null"      # `time` of a period with nothing to average: null, zero, absent
    report_refused_users: tuple = ()     # user ids whose user reports answer 403
    organization_list_counts: bool = True    # /organizations items carry the counts
    seed: int = 1                        # seeds the tie order (with a per-request counter)

    def __post_init__(self):
        if self.report_rating_default not in (None,) + REPORT_RATINGS:
            raise ValueError(f"report_rating_default must be None or one of {REPORT_RATINGS}")
        if not (isinstance(self.reports_status, int) and 400 <= self.reports_status <= 499):
            raise ValueError("reports_status must be a 4xx status code")
        if self.max_page_depth is not None and self.max_page_depth < 1:
            raise ValueError("max_page_depth must be at least 1")
        if not (isinstance(self.report_day_limit, int) and self.report_day_limit >= 1):
            raise ValueError("report_day_limit must be a whole number of days, at least 1")
        if self.report_quiet_time not in REPORT_QUIET_TIMES:
            raise ValueError(f"report_quiet_time must be one of {REPORT_QUIET_TIMES}")
        self.report_refused_users = tuple(self.report_refused_users or ())
