"""yoyaku-worker's mail jobs, cancellations, bounded retries and its own /metrics:
- every booking gets exactly one confirmation job, in the same transaction, also under
  duplicates/redelivery; its one reminder job (due reminder.days_before days before the slot's
  local date at reminder.at, in the event's zone, DST included; none when already past or not
  before the slot) is written by the stack's notifier when it settles the confirmation;
- `cancel` entries (proto/streams.md) are decided in stream order: 404 for another event or token,
  200 once with one effect however often delivered, 409 cancellation_closed, the seat free at once;
- an entry that keeps hitting a non-connection error is answered 500 and acked;
- GET /metrics on YOYAKU_METRICS_LISTEN is valid Prometheus text 0.0.4."""

import datetime
import hashlib
import http.client
import json
import math
import re
import signal
import time
import uuid
from zoneinfo import ZoneInfo

import pytest

from ykstack import email, rfc3339, slot_time, unique, wait_until, xadd_entry

FIELDS = [{"name": "name", "label": "Name", "type": "text", "required": True}]


# ---------------------------------------------------------------------------------------------------
# helpers


def outbox(stack, booking_id):
    """{kind: (status, due_at as Unix seconds)} of a booking's mail jobs."""
    rows = stack.psql("SELECT kind, status, extract(epoch FROM due_at) FROM mail_outbox "
                      "WHERE booking_id = %d" % int(booking_id))
    jobs = {}
    for kind, status, due in rows:
        assert kind not in jobs, "two %s jobs for booking %s" % (kind, booking_id)
        jobs[kind] = (status, float(due))
    return jobs


def settled(stack, booking_id, want=("confirmation", "reminder"), timeout=30):
    """outbox() once the stack's notifier has settled the confirmation (sent, or dead) and the
    booking has at least the jobs in want: the reminder job is written with that outcome."""
    def done():
        jobs = outbox(stack, booking_id)
        return (jobs.get("confirmation", ("pending",))[0] != "pending" and set(want) <= set(jobs)
                and jobs)
    return wait_until(done, timeout, 0.05, what="mail jobs %s of booking %s" % (want, booking_id))


def book(stack, slug, slot_id, mail=None, headers=None):
    r = stack.client.post("/v1/events/%s/reservations" % slug,
                          {"slot_id": slot_id, "email": mail or email(), "fields": {"name": "予約"}},
                          headers=headers)
    assert r.status == 201, r
    return r.json


def create_event(stack, slots, **definition):
    """An event from a definition (timezone etc.) and slots [(start datetime, capacity)]; returns
    (slug, event id, partition, slot ids in the given order)."""
    slug = unique("m")
    d = {"slug": slug, "title": "メール " + slug, "fields": FIELDS}
    d.update(definition)
    r = stack.client.post("/v1/admin/events", d, admin=True)
    assert r.status == 201, r
    body = {"slots": [{"starts_at": rfc3339(s), "ends_at": rfc3339(s + datetime.timedelta(hours=1)),
                       "capacity": cap} for s, cap in slots]}
    r = stack.client.post("/v1/admin/events/%s/slots" % slug, body, admin=True)
    assert r.status == 201, r
    ev = int(stack.scalar("SELECT id FROM events WHERE slug = '%s'" % slug))
    ids = {}
    for sid, epoch in stack.psql("SELECT id, extract(epoch FROM starts_at) FROM slots "
                                 "WHERE event_id = %d" % ev):
        ids[int(float(epoch))] = sid
    slot_ids = [ids[int(s.timestamp())] for s, _ in slots]
    from ykstack import partition_of
    part = partition_of(d.get("campaign") or slug, stack.partitions)

    def listed():  # the ingress knows the slots (catalogue reloaded after the admin change)
        days = sorted(s.date() for s, _ in slots)
        r = stack.client.get("/v1/events/%s/slots?from=%s&to=%s" % (
            slug, days[0] - datetime.timedelta(days=1), days[-1] + datetime.timedelta(days=1)))
        return r.status == 200 and len(r.json["slots"]) == len(slots)
    wait_until(listed, 10, 0.05, what="slots of %s listed" % slug)
    return slug, ev, part, slot_ids


