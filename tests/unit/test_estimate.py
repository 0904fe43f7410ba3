"""What --check estimates a sync to cost, from the sizes it measured (tap_helpscout/cli/estimate.py,
pure arithmetic), and the pages it samples (cli/check.py). Against the sync that follows:
tests/integration/test_check.py."""
from tap_helpscout.cli import estimate
from tap_helpscout.cli.check import spread


def test_conversations_cost_their_pages_and_two_more():
    assert estimate.conversation_requests(0) == 1
    assert estimate.conversation_requests(25) == 1
    assert estimate.conversation_requests(26) == 2 + 2
    assert estimate.conversation_requests(1000) == 40 + 2


def test_customers_cost_a_request_per_49_rows():
    assert estimate.customer_requests(50) == 1
    assert estimate.customer_requests(99) == 2
    assert estimate.customer_requests(50 + 49 * 10 + 1) == 12


def test_a_long_report_is_split_into_windows():
    assert estimate.report_requests(None) == 1
    assert estimate.report_requests(0) == 1
    assert estimate.report_requests(50) == 50
    assert estimate.report_requests(51) == 51 + 1       # two windows: one wasted first page
    assert estimate.report_requests(400) == 400 + 7 + 3


def test_only_selected_streams_cost_requests():
    sizes = estimate.Sizes(conversations=100, customers=0, mailboxes=3, truncated_share=0.5,
                           thread_pages=1.0, teams=2)
    assert estimate.requests_by_family({"conversations"}, sizes) == {"conversations": 6}
    assert estimate.requests_by_family({"conversation_threads"}, sizes) == {
        "conversations": 6, "conversation_threads": 50}
    assert estimate.requests_by_family({"mailbox_folders", "saved_replies"}, sizes) == {"mailboxes": 1 + 6}
    texts = estimate.Sizes(mailboxes=3, saved_replies_per_mailbox=5)
    assert estimate.requests_by_family({"saved_replies"}, texts, fetch_saved_reply_text=True) == {
        "mailboxes": 1 + 3 + 15}
    assert estimate.requests_by_family({"team_members"}, sizes) == {"teams": 1 + 2}
    assert estimate.requests_by_family({"organizations"}, estimate.Sizes(organizations=120)) == {"organizations": 3}


def test_thread_pages_of_one_conversation():
    assert estimate.thread_pages(3, 3) == 1
    assert estimate.thread_pages(120, 25) == 3
    assert estimate.thread_pages(None, 30) == 1


def test_sample_pages_are_spread_over_the_listing():
    assert spread(1, 4) == [1]
    assert spread(3, 4) == [1, 2, 3]
    assert spread(100, 4) == [1, 34, 67, 100]
    assert estimate.minutes(1000, 400) == 2.5 and estimate.minutes(10, None) is None


def test_daily_reports_cost_a_request_per_scope_endpoint_and_window_of_sixty_days():
    sizes = estimate.Sizes(mailboxes=3, users=5, report_pages=1, report_days=366)
    # 7 windows; the account and 3 mailboxes x 9 endpoints, 5 users x 3, and the two listings.
    assert estimate.requests_by_family({"report_daily", "report_user_daily"}, sizes) == {
        "report_daily": 4 * 9 * 7 + 1 + 5 * 3 * 7 + 1}
    assert estimate.requests_by_family({"report_daily"}, sizes, options={"report_daily_per_mailbox": False}) == {
        "report_daily": 9 * 7}
    later = estimate.Sizes(mailboxes=3, users=5, report_pages=1, report_days=8)
    assert estimate.requests_by_family({"report_user_daily"}, later) == {"report_daily": 5 * 3 + 1}
    no_reports = estimate.Sizes(mailboxes=3, users=5, report_pages=None)
    assert estimate.requests_by_family({"report_daily", "report_user_daily"}, no_reports) == {"report_daily": 1}


def test_organizations_in_full_cost_one_more_request_each():
    sizes = estimate.Sizes(organizations=120)
    assert estimate.requests_by_family({"organizations", "organization_properties"}, sizes,
                                       options={"organization_details": True}) == {
        "organizations": 3 + 120, "organization_properties": 1}
