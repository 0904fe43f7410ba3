"""The emulator's Docs API v1 (tests/emulator/docs_api.py, docs_data.py): auth, envelopes and
paging, ArticleRef against Article, every reading, the rate limit stepped with a fake clock,
errors, changes between runs, faults and mangle on Docs paths, and the Mailbox API beside it.
In-process and fast: no sleeping."""
import base64
import json
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from tests.emulator import Emulator
from tests.emulator.docs_api import REF_FIELDS
from tests.support.fake_clock import FakeClock

pytestmark = pytest.mark.timeout(120)

SMALL = dict(seed=3, conversations=10, customers=5, ratings=5, prerender=False)
HEX24 = re.compile(r"^[0-9a-f]{24}$")
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
ARTICLE_FIELDS = REF_FIELDS + ("text", "categories", "related", "keywords")


class Client:
    """GETs on the Docs API with the emulator's key (or another one)."""

    def __init__(self, emu, key=None, password="X"):
        self.emu = emu
        self.session = requests.Session()
        self.session.auth = (emu.docs_api_key if key is None else key, password)

    def get(self, path, **params):
        return self.session.get(self.emu.docs_base_url + path, params=params, timeout=10)

    def json(self, path, **params):
        response = self.get(path, **params)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json()

    def items(self, path, plural="articles", **params):
        """Every item of a list, page after page until `page >= pages`."""
        found, page = [], 1
        while True:
            body = self.json(path, page=page, **params)[plural]
            found += body["items"]
            if page >= body["pages"]:
                return found
            page += 1


@pytest.fixture(scope="module")
def shared():
    """One emulator for the tests that only read (default Docs sizes)."""
    with Emulator(**SMALL) as emu:
        yield emu, Client(emu)


@pytest.fixture
def docs(make_emulator):
    """A factory: an emulator with `options` and a Docs client for it."""
    def make(**options):
        emu = make_emulator(**{**SMALL, **options})
        return emu, Client(emu)
    return make


def big_collection(client):
    collections = client.json("/collections")["collections"]["items"]
    return max(collections, key=lambda c: c["articleCount"])


# ------------------------------------------------------------------------------------ auth

def test_the_key_is_40_hex_and_any_password_goes(shared):
    emu, _ = shared
    assert re.fullmatch(r"[0-9a-f]{40}", emu.docs_api_key)
    assert emu.docs_base_url == f"http://127.0.0.1:{emu.port}/docs-api/v1"
    for password in ("X", "", "anything at all"):
        assert Client(emu, password=password).get("/sites").status_code == 200
    raw = base64.b64encode(emu.docs_api_key.encode()).decode()       # no colon at all
    assert requests.get(emu.docs_base_url + "/sites", headers={"Authorization": "Basic " + raw}).status_code == 200


def test_a_wrong_or_missing_key_gets_401_in_the_v1_envelope(shared):
    emu, _ = shared
    for response in (Client(emu, key="0" * 40).get("/sites"), requests.get(emu.docs_base_url + "/collections"),
                     requests.get(emu.docs_base_url + "/sites", headers={"Authorization": "Basic !!notbase64"})):
        assert response.status_code == 401
        assert response.headers["Content-Type"] == "application/json"
        body = response.json()
        assert body["status"] == 401 and isinstance(body["message"], str) and emu.docs_api_key not in response.text


def test_mailbox_tokens_do_not_open_the_docs_api_and_the_key_does_not_open_v2(shared):
    emu, client = shared
    token = emu.issue_access_token()
    assert requests.get(emu.docs_base_url + "/sites", headers={"Authorization": "Bearer " + token}).status_code == 401
    assert requests.get(emu.base_url + "/users", auth=(emu.docs_api_key, "X")).status_code == 401
    assert requests.get(emu.base_url + "/users", headers={"Authorization": "Bearer " + token}).status_code == 200
    assert client.get("/sites").status_code == 200


def test_a_fixed_key_and_a_user_without_docs_permission(docs):
    emu, client = docs(docs_api_key="k" * 40, docs_key_forbidden=True)
    assert emu.docs_api_key == "k" * 40
    forbidden = client.get("/collections")
    assert forbidden.status_code == 403 and forbidden.json()["status"] == 403
    assert Client(emu, key="wrong").get("/collections").status_code == 401
    emu.docs.key_forbidden = False
    assert client.get("/collections").status_code == 200


