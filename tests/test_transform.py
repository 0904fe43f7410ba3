"""Shaping one API item into the record the contract describes."""
import json

import pytest

from tap_helpscout.schema import load_schema
from tap_helpscout.streams import STREAMS
from tap_helpscout.transform import RecordShaper, snake


def shaper(stream, selected=None, skip_embedded=()):
    return RecordShaper(STREAMS[stream], load_schema(stream), selected, skip_embedded)


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
def test_conversation_updated_at_is_the_latest_known_time_and_never_crashes(conversation, updated_at):
    row = shaper("conversations")({"id": 1, "createdAt": "2024-01-01T00:00:00Z", **conversation})
    assert row["updated_at"] == updated_at


def test_date_times_become_rfc3339_utc():
    row = shaper("users")({"id": 1, "createdAt": "2017-12-12T12:12:13", "updatedAt": "2017-12-12T14:12:13+02:00"})
    assert row["created_at"] == "2017-12-12T12:12:13Z"
    assert row["updated_at"] == "2017-12-12T12:12:13Z"


def test_integers_stay_integers_even_above_two_to_the_31():
    row = shaper("conversations")({"id": 9_876_543_210, "number": "42", "mailboxId": 7.0})
    assert row["id"] == 9_876_543_210 and row["number"] == 42 and row["mailbox_id"] == 7
    assert all(type(row[k]) is int for k in ("id", "number", "mailbox_id"))


def test_a_value_that_cannot_fit_its_schema_becomes_null_and_the_row_is_kept():
    row = shaper("users")({"id": 1, "createdAt": "yesterday", "firstName": "Bo"})
    assert row == {"id": 1, "created_at": None, "first_name": "Bo"}


def test_unselected_columns_are_dropped_and_report_columns_renamed():
    rating = {"id": 432207336, "threadid": 1169815634, "number": 222043, "ratingCreatedAt": "2017-09-15T12:26:53Z",
              "ratingCustomerId": 121198824, "ratingComments": "Thanks!", "ratingId": 1}
    row = shaper("happiness_ratings_report",
                 selected={"conversation_id", "rating_created_at", "rating_customer_id", "thread_id"})(rating)
    assert row == {"conversation_id": 432207336, "thread_id": 1169815634,
                   "rating_created_at": "2017-09-15T12:26:53Z", "rating_customer_id": 121198824}


def test_team_members_are_user_ids_under_their_team():
    row = RecordShaper(STREAMS["team_members"], load_schema("team_members"))({"id": 4, "firstName": "V"}, 12)
    assert row == {"user_id": 4, "team_id": 12}


def test_shaped_records_serialise_as_json():
    row = shaper("conversation_threads")({"id": 1, "body": "<p>Grüße 🎉</p>", "createdAt": "2024-01-01T00:00:00Z",
                                          "_embedded": {"attachments": [{"id": 3, "mimeType": "image/png", "_links": {}}]}}, 99)
    assert json.loads(json.dumps(row)) == {"id": 1, "body": "<p>Grüße 🎉</p>", "created_at": "2024-01-01T00:00:00Z",
                                           "attachments": [{"id": 3, "mime_type": "image/png"}], "conversation_id": 99}


def test_a_shape_seen_often_is_compiled_and_shapes_exactly_as_before():
    # The first uses of a shape are interpreted; later ones run compiled code. Both must give
    # the same rows, for values that fit and for values that need conforming or cannot fit.
    def conversation(n, created_at="2024-01-01T00:00:00Z", number=7, tags=()):
        return {"id": n, "number": number, "createdAt": created_at, "subject": "Hi",
                "customerWaitingSince": {"time": created_at, "friendly": "now", "latestReplyFrom": "customer"},
                "source": {"type": "email", "via": "customer", "extraKey": 1}, "tags": list(tags), "cc": [],
                "customFields": [{"id": 1, "name": "A", "value": "x", "text": "x"}],
                "_embedded": {"threads": [{"id": 1}]}, "_links": {"self": {"href": "x"}}}
    variants = [conversation(1), conversation(2, created_at="2024-01-01T01:00:00+01:00"),
                conversation(3, number="8"), conversation(4, created_at="yesterday"),
                conversation(5, tags=[{"id": 2, "tag": "vip", "color": "red"}]), conversation(6, number=None)]
    shape = shaper("conversations", skip_embedded=["threads"])
    interpreted = [shape(v) for v in variants]
    for _ in range(10):
        compiled = [shape(v) for v in variants]
    assert shape.fields.compiled, "the shape was compiled"
    assert compiled == interpreted
    assert compiled[1]["created_at"] == "2024-01-01T00:00:00Z" and compiled[2]["number"] == 8
    assert compiled[3]["created_at"] is None and compiled[3]["subject"] == "Hi"
    assert compiled[0]["source"] == {"type": "email", "via": "customer", "extra_key": 1}


def test_shapes_compile_only_up_to_a_bound():
    shape = shaper("users")
    for n in range(3000):
        # A different key set every time: each shape is seen once, so none is compiled and
        # the caches stay bounded.
        shape({"id": n, f"unknownKey{n}": n, "firstName": "A"})
    assert len(shape.fields.compiled) == 0
    assert len(shape.fields.shapes) <= shape.fields.MAX_SHAPES
    assert len(shape.fields.seen) <= shape.fields.MAX_SHAPES
