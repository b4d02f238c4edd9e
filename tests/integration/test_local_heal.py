"""deploy/local/run heals (contract §1): during a rush on the demo event, a worker, then the ingress,
then the notifier are killed with SIGKILL in turn; each is restarted (a new pid, its /healthz answers,
a log line says so), the stack keeps answering (503 or a refused connection only while the ingress
restarts; the client retries those with the same Idempotency-Key), every 201/202 is decided exactly
once, no slot holds more bookings than its capacity. The notifier killed twice more waits 1 s, then
2 s (backoff) before its restarts. Then Redis and PostgreSQL are killed likewise:
each comes back and reservations are decided again. SIGTERM still stops everything with exit 0."""

import concurrent.futures
import os
import signal
import subprocess
import threading
import time
import uuid

from test_deploy_local import LocalRun, check_stopped, devdir, sanitizer_reports  # noqa: F401 (fixture)
from ykstack import Client, free_port, outcome, wait_until

SLOTS = 4          # slots of the demo event the rush aims at (20 seats each)
MIN_REQUESTS = 2000
THREADS = 12


def current_pids(dev):
    """{name: pid} of the latest start of each process in dev/run.pids."""
    pids = {}
    for line in (dev / "run.pids").read_text().split("\n"):
        if line.strip():
            name, pid = line.split()
            pids[name] = int(pid)
    return pids


def metrics_listen(pid):
    """(host, port) of the process's metrics listener, None when its environment does not say
    (yet: right after the fork it may still be the supervisor's) or the process is gone."""
    try:
        env = open("/proc/%d/environ" % pid, "rb").read().split(b"\0")
    except OSError:
        return None
    for e in env:
        if e.startswith(b"YOYAKU_METRICS_LISTEN="):
            host, port = e.split(b"=", 1)[1].decode().rsplit(":", 1)
            return host, int(port)
    return None


def healthz(host, port):
    c = Client(host, port, timeout=2)
    try:
        return c.get("/healthz").status == 200
    except OSError:
        return False
    finally:
        c.close()


def service_health(pid):
    """The /healthz of a worker or notifier by its metrics listener (read once: the environment
    may change under a second read while the process starts)."""
    listen = metrics_listen(pid)
    return listen is not None and healthz(*listen)


