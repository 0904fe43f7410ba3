"""`--check` for the Docs API streams (the knowledge base): whether the selected `docs_*` streams
can sync (the key given and accepted, in one request: page 1 of the collections, which also
tells each collection's article count) and what a sync of them costs in Docs API requests, which
have their own budget per 10 minutes (cli/estimate.py `docs_requests`)."""
from tap_helpscout.api.docs import WHERE_THE_KEY_IS, DocsClient
from tap_helpscout.api.pages import PageError, docs_page
from tap_helpscout.cli import estimate
from tap_helpscout.errors import ApiError, TapError
from tap_helpscout.streams import DOCS, STREAMS


def check_docs(config, selected, state, catalog_given, tries):
    """(the result's `docs` entry or None, [problems], [notes]) for the Docs streams in `selected`."""
    names = sorted(name for name in selected if STREAMS[name].api == DOCS)
    if not names:
        return None, [], []
    if not config.get("docs_api_key"):
        text = (f"{', '.join(names)} {'are' if len(names) > 1 else 'is'} selected, but the config has no "
                f"docs_api_key: give it ({WHERE_THE_KEY_IS}), or deselect the docs_* streams (a sync skips "
                f"them with a warning)")
        return None, [text] if catalog_given else [], [] if catalog_given else [
            "the docs_* streams need docs_api_key, which the config does not have: a sync skips them"]
    try:
        client = DocsClient(config, max_tries=tries)
    except TapError as exc:
        return None, [str(exc)], []
    try:
        answer = client.get("/collections", {"sort": "number", "order": "asc", "page": "1"},
                            endpoint="docs_collections")
        page = docs_page(answer.json, "collections", 1)
    except (ApiError, PageError) as exc:
        return None, [f"docs_collections: {exc}; a sync would fail the docs_* streams: look at the message, "
                      f"or deselect them"], []
    finally:
        client.close()
    items = [item for item in page.items if isinstance(item, dict)]
    counts = [item["articleCount"] for item in items
              if isinstance(item.get("articleCount"), int) and not isinstance(item.get("articleCount"), bool)]
    if page.total > len(counts) and counts:
        # Collections beyond the first page: as many articles as the first page's on average.
        counts += [round(sum(counts) / len(counts))] * (page.total - len(counts))
    first_run = not (state.get("bookmarks", {}).get("docs_articles") or {}).get("updated_at")
    requests = estimate.docs_requests(set(names), page.total, counts, read_texts=first_run)
    limit = client.rate_limit_per_window
    return {"collections": page.total, "articles": sum(counts), "first_run": first_run,
            "rate_limit_per_10_minutes": limit, "estimated_requests": requests,
            "estimated_minutes": estimate.docs_minutes(requests, limit)}, [], []


def docs_lines(docs, notes):
    """The human report's lines about the Docs streams."""
    lines = []
    if docs is not None:
        lines.append(f"  docs: docs_api_key works; {docs['collections']:,} collections holding "
                     f"{docs['articles']:,} articles (published or not)")
        what = "a full read" if docs["first_run"] else "the next run, plus one per article changed since"
        limit = docs["rate_limit_per_10_minutes"]
        minutes = docs["estimated_minutes"]
        at = "" if not limit else (f" (within the budget of {limit:,} per 10 minutes)" if not minutes else
                                   f" (a budget of {limit:,} per 10 minutes: about {minutes:g} minutes)")
        lines.append(f"  estimate of the docs_* streams, {what}: about {docs['estimated_requests']:,} Docs API "
                     f"requests{at}")
    lines += [f"  note: {note}" for note in notes]
    return lines

