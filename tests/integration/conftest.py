"""Session fixtures for the integration suite: one real stack (Redis, PostgreSQL 15, SMTP sink,
yoyaku-ingress, two yoyaku-workers) on free ports, started once and torn down at the end; plus
per-test helpers (fresh events, bookings, queue snapshots). Binaries come from $YOYAKU_BUILD_DIR
(default build/). Service logs of a failed test are attached to its report."""

import datetime

import pytest

import ykstack
from ykstack import own_stack, email, rfc3339, slot_time, unique, wait_until

_stack = None


@pytest.fixture(scope="session")
def stack():
    global _stack
    for s in own_stack():
        _stack = s
        yield s
        _stack = None


@pytest.fixture
def api(stack):
    return stack.client


@pytest.fixture(autouse=True)
def _log_marks(request):
    """Remembers where each service log stood when the test started (for failure reports), and
    fails the test whose requests made a sanitizer report in a service log."""
    s = _stack
    if s is not None:
        request.node._yk_marks = {p: p.log_size() for p in s.procs}
    yield
    if s is None or _stack is not s or getattr(s, "stop_results", None) is not None:
        return   # no stack, or the test stopped it (test_zz_shutdown checks the logs itself)
    marks = getattr(request.node, "_yk_marks", {})
    for p in s.procs:
        text = p.log_text(marks.get(p, 0))
        if any(m in text for m in ykstack.SANITIZER_MARKS):
            s.reported.add(p.name)
            pytest.fail("sanitizer report in %s's log during this test:\n%s" % (p.name, text[-6000:]),
                        pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and _stack is not None:
        marks = getattr(item, "_yk_marks", {})
        for p in _stack.procs:
            text = p.log_text(marks.get(p, 0))
            lines = text.splitlines()
            if len(lines) > 150:
                lines = ["... (%d lines cut; full log %s)" % (len(lines) - 150, p.log_path)] + lines[-150:]
            if lines:
                rep.sections.append(("service log: %s" % p.name, "\n".join(lines)))


# ---------------------------------------------------------------------------------------------------
# events


DEFAULT_FIELDS = [{"name": "name", "label": {"ja": "氏名", "en": "Name"}, "type": "text",
                   "required": True, "max_length": 50}]


class Event:
    def __init__(self, stack, slug, definition, slots):
        self.stack = stack
        self.slug = slug
        self.definition = definition
        self.slots = slots                      # list of slot dicts from the public API, by start
        self.slot_ids = [s["id"] for s in slots]
        self.id = int(stack.scalar("SELECT id FROM events WHERE slug = '%s'" % slug))
        key = stack.scalar("SELECT coalesce(partition_key, campaign, slug) FROM events "
                           "WHERE slug = '%s'" % slug)     # proto/sql/0007
        self.partition = ykstack.partition_of(key, stack.partitions)

    def body(self, slot_id=None, mail=None, fields=None):
        return {"slot_id": slot_id or self.slot_ids[0], "email": mail or email(),
                "fields": {"name": "予約 太郎"} if fields is None else fields}

    def reserve(self, client=None, headers=None, **kw):
        c = client or self.stack.client
        return c.post("/v1/events/%s/reservations" % self.slug, self.body(**kw), headers=headers)

    def rows(self):
        return self.stack.psql("SELECT id, request_id, slot_id, status, email, identity "
                               "FROM bookings WHERE event_id = %d ORDER BY id" % self.id)


@pytest.fixture
def make_event(stack):
    """make_event(capacities=[50], fields=DEFAULT_FIELDS, day=30, **definition) -> Event.
    Slots are hour-long, from 09:00 Asia/Tokyo on day `day` from today, one per capacity."""
    def make(capacities=(50,), fields=None, day=30, **extra):
        slug = unique("t")
        definition = {"slug": slug, "title": "テスト " + slug, "timezone": "Asia/Tokyo",
                      "fields": DEFAULT_FIELDS if fields is None else fields}
        definition.update(extra)
        c = stack.client
        r = c.post("/v1/admin/events", definition, admin=True)
        assert r.status == 201, r
        slots = []
        for i, cap in enumerate(capacities):
            start = slot_time(day, 9) + datetime.timedelta(hours=i)
            slots.append({"starts_at": rfc3339(start),
                          "ends_at": rfc3339(start + datetime.timedelta(minutes=30)),
                          "capacity": cap})
        if slots:
            r = c.post("/v1/admin/events/%s/slots" % slug, {"slots": slots}, admin=True)
            assert r.status == 201, r
            assert r.json == {"created": len(slots)}, r
        listed = []
        if slots:
            # The ingress reloads its catalogue after an admin change; wait until the slots show
            # (test_admin.py checks separately that they show at once).
            d = slot_time(day, 0).date()
            path = "/v1/events/%s/slots?from=%s&to=%s" % (slug, d, d + datetime.timedelta(days=1))

            def visible():
                r = c.get(path)
                assert r.status == 200, r
                return r if len(r.json["slots"]) == len(slots) else None
            r = wait_until(visible, 10, 0.02, what="slots of %s listed" % slug)
            listed = sorted(r.json["slots"], key=lambda s: s["starts_at"])
        return Event(stack, slug, definition, listed)
    return make
