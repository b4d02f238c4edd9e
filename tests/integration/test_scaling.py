"""Live scaling (contract §1 binaries, §4): workers join and leave during a rush. One worker owns every
partition; two more start and the partitions (their PostgreSQL advisory locks) spread over the three
within 5 s; one is stopped with SIGTERM (it finishes its batch, acks what it read, releases its
partitions and exits 0) and one with SIGKILL; within 5 s each time the survivors own everything. Every
201/202 is decided exactly once and no slot is oversold.

Ingresses: on SIGTERM an ingress closes its listener at once (new connections are refused), answers
the requests it holds, and exits 0 within a bound; two ingresses share one port (SO_REUSEPORT) and
both serve."""

import concurrent.futures
import os
import signal
import socket
import threading
import time
import uuid

import pytest

from ykstack import Client, StartError, binary, free_port, own_stack, outcome, wait_until

EVENTS = 8
CAPACITY = 2000
THREADS = 8
MIN_REQUESTS = 1500


@pytest.fixture(scope="module")
def stack():
    """This module's own stack (the make_event fixture of conftest then makes events on it)."""
    yield from own_stack(n_workers=1)


class Rush:
    """Reservations on the given events from a thread pool until stopped (and at least MIN_REQUESTS)."""

    def __init__(self, stack, events):
        self.stack, self.events = stack, events
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.n = 0
        self.results = []      # (event, mail, status, body)
        self.pool = concurrent.futures.ThreadPoolExecutor(THREADS)
        self.futs = [self.pool.submit(self._loop) for _ in range(THREADS)]

    def _loop(self):
        client = Client("127.0.0.1", self.stack.http_port, timeout=30)
        try:
            while not self.stop.is_set() or self.n < MIN_REQUESTS:
                with self.lock:
                    self.n += 1
                    i = self.n
                ev = self.events[i % len(self.events)]
                mail = "scale-%s-%d@example.com" % (uuid.uuid4().hex[:8], i)
                r = ev.reserve(client=client, mail=mail, fields={"name": "拡縮 %d" % i})
                self.results.append((ev, mail, r.status, r.json))
                time.sleep(0.005)   # seats left through every step of the test
        finally:
            client.close()

    def finish(self):
        self.stop.set()
        for f in self.futs:
            f.result(300)
        self.pool.shutdown()


def decide(client, status, body):
    if status != 202:
        return outcome(body)
    deadline = time.monotonic() + 60
    while True:
        r = client.get("/v1/requests/%s" % body["request_id"])
        assert r.status == 200, r
        if r.json.get("status") != "pending":
            return outcome(r.json)
        assert time.monotonic() < deadline, "request %s still pending" % body["request_id"]
        time.sleep(0.1)