def remaining(stack, slug, slot_id, day):
    r = stack.client.get("/v1/events/%s/slots?from=%s&to=%s" % (
        slug, day - datetime.timedelta(days=1), day + datetime.timedelta(days=1)))
    assert r.status == 200, r
    return {s["id"]: s["remaining"] for s in r.json["slots"]}[slot_id]


def xadd(stack, partition, fields, legacy=False):
    return xadd_entry(stack, partition, fields, legacy)


def answer(stack, rid, timeout=20):
    """(HTTP status, body) the worker stored in yk:res:<rid>."""
    def get():
        v = stack.redis("GET", "yk:res:" + rid)
        return v if v and not v.startswith("0 ") else None
    v = wait_until(get, timeout, 0.05, what="answer of %s" % rid)
    code, body = v.split(" ", 1)
    return int(code), json.loads(body)


def cancel_entry(stack, partition, ev, booking_id, token=None, th=None, rid=None):
    rid = rid or uuid.uuid4().hex
    th = th or hashlib.sha256(token.encode()).hexdigest()
    xadd(stack, partition, {"t": "cancel", "id": rid, "ing": "tests", "ev": ev,
                            "booking": booking_id, "th": th, "at": int(time.time() * 1000)})
    return rid


def cancel(stack, partition, ev, booking_id, token=None, th=None, rid=None):
    return answer(stack, cancel_entry(stack, partition, ev, booking_id, token, th, rid))


def reserve_entry(stack, partition, ev, slot_id, mail, rid=None, token=None,
                  fields='{"name":"X"}', legacy=False):
    rid = rid or uuid.uuid4().hex
    tok = token or (uuid.uuid4().hex + uuid.uuid4().hex)[:43]
    xadd(stack, partition, {"t": "reserve", "id": rid, "ing": "tests", "ev": ev, "slot": slot_id,
                            "email": mail, "ident": mail.lower(), "fields": fields,
                            "tok": tok, "at": int(time.time() * 1000)}, legacy=legacy)
    return rid


def owner_of(stack, partition, timeout=15):
    def find():
        name = stack.partition_owners().get(partition)
        return {w.worker_id: w for w in stack.live_workers()}.get(name)
    return wait_until(find, timeout, 0.1, what="an owner of partition %d" % partition)


def local_epoch(tz, day, hh, mm):
    return datetime.datetime(day.year, day.month, day.day, hh, mm, tzinfo=ZoneInfo(tz)).timestamp()


# ---------------------------------------------------------------------------------------------------
# mail jobs with each booking


def test_confirmation_and_reminder_per_booking_tokyo(stack, make_event):
    ev = make_event(capacities=[10], reminder={"days_before": 2, "at": "18:30"})
    start = slot_time(30, 9)
    keyed = {"Idempotency-Key": uuid.uuid4().hex}
    mail = email("idem")
    bookings = [book(stack, ev.slug, ev.slot_ids[0]) for _ in range(3)]
    first = book(stack, ev.slug, ev.slot_ids[0], mail=mail, headers=keyed)
    again = book(stack, ev.slug, ev.slot_ids[0], mail=mail, headers=keyed)  # same key, same body
    assert again["booking"]["id"] == first["booking"]["id"]
    bookings.append(first)
    due = local_epoch("Asia/Tokyo", start.date() - datetime.timedelta(days=2), 18, 30)
    for b in bookings:
        # committed with the booking: its confirmation job (perhaps already sent)
        assert "confirmation" in outbox(stack, b["booking"]["id"])
    for b in bookings:
        jobs = settled(stack, b["booking"]["id"])
        assert set(jobs) == {"confirmation", "reminder"}, jobs
        assert abs(jobs["confirmation"][1] - time.time()) < 120, jobs
        assert jobs["reminder"] == ("pending", due), jobs
    assert int(stack.scalar("SELECT count(*) FROM mail_outbox m JOIN bookings b ON "
                            "b.id = m.booking_id WHERE b.event_id = %d" % ev.id)) == 8


