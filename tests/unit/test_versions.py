"""Table versions of full-table streams, without the network: the sync engine reads canned API
answers from a fake client, and the Singer messages it writes are checked.

A complete read sends exactly one ACTIVATE_VERSION, after its last record, with the version
every record of the read carries; an incomplete read (a malformed item, a listing or a parent's
listing that could not be confirmed, a failed or interrupted read, a report read only from
`report_lookback_days`) sends none, since the target would then delete rows that were merely
not read.
"""
import io
import json
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from singer.catalog import Catalog

from tap_helpscout.discover import discover
from tap_helpscout.sync.engine import Engine
from tap_helpscout.errors import ApiError, AuthError, TapError
from tap_helpscout.sync.state import Output
from tests.support.tap_runner import select

START = "2024-01-01T00:00:00Z"
CONFIG = {"start_date": START, "max_parallel_requests": 2, "bookmark_margin_seconds": 0}


def hal(key, items, total=None):
    total = len(items) if total is None else total
    return {"_embedded": {key: items}, "page": {"size": 50, "totalElements": total,
                                                 "totalPages": 1 if total else 0, "number": 1}}


def user(user_id):
    return {"id": user_id, "firstName": f"User {user_id}", "email": f"u{user_id}@example.com"}


def team(team_id):
    return {"id": team_id, "name": f"Team {team_id}", "updatedAt": "2024-03-01T00:00:00Z"}


def rating(k):
    return {"id": 1000 + k, "threadid": 2000 + k, "ratingCustomerId": 3000 + k, "ratingId": 1,
            "ratingCreatedAt": f"2024-05-{k + 1:02d}T10:00:00Z", "type": "email"}


def account():
    """{path: answer}: two teams with members, tags, a report of three ratings. An answer may
    be an exception to raise."""
    return {
        "/teams": hal("teams", [team(1), team(2)]),
        "/teams/1/members": hal("users", [user(11), user(12)]),
        "/teams/2/members": hal("users", [user(21), user(22), user(23)]),
        "/tags": hal("tags", [{"id": 5, "name": "vip", "slug": "vip", "color": "red", "ticketCount": 2}]),
        "/reports/happiness/ratings": {"results": [rating(k) for k in range(3)], "page": 1, "count": 3, "pages": 1},
    }


class FakeClient:
    """Answers from `answers` by path, dated by the server's clock (as every real answer is)."""

    def __init__(self, answers):
        self.answers = answers
        self.request_count = 0

    def get(self, path, params=None, endpoint=None):
        self.request_count += 1
        answer = self.answers[path]
        if isinstance(answer, Exception):
            raise answer
        return SimpleNamespace(json=json.loads(json.dumps(answer)), headers={}, status=200,
                               server_time=self.server_now())

    @staticmethod
    def server_now():
        return datetime.now(timezone.utc).replace(microsecond=0)


def sync(answers, streams, state=None, config=None):
    """Run the engine; returns (messages, the exception that ended the run or None)."""
    stdout = io.StringIO()
    catalog = Catalog.from_dict(select(discover(), streams))
    engine = Engine({**CONFIG, **(config or {})}, FakeClient(answers), catalog, state or {},
                    lambda prepared: Output(prepared, stdout))
    error = None
    try:
        engine.run()
    except TapError as exc:
        error = exc
    finally:
        engine.close()
    return [json.loads(line) for line in stdout.getvalue().splitlines()], error


def activations(messages, stream):
    return [i for i, m in enumerate(messages) if m["type"] == "ACTIVATE_VERSION" and m["stream"] == stream]


def records(messages, stream):
    return [(i, m) for i, m in enumerate(messages) if m["type"] == "RECORD" and m["stream"] == stream]


def last_state(messages):
    return [m for m in messages if m["type"] == "STATE"][-1]["value"]


def assert_one_activation_after_the_read(messages, stream, rows):
    [at] = activations(messages, stream)
    read = records(messages, stream)
    assert len(read) == rows
    assert all(i < at for i, _ in read)
    versions = {m.get("version") for _, m in read}
    assert versions == {messages[at]["version"]}
    assert isinstance(messages[at]["version"], int) and messages[at]["version"] > 0


