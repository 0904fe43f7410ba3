"""`--check`: a pre-flight check in a handful of requests, for a person before a backfill or a
scheduler before each sync: the inputs as a sync reads them, the credentials, the plan, the rate
limit, the sizes that decide a sync's cost and the estimate of it; every problem with what to
do, exit code 0 when a sync can run. docs/design/command-line.md tells why the requests come in
this order.
"""
import json
import sys

from tap_helpscout import logs
from tap_helpscout.api.mailbox import HelpScoutClient
from tap_helpscout.api.pages import PageError, array_or_hal_page, hal_page, report_page
from tap_helpscout.cli import estimate
from tap_helpscout.cli.check_docs import check_docs
from tap_helpscout.cli.check_text import human_text
from tap_helpscout.cli.inputs import load_catalog, load_config, load_state, require_selection
from tap_helpscout.errors import ApiError, AuthError, PermissionDenied, TapError
from tap_helpscout.streams import EMBEDDED_THREADS_CAP, MAILBOX, STREAMS, threads_truncated
from tap_helpscout.sync import bookmarks, report_days
from tap_helpscout.sync.state import prepare
from tap_helpscout.timefmt import api_time, parse_date_time, utc_now

MAX_REQUESTS = 16
# A check is asked for an answer now: an API out of reach is given up on within seconds, not
# after the two minutes of a sync's retries.
CHECK_TRIES = 3
SAMPLE_PAGES = 8                       # conversation pages sampled, page 1 included
KEYS = ("ok", "user", "mailboxes", "reports_available", "rate_limit_per_minute", "conversations",
        "customers", "estimated_requests", "estimated_minutes", "docs", "problems")
REPORT = "happiness_ratings_report"
REPORTS = (REPORT, "report_daily", "report_user_daily")      # refused together on a plan without reports


class Stop(Exception):
    """Nothing more can be learned (credentials refused, API out of reach): report now."""


