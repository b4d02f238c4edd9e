"""Redelivery and dead letters (issue 13, contract §4 "any request, redelivered any number of times,
has at most one effect"; proto/streams.md "Dead letters"):
- every entry type (reserve, cancel, attend) delivered 1 to 5 times (XCLAIM between made-up
  consumers, then the owner's replay) is decided once: one booking, one outbox row, one answer,
  seat counts and yk:done right; a 6th delivery without an outcome makes it a dead letter instead;
- entries committed by a worker killed -9 before it acknowledged them (its statement held in a
  trigger's pg_sleep) are replayed by the next owner without a second effect;
- a poison entry (its row refused by PostgreSQL) does not hold up the entries behind it; at its
  YOYAKU_MAX_DELIVERIES-th delivery it moves to yk:dead:{p} (fields, reason, deliveries), is
  acked and its requester answered 500 (503 with Retry-After when the failure was one time may
  cure); undecodable entries move at once;
- an operator sees them (yoyaku_dead_letters_total / yoyaku_dead_letter_entries on the worker's
  /metrics, promtool-clean; yoyakuctl status) and puts them back with yoyakuctl dead-letter replay.
Runs on a stack of its own (triggers on bookings, workers killed), with 200 ms rebalance ticks."""

import hashlib
import json
import re
import shutil
import signal
import subprocess
import time
import urllib.request
import uuid

import pytest

from ykstack import email, entry_fields, own_stack, wait_until, xadd_entry

MAX_DELIVERIES = 5   # the default of YOYAKU_MAX_DELIVERIES


@pytest.fixture(scope="module")
def stack():
    yield from own_stack(n_workers=2, rebalance_ms=200)


@pytest.fixture(autouse=True)
def _no_dead_letters_yet(stack):
    """Each test starts with empty dead-letter streams: two tests' events may share a partition."""
    for p in range(stack.partitions):
        stack.redis("DEL", dead_key(p))


# ---------------------------------------------------------------------------------------------------
# helpers


def owner_of(stack, partition, timeout=15):
    def find():
        name = stack.partition_owners().get(partition)
        return {w.worker_id: w for w in stack.live_workers()}.get(name)
    return wait_until(find, timeout, 0.05, what="an owner of partition %d" % partition)


def answer(stack, rid, timeout=30):
    """(HTTP status, body) stored in yk:res:<rid> once final."""
    def get():
        v = stack.redis("GET", "yk:res:" + rid)
        return v if v and not v.startswith("0 ") else None
    v = wait_until(get, timeout, 0.05, what="answer of %s" % rid)
    code, body = v.split(" ", 1)
    return int(code), json.loads(body)


def reserve_entry(stack, ev, mail=None, rid=None, fields='{"name":"X"}', slot=None):
    rid = rid or uuid.uuid4().hex
    mail = mail or email("rd")
    tok = (uuid.uuid4().hex + uuid.uuid4().hex)[:43]
    xadd_entry(stack, ev.partition, {"t": "reserve", "id": rid, "ing": "tests", "ev": ev.id,
                                     "slot": slot or ev.slot_ids[0], "email": mail,
                                     "ident": mail.lower(), "fields": fields, "tok": tok,
                                     "at": int(time.time() * 1000)})
    return rid


def cancel_entry(stack, ev, booking):
    rid = uuid.uuid4().hex
    xadd_entry(stack, ev.partition, {"t": "cancel", "id": rid, "ing": "tests", "ev": ev.id,
                                     "booking": booking["booking"]["id"],
                                     "th": hashlib.sha256(booking["token"].encode()).hexdigest(),
                                     "at": int(time.time() * 1000)})
    return rid


def attend_entry(stack, ev, booking):
    rid = uuid.uuid4().hex
    xadd_entry(stack, ev.partition, {"t": "attend", "id": rid, "ing": "tests", "ev": ev.id,
                                     "booking": booking["booking"]["id"], "st": "attended",
                                     "at": int(time.time() * 1000)})
    return rid


