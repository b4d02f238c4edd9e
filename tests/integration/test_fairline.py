"""A fair line and "sold out means stop waiting" (issue 14; contract §4 "Within one event, requests
are decided in the order they were queued").

Fair line: with the worker stopped, thousands of reservations are sent through three ingress
processes, so every one is queued (202 with its position and estimated wait); the order XADD gave
them is read back with XRANGE; then a worker starts and decides them. The first `capacity` in
stream order, and no others, are booked, and their booking ids and created_at follow stream order:
0 inversions.

Sold out: a slot that was full before a long queue formed behind it has its queued requests
answered slot_full before the commits of the bookings queued ahead of them, and new requests for
it are refused at the ingress without being queued.

YOYAKU_FAIRLINE_N (default 3000) sets the number of requests of the fair line."""

import datetime
import json
import os
import socket
import threading
import time
import uuid

import pytest

from ykstack import (Client, Redis, binary, email, entry_fields, free_port, own_stack,
                     partition_of, rfc3339, slot_time, unique, wait_until)

N = int(os.environ.get("YOYAKU_FAIRLINE_N", "3000"))


@pytest.fixture(scope="module")
def line():
    yield from own_stack(n_workers=1, wait_ms=0)


def start_ingress(s, n):
    """One more ingress process of the stack, on a port of its own; returns its Client."""
    port = free_port()
    iid = "ingress-%d" % n
    env = dict(s.env)
    env.update({"YOYAKU_LISTEN": "127.0.0.1:%d" % port,
                "YOYAKU_PUBLIC_URL": "http://127.0.0.1:%d" % port,
                "YOYAKU_INGRESS_ID": iid, "YOYAKU_WAIT_MS": "0",
                "YOYAKU_PG": s.pg_conninfo + " application_name=" + iid})
    s._spawn(iid, s.wrap_ingress + [binary("yoyaku-ingress")], env)
    c = Client("127.0.0.1", port, s.admin_token)

    def ready():
        try:
            return c.get("/readyz").status == 200
        except OSError:
            return False
    wait_until(ready, 30, 0.1, what="%s ready" % iid)
    return c


def make_event(s, capacities, clients):
    slug = unique("fair")
    r = s.client.post("/v1/admin/events", {"slug": slug, "title": "line " + slug,
                                           "fields": [{"name": "name", "type": "text"}]},
                      admin=True)
    assert r.status == 201, r
    start = slot_time(40, 9)
    slots = [{"starts_at": rfc3339(start + datetime.timedelta(hours=i)),
              "ends_at": rfc3339(start + datetime.timedelta(hours=i, minutes=30)),
              "capacity": cap} for i, cap in enumerate(capacities)]
    r = s.client.post("/v1/admin/events/%s/slots" % slug, {"slots": slots}, admin=True)
    assert r.status == 201, r
    d = start.date()
    path = "/v1/events/%s/slots?from=%s&to=%s" % (slug, d, d + datetime.timedelta(days=1))
    for c in clients:
        listed = wait_until(lambda: (lambda r: r.json["slots"] if r.status == 200 and len(
            r.json["slots"]) == len(slots) else None)(c.get(path)), 10, 0.05,
            what="slots of %s at every ingress" % slug)
    ids = [x["id"] for x in sorted(listed, key=lambda x: x["starts_at"])]
    ev = int(s.scalar("SELECT id FROM events WHERE slug = '%s'" % slug))
    part = partition_of(slug, s.partitions)
    return slug, ev, part, ids


def stop_workers(s):
    for w in s.live_workers():
        w.stop()
    wait_until(lambda: not s.partition_owners(), 15, 0.1, what="no partition owned")


def start_worker(s):
    s.start_worker()
    s.wait_partitions_owned()


