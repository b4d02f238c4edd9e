"""deploy/local/run (contract §1): in a temporary YOYAKU_DEV_DIR on a free port it prints
`admin token: …` and `ready: http://127.0.0.1:<port>/`, serves the demo event, stops everything on
SIGTERM (and SIGINT) with exit status 0 and no process left behind, and a second run reuses the data;
with YOYAKU_LOCAL_REDIS=cluster (issue 15) the same on a Redis Cluster of 3 masters and 3 replicas."""

import datetime
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from ykstack import (JST, ROOT, SANITIZER_MARKS, Client, binary, build_dir, email, free_port, port_free,
                     processes_of, wait_until)

RUN = ROOT / "deploy/local/run"


class LocalRun:
    def __init__(self, dev, port, **extra_env):
        self.dev, self.port = dev, port
        env = {k: v for k, v in os.environ.items() if not k.startswith("YOYAKU_")}
        env.update(extra_env)
        env.update({"YOYAKU_DEV_DIR": str(dev), "YOYAKU_HTTP_PORT": str(port),
                    "YOYAKU_BUILD_DIR": str(build_dir()),
                    # keep serving after a UBSan report; the logs are checked for reports
                    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=0"})
        self.err = open(dev.parent / ("run-%d.err" % time.monotonic_ns()), "w+")
        self.proc = subprocess.Popen([str(RUN)], env=env, cwd=str(dev.parent), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self.err, text=True,
                                     start_new_session=True)
        self.lines = queue.Queue()
        self.out = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_line(self, prefix, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if line is None:
                raise AssertionError("deploy/local/run exited (%s) before %r:\n%s" % (
                    self.proc.wait(), prefix, self.stderr()))
            if line:
                self.out.append(line)
                if line.startswith(prefix):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError("no %r after %d s; stdout %r; stderr:\n%s" % (
                    prefix, timeout, self.out, self.stderr()))

    def stderr(self):
        self.err.flush()
        self.err.seek(0)
        return self.err.read()[-6000:]

    def stop(self, sig):
        self.proc.send_signal(sig)
        return self.proc.wait(90)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        for pid, _ in processes_of(self.dev):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.err.close()


@pytest.fixture
def devdir():
    base = Path(tempfile.mkdtemp(prefix="yoyaku-local-"))
    os.chmod(base, 0o755)
    yield base / "dev"
    if not os.environ.get("YOYAKU_KEEP_TMP"):
        shutil.rmtree(base, ignore_errors=True)


def check_stopped(run, rc):
    assert rc == 0, "exit status %s; stderr:\n%s" % (rc, run.stderr())
    left = []
    for _ in range(50):
        left = processes_of(run.dev)
        if not left:
            break
        time.sleep(0.1)
    assert not left, "processes left behind: %r" % left
    pg = subprocess.run(["pgrep", "-f", str(run.dev)], capture_output=True, text=True)
    assert pg.stdout.strip() == "", pg.stdout
    # Redis and PostgreSQL rewrite their process titles: check their port and pid file
    ports = dict(l.split("=", 1) for l in (run.dev / "ports").read_text().split())
    for name in ("http", "redis", "smtp"):
        assert port_free(int(ports[name])), "%s port %s still bound" % (name, ports[name])
    assert not (run.dev / "pg" / "data" / "postmaster.pid").exists(), "postgres still running"


def sanitizer_reports(dev):
    out = []
    for f in sorted((dev / "logs").glob("*.log")):
        text = f.read_text("utf-8", "replace")
        if any(m in text for m in SANITIZER_MARKS):
            out.append("== %s ==\n%s" % (f.name, text[-6000:]))
    return out


def test_no_command_substitution_while_waiting_for_a_signal():
    """bash 5.2 can run the SIGINT/SIGTERM trap inside a command substitution that starts as the
    signal comes: the trap then fails to parse (exit status 2) or the signal is lost (seen in CI:
    "interrupt trap: line 2: unexpected EOF while looking for matching `)'"). The loop that waits for
    the signal must fork none."""
    text = RUN.read_text()
    loop = text[text.index("# foreground until a signal"):]
    assert "$(" not in loop.replace("$((", "") and "`" not in loop, loop


def test_deploy_local_run(devdir):
    port = free_port()
    run = LocalRun(devdir, port)
    try:
        token_line = run.wait_line("admin token: ", 300)
        owner_line = run.wait_line("staff login: owner / ", 30)
        password = owner_line[len("staff login: owner / "):]
        ready = run.wait_line("ready: ", 120)
        assert ready == "ready: http://127.0.0.1:%d/" % port
        token = token_line[len("admin token: "):]
        assert (devdir / "admin-token").read_text().strip() == token
        ports = dict(l.split("=", 1) for l in (devdir / "ports").read_text().split())
        assert ports["http"] == str(port)
        assert not {"5432", "6379"} & set(ports.values()), ports
        for d in ("logs", "mail", "redis", "pg"):
            assert (devdir / d).exists(), d
        # the yoyaku services never run as root (as root the script starts them as nobody)
        services = [(pid, cmd) for pid, cmd in processes_of(devdir)
                    if any(b in cmd for b in ("yoyaku-ingress", "yoyaku-worker", "yoyaku-notifier"))]
        assert len(services) >= 3, services
        for pid, cmd in services:
            assert os.stat("/proc/%d" % pid).st_uid != 0, cmd

        api = Client("127.0.0.1", port, token)
        r = api.post("/v1/admin/login", {"login": "owner", "password": password})
        assert r.status == 200 and r.json["staff"]["role"] == "owner", r
        r = api.get("/v1/events/demo")
        assert r.status == 200, r
        assert r.json["timezone"] == "Asia/Tokyo", r
        fields = {f["name"]: f for f in r.json["fields"]}
        assert fields["name"]["required"] and fields["name"].get("max_length") == 50, r
        ident = [f for f in fields.values() if f.get("identity")]
        assert len(ident) == 1, r
        today = datetime.datetime.now(JST).date()
        r = api.get("/v1/events/demo/slots?from=%s&to=%s" % (today, today + datetime.timedelta(days=15)))
        assert r.status == 200 and r.json["slots"], r
        slot = r.json["slots"][0]
        assert slot["starts_at"].endswith("+09:00") and slot["capacity"] == 20, slot
        r = api.post("/v1/events/demo/reservations",
                     {"slot_id": slot["id"], "email": email("local"),
                      "fields": {"name": "デモ 太郎", ident[0]["name"]: "0123456789"}})
        assert r.status == 201, r
        booking_id = r.json["booking"]["id"]
        api.close()
        if os.access(binary("yoyaku-notifier"), os.X_OK):
            # the confirmation mail lands in the SMTP sink as mail/*.eml
            mails = wait_until(lambda: list((devdir / "mail").glob("*.eml")), 30, 0.1,
                               what="a confirmation mail in %s/mail" % devdir)
            raw = mails[0].read_bytes()
            assert b"Message-ID:" in raw or b"Message-Id:" in raw, raw[:2000]
        check_stopped(run, run.stop(signal.SIGTERM))
        reports = sanitizer_reports(devdir)
        assert not reports, "\n".join(reports)

        # second run: same data, same token; stopped with SIGINT this time
        run = LocalRun(devdir, port)
        assert run.wait_line("admin token: ", 300) == token_line
        run.wait_line("ready: ", 120)
        assert not [l for l in run.out if l.startswith("staff login:")], run.out   # once only
        api = Client("127.0.0.1", port, token)
        r = api.get("/v1/admin/events/demo/bookings", admin=True)
        assert r.status == 200, r
        assert [b["id"] for b in r.json["bookings"]] == [booking_id], r
        api.close()
        check_stopped(run, run.stop(signal.SIGINT))
        reports = sanitizer_reports(devdir)
        assert not reports, "\n".join(reports)
    finally:
        run.kill()


def cluster_nodes(port):
    """[(port, role, slot ranges)] from CLUSTER NODES asked of the node on port."""
    out = subprocess.run(["redis-cli", "-p", str(port), "cluster", "nodes"], capture_output=True,
                         text=True, timeout=10).stdout
    nodes = []
    for line in out.splitlines():
        f = line.split()
        role = "master" if "master" in f[2].split(",") else "replica"
        nodes.append((int(f[1].split(":")[1].split("@")[0]), role, f[8:]))
    return sorted(nodes)


def book_demo(api):
    r = api.get("/v1/events/demo")
    assert r.status == 200, r
    ident = [f["name"] for f in r.json["fields"] if f.get("identity")][0]
    today = datetime.datetime.now(JST).date()
    r = api.get("/v1/events/demo/slots?from=%s&to=%s" % (today, today + datetime.timedelta(days=15)))
    assert r.status == 200 and r.json["slots"], r
    r = api.post("/v1/events/demo/reservations",
                 {"slot_id": r.json["slots"][0]["id"], "email": email("localcl"),
                  "fields": {"name": "クラスタ 花子", ident: "9876543210"}})
    assert r.status == 201, r
    return r.json["booking"]["id"]


def test_deploy_local_run_on_a_redis_cluster(devdir):
    """YOYAKU_LOCAL_REDIS=cluster: six redis-server processes in cluster mode, made into 3 masters
    that share the 16384 slots and a replica each; the services use it (a booking, its mail), and
    a second run finds the same cluster on the same ports."""
    if shutil.which("redis-cli") is None:
        pytest.skip("redis-cli missing")
    port = free_port()
    run = LocalRun(devdir, port, YOYAKU_LOCAL_REDIS="cluster")
    try:
        token = run.wait_line("admin token: ", 300)[len("admin token: "):]
        run.wait_line("ready: ", 120)
        cports = [int(p) for p in (devdir / "redis-cluster" / "ports").read_text().split()]
        assert len(cports) == 6, cports
        nodes = cluster_nodes(cports[0])
        assert [n[0] for n in nodes] == sorted(cports), nodes
        masters = [n for n in nodes if n[1] == "master"]
        assert len(masters) == 3 and all(n[2] for n in masters), nodes
        assert sum(int(b) - int(a) + 1 for n in masters for a, b in
                   (r.split("-") if "-" in r else (r, r) for r in n[2])) == 16384, nodes
        # every service is pointed at the cluster
        services = [pid for pid, cmd in processes_of(devdir)
                    if any(b in cmd for b in ("yoyaku-ingress", "yoyaku-worker", "yoyaku-notifier"))]
        assert len(services) >= 3, services
        for pid in services:
            environ = Path("/proc/%d/environ" % pid).read_bytes().split(b"\0")
            assert b"YOYAKU_REDIS=redis-cluster://127.0.0.1:%d" % cports[0] in \
                [e.split(b",")[0] for e in environ], pid
        api = Client("127.0.0.1", port, token)
        booking_id = book_demo(api)
        api.close()
        # the request went through the cluster: its partition's stream lives on one master
        keys = sum(int(subprocess.run(["redis-cli", "-p", str(p), "dbsize"], capture_output=True,
                                      text=True, timeout=10).stdout or 0) for p, _, _ in masters)
        assert keys > 0
        if os.access(binary("yoyaku-notifier"), os.X_OK):
            wait_until(lambda: list((devdir / "mail").glob("*.eml")), 30, 0.1,
                       what="a confirmation mail in %s/mail" % devdir)
        first_err = run.stderr()
        check_stopped(run, run.stop(signal.SIGTERM))
        assert all(port_free(p) for p in cports), cports

        run = LocalRun(devdir, port, YOYAKU_LOCAL_REDIS="cluster")
        run.wait_line("ready: ", 300)
        assert "creating the Redis Cluster" in first_err and \
            "creating the Redis Cluster" not in run.stderr(), run.stderr()
        assert [int(p) for p in (devdir / "redis-cluster" / "ports").read_text().split()] == cports
        api = Client("127.0.0.1", port, token)
        r = api.get("/v1/admin/events/demo/bookings", admin=True)
        assert r.status == 200 and [b["id"] for b in r.json["bookings"]] == [booking_id], r
        api.close()
        check_stopped(run, run.stop(signal.SIGINT))
        assert all(port_free(p) for p in cports), cports
        reports = sanitizer_reports(devdir)
        assert not reports, "\n".join(reports)
    finally:
        run.kill()
