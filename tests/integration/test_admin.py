"""Admin API and operations endpoints (contract §2 Admin, Operations): create an event, slug_taken,
invalid definitions, slots (listed and generated), the public views of both, the bookings list with
cursor pagination, GET /v1/requests/{id} of a decided request, /healthz and /readyz."""

import datetime
import re
import signal
import time

import pytest

from ykstack import JST, email, rfc3339, slot_time, unique, wait_until

BOOKING_KEYS = {"id", "event", "slot_id", "starts_at", "ends_at", "status", "email", "fields",
                "created_at", "checkin_code"}
RFC3339_JST = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+09:00$")


def definition(slug, **extra):
    d = {"slug": slug, "title": "管理テスト", "description": "説明", "venue": "市民会館",
         "timezone": "Asia/Tokyo",
         "fields": [{"name": "name", "label": {"ja": "氏名", "en": "Name"}, "type": "text",
                     "required": True, "max_length": 50},
                    {"name": "voucher", "label": "接種券番号", "type": "text", "required": True,
                     "pattern": "^[0-9]{10}$", "identity": True}]}
    d.update(extra)
    return d


def test_healthz_readyz(api):
    r = api.get("/healthz")
    assert r.status == 200, r
    r = api.get("/readyz")
    assert r.status == 200, r


def test_create_event_get_and_list(api):
    slug = unique("adm")
    r = api.post("/v1/admin/events", definition(slug), admin=True)
    assert r.status == 201, r
    assert r.json["slug"] == slug, r
    assert r.json["title"] == "管理テスト", r
    assert r.json["timezone"] == "Asia/Tokyo", r
    assert [f["name"] for f in r.json["fields"]] == ["name", "voucher"], r
    assert "password" not in r.json, r

    r = api.get("/v1/admin/events/%s" % slug, admin=True)
    assert r.status == 200, r
    assert r.json["slug"] == slug, r

    r = api.get("/v1/events/%s" % slug)
    assert r.status == 200, r
    assert r.json["slug"] == slug and r.json["title"] == "管理テスト", r
    assert "password" not in r.json and "password_hash" not in r.json, r

    r = api.get("/v1/events")
    assert r.status == 200, r
    assert slug in [e["slug"] for e in r.json["events"]], r

    r = api.get("/v1/admin/events", admin=True)
    assert r.status == 200, r
    assert slug in [e["slug"] for e in r.json["events"]], r


def test_duplicate_slug_409(api):
    slug = unique("dup")
    assert api.post("/v1/admin/events", definition(slug), admin=True).status == 201
    r = api.post("/v1/admin/events", definition(slug, title="別"), admin=True)
    assert r.status == 409, r
    assert r.error == "slug_taken", r
    assert isinstance(r.json.get("message"), str), r


def test_unpublished_event_not_listed(api):
    slug = unique("hidden")
    assert api.post("/v1/admin/events", definition(slug, published=False), admin=True).status == 201
    r = api.get("/v1/events")
    assert r.status == 200, r
    assert slug not in [e["slug"] for e in r.json["events"]], r


def _bad(api, d):
    r = api.post("/v1/admin/events", d, admin=True)
    assert r.status == 422, r
    assert r.error == "invalid_fields", r
    assert r.json["errors"] and all({"field", "reason"} <= set(e) for e in r.json["errors"]), r
    return r


def test_invalid_definitions_422(api, stack):
    before = int(stack.scalar("SELECT count(*) FROM events"))
    _bad(api, definition("Bad Slug!"))
    _bad(api, definition("x" * 65))
    r = _bad(api, {"slug": unique("nt")})  # no title
    assert any(e["field"] == "title" for e in r.json["errors"]), r
    d = definition(unique("ty"))
    d["fields"][0]["type"] = "colour"
    _bad(api, d)
    d = definition(unique("id2"))
    d["fields"][0]["identity"] = True      # two identity fields
    _bad(api, d)
    d = definition(unique("re"))
    d["fields"][1]["pattern"] = "([0-9"    # does not compile
    _bad(api, d)
    d = definition(unique("sel"))
    d["fields"].append({"name": "plan", "label": "プラン", "type": "select"})  # select without options
    _bad(api, d)
    _bad(api, definition(unique("tz"), timezone="Mars/Olympus"))
    _bad(api, definition(unique("lim"), per_person_limit=0))
    r = api.post("/v1/admin/events", body="{not json", admin=True)
    assert r.status == 400 and r.error == "malformed_json", r
    assert int(stack.scalar("SELECT count(*) FROM events")) == before


