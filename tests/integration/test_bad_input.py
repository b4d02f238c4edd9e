"""Refusals the ingress gives without queuing anything (contract §2, §3): each case checks the exact
status and error code, and that nothing reached Redis (stream lengths, sequence numbers, result
markers) or PostgreSQL (bookings)."""

import json

import pytest

from ykstack import email, unique, wait_until

FIELDS = [
    {"name": "name", "label": "氏名", "type": "text", "required": True, "max_length": 10},
    {"name": "member", "label": "会員番号", "type": "text", "pattern": "^[0-9]{4}$"},
    {"name": "age", "label": "年齢", "type": "number"},
    {"name": "agree", "label": "同意", "type": "checkbox"},
    {"name": "plan", "label": "プラン", "type": "select", "options": ["a", "b"]},
]


@pytest.fixture(scope="module")
def ev(stack, request):
    slug = unique("bad")
    c = stack.client
    r = c.post("/v1/admin/events", {"slug": slug, "title": "入力検査", "fields": FIELDS}, admin=True)
    assert r.status == 201, r
    r = c.post("/v1/admin/events/%s/slots" % slug,
               {"slots": [{"starts_at": "2031-03-03T09:00:00+09:00", "ends_at": "2031-03-03T09:30:00+09:00",
                           "capacity": 5}]}, admin=True)
    assert r.status == 201, r
    r = wait_until(lambda: c.get("/v1/events/%s/slots?from=2031-03-03&to=2031-03-03" % slug).json["slots"],
                   10, 0.02, what="slot listed")
    return {"slug": slug, "slot": r[0]["id"]}


@pytest.fixture
def nothing_queued(stack):
    """Asserts after the test that no request reached Redis or PostgreSQL."""
    before = stack.queue_snapshot()
    yield
    changed = stack.queued_since(before)
    assert not changed, "something was queued or stored: %r" % changed


def body(ev, **over):
    b = {"slot_id": ev["slot"], "email": email(), "fields": {"name": "太郎"}}
    b.update(over)
    return b


def reserve(api, ev, raw=None, **over):
    path = "/v1/events/%s/reservations" % ev["slug"]
    if raw is not None:
        return api.request("POST", path, body=raw)
    return api.post(path, body(ev, **over))


def invalid(r, field, reason=None):
    assert r.status == 422, r
    assert r.error == "invalid_fields", r
    assert isinstance(r.json.get("message"), str), r
    errs = r.json["errors"]
    hits = [e for e in errs if e.get("field") == field]
    assert hits, "no error for field %r in %r" % (field, errs)
    if reason is not None:
        assert reason in [e["reason"] for e in hits], "want %s for %s, got %r" % (reason, field, errs)


def test_malformed_json(api, ev, nothing_queued):
    for raw in ('{"slot_id": ', "not json", '{"slot_id": "1",}', b"\xff\xfe{}"):
        r = reserve(api, ev, raw=raw)
        assert r.status == 400, (raw, r)
        assert r.error == "malformed_json", (raw, r)


def test_too_large(api, ev, nothing_queued):
    raw = json.dumps(body(ev, fields={"name": "x" * (70 * 1024)}))
    assert len(raw) > 70 * 1024
    r = reserve(api, ev, raw=raw)
    assert r.status == 413, r
    assert r.error == "too_large", r


def test_unknown_field(api, ev, nothing_queued):
    invalid(reserve(api, ev, fields={"name": "太郎", "bogus": "x"}), "bogus", "unknown_field")


def test_wrong_type(api, ev, nothing_queued):
    invalid(reserve(api, ev, fields={"name": 123}), "name", "type")
    invalid(reserve(api, ev, fields={"name": "太郎", "agree": "yes"}), "agree", "type")
    invalid(reserve(api, ev, fields={"name": "太郎", "age": "forty"}), "age", "type")
    invalid(reserve(api, ev, fields={"name": ["太郎"]}), "name", "type")


def test_missing_required(api, ev, nothing_queued):
    invalid(reserve(api, ev, fields={}), "name", "required")
    invalid(reserve(api, ev, fields={"name": ""}), "name", "required")
    invalid(reserve(api, ev, email=None), "email", "required")


def test_pattern_mismatch(api, ev, nothing_queued):
    invalid(reserve(api, ev, fields={"name": "太郎", "member": "12a4"}), "member", "pattern")
    invalid(reserve(api, ev, fields={"name": "太郎", "member": "12345"}), "member", "pattern")


def test_too_long_and_unknown_option(api, ev, nothing_queued):
    invalid(reserve(api, ev, fields={"name": "あ" * 11}), "name", "too_long")
    invalid(reserve(api, ev, fields={"name": "太郎", "plan": "c"}), "plan", "unknown_option")


def test_bad_email(api, ev, nothing_queued):
    invalid(reserve(api, ev, email="not-an-address"), "email")


@pytest.mark.parametrize("value", ["太郎\r\nBcc: x@example.com", "太郎\nX", "太郎\rX"])
def test_crlf_in_field_refused(api, ev, nothing_queued, value):
    invalid(reserve(api, ev, fields={"name": value}), "name")


@pytest.mark.parametrize("value", ["a@example.com\r\nBcc: x@example.com", "a@example.com\n",
                                   "a\r@example.com"])
def test_crlf_in_email_refused(api, ev, nothing_queued, value):
    invalid(reserve(api, ev, email=value), "email")


