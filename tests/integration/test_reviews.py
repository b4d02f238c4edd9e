"""Reviews (contract §2): POST /v1/bookings/{id}/review with the booking's token — only an attended
booking, once (also under concurrent posts), rating 1..5, comment of at most 2,000 characters; a
wrong token or id is 404 and changes nothing; GET /v1/admin/events/{slug}/reviews lists them with
count and average."""

import concurrent.futures

from ykstack import email


def attended(stack, ev, who):
    r = ev.reserve(mail=email(who))
    assert r.status == 201, r
    bid = r.json["booking"]["id"]
    # Attendance is marked in PostgreSQL directly: the desk routes are tested on their own.
    stack.psql("UPDATE bookings SET status = 'attended' WHERE id = %s" % bid)
    return bid, r.json["token"]


def review(stack, bid, token, body, **kw):
    return stack.client.post("/v1/bookings/%s/review" % bid, body,
                             headers={"X-Booking-Token": token}, **kw)


def test_review_an_attended_booking_once(stack, make_event):
    ev = make_event()
    bid, token = attended(stack, ev, "rev")
    r = review(stack, bid, token, {"rating": 5, "comment": "簡単に予約ができた\r\nありがとう"})
    assert r.status == 201, r
    got = r.json["review"]
    assert got["booking_id"] == bid and got["event"] == ev.slug and got["rating"] == 5, got
    assert got["comment"] == "簡単に予約ができた\r\nありがとう" and got["created_at"].endswith("+09:00"), got
    r = review(stack, bid, token, {"rating": 1})
    assert r.status == 409 and r.error == "already_reviewed", r
    assert stack.psql("SELECT rating FROM reviews WHERE booking_id = %s" % bid) == [["5"]]


def test_only_attended_bookings(stack, make_event):
    ev = make_event()
    r = ev.reserve(mail=email("conf"))
    bid, token = r.json["booking"]["id"], r.json["token"]
    r = review(stack, bid, token, {"rating": 4})
    assert r.status == 409 and r.error == "not_attended", r
    stack.psql("UPDATE bookings SET status = 'no_show' WHERE id = %s" % bid)
    r = review(stack, bid, token, {"rating": 4})
    assert r.status == 409 and r.error == "not_attended", r


def test_wrong_token_or_id_is_404_and_changes_nothing(stack, make_event):
    ev = make_event()
    bid, token = attended(stack, ev, "mine")
    other, other_token = attended(stack, ev, "theirs")
    for b, t in ((bid, other_token), (bid, "x" * 43), ("99999999999", token), ("%EF%BC%91%EF%BC%92", token)):
        r = review(stack, b, t, {"rating": 3})
        assert r.status == 404 and r.error == "not_found", (b, r)
    r = stack.client.post("/v1/bookings/%s/review" % bid, {"rating": 3})     # no token
    assert r.status == 404, r
    assert stack.psql("SELECT count(*) FROM reviews WHERE booking_id IN (%s, %s)"
                      % (bid, other)) == [["0"]]
    r = stack.client.get("/v1/bookings/%s/review" % bid, headers={"X-Booking-Token": token})
    assert r.status == 405 and r.headers["allow"] == "POST", r


def test_invalid_reviews(stack, make_event):
    ev = make_event()
    bid, token = attended(stack, ev, "bad")
    cases = [
        ({}, {"field": "rating", "reason": "required"}),
        ({"rating": 0}, {"field": "rating", "reason": "type"}),
        ({"rating": 6}, {"field": "rating", "reason": "type"}),
        ({"rating": "5"}, {"field": "rating", "reason": "type"}),
        ({"rating": 4.5}, {"field": "rating", "reason": "type"}),
        ({"rating": True}, {"field": "rating", "reason": "type"}),
        ({"rating": 5, "comment": 7}, {"field": "comment", "reason": "type"}),
        ({"rating": 5, "comment": "あ" * 2001}, {"field": "comment", "reason": "too_long"}),
        ({"rating": 5, "stars": 5}, {"field": "stars", "reason": "unknown_field"}),
        ([5], {"field": "body", "reason": "type"}),
    ]
    for body, err in cases:
        r = review(stack, bid, token, body)
        assert r.status == 422 and r.error == "invalid_fields", (body, r)
        assert err in r.json["errors"], (body, r)
    for raw in (b"{", b'{"rating": 5, "rating": 4}', b'{"rating": 5, "comment": "a\\u0000b"}'):
        r = stack.client.request("POST", "/v1/bookings/%s/review" % bid, body=raw,
                                 headers={"X-Booking-Token": token,
                                          "Content-Type": "application/json"})
        assert r.status == 400, (raw, r)
    # 2,000 characters of three bytes each fit: the limit counts characters, not bytes
    r = review(stack, bid, token, {"rating": 2, "comment": "あ" * 2000})
    assert r.status == 201, r


