"""Stoplight Prism (npm @stoplight/prism-cli, pinned by tests/prism/package-lock.json) in proxy mode
in front of the ingress, with --errors: every public and admin route of the contract that this
codebase has goes through it, successes and refusals alike (404, 401, 400, 409, 413, 422, 202
pending, 503), and no answer may violate proto/openapi.yaml (issue 9). A violation turns the answer
into Prism's 500 application/problem+json and lists itself in `sl-violations`; Prism's log is kept
in the stack's logs/prism.log and quoted on failure.

Prism is installed with `npm ci` on first use (again only when the lock file changes); the test
fails, never skips, when it cannot be. Runs on a stack of its own (one worker,
YOYAKU_WAIT_MS=1000): it stops the worker for a 202 and Redis and PostgreSQL for a 503. Prism
answers unknown paths and methods and a missing admin token itself, so those are checked against
the ingress directly. Cases that fail because of a bug in the services are marked
xfail(strict=True) with the bug in the reason: remove the marker with the fix."""

import datetime
import filecmp
import json
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from ykstack import (ROOT, Client, binary, email, free_port, own_stack, rfc3339, slot_time,
                     unique, wait_until)

PRISM_DIR = ROOT / "tests" / "prism"
SPEC = ROOT / "proto" / "openapi.yaml"
WAIT_MS = 1000
FIELDS = [{"name": "name", "label": {"ja": "氏名", "en": "Name"}, "type": "text", "required": True,
           "max_length": 50},
          {"name": "age", "label": "Age", "type": "number"}]


def install_prism():
    """tests/prism/node_modules/.bin/prism, installed with `npm ci` from the lock file when the lock
    file changed since the last install (npm ci wipes node_modules)."""
    prism = PRISM_DIR / "node_modules" / ".bin" / "prism"
    stamp = PRISM_DIR / "node_modules" / ".yoyaku-lock"
    lock = PRISM_DIR / "package-lock.json"
    if prism.exists() and stamp.exists() and filecmp.cmp(lock, stamp, shallow=False):
        return prism
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is missing: Prism cannot be installed (Debian's nodejs brings npm; else "
                    "apt-get install npm)", pytrace=False)
    r = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PRISM_DIR,
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0 or not prism.exists():
        pytest.fail("npm ci in tests/prism failed (%d): Prism cannot be installed\n%s%s"
                    % (r.returncode, r.stdout[-3000:], r.stderr[-3000:]), pytrace=False)
    shutil.copyfile(lock, stamp)
    return prism


class Prism:
    """prism proxy <spec> http://127.0.0.1:<ingress> --errors, and a client that talks through it."""

    def __init__(self, stack, prism_bin, spec, upstream_port=None, name="prism"):
        self.stack = stack
        self.port = free_port()
        self.log = stack.logs / (name + ".log")
        self.proc = stack._spawn(name, [
            prism_bin, "proxy", spec, "http://127.0.0.1:%d" % (upstream_port or stack.http_port),
            "--errors",
            # the refusals are deliberately bad requests: the ingress, not Prism, must refuse them
            "--validate-request=false", "--cors=false", "-h", "127.0.0.1", "-p", self.port],
            cwd=str(PRISM_DIR))
        self.client = Client("127.0.0.1", self.port, stack.admin_token, timeout=30)

        def up():
            if not self.proc.alive():
                raise AssertionError("prism exited:\n" + self.proc.log_text()[-3000:])
            try:
                return self.client.get("/healthz").status > 0
            except OSError:
                return False
        wait_until(up, 120, 0.2, what="prism proxy listening")

    def request(self, method, path, status, **kw):
        """Sends a request through Prism; asserts the ingress answered `status` and Prism found no
        violation. Returns the answer."""
        mark = self.proc.log_size()
        r = self.client.request(method, path, **kw)
        violations = r.headers.get("sl-violations")
        from_prism = r.headers.get("content-type", "").startswith("application/problem+json")
        if r.status != status or violations or from_prism:
            time.sleep(0.2)   # let Prism finish its log lines
            log = [l for l in self.proc.log_text(mark).splitlines()
                   if "Violation" in l or "error" in l or "warn" in l]
            raise AssertionError("%s %s: want %d and no violation; got %r\nsl-violations: %s\n"
                                 "prism log:\n%s" % (method, path, status, r, violations,
                                                     "\n".join(log[-40:])))
        return r

    def get(self, path, status=200, **kw):
        return self.request("GET", path, status, **kw)

    def post(self, path, json_body=None, status=201, **kw):
        return self.request("POST", path, status, json_body=json_body, **kw)


@pytest.fixture(scope="module")
def own():
    yield from own_stack(n_workers=1, wait_ms=WAIT_MS, smtp=False, notifier=False)


@pytest.fixture(scope="module")
def px(own):
    p = Prism(own, install_prism(), SPEC)
    yield p
    p.client.close()
    p.proc.stop()


def new_event(own, capacities=(50,), day=30, slots=None, **extra):
    """An event made directly at the ingress; returns (slug, [slot ids in start order])."""
    slug = unique("px")
    definition = {"slug": slug, "title": "プリズム " + slug, "fields": FIELDS}
    definition.update(extra)
    c = own.client
    r = c.post("/v1/admin/events", definition, admin=True)
    assert r.status == 201, r
    if slots is None:
        slots = []
        for i, cap in enumerate(capacities):
            start = slot_time(day, 9) + datetime.timedelta(hours=i)
            slots.append({"starts_at": rfc3339(start),
                          "ends_at": rfc3339(start + datetime.timedelta(minutes=30)), "capacity": cap})
    if not slots:
        return slug, []
    r = c.post("/v1/admin/events/%s/slots" % slug, {"slots": slots}, admin=True)
    assert r.status == 201, r
    first = min(datetime.datetime.fromisoformat(s["starts_at"]) for s in slots).date()
    path = "/v1/events/%s/slots?from=%s&to=%s" % (slug, first - datetime.timedelta(days=1),
                                                   first + datetime.timedelta(days=2))
    if extra.get("password"):
        return slug, []
    listed = wait_until(lambda: len(c.get(path).json.get("slots", [])) == len(slots) and c.get(path),
                        10, 0.02, what="slots of %s listed" % slug)
    return slug, [s["id"] for s in sorted(listed.json["slots"], key=lambda s: s["starts_at"])]