# ------------------------------------------------------------------------------------ envelopes and paging

def test_sites_wrapped_by_default_and_bare_as_the_list_page_shows(shared, docs):
    _, client = shared
    body = client.json("/sites")
    assert list(body) == ["sites"] and {k: body["sites"][k] for k in ("page", "pages", "count")} == \
        {"page": 1, "pages": 1, "count": 2}
    site = body["sites"]["items"][0]
    assert client.json(f"/sites/{site['id']}") == {"site": site}
    assert {"homePageContent", "pageBgColor", "includeMetadata"} <= set(site), "undocumented keys, as real answers"
    _, bare_client = docs(docs_sites_envelope="bare")
    bare = bare_client.json("/sites")
    assert set(bare) == {"page", "pages", "count", "items"} and bare["count"] == 2


def test_article_pages_count_and_a_page_past_the_end(shared):
    _, client = shared
    big = big_collection(client)
    assert big["articleCount"] == 210
    path = f"/collections/{big['id']}/articles"
    first = client.json(path)["articles"]
    assert (first["page"], first["pages"], first["count"], len(first["items"])) == (1, 5, 210, 50), "pageSize 50"
    at_100 = [client.json(path, pageSize=100, page=p)["articles"] for p in (1, 2, 3)]
    assert [len(b["items"]) for b in at_100] == [100, 100, 10] and {b["pages"] for b in at_100} == {3}
    past = client.json(path, pageSize=100, page=7)
    assert past == {"articles": {"page": 7, "pages": 3, "count": 210, "items": []}}
    ids = [a["id"] for a in client.items(path, pageSize=100, sort="number", order="asc")]
    assert len(ids) == len(set(ids)) == 210


def test_non_article_lists_have_50_per_page(docs):
    _, client = docs(docs_sites=1, docs_collections=60, docs_categories=55, docs_articles=120)
    collections = client.json("/collections")["collections"]
    assert (collections["pages"], collections["count"], len(collections["items"])) == (2, 60, 50)
    assert len(client.json("/collections", page=2)["collections"]["items"]) == 10
    first = client.items("/collections", "collections", sort="number")[0]
    categories = client.json(f"/collections/{first['id']}/categories")["categories"]
    assert (categories["pages"], categories["count"]) == (2, 56), "55 named and Uncategorized"
    assert client.json(f"/collections/{first['id']}/categories", page=3)["categories"]["items"] == []


def test_no_knowledge_base(docs):
    _, client = docs(docs_articles=0)
    for path, plural in (("/sites", "sites"), ("/collections", "collections")):
        assert client.json(path) == {plural: {"page": 1, "pages": 0, "count": 0, "items": []}}


# ------------------------------------------------------------------------------------ ArticleRef and Article

def test_lists_carry_article_refs_and_the_get_carries_the_article(shared):
    _, client = shared
    big = big_collection(client)
    refs = client.items(f"/collections/{big['id']}/articles", pageSize=100)
    assert all(tuple(ref) == REF_FIELDS for ref in refs), "no text, categories, related or keywords in lists"
    article = client.json(f"/articles/{refs[0]['id']}")["article"]
    assert tuple(article) == ARTICLE_FIELDS
    assert {k: article[k] for k in REF_FIELDS} == refs[0]
    assert client.json(f"/articles/{article['number']}") == {"article": article}, "by number too"


def test_draft_true_serves_the_draft_text(shared):
    emu, client = shared
    with_draft = next(a for a in emu.docs.data.articles if a["hasDraft"])
    published = client.json(f"/articles/{with_draft['id']}")["article"]["text"]
    draft = client.json(f"/articles/{with_draft['id']}", draft="true")["article"]["text"]
    assert draft != published and draft == emu.docs.data.drafts[with_draft["id"]]
    assert client.json(f"/articles/{with_draft['id']}", draft="false")["article"]["text"] == published
    assert client.get(f"/articles/{with_draft['id']}", draft="yes").status_code == 400


