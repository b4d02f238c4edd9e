"""Mail (contract §3, §4): yoyaku-notifier against a real SMTP server (aiosmtpd, see smtp_fixture.py)
that can answer 451, drop connections or answer slowly. Bookings and cancellations go through HTTP
and the worker writes their outbox rows (the notifier writes a booking's reminder row when it settles
its confirmation); only the crash, concurrency, injection and backdated-booking tests write bookings
straight into PostgreSQL (many at once, or values the ingress would refuse)."""

import contextlib
import datetime
import email.header
import email.utils
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid

import pytest

import ykstack
from minipg import MiniPg
from smtp_fixture import SmtpServer
from ykstack import Proc, binary, resolve, wait_until

JA_DOW = "月火水木金土日"
DOMAIN = "yoyaku.invalid"   # YOYAKU_PUBLIC_URL is http://127.0.0.1:<port>: no DNS name to use

# YOYAKU_TEST_NOTIFIER: another yoyaku-notifier binary for this module (e.g. an ASan build of it
# alone, while the rest of the stack runs from YOYAKU_BUILD_DIR).
NOTIFIER = os.environ.get("YOYAKU_TEST_NOTIFIER") or str(binary("yoyaku-notifier"))

# Fast retries and short leases so that failures and crashes play out in seconds.
RIG_ENV = {
    "YOYAKU_MAIL_BACKOFF_MS": "200",
    "YOYAKU_MAIL_BACKOFF_MAX_MS": "1000",
    "YOYAKU_MAIL_LEASE_S": "4",
    "YOYAKU_SMTP_TIMEOUT_MS": "1500",
    "YOYAKU_MAIL_POLL_MS": "200",
    "YOYAKU_MAIL_MAX_ATTEMPTS": "40",
    "YOYAKU_MAIL_DRAIN_MS": "3000",
}


class MailRig:
    """The SMTP server plus the notifiers of this module (the stack's own notifier, which sends to
    the stack's sink, is stopped while this module runs and started again afterwards)."""

    def __init__(self, stack, smtp):
        self.stack = stack
        self.smtp = smtp
        self.seq = 0
        self.main = None

    def env(self, **extra):
        env = self.stack.notifier_env()
        env.update(RIG_ENV)
        env.update({"YOYAKU_SMTP_URL": self.smtp.url,
                    "YOYAKU_PUBLIC_URL": "http://127.0.0.1:%d" % self.stack.http_port,
                    "YOYAKU_METRICS_LISTEN": "127.0.0.1:%d" % ykstack.free_port()})
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def start(self, **extra):
        self.seq += 1
        env = self.env(**extra)
        p = self.stack._spawn("notifier-mail-%d" % self.seq, [NOTIFIER], env)
        p.metrics_port = int(env["YOYAKU_METRICS_LISTEN"].rsplit(":", 1)[1])
        wait_until(lambda: self._healthy(p), 20, 0.05, what="notifier /healthz")
        return p

    def _healthy(self, p):
        if not p.alive():
            raise AssertionError("notifier exited:\n" + p.log_text()[-3000:])
        try:
            return ykstack.Client("127.0.0.1", p.metrics_port, timeout=2).get("/healthz").status == 200
        except OSError:
            return False

    def stop(self, p):
        rc = p.stop(signal.SIGTERM, timeout=20)
        assert rc == 0, "notifier exited with %s on SIGTERM:\n%s" % (rc, p.log_text()[-3000:])

    @contextlib.contextmanager
    def only(self, **extra):
        """Runs a notifier with other settings in place of the module's one."""
        self.stop(self.main)
        p = self.start(**extra)
        try:
            yield p
        finally:
            if p.alive():
                self.stop(p)
            self.main = self.start()

    def metrics(self, p=None):
        p = p or self.main
        r = ykstack.Client("127.0.0.1", p.metrics_port).get("/metrics")
        assert r.status == 200, r
        return r.body.decode()

    # -- outbox ----------------------------------------------------------------------------------

    def expect_row(self, booking_id, kind):
        """The worker's outbox row: committed with the booking change, so there by the answer."""
        row = self.row(booking_id, kind)
        assert row is not None, "no %s row for booking %s" % (kind, booking_id)
        return row

    def add_row(self, booking_id, kind):
        self.stack.psql("INSERT INTO mail_outbox (booking_id, kind) VALUES (%d, '%s'); "
                        "NOTIFY yk_outbox" % (int(booking_id), kind))

    def row(self, booking_id, kind):
        rows = self.stack.psql("SELECT status, attempts, extract(epoch FROM due_at), last_error, "
                               "sent_at IS NOT NULL FROM mail_outbox WHERE booking_id = %d AND "
                               "kind = '%s'" % (int(booking_id), kind))
        if not rows:
            return None
        s, a, due, err, sent = rows[0]
        return {"status": s, "attempts": int(a), "due": float(due), "error": err, "sent": sent == "t"}

    def wait_status(self, booking_id, kind, status, timeout=30):
        return wait_until(lambda: (self.row(booking_id, kind) or {}).get("status") == status and
                          self.row(booking_id, kind), timeout, 0.1,
                          what="%s mail of booking %s %s" % (kind, booking_id, status))

    def wait_row(self, booking_id, kind, timeout=30):
        return wait_until(lambda: self.row(booking_id, kind), timeout, 0.05,
                          what="%s row of booking %s" % (kind, booking_id))

    def insert_booking(self, event, created_at="now()", status="confirmed"):
        """One booking written straight into PostgreSQL (created_at may be backdated); its id."""
        tag = uuid.uuid4().hex[:10]
        rows = self.stack.psql(
            "INSERT INTO bookings (request_id, event_id, slot_id, status, email, identity, fields, "
            "token_hash, limit_one, created_at) VALUES ('direct-%s', %d, %s, '%s', "
            "'direct-%s@example.com', 'direct-%s', '{}', repeat('0', 64), false, %s) RETURNING id"
            % (tag, event.id, event.slot_ids[0], status, tag, tag, created_at))
        return int([r for r in rows if r[0].isdigit()][0][0])

    def mid(self, booking_id, kind):
        return "<booking-%s-%s@%s>" % (booking_id, kind, DOMAIN)

    def wait_mail(self, booking_id, kind, timeout=30):
        mid = self.mid(booking_id, kind)
        return self.smtp.wait_for(lambda m: m.message_id == mid, timeout=timeout, what=mid)[0]

    def bulk_bookings(self, event, n, kind="confirmation"):
        """n bookings written straight into PostgreSQL (no worker involved, large slot), each with an
        outbox row of kind due now. Returns their ids."""
        tag = uuid.uuid4().hex[:10]
        rows = self.stack.psql(
            "WITH b AS (INSERT INTO bookings (request_id, event_id, slot_id, email, identity, fields, "
            "token_hash, limit_one) SELECT 'bulk-%s-' || g, %d, %s, 'bulk-%s-' || g || '@example.com', "
            "'bulk-%s-' || g, jsonb_build_object('name', '一括 ' || g), repeat('0', 64), false "
            "FROM generate_series(1, %d) g RETURNING id) "
            "INSERT INTO mail_outbox (booking_id, kind) SELECT id, '%s' FROM b RETURNING booking_id"
            % (tag, event.id, event.slot_ids[0], tag, tag, n, kind))
        self.stack.psql("NOTIFY yk_outbox")
        return [int(r[0]) for r in rows if r[0].isdigit()]   # psql adds "INSERT 0 n"