def book(ev, mail=None):
    r = ev.reserve(mail=mail or email("rd"))
    assert r.status == 201, r
    return r.json


def stream(p):
    return "yk:req:{%d}" % p


def dead_key(p):
    return "yk:dead:{%d}" % p


def counter(stack, key):
    return int(stack.redis("GET", key) or 0)


def drained(stack, p, timeout=20):
    wait_until(lambda: stack.redis("XPENDING", stream(p), "workers")[0] == 0, timeout, 0.05,
               what="no entry of partition %d pending" % p)


def pending_ids(stack, p, consumer=None):
    args = ["XPENDING", stream(p), "workers", "-", "+", 1000] + ([consumer] if consumer else [])
    return {row[0]: int(row[3]) for row in stack.redis(*args)}


def entry_id_of(stack, p, rid):
    for sid, flat in stack.redis("XRANGE", stream(p), "-", "+"):
        if entry_fields(flat).get("id") == rid:
            return sid
    raise AssertionError("request %s not in %s" % (rid, stream(p)))


def dead_letters(stack, p):
    """[(dead id, {field: value})] of yk:dead:{p}, the header h spread out."""
    return [(sid, entry_fields(flat)) for sid, flat in stack.redis("XRANGE", dead_key(p), "-", "+")]


def outbox_kinds(stack, booking_id):
    return sorted(r[0] for r in stack.psql("SELECT kind FROM mail_outbox WHERE booking_id = %s"
                                           % booking_id))


def scrape(worker):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % worker.metrics_port, timeout=10) as r:
        return r.read().decode()


def metric(text, name, partition):
    m = re.search(r'^%s\{partition="%d"\} (\S+)$' % (name, partition), text, re.M)
    return float(m.group(1)) if m else None


def hold_owner(stack, ev, attempts=5):
    """SIGSTOPs the owner of ev's partition while it is blocked on the stream, so that a first
    entry (a valid booking) is what its pending read returns and the entries after it stay
    undelivered. A worker stopped between two reads (a tick) takes nothing: then it is resumed,
    that entry is decided (a booking) and the worker stopped again. Returns the owner, the held
    entry's request id and how many entries were decided before it."""
    for spent in range(attempts):
        owner = owner_of(stack, ev.partition)
        drained(stack, ev.partition)
        owner.signal(signal.SIGSTOP)
        first = reserve_entry(stack, ev)
        time.sleep(0.3)
        if entry_id_of(stack, ev.partition, first) in pending_ids(stack, ev.partition,
                                                                  owner.worker_id):
            return owner, first, spent
        owner.signal(signal.SIGCONT)
        assert answer(stack, first)[0] == 201
    pytest.fail("the owner never held the first entry in %d attempts" % attempts)


# ---------------------------------------------------------------------------------------------------
# redelivered 1 to 5 times: one effect


