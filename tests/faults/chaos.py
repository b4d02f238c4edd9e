"""The chaos run (issue 13, "Chaos suite"): a paced rush of reservations against a real stack
while its processes are killed, then, with the queue drained, the counts that show nothing was lost
or done twice (contract §4 and the 503 promise of §2).

The rush comes in waves (a new pair of events every few seconds, each sold out within its wave, as
9:00 openings would): every booker (identity = e-mail) asks for both slots of one event
(per_person_limit 1), so `already_booked` and the duplicate check have work to do; every 4th
request carries an Idempotency-Key and is retried with it after a broken connection or a 503, the
others are sent once (a broken connection leaves their outcome unknown; a refused connect sent
nothing and is retried). Meanwhile one thread per component: a worker is kill -9'd every 2 s, the
notifier every 5 s, the ingress every 10 s (each restarted at once), Redis is SIGKILLed once and
restarted from its AOF, PostgreSQL stopped once with `pg_ctl -m immediate` and started again;
probes read a request status (needs Redis) and a booking (needs PostgreSQL) every 100 ms."""

import asyncio
import collections
import random
import re
import signal
import subprocess
import threading
import time
import uuid

from ahttp import CallFailed, Conn
from common import (Clock, Report, body, distinct_partition_slugs, log, make_events, quantile,
                    reservation_path, wait_until)
from smtp_fixture import SmtpServer
import ykstack
from ykstack import PG_BIN, binary, outcome

MAIL_DOMAIN = "chaos.invalid"
# Short leases and fast polls so that mail a killed notifier held is sent again within seconds.
MAIL_ENV = {"YOYAKU_MAIL_LEASE_S": "4", "YOYAKU_SMTP_TIMEOUT_MS": "1500", "YOYAKU_MAIL_POLL_MS": "200",
            "YOYAKU_MAIL_BACKOFF_MS": "200", "YOYAKU_MAIL_BACKOFF_MAX_MS": "1000",
            "YOYAKU_MAIL_MAX_ATTEMPTS": "50", "YOYAKU_MAIL_DOMAIN": MAIL_DOMAIN}
OK_409 = ("slot_full", "already_booked")
EVENTS_PER_WAVE = 2
SLOTS_PER_EVENT = 2


class Req:
    __slots__ = ("i", "wave", "ev", "slot", "mail", "key", "t_sched", "attempts", "final", "rid",
                 "decided", "decided_again")

    def __init__(self, i, wave, ev, slot, mail, key, t_sched):
        self.i, self.wave, self.ev, self.slot, self.mail, self.key = i, wave, ev, slot, mail, key
        self.t_sched = t_sched
        self.attempts = []    # (t, seconds, status or failure kind, error code or detail, Retry-After)
        self.final = None     # ("answer", status, error, json) or ("unknown", why)
        self.rid = None       # request id of a 202
        self.decided = None   # the final answer of a 202 (GET /v1/requests/{id})
        self.decided_again = None

    @property
    def status(self):
        return self.final[1] if self.final and self.final[0] == "answer" else None


