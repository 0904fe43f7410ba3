"""The twelve time-series reports, `GET /v2/reports/<path>` (Help Scout's report pages): plain JSON
(`application/json`, no HAL, no paging) `{"current": [points]}`, plus `"previous": [points]`
when the request has both `previousStart` and `previousEnd`.

Figures are computed on request from the dataset as it is at that moment (the events below are
cached per dataset revision), so they change by themselves when conversations get threads, are
closed, reopened, marked as spam or deleted. `report_points(...)` computes the same points
without HTTP, for the emulator's own tests.

Periods. Points are anchored at `start`: period k begins at start + k days (`day`),
start + 7k days (`week`) or start + k calendar months (`month`, the day of the month clamped
to the month's length), so a `start` at 00:00:00Z gives UTC calendar days. A point's timestamp
is the beginning of its period. The range is `[start, end]` to the second when
`report_end_inclusive` (default: an `end` at the next day's 00:00:00Z then yields one more, nearly
empty point for that second), else `[start, end)`. There is one point per period that begins
inside the range; the last one is cut at the end of the range (a partial point).

Events (all from `emu.data`; timestamps are the records' own, to the second):
- A conversation counts in no figure when its status is `spam`. Deleted conversations are gone.
- A *customer message* is a published thread (`state` "published") whose `createdBy.type` is
  "customer", at its `createdAt`.
- A *reply* is a published thread of type "reply" or "chat" whose `createdBy.type` is "user",
  at its `createdAt`; its user is `createdBy.id`.
- *Responses*: walk a conversation's published threads in time order (`createdAt`, ties in the
  order of `emu.data.threads`). A customer message starts a wait when none is running; a reply
  while a wait runs is a response, whose wait is (reply time - wait start) in seconds, and ends
  the wait. Replies with no wait running (e.g. the first thread of an outgoing conversation, a
  second reply in a row) are no responses. A conversation's first response is its *first
  response*.
- A *resolution*: a conversation with status "closed", a `closedAt`, and at least one reply (at
  any time), at its `closedAt`; its time is (closedAt - createdAt) in seconds. It counts for
  every user who wrote a reply in that conversation (not for `closedBy`).

Figures of a period (events whose time falls in the period; filters below apply first):
- conversations/new `{start, count}`: conversations whose `createdAt` is in the period.
- conversations/volume-by-channel `{date, chat, email, phone}`: the same, counted by `type`.
- conversations/received-messages `{start, count}`: customer messages.
- productivity/replies-sent `{date, replies}`: replies. user/replies: the user's replies.
- company/customers-helped `{date, customers}`: distinct `primaryCustomer.id` of the conversations
  that got a reply in the period. user/customers-helped: those that got a reply of the user.
- productivity/resolved `{date, resolved}`: resolutions. user/resolutions: resolutions that count
  for the user.
- productivity/first-response-time `{date, time}`: the mean wait of the first responses made in
  the period; productivity/response-time: the mean wait of all responses made in the period;
  productivity/resolution-time: the mean time of the resolutions in the period.
  A mean is `round(sum(seconds) / len(seconds), 2)`, a JSON number with a decimal point
  (e.g. `5400.0`, `1234.57`). With nothing to average: `null` (`report_quiet_time="null"`),
  `0` ("zero"), or no `time` key at all ("absent"). Counts of quiet periods are 0.

Filters (AND across parameters, OR within one list): `mailboxes` (conversation `mailboxId`),
`types` (email, chat, phone), `tags` (tag ids; 1 stands for untagged), `folders` (`folderId`),
and `user` on the user reports. `officeHours` (`true`/`false`, productivity reports only)
changes nothing: the emulator has no office hours.
"""
import calendar
from bisect import bisect_left
from datetime import timedelta

from .dataset import UTC, iso, parse_iso
from .shapes import (JSON, ParamError, Readings, Reply, dumps, error_reply, one_of, parse_date_param, parse_int,
                     parse_int_list)

