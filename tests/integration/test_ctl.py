"""yoyakuctl's operator commands (contract §1): status, token list and revoke, event export and
import (a page moved between instances), purge --older-than DAYS."""

import json
import re
import subprocess
import uuid

from ykstack import binary, email, wait_until


def test_status_shows_owners_queues_and_outbox(stack, make_event):
    ev = make_event()
    assert ev.reserve().status == 201
    stack.wait_partitions_owned()
    out = stack.ctl("status").stdout
    rows = re.findall(r"^(\d+)\t(\S+)\t(-?\d+)\t(-?\d+)\t(-?\d+)$", out, re.M)
    assert len(rows) == stack.partitions, out
    assert out.startswith("partition\towner\tlength\tpending\tdead\n"), out
    owners = stack.partition_owners()
    for p, owner, length, pending, dead in rows:
        assert owner == owners[int(p)], (p, owner, owners)
        assert int(length) >= 0 and int(pending) >= 0
        assert int(dead) == stack.redis("XLEN", "yk:dead:{%s}" % p)
    assert "partitions without an owner: 0" in out, out
    assert re.search(r"^outbox\t\w+\t\d+$", out, re.M), out


def test_token_list_and_revoke(stack):
    tok = stack.ctl("token", "create", "--name", "ci-robot", "--role", "staff").stdout.strip()
    h = {"Authorization": "Bearer " + tok}
    assert stack.client.get("/v1/admin/events", headers=h).status == 200
    out = stack.ctl("token", "list").stdout
    assert re.search(r"^ci-robot\tstaff\tactive\t", out, re.M), out
    assert "revoked: 1" in stack.ctl("token", "revoke", "ci-robot").stdout
    assert stack.client.get("/v1/admin/events", headers=h).status == 401
    assert re.search(r"^ci-robot\tstaff\trevoked\t", stack.ctl("token", "list").stdout, re.M)
    assert stack.ctl("token", "revoke", "ci-robot", check=False).returncode == 1


def test_event_export_then_import_under_another_slug(stack, make_event):
    ev = make_event(capacities=[3, 5], venue="市民会館")
    doc = json.loads(stack.ctl("event", "export", ev.slug).stdout)
    assert doc["format"] == "yoyaku-event/1" and doc["event"]["slug"] == ev.slug
    assert [s["capacity"] for s in doc["slots"]] == [3, 5]
    assert "id" not in doc["event"]
    doc["event"]["slug"] = ev.slug + "-copy"
    r = subprocess.run([str(binary("yoyakuctl")), "event", "import", "-"], input=json.dumps(doc),
                       env=stack.env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "with 2 slots" in r.stdout, r
    copy = wait_until(lambda: (lambda x: x if x.status == 200 else None)(
        stack.client.get("/v1/events/%s-copy" % ev.slug)), 10, 0.1, what="the import served")
    assert copy.json["venue"] == "市民会館"
    # the same slug again is refused, and so is a document that is not an export
    r = subprocess.run([str(binary("yoyakuctl")), "event", "import", "-"], input=json.dumps(doc),
                       env=stack.env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "refused" in r.stderr, r
    r = subprocess.run([str(binary("yoyakuctl")), "event", "import", "-"], input="{}",
                       env=stack.env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r
    assert stack.ctl("event", "export", "no-such-event", check=False).returncode == 1


def test_purge_erases_old_bookers_data_and_keeps_counts(stack, make_event):
    ev = make_event()
    old = ev.reserve(mail=email("old")).json["booking"]
    new = ev.reserve(mail=email("new")).json["booking"]
    stack.psql("UPDATE bookings SET status = 'attended' WHERE id = %s" % old["id"])
    # the slot of `old` ended 40 days ago: move it to a slot of its own in the past
    stack.psql("INSERT INTO slots (event_id, starts_at, ends_at, capacity, booked) VALUES "
               "(%d, now() - interval '41 days', now() - interval '40 days', 5, 1)" % ev.id)
    stack.psql("UPDATE bookings SET slot_id = (SELECT max(id) FROM slots WHERE event_id = %d) "
               "WHERE id = %s" % (ev.id, old["id"]))
    out = stack.ctl("purge", "--older-than", "30").stdout
    assert re.search(r"^purged bookings: [1-9]\d*$", out, re.M), out
    rows = stack.psql("SELECT id, status, email, fields::text FROM bookings WHERE id IN (%s, %s) "
                      "ORDER BY id" % (old["id"], new["id"]))
    assert rows[0] == [old["id"], "attended", "", "{}"], rows
    assert rows[1][2] == new["email"], rows
    assert "purged bookings: 0" in stack.ctl("purge", "--older-than", "30").stdout
    assert stack.ctl("purge", "--older-than", "x", check=False).returncode == 2


def test_purge_deletes_long_ended_staff_sessions(stack):
    login = "purge-" + uuid.uuid4().hex[:6]
    stack.psql("INSERT INTO staff (login, name, role, password_hash) VALUES ('%s', 'x', 'desk', '-')"
               % login)
    stack.psql("INSERT INTO staff_sessions (session_hash, login, created_at, expires_at, revoked_at)"
               " VALUES ('%s-exp', '%s', now() - interval '50 days', now() - interval '40 days', NULL),"
               " ('%s-rev', '%s', now() - interval '50 days', now() + interval '1 day',"
               "  now() - interval '31 days'),"
               " ('%s-live', '%s', now(), now() + interval '1 day', NULL),"
               " ('%s-recent', '%s', now() - interval '3 days', now() - interval '2 days', NULL)"
               % ((login, login) * 4))
    out = stack.ctl("purge", "--older-than", "30").stdout
    assert re.search(r"^purged staff sessions: [1-9]\d*$", out, re.M), out
    left = {r[0] for r in stack.psql("SELECT session_hash FROM staff_sessions WHERE login = '%s'" % login)}
    assert left == {login + "-live", login + "-recent"}