def booking_body(slot_id, mail=None, **fields):
    return {"slot_id": slot_id, "email": mail or email("px"), "fields": dict({"name": "予約 太郎"}, **fields)}


@pytest.fixture(scope="module")
def ev(own):
    return new_event(own, capacities=(50, 1))


# ---------------------------------------------------------------------------------------------------
# operations


def test_healthz(px):
    px.get("/healthz")


def test_readyz(px):
    px.get("/readyz")


def test_metrics(px):
    r = px.get("/metrics")
    assert b"yoyaku_http_requests_total" in r.body


# ---------------------------------------------------------------------------------------------------
# public


def test_list_events(px, ev):
    r = px.get("/v1/events")
    assert ev[0] in [e["slug"] for e in r.json["events"]]


def test_get_event(px, ev):
    assert px.get("/v1/events/%s" % ev[0]).json["slug"] == ev[0]


def test_get_unknown_event_404(px):
    px.get("/v1/events/no-such-%s" % uuid.uuid4().hex[:8], 404)


def test_slots(px, ev):
    d = slot_time(30, 0).date()
    r = px.get("/v1/events/%s/slots?from=%s&to=%s" % (ev[0], d, d + datetime.timedelta(days=1)))
    assert [s["id"] for s in r.json["slots"]] == ev[1]
    px.get("/v1/events/%s/slots" % ev[0])


def test_slots_unknown_event_404(px):
    px.get("/v1/events/no-such-%s/slots" % uuid.uuid4().hex[:8], 404)


def test_slots_bad_query_422(px, ev):
    r = px.get("/v1/events/%s/slots?from=yesterday" % ev[0], 422)
    assert r.error == "invalid_fields"


def test_secret_event_401(own, px):
    slug, _ = new_event(own, password="open sesame")
    for method, path, kw in (("GET", "/v1/events/%s" % slug, {}),
                             ("GET", "/v1/events/%s/slots" % slug, {}),
                             ("POST", "/v1/events/%s/reservations" % slug,
                              {"json_body": booking_body("1")})):
        r = px.request(method, path, 401, **kw)
        assert r.error == "password_required" and r.json["secret"] is True, r


def test_unlock_wrong_password_401(own, px):
    slug, _ = new_event(own, password="open sesame")
    r = px.post("/v1/events/%s/unlock" % slug, {"password": "nope"}, 401)
    assert r.error == "wrong_password", r


def test_unlock_200_and_the_token_opens_every_route(own, px):
    slug, _ = new_event(own, capacities=(5,), password="open sesame")
    r = px.post("/v1/events/%s/unlock" % slug, {"password": "open sesame"}, 200)
    assert r.json["expires_in"] > 0, r
    h = {"X-Access-Token": r.json["access_token"]}
    assert px.get("/v1/events/%s" % slug, headers=h).json["secret"] is True
    slots = px.get("/v1/events/%s/slots" % slug, headers=h).json["slots"]
    r = px.post("/v1/events/%s/reservations" % slug, booking_body(slots[0]["id"]), 201, headers=h)
    assert r.json["booking"]["event"] == slug


def test_unlock_refusals(own, px):
    slug, _ = new_event(own, password="open sesame")
    path = "/v1/events/%s/unlock" % slug
    assert px.post(path, {}, 422).error == "invalid_fields"
    assert px.request("POST", path, 400, body="{nope", headers=NOT_JSON).error == "malformed_json"
    px.post("/v1/events/no-such-%s/unlock" % uuid.uuid4().hex[:8], {"password": "x"}, 404)


def test_unlock_429(own):
    """The 11th wrong password a minute: through a Prism of its own in front of an ingress whose
    limits apply to loopback (YOYAKU_RATE_LOOPBACK=1, YOYAKU_UNLOCK_FAILURES=2 to be quick); and
    the reservations' token bucket (YOYAKU_RATE_RESERVE=2/min) through the same Prism."""
    slug, _ = new_event(own, password="open sesame")
    open_slug, open_slots = new_event(own)
    port = free_port()
    env = dict(own.env, YOYAKU_LISTEN="127.0.0.1:%d" % port, YOYAKU_INGRESS_ID="ingress-px-rate",
               YOYAKU_RATE_LOOPBACK="1", YOYAKU_UNLOCK_FAILURES="2", YOYAKU_RATE_RESERVE="2/min")
    ing = own._spawn("ingress-px-rate", [binary("yoyaku-ingress")], env)
    p = None
    try:
        direct = Client("127.0.0.1", port)
        wait_until(lambda: _answers(direct, "/v1/events/%s" % slug) == 401, 30, 0.1,
                   what="second ingress ready")
        direct.close()
        p = Prism(own, install_prism(), SPEC, upstream_port=port, name="prism-rate")
        path = "/v1/events/%s/unlock" % slug
        for _ in range(2):
            p.post(path, {"password": "nope"}, 401)
        r = p.post(path, {"password": "nope"}, 429)
        assert r.error == "rate_limited" and 1 <= int(r.headers["retry-after"]) <= 60, r
        path = "/v1/events/%s/reservations" % open_slug
        p.post(path, booking_body(open_slots[0]), 201)
        p.post(path, {"slot_id": open_slots[0]}, 422)          # a refusal spends a token too
        r = p.post(path, booking_body(open_slots[0]), 429)
        assert r.error == "rate_limited" and 1 <= int(r.headers["retry-after"]) <= 30, r
    finally:
        if p is not None:
            p.client.close()
            p.proc.stop()
        ing.stop()


def _answers(client, path):
    try:
        return client.get(path).status
    except OSError:
        return 0


