"""The Excel roster, GET /v1/admin/events/{slug}/bookings.csv (contract §2): read back the way
Excel users' tools read it — Python's csv over `utf-8-sig` and `cp932` with newline='' — checking
columns, order, values, CRLF, the BOM, the formula prefix, the CP932 substitute (〓) and labels;
streamed (chunked) across several keyset pages; 401/404/405/422 and HEAD."""

import csv
import io
import socket

from ykstack import email

FIELDS = [{"name": "name", "label": {"ja": "氏名", "en": "Name"}, "type": "text",
           "required": True, "max_length": 50},
          {"name": "memo", "label": {"ja": "備考", "en": "Note"}, "type": "text"},
          {"name": "age", "label": "年齢", "type": "number"}]

# (name, memo, age): awkward values for a spreadsheet
VALUES = [("山田, 太郎", 'say "hi"', 30),
          ("=1+1", "@x", 7),
          ("髙橋 🍣", "-3", 41),
          ("+81 3", "", None)]

FIXED = ["booking_id", "slot_starts_at", "slot_ends_at", "status", "email", "created_at"]
HEAD_NAMES = FIXED[:5] + ["name", "memo", "age"] + FIXED[5:]
HEAD_JA = ["予約番号", "開始日時", "終了日時", "状態", "メールアドレス", "氏名", "備考", "年齢",
           "申込日時"]
HEAD_EN = ["Booking ID", "Starts at", "Ends at", "Status", "Email", "Name", "Note", "年齢",
           "Created at"]


def excel_cell(v):
    """What a cell must read as: a formula-looking value gets a leading '."""
    return "'" + v if v and v[0] in "=+-@\t\r" else v


def book(ev):
    """Books VALUES, cancels the last one; returns the bookings as the API answered them."""
    out = []
    for name, memo, age in VALUES:
        fields = {"name": name}
        if memo:
            fields["memo"] = memo
        if age is not None:
            fields["age"] = age
        r = ev.reserve(fields=fields, mail=email("csv"))
        assert r.status == 201, r
        out.append(dict(r.json["booking"], token=r.json["token"]))
    last = out[-1]
    r = ev.stack.client.post("/v1/bookings/%s/cancel" % last["id"],
                             headers={"X-Booking-Token": last["token"]})
    assert r.status == 200, r
    last["status"] = "cancelled"
    return out


def download(client, slug, query="", **kw):
    return client.get("/v1/admin/events/%s/bookings.csv%s" % (slug, query), admin=True, **kw)


def read_rows(body, encoding):
    text = io.TextIOWrapper(io.BytesIO(body), encoding=encoding, newline="")
    return list(csv.reader(text))


def check_crlf(body):
    assert body.endswith(b"\r\n")
    assert body.count(b"\n") == body.count(b"\r\n"), "a line ends without CR"


def expected_rows(bookings, sub=lambda s: s):
    rows = []
    for b, (name, memo, age) in zip(bookings, VALUES):
        rows.append([b["id"], b["starts_at"], b["ends_at"], b["status"], b["email"],
                     sub(excel_cell(name)), excel_cell(memo), "" if age is None else str(age),
                     b["created_at"]])
    return rows


def test_utf8_with_bom_names_and_values(make_event):
    ev = make_event(fields=FIELDS)
    bookings = book(ev)
    r = download(ev.stack.client, ev.slug)
    assert r.status == 200, r
    assert r.headers["content-type"] == "text/csv; charset=utf-8", r.headers
    assert r.headers["content-disposition"] == 'attachment; filename="%s.csv"' % ev.slug
    assert r.headers.get("transfer-encoding") == "chunked", r.headers
    assert "content-length" not in r.headers
    assert r.body.startswith(b"\xef\xbb\xbf"), r.body[:10]
    check_crlf(r.body)
    rows = read_rows(r.body, "utf-8-sig")
    assert rows[0] == HEAD_NAMES
    assert rows[1:] == expected_rows(bookings)
    # the formula prefix is really in the file, inside the quoting where there is one
    assert b"'=1+1" in r.body and b",'@x," in r.body and b",'-3," in r.body
    assert '"山田, 太郎","say ""hi"""'.encode() in r.body
    assert "'+81 3".encode() in r.body
    # explicit utf-8 is the same file
    r2 = download(ev.stack.client, ev.slug, "?encoding=utf-8")
    assert r2.status == 200 and r2.body == r.body


def test_labels_in_lang(make_event):
    ev = make_event(fields=FIELDS)
    bookings = book(ev)
    for lang, head in (("ja", HEAD_JA), ("en", HEAD_EN)):
        r = download(ev.stack.client, ev.slug, "?lang=" + lang)
        assert r.status == 200, r
        rows = read_rows(r.body, "utf-8-sig")
        assert rows[0] == head, (lang, rows[0])
        assert rows[1:] == expected_rows(bookings), lang


