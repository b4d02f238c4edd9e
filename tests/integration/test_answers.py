"""Where answers are kept (proto/streams.md "Answers and their lifetimes"): a request submitted
without Idempotency-Key leaves no pending marker; its answer, relayed to the waiting ingress, is
held only until 10 s after the ingress's deadline. A request answered 202 gets its marker at the deadline and its answer for the
TTL, and GET /v1/requests/{id} tells its position, then its answer. An answer stored while its
pub/sub reply never reached the ingress is given at the deadline instead of a 202. yk:done:{p}
counts the entries the workers acknowledged, and positions are seq - done. An ingress stopped with
waiting requests answers them 202 with their markers written."""

import concurrent.futures
import contextlib
import json
import signal
import socket
import threading
import time
import uuid

from ykstack import Client, binary, email, entry_fields, free_port, wait_until, xadd_entry

WAIT_S = 5          # YOYAKU_WAIT_MS of the test stack (the default)
HOLD = WAIT_S + 10  # at most: the deadline plus the margin of answer_hold_s (services/worker/answer.c)
TTL = 86400         # YOYAKU_RESULT_TTL default


def owner_of(stack, partition, timeout=15):
    def find():
        name = stack.partition_owners().get(partition)
        return {w.worker_id: w for w in stack.live_workers()}.get(name)
    return wait_until(find, timeout, 0.1, what="an owner of partition %d" % partition)


def entry_of(stack, partition, mail, timeout=10):
    """{field: value} of the stream entry whose email is mail (waits until it is there)."""
    def find():
        for _, kv in stack.redis("XRANGE", "yk:req:{%d}" % partition, "-", "+") or []:
            f = entry_fields(kv)
            if f.get("email") == mail:
                return f
        return None
    return wait_until(find, timeout, 0.02, what="the stream entry of %s" % mail)


def stored(stack, rid):
    return stack.redis("GET", "yk:res:" + rid)


def done(stack, partition):
    return int(stack.redis("GET", "yk:done:{%d}" % partition) or 0)


def request_id_of(stack, booking_id):
    return stack.scalar("SELECT request_id FROM bookings WHERE id = %d" % int(booking_id))


class Stopped:
    """The worker that owns partition p, stopped (SIGSTOP) for the duration of a with block."""

    def __init__(self, stack, partition):
        self.worker = owner_of(stack, partition)

    def __enter__(self):
        self.worker.signal(signal.SIGSTOP)
        return self

    def __exit__(self, *exc):
        self.worker.signal(signal.SIGCONT)


def in_background(fn, *args):
    ex = concurrent.futures.ThreadPoolExecutor(1)
    fut = ex.submit(fn, *args)
    ex.shutdown(wait=False)
    return fut


def test_201_leaves_no_marker_and_a_short_lived_answer(stack, make_event):
    ev = make_event(capacities=[10])
    assert ev.reserve().status == 201                      # warm: the partition is served
    mail = email("hold")
    client = Client("127.0.0.1", stack.http_port)
    with Stopped(stack, ev.partition):
        fut = in_background(lambda: ev.reserve(client=client, mail=mail))
        entry = entry_of(stack, ev.partition, mail)
        rid = entry["id"]
        assert "seq" not in entry, entry                   # the sequence number is not in the entry
        assert int(entry["dl"]) == int(entry["at"]) + WAIT_S * 1000, entry   # the deadline
        assert abs(int(entry["at"]) - time.time() * 1000) < 10000, entry   # Unix time in ms
        # as written: the short fields in one header field, the booker's texts on their own
        raw = [kv for sid, kv in stack.redis("XRANGE", "yk:req:{%d}" % ev.partition, "-", "+")
               if entry_fields(kv)["id"] == rid]
        assert raw[0][0::2] == ["h", "email", "ident", "fields", "tok"], raw
        assert raw[0][1].split() == ["t=reserve", "id=" + rid, "ing=" + entry["ing"],
                                     "ev=%s" % ev.id, "at=" + entry["at"], "dl=" + entry["dl"],
                                     "slot=%s" % ev.slot_ids[0]], raw
        time.sleep(0.3)
        assert stored(stack, rid) is None                  # queued, waited for: no marker
    r = fut.result(30)
    client.close()
    assert r.status == 201, r
    v = stored(stack, rid)
    assert v is not None and v.startswith("201 "), v
    assert json.loads(v[4:]) == r.json
    assert 0 < stack.redis("TTL", "yk:res:" + rid) <= HOLD
    # readable while it is held
    q = stack.client.get("/v1/requests/%s" % rid)
    assert q.status == 200 and q.json["status"] == "confirmed", q
    assert q.json["booking"] == r.json["booking"], q


