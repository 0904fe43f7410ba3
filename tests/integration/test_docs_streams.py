"""The knowledge base (Help Scout's Docs API): the real executable against the emulator's Docs API
on loopback. Every site, collection, category and article arrives with the served values (the
text included) at one request per list page and per article; a later run reads the text of the
new and changed articles only; the Docs API's own key, rate limit and failures touch the Docs
streams only."""
import base64
import json
import math
from datetime import datetime, timedelta, timezone

import pytest

from tests.support.expected import as_row, columns
from tests.support.loopback import LoopbackServer, read_request
from tests.support import tap_runner
from tests.support.tap_runner import offline_catalog, run_tap, select, write_config, write_json

pytestmark = pytest.mark.timeout(240)

DOCS_STREAMS = ["docs_sites", "docs_collections", "docs_categories", "docs_articles", "docs_article_stats"]


def docs_config(emu, directory, **extra):
    """A config with the Docs API key alone (no OAuth2 keys)."""
    return write_json(directory / "config.json", {"docs_api_key": emu.docs_api_key,
                                                   "docs_base_url": emu.docs_base_url, **extra})


def docs_secrets(emu):
    """The key and the Basic header's forms of it."""
    key = emu.docs_api_key
    return [key] + [base64.b64encode(f"{key}:{password}".encode()).decode() for password in ("X", "")]


def docs_requests(emu):
    return [r for r in emu.requests if r.path.startswith("/docs-api/")]


def article_gets(emu):
    return [r for r in docs_requests(emu) if r.path.startswith("/docs-api/v1/articles/")]


def list_pages(data):
    """The fewest list requests of a complete read: sites and collections (50 a page), the
    categories of each collection (50 a page), its articles (100 a page); an empty list costs one."""
    pages = lambda n, size: max(1, math.ceil(n / size))   # noqa: E731
    collections = data.collections
    return (pages(len(data.sites), 50) + pages(len(collections), 50)
            + sum(pages(len([c for c in data.categories if c["collectionId"] == col["id"]]), 50) for col in collections)
            + sum(pages(len(data.articles_in_collection(col["id"])), 100) for col in collections))


def expected(data):
    """{stream: {id: row}} from the emulator's records, snake_cased, with the counts the API
    computes when it serves them, restricted to each stream's columns."""
    def rows(stream, items, extra=lambda item: {}):
        wanted = columns(stream)
        return {item["id"]: {k: v for k, v in {**as_row(item), **extra(item)}.items() if k in wanted} for item in items}

    def in_category(category):
        if category["id"] in data.uncategorized_ids:
            return [a for a in data.articles if a["collectionId"] == category["collectionId"] and not a["categories"]]
        return [a for a in data.articles if category["id"] in a["categories"]]
    return {
        "docs_sites": rows("docs_sites", data.sites),
        "docs_collections": rows("docs_collections", data.collections, lambda c: {
            "article_count": len(data.articles_in_collection(c["id"])),
            "published_article_count": sum(a["status"] == "published" for a in data.articles_in_collection(c["id"]))}),
        "docs_categories": rows("docs_categories", data.categories, lambda c: {"article_count": len(in_category(c))}),
        "docs_articles": rows("docs_articles", data.articles),
        "docs_article_stats": rows("docs_article_stats", data.articles),
    }


def by_id(run, stream):
    return {r["id"]: r for r in run.records(stream)}


def test_a_full_sync_delivers_the_whole_knowledge_base_with_its_text_within_the_request_bound(make_emulator, tmp_path):
    emu = make_emulator(seed=3)
    config = docs_config(emu, tmp_path)
    run = run_tap(config, catalog=select(offline_catalog(), DOCS_STREAMS), extra_secrets=docs_secrets(emu))
    want = expected(emu.docs.data)
    for stream in DOCS_STREAMS:
        got = by_id(run, stream)
        assert set(got) == set(want[stream]), stream
        for ident, row in want[stream].items():
            assert got[ident] == row, (stream, ident)
    assert all(r["text"] for r in run.records("docs_articles"))
    floor = list_pages(emu.docs.data) + len(emu.docs.data.articles)
    assert len(docs_requests(emu)) <= 1.1 * floor
    assert len(article_gets(emu)) == len(emu.docs.data.articles)
    # Full-table streams retire what a complete read did not find.
    activated = {m["stream"] for m in run.messages if m["type"] == "ACTIVATE_VERSION"}
    assert activated == {"docs_sites", "docs_collections", "docs_categories", "docs_article_stats"}