@pytest.fixture(scope="module")
def rig(stack):
    smtp = SmtpServer().start()
    own = stack.notifier
    if own is not None and own.alive():
        assert own.stop(signal.SIGTERM, timeout=20) == 0, own.log_text()[-3000:]
    r = MailRig(stack, smtp)
    r.main = r.start()
    yield r
    for p in stack.procs:
        if p.name.startswith("notifier-mail-") and p.alive():
            r.stop(p)
    smtp.stop()
    if own is not None:
        env = stack.notifier_env()
        p = stack._spawn("notifier", [binary("yoyaku-notifier")], env)
        p.metrics_port = int(env["YOYAKU_METRICS_LISTEN"].rsplit(":", 1)[1])
        stack.notifier = p
        wait_until(lambda: r._healthy(p), 20, 0.05, what="the stack's notifier back")


@pytest.fixture(autouse=True)
def _smtp_ok(request):
    """Each test that uses the rig starts and ends with a well-behaved SMTP server."""
    if "rig" not in request.fixturenames:
        yield
        return
    rig = request.getfixturevalue("rig")
    rig.smtp.mode, rig.smtp.delay = "ok", 0.0
    yield
    rig.smtp.mode, rig.smtp.delay = "ok", 0.0


def book(event, **kw):
    r = event.reserve(**kw)
    body = resolve(event.stack.client, r)
    assert "booking" in body, body
    return body["booking"], body.get("token")


def cancel(stack, booking_id, token):
    r = stack.client.post("/v1/bookings/%s/cancel" % booking_id, None,
                          headers={"X-Booking-Token": token})
    body = resolve(stack.client, r)
    assert body.get("booking", {}).get("status") == "cancelled", (r, body)


def ja_date(d):
    return "%d年%d月%d日(%s)" % (d.year, d.month, d.day, JA_DOW[d.isoweekday() - 1])


def en_date(d):
    return "%s, %d %s %d" % (d.strftime("%A"), d.day, d.strftime("%B"), d.year)


def part(msg, ctype):
    parts = [p for p in msg.walk() if p.get_content_type() == ctype]
    return parts[0] if parts else None


def cancel_link(text):
    m = re.search(r"(http://\S+/bookings/(\d+)\?token=([A-Za-z0-9_-]+))", text)
    assert m, "no cancel link in:\n" + text
    return m.group(1), m.group(2), m.group(3)


def counter(metrics, kind, result):
    m = re.search(r'^yoyaku_mail_sent_total\{kind="%s",result="%s"\} (\S+)$' % (kind, result),
                  metrics, re.M)
    return float(m.group(1)) if m else 0.0


# ---------------------------------------------------------------------------------------------------


def test_confirmation_mail(stack, rig, make_event):
    ev = make_event(title="接種会場 予約テスト", venue="市民会館 2階 ホール", description="")
    ev_title = ev.definition["title"]
    bk, token = book(ev, fields={"name": "予約 花子"})
    rig.expect_row(bk["id"], "confirmation")
    m = rig.wait_mail(bk["id"], "confirmation")
    raw = m.raw.decode("ascii")   # 7-bit on the wire: encoded words and base64 only
    msg = m.msg

    # headers
    start = datetime.datetime.fromisoformat(bk["starts_at"])
    subject = "【予約確定】%s %s 09:00〜09:30" % (ev_title, ja_date(start.date()))
    assert msg["Subject"] == subject
    subject_raw = re.search(r"^Subject: (.*(?:\r\n[ \t].*)*)", raw, re.M).group(1)
    assert subject_raw.startswith("=?UTF-8?B?"), subject_raw
    assert msg["Message-ID"] == "<booking-%s-confirmation@%s>" % (bk["id"], DOMAIN)
    assert msg["From"] == "yoyaku <noreply@yoyaku.invalid>"
    assert msg["To"] == bk["email"]
    assert m.rcpt_tos == [bk["email"]]
    assert m.mail_from == "noreply@yoyaku.invalid"
    sent = email.utils.parsedate_to_datetime(msg["Date"])
    assert abs(sent.timestamp() - time.time()) < 300
    assert msg["MIME-Version"] == "1.0"
    assert msg.get_content_type() == "multipart/mixed"

    # body: UTF-8 text with the booking in the event's local time and the cancel link
    text_part = part(msg, "text/plain")
    assert text_part.get_content_charset() == "utf-8"
    text = text_part.get_content()
    assert "予約 花子 様" in text
    assert ev_title in text and "市民会館 2階 ホール" in text
    assert "%s 09:00〜09:30" % ja_date(start.date()) in text
    assert "予約番号: %s" % bk["id"] in text
    link, link_id, link_token = cancel_link(text)
    assert link == "http://127.0.0.1:%d/bookings/%s?token=%s" % (stack.http_port, bk["id"], link_token)
    assert link_id == bk["id"]
    if token is not None:
        assert link_token == token
    page = stack.client.get(urllib.parse.urlsplit(link).path)   # the booker's page it opens
    assert page.status == 200 and page.headers["content-type"].startswith("text/html"), page
    r = stack.client.get("/v1/bookings/%s" % bk["id"], headers={"X-Booking-Token": link_token})
    assert r.status == 200, r
    assert r.json["booking"]["id"] == bk["id"]
    r = stack.client.get("/v1/bookings/%s" % bk["id"], headers={"X-Booking-Token": "x" * 43})
    assert r.status == 404, r

    # iCalendar attachment
    cal = part(msg, "text/calendar")
    assert cal is not None
    assert cal.get_param("method") == "PUBLISH"
    assert cal.get_filename() == "booking.ics"
    ics = cal.get_content()
    if isinstance(ics, bytes):
        ics = ics.decode("utf-8")
    unfolded = ics.replace("\r\n ", "")
    assert "METHOD:PUBLISH" in unfolded
    assert "UID:booking-%s@%s" % (bk["id"], DOMAIN) in unfolded
    utc = start.astimezone(datetime.timezone.utc)
    assert "DTSTART:%s" % utc.strftime("%Y%m%dT%H%M%SZ") in unfolded
    assert "SUMMARY:%s" % ev_title in unfolded
    assert "LOCATION:市民会館 2階 ホール" in unfolded
    assert "token=" not in unfolded    # calendars get shared; the link stays in the mail

    row = rig.wait_status(bk["id"], "confirmation", "sent")
    assert row["sent"] and row["attempts"] == 1
    assert counter(rig.metrics(), "confirmation", "sent") >= 1
    time.sleep(0.5)
    assert len(rig.smtp.by_message_id(msg["Message-ID"])) == 1