def test_related_articles_list(shared):
    emu, client = shared
    article = next(a for a in emu.docs.data.articles if len(a["related"]) >= 2)
    related = client.json(f"/articles/{article['id']}/related")["articles"]
    assert sorted(r["id"] for r in related["items"]) == sorted(article["related"])
    assert all(tuple(r) == REF_FIELDS for r in related["items"])


# ------------------------------------------------------------------------------------ the dataset's traps

def test_records_ids_numbers_users_and_timestamps(shared):
    emu, client = shared
    user_ids = {u["id"] for u in emu.data.users}
    for collection in client.items("/collections", "collections"):
        assert HEX24.match(collection["id"]) and isinstance(collection["number"], int)
        for category in client.items(f"/collections/{collection['id']}/categories", "categories"):
            assert HEX24.match(category["id"]) and category["collectionId"] == collection["id"]
        for ref in client.items(f"/collections/{collection['id']}/articles", pageSize=100):
            assert HEX24.match(ref["id"]) and isinstance(ref["number"], int) and ref["createdBy"] in user_ids
            assert ref["updatedBy"] is None or ref["updatedBy"] in user_ids
            for key in ("createdAt", "updatedAt", "lastPublishedAt"):
                assert ref[key] is None or STAMP.match(ref[key])
            assert isinstance(ref["popularity"], float) and 1.0 <= ref["popularity"] <= 5.0
    visibilities = {c["visibility"] for c in emu.docs.data.collections}
    assert visibilities == {"public", "private"}


def test_never_edited_never_published_and_uncategorized(shared):
    emu, client = shared
    articles = emu.docs.data.articles
    assert any(a["updatedAt"] is None and a["updatedBy"] is None for a in articles)
    assert any(a["lastPublishedAt"] is None and a["status"] == "notpublished" for a in articles)
    assert any(a["lastPublishedAt"] is not None and a["status"] == "notpublished" for a in articles)
    assert any(len(a["categories"]) >= 2 for a in articles)
    assert any("\u2028" in a["text"] for a in articles) and any("📘" in a["text"] for a in articles)
    big = big_collection(client)
    categories = client.items(f"/collections/{big['id']}/categories", "categories")
    uncategorized = next(c for c in categories if c["name"] == "Uncategorized")
    assert uncategorized["updatedAt"] is None and uncategorized["updatedBy"] is None
    listed = client.items(f"/categories/{uncategorized['id']}/articles", pageSize=100)
    expected = {a["id"] for a in articles if a["collectionId"] == big["id"] and not a["categories"]}
    assert {a["id"] for a in listed} == expected and uncategorized["articleCount"] == len(expected) > 0
    assert client.json(f"/categories/{uncategorized['number']}")["category"] == uncategorized
    in_one = client.json(f"/articles/{next(iter(expected))}")["article"]
    assert in_one["categories"] == [], "the default reading"
    multi = next(a for a in articles if len(a["categories"]) >= 2)
    for category_id in multi["categories"]:
        assert multi["id"] in {a["id"] for a in client.items(f"/categories/{category_id}/articles", pageSize=100)}


def test_a_bulk_edit_ties_12_articles_on_one_second_across_page_boundaries(shared):
    emu, client = shared
    big = big_collection(client)
    path = f"/collections/{big['id']}/articles"
    ordered = client.items(path, pageSize=100, sort="updatedAt", order="desc")
    group = set(emu.docs.data.tie_group)
    ranks = [i for i, a in enumerate(ordered) if a["id"] in group]
    assert len(group) == 12 and ranks == list(range(94, 106))
    assert len({ordered[i]["updatedAt"] for i in ranks}) == 1
    for size in (10, 50, 100):
        assert ranks[0] // size != ranks[-1] // size, f"the group straddles a page boundary at pageSize {size}"
    batch = [emu.docs.data.article(i) for i in emu.docs.data.import_batch]
    assert len(batch) == 8 and len({a["createdAt"] for a in batch}) == 1


def test_the_knowledge_base_is_a_function_of_the_seed(make_emulator):
    one, two = (make_emulator(**SMALL) for _ in range(2))
    assert one.docs.data.articles == two.docs.data.articles and one.docs_api_key != two.docs_api_key
    other = make_emulator(**{**SMALL, "seed": 4})
    assert other.docs.data.articles != one.docs.data.articles


