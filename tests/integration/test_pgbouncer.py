"""PgBouncer in front of PostgreSQL (contract §2 Scale-out: "YOYAKU_PG may point at PgBouncer"):
a stack of this module's own whose services reach PostgreSQL only through Debian's pgbouncer, with
the pool modes deploy/pgbouncer/pgbouncer.ini ships:

- the workers and the notifier through a session-pooled database: a worker owns its partitions by
  session advisory locks and prepares statements, the notifier LISTENs;
- the ingress through a transaction-pooled one: it sends single unnamed statements only.

Checked: a rush is decided through the pools without overselling; mail goes out (the notifier's
LISTEN works through the session pool); a killed worker's partitions pass to the other worker (its
server session is reset with DISCARD ALL, which releases its advisory locks); PgBouncer's own
SHOW CLIENTS lists every service, so nothing went around it."""

import collections
import signal
import subprocess

import pytest

from ykstack import ROOT, Stack, StartError, email, free_port, outcome, own_stack, run_parallel, \
    wait_until

CAPACITY = 30
REQUESTS = 120


class BouncedStack(Stack):
    """A Stack whose services connect through a PgBouncer started right after PostgreSQL."""

    def start_postgres(self):
        proc = super().start_postgres()
        if getattr(self, "bouncer", None) is None:
            self.direct_conninfo = self.pg_conninfo
            self.bouncer_port = free_port()
            self.bouncer = self.start_bouncer()
            base = "host=127.0.0.1 port=%d user=postgres" % self.bouncer_port
            self.pg_conninfo = base + " dbname=yoyaku"          # session pooling
            self.tx_conninfo = base + " dbname=yoyaku_tx"       # transaction pooling
        return proc

    def start_bouncer(self):
        """The shipped deploy/pgbouncer/pgbouncer.ini with this stack's addresses and files."""
        ini = (ROOT / "deploy/pgbouncer/pgbouncer.ini").read_text()
        d = self.dir / "pgbouncer"
        d.mkdir(exist_ok=True)
        server = "host=%s port=%d" % (self.pg_sock, self.pg_port)
        ini = (ini.replace("host=/run/postgresql port=5432", server)
               .replace("listen_port = 6432", "listen_port = %d" % self.bouncer_port)
               .replace("/etc/pgbouncer/userlist.txt", str(d / "userlist.txt"))
               .replace("auth_type = scram-sha-256", "auth_type = trust")
               .replace("unix_socket_dir = /run/postgresql", "unix_socket_dir ="))
        (d / "pgbouncer.ini").write_text(ini)
        (d / "userlist.txt").write_text('"postgres" ""\n')
        p = self._spawn("pgbouncer", ["pgbouncer", d / "pgbouncer.ini"], user=self.pg_user)
        wait_until(lambda: self.bouncer_up(p), 20, 0.1, what="pgbouncer")
        return p

    def bouncer_up(self, p):
        if not p.alive():
            raise StartError("pgbouncer exited:\n" + p.log_text()[-3000:])
        try:
            return self.bouncer_show("VERSION") is not None
        except AssertionError:
            return False

    def bouncer_show(self, what):
        """Rows of PgBouncer's admin console command SHOW <what>, as dicts by column name."""
        r = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.bouncer_port), "-U", "postgres",
                            "-d", "pgbouncer", "-X", "-A", "-P", "footer=off", "-F", "\x1f",
                            "-c", "SHOW " + what], capture_output=True, text=True, timeout=20)
        if r.returncode != 0:
            raise AssertionError("SHOW %s failed: %s" % (what, r.stderr))
        lines = [line.split("\x1f") for line in r.stdout.splitlines() if line]
        return [dict(zip(lines[0], row)) for row in lines[1:]]

    def start_ingress(self):
        """The ingress on the transaction pool (the workers and the notifier on the session pool)."""
        saved, self.pg_conninfo = self.pg_conninfo, self.tx_conninfo
        try:
            return super().start_ingress()
        finally:
            self.pg_conninfo = saved


