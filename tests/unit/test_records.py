"""Shaping one API item into the record the contract describes (no network)."""
import json
import math

import pytest
from singer import metadata as md

from tap_helpscout.discover import catalog_entry
from tap_helpscout.sync.records import MalformedItem, RecordShaper, snake
from tap_helpscout.discover import load_schema
from tap_helpscout.streams import STREAMS


def catalog_metadata(stream, deselect=(), unsupported=(), automatic=()):
    """The stream's discovered metadata as a to_map dict, with `selected: false`,
    `inclusion: unsupported` or `inclusion: automatic` written at the given breadcrumbs."""
    mdata = md.to_map(catalog_entry(STREAMS[stream])["metadata"])
    mdata = md.write(mdata, (), "selected", True)
    for crumb in deselect:
        mdata = md.write(mdata, tuple(crumb), "selected", False)
    for crumb in unsupported:
        mdata = md.write(mdata, tuple(crumb), "inclusion", "unsupported")
    for crumb in automatic:
        mdata = md.write(mdata, tuple(crumb), "inclusion", "automatic")
        mdata = md.write(mdata, tuple(crumb), "selected", False)
    return mdata


def shaper(stream, mdata=None, skip_embedded=()):
    return RecordShaper(STREAMS[stream], load_schema(stream), mdata, skip_embedded)


def nested(*path):
    """A breadcrumb through properties: nested("a", "b") -> ("properties", "a", "properties", "b")."""
    crumb = ()
    for part in path:
        crumb += ("items",) if part == "[]" else ("properties", part)
    return crumb


# --- names, lifting, renaming ------------------------------------------------------------------

@pytest.mark.parametrize("api_key, column", [
    ("customerWaitingSince", "customer_waiting_since"), ("photoUrl", "photo_url"), ("threadid", "threadid"),
    ("social_profiles", "social_profiles"), ("social-profiles", "social_profiles"), ("mimeType", "mime_type"),
    ("id", "id"), ("threadCreatedAt", "thread_created_at"),
])
def test_camel_case_keys_become_snake_case(api_key, column):
    assert snake(api_key) == column


def test_embedded_lists_are_lifted_and_links_dropped():
    customer = {"id": 1, "firstName": "Ann", "updatedAt": "2024-01-02T03:04:05Z",
                "_embedded": {"emails": [{"id": 7, "value": "a@b.c", "type": "work"}],
                              "social_profiles": [], "address": {"city": "Oslo", "postalCode": "0150", "lines": ["x"]}},
                "_links": {"self": {"href": "https://api.helpscout.net/v2/customers/1"}}}
    row = shaper("customers")(customer)
    assert row == {"id": 1, "first_name": "Ann", "updated_at": "2024-01-02T03:04:05Z",
                   "emails": [{"id": 7, "value": "a@b.c", "type": "work"}], "social_profiles": [],
                   "address": {"city": "Oslo", "postal_code": "0150", "lines": ["x"]}}


def test_a_child_streams_embedded_list_is_not_a_column():
    conversation = {"id": 5, "threads": 2, "createdAt": "2024-01-01T00:00:00Z",
                    "_embedded": {"threads": [{"id": 1}, {"id": 2}]}}
    row = shaper("conversations", skip_embedded=["threads"])(conversation)
    assert row["threads"] == 2


def test_keys_the_schema_does_not_know_are_kept_in_nested_objects_and_dropped_at_the_top():
    row = shaper("conversations")({"id": 1, "brandNewField": 3,
                                   "source": {"type": "email", "extraKey": {"deepKey": [{"aB": 1, "_links": {}}]}},
                                   "_links": {"self": {"href": "x"}}})
    assert "brand_new_field" not in row and "brandNewField" not in row
    assert row["source"] == {"type": "email", "extra_key": {"deep_key": [{"a_b": 1}]}}


def test_report_columns_are_renamed():
    rating = {"id": 432207336, "threadid": 1169815634, "ratingCreatedAt": "2017-09-15T12:26:53Z"}
    row = shaper("happiness_ratings_report")(rating)
    assert row == {"conversation_id": 432207336, "thread_id": 1169815634, "rating_created_at": "2017-09-15T12:26:53Z"}


def test_team_members_are_user_ids_under_their_team():
    row = shaper("team_members")({"id": 4, "firstName": "V"}, 12)
    assert row == {"user_id": 4, "team_id": 12}


