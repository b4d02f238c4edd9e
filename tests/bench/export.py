#!/usr/bin/python3
"""Roster export benchmark (not part of tests/run): does GET /v1/admin/events/{slug}/bookings.csv
of 100,000 bookings keep the ingress's memory flat and its other requests quick?

Starts its own stack (1 ingress, 1 worker; tests' PostgreSQL settings) in a temporary directory,
creates one event with three fields, inserts EXPORT_N (default 100,000) bookings straight into
PostgreSQL, then for each scenario downloads the CSV while one thread times GET /healthz and
GET /v1/events back to back and another samples the ingress's VmRSS every 5 ms:

  baseline   no export: the same probes, for comparison
  utf-8      full-speed download, UTF-8 with BOM, lang=ja
  cp932      full-speed download, CP932 (iconv), lang=en
  slow       a client reading 256 KiB/s for 4 s, then hanging up (back-pressure, then an abandoned
             export)

and prints, per scenario, rows, MiB, seconds, RSS before / peak / growth and the probes' latency
(p50, p99, max). Usage: YOYAKU_BUILD_DIR=build tests/bench/export.py [--keep]
"""

import csv
import datetime
import http.client
import io
import os
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
import ykstack  # noqa: E402
from ykstack import rfc3339, slot_time  # noqa: E402

N = int(os.environ.get("EXPORT_N", "100000"))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.stop, self.peak = pid, threading.Event(), 0

    def run(self):
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, rss_kib(self.pid))
            except FileNotFoundError:  # the ingress died: the download fails and says so
                return
            time.sleep(0.005)


class Prober(threading.Thread):
    """GET /healthz and GET /v1/events, one after the other, on one kept-alive connection."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stop, self.lat = port, threading.Event(), []

    def run(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self.stop.is_set():
            for path in ("/healthz", "/v1/events"):
                t = time.perf_counter()
                c.request("GET", path)
                r = c.getresponse()
                r.read()
                assert r.status == 200, (path, r.status)
                self.lat.append(time.perf_counter() - t)
            time.sleep(0.002)
        c.close()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000 if xs else float("nan")


def download(port, token, path, rate=None, limit_s=None):
    """Reads the CSV in 64 KiB reads (rate: bytes/s cap); returns (bytes, rows, seconds)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    t0 = time.perf_counter()
    c.request("GET", path, headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    assert r.status == 200, r.status
    total, lines, tail = 0, 0, b""
    first = b""
    while True:
        if limit_s and time.perf_counter() - t0 > limit_s:
            break
        b = r.read(65536 if rate is None else 16384)
        if not b:
            break
        if len(first) < 4096:
            first += b[:4096]
        total += len(b)
        lines += b.count(b"\r\n") + (tail == b"\r" and b[:1] == b"\n")  # a CRLF across reads
        tail = b[-1:]
        if rate:
            time.sleep(len(b) / rate)
    c.close()
    return total, lines, time.perf_counter() - t0, first


def scenario(st, name, fn):
    pid = st.by_name("ingress").pid
    time.sleep(1.0)
    before = rss_kib(pid)
    sampler, prober = Sampler(pid), Prober(st.http_port)
    sampler.start()
    prober.start()
    out = fn()
    prober.stop.set()
    sampler.stop.set()
    prober.join()
    sampler.join()
    lat = prober.lat
    print("%-9s %7s %7s %6s | RSS %6.1f MiB peak %6.1f growth %5.2f MiB | probes %5d p50 %6.2f "
          "p99 %6.2f max %6.2f ms" % (
              name, out[0], "%.1f" % out[1], "%.2f" % out[2], before / 1024, sampler.peak / 1024,
              (sampler.peak - before) / 1024, len(lat), pct(lat, 0.5), pct(lat, 0.99),
              max(lat) * 1000 if lat else float("nan")), flush=True)


def main():
    keep = "--keep" in sys.argv
    st = ykstack.Stack(n_workers=1, smtp=False, notifier=False)
    st.start()
    try:
        slug = ykstack.unique("exp")
        fields = [{"name": "name", "label": {"ja": "氏名", "en": "Name"}, "type": "text"},
                  {"name": "memo", "label": {"ja": "備考", "en": "Note"}, "type": "text"},
                  {"name": "age", "label": "年齢", "type": "number"}]
        r = st.client.post("/v1/admin/events", {"slug": slug, "title": "bench", "fields": fields},
                           admin=True)
        assert r.status == 201, r
        start = slot_time(30, 9)
        r = st.client.post("/v1/admin/events/%s/slots" % slug, {"slots": [{
            "starts_at": rfc3339(start), "ends_at": rfc3339(start + datetime.timedelta(hours=1)),
            "capacity": 100000}]}, admin=True)
        assert r.status == 201, r
        eid = int(st.scalar("SELECT id FROM events WHERE slug = '%s'" % slug))
        sid = int(st.scalar("SELECT id FROM slots WHERE event_id = %d" % eid))
        t = time.perf_counter()
        st.psql("INSERT INTO bookings (request_id, event_id, slot_id, email, identity, fields,"
                " token_hash, limit_one) SELECT 'bench-' || g, %d, %d,"
                " 'person' || g || '@example.com', 'p' || g, jsonb_build_object('name',"
                " '山田 太郎' || g, 'memo', CASE WHEN g %% 10 = 0 THEN '=1+1, \"引用\" 🍣'"
                " ELSE '備考' END, 'age', (g %% 90)::text), 'x', false"
                " FROM generate_series(1, %d) g; ANALYZE bookings" % (eid, sid, N))
        print("inserted %d bookings in %.1f s" % (N, time.perf_counter() - t), flush=True)
        tok, port = st.client.admin_token, st.http_port
        base = "/v1/admin/events/%s/bookings.csv" % slug
        print("scenario    bytes   MiB/s   secs", flush=True)

        def idle():
            time.sleep(3)
            return (0, 0.0, 3.0)

        def full(q, enc):
            def run():
                total, lines, secs, first = download(port, tok, base + q)
                assert lines == N + 1, lines
                head = next(csv.reader(io.StringIO(first.decode(enc, "replace"), newline="")))
                assert head[0] in ("予約番号", "Booking ID"), head
                return (total, total / secs / 1048576, secs)
            return run

        def slow():
            total, lines, secs, _ = download(port, tok, base, rate=256 * 1024, limit_s=4)
            return (total, total / secs / 1048576, secs)

        scenario(st, "baseline", idle)
        scenario(st, "utf-8", full("?lang=ja", "utf-8-sig"))
        scenario(st, "cp932", full("?lang=en&encoding=cp932", "cp932"))
        scenario(st, "slow", slow)
        time.sleep(1)
        print("ingress RSS after all: %.1f MiB" % (rss_kib(st.by_name("ingress").pid) / 1024))
    finally:
        problems = st.shutdown()
        if problems:
            print("shutdown problems:", problems)
        if not keep:
            st.cleanup()
        else:
            print("kept", st.dir)


if __name__ == "__main__":
    main()
