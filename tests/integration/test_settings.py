"""The settings several services share (issue 9, finding 6): every binary that reads one refuses the
same bad values at startup with the same message and exit code 2, accepts the same good values with
the same meaning, and documents it identically in --help. Starts the real binaries (no stack): each
is given unreachable stores unless a test starts its own Redis."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import ykstack
from ykstack import binary, free_port, port_free, wait_until

INGRESS, WORKER, NOTIFIER, CTL = "yoyaku-ingress", "yoyaku-worker", "yoyaku-notifier", "yoyakuctl"

# Who reads what: README's "used by" column.
USERS = {
    "YOYAKU_LOG_LEVEL": (INGRESS, WORKER, NOTIFIER, CTL),
    "YOYAKU_PG": (INGRESS, WORKER, NOTIFIER, CTL),
    "YOYAKU_REDIS": (INGRESS, WORKER, CTL),          # yoyakuctl: status, event import
    "YOYAKU_PARTITIONS": (INGRESS, WORKER, CTL),
    "YOYAKU_PUBLIC_URL": (INGRESS, NOTIFIER),
    "YOYAKU_RESULT_TTL": (INGRESS, WORKER),
    "YOYAKU_TOKEN_KEY": (INGRESS, WORKER, NOTIFIER, CTL),  # yoyakuctl: roster import
}
SERVERS = (INGRESS, WORKER, NOTIFIER)


@pytest.fixture(scope="module")
def tmp():
    d = Path(tempfile.mkdtemp(prefix="yoyaku-settings-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def base_env(tmp, **over):
    env = {k: v for k, v in os.environ.items() if not k.startswith("YOYAKU_")}
    env.update({
        # Nothing listens there: a service that accepted its settings keeps running and retrying.
        "YOYAKU_PG": "host=%s/nopg dbname=yoyaku connect_timeout=1" % tmp,
        "YOYAKU_REDIS": "127.0.0.1:%d" % free_port(),
        "YOYAKU_LISTEN": "127.0.0.1:%d" % free_port(),
        "YOYAKU_METRICS_LISTEN": "",
        "YOYAKU_SMTP_URL": "smtp://127.0.0.1:%d" % free_port(),
        "YOYAKU_LOG_LEVEL": "info",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=0",
    })
    env.update(over)
    return env


def run_to_exit(name, env, timeout=10):
    """Starts name (yoyakuctl without a command: its settings are read first) and returns its exit
    status and its last output line without the "<program>: " prefix, or (None, output) when it
    is still running after timeout."""
    p = subprocess.Popen([str(binary(name))], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        return None, out.decode("utf-8", "replace")
    lines = [l for l in out.decode("utf-8", "replace").splitlines() if l.strip()]
    last = lines[-1] if lines else ""
    prefix = str(binary(name)) + ": "
    return p.returncode, last[len(prefix):] if last.startswith(prefix) else last


def stays_up(names, env, tmp, seconds=1.5):
    """Starts the services names side by side, checks each is still running after seconds, stops
    them."""
    procs = [ykstack.Proc(n, [binary(n)], tmp / ("%s-%d.log" % (n, time.monotonic_ns())), env=env)
             for n in names]
    try:
        time.sleep(seconds)
        for p in procs:
            assert p.alive(), "%s exited (status %s) with settings it should accept:\n%s" % (
                p.name, p.popen.poll(), p.log_text()[-2000:])
    finally:
        for p in procs:
            p.stop(timeout=10)


BAD = [
    ("YOYAKU_PARTITIONS", "2000"),
    ("YOYAKU_PARTITIONS", "0"),
    ("YOYAKU_PARTITIONS", "16x"),
    ("YOYAKU_RESULT_TTL", "59"),
    ("YOYAKU_RESULT_TTL", "2592001"),
    ("YOYAKU_RESULT_TTL", "1d"),
    ("YOYAKU_REDIS", "6379x"),
    ("YOYAKU_REDIS", "6379"),
    ("YOYAKU_REDIS", "localhost:6379x"),
    ("YOYAKU_REDIS", "localhost:0"),
    ("YOYAKU_REDIS", "localhost:65536"),
    ("YOYAKU_REDIS", "localhost:"),
    ("YOYAKU_REDIS", ":6379"),
    ("YOYAKU_REDIS", "::1"),
    ("YOYAKU_REDIS", "[::1"),
    ("YOYAKU_REDIS", "[::1]x"),
    ("YOYAKU_REDIS", "[localhost]:6379"),
    ("YOYAKU_REDIS", "redis host:6379"),
    ("YOYAKU_REDIS", "h" * 300 + ":6379"),
    ("YOYAKU_REDIS", "/" + "s" * 120),
    ("YOYAKU_REDIS", "redis-cluster://"),
    ("YOYAKU_REDIS", "redis-cluster://127.0.0.1:0"),
    ("YOYAKU_REDIS", "redis-cluster://127.0.0.1:7000,"),
    ("YOYAKU_REDIS", "redis-cluster:///tmp/redis.sock"),
    ("YOYAKU_LOG_LEVEL", "verbose"),
    ("YOYAKU_TOKEN_KEY", "abc"),
    ("YOYAKU_TOKEN_KEY", "zz" * 32),
    ("YOYAKU_PUBLIC_URL", "127.0.0.1:8080"),
    ("YOYAKU_PUBLIC_URL", "https://x y"),
]


@pytest.mark.parametrize("var,value", BAD, ids=["%s=%s" % (v, x[:20]) for v, x in BAD])
def test_every_service_refuses_alike(tmp, var, value):
    seen = {}
    for name in USERS[var]:
        seen[name] = run_to_exit(name, base_env(tmp, **{var: value}))
    statuses = {s for s, _ in seen.values()}
    messages = {m for _, m in seen.values()}
    assert statuses == {2} and len(messages) == 1, "services disagree on %s=%s:\n%s" % (
        var, value, "\n".join("  %s: exit %s, %r" % (n, s, m) for n, (s, m) in seen.items()))
    msg = messages.pop()
    assert msg.startswith(var), msg
    if var == "YOYAKU_TOKEN_KEY":
        assert value not in msg, "a secret is echoed: " + msg


GOOD = [
    ("YOYAKU_PARTITIONS", "1"),
    ("YOYAKU_PARTITIONS", "1024"),
    ("YOYAKU_RESULT_TTL", "60"),
    ("YOYAKU_RESULT_TTL", "2592000"),
    ("YOYAKU_LOG_LEVEL", "debug"),
    ("YOYAKU_LOG_LEVEL", "error"),
    ("YOYAKU_TOKEN_KEY", ""),
    ("YOYAKU_TOKEN_KEY", "Ab" * 32),
    ("YOYAKU_REDIS", "localhost"),
    ("YOYAKU_REDIS", "redis.example.invalid:6380"),
    ("YOYAKU_REDIS", "redis-cluster://127.0.0.1:7000,[::1]:7001,redis.example.invalid"),
]


@pytest.mark.parametrize("var,value", GOOD, ids=["%s=%s" % (v, x[:20]) for v, x in GOOD])
def test_every_service_accepts_alike(tmp, var, value):
    env = base_env(tmp, **{var: value})
    if CTL in USERS[var]:  # a command-line tool: --config reads the settings and exits
        r = subprocess.run([str(binary(CTL)), "--config"], env=env, capture_output=True, text=True,
                           timeout=10)
        assert r.returncode == 0, r.stderr
    stays_up([n for n in USERS[var] if n != CTL], env, tmp)


def start_redis(tmp, port, sock):
    rdir = tmp / ("redis-%d" % port)
    rdir.mkdir()
    p = ykstack.Proc("redis", ["redis-server", "--port", port, "--bind", "127.0.0.1 ::1",
                               "--unixsocket", sock, "--dir", rdir, "--protected-mode", "no",
                               "--save", "", "--appendonly", "no"], tmp / ("redis-%d.log" % port))
    r = ykstack.Redis(port)
    wait_until(lambda: _ping(r), 20, what="redis")
    return p


def _ping(r):
    try:
        return r("PING") == "PONG"
    except (OSError, ykstack.RedisError):
        return False


def connects(name, env, tmp):
    """Starts name and waits until it logs that Redis is connected."""
    log = tmp / ("%s-%d.log" % (name, time.monotonic_ns()))
    p = ykstack.Proc(name, [binary(name)], log, env=env)
    try:
        wait_until(lambda: "redis connected" in p.log_text() or not p.alive(), 10,
                   what="%s to connect to Redis" % name)
        assert p.alive() and "redis connected" in p.log_text(), "%s did not connect (%s):\n%s" % (
            name, env["YOYAKU_REDIS"], p.log_text()[-2000:])
    finally:
        p.stop(timeout=10)


@pytest.mark.parametrize("form", ["host:port", "localhost:port", "[v6]:port", "unix socket"])
def test_every_redis_address_form_means_the_same_server(tmp, form):
    port = free_port()
    sock = tmp / ("redis-%d.sock" % port)
    redis = start_redis(tmp, port, sock)
    try:
        addr = {"host:port": "127.0.0.1:%d" % port, "localhost:port": "localhost:%d" % port,
                "[v6]:port": "[::1]:%d" % port, "unix socket": str(sock)}[form]
        for name in set(USERS["YOYAKU_REDIS"]) & set(SERVERS):
            connects(name, base_env(tmp, YOYAKU_REDIS=addr), tmp)
    finally:
        redis.stop()


def test_host_without_port_means_6379(tmp):
    if not port_free(6379):
        pytest.skip("something listens on 127.0.0.1:6379")
    sock = tmp / "redis-6379.sock"
    redis = start_redis(tmp, 6379, sock)
    try:
        for name in set(USERS["YOYAKU_REDIS"]) & set(SERVERS):
            connects(name, base_env(tmp, YOYAKU_REDIS="localhost"), tmp)
    finally:
        redis.stop()


def help_lines(name):
    r = subprocess.run([str(binary(name)), "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    lines = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s+(YOYAKU_[A-Z0-9_]+)\s", line)
        if m:
            lines[m.group(1)] = line.strip()
    return lines


def test_help_documents_shared_settings_identically():
    helps = {name: help_lines(name) for name in SERVERS + (CTL,)}
    for var, users in USERS.items():
        shown = {name: helps[name].get(var) for name in users}
        assert None not in shown.values(), "%s missing from --help of %s" % (
            var, [n for n, l in shown.items() if l is None])
        assert len(set(shown.values())) == 1, "%s documented differently:\n%s" % (
            var, "\n".join("  %s: %s" % kv for kv in shown.items()))
        for name in set(helps) - set(users):
            assert var not in helps[name], "%s lists %s, which it does not read" % (name, var)


def test_ids_are_host_dash_pid(tmp):
    """The ingress and the worker name themselves <host>-<pid> by default, with one helper."""
    host = os.uname().nodename
    for name, pattern in ((INGRESS, r"id=(\S+)"), (WORKER, r"id=(\S+)")):
        log = tmp / ("%s-id.log" % name)
        p = ykstack.Proc(name, [binary(name)], log, env=base_env(tmp))
        try:
            wait_until(lambda: re.search(pattern, p.log_text()) or not p.alive(), 10,
                       what="%s to log its id" % name)
            m = re.search(pattern, p.log_text())
            assert m, p.log_text()
            assert m.group(1) == "%s-%d" % (host, p.pid), (name, m.group(1))
        finally:
            p.stop(timeout=10)