# path under /v2/reports/ -> (timestamp key, figure)
SERIES = {
    "company/customers-helped": ("date", "customers"),
    "conversations/new": ("start", "new"),
    "conversations/volume-by-channel": ("date", "channels"),
    "conversations/received-messages": ("start", "received"),
    "productivity/first-response-time": ("date", "first-response-time"),
    "productivity/replies-sent": ("date", "replies"),
    "productivity/resolution-time": ("date", "resolution-time"),
    "productivity/resolved": ("date", "resolved"),
    "productivity/response-time": ("date", "response-time"),
    "user/customers-helped": ("date", "customers"),
    "user/replies": ("date", "replies"),
    "user/resolutions": ("date", "resolved"),
}
VIEW_BY = ("day", "week", "month")
CHANNELS = ("chat", "email", "phone")
REPLY_TYPES = ("reply", "chat")
UNTAGGED = 1                       # the tag id that stands for "untagged" (1.0 docs)
WEEK_LIMIT_DAYS = 365              # "at most 1 year", read as 365 days
MONTH_MINIMUM_DAYS = 61


class Events:
    """The dataset's report events, each list sorted by time (epoch seconds), with a parallel
    list of the times for bisecting:
    conversations: conversation id -> (mailboxId, type, primary customer id, tag ids, folderId);
    created (t, conversation id); received (t, conversation id); replies (t, conversation id,
    user id); responses (t, conversation id, user id, wait, first); resolutions (t, conversation
    id, seconds, user ids who replied)."""

    def __init__(self, data):
        self.conversations = {}
        created, received, replies, responses, resolutions = [], [], [], [], []
        for conv in data.conversations:
            if conv["status"] == "spam":
                continue
            cid = conv["id"]
            self.conversations[cid] = (conv["mailboxId"], conv["type"], conv["primaryCustomer"]["id"],
                                       frozenset(t["id"] for t in conv["tags"]), conv["folderId"])
            opened = seconds(conv["createdAt"])
            created.append((opened, cid))
            repliers, waiting, first = set(), None, True
            threads = data.threads.get(cid, ())
            for _, thread in sorted(enumerate(threads), key=lambda pair: (pair[1]["createdAt"], pair[0])):
                if thread.get("state") != "published":
                    continue
                author, moment = thread["createdBy"], seconds(thread["createdAt"])
                if author["type"] == "customer":
                    received.append((moment, cid))
                    if waiting is None:
                        waiting = moment
                elif thread["type"] in REPLY_TYPES:
                    replies.append((moment, cid, author["id"]))
                    repliers.add(author["id"])
                    if waiting is not None:
                        responses.append((moment, cid, author["id"], moment - waiting, first))
                        waiting, first = None, False
            if conv["status"] == "closed" and conv.get("closedAt") and repliers:
                closed = seconds(conv["closedAt"])
                resolutions.append((closed, cid, closed - opened, frozenset(repliers)))
        for name, rows in (("created", created), ("received", received), ("replies", replies),
                           ("responses", responses), ("resolutions", resolutions)):
            rows.sort(key=lambda row: (row[0], row[1]))
            setattr(self, name, rows)
            setattr(self, name + "_times", [row[0] for row in rows])

    def between(self, name, low, high):
        """The events of list `name` with low <= t < high."""
        times = getattr(self, name + "_times")
        return getattr(self, name)[bisect_left(times, low):bisect_left(times, high)]

    def allowed(self, mailboxes=None, types=None, tags=None, folders=None):
        """The conversation ids the filters keep, or None without filters."""
        if mailboxes is None and types is None and tags is None and folders is None:
            return None
        return {cid for cid, (mailbox, kind, _, tag_ids, folder) in self.conversations.items()
                if (mailboxes is None or mailbox in mailboxes) and (types is None or kind in types)
                and (folders is None or folder in folders)
                and (tags is None or bool(tag_ids & tags) or (UNTAGGED in tags and not tag_ids))}


def seconds(text):
    return int(parse_iso(text).timestamp())


def moment(value):
    """A datetime (aware, or naive meaning UTC) or `YYYY-MM-DDTHH:MM:SSZ` text."""
    if isinstance(value, str):
        return parse_iso(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def add_months(start, months):
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return start.replace(year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1]))


def period_start(start, view_by, k):
    if view_by == "day":
        return start + timedelta(days=k)
    if view_by == "week":
        return start + timedelta(days=7 * k)
    return add_months(start, k)


