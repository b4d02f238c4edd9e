"""Phased opening (contract §2 "Phases", issue 14): an event's phases are checked against its number
and date fields (422 otherwise), shown with the event, enforced at the ingress (409 booking_closed
with the opens_at of the booker's phase, null when none will open) and again by the deciding
worker (a request queued past the ingress is refused the same way), and a PATCH changes them at
once."""

import datetime
import json
import time
import uuid

from ykstack import email, rfc3339, unique, wait_until, xadd_entry

FIELDS = [{"name": "name", "label": "Name", "type": "text", "required": True},
          {"name": "birth", "label": "Birth date", "type": "date"},
          {"name": "age", "label": "Age", "type": "number"}]


def at(hours):
    """An RFC 3339 time `hours` from now, in Japan's offset, to the second."""
    t = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=9)))
    return rfc3339((t + datetime.timedelta(hours=hours)).replace(microsecond=0))


def person(birth=None, age=None):
    f = {"name": "予約 太郎"}
    if birth is not None:
        f["birth"] = birth
    if age is not None:
        f["age"] = age
    return f


def test_phases_at_the_ingress(stack, make_event):
    first, later = at(-1), at(24 * 7)
    ev = make_event(fields=FIELDS, phases=[
        {"opens_at": later},
        {"opens_at": first, "field": "birth", "max": "1961-12-31"}])
    shown = stack.client.get("/v1/events/%s" % ev.slug)
    assert shown.status == 200, shown
    assert [p["opens_at"] for p in shown.json["phases"]] == [later, first], shown
    assert shown.json["phases"][1]["field"] == "birth", shown

    r = ev.reserve(fields=person(birth="1961-12-31"))       # their phase is open
    assert r.status == 201, r
    r = ev.reserve(fields=person(birth="１９６２-01-01"))     # full-width digits: 1962, next week
    assert r.status == 409 and r.error == "booking_closed", r
    assert r.json["opens_at"] == later, r
    assert set(r.json) == {"error", "message", "opens_at"}, r
    r = ev.reserve(fields=person())                          # no birth date: everyone's phase
    assert r.status == 409 and r.json["opens_at"] == later, r
    assert stack.bookings_count(ev.id) == 1


def test_no_phase_ever_opens_is_null(stack, make_event):
    ev = make_event(fields=FIELDS, phases=[
        {"opens_at": at(-1), "field": "age", "min": 65},
        {"opens_at": at(48), "field": "age", "min": 18, "max": 64}])
    assert ev.reserve(fields=person(age=70)).status == 201
    r = ev.reserve(fields=person(age="40"))
    assert r.status == 409 and r.json["opens_at"] == ev.definition["phases"][1]["opens_at"], r
    r = ev.reserve(fields=person(age=12))                    # meets no phase
    assert r.status == 409 and r.error == "booking_closed" and r.json["opens_at"] is None, r
    # With an Idempotency-Key the refusal is stored as the answer, the same again on a retry.
    body = ev.body(fields=person(age=12))
    key = {"Idempotency-Key": unique("k")}
    for _ in range(2):
        r = stack.client.post("/v1/events/%s/reservations" % ev.slug, body, headers=key)
        assert r.status == 409 and r.error == "booking_closed" and r.json["opens_at"] is None, r


def test_definition_refusals(stack):
    base = {"title": "x", "fields": FIELDS}
    cases = [
        ({"phases": [{"opens_at": at(1), "field": "name", "min": "a"}]}, "phases[0].field", "type"),
        ({"phases": [{"opens_at": at(1), "field": "nope", "min": 1}]}, "phases[0].field",
         "unknown_field"),
        ({"phases": [{"opens_at": "2026-12-01 09:00", "field": "age", "min": 1}]},
         "phases[0].opens_at", "pattern"),
        ({"phases": [{"field": "age", "min": 1}]}, "phases[0].opens_at", "required"),
        ({"phases": [{"opens_at": at(1), "field": "birth", "max": 1961}]}, "phases[0].max", "type"),
        ({"phases": [{"opens_at": at(1), "field": "age", "min": 9, "max": 3}]}, "phases[0].max",
         "pattern"),
        ({"phases": [{"opens_at": at(1), "when": "now"}]}, "phases[0].when", "unknown_field"),
        ({"phases": "soon"}, "phases", "type"),
    ]
    for extra, field, reason in cases:
        d = dict(base, slug=unique("t"), **extra)
        r = stack.client.post("/v1/admin/events", d, admin=True)
        assert r.status == 422 and r.error == "invalid_fields", (extra, r)
        assert {"field": field, "reason": reason} in r.json["errors"], (extra, r)
        assert stack.scalar("SELECT count(*) FROM events WHERE slug = '%s'" % d["slug"]) == "0"
    # The phase's field must be the event's: dropping the field in a PATCH is refused too.
    slug = unique("t")
    r = stack.client.post("/v1/admin/events", dict(base, slug=slug, phases=[
        {"opens_at": at(1), "field": "age", "min": 1}]), admin=True)
    assert r.status == 201, r
    r = stack.client.request("PATCH", "/v1/admin/events/%s" % slug,
                             {"fields": FIELDS[:1]}, admin=True)
    assert r.status == 422 and {"field": "phases[0].field", "reason": "unknown_field"} \
        in r.json["errors"], r
    # Without a token: 401, never a change.
    r = stack.client.post("/v1/admin/events", dict(base, slug=unique("t")))
    assert r.status == 401, r