def test_reserve_read_cancel(px, ev):
    slug, (slot, _) = ev
    r = px.post("/v1/events/%s/reservations" % slug, booking_body(slot, age=42))
    bid, token = r.json["booking"]["id"], r.json["token"]
    r = px.get("/v1/bookings/%s" % bid, headers={"X-Booking-Token": token})
    assert r.json["booking"]["status"] == "confirmed"
    px.get("/v1/bookings/%s" % bid, 404, headers={"X-Booking-Token": "A" * 43})
    px.get("/v1/bookings/999999999", 404, headers={"X-Booking-Token": token})
    r = px.post("/v1/bookings/%s/cancel" % bid, None, 200, headers={"X-Booking-Token": token})
    assert r.json["booking"]["status"] == "cancelled"
    px.post("/v1/bookings/%s/cancel" % bid, None, 404, headers={"X-Booking-Token": "A" * 43})


def test_review_and_reviews(own, px, ev):
    slug, (slot, _) = ev
    r = px.post("/v1/events/%s/reservations" % slug, booking_body(slot, age=30))
    bid, token = r.json["booking"]["id"], r.json["token"]
    hdr = {"X-Booking-Token": token}
    path = "/v1/bookings/%s/review" % bid
    assert px.post(path, {"rating": 5}, 409, headers=hdr).error == "not_attended"
    own.psql("UPDATE bookings SET status = 'attended' WHERE id = %s" % bid)
    assert px.post(path, {"rating": 9}, 422, headers=hdr).error == "invalid_fields"
    assert px.request("POST", path, 400, body="{nope", headers=dict(NOT_JSON, **hdr)).error == \
        "malformed_json"
    px.post(path, {"rating": 5}, 404, headers={"X-Booking-Token": "A" * 43})
    r = px.post(path, {"rating": 5, "comment": "よかった"}, 201, headers=hdr)
    assert r.json["review"]["rating"] == 5
    assert px.post(path, {"rating": 4}, 409, headers=hdr).error == "already_reviewed"
    r = px.get("/v1/admin/events/%s/reviews" % slug, admin=True)
    assert r.json["count"] >= 1
    px.get("/v1/admin/events/%s/reviews?limit=0" % slug, 422, admin=True)
    px.get("/v1/admin/events/no-such-event/reviews", 404, admin=True)


def test_staff_login_accounts_audit(own, px):
    login = "px-" + uuid.uuid4().hex[:8]
    r = px.post("/v1/admin/staff", {"login": login, "name": "窓口", "role": "desk",
                                    "password": "long enough pw"}, 201, admin=True)
    assert r.json["staff"]["role"] == "desk"
    px.post("/v1/admin/staff", {"login": login, "name": "x", "role": "desk",
                                "password": "long enough pw"}, 409, admin=True)
    px.post("/v1/admin/staff", {"login": "Bad Login"}, 422, admin=True)
    r = px.request("PATCH", "/v1/admin/staff/" + login, 200, json_body={"role": "staff"},
                   admin=True)
    assert r.json["staff"]["role"] == "staff"
    px.request("PATCH", "/v1/admin/staff/nobody-here", 404, json_body={"name": "x"}, admin=True)
    r = px.get("/v1/admin/staff", admin=True)
    assert any(a["login"] == login for a in r.json["staff"])
    r = px.post("/v1/admin/login", {"login": login, "password": "long enough pw"}, 200)
    assert r.json["staff"]["login"] == login and "yoyaku_session=" in r.headers["set-cookie"]
    assert px.post("/v1/admin/login", {"login": login, "password": "wrong one!"}, 401).error == \
        "wrong_password"
    px.post("/v1/admin/login", {"login": login}, 422)
    assert "token" in px.get("/v1/admin/me", admin=True).json
    r = px.get("/v1/admin/audit?limit=2", admin=True)
    assert len(r.json["entries"]) == 2
    px.get("/v1/admin/audit?limit=0", 422, admin=True)
    px.post("/v1/admin/logout", None, 200, admin=True)


def test_desk_checkin_attendance_cancel(own, px, ev):
    slug, (slot, _) = ev
    r = px.post("/v1/events/%s/reservations" % slug, booking_body(slot, age=31))
    b = r.json["booking"]
    r = px.post("/v1/admin/checkin", {"code": b["checkin_code"]}, 409, admin=True)
    assert r.error == "not_today"
    px.post("/v1/admin/checkin", {"code": "YK1-1-AAAAAA"}, 404, admin=True)
    px.post("/v1/admin/checkin", {}, 422, admin=True)
    path = "/v1/admin/bookings/%s/attendance" % b["id"]
    r = px.post(path, {"status": "no_show"}, 200, admin=True)
    assert r.json["booking"]["status"] == "no_show"
    px.post(path, {"status": "came"}, 422, admin=True)
    px.post("/v1/admin/bookings/99999999999/attendance", {"status": "attended"}, 404, admin=True)
    r = px.post("/v1/events/%s/reservations" % slug, booking_body(slot, age=32))
    c = r.json["booking"]
    r = px.post("/v1/admin/bookings/%s/cancel" % c["id"], None, 200, admin=True)
    assert r.json["booking"]["status"] == "cancelled"
    px.post("/v1/admin/bookings/%s/attendance" % c["id"], {"status": "attended"}, 409, admin=True)
    px.post("/v1/admin/bookings/%s/cancel" % b["id"], None, 409, admin=True)   # marked no_show
    px.post("/v1/admin/bookings/99999999999/cancel", None, 404, admin=True)
    start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)).replace(
        microsecond=0)
    today, (now_slot,) = new_event(own, slots=[{
        "starts_at": rfc3339(start), "capacity": 5,
        "ends_at": rfc3339(start + datetime.timedelta(minutes=30))}])
    r = px.post("/v1/events/%s/reservations" % today, booking_body(now_slot, age=33))
    d = r.json["booking"]
    r = px.post("/v1/admin/checkin", {"code": d["id"]}, 200, admin=True)
    assert r.json["booking"]["status"] == "attended"
    # a no-show's seat, booked by someone else: the correction is refused
    one, (one_slot,) = new_event(own, capacities=(1,))
    e = px.post("/v1/events/%s/reservations" % one, booking_body(one_slot, age=34)).json["booking"]
    px.post("/v1/admin/bookings/%s/attendance" % e["id"], {"status": "no_show"}, 200, admin=True)
    px.post("/v1/events/%s/reservations" % one, booking_body(one_slot, age=35))
    r = px.post("/v1/admin/bookings/%s/attendance" % e["id"], {"status": "attended"}, 409,
                admin=True)
    assert r.error == "seat_released"
    # a no-show who booked again: the correction would make two bookings of one person
    two, (two_slot,) = new_event(own, capacities=(2,))
    mail = email("again")
    f = px.post("/v1/events/%s/reservations" % two, booking_body(two_slot, mail)).json["booking"]
    px.post("/v1/admin/bookings/%s/attendance" % f["id"], {"status": "no_show"}, 200, admin=True)
    px.post("/v1/events/%s/reservations" % two, booking_body(two_slot, mail))
    r = px.post("/v1/admin/bookings/%s/attendance" % f["id"], {"status": "attended"}, 409,
                admin=True)
    assert r.error == "already_booked"


