"""Secret events (contract §2, issue 10): a password makes an event secret; it is never listed,
every public route of it needs the `X-Access-Token` that `POST /v1/events/{slug}/unlock` gives for
the right password (401 `password_required` otherwise, 401 `wrong_password` for a wrong one), the
token is bound to its event and expires, 10 wrong passwords a minute from one address get 429, the
argon2id hashing runs off the event loop under a cap (a flood of unlocks or creations leaves
/healthz fast), and the password is never echoed."""

import base64
import datetime
import hashlib
import hmac
import struct
import threading
import time
import uuid

from ykstack import Client, email, rfc3339, slot_time, unique, wait_until

PASSWORD = "ひみつ-open sesame"
FIELDS = [{"name": "name", "label": {"ja": "氏名", "en": "Name"}, "type": "text", "required": True}]


def create_secret(api, password=PASSWORD, capacity=5, **extra):
    """A secret event with one slot 30 days ahead: (slug, event id, definition, create answer)."""
    slug = unique("sec")
    definition = dict({"slug": slug, "title": "秘密 " + slug, "fields": FIELDS,
                       "password": password}, **extra)
    r = api.post("/v1/admin/events", definition, admin=True)
    assert r.status == 201, r
    created = r
    start = slot_time(30, 9)
    r = api.post("/v1/admin/events/%s/slots" % slug, {"slots": [{
        "starts_at": rfc3339(start), "ends_at": rfc3339(start + datetime.timedelta(minutes=30)),
        "capacity": capacity}]}, admin=True)
    assert r.status == 201, r
    return slug, int(created.json["id"]), definition, created


def unlock(api, slug, password=PASSWORD):
    return api.post("/v1/events/%s/unlock" % slug, {"password": password})


def access(token):
    return {"X-Access-Token": token}


def slot_of(api, slug, token):
    r = api.get("/v1/events/%s/slots" % slug, headers=access(token))
    assert r.status == 200 and len(r.json["slots"]) == 1, r
    return r.json["slots"][0]["id"]


def forge(key_hex, event_id, password_hash, expires):
    """An access token made the way secret.h describes, with the server key: the test's proof that
    the format is what it says, and a way to make expired or foreign tokens."""
    sub = hashlib.blake2b(b"yoyaku access token", key=bytes.fromhex(key_hex), digest_size=32).digest()
    payload = struct.pack(">qq", event_id, expires)
    mac = hmac.new(sub, payload + password_hash.encode(), hashlib.sha512).digest()[:32]
    return base64.urlsafe_b64encode(payload + mac).rstrip(b"=").decode()


def password_hash(stack, event_id):
    return stack.scalar("SELECT password_hash FROM events WHERE id = %d" % event_id)


def assert_password_required(r, slug, title):
    assert r.status == 401, r
    assert r.error == "password_required", r
    assert r.json["slug"] == slug and r.json["title"] == title and r.json["secret"] is True, r


def test_secret_event_is_hidden_and_closed(api):
    slug, _, definition, _ = create_secret(api)
    listed = api.get("/v1/events")
    assert listed.status == 200 and slug not in [e["slug"] for e in listed.json["events"]], listed
    body = {"slot_id": "1", "email": email("sec"), "fields": {"name": "秘密 太郎"}}
    for headers in ({}, access("A" * 64), access("not-a-token")):
        for method, path, b in (("GET", "/v1/events/%s" % slug, None),
                                ("GET", "/v1/events/%s/slots" % slug, None),
                                ("POST", "/v1/events/%s/reservations" % slug, body)):
            r = api.request(method, path, json_body=b, headers=headers)
            assert_password_required(r, slug, definition["title"])
            assert PASSWORD not in r.body.decode() and "argon2" not in r.body.decode(), r
        r = api.request("HEAD", "/v1/events/%s" % slug, headers=headers)
        assert r.status == 401, r
    # still not listed once unlocked: the list is for everyone
    assert unlock(api, slug).status == 200
    assert slug not in [e["slug"] for e in api.get("/v1/events").json["events"]]


