"""What the chaos run and the last-seat run share: the stack (tests/integration/ykstack.py, reused),
events made through the admin API, the report of counts and checks, and a few helpers."""

import asyncio
import datetime
import sys
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
import ykstack  # noqa: E402
from ykstack import partition_of, rfc3339, slot_time, wait_until  # noqa: E402,F401

FIELDS = [{"name": "name", "label": {"ja": "氏名", "en": "Name"}, "type": "text", "required": True,
           "max_length": 50}]


def log(msg):
    sys.stderr.write("faults: %s\n" % msg)
    sys.stderr.flush()


class Report:
    """Counts and checks, printed as `name  value  [ok|FAIL]` lines; a check that fails is counted."""

    def __init__(self, title):
        self.title = title
        self.lines = []
        self.failed = []
        self.values = {}

    def count(self, name, value):
        self.values[name] = value
        self.lines.append((name, value, None))

    def check(self, name, value, ok, detail=""):
        """ok: a bool, or a function of value."""
        if callable(ok):
            ok = ok(value)
        self.values[name] = value
        self.lines.append((name, value, bool(ok)))
        if not ok:
            self.failed.append("%s = %s%s" % (name, value, (": " + detail) if detail else ""))

    def print(self, out=sys.stdout):
        out.write("\n== %s ==\n" % self.title)
        width = max([len(n) for n, _, _ in self.lines] + [10])
        for name, value, ok in self.lines:
            mark = "" if ok is None else ("  ok" if ok else "  FAIL")
            out.write("  %-*s  %s%s\n" % (width, name, value, mark))
        for f in self.failed:
            out.write("FAILED: %s\n" % f)
        out.write("%s: %d checks, %d failed\n" % (self.title, sum(1 for l in self.lines if l[2] is not None),
                                                  len(self.failed)))
        out.flush()


def distinct_partition_slugs(prefix, n, partitions, start=0):
    """n fresh slugs whose partitions are spread over all partitions (round robin from start)."""
    out, want = [], start
    while len(out) < n:
        slug = "%s-%s" % (prefix, uuid.uuid4().hex[:10])
        if partition_of(slug, partitions) == want % partitions:
            out.append(slug)
            want += 1
    return out


def make_events(stack, slugs, capacities, day=30, threads=4):
    """Creates one event per slug (per_person_limit 1, the field `name`) with one slot per capacity,
    30 minutes long, 40 minutes apart from 09:00 Asia/Tokyo on day `day` from today; waits until the ingress lists them.
    Returns [{"slug", "id", "partition", "slots": [slot id…]}] in the order of slugs."""
    def saved(r, sql, want):
        """A 503 `unavailable` to an admin change can mean "saved, not yet in effect": with a
        short YOYAKU_WAIT_MS the catalogue reload often outlasts it. Then the change is looked
        up instead of sent again (the listing below waits until it is in effect)."""
        if r.status == 503 and r.error == "unavailable":
            return stack.scalar(sql) == want
        return False

    def one(client, slug):
        r = client.post("/v1/admin/events", {"slug": slug, "title": "障害試験 " + slug,
                                             "timezone": "Asia/Tokyo", "fields": FIELDS}, admin=True)
        assert r.status == 201 or saved(r, "SELECT count(*) FROM events WHERE slug = '%s'" % slug, "1"), r
        slots = []
        for i, cap in enumerate(capacities):
            start = slot_time(day, 9) + datetime.timedelta(minutes=40 * i)
            slots.append({"starts_at": rfc3339(start),
                          "ends_at": rfc3339(start + datetime.timedelta(minutes=30)), "capacity": cap})
        r = client.post("/v1/admin/events/%s/slots" % slug, {"slots": slots}, admin=True)
        assert (r.status == 201 and r.json == {"created": len(slots)}) or saved(
            r, "SELECT count(*) FROM slots s JOIN events e ON e.id = s.event_id WHERE e.slug = '%s'" % slug,
            str(len(slots))), r
        path = "/v1/events/%s/slots" % slug

        def listed():
            r = client.get(path)
            return r if r.status == 200 and len(r.json["slots"]) == len(slots) else None
        r = wait_until(listed, 20, 0.02, what="slots of %s listed" % slug)
        ids = [s["id"] for s in sorted(r.json["slots"], key=lambda s: s["starts_at"])]
        return {"slug": slug, "partition": partition_of(slug, stack.partitions), "slots": ids}

    events = ykstack.run_parallel(stack, one, slugs, threads=threads)
    rows = stack.psql("SELECT slug, id FROM events WHERE slug IN (%s)"
                      % ",".join("'%s'" % s for s in slugs))
    ids = dict(rows)
    for e in events:
        e["id"] = int(ids[e["slug"]])
    return events


def reservation_path(slug):
    return "/v1/events/%s/reservations" % slug


def body(slot, mail, name="利用者"):
    return {"slot_id": slot, "email": mail, "fields": {"name": name}}


def quantile(values, q):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def run_async(coro):
    return asyncio.run(coro)


class Clock:
    """Seconds since the run began (monotonic), shared by the load and the chaos thread."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.lock = threading.Lock()

    def now(self):
        return time.monotonic() - self.t0
