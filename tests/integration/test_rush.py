"""The rush (contract §4 "no slot ever holds more active bookings than its capacity"): 2,000
concurrent reservations for one slot of 50 seats from 100 keep-alive connections give exactly 50
bookings and 1,950 slot_full refusals; PostgreSQL and the slots API agree."""

import collections

from ykstack import email, outcome, resolve, run_parallel

N = 2000
CAPACITY = 50


def test_2000_requests_for_50_seats(stack, make_event):
    ev = make_event(capacities=[CAPACITY])
    path = "/v1/events/%s/reservations" % ev.slug

    def book(client, i):
        r = client.post(path, {"slot_id": ev.slot_ids[0], "email": email("rush%d" % i),
                               "fields": {"name": "利用者 %d" % i}})
        return r, resolve(client, r)

    results = run_parallel(stack, book, range(N), threads=100)

    first = collections.Counter(r.status for r, _ in results)
    final = collections.Counter(outcome(body) for _, body in results)
    assert final == {"confirmed": CAPACITY, "slot_full": N - CAPACITY}, (final, first)
    for r, body in results:
        if r.status == 202:
            continue
        want = 201 if outcome(body) == "confirmed" else 409
        assert r.status == want, r
        if r.status == 409:
            assert isinstance(body.get("message"), str), r

    answered_ids = sorted(int(b["booking"]["id"]) for _, b in results if outcome(b) == "confirmed")
    rows = ev.rows()
    assert len(rows) == CAPACITY
    assert sorted(int(row[0]) for row in rows) == answered_ids
    assert len({row[4] for row in rows}) == CAPACITY
    assert all(row[3] == "confirmed" for row in rows)
    assert int(stack.scalar("SELECT booked FROM slots WHERE id = %s" % ev.slot_ids[0])) == CAPACITY

    r = stack.client.get("/v1/events/%s/slots?from=%s&to=%s" % (
        ev.slug, ev.slots[0]["starts_at"][:10], ev.slots[0]["starts_at"][:10]))
    assert r.status == 200, r
    [slot] = r.json["slots"]
    assert slot["remaining"] == 0 and slot["capacity"] == CAPACITY, slot
