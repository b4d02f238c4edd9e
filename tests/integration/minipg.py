"""A standalone PostgreSQL 15 with the yoyaku schema in a temporary directory, for the mail tests and
the mail benchmark that need nothing else of the stack (no Redis, ingress or workers). It can be
stopped and started again on the same port and data."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ykstack import PgServer, Proc, binary


class MiniPg:
    def __init__(self, prefix="yoyaku-minipg-"):
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        os.chmod(self.dir, 0o755)
        (self.dir / "logs").mkdir()
        # the one PostgreSQL starter (ykstack.PgServer), with a larger cache for the mail benchmark
        self.server = PgServer(self.dir, self._spawn, {"shared_buffers": "128MB"})
        self.user = self.server.user
        self.data, self.sock, self.port = self.server.data, self.server.sock, self.server.port

    def _spawn(self, name, argv, user=None, cwd=None):
        return Proc(name, argv, self.dir / "logs" / (name + ".log"), user=user, cwd=cwd)

    @property
    def proc(self):
        return self.server.proc

    @property
    def conninfo(self):
        return self.server.conninfo

    def start(self):
        fresh = not self.data.exists()
        self.server.start()
        if fresh:
            env = {k: v for k, v in os.environ.items() if not k.startswith("YOYAKU_")}
            env["YOYAKU_PG"] = self.conninfo
            subprocess.run([str(binary("yoyakuctl")), "migrate"], env=env, check=True,
                           capture_output=True)
        return self

    def stop(self):
        self.server.stop()

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
