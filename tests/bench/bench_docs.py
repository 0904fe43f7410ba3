"""The bench's knowledge-base section: our tap's Docs API requests against their floor (every
list page once, plus one article GET per article a run must read), for a backfill, a run after a
few changes, and a run with none."""
import math
from datetime import datetime, timedelta, timezone

from tests.bench.bench_harness import write_json
from tests.emulator import Emulator
from tests.support.tap_runner import offline_catalog, select

DOCS_STREAMS = ["docs_sites", "docs_collections", "docs_categories", "docs_articles", "docs_article_stats"]
DOCS_ACCOUNT = dict(docs_sites=2, docs_collections=8, docs_categories=6, docs_articles=1500)
DOCS_TARGET = 1.02              # × the floor
CHANGED, ADDED = 10, 2


def list_pages(data):
    """Sites and collections (50 a page), each collection's categories (50 a page) and articles
    (100 a page, the API's largest); an empty list costs one request."""
    pages = lambda n, size: max(1, math.ceil(n / size))   # noqa: E731
    return (pages(len(data.sites), 50) + pages(len(data.collections), 50)
            + sum(pages(sum(c["collectionId"] == col["id"] for c in data.categories), 50) for col in data.collections)
            + sum(pages(len(data.articles_in_collection(col["id"])), 100) for col in data.collections))


def docs_section(bench, seed):
    """(the section's text, [(target, measured, met)])."""
    emu = Emulator(seed=seed, **DOCS_ACCOUNT).start()
    try:
        catalog = write_json(bench.runs_dir / "docs-catalog.json", select(offline_catalog(), DOCS_STREAMS))
        extra = {"docs_api_key": emu.docs_api_key, "docs_base_url": emu.docs_base_url}

        def run(label, state=None):
            return bench_run(bench, label, emu, catalog, extra, state)
        data = emu.docs.data
        sizes = (f"{len(data.sites)} sites, {len(data.collections)} collections, {len(data.categories)} "
                 f"categories, {len(data.articles):,} articles (emulator seed {seed})")
        floors, runs = [], []
        backfill = run("docs backfill")
        floors.append(list_pages(data) + len(data.articles))
        runs.append(("backfill", backfill))
        # Changed ten minutes before the run, as between scheduled runs (the articles of the
        # bookmark's second are read again by the next run when it was within
        # bookmark_margin_seconds of the lists: sync/readers/docs.py).
        data.now = lambda: datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10)
        for article in data.articles[::len(data.articles) // CHANGED][:CHANGED]:
            emu.docs.modify_article(article["id"])
        for _ in range(ADDED):
            emu.docs.add_article(data.collections[0]["id"])
        later = run("docs after changes", backfill.last_state)
        floors.append(list_pages(data) + CHANGED + ADDED)
        runs.append((f"after {CHANGED} articles changed and {ADDED} added", later))
        unchanged = run("docs unchanged", later.last_state)
        floors.append(list_pages(data))
        runs.append(("nothing changed", unchanged))
    finally:
        emu.stop()
    rows, targets = [], []
    for (label, measured), floor in zip(runs, floors):
        spent = len(measured.requests)
        articles = sum(1 for r in measured.requests if r.path.startswith("/docs-api/v1/articles/"))
        rows.append([label, floor, spent, f"{spent / floor:.3f}", articles, measured.throttled])
        targets.append((f"Docs requests ≤ {DOCS_TARGET} × floor ({label})", f"{spent / floor:.3f} × floor",
                        spent <= DOCS_TARGET * floor and measured.returncode == 0))
    return rows, sizes, targets


def bench_run(bench, label, emu, catalog, extra, state):
    from tests.bench.bench_harness import run_tap

    def argv(config_path, state_path):
        return bench.our_tap.argv(config_path, catalog, state_path)
    run = run_tap(label, emu, bench.runs_dir / label.replace(" ", "-"), argv, bench.our_tap.env(), extra, state)
    bench.check(run)
    return run
