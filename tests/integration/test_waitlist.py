"""Waitlist (contract v1.1 §2 "entry (waitlist)", §3 waitlist_offer, §4 seats): a full slot's line,
decided by the partition's one writer. A freed seat is held for the first waiting entry (never for a
resident booking at the same moment), offered by mail, accepted into a booking or expired by the
worker's timer and offered to the next entry. Offers are short here: hold_minutes takes a fraction
(0.05 = 3 s), so expiry is tested on the real clock with the worker's 1 s timer."""

import concurrent.futures
import datetime
import json
import time
import uuid

import pytest

from ykstack import email as new_email, rfc3339, slot_time, unique, wait_until, xadd_entry

HOLD_SHORT = 0.05   # minutes: 3 s


def answer(client, resp, timeout=30):
    """(status, body) of a queued request: a 202 is polled at /v1/requests/{id}."""
    if resp.status != 202:
        return resp.status, resp.json
    rid = resp.json["request_id"]
    deadline = time.monotonic() + timeout
    while True:
        r = client.get("/v1/requests/%s" % rid)
        assert r.status == 200, r
        if r.json.get("status") != "pending":
            body = dict(r.json)
            code = body.pop("code")
            body.pop("status", None)
            return code, body
        assert time.monotonic() < deadline, "request %s still pending" % rid
        time.sleep(0.1)


def join(event, slot_id=None, mail=None, fields=None, headers=None, body=None):
    c = event.stack.client
    slot_id = slot_id or event.slot_ids[0]
    b = body if body is not None else {
        "email": mail or new_email(), "fields": {"name": "待機 花子"} if fields is None else fields}
    return answer(c, c.post("/v1/events/%s/slots/%s/waitlist" % (event.slug, slot_id), b,
                            headers=headers))


def book(event, **kw):
    code, body = answer(event.stack.client, event.reserve(**kw))
    return code, body


def entry(stack, entry_id, token):
    return stack.client.get("/v1/waitlist/%s" % entry_id, headers={"X-Booking-Token": token})


def act(stack, entry_id, token, what):
    c = stack.client
    return answer(c, c.post("/v1/waitlist/%s/%s" % (entry_id, what), {},
                            headers={"X-Booking-Token": token}))


def cancel(stack, booking_id, token):
    c = stack.client
    return answer(c, c.post("/v1/bookings/%s/cancel" % booking_id, {},
                            headers={"X-Booking-Token": token}))


def slot_row(stack, slot_id):
    booked, held = stack.psql("SELECT booked, held FROM slots WHERE id = %s" % slot_id)[0]
    return int(booked), int(held)


def wait_status(stack, entry_id, token, status, timeout=20):
    def check():
        r = entry(stack, entry_id, token)
        assert r.status == 200, r
        return r.json["entry"] if r.json["entry"]["status"] == status else None
    return wait_until(check, timeout, 0.1, what="waitlist entry %s %s" % (entry_id, status))


@pytest.fixture
def full_slot(make_event):
    """An event with one slot of one seat, taken, its waitlist enabled: (event, booking, token)."""
    def make(hold=5, **extra):
        ev = make_event(capacities=[1], waitlist={"enabled": True, "hold_minutes": hold}, **extra)
        code, body = book(ev)
        assert code == 201, body
        return ev, body["booking"], body["token"]
    return make