def test_reserve_already_booked_409(px, ev):
    slug, (slot, _) = ev
    mail = email("twice")
    px.post("/v1/events/%s/reservations" % slug, booking_body(slot, mail))
    r = px.post("/v1/events/%s/reservations" % slug, booking_body(slot, mail), 409)
    assert r.error == "already_booked"


def test_reserve_slot_full_409(px, ev):
    slug, (_, small) = ev
    px.post("/v1/events/%s/reservations" % slug, booking_body(small))
    r = px.post("/v1/events/%s/reservations" % slug, booking_body(small), 409)
    assert r.error == "slot_full"


def test_waitlist_join_offer_accept_leave(own, px):
    slug, (slot,) = new_event(own, capacities=(1,), waitlist={"enabled": True, "hold_minutes": 5})
    r = px.get("/v1/events/%s" % slug)
    assert r.json["waitlist"] == {"enabled": True, "hold_minutes": 5}
    r = px.post("/v1/events/%s/reservations" % slug, booking_body(slot))
    bid, btok = r.json["booking"]["id"], r.json["token"]
    path = "/v1/events/%s/slots/%s/waitlist" % (slug, slot)
    mail = email("wl")
    first = px.post(path, {"email": mail, "fields": {"name": "待機 一郎"}}).json
    second = px.post(path, {"slot_id": slot, "email": email("wl"), "fields": {"name": "待機 二郎"}}).json
    assert first["entry"]["position"] == 1 and second["entry"]["position"] == 2
    assert px.post(path, {"email": mail, "fields": {"name": "x"}}, 409).error == "already_waiting"
    assert px.post(path, {"email": 1}, 422).error == "invalid_fields"
    px.post("/v1/events/%s/slots/999999999/waitlist" % slug,
            {"email": email("wl"), "fields": {"name": "x"}}, 404)
    first_h = {"X-Booking-Token": first["token"]}
    r = px.get("/v1/waitlist/%s" % first["entry"]["id"], headers=first_h)
    assert r.json["entry"]["status"] == "waiting"
    px.get("/v1/waitlist/%s" % first["entry"]["id"], 404, headers={"X-Booking-Token": "A" * 43})
    assert px.post("/v1/waitlist/%s/accept" % first["entry"]["id"], None, 409,
                   headers=first_h).error == "not_offered"
    px.post("/v1/waitlist/%s/leave" % first["entry"]["id"], None, 404,
            headers={"X-Booking-Token": second["token"]})
    px.post("/v1/bookings/%s/cancel" % bid, None, 200, headers={"X-Booking-Token": btok})
    wait_until(lambda: own.client.get("/v1/waitlist/%s" % first["entry"]["id"], headers=first_h)
               .json["entry"]["status"] == "offered", 10, 0.1, what="offer")
    r = px.get("/v1/waitlist/%s" % first["entry"]["id"], headers=first_h)
    assert r.json["entry"]["offer_expires_at"]
    r = px.post("/v1/waitlist/%s/accept" % first["entry"]["id"], None, 201, headers=first_h)
    assert r.json["booking"]["status"] == "confirmed"
    r = px.post("/v1/waitlist/%s/leave" % second["entry"]["id"], None, 200,
                headers={"X-Booking-Token": second["token"]})
    assert r.json["entry"]["status"] == "left"
    r = px.get("/v1/admin/events/%s/waitlist" % slug, admin=True)
    assert [e["status"] for e in r.json["entries"]] == ["accepted", "left"]
    px.get("/v1/admin/events/no-such-event/waitlist", 404, admin=True)
    closed, (cslot,) = new_event(own, capacities=(1,))
    px.post("/v1/events/%s/reservations" % closed, booking_body(cslot))
    assert px.post("/v1/events/%s/slots/%s/waitlist" % (closed, cslot),
                   {"email": email("wl"), "fields": {"name": "x"}}, 409).error == "waitlist_closed"
    roomy, (rslot,) = new_event(own, capacities=(5,), waitlist={"enabled": True})
    assert px.post("/v1/events/%s/slots/%s/waitlist" % (roomy, rslot),
                   {"email": email("wl"), "fields": {"name": "x"}}, 409).error == "slot_available"


def test_reserve_booking_closed_409(own, px):
    past = rfc3339(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1))
    slug, (slot,) = new_event(own, closes_at=past)
    r = px.post("/v1/events/%s/reservations" % slug, booking_body(slot), 409)
    assert r.error == "booking_closed" and "opens_at" in r.json


def test_reserve_prerequisite_not_met_409(own, px, ev):
    slug, (slot,) = new_event(own, day=60, prerequisite={"event": ev[0], "min_days": 0})
    r = px.post("/v1/events/%s/reservations" % slug, booking_body(slot), 409)
    assert r.error == "prerequisite_not_met"


