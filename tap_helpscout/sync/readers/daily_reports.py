"""DAILY_REPORTS: time-series reports by day (`viewBy=day`), one row per day and scope, joined from
the stream's `series` of endpoints: scope 0 (the whole account) and each mailbox for
report_daily, each user for report_user_daily (read in report_daily's family, after it).

Each scope keeps its own bookmark (`scopes`: scope id -> the last day read), so a scope that
appears later gets its history from the start date; a run reads from there less
`report_daily_lookback_days`, up to the server's today, in windows of report_days.WINDOW_DAYS.
A window the API refuses as too long (400) is read in halves, and so are the later ones. A
refusal of one user's reports (403, 404) skips that user with a warning; a refusal of reports
themselves (the plan) goes to the engine, which skips the family with one warning. Requests run
on the pool, a few windows ahead; rows are written window by window, the bookmark after them.
"""
import threading
from collections import deque
from datetime import datetime, timezone

from tap_helpscout.errors import ApiError, MalformedAnswer, PermissionDenied
from tap_helpscout.logs import get_logger
from tap_helpscout.streams import STREAMS
from tap_helpscout.sync import report_days
from tap_helpscout.sync.readers.whole import warn_no_server_clock
from tap_helpscout.timefmt import api_time, format_date_time, parse_date_time, utc_now

LOGGER = get_logger(__name__)
ACCOUNT = 0                       # the scope of every mailbox together


