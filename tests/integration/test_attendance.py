"""The check-in desk and attendance (contract §2 Admin): POST /v1/admin/checkin (a check-in code or
a booking number, full-width digits too), POST /v1/admin/bookings/{id}/attendance and POST
/v1/admin/bookings/{id}/cancel, each queued on the booking's partition and decided by its worker:
never dose 2 attended without dose 1 attended, not_today, cancelled, the seat freed at once by a
staff cancel with its cascade and mails, one effect per booking under concurrent check-ins."""

import concurrent.futures

from ykstack import email, wait_until


def booked(ev, who, **kw):
    """who: a name (a new address each call) or an address (one identity across events)."""
    r = ev.reserve(mail=who if "@" in who else email(who), **kw)
    assert r.status == 201, r
    return r.json["booking"]


def admin_post(stack, path, body=None, **kw):
    return stack.client.post(path, body, admin=True, **kw)


def to_today(stack, booking):
    """Moves the booking's slot to a few minutes from now (the desk checks in today's bookings)."""
    stack.psql("UPDATE slots SET starts_at = now() + interval '2 minutes', "
               "ends_at = now() + interval '32 minutes' WHERE id = %s" % booking["slot_id"])


def status_of(stack, bid):
    return stack.scalar("SELECT status FROM bookings WHERE id = %s" % bid)


def test_checkin_by_code_and_by_number(stack, make_event):
    ev = make_event(day=1)
    a, b = booked(ev, "code"), booked(ev, "number")
    to_today(stack, a)
    to_today(stack, b)
    r = admin_post(stack, "/v1/admin/checkin", {"code": a["checkin_code"].lower()})
    assert r.status == 200 and r.json["booking"]["status"] == "attended", r
    assert r.json["booking"]["id"] == a["id"] and status_of(stack, a["id"]) == "attended"
    # typed at the desk in full-width digits, with spaces around
    wide = "".join(chr(ord(ch) + 0xFEE0) for ch in b["id"])
    r = admin_post(stack, "/v1/admin/checkin", {"code": "　%s " % wide})
    assert r.status == 200 and r.json["booking"]["id"] == b["id"], r
    # again: the same answer, nothing changes
    r = admin_post(stack, "/v1/admin/checkin", {"code": a["checkin_code"]})
    assert r.status == 200 and r.json["booking"]["status"] == "attended", r


def test_checkin_refusals(stack, make_event):
    ev = make_event(day=3)
    far = booked(ev, "far")
    r = admin_post(stack, "/v1/admin/checkin", {"code": far["checkin_code"]})
    assert r.status == 409 and r.error == "not_today", r
    assert status_of(stack, far["id"]) == "confirmed"
    forged = far["checkin_code"][:-1] + ("A" if far["checkin_code"][-1] != "A" else "B")
    for code in (forged, "YK1-999999999-ABCDEF", "99999999999", "hello", ""):
        r = admin_post(stack, "/v1/admin/checkin", {"code": code})
        assert r.status == 404 and r.error == "not_found", (code, r)
    gone = booked(ev, "gone")
    to_today(stack, gone)
    assert admin_post(stack, "/v1/admin/bookings/%s/cancel" % gone["id"]).status == 200
    r = admin_post(stack, "/v1/admin/checkin", {"code": gone["checkin_code"]})
    assert r.status == 409 and r.error == "cancelled", r
    for body, field, reason in (({}, "code", "required"), ({"code": 5}, "code", "type"),
                                ({"code": "x", "extra": 1}, "extra", "unknown_field")):
        r = admin_post(stack, "/v1/admin/checkin", body)
        assert r.status == 422 and {"field": field, "reason": reason} in r.json["errors"], r
    r = stack.client.request("POST", "/v1/admin/checkin", body=b"{", admin=True,
                             headers={"Content-Type": "application/json"})
    assert r.status == 400, r
    assert stack.client.post("/v1/admin/checkin", {"code": far["checkin_code"]}).status == 401


