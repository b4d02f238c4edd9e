"""Redis Cluster (contract §2 Scale-out, issue 15), run by tests/run's cluster stage
(YOYAKU_TEST_REDIS=cluster: the session stack runs on 3 masters + 3 replicas; skipped otherwise):
every key of a partition in one slot and partitions spread over the masters; replies travel by
sharded pub/sub and requests are confirmed by a replica (WAIT) before they count as queued; a manual
failover (the old master answers MOVED) and a kill -9 of a master during a rush (its replica takes
over) are followed by ingress and workers: every 201 and 202 is decided exactly once, nothing is
oversold."""

import collections
import concurrent.futures
import threading
import time

import pytest

import ykstack
from test_answers import second_ingress
from ykstack import email, key_slot, outcome, wait_until

pytestmark = pytest.mark.skipif(ykstack.REDIS_MODE != "cluster",
                                reason="needs YOYAKU_TEST_REDIS=cluster (tests/run's cluster stage)")


def slot_master(stack, key):
    """Port of the master serving key's slot now."""
    for r in stack.redis("CLUSTER", "SLOTS"):
        if int(r[0]) <= key_slot(key) <= int(r[1]):
            return int(r[2][1]), [int(x[1]) for x in r[3:]]
    raise AssertionError("no master for %s" % key)


def commandstat(port, name):
    """Calls of command name on the node at port (INFO commandstats)."""
    info = ykstack.Redis(port)("INFO", "commandstats")
    for line in info.splitlines():
        if line.startswith("cmdstat_%s:" % name):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


def test_partition_keys_share_a_slot_and_partitions_spread(stack):
    masters = set()
    for p in range(stack.partitions):
        keys = ["yk:req:{%d}" % p, "yk:seq:{%d}" % p, "yk:done:{%d}" % p,
                "yk:idem:{%d}:12:%s" % (p, "ab" * 32)]
        assert len({key_slot(k) for k in keys}) == 1, keys
        masters.add(slot_master(stack, keys[0])[0])
    assert len(masters) >= 2, "all %d partitions on one master" % stack.partitions


def test_replies_sharded_and_requests_confirmed_by_a_replica(stack, make_event):
    ev = make_event(capacities=[10])
    stream = "yk:req:{%d}" % ev.partition
    master, replicas = slot_master(stack, stream)
    assert replicas, "the partition's master has no replica"
    rep_master, _ = slot_master(stack, "yk:rep:" + stack.ingress_id)
    waits, spub = commandstat(master, "wait"), commandstat(rep_master, "spublish")
    for i in range(3):
        r = ev.reserve(mail=email("wait%d" % i))
        assert r.status == 201, r
    assert commandstat(master, "wait") >= waits + 3      # one WAIT per submit, on its master
    assert commandstat(rep_master, "spublish") >= spub + 3  # answers by SPUBLISH
    # the replica holds what the master holds (the sequence number of the partition)
    seq = stack.redis("GET", "yk:seq:{%d}" % ev.partition)
    rep = ykstack.Redis(replicas[0])
    rep("READONLY")
    wait_until(lambda: rep("GET", "yk:seq:{%d}" % ev.partition) == seq, 5,
               what="the replica's copy of yk:seq")
    # idempotent submits too (the script over the partition's slot, then WAIT)
    waits = commandstat(master, "wait")
    h = {"Idempotency-Key": "cluster-" + ykstack.unique()}
    body = ev.body(mail=email("idem"))
    first = stack.client.post("/v1/events/%s/reservations" % ev.slug, body, headers=h)
    again = stack.client.post("/v1/events/%s/reservations" % ev.slug, body, headers=h)
    assert first.status == 201 and again.status == 201, (first, again)
    assert first.json["booking"]["id"] == again.json["booking"]["id"]
    assert commandstat(master, "wait") == waits + 1
    assert len(ev.rows()) == 4


def wait_cluster(stack, timeout=30):
    wait_until(lambda: ykstack.cluster_ok(stack.redis_ports), timeout, 0.2,
               what="the cluster to be whole again")
    stack.redis.refresh()


def test_manual_failover_is_followed(stack, make_event):
    """CLUSTER FAILOVER on the replica: the old master stays up and answers MOVED, which the ingress
    (async) and the workers (blocking) follow to the new master."""
    ev = make_event(capacities=[20])
    assert ev.reserve().status == 201
    stream = "yk:req:{%d}" % ev.partition
    master, replicas = slot_master(stack, stream)
    assert ykstack.Redis(replicas[0])("CLUSTER", "FAILOVER") == "OK"
    wait_until(lambda: slot_master(stack, stream)[0] == replicas[0], 20, 0.1,
               what="the replica to take the partition's slot")
    got = [ev.reserve(mail=email("mv%d" % i)) for i in range(5)]
    assert [r.status for r in got] == [201] * 5, got
    assert len(ev.rows()) == 6
    wait_cluster(stack)


def restart_node(stack, port):
    """Starts the killed node again with its nodes.conf: it rejoins as a replica."""
    d = stack.dir / "redis" / ("redis-%d" % port)
    old = [p for p in stack.redis_procs if p.name == "redis-%d" % port][0]
    p = stack._spawn(old.name, old.argv)
    stack.redis_procs[stack.redis_procs.index(old)] = p
    wait_until(lambda: ykstack._ping(port), 20, what="redis %d back" % port)
    assert d.exists()