def test_cancellation_hands_the_seat_to_the_first_entry_not_to_a_resident(stack, full_slot):
    ev, b, tok = full_slot()
    slot = ev.slot_ids[0]
    c1, first = join(ev)
    assert c1 == 201, first
    assert first["entry"]["status"] == "waiting" and first["entry"]["position"] == 1, first
    assert first["entry"]["slot_id"] == slot and first["entry"]["event"] == ev.slug
    assert len(first["token"]) == 43
    c2, second = join(ev)
    assert c2 == 201 and second["entry"]["position"] == 2, second
    waiting = lambda: stack.client.get("/v1/events/%s/slots?from=2000-01-01" % ev.slug).json["slots"][0]["waiting"]
    wait_until(lambda: waiting() == 2, 10, 0.05, what="the slots list counts the line")
    # a full slot with a line: a resident is refused
    code, body = book(ev)
    assert code == 409 and body["error"] == "slot_full", body

    # The cancellation and residents' reservations at the same moment: the seat is the line's.
    with concurrent.futures.ThreadPoolExecutor(9) as pool:
        cf = pool.submit(cancel, stack, b["id"], tok)
        rush = [pool.submit(book, ev) for _ in range(8)]
        cancelled = cf.result()
        results = [f.result() for f in rush]
    assert cancelled[0] == 200 and cancelled[1]["booking"]["status"] == "cancelled", cancelled
    assert all(code == 409 and body["error"] == "slot_full" for code, body in results), results
    offered = wait_status(stack, first["entry"]["id"], first["token"], "offered")
    assert offered["offer_expires_at"] and offered["position"] is None, offered
    assert slot_row(stack, slot) == (0, 1)            # the seat is held, not booked, not free
    code, body = book(ev)
    assert code == 409 and body["error"] == "slot_full", body
    r = stack.client.get("/v1/events/%s/slots" % ev.slug + "?from=2000-01-01")
    assert [s["remaining"] for s in r.json["slots"]] == [0], r.json
    # the second entry is next, and waits
    assert entry(stack, second["entry"]["id"], second["token"]).json["entry"]["position"] == 1
    r = stack.client.get("/v1/events/%s/slots" % ev.slug + "?from=2000-01-01")
    assert [s["waiting"] for s in r.json["slots"]] == [1], r.json

    code, acc = act(stack, first["entry"]["id"], first["token"], "accept")
    assert code == 201, acc
    assert acc["booking"]["status"] == "confirmed" and acc["booking"]["slot_id"] == slot, acc
    assert acc["booking"]["fields"] == {"name": "待機 花子"}
    assert acc["booking"]["checkin_code"].startswith("YK1-%s-" % acc["booking"]["id"])
    assert slot_row(stack, slot) == (1, 0)
    assert entry(stack, first["entry"]["id"], first["token"]).json["entry"]["status"] == "accepted"
    # the booking is the booker's own: readable and cancellable with the token of the 201
    r = stack.client.get("/v1/bookings/%s" % acc["booking"]["id"],
                         headers={"X-Booking-Token": acc["token"]})
    assert r.status == 200 and r.json["booking"]["status"] == "confirmed", r
    # accepting again: not offered any more
    code, body = act(stack, first["entry"]["id"], first["token"], "accept")
    assert code == 409 and body["error"] == "not_offered", body


def test_an_expired_offer_moves_on_and_accept_after_it_is_409(stack, full_slot):
    ev, b, tok = full_slot(hold=HOLD_SHORT)
    slot = ev.slot_ids[0]
    _, first = join(ev)
    _, second = join(ev)
    assert cancel(stack, b["id"], tok)[0] == 200
    wait_status(stack, first["entry"]["id"], first["token"], "offered")
    # nobody visits a page: the worker's timer expires the offer and offers the next entry
    wait_status(stack, second["entry"]["id"], second["token"], "offered", timeout=15)
    assert entry(stack, first["entry"]["id"], first["token"]).json["entry"]["status"] == "expired"
    assert slot_row(stack, slot) == (0, 1)
    code, body = act(stack, first["entry"]["id"], first["token"], "accept")
    assert code == 409 and body["error"] == "offer_expired", body
    # the second leaves: its held seat goes back to everyone (no one else waits)
    code, body = act(stack, second["entry"]["id"], second["token"], "leave")
    assert code == 200 and body["entry"]["status"] == "left", body
    assert slot_row(stack, slot) == (0, 0)

    def bookable():
        code, body = book(ev)
        return body if code == 201 else None
    wait_until(bookable, 10, 0.2, what="the freed seat bookable again")
    assert slot_row(stack, slot) == (1, 0)


