"""The last seat (issue 13): rounds of 50 concurrent reservations, from 50 different bookers, for a
slot with one seat left. Every round must have exactly one winner (a 201, or a 202 decided
confirmed) and 49 `slot_full`; afterwards every slot holds exactly its capacity in rows and in
its counter, and each winner's booking is one of them.

The slots are made up front (capacity 2 in events spread over the partitions, one seat of each
taken by a first booking); each of `lanes` lanes keeps 50 connections open and fires a round's 50
requests at once, so `lanes` rounds (on different slots) run at a time."""

import asyncio
import collections
import time
import uuid

from ahttp import CallFailed, Conn
from common import (Report, body, distinct_partition_slugs, log, make_events, quantile,
                    reservation_path)
import ykstack
from ykstack import outcome

PER_ROUND = 50
CAPACITY = 2
EVENTS = 8


async def final_answer(conn, a, timeout, wait_s=60):
    """The final answer body of a reservation answer (a 202's, polled)."""
    if a.status != 202:
        return a.json
    rid = a.json["request_id"]
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        q = await conn.request("GET", "/v1/requests/%s" % rid, timeout=timeout)
        if q.status == 200 and q.json.get("status") != "pending":
            return q.json
        await asyncio.sleep(0.05)
    return {"status": "pending", "request_id": rid}


async def fire(conns, slug, slot, tag, timeout):
    """One round: len(conns) requests at once. [(first status, final body or failure)]."""
    async def one(k, conn):
        try:
            a = await conn.request("POST", reservation_path(slug),
                                   body(slot, "s%s-%d@example.com" % (tag, k), "最後 %d" % k),
                                   timeout=timeout)
            return a.status, await final_answer(conn, a, timeout), a.took
        except CallFailed as e:
            return e.kind, None, e.took
    return await asyncio.gather(*(one(k, c) for k, c in enumerate(conns)))


async def play(port, slots, lanes, timeout):
    """Pre-books one seat of every slot, then plays one round per slot. Returns (prebooked
    {slot: body}, rounds [(slot, answers, seconds)], seconds of the rounds)."""
    todo = collections.deque(slots)
    pre = {}

    async def prebook():
        conn = Conn("127.0.0.1", port)
        try:
            while todo:
                ev, slot = todo.popleft()
                a = await conn.request("POST", reservation_path(ev["slug"]),
                                       body(slot, "p%s@example.com" % uuid.uuid4().hex), timeout=timeout)
                pre[slot] = await final_answer(conn, a, timeout)
        finally:
            conn.close()
    t0 = time.monotonic()
    await asyncio.gather(*(prebook() for _ in range(16)))
    log("first seats booked in %.1f s" % (time.monotonic() - t0))

    todo = collections.deque(slots)
    rounds = []

    async def lane():
        conns = [Conn("127.0.0.1", port) for _ in range(PER_ROUND)]
        try:
            await asyncio.gather(*(c.connect(timeout) for c in conns))
            while todo:
                ev, slot = todo.popleft()
                t0 = time.monotonic()
                answers = await fire(conns, ev["slug"], slot, uuid.uuid4().hex[:10], timeout)
                rounds.append((slot, answers, time.monotonic() - t0))
        finally:
            for c in conns:
                c.close()
    t0 = time.monotonic()
    await asyncio.gather(*(lane() for _ in range(lanes)))
    return pre, rounds, time.monotonic() - t0


def done_total(stack):
    """Stream entries the workers acknowledged, over every partition (yk:done:{p})."""
    return sum(int(stack.redis("GET", "yk:done:{%d}" % p) or 0) for p in range(stack.partitions))