def plan(waves, n, duration, rng, tag):
    """The requests, each with its time (seconds from the start): wave w's requests spread over
    [w, w+1) * duration / len(waves), two per booker (one per slot of the booker's event)."""
    reqs = []
    span = duration / len(waves)
    per_wave = n // len(waves)
    for w, evs in enumerate(waves):
        todo = []
        for j in range(per_wave // 2):
            ev = evs[j % len(evs)]
            mail = "c%s-%d-%d@example.com" % (tag, w, j)
            for slot in ev["slots"]:
                todo.append((ev, slot, mail))
        rng.shuffle(todo)
        for k, (ev, slot, mail) in enumerate(todo):
            i = len(reqs)
            key = uuid.uuid4().hex if i % 4 == 0 else None
            reqs.append(Req(i, w, ev, str(slot), mail, key, w * span + span * k / len(todo)))
    reqs.sort(key=lambda r: r.t_sched)
    return reqs


# ---------------------------------------------------------------------------------------------------
# load


async def send(conn, r, clock, timeout, retry_s):
    path = reservation_path(r.ev["slug"])
    payload = body(r.slot, r.mail, "混雑 %d" % r.i)
    headers = {"Idempotency-Key": r.key} if r.key else None
    give_up = r.t_sched + retry_s
    while True:
        t = clock.now()
        try:
            a = await conn.request("POST", path, payload, headers, timeout)
        except CallFailed as e:
            r.attempts.append((t, e.took, e.kind, e.detail, None))
            retry = e.kind == "connect" or r.key is not None
            if not retry or clock.now() > give_up:
                r.final = ("unknown", e.kind)
                return
            await asyncio.sleep(0.05 if e.kind == "connect" else 0.2)
            continue
        r.attempts.append((t, a.took, a.status, a.error, a.headers.get("retry-after")))
        if a.status == 503 and r.key is not None and clock.now() <= give_up:
            await asyncio.sleep(0.2)
            continue
        if a.status == 503:
            r.final = ("unknown", "503")
            return
        r.final = ("answer", a.status, a.error, a.json)
        if a.status == 202 and isinstance(a.json, dict):
            r.rid = a.json.get("request_id")
        return


async def rush(port, reqs, clock, conns, timeout, retry_s):
    queue = collections.deque(reqs)

    async def runner():
        conn = Conn("127.0.0.1", port)
        try:
            while queue:
                r = queue.popleft()
                delay = r.t_sched - clock.now()
                if delay > 0:
                    await asyncio.sleep(delay)
                await send(conn, r, clock, timeout, retry_s)
        finally:
            conn.close()
    await asyncio.gather(*(runner() for _ in range(conns)))


async def probe(port, clock, done, probes, booking, timeout):
    """Every 100 ms: a request status that does not exist (Redis: 404, or 503 when Redis is down)
    and a booking read (PostgreSQL: 200, or 503)."""
    conns = {"redis": Conn("127.0.0.1", port), "pg": Conn("127.0.0.1", port)}
    paths = {"redis": ("/v1/requests/%s" % ("0" * 32), None),
             "pg": ("/v1/bookings/%s" % booking["id"], {"X-Booking-Token": booking["token"]})}
    try:
        while not done.is_set():
            for kind, conn in conns.items():
                path, hdrs = paths[kind]
                t = clock.now()
                try:
                    a = await conn.request("GET", path, None, hdrs, timeout)
                    probes.append((kind, t, a.took, a.status, a.error, a.headers.get("retry-after")))
                except CallFailed as e:
                    probes.append((kind, t, e.took, e.kind, e.detail, None))
            await asyncio.sleep(0.1)
    finally:
        for c in conns.values():
            c.close()


# ---------------------------------------------------------------------------------------------------
# chaos


class Chaos:
    """One thread per component, killing and restarting it on its schedule until stop()."""

    def __init__(self, stack, smtp, clock, duration, rng):
        self.stack, self.smtp, self.clock, self.duration, self.rng = stack, smtp, clock, duration, rng
        self.stop_evt = threading.Event()
        self.lock = threading.Lock()
        self.actions = []          # (component, t_kill, t_back, note)
        self.killed = set()        # Procs this run killed on purpose
        self.errors = []
        self.threads = []

    def _note(self, comp, t0, note=""):
        with self.lock:
            self.actions.append((comp, t0, self.clock.now(), note))

    def _kill(self, proc):
        with self.lock:
            self.killed.add(proc)
        proc.stop(signal.SIGKILL)

    def _every(self, comp, first, period, fn):
        t = first
        while not self.stop_evt.is_set() and t < self.duration:
            if self.stop_evt.wait(max(0.0, t - self.clock.now())):
                return
            try:
                fn()
            except Exception as e:    # noqa: BLE001 — reported as a failed check
                self.errors.append("%s at %.1f s: %r" % (comp, self.clock.now(), e))
            t += period

    def kill_worker(self):
        live = self.stack.live_workers()
        t0 = self.clock.now()
        if live:
            victim = self.rng.choice(live)
            self._kill(victim)
            note = victim.worker_id
        else:
            note = "none alive"
        self.stack.start_worker()
        self._note("worker", t0, note)

    def kill_notifier(self):
        t0 = self.clock.now()
        self._kill(self.stack.notifier)
        self.stack.notifier = start_notifier(self.stack, self.smtp)
        self._note("notifier", t0)

    def kill_ingress(self):
        t0 = self.clock.now()
        self._kill(self.stack.ingress)
        self.stack.ingress = self.stack.start_ingress()
        self._note("ingress", t0)

    def kill_redis(self, down_s):
        t0 = self.clock.now()
        self._kill(self.stack.redis_proc)
        self.stop_evt.wait(down_s)
        self.stack.start_redis()          # the same port and directory: it loads its AOF
        self._note("redis", t0, "SIGKILL, restarted from its AOF")

    def stop_postgres(self, down_s):
        t0 = self.clock.now()
        pg = self.stack.pg_proc
        with self.lock:
            self.killed.add(pg)
        r = subprocess.run([str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.stack.pg_data), "-m",
                            "immediate", "-w", "-t", "30"], user=self.stack.pg_user,
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("pg_ctl stop -m immediate: %s%s" % (r.stdout, r.stderr))
        pg.popen.wait(30)
        self.stop_evt.wait(down_s)
        self.stack.start_postgres()
        self._note("postgres", t0, "pg_ctl stop -m immediate, started again")

    def _stores(self, down_s):
        for comp, at, fn in (("redis", 0.3, self.kill_redis), ("postgres", 0.6, self.stop_postgres)):
            # the nearest time apart from the ingress kills, so that an ingress that runs sees the outage
            t = at * self.duration
            for step in (0, -1, 1, -2, 2, -3, 3, -4, 4, -5, 5):
                if not any(t + step - 1 <= k <= t + step + down_s + 2 for k in self.ingress_times):
                    t += step
                    break
            if self.stop_evt.wait(max(0.0, t - self.clock.now())):
                return
            try:
                fn(down_s)
            except Exception as e:    # noqa: BLE001
                self.errors.append("%s at %.1f s: %r" % (comp, self.clock.now(), e))

    def start(self, down_s=2.0):
        d = self.duration
        ingress_first = 10.0 if d > 12 else d / 2
        self.ingress_times = [ingress_first + 10.0 * k for k in range(int((d - ingress_first) // 10) + 1)]
        specs = [("worker", 2.0, 2.0, self.kill_worker), ("notifier", 5.0, 5.0, self.kill_notifier),
                 ("ingress", ingress_first, 10.0, self.kill_ingress)]
        for comp, first, period, fn in specs:
            self.threads.append(threading.Thread(target=self._every, args=(comp, first, period, fn),
                                                 name="chaos-" + comp, daemon=True))
        self.threads.append(threading.Thread(target=self._stores, args=(down_s,), name="chaos-stores",
                                             daemon=True))
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_evt.set()
        for t in self.threads:
            t.join(120)

    def windows(self, comp):
        return [(a[1], a[2]) for a in self.actions if a[0] == comp]


# ---------------------------------------------------------------------------------------------------
# afterwards


def start_notifier(stack, smtp):
    """A notifier sending to smtp (the slow SMTP server of this run, not the stack's sink)."""
    env = stack.notifier_env()
    env["YOYAKU_SMTP_URL"] = smtp.url
    return stack._spawn("notifier", [binary("yoyaku-notifier")], env)


def heal(stack, smtp, n_workers):
    """Every component running again (the chaos threads restart what they kill; this is the
    backstop), then /readyz."""
    if not stack.redis_proc.alive():
        stack.start_redis()
    if not stack.pg_proc.alive():
        stack.start_postgres()
    if not stack.ingress.alive():
        stack.ingress = stack.start_ingress()
    while len(stack.live_workers()) < n_workers:
        stack.start_worker()
    if not stack.notifier.alive():
        stack.notifier = start_notifier(stack, smtp)
    def ready():
        try:
            return stack.client.get("/readyz").status == 200
        except OSError:
            return False
    wait_until(ready, 60, 0.1, what="GET /readyz == 200")   # not stack.wait_ready: it counts the killed


def stream_state(stack):
    """(entries pending, entries not yet delivered) summed over the partitions."""
    pending = undelivered = 0
    for p in range(stack.partitions):
        key = "yk:req:{%d}" % p
        if not stack.redis("EXISTS", key):
            continue
        info = stack.redis("XINFO", "STREAM", key)
        info = dict(zip(info[0::2], info[1::2]))
        last = info.get("last-generated-id")
        for g in stack.redis("XINFO", "GROUPS", key):
            g = dict(zip(g[0::2], g[1::2]))
            if g.get("name") != "workers":
                continue
            pending += int(g.get("pending", 0))
            if g.get("last-delivered-id") != last and int(info.get("length", 0)) > 0:
                undelivered += 1 if g.get("lag") in (None, "") else int(g.get("lag") or 0)
    return pending, undelivered


async def resolve_all(port, reqs, timeout, conns=32, wait_s=60):
    """GET /v1/requests/{id} of every 202 until it is no longer pending; then once more (the answer
    must not change)."""
    todo = collections.deque(r for r in reqs if r.rid)
    deadline = time.monotonic() + wait_s

    async def runner():
        conn = Conn("127.0.0.1", port)
        try:
            while todo:
                r = todo.popleft()
                while True:
                    try:
                        a = await conn.request("GET", "/v1/requests/%s" % r.rid, timeout=timeout)
                    except CallFailed:
                        a = None
                    if a is not None and a.status == 200 and a.json.get("status") != "pending":
                        if r.decided is None:
                            r.decided = a.json
                            todo.append(r)        # asked again at the end
                        else:
                            r.decided_again = a.json
                        break
                    if time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.2)
        finally:
            conn.close()
    await asyncio.gather(*(runner() for _ in range(conns)))


def read_mails(smtp):
    """[(booking id or None, To, Message-ID)] of every mail the SMTP server accepted."""
    out = []
    for received in smtp.received():
        msg = received.msg
        text = ""
        part = msg.get_body(preferencelist=("plain",))
        if part is not None:
            text = part.get_content()
        m = re.search(r"/bookings/(\d+)\?token=", text)
        out.append((int(m.group(1)) if m else None, str(msg["To"] or ""), str(msg["Message-ID"] or "")))
    return out


def check(stack, smtp, reqs, probes, chaos, events, report, timeout):
    ev_ids = ",".join(str(e["id"]) for e in events)
    answered = [r for r in reqs if r.status is not None]
    st = collections.Counter(r.status for r in answered)
    codes = collections.Counter((r.status, r.final[2]) for r in answered if r.status == 409)
    unknown = [r for r in reqs if r.final and r.final[0] == "unknown"]
    attempts = [a for r in reqs for a in r.attempts]
    report.count("requests", len(reqs))
    report.count("requests with an Idempotency-Key", sum(1 for r in reqs if r.key))
    report.count("HTTP calls made (retries included)", len(attempts))
    report.check("answered 201", st[201], st[201] > 0)
    report.check("answered 202 (at least 5 % of the requests)", st[202], st[202] >= 0.05 * len(reqs))
    report.count("answered 409 slot_full", codes[(409, "slot_full")])
    report.count("answered 409 already_booked", codes[(409, "already_booked")])
    report.count("answered 503 (no key: outcome unknown)", sum(1 for r in unknown if r.final[1] == "503"))
    report.count("connection broken mid-call (no key: outcome unknown)",
                 sum(1 for r in unknown if r.final[1] == "reset"))
    report.count("503 answers (every call)", sum(1 for a in attempts if a[2] == 503))
    report.count("connects refused (ingress restarting; retried)", sum(1 for a in attempts if a[2] == "connect"))
    lat = [a[1] for a in attempts if isinstance(a[2], int)]
    report.count("answer latency p50 / p99 / max (s)", "%.3f / %.3f / %.3f" % (
        quantile(lat, 0.5), quantile(lat, 0.99), max(lat or [0])))
    report.check("unexpected answers (not 201/202/409 slot_full,already_booked/503)",
                 sum(1 for r in answered if r.status not in (201, 202, 409) or
                     (r.status == 409 and r.final[2] not in OK_409)), lambda v: v == 0)
    hangs = [a for a in attempts if a[2] == "timeout"] + [p for p in probes if p[3] == "timeout"]
    report.check("calls without an answer within %g s (hangs)" % timeout, len(hangs), len(hangs) == 0,
                 repr(hangs[:5]))
    never = [r for r in reqs if r.key and r.status is None]
    report.check("keyed requests never answered", len(never), len(never) == 0,
                 repr([(r.i, r.attempts[-3:]) for r in never[:5]]))
    bad503 = [a for a in attempts if a[2] == 503 and (a[3] != "unavailable" or not a[4])]
    bad503 += [p for p in probes if p[3] == 503 and (p[4] != "unavailable" or not p[5])]
    report.check("503s without `unavailable` and Retry-After", len(bad503), len(bad503) == 0, repr(bad503[:5]))

    # A refused connect is the ingress restarting (killed, its successor not yet listening): never
    # at another time.
    def restarting(t, kind):
        return kind == "connect" and any(a <= t <= b + 2.0 for a, b in chaos.windows("ingress"))
    unreachable = [a for a in attempts if a[2] == "connect" and not restarting(a[0], a[2])]
    unreachable += [p for p in probes if p[3] == "connect" and not restarting(p[1], p[3])]
    report.check("connects refused while no ingress was restarting", len(unreachable), not unreachable,
                 repr(unreachable[:5]))

    # the store outages
    for comp, probe_kind, label in (("redis", "redis", "Redis down"), ("postgres", "pg", "PostgreSQL down")):
        wins = chaos.windows(comp)
        inside = [p for p in probes if p[0] == probe_kind and any(a <= p[1] <= b for a, b in wins)]
        n503 = sum(1 for p in inside if p[3] == 503)
        report.check("%s: probes answered 503 unavailable+Retry-After" % label,
                     "%d of %d" % (n503, len(inside)), n503 > 0 and bool(wins))
        if comp == "redis":
            rush503 = sum(1 for a in attempts if a[2] == 503 and any(x <= a[0] <= y for x, y in wins))
            report.check("Redis down: reservations answered 503", rush503, rush503 > 0)
        others = [p for p in inside if p[3] not in (503, 200, 404) and not restarting(p[1], p[3])]
        report.check("%s: probe answers other than 503 (or 200/404 at the edges)" % label, len(others),
                     len(others) == 0, repr(others[:5]))

    # where the 503s fell: a store down, the first 3 s after it answered again (the services
    # reconnect with a backoff), the first 2 s of a restarted ingress (its catalogue loading), else
    def cause(t):
        for comp in ("redis", "postgres"):
            if any(a <= t <= b for a, b in chaos.windows(comp)):
                return comp
            if any(b < t <= b + 3.0 for a, b in chaos.windows(comp)):
                return comp + " back"
        if any(a <= t <= b + 2.0 for a, b in chaos.windows("ingress")):
            return "ingress"
        return "other"
    causes = collections.Counter(cause(a[0]) for a in attempts if a[2] == 503)
    report.count("503s: redis down / reconnecting, postgres down / reconnecting, ingress restarting, other",
                 "%d / %d, %d / %d, %d, %d" % (causes["redis"], causes["redis back"], causes["postgres"],
                                               causes["postgres back"], causes["ingress"], causes["other"]))
    others = sorted(round(a[0], 2) for a in attempts if a[2] == 503 and cause(a[0]) == "other")
    if others:
        report.count("times of the other 503s (s)", others[:20])

    # every 202 decided once
    decided = [r for r in reqs if r.rid]
    still = [r for r in decided if r.decided is None]
    changed = [r for r in decided if r.decided is not None and r.decided_again != r.decided]
    report.check("202s with a final decision", "%d of %d" % (len(decided) - len(still), len(decided)),
                 not still, repr([r.rid for r in still[:5]]))
    report.check("202s whose decision changed when asked again", len(changed), not changed)
    dec = collections.Counter(outcome(r.decided) for r in decided if r.decided)
    report.count("202s decided confirmed / slot_full / already_booked",
                 "%d / %d / %d" % (dec["confirmed"], dec["slot_full"], dec["already_booked"]))
    report.check("202s decided otherwise", sum(v for k, v in dec.items() if k not in ("confirmed",) + OK_409),
                 lambda v: v == 0)

    # rows
    rows = stack.psql("SELECT id, request_id, event_id, slot_id, status, email, identity FROM bookings "
                      "WHERE event_id IN (%s)" % ev_ids)
    by_id = {int(r[0]): r for r in rows}
    by_rid = {r[1]: r for r in rows}
    by_req = collections.defaultdict(list)
    for r in rows:
        by_req[(r[5], r[3])].append(r)
    report.check("booking rows", len(rows), len(rows) > 0)
    bad201 = []
    for r in reqs:
        if r.status == 201:
            bid = int(r.final[3]["booking"]["id"])
            row = by_id.get(bid)
            if row is None or row[4] != "confirmed" or row[5] != r.mail or row[3] != r.slot:
                bad201.append((r.i, bid, row))
    report.check("201s without their row", len(bad201), not bad201, repr(bad201[:5]))
    bad202 = []
    for r in decided:
        if r.decided is None:
            continue
        row = by_rid.get(r.rid)
        if outcome(r.decided) == "confirmed":
            if row is None or int(row[0]) != int(r.decided["booking"]["id"]) or row[5] != r.mail:
                bad202.append((r.rid, "confirmed", row))
        elif row is not None:
            bad202.append((r.rid, outcome(r.decided), row))
    report.check("202s whose decision disagrees with the rows", len(bad202), not bad202, repr(bad202[:5]))
    refused = [r for r in reqs if (r.status == 409 or (r.decided and outcome(r.decided) in OK_409))
               and by_req.get((r.mail, r.slot))]
    report.check("refused requests with a row", len(refused), not refused,
                 repr([(r.i, r.final, by_req[(r.mail, r.slot)]) for r in refused[:5]]))
    asked = {(r.mail, r.slot) for r in reqs}
    stray = [k for k in by_req if k not in asked]
    report.check("rows no request asked for", len(stray), not stray)
    twice = [k for k, v in by_req.items() if len(v) > 1]
    report.check("requests with more than one row", len(twice), not twice, repr(twice[:5]))
    lost_rows = [r for r in unknown if by_req.get((r.mail, r.slot))]
    report.count("rows of requests answered 503 (no key; queued after all)",
                 sum(1 for r in lost_rows if r.final[1] == "503"))
    report.count("rows of requests whose connection broke (no key)",
                 sum(1 for r in lost_rows if r.final[1] != "503"))
    if any(r.final[1] == "503" for r in lost_rows):
        report.count("times of those 503s (s) and causes", [
            (round(r.attempts[-1][0], 2), cause(r.attempts[-1][0]), round(r.attempts[-1][1], 3))
            for r in lost_rows if r.final[1] == "503"][:10])

    slots = stack.psql("SELECT s.id, s.capacity, s.booked, count(b.id) FILTER (WHERE b.status IN "
                       "('confirmed','attended')) FROM slots s LEFT JOIN bookings b ON b.slot_id = s.id "
                       "WHERE s.event_id IN (%s) GROUP BY s.id" % ev_ids)
    report.count("slots / seats", "%d / %d" % (len(slots), sum(int(s[1]) for s in slots)))
    over = [s for s in slots if int(s[3]) > int(s[1])]
    report.check("oversold slots", len(over), not over, repr(over[:5]))
    counter = [s for s in slots if int(s[2]) != int(s[3])]
    report.check("slots whose booked counter differs from their rows", len(counter), not counter,
                 repr(counter[:5]))
    report.count("seats taken", sum(int(s[3]) for s in slots))
    # a refusal must be true of the end state (nothing is cancelled in this run)
    def final_code(r):
        return r.final[2] if r.status == 409 else (outcome(r.decided) if r.decided else None)
    free = {s[0] for s in slots if int(s[3]) < int(s[1])}
    wrong_full = [r.i for r in reqs if final_code(r) == "slot_full" and r.slot in free]
    report.check("slot_full answers for a slot with a free seat", len(wrong_full), not wrong_full,
                 repr(wrong_full[:5]))
    holders = {(int(r[2]), r[6]) for r in rows if r[4] == "confirmed"}
    wrong_ab = [r.i for r in reqs if final_code(r) == "already_booked"
                and (r.ev["id"], r.mail) not in holders]
    report.check("already_booked answers for a booker without a booking", len(wrong_ab), not wrong_ab,
                 repr(wrong_ab[:5]))
    dups = stack.psql("SELECT event_id, identity, count(*) FROM bookings WHERE event_id IN (%s) AND "
                      "status IN ('confirmed','attended') GROUP BY 1, 2 HAVING count(*) > 1" % ev_ids)
    report.check("identities with two active bookings in an event", len(dups), not dups, repr(dups[:5]))

    # mail
    jobs = stack.psql("SELECT b.id, count(o.id), count(o.id) FILTER (WHERE o.status = 'sent') FROM bookings b "
                      "LEFT JOIN mail_outbox o ON o.booking_id = b.id AND o.kind = 'confirmation' "
                      "WHERE b.event_id IN (%s) AND b.status = 'confirmed' GROUP BY b.id" % ev_ids)
    report.check("confirmed bookings without exactly one confirmation job",
                 sum(1 for j in jobs if j[1] != "1"), lambda v: v == 0)
    unsent = [j for j in jobs if j[2] != "1"]
    report.check("confirmation jobs not sent", len(unsent), not unsent, repr(unsent[:5]))
    mails = read_mails(smtp)
    confirmed = {int(j[0]) for j in jobs}
    per_booking = collections.defaultdict(list)
    for bid, to, mid in mails:
        if bid in confirmed:
            per_booking[bid].append(mid)
    report.count("mails received (all)", len(mails))
    missing = confirmed - set(per_booking)
    report.check("confirmed bookings without a mail", len(missing), not missing, repr(sorted(missing)[:5]))
    resent = sum(len(v) - 1 for v in per_booking.values())
    report.count("mails sent twice (resent after a notifier kill)", resent)
    other_id = [(b, v) for b, v in per_booking.items()
                if set(v) != {"<booking-%d-confirmation@%s>" % (b, MAIL_DOMAIN)}]
    report.check("bookings whose mails carry another Message-ID", len(other_id), not other_id,
                 repr(other_id[:5]))
    report.count("probe event mails (not counted above)", sum(1 for b, _, _ in mails if b not in confirmed))

    # the queue
    pending, undelivered = stream_state(stack)
    report.check("stream entries pending (delivered, not acknowledged)", pending, pending == 0)
    report.check("stream entries never delivered", undelivered, undelivered == 0)


async def load_and_probe(stack, reqs, clock, args, booking, probes):
    done = asyncio.Event()
    prober = asyncio.ensure_future(probe(stack.http_port, clock, done, probes, booking, args.timeout))
    try:
        await rush(stack.http_port, reqs, clock, args.conns, args.timeout, args.retry_s)
    finally:
        done.set()
        await prober


def run(args):
    """One chaos run with args (requests, seats, duration, waves, wait_ms, conns, timeout,
    retry_s, seed, keep); returns its Report."""
    rng = random.Random(args.seed)
    report = Report("chaos (seed %d)" % args.seed)
    # The notifier sends to an SMTP server of this process that takes smtp_delay seconds to accept
    # each mail, so that a kill finds mails in flight (accepted, not yet known to be).
    smtp = SmtpServer()
    smtp.delay = args.smtp_delay
    smtp.start()
    stack = ykstack.Stack(n_workers=2, wait_ms=args.wait_ms, extra_env=dict(MAIL_ENV), notifier=False,
                          client_timeout=args.timeout + 20)
    t_start = time.monotonic()
    try:
        stack.start()
    except BaseException:
        for p in reversed(stack.procs):
            p.stop()
        smtp.stop()
        raise
    try:
        stack.notifier = start_notifier(stack, smtp)
        waves_n = args.waves
        cap = max(1, -(-args.seats // (waves_n * EVENTS_PER_WAVE * SLOTS_PER_EVENT)))
        slugs = distinct_partition_slugs("chaos", waves_n * EVENTS_PER_WAVE, stack.partitions)
        log("creating %d events (%d seats) …" % (len(slugs), cap * len(slugs) * SLOTS_PER_EVENT))
        events = make_events(stack, slugs, [cap] * SLOTS_PER_EVENT)
        waves = [events[w * EVENTS_PER_WAVE:(w + 1) * EVENTS_PER_WAVE] for w in range(waves_n)]
        probe_event = make_events(stack, distinct_partition_slugs("probe", 1, stack.partitions), [5])[0]
        r = stack.client.post(reservation_path(probe_event["slug"]),
                              body(probe_event["slots"][0], "probe-%s@example.com" % uuid.uuid4().hex))
        booking = ykstack.resolve(stack.client, r)
        booking = {"id": booking["booking"]["id"], "token": booking["token"]}
        tag = uuid.uuid4().hex[:6]
        reqs = plan(waves, args.requests, args.duration, rng, tag)
        log("rush: %d requests over %.0f s, %d waves, YOYAKU_WAIT_MS=%d; kills start"
            % (len(reqs), args.duration, waves_n, args.wait_ms))

        clock = Clock()
        chaos = Chaos(stack, smtp, clock, args.duration, rng)
        probes = []
        chaos.start()
        try:
            asyncio.run(load_and_probe(stack, reqs, clock, args, booking, probes))
        finally:
            chaos.stop()
        t_rush = clock.now()
        log("rush over after %.1f s; healing and draining" % t_rush)
        smtp.delay = 0.0      # no more kills: the rest of the mail goes out at full speed
        heal(stack, smtp, 2)
        t0 = time.monotonic()
        wait_until(lambda: stream_state(stack) == (0, 0), 120, 0.2, what="the queue drained")
        drain_s = time.monotonic() - t0
        asyncio.run(resolve_all(stack.http_port, reqs, args.timeout))
        ev_ids = ",".join(str(e["id"]) for e in events)
        wait_until(lambda: stack.scalar(
            "SELECT count(*) FROM mail_outbox o JOIN bookings b ON b.id = o.booking_id WHERE "
            "b.event_id IN (%s) AND o.kind = 'confirmation' AND o.status = 'pending'" % ev_ids) == "0",
            180, 0.5, what="every confirmation mail sent")
        mail_s = time.monotonic() - t0

        comps = collections.Counter(a[0] for a in chaos.actions)
        report.count("rush: requests spread over / took (s)", "%g / %.1f" % (args.duration, t_rush))
        report.count("YOYAKU_WAIT_MS", args.wait_ms)
        for comp in ("worker", "notifier", "ingress", "redis", "postgres"):
            report.check("kills: %s" % comp, comps[comp], comps[comp] >= 1)
        report.check("chaos errors (a kill or restart that failed)", len(chaos.errors), not chaos.errors,
                     "; ".join(chaos.errors[:3]))
        for comp in ("redis", "postgres"):
            w = chaos.windows(comp)
            if w:
                report.count("%s down (s, from kill to answering again)" % comp,
                             ", ".join("%.1f" % (b - a) for a, b in w))
        crashed = [(p.name, p.popen.returncode) for p in stack.procs
                   if not p.alive() and p not in chaos.killed]
        report.check("processes that died without being killed", len(crashed), not crashed, repr(crashed))
        report.count("drain after the rush (s): queue / mail", "%.1f / %.1f" % (drain_s, mail_s))
        check(stack, smtp, reqs, probes, chaos, events, report, args.timeout)
    finally:
        problems = stack.shutdown()
        smtp.stop()
        report.check("problems at shutdown (exit status, leftovers, sanitizer reports)", len(problems),
                     not problems, "\n".join(problems)[:4000])
        if not report.failed and not args.keep:
            stack.cleanup()
        else:
            log("files kept in %s" % stack.dir)
        report.count("total seconds", "%.0f" % (time.monotonic() - t_start))
    return report