def test_cp932_without_bom_and_substitute(make_event):
    ev = make_event(fields=FIELDS)
    bookings = book(ev)
    for lang, head in (("", HEAD_NAMES), ("ja", HEAD_JA), ("en", HEAD_EN)):
        q = "?encoding=cp932" + ("&lang=" + lang if lang else "")
        r = download(ev.stack.client, ev.slug, q)
        assert r.status == 200, r
        assert r.headers["content-type"] == "text/csv; charset=Windows-31J", r.headers
        # one file name per variant, so that two downloads do not overwrite each other
        assert r.headers["content-disposition"] == 'attachment; filename="%s%s-cp932.csv"' % (
            ev.slug, "-" + lang if lang else "")
        assert not r.body.startswith(b"\xef\xbb\xbf")
        check_crlf(r.body)
        rows = read_rows(r.body, "cp932")
        assert rows[0] == head
        # 髙 is in CP932 (0xFBFC) and stays; 🍣 is not and becomes 〓
        assert rows[1:] == expected_rows(bookings, lambda s: s.replace("🍣", "〓"))
        # (glibc writes 髙 as the IBM code 0xFBFC, Python as NEC's 0xEEE0: both read as 髙)
        assert b"\xfb\xfc" in r.body and "〓".encode("cp932") in r.body


def test_many_rows_across_pages(make_event):
    """More rows than a page (1000): every one, once, in id order."""
    ev = make_event(fields=FIELDS)
    st = ev.stack
    st.psql("INSERT INTO bookings (request_id, event_id, slot_id, email, identity, fields,"
            " token_hash, limit_one) SELECT 'csv-%s-' || g, %d, %s, 'p' || g || '@example.com',"
            " 'p' || g, jsonb_build_object('name', '人' || g, 'age', g::text), 'x', false"
            " FROM generate_series(1, 2345) g" % (ev.slug, ev.id, ev.slot_ids[0]))
    r = download(st.client, ev.slug, "?encoding=cp932&lang=ja")
    assert r.status == 200, r
    rows = read_rows(r.body, "cp932")
    assert rows[0] == HEAD_JA
    assert len(rows) == 1 + 2345
    ids = [int(x[0]) for x in rows[1:]]
    assert ids == sorted(ids) and len(set(ids)) == 2345
    assert [x[5] for x in rows[1:]] == ["人%d" % g for g in range(1, 2346)]
    assert [x[7] for x in rows[1:]] == [str(g) for g in range(1, 2346)]


def test_no_bookings_header_only(make_event):
    ev = make_event(fields=FIELDS)
    r = download(ev.stack.client, ev.slug, "?lang=en")
    assert r.status == 200, r
    assert r.body == b"\xef\xbb\xbf" + ",".join(HEAD_EN).encode() + b"\r\n"


def test_refusals(make_event):
    ev = make_event(fields=FIELDS)
    c = ev.stack.client
    path = "/v1/admin/events/%s/bookings.csv" % ev.slug
    r = c.get(path)
    assert r.status == 401 and r.error == "unauthorized", r
    r = c.get(path, headers={"Authorization": "Bearer " + "x" * 40})
    assert r.status == 401 and r.error == "unauthorized", r
    r = download(c, "no-such-event-csv")
    assert r.status == 404 and r.error == "not_found", r
    for q, field in (("?lang=fr", "lang"), ("?encoding=latin1", "encoding"),
                     ("?encoding=shift_jis", "encoding"), ("?lang=" + "j" * 20, "lang")):
        r = download(c, ev.slug, q)
        assert r.status == 422 and r.error == "invalid_fields", (q, r)
        assert r.json["errors"] == [{"field": field, "reason": "unknown_option"}], r
    r = c.post(path, {}, admin=True)
    assert r.status == 405 and r.error == "method_not_allowed", r
    assert r.headers["allow"] == "GET, HEAD", r.headers


def test_head_and_connection_reuse(make_event):
    """HEAD: the GET's head, no body; the kept-alive connection then serves the next request."""
    ev = make_event(fields=FIELDS)
    book(ev)
    st = ev.stack
    host, port = st.client.host, st.client.port
    s = socket.create_connection((host, port), timeout=10)
    try:
        auth = "Authorization: Bearer %s\r\n" % st.client.admin_token
        s.sendall(("HEAD /v1/admin/events/%s/bookings.csv?encoding=cp932 HTTP/1.1\r\nHost: t\r\n%s"
                   "\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" % (ev.slug, auth)).encode())
        data = b""
        while data.count(b"\r\n\r\n") < 2:
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 "), head
        assert b"\r\nContent-Type: text/csv; charset=Windows-31J\r\n" in head, head
        assert b"\r\nTransfer-Encoding: chunked\r\n" in head, head
        # the very next bytes are the /healthz answer: the HEAD carried no body
        assert rest.startswith(b"HTTP/1.1 200 "), rest[:80]
    finally:
        s.close()
