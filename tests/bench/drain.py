"""Worker drain benchmark (not part of tests/run): N reservation entries of one event are queued
while no worker runs, then one worker is started; measured: the wall time until every entry is
acknowledged (yk:done:{p} == N, the poison aside) and the worker's CPU time (user + system, from
/proc), which a loaded machine disturbs far less. Builds are compared A/B, alternating their order
each round; --poison-at I makes entry I's row refused by PostgreSQL (a trigger), so its batch is
written again entry by entry and the entry ends in the dead letters.

    /usr/bin/python3 tests/bench/drain.py --build base=/tmp/base/build-rel --build new=build-rel \
        --n 20000 --rounds 8 [--poison-at 500]"""
import argparse
import datetime
import os
import socket
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import ykstack  # noqa: E402
from ykstack import rfc3339, slot_time  # noqa: E402

def pipeline_xadd(port, cmds):
    s = socket.create_connection(("127.0.0.1", port))
    out = []
    for args in cmds:
        out.append(b"*%d\r\n" % len(args))
        for a in args:
            a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    s.sendall(b"".join(out))
    # read n replies (bulk strings)
    buf = b""; n = 0
    while n < len(cmds):
        chunk = s.recv(1 << 20)
        if not chunk: break
        buf += chunk
        n = buf.count(b"\r\n") // 2
    s.close()

def run(build, n, poison_at=None):
    os.environ['YOYAKU_BUILD_DIR'] = build
    st = ykstack.Stack(n_workers=0, smtp=False, notifier=False, log_level="warn")
    st.start_redis(); st.start_postgres(); st.env = st._base_env()
    st.ctl("migrate"); st.admin_token = ykstack.parse_token(st.ctl("token", "create", "--name", "b").stdout)
    st.http_port = ykstack.free_port(); st.ingress = st.start_ingress()
    st.client = ykstack.Client("127.0.0.1", st.http_port, st.admin_token)
    st.wait_ready()
    try:
        slug = "bench-" + uuid.uuid4().hex[:8]
        r = st.client.post("/v1/admin/events", {"slug": slug, "title": "b", "timezone": "Asia/Tokyo",
            "fields": [{"name": "name", "label": "n", "type": "text", "required": True}]}, admin=True)
        assert r.status == 201, r
        start = slot_time(30, 9)
        r = st.client.post("/v1/admin/events/%s/slots" % slug, {"slots": [{"starts_at": rfc3339(start),
            "ends_at": rfc3339(start + datetime.timedelta(hours=1)), "capacity": n + 10}]}, admin=True)
        assert r.status == 201, r
        ev = int(st.scalar("SELECT id FROM events WHERE slug='%s'" % slug))
        slot = int(st.scalar("SELECT id FROM slots WHERE event_id=%d" % ev))
        p = ykstack.partition_of(st.scalar("SELECT partition_key FROM events WHERE id=%d" % ev) or slug)
        if poison_at is not None:
            st.psql("CREATE OR REPLACE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "IF NEW.email LIKE 'poison-%' THEN RAISE EXCEPTION 'poison'; END IF; RETURN NEW; END $$; "
                    "CREATE TRIGGER poison BEFORE INSERT ON bookings FOR EACH ROW EXECUTE FUNCTION poison()")
        cmds = []
        for i in range(n):
            mail = "%s-%d@example.com" % ("poison" if i == poison_at else "b", i)
            tok = (uuid.uuid4().hex * 2)[:43]
            cmds.append(["XADD", "yk:req:{%d}" % p, "*", "h",
                         "t=reserve id=%s ing=bench ev=%d slot=%d at=%d" % (uuid.uuid4().hex, ev, slot, int(time.time()*1000)),
                         "email", mail, "ident", mail, "fields", '{"name":"X"}', "tok", tok])
        pipeline_xadd(st.redis_port, cmds)
        assert st.redis("XLEN", "yk:req:{%d}" % p) == n
        t0 = time.monotonic()
        st.start_worker()
        want = n - (1 if poison_at is not None else 0)
        while int(st.redis("GET", "yk:done:{%d}" % p) or 0) < want:
            time.sleep(0.01)
        took = time.monotonic() - t0
        w = st.workers[-1]
        f = open("/proc/%d/stat" % w.pid).read().rsplit(")", 1)[1].split()
        cpu = (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
        took = (took, cpu)
        booked = int(st.scalar("SELECT booked FROM slots WHERE id=%d" % slot))
        return took, booked
    finally:
        st.stop(); st.cleanup()

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", action="append", required=True, help="NAME=BUILD_DIR (repeat)")
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--poison-at", type=int, default=None)
    a = ap.parse_args()
    builds = [tuple(b.split("=", 1)) for b in a.build]
    res = {}
    for r in range(a.rounds):
        for name, b in (builds if r % 2 == 0 else list(reversed(builds))):
            (wall, cpu), booked = run(os.path.abspath(b), a.n, a.poison_at)
            res.setdefault(name, []).append((wall, cpu))
            print("%s round %d: wall %.3f s, worker cpu %.3f s, booked %d" % (name, r, wall, cpu,
                                                                              booked), flush=True)
    for name, v in res.items():
        walls, cpus = sorted(x[0] for x in v), sorted(x[1] for x in v)
        print("%s: median wall %.3f s, median worker cpu %.3f s (of %d)"
              % (name, walls[len(v) // 2], cpus[len(v) // 2], len(v)))
