"""README "Backups and restore": a pg_dump of a running stack, restored into an empty database,
holds every booking (status, fields, seats), and yoyakuctl migrate on it is a no-op."""

import os
import subprocess
import tempfile

from ykstack import email


def pg(stack, *argv, **kw):
    return subprocess.run(list(argv) + ["-h", str(stack.pg_sock), "-p", str(stack.pg_port),
                                        "-U", "postgres"], capture_output=True, text=True,
                          timeout=120, **kw)


def test_dump_and_restore_keep_every_booking(stack, make_event):
    ev = make_event(capacities=[5, 5])
    ids = [ev.reserve(mail=email("bk%d" % i), slot_id=ev.slot_ids[i % 2]).json["booking"]["id"]
           for i in range(6)]
    stack.psql("UPDATE bookings SET status = 'attended' WHERE id = %s" % ids[0])
    query = ("SELECT b.id, b.status, b.email, b.fields::text, s.booked FROM bookings b "
             "JOIN slots s ON s.id = b.slot_id ORDER BY b.id")
    before = stack.psql(query)
    assert len([r for r in before if r[0] in ids]) == 6
    with tempfile.TemporaryDirectory() as d:
        dump = os.path.join(d, "yoyaku.dump")
        r = pg(stack, "pg_dump", "-Fc", "-f", dump, "yoyaku")
        assert r.returncode == 0, r.stderr
        assert pg(stack, "createdb", "restored").returncode == 0
        r = pg(stack, "pg_restore", "-d", "restored", dump)
        assert r.returncode == 0, r.stderr
    assert stack.psql(query, db="restored") == before
    env = dict(stack.env, YOYAKU_PG=stack.pg_conninfo.replace("dbname=yoyaku", "dbname=restored"))
    assert env["YOYAKU_PG"] != stack.env["YOYAKU_PG"]
    r = stack.ctl("migrate", env=env)
    assert "up to date" in r.stdout, r.stdout
