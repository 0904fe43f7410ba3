"""The streams, as data: the eleven of the original integration (the contract), four more, and
the five of the Docs API (the knowledge base).

Each stream is one declarative block: the API that serves it, where its rows come from, its
keys, how it replicates, and the few record-shaping facts that belong to it alone. Discovery
and the sync engine both read this registry; the engine reads each stream with the module of
`sync/readers/` named after its reader kind:
- SEARCH: a large listing filtered by the server with `modifiedSince`, read as a keyset chain:
  BY_NUMBER for conversations (unique `number`, `query` windows), BY_MODIFIED for customers
  (`modifiedAt`, shown as `updatedAt`).
- WHOLE: a small listing read in full on every run; rows are emitted by replication key.
- PER_PARENT: a child listing read for every parent row, on every run.
- EMBEDDED: child rows that arrive inside their parent's rows (`embed=...`), fetched separately
  only where the embedded copy is incomplete.
- DATE_WINDOWS: a report queried window by window from `start_date` to now.
- KNOWLEDGE_BASE: the Docs API's streams, one family read together by `sync/readers/docs.py`.
- DAILY_REPORTS: time-series reports by day, one row per day and scope (the whole account, a
  mailbox, a user), joined from several endpoints (`series`), with a bookmark per scope.
"""
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Tuple

from tap_helpscout.timefmt import format_date_time, parse_date_time

INCREMENTAL = "INCREMENTAL"
FULL_TABLE = "FULL_TABLE"

SEARCH = "search"
WHOLE = "whole"
PER_PARENT = "per_parent"
EMBEDDED = "embedded"
DATE_WINDOWS = "date_windows"
KNOWLEDGE_BASE = "docs"
DAILY_REPORTS = "daily_reports"

BY_NUMBER = "by_number"
BY_MODIFIED = "by_modified"

# Rows a full page of a HAL listing holds: 50, except conversations (25), as Help Scout's
# pagination docs say.
PAGE_SIZE = 50

# The APIs that serve the streams; the sync engine has a client for each (api/).
MAILBOX = "mailbox"             # the Mailbox API 2.0, OAuth2
DOCS = "docs"                   # the Docs API v1 (the knowledge base), an API key
# The config key without which an API's streams are skipped (the Mailbox API's keys are checked
# by config.py and auth.py).
API_KEY_SETTING = {DOCS: "docs_api_key"}


@dataclass(frozen=True)
class Stream:
    name: str
    key_properties: Tuple[str, ...]
    replication_method: str
    replication_key: Optional[str]
    reader: str
    path: str                                   # relative to base_url; {parent_id} for children
    records_key: str                            # list key in `_embedded` (or top level for reports)
    params: Mapping[str, str] = field(default_factory=dict)
    parent: Optional[str] = None
    parent_id_column: Optional[str] = None      # child column that holds the parent's id
    rename: Mapping[str, str] = field(default_factory=dict)   # snake_case column -> contract name
    derive: Optional[Callable[[dict], None]] = None           # adds derived columns in place
    embed: Optional[str] = None                 # EMBEDDED: the parent's `embed=` value
    incomplete: Optional[Callable[[dict, list], bool]] = None  # EMBEDDED: (API item, embedded) -> fetch separately?
    parent_count: Optional[str] = None          # the parent's field that counts these children
    plan_gated: bool = False                    # a 403 means the plan lacks it: skip with a warning
    page_size: int = PAGE_SIZE                  # rows a full page holds
    sort_field: Optional[str] = None            # SEARCH: the `sortField` of the keyset chain
    keyset: Optional[str] = None                # SEARCH: BY_NUMBER or BY_MODIFIED
    item_id: str = "id"                         # the API item's identifying field
    bare_array: bool = False                    # the answer may be a bare JSON array (the whole
                                                # listing, unpaged) instead of a HAL page
    paged: bool = True                          # every answer carries a `page` block (False: the
                                                # listing is documented as answered whole, without)
    detail_path: Optional[str] = None           # one item in full: {parent_id}, {id}
    detail_fields: Tuple[str, ...] = ()         # API fields taken from it
    detail_setting: Optional[str] = None        # the boolean config key that asks for it
    api: str = MAILBOX                          # the API that serves it
    detail_params: Mapping[str, str] = field(default_factory=dict)  # the query of detail_path
    links: Mapping[str, str] = field(default_factory=dict)    # column -> the `_links` entry whose href it holds
    family_of: Optional[str] = None             # read in that root stream's family (one reader, one
                                                # plan gate) without being its child
    series: Tuple["Series", ...] = ()           # DAILY_REPORTS: the endpoints joined into a row
    scopes: Optional[str] = None                # DAILY_REPORTS: the stream whose rows are the scopes
    scope_param: Optional[str] = None           # DAILY_REPORTS: the query parameter naming a scope
    whole_account: bool = False                 # DAILY_REPORTS: also scope 0, every mailbox together
    scopes_setting: Optional[str] = None        # DAILY_REPORTS: the boolean config key that asks for
                                                # the scopes' own rows (without it: scope 0 only)