def report_periods(start, end, view_by, end_inclusive=True):
    """[(beginning, stop), ...]: the periods of a report over start..end, each point's
    [beginning, stop) (the last one cut at the range's end: `end` + 1 s when `end_inclusive`,
    else `end`). `start`, `end`: datetimes or `YYYY-MM-DDTHH:MM:SSZ`."""
    start, end = moment(start), moment(end)
    if view_by not in VIEW_BY:
        raise ValueError(f"view_by must be one of {VIEW_BY}")
    stop = end + timedelta(seconds=1) if end_inclusive else end
    periods, k = [], 0
    while True:
        begin = period_start(start, view_by, k)
        if begin >= stop:
            return periods
        periods.append((begin, min(period_start(start, view_by, k + 1), stop)))
        k += 1


def mean(values):
    return round(sum(values) / len(values), 2) if values else None


def series_points(events, endpoint, start, end, view_by, allowed=None, user=None, readings=None):
    """The points of `endpoint` (a key of SERIES) from prepared `Events`."""
    readings = readings or Readings()
    stamp, figure = SERIES[endpoint]
    keep = (lambda cid: True) if allowed is None else allowed.__contains__
    points = []
    for begin, stop in report_periods(start, end, view_by, readings.report_end_inclusive):
        low, high = int(begin.timestamp()), int(stop.timestamp())
        point = {stamp: iso(begin)}
        if figure in ("new", "channels"):
            kinds = [events.conversations[cid][1] for _, cid in events.between("created", low, high) if keep(cid)]
            if figure == "new":
                point["count"] = len(kinds)
            else:
                point.update((channel, kinds.count(channel)) for channel in CHANNELS)
        elif figure == "received":
            point["count"] = sum(1 for _, cid in events.between("received", low, high) if keep(cid))
        elif figure in ("replies", "customers"):
            mine = [cid for _, cid, uid in events.between("replies", low, high)
                    if keep(cid) and (user is None or uid == user)]
            if figure == "replies":
                point["replies"] = len(mine)
            else:
                point["customers"] = len({events.conversations[cid][2] for cid in mine})
        elif figure == "resolved":
            point["resolved"] = sum(1 for _, cid, _, users in events.between("resolutions", low, high)
                                    if keep(cid) and (user is None or user in users))
        else:
            if figure == "resolution-time":
                values = [took for _, cid, took, _ in events.between("resolutions", low, high) if keep(cid)]
            else:
                values = [wait for _, cid, _, wait, first in events.between("responses", low, high)
                          if keep(cid) and (first or figure == "response-time")]
            time = mean(values)
            if time is not None or readings.report_quiet_time == "null":
                point["time"] = time
            elif readings.report_quiet_time == "zero":
                point["time"] = 0
        points.append(point)
    return points


