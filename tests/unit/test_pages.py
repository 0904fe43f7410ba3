"""The page arithmetic of the listings (tap_helpscout/api/pages.py, sync/readers/paging.py), without a network."""
import pytest

from tap_helpscout.api.pages import MAX_TOTAL, Page, PageError, array_or_hal_page, hal_page, report_page
from tap_helpscout.sync.readers.paging import Pass, covered, identity, number_query, split_range


def hal(items, number=1, size=25, total=None, pages=None, key="conversations"):
    total = len(items) if total is None else total
    pages = -(-total // size) if pages is None else pages
    body = {"page": {"size": size, "totalElements": total, "totalPages": pages, "number": number}}
    if items:
        body["_embedded"] = {key: items}
    return body


def rows(*ids):
    return [{"id": i} for i in ids]


def test_a_page_reads_its_items_and_paging_block():
    page = hal_page(hal(rows(1, 2), total=27, number=2), "conversations", 2, 25)
    assert (page.number, page.size, page.total, page.pages) == (2, 25, 27, 2)
    assert [i["id"] for i in page.items] == [1, 2]
    assert not page.short and page.holds_rest is True


def test_an_empty_listing_has_no_embedded_block():
    page = hal_page(hal([], total=0, pages=0), "conversations", 1, 25)
    assert page.items == [] and page.total == 0 and not page.short and page.holds_rest


def test_a_listing_documented_without_paging_may_answer_whole_without_a_page_block():
    page = hal_page({"_embedded": {"fields": rows(1, 2, 3)}}, "fields", 1, 50, paged=False)
    assert (page.total, page.pages, len(page.items)) == (3, 1, 3)
    assert array_or_hal_page(rows(1, 2), "savedReplies", 1, 50).total == 2


@pytest.mark.parametrize("body", [{}, {"_embedded": {}}, {"_embedded": {"users": [{"id": 1}]}}])
def test_a_paged_listing_without_its_page_block_is_not_trusted(body):
    with pytest.raises(PageError, match="no page block"):
        hal_page(body, "users", 2, 50)


@pytest.mark.parametrize("body", [{}, {"results": []}, {"results": [], "count": 3}, {"results": [], "pages": 1}])
def test_a_report_page_without_its_totals_is_not_trusted(body):
    with pytest.raises(PageError, match="which every answer of the report carries"):
        report_page(body, "results", 1, 10)


@pytest.mark.parametrize("body, problem", [
    ([], "not a JSON object"),
    ({"_embedded": [], "page": {"size": 25, "totalElements": 0, "totalPages": 0}}, "_embedded"),
    ({"_embedded": {"conversations": {}}, "page": {"size": 25, "totalElements": 0, "totalPages": 0}},
     "not a list"),
    ({"page": []}, "page is a list"),
    ({"page": {"size": 25, "totalElements": 5, "totalPages": "many"}}, "totalPages"),
    ({"page": {"size": 25, "totalElements": 50, "totalPages": 10 ** 9}}, "does not match"),
    ({"page": {"size": 25, "totalElements": MAX_TOTAL + 1, "totalPages": 40000001}}, "beyond"),
    ({"page": {"size": 25, "totalElements": -1, "totalPages": 0}}, "not a count"),
    ({"page": {"size": 25, "totalElements": 30, "totalPages": 2, "number": 2}}, "page 2 came back"),
])
def test_an_answer_that_cannot_be_trusted_is_refused_with_what_is_wrong(body, problem):
    with pytest.raises(PageError, match=problem):
        hal_page(body, "conversations", 1, 25)


def test_a_page_below_the_last_with_fewer_rows_than_a_full_page_is_short():
    assert hal_page(hal(rows(*range(24)), total=60, number=1), "conversations", 1, 25).short
    assert not hal_page(hal(rows(*range(25)), total=60, number=1), "conversations", 1, 25).short
    # The last page holds the remainder, no less.
    assert hal_page(hal(rows(*range(9)), total=60, number=3), "conversations", 3, 25).short
    assert not hal_page(hal(rows(*range(10)), total=60, number=3), "conversations", 3, 25).short
    # Page 1 of a listing that says it has rows, without any.
    assert hal_page(hal([], total=3, pages=1), "conversations", 1, 25).short


def test_report_pages_read_count_and_pages():
    page = report_page({"results": rows(1, 2), "page": 2, "count": 12, "pages": 2}, "results", 2, 10)
    assert (page.total, page.pages, len(page.items)) == (12, 2, 2) and not page.short
    with pytest.raises(PageError):
        report_page({"results": {}, "count": 1, "pages": 1}, "results", 1, 10)
    with pytest.raises(PageError):
        report_page({"results": [], "count": 5, "pages": 10 ** 9}, "results", 1, 10)


def test_a_pass_is_complete_when_its_pages_agree_and_hold_every_row():
    read = Pass()
    read.add(Page(1, rows(1, 2), 2, 4, 2))
    read.add(Page(2, rows(3, 4), 2, 4, 2))
    assert read.complete


def test_a_row_that_slid_between_pages_makes_a_pass_incomplete():
    read = Pass()
    read.add(Page(1, rows(1, 2), 2, 4, 2))
    read.add(Page(2, rows(2, 4), 2, 4, 2))       # row 3 was not seen, row 2 twice
    assert not read.complete
    again = Pass()
    again.add(Page(1, rows(3, 1), 2, 4, 2))
    again.add(Page(2, rows(1, 4), 2, 4, 2))
    assert not again.complete and covered([read, again])


def test_pages_that_disagree_on_the_total_are_not_a_complete_pass():
    read = Pass()
    read.add(Page(1, rows(1, 2), 2, 4, 2))
    read.add(Page(2, rows(3, 4, 5), 3, 5, 2))
    assert not read.complete and not covered([read])


def test_a_row_without_an_id_still_counts_as_a_row_of_its_page():
    assert identity(None, 3, 7) == ("at", 3, 7)
    assert identity({"id": 9}, 3, 7) == ("id", 9)
    read = Pass()
    read.add(Page(1, [{"id": 1}, None, {"name": "x"}], 25, 3, 1))
    assert read.complete


def test_a_number_range_splits_into_contiguous_windows():
    windows = split_range(100, 199, 4)
    assert windows == [(100, 124), (125, 149), (150, 174), (175, 199)]
    assert split_range(5, 6, 4) == [(5, 5), (6, 6)]
    assert split_range(7, 7, 3) == [(7, 7)]
    covered_numbers = [n for low, high in split_range(1, 1000, 7) for n in range(low, high + 1)]
    assert covered_numbers == list(range(1, 1001))


def test_queries_use_the_documented_range_syntax():
    assert number_query(10, None) == "(number:[10 TO *])"
    assert number_query(10, 20) == "(number:[10 TO 20])"