class Check:
    def __init__(self, config, config_path, selected, state, catalog_given, client):
        self.config = config
        self.config_path = config_path
        self.selected = selected
        self.state = state
        self.catalog_given = catalog_given
        self.client = client
        self.result = {key: None for key in KEYS}
        self.result["problems"] = []
        self.notes = []
        self.sizes = estimate.Sizes()
        self.sample = None              # (pages, conversations, chats, at cap, truncated)
        self.cost = {}
        self.reports_refused_401 = False
        self.report_ratings = None
        self.mailbox_ids = []
        self.first_conversations = None
        self.start = self.start_date()

    # -- the requests ---------------------------------------------------------------------------
    def spent(self):
        stats = self.client.stats
        return stats.requests + stats.token_requests

    def can_spend(self, requests=1):
        return self.spent() + requests <= MAX_REQUESTS

    def get(self, path, params=None, endpoint=None):
        """The answer; a refusal of the credentials (or any error that stops a sync) ends the
        check. After a 401 on the report it also settles that 401: the credentials, not the plan."""
        try:
            return self.client.get(path, params or {}, endpoint=endpoint or path.strip("/"))
        except ApiError as exc:
            if not exc.fatal:
                raise
            self.reports_refused_401 = False
            self.problem(str(exc))
            raise Stop() from None

    def run(self):
        try:
            self.whoami()
            self.report()
            self.mailboxes()
            self.conversations()
            self.customers()
            self.small_sizes()
        except Stop:
            pass
        except TapError as exc:          # the token cannot be stored, a lock not taken
            self.problem(str(exc))
        self.conclude()
        return self.result

    def whoami(self):
        me = self.get("/users/me", endpoint="users/me").json
        self.result["user"] = _user(me)
        self.app_credentials()

    def app_credentials(self):
        """Prove client_id and client_secret even when a stored access token still works (then
        no refresh proved them, and a wrong secret would show only at the next refresh, days
        later): the client-credentials grant asks the token endpoint about them alone, without
        touching the refresh token."""
        config = self.config
        if not (config.get("client_id") and config.get("client_secret")) or self.client.refresh_count:
            return
        try:
            self.client.post_token({"grant_type": "client_credentials", "client_id": config["client_id"],
                                    "client_secret": config["client_secret"]})
        except AuthError as exc:
            self.problem(str(exc))

    def report(self):
        start = self.report_start()
        params = {"start": api_time(start), "end": api_time(utc_now()), "rating": "all", "page": "1"}
        try:
            answer = self.client.get(STREAMS[REPORT].path, params, endpoint=REPORT)
        except PermissionDenied:
            self.result["reports_available"] = False
            return
        except AuthError as exc:
            if exc.status != 401 or exc.endpoint == "oauth2/token":
                self.problem(str(exc))
                raise Stop() from None
            # Settled by the next request, which carries the fresh token refused on the retry.
            self.reports_refused_401 = True
            return
        except ApiError as exc:
            if exc.fatal:
                self.problem(str(exc))
                raise Stop() from None
            self.listing_failed(REPORT, exc)
            return
        try:
            page = report_page(answer.json, STREAMS[REPORT].records_key, 1, None)
        except PageError as exc:
            self.listing_failed(REPORT, exc)
            return
        self.result["reports_available"] = True
        self.sizes.report_pages = page.pages
        self.report_ratings = page.total

    def after_first_listing(self):
        if self.reports_refused_401:
            # A fresh token refused on the report works on a listing: the plan lacks reports.
            self.reports_refused_401 = False
            self.result["reports_available"] = False

    def listing(self, stream_name, path, params, records_key, size=estimate.PAGE, bare_array=False):
        """Page 1 of a listing as a Page, or None when it failed (a problem if selected)."""
        try:
            answer = self.get(path, {**params, "page": "1"}, endpoint=stream_name)
            self.after_first_listing()
            parse = array_or_hal_page if bare_array else hal_page
            return parse(answer.json, records_key, 1, size)
        except (ApiError, PageError) as exc:
            self.listing_failed(stream_name, exc)
            return None

    def mailboxes(self):
        page = self.listing("mailboxes", "/mailboxes", {}, "mailboxes")
        if page is not None:
            self.sizes.mailboxes = self.result["mailboxes"] = page.total
            self.mailbox_ids = [i.get("id") for i in page.items if isinstance(i, dict)]
            if page.total == 0:
                self.notes.append("the token sees no mailbox: authorize as a user who can see the "
                                  "mailboxes to extract (run --authorize again)")

    def conversation_params(self):
        stream = STREAMS["conversations"]
        params = {**stream.params, "sortField": stream.sort_field, "sortOrder": "asc",
                  "modifiedSince": api_time(self.since("conversations", "conversation_threads"))}
        if "conversation_threads" in self.selected:
            params["embed"] = "threads"
        return params

    def conversations(self):
        params = self.conversation_params()
        first = self.listing("conversations", "/conversations", params, "conversations",
                             estimate.CONVERSATIONS_PAGE)
        if first is None:
            return
        self.sizes.conversations = self.result["conversations"] = first.total
        self.first_conversations = first

    def customers(self):
        stream = STREAMS["customers"]
        params = {"sortField": stream.sort_field, "sortOrder": "asc",
                  "modifiedSince": api_time(self.since("customers"))}
        page = self.listing("customers", "/customers", params, "customers")
        if page is not None:
            self.sizes.customers = self.result["customers"] = page.total

    def small_sizes(self):
        """The sizes worth a request, most costly first, while the budget lasts."""
        daily_users = "report_user_daily" in self.selected      # each user costs requests per window
        for name in ("users",) * daily_users + ("teams",) * ("team_members" in self.selected):
            if self.can_spend():
                stream = STREAMS[name]
                page = self.listing(name, stream.path, stream.params, stream.records_key)
                setattr(self.sizes, name, page.total if page else None)
        ids = self.mailbox_ids
        if ("saved_replies" in self.selected and self.config.get("fetch_saved_reply_text") and ids
                and self.can_spend()):
            stream = STREAMS["saved_replies"]
            page = self.listing("saved_replies", stream.path.format(parent_id=ids[0]), stream.params,
                                stream.records_key, bare_array=True)
            self.sizes.saved_replies_per_mailbox = page.total if page else None
        self.sample_conversations()
        for name in ("organizations",) + ("users",) * (not daily_users) + ("tags",):
            if name in self.selected and self.can_spend():
                stream = STREAMS[name]
                page = self.listing(name, stream.path, stream.params, stream.records_key)
                setattr(self.sizes, name, page.total if page else None)

    def sample_conversations(self):
        """Chats (and conversations at the embedded cap) from page 1 and pages spread over the
        listing: one page of 25 measures their share only roughly."""
        first = self.first_conversations
        if first is None or "conversation_threads" not in self.selected:
            return
        numbers = spread(first.pages, SAMPLE_PAGES)
        sampled = [first]
        params = self.conversation_params()
        for number in numbers[1:]:
            if not self.can_spend():
                break
            try:
                answer = self.get("/conversations", {**params, "page": str(number)}, endpoint="conversations")
                sampled.append(hal_page(answer.json, "conversations", number, estimate.CONVERSATIONS_PAGE))
            except (ApiError, PageError):
                break                   # page 1 is enough for a rough share
        items = [i for page in sampled for i in page.items if isinstance(i, dict)]
        chats = at_cap = truncated = 0
        pages_needed = 0
        for item in items:
            embedded = (item.get("_embedded") or {}).get("threads") if isinstance(item.get("_embedded"), dict) else None
            chats += item.get("type") == "chat"
            at_cap += isinstance(embedded, list) and len(embedded) >= EMBEDDED_THREADS_CAP
            if not isinstance(embedded, list) or threads_truncated(item, embedded):
                truncated += 1
                pages_needed += estimate.thread_pages(item.get("threads"), len(embedded or ()))
        if items:
            self.sizes.truncated_share = truncated / len(items)
            self.sizes.thread_pages = pages_needed / truncated if truncated else 1.0
        self.sample = (len(sampled), len(items), chats, at_cap, truncated)

    # -- the conclusion ---------------------------------------------------------------------------
    def conclude(self):
        result = self.result
        if result["reports_available"] is False:
            reports = [name for name in REPORTS if name in self.selected] or [REPORT]
            if set(reports) & self.selected and self.catalog_given:
                self.problem(f"{', '.join(reports)} {'is' if len(reports) == 1 else 'are'} selected, but the "
                             f"account's Help Scout plan has no reports (the report was refused): deselect "
                             f"{'it' if len(reports) == 1 else 'them'} in the catalog (a sync would skip "
                             f"{'it' if len(reports) == 1 else 'them'} with a warning), or move to the Plus or Pro plan")
            else:
                self.notes.append(f"the account's plan has no reports: a sync skips {', '.join(reports)} with a "
                                  f"warning (deselect {'it' if len(reports) == 1 else 'them'} in the catalog)")
        limit = self.client.rate_limit_per_minute
        result["rate_limit_per_minute"] = limit
        if all(result[key] is not None for key in ("user", "mailboxes", "conversations", "customers")):
            self.sizes.report_days = self.daily_report_days()
            self.cost = estimate.requests_by_family(self.selected, self.sizes,
                                                    bool(self.config.get("fetch_saved_reply_text")), self.config)
            result["estimated_requests"] = sum(self.cost.values())
            result["estimated_minutes"] = estimate.minutes(result["estimated_requests"], self.pace())
        result["ok"] = not result["problems"]

    def pace(self):
        """Requests per minute a sync will make: the account's limit, or the cap below it."""
        rates = [r for r in (self.client.rate_limit_per_minute, self.config.get("max_requests_per_minute")) if r]
        return min(rates) if rates else None

    def problem(self, text):
        if text not in self.result["problems"]:
            self.result["problems"].append(text)

    def listing_failed(self, stream_name, exc):
        if stream_name in self.selected or stream_name in ("mailboxes", "conversations", "customers"):
            self.problem(f"{stream_name}: {exc}; a sync would fail that stream: look at the message, "
                         f"or deselect the stream")

    # -- where a sync would start (the sync's own rules) ----------------------------------------
    def start_date(self):
        return bookmarks.start_date(self.config, self.state, utc_now())[0]

    def since(self, *names):
        """The earliest bookmark of these streams (the start date without one)."""
        streams = [STREAMS[n] for n in ([n for n in names if n in self.selected] or names)]
        return bookmarks.listing_since(self.state["bookmarks"], streams, self.start)

    def daily_report_days(self):
        """Days of daily figures a sync reads per scope: from the start date, or from the
        earliest scope's bookmark less the lookback (the sync's own rules)."""
        today = report_days.day_of(utc_now())
        lookback = int(self.config.get("report_daily_lookback_days") or 0)
        firsts = []
        for name in ("report_daily", "report_user_daily"):
            scopes = (self.state["bookmarks"].get(name) or {}).get("scopes") or {}
            firsts += [report_days.first_day(self.start, parse_date_time(v), lookback) for v in scopes.values()]
        first = min(firsts) if firsts else report_days.day_of(self.start)
        return report_days.day_count(first, today)

    def report_start(self):
        return bookmarks.report_start(self.state["bookmarks"].get(REPORT), self.start,
                                      self.config.get("report_lookback_days"))[0]

    def incremental(self):
        return any(value for value in self.state["bookmarks"].values())


