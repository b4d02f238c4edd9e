"""The check-in desk and attendance (contract §2 Admin): POST /v1/admin/checkin (a check-in code or
a booking number, full-width digits too), POST /v1/admin/bookings/{id}/attendance and POST
/v1/admin/bookings/{id}/cancel, each queued on the booking's partition and decided by its worker:
never dose 2 attended without dose 1 attended, not_today, cancelled, the seat freed at once by a
staff cancel with its cascade and mails, one effect per booking under concurrent check-ins."""

import concurrent.futures
import signal
import time
import uuid

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
    # Slot times do not change behind the workers in life: tell them as an admin change would.
    stack.redis("INCR", "yk:catalogue")


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
    # a code typed in full-width characters (3 bytes each in UTF-8)
    c = booked(ev, "widecode")
    to_today(stack, c)
    r = admin_post(stack, "/v1/admin/checkin",
                   {"code": "".join(chr(ord(ch) + 0xFEE0) for ch in c["checkin_code"])})
    assert r.status == 200 and r.json["booking"]["id"] == c["id"], r
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
    for code in (forged, "YK1-999999999-ABCDEF", "99999999999", "hello", "", "1" * 19,
                 far["checkin_code"] + "\r\n" + far["checkin_code"], far["checkin_code"] + "A"):
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
    r = stack.client.request("POST", "/v1/admin/checkin", body=b'{"code":"' + b"1" * (70 * 1024)
                             + b'"}', admin=True, headers={"Content-Type": "application/json"})
    assert r.status == 413, r
    r = admin_post(stack, "/v1/admin/checkin", {"code": "Ｙ" * 300})
    assert r.status == 422 and {"field": "code", "reason": "too_long"} in r.json["errors"], r
    assert stack.client.post("/v1/admin/checkin", {"code": far["checkin_code"]}).status == 401
    r = stack.client.post("/v1/admin/checkin", {"code": far["checkin_code"]},
                          headers={"Authorization": "Bearer wrong"})
    assert r.status == 401, r


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
    d = dose1.slots[0]["starts_at"][:10]

    def remaining():
        r = stack.client.get("/v1/events/%s/slots?from=%s&to=%s" % (dose1.slug, d, d))
        return {s["id"]: s["remaining"] for s in r.json["slots"]}[dose1.slot_ids[0]]
    wait_until(lambda: remaining() == 1, 10, 0.1, what="the freed seat shown as remaining")
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


def test_attended_through_the_desk_opens_require_attended_at_once(stack, make_event):
    """The attend entry travels the partition's stream: its worker changes the history the
    dependent event decides from (in memory), so dose 2 is accepted on the very next request (no catalogue
    bump, no wait), and refused again for another identity whose dose 1 is only no_show."""
    dose1 = make_event(day=1)
    dose2 = make_event(day=30, prerequisite={"event": dose1.slug, "min_days": 28,
                                             "require_attended": True})
    plain = make_event(day=31, prerequisite={"event": dose1.slug, "min_days": 28})
    came, missed = email("came"), email("missed")
    b1, m1 = booked(dose1, came), booked(dose1, missed)
    assert dose2.reserve(mail=came).error == "prerequisite_not_met"
    to_today(stack, b1)
    r = admin_post(stack, "/v1/admin/checkin", {"code": b1["checkin_code"]})
    assert r.status == 200 and r.json["booking"]["status"] == "attended", r
    r = dose2.reserve(mail=came)
    assert r.status == 201, r
    assert admin_post(stack, "/v1/admin/bookings/%s/attendance" % m1["id"],
                      {"status": "no_show"}).status == 200
    assert dose2.reserve(mail=missed).error == "prerequisite_not_met"
    # no_show is not an active booking: not even a plain prerequisite holds
    assert plain.reserve(mail=missed).error == "prerequisite_not_met"
    # came late after all: no_show → attended counts at once
    r = admin_post(stack, "/v1/admin/bookings/%s/attendance" % m1["id"], {"status": "attended"})
    assert r.status == 200 and r.json["booking"]["status"] == "attended", r
    assert dose2.reserve(mail=missed).status == 201
    # attended → no_show (a mistake corrected): dose 1 no longer counts for a new dependent booking
    late = email("late")
    l1 = booked(dose1, late)
    assert admin_post(stack, "/v1/admin/bookings/%s/attendance" % l1["id"],
                      {"status": "attended"}).status == 200
    assert dose2.reserve(mail=late).status == 201
    assert admin_post(stack, "/v1/admin/bookings/%s/attendance" % l1["id"],
                      {"status": "no_show"}).status == 200
    assert plain.reserve(mail=late).error == "prerequisite_not_met"
    # dose 1 attended cannot be cancelled by staff any more (it happened)
    r = admin_post(stack, "/v1/admin/bookings/%s/cancel" % b1["id"])
    assert r.status == 409 and r.error == "cancellation_closed", r
    assert status_of(stack, b1["id"]) == "attended"