def psql(dev, sql):
    ports = dict(l.split("=", 1) for l in (dev / "ports").read_text().split())
    r = subprocess.run(["psql", "-h", str(dev / "pg" / "sock"), "-p", ports["pg"], "-U", "postgres",
                        "-d", "yoyaku", "-X", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [l.split("\t") for l in r.stdout.splitlines() if l]


class Rush:
    """Reservations from a thread pool until stopped: each with its own e-mail, voucher and
    Idempotency-Key; a refused connection or a 503 is retried with the same key (recorded with the
    time it happened)."""

    def __init__(self, port, slots, tag):
        self.port, self.slots, self.tag = port, slots, tag
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.n = 0
        self.results = []     # (email, status, body) of the final answer of each request
        self.hiccups = []     # (monotonic time, what) of each 503 or connection error
        self.pool = concurrent.futures.ThreadPoolExecutor(THREADS)
        self.futs = [self.pool.submit(self._loop) for _ in range(THREADS)]

    def _next(self):
        with self.lock:
            self.n += 1
            return self.n

    def _loop(self):
        client = Client("127.0.0.1", self.port, timeout=30)
        try:
            while not self.stop.is_set() or self.n < MIN_REQUESTS:
                i = self._next()
                mail = "heal-%s-%d@example.com" % (self.tag, i)
                body = {"slot_id": self.slots[i % len(self.slots)], "email": mail,
                        "fields": {"name": "回復 %d" % i, "voucher": "%010d" % (self.tag_num() + i)}}
                self.results.append((mail,) + self._send(client, body))
        finally:
            client.close()

    def tag_num(self):
        return int(self.tag, 16) % 10 ** 9 * 10

    def _send(self, client, body):
        key = uuid.uuid4().hex
        deadline = time.monotonic() + 60
        while True:
            try:
                r = client.post("/v1/events/demo/reservations", body, headers={"Idempotency-Key": key})
            except OSError as e:
                self.hiccups.append((time.monotonic(), repr(e)))
            else:
                if r.status != 503:
                    return r.status, r.json
                self.hiccups.append((time.monotonic(), "503"))
            assert time.monotonic() < deadline, "no answer in 60 s for %r" % body
            time.sleep(0.1)

    def finish(self):
        self.stop.set()
        for f in self.futs:
            f.result(300)
        self.pool.shutdown()


def decide(client, status, body):
    if status != 202:
        return outcome(body)
    rid = body["request_id"]
    deadline = time.monotonic() + 60
    while True:
        r = client.get("/v1/requests/%s" % rid)
        assert r.status == 200, r
        if r.json.get("status") != "pending":
            return outcome(r.json)
        assert time.monotonic() < deadline, "request %s still pending after 60 s" % rid
        time.sleep(0.1)


def kill_and_wait_back(run, name, probe):
    """SIGKILLs the current process `name`; returns (kill time, back time, new pid) once a new one
    runs and probe(new pid) holds."""
    old = current_pids(run.dev)[name]
    t0 = time.monotonic()
    os.kill(old, signal.SIGKILL)

    def back():
        pid = current_pids(run.dev).get(name)
        return pid if pid != old and os.path.exists("/proc/%d" % pid) and probe(pid) else None
    pid = wait_until(back, 30, 0.05, what="%s restarted after SIGKILL" % name)
    return t0, time.monotonic(), old, pid


def test_local_run_heals_under_a_rush(devdir):  # noqa: F811 (fixture)
    port = free_port()
    run = LocalRun(devdir, port)
    try:
        token = run.wait_line("admin token: ", 300)[len("admin token: "):]
        run.wait_line("ready: ", 120)
        api = Client("127.0.0.1", port, token)
        r = api.get("/v1/events/demo/slots")
        assert r.status == 200 and len(r.json["slots"]) >= SLOTS, r
        free = [s for s in r.json["slots"] if s["remaining"] > 0]
        slots, spare = free[:SLOTS], [s["id"] for s in free[SLOTS:SLOTS + 10]]  # after Redis, PG
        slot_ids = [s["id"] for s in slots]
        capacity = {int(s["id"]): s["capacity"] for s in slots}

        rush = Rush(port, slot_ids, uuid.uuid4().hex[:8])
        time.sleep(1.5)
        killed = {}
        killed["worker-1"] = kill_and_wait_back(run, "worker-1", service_health)
        time.sleep(1)
        killed["ingress"] = kill_and_wait_back(run, "ingress", lambda pid: healthz("127.0.0.1", port))
        wait_until(lambda: healthz("127.0.0.1", port) and api.get("/readyz").status == 200, 30, 0.1,
                   what="the restarted ingress ready")
        ingress_ready = time.monotonic()
        time.sleep(1)
        if "notifier" in current_pids(devdir):
            killed["notifier"] = kill_and_wait_back(run, "notifier", service_health)
        time.sleep(1)
        rush.finish()

        # the stack kept answering: 503s and refused connections only while the ingress restarted
        t_kill = killed["ingress"][0]
        outside = [(round(t - t_kill, 2), what) for t, what in rush.hiccups
                   if not t_kill - 0.05 <= t <= ingress_ready + 2]
        assert not outside, "503 or connection errors outside the ingress's restart: %r" % outside[:20]
        assert len(rush.results) >= MIN_REQUESTS
        statuses = {}
        for _, status, _ in rush.results:
            statuses[status] = statuses.get(status, 0) + 1
        assert set(statuses) <= {201, 202, 409}, statuses

        # every 201/202 decided exactly once; nothing else booked; nothing oversold
        decided = {}
        for mail, status, body in rush.results:
            if status in (201, 202):
                decided[mail] = decide(api, status, body)
            else:
                decided[mail] = outcome(body)
        assert None not in decided.values() and "pending" not in decided.values(), decided
        rows = psql(devdir, "SELECT email, count(*) FROM bookings WHERE email LIKE 'heal-%s-%%' "
                            "GROUP BY email" % rush.tag)
        booked = {m: int(n) for m, n in rows}
        confirmed = {m for m, o in decided.items() if o == "confirmed"}
        assert set(booked) == confirmed, (sorted(set(booked) ^ confirmed)[:20])
        assert set(booked.values()) <= {1}, {m: n for m, n in booked.items() if n != 1}
        per_slot = psql(devdir, "SELECT slot_id, count(*) FROM bookings WHERE status IN "
                                "('confirmed', 'attended') AND slot_id IN (%s) GROUP BY slot_id"
                                % ",".join(str(s) for s in capacity))
        for slot, n in per_slot:
            assert int(n) <= capacity[int(slot)], (slot, n, capacity)
        assert confirmed, statuses

        # each killed service is back, and the script said so
        pids = current_pids(devdir)
        err = run.stderr()
        for name, (_, _, old, new) in killed.items():
            assert pids[name] == new != old and os.path.exists("/proc/%d" % new), (name, old, pids)
            assert "%s (pid %d) killed by signal 9; restarting in" % (name, old) in err, err
            assert "%s restarted: pid %d" % (name, new) in err, err
        assert healthz("127.0.0.1", port)
        for name in ("worker-1", "worker-2", "notifier"):
            if name in pids:
                assert service_health(pids[name]), name

        # backoff: the same service failing again within a minute waits twice as long each time
        if "notifier" in pids:
            delays = []
            for _ in range(2):
                t0, t1, old, new = kill_and_wait_back(run, "notifier", service_health)
                delays.append(t1 - t0)
            err = run.stderr()
            for want in ("1.0", "2.0"):
                assert "notifier (pid " in err and "restarting in %s s" % want in err, err[-3000:]
            assert delays[1] >= 1.9, delays

        # Redis and PostgreSQL too: each comes back (AOF and WAL replayed) and the stack serves again
        for name in ("redis", "postgres"):
            _, _, old, new = kill_and_wait_back(run, name, lambda pid: True)
            assert "%s (pid %d) killed by signal 9; restarting in" % (name, old) in run.stderr()

            seen = []      # what each attempt got: a fresh booker and key each time

            def books():
                c = Client("127.0.0.1", port, timeout=10)
                n = len(seen)
                try:
                    r = c.post("/v1/events/demo/reservations", {
                        "slot_id": spare[n % len(spare)], "email": "after-%s-%d@example.com" % (name, n),
                        "fields": {"name": "復旧", "voucher": "%010d" % (
                            rush.tag_num() + 9_000_000 + 100 * len(name) + n)}},
                        headers={"Idempotency-Key": "after-%s-%s-%d" % (name, rush.tag, n)})
                    status = r.status
                    for _ in range(100):
                        if status != 202:
                            break
                        time.sleep(0.2)
                        q = c.get("/v1/requests/%s" % r.json["request_id"])
                        if q.status == 200 and q.json.get("status") != "pending":
                            status = 201 if outcome(q.json) == "confirmed" else outcome(q.json)
                    seen.append(status)
                    return status == 201   # queued, decided and committed: all of it works
                except OSError as e:
                    seen.append(type(e).__name__)
                    return False
                finally:
                    c.close()
            try:
                wait_until(books, 60, 0.2, what="a reservation booked after %s restarted" % name)
            except TimeoutError as e:
                raise AssertionError("%s; attempts: %r" % (e, seen))
            assert current_pids(devdir)[name] == new
        api.close()

        check_stopped(run, run.stop(signal.SIGTERM))
        reports = sanitizer_reports(devdir)
        assert not reports, "\n".join(reports)
    finally:
        run.kill()