def test_a_later_run_reads_the_text_of_the_new_and_changed_articles_only(make_emulator, tmp_path):
    emu = make_emulator(seed=5)
    config = docs_config(emu, tmp_path)
    catalog = select(offline_catalog(), DOCS_STREAMS)
    first = run_tap(config, catalog=catalog)
    bookmark = first.last_state["bookmarks"]["docs_articles"]["updated_at"]
    data = emu.docs.data
    at_bookmark = {a["id"] for a in data.articles if (a["updatedAt"] or a["createdAt"]) == bookmark}
    changed = [data.articles[i]["id"] for i in (3, 150, 260)]
    # The four changes share one second, ten minutes before the next run.
    data.now = lambda: datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10)
    for ident in changed:
        emu.docs.modify_article(ident)
    added = emu.docs.add_article(data.collections[1]["id"], name="A new article")
    emu.requests.clear()
    second = run_tap(config, catalog=catalog, state=first.last_state)
    emitted = {r["id"] for r in second.records("docs_articles")}
    assert set(changed) | {added} <= emitted <= set(changed) | {added} | at_bookmark
    assert len(at_bookmark) <= 2
    assert len(docs_requests(emu)) <= list_pages(data) + 4 + 2
    assert by_id(second, "docs_articles")[added]["text"] == data.article(added)["text"]
    assert set(by_id(second, "docs_article_stats")) == {a["id"] for a in data.articles}
    # An unchanged knowledge base costs its list pages: the articles of the bookmark's second,
    # over more than bookmark_margin_seconds before the run read them, are not read again.
    emu.requests.clear()
    third = run_tap(config, catalog=catalog, state=second.last_state)
    assert third.records("docs_articles") == []
    assert len(docs_requests(emu)) == list_pages(data)


def test_views_reach_the_stats_and_a_deleted_article_leaves_them(make_emulator, tmp_path):
    emu = make_emulator(seed=2, docs_articles=60)
    config = docs_config(emu, tmp_path)
    catalog = select(offline_catalog(), ["docs_article_stats"])
    first = run_tap(config, catalog=catalog)
    viewed, deleted = emu.docs.data.articles[4]["id"], emu.docs.data.articles[9]["id"]
    emu.docs.view_article(viewed, times=25)
    emu.docs.delete_article(deleted)
    second = run_tap(config, catalog=catalog, state=first.last_state)
    stats = by_id(second, "docs_article_stats")
    assert deleted not in stats and len(stats) == 59
    assert stats[viewed]["view_count"] == by_id(first, "docs_article_stats")[viewed]["view_count"] + 25
    versions = {m["version"] for m in second.messages if m["type"] == "ACTIVATE_VERSION"}
    assert {r["version"] for r in second.messages if r["type"] == "RECORD"} == versions
    # Neither the article texts nor the categories were asked for.
    assert not article_gets(emu)


@pytest.mark.parametrize("ties", [False, True])
def test_under_a_small_docs_rate_limit_the_sync_completes_and_honours_every_429(make_emulator, tmp_path, ties):
    # A window of 1.2 s holding 40 requests; the knowledge base needs about 130.
    emu = make_emulator(seed=4, docs_articles=110, docs_rate_limit=40, time_scale=0.002,
                        docs_unstable_ties=ties)
    config = docs_config(emu, tmp_path, max_parallel_requests=4)
    run = run_tap(config, catalog=select(offline_catalog(), DOCS_STREAMS))
    assert set(by_id(run, "docs_articles")) == {a["id"] for a in emu.docs.data.articles}
    assert set(by_id(run, "docs_article_stats")) == {a["id"] for a in emu.docs.data.articles}
    # Every refused request was asked again (nothing missing above), and few were refused at all.
    floor = list_pages(emu.docs.data) + len(emu.docs.data.articles)
    assert len(docs_requests(emu)) <= 1.1 * floor + emu.throttled


def test_docs_streams_without_a_key_are_skipped_with_one_warning_and_the_run_goes_on(account):
    emu, config, catalog = account()
    run = run_tap(config, catalog=select(catalog, ["users", *DOCS_STREAMS]))
    assert run.returncode == 0 and run.records("users")
    assert not docs_requests(emu)
    warnings = [line for line in run.stderr.splitlines() if "docs_api_key" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0] and "docs_articles" in warnings[0]
    assert not any(m.get("stream", "").startswith("docs_") for m in run.messages)