def test_desk_role_checks_in_but_does_not_cancel(stack, make_event):
    """A desk token (the tablet at the entrance) checks in and marks attendance; cancelling on a
    booker's behalf needs staff: 403 forbidden, the booking untouched."""
    tok = stack.ctl("token", "create", "--name", "desk-att", "--role", "desk").stdout.strip()
    desk = {"Authorization": "Bearer " + tok}
    ev = make_event(day=1)
    b, c = booked(ev, "deskrole"), booked(ev, "deskrole2")
    to_today(stack, b)
    r = stack.client.post("/v1/admin/checkin", {"code": b["checkin_code"]}, headers=desk)
    assert r.status == 200 and r.json["booking"]["status"] == "attended", r
    r = stack.client.post("/v1/admin/bookings/%s/attendance" % c["id"], {"status": "no_show"},
                          headers=desk)
    assert r.status == 200 and r.json["booking"]["status"] == "no_show", r
    r = stack.client.post("/v1/admin/bookings/%s/cancel" % c["id"], None, headers=desk)
    assert r.status == 403 and r.error == "forbidden", r
    assert status_of(stack, c["id"]) == "no_show"
    rows = stack.psql("SELECT action, target FROM audit_log WHERE actor = 'token:desk-att' "
                      "ORDER BY id")
    assert ["POST /v1/admin/checkin", b["id"]] in rows, rows   # the booking number checked in
    assert ["POST /v1/admin/bookings/{id}/attendance", c["id"]] in rows, rows


def test_no_show_counts_as_the_worker_rereads_it(stack, make_event):
    """The per-person limit counts active bookings (confirmed, attended), in memory as when the
    worker rereads PostgreSQL: a no_show frees the identity's place at once, attended takes it."""
    ev = make_event(day=2)
    who = email("limit")
    b = booked(ev, who)
    assert ev.reserve(mail=who).error == "already_booked"
    assert admin_post(stack, "/v1/admin/bookings/%s/attendance" % b["id"],
                      {"status": "no_show"}).status == 200
    c = booked(ev, who)
    assert admin_post(stack, "/v1/admin/bookings/%s/attendance" % c["id"],
                      {"status": "attended"}).status == 200
    assert ev.reserve(mail=who).error == "already_booked"
    stack.redis("INCR", "yk:catalogue")                # reread: the same answer
    wait_until(lambda: ev.reserve(mail=who).error == "already_booked", 5, 0.1,
               what="the reread counts agree")


def test_concurrent_staff_cancels_free_one_seat(stack, make_event):
    ev = make_event(day=2, capacities=[3])
    keep, b = booked(ev, "keep"), booked(ev, "twice")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: admin_post(
            stack, "/v1/admin/bookings/%s/cancel" % b["id"]), range(8)))
    assert all(a.status == 200 and a.json["booking"]["status"] == "cancelled" for a in answers), \
        answers
    assert stack.scalar("SELECT booked FROM slots WHERE id = %s" % b["slot_id"]) == "1"
    assert stack.scalar("SELECT count(*) FROM mail_outbox WHERE kind = 'cancellation' AND "
                        "booking_id = %s" % b["id"]) == "1"
    assert status_of(stack, keep["id"]) == "confirmed"


def _entry(stack, ev, fields):
    """XADDs one request entry (all short fields in the header h, as the ingress writes them)."""
    h = " ".join("%s=%s" % kv for kv in fields.items())
    return stack.redis("XADD", "yk:req:{%d}" % ev.partition, "*", "h", h)


def _answer(stack, rid, timeout=30):
    def get():
        v = stack.redis("GET", "yk:res:" + rid)
        return v if v and not v.startswith("0 ") else None
    v = wait_until(get, timeout, 0.05, what="answer of %s" % rid)
    return int(v.split(" ", 1)[0])


def test_worker_restart_redelivered_entries_one_effect(stack, make_event):
    """The partition's owner killed with a staff cancel and a check-in queued: the next owner
    decides them, and the same entries delivered again change nothing more (one seat freed, one
    mail, one attended)."""
    ev = make_event(day=1, capacities=[3])
    gone, came = booked(ev, "gone"), booked(ev, "came")
    to_today(stack, came)
    slot = lambda: int(stack.scalar("SELECT booked FROM slots WHERE id = %s" % ev.slot_ids[0]))
    assert slot() == 2
    owner = wait_until(lambda: {w.worker_id: w for w in stack.live_workers()}.get(
        stack.partition_owners().get(ev.partition)), 15, 0.1, what="the partition's owner")
    owner.stop(signal.SIGKILL)
    now = int(time.time() * 1000)
    crid, arid = uuid.uuid4().hex, uuid.uuid4().hex
    cancel = {"t": "cancel", "id": crid, "ing": "tests", "ev": ev.id, "at": now,
              "booking": gone["id"], "th": "*"}
    attend = {"t": "attend", "id": arid, "ing": "tests", "ev": ev.id, "at": now,
              "booking": came["id"], "st": "attended", "today": 1}
    _entry(stack, ev, cancel)
    _entry(stack, ev, attend)
    stack.start_worker()
    assert _answer(stack, crid) == 200 and _answer(stack, arid) == 200
    for _ in range(2):                          # delivered again, as after a crash before XACK
        stack.redis("DEL", "yk:res:" + crid, "yk:res:" + arid)
        _entry(stack, ev, cancel)
        _entry(stack, ev, attend)
        assert _answer(stack, crid) == 200 and _answer(stack, arid) == 200
    assert status_of(stack, gone["id"]) == "cancelled" and status_of(stack, came["id"]) == "attended"
    assert slot() == 1
    assert stack.scalar("SELECT count(*) FROM mail_outbox WHERE kind = 'cancellation' AND "
                        "booking_id = %s" % gone["id"]) == "1"
    booked(ev, "next")
    booked(ev, "last")                          # the freed seat and the third one
    assert ev.reserve(mail=email("over")).error == "slot_full"