def test_shaped_records_serialise_as_json():
    row = shaper("conversation_threads")({"id": 1, "body": "<p>Grüße 🎉</p>", "createdAt": "2024-01-01T00:00:00Z",
                                          "_embedded": {"attachments": [{"id": 3, "mimeType": "image/png", "_links": {}}]}}, 99)
    assert json.loads(json.dumps(row, allow_nan=False)) == {
        "id": 1, "body": "<p>Grüße 🎉</p>", "created_at": "2024-01-01T00:00:00Z",
        "attachments": [{"id": 3, "mime_type": "image/png"}], "conversation_id": 99}


# --- values ----------------------------------------------------------------------------------

@pytest.mark.parametrize("conversation, updated_at", [
    ({"userUpdatedAt": "2024-03-01T00:00:00Z", "customerWaitingSince": {"time": "2024-03-02T00:00:00Z"}},
     "2024-03-02T00:00:00Z"),
    ({"userUpdatedAt": "2024-03-05T00:00:00Z", "customerWaitingSince": {"time": "2024-03-02T00:00:00Z"}},
     "2024-03-05T00:00:00Z"),
    ({"customerWaitingSince": None}, "2024-01-01T00:00:00Z"),
    ({"userUpdatedAt": None, "customerWaitingSince": {"friendly": "now"}}, "2024-01-01T00:00:00Z"),
    ({}, "2024-01-01T00:00:00Z"),
    ({"userUpdatedAt": "2024-03-01T00:00:00.500+00:00"}, "2024-03-01T00:00:00.500000Z"),
])
def test_conversation_updated_at_is_the_latest_known_time(conversation, updated_at):
    row = shaper("conversations")({"id": 1, "createdAt": "2024-01-01T00:00:00Z", **conversation})
    assert row["updated_at"] == updated_at


@pytest.mark.parametrize("given, written", [
    ("2017-12-12T12:12:13Z", "2017-12-12T12:12:13Z"),           # the API's own form: unchanged
    ("2017-12-12T12:12:13", "2017-12-12T12:12:13Z"),            # no offset: UTC
    ("2017-12-12T14:12:13+02:00", "2017-12-12T12:12:13Z"),
    ("2017-12-12T12:12:13.250Z", "2017-12-12T12:12:13.250000Z"),
    ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"),           # a leap day exists
    ("", None),                                                  # empty means null, as in singer-python
    (None, None),
])
def test_date_times_become_rfc3339_utc(given, written):
    assert shaper("users")({"id": 1, "createdAt": given})["created_at"] == written


def test_integers_stay_integers_even_above_two_to_the_31():
    row = shaper("conversations")({"id": 9_876_543_210, "number": "42", "mailboxId": 7.0, "folderId": 2**63})
    assert (row["id"], row["number"], row["mailbox_id"], row["folder_id"]) == (9_876_543_210, 42, 7, 2**63)
    assert all(type(row[k]) is int for k in ("id", "number", "mailbox_id", "folder_id"))


def test_values_are_given_their_columns_type():
    row = shaper("mailbox_fields")({"id": 1, "name": 12, "required": "true", "order": "3"}, 5)
    assert row == {"id": 1, "name": "12", "required": True, "order": 3, "mailbox_id": 5}
    assert shaper("mailbox_fields")({"required": 0})["required"] is False


# --- values that cannot be conformed: null, and a problem naming the column path -----------------