def test_each_type_delivered_1_to_5_times_has_one_effect(stack, make_event):
    ev = make_event(capacities=[40])
    p = ev.partition
    to_cancel = [book(ev) for _ in range(MAX_DELIVERIES + 1)]
    to_attend = [book(ev) for _ in range(MAX_DELIVERIES)]
    booked0 = int(stack.scalar("SELECT booked FROM slots WHERE id = %s" % ev.slot_ids[0]))
    done0 = counter(stack, "yk:done:{%d}" % p)
    owner, first, spent = hold_owner(stack, ev)
    booked0, done0 = booked0 + spent, done0 + spent
    try:
        # deliveries d = 2..5 (and 6): read once by a made-up consumer, then claimed d - 2 times
        # more; each XCLAIM is a delivery. The owner's replay is the d-th.
        plan = {}                              # request id -> (type, deliveries, booking)
        for d in range(2, MAX_DELIVERIES + 2):
            plan[reserve_entry(stack, ev)] = ("reserve", d, None)
            plan[cancel_entry(stack, ev, to_cancel[d - 2])] = ("cancel", d, to_cancel[d - 2])
            if d <= MAX_DELIVERIES:
                plan[attend_entry(stack, ev, to_attend[d - 2])] = ("attend", d, to_attend[d - 2])
        got = stack.redis("XREADGROUP", "GROUP", "workers", "ghost-0", "COUNT", 1000,
                          "STREAMS", stream(p), ">")
        assert len(got[0][1]) == len(plan), got
        for rid, (kind, d, _) in plan.items():
            sid = entry_id_of(stack, p, rid)
            for k in range(d - 2):
                assert stack.redis("XCLAIM", stream(p), "workers", "ghost-%d" % (k + 1), 0, sid)
        counts = pending_ids(stack, p)
        for rid, (kind, d, _) in plan.items():
            assert counts[entry_id_of(stack, p, rid)] == d - 1, (kind, d, counts)
        # and delivered once: read by the owner for the first time
        plan[reserve_entry(stack, ev)] = ("reserve", 1, None)
        plan[cancel_entry(stack, ev, to_cancel[-1])] = ("cancel", 1, to_cancel[-1])
        plan[attend_entry(stack, ev, to_attend[-1])] = ("attend", 1, to_attend[-1])
    finally:
        owner.signal(signal.SIGCONT)
    assert answer(stack, first)[0] == 201
    outcomes = {}
    for rid, (kind, d, b) in plan.items():
        outcomes[rid] = answer(stack, rid)
    drained(stack, p)
    # one query each: bookings by request id, mail jobs by booking (psql costs ~0.1 s a call)
    by_request = {}
    for bid, req in stack.psql("SELECT id, request_id FROM bookings WHERE event_id = %d" % ev.id):
        by_request.setdefault(req, []).append(bid)
    jobs = {}
    for bid, kind in stack.psql("SELECT m.booking_id, m.kind FROM mail_outbox m JOIN bookings b "
                                "ON b.id = m.booking_id WHERE b.event_id = %d" % ev.id):
        jobs.setdefault(bid, []).append(kind)
    for rid, (kind, d, b) in plan.items():
        code, body = outcomes[rid]
        if d > MAX_DELIVERIES:                 # undecided after 5: moved, answered 500, no effect
            assert (code, body["error"]) == (500, "internal"), (kind, d, body)
            continue
        if kind == "reserve":
            assert code == 201, (d, body)
            assert by_request.get(rid) == [body["booking"]["id"]], (d, by_request.get(rid))
            assert jobs[body["booking"]["id"]].count("confirmation") == 1, jobs
        elif kind == "cancel":
            assert code == 200 and body["booking"]["status"] == "cancelled", (d, body)
            assert jobs[b["booking"]["id"]].count("cancellation") == 1, jobs
        else:
            assert code == 200 and body["booking"]["status"] == "attended", (d, body)
    # the entries delivered 6 times are dead letters, with their deliveries and original fields
    dead = {f["id"]: f for _, f in dead_letters(stack, p)}
    sixth = [rid for rid, (_, d, _) in plan.items() if d > MAX_DELIVERIES]
    assert len(sixth) == 2
    for rid in sixth:
        f = dead[rid]
        assert f["reason"] == "deliveries" and f["deliveries"] == str(MAX_DELIVERIES + 1), f
        assert f["t"] in ("reserve", "cancel") and f["ing"] == "tests", f
    assert int(stack.scalar("SELECT count(*) FROM bookings WHERE request_id IN (%s)"
                            % ",".join("'%s'" % r for r in sixth))) == 0
    # seats: first + every reserve decided, minus the cancels decided
    reserves = sum(1 for kind, d, _ in plan.values() if kind == "reserve" and d <= MAX_DELIVERIES)
    cancels = sum(1 for kind, d, _ in plan.values() if kind == "cancel" and d <= MAX_DELIVERIES)
    booked = int(stack.scalar("SELECT booked FROM slots WHERE id = %s" % ev.slot_ids[0]))
    assert booked == booked0 + 1 + reserves - cancels
    active = int(stack.scalar("SELECT count(*) FROM bookings WHERE slot_id = %s AND status IN "
                              "('confirmed', 'attended')" % ev.slot_ids[0]))
    assert active == booked
    # every entry acknowledged once: done counts each once, dead letters included
    assert counter(stack, "yk:done:{%d}" % p) == done0 + 1 + len(plan)

    # replayed by the operator: decided once now
    out = stack.ctl("dead-letter", "replay", "--partition", str(p)).stdout
    assert "replayed: 2" in out, out
    for rid in sixth:
        wait_until(lambda: answer(stack, rid)[0] in (200, 201), 20, 0.1, what="replayed " + rid)
    drained(stack, p)
    assert dead_letters(stack, p) == []
    assert int(stack.scalar("SELECT booked FROM slots WHERE id = %s" % ev.slot_ids[0])) == \
        booked + 1 - 1                         # the reserve takes a seat, the cancel frees one
    assert counter(stack, "yk:done:{%d}" % p) == done0 + 1 + len(plan) + 2


