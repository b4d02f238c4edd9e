"""Dose series and the booking window (contract §2 "Prerequisite", issue 10): the deciding worker
refuses dose 2 without a dose 1 of the same identity early enough (409 prerequisite_not_met), with
require_attended only an attended dose 1 counts, cancelling dose 1 cancels dose 2 (a cancellation
mail job each), booking_closed carries opens_at; a campaign's per-person limit holds across its
events; an event shares its prerequisite's partition."""

import datetime

from ykstack import email, rfc3339, unique, wait_until


def booked(ev, mail):
    r = ev.reserve(mail=mail)
    assert r.status == 201, r
    return r.json


def test_dose2_needs_dose1_min_days_before(stack, make_event):
    dose1 = make_event(day=30)
    near = make_event(day=37, prerequisite={"event": dose1.slug, "min_days": 28})
    far = make_event(day=58, prerequisite={"event": dose1.slug, "min_days": 28})
    nobody, patient = email("none"), email("dose")

    r = far.reserve(mail=nobody)
    assert r.status == 409 and r.error == "prerequisite_not_met", r
    assert set(r.json) == {"error", "message"}, r

    booked(dose1, patient)
    r = near.reserve(mail=patient)            # dose 1 only 7 days before
    assert r.status == 409 and r.error == "prerequisite_not_met", r
    booked(far, patient)                      # 28 days before: accepted
    assert stack.bookings_count(near.id) == 0 and stack.bookings_count(far.id) == 1


def test_prerequisite_event_shares_the_partition(stack, make_event):
    dose1 = make_event(day=30, campaign=unique("vax"))
    dose2 = make_event(day=58, prerequisite={"event": dose1.slug, "min_days": 28})
    dose3 = make_event(day=90, prerequisite={"event": dose2.slug, "min_days": 28})
    keys = stack.psql("SELECT partition_key FROM events WHERE id IN (%d, %d, %d)"
                      % (dose1.id, dose2.id, dose3.id))
    assert [k[0] for k in keys] == [dose1.definition["campaign"]] * 3, keys
    assert dose1.partition == dose2.partition == dose3.partition
    # A campaign other than the prerequisite's partition would split them: refused.
    r = stack.client.post("/v1/admin/events", {
        "slug": unique("t"), "title": "x", "campaign": unique("other"),
        "prerequisite": {"event": dose1.slug, "min_days": 28}}, admin=True)
    assert r.status == 422, r
    assert {"field": "prerequisite.event", "reason": "unknown_option"} in r.json["errors"], r


def test_require_attended(stack, make_event):
    dose1 = make_event(day=30)
    dose2 = make_event(day=58, prerequisite={"event": dose1.slug, "min_days": 28,
                                             "require_attended": True})
    patient = email("att")
    b = booked(dose1, patient)
    r = dose2.reserve(mail=patient)
    assert r.status == 409 and r.error == "prerequisite_not_met", r

    # Attendance is marked here in PostgreSQL directly (the attendance route is another change);
    # the worker rereads its partitions' state when the catalogue version moves, which every
    # admin change bumps, so the test bumps it as such a change would.
    stack.psql("UPDATE bookings SET status = 'attended' WHERE id = %s" % b["booking"]["id"])
    stack.redis("INCR", "yk:catalogue")

    def accepted():
        r = dose2.reserve(mail=patient)
        assert r.status in (201, 409), r
        return r if r.status == 201 else None
    wait_until(accepted, 10, 0.1, what="dose 2 accepted once dose 1 is attended")


def test_cancelling_dose1_cancels_dose2(stack, make_event):
    dose1 = make_event(day=30)
    dose2 = make_event(day=58, prerequisite={"event": dose1.slug, "min_days": 28})
    patient, other = email("casc"), email("keep")
    b1 = booked(dose1, patient)
    b2 = booked(dose2, patient)
    booked(dose1, other)
    o2 = booked(dose2, other)

    r = stack.client.post("/v1/bookings/%s/cancel" % b1["booking"]["id"], None,
                          headers={"X-Booking-Token": b1["token"]})
    assert r.status == 200 and r.json["booking"]["status"] == "cancelled", r
    ids = (b1["booking"]["id"], b2["booking"]["id"])
    rows = stack.psql("SELECT id, status FROM bookings WHERE id IN (%s, %s, %s) ORDER BY id"
                      % (ids + (o2["booking"]["id"],)))
    assert rows == [[ids[0], "cancelled"], [ids[1], "cancelled"],
                    [o2["booking"]["id"], "confirmed"]], rows
    mails = stack.psql("SELECT booking_id FROM mail_outbox WHERE kind = 'cancellation' AND "
                       "booking_id IN (%s, %s) ORDER BY booking_id" % ids)
    assert mails == [[ids[0]], [ids[1]]], mails
    assert int(stack.scalar("SELECT booked FROM slots WHERE id = %s" % dose2.slot_ids[0])) == 1

    # The worker's memory follows: the seat of dose 2 is free, and the identity may book dose 2
    # again only with a new dose 1.
    r = dose2.reserve(mail=patient)
    assert r.status == 409 and r.error == "prerequisite_not_met", r
    booked(dose1, patient)
    booked(dose2, patient)


def test_booking_closed_with_opens_at(stack, make_event):
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
    ev = make_event(day=30, opens_at=rfc3339(later))
    r = ev.reserve()
    assert r.status == 409 and r.error == "booking_closed", r
    opens = datetime.datetime.fromisoformat(r.json["opens_at"])
    assert opens.utcoffset() == datetime.timedelta(hours=9), r     # in the event's zone
    assert abs((opens - later).total_seconds()) < 1, r
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    ev = make_event(day=30, closes_at=rfc3339(past))
    r = ev.reserve()
    assert r.status == 409 and r.error == "booking_closed" and r.json["opens_at"] is None, r


def test_booking_window_decided_by_the_worker(stack, make_event):
    """The ingress refuses outside the window from its catalogue; the worker is the judge when the
    catalogue is behind: here the window closes in PostgreSQL and the ingress never hears of it."""
    ev = make_event(day=30)
    stack.psql("UPDATE events SET closes_at = now() - interval '1 minute' WHERE id = %d" % ev.id)
    stack.redis("INCR", "yk:catalogue")       # the workers reread; the ingress does not reload

    def closed():
        r = ev.reserve()
        assert r.status in (201, 409), r
        return r if r.status == 409 else None
    r = wait_until(closed, 10, 0.1, what="the worker refuses after closes_at")
    assert r.error == "booking_closed" and r.json["opens_at"] is None, r


def test_campaign_limit_across_events(stack, make_event):
    campaign = unique("flu")
    a = make_event(day=30, campaign=campaign)
    b = make_event(day=31, campaign=campaign)
    mail = email("camp")
    booked(a, mail)
    r = b.reserve(mail=mail)
    assert r.status == 409 and r.error == "already_booked", r
    booked(b, email("camp2"))