def test_admin_unknown_event_404(api):
    r = api.get("/v1/admin/events/%s" % unique("none"), admin=True)
    assert r.status == 404 and r.error == "not_found", r
    r = api.post("/v1/admin/events/%s/slots" % unique("none"),
                 {"slots": [{"starts_at": "2030-01-01T09:00:00+09:00",
                             "ends_at": "2030-01-01T09:30:00+09:00", "capacity": 1}]}, admin=True)
    assert r.status == 404 and r.error == "not_found", r
    r = api.get("/v1/admin/events/%s/bookings" % unique("none"), admin=True)
    assert r.status == 404 and r.error == "not_found", r


def test_slots_listed_and_generated(api, make_event):
    ev = make_event(capacities=())
    base = slot_time(40, 0).date()
    # a Monday at or after base, so weekdays are predictable
    monday = base + datetime.timedelta(days=(7 - base.weekday()) % 7)

    listed = [{"starts_at": rfc3339(datetime.datetime.combine(monday, datetime.time(8, 0), JST)),
               "ends_at": rfc3339(datetime.datetime.combine(monday, datetime.time(8, 45), JST)),
               "capacity": 3}]
    r = api.post("/v1/admin/events/%s/slots" % ev.slug, {"slots": listed}, admin=True)
    assert r.status == 201 and r.json == {"created": 1}, r

    gen = {"from": str(monday), "to": str(monday + datetime.timedelta(days=6)),
           "weekdays": [1, 3, 5], "times": ["09:00", "10:30"], "duration_min": 30, "capacity": 5}
    r = api.post("/v1/admin/events/%s/slots" % ev.slug, {"generate": gen}, admin=True)
    assert r.status == 201 and r.json == {"created": 6}, r

    r = api.get("/v1/events/%s/slots?from=%s&to=%s" % (ev.slug, monday, monday + datetime.timedelta(days=6)))
    assert r.status == 200, r
    slots = sorted(r.json["slots"], key=lambda s: s["starts_at"])
    assert len(slots) == 7, r
    for s in slots:
        assert set(s) >= {"id", "starts_at", "ends_at", "capacity", "remaining"}, s
        assert isinstance(s["id"], str), s
        assert RFC3339_JST.match(s["starts_at"]) and RFC3339_JST.match(s["ends_at"]), s
        assert s["remaining"] == s["capacity"], s
    got = [(s["starts_at"][:16], s["ends_at"][11:16], s["capacity"]) for s in slots]
    want = [(str(monday) + "T08:00", "08:45", 3)]
    for dd in (0, 2, 4):
        d = monday + datetime.timedelta(days=dd)
        want += [(str(d) + "T09:00", "09:30", 5), (str(d) + "T10:30", "11:00", 5)]
    assert got == want

    # from/to: whole local days, both ends included
    wed = monday + datetime.timedelta(days=2)
    r = api.get("/v1/events/%s/slots?from=%s&to=%s" % (ev.slug, wed, wed))
    assert r.status == 200, r
    assert sorted(s["starts_at"][:16] for s in r.json["slots"]) == [str(wed) + "T09:00", str(wed) + "T10:30"], r
    r = api.get("/v1/events/%s/slots?from=%s&to=%s" % (ev.slug, wed + datetime.timedelta(days=1),
                                                       monday + datetime.timedelta(days=6)))
    assert r.status == 200, r
    assert len(r.json["slots"]) == 2, r