@pytest.mark.parametrize("stream, item, field", [
    ("users", {"createdAt": 1e20}, "created_at"),
    ("users", {"createdAt": math.nan}, "created_at"),
    ("users", {"createdAt": "NaN"}, "created_at"),
    ("users", {"createdAt": "9999-12-31T23:59:59-12:00"}, "created_at"),   # beyond year 9999 in UTC
    ("users", {"createdAt": "2024-02-30T00:00:00Z"}, "created_at"),        # the API's form, no such day
    ("users", {"createdAt": "2023-02-29T00:00:00Z"}, "created_at"),
    ("users", {"createdAt": "yesterday"}, "created_at"),
    ("users", {"createdAt": True}, "created_at"),
    ("users", {"firstName": {"first": "Ann"}}, "first_name"),             # an object where a string goes
    ("users", {"firstName": ["Ann"]}, "first_name"),
    ("users", {"firstName": math.inf}, "first_name"),
    ("users", {"alternateEmails": "a@b.c"}, "alternate_emails"),          # a string where an array goes
    ("mailbox_fields", {"required": "yes"}, "required"),
    ("conversations", {"customerWaitingSince": {"time": "2024-13-01T00:00:00Z"}}, "customer_waiting_since.time"),
    ("conversations", {"customerWaitingSince": "soon"}, "customer_waiting_since"),
    ("conversations", {"customFields": [{"id": 1}, {"id": 2}, {"id": "x"}]}, "custom_fields[2].id"),
    ("conversations", {"cc": ["a@b.c", {"x": 1}]}, "cc[1]"),
    ("customers", {"_embedded": {"emails": [{"value": ["x"]}]}}, "emails[0].value"),
])
def test_a_value_that_cannot_fit_becomes_null_and_its_column_is_named(stream, item, field):
    record, problems = shaper(stream).shape({"id": 1, "lastName": "Kept", **item})
    assert [name for name, _ in problems] == [field]
    assert problems[0][1] and "\n" not in problems[0][1]
    value = record
    for part in field.replace("[", ".[").split("."):
        value = value[int(part[1:-1])] if part.startswith("[") else value[part]
    assert value is None
    assert record["id"] == 1
    if stream in ("users", "customers"):
        assert record["last_name"] == "Kept", "the rest of the row stays"
    assert json.loads(json.dumps(record, allow_nan=False)) == record


@pytest.mark.parametrize("item, field", [
    ({"source": {"unknownKey": math.nan, "via": "user"}}, "source.unknown_key"),
    ({"source": {"deep": {"x": [1, math.inf]}}}, "source.deep.x[1]"),
])
def test_a_value_that_is_not_json_in_an_untyped_field_is_left_out(item, field):
    record, problems = shaper("conversations").shape({"id": 1, **item})
    assert [name for name, _ in problems] == [field]
    json.dumps(record, allow_nan=False)                 # stdout stays strict JSON
    assert record["source"].get("via", "user") == "user"


@pytest.mark.parametrize("stream, item", [("users", {"id": "12a"}), ("users", {"id": 1.5}), ("users", {"id": True}),
                                          ("users", {"id": math.nan})])
def test_a_key_that_cannot_fit_is_named_as_the_problem(stream, item):
    record, problems = shaper(stream).shape(item)
    assert [name for name, _ in problems] == ["id"] and record["id"] is None


@pytest.mark.parametrize("item", [None, [], "x", 3])
def test_an_item_that_is_not_an_object_is_malformed(item):
    with pytest.raises(MalformedItem) as raised:
        shaper("users")(item)
    assert raised.value.field is None


def test_embedded_that_is_not_an_object_is_a_problem_not_a_lost_row():
    record, problems = shaper("customers").shape({"id": 1, "firstName": "Ann", "_embedded": ["emails"]})
    assert record["first_name"] == "Ann" and [name for name, _ in problems] == ["_embedded"]


def test_a_problem_shows_no_object_and_no_control_character():
    _, problems = shaper("users").shape({"id": 1, "firstName": {"email": "private@example.com"}, "createdAt": "x\ny"})
    text = " ".join(reason for _, reason in problems)
    assert "private@example.com" not in text and "\n" not in text


def test_a_deeply_nested_unknown_value_is_left_out_not_a_crash():
    value = []
    for _ in range(100_000):
        value = [value]
    record, problems = shaper("conversations").shape({"id": 1, "source": {"deep": value, "via": "user"}})
    assert record["source"] == {"via": "user"} and problems == [("source.deep", "nested too deeply")]


def test_caches_stay_bounded_under_ever_new_keys():
    shape = shaper("conversations")
    for n in range(5000):
        shape({"id": n, "source": {f"unknownKey{n}": n}, f"topLevel{n}": 1})
    assert len(shape.top.plans) <= shape.top.PLAN_LIMIT


# --- selection, at every breadcrumb depth --------------------------------------------------------

def test_deselected_top_level_columns_are_neither_emitted_nor_announced():
    mdata = catalog_metadata("users", deselect=[nested("email"), nested("id")])
    shape = shaper("users", mdata)
    row = shape({"id": 1, "email": "a@b.c", "firstName": "A"})
    assert row == {"id": 1, "first_name": "A"}           # id is a key: automatic, always kept
    assert "email" not in shape.schema["properties"] and "id" in shape.schema["properties"]


def test_a_deselected_nested_column_is_neither_emitted_nor_announced():
    mdata = catalog_metadata("conversations", deselect=[nested("primary_customer", "email")])
    shape = shaper("conversations", mdata)
    row = shape({"id": 1, "primaryCustomer": {"id": 7, "email": "private@example.com", "first": "Ann"}})
    assert row["primary_customer"] == {"id": 7, "first": "Ann"}
    properties = shape.schema["properties"]["primary_customer"]["properties"]
    assert "email" not in properties and "id" in properties