def worker_logs(stack):
    """{name: log size} of the running workers."""
    return {p.name: p.log_size() for p in stack.procs if p.name.startswith("worker") and p.alive()}


def logged_since(stack, sizes):
    """What the running workers logged after worker_logs() gave sizes."""
    return "".join(p.log_text(sizes.get(p.name, 0)) for p in stack.procs
                   if p.name.startswith("worker") and p.alive())


WRITTEN_AGAIN = "committed already: batch written again"


def test_new_request_ids_written_once(stack, make_event):
    # Entries read for the first time are written with plain inserts (no ON CONFLICT): one
    # statement, not refused and written again.
    ev = make_event(capacities=[5])
    sizes = worker_logs(stack)
    ids = [book(stack, ev.slug, ev.slot_ids[0])["booking"]["id"] for _ in range(3)]
    for bid in ids:
        assert "confirmation" in outbox(stack, bid)
    assert int(stack.scalar("SELECT booked FROM slots WHERE id = %s" % ev.slot_ids[0])) == 3
    text = logged_since(stack, sizes)
    assert WRITTEN_AGAIN not in text and "refused" not in text, text[-3000:]


def test_redelivered_request_keeps_one_job_per_kind(stack, make_event):
    ev = make_event(capacities=[5])
    b = book(stack, ev.slug, ev.slot_ids[0])
    bid = b["booking"]["id"]
    rid = stack.scalar("SELECT request_id FROM bookings WHERE id = %s" % bid)
    before = settled(stack, bid)
    assert set(before) == {"confirmation", "reminder"}, before
    # The same request id delivered again: refused in memory (the identity holds its booking) and
    # answered from the database; or, another identity, accepted in memory and skipped by ON
    # CONFLICT (request_id) in the insert, which (re)writes the jobs with ON CONFLICT DO NOTHING.
    for mail in (b["booking"]["email"], email("other")):
        stack.redis("DEL", "yk:res:" + rid)  # answer() waits for this delivery's answer
        sizes = worker_logs(stack)
        code, body = answer(stack, reserve_entry(stack, ev.partition, ev.id, ev.slot_ids[0], mail,
                                                 rid=rid))
        assert code == 201 and body["booking"]["id"] == bid, body
        # accepted in memory: the plain insert of a new entry is refused, then written again
        assert (WRITTEN_AGAIN in logged_since(stack, sizes)) == (mail != b["booking"]["email"])
        assert outbox(stack, bid) == before
        assert int(stack.scalar("SELECT booked FROM slots WHERE id = %s" % ev.slot_ids[0])) == 1
    # a booking that lacks its jobs (written before the outbox existed) gets its confirmation job
    # on redelivery, and its reminder job once that is settled
    stack.psql("DELETE FROM mail_outbox WHERE booking_id = %s" % bid)
    stack.redis("DEL", "yk:res:" + rid)
    code, body = answer(stack, reserve_entry(stack, ev.partition, ev.id, ev.slot_ids[0],
                                             email("third"), rid=rid))
    assert code == 201 and body["booking"]["id"] == bid, body
    assert "confirmation" in outbox(stack, bid)
    assert set(settled(stack, bid)) == {"confirmation", "reminder"}
    assert ev.rows()[0][0] == bid and len(ev.rows()) == 1


def next_dst_change(tz, after_days=3):
    """First local date d (at least after_days from today) whose UTC offset differs from d-1's."""
    z = ZoneInfo(tz)
    d = datetime.datetime.now(z).date() + datetime.timedelta(days=after_days)
    for _ in range(400):
        a = datetime.datetime(d.year, d.month, d.day, 0, 0, tzinfo=z).utcoffset()
        b = datetime.datetime(d.year, d.month, d.day, 12, 0, tzinfo=z).utcoffset()
        if a != b:
            return d
        d += datetime.timedelta(days=1)
    raise AssertionError("no DST change in %s within 400 days" % tz)


