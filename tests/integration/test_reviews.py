"""Reviews (contract §2): POST /v1/bookings/{id}/review behind X-Booking-Token — 201 once per
attended booking (PostgreSQL's unique key decides between concurrent posts), 404 for an unknown id
and a wrong token alike, 409 not_attended / already_reviewed, 422 invalid_fields, 400 for a body
that is not JSON — and GET /v1/admin/events/{slug}/reviews (newest first, count, average, pages).
Check-in is not needed: a booking is made attended with a direct SQL UPDATE."""

import threading

import pytest


def booked(stack, ev, attended=True):
    r = ev.reserve()
    assert r.status == 201, r
    bid, tok = r.json["booking"]["id"], r.json["token"]
    if attended:
        stack.psql("UPDATE bookings SET status = 'attended' WHERE id = %s" % bid)
    return bid, tok


def post(api, bid, tok, body=None, raw=None):
    path = "/v1/bookings/%s/review" % bid
    headers = {"X-Booking-Token": tok} if tok is not None else {}
    if raw is not None:
        return api.request("POST", path, body=raw, headers=headers)
    return api.post(path, body, headers=headers)


def test_review_created_once_and_listed(stack, api, make_event):
    ev = make_event(capacities=[10])
    bid, tok = booked(stack, ev)
    r = post(api, bid, tok, {"rating": 4, "comment": "とても良かった\r\n改行も可"})
    assert r.status == 201, r
    rv = r.json["review"]
    assert rv["booking_id"] == bid and rv["event"] == ev.slug and rv["rating"] == 4, r
    assert rv["comment"] == "とても良かった\r\n改行も可" and rv["created_at"].endswith("+09:00"), r
    again = post(api, bid, tok, {"rating": 1})
    assert again.status == 409 and again.error == "already_reviewed", again

    bid2, tok2 = booked(stack, ev)
    r = post(api, bid2, tok2, {"rating": 5})
    assert r.status == 201 and r.json["review"]["comment"] is None, r
    bid3, tok3 = booked(stack, ev)
    assert post(api, bid3, tok3, {"rating": 5, "comment": None}).status == 201

    r = api.get("/v1/admin/events/%s/reviews" % ev.slug, admin=True)
    assert r.status == 200, r
    assert r.json["count"] == 3 and r.json["average"] == pytest.approx(4.67), r
    assert [x["booking_id"] for x in r.json["reviews"]] == [bid3, bid2, bid], r
    assert r.json["reviews"][2] == rv, r
    assert '"average":4.67' in r.body.decode(), r.body   # rounded, not 4.6666…

    # pages of one, newest first
    seen, cursor = [], ""
    for _ in range(5):
        r = api.get("/v1/admin/events/%s/reviews?limit=1%s" % (ev.slug, cursor), admin=True)
        assert r.status == 200 and r.json["count"] == 3, r
        seen += [x["booking_id"] for x in r.json["reviews"]]
        if r.json["next_cursor"] is None:
            break
        cursor = "&cursor=" + r.json["next_cursor"]
    assert seen == [bid3, bid2, bid], seen


def test_empty_list_unknown_event_and_bad_query(api, make_event):
    ev = make_event(capacities=[1])
    r = api.get("/v1/admin/events/%s/reviews" % ev.slug, admin=True)
    assert r.status == 200 and r.json == {"reviews": [], "count": 0, "average": None,
                                          "next_cursor": None}, r
    r = api.get("/v1/admin/events/no-such-event-x/reviews", admin=True)
    assert r.status == 404 and r.error == "not_found", r
    r = api.get("/v1/admin/events/%s/reviews" % ev.slug)
    assert r.status == 401, r
    for q in ("limit=0", "limit=%EF%BC%91", "cursor=abc", "limit=" + "9" * 40):
        r = api.get("/v1/admin/events/%s/reviews?%s" % (ev.slug, q), admin=True)
        assert r.status == 422 and r.error == "invalid_fields", (q, r)
    r = api.post("/v1/admin/events/%s/reviews" % ev.slug, {}, admin=True)
    assert r.status == 405 and "GET" in r.headers.get("allow", ""), r