# ---------------------------------------------------------------------------------------------------
# committed, then the worker killed before its ack: the next owner's replay has no second effect


SLOW_SQL = """
CREATE TABLE IF NOT EXISTS yk_test_slow (email text PRIMARY KEY);
CREATE OR REPLACE FUNCTION yk_test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM yk_test_slow WHERE email = NEW.email) THEN PERFORM pg_sleep(1.5); END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS yk_test_slow ON bookings;
CREATE TRIGGER yk_test_slow BEFORE INSERT OR UPDATE ON bookings FOR EACH ROW
  EXECUTE FUNCTION yk_test_slow();
"""


def kill_while_committing(stack, ev, victim, add_entries):
    """Adds the entries, waits until victim's session sleeps in the trigger (its statement under
    way), kills victim -9 and starts a fresh worker. PostgreSQL finishes and commits the statement
    (nothing tells it the client died before it writes the result); victim never acks."""
    rids = add_entries()
    wait_until(lambda: stack.scalar("SELECT count(*) FROM pg_stat_activity WHERE "
                                    "application_name = '%s' AND wait_event = 'PgSleep'"
                                    % victim.worker_id) == "1", 15, 0.02,
               what="the owner's statement in the trigger")
    victim.signal(signal.SIGKILL)
    victim.popen.wait(10)
    stack.start_worker()
    return rids


def test_replay_after_kill_between_commit_and_ack(stack, make_event):
    ev = make_event(capacities=[10])
    p = ev.partition
    stack.psql(SLOW_SQL)
    try:
        c, a = book(ev), book(ev)
        booked0 = int(stack.scalar("SELECT booked FROM slots WHERE id = %s" % ev.slot_ids[0]))
        done0 = counter(stack, "yk:done:{%d}" % p)
        mail = email("slow")
        stack.psql("INSERT INTO yk_test_slow VALUES ('%s'), ('%s')" % (mail, c["booking"]["email"]))
        # round 1: a booking and a cancellation, committed in one transaction
        victim = owner_of(stack, p)
        r1, c1 = kill_while_committing(stack, ev, victim, lambda: (
            reserve_entry(stack, ev, mail=mail), cancel_entry(stack, ev, c)))
        code, body = answer(stack, r1)
        assert code == 201, body
        assert [r[0] for r in stack.psql("SELECT id FROM bookings WHERE request_id = '%s'" % r1)] \
            == [body["booking"]["id"]]
        assert body["booking"]["email"] == mail
        code, body = answer(stack, c1)
        assert code == 200 and body["booking"]["status"] == "cancelled", body
        assert outbox_kinds(stack, c["booking"]["id"]).count("cancellation") == 1
        assert outbox_kinds(stack, body["booking"]["id"]).count("confirmation") == 1
        # round 2: a check-in, its own statement after the batch's commit
        stack.psql("INSERT INTO yk_test_slow VALUES ('%s')" % a["booking"]["email"])
        victim = owner_of(stack, p)
        a1 = kill_while_committing(stack, ev, victim, lambda: attend_entry(stack, ev, a))
        code, body = answer(stack, a1)
        assert code == 200 and body["booking"]["status"] == "attended", body
        drained(stack, p)
        booked = int(stack.scalar("SELECT booked FROM slots WHERE id = %s" % ev.slot_ids[0]))
        assert booked == booked0 + 1 - 1
        assert stack.psql("SELECT status FROM bookings WHERE id IN (%s, %s) ORDER BY id"
                          % (c["booking"]["id"], a["booking"]["id"])) == [["cancelled"], ["attended"]]
        assert counter(stack, "yk:done:{%d}" % p) == done0 + 3
        assert dead_letters(stack, p) == []
    finally:
        stack.psql("DROP TRIGGER IF EXISTS yk_test_slow ON bookings; DELETE FROM yk_test_slow")