# phased opening (issue 14): the definition with phases, the event showing them, 201 in the
# booker's phase, 409 booking_closed with their opens_at (a time, or null), 422 for bad phases
def test_phases_201_409_422(own, px):
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    later = rfc3339(now + datetime.timedelta(days=7))
    phases = [{"opens_at": later},
              {"opens_at": rfc3339(now - datetime.timedelta(hours=1)), "field": "age", "min": 65},
              {"opens_at": rfc3339(now + datetime.timedelta(days=1)), "field": "age", "min": 18,
               "max": 64}]
    slug = unique("pxp")
    r = px.post("/v1/admin/events", {"slug": slug, "title": "段階 " + slug, "fields": FIELDS,
                                     "phases": phases}, admin=True)
    assert r.json["phases"] == phases, r
    slug, (slot,) = new_event(own, phases=phases[1:])
    assert px.get("/v1/events/%s" % slug).json["phases"] == phases[1:]
    px.post("/v1/events/%s/reservations" % slug, booking_body(slot, age=70))
    r = px.post("/v1/events/%s/reservations" % slug, booking_body(slot, age=30), 409)
    assert r.error == "booking_closed" and r.json["opens_at"] == phases[2]["opens_at"], r
    r = px.post("/v1/events/%s/reservations" % slug, booking_body(slot, age=12), 409)
    assert r.error == "booking_closed" and r.json["opens_at"] is None, r
    r = px.post("/v1/admin/events", {"slug": unique("pxp"), "title": "x", "fields": FIELDS,
                                     "phases": [{"opens_at": later, "field": "name", "min": 1}]},
                422, admin=True)
    assert {"field": "phases[0].field", "reason": "type"} in r.json["errors"], r


def test_reserve_idempotent_and_conflict_409(px, ev):
    slug, (slot, _) = ev
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = booking_body(slot)
    first = px.post("/v1/events/%s/reservations" % slug, body, headers=key)
    again = px.post("/v1/events/%s/reservations" % slug, body, headers=key)
    assert again.json["booking"]["id"] == first.json["booking"]["id"]
    r = px.post("/v1/events/%s/reservations" % slug, booking_body(slot), 409, headers=key)
    assert r.error == "idempotency_conflict"


@pytest.mark.parametrize("fields,reason", [
    ({}, "required"),
    ({"name": "x" * 51}, "too_long"),
    ({"name": "太郎", "age": "forty"}, "type"),
    ({"name": "太郎", "bogus": "x"}, "unknown_field"),
])
def test_reserve_invalid_fields_422(px, ev, fields, reason):
    body = {"slot_id": ev[1][0], "email": email("bad"), "fields": fields}
    r = px.post("/v1/events/%s/reservations" % ev[0], body, 422)
    assert r.error == "invalid_fields" and reason in [e["reason"] for e in r.json["errors"]], r


def test_reserve_bad_email_422(px, ev):
    r = px.post("/v1/events/%s/reservations" % ev[0], booking_body(ev[1][0], "not-an-address"), 422)
    assert r.error == "invalid_fields"


# Prism parses a JSON body itself and never answers one that does not parse (stoplightio/prism
# issue 2664): the malformed bodies go as text/plain, which Prism passes on untouched and the
# ingress parses all the same.
NOT_JSON = {"Content-Type": "text/plain"}


def test_reserve_malformed_json_400(px, ev):
    for raw in ('{"slot_id": ', "not json", '{"slot_id": "1",}'):
        r = px.request("POST", "/v1/events/%s/reservations" % ev[0], 400, body=raw, headers=NOT_JSON)
        assert r.error == "malformed_json", (raw, r)


def test_reserve_not_an_object_422(px, ev):
    r = px.request("POST", "/v1/events/%s/reservations" % ev[0], 422, body="[]")
    assert r.json["errors"] == [{"field": "body", "reason": "type"}], r


def test_reserve_too_large_413(px, ev):
    body = json.dumps(booking_body(ev[1][0], name="x" * (70 * 1024)))
    r = px.request("POST", "/v1/events/%s/reservations" % ev[0], 413, body=body)
    assert r.error == "too_large"


def test_reserve_unknown_slot_404(px, ev):
    px.post("/v1/events/%s/reservations" % ev[0], booking_body("999999999"), 404)


def test_reserve_unknown_event_404(px):
    px.post("/v1/events/no-such-%s/reservations" % uuid.uuid4().hex[:8], booking_body("1"), 404)


def test_cancellation_closed_409(own, px):
    start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=3)).replace(
        microsecond=0)
    slug, (slot,) = new_event(own, slots=[{"starts_at": rfc3339(start), "capacity": 5,
                                           "ends_at": rfc3339(start + datetime.timedelta(minutes=30))}])
    r = px.post("/v1/events/%s/reservations" % slug, booking_body(slot))
    r = px.post("/v1/bookings/%s/cancel" % r.json["booking"]["id"], None, 409,
                headers={"X-Booking-Token": r.json["token"]})
    assert r.error == "cancellation_closed"


def test_pending_202_via_prism(own, px, ev):
    slug, (slot, _) = ev
    worker = own.live_workers()[0]
    worker.signal(signal.SIGSTOP)
    try:
        r = px.post("/v1/events/%s/reservations" % slug, booking_body(slot), 202)
        px.get("/v1/requests/%s" % r.json["request_id"])
    finally:
        worker.signal(signal.SIGCONT)


def test_pending_202_then_decided(own, px, ev):
    """The 202 at the ingress (Location, position 1 = next; Prism refuses it for the missing
    estimated_wait_seconds, see above), then its decided state through Prism."""
    slug, (slot, _) = ev
    worker = own.live_workers()[0]
    worker.signal(signal.SIGSTOP)
    try:
        r = own.client.post("/v1/events/%s/reservations" % slug, booking_body(slot))
        assert r.status == 202 and r.json["status"] == "pending", r
        rid = r.json["request_id"]
        assert r.headers["location"] == "/v1/requests/%s" % rid, r.headers
        assert r.json["position"] >= 1, r
    finally:
        worker.signal(signal.SIGCONT)
    final = wait_until(lambda: (lambda r: r.json["status"] != "pending" and r)(
        px.get("/v1/requests/%s" % rid)), 30, 0.1, what="request decided")
    assert final.json["status"] == "confirmed" and final.json["code"] == 201, final
    # the answer no longer kept: the booking found by its request id, without the token
    own.redis("DEL", "yk:res:" + rid)
    again = px.get("/v1/requests/%s" % rid)
    assert again.json["booking"] == final.json["booking"] and "token" not in again.json, again


def test_request_unknown_404(px):
    px.get("/v1/requests/%s" % uuid.uuid4().hex, 404)
    px.get("/v1/requests/not-an-id", 404)


# ---------------------------------------------------------------------------------------------------
# admin