def test_wrong_password_then_unlock_and_book(stack, api):
    slug, eid, definition, _ = create_secret(api)
    r = unlock(api, slug, "wrong")
    assert r.status == 401 and r.error == "wrong_password", r
    r = unlock(api, slug, PASSWORD + " ")
    assert r.status == 401 and r.error == "wrong_password", r
    t0 = int(time.time())
    r = unlock(api, slug)
    t1 = int(time.time())
    assert r.status == 200, r
    assert set(r.json) == {"access_token", "expires_in"}, r
    assert r.json["expires_in"] == 43200, r   # YOYAKU_ACCESS_TTL's default
    assert "no-store" in r.headers.get("cache-control", ""), r
    token = r.json["access_token"]
    key, pw_hash = stack.env["YOYAKU_TOKEN_KEY"], password_hash(stack, eid)
    assert token in [forge(key, eid, pw_hash, t + 43200) for t in range(t0, t1 + 1)], token
    r = api.get("/v1/events/%s" % slug, headers=access(token))
    assert r.status == 200 and r.json["slug"] == slug and r.json["secret"] is True, r
    assert "password" not in r.json, r
    slot = slot_of(api, slug, token)
    r = api.post("/v1/events/%s/reservations" % slug,
                 {"slot_id": slot, "email": email("sec"), "fields": {"name": "秘密 太郎"}},
                 headers=access(token))
    assert r.status == 201, r
    booking, btoken = r.json["booking"], r.json["token"]
    # the booking's own token is its key: no access token needed to read it (the mail's link)
    r = api.get("/v1/bookings/%s" % booking["id"], headers={"X-Booking-Token": btoken})
    assert r.status == 200 and r.json["booking"]["event"] == slug, r
    # another event's token opens nothing here, and this one nothing there
    other, _, odef, _ = create_secret(api, password="another one")
    otoken = unlock(api, other, "another one").json["access_token"]
    assert_password_required(api.get("/v1/events/%s" % slug, headers=access(otoken)), slug,
                             definition["title"])
    assert_password_required(api.get("/v1/events/%s/slots" % other, headers=access(token)),
                             other, odef["title"])


def test_expired_forged_and_tampered_tokens(stack, api):
    slug, eid, definition, _ = create_secret(api)
    key, pw_hash = stack.env["YOYAKU_TOKEN_KEY"], password_hash(stack, eid)
    now = int(time.time())
    good = forge(key, eid, pw_hash, now + 600)
    assert api.get("/v1/events/%s" % slug, headers=access(good)).status == 200
    bad = {
        "expired": forge(key, eid, pw_hash, now - 1),
        "another key": forge("11" * 32, eid, pw_hash, now + 600),
        "another event": forge(key, eid + 1, pw_hash, now + 600),
        "another password": forge(key, eid, pw_hash + "x", now + 600),
        "tampered": good[:20] + ("A" if good[20] != "A" else "B") + good[21:],
        "truncated": good[:-1],
        "a later expiry, old mac": base64.urlsafe_b64encode(
            struct.pack(">qq", eid, now + 10 ** 6) + base64.urlsafe_b64decode(good + "=")[16:]
        ).rstrip(b"=").decode(),
    }
    for what, token in bad.items():
        for path in ("/v1/events/%s" % slug, "/v1/events/%s/slots" % slug):
            r = api.get(path, headers=access(token))
            assert r.status == 401 and r.error == "password_required", (what, r)