@dataclass(frozen=True)
class Series:
    """One time-series report endpoint of a DAILY_REPORTS stream: its path (relative to
    base_url), and for each column the point's fields that may hold its figure (the first
    present wins: the documentation names some differently). `office_hours`: it takes
    `officeHours`."""
    path: str
    figures: Mapping[str, Tuple[str, ...]]
    office_hours: bool = False


def latest_activity(conversation):
    """Conversations carry no modification time. `updated_at` is the latest of the times the
    API does give (user update, customer waiting since, creation); any of them may be missing
    or null. It is informative only: rows are never filtered on it, because the server's hidden
    modification time (which `modifiedSince` uses) can be later."""
    waiting = conversation.get("customer_waiting_since") or {}
    times = [t for t in (conversation.get("user_updated_at"), waiting.get("time"),
                         conversation.get("created_at")) if t]
    if not times:
        conversation["updated_at"] = None
    elif all(len(t) == 20 for t in times):
        # The conformer has written them as YYYY-MM-DDTHH:MM:SSZ: text order is time order.
        conversation["updated_at"] = max(times)
    else:
        conversation["updated_at"] = format_date_time(max(parse_date_time(t) for t in times))


def organization_columns_null_unless_read(organization):
    """The counts come from the list only where it carries them, and the custom properties
    only from each organization's own GET (`organization_details`): without them the columns
    are null rather than absent."""
    for column in ("customer_count", "conversation_count", "last_interaction_at", "properties"):
        organization.setdefault(column, None)


def link_href(links, name):
    """The address of link `name` in an item's `_links`; None when it has none."""
    entry = links.get(name) if isinstance(links, dict) else None
    href = entry.get("href") if isinstance(entry, dict) else None
    return href if isinstance(href, str) else None


EMBEDDED_THREADS_CAP = 25


def threads_truncated(conversation, embedded_threads):
    """Whether the threads embedded in a conversation may be fewer than it has: chats are
    truncated by design; a list at the API's cap of 25 may have been cut; and a list shorter
    than the `threads` count is short. The count alone proves nothing: it may leave out line
    items and drafts that the listing has."""
    count = conversation.get("threads")
    if not isinstance(count, int) or isinstance(count, bool):
        return True
    return (conversation.get("type") == "chat" or len(embedded_threads) >= EMBEDDED_THREADS_CAP
            or len(embedded_threads) < count)


def texts_null_unless_read(reply):
    """A saved reply's full texts cost one request per reply, made only when the config asks
    for them: without them the columns are null rather than absent."""
    reply.setdefault("text", None)
    reply.setdefault("chat_text", None)


# The time-series reports of a day (Help Scout's report pages, docs/sources.md): each point's
# `date` or `start` is the beginning of its day; times are averages in seconds, numbers that may
# be decimals or null.
SCOPE_SERIES = (
    Series("/reports/conversations/new", {"new_conversations": ("count",)}),
    Series("/reports/conversations/volume-by-channel", {"email_conversations": ("email",),
                                                        "chat_conversations": ("chat",),
                                                        "phone_conversations": ("phone",)}),
    Series("/reports/conversations/received-messages", {"received_messages": ("count", "messages")}),
    Series("/reports/company/customers-helped", {"customers_helped": ("customers",)}),
    Series("/reports/productivity/replies-sent", {"replies_sent": ("replies",)}, office_hours=True),
    Series("/reports/productivity/resolved", {"resolved": ("resolved",)}, office_hours=True),
    Series("/reports/productivity/first-response-time", {"first_response_time": ("time",)}, office_hours=True),
    Series("/reports/productivity/response-time", {"response_time": ("time",)}, office_hours=True),
    Series("/reports/productivity/resolution-time", {"resolution_time": ("time",)}, office_hours=True),
)
USER_SERIES = (
    Series("/reports/user/replies", {"replies": ("replies",)}),
    Series("/reports/user/resolutions", {"resolved": ("resolved",)}),
    Series("/reports/user/customers-helped", {"customers_helped": ("customers",)}),
)