# ------------------------------------------------------------------------------------ sorting and filters

def test_sorting_and_filters(shared):
    emu, client = shared
    big = big_collection(client)
    path = f"/collections/{big['id']}/articles"
    numbers = [a["number"] for a in client.items(path, pageSize=100, sort="number")]
    assert numbers == sorted(numbers, reverse=True), "order defaults to desc for articles"
    assert [a["number"] for a in client.items(path, pageSize=100, sort="number", order="asc")] == sorted(numbers)
    names = [a["name"] for a in client.items(path, pageSize=100, sort="name", order="asc")]
    assert names == sorted(names)
    published = client.json(path, status="published")["articles"]["count"]
    unpublished = client.json(path, status="notpublished")["articles"]["count"]
    assert published + unpublished == 210 and published == big["publishedArticleCount"]
    collections = client.items("/collections", "collections")
    assert [c["order"] for c in collections] == sorted(c["order"] for c in collections), "order asc by default"
    assert {c["visibility"] for c in client.items("/collections", "collections", visibility="private")} == {"private"}
    site = emu.docs.data.sites[1]["id"]
    assert {c["siteId"] for c in client.items("/collections", "collections", siteId=site)} == {site}
    by_count = client.items(f"/collections/{big['id']}/categories", "categories", sort="articleCount", order="desc")
    assert [c["articleCount"] for c in by_count] == sorted((c["articleCount"] for c in by_count), reverse=True)


def test_null_updated_at_sorts_lowest_or_as_created(shared, docs):
    _, client = shared
    big = big_collection(client)
    path = f"/collections/{big['id']}/articles"
    desc = client.items(path, pageSize=100, sort="updatedAt")
    nulls = [i for i, a in enumerate(desc) if a["updatedAt"] is None]
    assert nulls and nulls == list(range(len(desc) - len(nulls), len(desc))), "nulls last in desc"
    asc = client.items(path, pageSize=100, sort="updatedAt", order="asc")
    assert all(a["updatedAt"] is None for a in asc[:len(nulls)])
    _, created_client = docs(docs_null_updated_at_sort="created")
    mixed = created_client.items(path, pageSize=100, sort="updatedAt")
    keys = [a["updatedAt"] or a["createdAt"] for a in mixed]
    assert keys == sorted(keys, reverse=True)
    first_null = next(i for i, a in enumerate(mixed) if a["updatedAt"] is None)
    assert any(a["updatedAt"] is not None for a in mixed[first_null:]), "nulls among the dated rows"


# ------------------------------------------------------------------------------------ readings

def test_new_article_updated_at_reading(docs):
    emu, client = docs(docs_new_article_updated_at="created")
    never = next(a for a in emu.docs.data.articles if a["updatedAt"] is None)
    served = client.json(f"/articles/{never['id']}")["article"]
    assert served["updatedAt"] == served["createdAt"] and served["updatedBy"] is None
    new_id = emu.docs.add_article(emu.docs.data.collections[0]["id"])
    fresh = client.json(f"/articles/{new_id}")["article"]
    assert fresh["updatedAt"] == fresh["createdAt"]
    default_emu, default_client = docs()
    fresh = default_client.json(f"/articles/{default_emu.docs.add_article(default_emu.docs.data.collections[0]['id'])}")
    assert fresh["article"]["updatedAt"] is None and fresh["article"]["updatedBy"] is None


def test_page_size_over_100_rejected_or_clamped(shared, docs):
    _, client = shared
    path = f"/collections/{big_collection(client)['id']}/articles"
    refused = client.get(path, pageSize=101)
    assert refused.status_code == 400 and refused.json()["status"] == 400
    _, clamping = docs(docs_page_size_over_100="clamp")
    body = clamping.json(path, pageSize=500)["articles"]
    assert (len(body["items"]), body["pages"]) == (100, 3)


