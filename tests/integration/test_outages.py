"""A store that is down or stalled never turns into a 404, an empty list or a hang (contract §2):
the ingress answers 503 unavailable with Retry-After, within YOYAKU_WAIT_MS, and /readyz says 503
until its catalogue is loaded. An ingress restarted under load never answers 404 for an event
that exists (issue 9 findings 2 and 3). Runs on a stack of its own: it stops Redis and
PostgreSQL."""

import contextlib
import datetime
import signal
import threading
import time
import uuid

import pytest

from ykstack import (Client, own_stack, binary, email, free_port, partition_of, rfc3339, slot_time,
                     wait_until)

WAIT_MS = 1500


@pytest.fixture(scope="module")
def own():
    yield from own_stack(n_workers=1, wait_ms=WAIT_MS)


def make_event(s, capacity=20):
    slug = "out-" + uuid.uuid4().hex[:10]
    r = s.client.post("/v1/admin/events", {"slug": slug, "title": "停止 " + slug, "fields": []},
                      admin=True)
    assert r.status == 201, r
    start = slot_time(30, 9)
    r = s.client.post("/v1/admin/events/%s/slots" % slug, {"slots": [{
        "starts_at": rfc3339(start), "ends_at": rfc3339(start + datetime.timedelta(minutes=30)),
        "capacity": capacity}]}, admin=True)
    assert r.status == 201, r
    slots = s.client.get("/v1/events/%s/slots" % slug).json["slots"]
    return slug, slots[0]["id"]


def unavailable(r):
    return r.status == 503 and r.error == "unavailable" and bool(r.headers.get("retry-after"))


@contextlib.contextmanager
def ingress(s, name, port=None):
    """One more ingress of stack s on its own port, stopped when the block ends."""
    port = port or free_port()
    env = dict(s.env, YOYAKU_LISTEN="127.0.0.1:%d" % port, YOYAKU_INGRESS_ID=name,
               YOYAKU_WAIT_MS=str(WAIT_MS))
    proc = s._spawn(name, [binary("yoyaku-ingress")], env)
    client = Client("127.0.0.1", port, s.admin_token, timeout=30)

    def up():
        try:
            return client.get("/healthz").status == 200
        except OSError:
            return False
    try:
        wait_until(up, 20, 0.02, what="ingress %s listening" % name)
        yield proc, client, port
    finally:
        client.close()
        proc.stop()


def test_redis_stalled_reservation_is_503_within_the_wait(own):
    slug, slot = make_event(own)
    path = "/v1/events/%s/reservations" % slug
    assert own.client.post(path, {"slot_id": slot, "email": email("warm")}).status == 201
    redis = own.by_name("redis")
    redis.signal(signal.SIGSTOP)
    try:
        for headers in ({}, {"Idempotency-Key": uuid.uuid4().hex}):
            t0 = time.monotonic()
            r = own.client.post(path, {"slot_id": slot, "email": email("stall")}, headers=headers)
            took = time.monotonic() - t0
            assert unavailable(r), (headers, r)
            assert took < WAIT_MS / 1000 + 1.0, (headers, took)
        # reads that need Redis are bounded too: request status, queue statistics
        t0 = time.monotonic()
        r = own.client.get("/v1/requests/%s" % uuid.uuid4().hex)
        assert unavailable(r), r
        r = own.client.get("/v1/admin/queue", admin=True)
        assert unavailable(r), r
        m = own.client.get("/metrics")
        assert m.status == 200 and b"yoyaku_up_redis 0" in m.body, m
        assert time.monotonic() - t0 < 3 * (WAIT_MS / 1000 + 1.0)
    finally:
        redis.signal(signal.SIGCONT)
    wait_until(lambda: own.client.post(path, {"slot_id": slot, "email": email("after")}).status
               == 201, 20, 0.2, what="reservations again once Redis runs")


def test_redis_stalled_after_queueing_still_202(own):
    """A request Redis acknowledged is queued: if Redis stalls before its deadline, it still gets
    its 202 (the pending marker follows when Redis answers), within about YOYAKU_WAIT_MS."""
    slug, slot = make_event(own)
    path = "/v1/events/%s/reservations" % slug
    assert own.client.post(path, {"slot_id": slot, "email": email("warm")}).status == 201
    partition = partition_of(slug, own.partitions)
    mail = email("queued")
    worker, redis = own.live_workers()[0], own.by_name("redis")
    client = Client("127.0.0.1", own.http_port)
    worker.signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        box = {}
        th = threading.Thread(target=lambda: box.update(r=client.post(
            path, {"slot_id": slot, "email": mail})))
        th.start()

        def queued():
            return any(mail in kv for _, kv in own.redis("XRANGE", "yk:req:{%d}" % partition,
                                                         "-", "+") or [])
        wait_until(queued, 5, 0.01, what="the request queued")
        redis.signal(signal.SIGSTOP)
        try:
            th.join(WAIT_MS / 1000 + 5)
            took = time.monotonic() - t0
        finally:
            redis.signal(signal.SIGCONT)
    finally:
        worker.signal(signal.SIGCONT)
        client.close()
    r = box.get("r")
    assert r is not None and r.status == 202, r
    assert took < WAIT_MS / 1000 + 1.0, took
    rid = r.json["request_id"]
    wait_until(lambda: (own.client.get("/v1/requests/%s" % rid).json or {}).get("status")
               == "confirmed", 20, 0.1, what="the queued request decided")


def test_restart_under_load_never_says_404(own):
    slug, slot = make_event(own)
    port = free_port()
    statuses, stop = [], threading.Event()
    lock = threading.Lock()

    def hammer():
        c = Client("127.0.0.1", port, timeout=10)
        while not stop.is_set():
            try:
                st = c.get("/v1/events/%s" % slug).status
            except OSError:
                c.close()
                time.sleep(0.0005)
                continue
            with lock:
                statuses.append(st)
        c.close()
    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(3):
            with ingress(own, "ingress-restart-%d" % i, port):
                n = statuses.count(200)
                wait_until(lambda: statuses.count(200) > n + 50, 20, 0.01, what="answers")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert 404 not in statuses, sorted(set(statuses))
    assert set(statuses) <= {200, 503}, sorted(set(statuses))


def test_postgresql_down_is_503_not_404_or_empty(own):
    slug, slot = make_event(own)
    r = own.client.post("/v1/events/%s/reservations" % slug, {"slot_id": slot, "email": email("b")})
    assert r.status == 201, r
    booking = r.json
    pg = own.by_name("postgres")
    assert pg.stop(signal.SIGINT) == 0
    # an ingress with its catalogue loaded: a booking needs PostgreSQL
    r = own.client.get("/v1/bookings/%s" % booking["booking"]["id"],
                       headers={"X-Booking-Token": booking["token"]})
    assert unavailable(r), r
    # an ingress that starts while PostgreSQL is down never loads its catalogue
    with ingress(own, "ingress-nopg") as (proc, client, port):
        time.sleep(0.3)
        for path in ("/v1/events", "/v1/events/%s" % slug, "/v1/events/%s/slots" % slug,
                     "/v1/events/no-such-%s" % slug):
            r = client.get(path)
            assert unavailable(r), (path, r)
        r = client.post("/v1/events/%s/reservations" % slug, {"slot_id": slot, "email": email("c")})
        assert unavailable(r), r
        t0 = time.monotonic()
        assert client.get("/readyz").status == 503
        assert time.monotonic() - t0 < 1.5