def line_up(stack, p):
    """Other tests add entries to the streams by hand, without INCR yk:seq: their partition's done
    count can have passed its seq, and every position would read 1. Lines the counters up."""
    seq_key = "yk:seq:{%d}" % p
    d = done(stack, p)
    if int(stack.redis("GET", seq_key) or 0) < d:
        stack.redis("SET", seq_key, str(d))


def test_202_keeps_marker_then_answer_and_positions_count(stack, make_event):
    ev = make_event(capacities=[10])
    assert ev.reserve().status == 201
    mails = [email("q%d" % i) for i in range(3)]
    clients = [Client("127.0.0.1", stack.http_port) for _ in mails]
    line_up(stack, ev.partition)
    d0 = done(stack, ev.partition)
    with Stopped(stack, ev.partition):
        futs = []
        for c, m in zip(clients, mails):                   # one after the other: ordered seq
            futs.append(in_background(lambda c=c, m=m: ev.reserve(client=c, mail=m)))
            entry_of(stack, ev.partition, m)
        first = [f.result(30) for f in futs]
        assert [r.status for r in first] == [202] * 3, first
        rids = [r.json["request_id"] for r in first]
        seqs = []
        for r, rid in zip(first, rids):
            v = stored(stack, rid)
            assert v is not None and v.startswith("0 "), v
            marker = json.loads(v[2:])
            assert marker["p"] == ev.partition, marker
            seqs.append(marker["seq"])
            assert stack.redis("TTL", "yk:res:" + rid) > HOLD
            assert r.json["position"] == max(marker["seq"] - d0, 1), (r.json, marker, d0)
            # the line is 1, 2, 3 deep: next is decided now, the rest within seconds
            assert r.json["estimated_wait_seconds"] == (0 if r.json["position"] == 1 else 1), r
        assert seqs == sorted(seqs) and len(set(seqs)) == 3, seqs
        positions = []
        for rid, seq in zip(rids, seqs):
            q = stack.client.get("/v1/requests/%s" % rid)
            assert q.status == 200 and q.json["status"] == "pending", q
            assert q.json["position"] == max(seq - done(stack, ev.partition), 1), q
            positions.append(q.json["position"])
            assert isinstance(q.json["estimated_wait_seconds"], int), q
            assert q.json["estimated_wait_seconds"] >= 0, q
        assert positions == [positions[0], positions[0] + 1, positions[0] + 2], positions
    for c in clients:
        c.close()

    def decided(rid):
        v = stored(stack, rid)
        return v if v and not v.startswith("0 ") else None
    for rid in rids:
        v = wait_until(lambda: decided(rid), 20, 0.05, what="answer of %s" % rid)
        assert v.startswith("201 "), v
        assert stack.redis("TTL", "yk:res:" + rid) > HOLD      # kept for the TTL, not the hold
        q = stack.client.get("/v1/requests/%s" % rid)
        assert q.status == 200 and q.json["status"] == "confirmed", q
        assert q.json["booking"] == json.loads(v[4:])["booking"], (q, v)
    # done counts the acknowledged entries: these three (and nothing else used this partition)
    wait_until(lambda: done(stack, ev.partition) == d0 + 3, 10, 0.05,
               what="yk:done:{%d} == %d" % (ev.partition, d0 + 3))
    # once decided, the position of a later request starts again from 1
    assert int(stack.redis("GET", "yk:seq:{%d}" % ev.partition)) - done(stack, ev.partition) <= 0


def test_answer_stored_but_reply_lost_is_given_at_the_deadline(stack, make_event):
    ev = make_event(capacities=[10])
    assert ev.reserve().status == 201
    mail = email("lost")
    client = Client("127.0.0.1", stack.http_port)
    body = {"error": "slot_full", "message": "This slot is full.", "lost": True}
    with Stopped(stack, ev.partition):
        t0 = time.monotonic()
        fut = in_background(lambda: ev.reserve(client=client, mail=mail))
        rid = entry_of(stack, ev.partition, mail)["id"]
        # what a worker does when its PUBLISH never reaches this ingress
        stack.redis("SET", "yk:res:" + rid, "409 " + json.dumps(body), "EX", HOLD)
        r = fut.result(30)
        took = time.monotonic() - t0
    client.close()
    assert r.status == 409 and r.json == body, r
    assert took >= 4, took                                 # at the deadline (YOYAKU_WAIT_MS 5000)
    # the real decision replaces it later; a request answered finally needs no marker
    wait_until(lambda: stored(stack, rid).startswith("201 "), 20, 0.05, what="the worker's answer")