def test_a_complete_read_sends_one_activate_version_after_its_last_record():
    messages, error = sync(account(), ["teams", "team_members", "tags", "happiness_ratings_report"])
    assert error is None
    assert_one_activation_after_the_read(messages, "team_members", 5)
    assert_one_activation_after_the_read(messages, "tags", 1)
    assert_one_activation_after_the_read(messages, "happiness_ratings_report", 3)
    # Incremental streams carry no version and get no activation.
    assert not activations(messages, "teams")
    assert all("version" not in m for _, m in records(messages, "teams"))
    # The version lives in the state only while its read runs.
    during = [m["value"]["bookmarks"].get("team_members") for m in messages if m["type"] == "STATE"]
    assert {"version": messages[activations(messages, "team_members")[0]]["version"]} in during
    assert not {"team_members", "tags", "happiness_ratings_report"} & set(last_state(messages)["bookmarks"])


def test_a_child_stream_selected_alone_is_versioned_too():
    messages, error = sync(account(), ["team_members"])
    assert error is None
    assert_one_activation_after_the_read(messages, "team_members", 5)


INCOMPLETE_READS = {
    "a malformed member is skipped": {"/teams/2/members": hal("users", [user(21), {**user(22), "id": {"x": 1}}])},
    "a member without an id": {"/teams/2/members": hal("users", [user(21), {"firstName": "Nobody"}])},
    "the teams listing cannot be confirmed": {"/teams": hal("teams", [team(1), team(1)])},
    "a team without an id": {"/teams": hal("teams", [team(1), {"name": "No id"}])},
    "the members answer fails": {"/teams/2/members": ApiError("server error", status=500, endpoint="members")},
    "the run stops mid-read": {"/teams/2/members": AuthError("credentials refused", status=401)},
}


@pytest.mark.parametrize("change", list(INCOMPLETE_READS))
def test_an_incomplete_read_never_sends_activate_version(change):
    messages, error = sync({**account(), **INCOMPLETE_READS[change]}, ["teams", "team_members", "tags"])
    assert not activations(messages, "team_members")
    if "fails" in change or "stops" in change:
        assert error is not None
    if "stops" not in change:
        # Another family's complete read is not held back.
        assert_one_activation_after_the_read(messages, "tags", 1)


def test_an_interrupted_read_leaves_its_version_in_the_state_and_the_next_read_starts_over():
    answers = {**account(), "/teams/2/members": AuthError("credentials refused", status=401)}
    messages, _ = sync(answers, ["teams", "team_members"])
    kept = last_state(messages)["bookmarks"]["team_members"]["version"]
    assert isinstance(kept, int)
    # A listing read whole starts over: a new version, so that rows only the interrupted read
    # saw are not kept alive by it.
    messages, error = sync(account(), ["teams", "team_members"], state=last_state(messages))
    assert error is None
    [at] = activations(messages, "team_members")
    assert messages[at]["version"] != kept


def test_a_report_read_only_from_the_lookback_sends_no_activate_version():
    state = {"bookmarks": {"happiness_ratings_report": {"read_until": "2024-06-01T00:00:00Z"}}}
    messages, error = sync(account(), ["happiness_ratings_report"], state=state,
                           config={"report_lookback_days": 7})
    assert error is None
    assert records(messages, "happiness_ratings_report")
    assert not activations(messages, "happiness_ratings_report")
    # Without a previous complete read the lookback does not apply: the read is full.
    messages, _ = sync(account(), ["happiness_ratings_report"], config={"report_lookback_days": 7})
    assert_one_activation_after_the_read(messages, "happiness_ratings_report", 3)


def test_a_resumed_report_keeps_its_version():
    state = {"bookmarks": {"happiness_ratings_report": {"window_start": START, "partial": False,
                                                        "version": 1700000000000}}}
    messages, error = sync(account(), ["happiness_ratings_report"], state=state)
    assert error is None
    [at] = activations(messages, "happiness_ratings_report")
    assert messages[at]["version"] == 1700000000000
    assert {m["version"] for _, m in records(messages, "happiness_ratings_report")} == {1700000000000}


@pytest.mark.parametrize("version", [None, "soon", -3, True])
def test_a_resumed_report_without_a_usable_version_sends_none(version):
    """The rows read before the interruption carry no (usable) version: activating a new one
    would retire them."""
    bookmark = {"window_start": START, "partial": False}
    if version is not None:
        bookmark["version"] = version
    messages, error = sync(account(), ["happiness_ratings_report"],
                           state={"bookmarks": {"happiness_ratings_report": bookmark}})
    assert error is None
    assert not activations(messages, "happiness_ratings_report")
    assert all(isinstance(m["version"], int) and m["version"] > 0
               for _, m in records(messages, "happiness_ratings_report"))
