#!/usr/bin/python3
"""The rush benchmark (driver; run it through tests/bench/rush, which installs and builds first).

One run starts its own stack tuned as shipped (deploy/local/run: Redis appendonly yes + appendfsync
everysec, PostgreSQL defaults with synchronous_commit=on and fsync on, 1 ingress, 2 workers) in a
temporary directory on free ports, then measures, one after the other (2 cores: never overlapping):

  ceilings   nginx (return 200) with ykload and wrk at the same connection count, worker_processes
             1 and auto; redis-benchmark XADD -P 1 / -P 16 and the ingress's submit script;
             pgbench, one booking per transaction (UPDATE slot + INSERT booking), -c 8 and -c 64
  S1         opening rush: N requests, C connections, 50 slots x 120 seats, fresh identities
  S1p        S1 on an event with phases (a birth date field, two phases open): the phase check's cost
  S2         the same load against the sold-out event
  S1R        S1 against an event with `roster` whose campaign's roster has RUSH_ROSTER_N rows
             (1,000,000, quick 100,000; every request's name is on it) and S1p's phases: one
             batched lookup per worker batch; its seconds next to S1's are the cost of both
             (issue 14: within 10 %)
  S3         S1's shape at a fixed 70% of S1's rate: latency; S3b every request books (events
             that never fill) at 70% of S4's rate
  S4         durable throughput: events that never sell out; 2 workers over 16 partitions,
             1 event (one partition), 1 worker
  idle       10,000 idle connections: ingress RSS

and prints `metric | yoyaku | ceiling | ratio | target | met?`, then writes the same (and every raw
measurement: CPU seconds per process, peak RSS, Redis memory, WAL bytes, load average) as JSON to
tests/bench/out/rush-<timestamp>.json.

Options: --quick (reduced sizes, < 5 minutes), --only s1,s2,... (subset: ceilings nginx redis
pgbench s1 s1p s2 s1r s3 s4 idle; s1p: S1 with phased opening, s1r: S1 with a roster), --keep (keep
the temporary directory and its logs), --redis cluster (a Redis Cluster of 3 masters + 3 replicas
instead of one Redis, as YOYAKU_LOCAL_REDIS=cluster; the report then says how the partitions spread
over the masters, and Redis's CPU is the sum of its six processes).
Environment: YOYAKU_BUILD_DIR (set by tests/bench/rush), RUSH_N, RUSH_CONNS, RUSH_S4_N,
RUSH_QUIET_WAIT (seconds to wait for a quiet machine before each measurement: 90, quick 20),
RUSH_ATTEMPTS (a measurement during which other processes used more than RUSH_NOISE = 0.25 of a
core is discarded and repeated, up to 3 attempts in all, quick 2),
RUSH_REPEAT (S1, S2 and the nginx/ykload ceiling run this many times, the median is reported:
3, quick 1), RUSH_NOTIFIER=1 (also run yoyaku-notifier with the SMTP sink during the scenarios),
RUSH_WRAP_INGRESS / RUSH_WRAP_WORKER="valgrind --tool=callgrind ..." (run the ingress or the
workers under a profiler),
RUSH_PERF=DIR (perf record -a -g, cpu-clock, of each measurement into DIR/<name>.data; perf's own
cost then shows in the numbers).
"""

import argparse
import ast
import datetime
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
import ykstack  # noqa: E402
from ykstack import (ROOT, Proc, Redis, binary, free_port, partition_of,  # noqa: E402
                     wait_until)

CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
JST = datetime.timezone(datetime.timedelta(hours=9))
NCPU = os.cpu_count() or 1
NOISE = float(os.environ.get("RUSH_NOISE", 0.25))  # cores other processes may use during a measurement


def log(msg):
    sys.stderr.write("rush: %s\n" % msg)
    sys.stderr.flush()


# ---------------------------------------------------------------------------------------------------
# /proc accounting


def proc_table():
    """{pid: (ppid, cpu seconds incl. reaped children, own cpu seconds, system cpu seconds incl.
    reaped children)} of every process."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d, "rb") as f:
                s = f.read().decode("ascii", "replace")
        except OSError:
            continue
        rest = s[s.rfind(")") + 2:].split()
        # rest[0] = state (field 3); utime is field 14 -> rest[11]
        ppid = int(rest[1])
        own = int(rest[11]) + int(rest[12])
        ticks = own + int(rest[13]) + int(rest[14])
        table[int(d)] = (ppid, ticks / CLK, own / CLK, (int(rest[12]) + int(rest[14])) / CLK)
    return table


def tree_cpu(table, root):
    """CPU seconds of root and every live descendant (their reaped children included)."""
    if root not in table:
        return 0.0
    kids = {}
    for pid, row in table.items():
        ppid = row[0]
        kids.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        p = todo.pop()
        total += table[p][1]
        todo.extend(kids.get(p, ()))
    return total


def tree_sys(table, root):
    """System (kernel) CPU seconds of root and every live descendant."""
    if root not in table:
        return 0.0
    kids = {}
    for pid, row in table.items():
        kids.setdefault(row[0], []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        p = todo.pop()
        total += table[p][3]
        todo.extend(kids.get(p, ()))
    return total


def status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    s = f.read()
                if int(s[s.rfind(")") + 2:].split()[1]) == pid:
                    out.append(int(d))
            except OSError:
                pass
    return out


def cpu_times():
    """(busy, steal, total) seconds of the whole machine from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
    return ((user + nice + system + irq + softirq) / CLK, steal / CLK, sum(v[:8]) / CLK)


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def busy_fraction(seconds=1.0):
    """Fraction of all CPUs busy over `seconds` (steal counted as busy)."""
    b0, s0, t0 = cpu_times()
    time.sleep(seconds)
    b1, s1, t1 = cpu_times()
    return ((b1 - b0) + (s1 - s0)) / max(t1 - t0, 1e-9)


# ---------------------------------------------------------------------------------------------------
# the stack


# The variants' birth dates in S1p and S1R: one booker in each phase.
PHASED_BIRTHS = (',"birth":"1950-04-01"', ',"birth":"1990-04-01"')

class BenchStack(ykstack.Stack):
    """The integration tests' stack (ykstack.Stack, the one starter) configured like
    deploy/local/run: Redis with the shipped redis.conf, PostgreSQL with initdb's defaults and
    synchronous_commit=on, fsync=on; 1 ingress, N workers; the notifier with the SMTP sink only
    with RUSH_NOTIFIER=1; RUSH_WRAP_INGRESS / RUSH_WRAP_WORKER wrap the services."""

    def __init__(self, tmp, n_workers=2, notifier=False, redis_mode="single"):
        super().__init__(n_workers=n_workers, partitions=16, dir=tmp, redis_mode=redis_mode,
                         pg_settings={"synchronous_commit": "on", "fsync": "on"}, pg_durable=True,
                         smtp=notifier, notifier=notifier, rebalance_ms=None,
                         wrap_ingress=os.environ.get("RUSH_WRAP_INGRESS", "").split(),
                         wrap_worker=os.environ.get("RUSH_WRAP_WORKER", "").split(),
                         ingress_id="rush-ingress", client_timeout=60, log_level="info")

    def start(self):
        try:
            super().start()
        except (ykstack.StartError, TimeoutError) as e:
            raise SystemExit("rush: the stack did not start: %s" % e)
        self.wait_owned()
        return self

    def wait_partitions_owned(self, timeout=60):
        pass   # wait_owned waits for more: the partitions spread evenly

    def owners(self):
        rows = self.psql("SELECT a.application_name, count(*) FROM pg_locks l JOIN pg_stat_activity a"
                         " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND"
                         " l.classid = %d AND l.objsubid = 2 GROUP BY 1" % ykstack.ADVISORY_CLASS)
        return {r[0]: int(r[1]) for r in rows}

    def wait_owned(self, timeout=60):
        """Every partition owned, shared as evenly as the live workers do it (P/N each)."""
        n = len(self.live_workers())
        want = self.partitions // n

        def ok():
            o = self.owners()
            return sum(o.values()) == self.partitions and all(v >= want for v in o.values()) \
                and len(o) == n
        wait_until(ok, timeout, 0.2, what="partitions spread over %d workers" % n)
        return self.owners()

    def psql(self, sql, db="yoyaku", timeout=300):
        try:
            return super().psql(sql, db, timeout)
        except AssertionError as e:
            raise RuntimeError(str(e))

    def scalar(self, sql, db="yoyaku"):
        rows = self.psql(sql, db)
        return rows[0][0] if rows else None

    def components(self):
        """{component: pid} whose process trees are accounted."""
        c = {"ingress": self.ingress.pid, "redis": self.redis_proc.pid, "postgres": self.pg_proc.pid}
        if self.redis_mode == "cluster":   # every node of the cluster, masters and replicas
            del c["redis"]
            for p in self.redis_procs:
                c[p.name] = p.pid
        for w in self.live_workers():
            c[w.name] = w.pid
        if self.notifier and self.notifier.alive():
            c["notifier"] = self.notifier.pid
        return c