def test_reminder_due_across_dst_new_york(stack):
    tz = "America/New_York"
    change = next_dst_change(tz)
    z = ZoneInfo(tz)
    starts = [datetime.datetime.combine(change + datetime.timedelta(days=k), datetime.time(9, 0),
                                        tzinfo=z) for k in (0, 1, 2)]
    slug, ev, part, slots = create_event(stack, [(s, 5) for s in starts], timezone=tz,
                                         reminder={"days_before": 1, "at": "10:00"})
    offsets = []
    for s, sid in zip(starts, slots):
        b = book(stack, slug, sid)
        assert b["booking"]["starts_at"] == s.isoformat(), b
        jobs = settled(stack, b["booking"]["id"])
        want = local_epoch(tz, s.date() - datetime.timedelta(days=1), 10, 0)
        assert jobs["reminder"] == ("pending", want), (s, jobs)
        offsets.append(datetime.datetime.fromtimestamp(want, z).utcoffset())
    # the first reminder is due before the change, the others after it: 10:00 local in both
    assert offsets[0] != offsets[1] == offsets[2], offsets


def test_no_reminder_when_past_or_not_before_the_slot(stack):
    tz = "Asia/Tokyo"
    z = ZoneInfo(tz)
    tomorrow = datetime.datetime.now(z).date() + datetime.timedelta(days=2)
    start = datetime.datetime.combine(tomorrow, datetime.time(9, 0), tzinfo=z)
    # 5 days before: already past
    slug, _, _, slots = create_event(stack, [(start, 5)], reminder={"days_before": 5, "at": "10:00"})
    jobs = settled(stack, book(stack, slug, slots[0])["booking"]["id"], want=["confirmation"])
    assert set(jobs) == {"confirmation"}, jobs
    # same day at 10:00 for a 09:00 slot: not before the slot
    slug, _, _, slots = create_event(stack, [(start, 5)], reminder={"days_before": 0, "at": "10:00"})
    jobs = settled(stack, book(stack, slug, slots[0])["booking"]["id"], want=["confirmation"])
    assert set(jobs) == {"confirmation"}, jobs
    # same day at 08:00: due
    slug, _, _, slots = create_event(stack, [(start, 5)], reminder={"days_before": 0, "at": "08:00"})
    jobs = settled(stack, book(stack, slug, slots[0])["booking"]["id"])
    assert jobs["reminder"] == ("pending", local_epoch(tz, tomorrow, 8, 0)), jobs


# ---------------------------------------------------------------------------------------------------
# cancellations


def test_cancel_entry_frees_the_seat_once(stack, make_event):
    ev = make_event(capacities=[1])
    other = make_event(capacities=[1])
    day = slot_time(30, 9).date()
    b = book(stack, ev.slug, ev.slot_ids[0])
    bid, token = b["booking"]["id"], b["token"]
    settled(stack, bid)  # the reminder job is there for the cancellation to cancel
    r = ev.reserve()
    assert r.status == 409 and r.error == "slot_full", r
    assert remaining(stack, ev.slug, ev.slot_ids[0], day) == 0

    code, body = cancel(stack, ev.partition, ev.id, bid, token="x" * 43)      # another token
    assert (code, body["error"]) == (404, "not_found"), body
    code, body = cancel(stack, ev.partition, other.id, bid, token=token)      # another event
    assert (code, body["error"]) == (404, "not_found"), body
    code, body = cancel(stack, ev.partition, ev.id, "999999999", token=token)  # no such booking
    assert (code, body["error"]) == (404, "not_found"), body
    assert stack.scalar("SELECT status FROM bookings WHERE id = %s" % bid) == "confirmed"

    code, body = cancel(stack, ev.partition, ev.id, bid, token=token)
    assert code == 200, body
    want = dict(b["booking"], status="cancelled")
    assert body == {"booking": want}
    # the seat is free at once: published before the answer, bookable by the next request
    assert remaining(stack, ev.slug, ev.slot_ids[0], day) == 1
    assert int(stack.scalar("SELECT booked FROM slots WHERE id = %s" % ev.slot_ids[0])) == 0
    jobs = outbox(stack, bid)
    assert set(jobs) == {"confirmation", "reminder", "cancellation"}, jobs
    assert jobs["reminder"][0] == "cancelled"

    # cancelled again, and the same entry delivered again: the same answer, no second effect
    rid = uuid.uuid4().hex
    for _ in range(2):
        code, again = cancel(stack, ev.partition, ev.id, bid, token=token, rid=rid)
        assert (code, again) == (200, body)
        stack.redis("DEL", "yk:res:" + rid)
    assert cancel(stack, ev.partition, ev.id, bid, token=token) == (200, body)
    assert outbox(stack, bid) == jobs
    assert int(stack.scalar("SELECT booked FROM slots WHERE id = %s" % ev.slot_ids[0])) == 0

    # the same booker may book again (per-person limit 1 counts active bookings only)
    r = stack.client.post("/v1/events/%s/reservations" % ev.slug,
                          {"slot_id": ev.slot_ids[0], "email": b["booking"]["email"],
                           "fields": {"name": "again"}})
    assert r.status == 201, r
    assert remaining(stack, ev.slug, ev.slot_ids[0], day) == 0