class Reader:
    def __init__(self, context):
        self.context = context
        self.stream = context.stream
        self.family = context.family
        self.columns = report_days.columns_of(self.stream.series)
        self.refused_days = None          # the shortest window length the API refused (days)
        self.lock = threading.Lock()
        self.reports_work = False         # a report request of this run was answered

    def run(self):
        if self.family.is_selected(self.stream):
            self.read()
        for child in self.context.children:      # report_user_daily, after report_daily
            child.reports_work = child.reports_work or self.reports_work
            child.run()

    # -- planning ----------------------------------------------------------------------------------

    def scopes(self):
        """The scope ids: 0 (when the stream has it), then the rows of the scopes' listing."""
        context, stream = self.context, self.stream
        ids = [ACCOUNT] if stream.whole_account else []
        if stream.scopes_setting and not context.config.get(stream.scopes_setting):
            return ids
        listing_stream = STREAMS[stream.scopes]
        listing = context.fetcher.read_all(listing_stream, listing_stream.path, listing_stream.params,
                                           parallel=True)
        for item in listing.items:
            # Users only: a team is no user (the users listing is not documented to hold any).
            if isinstance(item, dict) and isinstance(item.get("id"), int) and item.get("type") != "team":
                ids.append(item["id"])
        return ids

    def units(self, scopes, bookmarks, now):
        """(scope, first day, last day) of every window to read, scope by scope, oldest first."""
        lookback = int(self.context.config.get("report_daily_lookback_days") or 0)
        today = report_days.day_of(now)
        for scope in scopes:
            last = bookmarks.get(str(scope))
            first = report_days.first_day(self.context.clock.start_date,
                                          parse_date_time(last) if last else None, lookback)
            for window in report_days.plan_windows(first, today):
                yield (scope, *window)

    # -- requests ----------------------------------------------------------------------------------

    def params(self, series, scope, start, end):
        params = {"start": api_time(start), "end": api_time(end), "viewBy": "day"}
        if scope != ACCOUNT:
            params[self.stream.scope_param] = str(scope)
        if series.office_hours and self.context.config.get("report_office_hours"):
            params["officeHours"] = "true"
        return params

    def points(self, series, scope, first, last, now):
        """The points of one endpoint for the days first..last; a range refused as too long is
        asked for in halves (and every later one of that length too)."""
        with self.lock:
            refused = self.refused_days
        days = report_days.day_count(first, last)
        if refused is not None and days >= refused and days > 1:
            return self.in_halves(series, scope, first, last, now)
        start, end = report_days.request_range(first, last, now)
        try:
            response = self.context.client.get(series.path, self.params(series, scope, start, end),
                                               endpoint=self.stream.name)
        except ApiError as exc:
            if exc.status != 400 or days == 1:
                raise
            with self.lock:
                if self.refused_days is None or days < self.refused_days:
                    LOGGER.info("%s: the API refused %d days of daily figures at once (HTTP 400); asking for "
                                "fewer days at a time", self.stream.name, days)
                    self.refused_days = days
            return self.in_halves(series, scope, first, last, now)
        body = response.json
        current = body.get(self.stream.records_key) if isinstance(body, dict) else None
        if not isinstance(current, list):
            raise MalformedAnswer(f"{self.stream.name}: the answer to {series.path} has no list of points "
                                  f"`{self.stream.records_key}`; the stream is read again next run",
                                  endpoint=series.path)
        return current

    def in_halves(self, series, scope, first, last, now):
        (a, b), (c, d) = report_days.halves(first, last)
        return self.points(series, scope, a, b, now) + self.points(series, scope, c, d, now)

    def unit(self, scope, first, last, now):
        """The futures of one window: one per endpoint."""
        pool = self.context.workers.pool
        return [pool.submit(self.points, series, scope, first, last, now) for series in self.stream.series]

    # -- the read ----------------------------------------------------------------------------------

    def read(self):
        context, stream, family = self.context, self.stream, self.family
        bookmark = context.bookmarks.of(stream.name)
        read_until = bookmark.setdefault("scopes", {})
        scopes = self.scopes()
        server_now = context.client.server_now()
        now = server_now or utc_now()
        current = [str(scope) for scope in scopes]
        planned = list(self.units(scopes, dict(read_until), now))
        context.total(stream, sum(report_days.day_count(first, last) for _, first, last in planned))
        units = iter(planned)
        ahead = max(2, -(-2 * context.workers.parallel // len(stream.series)))
        pending, skipped, clockless = deque(), set(), False
        try:
            while True:
                while len(pending) < ahead:
                    unit = next(units, None)
                    if unit is None:
                        break
                    if unit[0] not in skipped:
                        pending.append((unit, self.unit(*unit, now)))
                if not pending:
                    break
                (scope, first, last), futures = pending.popleft()
                if scope in skipped:
                    continue
                fetched_at = datetime.now(timezone.utc)
                try:
                    answers = [(series, future.result()) for series, future in zip(stream.series, futures)]
                except ApiError as exc:
                    if not self.skips_scope(scope, exc, now):
                        raise
                    skipped.add(scope)
                    continue
                self.reports_work = True
                try:
                    rows = report_days.join_points(answers, first, last, self.columns)
                except report_days.BadPoint as exc:
                    raise MalformedAnswer(f"{stream.name}: {exc} in the daily figures of {api_time(first)} to "
                                          f"{api_time(last)}; the stream is read again next run") from None
                family.emit_items(stream, list(rows.values()), fetched_at, scope)
                clock = context.client.server_now()
                if rows and clock is not None:
                    # The last day read, never later than the server's today.
                    latest = min(parse_date_time(max(rows)), report_days.day_of(clock))
                    read_until[str(scope)] = format_date_time(latest)
                    # The stream's own bookmark: the earliest of its current scopes' (informative).
                    bookmark[stream.replication_key] = min((read_until[key] for key in current if key in read_until),
                                                           key=parse_date_time)
                elif rows:
                    clockless = True
                context.checkpoint(stream)
        finally:
            for _, futures in pending:
                for future in futures:
                    future.cancel()
        if clockless:
            warn_no_server_clock(stream, bookmark.get(stream.replication_key))

    def skips_scope(self, scope, exc, now):
        """Whether a refusal concerns this scope alone (a user whose reports the token may not
        see, 403, or who is gone, 404): then it is skipped with a warning. A 403 before any
        report of the run was answered is checked on the account's figures first: refused
        there too, it is the plan's, and goes to the engine."""
        if scope == ACCOUNT or exc.status not in (403, 404):
            return False
        if exc.status == 403 and not self.reports_work:
            probe = self.family.root.series[0]        # an account-wide report (report_daily's)
            today = report_days.day_of(now)
            try:
                self.context.client.get(probe.path, self.params(probe, ACCOUNT, *report_days.request_range(
                    today, today, now)), endpoint=self.stream.name)
            except PermissionDenied:
                return False
            self.reports_work = True
        LOGGER.warning("%s: skipping %s %s: %s; the next run asks again", self.stream.name,
                       self.stream.parent_id_column.replace("_id", ""), scope, exc)
        return True