def test_idempotent_answer_outlives_the_hold(stack, make_event):
    ev = make_event(capacities=[10])
    key = "keep-" + uuid.uuid4().hex
    body = ev.body(mail=email("keep"))
    path = "/v1/events/%s/reservations" % ev.slug
    r = stack.client.post(path, body, headers={"Idempotency-Key": key})
    assert r.status == 201, r
    rid = request_id_of(stack, r.json["booking"]["id"])
    assert stored(stack, rid).startswith("201 ")
    assert stack.redis("TTL", "yk:res:" + rid) > HOLD      # the marker made the worker keep it
    again = stack.client.post(path, body, headers={"Idempotency-Key": key})
    assert again.status == 201 and again.json == r.json, again
    assert len(ev.rows()) == 1


def test_a_201_without_key_is_not_kept_for_the_ttl(stack, make_event):
    ev = make_event(capacities=[10])
    r = ev.reserve()
    assert r.status == 201, r
    rid = request_id_of(stack, r.json["booking"]["id"])
    assert 0 < stack.redis("TTL", "yk:res:" + rid) <= HOLD
    kept = stack.client.get("/v1/requests/%s" % rid)
    assert kept.status == 200 and kept.json["status"] == "confirmed", kept
    # gone after the hold (simulated by expiring it now): the booking is read from PostgreSQL,
    # the same booking, without the token (only the 201 and the mail carry it)
    stack.redis("PEXPIRE", "yk:res:" + rid, 1)
    time.sleep(0.05)
    assert stored(stack, rid) is None
    q = stack.client.get("/v1/requests/%s" % rid)
    assert q.status == 200, q
    assert q.json == {"booking": r.json["booking"], "status": "confirmed", "code": 201}, q
    assert "token" not in q.json
    # cancelled since: the request was confirmed; the booking is shown as it is now
    c = stack.client.post("/v1/bookings/%s/cancel" % r.json["booking"]["id"], None,
                          headers={"X-Booking-Token": r.json["token"]})
    assert c.status == 200, c
    q = stack.client.get("/v1/requests/%s" % rid)
    assert q.status == 200 and q.json["status"] == "confirmed", q
    assert q.json["booking"] == c.json["booking"], q
    # past YOYAKU_RESULT_TTL a request id no longer leads to the booking; an unknown id never did
    stack.psql("UPDATE bookings SET created_at = now() - interval '%d seconds' "
               "WHERE request_id = '%s'" % (TTL + 60, rid))
    q = stack.client.get("/v1/requests/%s" % rid)
    assert q.status == 404 and q.json["error"] == "not_found", q
    q = stack.client.get("/v1/requests/%s" % uuid.uuid4().hex)
    assert q.status == 404, q


@contextlib.contextmanager
def second_ingress(stack, name, wait_ms, ev, **env_extra):
    """(process, client) of one more ingress with YOYAKU_WAIT_MS=wait_ms, ready and knowing ev;
    stopped when the block ends."""
    port = free_port()
    env = dict(stack.env, YOYAKU_LISTEN="127.0.0.1:%d" % port, YOYAKU_INGRESS_ID=name,
               YOYAKU_WAIT_MS=str(wait_ms), **env_extra)
    ing = stack._spawn(name, [binary("yoyaku-ingress")], env)
    client = Client("127.0.0.1", port)
    try:
        wait_until(lambda: _ready(client), 30, 0.1, what="second ingress ready")
        wait_until(lambda: client.get("/v1/events/%s" % ev.slug).status == 200, 10, 0.1,
                   what="event known to the second ingress")
        yield ing, client
    finally:
        client.close()
        ing.stop()