def test_cancellation_closed(stack):
    z = ZoneInfo("Asia/Tokyo")
    soon = (datetime.datetime.now(z) + datetime.timedelta(hours=6)).replace(minute=0, second=0,
                                                                           microsecond=0)
    later = soon + datetime.timedelta(days=5)
    slug, ev, part, slots = create_event(stack, [(soon, 3), (later, 3)], cancel_until_hours=24)
    b = book(stack, slug, slots[0])
    code, body = cancel(stack, part, ev, b["booking"]["id"], token=b["token"])
    assert code == 409 and body["error"] == "cancellation_closed" and body["message"], body
    b2 = book(stack, slug, slots[1])
    stack.psql("UPDATE bookings SET status = 'attended' WHERE id = %s" % b2["booking"]["id"])
    code, body = cancel(stack, part, ev, b2["booking"]["id"], token=b2["token"])
    assert code == 409 and body["error"] == "cancellation_closed", body
    assert stack.scalar("SELECT string_agg(status, ',' ORDER BY id) FROM bookings WHERE event_id = "
                        "%d" % ev) == "confirmed,attended"
    assert int(stack.scalar("SELECT count(*) FROM mail_outbox m JOIN bookings b ON b.id = "
                            "m.booking_id WHERE b.event_id = %d AND kind = 'cancellation'" % ev)) == 0


def test_cancel_then_rebook_in_one_batch(stack, make_event):
    """A cancel and, behind it in the same batch, a booking by the same identity for the freed
    seat: decided in stream order, committed in one transaction (cancellations first)."""
    ev = make_event(capacities=[1])
    b = book(stack, ev.slug, ev.slot_ids[0])
    settled(stack, b["booking"]["id"])
    mail = b["booking"]["email"]
    owner = owner_of(stack, ev.partition)
    owner.signal(signal.SIGSTOP)
    try:
        # the stopped worker may be blocked reading the stream: this entry is what it gets
        xadd(stack, ev.partition, {"t": "reserve", "id": uuid.uuid4().hex, "ing": "tests"})
        time.sleep(0.3)
        full = reserve_entry(stack, ev.partition, ev.id, ev.slot_ids[0], email())
        c1 = cancel_entry(stack, ev.partition, ev.id, b["booking"]["id"], token=b["token"])
        c2 = cancel_entry(stack, ev.partition, ev.id, b["booking"]["id"], token=b["token"])
        # written as an older ingress did (one stream field each): read all the same
        again = reserve_entry(stack, ev.partition, ev.id, ev.slot_ids[0], mail.upper(), legacy=True)
        late = reserve_entry(stack, ev.partition, ev.id, ev.slot_ids[0], email())
    finally:
        owner.signal(signal.SIGCONT)
    assert answer(stack, full)[1]["error"] == "slot_full"
    code1, body1 = answer(stack, c1)
    assert code1 == 200 and body1["booking"]["status"] == "cancelled", body1
    assert answer(stack, c2) == (code1, body1)
    code, body = answer(stack, again)
    assert code == 201, body
    assert answer(stack, late)[1]["error"] == "slot_full"
    rows = ev.rows()
    assert [r[3] for r in rows] == ["cancelled", "confirmed"], rows
    assert int(stack.scalar("SELECT booked FROM slots WHERE id = %s" % ev.slot_ids[0])) == 1
    assert set(outbox(stack, rows[0][0])) == {"confirmation", "reminder", "cancellation"}
    assert set(settled(stack, rows[1][0])) == {"confirmation", "reminder"}


