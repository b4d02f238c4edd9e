"""Security review (issue 13, docs/SECURITY.md): the ingress, workers and notifier run without
root in every recipe — systemd units, the container image with Compose, the Kubernetes manifests
and deploy/local/run (whose running processes test_deploy_local checks as well) — and the review
names only test functions that exist."""

import configparser
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("ingress", "worker", "notifier")


def unit(name):
    p = configparser.ConfigParser(strict=False, interpolation=None)
    p.optionxform = str
    p.read(ROOT / "deploy/systemd" / name)
    return p["Service"]


@pytest.mark.parametrize("name", ["yoyaku-ingress.service", "yoyaku-worker@.service",
                                  "yoyaku-notifier.service", "yoyaku-migrate.service"])
def test_systemd_units_run_as_a_non_root_user(name):
    s = unit(name)
    user = s.get("User", "").strip()
    dynamic = s.get("DynamicUser", "no").strip().lower() in ("yes", "true", "1", "on")
    assert dynamic or (user and user not in ("root", "0")), (name, dict(s))
    assert user not in ("root", "0"), name
    assert s.get("NoNewPrivileges", "").strip().lower() in ("yes", "true", "1", "on"), name
    # nothing re-grants root's powers
    assert not s.get("AmbientCapabilities", "").strip(), name


def test_image_and_compose_run_as_a_non_root_user():
    docker = (ROOT / "deploy/compose/Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", docker, re.M)
    assert users, "the image names no USER"
    last = users[-1].split(":")[0]
    assert last not in ("root", "0") and last.isdigit(), users   # numeric: runAsNonRoot checks it
    compose = yaml.safe_load((ROOT / "deploy/compose/compose.yaml").read_text())
    seen = set()
    for name, svc in compose["services"].items():
        if svc.get("image", "").startswith("yoyaku") or "build" in svc:
            seen.add(name)
            assert str(svc.get("user", last)).split(":")[0] not in ("root", "0"), name
            assert "ALL" in svc.get("cap_drop", []), name
            assert not svc.get("privileged"), name
    for s in SERVICES:
        assert any(s in n for n in seen), (s, seen)