def test_concurrent_posts_give_one_review(stack, make_event):
    ev = make_event()
    bid, token = attended(stack, ev, "race")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: review(stack, bid, token, {"rating": 1 + i % 5}),
                                range(8)))
    assert sorted(a.status for a in answers) == [201] + [409] * 7, answers
    assert all(a.error == "already_reviewed" for a in answers if a.status == 409)


def test_admin_lists_reviews_with_count_and_average(stack, make_event):
    ev = make_event()
    r = stack.client.get("/v1/admin/events/%s/reviews" % ev.slug, admin=True)
    assert r.status == 200 and r.json == {"reviews": [], "count": 0, "average": None}, r
    for i, rating in enumerate((5, 4, 4)):
        bid, token = attended(stack, ev, "avg%d" % i)
        assert review(stack, bid, token, {"rating": rating, "comment": "c%d" % i}).status == 201
    r = stack.client.get("/v1/admin/events/%s/reviews" % ev.slug, admin=True)
    assert r.status == 200, r
    assert r.json["count"] == 3 and r.json["average"] == 4.33, r
    assert [x["comment"] for x in r.json["reviews"]] == ["c2", "c1", "c0"], r   # newest first
    r = stack.client.get("/v1/admin/events/%s/reviews?limit=1" % ev.slug, admin=True)
    assert len(r.json["reviews"]) == 1 and r.json["count"] == 3, r
    r = stack.client.get("/v1/admin/events/%s/reviews?limit=0" % ev.slug, admin=True)
    assert r.status == 422, r
    assert stack.client.get("/v1/admin/events/nope-x/reviews", admin=True).status == 404
    assert stack.client.get("/v1/admin/events/%s/reviews" % ev.slug).status == 401


def test_more_refusals_and_the_astral_limit(stack, make_event):
    ev = make_event()
    bid, token = attended(stack, ev, "edge")
    for body, err in (({"rating": 5.0}, ("rating", "type")), ({"rating": -1}, ("rating", "type")),
                      ({"rating": "５"}, ("rating", "type")),
                      ({"rating": 3, "comment": ["x"]}, ("comment", "type")),
                      ({"rating": 3, "comment": "x" * 2001}, ("comment", "too_long"))):
        r = review(stack, bid, token, body)
        assert r.status == 422 and {"field": err[0], "reason": err[1]} in r.json["errors"], (body, r)
    for raw in (b"", b"\xff\xfe", b'{"rating":5}x', b"rating=5"):
        r = stack.client.request("POST", "/v1/bookings/%s/review" % bid, body=raw,
                                 headers={"X-Booking-Token": token})
        assert r.status == 400 and r.error == "malformed_json", (raw, r)
    r = review(stack, bid, token, {"rating": 5, "comment": "x" * (70 * 1024)})
    assert r.status == 413 and r.error == "too_large", r
    assert stack.psql("SELECT count(*) FROM reviews WHERE booking_id = %s" % bid) == [["0"]]
    # 2,000 characters of four bytes each (8,000 bytes) fit: code points, not UTF-16 units or bytes
    r = review(stack, bid, token, {"rating": 1, "comment": "😀" * 2000})
    assert r.status == 201 and r.json["review"]["comment"] == "😀" * 2000, r
