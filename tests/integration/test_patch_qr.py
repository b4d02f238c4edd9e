"""PATCH /v1/admin/events/{slug} (in effect for the next reservation, at the ingress and at the
deciding worker), checkin_code on every booking (format, stable across reads, in the 201, derived
from the server key), GET /v1/bookings/{id}/qr.svg (its structure, and decoded by zbarimg after
rsvg-convert), GET /v1/admin/bookings/{id} (contract §2)."""

import datetime
import hashlib
import hmac
import re
import shutil
import subprocess
import tempfile
import uuid

import pytest

from ykstack import email, rfc3339

CODE = re.compile(r"^YK1-(\d+)-([0-9A-HJKMNP-TV-Z]{6})$")
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def expected_code(stack, booking_id):
    """The code as the contract's derivation gives it, from this stack's YOYAKU_TOKEN_KEY."""
    key = bytes.fromhex(stack.env["YOYAKU_TOKEN_KEY"])
    h = hmac.new(key, b"checkin:" + booking_id.encode(), hashlib.sha256).digest()
    v = int.from_bytes(h[:4], "big") >> 2
    return "YK1-%s-%s" % (booking_id, "".join(CROCKFORD[(v >> (25 - 5 * i)) & 31] for i in range(6)))


def patch(api, slug, body, **kw):
    return api.request("PATCH", "/v1/admin/events/%s" % slug, json_body=body, admin=True, **kw)


# ---------------------------------------------------------------------------------------------------
# PATCH


def test_patch_limit_in_effect_for_the_next_reservation(api, make_event):
    """per_person_limit 1 → 2: the second booking of one e-mail is refused before the PATCH and
    accepted right after its 200 (the worker had the event cached with limit 1)."""
    ev = make_event(capacities=(10,))
    mail = email("limit")
    r = ev.reserve(mail=mail)
    assert r.status == 201, r
    r = ev.reserve(mail=mail)
    assert r.status == 409 and r.error == "already_booked", r
    r = patch(api, ev.slug, {"per_person_limit": 2})
    assert r.status == 200, r
    assert r.json["per_person_limit"] == 2 and r.json["slug"] == ev.slug, r
    assert r.json["title"] == ev.definition["title"], r   # the rest is kept
    r = ev.reserve(mail=mail)
    assert r.status == 201, r
    r = ev.reserve(mail=mail)
    assert r.status == 409 and r.error == "already_booked", r
    # and back down: the third is refused at once again
    r = patch(api, ev.slug, {"per_person_limit": 1})
    assert r.status == 200, r
    r = ev.reserve(mail=email("other"))
    assert r.status == 201, r


def test_patch_window_in_effect_at_once(api, make_event):
    ev = make_event(capacities=(10,))
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
    r = patch(api, ev.slug, {"opens_at": rfc3339(later)})
    assert r.status == 200 and r.json["opens_at"], r
    r = ev.reserve()
    assert r.status == 409 and r.error == "booking_closed", r
    r = patch(api, ev.slug, {"opens_at": None})     # null: no window start any more
    assert r.status == 200 and r.json["opens_at"] is None, r
    r = ev.reserve()
    assert r.status == 201, r
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
    r = patch(api, ev.slug, {"closes_at": rfc3339(past)})
    assert r.status == 200, r
    r = ev.reserve()
    assert r.status == 409 and r.error == "booking_closed", r


def test_patch_merges_and_shows_everywhere(api, make_event):
    ev = make_event(capacities=(10,), venue="本庁舎", reminder={"days_before": 2, "at": "09:00"})
    r = patch(api, ev.slug, {"title": "新しい題", "reminder": {"at": "08:30"}, "published": False})
    assert r.status == 200, r
    assert r.json["title"] == "新しい題" and r.json["venue"] == "本庁舎", r
    assert r.json["reminder"] == {"days_before": 2, "at": "08:30"}, r
    assert api.get("/v1/admin/events/%s" % ev.slug, admin=True).json["title"] == "新しい題"
    assert ev.slug not in [e["slug"] for e in api.get("/v1/events").json["events"]]
    assert ev.stack.scalar("SELECT title FROM events WHERE slug = '%s'" % ev.slug) == "新しい題"