@pytest.fixture(scope="module")
def stack():
    yield from own_stack(BouncedStack, n_workers=2, wait_ms=3000)


def test_every_service_connects_through_pgbouncer(stack):
    by_db = collections.defaultdict(list)
    for c in stack.bouncer_show("CLIENTS"):
        by_db[c["database"]].append(c["application_name"])
    # the workers by name; the notifier (no application_name) is the third session client
    assert {"worker-1", "worker-2"} <= set(by_db["yoyaku"]) and len(by_db["yoyaku"]) == 3, by_db
    assert by_db["yoyaku_tx"] == ["ingress-1"], by_db
    # PostgreSQL serves only PgBouncer: every client backend but this query's is one of its server
    # connections.
    servers = {int(c["remote_pid"]) for c in stack.bouncer_show("SERVERS")}
    backends = {int(r[0]) for r in stack.psql(
        "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' "
        "AND pid <> pg_backend_pid()")}
    assert backends and backends <= servers, (backends, servers)


def test_rush_through_the_pools_never_oversells(stack, make_event):
    ev = make_event(capacities=[CAPACITY])

    def book(client, i):
        return client.post("/v1/events/%s/reservations" % ev.slug,
                           {"slot_id": ev.slot_ids[0], "email": email("pgb%d" % i),
                            "fields": {"name": "経由 %d" % i}})
    answers = run_parallel(stack, book, range(REQUESTS), threads=20)
    assert all(r.status in (201, 202, 409) for r in answers), [r for r in answers if r.status >= 500]

    def final(r):
        if r.status != 202:
            return outcome(r.json)
        body = wait_until(lambda: (lambda b: b if b.get("status") != "pending" else None)(
            stack.client.get(r.headers["location"]).json), 20, 0.1, what="a 202 decided")
        return outcome(body)
    results = collections.Counter(final(r) for r in answers)
    assert results["confirmed"] == CAPACITY, results
    assert results["slot_full"] == REQUESTS - CAPACITY, results
    assert len(ev.rows()) == CAPACITY
    assert stack.scalar("SELECT booked FROM slots WHERE id = %s" % ev.slot_ids[0]) == str(CAPACITY)


def test_mail_goes_out_through_the_session_pool(stack, make_event):
    if stack.notifier is None:
        pytest.skip("notifier not built")
    ev = make_event(capacities=[5])
    mail = email("pgbmail")
    r = ev.reserve(mail=mail)
    assert r.status == 201, r
    # The notifier polls rarely and is woken by LISTEN/NOTIFY: a mail within a few seconds shows the
    # LISTEN works through the pool.
    wait_until(lambda: any(mail in f.read_text("utf-8", "replace") for f in stack.mail.glob("*.eml")),
               20, 0.1, what="the confirmation mail delivered")
    assert stack.scalar("SELECT count(*) FROM mail_outbox o JOIN bookings b ON b.id = o.booking_id "
                        "WHERE b.email = '%s' AND o.status = 'sent'" % mail) == "1"


def test_a_killed_workers_partitions_pass_on(stack, make_event):
    owners = stack.partition_owners()
    victim = next(w for w in stack.live_workers() if w.worker_id in owners.values())
    survivor = next(w for w in stack.live_workers() if w is not victim)
    victim.signal(signal.SIGKILL)
    victim.popen.wait(10)
    # PgBouncer resets the dead client's server session (DISCARD ALL releases its advisory locks);
    # the survivor takes every partition.
    wait_until(lambda: set(stack.partition_owners().values()) == {survivor.worker_id}
               and len(stack.partition_owners()) == stack.partitions, 30, 0.2,
               what="every partition owned by %s" % survivor.worker_id)
    ev = make_event(capacities=[3])
    assert ev.reserve().status == 201
