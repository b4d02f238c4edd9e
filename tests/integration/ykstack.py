"""A throwaway yoyaku stack for the integration tests: real Redis, PostgreSQL 15, an SMTP sink and the
built binaries, each on a free port in one temporary directory; plus the small clients the tests use
(HTTP over http.client, Redis over RESP, PostgreSQL through psql)."""

import concurrent.futures
import contextlib
import datetime
import email as email_pkg
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from email import policy as email_policy
from pathlib import Path

JST = datetime.timezone(datetime.timedelta(hours=9))
ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PYTHON = "/usr/bin/python3"
PARTITIONS = int(os.environ.get("YOYAKU_TEST_PARTITIONS", "16"))
ADVISORY_CLASS = 31601  # proto/streams.md: pg_try_advisory_lock(31601, p)
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")


def slot_time(day_offset, hour, minute=0):
    d = datetime.datetime.now(JST).date() + datetime.timedelta(days=day_offset)
    return datetime.datetime(d.year, d.month, d.day, hour, minute, tzinfo=JST)


def rfc3339(dt):
    return dt.isoformat(timespec="seconds")


def build_dir():
    b = Path(os.environ.get("YOYAKU_BUILD_DIR", "build"))
    return b if b.is_absolute() else ROOT / b


def binary(name):
    sub = {"yoyaku-ingress": "ingress", "yoyaku-worker": "worker", "yoyakuctl": "ctl",
           "yoyaku-notifier": "notifier"}[name]
    return build_dir() / "services" / sub / name