def test_new_password_voids_old_tokens(stack, api):
    slug, eid, definition, _ = create_secret(api)
    token = unlock(api, slug).json["access_token"]
    other, oid, _, _ = create_secret(api, password="second")
    # the event's password replaced (as PATCH would), every ingress told to reload
    stack.psql("UPDATE events SET password_hash = (SELECT password_hash FROM events WHERE id = %d)"
               " WHERE id = %d" % (oid, eid))
    stack.redis("PUBLISH", "yk:events", "catalogue")
    wait_until(lambda: api.get("/v1/events/%s" % slug, headers=access(token)).status == 401, 10,
               0.05, what="the old token refused")
    assert unlock(api, slug).status == 401
    token = unlock(api, slug, "second").json["access_token"]
    assert api.get("/v1/events/%s" % slug, headers=access(token)).status == 200


def test_patch_sets_a_new_password(api):
    """PATCH with a password hashes it off the loop like a creation; the old password and its
    tokens stop working at once, the new one unlocks; a PATCH without one keeps it."""
    slug, _, _, _ = create_secret(api)
    token = unlock(api, slug).json["access_token"]
    r = api.request("PATCH", "/v1/admin/events/%s" % slug, {"password": "changed"}, admin=True)
    assert r.status == 200 and "password" not in r.json, r
    assert api.get("/v1/events/%s" % slug, headers=access(token)).status == 401
    assert unlock(api, slug).status == 401
    token = unlock(api, slug, "changed").json["access_token"]
    r = api.request("PATCH", "/v1/admin/events/%s" % slug, {"title": "新しい題"}, admin=True)
    assert r.status == 200 and r.json["title"] == "新しい題", r
    assert api.get("/v1/events/%s" % slug, headers=access(token)).status == 200


def test_unlock_refusals(api, make_event):
    slug, _, _, _ = create_secret(api)
    path = "/v1/events/%s/unlock" % slug
    r = api.request("POST", path, body="{not json")
    assert r.status == 400 and r.error == "malformed_json", r
    for body, field, reason in (({}, "password", "required"), ({"password": ""}, "password", "required"),
                                ({"password": 7}, "password", "type"),
                                ({"password": PASSWORD, "x": 1}, "x", "unknown_field"),
                                ([], "body", "type")):
        r = api.post(path, body)
        assert r.status == 422 and r.error == "invalid_fields", (body, r)
        assert {"field": field, "reason": reason} in r.json["errors"], (body, r)
    r = api.post(path, {"password": "a\u0000b"})   # jansson refuses a NUL: never cut short
    assert r.status == 400 and r.error == "malformed_json", r
    r = api.post(path, {"password": "x" * 5000})
    assert r.status == 401 and r.error == "wrong_password", r
    r = api.get(path)
    assert r.status == 405 and r.headers["allow"] == "POST", r
    r = unlock(api, "no-such-" + uuid.uuid4().hex[:8])
    assert r.status == 404 and r.error == "not_found", r
    # an event without a password has nothing to unlock: any password gets a token it needs not
    ev = make_event(capacities=[1])
    r = unlock(api, ev.slug, "anything")
    assert r.status == 200 and r.json["access_token"], r


def test_password_never_echoed(stack, api):
    slug, eid, _, created = create_secret(api)
    pw_hash = password_hash(stack, eid)
    assert pw_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$"), pw_hash
    answers = [created, api.get("/v1/admin/events/%s" % slug, admin=True),
               api.get("/v1/admin/events", admin=True)]
    for r in answers:
        assert r.status in (200, 201), r
        text = r.body.decode()
        assert PASSWORD not in text and pw_hash not in text and "argon2" not in text, r
    assert "password" not in created.json and created.json["secret"] is True, created
    one = answers[1].json
    assert "password" not in one and one["secret"] is True, one
    listed = [e for e in answers[2].json["events"] if e["slug"] == slug]
    assert listed and "password" not in listed[0] and listed[0]["secret"] is True, listed


def limited_ingress(stack, **env_extra):
    """One more ingress of the stack whose rate limits apply to loopback (YOYAKU_RATE_LOOPBACK=1)."""
    return stack.extra_ingress("ingress-sec", YOYAKU_RATE_LOOPBACK="1", **env_extra)


