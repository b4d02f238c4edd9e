"""Logs and metrics of every process (contract §2 Operations).

- YOYAKU_LOG_FORMAT=json: every line a service writes is one JSON object with ts, level, svc and msg;
  lines about a request carry its id (field request).
- No personal data at info level: after a rush of bookings, refusals, cancellations and the mails they
  send, no service log holds a booker's e-mail address or field value.
- Every process's /metrics (the ingress, each worker, the notifier) passes `promtool check metrics`
  and has the families the contract names."""

import concurrent.futures
import json
import shutil
import subprocess
import uuid

import pytest

from ykstack import Client, own_stack, resolve, wait_until

SERVICES = ("ingress", "worker-1", "worker-2", "notifier")


@pytest.fixture(scope="module")
def stack():
    """A stack of its own, logging JSON at debug level (the debug lines about requests are
    checked for their request id; the personal-data check reads info and above)."""
    yield from own_stack(extra_env={"YOYAKU_LOG_FORMAT": "json"}, log_level="debug")


def service_logs(stack):
    return {p.name: p.log_text() for p in stack.procs if p.name in SERVICES or
            p.name.startswith("worker-")}


def parse_lines(name, text):
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise AssertionError("%s: not a JSON line: %r" % (name, line[:300]))
        assert isinstance(obj, dict), line
        for k in ("ts", "level", "svc", "msg"):
            assert isinstance(obj.get(k), str), "%s: no %s in %r" % (name, k, line[:300])
        assert obj["level"] in ("debug", "info", "warn", "error"), line
        assert obj["ts"].endswith("Z"), line
        out.append(obj)
    return out


def test_rush_with_mails_logs_no_personal_data_and_json_lines(stack, make_event):
    if stack.notifier is None:
        pytest.skip("yoyaku-notifier not built")
    tag = uuid.uuid4().hex[:10]
    ev = make_event(capacities=[30, 5], fields=[
        {"name": "name", "label": {"ja": "氏名", "en": "Name"}, "type": "text", "required": True,
         "max_length": 50},
        {"name": "phone", "label": {"ja": "電話", "en": "Phone"}, "type": "text", "required": True}])
    secrets = []      # every e-mail and field value a booker sent

    def one(i):
        mail = "pii-%s-%d@example.org" % (tag, i)
        name = "秘密%s名前%d" % (tag, i)
        phone = "090%s%04d" % (tag[:4], i)
        secrets.extend([mail, name, phone])
        c = Client("127.0.0.1", stack.http_port)
        try:
            slot = ev.slot_ids[i % 2]
            r = c.post("/v1/events/%s/reservations" % ev.slug,
                       {"slot_id": slot, "email": mail, "fields": {"name": name, "phone": phone}})
            body = resolve(c, r)
            if "booking" in body and i % 3 == 0:
                rc = c.post("/v1/bookings/%s/cancel" % body["booking"]["id"], None,
                            headers={"X-Booking-Token": body["token"]})
                assert rc.status == 200, rc
            return r.status
        finally:
            c.close()

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        statuses = list(ex.map(one, range(60)))
    assert 201 in statuses and 409 in statuses, statuses
    # refusals carrying personal data: a bad field (CR/LF), a bad e-mail, malformed JSON
    bad = [{"slot_id": ev.slot_ids[0], "email": "bad-%s@example.org" % tag,
            "fields": {"name": "改行%s\r\nBcc: x" % tag, "phone": "1"}},
           {"slot_id": ev.slot_ids[0], "email": "not-an-address-%s" % tag,
            "fields": {"name": "無効%s" % tag, "phone": "2"}}]
    for b in bad:
        secrets.extend([b["email"], b["fields"]["name"].split("\r")[0]])
        r = stack.client.post("/v1/events/%s/reservations" % ev.slug, b)
        assert r.status == 422, r
    r = stack.client.request("POST", "/v1/events/%s/reservations" % ev.slug,
                             body='{"email": "broken-%s@example.org", "fields": ' % tag)
    assert r.status == 400, r
    secrets.append("broken-%s@example.org" % tag)

    # the mails went out (confirmations and cancellations): the notifier handled personal data
    wait_until(lambda: int(stack.scalar(
        "SELECT count(*) FROM mail_outbox o JOIN bookings b ON b.id = o.booking_id "
        "WHERE b.event_id = %d AND o.status = 'pending' AND o.kind IN ('confirmation', 'cancellation')"
        % ev.id)) == 0, 60, 0.2, what="the mails sent")
    mails = [f.read_text("utf-8", "replace") for f in stack.mail.glob("*.eml")]
    assert any("pii-%s-" % tag in m for m in mails), "no mail reached the sink"

    leaks = []
    request_lines = 0
    for name, text in service_logs(stack).items():
        for obj in parse_lines(name, text):
            if obj["msg"].startswith("request=") or " request=" in obj["msg"]:
                assert obj.get("request"), obj
                request_lines += 1
            if obj["level"] == "debug":
                continue
            line = json.dumps(obj, ensure_ascii=False)
            for s in secrets:
                if s in line or s.encode("unicode_escape").decode() in line:
                    leaks.append((name, s, line[:300]))
    assert not leaks, "personal data in the logs:\n%s" % "\n".join(map(repr, leaks[:20]))
    assert request_lines > 0, "no line names a request"