def owners_are(stack, names, timeout=5.0):
    """Waits until every partition is owned, by exactly `names`, none more than its share
    (ceil(partitions / workers), the workers' target); returns {partition: owner}."""
    want = set(names)

    def spread():
        owners = stack.partition_owners()
        if len(owners) < stack.partitions or set(owners.values()) != want:
            return None
        share = -(-stack.partitions // len(want))
        return owners if all(list(owners.values()).count(n) <= share for n in want) else None
    return wait_until(spread, timeout, 0.05, what="partitions spread over %s" % sorted(want))


def consumer_pending(stack, consumer):
    n = 0
    for p in range(stack.partitions):
        try:
            for name, count in stack.redis("XPENDING", "yk:req:{%d}" % p, "workers", "-", "+", 10000,
                                           consumer) or []:
                n += 1
        except Exception:
            pass
    return n


def test_workers_join_and_leave_during_a_rush(stack, make_event):
    events = [make_event(capacities=[CAPACITY]) for _ in range(EVENTS)]
    assert len({e.partition for e in events}) > 1
    w1 = stack.workers[0]
    owners_are(stack, [w1.worker_id], timeout=15)
    rush = Rush(stack, events)
    try:
        time.sleep(1)
        w2, w3 = stack.start_worker(), stack.start_worker()
        # once both are up (connected to Redis and PostgreSQL), the partitions spread within 5 s
        wait_until(lambda: all("redis connected" in w.log_text() and "postgresql connected" in
                               w.log_text() for w in (w2, w3)), 20, 0.05, what="new workers up")
        t0 = time.monotonic()
        owners_are(stack, [w.worker_id for w in (w1, w2, w3)], timeout=5)
        joined = time.monotonic() - t0
        time.sleep(1)

        # SIGTERM: the worker drains and leaves; the others take its partitions
        mark = w2.log_size()
        w2.signal(signal.SIGTERM)
        t0 = time.monotonic()
        assert w2.popen.wait(15) == 0, w2.log_text(mark)[-3000:]
        stopped_in = time.monotonic() - t0
        owners_are(stack, [w1.worker_id, w3.worker_id], timeout=5)
        log = w2.log_text(mark)
        assert "stopping" in log, log[-2000:]
        assert consumer_pending(stack, w2.worker_id) == 0, "the SIGTERM'd worker left unacked entries"
        time.sleep(1)

        # SIGKILL: its PostgreSQL session ends, its locks with it
        w3.signal(signal.SIGKILL)
        w3.popen.wait(10)
        owners_are(stack, [w1.worker_id], timeout=5)
        time.sleep(1)
    finally:
        rush.finish()

    decided = {}
    for ev, mail, status, body in rush.results:
        assert status in (201, 202, 409), (status, body)
        decided[mail] = (ev, decide(stack.client, status, body))
    assert None not in {o for _, o in decided.values()}
    for ev in events:
        rows = ev.rows()
        booked = [r[4] for r in rows if r[3] == "confirmed"]
        assert len(booked) == len(set(booked)), "a request booked twice in %s" % ev.slug
        confirmed = {m for m, (e, o) in decided.items() if e is ev and o == "confirmed"}
        assert set(booked) == confirmed, (ev.slug, sorted(set(booked) ^ confirmed)[:10])
        assert len(booked) <= CAPACITY, (ev.slug, len(booked))
    statuses = {}
    for _, _, status, body in rush.results:
        statuses[status] = statuses.get(status, 0) + 1
    print("rush: %d requests %r; workers joined in %.1f s; SIGTERM'd worker exited in %.2f s"
          % (len(rush.results), statuses, joined, stopped_in))


def owned_gauges(stack):
    """{worker id: yoyaku_worker_partitions_owned} of each live worker: what each believes it owns."""
    out = {}
    for w in stack.live_workers():
        c = Client("127.0.0.1", w.metrics_port)
        try:
            text = c.get("/metrics").body.decode()
        finally:
            c.close()
        vals = [l.split()[-1] for l in text.splitlines() if l.startswith("yoyaku_worker_partitions_owned ")]
        out[w.worker_id] = int(float(vals[0])) if vals else 0
    return out


def test_postgres_killed_while_workers_idle_no_partition_owned_twice(stack, make_event):
    """A PostgreSQL crash ends every session and frees every lock. An idle worker must notice at its
    next tick (not at its next commit), or it goes on reading partitions that another worker
    takes once PostgreSQL is back."""
    ev = make_event(capacities=[10])
    while len(stack.live_workers()) < 2:
        stack.start_worker()
    names = [w.worker_id for w in stack.live_workers()]
    owners_are(stack, names, timeout=15)
    marks = {w.worker_id: w.log_size() for w in stack.live_workers()}
    stack.pg.proc.stop(signal.SIGKILL)
    for attempt in range(5):   # its orphaned backends may still hold the shared memory a moment
        time.sleep(1)
        try:
            stack.start_postgres()
            break
        except StartError:
            if attempt == 4:
                raise
    for w in stack.live_workers():
        wait_until(lambda: "postgresql session lost" in w.log_text(marks[w.worker_id]), 10, 0.1,
                   what="%s noticing its session ended" % w.worker_id)
    owners_are(stack, names, timeout=15)

    def single():   # what the workers believe they own is what PostgreSQL says they hold
        held = {}
        for p, o in stack.partition_owners().items():
            held[o] = held.get(o, 0) + 1
        return held if owned_gauges(stack) == held and sum(held.values()) == stack.partitions else None
    wait_until(single, 10, 0.2, what="each partition owned once")
    wait_until(lambda: ready(stack.client), 30, 0.1, what="the ingress ready again")
    r = ev.reserve()
    assert r.status in (201, 202), r
    assert decide(stack.client, r.status, r.json) == "confirmed"


# ---------------------------------------------------------------------------------------------------
# ingresses


def spawn_ingress(stack, name, port, wait_ms=5000):
    env = dict(stack.env)
    env.update({"YOYAKU_LISTEN": "127.0.0.1:%d" % port, "YOYAKU_INGRESS_ID": name,
                "YOYAKU_WAIT_MS": str(wait_ms),
                "YOYAKU_METRICS_LISTEN": ""})
    ing = stack._spawn(name, [binary("yoyaku-ingress")], env)
    return ing


def ready(client):
    try:
        return client.get("/readyz").status == 200
    except OSError:
        return False


def test_two_ingresses_share_a_port_and_both_serve(stack, make_event):
    ev = make_event(capacities=[100])
    port = stack.http_port
    second = spawn_ingress(stack, "ingress-b", port)
    try:
        client = Client("127.0.0.1", port)
        wait_until(lambda: ready(client), 30, 0.1, what="both ingresses ready")
        # new connections spread over both processes: each counts some of them
        seen = set()
        for _ in range(200):
            c = Client("127.0.0.1", port)
            r = c.get("/metrics")
            c.close()
            assert r.status == 200
            seen.add(_instance_of(r.body))
            if len(seen) == 2:
                break
        assert len(seen) == 2, "one ingress answered every new connection: %r" % seen
        # one stops: the other still answers, and books
        second.signal(signal.SIGTERM)
        assert second.popen.wait(15) == 0, second.log_text()[-3000:]
        for _ in range(20):
            c = Client("127.0.0.1", port)
            assert c.get("/healthz").status == 200
            c.close()
        assert ev.reserve().status == 201
    finally:
        second.stop()


def _instance_of(metrics_text):
    """The ingress's id (YOYAKU_INGRESS_ID) from yoyaku_build_info's labels."""
    for line in metrics_text.decode().splitlines():
        if line.startswith("yoyaku_build_info{") and ',id="' in line:
            return line.split(',id="', 1)[1].split('"', 1)[0]
    raise AssertionError("no id label on yoyaku_build_info")


def test_sigterm_ingress_closes_its_listener_answers_what_it_holds_and_exits_0(stack, make_event):
    ev = make_event(capacities=[100])
    port = free_port()
    ing = spawn_ingress(stack, "ingress-stop2", port, wait_ms=20000)
    client = Client("127.0.0.1", port)
    try:
        wait_until(lambda: ready(client), 30, 0.1, what="the ingress ready")
        wait_until(lambda: client.get("/v1/events/%s" % ev.slug).status == 200, 10, 0.1)
        # hold requests: the workers are paused (SIGSTOP), so the answers wait for the deadline
        for w in stack.live_workers():
            w.signal(signal.SIGSTOP)
        try:
            pool = concurrent.futures.ThreadPoolExecutor(5)
            futs = [pool.submit(lambda i: Client("127.0.0.1", port).post(
                "/v1/events/%s/reservations" % ev.slug, ev.body(mail="held-%d-%s@example.com" % (
                    i, uuid.uuid4().hex[:6]))), i) for i in range(5)]
            time.sleep(1.0)
            t0 = time.monotonic()
            ing.signal(signal.SIGTERM)
            # the listener closes at once: a new connection is refused
            def refused():
                s = socket.socket()
                try:
                    s.connect(("127.0.0.1", port))
                    return False
                except ConnectionRefusedError:
                    return True
                finally:
                    s.close()
            wait_until(refused, 2, 0.02, what="the listener closed")
            answers = [f.result(30) for f in futs]
            assert all(a.status == 202 for a in answers), answers
            rc = ing.popen.wait(15)
            took = time.monotonic() - t0
        finally:
            for w in stack.live_workers():
                w.signal(signal.SIGCONT)
        assert rc == 0, ing.log_text()[-3000:]
        assert took < 10, took
        for a in answers:
            assert decide(stack.client, a.status, a.json) == "confirmed"
    finally:
        client.close()
        ing.stop()
