"""The messages workers publish to the ingresses: answers on yk:rep:<ingress id>, one message per
batch with one answer per line, and seat counts on yk:events, one message per batch with one
`<event> <slot> <left>` triple per touched slot (proto/streams.md)."""

import datetime
import json
import signal
import subprocess
import threading
import time

from ykstack import binary, email, entry_fields, run_parallel, slot_time, wait_until


def slots_of(stack, ev):
    d = slot_time(30, 0).date()
    r = stack.client.get("/v1/events/%s/slots?from=%s&to=%s" % (ev.slug, d, d + datetime.timedelta(days=1)))
    assert r.status == 200, r
    return {s["id"]: s["remaining"] for s in r.json["slots"]}


def test_remaining_message_with_several_slots(stack, make_event):
    ev = make_event(capacities=[5, 5, 5])
    s1, s2, s3 = ev.slot_ids

    def applied(msg, want):
        # published again on every try: a catalogue reload still running from make_event's admin
        # calls may land after a message and put PostgreSQL's counts back
        stack.redis("PUBLISH", "yk:events", msg)
        return slots_of(stack, ev) == want
    wait_until(lambda: applied("remaining %d %s 0 %d %s 2" % (ev.id, s1, ev.id, s2),
                               {s1: 0, s2: 2, s3: 5}), 5, 0.05,
               what="both triples of one message applied")
    # a malformed tail is ignored, the triples before it are applied
    wait_until(lambda: applied("remaining %d %s 5 %d %s 4 junk 7" % (ev.id, s1, ev.id, s2),
                               {s1: 5, s2: 4, s3: 5}), 5, 0.05, what="triples before junk applied")
    stack.redis("PUBLISH", "yk:events", "remaining %d %s 5" % (ev.id, s2))
    assert ev.reserve(slot_id=s1).status == 201


def test_one_reply_message_answers_several_waiters(stack, make_event):
    ev = make_event(capacities=[5])
    assert ev.reserve().status == 201            # the partition is served
    stream = "yk:req:{%d}" % ev.partition
    before = stack.redis("XREVRANGE", stream, "+", "-", "COUNT", "1")
    last = before[0][0] if before else "0-0"
    workers = stack.live_workers()
    for w in workers:
        w.signal(signal.SIGSTOP)
    try:
        def book(client, i):
            return client.post("/v1/events/%s/reservations" % ev.slug,
                               {"slot_id": ev.slot_ids[0], "email": email("ps%d" % i),
                                "fields": {"name": "返信 %d" % i}})
        results = {}
        t = threading.Thread(target=lambda: results.update(r=run_parallel(stack, book, range(2), threads=2)))
        t.start()

        def queued():
            entries = stack.redis("XRANGE", stream, "(" + last, "+")
            return entries if entries and len(entries) == 2 else None
        entries = wait_until(queued, 5, 0.02, what="both requests in the stream")
        rids = []
        for _, fields in entries:
            kv = entry_fields(fields)
            rids.append(kv["id"])
        answers = [{"error": "slot_full", "message": "line one"},
                   {"error": "already_booked", "message": "line two"}]
        msg = "\n".join("%s 409 %s" % (rid, json.dumps(a, separators=(",", ":")))
                        for rid, a in zip(rids, answers))
        assert stack.redis("PUBLISH", "yk:rep:ingress-1", msg) >= 1
        t.join(10)
        assert "r" in results, "the waiters were not answered"
        got = sorted((r.status, r.json["message"]) for r in results["r"])
        assert got == [(409, "line one"), (409, "line two")], results["r"]
    finally:
        for w in workers:
            w.signal(signal.SIGCONT)


def test_count_published_during_a_catalogue_reload_wins(stack, make_event):
    """A reload whose query ran before a worker's commit must not put an older seat count back
    over the count that worker published while the reload was under way."""
    ev = make_event(capacities=[5])
    s1 = ev.slot_ids[0]
    # hold the catalogue's slot query: a session that locks the table until told to commit
    locker = subprocess.Popen(["psql", "-h", str(stack.pg_sock), "-p", str(stack.pg_port), "-U",
                               "postgres", "-d", "yoyaku", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        locker.stdin.write("BEGIN; LOCK TABLE slots IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
        locker.stdin.flush()
        assert locker.stdout.readline().strip() == "locked"
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        before = int(stack.scalar(waiting))
        stack.redis("PUBLISH", "yk:events", "catalogue")        # a reload starts and blocks
        wait_until(lambda: int(stack.scalar(waiting)) > before, 5, 0.02,
                   what="the catalogue reload waiting for the lock")
        stack.redis("PUBLISH", "yk:events", "remaining %d %s 2" % (ev.id, s1))
        wait_until(lambda: slots_of(stack, ev) == {s1: 2}, 5, 0.02, what="count applied at once")
    finally:
        locker.stdin.write("COMMIT;\n")
        locker.stdin.close()
        locker.wait(10)
    # the reload read 5 seats left (nothing is booked); the count published meanwhile stands
    time.sleep(0.3)
    assert slots_of(stack, ev) == {s1: 2}
    stack.redis("PUBLISH", "yk:events", "remaining %d %s 5" % (ev.id, s1))
    wait_until(lambda: slots_of(stack, ev) == {s1: 5}, 5, 0.02, what="count restored")


def test_ingress_id_must_be_a_token(stack):
    # The id names the reply channel and is a value in the entries' space-separated header.
    for bad in ("two words", "a=b", "x" * 96, "改行\n"):
        r = subprocess.run([str(binary("yoyaku-ingress"))], capture_output=True, text=True,
                           timeout=20, env=dict(stack.env, YOYAKU_INGRESS_ID=bad))
        assert r.returncode == 2 and "YOYAKU_INGRESS_ID" in r.stderr, (bad, r)