def test_cancel_over_http_when_routed(stack, make_event):
    ev = make_event(capacities=[1])
    b = book(stack, ev.slug, ev.slot_ids[0])
    path = "/v1/bookings/%s/cancel" % b["booking"]["id"]
    r = stack.client.post(path, {}, headers={"X-Booking-Token": b["token"]})
    if r.status in (404, 405) and b"No such route" in r.body or r.status == 405:
        pytest.skip("the ingress has no cancel route yet")
    assert r.status == 200, r
    assert r.json["booking"] == dict(b["booking"], status="cancelled"), r
    assert remaining(stack, ev.slug, ev.slot_ids[0], slot_time(30, 9).date()) == 1
    r = stack.client.post(path, {}, headers={"X-Booking-Token": "y" * 43})
    assert r.status == 404, r
    r = stack.client.post(path, {}, headers={"X-Booking-Token": b["token"]})
    assert r.status == 200 and r.json["booking"]["status"] == "cancelled", r
    assert ev.reserve().status == 201


# ---------------------------------------------------------------------------------------------------
# an entry that cannot be stored is answered, not retried forever


def test_persistent_error_is_answered_500(stack, make_event):
    ev = make_event(capacities=[5])
    stack.psql("CREATE OR REPLACE FUNCTION yk_test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
               "$$ BEGIN IF NEW.email LIKE 'refuse-%' THEN RAISE EXCEPTION 'refused by test'; "
               "END IF; RETURN NEW; END $$")
    stack.psql("CREATE TRIGGER yk_test_refuse BEFORE INSERT ON bookings FOR EACH ROW "
               "EXECUTE FUNCTION yk_test_refuse()")
    try:
        bad = reserve_entry(stack, ev.partition, ev.id, ev.slot_ids[0], email("refuse"))
        good = reserve_entry(stack, ev.partition, ev.id, ev.slot_ids[0], email("fine"))
        assert answer(stack, good)[0] == 201          # not held up by the bad one
        code, body = answer(stack, bad, timeout=60)
        assert (code, body["error"]) == (500, "internal"), body
    finally:
        stack.psql("DROP TRIGGER IF EXISTS yk_test_refuse ON bookings")
        stack.psql("DROP FUNCTION IF EXISTS yk_test_refuse()")
    stream = "yk:req:{%d}" % ev.partition
    wait_until(lambda: int(stack.redis("XPENDING", stream, "workers")[0]) == 0, 10, 0.1,
               what="the failed entry acked")
    assert int(stack.scalar("SELECT booked FROM slots WHERE id = %s" % ev.slot_ids[0])) == 1
    assert ev.reserve().status == 201                 # the partition goes on