def test_stopping_ingress_answers_202_with_marker(stack, make_event):
    ev = make_event(capacities=[10])
    assert ev.reserve().status == 201
    with second_ingress(stack, "ingress-stop", 30000, ev) as (ing, client):
        mail = email("stop")
        with Stopped(stack, ev.partition):
            fut = in_background(lambda: ev.reserve(client=client, mail=mail))
            rid = entry_of(stack, ev.partition, mail)["id"]
            time.sleep(0.2)
            ing.signal(signal.SIGTERM)
            r = fut.result(30)
            assert r.status == 202 and r.json["request_id"] == rid, r
            v = stored(stack, rid)
            assert v is not None and v.startswith("0 "), v
            assert ing.popen.wait(20) == 0, ing.log_text()[-3000:]
        v = wait_until(lambda: (lambda v: v if v and not v.startswith("0 ") else None)(
            stored(stack, rid)), 20, 0.05, what="the answer")
        assert v.startswith("201 ") and stack.redis("TTL", "yk:res:" + rid) > HOLD, v


def _ready(client):
    try:
        return client.get("/readyz").status == 200
    except OSError:
        return False


def test_answer_kept_for_the_ttl_past_the_deadline_or_with_a_key(stack, make_event):
    """Without any marker the worker keeps an answer for the TTL when its ingress has stopped
    waiting (that booker was or will be answered 202, even if Redis could not take the marker
    then) or when the request carries an Idempotency-Key (retries read it); otherwise only until
    10 s after the ingress's deadline."""
    ev = make_event(capacities=[10])
    now = int(time.time() * 1000)
    cases = {"past the deadline": {"at": now - 6000, "dl": now - 1000},
             "with a key": {"at": now, "dl": now + WAIT_S * 1000, "idem": "1"},
             "waited for": {"at": now, "dl": now + WAIT_S * 1000}}
    rids = {}
    for name, extra in cases.items():
        rid, mail = uuid.uuid4().hex, email("hold")
        fields = {"t": "reserve", "id": rid, "ing": "tests", "ev": ev.id, "slot": ev.slot_ids[0],
                  "email": mail, "ident": mail.lower(), "fields": '{"name":"X"}',
                  "tok": (uuid.uuid4().hex * 2)[:43]}
        fields.update(extra)
        stack.redis("INCR", "yk:seq:{%d}" % ev.partition)      # as the ingress does, for positions
        xadd_entry(stack, ev.partition, fields)
        rids[name] = rid
    for name, rid in rids.items():
        v = wait_until(lambda: stack.redis("GET", "yk:res:" + rid), 20, 0.05, what="answer " + name)
        assert v.startswith("201 "), (name, v)
    assert stack.redis("TTL", "yk:res:" + rids["past the deadline"]) > HOLD
    assert stack.redis("TTL", "yk:res:" + rids["with a key"]) > HOLD
    assert 0 < stack.redis("TTL", "yk:res:" + rids["waited for"]) <= HOLD


def test_wait_0_answers_202_at_once_with_position(stack, make_event):
    """YOYAKU_WAIT_MS=0: every reservation is answered 202 at once (never with a decision that
    happened to be quick), with its position; the answer is then kept for the TTL and polled."""
    ev = make_event(capacities=[20])
    with second_ingress(stack, "ingress-wait0", 0, ev) as (_, client):
        answers = [ev.reserve(client=client, mail=email("w0")) for _ in range(10)]
        assert [r.status for r in answers] == [202] * 10, answers
        for r in answers:
            assert isinstance(r.json["position"], int) and r.json["position"] >= 1, r
            rid = r.json["request_id"]

            def decided():
                q = client.get("/v1/requests/%s" % rid)
                assert q.status == 200, q
                return q if q.json["status"] != "pending" else None
            q = wait_until(decided, 20, 0.05, what="request %s decided" % rid)
            assert q.json["status"] == "confirmed", q
            assert stack.redis("TTL", "yk:res:" + rid) > HOLD


