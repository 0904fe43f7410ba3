"""The `--check` report as a person reads it: the lines of `human_text`, from the result that
`--check --json` prints and the Check that gathered it (cli/check.py)."""
from tap_helpscout.cli.check_docs import docs_lines
from tap_helpscout.streams import STREAMS
from tap_helpscout.timefmt import format_date_time
from tap_helpscout.version import PROG


def human_text(result, check, args, docs_notes=()):
    lines = [f"{PROG} --check ({args.config})"]
    if check is not None:
        shown = len(check.selected)
        inputs = ["config"] + (["catalog"] if check.catalog_given else []) + (["state"] if args.state else [])
        lines.append(f"  {', '.join(inputs[:-1]) + ' and ' if len(inputs) > 1 else ''}{inputs[-1]}: valid; "
                     + (f"{shown} of {len(STREAMS)} streams selected" if check.catalog_given
                        else f"no catalog given: the estimate covers all {len(STREAMS)} streams"))
        user = result["user"]
        if user:
            who = " ".join(filter(None, [user.get("name"), f"<{user['email']}>" if user.get("email") else None]))
            lines.append(f"  credentials: work; the token acts as {who or 'a user'} (user {user.get('id')})")
        if result["mailboxes"] is not None:
            lines.append(f"  mailboxes: {result['mailboxes']} visible to that user")
        available = result["reports_available"]
        if available is not None:
            lines.append("  reports: " + (f"available ({check.report_ratings} happiness "
                                          f"ratings since {format_date_time(check.report_start())})"
                                          if available else "not in the account's plan"))
        lines += _rate_lines(result, check)
        lines += _size_lines(result, check)
        lines += _estimate_lines(result, check)
        lines += [f"  note: {note}" for note in check.notes]
    lines += docs_lines(result["docs"], docs_notes)
    for problem in result["problems"]:
        lines.append(f"  PROBLEM: {problem}")
    lines.append("OK: a sync can run" if result["ok"] else
                 f"NOT READY: {len(result['problems'])} problem{'s' if len(result['problems']) > 1 else ''} "
                 f"to fix (each says what to do)")
    return "\n".join(lines) + "\n"


def _rate_lines(result, check):
    limit, cap = result["rate_limit_per_minute"], check.config.get("max_requests_per_minute")
    if limit is None and cap is None:
        return []
    text = (f"  rate limit: {limit:,} requests per minute for the account" if limit
            else "  rate limit: the account's was not in the answers")
    if cap:
        text += f"; max_requests_per_minute caps the tap at {cap:,}"
    return [text]


def _size_lines(result, check):
    lines = []
    if result["conversations"] is not None:
        since = format_date_time(check.since("conversations", "conversation_threads"))
        lines.append(f"  conversations: {result['conversations']:,} (status=all, modified since {since})")
        if check.sample:
            pages, items, chats, at_cap, truncated = check.sample
            if items:
                lines.append(f"    sampled {pages} page{'s' if pages > 1 else ''} ({items} conversations) spread "
                             f"over the listing: chats {chats / items:.0%}, at the 25 embedded threads cap "
                             f"{at_cap / items:.0%}; {truncated / items:.0%} need a thread listing of their own")
    if result["customers"] is not None:
        lines.append(f"  customers: {result['customers']:,} (modified since "
                     f"{format_date_time(check.since('customers'))})")
    return lines


def _estimate_lines(result, check):
    if result["estimated_requests"] is None:
        return []
    what = "the next run from this state" if check.incremental() else "a full backfill"
    minutes = result["estimated_minutes"]
    pace = check.pace()
    if minutes is None:
        at = " (the rate limit is unknown)"
    else:
        at = (f", {'under a minute' if minutes < 1 else f'about {minutes:g} minutes'} at {pace:,} "
              f"requests per minute")
    lines = [f"  estimate of {what}: about {result['estimated_requests']:,} requests{at}",
             "    " + ", ".join(f"{name} {count:,}" for name, count in check.cost.items())]
    budget = check.config.get("max_run_minutes")
    if minutes and budget and minutes > budget:
        lines.append(f"    max_run_minutes ({budget}) stops each run earlier: about "
                     f"{-(-minutes // budget):.0f} runs to finish")
    return lines