STREAMS = {s.name: s for s in (
    Stream(
        name="conversations", key_properties=("id",),
        replication_method=INCREMENTAL, replication_key="updated_at",
        reader=SEARCH, path="/conversations", records_key="conversations",
        params={"status": "all"}, derive=latest_activity,
        page_size=25, sort_field="number", keyset=BY_NUMBER,
        links={"web_url": "web"},   # the conversation's page in Help Scout
    ),
    Stream(
        name="conversation_threads", key_properties=("id",),
        replication_method=INCREMENTAL, replication_key="created_at",
        reader=EMBEDDED, path="/conversations/{parent_id}/threads", records_key="threads",
        parent="conversations", parent_id_column="conversation_id",
        embed="threads", incomplete=threads_truncated, parent_count="threads",
    ),
    Stream(
        name="customers", key_properties=("id",),
        replication_method=INCREMENTAL, replication_key="updated_at",
        reader=SEARCH, path="/customers", records_key="customers",
        sort_field="modifiedAt", keyset=BY_MODIFIED,
    ),
    Stream(
        name="happiness_ratings_report",
        key_properties=("conversation_id", "rating_created_at", "rating_customer_id"),
        replication_method=FULL_TABLE, replication_key=None,
        reader=DATE_WINDOWS, path="/reports/happiness/ratings", records_key="results",
        # The report's `id` is the conversation id and its lower-case `threadid` the thread id.
        rename={"id": "conversation_id", "threadid": "thread_id"},
        plan_gated=True,            # reports are not part of the Standard plan
    ),
    Stream(
        name="mailbox_fields", key_properties=("id",),
        replication_method=FULL_TABLE, replication_key=None,
        reader=PER_PARENT, path="/mailboxes/{parent_id}/fields", records_key="fields",
        parent="mailboxes", parent_id_column="mailbox_id",
        paged=False,                # documented without a page block
    ),
    Stream(
        name="mailbox_folders", key_properties=("id",),
        replication_method=INCREMENTAL, replication_key="updated_at",
        reader=PER_PARENT, path="/mailboxes/{parent_id}/folders", records_key="folders",
        parent="mailboxes", parent_id_column="mailbox_id",
    ),
    Stream(
        name="mailboxes", key_properties=("id",),
        replication_method=INCREMENTAL, replication_key="updated_at",
        reader=WHOLE, path="/mailboxes", records_key="mailboxes",
    ),
    Stream(
        name="team_members", key_properties=("team_id", "user_id"),
        replication_method=FULL_TABLE, replication_key=None,
        reader=PER_PARENT, path="/teams/{parent_id}/members", records_key="users",
        parent="teams", parent_id_column="team_id",
        rename={"id": "user_id"},       # members are user objects
    ),
    Stream(
        name="teams", key_properties=("id",),
        replication_method=INCREMENTAL, replication_key="updated_at",
        reader=WHOLE, path="/teams", records_key="teams",
    ),
    Stream(
        name="users", key_properties=("id",),
        replication_method=INCREMENTAL, replication_key="updated_at",
        reader=WHOLE, path="/users", records_key="users",
    ),
    Stream(
        name="workflows", key_properties=("id",),
        replication_method=INCREMENTAL, replication_key="modified_at",
        reader=WHOLE, path="/workflows", records_key="workflows",
    ),
    # --- beyond the original eleven: endpoints Help Scout documents besides them ---
    Stream(
        name="tags", key_properties=("id",),
        replication_method=FULL_TABLE, replication_key=None,   # no modification filter
        reader=WHOLE, path="/tags", records_key="tags",
    ),
    Stream(
        name="organizations", key_properties=("id",),
        replication_method=FULL_TABLE, replication_key=None,   # no timestamps, no filter
        # By name: the default order (last interaction) moves while conversations change.
        reader=WHOLE, path="/organizations", records_key="organizations", params={"sort": "name,asc"},
        # The list may lack the counts (its documentation shows none), and never has the properties.
        detail_path="/organizations/{id}", detail_params={"includeCounts": "true", "includeProperties": "true"},
        detail_fields=("customerCount", "conversationCount", "lastInteractionAt", "properties"),
        detail_setting="organization_details", derive=organization_columns_null_unless_read,
    ),
    Stream(
        name="customer_properties", key_properties=("slug",),
        replication_method=FULL_TABLE, replication_key=None,
        reader=WHOLE, path="/customer-properties", records_key="customer-properties",
        item_id="slug",             # definitions have no id; customers refer to them by slug
        paged=False,                # one answer holds them all (at most 50)
    ),
    Stream(
        name="saved_replies", key_properties=("id",),
        replication_method=FULL_TABLE, replication_key=None,
        reader=PER_PARENT, path="/mailboxes/{parent_id}/saved-replies", records_key="savedReplies",
        params={"includeChatReplies": "true"}, parent="mailboxes", parent_id_column="mailbox_id",
        bare_array=True, paged=False,   # documented as a bare array; an older note: HAL, paged
        detail_path="/mailboxes/{parent_id}/saved-replies/{id}", detail_fields=("text", "chatText"),
        detail_setting="fetch_saved_reply_text", derive=texts_null_unless_read,
    ),
    # --- the Docs API (the knowledge base): one family, read by sync/readers/docs.py. Lists
    # are `{<records_key>: {page, pages, count, items}}`, sorted by the unique `number`. ---
    Stream(
        name="docs_sites", key_properties=("id",),
        replication_method=FULL_TABLE, replication_key=None,
        reader=KNOWLEDGE_BASE, path="/sites", records_key="sites", api=DOCS,
    ),
    Stream(
        name="docs_collections", key_properties=("id",),
        replication_method=FULL_TABLE, replication_key=None,
        reader=KNOWLEDGE_BASE, path="/collections", records_key="collections", api=DOCS,
        params={"sort": "number", "order": "asc"}, parent="docs_sites",
    ),
    Stream(
        name="docs_categories", key_properties=("id",),
        replication_method=FULL_TABLE, replication_key=None,
        reader=KNOWLEDGE_BASE, path="/collections/{parent_id}/categories", records_key="categories",
        api=DOCS, params={"sort": "number", "order": "asc"}, parent="docs_collections",
    ),
    Stream(
        name="docs_articles", key_properties=("id",),
        replication_method=INCREMENTAL, replication_key="updated_at",
        reader=KNOWLEDGE_BASE, path="/collections/{parent_id}/articles", records_key="articles",
        api=DOCS, params={"status": "all", "sort": "number", "order": "asc", "pageSize": "100"},
        parent="docs_collections", page_size=100,
        detail_path="/articles/{id}", detail_fields=("text", "categories", "related", "keywords"),
    ),
    Stream(
        name="docs_article_stats", key_properties=("id",),
        replication_method=FULL_TABLE, replication_key=None,
        # The same list pages as docs_articles (read once when both are selected).
        reader=KNOWLEDGE_BASE, path="/collections/{parent_id}/articles", records_key="articles",
        api=DOCS, params={"status": "all", "sort": "number", "order": "asc", "pageSize": "100"},
        parent="docs_collections", page_size=100,
    ),
    Stream(
        name="organization_properties", key_properties=("slug",),
        replication_method=FULL_TABLE, replication_key=None,
        reader=WHOLE, path="/organizations/properties", records_key="organization-properties",
        item_id="slug", paged=False,    # the definitions, all in one answer
    ),
    Stream(
        name="report_daily", key_properties=("date", "mailbox_id"),
        replication_method=INCREMENTAL, replication_key="date",
        reader=DAILY_REPORTS, path="/reports", records_key="current", item_id="date",
        parent_id_column="mailbox_id", series=SCOPE_SERIES, scopes="mailboxes", scope_param="mailboxes",
        whole_account=True, scopes_setting="report_daily_per_mailbox",
        plan_gated=True,            # reports are not part of the Standard plan
    ),
    Stream(
        name="report_user_daily", key_properties=("date", "user_id"),
        replication_method=INCREMENTAL, replication_key="date",
        reader=DAILY_REPORTS, path="/reports", records_key="current", item_id="date",
        parent_id_column="user_id", series=USER_SERIES, scopes="users", scope_param="user",
        family_of="report_daily",   # one plan gate, one warning for both
    ),
)}