def test_acked_entries_are_trimmed_up_to_the_oldest_pending(stack, make_event):
    ev = make_event(capacities=[10])
    assert ev.reserve().status == 201                      # warm: the partition is served
    stream = "yk:req:{%d}" % ev.partition
    # An entry another consumer holds pending: nothing from it on may be trimmed. It is added and
    # read in one script, so that the owner's blocked XREADGROUP cannot take it first; the owner
    # claims such entries at its next tick (every 2 s), so the check is run again if that came
    # in between.
    for attempt in range(5):
        ghost = stack.redis("EVAL", "local id = redis.call('XADD', KEYS[1], '*', 't', 'reserve')\n"
                            "redis.call('XREADGROUP', 'GROUP', 'workers', 'ghost', 'COUNT', 1,"
                            " 'STREAMS', KEYS[1], '>')\nreturn id", "1", stream)
        mail = email("trim-a")
        assert ev.reserve(mail=mail).status == 201
        kept = [(e[0], entry_fields(e[1]).get("email"))
                for e in stack.redis("XRANGE", stream, "-", "+")]
        held = stack.redis("XPENDING", stream, "workers", "-", "+", "10", "ghost")
        stack.redis("XACK", stream, "workers", ghost)
        stack.redis("XGROUP", "DELCONSUMER", stream, "workers", "ghost")
        if held:
            break
    assert held and held[0][0] == ghost, held
    # the pending entry and the acked one after it were still there
    assert kept[0][0] == ghost and mail in [m for _, m in kept], kept
    # nothing pending any more: the next batch's ack trims everything up to itself
    assert ev.reserve(mail=email("trim-b")).status == 201
    assert stack.redis("XPENDING", stream, "workers")[0] == 0
    assert stack.redis("XLEN", stream) == 0, stack.redis("XRANGE", stream, "-", "+")


