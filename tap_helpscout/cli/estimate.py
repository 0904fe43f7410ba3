"""What a sync will cost, in requests, from the sizes of an account that `--check` measured: the
readers' rules (sync/readers/, streams.threads_truncated) as arithmetic, with no I/O. The rules:
one request per page of conversations (plus two), one thread listing per conversation whose
embedded threads may be incomplete, about one request per 49 customers in the keyset chain, the
small listings' pages, one listing per parent for each child stream, the report's pages; for
the daily reports, one request per scope, endpoint and window of days, and for organizations in
full, one more per organization.
"""
import math
from dataclasses import dataclass
from typing import Optional

from tap_helpscout.streams import PAGE_SIZE, STREAMS
from tap_helpscout.sync import report_days
from tap_helpscout.sync.readers import date_windows

CONVERSATIONS_PAGE = STREAMS["conversations"].page_size
PAGE = PAGE_SIZE
THREADS_PAGE = STREAMS["conversation_threads"].page_size
CUSTOMERS_PER_REQUEST = PAGE - 1
REPORT_MAX_PAGES = date_windows.MAX_PAGES
# Families: a root stream and its children, read together (engine.Family).
MAILBOX_CHILDREN = ("mailbox_fields", "mailbox_folders", "saved_replies")
SMALL = ("users", "workflows", "tags", "organizations", "customer_properties")


@dataclass
class Sizes:
    """What the check measured; None where it did not (then one page is assumed)."""
    conversations: int = 0
    customers: int = 0
    mailboxes: int = 0
    truncated_share: float = 0.0        # conversations whose thread list is read separately
    thread_pages: float = 1.0           # pages of a thread list, on average, for those
    teams: Optional[int] = None
    users: Optional[int] = None
    workflows: Optional[int] = None
    tags: Optional[int] = None
    organizations: Optional[int] = None
    report_pages: Optional[int] = None  # None: the plan has no reports (one refused request)
    saved_replies_per_mailbox: Optional[float] = None
    report_days: int = 366              # days of daily figures a sync reads per scope


def pages(rows, size=PAGE):
    """Requests of a listing read page by page: at least one, even when it is empty."""
    return max(1, math.ceil((rows or 0) / size))


def conversation_requests(total):
    if total <= CONVERSATIONS_PAGE:
        return 1
    return pages(total, CONVERSATIONS_PAGE) + 2


def customer_requests(total):
    if total <= PAGE:
        return 1
    return 1 + math.ceil((total - PAGE) / CUSTOMERS_PER_REQUEST)


def report_requests(report_pages):
    """The report's pages, and the first pages of the windows split for holding too many."""
    if report_pages is None:
        return 1
    windows = 1
    while report_pages / windows > REPORT_MAX_PAGES:
        windows *= 2
    # Each split wastes one first page; each window ends on a page half full, on average.
    return max(1, report_pages) + (windows - 1) + (windows - 1) // 2


def thread_pages(count, embedded):
    """Pages of one conversation's thread list, from its count and embedded threads."""
    return pages(max(count if isinstance(count, int) else 0, embedded), THREADS_PAGE)


def daily_report_requests(selected, sizes, per_mailbox=True):
    """The daily reports: a request per scope, endpoint and window (and the scopes' listings);
    one refused request when the plan has no reports."""
    if sizes.report_pages is None:
        return 1
    windows = math.ceil(max(1, sizes.report_days) / report_days.WINDOW_DAYS)
    cost = 0
    if "report_daily" in selected:
        scopes = 1 + (sizes.mailboxes if per_mailbox else 0)
        cost += scopes * len(STREAMS["report_daily"].series) * windows + (pages(sizes.mailboxes) if per_mailbox else 0)
    if "report_user_daily" in selected:
        cost += (sizes.users or 0) * len(STREAMS["report_user_daily"].series) * windows + pages(sizes.users)
    return cost


def requests_by_family(selected, sizes, fetch_saved_reply_text=False, options=None):
    """{family name: requests} for a sync of the streams in `selected` (a set of names);
    `options`: the config (the settings that change the cost)."""
    options = options or {}
    cost = {}
    if selected & {"conversations", "conversation_threads"}:
        cost["conversations"] = conversation_requests(sizes.conversations)
        if "conversation_threads" in selected:
            cost["conversation_threads"] = round(
                sizes.conversations * sizes.truncated_share * sizes.thread_pages)
    if "customers" in selected:
        cost["customers"] = customer_requests(sizes.customers)
    if "happiness_ratings_report" in selected:
        cost["happiness_ratings_report"] = report_requests(sizes.report_pages)
    if selected & {"mailboxes", *MAILBOX_CHILDREN}:
        children = [c for c in MAILBOX_CHILDREN if c in selected]
        cost["mailboxes"] = pages(sizes.mailboxes) + sizes.mailboxes * len(children)
        if "saved_replies" in selected and fetch_saved_reply_text:
            cost["mailboxes"] += round(sizes.mailboxes * (sizes.saved_replies_per_mailbox or 0))
    if selected & {"teams", "team_members"}:
        cost["teams"] = pages(sizes.teams) + ((sizes.teams or 0) if "team_members" in selected else 0)
    for name in SMALL:
        if name in selected:
            cost[name] = 1 if name == "customer_properties" else pages(getattr(sizes, name))
    if "organizations" in selected and options.get("organization_details"):
        cost["organizations"] += sizes.organizations or 0       # one request per organization
    if "organization_properties" in selected:
        cost["organization_properties"] = 1
    if selected & {"report_daily", "report_user_daily"}:
        cost["report_daily"] = daily_report_requests(selected, sizes, options.get("report_daily_per_mailbox", True))
    return cost


def minutes(requests, limit_per_minute):
    """Minutes for `requests` at `limit_per_minute` (None when the limit is unknown)."""
    if not limit_per_minute:
        return None
    return round(requests / limit_per_minute, 1)


# -- the Docs API (the knowledge base) --------------------------------------------------------------
DOCS_LIST_PAGE = 50                     # sites, collections, categories: 50 a page
DOCS_ARTICLES_PAGE = STREAMS["docs_articles"].page_size


def docs_requests(selected, collections, articles_per_collection, read_texts=True):
    """Requests of a sync of the Docs streams in `selected`, from the number of collections and
    the articles of each (`articleCount`): the sites' page, the collections' pages, one list of
    categories per collection, the article list pages of each collection, and with `read_texts`
    (a first run) one GET per article; a later run adds one per article changed since."""
    docs = {name for name in selected if name.startswith("docs_")}
    if not docs:
        return 0
    cost = 1 if "docs_sites" in docs else 0
    if docs - {"docs_sites"}:
        cost += pages(collections, DOCS_LIST_PAGE)
    if "docs_categories" in docs:
        cost += collections
    if docs & {"docs_articles", "docs_article_stats"}:
        cost += sum(pages(count, DOCS_ARTICLES_PAGE) for count in articles_per_collection)
        if "docs_articles" in docs and read_texts:
            cost += sum(articles_per_collection)
    return cost


def docs_minutes(requests, limit_per_window, window_minutes=10):
    """Minutes for `requests` under the Docs API's budget per 10-minute window: a budget's worth
    goes at once, each further one waits for the next window (None when the limit is unknown)."""
    if not limit_per_window:
        return None
    return float(max(0, math.ceil(requests / limit_per_window) - 1) * window_minutes)