@pytest.mark.parametrize("body,field,reason", [
    ({"per_person_limit": 0}, "per_person_limit", "type"),
    ({"title": None}, "title", "required"),
    ({"opens_at": "tomorrow"}, "opens_at", "pattern"),
    ({"colour": "red"}, "colour", "unknown_field"),
    ({"slug": "another-slug"}, "slug", "pattern"),
    ({"campaign": "elsewhere"}, "campaign", "pattern"),
    ({"password": 7}, "password", "type"),
    ({"fields": [{"name": "Bad Name", "type": "text"}]}, None, None),
    ({"prerequisite": {"event": "no-such-event-xyz"}}, "prerequisite.event", "unknown_option"),
])
def test_patch_invalid_422_changes_nothing(api, make_event, body, field, reason):
    ev = make_event(capacities=(10,))
    before = api.get("/v1/admin/events/%s" % ev.slug, admin=True).json
    r = patch(api, ev.slug, body)
    assert r.status == 422 and r.error == "invalid_fields", r
    if field:
        assert {"field": field, "reason": reason} in r.json["errors"], r
    assert api.get("/v1/admin/events/%s" % ev.slug, admin=True).json == before


def test_patch_prerequisite_self_422(api, make_event):
    ev = make_event(capacities=(10,))
    r = patch(api, ev.slug, {"prerequisite": {"event": ev.slug}})
    assert r.status == 422, r
    assert {"field": "prerequisite.event", "reason": "pattern"} in r.json["errors"], r


def test_patch_refusals(api, make_event):
    ev = make_event(capacities=(10,))
    r = patch(api, "no-such-%s" % uuid.uuid4().hex[:8], {"title": "x"})
    assert r.status == 404 and r.error == "not_found", r
    r = api.request("PATCH", "/v1/admin/events/%s" % ev.slug, json_body={"title": "x"})
    assert r.status == 401 and r.error == "unauthorized", r
    r = api.request("PATCH", "/v1/admin/events/%s" % ev.slug, json_body={"title": "x"},
                    headers={"Authorization": "Bearer " + "w" * 32})
    assert r.status == 401, r
    r = api.request("PATCH", "/v1/admin/events/%s" % ev.slug, body="{", admin=True,
                    headers={"Content-Type": "application/json"})
    assert r.status == 400 and r.error == "malformed_json", r
    r = api.request("PATCH", "/v1/admin/events/%s" % ev.slug, body="[]", admin=True)
    assert r.status == 422, r
    r = api.request("DELETE", "/v1/admin/events/%s" % ev.slug, admin=True)
    assert r.status == 405 and r.headers["allow"] == "GET, HEAD, PATCH", r


# ---------------------------------------------------------------------------------------------------
# checkin_code


def test_checkin_code_everywhere_and_stable(api, stack, make_event):
    ev = make_event(capacities=(10,))
    r = ev.reserve()
    assert r.status == 201, r
    b, token = r.json["booking"], r.json["token"]
    code = b["checkin_code"]
    m = CODE.match(code)
    assert m and m.group(1) == b["id"], code
    assert code == expected_code(stack, b["id"])
    assert list(b)[-1] == "checkin_code", b        # last, as the contract lists it
    hdr = {"X-Booking-Token": token}
    for _ in range(2):
        r = api.get("/v1/bookings/%s" % b["id"], headers=hdr)
        assert r.status == 200 and r.json["booking"]["checkin_code"] == code, r
    r = api.get("/v1/admin/events/%s/bookings" % ev.slug, admin=True)
    assert [x["checkin_code"] for x in r.json["bookings"]] == [code], r
    r = api.get("/v1/admin/bookings/%s" % b["id"], admin=True)
    assert r.status == 200 and r.json["booking"]["checkin_code"] == code, r
    r = api.post("/v1/bookings/%s/cancel" % b["id"], None, headers=hdr)
    assert r.status == 200 and r.json["booking"]["checkin_code"] == code, r
    # nothing stored: no column holds it
    assert stack.scalar("SELECT count(*) FROM information_schema.columns WHERE column_name "
                        "LIKE '%%checkin%%'") == "0"


def test_checkin_codes_differ(api, make_event):
    ev = make_event(capacities=(10,))
    codes = set()
    for _ in range(3):
        r = ev.reserve()
        assert r.status == 201, r
        codes.add(r.json["booking"]["checkin_code"].rsplit("-", 1)[1])
    assert len(codes) == 3


# ---------------------------------------------------------------------------------------------------
# qr.svg


