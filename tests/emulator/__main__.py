"""Run the emulator from the command line until killed:

    python -m tests.emulator --port 0 --seed 1 --conversations 500

The first line on stdout is the base URL (e.g. http://127.0.0.1:41234/v2). With
`--config-out PATH` a tap config (client_id, client_secret, refresh_token, base_url, start_date,
docs_api_key, docs_base_url) is written there before the URL is printed, so a script can wait for the line and then run
the tap with that file.
"""
import argparse
import json
import signal
import sys
import threading
from datetime import datetime, timezone

from .oauth import DEFAULT_REDIRECT_URI
from .server import Emulator


def parse_latency(text):
    if "," in text:
        low, high = text.split(",", 1)
        return (float(low), float(high))
    return float(text)


def parse_drift(text):
    """"every=N,modify=a,create=b,delete=c" """
    if not text:
        return None
    return {key: int(value) for key, value in (part.split("=", 1) for part in text.split(","))}


def parse_docs_rate_limit(text):
    """A number, "sites" (by the number of sites, as documented) or "none" (no limit)."""
    if text in ("sites", "none"):
        return None if text == "none" else text
    return int(text)


def add_docs_options(parser):
    docs = parser.add_argument_group("Docs API (served under /docs-api/v1; see README.md)")
    docs.add_argument("--docs-sites", type=int, default=2)
    docs.add_argument("--docs-collections", type=int, default=4)
    docs.add_argument("--docs-categories", type=int, default=4, help="named categories per collection")
    docs.add_argument("--docs-articles", type=int, default=300, help="0: no knowledge base")
    docs.add_argument("--docs-api-key", help="default: a random 40-hex key")
    docs.add_argument("--docs-rate-limit", type=parse_docs_rate_limit, default="sites",
                      help='requests per 10 (scaled) minutes, "sites" (2000/3000/4000 by sites) or "none"')
    docs.add_argument("--docs-key-forbidden", action="store_true", help="the key's user lacks Docs permission: 403")
    docs.add_argument("--docs-sites-envelope", choices=["wrapped", "bare"], default="wrapped")
    docs.add_argument("--docs-new-article-updated-at", choices=["null", "created"], default="null")
    docs.add_argument("--docs-page-size-over-100", choices=["reject", "clamp"], default="reject")
    docs.add_argument("--docs-unstable-ties", action="store_true", help="tied rows in a new order per request")
    docs.add_argument("--docs-views-touch-updated-at", action="store_true")
    docs.add_argument("--docs-null-updated-at-sort", choices=["lowest", "created"], default="lowest")
    docs.add_argument("--docs-uncategorized-in-categories", action="store_true",
                      help="an article in no category lists the Uncategorized category's id")


def docs_options(args):
    return {name: value for name, value in vars(args).items() if name.startswith("docs_")}


def parse_ids(text):
    """"123,456" -> (123, 456)"""
    return tuple(int(part) for part in text.split(",") if part.strip())