def test_dose2_attended_only_after_dose1_attended(stack, make_event):
    dose1 = make_event(day=1)
    dose2 = make_event(day=30, prerequisite={"event": dose1.slug, "min_days": 28})
    who = email("dose")
    b1 = booked(dose1, who)
    b2 = booked(dose2, who)
    path2 = "/v1/admin/bookings/%s/attendance" % b2["id"]
    r = admin_post(stack, path2, {"status": "attended"})
    assert r.status == 409 and r.error == "prerequisite_not_attended", r
    assert status_of(stack, b2["id"]) == "confirmed"
    r = admin_post(stack, "/v1/admin/bookings/%s/attendance" % b1["id"], {"status": "no_show"})
    assert r.status == 200 and r.json["booking"]["status"] == "no_show", r
    assert admin_post(stack, path2, {"status": "attended"}).error == "prerequisite_not_attended"
    r = admin_post(stack, "/v1/admin/bookings/%s/attendance" % b1["id"], {"status": "attended"})
    assert r.status == 200 and r.json["booking"]["status"] == "attended", r
    r = admin_post(stack, path2, {"status": "attended"})
    assert r.status == 200 and r.json["booking"]["status"] == "attended", r


def test_attendance_refusals(stack, make_event):
    ev = make_event(day=2)
    b = booked(ev, "att")
    path = "/v1/admin/bookings/%s/attendance" % b["id"]
    for body, field, reason in (({}, "status", "required"), ({"status": 1}, "status", "type"),
                                ({"status": "came"}, "status", "unknown_option")):
        r = admin_post(stack, path, body)
        assert r.status == 422 and {"field": field, "reason": reason} in r.json["errors"], r
    for bad in ("999999999999", "%EF%BC%91%EF%BC%92", "abc"):
        r = admin_post(stack, "/v1/admin/bookings/%s/attendance" % bad, {"status": "attended"})
        assert r.status == 404, (bad, r)
    r = stack.client.get(path, admin=True)
    assert r.status == 405 and r.headers["allow"] == "POST", r
    assert stack.client.post(path, {"status": "attended"}).status == 401
    assert admin_post(stack, "/v1/admin/bookings/%s/cancel" % b["id"]).status == 200
    r = admin_post(stack, path, {"status": "attended"})
    assert r.status == 409 and r.error == "cancelled", r


def test_staff_cancel_frees_the_seat_and_cascades(stack, make_event):
    dose1 = make_event(day=1, capacities=[1], cancel_until_hours=72)   # past for the booker
    dose2 = make_event(day=30, prerequisite={"event": dose1.slug, "min_days": 28})
    who = email("casc")
    r = dose1.reserve(mail=who)
    b1 = r.json["booking"]
    b2 = booked(dose2, who)
    r = stack.client.post("/v1/bookings/%s/cancel" % b1["id"], None,
                          headers={"X-Booking-Token": r.json["token"]})
    assert r.status == 409 and r.error == "cancellation_closed", r
    assert dose1.reserve(mail=email("late")).error == "slot_full"
    r = admin_post(stack, "/v1/admin/bookings/%s/cancel" % b1["id"])
    assert r.status == 200 and r.json["booking"]["status"] == "cancelled", r
    assert status_of(stack, b1["id"]) == "cancelled" and status_of(stack, b2["id"]) == "cancelled"
    mails = stack.psql("SELECT booking_id FROM mail_outbox WHERE kind = 'cancellation' AND "
                       "booking_id IN (%s, %s) ORDER BY booking_id" % (b1["id"], b2["id"]))
    assert mails == [[b1["id"]], [b2["id"]]], mails
    booked(dose1, "late")                              # the seat is free at once
    r = admin_post(stack, "/v1/admin/bookings/%s/cancel" % b1["id"])   # twice: the same
    assert r.status == 200 and r.json["booking"]["status"] == "cancelled", r
    assert admin_post(stack, "/v1/admin/bookings/99999999999/cancel").status == 404


def test_concurrent_checkins_one_effect(stack, make_event):
    ev = make_event(day=1)
    b = booked(ev, "race")
    to_today(stack, b)
    before = stack.scalar("SELECT updated_at FROM bookings WHERE id = %s" % b["id"])
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: admin_post(stack, "/v1/admin/checkin",
                                                     {"code": b["checkin_code"]}), range(8)))
    assert all(a.status == 200 and a.json["booking"]["status"] == "attended" for a in answers), \
        answers
    # one UPDATE happened: the later ones found it attended already
    after = stack.scalar("SELECT updated_at FROM bookings WHERE id = %s" % b["id"])
    assert after != before
    assert stack.scalar("SELECT count(*) FROM bookings WHERE id = %s AND status = 'attended'"
                        % b["id"]) == "1"