def test_admin_create_event_and_refusals(px):
    slug = unique("pxa")
    definition = {"slug": slug, "title": "管理 " + slug, "fields": FIELDS, "venue": "市民会館"}
    r = px.post("/v1/admin/events", definition, admin=True)
    assert r.json["slug"] == slug and r.json["secret"] is False
    r = px.post("/v1/admin/events", definition, 409, admin=True)
    assert r.error == "slug_taken"
    r = px.post("/v1/admin/events", {"slug": "Bad Slug!", "title": "x"}, 422, admin=True)
    assert r.error == "invalid_fields"
    r = px.post("/v1/admin/events", {"title": "no slug"}, 422, admin=True)
    assert r.error == "invalid_fields"
    r = px.request("POST", "/v1/admin/events", 400, body="{", admin=True, headers=NOT_JSON)
    assert r.error == "malformed_json"
    r = px.request("POST", "/v1/admin/events", 413, admin=True,
                   body=json.dumps(dict(definition, description="x" * (70 * 1024))))
    assert r.error == "too_large"


@pytest.mark.parametrize("method,path", [
    ("POST", "/v1/admin/events"), ("GET", "/v1/admin/events"), ("GET", "/v1/admin/events/demo"),
    ("POST", "/v1/admin/events/demo/slots"), ("GET", "/v1/admin/events/demo/bookings"),
    ("GET", "/v1/admin/queue"), ("PATCH", "/v1/admin/events/demo"), ("GET", "/v1/admin/bookings/1"),
    ("GET", "/v1/admin/events/demo/bookings.csv"),
    ("GET", "/v1/admin/me"), ("POST", "/v1/admin/logout"), ("GET", "/v1/admin/staff"),
    ("POST", "/v1/admin/staff"), ("PATCH", "/v1/admin/staff/owner"), ("GET", "/v1/admin/audit"),
])
def test_admin_401(own, px, method, path):
    """A wrong token through Prism; no token at all at the ingress directly (Prism answers a
    request without the scheme's header itself)."""
    kw = {"json_body": {"slug": unique("x"), "title": "x"}} if method in ("POST", "PATCH") else {}
    r = px.request(method, path, 401, headers={"Authorization": "Bearer wrong"}, **kw)
    assert r.error == "unauthorized"
    r = own.client.request(method, path, **kw)
    assert r.status == 401 and r.error == "unauthorized", r


# staff accounts, sessions and audit