def pipeline(port, cmds):
    """Sends every command in one write and returns their replies (a raw connection of its own)."""
    r = Redis(port)
    r._connect()
    try:
        out = []
        for a in cmds:
            out.append(b"*%d\r\n" % len(a))
            for x in a:
                x = str(x).encode()
                out.append(b"$%d\r\n%s\r\n" % (len(x), x))
        r.sock.sendall(b"".join(out))
        return [r._reply() for _ in cmds]
    finally:
        r.close()


def stream_rids(s, part):
    """Request ids of the partition's stream, in stream order, and the ingress of each."""
    rids, ings = [], set()
    last = "-"
    while True:
        batch = s.redis("XRANGE", "yk:req:{%d}" % part, last, "+", "COUNT", 1000)
        if last != "-":
            batch = batch[1:]
        if not batch:
            return rids, ings
        for sid, flat in batch:
            f = entry_fields(flat)
            rids.append(f["id"])
            ings.add(f["ing"])
        last = batch[-1][0]


def answers(s, rids, timeout=60):
    """{rid: (code, body)} once every rid's final answer is stored."""
    got = {}

    def all_in():
        todo = [r for r in rids if r not in got]
        for i in range(0, len(todo), 500):
            chunk = todo[i:i + 500]
            for rid, v in zip(chunk, s.redis("MGET", *["yk:res:" + r for r in chunk])):
                if v and not v.startswith("0 "):
                    code, body = v.split(" ", 1)
                    got[rid] = (int(code), json.loads(body))
        return len(got) == len(rids)
    wait_until(all_in, timeout, 0.2, what="every answer stored")
    return got


