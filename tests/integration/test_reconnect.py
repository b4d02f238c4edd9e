"""Store outages and reconnection (issue 9, findings 2 and 3; contract: `/readyz` 503 within about a
second of a store going away, never a hang): Redis killed for 5 s and restarted from its AOF, the
ingress started while Redis is down, Redis stopped (SIGSTOP) and continued, PostgreSQL restarted,
PostgreSQL replaced by a server that accepts and never answers. These tests stop and start the
stores, so they run on a stack of their own, not the session's."""

import os
import signal
import socket
import threading
import time

import pytest

import ykstack
from ykstack import own_stack, wait_until


@pytest.fixture(scope="module")
def stack():
    """Overrides the session stack for this module (make_event uses it too)."""
    yield from own_stack(n_workers=1)


def status(stack, path, timeout=5, admin=False):
    """The status of GET path on a fresh connection (so a stuck one cannot hide a hang)."""
    c = ykstack.Client("127.0.0.1", stack.http_port, stack.admin_token, timeout=timeout)
    try:
        return c.get(path, admin=admin).status
    finally:
        c.close()


def readyz(stack):
    try:
        return status(stack, "/readyz", timeout=2)
    except OSError:
        return None


def notifier_readyz(stack):
    """The notifier's /readyz status (it serves it on YOYAKU_METRICS_LISTEN), None if no answer."""
    host, port = stack.notifier.env["YOYAKU_METRICS_LISTEN"].rsplit(":", 1)
    c = ykstack.Client(host, int(port), timeout=2)
    try:
        return c.get("/readyz").status
    except OSError:
        return None
    finally:
        c.close()


def start_redis(stack):
    """Starts Redis again on its port and directory: it loads its AOF."""
    stack.start_redis()


def start_pg(stack):
    stack.start_postgres()  # waits until it answers


def stop_pg(stack):
    pg = stack.by_name("postgres")
    pg.signal(signal.SIGINT)   # fast shutdown: sessions are ended
    pg.popen.wait(30)


def book_until_201(ev, timeout):
    """Reserves until the answer is 201 (a seat confirmed); returns the seconds it took."""
    t0 = time.monotonic()

    def ok():
        try:
            r = ev.reserve()
        except OSError:
            return False
        return r.status == 201
    wait_until(ok, timeout, 0.1, what="a 201 for a reservation")
    return time.monotonic() - t0


def test_redis_killed_5s_restarted_from_aof(stack, make_event):
    ev = make_event(capacities=[100])
    assert ev.reserve().status == 201
    stack.by_name("redis").stop(signal.SIGKILL)
    time.sleep(1.5)
    assert readyz(stack) == 503
    time.sleep(3.5)                      # 5 s down: many of the ingress's 500 ms retries refused
    start_redis(stack)
    took = book_until_201(ev, 15)
    assert took < 5, "bookings served again %.1f s after Redis came back" % took
    wait_until(lambda: readyz(stack) == 200, 3, 0.05, what="/readyz 200")
    assert ev.reserve().status == 201


def test_ingress_started_while_redis_down(stack, make_event):
    ev = make_event(capacities=[100])
    stack.by_name("redis").stop(signal.SIGKILL)
    stack.by_name("ingress").stop()
    stack.ingress = stack.start_ingress()
    wait_until(lambda: readyz(stack) == 503, 10, 0.05, what="the new ingress answering 503")
    time.sleep(2)
    assert readyz(stack) == 503
    start_redis(stack)
    t0 = time.monotonic()
    wait_until(lambda: readyz(stack) == 200, 5, 0.05, what="/readyz 200 after Redis came back")
    assert time.monotonic() - t0 < 3
    book_until_201(ev, 10)