def test_english_event(stack, rig, make_event):
    ev = make_event(lang="en", title="Flu shots", venue="Town hall")
    bk, _ = book(ev, fields={"name": "Alex Smith"})
    rig.expect_row(bk["id"], "confirmation")
    msg = rig.wait_mail(bk["id"], "confirmation").msg
    d = datetime.datetime.fromisoformat(bk["starts_at"]).date()
    assert msg["Subject"] == "Booking confirmed: Flu shots, %s 09:00–09:30" % en_date(d)
    text = part(msg, "text/plain").get_content()
    assert "Dear Alex Smith," in text and "Town hall" in text
    assert msg["Content-Language"] == "en"


def subject_lines(raw):
    """The Subject header as it went over the wire: its lines, the first with "Subject: "."""
    m = re.search(r"^(Subject: [^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", raw, re.M)
    assert m, raw[:2000]
    return m.group(1).split("\r\n")


def ics_event(msg):
    """The VEVENT of the mail's calendar part, read by the icalendar package (None if it is not
    installed: python3-icalendar, deploy/local/packages.txt)."""
    try:
        import icalendar
    except ImportError:
        return None
    data = part(msg, "text/calendar").get_content()
    cal = icalendar.Calendar.from_ical(data if isinstance(data, bytes) else data.encode("utf-8"))
    events = [c for c in cal.walk() if c.name == "VEVENT"]
    assert len(events) == 1, cal
    return events[0]


@pytest.mark.parametrize("lang,title", [
    ("ja", "市民会館 大ホール 秋の特別公演「音楽の夕べ」〜オーケストラと合唱による名曲の調べ〜 第三十二回定期演奏会 指定席"),
    ("en", "Autumn special concert: an evening of music with the city orchestra and choir, "
           "thirty-second season subscription series, reserved seating, doors open 30 minutes early"),
])
def test_long_subject_is_folded(stack, rig, make_event, lang, title):
    """RFC 2047: encoded words of at most 75 characters, lines of at most 76, folded with CRLF and a
    space, never splitting a character; Python's e-mail parser (policy=default) reads back the
    subject exactly."""
    ev = make_event(lang=lang, title=title, venue="Hall")
    bk, _ = book(ev)
    m = rig.wait_mail(bk["id"], "confirmation")
    d = datetime.datetime.fromisoformat(bk["starts_at"]).date()
    expected = ("【予約確定】%s %s 09:00〜09:30" % (title, ja_date(d)) if lang == "ja" else
                "Booking confirmed: %s, %s 09:00–09:30" % (title, en_date(d)))
    assert m.msg["Subject"] == expected
    lines = subject_lines(m.raw.decode("ascii"))
    assert len(lines) > 2, lines
    for i, line in enumerate(lines):
        assert len(line) <= 76, (i, len(line), line)
        assert i == 0 or line.startswith(" "), line
        for w in re.findall(r"=\?[^?]+\?[BQbq]\?[^?]*\?=", line):
            assert len(w) <= 75, w
            # each word decodes to whole characters on its own
            email.header.decode_header(w)[0][0].decode("utf-8")
    assert "".join(email.header.decode_header(w)[0][0].decode("utf-8") for w in
                   re.findall(r"=\?[^?]+\?[BQbq]\?[^?]*\?=", "".join(lines))) == expected
    vevent = ics_event(m.msg)
    if vevent is not None:
        assert str(vevent["SUMMARY"]) == title


def test_no_empty_where_line_without_venue(stack, rig, make_event):
    """An event without a venue: no "Where:" / "会場:" line (nor a LOCATION), in both languages."""
    for lang, label in (("en", "Where:"), ("ja", "会場:")):
        ev = make_event(lang=lang, title="No venue " + lang)
        bk, _ = book(ev)
        msg = rig.wait_mail(bk["id"], "confirmation").msg
        text = part(msg, "text/plain").get_content()
        assert label not in text, text
        assert ("When:" if lang == "en" else "日時:") in text
        vevent = ics_event(msg)
        if vevent is not None:
            assert "LOCATION" not in vevent
    ev = make_event(lang="en", title="With venue", venue="Town hall")
    bk, _ = book(ev)
    msg = rig.wait_mail(bk["id"], "confirmation").msg
    assert re.search(r"^  Where: +Town hall\r?$", part(msg, "text/plain").get_content(), re.M)
    vevent = ics_event(msg)
    if vevent is not None:
        assert str(vevent["LOCATION"]) == "Town hall"