def test_k8s_pods_run_as_non_root():
    seen = set()
    for path in sorted((ROOT / "deploy/k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") not in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
                continue
            pod = doc["spec"]["template"]["spec"]
            ctx = pod.get("securityContext", {})
            assert ctx.get("runAsNonRoot") is True, (path.name, ctx)
            assert ctx.get("runAsUser", 1) != 0, (path.name, ctx)
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                cctx = c.get("securityContext", {})
                assert cctx.get("runAsUser", 1) != 0 and cctx.get("runAsNonRoot", True), c["name"]
                assert cctx.get("allowPrivilegeEscalation") is False, c["name"]
                assert not cctx.get("privileged"), c["name"]
                seen.add(c["name"])
    for s in SERVICES:
        assert any(s in n for n in seen), (s, seen)


def test_local_run_starts_services_as_nobody_when_root():
    text = (ROOT / "deploy/local/run").read_text()
    m = re.search(r'^\s*SVC=\((setpriv [^)]*)\)', text, re.M)
    assert m and "--reuid=nobody" in m.group(1), "deploy/local/run drops no privileges"
    starts = [l for l in text.splitlines() if re.match(r'\s*start (ingress|"worker-|notifier)', l)]
    assert len(starts) == 3, starts
    for line in starts:
        assert '"${SVC[@]}"' in line, line


def test_security_review_names_real_tests():
    """Every `file.py::test_name` (or C suite function) docs/SECURITY.md cites exists."""
    doc = (ROOT / "docs/SECURITY.md").read_text()
    cited = re.findall(r"`(tests/[\w/.-]+\.(?:py|c|mjs))::(\w+)`", doc)
    assert len(cited) >= 20, cited
    for path, name in cited:
        text = (ROOT / path).read_text()
        pattern = (r"^(async )?def %s\b" % name if path.endswith(".py")
                   else r"^static void %s\(void \*\*state\)" % name)
        assert re.search(pattern, text, re.M), "%s::%s does not exist" % (path, name)
    owasp = ["API%d:2023" % i for i in range(1, 11)]
    for item in owasp:
        assert item in doc, item


# ------------------------------------------------------------------------------------------------
# personal data


ID_FIELDS = [{"name": "name", "label": "Name", "type": "text", "required": True},
             {"name": "member", "label": "Member no.", "type": "text", "required": True,
              "identity": True}]


def test_purge_removes_every_personal_value(stack, make_event):
    """yoyakuctl purge --older-than DAYS: a booking whose slot ended before the cut keeps its
    status, slot and times but no e-mail, field value, identity value or review comment anywhere
    an admin can read (the bookings list, the CSV); a newer booking keeps all; outbox rows never
    held any (they name the booking only)."""
    ev = make_event(fields=ID_FIELDS)
    secret_name, secret_member = "個人 情報%s" % ev.slug[-4:], "ID-%s" % ev.slug[-6:]
    old = ev.reserve(mail="old-%s@example.com" % ev.slug,
                     fields={"name": secret_name, "member": secret_member})
    assert old.status == 201, old
    old = old.json["booking"]
    new = ev.reserve(fields={"name": "新しい 人", "member": "keep-%s" % ev.slug[-6:]})
    assert new.status == 201, new
    new = new.json["booking"]
    stack.psql("INSERT INTO reviews (booking_id, event_id, rating, comment) VALUES (%s, %d, 4, '%s')"
               % (old["id"], ev.id, "コメント " + secret_member))
    stack.psql("INSERT INTO slots (event_id, starts_at, ends_at, capacity, booked) VALUES "
               "(%d, now() - interval '41 days', now() - interval '40 days', 5, 1)" % ev.id)
    stack.psql("UPDATE bookings SET slot_id = (SELECT max(id) FROM slots WHERE event_id = %d), "
               "status = 'attended' WHERE id = %s" % (ev.id, old["id"]))
    cols = set(c for (c,) in stack.psql("SELECT column_name FROM information_schema.columns "
                                        "WHERE table_name = 'mail_outbox'"))
    assert not cols & {"email", "fields", "identity", "body", "payload", "to_addr"}, cols

    out = stack.ctl("purge", "--older-than", "30").stdout
    assert "purged bookings: " in out, out
    row = stack.psql("SELECT status, email, fields::text, identity FROM bookings WHERE id = %s"
                     % old["id"])[0]
    assert row[0] == "attended" and row[1] == "" and row[2] == "{}", row
    assert secret_member.lower() not in row[3].lower(), row
    comment = stack.psql("SELECT comment, rating FROM reviews WHERE booking_id = %s" % old["id"])
    assert comment == [["", "4"]], comment
    # nowhere in PostgreSQL: every row of every table, as text, searched for the values
    tables = [t for (t,) in stack.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    assert "bookings" in tables and "reviews" in tables, tables
    values = (secret_name, secret_member, "old-%s@example.com" % ev.slug)
    hit = " OR ".join("strpos(lower(x::text), lower('%s')) > 0" % v for v in values)
    hits = stack.psql(" UNION ALL ".join("SELECT '%s', count(*) FROM %s x WHERE %s" % (t, t, hit)
                                         for t in tables))
    assert all(n == "0" for _, n in hits), hits
    # the same search finds what must stay (the newer booking's e-mail): it is no blind check
    kept = stack.psql(" UNION ALL ".join(
        "SELECT count(*) FROM %s x WHERE strpos(lower(x::text), lower('%s')) > 0"
        % (t, new["email"]) for t in tables))
    assert sum(int(n) for (n,) in kept) >= 1, kept
    # what admins read
    r = stack.client.get("/v1/admin/events/%s/bookings" % ev.slug, admin=True)
    by_id = {b["id"]: b for b in r.json["bookings"]}
    assert by_id[old["id"]]["email"] == "" and not by_id[old["id"]]["fields"].get("member"), r
    assert by_id[new["id"]]["email"] == new["email"], r
    csv = stack.client.get("/v1/admin/events/%s/bookings.csv" % ev.slug, admin=True)
    assert csv.status == 200 and secret_member.encode() not in csv.body, csv
    assert new["email"].encode() in csv.body