def test_an_offer_expiring_with_nobody_waiting_frees_the_seat(stack, full_slot):
    ev, b, tok = full_slot(hold=HOLD_SHORT)
    _, first = join(ev)
    assert cancel(stack, b["id"], tok)[0] == 200
    wait_status(stack, first["entry"]["id"], first["token"], "offered")
    wait_status(stack, first["entry"]["id"], first["token"], "expired", timeout=15)
    assert slot_row(stack, ev.slot_ids[0]) == (0, 0)
    # the published seats follow: the ingress lets a reservation through again
    code, body = book(ev)
    assert code == 201, body


def test_refusals(stack, make_event, full_slot):
    ev, b, tok = full_slot()
    holder = b["email"]
    path = "/v1/events/%s/slots/%s/waitlist" % (ev.slug, ev.slot_ids[0])
    c = stack.client
    # the booker of the slot's one seat: already booked (per_person_limit 1)
    code, body = join(ev, mail=holder)
    assert code == 409 and body["error"] == "already_booked", body
    mail = new_email()
    assert join(ev, mail=mail)[0] == 201
    # the same person again, whatever the spelling (identity: NFKC, case folded)
    code, body = join(ev, mail=mail.upper())
    assert code == 409 and body["error"] == "already_waiting", body
    # a slot with a free seat: book it instead
    roomy = make_event(capacities=[5], waitlist={"enabled": True})
    code, body = join(roomy)
    assert code == 409 and body["error"] == "slot_available", body
    # a waitlist not enabled
    closed = make_event(capacities=[1])
    assert book(closed)[0] == 201
    code, body = join(closed)
    assert code == 409 and body["error"] == "waitlist_closed", body
    # unknown slot, another event's slot, unknown event
    assert join(ev, slot_id="999999999")[0] == 404
    r = c.post("/v1/events/%s/slots/%s/waitlist" % (ev.slug, roomy.slot_ids[0]),
               {"email": new_email(), "fields": {"name": "x"}})
    assert r.status == 404, r
    r = c.post("/v1/events/no-such-event/slots/1/waitlist", {"email": new_email()})
    assert r.status == 404, r
    # bad bodies
    r = c.request("POST", path, body=b"{not json")
    assert r.status == 400 and r.json["error"] == "malformed_json", r
    r = c.request("POST", path, body=b"[]")
    assert r.status == 422, r
    r = c.post(path, {"email": 5, "fields": {"name": "x"}})
    assert r.status == 422 and {"field": "email", "reason": "type"} in r.json["errors"], r
    r = c.post(path, {"email": "a@example.jp\r\nBcc: x@example.jp", "fields": {"name": "x"}})
    assert r.status == 422 and r.json["errors"][0]["field"] == "email", r
    r = c.post(path, {"email": new_email(), "fields": {"name": "x\r\ny"}})
    assert r.status == 422, r
    r = c.post(path, {"email": new_email(), "fields": {}})
    assert r.status == 422 and {"field": "name", "reason": "required"} in r.json["errors"], r
    r = c.post(path, {"email": new_email(), "fields": {"name": "x"}, "extra": 1})
    assert r.status == 422 and {"field": "extra", "reason": "unknown_field"} in r.json["errors"], r
    r = c.post(path, {"email": new_email(), "fields": {"name": "x"}, "slot_id": "1"})
    assert r.status == 422, r
    r = c.request("POST", path, body=b'{"email":"' + b"a" * (70 * 1024) + b'"}')
    assert r.status == 413 and r.error == "too_large", r
    r = c.get(path)
    assert r.status == 405 and r.headers.get("allow") == "POST", r


