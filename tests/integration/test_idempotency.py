"""Idempotency-Key (contract §2, §4): the same key with the same body gives the same answer and never a
second booking, even sent 20 times at once; the same key with another body is 409
idempotency_conflict."""

import threading
import uuid

from ykstack import email, run_parallel


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