def test_a_wrong_key_fails_the_docs_streams_in_one_line_and_the_mailbox_streams_finish(account, tmp_path):
    emu, _, catalog = account()
    config = write_config(emu, tmp_path, docs_api_key="0123456789abcdef0123456789abcdef01234567",
                          docs_base_url=emu.docs_base_url)
    run = run_tap(config, catalog=select(catalog, ["users", "tags", *DOCS_STREAMS]), check=False)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert "Docs API" in last and "docs_api_key" in last and "HTTP 401" in last
    assert len([line for line in run.stderr.splitlines() if "refused docs_api_key" in line]) <= 2
    assert "Traceback" not in run.stderr
    assert len(docs_requests(emu)) == 2              # a refusal is believed the second time
    streams = {m["stream"] for m in map(json.loads, run.stdout.splitlines()) if m["type"] == "RECORD"}
    assert streams == {"users", "tags"}


def test_a_key_without_docs_permission_is_named_too(make_emulator, tmp_path):
    emu = make_emulator(seed=1, docs_key_forbidden=True)
    run = run_tap(docs_config(emu, tmp_path), catalog=select(offline_catalog(), DOCS_STREAMS), check=False)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert "docs_api_key" in last and "HTTP 403" in last and "permission" in last


def test_a_docs_only_config_cannot_sync_mailbox_streams(make_emulator, tmp_path):
    emu = make_emulator(seed=1)
    run = run_tap(docs_config(emu, tmp_path), catalog=select(offline_catalog(), ["users", "docs_sites"]),
                  check=False)
    assert run.returncode == 1 and "credentials" in run.stderr.strip().splitlines()[-1]
    assert not emu.requests


class EchoingDocsApi(LoopbackServer):
    """Answers every request 400 with a message that repeats its Authorization header, the key
    decoded from it, and the header's base64 alone."""

    def handle(self, conn):
        try:
            request = read_request(conn)
            if request is None:
                return
            authorization = request[1].get("authorization", "")
            encoded = authorization.partition(" ")[2]
            key = base64.b64decode(encoded).decode().partition(":")[0] if encoded else ""
            body = json.dumps({"status": 400, "message": f"{authorization} refused; key={key}; "
                                                        f"raw {encoded}\nWARNING forged"}).encode()
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        finally:
            conn.close()


def test_an_api_echoing_the_key_and_its_basic_header_shows_neither(tmp_path):
    key = "docs-key-echo-0123456789abcdef0123"
    server = EchoingDocsApi()
    try:
        config = write_json(tmp_path / "config.json", {"docs_api_key": key,
                                                        "docs_base_url": f"http://127.0.0.1:{server.port}/v1"})
        secrets = [key] + [base64.b64encode(f"{key}:{p}".encode()).decode() for p in ("X", "")]
        run = run_tap(config, catalog=select(offline_catalog(), DOCS_STREAMS), check=False, extra_secrets=secrets)
    finally:
        server.close()
    assert run.returncode == 1 and "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert "HTTP 400" in last and "<redacted>" in last
    assert not any(line.startswith("WARNING forged") for line in run.stderr.splitlines())


@pytest.mark.parametrize("reading", [
    dict(docs_sites_envelope="bare"), dict(docs_new_article_updated_at="created"),
    dict(docs_null_updated_at_sort="created"), dict(docs_uncategorized_in_categories=True),
    dict(docs_page_size_over_100="clamp"), dict(docs_unstable_ties=True),
], ids=lambda reading: "-".join(f"{k}={v}" for k, v in reading.items()))
def test_every_reading_of_the_docs_api_delivers_every_row(make_emulator, tmp_path, reading):
    emu = make_emulator(seed=8, docs_articles=130, **reading)
    run = run_tap(docs_config(emu, tmp_path), catalog=select(offline_catalog(), DOCS_STREAMS))
    data = emu.docs.data
    for stream, items in (("docs_sites", data.sites), ("docs_collections", data.collections),
                          ("docs_categories", data.categories), ("docs_articles", data.articles),
                          ("docs_article_stats", data.articles)):
        assert set(by_id(run, stream)) == {item["id"] for item in items}, stream
    served = {a["id"]: a["updatedAt"] or (a["createdAt"] if reading.get("docs_new_article_updated_at") else None)
              for a in data.articles}
    assert {r["id"]: r["updated_at"] for r in run.records("docs_articles")} == served


