"""The deploy recipes (README "Operating yoyaku"), checked with what runs on Debian 12 without a
container engine or systemd as PID 1:

- deploy/systemd: `systemd-analyze verify` and `security --offline` in a --root tree holding the
  binaries as `meson install` lays them out; the hardening each unit must keep; and the services'
  sd_notify side (common/yk_notify.c): READY=1 only once serving, WATCHDOG=1 at half of
  WATCHDOG_USEC, STOPPING=1 at SIGTERM, read from a notify socket this test owns.
- deploy/prometheus: promtool check config / check rules / test rules.
- deploy/grafana and the alerts: every expression parses (promtool) and every metric it names is in
  the real /metrics of a running ingress, worker and notifier.
- deploy/compose: the Compose Specification schema and a Dockerfile linter (npm, offline);
  structure (healthchecks, scalable worker, Redis AOF, non-root image); the
  Dockerfile builds as the README says, from the packages.txt build list, and `meson setup` works
  on exactly the files it copies.
- deploy/k8s: the Kubernetes and KEDA schemas (npm kubernetes-models, offline) and structure
  (probes, non-root, PDBs, KEDA triggers covering every partition)."""

import configparser
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from ykstack import ROOT, binary, build_dir, free_port, own_stack, wait_until

DEPLOY = ROOT / "deploy"
UNITS = ["yoyaku-ingress.service", "yoyaku-worker@01.service", "yoyaku-notifier.service",
         "yoyaku-migrate.service", "yoyaku.target"]
SERVICES = {"yoyaku-ingress.service": "yoyaku-ingress", "yoyaku-worker@.service": "yoyaku-worker",
            "yoyaku-notifier.service": "yoyaku-notifier", "yoyaku-migrate.service": "yoyakuctl"}


def run(argv, **kw):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=300, **kw)


# ---------------------------------------------------------------------------------------------------
# an installed tree: `meson install --destdir` of the build, as the Dockerfile and the README do


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    dest = tmp_path_factory.mktemp("install")
    r = run(["meson", "install", "-C", build_dir(), "--destdir", dest, "--quiet"])
    assert r.returncode == 0, r.stdout + r.stderr
    return dest


def test_meson_install_lays_out_what_the_units_and_image_use(installed):
    for b in ("yoyaku-ingress", "yoyaku-worker", "yoyaku-notifier", "yoyakuctl"):
        assert os.access(installed / "usr/local/bin" / b, os.X_OK), b
    for t in ("confirmation", "reminder", "cancellation"):
        for lang in ("ja", "en"):
            assert (installed / "usr/local/share/yoyaku/templates" / ("%s.%s.txt" % (t, lang))).is_file()
    # what the README's last install line and the Dockerfile copy next to them
    assert (ROOT / "web/index.html").is_file() or any((ROOT / "web").iterdir())
    assert sorted((ROOT / "proto/sql").glob("*.sql"))


# ---------------------------------------------------------------------------------------------------
# systemd units


def unit(name):
    """A unit file as {section: [(key, value)]} (keys repeat in systemd units)."""
    out, sec = {}, None
    for line in (DEPLOY / "systemd" / name).read_text().splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            sec = line.strip("[]")
            out.setdefault(sec, [])
            continue
        k, _, v = line.partition("=")
        out[sec].append((k.strip(), v.strip()))
    return out


def values(u, sec, key):
    return [v for k, v in u.get(sec, []) if k == key]


@pytest.fixture(scope="module")
def sdroot(installed, tmp_path_factory):
    """A --root tree for systemd-analyze: the installed binaries, the host's system units (for
    sysinit.target and friends) and ours in /etc/systemd/system."""
    root = tmp_path_factory.mktemp("sdroot")
    shutil.copytree(installed / "usr", root / "usr", symlinks=True)
    host_units = Path("/usr/lib/systemd/system")
    if not host_units.is_dir():
        host_units = Path("/lib/systemd/system")
    shutil.copytree(host_units, root / "usr/lib/systemd/system", symlinks=True)
    etc = root / "etc/systemd/system"
    etc.mkdir(parents=True)
    for f in (DEPLOY / "systemd").iterdir():
        if f.suffix in (".service", ".target"):
            shutil.copy(f, etc / f.name)
    return root