def parse_moment(text):
    """YYYY-MM-DDTHH:MM:SSZ -> an aware datetime"""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.emulator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--mailboxes", type=int, default=3)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--teams", type=int, default=3)
    parser.add_argument("--workflows", type=int, default=6)
    parser.add_argument("--ratings", type=int, default=50)
    parser.add_argument("--chat-fraction", type=float, default=0.2)
    parser.add_argument("--plan", choices=["standard", "plus", "pro"], default="plus")
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per (scaled) minute")
    parser.add_argument("--rate-window", choices=["fixed", "sliding"], default="fixed",
                        help="fixed: the budget comes back when the window ends; sliding: over the last minute")
    parser.add_argument("--time-scale", type=float, default=1.0, help="a minute lasts 60*SCALE seconds")
    parser.add_argument("--latency", type=parse_latency, default=0.0, help="seconds, or MIN,MAX")
    parser.add_argument("--token-lifetime", type=int, default=172800)
    parser.add_argument("--drift", type=parse_drift, default=None, help="every=N,modify=A,create=B,delete=C")
    parser.add_argument("--organizations", type=int, default=5)
    parser.add_argument("--tags-never-updated", type=int, default=0, help="generated tags without updatedAt")
    parser.add_argument("--redirect-uri", default=DEFAULT_REDIRECT_URI,
                        help="where the authorization page redirects when the request names none")
    parser.add_argument("--recent-conversations", type=int, default=0,
                        help="more conversations with their activity in the last --recent-days days")
    parser.add_argument("--recent-days", type=int, default=400, help="how far back the recent conversations go")
    parser.add_argument("--long-threads", type=float, default=None,
                        help="share of email and phone conversations with 26 to 120 threads (default: 4%% with 26-50)")
    parser.add_argument("--recent-until", type=parse_moment, default=None,
                        help="YYYY-MM-DDTHH:MM:SSZ where the recent window ends (default: today 00:00:00Z)")
    strict = parser.add_argument_group("stricter readings of the API (all off by default; see README.md)")
    strict.add_argument("--customer-sort-strict", action="store_true",
                        help="/customers accepts only sortField score, firstName, lastName, modifiedAt")
    strict.add_argument("--thread-count-published-only", action="store_true",
                        help="`threads` counts neither line items nor drafts")
    strict.add_argument("--unstable-ties", action="store_true", help="tied rows in a new order per request")
    strict.add_argument("--report-rating-default", choices=["great", "ok", "not-good", "all"],
                        help="the ratings report's `rating` when the request has none")
    strict.add_argument("--reports-status", type=int, default=403, help="reports' status on the Standard plan")
    strict.add_argument("--max-page-depth", type=int, help="deepest page of /conversations and /customers")
    strict.add_argument("--index-lag-seconds", type=float, default=0, help="changes reach listings this late")
    strict.add_argument("--query-ranges", action="store_true", help="support `query` ranges")
    strict.add_argument("--saved-replies-hal", action="store_true", help="saved replies as a HAL page")
    strict.add_argument("--report-day-limit", type=int, default=60,
                        help="longest range in days of a time-series report by day (60; 120 the older reading)")
    strict.add_argument("--report-end-inclusive", action=argparse.BooleanOptionalAction, default=True,
                        help="a time-series report's `end` second belongs to the range (default yes)")
    strict.add_argument("--report-quiet-time", choices=["null", "zero", "absent"], default="null",
                        help="`time` of a report period with nothing to average")
    strict.add_argument("--report-refused-users", type=parse_ids, default=(),
                        help="ID,ID,...: user ids whose user reports answer 403")
    strict.add_argument("--organization-list-counts", action=argparse.BooleanOptionalAction, default=True,
                        help="/organizations items carry customerCount, conversationCount, lastInteractionAt"
                             " (--no-organization-list-counts: the documentation's list, without them)")
    add_docs_options(parser)
    parser.add_argument("--client-id")
    parser.add_argument("--client-secret")
    parser.add_argument("--refresh-token")
    parser.add_argument("--start-date", default="2019-01-01T00:00:00Z", help="start_date written to --config-out")
    parser.add_argument("--config-out", help="write a tap config JSON with the credentials here")
    args = parser.parse_args(argv)

    emu = Emulator(seed=args.seed, conversations=args.conversations, customers=args.customers,
                   mailboxes=args.mailboxes, users=args.users, teams=args.teams, workflows=args.workflows,
                   ratings=args.ratings, chat_fraction=args.chat_fraction, plan=args.plan,
                   rate_limit=args.rate_limit, rate_window=args.rate_window, time_scale=args.time_scale,
                   latency=args.latency, token_lifetime=args.token_lifetime, drift=args.drift, host=args.host,
                   port=args.port, client_id=args.client_id, client_secret=args.client_secret,
                   refresh_token=args.refresh_token, organizations=args.organizations,
                   tags_never_updated=args.tags_never_updated, redirect_uri=args.redirect_uri,
                   customer_sort_strict=args.customer_sort_strict,
                   thread_count_published_only=args.thread_count_published_only, unstable_ties=args.unstable_ties,
                   report_rating_default=args.report_rating_default, reports_status=args.reports_status,
                   max_page_depth=args.max_page_depth, index_lag_seconds=args.index_lag_seconds,
                   query_ranges=args.query_ranges, saved_replies_hal=args.saved_replies_hal,
                   report_day_limit=args.report_day_limit, report_end_inclusive=args.report_end_inclusive,
                   report_quiet_time=args.report_quiet_time, report_refused_users=args.report_refused_users,
                   organization_list_counts=args.organization_list_counts,
                   recent_conversations=args.recent_conversations, recent_days=args.recent_days,
                   recent_until=args.recent_until, long_threads=args.long_threads,
                   **docs_options(args)).start()
    if args.config_out:
        with open(args.config_out, "w", encoding="utf-8") as handle:
            json.dump({"client_id": emu.client_id, "client_secret": emu.client_secret,
                       "refresh_token": emu.refresh_token, "base_url": emu.base_url,
                       "start_date": args.start_date, "docs_api_key": emu.docs_api_key,
                       "docs_base_url": emu.docs_base_url}, handle, indent=2)
    print(emu.base_url, flush=True)
    print(f"emulator: {len(emu.data.conversations)} conversations, {len(emu.data.customers)} customers, "
          f"plan {emu.plan}; token endpoint {emu.base_url}/oauth2/token; authorization page {emu.authorize_url}; "
          f"Docs API {emu.docs_base_url}",
          file=sys.stderr, flush=True)

    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