def test_a_deselected_column_inside_array_items_is_dropped():
    mdata = catalog_metadata("customers", deselect=[nested("emails", "[]", "value")])
    shape = shaper("customers", mdata)
    row = shape({"id": 1, "_embedded": {"emails": [{"id": 7, "value": "a@b.c", "type": "work"}]}})
    assert row["emails"] == [{"id": 7, "type": "work"}]
    assert "value" not in shape.schema["properties"]["emails"]["items"]["properties"]


def test_unsupported_columns_are_dropped_and_automatic_ones_kept_at_any_depth():
    mdata = catalog_metadata("conversations", unsupported=[nested("preview"), nested("source", "via")],
                             automatic=[nested("assignee", "id")])
    shape = shaper("conversations", mdata)
    row = shape({"id": 1, "preview": "hi", "source": {"type": "email", "via": "customer"},
                 "assignee": {"id": 3, "email": "x@y.z"}})
    assert "preview" not in row and row["source"] == {"type": "email"} and row["assignee"]["id"] == 3
    assert "preview" not in shape.schema["properties"]


def test_a_deselected_value_is_never_looked_at():
    mdata = catalog_metadata("users", deselect=[nested("created_at")])
    assert shaper("users", mdata)({"id": 1, "createdAt": "not a date"}) == {"id": 1}


def test_a_derived_column_still_sees_deselected_inputs():
    mdata = catalog_metadata("conversations", deselect=[nested("user_updated_at"),
                                                        nested("customer_waiting_since", "time")])
    shape = shaper("conversations", mdata)
    row = shape({"id": 1, "createdAt": "2024-01-01T00:00:00Z", "userUpdatedAt": "2024-03-01T00:00:00Z",
                 "customerWaitingSince": {"time": "2024-04-01T00:00:00Z", "friendly": "now"}})
    assert row["updated_at"] == "2024-04-01T00:00:00Z"
    assert "user_updated_at" not in row and row["customer_waiting_since"] == {"friendly": "now"}
    assert "time" not in shape.schema["properties"]["customer_waiting_since"]["properties"]


def test_the_replication_key_is_kept_even_when_deselected():
    mdata = catalog_metadata("users")
    mdata[nested("updated_at")] = {"selected": False, "inclusion": "available"}
    shape = shaper("users", mdata)
    assert shape({"id": 1, "updatedAt": "2024-01-01T00:00:00Z"})["updated_at"] == "2024-01-01T00:00:00Z"
    assert "updated_at" in shape.schema["properties"]


def test_metadata_may_be_given_as_the_catalogs_list():
    mdata = md.to_list(catalog_metadata("users", deselect=[nested("email")]))
    assert "email" not in shaper("users", mdata)({"id": 1, "email": "a@b.c"})


def test_the_schema_given_is_not_changed():
    schema = load_schema("conversations")
    before = json.dumps(schema, sort_keys=True)
    RecordShaper(STREAMS["conversations"], schema, catalog_metadata(
        "conversations", deselect=[nested("primary_customer", "email"), nested("preview")]))
    assert json.dumps(schema, sort_keys=True) == before


def test_without_metadata_every_column_is_announced():
    schema = load_schema("customers")
    assert shaper("customers").schema == schema


@pytest.mark.parametrize("links, expected", [
    ({"web": {"href": "https://secure.helpscout.net/conversation/7/12/"}}, "https://secure.helpscout.net/conversation/7/12/"),
    ({"self": {"href": "https://api.helpscout.net/v2/conversations/7"}}, None),
    ({"web": "not an object"}, None), (None, None)], ids=["web", "no web", "malformed", "no links"])
def test_a_conversation_carries_its_web_address_or_null(links, expected):
    item = {"id": 7, "number": 12, "createdAt": "2024-01-01T00:00:00Z", **({"_links": links} if links else {})}
    record = shaper("conversations")(item)
    assert record["web_url"] == expected and "_links" not in record


def test_a_deselected_web_address_is_left_out():
    item = {"id": 7, "createdAt": "2024-01-01T00:00:00Z", "_links": {"web": {"href": "https://x.example/"}}}
    record = shaper("conversations", catalog_metadata("conversations", deselect=[nested("web_url")]))(item)
    assert "web_url" not in record