def test_fair_line(line):
    s = line
    clients = [s.client, start_ingress(s, 2), start_ingress(s, 3)]
    capacity = N // 3
    slug, ev, part, (slot,) = make_event(s, [capacity], clients)
    stop_workers(s)
    done0 = int(s.redis("GET", "yk:done:{%d}" % part) or 0)

    results = [None] * N
    lock = threading.Lock()
    nxt = [0]

    def run(k):
        c = Client("127.0.0.1", clients[k % 3].port, s.admin_token)
        try:
            while True:
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= N:
                    return
                r = c.post("/v1/events/%s/reservations" % slug,
                           {"slot_id": slot, "email": "p%d@example.com" % i,
                            "fields": {"name": "n%d" % i}})
                results[i] = (r.status, r.json)
        finally:
            c.close()
    threads = [threading.Thread(target=run, args=(k,)) for k in range(24)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queued_s = time.monotonic() - t0
    assert all(st == 202 for st, _ in results), [r for r in results if r[0] != 202][:3]
    for _, b in results:
        assert b["status"] == "pending" and isinstance(b["estimated_wait_seconds"], int), b
        assert b["estimated_wait_seconds"] >= 0, b
    # Every request has its own place in the line, 1 = next.
    positions = sorted(b["position"] for _, b in results)
    assert positions == list(range(1, N + 1)), (positions[:5], positions[-5:])
    by_pos = {b["position"]: b for _, b in results}
    assert by_pos[1]["estimated_wait_seconds"] == 0
    assert by_pos[N]["estimated_wait_seconds"] >= by_pos[2]["estimated_wait_seconds"]
    # GET /v1/requests/{id} says the same while the line stands still.
    for pos in (1, N // 2, N):
        b = by_pos[pos]
        r = s.client.get("/v1/requests/%s" % b["request_id"])
        assert r.status == 200 and r.json["status"] == "pending", r
        assert r.json["position"] == pos and r.json["estimated_wait_seconds"] >= 0, r
    assert s.client.get("/v1/requests/%s" % uuid.uuid4().hex).status == 404

    order, ings = stream_rids(s, part)
    assert len(order) == N and set(order) == {b["request_id"] for _, b in results}
    assert len(ings) == 3, ings          # queued through three ingress processes
    start_worker(s)
    t1 = time.monotonic()
    got = answers(s, order)
    decided_s = time.monotonic() - t1
    accepted = [rid for rid in order if got[rid][0] == 201]
    assert accepted == order[:capacity], "accepted are not the first %d in stream order" % capacity
    assert all(got[rid][1]["error"] == "slot_full" for rid in order[capacity:])
    rows = s.psql("SELECT request_id, id, created_at FROM bookings WHERE event_id = %d "
                  "ORDER BY id" % ev)
    rank = {rid: i for i, rid in enumerate(order)}
    ranks = [rank[r[0]] for r in rows]
    inversions = sum(1 for a, b in zip(ranks, ranks[1:]) if a > b)
    assert inversions == 0 and ranks == list(range(capacity)), "booking ids out of stream order"
    created = [r[2] for r in rows]
    assert created == sorted(created), "created_at out of stream order"
    # The line moved: positions are counted from what has been decided since.
    assert int(s.redis("GET", "yk:done:{%d}" % part)) - done0 == N
    print("fair line: %d requests queued through 3 ingresses in %.1f s, decided in %.1f s, "
          "0 inversions" % (N, queued_s, decided_s))


def test_estimated_wait_follows_the_drain_rate(line):
    """estimated_wait_seconds is the position over the partition's drain rate as the ingress
    measured it from yk:done:{p}: the partition is made to drain at 20 a second (the decided count
    raised by hand while no worker runs) and a poll then estimates position / 20 s."""
    s = line
    c = start_ingress(s, 4)               # a fresh ingress: no rate measured yet
    slug, ev, part, (slot,) = make_event(s, [1000], [s.client, c])
    stop_workers(s)
    first, rids = None, []
    for i in range(400):
        r = c.post("/v1/events/%s/reservations" % slug,
                   {"slot_id": slot, "email": "w%d@example.com" % i, "fields": {"name": "w"}})
        assert r.status == 202, r
        first = first or r.json
        rids.append(r.json["request_id"])
    last = r.json
    assert last["position"] - first["position"] == 399
    # Before any drain was seen the rate is taken as 1,000 a second.
    assert last["estimated_wait_seconds"] == -(-(last["position"] - 1) // 1000), last
    step, steps = 10, 8
    for _ in range(steps):
        s.redis("INCRBY", "yk:done:{%d}" % part, step)
        r = c.get("/v1/requests/%s" % last["request_id"])
        assert r.status == 200 and r.json["status"] == "pending", r
        time.sleep(0.5)
    r = c.get("/v1/requests/%s" % last["request_id"])
    pos = r.json["position"]
    assert pos == last["position"] - step * steps, r
    want = (pos - 1) / (step / 0.5)
    assert 0.6 * want <= r.json["estimated_wait_seconds"] <= 1.5 * want + 1, (r, want)
    s.redis("DECRBY", "yk:done:{%d}" % part, step * steps)
    start_worker(s)
    got = answers(s, rids)
    assert sum(1 for v in got.values() if v[0] == 201) == 400


class Subscriber(threading.Thread):
    """Reads the messages of one pub/sub channel, each with the time it arrived."""

    def __init__(self, port, channel):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(("*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(channel), channel))
                          .encode())
        self.messages = []           # (monotonic time, [(rid, code, body)…])
        self.buf = b""
        self.stop = False
        self._ack = threading.Event()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _item(self):
        line = self._line()
        if line[:1] == b"*":
            return [self._item() for _ in range(int(line[1:]))]
        if line[:1] == b"$":
            n = int(line[1:])
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(1 << 20)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode()
        return line[1:].decode()

    def run(self):
        try:
            while not self.stop:
                m = self._item()
                if m[0] == "subscribe":
                    self._ack.set()
                    continue
                lines = [l.split(" ", 2) for l in m[2].split("\n")]
                self.messages.append((time.monotonic(), [(a, int(b), c) for a, b, c in lines]))
        except (ConnectionError, OSError):
            pass

    def close(self):
        self.stop = True
        self.sock.close()


def test_sold_out_stops_waiting(line):
    s = line
    if not s.live_workers():
        start_worker(s)
    open_seats = 2000
    slug, ev, part, (open_slot, full_slot) = make_event(s, [open_seats, 1], [s.client])
    r = s.client.post("/v1/events/%s/reservations" % slug,
                      {"slot_id": full_slot, "email": email("first"), "fields": {"name": "x"}})
    rid = r.json.get("request_id")
    assert r.status in (201, 202), r
    if r.status == 202:
        assert answers(s, [rid])[rid][0] == 201
    # The ingress hears of the full slot and refuses it at once, queueing nothing.
    wait_until(lambda: s.client.post("/v1/events/%s/reservations" % slug, {
        "slot_id": full_slot, "email": email("late"), "fields": {"name": "x"}}).status == 409,
        10, 0.05, what="the full slot refused at the ingress")
    xlen, seq = s.redis("XLEN", "yk:req:{%d}" % part), s.redis("GET", "yk:seq:{%d}" % part)
    r = s.client.post("/v1/events/%s/reservations" % slug,
                      {"slot_id": full_slot, "email": email("late"), "fields": {"name": "x"}})
    assert r.status == 409 and r.error == "slot_full", r
    assert (s.redis("XLEN", "yk:req:{%d}" % part), s.redis("GET", "yk:seq:{%d}" % part)) == \
        (xlen, seq)

    # A long line formed while the worker was away (queued before the ingresses knew): bookings
    # of the open slot and requests for the full one, one after the other.
    stop_workers(s)
    sub = Subscriber(s.redis_port, "yk:rep:probe")
    sub.start()
    assert sub._ack.wait(10)
    now = int(time.time() * 1000)
    kinds, cmds = {}, []
    for i in range(2 * open_seats):
        rid = uuid.uuid4().hex
        full = i % 2 == 1
        kinds[rid] = full
        mail = "q%d-%s@example.com" % (i, rid[:6])
        f = {"t": "reserve", "id": rid, "ing": "probe", "ev": ev,
             "slot": full_slot if full else open_slot, "email": mail, "ident": mail,
             "fields": '{"name":"q"}', "tok": (uuid.uuid4().hex * 2)[:43], "at": now,
             "dl": now + 120000}
        cmds.append(["XADD", "yk:req:{%d}" % part, "*",
                     "h", " ".join("%s=%s" % (k, f[k]) for k in
                                   ("t", "id", "ing", "ev", "slot", "at", "dl")),
                     "email", mail, "ident", mail, "fields", f["fields"], "tok", f["tok"]])
    pipeline(s.redis_port, cmds)
    t0 = time.monotonic()
    start_worker(s)
    try:
        wait_until(lambda: sum(len(m[1]) for m in sub.messages) >= len(kinds), 60, 0.1,
                   what="every queued request answered")
    finally:
        sub.close()
    seen = {}
    for k, (t, lines) in enumerate(sub.messages):
        for rid, code, body in lines:
            seen[rid] = (k, t, code, json.loads(body))
    assert set(seen) == set(kinds)
    for rid, full in kinds.items():
        code, body = seen[rid][2], seen[rid][3]
        if full:
            assert code == 409 and body["error"] == "slot_full", body
        else:
            assert code == 201, body
    # The refusals were answered on their own, ahead of the commits of the bookings queued before
    # them: no message mixes them with bookings, and the last refusal came before the last booking.
    for _, lines in sub.messages:
        assert len({kinds[rid] for rid, _, _ in lines}) == 1, "a refusal waited for a commit"
    last_refusal = max(seen[r][0] for r, full in kinds.items() if full)
    last_booking = max(seen[r][0] for r, full in kinds.items() if not full)
    assert last_refusal < last_booking
    t_ref = max(seen[r][1] for r, full in kinds.items() if full) - t0
    t_book = max(seen[r][1] for r, full in kinds.items() if not full) - t0
    assert s.bookings_count(ev) == open_seats + 1
    print("sold out: %d refusals answered within %.2f s, %d bookings within %.2f s"
          % (open_seats, t_ref, open_seats, t_book))