def svg_modules(svg):
    """The dark modules of the path, as a set of (x, y)."""
    d = re.search(r' d="([^"]*)"', svg).group(1)
    cells = set()
    for x, y, n, n2 in re.findall(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z", d):
        assert n == n2
        for i in range(int(n)):
            cells.add((int(x) + i, int(y)))
    assert re.sub(r"M\d+ \d+h\d+v1h-\d+z", "", d) == "", d
    return cells


def test_qr_svg(api, stack, make_event):
    ev = make_event(capacities=(10,))
    r = ev.reserve()
    b, token = r.json["booking"], r.json["token"]
    r = api.get("/v1/bookings/%s/qr.svg" % b["id"], headers={"X-Booking-Token": token})
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("image/svg+xml"), r.headers
    svg = r.body.decode("ascii")
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 '), svg[:100]
    assert svg.count("<path") == 1
    size = int(re.search(r'viewBox="0 0 (\d+) \1"', svg).group(1))
    cells = svg_modules(svg)
    # quiet zone of 4 modules, and the three finder patterns' corners are dark
    assert all(4 <= x < size - 4 and 4 <= y < size - 4 for x, y in cells)
    for x, y in ((4, 4), (size - 5, 4), (4, size - 5)):
        assert (x, y) in cells
    # the same drawing each time
    again = api.get("/v1/bookings/%s/qr.svg" % b["id"], headers={"X-Booking-Token": token})
    assert again.body == r.body
    # HEAD works where GET does
    r2 = api.request("HEAD", "/v1/bookings/%s/qr.svg" % b["id"], headers={"X-Booking-Token": token})
    assert r2.status == 200 and not r2.body
    # decoded as a phone would read it: rendered (librsvg2-bin), then scanned (zbar-tools), both in
    # deploy/local/packages.txt
    missing = [t for t in ("rsvg-convert", "zbarimg") if shutil.which(t) is None]
    assert not missing, "install zbar-tools and librsvg2-bin (deploy/local/packages.txt): %s" % (
        missing,)
    with tempfile.TemporaryDirectory() as d:
        open(d + "/q.svg", "wb").write(r.body)
        subprocess.run(["rsvg-convert", "-w", "330", "-o", d + "/q.png", d + "/q.svg"],
                       check=True, timeout=30)
        out = subprocess.run(["zbarimg", "-q", "--raw", d + "/q.png"], capture_output=True,
                             text=True, timeout=30)
        assert out.stdout.strip() == b["checkin_code"], out


def test_qr_svg_404(api, make_event):
    ev = make_event(capacities=(10,))
    r = ev.reserve()
    b, token = r.json["booking"], r.json["token"]
    for path, hdr in (("/v1/bookings/%s/qr.svg" % b["id"], {"X-Booking-Token": "A" * 43}),
                      ("/v1/bookings/%s/qr.svg" % b["id"], {}),
                      ("/v1/bookings/999999999/qr.svg", {"X-Booking-Token": token}),
                      ("/v1/bookings/x1/qr.svg", {"X-Booking-Token": token})):
        r = api.get(path, headers=hdr)
        assert r.status == 404 and r.error == "not_found", (path, r)
    r = api.post("/v1/bookings/%s/qr.svg" % b["id"], None, headers={"X-Booking-Token": token})
    assert r.status == 405 and r.headers["allow"] == "GET, HEAD", r


# ---------------------------------------------------------------------------------------------------
# GET /v1/admin/bookings/{id}


def test_admin_booking_lookup(api, make_event):
    ev = make_event(capacities=(10,), fields=[
        {"name": "name", "label": "Name", "type": "text", "required": True},
        {"name": "age", "label": "Age", "type": "number"}])
    r = ev.reserve(fields={"name": "受付 花子", "age": 71})
    assert r.status == 201, r
    b = r.json["booking"]
    r = api.get("/v1/admin/bookings/%s" % b["id"], admin=True)
    assert r.status == 200, r
    assert r.json == {"booking": b}, r      # the same booking the 201 gave, fields typed
    assert list(r.json["booking"]["fields"]) == ["name", "age"]
    for bad in ("999999999", "abc", "1" * 30):
        r = api.get("/v1/admin/bookings/%s" % bad, admin=True)
        assert r.status == 404 and r.error == "not_found", r
    r = api.get("/v1/admin/bookings/%s" % b["id"])
    assert r.status == 401 and r.error == "unauthorized", r
    r = api.get("/v1/admin/bookings/%s" % b["id"], headers={"Authorization": "Bearer " + "w" * 32})
    assert r.status == 401, r
    r = api.post("/v1/admin/bookings/%s" % b["id"], {}, admin=True)
    assert r.status == 405 and r.headers["allow"] == "GET, HEAD", r