def analyze_verify(root, units):
    return run(["systemd-analyze", "verify", "--root=%s" % root] + units)


def test_systemd_analyze_verify(sdroot):
    r = analyze_verify(sdroot, UNITS)
    # verify warns (exit 0) about unknown keys, bad values and missing binaries: any output fails
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr


def test_systemd_analyze_verify_reports_breakage(sdroot, tmp_path):
    """The check above sees a typo and a missing binary (so its silence means something)."""
    root = tmp_path / "root"
    shutil.copytree(sdroot, root, symlinks=True)
    p = root / "etc/systemd/system/yoyaku-ingress.service"
    p.write_text(p.read_text().replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"))
    (root / "usr/local/bin/yoyaku-worker").unlink()
    r = analyze_verify(root, ["yoyaku-ingress.service", "yoyaku-worker@01.service"])
    out = r.stdout + r.stderr
    assert "NoNewPrivilege" in out and "yoyaku-worker" in out, out


def test_systemd_units_security_exposure(sdroot):
    """`systemd-analyze security --offline`: every service rates 2.0 or better ("OK")."""
    for u in UNITS[:4]:
        r = run(["systemd-analyze", "security", "--offline=yes", "--root=%s" % sdroot,
                 "--threshold=20", "--no-pager", u])
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
        assert m and r.returncode == 0, (u, r.stdout[-2000:], r.stderr)
        assert float(m.group(1)) <= 2.0, (u, m.group(1))


REQUIRED = {
    "DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
    "PrivateDevices": "yes", "NoNewPrivileges": "yes", "CapabilityBoundingSet": "",
    "MemoryDenyWriteExecute": "yes", "LockPersonality": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_systemd_unit_hardening_and_lifecycle(name):
    u = unit(name)
    svc = dict(u["Service"])
    for k, v in REQUIRED.items():
        assert svc.get(k) == v, (name, k, svc.get(k))
    assert "@system-service" in values(u, "Service", "SystemCallFilter"), name
    assert svc["ExecStart"].split()[0] == "/usr/local/bin/" + SERVICES[name]
    assert values(u, "Service", "EnvironmentFile")[0] == "/etc/yoyaku/yoyaku.env"
    assert u["Unit"] and dict(u["Unit"]).get("PartOf") == "yoyaku.target"
    if name != "yoyaku-migrate.service":
        assert svc["Type"] == "notify" and svc["NotifyAccess"] == "main"
        assert svc["Restart"] == "on-failure" and int(svc["RestartSec"]) > 0
        assert int(svc["WatchdogSec"]) >= 10
        assert dict(u["Install"])["WantedBy"] == "yoyaku.target"


def test_systemd_env_example_names_only_real_settings():
    """Every variable of yoyaku.env.example is one some binary's --help lists."""
    known = set()
    for b in ("yoyaku-ingress", "yoyaku-worker", "yoyaku-notifier", "yoyakuctl"):
        r = run([binary(b), "--help"])
        known |= set(re.findall(r"YOYAKU_[A-Z_]+", r.stdout + r.stderr))
    assert "YOYAKU_PG" in known
    text = (DEPLOY / "systemd/yoyaku.env.example").read_text()
    names = re.findall(r"^(YOYAKU_[A-Z_]+)=", text, re.M)
    assert names and set(names) <= known, set(names) - known
    # the per-process settings the units set themselves (an EnvironmentFile= value would win)
    per_unit = {v.split("=")[0] for name in SERVICES for k, v in unit(name)["Service"] if k == "Environment"}
    assert {"YOYAKU_METRICS_LISTEN", "YOYAKU_WEB_DIR", "YOYAKU_SQL_DIR"} <= per_unit
    assert not per_unit & set(names), per_unit & set(names)
    for name in SERVICES:
        for k, v in unit(name)["Service"]:
            if k == "Environment":
                assert v.split("=")[0] in known, (name, v)


# ---------------------------------------------------------------------------------------------------
# sd_notify: READY / WATCHDOG / STOPPING from the real services


@pytest.fixture(scope="module")
def stack():
    yield from own_stack(n_workers=1)


class NotifySocket:
    """A unix datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="yk-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []   # (monotonic time, {key: value})

    def read(self, timeout):
        """Messages received within timeout seconds (as many as arrive)."""
        end = time.monotonic() + timeout
        got = []
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return got
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                return got
            kv = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            self.messages.append((time.monotonic(), kv))
            got.append(kv)

    def wait_for(self, key, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for kv in self.read(min(0.2, max(0.01, end - time.monotonic()))):
                if key in kv:
                    return kv
        raise AssertionError("no %s within %s s; got %r" % (key, timeout, self.messages))

    def keys(self):
        return [k for _, kv in self.messages for k in kv if k != "STATUS"]

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def notify():
    n = NotifySocket()
    yield n
    n.close()


def service_env(stack, name, notify, watchdog_usec=None):
    """(argv, env, health url) of one more ingress / worker / notifier of the stack."""
    if name == "notifier":
        env = stack.notifier_env()
        port = int(env["YOYAKU_METRICS_LISTEN"].rsplit(":", 1)[1])
        argv, path = [binary("yoyaku-notifier")], "/readyz"
    elif name == "worker":
        port = free_port()
        env = dict(stack.env, YOYAKU_METRICS_LISTEN="127.0.0.1:%d" % port,
                   YOYAKU_WORKER_ID="notify-worker", YOYAKU_REBALANCE_MS="500")
        argv, path = [binary("yoyaku-worker")], "/healthz"
    else:
        port = free_port()
        env = dict(stack.env, YOYAKU_LISTEN="127.0.0.1:%d" % port, YOYAKU_INGRESS_ID="notify-ingress")
        argv, path = [binary("yoyaku-ingress")], "/readyz"
    env["NOTIFY_SOCKET"] = notify.path
    env.pop("WATCHDOG_PID", None)     # unset: the watchdog applies to whichever pid reads it
    if watchdog_usec is not None:
        env["WATCHDOG_USEC"] = str(watchdog_usec)
    else:
        env.pop("WATCHDOG_USEC", None)
    return argv, env, "http://127.0.0.1:%d%s" % (port, path)


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


@pytest.mark.parametrize("name", ["ingress", "worker", "notifier"])
def test_sd_notify_ready_watchdog_stopping(stack, notify, name):
    argv, env, url = service_env(stack, name, notify, watchdog_usec=1000000)
    p = stack._spawn("notify-" + name, argv, env)
    try:
        ready = notify.wait_for("READY", 30)
        assert ready["READY"] == "1"
        # READY means serving: the health URL (readiness where there is one) answers 200 now
        assert http_status(url) == 200, url
        # WATCHDOG_USEC=1 s: a ping at least every half second (the worker's from its main loop)
        t0 = time.monotonic()
        notify.read(2.2)
        pings = [t for t, kv in notify.messages if kv.get("WATCHDOG") == "1" and t >= t0]
        assert len(pings) >= 3, notify.messages
        assert p.alive()
        p.signal(signal.SIGTERM)
        stopping = notify.wait_for("STOPPING", 15)
        assert stopping["STOPPING"] == "1"
        assert p.popen.wait(30) == 0, p.log_text()[-3000:]
        keys = notify.keys()
        assert keys.index("READY") < keys.index("STOPPING")
        assert keys.count("READY") == 1 and keys.count("STOPPING") == 1
        # no watchdog ping after STOPPING (systemd no longer expects one)
        assert "WATCHDOG" not in keys[keys.index("STOPPING"):]
    finally:
        p.stop()


def test_sd_notify_no_watchdog_unless_asked(stack, notify):
    """Without WATCHDOG_USEC nothing but READY and STOPPING is sent."""
    argv, env, _ = service_env(stack, "ingress", notify)
    p = stack._spawn("notify-ingress-nowd", argv, env)
    try:
        notify.wait_for("READY", 30)
        notify.read(1.0)
        p.signal(signal.SIGTERM)
        notify.wait_for("STOPPING", 15)
        assert p.popen.wait(30) == 0
        assert notify.keys() == ["READY", "STOPPING"], notify.messages
    finally:
        p.stop()


@pytest.mark.parametrize("name", ["ingress", "worker", "notifier"])
def test_sd_notify_not_ready_while_postgresql_is_unreachable(stack, notify, name):
    """A service whose PostgreSQL does not answer never says READY (systemd would time the start
    out and restart it), yet still stops cleanly with STOPPING=1 and exit 0."""
    argv, env, _ = service_env(stack, name, notify, watchdog_usec=2000000)
    env["YOYAKU_PG"] = "host=127.0.0.1 port=%d dbname=yoyaku connect_timeout=1" % free_port()
    p = stack._spawn("notify-nopg-" + name, argv, env)
    try:
        notify.read(3.0)
        assert "READY" not in notify.keys(), notify.messages
        assert p.alive(), p.log_text()[-2000:]
        # still alive and not hung: the watchdog keeps being fed while it waits for its stores
        assert "WATCHDOG" in notify.keys(), notify.messages
        p.signal(signal.SIGTERM)
        notify.wait_for("STOPPING", 15)
        assert p.popen.wait(30) == 0, p.log_text()[-3000:]
        assert "READY" not in notify.keys()
    finally:
        p.stop()


# ---------------------------------------------------------------------------------------------------
# Prometheus and Grafana


def promtool(*args, cwd=DEPLOY / "prometheus"):
    if not shutil.which("promtool"):
        pytest.fail("promtool is missing (Debian package prometheus, in deploy/local/packages.txt)")
    return run(["promtool"] + list(args), cwd=cwd)


def test_promtool_check_config():
    r = promtool("check", "config", "prometheus.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    cfg = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    jobs = {j["job_name"] for j in cfg["scrape_configs"]}
    assert jobs == {"yoyaku-ingress", "yoyaku-worker", "yoyaku-notifier"}


def test_promtool_check_and_test_rules():
    r = promtool("check", "rules", "alerts.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    r = promtool("test", "rules", "alerts_test.yml")
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr
    names = {r["alert"] for g in yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())["groups"]
             for r in g["rules"]}
    assert {"YoyakuOldestPendingTooOld", "YoyakuDeadMail", "YoyakuPartitionWithoutOwner",
            "YoyakuHigh5xxRate", "YoyakuIngressDown"} <= names
    # every alert is exercised by the unit tests
    tested = set(re.findall(r"alertname: (\w+)", (DEPLOY / "prometheus/alerts_test.yml").read_text()))
    assert names <= tested, names - tested


def test_promtool_test_rules_catches_a_wrong_threshold(tmp_path):
    """The rule tests fail when an alert changes (so their SUCCESS means something)."""
    for f in ("alerts.yml", "alerts_test.yml"):
        shutil.copy(DEPLOY / "prometheus" / f, tmp_path / f)
    p = tmp_path / "alerts.yml"
    p.write_text(p.read_text().replace("yoyaku_queue_oldest_pending_age_seconds) > 10",
                                       "yoyaku_queue_oldest_pending_age_seconds) > 1000"))
    r = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert r.returncode != 0 and "YoyakuOldestPendingTooOld" in r.stdout + r.stderr


def dashboard():
    return json.loads((DEPLOY / "grafana/yoyaku.json").read_text())


def dashboard_exprs():
    out = []
    for p in dashboard()["panels"]:
        for t in p.get("targets", []):
            out.append((p["title"], t["expr"]))
    return out


def alert_exprs():
    doc = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())
    return [(r["alert"], r["expr"]) for g in doc["groups"] for r in g["rules"]]


def test_grafana_dashboard_structure():
    d = dashboard()
    assert d["uid"] == "yoyaku" and d["title"]
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    titles = " ".join(p["title"] for p in d["panels"]).lower()
    for want in ("lag", "pending", "accepted", "refused", "p99", "seats", "mail"):
        assert want in titles, want
    for p in d["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24 and g["h"] > 0
        if p["type"] != "row":
            assert p["targets"] and p["datasource"]["uid"] == "${datasource}"
    assert any(v["type"] == "datasource" and v["name"] == "datasource"
               for v in d["templating"]["list"])


def test_grafana_expressions_parse(tmp_path):
    """Every dashboard expression is valid PromQL: promtool checks them as recording rules."""
    rules = [{"record": "yoyaku:dashboard:%d" % i, "expr": e}
             for i, (_, e) in enumerate(dashboard_exprs())]
    (tmp_path / "dash.yml").write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": rules}]}))
    r = promtool("check", "rules", "dash.yml", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


def scrape(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def exported_names(text):
    """Metric names a /metrics text exports: its samples, and for each histogram family its
    _bucket/_sum/_count (a family may have no sample yet)."""
    names = set()
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            names.add(m.group(1))
            if m.group(2) == "histogram":
                names |= {m.group(1) + s for s in ("_bucket", "_sum", "_count")}
        elif line and not line.startswith("#"):
            names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return names


PROMQL_WORDS = {"sum", "max", "min", "avg", "count", "rate", "increase", "irate", "by", "without",
                "histogram_quantile", "absent", "vector", "or", "and", "unless", "on", "ignoring",
                "le", "humanizeDuration", "topk", "bottomk", "clamp_min", "offset"}


def metric_names(expr):
    """The metric names an expression selects: identifiers not inside {…} or a by (…) clause."""
    expr = re.sub(r"\{[^}]*\}", "{}", expr)
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r'"[^"]*"', "", expr)
    words = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", expr))
    return {w for w in words if w not in PROMQL_WORDS and not re.fullmatch(r"[0-9e]+", w)}


def test_every_metric_of_the_alerts_and_dashboard_is_exported(stack):
    """The expressions name only metrics that the running services really export."""
    worker = stack.live_workers()[0]
    nport = int(stack.notifier.env["YOYAKU_METRICS_LISTEN"].rsplit(":", 1)[1])
    texts = {"ingress": scrape("http://127.0.0.1:%d/metrics" % stack.http_port),
             "worker": scrape("http://127.0.0.1:%d/metrics" % worker.metrics_port),
             "notifier": scrape("http://127.0.0.1:%d/metrics" % nport)}
    exported = {"up"}   # Prometheus's own, per target
    for t in texts.values():
        exported |= exported_names(t)
    used = {}
    for where, e in dashboard_exprs() + alert_exprs():
        for n in metric_names(e):
            used.setdefault(n, where)
    assert used, "no metric names found"
    missing = {n: w for n, w in used.items() if n not in exported}
    assert not missing, "named but not exported: %r" % missing
    # and the jobs the expressions filter on are the scrape config's
    jobs = {j["job_name"] for j in yaml.safe_load(
        (DEPLOY / "prometheus/prometheus.yml").read_text())["scrape_configs"]}
    for where, e in dashboard_exprs() + alert_exprs():
        for j in re.findall(r'job="([^"]+)"', e):
            assert j in jobs, (where, j)
    # the owners gauge the partition alert relies on is the worker's
    assert "yoyaku_worker_partitions_owned" in exported_names(texts["worker"])
    assert "yoyaku_stream_length" in exported_names(texts["ingress"])


def test_metric_name_extraction():
    assert metric_names('histogram_quantile(0.99, sum by (le, route) (rate(yoyaku_x_bucket{route!~"a|b"}[1m])))') \
        == {"yoyaku_x_bucket"}
    assert metric_names("count(count by (partition) (a_b)) - (sum(c_d) or vector(0)) > 0") == {"a_b", "c_d"}


def npm_validator(v):
    """A validator directory with its npm packages installed (npm ci from its lock when missing or
    older than the lock)."""
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.fail("node and npm are needed (Debian nodejs; tests/browser/run installs npm)")
    stamp = v / "node_modules/.package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < (v / "package-lock.json").stat().st_mtime:
        r = run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=v)
        assert r.returncode == 0, r.stdout + r.stderr
    return v


# ---------------------------------------------------------------------------------------------------
# containers


def compose():
    return yaml.safe_load((DEPLOY / "compose/compose.yaml").read_text())


def test_compose_structure():
    c = compose()
    s = c["services"]
    assert {"redis", "postgres", "migrate", "ingress", "worker", "notifier"} <= set(s)
    for name in ("migrate", "ingress", "worker", "notifier"):
        svc = s[name]
        assert svc["build"]["dockerfile"] == "deploy/compose/Dockerfile"
        assert (DEPLOY / "compose" / svc["build"]["context"] / svc["build"]["dockerfile"]).resolve() \
            == (DEPLOY / "compose/Dockerfile").resolve()
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in svc["security_opt"]
        assert svc["environment"]["YOYAKU_REDIS"] == "redis:6379"
        assert "user=yoyaku" in svc["environment"]["YOYAKU_PG"]
    for name, port in (("ingress", 8080), ("worker", 9100), ("notifier", 9103)):
        hc = s[name]["healthcheck"]["test"]
        assert hc[-1] == "http://127.0.0.1:%d/healthz" % port, (name, hc)
        listen = s[name]["environment"].get("YOYAKU_LISTEN" if name == "ingress" else "YOYAKU_METRICS_LISTEN")
        assert listen == "0.0.0.0:%d" % port, name
        assert s[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # the worker can be --scale'd: no fixed name, no published port
    assert "container_name" not in s["worker"] and "ports" not in s["worker"]
    assert s["migrate"]["command"] == ["yoyakuctl", "migrate"] and s["migrate"]["restart"] == "no"
    # Redis: the shipped config (appendonly yes) on a volume; PostgreSQL synchronous_commit=on
    r = s["redis"]
    mount = [v for v in r["volumes"] if v.endswith(":/usr/local/etc/redis/redis.conf:ro")][0]
    conf = (DEPLOY / "compose" / mount.split(":")[0]).read_text()
    assert re.search(r"^appendonly yes$", conf, re.M)
    assert r["command"][1] == "/usr/local/etc/redis/redis.conf"
    assert any(v.startswith("redis-data:") for v in r["volumes"]) and "redis-data" in c["volumes"]
    assert "synchronous_commit=on" in s["postgres"]["command"]
    assert s["redis"]["healthcheck"] and s["postgres"]["healthcheck"]


def test_compose_schema_and_dockerfile_lint():
    """compose.yaml against the Compose Specification schema (unknown keys are errors) and the
    Dockerfile through dockerfile-utils' validator, offline (npm, deploy/compose/validate); and both
    checks do refuse a typo."""
    v = npm_validator(DEPLOY / "compose/validate")
    good = {"compose": compose(), "dockerfile": dockerfile()}
    r = run(["node", v / "validate.mjs"], input=json.dumps(good), cwd=v)
    assert r.returncode == 0 and "compose ok" in r.stdout and "dockerfile ok" in r.stdout, \
        r.stdout + r.stderr
    bad = json.loads(json.dumps(good))
    bad["compose"]["services"]["worker"]["helthcheck"] = bad["compose"]["services"]["worker"].pop("healthcheck")
    bad["dockerfile"] = bad["dockerfile"].replace("\nUSER ", "\nUSR ")
    r = run(["node", v / "validate.mjs"], input=json.dumps(bad), cwd=v)
    assert r.returncode == 1 and "helthcheck" in r.stdout and "Unknown instruction: USR" in r.stdout, r.stdout


def dockerfile():
    return (DEPLOY / "compose/Dockerfile").read_text()


def dockerfile_runs():
    """The RUN commands of the Dockerfile, continuation lines joined, split at &&."""
    text = re.sub(r"\\\n", " ", dockerfile())
    cmds = []
    for line in text.splitlines():
        if line.startswith("RUN "):
            cmds += [" ".join(c.split()) for c in line[4:].split("&&")]
    return cmds


def readme_install_steps():
    text = (ROOT / "README.md").read_text()
    m = re.search(r"### Installing from source.*?```sh\n(.*?)```", text, re.S)
    assert m, "README has no 'Installing from source' block"
    return [" ".join(c.split()) for l in m.group(1).splitlines() for c in l.split("&&") if c.strip()]


def test_dockerfile_build_steps_are_the_readmes():
    steps = readme_install_steps()
    builds = [s for s in steps if s.startswith(("meson ", "ninja "))]
    assert [b.split()[:2] for b in builds] == [["meson", "setup"], ["ninja", "-C"], ["meson", "install"]]
    runs = dockerfile_runs()
    for b in builds:
        assert any(r == b or r.startswith(b + " ") for r in runs), (b, runs)
    # the README's data copy: web and proto/sql end up in /usr/local/share/yoyaku in both
    assert "cp -r web proto/sql /usr/local/share/yoyaku/" in steps
    assert "cp -r web /staging/usr/local/share/yoyaku/web" in runs
    assert "cp -r proto/sql /staging/usr/local/share/yoyaku/sql" in runs
    # and the README's Binaries section builds the same way
    assert "meson setup build" in (ROOT / "README.md").read_text()


def packages_section(title):
    text = (DEPLOY / "local/packages.txt").read_text()
    out, on = [], False
    for line in text.splitlines():
        if line.startswith("#"):
            on = line.startswith("# " + title)
            continue
        if on:
            out += line.split("#")[0].split()
    return out


def test_dockerfile_packages_are_the_build_list():
    build = packages_section("build")
    assert "meson" in build and "libsystemd-dev" in build
    first_stage = dockerfile().split("\nFROM ", 2)[1]
    m = re.search(r"apt-get install -y --no-install-recommends\s*\\\n(.*?)&&", first_stage, re.S)
    listed = m.group(1).replace("\\", " ").split()
    # libcmocka-dev: meson configures the unit tests, which need it
    assert sorted(listed) == sorted(build + ["libcmocka-dev"]), (listed, build)


def test_dockerfile_runs_as_non_root_with_healthcheck():
    d = dockerfile()
    stages = d.split("\nFROM ")
    final = stages[-1]
    user = re.findall(r"^USER (\S+)", final, re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert "debian:12" in stages[0] + stages[1] and final.startswith("debian:12")
    assert re.search(r"^HEALTHCHECK .*\n?.*curl -fsS \"http://127.0.0.1:\$\{YK_HEALTH_PORT\}/healthz\"", final, re.M)
    for var in ("YOYAKU_WEB_DIR", "YOYAKU_TEMPLATE_DIR", "YOYAKU_SQL_DIR"):
        assert var + "=/usr/local/share/yoyaku/" in final


def test_dockerfile_copies_enough_to_configure(tmp_path):
    """`meson setup` succeeds on exactly the files the Dockerfile COPYs into /src."""
    ctx = tmp_path / "src"
    ctx.mkdir()
    for line in dockerfile().splitlines():
        m = re.match(r"COPY (?!--from)(.+) (\S+)$", line)
        if not m:
            continue
        for src in m.group(1).split():
            s = ROOT / src
            dst = ctx / (src if m.group(2) in (".", "./") else m.group(2))
            if s.is_dir():
                shutil.copytree(s, dst, ignore=shutil.ignore_patterns("node_modules", "__pycache__"))
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(s, dst)
    r = run(["meson", "setup", tmp_path / "b", "--prefix=/usr/local", "--buildtype=release"], cwd=ctx)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr


# ---------------------------------------------------------------------------------------------------
# Kubernetes


K8S = DEPLOY / "k8s"


def k8s_objects():
    out = []
    for f in sorted(K8S.glob("*.yaml")):
        if f.name == "kustomization.yaml":
            continue
        for d in yaml.safe_load_all(f.read_text()):
            if d:
                out.append((f.name, d))
    return out


def by_kind(kind):
    return {d["metadata"]["name"]: d for _, d in k8s_objects() if d["kind"] == kind}


def test_k8s_schemas():
    """Every object against the Kubernetes / KEDA OpenAPI schemas of the npm packages
    kubernetes-models and @kubernetes-models/keda (offline; installed by npm ci from the lock)."""
    v = npm_validator(K8S / "validate")
    docs = [{"file": f, "object": d} for f, d in k8s_objects()]
    r = run(["node", v / "validate.mjs"], input=json.dumps(docs), cwd=v)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("\nok ") + r.stdout.startswith("ok ") == len(docs)
    # and it does refuse a wrong type
    bad = json.loads(json.dumps(docs))
    dep = [d for d in bad if d["object"]["kind"] == "Deployment"][0]["object"]
    dep["spec"]["replicas"] = "two"
    r = run(["node", v / "validate.mjs"], input=json.dumps(bad), cwd=v)
    assert r.returncode == 1 and "replicas must be integer" in r.stdout, r.stdout


def test_k8s_kustomization_lists_every_manifest():
    k = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {f.name for f in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(k["resources"]) == files


def test_k8s_deployments_probes_and_security():
    deps = by_kind("Deployment")
    assert set(deps) == {"yoyaku-ingress", "yoyaku-worker", "yoyaku-notifier"}
    want = {"yoyaku-ingress": ("yoyaku-ingress", "YOYAKU_LISTEN", 8080, "/readyz"),
            "yoyaku-worker": ("yoyaku-worker", "YOYAKU_METRICS_LISTEN", 9100, "/healthz"),
            "yoyaku-notifier": ("yoyaku-notifier", "YOYAKU_METRICS_LISTEN", 9103, "/readyz")}
    for name, d in deps.items():
        cmd, var, port, ready = want[name]
        spec = d["spec"]
        assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        (c,) = pod["containers"]
        assert c["command"] == [cmd]
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        env = {e["name"]: e["value"] for e in c.get("env", [])}
        assert env[var] == "0.0.0.0:%d" % port
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", ready),
                            ("startupProbe", "/healthz")):
            g = c[probe]["httpGet"]
            assert g["path"] == path, (name, probe)
            assert ports[g["port"]] == port, (name, probe)
        assert {"configMapRef": {"name": "yoyaku-config"}} in c["envFrom"]
        assert {"secretRef": {"name": "yoyaku-secret"}} in c["envFrom"]
        assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]


def test_k8s_pdbs_service_config():
    deps = by_kind("Deployment")
    pdbs = by_kind("PodDisruptionBudget")
    assert set(pdbs) == set(deps)
    for name, p in pdbs.items():
        assert p["spec"]["selector"]["matchLabels"] == deps[name]["spec"]["selector"]["matchLabels"]
        assert 1 <= p["spec"]["minAvailable"] < deps[name]["spec"]["replicas"], name
    (svc,) = by_kind("Service").values()
    ing = deps["yoyaku-ingress"]
    assert svc["spec"]["selector"] == ing["spec"]["selector"]["matchLabels"]
    names = {p["name"] for p in ing["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert {p["targetPort"] for p in svc["spec"]["ports"]} <= names
    cm = by_kind("ConfigMap")["yoyaku-config"]["data"]
    secret = by_kind("Secret")["yoyaku-secret"]["stringData"]
    assert "YOYAKU_PARTITIONS" in cm and "YOYAKU_REDIS" in cm
    assert {"YOYAKU_PG", "YOYAKU_TOKEN_KEY"} <= set(secret)
    assert not set(cm) & set(secret)
    assert re.fullmatch(r"[0-9a-f]{64}", secret["YOYAKU_TOKEN_KEY"])
    (job,) = by_kind("Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["yoyakuctl", "migrate"]
    assert job["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_k8s_keda_scales_workers_on_every_partition_stream():
    (so,) = by_kind("ScaledObject").values()
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    assert so["spec"]["scaleTargetRef"]["name"] == "yoyaku-worker"
    partitions = int(by_kind("ConfigMap")["yoyaku-config"]["data"]["YOYAKU_PARTITIONS"])
    assert 1 <= so["spec"]["minReplicaCount"] <= so["spec"]["maxReplicaCount"] <= partitions
    # the stream and group names of proto/streams.md
    streams_md = (ROOT / "proto/streams.md").read_text()
    assert "Consumer group `workers`" in streams_md and "yk:req:{p}" in streams_md
    trig = so["spec"]["triggers"]
    assert {t["type"] for t in trig} == {"redis-streams"}
    assert sorted(t["metadata"]["stream"] for t in trig) == sorted("yk:req:{%d}" % p for p in range(partitions))
    redis = by_kind("ConfigMap")["yoyaku-config"]["data"]["YOYAKU_REDIS"]
    for t in trig:
        m = t["metadata"]
        assert m["consumerGroup"] == "workers" and m["address"] == redis
        assert int(m["lagCount"]) > 0 or int(m.get("pendingEntriesCount", 0)) > 0


# ---------------------------------------------------------------------------------------------------
# README


def test_readme_operating_section():
    text = (ROOT / "README.md").read_text()
    m = re.search(r"^## Operating yoyaku\n(.*?)(?=^## )", text, re.S | re.M)
    assert m
    sec = m.group(1)
    for want in ("deploy/systemd/", "deploy/prometheus/", "deploy/grafana/yoyaku.json",
                 "deploy/compose/", "deploy/k8s/", "appendonly yes", "appendfsync everysec",
                 "appendfsync always", "synchronous_commit", "pg_dump", "pg_restore", "AOF",
                 "--scale worker", "yoyaku-worker@03.service"):
        assert want in sec, want
    for alert, _ in alert_exprs():
        assert alert in sec, alert
    assert "What was validated here, and what was not" in sec
