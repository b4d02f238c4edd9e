"""A standalone PostgreSQL 15 with the yoyaku schema in a temporary directory, for the mail tests and
the mail benchmark that need nothing else of the stack (no Redis, ingress or workers). It can be
stopped and started again on the same port and data."""

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from ykstack import PG_BIN, Proc, binary, free_port, wait_until


class MiniPg:
    def __init__(self, prefix="yoyaku-minipg-"):
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        os.chmod(self.dir, 0o755)
        (self.dir / "logs").mkdir()
        self.user = "postgres" if os.geteuid() == 0 else None
        self.data, self.sock = self.dir / "pg", self.dir / "pgsock"
        self.port = free_port()
        self.proc = None

    @property
    def conninfo(self):
        return "host=%s port=%d dbname=yoyaku user=postgres" % (self.sock, self.port)

    def start(self):
        fresh = not self.data.exists()
        if fresh:
            for d in (self.data, self.sock):
                d.mkdir(mode=0o700)
                if self.user:
                    shutil.chown(d, self.user, self.user)
            subprocess.run([PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                            "-E", "UTF8", "--no-locale", "--no-sync"], user=self.user, cwd=self.dir,
                           check=True, capture_output=True)
        self.proc = Proc("postgres", [PG_BIN / "postgres", "-D", self.data, "-p", self.port, "-k",
                                      self.sock, "-c", "listen_addresses=", "-c",
                                      "shared_buffers=128MB"],
                         self.dir / "logs/postgres.log", user=self.user, cwd=self.dir)
        wait_until(self._up, 30, 0.1, what="postgresql")
        if fresh:
            self.psql("CREATE DATABASE yoyaku", "postgres")
            env = {k: v for k, v in os.environ.items() if not k.startswith("YOYAKU_")}
            env["YOYAKU_PG"] = self.conninfo
            subprocess.run([str(binary("yoyakuctl")), "migrate"], env=env, check=True,
                           capture_output=True)
        return self

    def _up(self):
        if not self.proc.alive():
            raise RuntimeError("postgres exited:\n" + self.proc.log_text()[-3000:])
        try:
            return self.psql("SELECT 1", "postgres") == "1"
        except RuntimeError:
            return False

    def stop(self):
        if self.proc is not None:
            self.proc.stop(signal.SIGINT)

    def psql(self, sql, db="yoyaku"):
        """The output of sql (unaligned, tuples only, quiet); raises RuntimeError on failure."""
        r = subprocess.run(["psql", "-h", str(self.sock), "-p", str(self.port), "-U", "postgres",
                            "-d", db, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        return r.stdout.strip()

    def seed(self, n, title="メール計測 会場A", tag="bench"):
        """One event, one slot, n bookings each with a confirmation row due now. Returns the
        booking ids."""
        out = self.psql(
            "WITH e AS (INSERT INTO events (slug, title, venue, fields) VALUES ('%s', '%s', "
            "'市民会館', '[{\"name\": \"name\", \"type\": \"text\"}]') RETURNING id), "
            "s AS (INSERT INTO slots (event_id, starts_at, ends_at, capacity) SELECT id, "
            "date_trunc('hour', now()) + interval '30 days', "
            "date_trunc('hour', now()) + interval '30 days 30 minutes', %d FROM e RETURNING id, event_id), "
            "b AS (INSERT INTO bookings (request_id, event_id, slot_id, email, identity, fields,"
            " token_hash, limit_one) SELECT '%s-' || g, s.event_id, s.id, '%s-' || g || '@example.com',"
            " '%s-' || g, jsonb_build_object('name', '計測 ' || g), repeat('0', 64), false"
            " FROM s, generate_series(1, %d) g RETURNING id), "
            "o AS (INSERT INTO mail_outbox (booking_id, kind) SELECT id, 'confirmation' FROM b "
            "RETURNING booking_id) SELECT booking_id FROM o; NOTIFY yk_outbox"
            % (tag, title, n, tag, tag, tag, n))
        return [int(x) for x in out.split()]

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