def test_other_peoples_ids_and_tokens_are_404(stack, full_slot):
    ev, _, _ = full_slot()
    _, mine = join(ev)
    _, theirs = join(ev)
    my_id, my_tok = mine["entry"]["id"], mine["token"]
    assert entry(stack, my_id, my_tok).status == 200
    for eid, tok in ((my_id, theirs["token"]), (theirs["entry"]["id"], my_tok),
                     ("99999999999", my_tok), ("abc", my_tok), (my_id, "")):
        assert entry(stack, eid, tok).status == 404, (eid, tok)
        for what in ("accept", "leave"):
            code, body = act(stack, eid, tok, what)
            assert code == 404 and body["error"] == "not_found", (eid, what, body)
    r = stack.client.get("/v1/waitlist/%s" % my_id)                 # no token at all
    assert r.status == 404, r
    # nothing changed for either of them
    assert entry(stack, theirs["entry"]["id"], theirs["token"]).json["entry"]["status"] == "waiting"
    # a waiting entry has no offer to accept; it may leave
    code, body = act(stack, my_id, my_tok, "accept")
    assert code == 409 and body["error"] == "not_offered", body
    code, body = act(stack, my_id, my_tok, "leave")
    assert code == 200 and body["entry"]["status"] == "left", body
    assert entry(stack, theirs["entry"]["id"], theirs["token"]).json["entry"]["position"] == 1
    r = stack.client.request("PUT", "/v1/waitlist/%s/leave" % my_id)
    assert r.status == 405, r


def test_staff_list(stack, full_slot):
    ev, _, _ = full_slot()
    mails = [new_email() for _ in range(2)]
    ids = [join(ev, mail=m)[1]["entry"]["id"] for m in mails]
    c = stack.client
    r = c.get("/v1/admin/events/%s/waitlist" % ev.slug, admin=True)
    assert r.status == 200, r
    assert [e["id"] for e in r.json["entries"]] == ids
    assert [e["email"] for e in r.json["entries"]] == mails
    assert [e["position"] for e in r.json["entries"]] == [1, 2]
    assert c.get("/v1/admin/events/%s/waitlist" % ev.slug).status == 401
    assert c.get("/v1/admin/events/no-such-event/waitlist", admin=True).status == 404


def test_postgresql_refuses_more_held_and_booked_seats_than_capacity(stack, full_slot):
    ev, _, _ = full_slot()
    with pytest.raises(AssertionError) as e:
        stack.psql("UPDATE slots SET held = 1 WHERE id = %s" % ev.slot_ids[0])
    assert "slots_held_within_capacity" in str(e.value)


def test_offer_mail(stack, full_slot):
    if stack.notifier is None or not stack.notifier.alive():
        pytest.skip("the stack runs no notifier")
    ev, b, tok = full_slot(lang="en")
    mail = new_email()
    _, first = join(ev, mail=mail)
    assert cancel(stack, b["id"], tok)[0] == 200
    eid = first["entry"]["id"]
    msg = stack.sent_mail("<waitlist-%s-waitlist_offer@" % eid)
    assert msg["To"] == mail
    assert "offer" in msg["Subject"].lower() or "seat" in msg["Subject"].lower(), msg["Subject"]
    text = msg.get_body(("plain",)).get_content()
    link = "/waitlist/%s?token=%s" % (eid, first["token"])
    assert link in text, text
    assert stack.scalar("SELECT status FROM mail_outbox WHERE waitlist_id = %s" % eid) == "sent"


def test_event_definition_waitlist(stack, make_event):
    c = stack.client
    ev = make_event(capacities=[1])
    r = c.get("/v1/events/%s" % ev.slug)
    assert r.json["waitlist"] == {"enabled": False, "hold_minutes": 60}, r.json
    for bad, field, reason in (({"enabled": "yes"}, "waitlist.enabled", "type"),
                               ({"hold_minutes": 0}, "waitlist.hold_minutes", "type"),
                               ({"hold_minutes": "5"}, "waitlist.hold_minutes", "type"),
                               ({"hold_minutes": 20000}, "waitlist.hold_minutes", "type"),
                               ({"other": 1}, "waitlist.other", "unknown_field"),
                               ([], "waitlist", "type")):
        r = c.request("PATCH", "/v1/admin/events/%s" % ev.slug, {"waitlist": bad}, admin=True)
        assert r.status == 422 and {"field": field, "reason": reason} in r.json["errors"], (bad, r)
    r = c.request("PATCH", "/v1/admin/events/%s" % ev.slug,
                  {"waitlist": {"enabled": True, "hold_minutes": 2.5}}, admin=True)
    assert r.status == 200 and r.json["waitlist"] == {"enabled": True, "hold_minutes": 2.5}, r
    assert book(ev)[0] == 201
    # in effect at once: the full slot takes entries now
    code, body = join(ev)
    assert code == 201 and body["entry"]["position"] == 1, body
    r = c.request("HEAD", "/v1/waitlist/%s" % body["entry"]["id"],
                  headers={"X-Booking-Token": body["token"]})
    assert r.status == 200 and r.body == b"", r