def test_new_slots_listed_at_once(api, make_event):
    """Read-your-writes on one ingress: slots answered 201 are listed by the next request."""
    ev = make_event(capacities=())
    r = api.post("/v1/admin/events/%s/slots" % ev.slug,
                 {"slots": [{"starts_at": "2031-05-07T09:00:00+09:00", "ends_at": "2031-05-07T09:30:00+09:00",
                             "capacity": 2}]}, admin=True)
    assert r.status == 201, r
    r = api.get("/v1/events/%s/slots?from=2031-05-07&to=2031-05-07" % ev.slug)
    assert r.status == 200 and len(r.json["slots"]) == 1, r
    r = api.post("/v1/events/%s/reservations" % ev.slug,
                 {"slot_id": r.json["slots"][0]["id"], "email": email(), "fields": {"name": "x"}})
    assert r.status == 201, r


def test_new_event_visible_at_once(api):
    slug = unique("now")
    assert api.post("/v1/admin/events", definition(slug), admin=True).status == 201
    r = api.get("/v1/events/%s" % slug)
    assert r.status == 200, r


def test_slots_invalid_422(api, make_event, stack):
    ev = make_event(capacities=())
    cases = [
        {"slots": [{"starts_at": "2030-01-01T10:00:00+09:00", "ends_at": "2030-01-01T09:00:00+09:00",
                    "capacity": 1}]},
        {"slots": [{"starts_at": "2030-01-01T09:00:00+09:00", "ends_at": "2030-01-01T10:00:00+09:00",
                    "capacity": -1}]},
        {"slots": [{"starts_at": "tomorrow", "ends_at": "2030-01-01T10:00:00+09:00", "capacity": 1}]},
        {"generate": {"from": "2030-01-01", "to": "2030-01-07", "weekdays": [8], "times": ["09:00"],
                      "duration_min": 30, "capacity": 5}},
        {"generate": {"from": "2030-01-01", "to": "2030-01-07", "weekdays": [1], "times": ["25:00"],
                      "duration_min": 30, "capacity": 5}},
    ]
    for c in cases:
        r = api.post("/v1/admin/events/%s/slots" % ev.slug, c, admin=True)
        assert r.status == 422, (c, r)
        assert r.error == "invalid_fields", (c, r)
    assert int(stack.scalar("SELECT count(*) FROM slots WHERE event_id = %d" % ev.id)) == 0


def test_booking_answer_shape(api, make_event):
    ev = make_event(capacities=[5])
    mail = email()
    r = ev.reserve(mail=mail, fields={"name": "山田 花子"})
    assert r.status == 201, r
    assert set(r.json) == {"booking", "token"}, r
    b = r.json["booking"]
    assert set(b) == BOOKING_KEYS, b
    assert isinstance(b["id"], str) and b["id"].isdigit(), b
    assert b["event"] == ev.slug and b["slot_id"] == ev.slot_ids[0], b
    assert b["status"] == "confirmed" and b["email"] == mail, b
    assert b["fields"] == {"name": "山田 花子"}, b
    assert b["starts_at"] == ev.slots[0]["starts_at"] and b["ends_at"] == ev.slots[0]["ends_at"], b
    assert RFC3339_JST.match(b["created_at"]), b
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", r.json["token"]), r


def test_bookings_list_cursor_pagination(api, make_event):
    ev = make_event(capacities=[10])
    ids = []
    for i in range(5):
        r = ev.reserve(fields={"name": "n%d" % i})
        assert r.status == 201, r
        ids.append(r.json["booking"]["id"])

    seen, cursor, pages = [], None, 0
    while True:
        path = "/v1/admin/events/%s/bookings?limit=2" % ev.slug
        if cursor:
            path += "&cursor=" + cursor
        r = api.get(path, admin=True)
        assert r.status == 200, r
        assert "next_cursor" in r.json, r
        page = r.json["bookings"]
        assert len(page) <= 2, r
        for b in page:
            assert set(b) == BOOKING_KEYS, b
        seen += [b["id"] for b in page]
        pages += 1
        assert pages <= 10, "pagination does not end"
        cursor = r.json["next_cursor"]
        if not cursor:
            break
    assert sorted(seen, key=int) == sorted(ids, key=int)
    assert len(seen) == len(set(seen)) == 5
    assert pages >= 3

    r = api.get("/v1/admin/events/%s/bookings?status=confirmed&limit=100" % ev.slug, admin=True)
    assert r.status == 200 and len(r.json["bookings"]) == 5, r
    r = api.get("/v1/admin/events/%s/bookings?status=cancelled" % ev.slug, admin=True)
    assert r.status == 200 and r.json["bookings"] == [], r