def endpoint_name(endpoint):
    name = endpoint.strip("/")
    for prefix in ("v2/reports/", "reports/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    if name not in SERIES:
        raise ValueError(f"unknown report {endpoint!r}; one of {sorted(SERIES)}")
    return name


def events_of(data):
    """The events of the dataset's current revision, built once per revision (every change
    bumps it), for the HTTP side and report_points alike."""
    cached = getattr(data, "_series_events", None)
    if cached is None or cached[0] != data.revision:
        cached = data._series_events = (data.revision, Events(data))
    return cached[1]


def report_points(data, endpoint, start, end, view_by, mailboxes=None, user=None, readings=None, types=None,
                  tags=None, folders=None):
    """The `current` points the emulator serves for `endpoint` ("productivity/resolved",
    "/v2/reports/user/replies", ...) over start..end (datetimes or `YYYY-MM-DDTHH:MM:SSZ`) by
    `view_by` ("day", "week", "month"), computed from `data` (an `emu.data`) as it is now.
    `mailboxes`, `types`, `tags`, `folders`: collections of ids/names, or None; `user`: a user
    id (required for user/* reports); `readings`: the emulator's `Readings` (`emu.readings`;
    `report_end_inclusive` and `report_quiet_time` matter), default the defaults. No range limits
    are checked here: that is the HTTP side's job."""
    name = endpoint_name(endpoint)
    if view_by not in VIEW_BY:
        raise ValueError(f"view_by must be one of {VIEW_BY}")
    if name.startswith("user/") and user is None:
        raise ValueError("user reports need a user")
    with data.lock:
        events = events_of(data)
        allowed = events.allowed(set(mailboxes) if mailboxes is not None else None,
                                 set(types) if types is not None else None,
                                 set(tags) if tags is not None else None,
                                 set(folders) if folders is not None else None)
        return series_points(events, name, moment(start), moment(end), view_by, allowed,
                             user if name.startswith("user/") else None, readings)


# ------------------------------------------------------------------------------------ HTTP
def check_range(view_by, start, end, readings, names=("start", "end")):
    """The documented `viewBy` limits: `day` at most `report_day_limit` days (60 by the 2.0
    pages, 120 by the 1.0 ones), `week` at most a year (365 days), `month` at least 61 days."""
    length = end - start
    span = f"the range from {names[0]} to {names[1]}"
    if view_by == "day" and length > timedelta(days=readings.report_day_limit):
        message = f"Date range too long for viewBy=day: {span} must be at most {readings.report_day_limit} days"
    elif view_by == "week" and length > timedelta(days=WEEK_LIMIT_DAYS):
        message = f"Date range too long for viewBy=week: {span} must be at most 1 year"
    elif view_by == "month" and length < timedelta(days=MONTH_MINIMUM_DAYS):
        message = f"Date range too short for viewBy=month: {span} must be at least {MONTH_MINIMUM_DAYS} days"
    else:
        return
    raise ParamError("viewBy", message, view_by)


def parse_range(query, first, last):
    begin, end = parse_date_param(first, query[first]), parse_date_param(last, query[last])
    if end < begin:
        raise ParamError(last, f"{last} must not be before {first}", query[last])
    return begin, end


def time_series(api, endpoint, query):
    """Answer `GET /v2/reports/<endpoint>` (the plan was checked by the router). Missing or
    invalid parameters, a range beyond the `viewBy` limits, only one of previousStart and
    previousEnd, a bad `officeHours`: 400 vnd.error. An unknown `user`: 404; a user in
    `report_refused_users`: 403."""
    readings = api.readings
    missing = [ParamError(name, "Required parameter is missing", None) for name in ("start", "end")
               if name not in query]
    if missing:
        return error_reply(400, "Bad request", missing)
    start, end = parse_range(query, "start", "end")
    if "viewBy" not in query:
        # the default is undocumented: refusing its absence is the only safe reading
        raise ParamError("viewBy", "Required parameter is missing", None)
    view_by = one_of("viewBy", query["viewBy"], VIEW_BY)
    check_range(view_by, start, end, readings)
    previous = None
    if ("previousStart" in query) != ("previousEnd" in query):
        lacking = "previousEnd" if "previousStart" in query else "previousStart"
        raise ParamError(lacking, "previousStart and previousEnd must be sent together", None)
    if "previousStart" in query:
        previous = parse_range(query, "previousStart", "previousEnd")
        check_range(view_by, previous[0], previous[1], readings, ("previousStart", "previousEnd"))
    mailboxes = parse_int_list("mailboxes", query["mailboxes"]) if query.get("mailboxes") else None
    tags = parse_int_list("tags", query["tags"]) if query.get("tags") else None
    folders = parse_int_list("folders", query["folders"]) if query.get("folders") else None
    types = {one_of("types", t, CHANNELS) for t in query["types"].split(",")} if query.get("types") else None
    if endpoint.startswith("productivity/") and "officeHours" in query:
        one_of("officeHours", query["officeHours"], ("true", "false"))    # no office hours: no effect
    user = None
    if endpoint.startswith("user/"):
        if "user" not in query:
            raise ParamError("user", "Required parameter is missing", None)
        user = parse_int("user", query["user"])
        if api.data.user(user) is None:
            return error_reply(404, "User not found")
        if user in readings.report_refused_users:
            return error_reply(403, "Access denied: you may not view this user's reports")
    with api.data.lock:
        events = cached_events(api)
        allowed = events.allowed(mailboxes, types, tags, folders)
        body = {"current": series_points(events, endpoint, start, end, view_by, allowed, user, readings)}
        if previous is not None:
            body["previous"] = series_points(events, endpoint, previous[0], previous[1], view_by, allowed, user,
                                             readings)
    return Reply(200, dumps(body), JSON)


def cached_events(api):
    """The events of the dataset's current revision (every change bumps the revision)."""
    return events_of(api.data)


__all__ = ["SERIES", "VIEW_BY", "Events", "report_periods", "report_points", "time_series"]