def test_bad_fields_text_answered_500_alone(stack, make_event):
    """The worker copies an entry's `fields` text verbatim into the 201 body and the batch's jsonb
    payload, so it checks it first: a text that jsonb or the contract (a flat object of strings and
    booleans, proto/streams.md) would not take is answered 500 at once, while the good entries
    around it in the same batch are committed together, the batch statement never refused."""
    ev = make_event(capacities=[20])
    owner = owner_of(stack, ev.partition)
    mark = owner.log_size()
    bad_texts = ['{"name":"X"', '{"name":"\\u0000"}', '{"name":"\\ud800"}', '{"name":1.5}',
                 '{"name":{"a":"b"}}', '{"name":"a","name":"b"}', '["X"]', '{"name":"a\tb"}',
                 b'{"name":"\xff"}', '{"name":"X"} {}', '',
                 '{"name":"X",\n"ok":true}']   # a line break: answers travel one per line
    owner.signal(signal.SIGSTOP)
    try:
        # the stopped worker may be blocked reading the stream: this entry is what it gets
        xadd(stack, ev.partition, {"t": "reserve", "id": uuid.uuid4().hex, "ing": "tests"})
        time.sleep(0.3)
        good, bad = [], []
        for text in bad_texts:
            good.append(reserve_entry(stack, ev.partition, ev.id, ev.slot_ids[0], email("good"),
                                      fields='{"name":"予約 \\"太郎\\"\\t\\\\","ok":true}'))
            bad.append(reserve_entry(stack, ev.partition, ev.id, ev.slot_ids[0], email("bad"),
                                     fields=text))
    finally:
        owner.signal(signal.SIGCONT)
    for rid in good:
        code, body = answer(stack, rid)
        assert code == 201, body
        assert body["booking"]["fields"] == {"name": '予約 "太郎"\t\\', "ok": True}, body
    for text, rid in zip(bad_texts, bad):
        code, body = answer(stack, rid)
        assert (code, body["error"]) == (500, "internal"), (text, body)
    assert stack.bookings_count(ev.id) == len(good)
    log = owner.log_text(mark)
    assert "refused" not in log and "malformed entry" in log, log


# ---------------------------------------------------------------------------------------------------
# /metrics


NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE_RE = re.compile(r"^(%s)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$" % NAME)
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL_RE.match(text, pos)
        assert m, "bad label set {%s}" % text
        assert m.group(1) not in labels, "label %s twice" % m.group(1)
        labels[m.group(1)] = m.group(2)
        pos = m.end()
        if pos < len(text):
            assert text[pos] == ",", "bad label set {%s}" % text
            pos += 1
            assert pos < len(text), "trailing comma in {%s}" % text
    return labels