def test_request_status_of_decided_request(api, make_event, stack):
    ev = make_event(capacities=[1])
    r = ev.reserve()
    assert r.status == 201, r
    bid = r.json["booking"]["id"]
    rid = stack.scalar("SELECT request_id FROM bookings WHERE id = %s" % bid)
    assert re.fullmatch(r"[0-9a-f]{32}", rid), rid
    q = api.get("/v1/requests/%s" % rid)
    assert q.status == 200, q
    assert "status" in q.json, q
    assert q.json["booking"]["id"] == bid, q

    # a refused request is answered with its refusal
    r2 = ev.reserve()
    assert r2.status == 409 and r2.error == "slot_full", r2

    q = api.get("/v1/requests/%s" % ("0" * 32))
    assert q.status == 404 and q.error == "not_found", q


def test_costly_pattern_refused_fast(api, stack):
    """Finding 8: a field pattern of "%" and 22 "+" made glibc's regcomp take 2.9 GiB and 6 s on
    the ingress loop (and again at every catalogue reload). It is refused, at once."""
    before = int(stack.scalar("SELECT count(*) FROM events"))
    d = definition(unique("re"))
    d["fields"][0]["pattern"] = "%" + "+" * 22
    t0 = time.monotonic()
    r = _bad(api, d)
    assert time.monotonic() - t0 < 1.0, r
    assert {"field": "fields[0].pattern", "reason": "pattern"} in r.json["errors"], r
    d["fields"][0]["pattern"] = "(a{100}){100}"
    r = _bad(api, d)
    assert {"field": "fields[0].pattern", "reason": "pattern"} in r.json["errors"], r
    assert int(stack.scalar("SELECT count(*) FROM events")) == before


def test_long_key_error_is_not_lost(api, stack):
    """Finding 8: an error on a key over 80 bytes was cut inside a UTF-8 character, json_pack
    refused it, the error vanished and the definition was stored (then skipped by the catalogue)."""
    slug = unique("key")
    d = definition(slug)
    d["fields"][0]["あ" * 30] = 1
    r = _bad(api, d)
    assert {"field": "fields[0]." + "あ" * 26, "reason": "unknown_field"} in r.json["errors"], r
    d = definition(slug)
    d["い" * 30] = 1
    r = _bad(api, d)
    assert {"field": "い" * 26, "reason": "unknown_field"} in r.json["errors"], r
    assert stack.scalar("SELECT count(*) FROM events WHERE slug = '%s'" % slug) == "0"


def test_prerequisite_must_name_an_event(api, stack):
    """Finding 9: a prerequisite naming a missing event was accepted."""
    first = unique("dose1")
    r = _bad(api, definition(unique("dose2"), prerequisite={"event": first, "min_days": 21}))
    assert {"field": "prerequisite.event", "reason": "unknown_option"} in r.json["errors"], r
    assert api.post("/v1/admin/events", definition(first), admin=True).status == 201
    second = unique("dose2")
    r = api.post("/v1/admin/events", definition(second, prerequisite={"event": first, "min_days": 21}),
                 admin=True)
    assert r.status == 201, r
    assert r.json["prerequisite"]["event"] == first, r
    r = _bad(api, definition(unique("dose2"), prerequisite={"min_days": 21}))
    assert {"field": "prerequisite.event", "reason": "required"} in r.json["errors"], r


@pytest.mark.parametrize("key,value", [("title", "予防接種\r\nBcc: x@example.com"),
                                       ("title", "a\nb"), ("venue", "市民会館\r\n2F"),
                                       ("campaign", "flu\n")])