def test_unstable_ties_reorder_tied_rows_per_request(shared, docs):
    _, client = shared
    path = f"/collections/{big_collection(client)['id']}/articles"
    stable = [[a["id"] for a in client.json(path, sort="updatedAt", pageSize=100)["articles"]["items"]]
              for _ in range(3)]
    assert stable[0] == stable[1] == stable[2]
    emu, unstable_client = docs(docs_unstable_ties=True)
    group = set(emu.docs.data.tie_group)
    orders = [[a["id"] for a in unstable_client.items(path, sort="updatedAt", pageSize=100)] for _ in range(6)]
    assert len({tuple(o) for o in orders}) > 1, "a new order per request"
    pages_one = {tuple(a for a in o[:100] if a in group) for o in orders}
    assert len(pages_one) > 1, "which tied rows land on page 1 changes"
    stamps = [a["updatedAt"] for a in client.items(path, sort="updatedAt", pageSize=100)]
    untied = [i for i, stamp in enumerate(stamps) if stamps.count(stamp) == 1]
    assert len(untied) > 100 and all([o[i] for i in untied] == [orders[0][i] for i in untied] for o in orders), \
        "rows with distinct values keep their place (never-edited rows, all null, tie too)"


def test_views_change_popularity_not_updated_at_unless_the_reading(docs):
    emu, client = docs()
    article = next(a for a in emu.docs.data.articles if a["viewCount"] == 0)
    before = client.json(f"/articles/{article['id']}")["article"]
    emu.docs.view_article(article["id"], 1000)
    after = client.json(f"/articles/{article['id']}")["article"]
    assert (after["viewCount"], after["popularity"]) == (1000, 4.0) and before["popularity"] == 1.0
    assert after["updatedAt"] == before["updatedAt"]
    touched, touched_client = docs(docs_views_touch_updated_at=True)
    article = touched.docs.data.articles[0]
    old = touched_client.json(f"/articles/{article['id']}")["article"]["updatedAt"]
    touched.docs.data.now = lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    touched.docs.view_article(article["id"])
    assert touched_client.json(f"/articles/{article['id']}")["article"]["updatedAt"] == "2026-01-02T03:04:05Z" != old


def test_uncategorized_in_categories_reading(docs):
    emu, client = docs(docs_uncategorized_in_categories=True)
    loose = next(a for a in emu.docs.data.articles if not a["categories"])
    served = client.json(f"/articles/{loose['id']}")["article"]
    assert served["categories"] == [emu.docs.data.uncategorized(loose["collectionId"])["id"]]


def test_bad_options_are_refused():
    with pytest.raises(ValueError):
        Emulator(**SMALL, docs_sites_envelope="naked")
    with pytest.raises(ValueError):
        Emulator(**SMALL, docs_rate_limit=0)
    with pytest.raises(TypeError):
        Emulator(**SMALL, docs_colections=3)


# ------------------------------------------------------------------------------------ rate limit

def test_rate_limit_headers_429_without_retry_after_and_recovery_after_the_window(docs):
    emu, client = docs(docs_rate_limit=3)
    clock = emu.docs.rate_limiter.clock = FakeClock()
    answers = []
    for _ in range(3):
        response = client.get("/sites")
        answers.append((response.status_code, response.headers["X-RateLimit-Limit"],
                        response.headers["X-RateLimit-Remaining"], response.headers["X-RateLimit-Reset"]))
        clock.advance(100.25)
    assert answers == [(200, "3", "2", "600"), (200, "3", "1", "500"), (200, "3", "0", "400")], "rounded up"
    refused = client.get("/sites")                     # t = 300.75
    assert refused.status_code == 429 and refused.json() == {"status": 429, "message": refused.json()["message"]}
    assert refused.headers["X-RateLimit-Remaining"] == "0" and refused.headers["X-RateLimit-Reset"] == "300"
    assert "Retry-After" not in refused.headers and "X-RateLimit-Retry-After" not in refused.headers
    assert emu.throttled == 1
    clock.advance(298.75)                               # t = 599.5: still this window
    late = client.get("/sites")
    assert late.status_code == 429 and late.headers["X-RateLimit-Reset"] == "1"
    clock.advance(0.5)                                  # t = 600: the window has ended
    recovered = client.get("/sites")
    assert recovered.status_code == 200 and recovered.headers["X-RateLimit-Remaining"] == "2"
    assert recovered.headers["X-RateLimit-Reset"] == "600", "the window opens with the first request after"