def parse_value(v):
    if v in ("+Inf", "-Inf", "NaN"):
        return float(v.replace("Inf", "inf").replace("NaN", "nan"))
    assert re.match(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$", v), "bad value %r" % v
    return float(v)


def check_prometheus_text(text):
    """Strict check of the Prometheus text format 0.0.4 (what `promtool check metrics` parses):
    HELP/TYPE at most once and before their samples, a family's samples together, valid names,
    labels and values, no duplicate series, histograms with ascending le buckets ending in +Inf,
    cumulative counts, +Inf bucket == _count, and a _sum. Returns {family: {type, samples}}."""
    assert text.endswith("\n"), "must end with a newline"
    fams, order, done = {}, [], set()
    current = None
    seen = set()
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind, rest = line[2:6], line[7:]
            name, _, arg = rest.partition(" ")
            assert re.fullmatch(NAME, name), line
            f = fams.setdefault(name, {"type": "untyped", "help": None, "samples": []})
            if kind == "TYPE":
                assert arg in ("counter", "gauge", "histogram", "summary", "untyped"), line
                assert "typed" not in f and not f["samples"], "TYPE late or twice: " + line
                f["type"], f["typed"] = arg, True
            else:
                assert f["help"] is None, "HELP twice: " + line
                f["help"] = arg
            assert name not in done, "family %s split" % name
            if current != name:
                if current:
                    done.add(current)
                current = name
            continue
        if line.startswith("#") or line.strip() == "":
            continue
        m = SAMPLE_RE.match(line)
        assert m, "bad sample line %r" % line
        name, labels, value = m.group(1), parse_labels(m.group(2) or ""), parse_value(m.group(3))
        fam = name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and fams.get(base, {}).get("type") == "histogram":
                fam = base
        f = fams.setdefault(fam, {"type": "untyped", "help": None, "samples": []})
        assert fam not in done, "samples of %s not together" % fam
        if current != fam:
            if current:
                done.add(current)
            current = fam
        key = (name, tuple(sorted(labels.items())))
        assert key not in seen, "duplicate series %r" % (key,)
        seen.add(key)
        if f["type"] == "counter":
            assert value >= 0, line
        if f["type"] == "histogram":
            assert name != fam, "histogram %s needs _bucket/_sum/_count: %r" % (fam, line)
        f["samples"].append((name, labels, value))
        order.append(fam)
    for fam, f in fams.items():
        if f["type"] != "histogram":
            continue
        series = {}
        for name, labels, value in f["samples"]:
            rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            s = series.setdefault(rest, {"buckets": [], "sum": None, "count": None})
            if name.endswith("_bucket"):
                assert "le" in labels, "bucket without le"
                s["buckets"].append((parse_value(labels["le"]), value))
            elif name.endswith("_sum"):
                s["sum"] = value
            else:
                s["count"] = value
        for rest, s in series.items():
            b = s["buckets"]
            assert b and b[-1][0] == math.inf, "%s%r lacks le=\"+Inf\"" % (fam, rest)
            assert [x[0] for x in b] == sorted(x[0] for x in b) and len({x[0] for x in b}) == len(b)
            assert all(b[i][1] <= b[i + 1][1] for i in range(len(b) - 1)), "not cumulative"
            assert s["count"] is not None and s["sum"] is not None, "%s lacks _sum/_count" % fam
            assert b[-1][1] == s["count"], "+Inf bucket != _count in %s" % fam
    return fams


def http_get(addr, path):
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read().decode("utf-8")
    finally:
        c.close()


def test_worker_metrics_and_healthz(stack, make_event):
    ev = make_event(capacities=[1])
    b = book(stack, ev.slug, ev.slot_ids[0])
    assert ev.reserve().status == 409
    code, _ = cancel(stack, ev.partition, ev.id, b["booking"]["id"], token=b["token"])
    assert code == 200
    workers = [w for w in stack.live_workers() if w.env.get("YOYAKU_METRICS_LISTEN")]
    if not workers:
        pytest.skip("the harness starts no worker with YOYAKU_METRICS_LISTEN")
    owner = owner_of(stack, ev.partition)
    totals, owned = {}, 0
    for w in workers:
        addr = w.env["YOYAKU_METRICS_LISTEN"]
        status, ctype, body = http_get(addr, "/healthz")
        assert status == 200, body
        assert http_get(addr, "/nope")[0] == 404
        status, ctype, text = http_get(addr, "/metrics")
        assert status == 200 and ctype.startswith("text/plain; version=0.0.4"), (status, ctype)
        fams = check_prometheus_text(text)
        info = fams["yoyaku_build_info"]
        assert info["type"] == "gauge" and info["samples"][0][1]["service"] == "worker", info
        assert fams["yoyaku_worker_batch_size"]["type"] == "histogram"
        assert fams["yoyaku_worker_batch_seconds"]["type"] == "histogram"
        assert fams["yoyaku_worker_redeliveries_total"]["type"] == "counter"
        assert fams["yoyaku_bookings_total"]["type"] == "counter"
        owned += int(fams["yoyaku_worker_partitions_owned"]["samples"][0][2])
        if w is owner:
            results = {s[1]["result"]: s[2] for s in fams["yoyaku_bookings_total"]["samples"]}
            assert results.get("confirmed", 0) >= 1 and results.get("cancelled", 0) >= 1, results
            sizes = [s for s in fams["yoyaku_worker_batch_size"]["samples"]
                     if s[0].endswith("_count")]
            assert sizes[0][2] >= 1
        for s in fams["yoyaku_bookings_total"]["samples"]:
            totals[s[1]["result"]] = totals.get(s[1]["result"], 0) + s[2]
    assert owned <= stack.partitions
    assert totals.get("confirmed", 0) >= 1