def test_booking_inside_cancel_window_promises_no_past_deadline(stack, rig, make_event):
    """A slot tomorrow, cancel_until_hours 48: the deadline passed yesterday. The confirmation gives
    no deadline and says that online cancellation is over (ja and en); the link still shows the
    booking. A deadline still ahead is given."""
    now = datetime.datetime.now(ykstack.JST)
    for lang, gone, said in (("ja", "までに", "オンラインでのキャンセル受付は終了しました"),
                             ("en", "cancel before", "can no longer be cancelled online")):
        ev = make_event(day=1, lang=lang, title="締切後 " + lang, cancel_until_hours=48)
        bk, _ = book(ev)
        text = part(rig.wait_mail(bk["id"], "confirmation").msg, "text/plain").get_content()
        assert gone not in text, text
        assert said in text, text
        assert cancel_link(text)[1] == bk["id"]
        yesterday = (now - datetime.timedelta(days=1)).date()
        assert (ja_date(yesterday) if lang == "ja" else en_date(yesterday)) not in text
    ev = make_event(day=30, lang="en", title="Deadline ahead", cancel_until_hours=48)
    bk, _ = book(ev)
    text = part(rig.wait_mail(bk["id"], "confirmation").msg, "text/plain").get_content()
    start = datetime.datetime.fromisoformat(bk["starts_at"])
    assert "cancel before %s, 09:00" % en_date((start - datetime.timedelta(hours=48)).date()) in text
    assert "no longer" not in text


def test_notify_wakes_the_notifier(stack, rig, make_event):
    """With polling all but off (one look at start, then hourly), the worker's statements' single
    NOTIFY yk_outbox is what brings the confirmation and the cancellation out within moments."""
    ev = make_event(title="通知テスト")
    with rig.only(YOYAKU_MAIL_POLL_MS=3600000):
        time.sleep(0.5)   # past the notifier's first look at the outbox
        t0 = time.time()
        bk, token = book(ev)
        m = rig.wait_mail(bk["id"], "confirmation", timeout=10)
        assert m.at - t0 < 5, "confirmation %.1f s after the booking" % (m.at - t0)
        rig.wait_status(bk["id"], "confirmation", "sent")
        t0 = time.time()
        cancel(stack, bk["id"], token)
        m = rig.wait_mail(bk["id"], "cancellation", timeout=10)
        assert m.at - t0 < 5, "cancellation %.1f s after the cancel" % (m.at - t0)


def test_cancellation_mail(stack, rig, make_event):
    ev = make_event(title="キャンセル テスト")
    bk, token = book(ev)
    rig.expect_row(bk["id"], "confirmation")
    first = rig.wait_mail(bk["id"], "confirmation")
    _, _, link_token = cancel_link(part(first.msg, "text/plain").get_content())
    cancel(stack, bk["id"], link_token)
    wait_until(lambda: stack.scalar("SELECT status FROM bookings WHERE id = %s" % bk["id"])
               == "cancelled", 20, what="booking cancelled")
    rig.expect_row(bk["id"], "cancellation")
    m = rig.wait_mail(bk["id"], "cancellation")
    d = datetime.datetime.fromisoformat(bk["starts_at"]).date()
    assert m.msg["Subject"] == "【キャンセル完了】%s %s 09:00〜09:30" % (ev.definition["title"], ja_date(d))
    assert m.msg["Message-ID"] == rig.mid(bk["id"], "cancellation")
    assert part(m.msg, "text/calendar") is None
    assert "予約番号: %s" % bk["id"] in part(m.msg, "text/plain").get_content()
    rig.wait_status(bk["id"], "cancellation", "sent")