# ---------------------------------------------------------------------------------------------------
# poison entries


POISON_SQL = """
CREATE OR REPLACE FUNCTION yk_test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.email LIKE 'poison-%' THEN RAISE EXCEPTION 'poisoned by the test'; END IF;
  IF NEW.email LIKE 'scarce-%' THEN
    RAISE EXCEPTION 'out of memory, says the test' USING ERRCODE = '53200';
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS yk_test_poison ON bookings;
CREATE TRIGGER yk_test_poison BEFORE INSERT ON bookings FOR EACH ROW
  EXECUTE FUNCTION yk_test_poison();
"""


def post(stack, ev, mail):
    return stack.client.post("/v1/events/%s/reservations" % ev.slug,
                             {"slot_id": ev.slot_ids[0], "email": mail, "fields": {"name": "毒"}})


def test_poison_goes_to_dead_letters_without_stalling(stack, make_event):
    ev = make_event(capacities=[30])
    p = ev.partition
    seq0, done0 = counter(stack, "yk:seq:{%d}" % p), counter(stack, "yk:done:{%d}" % p)
    stack.psql(POISON_SQL)
    import concurrent.futures
    try:
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            t0 = time.monotonic()
            bad = pool.submit(post, stack, ev, email("poison"))
            time.sleep(0.05)
            good = [pool.submit(post, stack, ev, email("fine")) for _ in range(10)]
            good = [g.result() for g in good]
            good_s = time.monotonic() - t0
            bad = bad.result()
            bad_s = time.monotonic() - t0
    finally:
        stack.psql("DROP TRIGGER IF EXISTS yk_test_poison ON bookings")
    # the requests behind the poison were decided at once, not after its retries
    assert [g.status for g in good] == [201] * 10, good
    assert (bad.status, bad.error) == (500, "internal"), bad
    assert good_s < bad_s, (good_s, bad_s)
    drained(stack, p)
    [(dead_id, f)] = dead_letters(stack, p)
    assert f["reason"] == "failed" and f["deliveries"] == str(MAX_DELIVERIES), f
    assert f["t"] == "reserve" and f["email"].startswith("poison-"), f
    assert stack.redis("XRANGE", stream(p), f["from"], f["from"]) in ([], None) or \
        stack.redis("XPENDING", stream(p), "workers")[0] == 0
    rid = f["id"]
    assert stack.client.get("/v1/requests/%s" % rid).json["code"] == 500
    assert int(stack.scalar("SELECT count(*) FROM bookings WHERE request_id = '%s'" % rid)) == 0
    # counters: every submit acknowledged once, the dead letter included
    assert counter(stack, "yk:seq:{%d}" % p) - seq0 == 11
    assert counter(stack, "yk:done:{%d}" % p) - done0 == 11

    # the operator sees it: /metrics (valid for promtool), yoyakuctl status and list
    owner = owner_of(stack, p)
    wait_until(lambda: metric(scrape(owner), "yoyaku_dead_letter_entries", p) == 1, 10, 0.1,
               what="the dead-letter gauge")
    text = scrape(owner)
    assert metric(text, "yoyaku_dead_letters_total", p) >= 1, text
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
    status = stack.ctl("status").stdout
    assert re.search(r"^%d\t\S+\t\d+\t0\t1$" % p, status, re.M), status
    out = stack.ctl("dead-letter", "list", "--partition", str(p)).stdout
    assert re.search(r"^%d\t%s\tfailed\t%d\treserve\t%s\t%d\t%s$" % (
        p, re.escape(dead_id), MAX_DELIVERIES, rid, ev.id, re.escape(f["from"])), out, re.M), out
    assert "dead letters: 1" in out
    assert "dead letters: 1" in stack.ctl("dead-letter", "list").stdout

    # replay (trigger gone): decided now, once; the dead letter leaves
    out = stack.ctl("dead-letter", "replay", dead_id).stdout
    assert re.search(r"^replayed\t%d\t%s\t\d+-\d+$" % (p, re.escape(dead_id)), out, re.M), out
    code, body = wait_until(lambda: (lambda a: a if a[0] != 500 else None)(answer(stack, rid)),
                            20, 0.1, what="the replayed request decided")
    assert code == 201 and body["booking"]["email"] == f["email"], body
    q = stack.client.get("/v1/requests/%s" % rid)
    assert q.json["status"] == "confirmed" and q.json["booking"]["id"] == body["booking"]["id"], q
    drained(stack, p)
    assert dead_letters(stack, p) == []
    assert counter(stack, "yk:seq:{%d}" % p) - seq0 == counter(stack, "yk:done:{%d}" % p) - done0
    assert stack.ctl("dead-letter", "replay", dead_id, check=False).returncode == 1
    wait_until(lambda: metric(scrape(owner_of(stack, p)), "yoyaku_dead_letter_entries", p) == 0,
               10, 0.1, what="the gauge back to 0")