def test_redis_stopped_readyz_503_then_back(stack, make_event):
    ev = make_event(capacities=[100])
    assert ev.reserve().status == 201
    wait_until(lambda: readyz(stack) == 200, 5, 0.05, what="/readyz 200")
    redis = stack.by_name("redis")
    redis.signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        wait_until(lambda: readyz(stack) == 503, 5, 0.05, what="/readyz 503 with Redis stopped")
        assert time.monotonic() - t0 < 1.5
        # the loop stays responsive meanwhile
        t1 = time.monotonic()
        assert status(stack, "/healthz", timeout=2) == 200
        assert time.monotonic() - t1 < 0.5
        # a reservation waiting for the stopped Redis is answered once the connection is dropped
        # as stalled, not after minutes (which status is the ingress's business: not a 201)
        t1 = time.monotonic()
        c = ykstack.Client("127.0.0.1", stack.http_port, timeout=10)
        try:
            r = ev.reserve(client=c)
        finally:
            c.close()
        took = time.monotonic() - t1
        assert r.status != 201 and took < 3, (r, took)
        time.sleep(1)
    finally:
        redis.signal(signal.SIGCONT)
    t0 = time.monotonic()
    wait_until(lambda: readyz(stack) == 200, 5, 0.05, what="/readyz 200 after SIGCONT")
    assert time.monotonic() - t0 < 2.5
    book_until_201(ev, 10)


def test_postgres_restarted_readyz_back_quickly(stack, make_event):
    wait_until(lambda: readyz(stack) == 200, 5, 0.05, what="/readyz 200")
    listened = stack.notifier.log_text().count("outbox listening") if stack.notifier else 0
    stop_pg(stack)
    wait_until(lambda: readyz(stack) == 503, 3, 0.05, what="/readyz 503 with PostgreSQL down")
    if stack.notifier is not None:
        wait_until(lambda: notifier_readyz(stack) == 503, 3, 0.05, what="notifier /readyz 503")
    t1 = time.monotonic()
    assert status(stack, "/healthz", timeout=2) == 200
    assert time.monotonic() - t1 < 0.5
    start_pg(stack)
    t0 = time.monotonic()
    wait_until(lambda: readyz(stack) == 200, 10, 0.05, what="/readyz 200 after the restart")
    took = time.monotonic() - t0
    assert took < 3, "/readyz 200 only %.1f s after PostgreSQL accepted connections" % took
    if stack.notifier is not None:         # its one session (queries and LISTEN) is back too
        wait_until(lambda: notifier_readyz(stack) == 200, 3, 0.05, what="notifier /readyz 200")
        wait_until(lambda: stack.notifier.log_text().count("outbox listening") > listened, 3, 0.05,
                   what="the notifier LISTENing again on its new session")
    ev = make_event(capacities=[5])      # the admin routes use the new session
    book_until_201(ev, 10)


def test_postgres_stalled_loop_responsive(stack):
    """PostgreSQL's socket accepts and never answers (a stalled server): connecting must not block
    the ingress's loop, and queries must fail within their bounds."""
    stop_pg(stack)
    path = str(stack.pg_sock / (".s.PGSQL.%d" % stack.pg_port))
    fake = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    fake.bind(path)
    fake.listen(64)
    held = []
    stop = threading.Event()

    def accept():
        fake.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(fake.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        # an admin request needs PostgreSQL (its token is looked up): it makes the ingress connect
        slow = {}

        def admin():
            t0 = time.monotonic()
            try:
                slow["status"] = status(stack, "/v1/admin/events/none/bookings", timeout=15,
                                        admin=True)
            except OSError as e:
                slow["status"] = repr(e)
            slow["took"] = time.monotonic() - t0
        a = threading.Thread(target=admin)
        a.start()
        gaps = []
        for _ in range(20):
            t0 = time.monotonic()
            assert status(stack, "/healthz", timeout=2) == 200
            gaps.append(time.monotonic() - t0)
            time.sleep(0.1)
        assert max(gaps) < 0.5, gaps
        assert readyz(stack) == 503
        a.join(20)
        assert not a.is_alive()
        assert slow["took"] < 8 and slow["status"] == 503, slow
        assert len(held) >= 1            # the ingress did try to connect
    finally:
        stop.set()
        t.join()
        fake.close()
        for c in held:
            c.close()
        os.unlink(path)
    start_pg(stack)
    wait_until(lambda: readyz(stack) == 200, 10, 0.05, what="/readyz 200 after the restart")
