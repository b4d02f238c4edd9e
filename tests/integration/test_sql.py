"""The SQL of proto/sql as the services use it: yk_rfc3339 (every time yoyaku shows), checked against
Python's zoneinfo, and kept inlinable (the worker's booking statement and every listing call it per
row); a migration that changes data (0014: a no-show's seat released) on a database of its own."""

import datetime
import os
import tempfile
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from ykstack import ROOT

ZONES = ["Asia/Tokyo", "UTC", "America/New_York", "America/St_Johns", "Asia/Kolkata",
         "Asia/Kathmandu", "Pacific/Chatham", "Pacific/Kiritimati", "Pacific/Pago_Pago",
         "Europe/London"]


def test_rfc3339_matches_zoneinfo(stack):
    # every 5 days and 7 hours over three years: both sides of each zone's DST changes
    start = int(datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc).timestamp())
    times = list(range(start, start + 3 * 365 * 86400, 5 * 86400 + 7 * 3600 + 13))
    rows = stack.psql("SELECT z, t, yk_rfc3339(to_timestamp(t), z) FROM unnest('{%s}'::text[]) z, "
                      "unnest('{%s}'::bigint[]) t" % (",".join(ZONES), ",".join(map(str, times))))
    assert len(rows) == len(ZONES) * len(times)
    for z, t, got in rows:
        want = datetime.datetime.fromtimestamp(int(t), ZoneInfo(z)).isoformat(timespec="seconds")
        assert got == want, (z, t)
    assert stack.scalar("SELECT yk_rfc3339(NULL, 'UTC') IS NULL AND "
                        "yk_rfc3339(now(), NULL) IS NULL") == "t"


def test_rfc3339_is_inlined(stack):
    # A SQL function that is not inlined starts an executor per call: 7 µs per booking in the
    # worker's statement. Inlined, the plan shows its body instead of the call.
    plan = "\n".join(r[0] for r in stack.psql(
        "EXPLAIN VERBOSE SELECT yk_rfc3339(starts_at, 'Asia/Tokyo') FROM slots"))
    assert "to_char" in plan and "yk_rfc3339" not in plan, plan


def test_0014_releases_the_seats_of_earlier_no_shows(stack):
    """A database migrated up to 0013 holds no-shows that still count in slots.booked; yoyakuctl
    migrate applies 0014 once: each slot's booked loses its no-shows, nothing else moves."""
    db = "m" + uuid.uuid4().hex[:12]
    stack.psql("CREATE DATABASE %s" % db, "postgres")
    env = dict(stack.env, YOYAKU_PG=stack.pg_conninfo.replace("dbname=yoyaku", "dbname=" + db))
    with tempfile.TemporaryDirectory() as d:
        for f in sorted((ROOT / "proto/sql").glob("[0-9]*.sql")):
            if f.name < "0014":
                os.symlink(f, Path(d) / f.name)
        stack.ctl("migrate", env=dict(env, YOYAKU_SQL_DIR=d))
    # two slots, booked counted as before 0014: 3 confirmed + 2 no-shows + 1 attended (+ 1
    # cancelled) = 6, and 1 no-show + 1 confirmed = 2
    stack.psql("INSERT INTO events (slug, title) VALUES ('m14', 'm14');"
               "INSERT INTO slots (event_id, starts_at, ends_at, capacity, booked) SELECT id,"
               " now(), now() + interval '1 hour', 10, n FROM events, (VALUES (6), (2)) v(n);"
               "INSERT INTO bookings (request_id, event_id, slot_id, status, email, identity, fields,"
               " token_hash, limit_one) SELECT 'r' || s.id || '-' || i, s.event_id, s.id, st,"
               " 'a@example.com', 'id' || s.id || '-' || i, '{}', repeat('0', 64), true"
               " FROM slots s, unnest(CASE WHEN s.booked = 6 THEN ARRAY['confirmed', 'confirmed',"
               " 'confirmed', 'no_show', 'no_show', 'attended', 'cancelled'] ELSE ARRAY['no_show',"
               " 'confirmed'] END) WITH ORDINALITY AS x(st, i)", db)
    before = stack.psql("SELECT id, booked FROM slots ORDER BY id", db)
    assert [int(b) for _, b in before] == [6, 2]
    r = stack.ctl("migrate", env=env)
    assert "0014" in r.stdout, r.stdout
    assert [int(b) for _, b in stack.psql("SELECT id, booked FROM slots ORDER BY id", db)] == [4, 1]
    assert stack.psql("SELECT count(*) FROM slots s WHERE booked <> (SELECT count(*) FROM bookings b"
                      " WHERE b.slot_id = s.id AND b.status IN ('confirmed', 'attended'))", db) \
        == [["0"]]
    r = stack.ctl("migrate", env=env)   # once only
    assert "up to date" in r.stdout, r.stdout
    assert [int(b) for _, b in stack.psql("SELECT id, booked FROM slots ORDER BY id", db)] == [4, 1]