def test_an_outage_of_the_docs_api_fails_the_docs_streams_only(account, tmp_path, monkeypatch):
    monkeypatch.setattr(tap_runner, "TAP", tap_runner.QUICK_TAP)
    emu, _, catalog = account()
    emu.add_fault("503", path="/docs-api/v1", fraction=1.0)
    config = write_config(emu, tmp_path, docs_api_key=emu.docs_api_key, docs_base_url=emu.docs_base_url)
    run = run_tap(config, catalog=select(catalog, ["users", "docs_articles"]), check=False)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert "docs_articles failed" in last and "Docs API" in last and "HTTP 503" in last
    assert '"stream": "users"' in run.stdout


def test_a_docs_rate_limit_wait_beyond_the_maximum_fails_the_docs_streams_only(account, tmp_path):
    emu, _, catalog = account()
    emu.add_fault("429", path="/docs-api/v1", retry_after=900)
    config = write_config(emu, tmp_path, docs_api_key=emu.docs_api_key, docs_base_url=emu.docs_base_url,
                          max_rate_limit_wait_seconds=60)
    run = run_tap(config, catalog=select(catalog, ["docs_sites", "tags"]), check=False)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert "docs_sites failed" in last and "max_rate_limit_wait_seconds" in last and "900" in last
    assert '"stream": "tags"' in run.stdout


def test_an_interrupted_run_continues_from_its_last_state_and_misses_no_article(make_emulator, tmp_path):
    emu = make_emulator(seed=9, docs_articles=350)
    config = docs_config(emu, tmp_path)
    catalog = select(offline_catalog(), ["docs_articles"])
    killed = tap_runner.run_until_killed(config, catalog, None, kill_after_lines=260, workdir=tmp_path)
    assert killed.returncode == -9
    committed = {r["id"] for r in killed.records("docs_articles")}
    assert 100 <= len(committed) < 350              # at least one chunk, and its STATE, went out
    state = killed.last_state
    resumed = run_tap(config, catalog=catalog, state=state)
    again = {r["id"] for r in resumed.records("docs_articles")}
    assert committed | again == {a["id"] for a in emu.docs.data.articles}
    assert len(again) <= 350 - len(committed) + 5    # it went on from the bookmark


def test_a_passing_refusal_of_the_key_is_tried_once_more(make_emulator, tmp_path):
    emu = make_emulator(seed=1, docs_articles=20)
    emu.add_fault("401", path="/docs-api/v1/collections")
    run = run_tap(docs_config(emu, tmp_path), catalog=select(offline_catalog(), DOCS_STREAMS))
    assert len(run.records("docs_articles")) == 20


class RedirectingDocsApi(LoopbackServer):
    """Redirects every request to `target` (another origin)."""

    def __init__(self, target):
        self.target = target
        super().__init__()

    def handle(self, conn):
        try:
            if read_request(conn) is not None:
                conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {self.target}\r\nContent-Length: 0\r\n"
                             f"Connection: close\r\n\r\n".encode())
        finally:
            conn.close()


class CountingServer(LoopbackServer):
    def handle(self, conn):
        conn.close()


def test_a_redirect_to_another_origin_is_not_followed_and_the_key_goes_nowhere_else(tmp_path):
    elsewhere = CountingServer()
    server = RedirectingDocsApi(f"http://127.0.0.1:{elsewhere.port}/v1/sites")
    try:
        config = write_json(tmp_path / "config.json", {"docs_api_key": "docs-key-redirect-0123456789abcdef",
                                                        "docs_base_url": f"http://127.0.0.1:{server.port}/v1"})
        run = run_tap(config, catalog=select(offline_catalog(), ["docs_sites"]), check=False)
    finally:
        server.close()
        elsewhere.close()
    assert run.returncode == 1 and elsewhere.connections == 0
    last = run.stderr.strip().splitlines()[-1]
    assert "docs_sites failed" in last and "redirects to" in last


def test_a_429_is_waited_out_for_the_seconds_its_reset_header_names_then_asked_again(make_emulator, tmp_path):
    emu = make_emulator(seed=1, docs_articles=20)
    emu.add_fault("429", path="/docs-api/v1/articles", retry_after=1)
    run = run_tap(docs_config(emu, tmp_path), catalog=select(offline_catalog(), ["docs_articles"]))
    assert len(run.records("docs_articles")) == 20
    gets = article_gets(emu)
    assert len(gets) == 21                          # the refused one, asked again
    [refused] = [r for r in gets if r.status == 429]
    assert any(r.path == refused.path and r.time >= refused.time + 0.9 for r in gets[1:])
    assert "HTTP 429" in run.stderr and "waits 1.0 s" in run.stderr