# ---------------------------------------------------------------------------------------------------
# measurement


class Measure:
    """CPU seconds per component, wall time, load average and foreign CPU around one measurement.
    `extra` maps names to pids measured too (nginx, ...). The load generator is measured with
    wait4 by run_tool."""

    def __init__(self, bench, name, extra=None):
        self.bench, self.name, self.extra = bench, name, extra or {}

    def __enter__(self):
        self.bench.wait_quiet(self.name)
        self.rec = {"name": self.name, "loadavg_start": loadavg()}
        self.comp = dict(self.bench.stack.components()) if self.bench.stack else {}
        self.comp.update(self.extra)
        t = proc_table()
        self.c0 = {k: tree_cpu(t, pid) for k, pid in self.comp.items()}
        self.s0 = {k: tree_sys(t, pid) for k, pid in self.comp.items()}
        self.f0 = self.forks(t)
        self.m0 = cpu_times()
        self.tool_cpu = 0.0
        self.w0 = time.monotonic()
        self.bench.tool_cpu = 0.0
        self.perf = None
        pdir = os.environ.get("RUSH_PERF")
        if pdir:   # sample every CPU (cpu-clock: this VM has no hardware counters) with call graphs
            Path(pdir).mkdir(parents=True, exist_ok=True)
            out = Path(pdir) / (re.sub(r"[^A-Za-z0-9]+", "-", self.name).strip("-") + ".data")
            self.perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "499", "-a", "-g",
                                          "-o", str(out)], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            t = proc_table()
            self.c0 = {k: tree_cpu(t, pid) for k, pid in self.comp.items()}
            self.s0 = {k: tree_sys(t, pid) for k, pid in self.comp.items()}
            self.f0 = self.forks(t)
            self.m0 = cpu_times()
            self.w0 = time.monotonic()
        return self

    def forks(self, t):
        pid = self.comp.get("redis")
        if pid is None or pid not in t:
            return None
        return tree_cpu(t, pid) - t[pid][2]

    def __exit__(self, *exc):
        wall = time.monotonic() - self.w0
        t = proc_table()
        m1 = cpu_times()
        if self.perf:
            self.perf.send_signal(signal.SIGINT)
            self.perf.wait(60)
        cpu = {k: round(tree_cpu(t, pid) - self.c0[k], 2) for k, pid in self.comp.items()}
        cpu["load generator"] = round(self.bench.tool_cpu, 2)
        if "postgres" in cpu:
            cpu["postgres"] = round(cpu["postgres"], 2)
        ours = sum(cpu.values())
        if self.f0 is not None:
            # Redis's share spent in fork children (RDB snapshots, AOF rewrites), part of "redis"
            self.rec["redis_fork_cpu_s"] = round(self.forks(t) - self.f0, 2)
        busy = m1[0] - self.m0[0]
        self.rec.update({
            "wall_s": round(wall, 3),
            "cpu_s": cpu,
            "cpu_util_cores": {k: round(v / wall, 2) for k, v in cpu.items() if wall > 0},
            "machine_busy_s": round(busy, 2),
            "other_cpu_s": round(max(busy - ours, 0.0), 2),
            "steal_s": round(m1[1] - self.m0[1], 2),
            "loadavg_end": loadavg(),
        })
        self.rec["noisy"] = (self.rec["other_cpu_s"] + self.rec["steal_s"]) > NOISE * wall
        self.rec["cpu_s_system"] = {k: round(tree_sys(t, pid) - self.s0[k], 2) for k, pid in self.comp.items()}
        self.bench.results["measurements"].append(self.rec)
        return False


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        q = self.quick
        self.n = int(os.environ.get("RUSH_N", 20000 if q else 100000))
        self.conns = int(os.environ.get("RUSH_CONNS", 1000))
        self.s4_n = int(os.environ.get("RUSH_S4_N", 40000 if q else 200000))
        self.roster_n = max(self.n, int(os.environ.get("RUSH_ROSTER_N", 100000 if q else 1000000)))
        self.nginx_n = max(self.n, 100000 if q else 300000)
        self.slots, self.capacity = 50, 120
        self.wrk_s = 5 if q else 10
        self.pgbench_s = 8 if q else 20
        self.redis_n = 50000 if q else 200000
        self.idle_conns = 10000
        self.idle_s = 5 if q else 10
        self.quiet_wait = float(os.environ.get("RUSH_QUIET_WAIT", 20 if q else 90))
        self.attempts = max(1, int(os.environ.get("RUSH_ATTEMPTS", 2 if q else 3)))
        self.repeat = max(1, int(os.environ.get("RUSH_REPEAT", 1 if q else 3)))
        self.only = set(args.only.split(",")) if args.only else None
        self.ykload_bin = binary("yoyakuctl").parents[2] / "tests" / "bench" / "ykload"
        self.run_id = "%x" % int(time.time())
        self.tool_cpu = 0.0
        self.stack = None
        self.results = {"measurements": [], "ceilings": {}, "scenarios": {}, "config": {}}

    def want(self, what):
        return self.only is None or what in self.only

    # -- helpers -----------------------------------------------------------------------------------

    def attempt(self, fn, what):
        """Runs fn (which records measurements); while another process used more than a quarter of
        a core during one of them, marks it discarded and runs fn again (RUSH_ATTEMPTS in all)."""
        for i in range(self.attempts):
            n0 = len(self.results["measurements"])
            fn()
            new = self.results["measurements"][n0:]
            noisy = [m for m in new if m.get("noisy")]
            if not noisy or i == self.attempts - 1:
                return
            for m in new:
                m["discarded"] = True
            log("%s: other processes used %.1f CPU seconds during the measurement: measuring again"
                % (what, sum(m["other_cpu_s"] + m["steal_s"] for m in noisy)))

    def wait_quiet(self, name):
        """Waits (up to RUSH_QUIET_WAIT s) until the machine is nearly idle: other helpers' tests
        would otherwise steal CPU from the measurement."""
        deadline = time.monotonic() + self.quiet_wait
        while True:
            b = busy_fraction(1.0)
            if b < 0.12:
                return
            if time.monotonic() > deadline:
                log("%s: the machine is busy (%.0f%% of %d CPUs before the start); measuring anyway"
                    % (name, b * 100, NCPU))
                self.results.setdefault("busy_starts", []).append({"name": name, "busy": round(b, 2)})
                return
            log("%s: waiting for a quiet machine (%.0f%% busy)" % (name, b * 100))

    def run_tool(self, argv, timeout=900, ok_codes=(0,)):
        """Runs a load tool, returns its stdout; its CPU seconds (wait4) go to self.tool_cpu."""
        with open(self.tmp / "logs" / "tools.log", "a") as lf:
            lf.write("$ %s\n" % " ".join(map(str, argv)))
        p = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE,
                             stderr=open(self.tmp / "logs" / "tools.log", "a"), text=True,
                             start_new_session=True)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
            raise RuntimeError("%s timed out" % argv[0])
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        # RUSAGE_CHILDREN accumulates every waited-for child: take the difference
        total = ru.ru_utime + ru.ru_stime
        self.tool_cpu += total - getattr(self, "_children_cpu", 0.0)
        self._children_cpu = total
        if p.returncode not in ok_codes:
            raise RuntimeError("%s exited %d:\n%s" % (argv[0], p.returncode, out[-2000:]))
        return out

    def children_cpu_reset(self):
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._children_cpu = ru.ru_utime + ru.ru_stime

    def ykload(self, port, path="/", n=1000, conns=None, body=None, variants=None, rate=None,
               follow=False, method="POST", timeout=600):
        argv = [self.ykload_bin, "-h", "127.0.0.1", "-p", port, "-u", path, "-m", method,
                "-c", conns or self.conns, "-n", n, "-t", timeout]
        if body:
            argv += ["-b", body]
        if variants:
            argv += ["-V", variants]
        if rate:
            argv += ["-r", "%.1f" % rate]
        if follow:
            argv += ["-f"]
        self.children_cpu_reset()
        out = self.run_tool(argv, timeout=timeout + 60, ok_codes=(0, 1))
        return json.loads(out.strip().splitlines()[-1])

    def redis_cmdstats(self):
        """{command: (calls, usec)} from INFO commandstats (commands run inside scripts count
        under their own names as well as in the EVALSHA's time)."""
        out = {}
        for line in self.stack.redis("INFO", "commandstats").splitlines():
            if line.startswith("cmdstat_"):
                name, rest = line[8:].split(":", 1)
                kv = dict(x.split("=") for x in rest.split(","))
                out[name] = (int(kv["calls"]), int(kv["usec"]))
        return out

    @staticmethod
    def cmdstats_delta(a, b, per):
        d = {}
        for k, (calls, usec) in b.items():
            c0, u0 = a.get(k, (0, 0))
            if calls - c0 > 0:
                d[k] = {"calls_per": round((calls - c0) / per, 3), "usec_per": round((usec - u0) / per, 2)}
        return dict(sorted(d.items(), key=lambda kv: -kv[1]["usec_per"]))

    def pg_wal(self):
        return self.stack.scalar("SELECT pg_current_wal_lsn()")

    def wal_diff(self, a, b):
        return int(self.stack.scalar("SELECT pg_wal_lsn_diff('%s', '%s')" % (b, a)))

    def bookings(self, event_ids=None):
        where = "" if event_ids is None else " WHERE event_id IN (%s)" % ",".join(map(str, event_ids))
        return int(self.stack.scalar("SELECT count(*) FROM bookings" + where))

    def worker_metrics(self):
        """Summed worker counters: {metric{labels}: value} for yoyaku_bookings_total and batches."""
        import urllib.request
        tot = {}
        for w in self.stack.live_workers():
            try:
                text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % w.metrics_port,
                                              timeout=5).read().decode()
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith(("yoyaku_bookings_total", "yoyaku_worker_batch_size_sum",
                                    "yoyaku_worker_batch_size_count", "yoyaku_worker_batch_seconds_sum",
                                    "yoyaku_worker_batch_seconds_count")):
                    k, v = line.rsplit(" ", 1)
                    tot[k] = tot.get(k, 0.0) + float(v)
        return tot

    # -- events ------------------------------------------------------------------------------------

    def make_event(self, slug, slots, capacity, day=60, extra=None):
        c = self.stack.client
        definition = {
            "slug": slug, "title": "ラッシュ計測 " + slug, "timezone": "Asia/Tokyo",
            "fields": [{"name": "name", "label": {"ja": "氏名", "en": "Name"}, "type": "text",
                        "required": True, "max_length": 50}]}
        definition.update(extra or {})  # e.g. S1p's phases and their field
        r = c.post("/v1/admin/events", definition, admin=True)
        if r.status != 201:
            raise RuntimeError("create event %s: %r" % (slug, r))
        d = datetime.datetime.now(JST).date() + datetime.timedelta(days=day)
        start = datetime.datetime(d.year, d.month, d.day, 6, 0, tzinfo=JST)
        listed = []
        for i in range(slots):
            s = start + datetime.timedelta(minutes=15 * i)
            listed.append({"starts_at": s.isoformat(), "ends_at": (s + datetime.timedelta(minutes=15)).isoformat(),
                           "capacity": capacity})
        r = c.post("/v1/admin/events/%s/slots" % slug, {"slots": listed}, admin=True)
        if r.status != 201:
            raise RuntimeError("create slots %s: %r" % (slug, r))
        path = "/v1/events/%s/slots?from=%s&to=%s" % (slug, d, d + datetime.timedelta(days=1))

        def visible():
            r = c.get(path)
            return r if r.status == 200 and len(r.json["slots"]) == slots else None
        r = wait_until(visible, 30, 0.05, what="slots of %s visible" % slug)
        ids = [s["id"] for s in r.json["slots"]]
        eid = int(self.stack.scalar("SELECT id FROM events WHERE slug = '%s'" % slug))
        return {"slug": slug, "id": eid, "slot_ids": ids, "partition": partition_of(slug)}

    def variants(self, name, events, tag, more=("",)):
        """A ykload -V file: one line per slot of each event (times each of `more`, extra fields
        as JSON members, e.g. ',"birth":"1950-01-01"'), fresh identity per request number."""
        f = self.tmp / ("%s.variants" % name)
        with open(f, "w") as out:
            # interleave events so consecutive requests go to different events
            width = max(len(e["slot_ids"]) for e in events)
            for i, extra in ((i, x) for i in range(width) for x in more):
                for e in events:
                    sid = e["slot_ids"][i % len(e["slot_ids"])]
                    body = ('{"slot_id":"%s","email":"r%s-%s-%%N%%@bench.example",'
                            '"fields":{"name":"予約 太郎 %%N%%"%s}}' % (sid, self.run_id, tag, extra))
                    out.write("/v1/events/%s/reservations\t%s\n" % (e["slug"], body))
        return f

    # -- ceilings ----------------------------------------------------------------------------------

    def nginx(self, workers):
        d = self.tmp / ("nginx-%s" % workers)
        d.mkdir()
        port = free_port()
        conf = d / "nginx.conf"
        conf.write_text("""worker_processes %s;
worker_rlimit_nofile 20000;
pid %s/nginx.pid;
error_log %s/error.log warn;
daemon off;
events { worker_connections 20000; }
http {
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 60s;
    client_body_temp_path %s/body;
    proxy_temp_path %s/proxy;
    fastcgi_temp_path %s/fastcgi;
    uwsgi_temp_path %s/uwsgi;
    scgi_temp_path %s/scgi;
    server {
        listen 127.0.0.1:%d backlog=4096;
        location / { default_type text/plain; return 200 "ok"; }
    }
}
""" % ((workers, d, d) + (d,) * 5 + (port,)))
        p = Proc("nginx-%s" % workers, ["nginx", "-c", conf, "-e", d / "error.log"],
                 self.tmp / "logs" / ("nginx-%s.log" % workers),
                 env=dict(os.environ, YK_TEST_STACK=str(self.tmp)))
        wait_until(lambda: not ykstack.port_free(port) or not p.alive(), 20, 0.05, what="nginx")
        if not p.alive():
            raise RuntimeError("nginx did not start: %s" % p.log_text())
        return p, port

    def ceiling_nginx(self):
        res = {}
        for wp in ("1", "auto"):
            p, port = self.nginx(wp)
            try:
                def with_ykload():
                    with Measure(self, "nginx wp=%s ykload" % wp, {"nginx": p.pid}) as m:
                        r = self.ykload(port, "/v1/events/x/reservations", n=self.nginx_n,
                                        body='{"slot_id":"1","email":"r%N%@bench.example"}')
                        m.rec["ykload"] = r
                    return r

                def with_wrk():
                    with Measure(self, "nginx wp=%s wrk" % wp, {"nginx": p.pid}) as m:
                        self.children_cpu_reset()
                        out = self.run_tool(["wrk", "-t2", "-c%d" % self.conns, "-d%ds" % self.wrk_s,
                                             "--timeout", "10s", "--latency",
                                             "http://127.0.0.1:%d/" % port])
                        m.rec["wrk"] = parse_wrk(out)
                    res["wrk_wp%s" % wp] = m.rec["wrk"]
                res["ykload_wp%s" % wp] = self.repeated("nginx wp=%s ykload" % wp, with_ykload, "rps", True)
                self.attempt(with_wrk, "nginx wp=%s wrk" % wp)
            finally:
                p.stop(signal.SIGTERM)
            log("nginx worker_processes %s: ykload %.0f/s, wrk %.0f/s" % (
                wp, res["ykload_wp%s" % wp]["rps"], res["wrk_wp%s" % wp]["rps"]))
        self.results["ceilings"]["nginx"] = res

    def ceiling_redis(self):
        res = {}
        port = str(self.stack.redis_port)
        rid = "0123456789abcdef0123456789abcdef"
        fields = ["t", "reserve", "id", rid, "ing", "rush-ingress", "ev", "17", "at", "1767225600000",
                  "slot", "123", "email", "r6740a1b2-s1-12345@bench.example",
                  "ident", "r6740a1b2-s1-12345@bench.example",
                  "fields", '{"name":"予約 太郎 12345"}', "tok", "A" * 43]
        base = ["redis-benchmark", "-h", "127.0.0.1", "-p", port, "--dbnum", "1", "-c", "50",
                "-n", str(self.redis_n), "--csv"]
        def bench(name, key, argv):
            def run():
                with Measure(self, name) as m:
                    self.children_cpu_reset()
                    out = self.run_tool(base + argv)
                    m.rec["out"] = out.strip()
                res[key] = parse_redis_bench(out)
                self.redis_db1("FLUSHDB")
            self.attempt(run, name)

        for pl in ("1", "16"):
            bench("redis XADD -P %s" % pl, "xadd_P%s" % pl, ["-P", pl, "XADD", "rush:xadd", "*"] + fields)
        # the ingress's submit script for an Idempotency-Key (SET NX GET, INCR, XADD, GET, SET EX)
        # with the same entry; without a key the ingress sends INCR, XADD, GET as plain commands
        script = submit_script()
        if script:
            sha = self.redis_db1("SCRIPT", "LOAD", script)
            for pl in ("1", "16"):
                bench("redis submit script -P %s" % pl, "submit_script_P%s" % pl,
                      ["-r", "100000000", "-P", pl, "EVALSHA", sha, "5", "rush:req:{0}", "rush:seq:{0}",
                       "rush:done:{0}", "rush:res:__rand_int__", "rush:idem:__rand_int__", "-", "600"]
                      + fields)
        self.redis_db1("FLUSHDB")
        log("redis: %s" % ", ".join("%s %.0f/s" % (k, v) for k, v in res.items()))
        self.results["ceilings"]["redis"] = res

    def redis_db1(self, *args):
        r = Redis(self.stack.redis_port)
        try:
            r("SELECT", 1)
            return r(*args)
        finally:
            r.close()

    def ceiling_pgbench(self):
        st = self.stack
        st.psql("CREATE DATABASE pgbench_yk", db="postgres")
        env = dict(st.env, YOYAKU_PG="host=%s port=%d dbname=pgbench_yk user=postgres" % (st.pg_sock, st.pg_port))
        st.ctl("migrate", env=env)
        ev = st.scalar("INSERT INTO events (slug, title) VALUES ('pgbench', 'pgbench') RETURNING id",
                       db="pgbench_yk")
        st.psql("INSERT INTO slots (event_id, starts_at, ends_at, capacity) SELECT %s,"
                " now() + make_interval(days => 60, mins => 15 * g), now() + make_interval(days => 60, mins => 15 * g + 15),"
                " 1000000000 FROM generate_series(0, %d) g" % (ev, self.slots - 1), db="pgbench_yk")
        lo, hi = st.psql("SELECT min(id), max(id) FROM slots WHERE event_id = %s" % ev, db="pgbench_yk")[0]
        script = self.tmp / "booking.pgbench"
        script.write_text(
            "\\set sid random(%s, %s)\n"
            "BEGIN;\n"
            "UPDATE slots SET booked = booked + 1 WHERE id = :sid;\n"
            "INSERT INTO bookings (request_id, event_id, slot_id, email, identity, fields, token_hash,"
            " limit_one) VALUES (md5(:client_id || '-' || random()::text || clock_timestamp()::text), %s, :sid,"
            " 'pgb' || :client_id || '-' || random()::text || '@bench.example',"
            " gen_random_uuid()::text, '{\"name\": \"予約 太郎\"}',"
            " md5(random()::text) || md5(random()::text), true);\n"
            "COMMIT;\n" % (lo, hi, ev))
        os.chmod(self.tmp, 0o755)
        res = {}
        for clients in (8, 64):
            self.attempt(lambda: self.pgbench_run(clients, script, res), "pgbench -c %d" % clients)
        st.psql("DROP DATABASE pgbench_yk", db="postgres")
        self.results["ceilings"]["pgbench"] = res

    def pgbench_run(self, clients, script, res):
        st = self.stack
        w0 = self.pg_wal()
        with Measure(self, "pgbench -c %d" % clients) as m:
            self.children_cpu_reset()
            out = self.run_tool(["/usr/lib/postgresql/15/bin/pgbench", "-h", st.pg_sock, "-p", st.pg_port,
                                 "-U", "postgres", "-n", "-M", "prepared", "-c", clients,
                                 "-j", "2", "-T", self.pgbench_s, "-f", script, "pgbench_yk"])
            m.rec["out"] = out[-600:]
        tps = float(re.search(r"tps = ([0-9.]+) \(without initial", out).group(1))
        tx = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))
        lat = re.search(r"latency average = ([0-9.]+) ms", out)
        res["c%d" % clients] = {"tps": tps, "transactions": tx,
                                "latency_avg_ms": float(lat.group(1)) if lat else None,
                                "wal_bytes_per_tx": round(self.wal_diff(w0, self.pg_wal()) / max(tx, 1))}
        log("pgbench -c %d: %.0f tps" % (clients, tps))

    # -- scenarios ---------------------------------------------------------------------------------

    def scenario_rush(self, name, event, tag, rate=None, more=("",)):
        """N requests for one event, fresh identities, following 202s to their decision."""
        v = self.variants(name, [event], tag, more)
        st = self.stack
        b0, w0, wm0 = self.bookings([event["id"]]), self.pg_wal(), self.worker_metrics()
        rc0 = self.redis_cmdstats()
        with Measure(self, name) as m:
            r = self.ykload(st.http_port, n=self.n, variants=v, rate=rate, follow=True)
            m.rec["ykload"] = r
        # the queue is drained when every request has its answer: the counts are final now
        b1, w1, wm1 = self.bookings([event["id"]]), self.pg_wal(), self.worker_metrics()
        rc1 = self.redis_cmdstats()
        over = st.psql("SELECT s.id, s.booked, s.capacity, (SELECT count(*) FROM bookings b WHERE"
                       " b.slot_id = s.id AND b.status = 'confirmed') FROM slots s WHERE s.event_id = %d"
                       % event["id"])
        oversold = [row for row in over if int(row[1]) > int(row[2]) or int(row[3]) > int(row[2])
                    or int(row[1]) != int(row[3])]
        status = r["status"]
        res = {
            "cpu_us_per_request": {k: round(v * 1e6 / self.n, 1) for k, v in m.rec["cpu_s"].items()},
            "redis_commands_per_request": self.cmdstats_delta(rc0, rc1, self.n),
            "requests": self.n, "connections": self.conns, "rate": rate,
            "seconds": r["seconds"], "answers_per_s": r["rps"],
            "first_answers_per_s": r["first"]["rps"], "first_seconds": r["first"]["seconds"],
            "confirmed": status.get("201", 0), "confirmed_in_pg": b1 - b0,
            "confirmed_per_s": round(status.get("201", 0) / r["by_status"]["201"]["last_s"], 1)
            if r.get("by_status", {}).get("201", {}).get("last_s") else 0,
            "last_confirmation_s": r.get("by_status", {}).get("201", {}).get("last_s"),
            "latency_ms": r["latency_ms"], "first_latency_ms": r["first"]["latency_ms"],
            "latency_by_status_ms": r.get("by_status", {}),
            "status": status, "first_status": r["first"]["status"],
            "5xx": sum(v for k, v in status.items() if k.startswith("5")) +
                   sum(v for k, v in r["first"]["status"].items() if k.startswith("5")),
            "socket_errors": r["errors"] + r["connect_errors"] + status.get("0", 0),
            "unanswered": self.n - r["answered"],
            "oversold_slots": oversold,
            "wal_bytes": self.wal_diff(w0, w1),
            "wal_bytes_per_booking": round(self.wal_diff(w0, w1) / max(b1 - b0, 1)),
            "worker_batches": batch_stats(wm0, wm1),
        }
        log("%s: %d requests answered in %.2f s (%.0f/s, first answers %.0f/s), confirmed %d, "
            "p99 %.1f ms, status %s" % (name, r["answered"], r["seconds"], r["rps"], r["first"]["rps"],
                                         res["confirmed"], r["latency_ms"]["p99"], status))
        return res

    def repeated(self, what, fn, key, best_high):
        """fn() -> result dict, run RUSH_REPEAT times (each with the noise retry); returns the
        median run by `key`, with every run's headline numbers under "runs"."""
        runs = []
        for i in range(self.repeat):
            box = []
            self.attempt(lambda: box.append(fn()), what)
            runs.append(box[-1])
        order = sorted(runs, key=lambda r: r[key], reverse=best_high)
        med = dict(order[len(order) // 2])
        med["runs"] = [{k: r.get(k) for k in ("seconds", "answers_per_s", "first_answers_per_s",
                                              "confirmed_per_s", "rps")} for r in runs]
        med["runs_of"] = len(runs)
        return med

    def s1(self):
        def one():
            tag = "s1-%d" % len(self.results["measurements"])
            ev = self.make_event("rush-%s-%s" % (self.run_id, tag), self.slots, self.capacity)
            res = self.scenario_rush("S1 opening rush", ev, tag)
            res["seats"] = self.slots * self.capacity
            self.s1_event = ev
            return res
        self.results["scenarios"]["S1"] = self.repeated("S1", one, "seconds", False)

    def phased(self):
        """S1p's definition parts: a birth date field, an early phase for those born in 1961 or
        before and everyone's phase, both open (the bookers of PHASED_BIRTHS fall in each)."""
        now = datetime.datetime.now(JST).replace(microsecond=0)
        return {"fields": [{"name": "name", "label": {"ja": "氏名", "en": "Name"}, "type": "text",
                            "required": True, "max_length": 50},
                           {"name": "birth", "label": {"ja": "生年月日", "en": "Birth date"},
                            "type": "date"}],
                "phases": [{"opens_at": (now - datetime.timedelta(hours=2)).isoformat(),
                            "field": "birth", "max": "1961-12-31"},
                           {"opens_at": (now - datetime.timedelta(hours=1)).isoformat()}]}

    def s1p(self):
        """S1 with phased opening (issue 14): a birth date field, an early phase for those born in
        1961 or before and everyone's phase, both open, so every request is checked against the
        phases at the ingress and by the worker and S1's seats are sold all the same. Half the
        bookers fall in each phase. Compare its seconds with S1's (issue 14: within 10 %)."""
        extra = self.phased()

        def one():
            tag = "s1p-%d" % len(self.results["measurements"])
            ev = self.make_event("rush-%s-%s" % (self.run_id, tag), self.slots, self.capacity,
                                 extra=extra)
            res = self.scenario_rush("S1p opening rush with phases", ev, tag, more=PHASED_BIRTHS)
            res["seats"] = self.slots * self.capacity
            return res
        self.results["scenarios"]["S1p"] = self.repeated("S1p", one, "seconds", False)

    def s1r(self):
        """S1 with a roster: the campaign's roster (RUSH_ROSTER_N rows \"予約 太郎 <n>\", the names
        the variants send) is uploaded first (PUT, streamed; not measured), then the same rush."""
        import http.client
        campaign = "rush-%s-roster" % self.run_id

        def csv():
            yield "name\r\n".encode()
            for base in range(0, self.roster_n, 10000):
                yield "".join("予約 太郎 %d\r\n" % i for i in
                              range(base, min(base + 10000, self.roster_n))).encode()
        t = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.stack.http_port, timeout=900)
        conn.request("PUT", "/v1/admin/campaigns/%s/roster" % campaign, body=csv(),
                     encode_chunked=True, headers={"Content-Type": "text/csv",
                                                   "Authorization": "Bearer " + self.stack.admin_token})
        r = conn.getresponse()
        body = r.read()
        conn.close()
        if r.status != 200:
            raise RuntimeError("roster upload: %d %r" % (r.status, body[:300]))
        secs = time.monotonic() - t
        log("roster of %d rows uploaded in %.1f s (%.0f rows/s)" % (self.roster_n, secs, self.roster_n / secs))

        def one():
            tag = "s1r-%d" % len(self.results["measurements"])
            ev = self.make_event("rush-%s-%s" % (self.run_id, tag), self.slots, self.capacity,
                                 extra=dict(self.phased(), campaign=campaign,
                                            roster={"fields": ["name"]}))
            res = self.scenario_rush("S1R opening rush, roster and phases", ev, tag,
                                     more=PHASED_BIRTHS)
            res["seats"] = self.slots * self.capacity
            res["roster_rows"] = self.roster_n
            res["roster_upload_rows_per_s"] = round(self.roster_n / secs)
            return res
        res = self.results["scenarios"]["S1R"] = self.repeated("S1R", one, "seconds", False)
        s1 = self.results["scenarios"].get("S1")
        if s1:
            log("S1R: %.2f s against S1's %.2f s (%.0f %%)" % (res["seconds"], s1["seconds"],
                                                           100.0 * res["seconds"] / s1["seconds"]))

    def s2(self):
        ev = getattr(self, "s1_event", None)
        if ev is None:
            ev = self.make_event("rush-%s-s2" % self.run_id, self.slots, 1)
            self.fill(ev)

        def one():
            return self.scenario_rush("S2 sold out", ev, "s2-%d" % len(self.results["measurements"]))
        self.results["scenarios"]["S2"] = self.repeated("S2", one, "answers_per_s", True)

    def fill(self, ev):
        v = self.variants("fill", [ev], "fill")
        self.ykload(self.stack.http_port, n=len(ev["slot_ids"]) * 4, variants=v, follow=True, conns=50)

    def s3(self):
        s1 = self.results["scenarios"].get("S1")
        base = s1["answers_per_s"] if s1 else 10000.0
        rate = 0.7 * base
        ev = self.make_event("rush-%s-s3" % self.run_id, self.slots, self.capacity)
        res = self.scenario_rush("S3 fixed rate", ev, "s3", rate=rate)
        res["s1_rate"] = base
        self.results["scenarios"]["S3"] = res

    def s3b(self, events, s4_rate):
        """Every request books (events that never fill) at a fixed 70% of S4's rate: the time
        a booking takes when the queue path is loaded but not overloaded."""
        st = self.stack
        rate = 0.7 * s4_rate
        n = int(rate * (5 if self.quick else 10))
        v = self.variants("S3b", events, "s3b%d" % len(self.results["measurements"]))
        wm0 = self.worker_metrics()
        with Measure(self, "S3b fixed rate, every request books") as m:
            r = self.ykload(st.http_port, n=n, variants=v, rate=rate, follow=True)
            m.rec["ykload"] = r
        status = r["status"]
        self.results["scenarios"]["S3b"] = {
            "rate": round(rate, 1), "s4_rate": s4_rate, "requests": n, "connections": self.conns,
            "seconds": r["seconds"], "status": status, "latency_ms": r["latency_ms"],
            "5xx": sum(v for k, v in status.items() if k.startswith("5")),
            "socket_errors": r["errors"] + r["connect_errors"] + status.get("0", 0),
            "worker_batches": batch_stats(wm0, self.worker_metrics())}
        log("S3b: %d bookings at %.0f/s: p50 %.1f ms, p99 %.1f ms, status %s" % (
            n, rate, r["latency_ms"]["p50"], r["latency_ms"]["p99"], status))

    def durable_events(self, tag, count):
        """`count` events on distinct partitions, each 50 slots that never fill."""
        events, seen, k = [], set(), 0
        while len(events) < count:
            slug = "rush-%s-%s-%d" % (self.run_id, tag, k)
            k += 1
            p = partition_of(slug)
            if p in seen:
                continue
            seen.add(p)
            events.append(self.make_event(slug, self.slots, 100000))
        return events

    def scenario_durable(self, name, events, tag):
        st = self.stack
        v = self.variants(name, events, tag)
        ids = [e["id"] for e in events]
        b0, w0, wm0 = self.bookings(ids), self.pg_wal(), self.worker_metrics()
        rc0 = self.redis_cmdstats()
        id0 = int(st.scalar("SELECT coalesce(max(id), 0) FROM bookings"))
        with Measure(self, name) as m:
            r = self.ykload(st.http_port, n=self.s4_n, variants=v, follow=True)
            m.rec["ykload"] = r
        b1, w1, wm1 = self.bookings(ids), self.pg_wal(), self.worker_metrics()
        rc1 = self.redis_cmdstats()
        span = st.psql("SELECT extract(epoch FROM max(created_at) - min(created_at)),"
                       " count(DISTINCT created_at) FROM bookings WHERE id > %d" % id0)[0]
        status = r["status"]
        confirmed = status.get("201", 0)
        per = {k: round(v * 1e6 / max(confirmed, 1), 1) for k, v in m.rec["cpu_s"].items()}
        res = {
            "cpu_us_per_booking": per,
            "redis_commands_per_booking": self.cmdstats_delta(rc0, rc1, max(confirmed, 1)),
            "requests": self.s4_n, "connections": self.conns, "events": len(events),
            "workers": len(st.live_workers()),
            "seconds": r["seconds"], "answers_per_s": r["rps"],
            "confirmed": confirmed, "confirmed_in_pg": b1 - b0,
            "confirmed_per_s": round(confirmed / r["seconds"], 1) if r["seconds"] else 0,
            "pg_span_s": float(span[0] or 0), "pg_transactions": int(span[1] or 0),
            "latency_ms": r["latency_ms"], "status": status, "first_status": r["first"]["status"],
            "5xx": sum(v for k, v in status.items() if k.startswith("5")),
            "socket_errors": r["errors"] + r["connect_errors"] + status.get("0", 0),
            "wal_bytes_per_booking": round(self.wal_diff(w0, w1) / max(b1 - b0, 1)),
            "worker_batches": batch_stats(wm0, wm1),
        }
        log("%s: %d confirmed in %.2f s = %.0f/s (PG: %d rows, %d transactions), p99 %.0f ms, status %s"
            % (name, confirmed, r["seconds"], res["confirmed_per_s"], b1 - b0, res["pg_transactions"],
               r["latency_ms"]["p99"], status))
        return res

    def s4(self):
        st = self.stack
        res = {}
        events16 = self.durable_events("s4", 16)
        def durable(key, name, events, tag):
            def run():
                res[key] = self.scenario_durable(name, events, tag + str(len(self.results["measurements"])))
            self.attempt(run, name)
        durable("2 workers, 16 events", "S4 durable, 2 workers, 16 events", events16, "s4a")
        one = self.durable_events("s4one", 1)
        durable("2 workers, 1 event", "S4 durable, 2 workers, 1 event", one, "s4b")
        if self.want("s3"):
            self.attempt(lambda: self.s3b(events16, res["2 workers, 16 events"]["confirmed_per_s"]), "S3b")
        # one worker: stop the second, wait until the first owns every partition
        extra = st.live_workers()[1:]
        for w in extra:
            w.stop(signal.SIGTERM)
        st.wait_owned()
        durable("1 worker, 16 events", "S4 durable, 1 worker, 16 events", events16, "s4c")
        self.results["scenarios"]["S4"] = res

    def idle(self):
        st = self.stack
        pid = st.ingress.pid
        rss0 = status_kb(pid, "VmRSS")
        with Measure(self, "10k idle connections") as m:
            self.children_cpu_reset()
            p = subprocess.Popen([str(self.ykload_bin), "-h", "127.0.0.1", "-p", str(st.http_port),
                                  "-c", str(self.idle_conns), "-i", str(self.idle_s)],
                                 stdout=subprocess.PIPE, stderr=open(self.tmp / "logs" / "tools.log", "a"),
                                 text=True)
            peak, fds = 0, 0
            while p.poll() is None:
                peak = max(peak, status_kb(pid, "VmRSS") or 0)
                try:
                    fds = max(fds, len(os.listdir("/proc/%d/fd" % pid)))
                except OSError:
                    pass
                time.sleep(0.2)
            out = p.stdout.read()
            self.tool_cpu = 0.0
            m.rec["ykload"] = out.strip()
        r = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        res = {"connections": self.idle_conns, "held": r.get("idle_connections"),
               "ingress_fds_peak": fds, "ingress_rss_before_kib": rss0, "ingress_rss_peak_kib": peak,
               "ingress_rss_after_kib": status_kb(pid, "VmRSS")}
        log("idle: %s of %d connections held, ingress RSS %s -> %s KiB (fds %d)" % (
            res["held"], self.idle_conns, rss0, peak, fds))
        self.results["scenarios"]["idle"] = res

    # -- run ---------------------------------------------------------------------------------------

    def machine(self):
        info = {"cpus": NCPU, "kernel": os.uname().release}
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        info["cpu"] = line.split(":", 1)[1].strip()
                        break
            with open("/proc/meminfo") as f:
                info["mem_kib"] = int(f.readline().split()[1])
        except OSError:
            pass
        for cmd, key in ((["nginx", "-v"], "nginx"), (["redis-server", "--version"], "redis"),
                         (["wrk", "--version"], "wrk")):
            try:
                r = subprocess.run(cmd, capture_output=True, text=True)
                info[key] = (r.stdout + r.stderr).strip().splitlines()[0]
            except (OSError, IndexError):
                pass
        return info

    def run(self):
        t_start = time.monotonic()
        self.tmp = Path(tempfile.mkdtemp(prefix="yoyaku-rush-"))
        os.chmod(self.tmp, 0o755)
        (self.tmp / "logs").mkdir()
        self.results["started"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        self.results["mode"] = "quick" if self.quick else "full"
        self.results["machine"] = self.machine()
        self.results["source"] = git_state()
        self.results["config"] = {"requests": self.n, "connections": self.conns, "s4_requests": self.s4_n,
                                  "slots": self.slots, "capacity": self.capacity,
                                  "pgbench_seconds": self.pgbench_s, "wrk_seconds": self.wrk_s,
                                  "redis_benchmark_requests": self.redis_n,
                                  "build": str(ykstack.build_dir()), "notifier": bool(os.environ.get("RUSH_NOTIFIER"))}
        log("temporary directory %s" % self.tmp)
        ok = False
        try:
            if self.want("ceilings") or self.want("nginx"):
                self.ceiling_nginx()
            self.stack = BenchStack(self.tmp, 2, notifier=bool(os.environ.get("RUSH_NOTIFIER")),
                                    redis_mode=self.args.redis)
            log("starting the stack")
            self.stack.start()
            if self.args.redis == "cluster":
                spread = {}
                for p in range(self.stack.partitions):
                    port = self.stack.redis.slots[ykstack.key_slot("yk:req:{%d}" % p)]
                    spread.setdefault("127.0.0.1:%d" % port, []).append(p)
                self.results["config"]["redis_cluster"] = {
                    "masters": len(spread), "nodes": len(self.stack.redis_procs),
                    "partitions_by_master": spread}
                log("partitions over the masters: %s" % spread)
            self.results["config"]["postgres"] = dict(self.stack.psql(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name IN"
                " ('shared_buffers', 'synchronous_commit', 'fsync', 'wal_sync_method', 'max_wal_size',"
                " 'checkpoint_timeout', 'wal_buffers', 'max_connections', 'wal_level', 'full_page_writes',"
                " 'work_mem', 'commit_delay')"))
            self.results["config"]["redis"] = {
                k: self.stack.redis("CONFIG", "GET", k)[1] for k in ("appendonly", "appendfsync", "save")}
            if self.want("ceilings") or self.want("redis"):
                self.ceiling_redis()
            if self.want("ceilings") or self.want("pgbench"):
                self.ceiling_pgbench()
            if self.want("s1"):
                self.s1()
            if self.want("s1p"):
                self.s1p()
            if self.want("s2"):
                self.s2()
            if self.want("s1r"):
                self.s1r()
            if self.want("s3"):
                self.attempt(self.s3, "S3")
            if self.want("s4"):
                self.s4()
            if self.want("idle"):
                self.attempt(self.idle, "idle")
            self.final_stats()
            ok = True
        finally:
            if self.stack:
                rc = self.stack.stop()
                bad = {k: v for k, v in rc.items() if v != 0}
                if bad:
                    log("exit statuses: %r" % bad)
                left = self.stack.leftovers()
                if left:
                    log("LEFT RUNNING: %r" % left)
                self.results["teardown"] = {"exit_status": rc, "leftovers": [str(x) for x in left]}
            self.results["duration_s"] = round(time.monotonic() - t_start, 1)
            if self.args.keep or not ok:
                log("kept %s" % self.tmp)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
        return self.results

    def final_stats(self):
        st = self.stack
        info = {}
        for line in st.redis("INFO", "memory").splitlines() + st.redis("INFO", "persistence").splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                if k in ("used_memory", "used_memory_peak", "used_memory_rss", "aof_rewrites",
                         "rdb_saves", "aof_current_size", "rdb_changes_since_last_save"):
                    info[k] = int(v) if v.isdigit() else v
        info["dbsize"] = st.redis("DBSIZE")
        peak = {}
        for p in [st.ingress] + st.workers + [st.redis_proc] + ([st.notifier] if st.notifier else []):
            if p.alive():
                peak[p.name] = status_kb(p.pid, "VmHWM")
        backends = [status_kb(c, "VmHWM") or 0 for c in children_of(st.pg_proc.pid)]
        peak["postgres (postmaster)"] = status_kb(st.pg_proc.pid, "VmHWM")
        peak["postgres (largest child)"] = max(backends) if backends else None
        self.results["memory"] = {"peak_rss_kib": peak, "redis": info,
                                  "pg_database_bytes": int(st.scalar("SELECT pg_database_size('yoyaku')"))}


# ---------------------------------------------------------------------------------------------------
# parsing


def git_state():
    """The commit measured, and which service sources differed from it (others work in the tree)."""
    def git(*a):
        r = subprocess.run(["git", "-C", str(ROOT)] + list(a), capture_output=True, text=True)
        return r.stdout.strip()
    dirty = git("status", "--porcelain", "--", "services", "common", "proto", "meson.build")
    return {"commit": git("rev-parse", "HEAD"), "subject": git("log", "-1", "--format=%s"),
            "modified": [l[3:] for l in dirty.splitlines()]}


def parse_wrk(out):
    def ms(s):
        m = re.match(r"([0-9.]+)(us|ms|s)", s)
        if not m:
            return None
        v = float(m.group(1))
        return {"us": v / 1000, "ms": v, "s": v * 1000}[m.group(2)]
    r = {"rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))}
    for p in ("50", "90", "99"):
        m = re.search(r"^\s+%s%%\s+(\S+)" % p, out, re.M)
        r["p%s_ms" % p] = ms(m.group(1)) if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non_2xx"] = int(m.group(1)) if m else 0
    return r


def parse_redis_bench(out):
    """requests/s from redis-benchmark --csv ("test","rps",...)."""
    for line in out.strip().splitlines():
        cells = [c.strip('"') for c in line.split(",")]
        if len(cells) > 1 and cells[0] != "test":
            try:
                return float(cells[1])
            except ValueError:
                pass
    return 0.0


def submit_script():
    """The ingress's submit script, read from services/ingress/submit.c (None if not found)."""
    try:
        src = (ROOT / "services/ingress/submit.c").read_text()
    except OSError:
        return None
    m = re.search(r"submit_script\[\]\s*=\s*((?:\s*\"(?:[^\"\\]|\\.)*\")+)\s*;", src)
    if not m:
        return None
    return "".join(ast.literal_eval(s) for s in re.findall(r"\"(?:[^\"\\]|\\.)*\"", m.group(1)))


def batch_stats(m0, m1):
    d = {k: m1.get(k, 0) - m0.get(k, 0) for k in set(m0) | set(m1)}
    n = d.get("yoyaku_worker_batch_size_count", 0)
    s = d.get("yoyaku_worker_batch_size_sum", 0)
    secs = d.get("yoyaku_worker_batch_seconds_sum", 0)
    return {"batches": int(n), "mean_size": round(s / n, 1) if n else 0,
            "mean_ms": round(1000 * secs / d.get("yoyaku_worker_batch_seconds_count", 1), 2) if n else 0,
            "decided": {k.split("{", 1)[1].rstrip("}"): int(v) for k, v in d.items()
                        if k.startswith("yoyaku_bookings_total{") and v}}


# ---------------------------------------------------------------------------------------------------
# the table


def fmt(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, float) and abs(v) < 100 and v != int(v):
        s = "%.2f" % v if abs(v) < 10 else "%.1f" % v
    else:
        s = "{:,}".format(int(round(v)))
    return s + unit


def table(res):
    rows = []  # (metric, yoyaku, ceiling, ratio, target, met)

    def add(metric, y, c=None, target=None, met=None, unit="", cunit=None, ratio=None):
        if ratio is None and isinstance(y, (int, float)) and isinstance(c, (int, float)) and c:
            ratio = y / c
        rows.append({"metric": metric, "yoyaku": y, "ceiling": c, "ratio": ratio, "target": target,
                     "met": met, "unit": unit, "cunit": unit if cunit is None else cunit})

    def spread(r, key, unit=""):
        runs = r.get("runs") or []
        if len(runs) < 2:
            return ""
        v = [x[key] for x in runs if x.get(key) is not None]
        return " (median of %d: %s-%s%s)" % (len(runs), fmt(min(v)), fmt(max(v)), unit)

    ce = res["ceilings"]
    ng = ce.get("nginx", {})
    ng1 = ng.get("ykload_wp1", {}).get("rps")
    sc = res["scenarios"]
    s1 = sc.get("S1")
    if s1:
        add("S1 time until every request answered" + spread(s1, "seconds", " s"), s1["seconds"], None,
            "<= 3 s", s1["seconds"] <= 3.0, " s")
        add("S1 answers/s (to decision) vs nginx wp=1", s1["answers_per_s"], ng1, unit="/s")
        add("S1 ingress accept rate (first answers/s) vs nginx wp=1" + spread(s1, "first_answers_per_s"),
            s1["first_answers_per_s"], ng1,
            ">= 50% of nginx", (s1["first_answers_per_s"] / ng1 >= 0.5) if ng1 else None, "/s")
        add("S1 confirmed/s (6,000 seats sold in %s s)" % fmt(s1.get("last_confirmation_s")),
            s1["confirmed_per_s"], None, unit="/s")
        lat = s1["latency_ms"]
        add("S1 time to decision p50 / p99 / p99.9",
            "%s / %s / %s ms" % (fmt(lat["p50"]), fmt(lat["p99"]), fmt(lat["p999"])))
        by = s1.get("latency_by_status_ms", {})
        if "201" in by:
            b = by["201"]["latency_ms"]
            add("S1 confirmations (201) p50 / p99 / max", "%s / %s / %s ms" % (
                fmt(b["p50"]), fmt(b["p99"]), fmt(b["max"])))
        inv = (s1["confirmed"] == s1["seats"] and s1["confirmed_in_pg"] == s1["seats"])
        add("S1 confirmed (201) / in PostgreSQL", "%d / %d" % (s1["confirmed"], s1["confirmed_in_pg"]),
            "%d seats" % s1["seats"], target="= seats", met=inv)
        add("S1 5xx, socket errors, unanswered", "%d, %d, %d" % (s1["5xx"], s1["socket_errors"], s1["unanswered"]),
            target="0", met=s1["5xx"] == 0 and s1["socket_errors"] == 0 and s1["unanswered"] == 0)
        add("S1 oversold slots", len(s1["oversold_slots"]), target="0", met=not s1["oversold_slots"])
    s1p = sc.get("S1p")
    if s1p:
        inv = s1p["confirmed"] == s1p["seats"] and s1p["confirmed_in_pg"] == s1p["seats"]
        add("S1p (phases) time until every request answered" + spread(s1p, "seconds", " s"),
            s1p["seconds"], s1["seconds"] if s1 else None, "<= 110% of S1",
            (s1p["seconds"] <= 1.1 * s1["seconds"]) if s1 else None, " s")
        add("S1p confirmed (201) / in PostgreSQL, 5xx, oversold",
            "%d / %d, %d, %d" % (s1p["confirmed"], s1p["confirmed_in_pg"], s1p["5xx"],
                                 len(s1p["oversold_slots"])), "%d seats" % s1p["seats"],
            target="= seats, 0, 0", met=inv and s1p["5xx"] == 0 and not s1p["oversold_slots"])
    s2 = sc.get("S2")
    if s2:
        add("S2 sold-out answers/s vs nginx wp=1" + spread(s2, "answers_per_s"), s2["answers_per_s"], ng1,
            ">= 80% of nginx",
            (s2["answers_per_s"] / ng1 >= 0.8) if ng1 else None, "/s")
        lat = s2["latency_ms"]
        add("S2 latency p50 / p99 / p99.9", "%s / %s / %s ms" % (fmt(lat["p50"]), fmt(lat["p99"]), fmt(lat["p999"])))
        add("S2 5xx, socket errors", "%d, %d" % (s2["5xx"], s2["socket_errors"]), target="0",
            met=s2["5xx"] == 0 and s2["socket_errors"] == 0)
    s3 = sc.get("S3")
    if s3:
        lat = s3["latency_ms"]
        add("S3 p99 at %s/s (70%% of S1)" % fmt(s3["rate"]), lat["p99"], None, "<= 10 ms", lat["p99"] <= 10, " ms")
        add("S3 p50 / p99.9", "%s / %s ms" % (fmt(lat["p50"]), fmt(lat["p999"])))
        by = s3.get("latency_by_status_ms", {})
        if "409" in by and "201" in by:
            a, b = by["409"]["latency_ms"], by["201"]["latency_ms"]
            add("S3 p50 / p99 of refusals (409); of confirmations (201)", "%s / %s; %s / %s ms" % (
                fmt(a["p50"]), fmt(a["p99"]), fmt(b["p50"]), fmt(b["p99"])))
    s3b = sc.get("S3b")
    if s3b:
        lat = s3b["latency_ms"]
        add("S3b booking time p50 / p99 / p99.9 at %s/s (70%% of S4, all book)" % fmt(s3b["rate"]),
            "%s / %s / %s ms" % (fmt(lat["p50"]), fmt(lat["p99"]), fmt(lat["p999"])))
    s4 = sc.get("S4")
    pg = ce.get("pgbench", {})
    pgbest = max((v["tps"] for v in pg.values()), default=None)
    if s4:
        main = s4.get("2 workers, 16 events")
        for k, v in s4.items():
            met = None
            target = None
            if v is main:
                target = ">= 20,000/s and >= 10x pgbench"
                met = v["confirmed_per_s"] >= 20000 and (pgbest is None or v["confirmed_per_s"] >= 10 * pgbest)
            add("S4 confirmed/s, %s, vs pgbench best" % k, v["confirmed_per_s"], pgbest, target, met, "/s")
        if main:
            lat = main["latency_ms"]
            add("S4 (2 workers, 16 events) time to decision p50 / p99",
                "%s / %s ms" % (fmt(lat["p50"]), fmt(lat["p99"])))
            add("S4 WAL bytes per booking vs pgbench per tx", main["wal_bytes_per_booking"],
                pg.get("c8", {}).get("wal_bytes_per_tx"), unit=" B")
    idle = sc.get("idle")
    if idle:
        rss = idle["ingress_rss_peak_kib"] / 1024.0
        add("Ingress RSS with %d open connections (held %s)" % (idle["connections"], idle["held"]), rss,
            None, "<= 64 MiB", rss <= 64 and idle["held"] == idle["connections"], " MiB")
    if ng:
        for k, label in (("ykload_wp1", "nginx wp=1 (ykload)"), ("ykload_wpauto", "nginx wp=auto (ykload)"),
                         ("wrk_wp1", "nginx wp=1 (wrk -t2)"), ("wrk_wpauto", "nginx wp=auto (wrk -t2)")):
            if k in ng:
                add("ceiling: " + label + " req/s" + spread(ng[k], "rps"), None, ng[k]["rps"], unit="/s")
    for k, v in ce.get("redis", {}).items():
        add("ceiling: redis %s ops/s (50 clients)" % k, None, v, unit="/s")
    for k, v in pg.items():
        add("ceiling: pgbench one booking/tx -%s tps" % k, None, v["tps"], unit="/s")
    return rows


def render(rows):
    head = ["metric", "yoyaku", "ceiling", "ratio", "target", "met?"]
    cells = []
    for r in rows:
        met = {True: "yes", False: "NO", None: ""}[r["met"]]
        cells.append([r["metric"], fmt(r["yoyaku"], r["unit"]) if r["yoyaku"] is not None else "",
                      fmt(r["ceiling"], r["cunit"]) if r["ceiling"] is not None else "",
                      "%.0f%%" % (100 * r["ratio"]) if r["ratio"] is not None and r["ratio"] < 2
                      else ("%.1fx" % r["ratio"] if r["ratio"] is not None else ""),
                      r["target"] or "", met])
    w = [max(len(str(c[i])) for c in cells + [head]) for i in range(len(head))]
    lines = ["| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(head)) + " |",
             "|" + "|".join("-" * (x + 2) for x in w) + "|"]
    for c in cells:
        lines.append("| " + " | ".join(str(x).ljust(w[i]) for i, x in enumerate(c)) + " |")
    return "\n".join(lines)


def cpu_table(res):
    """Per measurement: wall, CPU seconds of each component (and cores used)."""
    names = []
    kept = [m for m in res["measurements"] if not m.get("discarded")]
    for m in kept:
        for k in m["cpu_s"]:
            if k not in names:
                names.append(k)
    head = ["measurement", "wall s", "load1"] + names + ["other"]
    cells = []
    for m in kept:
        row = [m["name"] + (" (busy)" if m.get("noisy") else ""), "%.1f" % m["wall_s"],
               "%.2f" % m["loadavg_start"][0]]
        for k in names:
            v = m["cpu_s"].get(k)
            row.append("" if v is None else "%.1f (%.0f%%)" % (v, 100 * v / m["wall_s"]))
        row.append("%.1f" % m["other_cpu_s"])
        cells.append(row)
    w = [max(len(str(c[i])) for c in cells + [head]) for i in range(len(head))]
    lines = ["| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(head)) + " |",
             "|" + "|".join("-" * (x + 2) for x in w) + "|"]
    for c in cells:
        lines.append("| " + " | ".join(str(x).ljust(w[i]) for i, x in enumerate(c)) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--redis", choices=("single", "cluster"), default="single")
    args = ap.parse_args()

    def term(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, term)
    bench = Bench(args)
    res = bench.run()
    rows = table(res)
    res["table"] = rows
    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = out_dir / ("rush-%s%s.json" % (stamp, "-quick" if args.quick else ""))
    path.write_text(json.dumps(res, indent=1, ensure_ascii=False, default=str) + "\n")
    print()
    print("yoyaku rush benchmark (%s, %s, %d s, %s)" % (res["mode"], res["started"], res["duration_s"],
                                                      res["machine"].get("cpu", "")))
    print(render(rows))
    rc = res.get("config", {}).get("redis_cluster")
    if rc:
        print()
        print("Redis Cluster: %d nodes, partitions by master: %s" % (rc["nodes"], "; ".join(
            "%s %s" % (m, ",".join(map(str, ps))) for m, ps in sorted(rc["partitions_by_master"].items()))))
    print()
    print("CPU seconds per component (share of one core):")
    print(cpu_table(res))
    mem = res.get("memory", {})
    if mem:
        print()
        print("peak RSS (KiB): %s" % ", ".join("%s %s" % kv for kv in mem["peak_rss_kib"].items()))
        r = mem["redis"]
        print("redis: used_memory_peak %.1f MiB, used_memory %.1f MiB, keys %s, aof_rewrites %s, rdb_saves %s"
              % (r.get("used_memory_peak", 0) / 2**20, r.get("used_memory", 0) / 2**20, r.get("dbsize"),
                 r.get("aof_rewrites"), r.get("rdb_saves")))
    if res.get("busy_starts"):
        print("WARNING: measurements started on a busy machine: %r" % res["busy_starts"])
    print("json: %s" % path)
    left = res.get("teardown", {}).get("leftovers")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
