"""The tables the tap must offer, restated as data (tests/unit/test_discovery.py checks the
catalog against them, field by field).

The contract is the Stitch documentation of the original integration's tables (docs/sources.md,
"Stitch's Help Scout (v1) documentation"): a change to a schema file or to the stream registry
that breaks a warehouse built by the original integration fails the tests. The four streams
beyond it (tags, organizations, customer and organization properties, saved replies and the
daily reports, as Help Scout's API reference documents them) are restated the same way in
NEW_STREAMS.
"""

INT = ["null", "integer"]
STR = ["null", "string"]
BOOL = ["null", "boolean"]
DT = "date-time"
OBJ = ["null", "object"]
ARR = ["null", "array"]
NUM = ["null", "number"]

#   stream: (replication, primary key, replication key, parent, {column: type})
CONTRACT = {
    "conversations": ("INCREMENTAL", ["id"], "updated_at", None, {
        "assignee": OBJ, "bcc": ARR, "cc": ARR, "closed_at": DT, "closed_by": INT,
        "created_at": DT, "created_by": OBJ, "custom_fields": ARR,
        "customer_waiting_since": OBJ, "folder_id": INT, "id": INT, "mailbox_id": INT,
        "number": INT, "preview": STR, "primary_customer": OBJ, "source": OBJ, "state": STR,
        "status": STR, "subject": STR, "tags": ARR, "threads": INT, "type": STR,
        "updated_at": DT, "user_updated_at": DT}),
    "conversation_threads": ("INCREMENTAL", ["id"], "created_at", "conversations", {
        "action": OBJ, "assigned_to": OBJ, "attachments": ARR, "bcc": ARR, "body": STR,
        "cc": ARR, "conversation_id": INT, "created_at": DT, "created_by": OBJ,
        "customer": OBJ, "id": INT, "opened_at": DT, "saved_reply_id": INT, "source": OBJ,
        "state": STR, "status": STR, "to": ARR, "type": STR}),
    "customers": ("INCREMENTAL", ["id"], "updated_at", None, {
        "address": OBJ, "age": STR, "background": STR, "chats": ARR, "created_at": DT,
        "emails": ARR, "first_name": STR, "gender": STR, "id": INT, "job_title": STR,
        "last_name": STR, "location": STR, "organization": STR, "phones": ARR,
        "photo_type": STR, "photo_url": STR, "properties": ARR, "social_profiles": ARR,
        "updated_at": DT, "websites": ARR}),
    "happiness_ratings_report": (
        "FULL_TABLE", ["conversation_id", "rating_created_at", "rating_customer_id"], None, None, {
            "conversation_id": INT, "rating_comments": STR, "rating_created_at": DT,
            "rating_customer_id": INT, "rating_customer_name": STR, "rating_id": INT,
            "rating_user_id": INT, "rating_user_name": STR, "thread_created_at": DT,
            "thread_id": INT, "type": STR}),
    "mailbox_fields": ("FULL_TABLE", ["id"], None, "mailboxes", {
        "id": INT, "mailbox_id": INT, "name": STR, "options": ARR, "order": INT,
        "required": BOOL, "type": STR}),
    "mailbox_folders": ("INCREMENTAL", ["id"], "updated_at", "mailboxes", {
        "active_count": INT, "id": INT, "mailbox_id": INT, "name": STR, "total_count": INT,
        "type": STR, "updated_at": DT, "user_id": INT}),
    "mailboxes": ("INCREMENTAL", ["id"], "updated_at", None, {
        "created_at": DT, "email": STR, "id": INT, "name": STR, "slug": STR,
        "updated_at": DT}),
    "team_members": ("FULL_TABLE", ["team_id", "user_id"], None, "teams", {
        "team_id": INT, "user_id": INT}),
    "teams": ("INCREMENTAL", ["id"], "updated_at", None, {
        "created_at": DT, "id": INT, "initials": STR, "mention": STR, "name": STR,
        "photo_url": STR, "timezone": STR, "updated_at": DT}),
    "users": ("INCREMENTAL", ["id"], "updated_at", None, {
        "created_at": DT, "email": STR, "first_name": STR, "id": INT, "last_name": STR,
        "photo_url": STR, "role": STR, "timezone": STR, "type": STR, "updated_at": DT}),
    "workflows": ("INCREMENTAL", ["id"], "modified_at", None, {
        "created_at": DT, "id": INT, "mailbox_id": INT, "modified_at": DT, "name": STR,
        "order": INT, "status": STR, "type": STR}),
}

