"""Contract §4: no booker can read, cancel or review another's booking. Every booking route, called
with another booking's token (and with none, and with a made-up one), answers 404 and changes
nothing: the booking's status, its reviews and its slot's seats stay as they were."""

import pytest

from ykstack import email

ROUTES = [("GET", "/v1/bookings/%s", None), ("GET", "/v1/bookings/%s/qr.svg", None),
          ("POST", "/v1/bookings/%s/cancel", None),
          ("POST", "/v1/bookings/%s/review", {"rating": 1, "comment": "not mine"})]


@pytest.mark.parametrize("method,path,body", ROUTES)
def test_another_bookings_token_is_404_and_changes_nothing(stack, make_event, method, path, body):
    ev = make_event()
    mine = ev.reserve(mail=email("mine"))
    theirs = ev.reserve(mail=email("theirs"))
    assert mine.status == 201 and theirs.status == 201
    bid = theirs.json["booking"]["id"]
    # attended, so that a review would be accepted if the token were not checked
    stack.psql("UPDATE bookings SET status = 'attended' WHERE id = %s" % bid)
    before = stack.psql("SELECT b.status, s.booked, (SELECT count(*) FROM reviews r WHERE "
                        "r.booking_id = b.id) FROM bookings b JOIN slots s ON s.id = b.slot_id "
                        "WHERE b.id = %s" % bid)
    for headers in ({"X-Booking-Token": mine.json["token"]}, {},
                    {"X-Booking-Token": "A" * 43}, {"X-Booking-Token": theirs.json["token"] + "x"}):
        r = stack.client.request(method, path % bid, body, headers=headers)
        assert r.status == 404 and r.error == "not_found", (headers, r)
    assert stack.psql("SELECT b.status, s.booked, (SELECT count(*) FROM reviews r WHERE "
                      "r.booking_id = b.id) FROM bookings b JOIN slots s ON s.id = b.slot_id "
                      "WHERE b.id = %s" % bid) == before
    # mine with my token works, so the 404s were about the token
    r = stack.client.request(method, path % mine.json["booking"]["id"], body,
                             headers={"X-Booking-Token": mine.json["token"]})
    assert r.status in (200, 409), r          # a review of a booking not attended is 409