def test_bad_key_requests_count_and_the_window_scales(docs):
    emu, client = docs(docs_rate_limit=2, time_scale=0.1)
    emu.docs.rate_limiter.clock = FakeClock()
    assert Client(emu, key="nope").get("/sites").status_code == 401
    ok = client.get("/sites")
    assert ok.headers["X-RateLimit-Remaining"] == "0" and ok.headers["X-RateLimit-Reset"] == "60"
    assert client.get("/sites").status_code == 429


def test_default_limit_follows_the_sites_and_none_still_sends_headers(docs):
    for sites, limit in ((1, "2000"), (2, "3000"), (3, "4000")):
        _, client = docs(docs_sites=sites)
        assert client.get("/sites").headers["X-RateLimit-Limit"] == limit
    _, unlimited = docs(docs_rate_limit=None)
    headers = unlimited.get("/sites").headers
    assert headers["X-RateLimit-Limit"] == "1000000" and headers["X-RateLimit-Reset"] == "600"


def test_docs_and_mailbox_limits_are_separate(docs):
    emu, client = docs(rate_limit=2, docs_rate_limit=2)
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + emu.issue_access_token()
    assert [client.get("/sites").status_code for _ in range(3)] == [200, 200, 429]
    mailbox = session.get(emu.base_url + "/users")
    assert mailbox.status_code == 200 and mailbox.headers["X-RateLimit-Remaining-Minute"] == "1"
    assert "X-RateLimit-Reset" not in mailbox.headers
    assert "X-RateLimit-Limit-Minute" not in client.get("/sites").headers


# ------------------------------------------------------------------------------------ errors

def test_unknown_ids_and_paths_404_bad_values_400_writes_405(shared):
    emu, client = shared
    for path in ("/articles/0123456789abcdef01234567", "/articles/999999", "/collections/nope",
                 "/categories/0123456789abcdef01234567", "/sites/x", "/nothing", "/collections/x/articles"):
        response = client.get(path)
        assert response.status_code == 404 and response.json()["status"] == 404, path
    assert requests.get(f"http://127.0.0.1:{emu.port}/docs-api/v2/sites", auth=client.session.auth).status_code == 404
    collection = emu.docs.data.collections[0]["id"]
    for params in ({"page": "0"}, {"page": "x"}, {"pageSize": "0"}, {"status": "draft"}, {"sort": "title"},
                   {"order": "DESC"}):
        response = client.get(f"/collections/{collection}/articles", **params)
        assert response.status_code == 400 and response.json()["status"] == 400, params
    assert client.get("/collections", visibility="secret").status_code == 400
    assert client.get("/collections", sort="popularity").status_code == 400
    for method in ("post", "put", "delete"):
        response = getattr(client.session, method)(emu.docs_base_url + "/collections", json={})
        assert response.status_code == 405 and response.json()["status"] == 405


# ------------------------------------------------------------------------------------ changes between runs