#   the streams beyond the contract, in the same form
NEW_STREAMS = {
    "tags": ("FULL_TABLE", ["id"], None, None, {
        "id": INT, "slug": STR, "name": STR, "color": STR, "created_at": DT, "updated_at": DT,
        "ticket_count": INT}),
    "organizations": ("FULL_TABLE", ["id"], None, None, {
        "id": INT, "name": STR, "website": STR, "description": STR, "location": STR, "logo_url": STR,
        "note": STR, "domains": ARR, "phones": ARR, "brand_color": STR, "customer_count": INT,
        "conversation_count": INT, "last_interaction_at": DT, "properties": ARR}),
    "customer_properties": ("FULL_TABLE", ["slug"], None, None, {
        "type": STR, "slug": STR, "name": STR, "options": ARR}),
    "saved_replies": ("FULL_TABLE", ["id"], None, "mailboxes", {
        "id": INT, "mailbox_id": INT, "name": STR, "preview": STR, "chat_preview": STR, "text": STR,
        "chat_text": STR}),
    # the Docs API (the knowledge base): the documented fields of its objects, snake_cased
    "docs_sites": ("FULL_TABLE", ["id"], None, None, {
        "id": STR, "status": STR, "sub_domain": STR, "cname": STR, "has_public_site": BOOL, "company_name": STR,
        "title": STR, "logo_url": STR, "logo_width": INT, "logo_height": INT, "fav_icon_url": STR,
        "touch_icon_url": STR, "home_url": STR, "home_link_text": STR, "bg_color": STR, "description": STR,
        "has_contact_form": BOOL, "mailbox_id": INT, "contact_email": STR, "style_sheet_url": STR,
        "header_code": STR, "created_by": INT, "updated_by": INT, "created_at": DT, "updated_at": DT,
        # undocumented, in a captured answer of a public client (docs/sources.md)
        "home_page_content": STR, "page_bg_color": STR, "header_bg_color": STR, "nav_text_color": STR,
        "link_color": STR, "meta_description": STR, "include_metadata": BOOL}),
    "docs_collections": ("FULL_TABLE", ["id"], None, "docs_sites", {
        "id": STR, "site_id": STR, "number": INT, "slug": STR, "visibility": STR, "order": INT, "name": STR,
        "description": STR, "public_url": STR, "article_count": INT, "published_article_count": INT,
        "created_by": INT, "updated_by": INT, "created_at": DT, "updated_at": DT}),
    "docs_categories": ("FULL_TABLE", ["id"], None, "docs_collections", {
        "id": STR, "number": INT, "slug": STR, "collection_id": STR, "order": INT, "default_sort": STR,
        "name": STR, "article_count": INT, "created_by": INT, "updated_by": INT, "created_at": DT,
        "updated_at": DT}),
    "docs_articles": ("INCREMENTAL", ["id"], "updated_at", "docs_collections", {
        "id": STR, "number": INT, "collection_id": STR, "slug": STR, "status": STR, "has_draft": BOOL,
        "name": STR, "text": STR, "categories": ARR, "related": ARR, "public_url": STR, "popularity": NUM,
        "keywords": ARR, "view_count": INT, "created_by": INT, "updated_by": INT, "created_at": DT,
        "updated_at": DT, "last_published_at": DT}),
    "docs_article_stats": ("FULL_TABLE", ["id"], None, "docs_collections", {
        "id": STR, "collection_id": STR, "status": STR, "view_count": INT, "popularity": NUM,
        "updated_at": DT}),
    "organization_properties": ("FULL_TABLE", ["slug"], None, None, {
        "type": STR, "slug": STR, "name": STR, "options": ARR}),
    "report_daily": ("INCREMENTAL", ["date", "mailbox_id"], "date", None, {
        "date": DT, "mailbox_id": INT, "new_conversations": INT, "email_conversations": INT,
        "chat_conversations": INT, "phone_conversations": INT, "received_messages": INT,
        "customers_helped": INT, "replies_sent": INT, "resolved": INT, "first_response_time": NUM,
        "response_time": NUM, "resolution_time": NUM}),
    "report_user_daily": ("INCREMENTAL", ["date", "user_id"], "date", None, {
        "date": DT, "user_id": INT, "replies": INT, "resolved": INT, "customers_helped": INT}),
}
ALL_STREAMS = {**CONTRACT, **NEW_STREAMS}

# Nested columns whose sub-schemas the API documents (its List Conversations, List Threads and
# List Customers pages, docs/sources.md):
#   (stream, path through properties / items, expected type or DT)
NESTED = [
    ("conversations", "customer_waiting_since.time", DT),
    ("conversations", "customer_waiting_since.friendly", STR),
    ("conversations", "primary_customer.photo_url", STR),
    ("conversations", "primary_customer.id", INT),
    ("conversations", "assignee.email", STR),
    ("conversations", "created_by.type", STR),
    ("conversations", "closed_by_user.id", INT),
    ("conversations", "source.via", STR),
    ("conversations", "custom_fields[].id", INT),
    ("conversations", "custom_fields[].name", STR),
    ("conversations", "custom_fields[].value", STR),
    ("conversations", "custom_fields[].text", STR),
    ("conversations", "tags[].id", INT),
    ("conversations", "tags[].tag", STR),
    ("conversations", "tags[].color", STR),
    ("conversations", "cc[]", STR),
    ("conversation_threads", "attachments[].id", INT),
    ("conversation_threads", "attachments[].mime_type", STR),
    ("conversation_threads", "attachments[].filename", STR),
    ("conversation_threads", "attachments[].size", INT),
    ("conversation_threads", "action.text", STR),
    ("conversation_threads", "customer.email", STR),
    ("conversation_threads", "assigned_to.id", INT),
    ("conversation_threads", "to[]", STR),
    ("customers", "emails[].id", INT),
    ("customers", "emails[].type", STR),
    ("customers", "emails[].value", STR),
    ("customers", "phones[].value", STR),
    ("customers", "chats[].value", STR),
    ("customers", "social_profiles[].value", STR),
    ("customers", "websites[].value", STR),
    ("customers", "address.postal_code", STR),
    ("customers", "address.lines[]", STR),
    ("customers", "properties[].slug", STR),
    ("customers", "properties[].value", STR),
    ("mailbox_fields", "options[].id", INT),
    ("mailbox_fields", "options[].label", STR),
    ("mailbox_fields", "options[].order", INT),
    ("users", "alternate_emails[]", STR),
    ("customers", "organization_id", INT),
    ("organizations", "domains[]", STR),
    ("organizations", "phones[]", STR),
    ("customer_properties", "options[].id", STR),
    ("customer_properties", "options[].label", STR),
    ("organizations", "properties[].slug", STR),
    ("organizations", "properties[].value", STR),
    ("organization_properties", "options[].label", STR),
]