def _ready(client):
    try:
        return client.get("/readyz").status == 200
    except OSError:
        return False


def test_eleventh_failure_is_429(api, stack):
    slug, _, _, _ = create_secret(api)
    with limited_ingress(stack) as c:
        wait_until(lambda: c.get("/v1/events/%s" % slug).status == 401, 10, 0.05,
                   what="event known")
        assert unlock(c, slug).status == 200   # a right password is no failure
        for i in range(10):
            r = unlock(c, slug, "wrong %d" % i)
            assert r.status == 401 and r.error == "wrong_password", (i, r)
        r = unlock(c, slug, "wrong 10")
        assert r.status == 429 and r.error == "rate_limited", r
        assert 1 <= int(r.headers["retry-after"]) <= 60, r
        # the right password waits too: guessing must not go on behind it
        r = unlock(c, slug)
        assert r.status == 429, r
        # per address and per ingress: the main ingress (loopback not limited) still answers
        assert unlock(api, slug, "wrong").status == 401
        assert unlock(api, slug).status == 200
    # by default loopback is not limited: one machine may test or rush
    for i in range(15):
        assert unlock(api, slug, "wrong %d" % i).status == 401


def healthz_latencies(api, stop):
    """Times of GET /healthz, one after another, until stop is set."""
    times = []
    while not stop.is_set():
        t0 = time.monotonic()
        r = api.get("/healthz")
        times.append(time.monotonic() - t0)
        assert r.status == 200
    return times


def flood(n, fn, warm=None):
    """Runs fn(i) in n threads started together (each after warm(i), e.g. to open its connection);
    returns their results."""
    results = [None] * n
    barrier = threading.Barrier(n)

    def run(i):
        if warm:
            warm(i)
        barrier.wait()
        results[i] = fn(i)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_unlock_flood_keeps_the_loop_free(api, stack):
    slug, _, _, _ = create_secret(api)
    probe = Client("127.0.0.1", stack.http_port)
    flooder = Client("127.0.0.1", stack.http_port)
    stop = threading.Event()
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("t", healthz_latencies(probe, stop)))
    t.start()
    try:
        results = flood(40, lambda i: unlock(flooder, slug, "flood %d" % i),
                        lambda i: flooder.get("/healthz"))
    finally:
        stop.set()
        t.join(30)
        probe.close()
        flooder.close()
    codes = sorted(r.status for r in results)
    assert set(codes) <= {401, 503}, codes
    # 2 hashing, 8 waiting: the other 30 (about) are refused at once, never queued without bound
    assert codes.count(503) >= 10, codes
    for r in results:
        if r.status == 503:
            assert r.error == "unavailable" and r.headers.get("retry-after"), r
    times = box["t"]
    assert len(times) >= 3, times
    assert max(times) < 0.25, "GET /healthz took %.3f s during the flood" % max(times)
    assert unlock(api, slug).status == 200   # the pool is free again


def test_secret_creations_keep_the_loop_free(api, stack):
    """Creating secret events hashes their passwords off the loop too."""
    probe = Client("127.0.0.1", stack.http_port)
    admin = Client("127.0.0.1", stack.http_port, stack.admin_token)
    stop = threading.Event()
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("t", healthz_latencies(probe, stop)))
    t.start()
    slugs = [unique("secf") for _ in range(24)]
    try:
        results = flood(len(slugs), lambda i: admin.post("/v1/admin/events", {
            "slug": slugs[i], "title": "秘密", "password": "pw %d" % i}, admin=True),
            lambda i: admin.get("/healthz"))
    finally:
        stop.set()
        t.join(30)
        probe.close()
        admin.close()
    codes = sorted(r.status for r in results)
    assert set(codes) <= {201, 503} and 201 in codes, codes
    times = box["t"]
    assert max(times) < 0.25, "GET /healthz took %.3f s during the creations" % max(times)