def test_patch_changes_phases_at_once(stack, make_event):
    ev = make_event(fields=FIELDS, phases=[{"opens_at": at(24)}])
    r = ev.reserve()
    assert r.status == 409 and r.error == "booking_closed", r
    r = stack.client.request("PATCH", "/v1/admin/events/%s" % ev.slug,
                             {"phases": [{"opens_at": at(-1)}]}, admin=True)
    assert r.status == 200, r
    assert ev.reserve().status == 201
    r = stack.client.request("PATCH", "/v1/admin/events/%s" % ev.slug, {"phases": None}, admin=True)
    assert r.status == 200 and "phases" not in r.json, r
    assert stack.scalar("SELECT phases IS NULL FROM events WHERE id = %d" % ev.id) == "t"
    assert ev.reserve().status == 201


def answer(stack, rid, timeout=20):
    def get():
        v = stack.redis("GET", "yk:res:" + rid)
        return v if v and not v.startswith("0 ") else None
    v = wait_until(get, timeout, 0.05, what="answer of %s" % rid)
    code, body = v.split(" ", 1)
    return int(code), json.loads(body)


def queue(stack, ev, fields, rid=None):
    """A reservation entry added to the stream as an ingress would, past the ingress's checks."""
    rid = rid or uuid.uuid4().hex
    mail = email("w")
    xadd_entry(stack, ev.partition, {
        "t": "reserve", "id": rid, "ing": "tests", "ev": ev.id, "slot": ev.slot_ids[0],
        "email": mail, "ident": mail, "fields": json.dumps(fields, separators=(",", ":")),
        "tok": (uuid.uuid4().hex * 2)[:43], "at": int(time.time() * 1000),
        "dl": int(time.time() * 1000) + 60000})
    return rid


def test_worker_decides_phases_too(stack, make_event):
    """The worker applies the same rule when it decides: an entry the ingress did not check (or
    checked before a PATCH) is refused with the booker's opens_at."""
    later = at(24 * 7)
    ev = make_event(fields=FIELDS, phases=[
        {"opens_at": later},
        {"opens_at": at(-1), "field": "birth", "max": "1961-12-31"}])
    code, body = answer(stack, queue(stack, ev, {"name": "A", "birth": "1970-05-05"}))
    assert code == 409 and body["error"] == "booking_closed" and body["opens_at"] == later, body
    code, body = answer(stack, queue(stack, ev, {"name": "B"}))
    assert code == 409 and body["opens_at"] == later, body
    code, body = answer(stack, queue(stack, ev, {"name": "C", "birth": "1950-01-01"}))
    assert code == 201 and body["booking"]["fields"]["birth"] == "1950-01-01", body
    code, body = answer(stack, queue(stack, ev, {"name": "D", "birth": "not a date"}))
    assert code == 409 and body["opens_at"] == later, body
    assert stack.bookings_count(ev.id) == 1


def test_event_window_and_phases_together(stack, make_event):
    """Before the event itself opens, each booker hears the later of the event's opens_at and
    their phase's, at the ingress and from the worker alike."""
    event_opens, everyone = at(24), at(24 * 7)
    ev = make_event(fields=FIELDS, opens_at=event_opens, phases=[
        {"opens_at": everyone},
        {"opens_at": at(-1), "field": "birth", "max": "1961-12-31"}])
    r = ev.reserve(fields=person(birth="1950-01-01"))
    assert r.status == 409 and r.json["opens_at"] == event_opens, r
    r = ev.reserve(fields=person(birth="1990-01-01"))
    assert r.status == 409 and r.json["opens_at"] == everyone, r
    code, body = answer(stack, queue(stack, ev, {"name": "E", "birth": "1950-01-01"}))
    assert code == 409 and body["opens_at"] == event_opens, body
    code, body = answer(stack, queue(stack, ev, {"name": "F", "birth": "1990-01-01"}))
    assert code == 409 and body["opens_at"] == everyone, body
    assert stack.bookings_count(ev.id) == 0
