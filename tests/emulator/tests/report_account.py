"""A tiny account written by hand for the time-series report tests, and the figures worked out
by hand from it (not by the emulator's code), following the definitions in
tests/emulator/report_series.py and README.md.

Days D = 2026-03-02 (a Monday), D+1, D+2; users U0 (the owner, who closes A and C and never
replies), U1, U2; customers C1, C2, C3; mailboxes M1, M2.

A  email, M1, C1, created D 08:00 by C1
     D 08:00 customer | D 09:00 reply U1 (draft: no reply) | D 09:30 reply U1 (first response, 5400 s)
     D+1 10:00 customer | D+1 11:00 customer | D+1 12:00 reply U2 (response, 7200 s) | D+1 12:05 note U1
     closed D+1 13:00 by U0: resolved, 29 h = 104400 s, counts for U1 and U2 (not for U0)
B  chat, M2, C2, created D 10:00
     D 10:00 beaconchat customer | D 10:01:01 chat U1 (first response, 61 s) | D 10:02 chat customer
     D 10:03 chat U1 (response, 60 s); active
C  phone, M1, C1, created D+1 15:00 by U2
     D+1 15:00 phone U2 (no reply) | D+1 15:10 reply U2 (a reply, no response: nobody waits)
     closed D+2 09:00 by U0: resolved, 18 h = 64800 s, counts for U2 only
S  email, M2, C3, created D+1 20:00, spam: counts nowhere
     D+1 20:00 customer | D+1 20:30 reply U1
E  email, M2, C3, created at D+3 00:00:00 exactly (the second a next-midnight `end` names)
     D+3 00:00:00 customer; active
"""
from datetime import datetime, timedelta, timezone

from tests.emulator.dataset import iso

D = datetime(2026, 3, 2, tzinfo=timezone.utc)
START = iso(D)                                   # 2026-03-02T00:00:00Z
LAST_SECOND = iso(D + timedelta(days=3, seconds=-1))    # 2026-03-04T23:59:59Z
NEXT_MIDNIGHT = iso(D + timedelta(days=3))       # 2026-03-05T00:00:00Z

# Figures per day D, D+1, D+2 (the whole account; spam S excluded, E after the range).
EXPECTED = {
    "conversations/new": [2, 1, 0],
    "conversations/volume-by-channel": [(1, 1, 0), (0, 0, 1), (0, 0, 0)],     # (chat, email, phone)
    "conversations/received-messages": [3, 2, 0],
    "productivity/replies-sent": [3, 2, 0],
    "company/customers-helped": [2, 1, 0],
    "productivity/resolved": [0, 1, 1],
    "productivity/first-response-time": [2730.5, None, None],      # (5400 + 61) / 2
    "productivity/response-time": [1840.33, 7200.0, None],         # (5400 + 61 + 60) / 3 = 1840.333...
    "productivity/resolution-time": [None, 104400.0, 64800.0],
}
# user reports: {user index: {endpoint: per day}}
EXPECTED_USERS = {
    "U0": {"user/replies": [0, 0, 0], "user/customers-helped": [0, 0, 0], "user/resolutions": [0, 0, 0]},
    "U1": {"user/replies": [3, 0, 0], "user/customers-helped": [2, 0, 0], "user/resolutions": [0, 1, 0]},
    "U2": {"user/replies": [0, 2, 0], "user/customers-helped": [0, 1, 0], "user/resolutions": [0, 1, 1]},
}
# mailboxes=M1 only: A and C
EXPECTED_M1 = {"conversations/new": [1, 1, 0], "productivity/replies-sent": [1, 2, 0],
               "productivity/first-response-time": [5400.0, None, None], "user/replies U1": [1, 0, 0]}


def at(days, hours=0, minutes=0, seconds=0):
    return iso(D + timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds))


def hand_account(make_emulator, **options):
    """An emulator whose conversations are replaced by A, B, C, S, E above. Returns (emu, ids):
    ids maps "U1", "U2", "C1".."C3", "M1", "M2", "A".."E"/"S" to the account's ids."""
    emu = make_emulator(seed=11, conversations=5, customers=3, mailboxes=2, users=3, teams=1, workflows=0,
                        ratings=0, organizations=1, **options)
    data = emu.data
    u0, u1, u2 = (u["id"] for u in data.users[:3])
    c1, c2, c3 = (c["id"] for c in data.customers[:3])
    m1, m2 = (m["id"] for m in data.mailboxes[:2])
    ids = {"U0": u0, "U1": u1, "U2": u2, "C1": c1, "C2": c2, "C3": c3, "M1": m1, "M2": m2}
    next_thread = [7_000_000_000]

    def thread(kind, author, moment, state="published"):
        next_thread[0] += 1
        who = {"id": author, "type": "customer" if author in (c1, c2, c3) else "user"}
        return {"id": next_thread[0], "type": kind, "status": "active", "state": state, "createdBy": who,
                "createdAt": moment}

    plans = {
        "A": dict(type="email", mailbox=m1, customer=c1, created=at(0, 8), creator=c1, status="closed",
                  closed=at(1, 13), threads=[thread("customer", c1, at(0, 8)),
                                             thread("reply", u1, at(0, 9), state="draft"),
                                             thread("reply", u1, at(0, 9, 30)),
                                             thread("customer", c1, at(1, 10)), thread("customer", c1, at(1, 11)),
                                             thread("reply", u2, at(1, 12)), thread("note", u1, at(1, 12, 5))]),
        "B": dict(type="chat", mailbox=m2, customer=c2, created=at(0, 10), creator=c2, status="active",
                  threads=[thread("beaconchat", c2, at(0, 10)), thread("chat", u1, at(0, 10, 1, 1)),
                           thread("chat", c2, at(0, 10, 2)), thread("chat", u1, at(0, 10, 3))]),
        "C": dict(type="phone", mailbox=m1, customer=c1, created=at(1, 15), creator=u2, status="closed",
                  closed=at(2, 9), threads=[thread("phone", u2, at(1, 15)), thread("reply", u2, at(1, 15, 10))]),
        "S": dict(type="email", mailbox=m2, customer=c3, created=at(1, 20), creator=c3, status="spam",
                  threads=[thread("customer", c3, at(1, 20)), thread("reply", u1, at(1, 20, 30))]),
        "E": dict(type="email", mailbox=m2, customer=c3, created=at(3), creator=c3, status="active",
                  threads=[thread("customer", c3, at(3))]),
    }
    with data.lock:
        for conv, (name, plan) in zip(data.conversations, plans.items()):
            ids[name] = conv["id"]
            for key in ("closedAt", "closedBy", "closedByUser"):
                conv.pop(key, None)
            conv.update(type=plan["type"], mailboxId=plan["mailbox"], status=plan["status"], tags=[],
                        createdAt=plan["created"], primaryCustomer={"id": plan["customer"], "type": "customer"},
                        createdBy={"id": plan["creator"],
                                   "type": "customer" if plan["creator"] in (c1, c2, c3) else "user"})
            if "closed" in plan:                # closed by the owner, who never replies
                conv.update(closedBy=u0, closedAt=plan["closed"])
            data.threads[conv["id"]] = plan["threads"]
            conv["threads"] = len(plan["threads"])
    emu.invalidate()
    return emu, ids
