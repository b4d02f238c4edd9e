"""PgBouncer in front of PostgreSQL (contract §2 "YOYAKU_PG may point at PgBouncer", issue 15): a
stack of its own whose ingress, workers, notifier and yoyakuctl reach PostgreSQL only through
Debian's pgbouncer in session pooling — the mode yoyaku needs: a worker owns its partitions by
advisory locks held on its session, the notifier LISTENs on its session, and the worker keeps
prepared statements. Bookings, the rush's capacity, a killed worker's partitions taken over and the
confirmation mail all work through it. Skipped when pgbouncer is not installed."""

import collections
import datetime
import shutil
import signal
import subprocess

import pytest

import conftest
import ykstack
from ykstack import email, outcome, resolve, run_parallel, wait_until

pytestmark = pytest.mark.skipif(shutil.which("pgbouncer") is None and
                                not ykstack.Path("/usr/sbin/pgbouncer").exists(),
                                reason="pgbouncer not installed")


class BouncedStack(ykstack.Stack):
    """ykstack.Stack whose services' YOYAKU_PG is a pgbouncer (pool_mode session) on a free port;
    the tests' own psql still goes straight to PostgreSQL."""

    def start_postgres(self):
        proc = super().start_postgres()
        if not hasattr(self, "bouncer_port"):
            self.bouncer_port = ykstack.free_port()
            d = self.dir / "pgbouncer"
            d.mkdir()
            (d / "users.txt").write_text('"postgres" ""\n')
            (d / "pgbouncer.ini").write_text(
                "[databases]\n"
                "yoyaku = host=%s port=%d dbname=yoyaku user=postgres\n"
                "[pgbouncer]\n"
                "listen_addr = 127.0.0.1\nlisten_port = %d\nunix_socket_dir =\n"
                "auth_type = trust\nauth_file = %s\npool_mode = session\n"
                "max_client_conn = 200\ndefault_pool_size = 50\nadmin_users = postgres\n"
                "ignore_startup_parameters = extra_float_digits,options\n"
                "logfile = %s\n" % (self.pg.sock, self.pg.port, self.bouncer_port, d / "users.txt",
                                    d / "pgbouncer.log"))
            if ykstack._run_as():
                shutil.chown(d, ykstack._run_as(), ykstack._run_as())
                for f in d.iterdir():
                    shutil.chown(f, ykstack._run_as(), ykstack._run_as())
        self.bouncer = self._spawn("pgbouncer", [shutil.which("pgbouncer") or "/usr/sbin/pgbouncer",
                                                 self.dir / "pgbouncer" / "pgbouncer.ini"],
                                   user=ykstack._run_as())
        wait_until(lambda: not ykstack.port_free(self.bouncer_port), 20, what="pgbouncer")
        # services (and yoyakuctl) through the bouncer
        self.pg_conninfo = "host=127.0.0.1 port=%d dbname=yoyaku user=postgres" % self.bouncer_port
        return proc


@pytest.fixture(scope="module")
def bounced():
    s = BouncedStack(n_workers=2, redis_mode="single")
    try:
        s.start()
        yield s
        # pgbouncer's SIGTERM is its immediate shutdown, which exits 1: not a problem here
        problems = [p for p in s.shutdown() if not p.startswith("pgbouncer exited with status 1")]
        assert not problems, problems
    finally:
        s.stop()
        s.cleanup()


def bouncer_clients(stack):
    """pgbouncer's clients as rows of SHOW CLIENTS (its admin console), application_name included."""
    out = subprocess.run([str(ykstack.PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(stack.bouncer_port),
                          "-U", "postgres", "-X", "-At", "-F", "|", "pgbouncer", "-c", "SHOW CLIENTS"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return [line.split("|") for line in out.stdout.splitlines() if line]


def new_event(stack, capacity):
    """An event with one slot of capacity seats, made through the admin API, once listed."""
    slug = ykstack.unique("pgb")
    c = stack.client
    r = c.post("/v1/admin/events", {"slug": slug, "title": "PgBouncer " + slug,
                                    "timezone": "Asia/Tokyo", "fields": conftest.DEFAULT_FIELDS},
               admin=True)
    assert r.status == 201, r
    start = ykstack.slot_time(30, 9)
    r = c.post("/v1/admin/events/%s/slots" % slug, {"slots": [{
        "starts_at": ykstack.rfc3339(start),
        "ends_at": ykstack.rfc3339(start + datetime.timedelta(minutes=30)), "capacity": capacity}]},
        admin=True)
    assert r.status == 201, r
    d = start.date()
    path = "/v1/events/%s/slots?from=%s&to=%s" % (slug, d, d + datetime.timedelta(days=1))
    wait_until(lambda: len(c.get(path).json["slots"]) == 1, 10, 0.05, what="the slot listed")
    return conftest.Event(stack, slug, {}, c.get(path).json["slots"])


def test_services_work_through_pgbouncer_in_session_mode(bounced):
    s = bounced
    # the services' sessions are pgbouncer's clients (their application_name: the service ids)
    clients = " ".join("|".join(r) for r in bouncer_clients(s))
    for w in s.live_workers():
        assert w.worker_id in clients, clients

    # an event through the admin API (ingress → pgbouncer), then a small rush on 20 seats
    ev = new_event(s, 20)
    path = "/v1/events/%s/reservations" % ev.slug

    def book(client, i):
        r = client.post(path, {"slot_id": ev.slot_ids[0], "email": email("pgb%d" % i),
                               "fields": {"name": "経由 %d" % i}})
        return r, resolve(client, r)

    results = run_parallel(s, book, range(120), threads=20)
    final = collections.Counter(outcome(b) for _, b in results)
    assert final == {"confirmed": 20, "slot_full": 100}, final
    assert len(ev.rows()) == 20

    # a killed worker's partitions go to the other (its advisory locks were on its own session)
    owner = s.partition_owners().get(ev.partition)
    victim = [w for w in s.live_workers() if w.worker_id == owner][0]
    victim.signal(signal.SIGKILL)
    wait_until(lambda: s.partition_owners().get(ev.partition) not in (None, owner), 30, 0.2,
               what="another worker owning the partition through pgbouncer")
    ev2 = new_event(s, 5)
    r = ev2.reserve()
    assert r.status in (201, 202), r
    assert outcome(resolve(s.client, r)) == "confirmed"

    # the notifier, LISTENing through pgbouncer, mails the confirmations
    wait_until(lambda: int(s.scalar("SELECT count(*) FROM mail_outbox WHERE status = 'sent'")) >= 21,
               60, 0.2, what="confirmation mails sent")