def test_transient_failure_answers_503_with_retry_after(stack, make_event):
    ev = make_event(capacities=[5])
    stack.psql(POISON_SQL)
    try:
        r = post(stack, ev, email("scarce"))
    finally:
        stack.psql("DROP TRIGGER IF EXISTS yk_test_poison ON bookings")
    assert (r.status, r.error) == (503, "unavailable"), r
    assert r.headers.get("retry-after") == "1", r.headers
    drained(stack, ev.partition)
    reasons = [f["reason"] for _, f in dead_letters(stack, ev.partition)]
    assert reasons == ["unavailable"], reasons
    assert post(stack, ev, email("after")).status == 201
    stack.redis("DEL", dead_key(ev.partition))   # the tests after this one start with none


def test_undecodable_entries_are_dead_at_once(stack, make_event):
    ev = make_event(capacities=[5])
    p = ev.partition
    done0 = counter(stack, "yk:done:{%d}" % p)
    bad_fields = reserve_entry(stack, ev, fields='{"name":1.5}')
    unknown = uuid.uuid4().hex
    xadd_entry(stack, p, {"t": "frobnicate", "id": unknown, "ing": "tests", "ev": ev.id})
    stack.redis("XADD", stream(p), "*", "h", "t=reserve id=not-hex ing=tests ev=%d" % ev.id)
    fine = reserve_entry(stack, ev)
    assert answer(stack, fine)[0] == 201
    for rid in (bad_fields, unknown):
        code, body = answer(stack, rid)
        assert (code, body["error"]) == (500, "internal"), body
    drained(stack, p)
    dead = dead_letters(stack, p)
    assert sorted(f["id"] for _, f in dead) == sorted([bad_fields, unknown, "not-hex"]), dead
    assert {(f["reason"], f["deliveries"]) for _, f in dead} == {("undecodable", "1")}
    assert counter(stack, "yk:done:{%d}" % p) == done0 + 4
    # bad arguments
    for args in (["dead-letter"], ["dead-letter", "list", "--partition", "99999"],
                 ["dead-letter", "list", "--partition", str(stack.partitions)],
                 ["dead-letter", "replay", "not-an-id"], ["dead-letter", "list", "1-1"],
                 ["dead-letter", "replay", "--partition", "x"]):
        assert stack.ctl(*args, check=False).returncode == 2, args
    assert stack.ctl("dead-letter", "replay", "1-1", check=False).returncode == 1
    # leave the partition clean for the other tests
    stack.redis("DEL", dead_key(p))