def test_modify_add_delete_and_views(docs):
    emu, client = docs()
    big = big_collection(client)
    path = f"/collections/{big['id']}/articles"
    target = client.items(path, pageSize=100, sort="updatedAt", order="asc")[-50]
    before = datetime.now(timezone.utc).replace(microsecond=0)
    emu.docs.modify_article(target["id"], name="Renamed — überarbeitet", text="<p>New text 🆕</p>")
    newest = client.json(path, sort="updatedAt", pageSize=1)["articles"]["items"][0]
    assert newest["id"] == target["id"] and newest["name"] == "Renamed — überarbeitet"
    stamp = datetime.strptime(newest["updatedAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert before <= stamp <= datetime.now(timezone.utc) + timedelta(seconds=1)
    assert client.json(f"/articles/{target['id']}")["article"]["text"] == "<p>New text 🆕</p>"

    category = next(c for c in emu.docs.data.categories
                    if c["collectionId"] == big["id"] and c["name"] == "Getting Started")
    new_id = emu.docs.add_article(big["id"], categories=[category["id"]], name="Brand new", status="notpublished")
    assert HEX24.match(new_id)
    fresh = client.json(f"/articles/{new_id}")["article"]
    assert fresh["categories"] == [category["id"]] and fresh["lastPublishedAt"] is None
    assert client.json(path)["articles"]["count"] == 211
    assert client.json(f"/collections/{big['id']}")["collection"]["articleCount"] == 211
    assert new_id in {a["id"] for a in client.items(f"/categories/{category['id']}/articles", pageSize=100)}

    referenced = next(a for a in emu.docs.data.articles if any(a["id"] in o["related"] for o in emu.docs.data.articles))
    holder = next(o for o in emu.docs.data.articles if referenced["id"] in o["related"])
    emu.docs.delete_article(referenced["id"])
    gone = client.get(f"/articles/{referenced['id']}")
    assert gone.status_code == 404 and gone.json()["status"] == 404
    assert referenced["id"] not in client.json(f"/articles/{holder['id']}")["article"]["related"]
    total = sum(c["articleCount"] for c in client.items("/collections", "collections"))
    assert total == 300

    emu.docs.view_article(new_id, 9)
    viewed = client.json(f"/articles/{new_id}")["article"]
    assert viewed["viewCount"] == 9 and viewed["popularity"] == 2.0 and viewed["updatedAt"] is None
    with pytest.raises(KeyError):
        emu.docs.delete_article("0" * 24)


def test_publish_unpublish_drafts_moves_categories_and_collections(docs):
    emu, client = docs()
    emu.docs.data.now = lambda: datetime(2026, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    never = next(a for a in emu.docs.data.articles if a["lastPublishedAt"] is None)
    emu.docs.save_draft(never["id"], "<p>Draft ✍️</p>")
    assert client.json(f"/articles/{never['id']}")["article"]["hasDraft"] is True
    assert client.json(f"/articles/{never['id']}")["article"]["updatedAt"] == never["updatedAt"]
    emu.docs.publish_article(never["id"])
    published = client.json(f"/articles/{never['id']}")["article"]
    assert (published["status"], published["lastPublishedAt"], published["updatedAt"], published["hasDraft"],
            published["text"]) == ("published", "2026-02-03T04:05:06Z", "2026-02-03T04:05:06Z", False,
                                   "<p>Draft ✍️</p>")
    emu.docs.unpublish_article(never["id"])
    assert client.json(f"/articles/{never['id']}")["article"]["status"] == "notpublished"

    collection = emu.docs.data.collections[0]["id"]
    category_id = emu.docs.add_category(collection, "Nouveautés")
    category = client.json(f"/categories/{category_id}")["category"]
    assert (category["articleCount"], category["updatedAt"], category["name"]) == (0, None, "Nouveautés")
    mover = next(a for a in emu.docs.data.articles if a["collectionId"] == collection and a["updatedAt"])
    emu.docs.move_article(mover["id"], [category_id])
    assert client.json(f"/categories/{category_id}")["category"]["articleCount"] == 1
    assert client.json(f"/articles/{mover['id']}")["article"]["updatedAt"] == mover["updatedAt"], "a move is no edit"
    emu.docs.delete_category(category_id)
    assert client.get(f"/categories/{category_id}").status_code == 404
    assert client.json(f"/articles/{mover['id']}")["article"]["categories"] == []
    with pytest.raises(ValueError):
        emu.docs.delete_category(emu.docs.data.uncategorized(collection)["id"])

    new_collection = emu.docs.add_collection(name="Empty", visibility="private")
    body = client.json(f"/collections/{new_collection}")["collection"]
    assert (body["articleCount"], body["visibility"], body["updatedAt"]) == (0, "private", None)
    assert client.json(f"/collections/{new_collection}/categories")["categories"]["count"] == 1
    emu.docs.delete_collection(collection)
    assert client.get(f"/collections/{collection}").status_code == 404
    assert client.json("/collections")["collections"]["count"] == 4
    assert sum(c["articleCount"] for c in client.items("/collections", "collections")) == 90


# ------------------------------------------------------------------------------------ faults, mangle, log

def test_faults_on_docs_paths(docs):
    emu, client = docs()
    emu.add_fault("500", path="/docs-api/v1/collections")
    assert client.get("/sites").status_code == 200, "another path"
    failed = client.get("/collections")
    assert failed.status_code == 500 and failed.json() == {"status": 500, "message": failed.json()["message"]}
    assert client.get("/collections").status_code == 200
    emu.add_fault("429", path="/docs-api", retry_after=7)
    throttled = client.get("/sites")
    assert throttled.status_code == 429 and throttled.headers["X-RateLimit-Reset"] == "7"
    assert throttled.headers["X-RateLimit-Remaining"] == "0" and "Retry-After" not in throttled.headers
    emu.add_fault("503", path="/docs-api/v1/sites")
    gateway = client.get("/sites")
    assert gateway.status_code == 503 and gateway.headers["Content-Type"].startswith("text/html")
    emu.add_fault("401", path="/docs-api")
    assert [client.get("/sites").status_code for _ in range(2)] == [401, 200], "the key stays valid"
    emu.add_fault("drop", path="/docs-api")
    with pytest.raises(requests.ConnectionError):
        client.get("/sites")
    emu.add_fault("cut", path="/docs-api")
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        client.get("/collections")
    assert [r.fault for r in emu.requests if r.fault] == ["500", "429", "503", "401", "drop", "cut"]
    emu.add_fault("500", path="/conversations")
    assert client.get("/sites").status_code == 200, "a /v2 prefix does not hit the Docs API"
    emu.clear_faults()
    emu.add_fault("500", nth=2)
    assert [client.get("/sites").status_code for _ in range(2)] == [200, 500], "no path: Docs requests count"
    assert emu.errors == []


def test_mangle_and_the_request_log_cover_docs_answers(docs):
    emu, client = docs()
    seen = []

    def mangle(path, query, body):
        seen.append((path, query))
        if path.endswith("/collections"):
            body["collections"]["items"] = body["collections"]["items"][:1]
        return body
    emu.mangle = mangle
    emu.clear_requests()
    body = client.json("/collections", page="1")
    assert len(body["collections"]["items"]) == 1 and body["collections"]["count"] == 4
    assert seen == [("/docs-api/v1/collections", {"page": "1"})]
    assert client.get("/nothing").status_code == 404 and len(seen) == 1, "2xx answers only"
    emu.mangle = lambda path, query, body: b"{not json"
    assert client.get("/sites").content == b"{not json"
    logged = [(r.method, r.path, r.status) for r in emu.requests]
    assert logged == [("GET", "/docs-api/v1/collections", 200), ("GET", "/docs-api/v1/nothing", 404),
                      ("GET", "/docs-api/v1/sites", 200)]
    assert emu.requests[0].query == {"page": "1"} and "authorization" in emu.requests[0].headers


# ------------------------------------------------------------------------------------ the Mailbox API beside it

def test_the_mailbox_api_answers_as_before(shared):
    emu, client = shared
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + emu.issue_access_token()
    users = session.get(emu.base_url + "/users")
    assert users.status_code == 200 and users.headers["Content-Type"] == "application/hal+json"
    assert "X-RateLimit-Limit-Minute" in users.headers and "Correlation-Id" not in users.headers
    assert session.get(emu.base_url + "/conversations", params={"status": "all"}).json()["page"]["totalElements"] == 10
    assert session.get(f"http://127.0.0.1:{emu.port}/elsewhere").status_code == 404
    assert emu.errors == []


def test_command_line_writes_the_docs_settings(tmp_path):
    config = tmp_path / "config.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--port", "0", "--conversations", "5", "--customers", "5",
         "--docs-articles", "40", "--docs-collections", "2", "--docs-api-key", "c" * 40,
         "--docs-sites-envelope", "bare", "--docs-rate-limit", "7", "--config-out", str(config)],
        cwd=Path(__file__).resolve().parents[3], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base_url = process.stdout.readline().strip()
        settings = json.loads(config.read_text())
        assert settings["base_url"] == base_url and settings["docs_api_key"] == "c" * 40
        assert settings["docs_base_url"] == base_url[: -len("/v2")] + "/docs-api/v1"
        sites = requests.get(settings["docs_base_url"] + "/sites", auth=(settings["docs_api_key"], "X"), timeout=10)
        assert sites.headers["X-RateLimit-Limit"] == "7" and set(sites.json()) == {"page", "pages", "count", "items"}
        collections = requests.get(settings["docs_base_url"] + "/collections", auth=(settings["docs_api_key"], "X"),
                                   timeout=10).json()["collections"]
        assert sum(c["articleCount"] for c in collections["items"]) == 40
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