@pytest.mark.parametrize("value", ["zoë@example.com", "zoe@exämple.com", "山田@example.jp"])
def test_non_ascii_email_refused(api, ev, nothing_queued, value):
    """Finding 5: mail goes out without SMTPUTF8, so a non-ASCII address is refused (type)."""
    invalid(reserve(api, ev, email=value), "email", "type")


def test_non_ascii_email_field_refused(api, stack, nothing_queued):
    slug = unique("mailf")
    c = stack.client
    fields = [{"name": "contact", "type": "email", "required": True}]
    assert c.post("/v1/admin/events", {"slug": slug, "title": "t", "fields": fields},
                  admin=True).status == 201
    r = c.post("/v1/admin/events/%s/slots" % slug,
               {"slots": [{"starts_at": "2031-03-04T09:00:00+09:00",
                           "ends_at": "2031-03-04T09:30:00+09:00", "capacity": 5}]}, admin=True)
    assert r.status == 201, r
    slot = c.get("/v1/events/%s/slots" % slug).json["slots"][0]["id"]
    r = c.post("/v1/events/%s/reservations" % slug,
               {"slot_id": slot, "email": email(), "fields": {"contact": "zoë@example.com"}})
    invalid(r, "contact", "type")


@pytest.mark.parametrize("field,value", [("name", "a\r\nb"), ("member", "12\n34"),
                                         ("plan", "a\r"), ("age", "4\n2")])
def test_crlf_in_any_booker_value_refused(api, ev, nothing_queued, field, value):
    fields = {"name": "太郎"}
    fields[field] = value
    invalid(reserve(api, ev, fields=fields), field)


def test_crlf_in_other_field_types(api, ev, nothing_queued):
    invalid(reserve(api, ev, fields={"name": "太郎", "member": "1234\r\n"}), "member")
    invalid(reserve(api, ev, fields={"name": "太郎", "plan": "a\n"}), "plan")


def test_unknown_slot_404(api, ev, nothing_queued):
    r = reserve(api, ev, slot_id="987654321")
    assert r.status == 404 and r.error == "not_found", r


def test_slot_of_other_event_404(api, ev, stack, make_event):
    other = make_event(capacities=[3])
    before = stack.queue_snapshot()
    r = reserve(api, ev, slot_id=other.slot_ids[0])
    assert r.status == 404 and r.error == "not_found", r
    assert not stack.queued_since(before)


def test_unknown_event_404(api, ev, nothing_queued):
    r = api.post("/v1/events/%s/reservations" % unique("nope"), body(ev))
    assert r.status == 404 and r.error == "not_found", r
    r = api.get("/v1/events/%s" % unique("nope"))
    assert r.status == 404 and r.error == "not_found", r
    r = api.get("/v1/events/%s/slots" % unique("nope"))
    assert r.status == 404 and r.error == "not_found", r


@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", "Bearer ", "Basic YWRtaW46YWRtaW4=",
                                  "bearer-less"])
def test_admin_needs_valid_token(api, stack, auth, nothing_queued):
    headers = {} if auth is None else {"Authorization": auth}
    before = int(stack.scalar("SELECT count(*) FROM events"))
    r = api.post("/v1/admin/events", {"slug": unique("noauth"), "title": "x"}, headers=headers)
    assert r.status == 401 and r.error == "unauthorized", r
    r = api.get("/v1/admin/events", headers=headers)
    assert r.status == 401 and r.error == "unauthorized", r
    r = api.get("/v1/admin/events/%s/bookings" % unique("x"), headers=headers)
    assert r.status == 401 and r.error == "unauthorized", r
    assert int(stack.scalar("SELECT count(*) FROM events")) == before


def test_unknown_route_404(api, nothing_queued):
    for path in ("/v1/nope", "/nope", "/v1/events/a/b/c/d", "/v2/events"):
        r = api.get(path)
        assert r.status == 404, (path, r)
        assert r.error == "not_found", (path, r)


def test_wrong_method_405(api, ev, nothing_queued):
    cases = [("DELETE", "/v1/events"), ("POST", "/v1/events"),
             ("GET", "/v1/events/%s/reservations" % ev["slug"]),
             ("PUT", "/v1/events/%s/reservations" % ev["slug"]), ("POST", "/healthz")]
    for method, path in cases:
        r = api.request(method, path, body="{}" if method != "GET" else None)
        assert r.status == 405, (method, path, r)
        assert r.error == "method_not_allowed", (method, path, r)


def test_fullwidth_digits_in_number_field_accepted(api, ev, stack):
    before = stack.bookings_count()
    r = reserve(api, ev, fields={"name": "太郎", "age": "４２"})
    assert r.status == 201, r
    assert str(r.json["booking"]["fields"]["age"]) == "42", r
    assert stack.bookings_count() == before + 1


def test_number_field_is_a_json_number_in_definition_order(api, ev, stack):
    """Finding 9: a number field came back as a string, and fields out of definition order."""
    r = reserve(api, ev, fields={"plan": "b", "agree": True, "age": "０４２", "member": "1234",
                                 "name": "太郎"})
    assert r.status == 201, r
    raw = r.body.decode() if isinstance(r.body, bytes) else r.body
    want = '"fields":{"name":"太郎","member":"1234","age":42,"agree":true,"plan":"b"}'
    assert want in raw, raw
    b = r.json["booking"]
    listed = api.get("/v1/admin/events/%s/bookings?limit=1000" % ev["slug"], admin=True)
    assert listed.status == 200, listed
    raw = listed.body.decode() if isinstance(listed.body, bytes) else listed.body
    mine = raw[raw.index('"id":"%s"' % b["id"]):]
    assert mine[mine.index('"fields":'):].startswith(want), mine[:400]
