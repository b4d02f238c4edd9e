"""Idempotency-Key (contract §2, §4): the same key with the same body gives the same answer and never a
second booking, even sent 20 times at once; the same key with another body is 409
idempotency_conflict."""

import threading
import uuid

from ykstack import email, run_parallel, wait_until


def test_same_key_twenty_times_concurrently(stack, make_event):
    ev = make_event(capacities=[50])
    key = "idem-" + uuid.uuid4().hex
    body = ev.body(mail=email("idem"), fields={"name": "冪等 太郎"})
    path = "/v1/events/%s/reservations" % ev.slug
    barrier = threading.Barrier(20)

    def send(client, _):
        barrier.wait(10)
        return client.post(path, body, headers={"Idempotency-Key": key})

    answers = run_parallel(stack, send, range(20), threads=20)
    statuses = [a.status for a in answers]
    assert statuses == [201] * 20, answers
    first = answers[0].json
    for a in answers:
        assert a.json == first, (a, answers[0])
    assert len(ev.rows()) == 1
    assert ev.rows()[0][0] == first["booking"]["id"]

    # again, later: the same answer
    again = stack.client.post(path, body, headers={"Idempotency-Key": key})
    assert again.status == 201 and again.json == first, again

    # same key, another body
    other = dict(body, email=email("idem2"))
    r = stack.client.post(path, other, headers={"Idempotency-Key": key})
    assert r.status == 409, r
    assert r.error == "idempotency_conflict", r
    assert len(ev.rows()) == 1


def test_other_key_same_person_is_already_booked(stack, make_event):
    ev = make_event(capacities=[5])
    body = ev.body()
    path = "/v1/events/%s/reservations" % ev.slug
    r1 = stack.client.post(path, body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert r1.status == 201, r1
    r2 = stack.client.post(path, body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert r2.status == 409 and r2.error == "already_booked", r2
    assert len(ev.rows()) == 1



def _sold_out_seen(stack, ev, slot_index=0):
    """Waits until the ingress's catalogue shows the slot with no seat left (its fast refusal)."""
    def seen():
        r = stack.client.get("/v1/events/%s/slots" % ev.slug)
        return [s for s in r.json["slots"] if s["id"] == ev.slot_ids[slot_index]][0]["remaining"] == 0
    wait_until(seen, 10, 0.02, what="slot sold out at the ingress")


def test_same_key_after_the_event_sold_out_repeats_the_201(stack, make_event):
    """The booker whose 201 was lost retries after the last seat went: the same 201, not slot_full
    (issue 9 finding 1: the fast refusals ran before the key was looked up)."""
    ev = make_event(capacities=[1])
    key = "lost-201-" + uuid.uuid4().hex
    body = ev.body(mail=email("lost201"))
    path = "/v1/events/%s/reservations" % ev.slug
    first = stack.client.post(path, body, headers={"Idempotency-Key": key})
    assert first.status == 201, first
    _sold_out_seen(stack, ev)
    assert ev.reserve().error == "slot_full"               # sold out for everyone else
    again = stack.client.post(path, body, headers={"Idempotency-Key": key})
    assert again.status == 201 and again.json == first.json, again
    other = dict(body, email=email("other"))
    r = stack.client.post(path, other, headers={"Idempotency-Key": key})
    assert r.status == 409 and r.error == "idempotency_conflict", r
    assert len(ev.rows()) == 1


def test_same_key_after_the_slot_filled_repeats_the_201(stack, make_event):
    """As above with seats left in another slot: the per-slot refusal comes after the key too."""
    ev = make_event(capacities=[1, 5])
    key = "lost-slot-" + uuid.uuid4().hex
    body = ev.body(mail=email("lostslot"))
    path = "/v1/events/%s/reservations" % ev.slug
    first = stack.client.post(path, body, headers={"Idempotency-Key": key})
    assert first.status == 201, first
    _sold_out_seen(stack, ev)
    again = stack.client.post(path, body, headers={"Idempotency-Key": key})
    assert again.status == 201 and again.json == first.json, again
    assert len(ev.rows()) == 1


def test_a_refusal_under_a_key_stays_the_answer(stack, make_event):
    """slot_full given under a key is that key's answer, even once a seat has freed: the same key
    and body give the same answer whatever happened since; a new key books the freed seat."""
    ev = make_event(capacities=[1])
    a = ev.reserve()
    assert a.status == 201, a
    _sold_out_seen(stack, ev)
    key = "refused-" + uuid.uuid4().hex
    body = ev.body(mail=email("refused"))
    path = "/v1/events/%s/reservations" % ev.slug
    r1 = stack.client.post(path, body, headers={"Idempotency-Key": key})
    assert r1.status == 409 and r1.error == "slot_full", r1
    c = stack.client.post("/v1/bookings/%s/cancel" % a.json["booking"]["id"], None,
                          headers={"X-Booking-Token": a.json["token"]})
    assert c.status == 200, c
    r2 = stack.client.post(path, body, headers={"Idempotency-Key": key})
    assert r2.status == 409 and r2.json == r1.json, r2
    r3 = stack.client.post(path, body, headers={"Idempotency-Key": key + "-new"})
    assert r3.status == 201, r3
