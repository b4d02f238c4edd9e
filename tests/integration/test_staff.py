"""Staff accounts, sessions, roles and the audit log (contract §1 `yoyakuctl staff`, §2 Admin):
sign-in with an HttpOnly SameSite=Strict cookie, Origin on state-changing cookie calls, roles on
every route (403), token roles, 429 after 10 failures a minute per login, the audit log, and an
authorization walk over every admin operation of proto/openapi.yaml."""

import re
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from test_secret import create_secret, limited_ingress, unlock
from ykstack import binary, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


def add_staff(stack, role, password=PASSWORD):
    login = "%s-%s" % (role, uuid.uuid4().hex[:8])
    r = subprocess.run([str(binary("yoyakuctl")), "staff", "add", "--login", login, "--name",
                        "試験 %s" % role, "--role", role], input=password + "\n", env=stack.env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return login


def login(stack, who, password=PASSWORD):
    return stack.client.post("/v1/admin/login", {"login": who, "password": password})


def cookie_of(r):
    m = re.match(r"yoyaku_session=([^;]+);", r.headers.get("set-cookie", ""))
    assert m, r.headers
    return m.group(1)


class Session:
    """Calls as a browser on the console would: the cookie, and Origin on changes."""

    def __init__(self, stack, cookie):
        self.stack, self.cookie = stack, cookie
        self.origin = "http://127.0.0.1:%d" % stack.http_port

    def get(self, path):
        return self.stack.client.get(path, headers={"Cookie": "yoyaku_session=" + self.cookie})

    def send(self, method, path, body=None, origin=True):
        h = {"Cookie": "theme=dark; yoyaku_session=%s" % self.cookie}
        if origin is True:
            h["Origin"] = self.origin
        elif origin:
            h["Origin"] = origin
        return self.stack.client.request(method, path, body, headers=h)


def session(stack, role):
    who = add_staff(stack, role)
    r = login(stack, who)
    assert r.status == 200, r
    return who, Session(stack, cookie_of(r))


def test_login_sets_a_strict_httponly_cookie(stack):
    who = add_staff(stack, "staff")
    r = login(stack, " " + who.upper() + " ")       # typed with capitals and spaces
    assert r.status == 200, r
    assert r.json == {"staff": {"login": who, "name": "試験 staff", "role": "staff"},
                      "expires_in": 43200}, r
    c = r.headers["set-cookie"]
    assert "HttpOnly" in c and "SameSite=Strict" in c and "Path=/" in c and "Secure" not in c, c
    assert r.headers["cache-control"] == "no-store"
    token = cookie_of(r)
    assert len(token) == 43
    # only a hash is stored
    assert stack.scalar("SELECT count(*) FROM staff_sessions WHERE session_hash = '%s'" % token) \
        == "0"
    s = Session(stack, token)
    r = s.get("/v1/admin/me")
    assert r.status == 200 and r.json == {"staff": {"login": who, "name": "試験 staff",
                                                    "role": "staff"}}, r


def test_wrong_or_unknown_login(stack):
    who = add_staff(stack, "desk")
    for body in ({"login": who, "password": "wrong password"},
                 {"login": "nobody-" + uuid.uuid4().hex[:6], "password": PASSWORD}):
        r = stack.client.post("/v1/admin/login", body)
        assert r.status == 401 and r.error == "wrong_password", r
        assert "set-cookie" not in r.headers
    for body, field in (({"login": who}, "password"), ({"password": "x"}, "login"),
                        ({"login": 1, "password": "x"}, "login")):
        r = stack.client.post("/v1/admin/login", body)
        assert r.status == 422 and any(e["field"] == field for e in r.json["errors"]), r
    assert stack.client.request("POST", "/v1/admin/login", body=b"{").status == 400
    assert stack.client.get("/v1/admin/login").status == 405


def test_a_login_longer_than_any_is_unknown(stack):
    who = "l" * 60 + uuid.uuid4().hex[:4]           # 64 characters, the longest login
    r = subprocess.run([str(binary("yoyakuctl")), "staff", "add", "--login", who, "--name", "x",
                        "--role", "desk"], input=PASSWORD + "\n", env=stack.env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert login(stack, who).status == 200
    r = login(stack, who + "x")                      # its first 64 characters name an account
    assert r.status == 401 and r.error == "wrong_password", r


def test_disabled_account_cannot_sign_in_and_its_session_ends(stack):
    who, s = session(stack, "staff")
    assert s.get("/v1/admin/events").status == 200
    stack.ctl("staff", "disable", who)
    r = s.get("/v1/admin/events")
    assert r.status == 401 and r.error == "unauthorized", r
    assert login(stack, who).status == 401


def test_failed_logins_are_limited_per_login(stack):
    who = add_staff(stack, "desk")
    for _ in range(10):
        assert login(stack, who, "not the password").status == 401
    r = login(stack, who, "not the password")
    assert r.status == 429 and r.error == "rate_limited", r
    assert 1 <= int(r.headers["retry-after"]) <= 60, r
    r = login(stack, who)                          # even the right password, for a minute
    assert r.status == 429, r


def test_failed_logins_are_limited_per_address(stack):
    """Ten failures a minute from one address, whatever logins they tried, stop its sign-ins."""
    who = add_staff(stack, "desk")
    with limited_ingress(stack) as c:
        for i in range(10):
            r = c.post("/v1/admin/login", {"login": "nobody-%d-%s" % (i, uuid.uuid4().hex[:6]),
                                           "password": PASSWORD})
            assert r.status == 401 and r.error == "wrong_password", (i, r)
        r = c.post("/v1/admin/login", {"login": who, "password": PASSWORD})
        assert r.status == 429 and r.error == "rate_limited", r
        assert 1 <= int(r.headers["retry-after"]) <= 60, r
    # the main ingress does not limit loopback: the same account still signs in there
    assert login(stack, who).status == 200


def fail_logins(c, n, xff=None):
    """n sign-ins of unknown logins (each a failure) sent with X-Forwarded-For xff; the answers."""
    h = {"X-Forwarded-For": xff} if xff else {}
    return [c.post("/v1/admin/login", {"login": "nobody-" + uuid.uuid4().hex[:8],
                                       "password": PASSWORD}, headers=h).status
            for _ in range(n)]


def test_trusted_proxy_names_the_client(stack):
    """Behind a proxy of YOYAKU_TRUSTED_PROXIES each forwarded client is counted apart, loopback
    exemption or not; what a client writes into X-Forwarded-For itself is never taken."""
    with stack.extra_ingress("ingress-staff", YOYAKU_TRUSTED_PROXIES="10.0.0.0/8, 127.0.0.1") as c:
        assert fail_logins(c, 10, "203.0.113.5") == [401] * 10
        assert fail_logins(c, 1, "203.0.113.5") == [429]
        # the same client through a chain of trusted proxies
        assert fail_logins(c, 1, "203.0.113.5, 10.1.2.3") == [429]
        # another client behind the same proxy is not held back
        assert fail_logins(c, 1, "203.0.113.6") == [401]
        # a client cannot step out of its count by writing an address of its own: the proxy
        # appends the one it saw, and that is read
        assert fail_logins(c, 1, "198.51.100.9, 203.0.113.5") == [429]
        assert fail_logins(c, 1, "198.51.100.9,203.0.113.5, unknown") == [401]  # stops at us
        # the proxy's own calls (no header) are loopback's: not limited by default
        assert fail_logins(c, 12) == [401] * 12
        # unlock counts the forwarded client too
        slug, _, _, _ = create_secret(stack.client)
        wait_until(lambda: c.get("/v1/events/%s" % slug).status == 401, 10, 0.05,
                   what="event known")
        h = {"X-Forwarded-For": "192.0.2.44"}
        for i in range(10):
            r = c.post("/v1/events/%s/unlock" % slug, {"password": "wrong %d" % i}, headers=h)
            assert r.status == 401, (i, r)
        r = c.post("/v1/events/%s/unlock" % slug, {"password": "wrong"}, headers=h)
        assert r.status == 429 and r.error == "rate_limited", r
        assert unlock(c, slug).status == 200   # the proxy itself, loopback


def test_untrusted_peer_cannot_choose_its_address(stack):
    """Without YOYAKU_TRUSTED_PROXIES, X-Forwarded-For is anyone's words: a new address in every
    request does not escape the limit."""
    with limited_ingress(stack) as c:
        answers = [c.post("/v1/admin/login", {"login": "nobody-%d" % i, "password": PASSWORD},
                          headers={"X-Forwarded-For": "203.0.113.%d" % i}).status
                   for i in range(11)]
        assert answers == [401] * 10 + [429], answers


def test_bad_trusted_proxies_refused_at_start(stack):
    for bad in ("10.0.0.1/8", "proxy.example", "10.0.0.0/33"):
        r = subprocess.run([str(binary("yoyaku-ingress"))],
                           env=dict(stack.env, YOYAKU_TRUSTED_PROXIES=bad,
                                    YOYAKU_LISTEN="127.0.0.1:%d" % free_port()),
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and "YOYAKU_TRUSTED_PROXIES" in r.stderr, (bad, r)


def test_me_logout_without_a_session(stack):
    assert stack.client.get("/v1/admin/me").error == "unauthorized"
    assert stack.client.post("/v1/admin/logout", None).status == 401
    bogus = Session(stack, "z" * 43)
    assert bogus.get("/v1/admin/me").status == 401
    assert bogus.send("POST", "/v1/admin/logout").status == 401


def test_origin_required_for_changes_made_with_a_session(stack, make_event):
    who, s = session(stack, "staff")
    ev = make_event()
    path = "/v1/admin/events/%s" % ev.slug
    assert s.send("PATCH", path, {"venue": "A"}, origin=None).error == "forbidden"
    assert s.send("PATCH", path, {"venue": "A"}, origin="http://evil.example").status == 403
    r = s.send("PATCH", path, {"venue": "本館"})
    assert r.status == 200 and r.json["venue"] == "本館", r
    rows = stack.psql("SELECT actor, action, target FROM audit_log WHERE actor = 'staff:%s' "
                      "ORDER BY id" % who)
    assert ["staff:" + who, "PATCH /v1/admin/events/{slug}", ev.slug] in rows, rows
    # reads need no Origin
    assert s.get(path).status == 200


def test_roles(stack, make_event):
    ev = make_event()
    _, desk = session(stack, "desk")
    _, staff = session(stack, "staff")
    _, owner = session(stack, "owner")
    assert desk.get("/v1/admin/events").status == 200
    assert desk.get("/v1/admin/events/%s" % ev.slug).status == 200
    for path in ("/v1/admin/events/%s/bookings" % ev.slug, "/v1/admin/queue",
                 "/v1/admin/staff", "/v1/admin/audit"):
        r = desk.get(path)
        assert r.status == 403 and r.error == "forbidden", (path, r)
    r = desk.send("POST", "/v1/admin/events", {"slug": "x-" + uuid.uuid4().hex[:6], "title": "x"})
    assert r.status == 403, r
    assert staff.get("/v1/admin/events/%s/bookings" % ev.slug).status == 200
    assert staff.get("/v1/admin/staff").status == 403
    assert staff.get("/v1/admin/audit").status == 403
    assert owner.get("/v1/admin/staff").status == 200
    assert owner.get("/v1/admin/audit").status == 200


def test_audit_rows_name_actor_action_and_target(stack, make_event):
    """Every change is in the audit log with who made it, the route and what it acted on; reads
    are not; a refused role writes nothing."""
    name = "ci-" + uuid.uuid4().hex[:6]
    tok = stack.ctl("token", "create", "--name", name, "--role", "staff").stdout.strip()
    h = {"Authorization": "Bearer " + tok}
    slug = "au-" + uuid.uuid4().hex[:8]
    r = stack.client.post("/v1/admin/events", {"slug": slug, "title": "監査"}, headers=h)
    assert r.status == 201, r
    assert stack.client.request("PATCH", "/v1/admin/events/" + slug, {"venue": "x"},
                                headers=h).status == 200
    assert stack.client.get("/v1/admin/events/" + slug, headers=h).status == 200
    assert stack.client.get("/v1/admin/staff", headers=h).status == 403
    r = stack.client.post("/v1/admin/staff", {"login": "zz", "name": "x", "role": "desk",
                                              "password": "long enough pw"}, headers=h)
    assert r.status == 403, r
    ev = make_event()
    b = ev.reserve()
    assert b.status == 201, b
    booking = b.json["booking"]
    r = stack.client.post("/v1/admin/checkin", {"code": booking["checkin_code"]}, headers=h)
    assert r.status == 409, r                         # not today: tried, and audited
    rows = stack.psql("SELECT actor, action, target FROM audit_log WHERE actor = 'token:%s' "
                      "ORDER BY id" % name)
    assert rows == [["token:" + name, "POST /v1/admin/events", slug],
                    ["token:" + name, "PATCH /v1/admin/events/{slug}", slug],
                    ["token:" + name, "POST /v1/admin/checkin", booking["id"]]], rows
    # a password or a booker's value never lands in the log
    _, owner = session(stack, "owner")
    new = "au-" + uuid.uuid4().hex[:6]
    assert owner.send("POST", "/v1/admin/staff", {"login": new, "name": "x", "role": "desk",
                                                  "password": "secret words 123"}).status == 201
    assert owner.send("POST", "/v1/admin/staff", {"login": "Not A Login", "name": "x",
                                                  "role": "desk", "password": "p" * 12}).status \
        == 422
    rows = stack.psql("SELECT action, target FROM audit_log WHERE actor = '%s' ORDER BY id"
                      % ("staff:" + owner_login(stack, owner)))
    assert rows[-2:] == [["POST /v1/admin/staff", new], ["POST /v1/admin/staff", ""]], rows
    assert stack.scalar("SELECT count(*) FROM audit_log WHERE target LIKE '%secret words%'") \
        == "0"


def owner_login(stack, s):
    return s.get("/v1/admin/me").json["staff"]["login"]


def test_token_roles(stack):
    tok = stack.ctl("token", "create", "--name", "desk-tablet", "--role", "desk").stdout.strip()
    h = {"Authorization": "Bearer " + tok}
    assert stack.client.get("/v1/admin/events", headers=h).status == 200
    assert stack.client.get("/v1/admin/queue", headers=h).status == 403
    r = stack.client.get("/v1/admin/me", headers=h)
    assert r.json == {"token": {"name": "desk-tablet", "role": "desk"}}, r
    assert stack.ctl("token", "create", "--name", "x", "--role", "boss", check=False).returncode == 2


def test_logout_ends_the_session(stack):
    _, s = session(stack, "desk")
    assert s.send("POST", "/v1/admin/logout", None, origin=None).status == 403
    r = s.send("POST", "/v1/admin/logout")
    assert r.status == 200 and "Max-Age=0" in r.headers["set-cookie"], r
    assert s.get("/v1/admin/me").status == 401


def test_owner_manages_staff_accounts(stack):
    _, owner = session(stack, "owner")
    login_ = "new-" + uuid.uuid4().hex[:6]
    body = {"login": login_, "name": "窓口 花子", "role": "desk", "password": "long enough pw"}
    r = owner.send("POST", "/v1/admin/staff", body)
    assert r.status == 201 and r.json["staff"]["login"] == login_, r
    assert r.json["staff"]["disabled"] is False and "password" not in r.json["staff"], r
    assert owner.send("POST", "/v1/admin/staff", body).error == "login_taken"
    for bad, field in (({"login": "Bad Login"}, "login"), ({"role": "boss"}, "role"),
                       ({"password": "short"}, "password"), ({"name": "a\r\nb"}, "name"),
                       ({"extra": 1}, "extra")):
        r = owner.send("POST", "/v1/admin/staff", {**body, "login": "z" + login_, **bad})
        assert r.status == 422 and any(e["field"] == field for e in r.json["errors"]), (bad, r)
    s2 = Session(stack, cookie_of(login(stack, login_, "long enough pw")))
    assert s2.get("/v1/admin/me").json["staff"]["role"] == "desk"
    r = owner.send("PATCH", "/v1/admin/staff/" + login_, {"role": "staff", "name": "窓口 花子2"})
    assert r.status == 200 and r.json["staff"]["role"] == "staff", r
    assert s2.get("/v1/admin/me").json["staff"]["role"] == "staff"   # at once
    r = owner.send("PATCH", "/v1/admin/staff/" + login_, {"disabled": True})
    assert r.status == 200 and r.json["staff"]["disabled"] is True, r
    assert s2.get("/v1/admin/me").status == 401
    assert owner.send("PATCH", "/v1/admin/staff/nobody-x", {"name": "x"}).status == 404
    r = owner.get("/v1/admin/staff")
    assert any(x["login"] == login_ for x in r.json["staff"]), r
    r = owner.get("/v1/admin/audit?limit=2")
    assert r.status == 200 and len(r.json["entries"]) == 2 and r.json["next_cursor"], r
    assert r.json["entries"][0]["action"] == "PATCH /v1/admin/staff/{login}", r
    r2 = owner.get("/v1/admin/audit?limit=2&cursor=" + r.json["next_cursor"])
    assert r2.json["entries"][0] != r.json["entries"][0]


def test_the_last_owner_is_neither_disabled_nor_demoted(stack):
    """Without an enabled owner nobody could manage accounts: disabling or demoting the last one is
    409 last_owner and changes nothing; its other fields still change; with a second owner it works."""
    login_, owner = session(stack, "owner")
    others = [r[0] for r in stack.psql("UPDATE staff SET disabled_at = now() WHERE role = 'owner' AND "
                                       "disabled_at IS NULL AND login <> '%s' RETURNING login" % login_)]
    try:
        for change in ({"disabled": True}, {"role": "staff"}, {"role": "desk", "name": "x"}):
            r = owner.send("PATCH", "/v1/admin/staff/" + login_, change)
            assert r.status == 409 and r.error == "last_owner", (change, r)
        assert stack.psql("SELECT role, disabled_at IS NULL, name FROM staff WHERE login = '%s'"
                          % login_)[0][:2] == ["owner", "t"]
        assert owner.get("/v1/admin/me").status == 200        # the session was not ended
        r = owner.send("PATCH", "/v1/admin/staff/" + login_, {"name": "最後の管理者", "disabled": False})
        assert r.status == 200 and r.json["staff"]["name"] == "最後の管理者", r
        second, _ = session(stack, "owner")
        r = owner.send("PATCH", "/v1/admin/staff/" + login_, {"role": "staff"})
        assert r.status == 200 and r.json["staff"]["role"] == "staff", r
        assert stack.scalar("SELECT role FROM staff WHERE login = '%s'" % second) == "owner"
    finally:
        if others:
            stack.psql("UPDATE staff SET disabled_at = NULL WHERE login IN (%s)"
                       % ", ".join("'%s'" % o for o in others))


def test_ctl_staff_list_and_password(stack):
    who = add_staff(stack, "desk")
    out = stack.ctl("staff", "list").stdout
    assert re.search(r"^%s\tdesk\tactive\t試験 desk$" % re.escape(who), out, re.M), out
    r = subprocess.run([str(binary("yoyakuctl")), "staff", "password", who],
                       input="a brand new password\n", env=stack.env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert login(stack, who).status == 401
    assert login(stack, who, "a brand new password").status == 200
    r = subprocess.run([str(binary("yoyakuctl")), "staff", "add", "--login", "x" + who, "--name",
                        "x", "--role", "desk"], input="short\n", env=stack.env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "10 to 1024" in r.stderr, r
    for bad in (["--login", "Bad Login", "--name", "x"], ["--login", "ok", "--name", "x" * 101],
                ["--login", "ok", "--name", "a\nb"], ["--login", "x" * 65, "--name", "x"]):
        r = subprocess.run([str(binary("yoyakuctl")), "staff", "add", "--role", "desk"] + bad,
                           input=PASSWORD + "\n", env=stack.env, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 2, (bad, r)
    r = subprocess.run([str(binary("yoyakuctl")), "staff", "add", "--login", who, "--name", "x",
                        "--role", "owner"], input=PASSWORD + "\n", env=stack.env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "taken" in r.stderr, r
    assert re.search(r"^%s\tdesk\t" % re.escape(who), stack.ctl("staff", "list").stdout, re.M)
    assert stack.ctl("staff", "disable", "nobody-" + who, check=False).returncode == 1
    assert stack.ctl("staff", "disable", who).returncode == 0
    assert re.search(r"^%s\tdesk\tdisabled\t" % re.escape(who), stack.ctl("staff", "list").stdout,
                     re.M)


def admin_operations():
    spec = yaml.safe_load((ROOT / "proto" / "openapi.yaml").read_text())
    for path, item in spec["paths"].items():
        if not path.startswith("/v1/admin") or path == "/v1/admin/login":
            continue
        for method in ("get", "post", "patch", "put", "delete"):
            if method in item:
                yield method.upper(), path


@pytest.mark.parametrize("method,path", list(admin_operations()))
def test_authorization_walk(stack, method, path):
    """Every admin operation of the OpenAPI document: no credentials, a wrong token and a bogus
    session are 401 (and nothing runs)."""
    concrete = (path.replace("{slug}", "demo").replace("{id}", "1").replace("{login}", "owner")
                .replace("{campaign}", "flu"))
    body = b"{}" if method in ("POST", "PATCH", "PUT") else None
    for headers in ({}, {"Authorization": "Bearer " + "x" * 43},
                    {"Cookie": "yoyaku_session=" + "y" * 43,
                     "Origin": "http://127.0.0.1:%d" % stack.http_port}):
        r = stack.client.request(method, concrete, body=body, headers=headers)
        assert r.status == 401 and r.error == "unauthorized", (method, concrete, headers, r)
