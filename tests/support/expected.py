"""What the tap must emit for an emulator's dataset: the contract of the original integration's
tables (docs/sources.md, "Stitch's Help Scout (v1) documentation"), computed here independently
of the tap's own code.

Rows are the API items with camelCase keys snake_cased (nested too), `_links` dropped and
`_embedded` lists lifted to the top level; then each stream's own rules (derived or renamed
columns, the parent's id) and only the columns its schema has.
"""
import json
import re
from pathlib import Path

SCHEMAS = Path(__file__).resolve().parents[2] / "tap_helpscout" / "schemas"
PRIMARY_KEYS = {
    "conversations": ("id",), "conversation_threads": ("id",), "customers": ("id",),
    "happiness_ratings_report": ("conversation_id", "rating_created_at", "rating_customer_id"),
    "mailbox_fields": ("id",), "mailbox_folders": ("id",), "mailboxes": ("id",),
    "team_members": ("team_id", "user_id"), "teams": ("id",), "users": ("id",), "workflows": ("id",),
    # beyond the original eleven
    "tags": ("id",), "organizations": ("id",), "customer_properties": ("slug",), "saved_replies": ("id",),
    "organization_properties": ("slug",),
}
# The daily report streams (tests/integration/test_report_streams.py computes their rows).
REPORT_KEYS = {"report_daily": ("date", "mailbox_id"), "report_user_daily": ("date", "user_id")}
CONTRACT_STREAMS = tuple(PRIMARY_KEYS)[:11]
FULL_TABLE_STREAMS = ("happiness_ratings_report", "mailbox_fields", "team_members", "tags", "organizations",
                      "customer_properties", "saved_replies", "organization_properties")
WEB_URL = "https://secure.helpscout.net/conversation/{id}/{number}/"     # a conversation's _links.web


def snake(name):
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).replace("-", "_").lower()


def plain(value):
    if isinstance(value, dict):
        return {snake(k): plain(v) for k, v in value.items() if k != "_links"}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def as_row(item, skip_embedded=()):
    row = {}
    for key, value in item.items():
        if key == "_links":
            continue
        if key == "_embedded":
            row.update({snake(k): plain(v) for k, v in value.items() if k not in skip_embedded})
        else:
            row[snake(key)] = plain(value)
    return row


def columns(stream):
    return set(json.loads((SCHEMAS / f"{stream}.json").read_text())["properties"])


def key_of(stream, row):
    return tuple(row.get(k) for k in {**PRIMARY_KEYS, **REPORT_KEYS}[stream])


def without_html(text):
    return re.sub(r"<[^>]*>", "", text)


def organization_counts(data):
    """The counts an organization's list item gives: its customers (by `organizationId`), the
    conversations whose primary customer is one of them, and their latest interaction."""
    counts = {o["id"]: {"customer_count": 0, "conversation_count": 0} for o in data.organizations}
    member_of = {c["id"]: c.get("organizationId") for c in data.customers}
    for organization_id in member_of.values():
        if organization_id in counts:
            counts[organization_id]["customer_count"] += 1
    for conv in data.conversations:
        entry = counts.get(member_of.get(conv["primaryCustomer"]["id"]))
        if entry is not None:
            entry["conversation_count"] += 1
            latest = max(conv["userUpdatedAt"], conv["customerWaitingSince"]["time"])
            entry["last_interaction_at"] = max(entry.get("last_interaction_at", latest), latest)
    return counts


def saved_reply_rows(data, with_text):
    """Every saved reply, chat ones included (the tap asks for them): the listing's name and
    previews (text without HTML, cut to 100 characters; none without a chat text), the full
    texts only when the tap reads them."""
    rows = []
    for mailbox_id, replies in data.saved_replies.items():
        for reply in replies:
            chat = reply["chatText"]
            rows.append({"id": reply["id"], "mailbox_id": mailbox_id, "name": reply["name"],
                         "preview": without_html(reply["text"])[:100] if reply["text"] else None,
                         "chat_preview": without_html(chat)[:100] if chat else None,
                         "text": reply["text"] if with_text else None, "chat_text": chat if with_text else None})
    return rows


def expected_rows(data, start_date="2000-01-01T00:00:00Z", saved_reply_text=False):
    """{stream: {primary key: row}} for the whole dataset (`saved_reply_text`: the config's
    `fetch_saved_reply_text`)."""
    out = {name: [] for name in PRIMARY_KEYS}
    for conv in data.conversations:
        row = as_row(conv, skip_embedded=("threads",))
        times = [row.get("user_updated_at"), (row.get("customer_waiting_since") or {}).get("time"), row.get("created_at")]
        row["updated_at"] = max(t for t in times if t)
        row["web_url"] = WEB_URL.format(id=conv["id"], number=conv["number"])
        out["conversations"].append(row)
        for thread in data.threads.get(conv["id"], []):
            out["conversation_threads"].append(dict(as_row(thread), conversation_id=conv["id"]))
    out["customers"] = [as_row(c) for c in data.customers]
    for rating in data.ratings:
        row = as_row(rating)
        row["conversation_id"] = row.pop("id")
        row["thread_id"] = row.pop("threadid")
        if row["rating_created_at"] >= start_date:
            out["happiness_ratings_report"].append(row)
    for mailbox in data.mailboxes:
        out["mailboxes"].append(as_row(mailbox))
        out["mailbox_fields"] += [dict(as_row(f), mailbox_id=mailbox["id"]) for f in data.fields.get(mailbox["id"], [])]
        out["mailbox_folders"] += [dict(as_row(f), mailbox_id=mailbox["id"]) for f in data.folders.get(mailbox["id"], [])]
    for team in data.teams:
        out["teams"].append(as_row(team))
        out["team_members"] += [{"team_id": team["id"], "user_id": user} for user in data.members.get(team["id"], [])]
    out["users"] = [as_row(u) for u in data.users]
    out["workflows"] = [as_row(w) for w in data.workflows]
    out["tags"] = [as_row(t) for t in data.tags]
    counts = organization_counts(data)
    # Without organization_details the properties are not read: null.
    out["organizations"] = [dict(as_row(o), **counts[o["id"]], properties=None) for o in data.organizations]
    out["customer_properties"] = [as_row(p) for p in data.customer_properties]
    out["organization_properties"] = [as_row(p) for p in data.organization_properties]
    out["saved_replies"] = saved_reply_rows(data, saved_reply_text)
    result = {}
    for stream, rows in out.items():
        keep = columns(stream)
        result[stream] = {key_of(stream, r): {k: v for k, v in r.items() if k in keep} for r in rows}
    return result


def expected_row_counts(data, start_date="2000-01-01T00:00:00Z"):
    """How many rows a full sync emits per stream. Rows are counted, not primary keys: two
    ratings of the report may share the contract's primary key, and both are emitted (a
    target that upserts keeps one)."""
    counts = {stream: len(rows) for stream, rows in expected_rows(data, start_date).items()}
    counts["happiness_ratings_report"] = sum(r["ratingCreatedAt"] >= start_date for r in data.ratings)
    return counts


def latest_by_key(runs, stream):
    """The last version of every row of `stream` emitted across `runs` (in order)."""
    latest = {}
    for run in runs:
        for record in run.records(stream) if hasattr(run, "records") else run.get(stream, []):
            latest[key_of(stream, record)] = record
    return latest