def free_port():
    """A TCP port that nothing listens on right now (bound to port 0 and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port):
    """Nothing listens on 127.0.0.1:port (connections in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def fnv1a32(s):
    h = 2166136261
    for b in s.encode("utf-8"):
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def partition_of(key, n=PARTITIONS):
    """common/yk_partition.h: the stream of an event is fnv1a32(events.partition_key) mod P (the
    campaign, else the prerequisite's key, else the slug)."""
    return fnv1a32(key) % n


def unique(prefix="t"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def email(prefix="b"):
    return "%s-%s@example.com" % (prefix, uuid.uuid4().hex)


# ---------------------------------------------------------------------------------------------------
# HTTP


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError):
            self.json = None

    @property
    def error(self):
        return self.json.get("error") if isinstance(self.json, dict) else None

    def __repr__(self):
        text = self.body[:600].decode("utf-8", "replace")
        return "<HTTP %d %s>" % (self.status, text)


class Client:
    """Keep-alive HTTP/1.1 client; one connection per thread. `admin=True` adds the admin token."""

    def __init__(self, host, port, admin_token=None, timeout=30):
        self.host, self.port, self.admin_token, self.timeout = host, port, admin_token, timeout
        self._local = threading.local()
        self._all = []
        self._all_lock = threading.Lock()

    def _conn(self, fresh=False):
        c = getattr(self._local, "conn", None)
        if c is None or fresh:
            if c is not None:
                c.close()
            c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            with self._all_lock:
                self._all.append(c)
            self._local.conn = c
            self._local.used = False
        return c

    def close(self):
        """Closes the connections of every thread."""
        with self._all_lock:
            conns, self._all = self._all, []
        for c in conns:
            c.close()

    def request(self, method, path, json_body=None, body=None, headers=None, admin=False):
        hdrs = {"Accept": "application/json"}
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
        if body is not None:
            if isinstance(body, str):
                body = body.encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        if admin:
            hdrs["Authorization"] = "Bearer " + self.admin_token
        if headers:
            hdrs.update(headers)
        for attempt in (0, 1):
            conn = self._conn()
            reused = self._local.used
            try:
                conn.request(method, path, body=body, headers=hdrs)
                r = conn.getresponse()
                data = r.read()
            except Exception as e:
                self._conn(fresh=True)   # never reuse a connection in an unknown state
                # A kept-alive connection the server had closed while idle: retry once on a new one.
                if attempt == 0 and reused and isinstance(
                        e, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
                    continue
                raise
            self._local.used = True
            if r.getheader("Connection", "").lower() == "close" or r.will_close:
                self._conn(fresh=True)
            return Resp(r.status, r.getheaders(), data)
        raise AssertionError("unreachable")

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json_body=None, **kw):
        return self.request("POST", path, json_body=json_body, **kw)


# ---------------------------------------------------------------------------------------------------
# Redis (RESP2, enough for tests)


class RedisError(Exception):
    pass


class Redis:
    def __init__(self, port, host="127.0.0.1"):
        self.addr = (host, port)
        self.lock = threading.Lock()
        self.sock = None
        self.buf = b""

    def _connect(self):
        self.sock = socket.create_connection(self.addr, timeout=10)
        self.buf = b""

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def _readline(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _readn(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._readline()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RedisError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._readn(n).decode("utf-8", "surrogateescape")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RedisError("bad reply %r" % line)

    def __call__(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode("utf-8")
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        with self.lock:
            for attempt in (0, 1):
                try:
                    if self.sock is None:
                        self._connect()
                    self.sock.sendall(b"".join(parts))
                    r = self._reply()
                    break
                except (ConnectionError, OSError):
                    self.close()
                    if attempt:
                        raise
        if isinstance(r, RedisError):
            raise r
        return r


# ---------------------------------------------------------------------------------------------------
# Redis Cluster (YOYAKU_TEST_REDIS=cluster): 3 masters + 3 replicas, and a client that routes


REDIS_MODE = os.environ.get("YOYAKU_TEST_REDIS", "single")   # "single" or "cluster"
CLUSTER_KEYLESS = {"PING", "INFO", "CLUSTER", "PUBLISH", "CONFIG", "DBSIZE", "TIME", "ROLE",
                   "CLIENT", "SUBSCRIBE", "SCRIPT", "WAIT", "KEYS", "FLUSHALL", "FLUSHDB",
                   "DEBUG", "BGREWRITEAOF", "SAVE", "BGSAVE", "MEMORY", "SLOWLOG", "LASTSAVE"}


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key):
    """Redis Cluster's slot of key (str or bytes): CRC16 of its hash tag {…} if not empty, else of
    the whole key, modulo 16384."""
    k = key if isinstance(key, bytes) else str(key).encode()
    a = k.find(b"{")
    if a >= 0:
        b = k.find(b"}", a + 1)
        if b > a + 1:
            k = k[a + 1:b]
    return crc16(k) % 16384


def command_key(args):
    """The key of a command (as the C router yk_cluster_key_arg finds it), or None when keyless."""
    name = str(args[0]).upper()
    if name in CLUSTER_KEYLESS or len(args) < 2:
        return None
    if name in ("EVAL", "EVALSHA"):
        return args[3] if len(args) > 3 and int(args[2]) > 0 else None
    if name in ("XGROUP", "XINFO", "OBJECT"):
        return args[2] if len(args) > 2 else None
    if name in ("XREAD", "XREADGROUP"):
        up = [str(a).upper() for a in args]
        return args[up.index("STREAMS") + 1]
    return args[1]


class RedisCluster:
    """The tests' client for a Redis Cluster: each command goes to the master of its key's slot
    (map from CLUSTER SLOTS; MOVED refreshes it, ASK is followed once); keyless commands go to the
    first reachable master, FLUSHALL to every master; SCAN walks every master at once (cursor "0"
    in, "0" out). Same call interface as Redis."""

    def __init__(self, ports, host="127.0.0.1"):
        self.host = host
        self.seeds = list(ports)
        self.nodes = {}        # port -> Redis
        self.slots = [None] * 16384
        self.masters = []

    def node(self, port):
        if port not in self.nodes:
            self.nodes[port] = Redis(port, self.host)
        return self.nodes[port]

    def refresh(self):
        for port in self.masters + self.seeds:
            try:
                ranges = self.node(port)("CLUSTER", "SLOTS")
            except (OSError, RedisError):
                continue
            slots, masters = [None] * 16384, []
            for r in ranges:
                p = int(r[2][1])
                masters.append(p) if p not in masters else None
                for s in range(int(r[0]), int(r[1]) + 1):
                    slots[s] = p
            self.slots, self.masters = slots, masters
            return
        raise ConnectionError("no node of the cluster answers CLUSTER SLOTS")

    def close(self):
        for r in self.nodes.values():
            r.close()

    def _any(self):
        if not self.masters:
            self.refresh()
        return self.masters[0]

    def __call__(self, *args):
        name = str(args[0]).upper()
        if name in ("FLUSHALL", "FLUSHDB"):
            self.refresh()
            return [self.node(p)(*args) for p in self.masters][0]
        if name == "SCAN":
            self.refresh()
            rest = list(args[2:])
            keys = []
            for p in self.masters:
                cursor = "0"
                while True:
                    cursor, batch = self.node(p)("SCAN", cursor, *rest)
                    keys.extend(batch)
                    if cursor == "0":
                        break
            return ["0", keys]
        key = command_key(args)
        if key is None:   # any node that answers (a dead master stays in the map until failover)
            if not self.masters:
                self.refresh()
            for port in self.masters + [p for p in self.seeds if p not in self.masters]:
                try:
                    return self.node(port)(*args)
                except (ConnectionError, OSError):
                    continue
            raise ConnectionError("no node of the cluster answers")
        for attempt in range(8):
            if key is None:
                port = self._any()
            else:
                if self.slots[key_slot(key)] is None:
                    self.refresh()
                port = self.slots[key_slot(key)]
                if port is None:
                    time.sleep(0.25)
                    self.refresh()
                    continue
            try:
                return self.node(port)(*args)
            except RedisError as e:
                msg = str(e)
                if msg.startswith("MOVED"):
                    self.refresh()
                    continue
                if msg.startswith("ASK "):
                    to = int(msg.rsplit(":", 1)[1])
                    self.node(to)("ASKING")
                    return self.node(to)(*args)
                if msg.startswith(("TRYAGAIN", "CLUSTERDOWN")):
                    time.sleep(0.1 * (attempt + 1))
                    self.refresh()
                    continue
                raise
            except (ConnectionError, OSError):
                if attempt == 7:
                    raise
                time.sleep(0.25)
                self.masters = [p for p in self.masters if p != port]
                self.refresh()
        raise RedisError("CLUSTERDOWN no master answered for %r" % (args[:2],))


def start_redis_cluster(spawn, base_dir, conf=None, masters=3, replicas=1, ports=None,
                        node_timeout=2000):
    """Starts masters × (1 + replicas) redis-server processes in cluster mode (the shipped config
    plus cluster settings), each with its own directory under base_dir, then joins them with
    redis-cli --cluster create. spawn(name, argv) starts a process. Returns (procs, ports), the
    first `masters` ports being the masters."""
    conf = conf or ROOT / "deploy/local/redis.conf"
    n = masters * (1 + replicas)
    if not ports:
        ports = []
        for _ in range(n):
            ports.append(free_cluster_port(ports + [p + 10000 for p in ports]))
    procs = []
    for i, port in enumerate(ports):
        d = Path(base_dir) / ("redis-%d" % port)
        d.mkdir(parents=True, exist_ok=True)
        procs.append(spawn("redis-%d" % port, [
            "redis-server", conf, "--port", port, "--bind", "127.0.0.1", "--dir", d,
            "--protected-mode", "no", "--cluster-enabled", "yes",
            "--cluster-config-file", d / "nodes.conf", "--cluster-node-timeout", node_timeout,
            "--cluster-require-full-coverage", "no", "--appendfsync", "everysec"]))
    for port in ports:
        wait_until(lambda: _ping(port), 20, what="redis %d" % port)
    if not Redis(ports[0])("CLUSTER", "INFO").count("cluster_slots_assigned:16384"):
        out = subprocess.run(["redis-cli", "--cluster", "create"] +
                             ["127.0.0.1:%d" % p for p in ports] +
                             ["--cluster-replicas", str(replicas), "--cluster-yes"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        if out.returncode != 0:
            raise StartError("redis-cli --cluster create failed:\n" + out.stdout[-3000:])
    wait_until(lambda: cluster_ok(ports, masters, replicas), 30, 0.1, what="redis cluster ok")
    return procs, ports


def free_cluster_port(taken=()):
    """A free port for a cluster node: at most 55535, and its cluster bus port (+10000) free too."""
    import random
    for _ in range(1000):
        p = random.randint(20000, 55535)
        if p not in taken and p + 10000 not in taken and port_free(p) and port_free(p + 10000):
            return p
    raise StartError("no free port pair for a Redis Cluster node")


def _ping(port):
    try:
        return Redis(port)("PING") == "PONG"
    except (OSError, RedisError):
        return False


def cluster_ok(ports, masters=3, replicas=1):
    """Every node says cluster_state:ok and CLUSTER SLOTS names `masters` masters, each with
    `replicas` replicas."""
    try:
        for p in ports:
            r = Redis(p)
            ok = "cluster_state:ok" in r("CLUSTER", "INFO")
            ranges = r("CLUSTER", "SLOTS")
            r.close()
            if not ok:
                return False
        return (len({int(x[2][1]) for x in ranges}) == masters and
                all(len(x) - 3 == replicas for x in ranges))
    except (OSError, RedisError):
        return False


def cluster_masters(client):
    """{master port: [(first slot, last slot), …]} of the cluster now."""
    out = {}
    for r in client("CLUSTER", "SLOTS"):
        out.setdefault(int(r[2][1]), []).append((int(r[0]), int(r[1])))
    return out


# ---------------------------------------------------------------------------------------------------
# processes


def _run_as():
    """PostgreSQL refuses to run as root: as root it runs as the user postgres."""
    return "postgres" if os.geteuid() == 0 else None


class Proc:
    """A child process in its own session with stdout+stderr appended to a log file."""

    def __init__(self, name, argv, log_path, env=None, user=None, cwd=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.env = env
        logf = open(self.log_path, "ab")
        try:
            self.popen = subprocess.Popen(self.argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                          stdout=logf, stderr=subprocess.STDOUT,
                                          start_new_session=True, user=user)
        finally:
            logf.close()
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, sig=None, timeout=15):
        """Signal (default SIGTERM), wait, then SIGKILL the whole process group after timeout.
        Returns the exit status. Redis is signalled again each second: it refuses a SIGTERM that
        comes while it writes its first AOF ("Writing initial AOF, can't exit")."""
        sig = signal.SIGTERM if sig is None else sig
        deadline = time.monotonic() + timeout
        again = 1.0 if self.name.startswith("redis") else timeout
        while self.alive() and time.monotonic() < deadline:
            try:
                os.kill(self.pid, signal.SIGCONT)
                os.kill(self.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.popen.wait(min(again, max(0.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return self.popen.wait(10)

    def log_text(self, start=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(start)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_size(self):
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0


class StartError(Exception):
    pass


def wait_until(pred, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


# The test settings of PostgreSQL: fsync off (these tests check logic, not durability across power
# loss; keeps 2 cores fast), room for every test's sessions, a small cache.
TEST_PG_SETTINGS = {"fsync": os.environ.get("YOYAKU_TEST_FSYNC", "off"), "max_connections": "200",
                    "shared_buffers": "64MB"}


class PgServer:
    """A throwaway PostgreSQL 15 under dir (data in dir/pg, Unix socket in dir/pgsock, no TCP) on a
    free port, with a database `yoyaku`. start() again after stop() reuses the port and the data.
    spawn(name, argv, user=, cwd=) starts a Proc (the owner's, so its logs and leftover checks see
    it). settings: `-c` options; durable: initdb syncs its files (off for tests)."""

    def __init__(self, dir, spawn, settings=None, durable=False):
        self.dir = Path(dir)
        self.spawn = spawn
        self.settings = dict(TEST_PG_SETTINGS if settings is None else settings)
        self.durable = durable
        self.user = _run_as()
        self.data, self.sock = self.dir / "pg", self.dir / "pgsock"
        self.port = free_port()
        self.proc = None

    @property
    def conninfo(self):
        return "host=%s port=%d dbname=yoyaku user=postgres" % (self.sock, self.port)

    def start(self, timeout=60):
        fresh = not self.data.exists()
        if fresh:
            for d in (self.data, self.sock):
                d.mkdir(mode=0o700)
                if self.user:
                    shutil.chown(d, self.user, self.user)
            r = subprocess.run([PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                                "-E", "UTF8", "--no-locale"] + ([] if self.durable else ["--no-sync"]),
                               user=self.user, capture_output=True, text=True, cwd=self.dir)
            if r.returncode != 0:
                raise StartError("initdb failed:\n" + r.stdout + r.stderr)
        argv = [PG_BIN / "postgres", "-D", self.data, "-p", self.port, "-k", self.sock,
                "-c", "listen_addresses="]
        for k, v in self.settings.items():
            argv += ["-c", "%s=%s" % (k, v)]
        self.proc = self.spawn("postgres", argv, user=self.user, cwd=self.dir)
        wait_until(self._up, timeout, 0.1, what="postgresql")
        if fresh:
            self.psql("CREATE DATABASE yoyaku", "postgres")
        return self

    def _up(self):
        if not self.proc.alive():
            raise StartError("postgres exited:\n" + self.proc.log_text()[-3000:])
        try:
            return self.psql("SELECT 1", "postgres") == [["1"]]
        except AssertionError:
            return False

    def psql(self, sql, db="yoyaku", timeout=60):
        """Rows of a query as lists of strings (NULL = ''); AssertionError on failure."""
        r = subprocess.run(["psql", "-h", str(self.sock), "-p", str(self.port), "-U", "postgres",
                            "-d", db, "-X", "-At", "-F", "\x1f", "-v", "ON_ERROR_STOP=1", "-c", sql],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise AssertionError("psql failed: %s\n%s" % (sql, r.stderr))
        return [line.split("\x1f") for line in r.stdout.splitlines() if line != ""]

    def stop(self, sig=signal.SIGINT):
        """Fast shutdown (SIGINT); the exit status."""
        return self.proc.stop(sig) if self.proc is not None else None


class Stack:
    """Redis + PostgreSQL + SMTP sink + yoyakuctl migrate/token + 1 ingress + N workers (+ the
    notifier when built): the one way the integration tests, tests/browser and tests/bench/rush
    start a throwaway stack. The defaults are the tests'; tests/bench/rush passes its own (durable
    PostgreSQL as shipped, no SMTP sink unless the notifier runs, wrappers for profilers).

    dir: an existing directory to use (default: a new temporary one). pg_settings: PostgreSQL `-c`
    settings replacing TEST_PG_SETTINGS; pg_durable: initdb syncs. smtp / notifier: start the SMTP
    sink / the notifier. rebalance_ms: the workers' YOYAKU_REBALANCE_MS (None: their default).
    wrap_ingress / wrap_worker: argv prefixes (e.g. valgrind). ingress_id: its YOYAKU_INGRESS_ID.
    client_timeout: seconds for stack.client."""

    def __init__(self, n_workers=2, partitions=PARTITIONS, wait_ms=None, extra_env=None, dir=None,
                 pg_settings=None, pg_durable=False, smtp=True, notifier=True,
                 rebalance_ms=os.environ.get("YOYAKU_TEST_REBALANCE_MS", "500"),
                 wrap_ingress=(), wrap_worker=(), ingress_id="ingress-1", client_timeout=30,
                 log_level=os.environ.get("YOYAKU_TEST_LOG_LEVEL", "info"), redis_mode=None):
        self.redis_mode = redis_mode or REDIS_MODE   # "cluster": 3 masters + 3 replicas
        self.n_workers = n_workers
        self.partitions = partitions
        self.wait_ms = wait_ms
        self.extra_env = extra_env or {}
        self.pg_settings = pg_settings
        self.pg_durable = pg_durable
        self.with_smtp = smtp
        self.with_notifier = notifier
        self.rebalance_ms = rebalance_ms
        self.wrap_ingress = list(wrap_ingress)
        self.wrap_worker = list(wrap_worker)
        self.ingress_id = ingress_id
        self.client_timeout = client_timeout
        self.log_level = log_level
        self.procs = []          # every Proc started, in start order
        self.reported = set()    # names of procs whose sanitizer report a test already failed on
        self.workers = []        # live and dead worker Procs
        self._worker_seq = 0
        self.dir = Path(dir) if dir is not None else Path(tempfile.mkdtemp(prefix="yoyaku-it-"))
        os.chmod(self.dir, 0o755)  # user postgres must reach its data and socket dirs
        self.logs = self.dir / "logs"
        self.logs.mkdir(exist_ok=True)
        self.mail = self.dir / "mail"
        self.mail.mkdir(exist_ok=True)
        self.pg_user = _run_as()
        self.pg = None
        self.notifier = None

    # -- start -------------------------------------------------------------------------------------

    def start(self):
        for b in ("yoyaku-ingress", "yoyaku-worker", "yoyakuctl"):
            if not os.access(binary(b), os.X_OK):
                raise StartError("binary not built: %s (YOYAKU_BUILD_DIR=%s)" % (binary(b), build_dir()))
        self.start_redis()
        self.start_postgres()
        if self.with_smtp:
            self.start_smtp()
        self.env = self._base_env()
        self.ctl("migrate")
        out = self.ctl("token", "create", "--name", "test").stdout
        self.admin_token = parse_token(out)
        self.http_port = free_port()
        self.ingress = self.start_ingress()
        for _ in range(self.n_workers):
            self.start_worker()
        self.client = Client("127.0.0.1", self.http_port, self.admin_token, self.client_timeout)
        if self.with_notifier and self.with_smtp and os.access(binary("yoyaku-notifier"), os.X_OK):
            self.notifier = self._spawn("notifier", [binary("yoyaku-notifier")], self.notifier_env())
        self.wait_ready()
        self.wait_partitions_owned()
        return self

    def start_redis(self):
        """Starts Redis with the shipped deploy/local/redis.conf (AOF on); again after it stopped:
        the same port and directory, so it reloads its AOF. In cluster mode: a Redis Cluster of 3
        masters and 3 replicas (redis_procs; redis_proc is the first master's), again after it
        stopped with the same ports and nodes.conf."""
        if self.redis_mode == "cluster":
            procs, ports = start_redis_cluster(self._spawn, self.dir / "redis",
                                               ports=getattr(self, "redis_ports", None))
            self.redis_procs, self.redis_ports = procs, ports
            self.redis_port = ports[0]
            if not hasattr(self, "redis"):
                self.redis = RedisCluster(ports)
            self.redis.refresh()
            self.redis_proc = procs[0]
            return self.redis_proc
        if not hasattr(self, "redis_port"):
            self.redis_port = free_port()
            (self.dir / "redis").mkdir()
            self.redis = Redis(self.redis_port)
        self.redis_proc = self._spawn("redis", ["redis-server", ROOT / "deploy/local/redis.conf",
                                                "--port", self.redis_port, "--bind", "127.0.0.1",
                                                "--dir", self.dir / "redis", "--protected-mode", "no"])
        wait_until(self._ping_redis, 20, what="redis")
        return self.redis_proc

    def _ping_redis(self):
        if not self.redis_proc.alive():
            raise StartError("redis exited:\n" + self.redis_proc.log_text()[-3000:])
        try:
            return self.redis("PING") == "PONG"
        except (OSError, RedisError):
            return False

    def start_postgres(self):
        """Starts PostgreSQL (a PgServer); again after it stopped: the same port and data."""
        if self.pg is None:
            self.pg = PgServer(self.dir, self._spawn, self.pg_settings, self.pg_durable)
            self.pg_port, self.pg_data, self.pg_sock = self.pg.port, self.pg.data, self.pg.sock
            self.pg_conninfo = self.pg.conninfo
        self.pg.start()
        self.pg_proc = self.pg.proc
        return self.pg_proc

    def start_smtp(self):
        """Starts deploy/local/smtp_sink.py, which writes each mail to dir/mail."""
        if not hasattr(self, "smtp_port"):
            self.smtp_port = free_port()
        return self._spawn("smtp", [PYTHON, ROOT / "deploy/local/smtp_sink.py", "--port", self.smtp_port,
                                    "--dir", self.mail])

    # the names these had before
    _start_redis, _start_pg, _start_smtp = start_redis, start_postgres, start_smtp

    def _base_env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("YOYAKU_")}
        env.update({
            "YOYAKU_PG": self.pg_conninfo,
            "YOYAKU_REDIS": self.redis_url(),
            "YOYAKU_PARTITIONS": str(self.partitions),
            "YOYAKU_TOKEN_KEY": os.urandom(32).hex(),
            "YK_TEST_STACK": str(self.dir),   # marks the processes of this stack (leftover check)
            "YOYAKU_LOG_LEVEL": self.log_level,
            "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1:fast_unwind_on_malloc=0"),
            # keep serving after a UBSan report: the test that caused it fails on the log line
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=0",
        })
        env.update(self.extra_env)
        return env

    def redis_url(self):
        """YOYAKU_REDIS for the services: host:port, or redis-cluster://seed,… in cluster mode."""
        if self.redis_mode == "cluster":
            return "redis-cluster://" + ",".join("127.0.0.1:%d" % p for p in self.redis_ports[:3])
        return "127.0.0.1:%d" % self.redis_port

    def notifier_env(self):
        env = dict(self.env)
        env.update({"YOYAKU_SMTP_URL": "smtp://127.0.0.1:%d" % self.smtp_port,
                    "YOYAKU_PUBLIC_URL": "http://127.0.0.1:%d" % self.http_port,
                    "YOYAKU_METRICS_LISTEN": "127.0.0.1:%d" % free_port()})
        return env

    def _spawn(self, name, argv, env=None, user=None, cwd=None):
        if env is None:
            env = dict(os.environ, YK_TEST_STACK=str(self.dir))
        p = Proc(name, argv, self.logs / (name + ".log"), env=env, user=user, cwd=cwd)
        self.procs.append(p)
        return p

    def by_name(self, name):
        return [p for p in self.procs if p.name == name][-1]

    def sent_mail(self, message_id_prefix, timeout=30):
        """The mail the stack's SMTP sink received whose Message-ID starts with the prefix (e.g.
        "<booking-12-confirmation@"), parsed with policy=default. Only the files that hold the
        prefix are parsed: the sink keeps every mail of the stack (thousands by the end of a run)."""
        needle = message_id_prefix.encode()

        def find():
            for path in sorted(self.mail.glob("*.eml")):
                data = path.read_bytes()
                if needle not in data:
                    continue
                msg = email_pkg.message_from_bytes(data, policy=email_policy.default)
                if (msg["Message-ID"] or "").startswith(message_id_prefix):
                    return msg
            return None
        return wait_until(find, timeout, 0.1, what="the mail %s…" % message_id_prefix)

    def ctl(self, *args, check=True, env=None):
        """Runs yoyakuctl with the stack's environment (or env)."""
        r = subprocess.run([str(binary("yoyakuctl"))] + list(args), env=env or self.env,
                           capture_output=True, text=True, timeout=120)
        with open(self.logs / "yoyakuctl.log", "a") as f:
            f.write("$ yoyakuctl %s -> %d\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        if check and r.returncode != 0:
            raise StartError("yoyakuctl %s failed (%d):\n%s%s" % (" ".join(args), r.returncode,
                                                                  r.stdout, r.stderr))
        return r

    def start_ingress(self):
        env = dict(self.env)
        env.update({"YOYAKU_LISTEN": "127.0.0.1:%d" % self.http_port,
                    "YOYAKU_PUBLIC_URL": "http://127.0.0.1:%d" % self.http_port,
                    "YOYAKU_INGRESS_ID": self.ingress_id,
                    "YOYAKU_PG": self.pg_conninfo + " application_name=" + self.ingress_id})
        if self.wait_ms is not None:
            env["YOYAKU_WAIT_MS"] = str(self.wait_ms)
        return self._spawn("ingress", self.wrap_ingress + [binary("yoyaku-ingress")], env)

    @contextlib.contextmanager
    def extra_ingress(self, prefix="ingress-extra", **env_extra):
        """One more ingress of this stack on a free port with settings of its own (env_extra:
        YOYAKU_* values), ready; yields its Client (client.port is its port); stopped after."""
        port = free_port()
        name = "%s-%d" % (prefix, port)
        env = dict(self.env, YOYAKU_LISTEN="127.0.0.1:%d" % port, YOYAKU_INGRESS_ID=name,
                   YOYAKU_PUBLIC_URL="http://127.0.0.1:%d" % port)
        env.update(env_extra)
        proc = self._spawn(name, [binary("yoyaku-ingress")], env)
        client = Client("127.0.0.1", port, self.admin_token)

        def ready():
            try:
                return client.get("/readyz").status == 200
            except OSError:
                return False
        try:
            wait_until(ready, 30, 0.05, what="ingress %s ready" % name)
            yield client
        finally:
            client.close()
            proc.stop()

    def start_worker(self):
        """Starts one more worker (id worker-N; its PostgreSQL application_name is the same; its
        metrics on p.metrics_port)."""
        self._worker_seq += 1
        wid = "worker-%d" % self._worker_seq
        port = free_port()
        env = dict(self.env)
        env.update({"YOYAKU_WORKER_ID": wid,
                    "YOYAKU_PG": self.pg_conninfo + " application_name=" + wid,
                    "YOYAKU_METRICS_LISTEN": "127.0.0.1:%d" % port})
        if self.rebalance_ms is not None:
            env["YOYAKU_REBALANCE_MS"] = str(self.rebalance_ms)
        p = self._spawn(wid, self.wrap_worker + [binary("yoyaku-worker")], env)
        p.worker_id = wid
        p.metrics_port = port
        self.workers.append(p)
        return p

    def live_workers(self):
        return [w for w in self.workers if w.alive()]

    def wait_ready(self, timeout=60):
        def ready():
            latest = {p.name: p for p in self.procs}.values()   # a restarted one replaces its old
            for p in latest:
                if not p.alive() and p.name in ("ingress", "redis", "postgres", "smtp") + tuple(
                        w.name for w in self.workers):
                    raise StartError("%s exited with %s:\n%s" % (p.name, p.popen.returncode,
                                                                  p.log_text()[-4000:]))
            try:
                return self.client.get("/readyz").status == 200
            except OSError:
                return False
        wait_until(ready, timeout, 0.1, what="GET /readyz == 200")

    def partition_owners(self):
        """{partition: application_name} of the PostgreSQL sessions holding the partition locks."""
        rows = self.psql("SELECT l.objid, a.application_name FROM pg_locks l "
                         "JOIN pg_stat_activity a ON a.pid = l.pid "
                         "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %d "
                         "AND l.objsubid = 2" % ADVISORY_CLASS)
        return {int(r[0]): r[1] for r in rows}

    def wait_partitions_owned(self, timeout=15):
        try:
            wait_until(lambda: len(self.partition_owners()) >= self.partitions, timeout, 0.1,
                       what="every partition owned by a worker")
        except TimeoutError:
            sys.stderr.write("warning: not every partition lock is held after %d s: %r\n"
                             % (timeout, self.partition_owners()))

    # -- queries -------------------------------------------------------------------------------------

    def psql(self, sql, db="yoyaku", timeout=60):
        """Rows of a query as lists of strings (NULL = '')."""
        return self.pg.psql(sql, db, timeout)

    def scalar(self, sql):
        rows = self.psql(sql)
        return rows[0][0] if rows else None

    def bookings_count(self, event_id=None):
        where = "" if event_id is None else " WHERE event_id = %d" % int(event_id)
        return int(self.scalar("SELECT count(*) FROM bookings" + where))

    def queue_snapshot(self):
        """What an accepted request changes in Redis and PostgreSQL: stream lengths, sequence numbers,
        stored answers and markers, bookings."""
        snap = {}
        for p in range(self.partitions):
            snap["xlen %d" % p] = self.redis("XLEN", "yk:req:{%d}" % p)
            snap["seq %d" % p] = self.redis("GET", "yk:seq:{%d}" % p)
        snap["res keys"] = set(scan_keys(self.redis, "yk:res:*"))
        snap["bookings"] = self.bookings_count()
        return snap

    def queued_since(self, before):
        """{what: (before, now)} for everything a request changed since queue_snapshot() gave
        before; empty when nothing was queued or stored. Answers expire on their own (seconds
        after their ingress's deadline), so only new yk:res keys count."""
        now = self.queue_snapshot()
        diff = {k: (before.get(k), v) for k, v in now.items() if k != "res keys" and before.get(k) != v}
        new = now["res keys"] - before["res keys"]
        if new:
            diff["new res keys"] = sorted(new)
        return diff

    # -- stop ----------------------------------------------------------------------------------------

    def stop(self):
        """Stops every process (services first, PostgreSQL last); returns {name: exit status} of
        those that were still running. Idempotent."""
        if getattr(self, "stop_results", None) is not None:
            return self.stop_results
        infra = ("smtp", "redis", "postgres")
        ingresses = [p for p in self.procs if p.name == "ingress"]
        others = [p for p in reversed(self.procs) if p.name not in infra and p not in ingresses]
        infra_procs = [p for name in infra for p in self.procs if p.name == name]
        results = {}
        for p in ingresses + others + infra_procs:     # services first, PostgreSQL last
            if not p.alive():
                continue
            sig = signal.SIGINT if p.name in ("postgres", "pgbouncer") else signal.SIGTERM
            results[p.name] = p.stop(sig)
        for p in self.procs:
            if p.alive():
                p.stop(signal.SIGKILL)
        if hasattr(self, "redis"):
            self.redis.close()
        if hasattr(self, "client"):
            self.client.close()
        self.stop_results = results
        return results

    def shutdown(self):
        """Stops the stack and returns what went wrong: a process that did not exit 0 on its signal,
        a process left running, a sanitizer report no test was charged with, or any leak report."""
        problems = []
        for name, rc in self.stop().items():
            if rc != 0:
                problems.append("%s exited with status %s on SIGTERM/SIGINT" % (name, rc))
        for left in self.leftovers():
            problems.append("left running: %r" % (left,))
        for name, kinds, excerpt in self.sanitizer_reports():
            if name[:-4] not in self.reported or "LeakSanitizer" in kinds:
                problems.append("%s in %s:\n%s" % ("/".join(sorted(kinds)), name, excerpt))
        self.checked = True
        return problems

    def sanitizer_reports(self):
        """(log name, {sanitizer names}, excerpt from the first report) for each log with a report."""
        found = []
        for f in sorted(self.logs.glob("*.log")):
            text = f.read_text("utf-8", "replace")
            at = [text.find(m) for m in SANITIZER_MARKS if m in text]
            if not at:
                continue
            kinds = {k for k in ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                                 "runtime error") if k in text}
            start = max(0, min(at) - 300)
            found.append((f.name, kinds, text[start:start + 12000]))
        return found

    def leftovers(self):
        """What still runs of this stack: processes marked with its directory (Redis and PostgreSQL
        rewrite their titles and environment, so they are checked by pid, port and pid file)."""
        left = []
        for _ in range(30):
            left = processes_of(self.dir, "YK_TEST_STACK")
            left += [(p.pid, p.name) for p in self.procs if p.alive()]
            if (self.dir / "pg" / "postmaster.pid").exists():
                left.append((None, "postmaster.pid still there"))
            for port in getattr(self, "redis_ports", [getattr(self, "redis_port", None)]):
                if port and not port_free(port):
                    left.append((None, "redis port %d still bound" % port))
            if not left:
                break
            time.sleep(0.1)
        return left

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def processes_of(dev, env_name="YOYAKU_DEV_DIR"):
    """(pid, command line) of the processes whose environment has env_name=dev or whose command line
    names a path inside dev."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            env = (d / "environ").read_bytes().split(b"\0")
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if ("%s=%s" % (env_name, dev)).encode() in env or (str(dev) + "/").encode() in cmd:
            found.append((int(d.name), cmd.decode("utf-8", "replace")))
    return found


ENTRY_HEADER = ("t", "id", "ing", "ev", "slot", "at", "dl", "idem", "booking", "th")


def xadd_entry(stack, partition, fields, legacy=False):
    """Adds one request entry the way the ingress does: the short fields in one header field h
    ("name=value …", proto/streams.md), the booker's texts in fields of their own. legacy: one
    field each, with a sequence number first, as an older ingress wrote them (workers still read
    those). Returns the entry id."""
    argv = ["XADD", "yk:req:{%d}" % partition, "*"]
    if legacy:
        argv += ["seq", stack.redis("INCR", "yk:seq:{%d}" % partition)]
        for k, v in fields.items():
            argv += [k, v]
    else:
        argv += ["h", " ".join("%s=%s" % (k, v) for k, v in fields.items() if k in ENTRY_HEADER)]
        for k, v in fields.items():
            if k not in ENTRY_HEADER:
                argv += [k, v]
    return stack.redis(*argv)


def entry_fields(flat):
    """{field: value} of a request stream entry's [field, value, …], its header field h
    ("name=value …", proto/streams.md) spread into fields of their own."""
    f = dict(zip(flat[0::2], flat[1::2]))
    for pair in f.pop("h", "").split():
        name, _, value = pair.partition("=")
        f[name] = value
    return f


def scan_keys(redis, pattern):
    keys, cursor = [], "0"
    while True:
        cursor, batch = redis("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
        keys.extend(batch)
        if cursor == "0":
            return keys


def parse_token(out):
    """`yoyakuctl token create` prints the token; accept a bare line or `...: <token>`."""
    lines = [l.strip() for l in out.splitlines() if l.strip()]
    if not lines:
        raise StartError("yoyakuctl token create printed nothing")
    return lines[-1].split()[-1]


# ---------------------------------------------------------------------------------------------------
# answers


def outcome(body):
    """'confirmed' for a booking answer, else the error code, else 'pending'."""
    if not isinstance(body, dict):
        return None
    if "booking" in body:
        return "confirmed"
    if "error" in body:
        return body["error"]
    if body.get("status") == "pending":
        return "pending"
    return None


def resolve(client, resp, timeout=60):
    """Final answer body of a reservation: the body itself, or, for a 202, GET /v1/requests/{id} until
    it is no longer pending."""
    if resp.status != 202:
        return resp.json
    rid = resp.json["request_id"]
    deadline = time.monotonic() + timeout
    while True:
        r = client.get("/v1/requests/%s" % rid)
        assert r.status == 200, r
        if r.json.get("status") != "pending":
            return r.json
        if time.monotonic() > deadline:
            raise AssertionError("request %s still pending after %d s" % (rid, timeout))
        time.sleep(0.1)


def run_parallel(stack, fn, items, threads=50):
    """fn(client, item) on a pool of threads, each with its own keep-alive connection."""
    local = threading.local()
    clients = []
    lock = threading.Lock()

    def call(item):
        c = getattr(local, "client", None)
        if c is None:
            c = Client("127.0.0.1", stack.http_port, stack.admin_token)
            local.client = c
            with lock:
                clients.append(c)
        return fn(c, item)

    try:
        with concurrent.futures.ThreadPoolExecutor(threads) as ex:
            return list(ex.map(call, items))
    finally:
        for c in clients:
            c.close()


def own_stack(cls=None, **kw):
    """A stack of a module's own, for pytest fixtures: `yield from own_stack(n_workers=1)` (cls: a
    subclass of Stack to start instead, e.g. one with PgBouncer in front of PostgreSQL). Started
    (logs quoted when it cannot start), yielded, then shut down: a sanitizer report, a service
    that did not exit 0 on SIGTERM or a process left running fails the module; files are kept
    then, or with YOYAKU_KEEP_TMP."""
    s = (cls or Stack)(**kw)
    try:
        s.start()
    except BaseException:
        for p in reversed(s.procs):
            p.stop()
        logs = "\n".join("== %s ==\n%s" % (p.name, p.log_text()[-3000:]) for p in s.procs)
        s.cleanup()
        raise RuntimeError("could not start the stack; logs:\n" + logs)
    yield s
    problems = [] if getattr(s, "checked", False) else s.shutdown()
    if not problems and not os.environ.get("YOYAKU_KEEP_TMP"):
        s.cleanup()
    if problems:
        raise AssertionError("stack shutdown (files kept in %s):\n%s" % (s.dir, "\n".join(problems)))