def test_staff_cancellation_and_a_capacity_increase_offer_seats(stack, full_slot):
    ev, b, _ = full_slot()
    slot = ev.slot_ids[0]
    _, first = join(ev)
    _, second = join(ev)
    _, third = join(ev)
    # staff cancel on the booker's behalf: the seat goes to the line too
    code, body = answer(stack.client, stack.client.post("/v1/admin/bookings/%s/cancel" % b["id"], {},
                                                        admin=True))
    assert code == 200, body
    wait_status(stack, first["entry"]["id"], first["token"], "offered")
    # two more seats (a capacity raised behind the workers' back): the worker's timer offers them
    # to the next two, in order; the line's seats are never the residents'
    stack.psql("UPDATE slots SET capacity = 3 WHERE id = %s" % slot)
    wait_status(stack, second["entry"]["id"], second["token"], "offered")
    wait_status(stack, third["entry"]["id"], third["token"], "offered")
    assert slot_row(stack, slot) == (0, 3)
    code, body = book(ev)
    assert code == 409 and body["error"] == "slot_full", body
    assert int(stack.scalar("SELECT count(*) FROM mail_outbox o JOIN waitlist w ON w.id = o.waitlist_id"
                            " WHERE w.slot_id = %s AND o.kind = 'waitlist_offer'" % slot)) == 3


def attendance(stack, booking_id, status):
    c = stack.client
    return answer(c, c.post("/v1/admin/bookings/%s/attendance" % booking_id, {"status": status},
                            admin=True))


def test_a_no_show_releases_its_seat_to_the_line_while_the_slot_runs(stack, full_slot):
    ev, b, _ = full_slot(hold=60)
    slot = ev.slot_ids[0]
    _, first = join(ev)
    # the slot runs: the line takes no one new, but keeps those who waited
    stack.psql("UPDATE slots SET starts_at = now() - interval '5 minutes', "
               "ends_at = now() + interval '25 minutes' WHERE id = %s" % slot)
    stack.redis("INCR", "yk:catalogue")
    code, body = join(ev)
    assert code == 409 and body["error"] == "waitlist_closed", body
    code, body = attendance(stack, b["id"], "no_show")
    assert code == 200 and body["booking"]["status"] == "no_show", body
    offered = wait_status(stack, first["entry"]["id"], first["token"], "offered")
    assert slot_row(stack, slot) == (0, 1)
    # an hour's hold ends with the slot
    assert stack.scalar("SELECT w.offer_expires_at = s.ends_at FROM waitlist w JOIN slots s ON "
                        "s.id = w.slot_id WHERE w.id = %s" % first["entry"]["id"]) == "t", offered
    code, body = book(ev)
    assert code == 409 and body["error"] == "slot_full", body
    # the no-show comes after all: the seat is held for the line now
    code, body = attendance(stack, b["id"], "attended")
    assert code == 409 and body["error"] == "seat_released", body
    assert stack.scalar("SELECT status FROM bookings WHERE id = %s" % b["id"]) == "no_show"
    code, acc = act(stack, first["entry"]["id"], first["token"], "accept")
    assert code == 201 and acc["booking"]["status"] == "confirmed", acc
    assert slot_row(stack, slot) == (1, 0)