def test_line_break_in_single_line_text_refused(api, key, value):
    """Finding 9: CR/LF in an event title (a mail's Subject) was accepted."""
    r = _bad(api, definition(unique("crlf"), **{key: value}))
    assert {"field": key, "reason": "pattern"} in r.json["errors"], r


def test_query_parameter_422_names_the_parameter(api, make_event):
    """Finding 9: the bookings list's 422 said "not a valid definition"."""
    ev = make_event(capacities=())
    for query, name in [("limit=0", "limit"), ("cursor=x", "cursor"), ("status=gone", "status")]:
        r = api.get("/v1/admin/events/%s/bookings?%s" % (ev.slug, query), admin=True)
        assert r.status == 422 and r.error == "invalid_fields", r
        assert r.json["errors"][0]["field"] == name, r
        assert name in r.json["message"] and "definition" not in r.json["message"], r


def test_slots_not_in_effect_answer_503(api, make_event, stack):
    """Finding 7b: listing slots answered 201 even when the catalogue reload failed. The reload is
    made to fail by a yk_rfc3339 that raises for the year 2099 (the slots' insert does not call it,
    the catalogue's load does)."""
    ev = make_event(capacities=())
    stack.psql("ALTER FUNCTION yk_rfc3339(timestamptz, text) RENAME TO yk_rfc3339_real;"
               " CREATE FUNCTION yk_rfc3339(ts timestamptz, tz text) RETURNS text"
               " LANGUAGE plpgsql STABLE AS $$ BEGIN"
               " IF ts >= '2099-01-01' THEN RAISE EXCEPTION 'test: the catalogue cannot load'; END IF;"
               " RETURN yk_rfc3339_real(ts, tz); END $$")
    try:
        r = api.post("/v1/admin/events/%s/slots" % ev.slug,
                     {"slots": [{"starts_at": "2099-05-07T09:00:00+09:00",
                                 "ends_at": "2099-05-07T09:30:00+09:00", "capacity": 2}]}, admin=True)
        assert r.status == 503 and r.error == "unavailable", r
        assert r.headers.get("retry-after"), r
    finally:
        stack.psql("DROP FUNCTION yk_rfc3339(timestamptz, text);"
                   " ALTER FUNCTION yk_rfc3339_real(timestamptz, text) RENAME TO yk_rfc3339")
    # saved, as the message says; in effect at the next reload that succeeds
    assert stack.scalar("SELECT count(*) FROM slots WHERE event_id = %d" % ev.id) == "1"
    r = api.post("/v1/admin/events/%s/slots" % ev.slug,
                 {"slots": [{"starts_at": "2099-05-08T09:00:00+09:00",
                             "ends_at": "2099-05-08T09:30:00+09:00", "capacity": 2}]}, admin=True)
    assert r.status == 201 and r.json == {"created": 1}, r
    r = api.get("/v1/events/%s/slots?from=2099-05-07&to=2099-05-08" % ev.slug)
    assert r.status == 200 and len(r.json["slots"]) == 2, r


def test_slots_answer_within_wait_when_redis_stalls(api, make_event, stack):
    """Finding 7b, the other half: the change is announced to every ingress through Redis; with
    Redis stalled (SIGSTOP) the answer is 503 within YOYAKU_WAIT_MS (5 s here), not a hang and not
    a 201 that other ingresses do not know of."""
    ev = make_event(capacities=())
    redis = stack.by_name("redis")
    redis.signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = api.post("/v1/admin/events/%s/slots" % ev.slug,
                     {"slots": [{"starts_at": "2098-05-07T09:00:00+09:00",
                                 "ends_at": "2098-05-07T09:30:00+09:00", "capacity": 2}]}, admin=True)
        took = time.monotonic() - t0
    finally:
        redis.signal(signal.SIGCONT)
    assert r.status == 503 and r.error == "unavailable" and r.headers.get("retry-after"), r
    assert took < 7.0, took
    wait_until(lambda: api.get("/readyz").status == 200, 20, 0.1, what="ready again")