# ---------------------------------------------------------------------------------------------------
# metrics


def metrics_of(host, port):
    c = Client(host, port)
    try:
        r = c.get("/metrics")
        assert r.status == 200, r
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers
        return r.body.decode("utf-8")
    finally:
        c.close()


def families(text):
    return {l.split()[2]: l.split()[3] for l in text.splitlines() if l.startswith("# TYPE ")}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_every_process_metrics_pass_promtool(stack, make_event):
    ev = make_event(capacities=[5])
    for i in range(8):                       # decisions of both kinds, and the mails they make
        resolve(stack.client, ev.reserve())
    texts = {"ingress": metrics_of("127.0.0.1", stack.http_port)}
    for w in stack.live_workers():
        texts[w.name] = metrics_of("127.0.0.1", w.metrics_port)
    if stack.notifier is not None:
        env = open("/proc/%d/environ" % stack.notifier.pid, "rb").read().split(b"\0")
        listen = [e.split(b"=", 1)[1].decode() for e in env if e.startswith(b"YOYAKU_METRICS_LISTEN=")]
        host, port = listen[0].rsplit(":", 1)
        texts["notifier"] = metrics_of(host, int(port))
    for name, text in texts.items():
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        # promtool exits 0 unless the text cannot be parsed; its lint findings are printed
        assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), (
            "%s: promtool check metrics:\n%s%s\n--- text ---\n%s" % (name, r.stdout, r.stderr, text[:3000]))
    want = {
        "ingress": {"yoyaku_build_info": "gauge", "yoyaku_http_requests_total": "counter",
                    "yoyaku_http_request_duration_seconds": "histogram",
                    "yoyaku_bookings_total": "counter", "yoyaku_stream_length": "gauge",
                    "yoyaku_stream_pending": "gauge", "yoyaku_stream_lag": "gauge",
                    "yoyaku_queue_oldest_pending_age_seconds": "gauge"},
        "worker": {"yoyaku_build_info": "gauge", "yoyaku_bookings_total": "counter",
                   "yoyaku_worker_batch_size": "histogram", "yoyaku_worker_batch_seconds": "histogram"},
        "notifier": {"yoyaku_build_info": "gauge", "yoyaku_mail_sent_total": "counter",
                     "yoyaku_mail_outbox_pending": "gauge"},
    }
    for name, text in texts.items():
        fams = families(text)
        for fam, typ in want[name.split("-")[0]].items():
            assert fams.get(fam) == typ, "%s: %s is %r, want %s" % (name, fam, fams.get(fam), typ)
    assert 'route="reserve"' in texts["ingress"].split("yoyaku_http_request_duration_seconds_bucket", 1)[1]
    assert 'result="confirmed"' in texts["ingress"]
    workers = [t for n, t in texts.items() if n.startswith("worker-")]
    assert any('yoyaku_bookings_total{result="confirmed"}' in t for t in workers), workers
    # the 6th to 8th: refused by the ingress once it knows the slot is full, or by the worker
    # before the seats reached it (timing decides which)
    assert any('yoyaku_bookings_total{result="slot_full"}' in t for t in workers) or \
        'yoyaku_bookings_total{result="refused"}' in texts["ingress"], workers
    assert all("yoyaku_worker_batch_seconds_bucket" in t for t in workers)
    if "notifier" in texts:
        assert 'result="dead"' in texts["notifier"]