def test_a_no_show_corrected_takes_its_seat_back_while_one_is_free(stack, make_event):
    ev = make_event(capacities=[1])
    slot = ev.slot_ids[0]
    code, body = book(ev)
    assert code == 201, body
    bid = body["booking"]["id"]

    def remaining():
        r = stack.client.get("/v1/events/%s/slots?from=2000-01-01" % ev.slug)
        return r.json["slots"][0]["remaining"]
    assert attendance(stack, bid, "no_show")[0] == 200
    assert slot_row(stack, slot) == (0, 0)
    wait_until(lambda: remaining() == 1, 10, 0.05, what="the released seat published")
    # marking it again changes nothing: one seat released, not two
    assert attendance(stack, bid, "no_show")[0] == 200
    assert slot_row(stack, slot) == (0, 0)
    code, body = attendance(stack, bid, "attended")
    assert code == 200 and body["booking"]["status"] == "attended", body
    assert slot_row(stack, slot) == (1, 0)
    wait_until(lambda: remaining() == 0, 10, 0.05, what="the seat taken back published")
    code, body = book(ev)
    assert code == 409 and body["error"] == "slot_full", body
    # released again and booked by someone else: the correction finds no seat
    assert attendance(stack, bid, "no_show")[0] == 200
    code, body = book(ev)
    assert code == 201, body
    code, body = attendance(stack, bid, "attended")
    assert code == 409 and body["error"] == "seat_released", body
    assert slot_row(stack, slot) == (1, 0)
    assert int(stack.scalar("SELECT count(*) FROM bookings WHERE slot_id = %s AND status IN "
                            "('confirmed', 'attended')" % slot)) == 1


def test_a_no_show_who_booked_again_is_not_corrected_into_two_bookings(stack, make_event):
    ev = make_event(capacities=[2, 2], fields=[{"name": "member", "type": "text", "required": True,
                                                 "identity": True}])
    code, first = book(ev, fields={"member": "A-1"})
    assert code == 201, first
    assert attendance(stack, first["booking"]["id"], "no_show")[0] == 200
    # one booking per person: the no-show may book again, and is then refused a second one
    code, again = book(ev, slot_id=ev.slot_ids[1], fields={"member": "a-1"})
    assert code == 201, again
    code, body = book(ev, fields={"member": "A-1"})
    assert code == 409 and body["error"] == "already_booked", body
    # the first booking corrected to attended would make two (the unique index would refuse the
    # row, and the entry be retried into a dead letter): refused
    code, body = attendance(stack, first["booking"]["id"], "attended")
    assert code == 409 and body["error"] == "already_booked", body
    assert stack.scalar("SELECT status FROM bookings WHERE id = %s" % first["booking"]["id"]) == \
        "no_show"
    assert slot_row(stack, ev.slot_ids[0]) == (0, 0)
    code, body = attendance(stack, again["booking"]["id"], "attended")
    assert code == 200 and body["booking"]["status"] == "attended", body
    code, body = book(ev, fields={"member": "B-2"})     # the partition was not held up
    assert code == 201, body


def test_an_ended_slot_takes_no_booking_whatever_seats_it_shows(stack, make_event):
    """A seat a no-show released (or migration 0014 released) is not sold once its slot ended: the
    list shows no seat left, the ingress refuses, and so does the worker for an entry the ingress
    did not check."""
    ev = make_event(capacities=[3], day=-1)
    slot = ev.slot_ids[0]
    assert ev.slots[0]["remaining"] == 0, ev.slots
    code, body = book(ev)
    assert code == 409 and body == {"error": "booking_closed", "message": "This slot has ended.",
                                    "opens_at": None}, body
    code, body = book(ev, headers={"Idempotency-Key": unique("ended")})
    assert code == 409 and body["error"] == "booking_closed", body
    rid, mail = uuid.uuid4().hex, new_email("ended")
    xadd_entry(stack, ev.partition, {
        "t": "reserve", "id": rid, "ing": "tests", "ev": ev.id, "slot": slot, "email": mail,
        "ident": mail, "fields": json.dumps({"name": "終了 後"}), "tok": (uuid.uuid4().hex * 2)[:43],
        "at": int(time.time() * 1000), "dl": int(time.time() * 1000) + 60000})
    code, body = stored_answer(stack, rid)
    assert code == 409 and body["error"] == "booking_closed" and body["opens_at"] is None, body
    assert slot_row(stack, slot) == (0, 0) and ev.rows() == []