def scan_png(data):
    """The text zbarimg (zbar-tools, in deploy/local/packages.txt) reads from a PNG image."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:16]
    with tempfile.TemporaryDirectory() as d:
        open(d + "/q.png", "wb").write(data)
        out = subprocess.run(["zbarimg", "-q", "--raw", d + "/q.png"], capture_output=True,
                             text=True, timeout=30)
    return out.stdout.strip()


def checkin_parts(msg):
    """The check-in QR image part of a mail, checked for how it is attached; None when absent."""
    png = part(msg, "image/png")
    if png is not None:
        assert png.get_content_disposition() == "inline", png["Content-Disposition"]
        assert png.get_filename() == "checkin.png"
        assert png["Content-Transfer-Encoding"] == "base64"
    return png


@pytest.mark.parametrize("lang,label", [("ja", "受付コード: "), ("en", "Check-in code:  ")])
def test_checkin_code_and_qr_in_confirmation_and_reminder(stack, rig, make_event, lang, label):
    """Contract §3: the confirmation and the reminder carry the booking's check-in code and its QR
    image (a PNG, since mail readers do not show SVG); the iCalendar part is still there; a
    cancellation carries neither."""
    ev = make_event(title="受付コード " + lang, lang=lang)
    bk, token = book(ev)
    code = bk["checkin_code"]
    assert re.fullmatch(r"YK1-%s-[0-9A-Z]{6}" % bk["id"], code), bk
    rig.expect_row(bk["id"], "confirmation")
    first = rig.wait_mail(bk["id"], "confirmation")
    stack.psql("UPDATE mail_outbox SET due_at = now() WHERE booking_id = %s AND kind = 'reminder'; "
               "NOTIFY yk_outbox" % bk["id"])
    rig.wait_row(bk["id"], "reminder")
    stack.psql("UPDATE mail_outbox SET due_at = now() WHERE booking_id = %s AND kind = 'reminder'; "
               "NOTIFY yk_outbox" % bk["id"])
    second = rig.wait_mail(bk["id"], "reminder")
    for m in (first, second):
        assert m.msg.get_content_type() == "multipart/mixed"
        assert label + code in part(m.msg, "text/plain").get_content(), m.msg
        png = checkin_parts(m.msg)
        assert png is not None, m.msg
        assert scan_png(png.get_content()) == code
        assert ics_event(m.msg) is not None
    cancel(stack, bk["id"], token)
    m = rig.wait_mail(bk["id"], "cancellation")
    assert checkin_parts(m.msg) is None and code not in part(m.msg, "text/plain").get_content()


def test_reminder_at_due_time_and_none_when_cancelled(stack, rig, make_event):
    """The one slow test: a reminder 15 to 75 s away (the next whole minute at least 15 s off:
    reminder times are whole minutes), sent at that time, not before; the reminder of a booking
    cancelled meanwhile is never sent."""
    tz = ykstack.JST
    due = (datetime.datetime.now(tz) + datetime.timedelta(seconds=75)).replace(second=0,
                                                                            microsecond=0)
    slot_day = (due.date() - datetime.datetime.now(tz).date()).days + 1
    ev = make_event(title="リマインダー テスト", day=slot_day, cancel_until_hours=0,
                    reminder={"days_before": 1, "at": due.strftime("%H:%M")})
    keep, _ = book(ev)
    gone, gone_token = book(ev)
    for b in (keep, gone):
        rig.expect_row(b["id"], "confirmation")
        rig.wait_mail(b["id"], "confirmation")
        rig.wait_row(b["id"], "reminder")   # written with the confirmation's outcome
    row = rig.row(keep["id"], "reminder")
    assert row["status"] == "pending"
    assert abs(row["due"] - due.timestamp()) < 1, (row, due)
    assert 5 < row["due"] - time.time() <= 76

    if gone_token is None:
        _, _, gone_token = cancel_link(part(rig.wait_mail(gone["id"], "confirmation").msg,
                                            "text/plain").get_content())
    cancel(stack, gone["id"], gone_token)
    wait_until(lambda: stack.scalar("SELECT status FROM bookings WHERE id = %s" % gone["id"])
               == "cancelled", 20, what="booking cancelled")

    m = rig.wait_mail(keep["id"], "reminder", timeout=150)
    assert m.at >= due.timestamp() - 0.5, "reminder sent %.1f s early" % (due.timestamp() - m.at)
    assert m.at <= due.timestamp() + 10
    d = datetime.datetime.fromisoformat(keep["starts_at"]).date()
    assert m.msg["Subject"] == "【リマインダー】%s %s 09:00〜09:30" % (ev.definition["title"], ja_date(d))
    cal = part(m.msg, "text/calendar")
    assert cal is not None and cal.get_param("method") == "PUBLISH"
    ics = cal.get_content()
    ics = ics.decode() if isinstance(ics, bytes) else ics
    assert "UID:booking-%s@%s" % (keep["id"], DOMAIN) in ics.replace("\r\n ", "")

    row = rig.wait_status(gone["id"], "reminder", "cancelled", timeout=10)
    assert not row["sent"]
    time.sleep(1)
    assert rig.smtp.by_message_id(rig.mid(gone["id"], "reminder")) == []


def test_status_rechecked_at_send_time(stack, rig, make_event):
    """Rows of a booking cancelled behind the worker's back (the worker cancels the reminder itself;
    the notifier checks again when it claims): reminder and confirmation are not sent, the
    cancellation is."""
    ev = make_event(capacities=[1000], title="再確認テスト")
    tag = uuid.uuid4().hex[:10]
    bid = int([r for r in stack.psql(
        "INSERT INTO bookings (request_id, event_id, slot_id, status, email, identity, fields, "
        "token_hash, limit_one) VALUES ('recheck-%s', %d, %s, 'cancelled', 'recheck-%s@example.com', "
        "'recheck-%s', '{}', repeat('0', 64), false) RETURNING id"
        % (tag, ev.id, ev.slot_ids[0], tag, tag)) if r[0].isdigit()][0][0])
    cancelled_before = counter(rig.metrics(), "reminder", "cancelled")
    for kind in ("reminder", "confirmation", "cancellation"):
        rig.add_row(bid, kind)
    rig.wait_mail(bid, "cancellation")
    rig.wait_status(bid, "reminder", "cancelled")
    rig.wait_status(bid, "confirmation", "cancelled")
    rig.wait_status(bid, "cancellation", "sent")
    assert counter(rig.metrics(), "reminder", "cancelled") == cancelled_before + 1
    time.sleep(0.5)
    assert not rig.smtp.by_message_id(rig.mid(bid, "reminder"))
    assert not rig.smtp.by_message_id(rig.mid(bid, "confirmation"))


# Room for an SMTP server that answers DATA after seconds, so that a booking can be cancelled while
# its confirmation is on the wire.
SLOW_SMTP_ENV = {"YOYAKU_SMTP_TIMEOUT_MS": "10000", "YOYAKU_MAIL_LEASE_S": "30"}


def reminder_due(ev, days_before=1, at=(10, 0)):
    """Unix time of the reminder of ev's first slot (the tests' events are in Asia/Tokyo)."""
    start = datetime.datetime.fromisoformat(ev.slots[0]["starts_at"]).astimezone(ykstack.JST)
    d = start.date() - datetime.timedelta(days=days_before)
    return datetime.datetime(d.year, d.month, d.day, at[0], at[1], tzinfo=ykstack.JST).timestamp()


def test_reminder_row_written_when_confirmation_sent_or_dead(stack, rig, make_event):
    """The worker writes the confirmation job only; the notifier writes the reminder job (due
    reminder.days_before days before the slot at reminder.at) in the statement that settles the
    confirmation: sent, dead after a 5xx, or dead at claim after max_attempts claims."""
    ev = make_event(title="リマインダー作成", reminder={"days_before": 2, "at": "18:45"})
    due = reminder_due(ev, 2, (18, 45))
    sent, _ = book(ev)
    rig.wait_status(sent["id"], "confirmation", "sent")
    assert rig.row(sent["id"], "reminder")["status"] == "pending"   # same statement as "sent"
    assert rig.row(sent["id"], "reminder")["due"] == due

    rig.smtp.mode = "reject"                                        # 550: dead at once
    dead, _ = book(ev)
    rig.wait_status(dead["id"], "confirmation", "dead")
    assert rig.row(dead["id"], "reminder")["status"] == "pending"
    assert rig.row(dead["id"], "reminder")["due"] == due
    rig.smtp.mode = "ok"

    # claimed YOYAKU_MAIL_MAX_ATTEMPTS (40) times without an outcome: dead at the claim
    stale = rig.insert_booking(ev)
    rig.stack.psql("INSERT INTO mail_outbox (booking_id, kind, attempts) VALUES (%d, "
                   "'confirmation', 40); NOTIFY yk_outbox" % stale)
    rig.wait_status(stale, "confirmation", "dead")
    assert rig.row(stale, "reminder")["status"] == "pending"
    assert rig.row(stale, "reminder")["due"] == due
    for b in (sent["id"], dead["id"], stale):
        assert int(stack.scalar("SELECT count(*) FROM mail_outbox WHERE booking_id = %s" % b)) == 2


def test_reminder_already_due_when_written_is_sent(stack, rig, make_event):
    """A booking made yesterday whose confirmation is settled only now (the notifier was down):
    its reminder, due at 00:00 today, is written all the same and sent at once."""
    ev = make_event(day=1, title="遅延リマインダー", reminder={"days_before": 1, "at": "00:00"})
    due = reminder_due(ev, 1, (0, 0))
    assert due < time.time()
    bid = rig.insert_booking(ev, created_at="now() - interval '1 day'")
    rig.add_row(bid, "confirmation")
    rig.wait_mail(bid, "confirmation")
    m = rig.wait_mail(bid, "reminder", timeout=20)
    assert m.msg["Subject"].startswith("【リマインダー】遅延リマインダー")
    row = rig.wait_status(bid, "reminder", "sent")
    assert row["attempts"] == 1, row


def test_no_reminder_for_a_booking_made_after_its_reminder_time(stack, rig, make_event):
    """The decision (README, "Reminders"): a booking made after its reminder's time gets no
    reminder; its confirmation, sent at once, carries everything a reminder would."""
    ev = make_event(day=1, title="予約後リマインダー", reminder={"days_before": 1, "at": "00:00"})
    assert reminder_due(ev, 1, (0, 0)) < time.time()
    bk, _ = book(ev)
    rig.wait_mail(bk["id"], "confirmation")
    rig.wait_status(bk["id"], "confirmation", "sent")
    time.sleep(1)   # a few polls: nothing more is written or sent
    assert rig.row(bk["id"], "reminder") is None
    assert rig.smtp.by_message_id(rig.mid(bk["id"], "reminder")) == []


def test_no_reminder_once_the_slot_has_started(stack, rig, make_event):
    """A confirmation settled only after its slot started (the notifier was down for days) gets
    no reminder: it would arrive after the event."""
    ev = make_event(day=-1, title="開始後リマインダー", reminder={"days_before": 1, "at": "00:00"})
    bid = rig.insert_booking(ev, created_at="now() - interval '4 days'")
    rig.add_row(bid, "confirmation")
    rig.wait_status(bid, "confirmation", "sent")
    assert stack.scalar("SELECT count(*) FROM mail_outbox WHERE booking_id = %d AND kind = "
                        "'reminder'" % bid) == "0"


def test_no_reminder_when_cancelled_before_or_while_confirmation_settles(stack, rig, make_event):
    """Cancelled before the confirmation is claimed: the confirmation is settled cancelled and no
    reminder job is written. Cancelled while the confirmation is on the wire: it is delivered
    (the booking was confirmed when claimed), but its outcome finds the booking cancelled and
    writes no reminder job."""
    ev = make_event(title="取消リマインダー")
    rig.stop(rig.main)
    try:
        before, token = book(ev)
        cancel(stack, before["id"], token)
    finally:
        rig.main = rig.start()
    rig.wait_mail(before["id"], "cancellation")
    rig.wait_status(before["id"], "confirmation", "cancelled")

    with rig.only(**SLOW_SMTP_ENV):
        rig.smtp.delay = 3.0
        during, token = book(ev)
        wait_until(lambda: rig.row(during["id"], "confirmation")["attempts"] == 1, 10, 0.02,
                   what="confirmation claimed")
        cancel(stack, during["id"], token)
        assert rig.row(during["id"], "confirmation")["status"] == "pending", "sent before cancel"
        rig.wait_status(during["id"], "confirmation", "sent")
        rig.wait_mail(during["id"], "cancellation")
        time.sleep(0.5)
    for b in (before, during):
        assert rig.row(b["id"], "reminder") is None
        assert not rig.smtp.by_message_id(rig.mid(b["id"], "reminder"))


def test_reminder_written_concurrently_with_cancellation_is_never_sent(stack, rig, make_event):
    """The race the notifier's claim guards against: the worker's cancel statement has taken its
    snapshot (it waits for a row lock this test holds) when the confirmation's outcome writes the
    reminder job for the still-confirmed booking. The cancel then cannot see that row to cancel it;
    the row stays pending for a cancelled booking, and the claim settles it cancelled, unsent."""
    with rig.only(**SLOW_SMTP_ENV):
        reminder_race(stack, rig, make_event)


def reminder_race(stack, rig, make_event):
    ev = make_event(title="競合リマインダー")
    rig.smtp.delay = 4.0
    bk, token = book(ev)
    bid = int(bk["id"])
    wait_until(lambda: rig.row(bid, "confirmation")["attempts"] == 1, 10, 0.02,
               what="confirmation claimed")
    app = "yk-test-lock-%s" % uuid.uuid4().hex[:8]
    env = dict(os.environ, PGAPPNAME=app)
    locker = subprocess.Popen(["psql", "-h", str(stack.pg_sock), "-p", str(stack.pg_port), "-U",
                               "postgres", "-d", "yoyaku", "-X", "-q", "-v", "ON_ERROR_STOP=1"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    done, t = {}, None
    try:
        locker.stdin.write("BEGIN; SELECT 1 FROM bookings WHERE id = %d FOR UPDATE;\n" % bid)
        locker.stdin.flush()
        wait_until(lambda: stack.scalar("SELECT count(*) FROM pg_stat_activity WHERE "
                                        "application_name = '%s' AND state = 'idle in transaction'"
                                        % app) == "1", 10, 0.02, what="row lock held")
        t = threading.Thread(target=lambda: done.setdefault("r", cancel(stack, bid, token)))
        t.start()
        wait_until(lambda: int(stack.scalar(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE "
            "NOT l.granted AND a.application_name <> '%s'" % app)) > 0, 10, 0.02,
            what="the worker's cancel statement waiting for the row lock")
        assert rig.row(bid, "confirmation")["status"] == "pending", "settled before the cancel"
        rig.wait_status(bid, "confirmation", "sent")
        assert rig.row(bid, "reminder")["status"] == "pending"   # the booking looked confirmed
    finally:
        locker.stdin.write("COMMIT;\n")
        locker.stdin.close()
        locker.wait(10)
    if t is not None:
        t.join(30)
    assert "r" in done, "the cancellation was not answered"
    wait_until(lambda: stack.scalar("SELECT status FROM bookings WHERE id = %d" % bid)
               == "cancelled", 20, what="booking cancelled")
    row = rig.row(bid, "reminder")
    assert row["status"] == "pending", row   # the cancel statement could not see it
    rig.smtp.delay = 0.0
    stack.psql("UPDATE mail_outbox SET due_at = now() WHERE booking_id = %d AND kind = 'reminder'; "
               "NOTIFY yk_outbox" % bid)
    row = rig.wait_status(bid, "reminder", "cancelled")
    assert not row["sent"]
    rig.wait_mail(bid, "cancellation")
    time.sleep(0.5)
    assert not rig.smtp.by_message_id(rig.mid(bid, "reminder"))


@pytest.mark.parametrize("mode", ["tempfail", "tempfail_data", "drop"])
def test_smtp_failure_then_recovery(stack, rig, make_event, mode):
    """451 (at RCPT or after DATA) or dropped connections for a while: every mail arrives once the
    server recovers, exactly once, and nothing arrives while it fails."""
    ev = make_event(title="障害テスト " + mode)
    rig.smtp.mode = mode
    refused = rig.smtp.refused
    ids = [book(ev)[0]["id"] for _ in range(4)]
    for i in ids:
        rig.expect_row(i, "confirmation")
    wait_until(lambda: all(rig.row(i, "confirmation")["attempts"] >= 2 for i in ids), 20,
               what="two failed attempts at each mail")
    assert rig.smtp.refused > refused
    for i in ids:
        row = rig.row(i, "confirmation")
        assert row["status"] == "pending" and row["error"], row
        assert not rig.smtp.by_message_id(rig.mid(i, "confirmation"))
    assert counter(rig.metrics(), "confirmation", "retry") >= 1
    rig.smtp.mode = "ok"
    for i in ids:
        rig.wait_mail(i, "confirmation", timeout=20)
        rig.wait_status(i, "confirmation", "sent")
    time.sleep(0.5)
    for i in ids:
        assert len(rig.smtp.by_message_id(rig.mid(i, "confirmation"))) == 1


def test_permanent_refusal_and_max_attempts_are_dead(stack, rig, make_event):
    ev = make_event(title="配達不能テスト")
    with rig.only(YOYAKU_MAIL_MAX_ATTEMPTS=3) as p:
        rig.smtp.mode = "reject"   # 550 to RCPT: dead at once
        a = book(ev)[0]["id"]
        rig.expect_row(a, "confirmation")
        row = rig.wait_status(a, "confirmation", "dead")
        assert row["attempts"] == 1 and "550" in row["error"], row
        rig.smtp.mode = "tempfail"  # 451 every time: dead after 3 attempts
        b = book(ev)[0]["id"]
        rig.expect_row(b, "confirmation")
        row = rig.wait_status(b, "confirmation", "dead", timeout=20)
        assert row["attempts"] == 3 and "451" in row["error"], row
        metrics = rig.metrics(p)
        assert counter(metrics, "confirmation", "dead") == 2
        assert counter(metrics, "confirmation", "retry") == 2
        assert "mail dead" in p.log_text()
    rig.smtp.mode = "ok"
    time.sleep(0.5)
    assert rig.row(a, "confirmation")["status"] == "dead"   # never resent by a later notifier


def test_kill_9_mid_batch(stack, rig, make_event):
    """A notifier killed while sending: every mail still arrives (its rows come back when the lease
    lapses); a mail sent twice carries the same Message-ID both times."""
    ev = make_event(capacities=[100000], title="クラッシュ テスト")
    rig.smtp.delay = 0.03
    with rig.only(YOYAKU_MAIL_BATCH=40, YOYAKU_MAIL_PARALLEL=4) as victim:
        ids = rig.bulk_bookings(ev, 150)
        mids = {rig.mid(i, "confirmation") for i in ids}
        rig.smtp.wait_for(lambda m: m.message_id in mids, count=20, timeout=30, what="first mails")
        victim.signal(signal.SIGKILL)
        victim.popen.wait(10)
        claimed = int(stack.scalar("SELECT count(*) FROM mail_outbox WHERE status = 'pending' "
                                   "AND attempts > 0 AND due_at > now() AND booking_id IN (%s)"
                                   % ",".join(map(str, ids))))
        assert claimed > 0, "the kill came after the last claim"
        assert len(rig.smtp.received(lambda m: m.message_id in mids)) < len(ids)
    # rig.main runs again now and takes over once the dead notifier's leases lapse
    rig.smtp.delay = 0.0
    for i in ids:
        rig.wait_status(i, "confirmation", "sent", timeout=60)
    got = rig.smtp.received(lambda m: m.message_id in mids)
    assert {m.message_id for m in got} == mids
    by_id = {}
    for m in got:
        by_id.setdefault(m.message_id, []).append(m)
    for mid, ms in by_id.items():
        bodies = {part(m.msg, "text/plain").get_content() for m in ms}
        assert len(bodies) == 1, mid   # a resend is the same mail
    dups = sum(len(ms) - 1 for ms in by_id.values())
    assert dups <= 40, "more resends than one claim holds: %d" % dups


def test_two_notifiers_share_the_outbox(stack, rig, make_event):
    ev = make_event(capacities=[100000], title="並行テスト")
    second = rig.start()
    try:
        rig.smtp.delay = 0.01
        ids = rig.bulk_bookings(ev, 200)
        mids = {rig.mid(i, "confirmation") for i in ids}
        rig.smtp.wait_for(lambda m: m.message_id in mids, count=len(ids), timeout=60, what="all")
        time.sleep(0.5)
        got = rig.smtp.received(lambda m: m.message_id in mids)
        assert len(got) == len(ids), "a mail was sent twice without any crash"
        assert "mail sent" in second.log_text() and "mail sent" in rig.main.log_text()
    finally:
        rig.stop(second)


def test_header_injection(stack, rig, make_event):
    ev = make_event(capacities=[1000], title="ヘッダー テスト")
    # the ingress refuses CR/LF in any booker value
    for fields, mail in (({"name": "太郎\r\nBcc: evil@example.net"}, None),
                         ({"name": "太郎"}, "taro@example.com\r\nBcc: evil@example.net")):
        r = ev.reserve(fields=fields, mail=mail)
        assert r.status == 422, r
    # and should one reach the database anyway, it never reaches a header
    tag = uuid.uuid4().hex[:10]
    name = "太郎\r\nBcc: evil@example.net\r\nSubject: pwned"
    bad_mail = "victim-%s@example.com\r\nRCPT TO:<evil@example.net>" % tag
    rows = stack.psql(
        "INSERT INTO bookings (request_id, event_id, slot_id, email, identity, fields, token_hash, "
        "limit_one) VALUES ('inj-%s-1', %d, %s, 'ok-%s@example.com', 'inj-%s-1', %s::jsonb, "
        "repeat('0', 64), false), ('inj-%s-2', %d, %s, %s, 'inj-%s-2', '{}', repeat('0', 64), false) "
        "RETURNING id"
        % (tag, ev.id, ev.slot_ids[0], tag, tag, pg_literal(json.dumps({"name": name})),
           tag, ev.id, ev.slot_ids[0], pg_literal(bad_mail), tag))
    named, bad = [int(r[0]) for r in rows if r[0].isdigit()]
    dead_before = counter(rig.metrics(), "confirmation", "dead")
    for b in (named, bad):
        rig.add_row(b, "confirmation")
    m = rig.wait_mail(named, "confirmation")
    assert m.rcpt_tos == ["ok-%s@example.com" % tag]
    header_block = m.raw.split(b"\r\n\r\n", 1)[0]
    assert b"evil" not in header_block and b"pwned" not in header_block
    assert m.msg["Bcc"] is None
    assert m.msg["Subject"].startswith("【予約確定】ヘッダー テスト")
    assert "Bcc: evil@example.net" in part(m.msg, "text/plain").get_content()  # body only
    row = rig.wait_status(bad, "confirmation", "dead")
    assert "refused" in row["error"], row
    assert counter(rig.metrics(), "confirmation", "dead") == dead_before + 1
    assert not rig.smtp.received(lambda x: any("evil" in r for r in x.rcpt_tos))
    assert not rig.smtp.received(lambda x: "victim-" + tag in str(x.rcpt_tos))


def test_metrics_and_health(stack, rig):
    c = ykstack.Client("127.0.0.1", rig.main.metrics_port)
    assert c.get("/healthz").status == 200
    assert c.get("/readyz").status == 200
    assert c.get("/nope").status == 404
    text = rig.metrics()
    assert re.search(r'^yoyaku_build_info\{version="[^"]+",service="notifier"\} 1$', text, re.M)
    assert re.search(r"^yoyaku_mail_outbox_pending \d+$", text, re.M)
    for kind in ("confirmation", "reminder", "cancellation"):
        for result in ("sent", "retry", "dead", "cancelled"):
            assert re.search(r'^yoyaku_mail_sent_total\{kind="%s",result="%s"\} \d+$'
                             % (kind, result), text, re.M)
    assert "# TYPE yoyaku_mail_sent_total counter" in text


def pg_literal(s):
    return "'" + s.replace("'", "''") + "'"


def test_postgresql_restart():
    """PostgreSQL goes away mid-batch and comes back on the same port: the notifier reconnects
    both sessions (queries and LISTEN), writes the outcomes it could not write, and sends what
    arrives afterwards. Runs on its own PostgreSQL, not the shared stack's."""
    pg = MiniPg("yoyaku-mail-pgrestart-").start()
    smtp = SmtpServer().start()
    p = None
    try:
        env = {k: v for k, v in ykstack.os.environ.items() if not k.startswith("YOYAKU_")}
        env.update(RIG_ENV)
        env.update({"YOYAKU_PG": pg.conninfo, "YOYAKU_SMTP_URL": smtp.url,
                    "YOYAKU_METRICS_LISTEN": "", "YOYAKU_TOKEN_KEY": "ab" * 32,
                    "YOYAKU_MAIL_LEASE_S": "30", "YOYAKU_SMTP_TIMEOUT_MS": "5000"})
        smtp.delay = 0.05
        first = pg.seed(60, tag="before")
        p = Proc("notifier", [NOTIFIER], pg.dir / "logs/notifier.log", env=env)
        smtp.wait_for(lambda m: True, count=10, timeout=20, what="first mails")
        pg.stop()
        time.sleep(1.0)
        pg.start()
        smtp.delay = 0.0
        second = pg.seed(20, tag="after")
        every = {"<booking-%d-confirmation@%s>" % (i, DOMAIN) for i in first + second}
        smtp.wait_for(lambda m: m.message_id in every, count=len(every), timeout=30, what="all")
        wait_until(lambda: pg.psql("SELECT count(*) FROM mail_outbox WHERE kind = 'confirmation' "
                                   "AND status <> 'sent'") == "0", 20, 0.1, what="every row sent")
        # each settled confirmation brought its booking's reminder job (due in 29 days), the
        # outcomes written after the reconnect included
        assert pg.psql("SELECT count(*) FROM mail_outbox WHERE kind = 'reminder' AND status = "
                       "'pending' AND due_at > now() + interval '28 days'") == str(len(every))
        assert {m.message_id for m in smtp.received()} == every
        assert p.alive()
        assert p.stop(signal.SIGTERM, timeout=20) == 0
        log = p.log_text()
        assert "postgres connection lost" in log
        assert not any(mark in log for mark in ykstack.SANITIZER_MARKS), log[-6000:]
    finally:
        if p is not None and p.alive():
            p.stop(signal.SIGKILL)
        smtp.stop()
        pg.stop()
        pg.cleanup()