N = 300
CONTENDED = 40


def run_on(port, fn, items, threads):
    """fn(client, item) on a pool of threads, each with its own keep-alive client to port."""
    local, clients, lock = threading.local(), [], threading.Lock()

    def call(item):
        if getattr(local, "client", None) is None:
            local.client = ykstack.Client("127.0.0.1", port)
            with lock:
                clients.append(local.client)
        return fn(local.client, item)
    try:
        with concurrent.futures.ThreadPoolExecutor(threads) as ex:
            return list(ex.map(call, items))
    finally:
        for c in clients:
            c.close()


def test_kill9_a_master_during_a_rush(stack, make_event):
    """kill -9 of the master holding the event's partition while 300 reservations arrive: its
    replica takes over; every 201 and every 202 is decided exactly once (the uncontended slot: one
    booking row per answered request), nothing is oversold (the contended one)."""
    ev = make_event(capacities=[CONTENDED, N])
    assert ev.reserve(slot_id=ev.slot_ids[1]).status == 201     # warm: partition served
    stream = "yk:req:{%d}" % ev.partition
    master, replicas = slot_master(stack, stream)
    victim = [p for p in stack.redis_procs if p.name == "redis-%d" % master][0]
    path = "/v1/events/%s/reservations" % ev.slug
    mails = [email("k9-%d" % i) for i in range(N)]

    done_at, killed_at, third = {}, [], threading.Event()

    def book(client, i):
        body = {"slot_id": ev.slot_ids[i % 2], "email": mails[i],
                "fields": {"name": "障害 %d" % i}}
        for _ in range(3):
            try:
                r = client.post(path, body)
                done_at[i] = time.monotonic()
                if len(done_at) >= N // 3:
                    third.set()
                return i, r
            except OSError:
                time.sleep(0.2)
        return i, None

    def kill():     # once a third of the requests are answered: mid-rush however fast it runs
        third.wait(60)
        killed_at.append(time.monotonic())
        victim.signal(9)
    # through an ingress that answers 202 after 800 ms: requests caught by the failover (their
    # decision waits for the promotion) are answered 202 and must be decided all the same
    try:
        with second_ingress(stack, "ingress-k9", 800, ev) as (ing, c0):
            killer = threading.Thread(target=kill)
            killer.start()
            try:
                answers = run_on(c0.port, book, range(N), threads=30)
            finally:
                third.set()
                killer.join()
        assert not victim.alive()
        assert min(done_at.values()) < killed_at[0] < max(done_at.values()), \
            "kill not during the rush"
        wait_until(lambda: slot_master(stack, stream)[0] != master, 30, 0.2,
                   what="a replica promoted for the partition's slot")
        check_rush(stack, ev, mails, answers)
    finally:    # the killed node rejoins as a replica, pass or fail: the next tests need it whole
        if not victim.alive():
            restart_node(stack, master)
        wait_cluster(stack, 60)


def check_rush(stack, ev, mails, answers):
    status = collections.Counter(r.status if r else None for _, r in answers)
    print("statuses with a master killed mid-rush:", dict(status))
    assert status[201] + status[202] > 0, status
    assert set(status) <= {201, 202, 409, 503}, status
    # every 202 is decided (its request was confirmed by the replica before it was queued)
    final = {}
    for i, r in answers:
        if r is None or r.status == 503:
            continue
        if r.status == 202:
            rid = r.json["request_id"]
            def decided(i=i, rid=rid):
                g = stack.client.get("/v1/requests/%s" % rid)
                if g.status == 200 and g.json.get("status") != "pending":
                    return g.json
                # an answer (or marker) may have died with the master: a booking is still found
                # by its request id once committed (the uncontended slot books every request)
                return {"lost_answer": rid} if g.status == 404 and i % 2 == 0 else None
            final[i] = wait_until(decided, 60, 0.2, what="request %s decided" % rid)
        else:
            final[i] = r.json
    for i, body in final.items():   # a 404 seen before its booking was committed: look again
        if "lost_answer" in body:
            g = stack.client.get("/v1/requests/%s" % body["lost_answer"])
            final[i] = g.json if g.status == 200 else body
    rows = ev.rows()      # id, request_id, slot_id, status, email, identity
    by_mail = collections.Counter(row[4] for row in rows)
    assert max(by_mail.values()) == 1, "a request booked twice"
    booked_mails = set(by_mail)
    for i, body in final.items():
        mail = mails[i]
        if outcome(body) == "confirmed":
            assert mail in booked_mails, (i, body)
        elif "lost_answer" in body:
            # a refusal's answer lived on the killed master: only a refusal can be lost
            assert i % 2 == 0 and mail not in booked_mails, (i, body)
        else:
            assert outcome(body) == "slot_full" and i % 2 == 0, (i, body)
    # uncontended slot: every answered request booked exactly once
    for i, body in final.items():
        if i % 2 == 1:
            assert mails[i] in booked_mails, (i, body)
    # contended slot: never oversold, and PostgreSQL's count agrees
    contended = [row for row in rows if int(row[2]) == int(ev.slot_ids[0])]
    assert len(contended) <= CONTENDED
    assert int(stack.scalar("SELECT booked FROM slots WHERE id = %s" % ev.slot_ids[0])) == \
        len(contended)

    # the stack serves the partition again
    assert ev.reserve(slot_id=ev.slot_ids[1], mail=email("after")).status == 201