def _staff(own, role, password="prism password 1"):
    login = "px-%s-%s" % (role, uuid.uuid4().hex[:6])
    r = subprocess.run([str(binary("yoyakuctl")), "staff", "add", "--login", login, "--name",
                        "プリズム", "--role", role], input=password + "\n", env=own.env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return login, password


def _session(px, login, password):
    r = px.post("/v1/admin/login", {"login": login, "password": password}, 200)
    cookie = r.headers["set-cookie"].split(";")[0]
    assert cookie.startswith("yoyaku_session=") and "HttpOnly" in r.headers["set-cookie"], r
    return {"Cookie": cookie, "Origin": "http://127.0.0.1:%d" % px.stack.http_port}


def test_staff_login_me_logout(own, px):
    login, password = _staff(own, "desk")
    r = px.post("/v1/admin/login", {"login": login, "password": password}, 200)
    assert r.json["staff"] == {"login": login, "name": "プリズム", "role": "desk"}, r
    h = _session(px, login, password)
    assert px.get("/v1/admin/me", headers=h).json["staff"]["role"] == "desk"
    assert px.get("/v1/admin/me", admin=True).json["token"]["role"] == "owner"
    assert px.post("/v1/admin/login", {"login": login, "password": "not it at all"},
                   401).error == "wrong_password"
    assert px.post("/v1/admin/login", {"login": "nobody-x", "password": password},
                   401).error == "wrong_password"
    px.post("/v1/admin/login", {"login": login}, 422)
    px.post("/v1/admin/login", {"login": login, "password": password, "x": 1}, 422)
    r = px.request("POST", "/v1/admin/login", 400, body="{", headers=NOT_JSON)
    assert r.error == "malformed_json"
    px.request("POST", "/v1/admin/login", 413, body=json.dumps({"login": "x" * (70 * 1024),
                                                               "password": "y"}))
    # a change made with the session needs the console's Origin
    r = px.post("/v1/admin/logout", None, 403, headers={"Cookie": h["Cookie"]})
    assert r.error == "forbidden"
    assert px.post("/v1/admin/logout", None, 200, headers=h).json == {"signed_out": True}
    assert px.get("/v1/admin/me", 401, headers=h).error == "unauthorized"
    px.post("/v1/admin/logout", None, 401, headers=h)


def test_staff_login_429(own, px):
    """Ten failures a minute for one login (counted from this machine too) hold it back."""
    login, password = _staff(own, "desk")
    for _ in range(10):
        px.post("/v1/admin/login", {"login": login, "password": "wrong password"}, 401)
    r = px.post("/v1/admin/login", {"login": login, "password": password}, 429)
    assert r.error == "rate_limited" and 1 <= int(r.headers["retry-after"]) <= 60, r


def test_staff_accounts_and_audit(own, px):
    login = "px-new-" + uuid.uuid4().hex[:6]
    body = {"login": login, "name": "窓口", "role": "desk", "password": "long enough pw"}
    r = px.post("/v1/admin/staff", body, 201, admin=True)
    assert r.json["staff"]["login"] == login and r.json["staff"]["disabled"] is False, r
    assert px.post("/v1/admin/staff", body, 409, admin=True).error == "login_taken"
    px.post("/v1/admin/staff", dict(body, login="Bad Login"), 422, admin=True)
    px.post("/v1/admin/staff", dict(body, login="z" + login, password="short"), 422, admin=True)
    px.request("POST", "/v1/admin/staff", 400, body="{", admin=True, headers=NOT_JSON)
    r = px.get("/v1/admin/staff", admin=True)
    assert any(a["login"] == login for a in r.json["staff"]), r
    path = "/v1/admin/staff/" + login
    r = px.request("PATCH", path, 200, json_body={"role": "staff", "disabled": True}, admin=True)
    assert r.json["staff"]["role"] == "staff" and r.json["staff"]["disabled"] is True, r
    px.request("PATCH", path, 422, json_body={"role": "boss"}, admin=True)
    px.request("PATCH", "/v1/admin/staff/nobody-" + uuid.uuid4().hex[:6], 404,
               json_body={"name": "x"}, admin=True)
    r = px.get("/v1/admin/audit?limit=2", admin=True)
    assert len(r.json["entries"]) == 2 and r.json["next_cursor"], r
    assert r.json["entries"][0]["action"] == "PATCH /v1/admin/staff/{login}", r
    r = px.get("/v1/admin/audit?cursor=%s" % r.json["next_cursor"], admin=True)
    assert r.json["entries"], r
    px.get("/v1/admin/audit?limit=0", 422, admin=True)
    px.get("/v1/admin/audit?cursor=x", 422, admin=True)


def test_staff_roles_403(own, px):
    login, password = _staff(own, "staff")
    h = _session(px, login, password)
    for path in ("/v1/admin/staff", "/v1/admin/audit"):
        assert px.get(path, 403, headers=h).error == "forbidden"
    px.post("/v1/admin/staff", {"login": "x" + login, "name": "x", "role": "desk",
                                "password": "long enough pw"}, 403, headers=h)
    px.request("PATCH", "/v1/admin/staff/" + login, 403, json_body={"role": "owner"}, headers=h)
    r = subprocess.run([str(binary("yoyakuctl")), "token", "create", "--name",
                        "px-desk-" + uuid.uuid4().hex[:6], "--role", "desk"], env=own.env,
                       capture_output=True, text=True, timeout=60)
    desk = {"Authorization": "Bearer " + r.stdout.strip()}
    assert px.get("/v1/admin/events", headers=desk).status == 200
    px.post("/v1/admin/events", {"slug": unique("x"), "title": "x"}, 403, headers=desk)
    px.get("/v1/admin/queue", 403, headers=desk)


def test_admin_list_and_get(px, ev):
    r = px.get("/v1/admin/events", admin=True)
    assert ev[0] in [e["slug"] for e in r.json["events"]]
    assert px.get("/v1/admin/events/%s" % ev[0], admin=True).json["slug"] == ev[0]
    px.get("/v1/admin/events/no-such-%s" % uuid.uuid4().hex[:8], 404, admin=True)


def test_admin_add_slots(own, px):
    slug, _ = new_event(own, capacities=())
    start = slot_time(40, 9)
    r = px.post("/v1/admin/events/%s/slots" % slug, {"slots": [{
        "starts_at": rfc3339(start), "ends_at": rfc3339(start + datetime.timedelta(hours=1)),
        "capacity": 10}]}, admin=True)
    assert r.json == {"created": 1}
    d = slot_time(50, 0).date()
    r = px.post("/v1/admin/events/%s/slots" % slug, {"generate": {
        "from": str(d), "to": str(d + datetime.timedelta(days=6)), "weekdays": [1, 3],
        "times": ["10:00", "14:00"], "duration_min": 30, "capacity": 4}}, admin=True)
    assert r.json == {"created": 4}
    r = px.post("/v1/admin/events/%s/slots" % slug, {"slots": [{"starts_at": "soon"}]}, 422,
                admin=True)
    assert r.error == "invalid_fields"
    px.post("/v1/admin/events/no-such-%s/slots" % uuid.uuid4().hex[:8], {"slots": [{
        "starts_at": rfc3339(start), "ends_at": rfc3339(start + datetime.timedelta(hours=1)),
        "capacity": 1}]}, 404, admin=True)


def test_admin_bookings(own, px):
    slug, (slot,) = new_event(own, day=45)
    for _ in range(3):
        px.post("/v1/events/%s/reservations" % slug, booking_body(slot))
    r = px.get("/v1/admin/events/%s/bookings" % slug, admin=True)
    assert len(r.json["bookings"]) == 3 and r.json["next_cursor"] is None
    r = px.get("/v1/admin/events/%s/bookings?status=confirmed&limit=2" % slug, admin=True)
    assert len(r.json["bookings"]) == 2 and r.json["next_cursor"]
    r = px.get("/v1/admin/events/%s/bookings?limit=2&cursor=%s" % (slug, r.json["next_cursor"]),
               admin=True)
    assert len(r.json["bookings"]) == 1
    px.get("/v1/admin/events/no-such-%s/bookings" % uuid.uuid4().hex[:8], 404, admin=True)


@pytest.mark.parametrize("query", ["status=bogus", "limit=0", "limit=x", "cursor=%%%"])
def test_admin_bookings_bad_query_422(px, ev, query):
    r = px.get("/v1/admin/events/%s/bookings?%s" % (ev[0], query), 422, admin=True)
    assert r.error == "invalid_fields"


def test_admin_patch_event(own, px):
    slug, _ = new_event(own, capacities=())
    r = px.request("PATCH", "/v1/admin/events/%s" % slug, 200, json_body={"per_person_limit": 3},
                   admin=True)
    assert r.json["per_person_limit"] == 3 and r.json["slug"] == slug
    r = px.request("PATCH", "/v1/admin/events/%s" % slug, 422,
                   json_body={"slug": "other-slug", "per_person_limit": 0}, admin=True)
    assert r.error == "invalid_fields"
    r = px.request("PATCH", "/v1/admin/events/%s" % slug, 400, body="{", admin=True,
                   headers=NOT_JSON)
    assert r.error == "malformed_json"
    r = px.request("PATCH", "/v1/admin/events/no-such-%s" % uuid.uuid4().hex[:8], 404,
                   json_body={"title": "x"}, admin=True)
    assert r.error == "not_found"


def test_admin_booking_and_qr(px, ev):
    slug, (slot, _) = ev
    r = px.post("/v1/events/%s/reservations" % slug, booking_body(slot))
    b, token = r.json["booking"], r.json["token"]
    assert b["checkin_code"].startswith("YK1-%s-" % b["id"])
    r = px.get("/v1/admin/bookings/%s" % b["id"], admin=True)
    assert r.json["booking"]["checkin_code"] == b["checkin_code"]
    px.get("/v1/admin/bookings/999999999", 404, admin=True)
    r = px.get("/v1/bookings/%s/qr.svg" % b["id"], headers={"X-Booking-Token": token})
    assert r.headers["content-type"].startswith("image/svg+xml") and b"<path" in r.body
    px.get("/v1/bookings/%s/qr.svg" % b["id"], 404, headers={"X-Booking-Token": "A" * 43})
    px.get("/v1/bookings/999999999/qr.svg", 404, headers={"X-Booking-Token": token})


def test_admin_bookings_csv(own, px):
    slug, (slot,) = new_event(own, day=46)
    px.post("/v1/events/%s/reservations" % slug, booking_body(slot))
    path = "/v1/admin/events/%s/bookings.csv" % slug
    r = px.get(path, admin=True)
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.body.startswith(b"\xef\xbb\xbf") and r.body.count(b"\r\n") == 2
    r = px.get(path + "?lang=ja&encoding=cp932", admin=True)
    assert r.headers["content-type"] == "text/csv; charset=Windows-31J"
    # Prism passes the body on as UTF-8 text (CP932 bytes turn into U+FFFD): read it directly
    r = own.client.get(path + "?lang=ja&encoding=cp932", admin=True)
    assert r.body.decode("cp932").startswith("予約番号,")
    for q in ("?lang=fr", "?encoding=latin1"):
        assert px.get(path + q, 422, admin=True).error == "invalid_fields"
    px.get("/v1/admin/events/no-such-%s/bookings.csv" % uuid.uuid4().hex[:8], 404, admin=True)


def test_admin_queue(own, px):
    r = px.get("/v1/admin/queue", admin=True)
    assert len(r.json["partitions"]) == own.partitions


# ---------------------------------------------------------------------------------------------------
# what Prism answers itself: checked at the ingress directly


def test_unknown_route_404_direct(own):
    for path in ("/v1/nothing", "/v1/events/x/y/z", "/v2/events"):
        r = own.client.get(path)
        assert r.status == 404 and r.error == "not_found" and r.json["message"], (path, r)


def test_method_not_allowed_405_has_allow_direct(own):
    for method, path in (("DELETE", "/v1/events"), ("PUT", "/v1/admin/queue"),
                         ("POST", "/healthz"), ("GET", "/v1/events/x/reservations")):
        r = own.client.request(method, path)
        assert r.status == 405 and r.error == "method_not_allowed", (method, path, r)
        assert r.headers.get("allow"), (method, path, r.headers)


def test_date_header_direct(own):
    for path in ("/healthz", "/v1/events", "/v1/nothing"):
        r = own.client.get(path)
        assert "date" in r.headers, (path, r.headers)


# ---------------------------------------------------------------------------------------------------
# rosters (contract §2 "Roster")


def test_roster_routes_and_not_eligible(own, px):
    campaign = unique("pxr")
    path = "/v1/admin/campaigns/%s/roster" % campaign
    csv = {"Content-Type": "text/csv"}
    px.get(path, 404, admin=True)
    r = px.request("PUT", path, 200, body="name,age\r\n山田 太郎,42\r\n鈴木 花子,7\r\n", headers=csv,
                   admin=True)
    assert r.json == {"rows": 2}
    r = px.get(path, admin=True)
    assert r.json["rows"] == 2 and r.json["fields"] == ["name", "age"], r
    r = px.request("PUT", path, 422, body="name,age\r\n山田 太郎\r\n", headers=csv, admin=True)
    assert r.error == "invalid_roster" and r.json["errors"] == [{"line": 2, "reason": "column_count"}]
    r = px.request("PUT", path + "?encoding=latin-1", 422, body="name\r\n", headers=csv, admin=True)
    assert r.error == "invalid_fields"
    px.request("PUT", "/v1/admin/campaigns/Bad.Name/roster", 404, body="name\r\n", headers=csv,
               admin=True)
    r = px.post("/v1/admin/events", {"slug": unique("px"), "title": "x", "fields": FIELDS,
                                     "roster": {"fields": ["name"]}}, 422, admin=True)
    assert {"field": "campaign", "reason": "required"} in r.json["errors"], r
    slug, slots = new_event(own, campaign=campaign, roster={"fields": ["age", "name"]})
    r = px.post("/v1/events/%s/reservations" % slug, booking_body(slots[0], age=42,
                                                                  name="山田 太郎"), 201)
    r = px.post("/v1/events/%s/reservations" % slug, booking_body(slots[0], age=43,
                                                                  name="山田 太郎"), 409)
    assert r.error == "not_eligible", r
    r = px.get("/v1/admin/events/" + slug, admin=True)
    assert r.json["roster"] == {"fields": ["age", "name"]}


# ---------------------------------------------------------------------------------------------------
# 503: stores down (last: they stop Redis and PostgreSQL of this module's stack)


class redis_stalled:
    """Redis SIGSTOPped for the block; the Prism client gives up after 10 s rather than 30."""

    def __init__(self, own, px):
        self.own, self.px = own, px

    def __enter__(self):
        self.px.client.close()
        self.px.client.timeout = 10
        self.own.redis_proc.signal(signal.SIGSTOP)

    def __exit__(self, *exc):
        self.own.redis_proc.signal(signal.SIGCONT)
        self.px.client.close()
        self.px.client.timeout = 30
        wait_until(lambda: self.own.client.get("/readyz").status == 200, 20, 0.2,
                   what="ready again")


def test_redis_stalled_reservation_503(own, px, ev):
    with redis_stalled(own, px):
        t0 = time.monotonic()
        r = px.post("/v1/events/%s/reservations" % ev[0], booking_body(ev[1][0]), 503)
        assert r.error == "unavailable" and r.headers.get("retry-after")
        assert time.monotonic() - t0 < WAIT_MS / 1000 + 2


def test_redis_stalled_readyz_503(own, px):
    with redis_stalled(own, px):
        time.sleep(1.5)
        px.get("/readyz", 503)


def test_postgres_down_503(own, px, ev):
    r = px.post("/v1/events/%s/reservations" % ev[0], booking_body(ev[1][0]))
    booking = r.json
    assert own.pg_proc.stop(signal.SIGINT) == 0
    r = px.get("/v1/bookings/%s" % booking["booking"]["id"], 503,
               headers={"X-Booking-Token": booking["token"]})
    assert r.error == "unavailable" and r.headers.get("retry-after")