class RedisLink:
    """A TCP relay to the stack's Redis that the test can cut or slow down: cut() closes every
    connection and refuses new ones (accepted and closed at once) until restore(); hold() keeps
    Redis's replies on the command connections (not on one that subscribed) until release()."""

    def __init__(self, stack):
        self.target = ("127.0.0.1", stack.redis_port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.up, self.held, self.socks, self.lock = True, False, [], threading.Lock()
        self.links = []  # [client socket, subscribed, replies held]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.server.accept()
            except OSError:
                return
            with self.lock:
                if not self.up:
                    c.close()
                    continue
                r = socket.create_connection(self.target)
                self.socks += [c, r]
                link = [c, False, []]
                self.links.append(link)
            threading.Thread(target=self._pump, args=(c, r, link, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(r, c, link, False), daemon=True).start()

    def _pump(self, a, b, link, to_redis):
        try:
            while (data := a.recv(65536)):
                with self.lock:
                    if to_redis and b"SUBSCRIBE" in data:
                        link[1] = True
                    if not to_redis and self.held and not link[1]:
                        link[2].append(data)
                        continue
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self):
        with self.lock:
            self.up = False
            for s in self.socks:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            self.socks = []

    def restore(self):
        with self.lock:
            self.up = True

    def hold(self):
        with self.lock:
            self.held = True

    def release(self):
        with self.lock:
            self.held = False
            for c, _, held in self.links:
                with contextlib.suppress(OSError):
                    c.sendall(b"".join(held))
                held.clear()

    def close(self):
        self.cut()
        self.server.close()


@contextlib.contextmanager
def linked_ingress(stack, name, wait_ms, ev):
    """second_ingress that reaches Redis through a RedisLink: (link, process, client)."""
    link = RedisLink(stack)
    try:
        with second_ingress(stack, name, wait_ms, ev,
                            YOYAKU_REDIS="127.0.0.1:%d" % link.port) as (ing, client):
            yield link, ing, client
    finally:
        link.close()


def final(stack, rid):
    v = stored(stack, rid)
    return v if v and not v.startswith("0 ") else None


def submit_then_cut(stack, ev, client, link, mail):
    """(future answer, request id) of a reservation through client, queued (its owner is
    stopped), after which the link to Redis is cut."""
    fut = in_background(lambda: ev.reserve(client=client, mail=mail))
    rid = entry_of(stack, ev.partition, mail)["id"]
    time.sleep(0.3)                                        # the XADD's reply, too
    link.cut()
    return fut, rid


def test_marker_owed_while_redis_was_unreachable_is_written_on_reconnect(stack, make_event):
    """A request whose deadline passes while its ingress cannot reach Redis is answered 202
    without its pending marker; the ingress writes it when Redis is back, so GET
    /v1/requests/{id} tells the position (not 404) and the answer is kept for the TTL."""
    ev = make_event(capacities=[10])
    assert ev.reserve().status == 201
    with linked_ingress(stack, "ingress-owed", 1500, ev) as (link, ing, client):
        # undecided until after the reconnect: the marker, then the answer for the TTL
        with Stopped(stack, ev.partition):
            fut, rid = submit_then_cut(stack, ev, client, link, email("owed"))
            r = fut.result(30)
            assert r.status == 202 and r.json["request_id"] == rid, r
            assert stored(stack, rid) is None          # no marker could be written
            assert stack.client.get("/v1/requests/%s" % rid).status == 404
            link.restore()
            v = wait_until(lambda: stored(stack, rid), 15, 0.05, what="the owed marker")
            assert v.startswith("0 "), v
            q = stack.client.get("/v1/requests/%s" % rid)
            assert q.status == 200 and q.json["status"] == "pending", q
        v = wait_until(lambda: final(stack, rid), 20, 0.05, what="the answer")
        assert v.startswith("201 ") and stack.redis("TTL", "yk:res:" + rid) > HOLD, v

        # decided before the deadline, its reply lost with the connection: the answer the
        # worker kept for a short while is given the TTL
        wait_until(lambda: _ready(client), 15, 0.1, what="the ingress reconnected")
        with Stopped(stack, ev.partition):
            fut, rid = submit_then_cut(stack, ev, client, link, email("owed2"))
        v = wait_until(lambda: final(stack, rid), 20, 0.05, what="the answer")
        assert 0 < stack.redis("TTL", "yk:res:" + rid) <= HOLD, v
        r = fut.result(30)
        assert r.status == 202 and r.json["request_id"] == rid, r
        link.restore()
        wait_until(lambda: stack.redis("TTL", "yk:res:" + rid) > HOLD, 15, 0.05,
                   what="the answer kept for the TTL")
        q = stack.client.get("/v1/requests/%s" % rid)
        assert q.status == 200 and q.json["status"] == "confirmed", q


def test_wait_0_answers_202_even_when_the_answer_overtakes_the_submit(stack, make_event):
    """With YOYAKU_WAIT_MS=0 an answer published before the submit's own replies came back (they
    are held here) is not relayed: the booker is answered 202 like every other, and polls."""
    ev = make_event(capacities=[10])
    assert ev.reserve().status == 201
    with linked_ingress(stack, "ingress-w0", 0, ev) as (link, ing, client):
        mail = email("overtake")
        link.hold()
        fut = in_background(lambda: ev.reserve(client=client, mail=mail))
        rid = wait_until(lambda: stack.scalar("SELECT request_id FROM bookings WHERE email = "
                                              "'%s'" % mail), 20, 0.05, what="the booking")
        wait_until(lambda: final(stack, rid), 20, 0.05, what="the answer")
        time.sleep(0.3)                            # its pub/sub reply is relayed too
        link.release()
        r = fut.result(30)
        assert r.status == 202 and r.json["request_id"] == rid, r
        q = stack.client.get("/v1/requests/%s" % rid)
        assert q.status == 200 and q.json["status"] == "confirmed", q


def test_a_retried_key_tells_the_position_of_its_request(stack, make_event):
    """Position 1 is next in line (contract §2); a retry with the same Idempotency-Key of a request
    still pending is answered 202 with that request's id and position, not 1 (issue 9 finding 9)."""
    ev = make_event(capacities=[10])
    assert ev.reserve().status == 201                      # warm: the partition is served
    path = "/v1/events/%s/reservations" % ev.slug
    key = "pos-" + uuid.uuid4().hex
    mails = [email("posa"), email("posb")]
    clients = [Client("127.0.0.1", stack.http_port) for _ in range(3)]
    line_up(stack, ev.partition)
    with Stopped(stack, ev.partition):
        before = int(stack.redis("GET", "yk:seq:{%d}" % ev.partition) or 0) - done(stack, ev.partition)
        fa = in_background(lambda: ev.reserve(client=clients[0], mail=mails[0]))
        entry_of(stack, ev.partition, mails[0])
        body_b = ev.body(mail=mails[1])
        fb = in_background(lambda: clients[1].post(path, body_b, headers={"Idempotency-Key": key}))
        entry_of(stack, ev.partition, mails[1])
        fdup = in_background(lambda: clients[2].post(path, body_b, headers={"Idempotency-Key": key}))
        a, b, dup = fa.result(30), fb.result(30), fdup.result(30)
    for c in clients:
        c.close()
    assert [a.status, b.status, dup.status] == [202, 202, 202], (a, b, dup)
    if before <= 0:                                        # nothing else was waiting in the partition
        assert a.json["position"] == 1, a
    assert b.json["position"] == a.json["position"] + 1, (a, b)
    assert dup.json["request_id"] == b.json["request_id"], (b, dup)
    assert dup.json["position"] == b.json["position"], (b, dup)
