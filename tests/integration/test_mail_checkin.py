"""Mail (contract §3): the confirmation and the reminder carry the booking's check-in code, printed in
the text (labelled in the event's language) and as an inline QR image (image/png, checkin.png) beside
the iCalendar attachment; the cancellation carries neither. The mails are the real ones the stack's
notifier sent to the stack's SMTP sink (deploy/local/smtp_sink.py, one .eml per mail in stack.mail),
parsed with Python's email package; the PNG is checked by its signature and IHDR and read back by
zbarimg. Beside test_mail.py's case (its own notifier and SMTP server), this one runs the stack's
notifier as deployed: its YOYAKU_TOKEN_KEY comes from the shared settings, so the code in the mail
equals the API's only if both read the same key."""

import shutil
import subprocess
import tempfile

import pytest

from ykstack import resolve, wait_until

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LABEL = {"ja": "受付コード: ", "en": "Check-in code:  "}


@pytest.fixture
def notifier(stack):
    if stack.notifier is None or not stack.notifier.alive():
        pytest.skip("the stack runs no notifier")
    return stack.notifier


def book(event, **kw):
    body = resolve(event.stack.client, event.reserve(**kw))
    assert "booking" in body, body
    return body["booking"], body.get("token")


def sent_mail(stack, booking_id, kind, timeout=30):
    """The mail with Message-ID <booking-ID-KIND@…> from the sink, parsed (policy=default)."""
    return stack.sent_mail("<booking-%s-%s@" % (booking_id, kind), timeout)


def parts(msg, ctype):
    return [p for p in msg.walk() if p.get_content_type() == ctype]


def zbar(png):
    """The text zbarimg reads from the image, or None where zbar-tools is missing."""
    if shutil.which("zbarimg") is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        f.write(png)
        f.flush()
        r = subprocess.run(["zbarimg", "--quiet", "--raw", f.name], capture_output=True, timeout=30)
    assert r.returncode == 0, r
    return r.stdout.decode().strip()


def check_mail(msg, code, lang):
    """The mail's MIME tree: multipart/mixed of text/plain, text/calendar and image/png."""
    assert msg.get_content_type() == "multipart/mixed"
    assert msg.is_multipart()
    kids = [p.get_content_type() for p in msg.iter_parts()]
    assert kids == ["text/plain", "text/calendar", "image/png"], kids
    text = parts(msg, "text/plain")[0].get_content()
    assert LABEL[lang] + code in text, text
    assert text.count(code) == 1, text

    png_part, = parts(msg, "image/png")
    assert len(png_part.get_all("Content-Disposition")) == 1   # ours, not libcurl's as well
    assert png_part.get_content_disposition() == "inline"
    assert png_part.get_filename() == "checkin.png"
    assert png_part["Content-Transfer-Encoding"].strip().lower() == "base64"
    png = png_part.get_content()
    assert isinstance(png, bytes)
    assert png.startswith(PNG_SIGNATURE), png[:16]
    assert png[12:16] == b"IHDR"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width == height and 100 <= width <= 400, (width, height)
    read = zbar(png)
    if read is not None:
        assert read == code

    cal_part, = parts(msg, "text/calendar")
    assert cal_part.get_filename() == "booking.ics"
    assert cal_part.get_content_disposition() == "attachment"
    data = cal_part.get_content()
    try:
        import icalendar
    except ImportError:
        return
    cal = icalendar.Calendar.from_ical(data if isinstance(data, bytes) else data.encode("utf-8"))
    assert str(cal["METHOD"]) == "PUBLISH"
    assert len(cal.walk("VEVENT")) == 1


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_confirmation_and_reminder_carry_checkin_code_and_qr(stack, notifier, make_event, lang):
    ev = make_event(lang=lang, title="受付コード %s" % lang, venue="市民会館",
                    reminder={"days_before": 1, "at": "10:00"})
    bk, token = book(ev, fields={"name": "予約 花子"})
    code = bk["checkin_code"]
    assert code.startswith("YK1-%s-" % bk["id"])
    r = stack.client.get("/v1/bookings/%s" % bk["id"], headers={"X-Booking-Token": token})
    assert r.status == 200 and r.json["booking"]["checkin_code"] == code, r

    msg = sent_mail(stack, bk["id"], "confirmation")
    assert msg["Content-Language"] == lang
    check_mail(msg, code, lang)

    # the reminder row is written when the confirmation is settled; bring it forward to now
    wait_until(lambda: stack.psql("SELECT 1 FROM mail_outbox WHERE booking_id = %d AND kind = "
                                  "'reminder'" % int(bk["id"])), 30, 0.1, what="reminder row")
    stack.psql("UPDATE mail_outbox SET due_at = now() WHERE booking_id = %d AND kind = 'reminder'; "
               "NOTIFY yk_outbox" % int(bk["id"]))
    msg = sent_mail(stack, bk["id"], "reminder")
    check_mail(msg, code, lang)


def test_cancellation_has_no_checkin_code(stack, notifier, make_event):
    ev = make_event(lang="en", title="Cancelled check-in")
    bk, token = book(ev)
    sent_mail(stack, bk["id"], "confirmation")
    r = stack.client.post("/v1/bookings/%s/cancel" % bk["id"], None,
                          headers={"X-Booking-Token": token})
    assert resolve(stack.client, r).get("booking", {}).get("status") == "cancelled"
    msg = sent_mail(stack, bk["id"], "cancellation")
    assert parts(msg, "image/png") == [] and parts(msg, "text/calendar") == []
    text = parts(msg, "text/plain")[0].get_content()
    assert bk["checkin_code"] not in text and "Check-in code" not in text