def spread(total_pages, count):
    """`count` page numbers spread over 1..total_pages, page 1 and the last one included."""
    if total_pages <= count:
        return list(range(1, total_pages + 1)) or [1]
    return sorted({1 + round((total_pages - 1) * i / (count - 1)) for i in range(count)})


def _user(me):
    if not isinstance(me, dict):
        return None
    name = " ".join(str(me[k]) for k in ("firstName", "lastName") if me.get(k)) or None
    return {"id": me.get("id"), "name": name, "email": me.get("email")}


# -- the command --------------------------------------------------------------------------------------

def run_check(args, loaded=None):
    """`--check`: prints the report (text, or JSON with --json) on stdout; the exit code."""
    result = {key: None for key in KEYS}
    result["problems"] = []
    check, docs_notes = None, []
    try:
        config = load_config(args.config)
        if loaded is not None:
            loaded["config"] = config
        if args.catalog and args.properties:
            raise TapError("give the catalog with --catalog or with --properties, not both")
        catalog_path = args.catalog or args.properties
        catalog = load_catalog(catalog_path) if catalog_path else None
        if catalog is not None:
            require_selection(catalog, catalog_path)
        state = prepare(load_state(args.state) if args.state else {}, STREAMS,
                        f'state file "{args.state}"')
    except TapError as exc:
        result["problems"].append(str(exc))
        result["ok"] = False
    else:
        selected = ({e.tap_stream_id for e in catalog.streams if e.is_selected()} if catalog
                    else set(STREAMS))
        if catalog is None and not (config.get("client_id") or config.get("access_token")):
            selected = {name for name in selected if STREAMS[name].api != MAILBOX}   # a Docs-only config
        # Its per-request METRIC lines would bury the report's few lines; warnings stay.
        logs.only_warnings()
        if any(STREAMS[name].api == MAILBOX for name in selected) or not config.get("docs_api_key"):
            try:
                client = HelpScoutClient(config, args.config, max_tries=CHECK_TRIES)
            except TapError as exc:
                result["problems"].append(str(exc))
                result["ok"] = False
            else:
                try:
                    check = Check(config, args.config, selected, state, catalog is not None, client)
                    result = check.run()
                finally:
                    client.close()
        docs, problems, docs_notes = check_docs(config, selected, state, catalog is not None, CHECK_TRIES)
        result["docs"] = docs
        result["problems"] += [p for p in problems if p not in result["problems"]]
        result["ok"] = not result["problems"]
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        sys.stdout.write(human_text(result, check, args, docs_notes))
    sys.stdout.flush()
    return 0 if result["ok"] else 1
