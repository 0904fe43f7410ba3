"""--check for the Docs API streams, through the real executable against the emulator: the key
proved in one request, the estimate of the Docs requests against the sync that follows, and a
missing or refused key named as the problem to fix (or the streams to deselect)."""
import json

import pytest

from tests.support.tap_runner import offline_catalog, run_tap, select, write_config, write_json

pytestmark = pytest.mark.timeout(180)

DOCS_STREAMS = ["docs_sites", "docs_collections", "docs_categories", "docs_articles", "docs_article_stats"]


def check(config, catalog, tmp_path):
    args = ["--catalog", str(write_json(tmp_path / "selected.json", catalog))] if catalog else []
    run = run_tap(config, "--check", "--json", *args, check=False)
    result = json.loads(run.stdout)
    assert run.returncode == (0 if result["ok"] else 1)
    return result, run


def docs_requests(emu):
    return [r for r in emu.requests if r.path.startswith("/docs-api/")]


@pytest.mark.parametrize("articles", [40, 450])
def test_the_docs_estimate_is_the_sync_that_follows_with_one_request(make_emulator, tmp_path, articles):
    emu = make_emulator(seed=6, docs_articles=articles)
    config = write_json(tmp_path / "config.json", {"docs_api_key": emu.docs_api_key, "docs_base_url": emu.docs_base_url})
    catalog = select(offline_catalog(), DOCS_STREAMS)
    result, _ = check(config, catalog, tmp_path)
    assert result["ok"] and result["problems"] == []
    assert len(emu.requests) == 1 and result["user"] is None           # no Mailbox request
    docs = result["docs"]
    assert docs["collections"] == len(emu.docs.data.collections) and docs["articles"] == articles
    assert docs["rate_limit_per_10_minutes"] == 3000
    emu.clear_requests()
    run_tap(config, catalog=catalog)
    spent = len(docs_requests(emu))
    assert abs(docs["estimated_requests"] - spent) <= 0.1 * spent, (docs["estimated_requests"], spent)


def test_a_docs_only_config_checks_without_a_catalog(make_emulator, tmp_path):
    emu = make_emulator(seed=6, docs_articles=30)
    config = write_json(tmp_path / "config.json", {"docs_api_key": emu.docs_api_key, "docs_base_url": emu.docs_base_url})
    run = run_tap(config, "--check", check=False)
    assert run.returncode == 0, run.stdout
    assert "docs_api_key works" in run.stdout and "OK: a sync can run" in run.stdout


def test_a_refused_key_is_the_problem_named(make_emulator, tmp_path):
    emu = make_emulator(seed=6, docs_articles=30)
    config = write_json(tmp_path / "config.json", {"docs_api_key": "f" * 40, "docs_base_url": emu.docs_base_url})
    result, run = check(config, select(offline_catalog(), DOCS_STREAMS), tmp_path)
    assert not result["ok"] and len(result["problems"]) == 1
    assert "docs_api_key" in result["problems"][0] and "HTTP 401" in result["problems"][0]


def test_docs_streams_selected_without_a_key_are_a_problem_to_fix_or_deselect(account, tmp_path):
    emu, config, catalog = account(conversations=30, customers=20, ratings=10)
    result, _ = check(config, select(catalog, ["users", "docs_articles"]), tmp_path)
    assert not result["ok"] and len(result["problems"]) == 1
    assert "docs_api_key" in result["problems"][0] and "deselect" in result["problems"][0]
    assert not docs_requests(emu)
    # Without a catalog nothing is selected yet: a note, not a problem.
    result, run = check(config, None, tmp_path)
    assert result["ok"]
    human = run_tap(config, "--check", check=False).stdout
    assert "note: the docs_* streams need docs_api_key" in human


def test_both_apis_are_checked_with_both_keys(account, tmp_path):
    emu, _, catalog = account(conversations=30, customers=20, ratings=10)
    config = write_config(emu, tmp_path, docs_api_key=emu.docs_api_key, docs_base_url=emu.docs_base_url)
    result, _ = check(config, select(catalog), tmp_path)
    assert result["ok"] and result["user"] is not None and result["docs"]["articles"] == len(emu.docs.data.articles)
