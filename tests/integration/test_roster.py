"""Roster eligibility (contract §2 "Roster", issue 14): PUT /v1/admin/campaigns/{campaign}/roster
streams a CSV (UTF-8 or CP932) that is stored only as keyed hashes; GET shows rows, fields and
updated_at; an event with `roster` accepts a booking only when its values match a row (409
not_eligible), one person one booking per campaign whatever the spelling; refusals (422
invalid_roster with lines, nothing replaced), roles, 404; yoyakuctl roster import; a streamed
upload of 200,000 rows with the ingress's memory flat."""

import http.client
import os
import time

import pytest

from ykstack import unique, wait_until

FIELDS = [
    {"name": "voucher", "label": "接種券番号", "type": "text", "required": True, "identity": True},
    {"name": "birth", "label": "生年月日", "type": "date", "required": True},
    {"name": "name", "label": "氏名", "type": "text", "required": False},
]


def put_roster(stack, campaign, body, encoding=None, token=None, chunked=False, headers=None):
    """PUT with a raw body (bytes, or an iterable of bytes sent chunked); returns (status, json)."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.http_port, timeout=120)
    path = "/v1/admin/campaigns/%s/roster" % campaign
    if encoding:
        path += "?encoding=" + encoding
    hdrs = {"Content-Type": "text/csv", "Authorization": "Bearer " + (token or stack.admin_token)}
    hdrs.update(headers or {})
    conn.request("PUT", path, body=body, headers=hdrs, encode_chunked=chunked)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    import json
    return r.status, (json.loads(data) if data else None)


def get_roster(api, campaign):
    return api.get("/v1/admin/campaigns/%s/roster" % campaign, admin=True)


def roster_event(make_event, campaign, **extra):
    return make_event(capacities=(50,), fields=FIELDS, campaign=campaign,
                      roster={"fields": ["voucher", "birth"]}, **extra)


def book(ev, voucher, birth, name="予約 太郎"):
    return ev.reserve(fields={"voucher": voucher, "birth": birth, "name": name})


CSV = ("\ufeffvoucher,birth,name\r\n"
       "10000001,1961-01-05,山田 一郎\r\n"
       "\"10000002\",1950-12-31,\"鈴木, 花子\"\r\n"
       "10000003,1970-07-07,\r\n")
# A row's hash covers all its columns: an event's roster.fields name them all (in any order).
CSV2 = ("\ufeffvoucher,birth\r\n"
        "10000001,1961-01-05\r\n"
        "\"10000002\",1950-12-31\r\n"
        "10000003,1970-07-07\r\n")


def test_upload_get_and_hashes_only(stack, api):
    campaign = unique("rc")
    assert get_roster(api, campaign).status == 404
    status, body = put_roster(stack, campaign, CSV.encode("utf-8"))
    assert status == 200, body
    assert body == {"rows": 3}
    r = get_roster(api, campaign)
    assert r.status == 200, r
    assert r.json["rows"] == 3 and r.json["fields"] == ["voucher", "birth", "name"]
    assert r.json["updated_at"].endswith("+00:00")
    # only 16-byte hashes are stored: no raw value anywhere in the rows of this generation
    gen = stack.scalar("SELECT generation FROM rosters WHERE campaign = '%s'" % campaign)
    assert stack.psql("SELECT count(*), min(length(h)), max(length(h)) FROM roster_rows"
                      " WHERE generation = %s" % gen) == [["3", "16", "16"]]
    assert stack.scalar("SELECT count(*) FROM roster_rows WHERE generation = %s AND"
                        " (position('10000001'::bytea IN h) > 0 OR position('1961'::bytea IN h) > 0)"
                        % gen) == "0"
    # audited, with its actor
    assert stack.scalar("SELECT count(*) FROM audit_log WHERE action = "
                        "'PUT /v1/admin/campaigns/{id}/roster' AND target = '%s'" % campaign) == "1"


def test_roster_eligibility_and_identity(stack, api, make_event):
    campaign = unique("rc")
    assert put_roster(stack, campaign, CSV2.encode("utf-8"))[0] == 200
    ev = roster_event(make_event, campaign)
    r = book(ev, "10000001", "1961-01-05")
    assert r.status == 201, r
    # not on the roster: another voucher, or the right voucher with another birth date
    r = book(ev, "99999999", "1961-01-05")
    assert r.status == 409 and r.json["error"] == "not_eligible", r
    r = book(ev, "10000002", "1961-01-05")
    assert r.status == 409 and r.json["error"] == "not_eligible", r
    # one person, one booking per campaign whatever the spelling: full-width digits and spaces
    r = book(ev, "１００００００１ ", "1961-01-05")
    assert r.status == 409 and r.json["error"] == "already_booked", r
    # a full-width spelling of a roster row is that row
    r = book(ev, " １００００００２", "1950-12-31")
    assert r.status == 201, r
    # a second event of the campaign: the limit is counted across the campaign
    ev2 = roster_event(make_event, campaign, day=31)
    r = book(ev2, "10000002", "1950-12-31")
    assert r.status == 409 and r.json["error"] == "already_booked", r
    r = book(ev2, "10000003", "1970-07-07")
    assert r.status == 201, r
    assert len(ev.rows()) == 2


def test_cp932_upload(stack, api, make_event):
    campaign = unique("rc")
    text = "接種券番号,生年月日\r\n".replace("接種券番号", "voucher").replace("生年月日", "name")
    text += "２０００００１,山田 一郎\r\n2000002,ｽｽﾞｷ ﾊﾅｺ\r\n"
    status, body = put_roster(stack, campaign, text.encode("cp932"), encoding="cp932")
    assert status == 200, body
    assert body == {"rows": 2}
    ev = make_event(capacities=(10,), fields=FIELDS, campaign=campaign,
                    roster={"fields": ["voucher", "name"]})
    assert ev.reserve(fields={"voucher": "2000001", "birth": "1961-01-05",
                              "name": "山田 一郎"}).status == 201
    # half-width katakana in the file, full-width in the booking: NFKC makes them one
    assert ev.reserve(fields={"voucher": "2000002", "birth": "1961-01-05",
                              "name": "スズキ ハナコ"}).status == 201
    r = ev.reserve(fields={"voucher": "2000003", "birth": "1961-01-05", "name": "山田 一郎"})
    assert r.status == 409 and r.json["error"] == "not_eligible", r
    # the same bytes read as UTF-8 are not UTF-8: refused, the roster kept
    status, body = put_roster(stack, campaign, text.encode("cp932"))
    assert status == 422 and body["error"] == "invalid_roster", body
    assert body["errors"][0] == {"line": 2, "reason": "encoding"}, body
    assert get_roster(api, campaign).json["rows"] == 2


@pytest.mark.parametrize("csv,errors", [
    (b"voucher,birth\n1,2001-01-01\n2\n3,2001-01-03,x\n", [{"line": 3, "reason": "column_count"},
                                                           {"line": 4, "reason": "column_count"}]),
    (b"", [{"line": 1, "reason": "empty_header"}]),
    (b"\n\n", [{"line": 1, "reason": "empty_header"}]),
    (b"voucher,,birth\n1,2,3\n", [{"line": 1, "reason": "empty_header"}]),
    (b"voucher,Birth Date\n1,2\n", [{"line": 1, "reason": "bad_header"}]),
    (b"voucher,voucher\n1,2\n", [{"line": 1, "reason": "bad_header"}]),
    (b"voucher\n\xff\xfe\n", [{"line": 2, "reason": "encoding"}]),
    (b"voucher\n1\"2\n", [{"line": 2, "reason": "quoting"}]),
    (b"voucher\n\"12\n", [{"line": 2, "reason": "quoting"}]),
    (b"voucher\n" + b"9" * 1025 + b"\n", [{"line": 2, "reason": "too_long"}]),
])
def test_invalid_roster_replaces_nothing(stack, api, csv, errors):
    campaign = unique("rc")
    assert put_roster(stack, campaign, b"voucher,birth\n1,2\n")[0] == 200
    before = get_roster(api, campaign).json
    status, body = put_roster(stack, campaign, csv)
    assert status == 422, body
    assert body["error"] == "invalid_roster" and body["errors"] == errors, body
    assert get_roster(api, campaign).json == before


def test_cp932_refusals(stack):
    campaign = unique("rc")
    status, body = put_roster(stack, campaign, b"voucher\n\x81\n", encoding="cp932")
    assert status == 422 and body["errors"] == [{"line": 2, "reason": "encoding"}], body
    status, body = put_roster(stack, campaign, b"voucher\n1\n", encoding="latin-1")
    assert status == 422 and body["error"] == "invalid_fields", body
    assert body["errors"] == [{"field": "encoding", "reason": "unknown_option"}]


def test_roles_and_names(stack, api):
    campaign = unique("rc")
    staff = stack.ctl("token", "create", "--name", unique("st"), "--role", "staff").stdout.strip()
    desk = stack.ctl("token", "create", "--name", unique("dk"), "--role", "desk").stdout.strip()
    assert put_roster(stack, campaign, b"voucher\n1\n", token=desk)[0] == 403
    assert put_roster(stack, campaign, b"voucher\n1\n", token="x" * 40)[0] == 401
    assert put_roster(stack, campaign, b"voucher\n1\n", token=staff) == (200, {"rows": 1})
    r = api.get("/v1/admin/campaigns/%s/roster" % campaign, headers={"Authorization": "Bearer " + desk})
    assert r.status == 403
    r = api.get("/v1/admin/campaigns/%s/roster" % campaign)
    assert r.status == 401
    assert put_roster(stack, "Bad.Name", b"voucher\n1\n")[0] == 404
    assert get_roster(api, "no-such-" + campaign).status == 404
    r = api.request("POST", "/v1/admin/campaigns/%s/roster" % campaign, body=b"x", admin=True)
    assert r.status == 405 and "PUT" in r.headers.get("allow", "")


def test_replace_is_atomic_and_takes_effect(stack, api, make_event):
    campaign = unique("rc")
    assert put_roster(stack, campaign, b"voucher,birth\n30000001,1961-01-05\n")[0] == 200
    ev = roster_event(make_event, campaign)
    assert book(ev, "30000001", "1961-01-05").status == 201
    gen1 = stack.scalar("SELECT generation FROM rosters WHERE campaign = '%s'" % campaign)
    status, body = put_roster(stack, campaign,
                              b"birth,voucher\n1962-02-02,30000002\n1963-03-03,30000003\n")
    assert (status, body) == (200, {"rows": 2})
    # the old generation's rows are gone with the swap
    assert stack.scalar("SELECT count(*) FROM roster_rows WHERE generation = %s" % gen1) == "0"
    r = book(ev, "30000009", "1961-01-05")
    assert r.status == 409 and r.json["error"] == "not_eligible"
    # the column order of the file does not matter
    assert book(ev, "30000002", "1962-02-02").status == 201
    assert get_roster(api, campaign).json["fields"] == ["birth", "voucher"]


def test_definition_roster_refusals(api, make_event):
    base = {"slug": unique("t"), "title": "x", "fields": FIELDS}
    cases = [
        ({"roster": {"fields": ["voucher"]}}, {"field": "campaign", "reason": "required"}),
        ({"campaign": "c1", "roster": {"fields": ["nope"]}},
         {"field": "roster.fields", "reason": "unknown_option"}),
        ({"campaign": "c1", "roster": {"fields": []}},
         {"field": "roster.fields", "reason": "required"}),
        ({"campaign": "c1", "roster": {"fields": "voucher"}},
         {"field": "roster.fields", "reason": "type"}),
        ({"campaign": "c1", "roster": ["voucher"]}, {"field": "roster", "reason": "type"}),
        ({"campaign": "c1", "roster": {"fields": ["voucher"], "x": 1}},
         {"field": "roster.fields", "reason": "unknown_field"}),
    ]
    for extra, err in cases:
        d = dict(base, **extra)
        r = api.post("/v1/admin/events", d, admin=True)
        assert r.status == 422, (extra, r)
        assert err in r.json["errors"], (extra, r.json)
    # shown as stored, and removable by PATCH
    ev = make_event(fields=FIELDS, campaign=unique("rc"), roster={"fields": ["voucher"]})
    r = api.get("/v1/admin/events/" + ev.slug, admin=True)
    assert r.json["roster"] == {"fields": ["voucher"]}
    r = api.request("PATCH", "/v1/admin/events/" + ev.slug, json_body={"roster": None}, admin=True)
    assert r.status == 200 and r.json["roster"] is None, r


def test_roster_added_later_refuses_until_uploaded(stack, make_event):
    campaign = unique("rc")
    ev = roster_event(make_event, campaign)
    # no roster uploaded yet: nobody is on it
    r = book(ev, "40000001", "1961-01-05")
    assert r.status == 409 and r.json["error"] == "not_eligible", r
    assert put_roster(stack, campaign, b"voucher,birth\n40000001,1961-01-05\n")[0] == 200
    assert book(ev, "40000001", "1961-01-05").status == 201


def test_ctl_import(stack, api, tmp_path):
    campaign = unique("rc")
    f = tmp_path / "roster.csv"
    f.write_bytes(("voucher,name\n" + "".join("%d,名前%d\n" % (50000000 + i, i)
                                              for i in range(5000))).encode("cp932"))
    r = stack.ctl("roster", "import", str(f), "--campaign", campaign, "--encoding", "cp932")
    assert r.stdout.strip() == "rows: 5000", r
    assert "5000 rows" in r.stderr        # the last progress line (not a terminal: plain lines)
    assert get_roster(api, campaign).json["rows"] == 5000
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"voucher,name\n1\n")
    r = stack.ctl("roster", "import", str(bad), "--campaign", campaign, check=False)
    assert r.returncode == 1 and "line 2: column_count" in r.stderr, r
    assert get_roster(api, campaign).json["rows"] == 5000
    r = stack.ctl("roster", "import", str(bad), "--campaign", "Bad Name", check=False)
    assert r.returncode == 2


def _rss_peak_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def test_streamed_upload_memory_flat(stack, api):
    """200,000 rows (about 4 MB) sent chunked: 200, and the ingress's peak RSS grows by far less
    than the body (a body buffered whole would add it at least once). Under ASan (its quarantine
    keeps freed memory) 50,000 rows and no memory bound: the plain run checks it."""
    campaign = unique("rc")
    pid = stack.by_name("ingress").pid
    with open("/proc/%d/maps" % pid) as f:
        asan = "libasan" in f.read()
    n = 50000 if asan else 200000

    def body():
        yield b"voucher,birth\n"
        for start in range(0, n, 10000):
            yield "".join("%d,1960-01-%02d\n" % (60000000 + i, 1 + i % 28)
                          for i in range(start, start + 10000)).encode()
    size = sum(len(b) for b in body())
    before = _rss_peak_kb(pid)
    t = time.monotonic()
    status, out = put_roster(stack, campaign, body(), chunked=True)
    secs = time.monotonic() - t
    assert (status, out) == (200, {"rows": n})
    grew = _rss_peak_kb(pid) - before
    print("roster upload: %d rows, %d bytes in %.2f s (%.0f rows/s); ingress peak RSS +%d KiB"
          % (n, size, secs, n / secs, grew))
    assert asan or grew * 1024 < size / 2, grew
    assert get_roster(api, campaign).json["rows"] == n


def test_client_gone_mid_upload_replaces_nothing(stack, api):
    campaign = unique("rc")
    assert put_roster(stack, campaign, b"voucher\n1\n2\n")[0] == 200
    import socket
    s = socket.create_connection(("127.0.0.1", stack.http_port))
    head = ("PUT /v1/admin/campaigns/%s/roster HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Content-Length: 1000000\r\n\r\nvoucher\n" % (campaign, stack.admin_token))
    s.sendall(head.encode() + b"7\n" * 1000)
    time.sleep(0.3)
    s.close()
    # the lock and the transaction went with the client: a new upload goes through at once
    wait_until(lambda: put_roster(stack, campaign, b"voucher\n5\n")[0] == 200, 10,
               what="upload after a client gave up")
    assert get_roster(api, campaign).json["rows"] == 1
    assert api.get("/healthz").status == 200


def _raw(stack, head, body=None, wait=0.5):
    """Sends a head, reads what comes within `wait` s, then sends body (if any) and reads on."""
    import socket
    s = socket.create_connection(("127.0.0.1", stack.http_port), timeout=10)
    s.sendall(head.encode())
    s.settimeout(wait)
    first = b""
    try:
        while b"\r\n\r\n" not in first:
            chunk = s.recv(4096)
            if not chunk:
                break
            first += chunk
    except socket.timeout:
        pass
    rest = b""
    if body is not None:
        s.settimeout(30)
        s.sendall(body)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
            if b"\r\n\r\n" in rest and rest.rstrip().endswith(b"}"):
                break
    s.close()
    return first, rest


def test_expect_continue_only_when_the_body_is_read(stack):
    """A refused upload never gets its client to send the body (no 100 Continue before the
    answer); an accepted one gets 100 Continue, then its answer."""
    campaign = unique("rc")
    desk = stack.ctl("token", "create", "--name", unique("dk"), "--role", "desk").stdout.strip()
    body = b"voucher\n" + b"".join(b"%d\n" % i for i in range(1000))
    head = ("PUT /v1/admin/campaigns/%s/roster HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Expect: 100-continue\r\nContent-Length: %d\r\nConnection: close\r\n\r\n")
    first, _ = _raw(stack, head % (campaign, desk, len(body)), wait=5)
    assert first.startswith(b"HTTP/1.1 403 "), first
    first, rest = _raw(stack, head % (campaign, stack.admin_token, len(body)), body, wait=5)
    assert first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), first
    answer = first[len(b"HTTP/1.1 100 Continue\r\n\r\n"):] + rest
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b'{"rows":1000}'), answer