def stored_answer(stack, rid, timeout=20):
    """(HTTP status, body) the worker stored in yk:res:<rid>."""
    def get():
        v = stack.redis("GET", "yk:res:" + rid)
        return v if v and not v.startswith("0 ") else None
    code, body = wait_until(get, timeout, 0.05, what="answer of %s" % rid).split(" ", 1)
    return int(code), json.loads(body)


def test_a_join_delivered_twice_is_one_entry(stack, full_slot):
    """The same request id in the stream twice (an ingress's retry, a replay after a takeover):
    one entry, and the same answer for both."""
    ev, _, _ = full_slot()
    rid, tok, mail = uuid.uuid4().hex, (uuid.uuid4().hex * 2)[:43], new_email()
    fields = {"t": "wjoin", "id": rid, "ing": "tests", "ev": ev.id, "slot": ev.slot_ids[0],
              "email": mail, "ident": mail.lower(), "fields": '{"name":"X"}', "tok": tok,
              "at": int(time.time() * 1000)}
    xadd_entry(stack, ev.partition, fields)
    first = stored_answer(stack, rid)
    stack.redis("DEL", "yk:res:" + rid)
    xadd_entry(stack, ev.partition, fields)
    again = stored_answer(stack, rid)
    assert first[0] == again[0] == 201 and first[1] == again[1], (first, again)
    assert first[1]["token"] == tok
    assert stack.scalar("SELECT count(*) FROM waitlist WHERE request_id = '%s'" % rid) == "1"
    # an accept without the new booking's token cannot be decided: 500, never a booking
    bad = uuid.uuid4().hex
    xadd_entry(stack, ev.partition, {"t": "waccept", "id": bad, "ing": "tests", "ev": ev.id,
                                     "th": "0" * 64, "at": int(time.time() * 1000)})
    assert stored_answer(stack, bad)[0] == 500


def test_a_secret_events_line_needs_its_access_token(stack):
    c = stack.client
    slug = unique("wls")
    r = c.post("/v1/admin/events", {"slug": slug, "title": "秘密 " + slug, "password": "wl secret 1",
                                    "waitlist": {"enabled": True}}, admin=True)
    assert r.status == 201, r
    start = slot_time(30, 9)
    r = c.post("/v1/admin/events/%s/slots" % slug, {"slots": [{
        "starts_at": rfc3339(start), "ends_at": rfc3339(start + datetime.timedelta(minutes=30)),
        "capacity": 1}]}, admin=True)
    assert r.status == 201, r
    r = c.post("/v1/events/%s/unlock" % slug, {"password": "wl secret 1"})
    assert r.status == 200, r
    access = {"X-Access-Token": r.json["access_token"]}
    slots = wait_until(lambda: c.get("/v1/events/%s/slots?from=2000-01-01" % slug,
                                     headers=access).json.get("slots"), 10, 0.05, what="slots")
    path = "/v1/events/%s/slots/%s/waitlist" % (slug, slots[0]["id"])
    code, body = answer(c, c.post("/v1/events/%s/reservations" % slug,
                                  {"slot_id": slots[0]["id"], "email": new_email()}, headers=access))
    assert code == 201, body
    body = {"email": new_email()}
    r = c.post(path, body)
    assert r.status == 401 and r.error == "password_required", r
    r = c.post(path, body, headers={"X-Access-Token": "A" * 43})
    assert r.status == 401, r
    code, joined = answer(c, c.post(path, body, headers=access))
    assert code == 201 and joined["entry"]["position"] == 1, joined
    # the entry's own routes are opened by its token (the mail's link works without the access)
    assert entry(stack, joined["entry"]["id"], joined["token"]).status == 200
