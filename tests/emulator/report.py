"""The happiness ratings report, `GET /v2/reports/happiness/ratings`: not HAL but
{"facets", "results", "page", "count", "pages"}, 10 per page."""
import math

from .shapes import (JSON, REPORT_PAGE_SIZE, REPORT_RATINGS, ParamError, Reply, dumps, error_reply, one_of,
                     parse_date_param, parse_int_list)

# ratingId encodes the rating as 1 = great, 2 = ok, 3 = not good (as the legacy .NET client
# HelpScoutNet reads it, docs/sources.md; UNCONFIRMED for the 2.0 API)
RATING_IDS = {"great": {1}, "ok": {2}, "not-good": {3}, "all": {1, 2, 3}}


def happiness_ratings(api, query):
    """`start` and `end` are required (the v2 docs mark nothing required; v1 required them and
    refusing their absence is the stricter reading). A rating is in range when
    start <= ratingCreatedAt < end (half-open, so consecutive ranges never double count).

    `rating` is one of great, ok, all, not-good. Without it, all ratings are listed unless
    `Readings.report_rating_default` names the one kind the API then lists (v2 states no
    default; v1 required the parameter)."""
    missing = [ParamError(name, "Required parameter is missing", None) for name in ("start", "end")
               if name not in query]
    if missing:
        return error_reply(400, "Bad request", missing)
    start = parse_date_param("start", query["start"])
    end = parse_date_param("end", query["end"])
    for name in ("previousStart", "previousEnd"):
        if name in query:
            parse_date_param(name, query[name])
    if end < start:
        raise ParamError("end", "end must not be before start", query["end"])
    number = api.page_number(query)
    rating_filter = one_of("rating", query.get("rating", api.readings.report_rating_default or "all"),
                           REPORT_RATINGS)
    wanted_rating = RATING_IDS[rating_filter]
    sort_field = one_of("sortField", query.get("sortField", "modifiedAt"), ("number", "modifiedAt", "rating"))
    sort_order = one_of("sortOrder", query.get("sortOrder", "DESC"), ("ASC", "DESC"))
    mailboxes = parse_int_list("mailboxes", query["mailboxes"]) if query.get("mailboxes") else None
    tag_ids = parse_int_list("tags", query["tags"]) if query.get("tags") else None
    folders = parse_int_list("folders", query["folders"]) if query.get("folders") else None
    types = None
    if query.get("types"):
        types = {one_of("types", t, ("email", "chat", "phone")) for t in query["types"].split(",")}
    start_text, end_text = query["start"], query["end"]
    data = api.data
    with data.lock:
        results = []
        for rating in data.ratings:
            conv = data.conversation(rating["id"])
            if not (start_text <= rating["ratingCreatedAt"] < end_text) or rating["ratingId"] not in wanted_rating:
                continue
            if types is not None and rating["type"] not in types:
                continue
            if conv is not None and (
                    (mailboxes is not None and conv["mailboxId"] not in mailboxes)
                    or (folders is not None and conv["folderId"] not in folders)
                    or (tag_ids is not None and not any(t["id"] in tag_ids for t in conv["tags"]))):
                continue
            results.append(rating)
        field_of = {"number": "number", "modifiedAt": "ratingCreatedAt", "rating": "ratingId"}[sort_field]
        results.sort(key=lambda r: (r[field_of], r["threadid"]), reverse=sort_order == "DESC")
        count = len(results)
        chunk = api.page_rows(results, number, REPORT_PAGE_SIZE, tie=lambda r: r[field_of])
        body = dumps({"facets": {}, "results": chunk, "page": number, "count": count,
                      "pages": math.ceil(count / REPORT_PAGE_SIZE)})
    return Reply(200, body, JSON)
