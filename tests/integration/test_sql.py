"""The SQL of proto/sql as the services use it: yk_rfc3339 (every time yoyaku shows), checked against
Python's zoneinfo, and kept inlinable (the worker's booking statement and every listing call it per
row)."""

import datetime
from zoneinfo import ZoneInfo

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