def run(args):
    report = Report("last seat")
    stack = ykstack.Stack(n_workers=2, client_timeout=args.timeout + 20)
    t_start = time.monotonic()
    try:
        stack.start()
    except BaseException:
        for p in reversed(stack.procs):
            p.stop()
        raise
    try:
        n = args.rounds
        per_event = -(-n // EVENTS)
        slugs = distinct_partition_slugs("last", EVENTS, stack.partitions)
        log("stack up after %.1f s" % (time.monotonic() - t_start))
        events = make_events(stack, slugs, [CAPACITY] * per_event)
        log("%d slots made after %.1f s" % (len(events) * per_event, time.monotonic() - t_start))
        slots = [(ev, s) for ev in events for s in ev["slots"]][:n]
        lanes = args.lanes
        log("last seat: %d rounds of %d, %d at a time" % (len(slots), PER_ROUND, lanes))
        done0 = done_total(stack)
        pre, rounds, took = asyncio.run(play(stack.http_port, slots, lanes, args.timeout))
        reached = done_total(stack) - done0 - len(pre)

        report.count("rounds", len(rounds))
        report.count("requests per round", PER_ROUND)
        report.count("rounds at once (on different slots)", lanes)
        report.check("slots whose first seat was not booked", sum(1 for b in pre.values() if outcome(b) != "confirmed"),
                     lambda v: v == 0)
        first = collections.Counter(a[0] for _, answers, _ in rounds for a in answers)
        report.count("first answers 201 / 202 / 409", "%d / %d / %d" % (first[201], first[202], first[409]))
        wins = collections.Counter()
        bad = []
        winners = {}
        for slot, answers, _ in rounds:
            got = collections.Counter(outcome(b) for _, b, _ in answers)
            wins[got["confirmed"]] += 1
            if got != {"confirmed": 1, "slot_full": PER_ROUND - 1}:
                bad.append((slot, dict(got)))
            for _, b, _ in answers:
                if outcome(b) == "confirmed":
                    winners[slot] = int(b["booking"]["id"])
        report.count("rounds by number of winners", ", ".join("%d winner(s): %d" % kv for kv in sorted(wins.items())))
        report.count("requests a worker decided (the rest refused by the ingress's sold-out hint)",
                     "%d (%.1f a round)" % (reached, reached / max(len(rounds), 1)))
        report.check("rounds without exactly one winner and %d slot_full" % (PER_ROUND - 1), len(bad),
                     not bad, repr(bad[:5]))
        lat = [a[2] for _, answers, _ in rounds for a in answers]
        report.count("answer latency p50 / p99 / max (s)", "%.3f / %.3f / %.3f" % (
            quantile(lat, 0.5), quantile(lat, 0.99), max(lat or [0])))
        report.count("round seconds p50 / max", "%.3f / %.3f" % (
            quantile([r[2] for r in rounds], 0.5), max([r[2] for r in rounds] or [0])))
        report.count("seconds for the rounds (rounds/s)", "%.1f (%.1f)" % (took, len(rounds) / max(took, 1e-9)))

        ids = ",".join(str(s) for _, s in slots)
        rows = stack.psql("SELECT s.id, s.capacity, s.booked, count(b.id) FILTER (WHERE b.status = 'confirmed'), "
                          "coalesce(array_agg(b.id) FILTER (WHERE b.status = 'confirmed'), '{}') "
                          "FROM slots s LEFT JOIN bookings b ON b.slot_id = s.id WHERE s.id IN (%s) "
                          "GROUP BY s.id" % ids)
        report.check("slots checked in PostgreSQL", len(rows), len(rows) == len(slots))
        off = [r for r in rows if not (int(r[1]) == int(r[2]) == int(r[3]) == CAPACITY)]
        report.check("slots whose rows or counter are not exactly their %d seats" % CAPACITY, len(off),
                     not off, repr(off[:5]))
        booked = {int(r[0]): {int(x) for x in r[4].strip("{}").split(",") if x} for r in rows}
        lost = [(s, b) for s, b in winners.items() if b not in booked.get(int(s), set())]
        report.check("winners without their row", len(lost), not lost, repr(lost[:5]))
    finally:
        problems = stack.shutdown()
        report.check("problems at shutdown (exit status, leftovers, sanitizer reports)", len(problems),
                     not problems, "\n".join(problems)[:4000])
        if not report.failed and not args.keep:
            stack.cleanup()
        else:
            log("files kept in %s" % stack.dir)
        report.count("total seconds", "%.0f" % (time.monotonic() - t_start))
    return report