def test_not_found_and_not_attended(stack, api, make_event):
    ev = make_event(capacities=[10])
    bid, tok = booked(stack, ev, attended=False)
    obid, otok = booked(stack, ev)
    other = tok[:10] + ("B" if tok[10] != "B" else "C") + tok[11:]
    for t in (otok, other, "", None):
        r = post(api, bid, t, {"rating": 3})
        assert r.status == 404 and r.error == "not_found", (t, r)
    for path_id in ("987654321", "abc", "%EF%BC%91%EF%BC%92", "9" * 30):
        r = post(api, path_id, tok, {"rating": 3})
        assert r.status == 404 and r.error == "not_found", (path_id, r)
    r = post(api, bid, tok, {"rating": 3})
    assert r.status == 409 and r.error == "not_attended", r
    for status in ("cancelled", "no_show"):
        stack.psql("UPDATE bookings SET status = '%s' WHERE id = %s" % (status, bid))
        r = post(api, bid, tok, {"rating": 3})
        assert r.status == 409 and r.error == "not_attended", (status, r)
    r = api.get("/v1/bookings/%s/review" % bid, headers={"X-Booking-Token": tok})
    assert r.status == 405 and r.headers.get("allow") == "POST", r
    assert stack.psql("SELECT count(*) FROM reviews WHERE booking_id = %s" % bid) == [["0"]]


def _errors(r):
    return sorted((e["field"], e["reason"]) for e in r.json["errors"])


@pytest.mark.parametrize("body,want", [
    ({}, [("rating", "required")]),
    ({"rating": None}, [("rating", "required")]),
    ({"rating": 0}, [("rating", "type")]),
    ({"rating": 6}, [("rating", "type")]),
    ({"rating": -1}, [("rating", "type")]),
    ({"rating": 4.5}, [("rating", "type")]),
    ({"rating": 5.0}, [("rating", "type")]),
    ({"rating": "5"}, [("rating", "type")]),
    ({"rating": "５"}, [("rating", "type")]),
    ({"rating": True}, [("rating", "type")]),
    ({"rating": 2 ** 70}, None),   # too big for jansson's integer: not JSON it can read
    ({"rating": 3, "comment": 7}, [("comment", "type")]),
    ({"rating": 3, "comment": ["x"]}, [("comment", "type")]),
    ({"rating": 3, "comment": "x\u0000y"}, [("comment", "type")]),
    ({"rating": 3, "comment": "あ" * 2001}, [("comment", "too_long")]),
    ({"rating": 3, "comment": "x" * 2001}, [("comment", "too_long")]),
    ({"rating": 3, "stars": 5}, [("stars", "unknown_field")]),
    ({"comment": 1, "x": 1}, [("comment", "type"), ("rating", "required"), ("x", "unknown_field")]),
])
def test_invalid_bodies_422(stack, api, make_event, body, want):
    ev = make_event(capacities=[2])
    bid, tok = booked(stack, ev)
    r = post(api, bid, tok, body)
    if want is None:
        assert r.status in (400, 422), r
    else:
        assert r.status == 422 and r.error == "invalid_fields", r
        assert _errors(r) == sorted(want), r
    assert stack.psql("SELECT count(*) FROM reviews WHERE booking_id = %s" % bid) == [["0"]]


def test_malformed_and_odd_bodies(stack, api, make_event):
    ev = make_event(capacities=[2])
    bid, tok = booked(stack, ev)
    for raw in (b"{", b"", b"rating=5", b'{"rating":5,"rating":4}', b"\xff\xfe", b'{"rating":5}x',
                b"5", b'"x"', b"null"):   # a bare value is not a JSON text jansson reads
        r = post(api, bid, tok, raw=raw)
        assert r.status == 400 and r.error == "malformed_json", (raw, r)
    for raw in (b"[]", b'[{"rating":5}]'):
        r = post(api, bid, tok, raw=raw)
        assert r.status == 422 and _errors(r) == [("body", "type")], (raw, r)
    r = post(api, bid, tok, raw=b'{"rating":5,"comment":"' + b"x" * (70 * 1024) + b'"}')
    assert r.status == 413 and r.error == "too_large", r
    # exactly 2,000 characters of 3 bytes each: 6,000 bytes, allowed (characters, not bytes)
    r = post(api, bid, tok, {"rating": 2, "comment": "😀" * 1000 + "語" * 1000})
    assert r.status == 201 and len(r.json["review"]["comment"]) == 2000, r


def test_concurrent_posts_one_wins(stack, api, make_event):
    ev = make_event(capacities=[5])
    bid, tok = booked(stack, ev)
    results, go = [], threading.Barrier(6)

    def one(i):
        go.wait()
        results.append(post(api, bid, tok, {"rating": 1 + i % 5}))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status for r in results)
    assert codes == [201] + [409] * 5, results
    assert all(r.error == "already_reviewed" for r in results if r.status == 409), results
    assert stack.psql("SELECT count(*) FROM reviews WHERE booking_id = %s" % bid) == [["1"]]
