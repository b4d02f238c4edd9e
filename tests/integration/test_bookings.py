"""A booker's own booking (contract §2 public bookings, §4 "no booker can read, cancel or review
another's booking"): GET and cancel behind X-Booking-Token, 404 for an unknown id and a wrong token
alike; a cancelled seat is free at once; cancellation_closed inside cancel_until_hours."""

import datetime
import json

from ykstack import JST, email, rfc3339, wait_until


def remaining(stack, ev, i=0):
    d = ev.slots[i]["starts_at"][:10]
    r = stack.client.get("/v1/events/%s/slots?from=%s&to=%s" % (ev.slug, d, d))
    assert r.status == 200, r
    return {s["id"]: s["remaining"] for s in r.json["slots"]}[ev.slot_ids[i]]


def test_get_own_booking_and_no_one_elses(stack, make_event):
    ev = make_event(capacities=[5])
    a = ev.reserve()
    b = ev.reserve()
    assert a.status == 201 and b.status == 201, (a, b)
    aid, atok = a.json["booking"]["id"], a.json["token"]
    api = stack.client

    r = api.get("/v1/bookings/%s" % aid, headers={"X-Booking-Token": atok})
    assert r.status == 200, r
    assert r.json == {"booking": a.json["booking"]}, r

    other = atok[:10] + ("B" if atok[10] != "B" else "C") + atok[11:]   # one character off
    for headers in ({"X-Booking-Token": b.json["token"]}, {"X-Booking-Token": other},
                    {"X-Booking-Token": ""}, {}):
        r = api.get("/v1/bookings/%s" % aid, headers=headers)
        assert r.status == 404 and r.error == "not_found", (headers, r)
        r = api.post("/v1/bookings/%s/cancel" % aid, None, headers=headers)
        assert r.status == 404 and r.error == "not_found", (headers, r)
    r = api.get("/v1/bookings/987654321", headers={"X-Booking-Token": atok})
    assert r.status == 404 and r.error == "not_found", r
    assert [row[3] for row in ev.rows()] == ["confirmed", "confirmed"]


def test_cancel_frees_the_seat_at_once(stack, make_event):
    ev = make_event(capacities=[1])
    mail = email("cancel")
    a = ev.reserve(mail=mail)
    assert a.status == 201, a
    assert ev.reserve().status == 409
    assert remaining(stack, ev) == 0

    r = stack.client.post("/v1/bookings/%s/cancel" % a.json["booking"]["id"], None,
                          headers={"X-Booking-Token": a.json["token"]})
    assert r.status == 200, r
    want = dict(a.json["booking"], status="cancelled")
    assert r.json == {"booking": want}, r
    assert remaining(stack, ev) == 1
    assert int(stack.scalar("SELECT booked FROM slots WHERE id = %s" % ev.slot_ids[0])) == 0

    # the same person may book again (the limit counts active bookings), and the seat is taken
    again = ev.reserve(mail=mail)
    assert again.status == 201, again
    assert ev.reserve().status == 409
    r = stack.client.get("/v1/bookings/%s" % a.json["booking"]["id"],
                         headers={"X-Booking-Token": a.json["token"]})
    assert r.status == 200 and r.json["booking"]["status"] == "cancelled", r


def test_cancellation_closed(stack, make_event):
    ev = make_event(capacities=(), cancel_until_hours=48)
    start = (datetime.datetime.now(JST) + datetime.timedelta(hours=24)).replace(microsecond=0)
    r = stack.client.post("/v1/admin/events/%s/slots" % ev.slug,
                          {"slots": [{"starts_at": rfc3339(start),
                                      "ends_at": rfc3339(start + datetime.timedelta(minutes=30)),
                                      "capacity": 3}]}, admin=True)
    assert r.status == 201, r
    d = start.date()
    slots = wait_until(lambda: stack.client.get("/v1/events/%s/slots?from=%s&to=%s" % (
        ev.slug, d, d + datetime.timedelta(days=1))).json["slots"], 10, 0.05, what="slot listed")
    b = ev.reserve(slot_id=slots[0]["id"])
    assert b.status == 201, b
    r = stack.client.post("/v1/bookings/%s/cancel" % b.json["booking"]["id"], None,
                          headers={"X-Booking-Token": b.json["token"]})
    assert r.status == 409 and r.error == "cancellation_closed", r
    assert [row[3] for row in ev.rows()] == ["confirmed"]


def raw_fields(body):
    """The bytes of the "fields" value inside a raw answer body (a flat object: no '}' inside
    the values used here)."""
    text = body.decode("utf-8")
    start = text.index('"fields":') + len('"fields":')
    return text[start:text.index("}", start) + 1]


def test_fields_with_quotes_backslashes_tabs_and_japanese(stack, make_event):
    """The worker writes the 201 body and the stored fields as text, not through a JSON library:
    values holding ", \\, a tab, Japanese and an emoji come back the same in the 201 body, the
    stored row, GET and the cancel answer, and the bodies are JSON as jansson would write them
    (compact, UTF-8 not escaped)."""
    ev = make_event(fields=[
        {"name": "name", "label": "Name", "type": "text", "required": True},
        {"name": "note", "label": "Note", "type": "text"},
        {"name": "agree", "label": "Agree", "type": "checkbox"}])
    fields = {"name": '山田 "太郎"', "note": 'C:\\予約\\ "x"\tタブ\\" 😀 \\u0041', "agree": True}
    r = ev.reserve(fields=fields)
    assert r.status == 201, r
    assert r.json["booking"]["fields"] == fields, r
    raw = raw_fields(r.body)
    assert raw == json.dumps(fields, ensure_ascii=False, separators=(",", ":")), raw
    bid, tok = r.json["booking"]["id"], r.json["token"]
    assert json.loads(stack.scalar("SELECT fields::text FROM bookings WHERE id = %s" % bid)) == fields

    g = stack.client.get("/v1/bookings/%s" % bid, headers={"X-Booking-Token": tok})
    assert g.status == 200 and g.json == {"booking": r.json["booking"]}, g

    c = stack.client.post("/v1/bookings/%s/cancel" % bid, None, headers={"X-Booking-Token": tok})
    assert c.status == 200 and c.json == {"booking": dict(r.json["booking"], status="cancelled")}, c
    # jsonb keeps these keys in this order (shorter first), so the bytes agree too
    assert raw_fields(c.body) == raw, c


def test_fields_come_back_in_definition_order_and_typed(stack, make_event):
    """GET /v1/bookings/{id}: fields in definition order, a number field a JSON number (contract §2
    booking; PostgreSQL's jsonb would give "b", "age", "zz_name" and "42")."""
    fields = [{"name": "zz_name", "type": "text", "required": True},
              {"name": "age", "type": "number", "required": True},
              {"name": "b", "type": "text"},
              {"name": "ok", "type": "checkbox"}]
    ev = make_event(capacities=[3], fields=fields)
    a = ev.reserve(fields={"b": "x", "age": 42, "zz_name": "順番 太郎", "ok": True})
    assert a.status == 201, a
    r = stack.client.get("/v1/bookings/%s" % a.json["booking"]["id"],
                         headers={"X-Booking-Token": a.json["token"]})
    assert r.status == 200, r
    got = r.json["booking"]["fields"]
    assert list(got) == ["zz_name", "age", "b", "ok"], got
    assert got["age"] == 42 and isinstance(got["age"], int), got
    assert got["ok"] is True and got["b"] == "x", got
