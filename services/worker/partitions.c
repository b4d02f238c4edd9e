/* partitions: ownership of request streams. A worker owns p while its PostgreSQL session holds
 * advisory lock (31601, p): the lock dies with the session, so a dead worker frees its share. */
#include "partitions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "persist.h"
#include "yk_partition.h"
#include "yk_log.h"

void partitions_key(unsigned p, char buf[32])
{
    snprintf(buf, 32, "yk:req:{%u}", p);
}

void partitions_forget(worker *w, unsigned p)
{
    map_clear(&w->parts[p].events, persist_event_free);
    map_clear(&w->parts[p].scopes, persist_scope_free);
}

persist_slot *partitions_cached_slot(worker *w, unsigned p, int64_t ev, int64_t slot,
                                     persist_event **e)
{
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)ev);
    *e = map_get(&w->parts[p].events, key);
    if (*e == NULL)
        return NULL;
    snprintf(key, sizeof key, "%lld", (long long)slot);
    return map_get(&(*e)->slots, key);
}

void partitions_drop_all(worker *w)
{
    for (unsigned p = 0; p < w->partitions; p++) {
        partitions_forget(w, p);
        w->parts[p].owned = w->parts[p].setup = false;
    }
}

void partitions_resetup_all(worker *w)
{
    for (unsigned p = 0; p < w->partitions; p++)
        w->parts[p].setup = w->parts[p].owned;
}

static int64_t partitions_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs SELECT fn(31601, p) and returns its boolean: 1 true, 0 false, -1 session error. */
static int partitions_lock_call(worker *w, const char *fn, unsigned p)
{
    char sql[80];
    snprintf(sql, sizeof sql, "SELECT %s(%d, %u)", fn, WORKER_LOCK_CLASS, p);
    yk_pgres *r = yk_pgconn_run(w->pg, &(yk_pgconn_stmt){.sql = sql});
    int v = yk_pgres_ok(r) && yk_pgres_rows(r) == 1 ? yk_pgres_bool(r, 0, 0) : -1;
    if (v < 0)
        yk_error("%s(%u) failed: %s", fn, p, yk_pgconn_error(w->pg));
    yk_pgres_free(r);
    return v;
}

/* The length of the dead-letter stream of every owned partition, for /metrics; appended to the
 * heartbeat's round trip. Returns the number of commands appended, or -1. */
static int partitions_dead_append(worker *w)
{
    int n = 0;
    for (unsigned p = 0; p < w->partitions; p++) {
        char key[32];
        snprintf(key, sizeof key, "yk:dead:{%u}", p);
        if (w->parts[p].owned && yk_rconn_append(w->redis, 2, (const char *[]){"XLEN", key}) != 0)
            return -1;
        n += w->parts[p].owned;
    }
    return n;
}

/* Reads the replies of partitions_dead_append. -1 when the connection failed. */
static int partitions_dead_read(worker *w)
{
    long long *len = malloc(w->partitions * sizeof *len);
    for (unsigned p = 0; p < w->partitions; p++) {
        if (!w->parts[p].owned) {
            if (len)
                len[p] = -1;
            continue;
        }
        yk_reply *r = yk_rconn_get(w->redis);
        if (r == NULL) {
            free(len);
            return -1;
        }
        if (len)
            len[p] = yk_reply_is(r, YK_REPLY_INTEGER) ? yk_reply_int(r) : -1;
        yk_rconn_free(r);
    }
    if (len)
        metrics_dead_lengths(len, (size_t)w->partitions);
    free(len);
    return 0;
}

/* ZADD + ZREMRANGEBYSCORE + ZCARD + GET yk:catalogue (+ an XLEN per owned dead-letter stream) in
 * one round trip; the number of live workers or -1. *version receives the catalogue version the
 * ingress bumps on admin changes. */
static long long partitions_heartbeat(worker *w, long long *version)
{
    int64_t now = partitions_now_ms();
    char score[24], old[32];
    snprintf(score, sizeof score, "%lld", (long long)now);
    snprintf(old, sizeof old, "%lld", (long long)(now - 3 * w->rebalance_ms));
    if (yk_rconn_append(w->redis, 4, (const char *[]){"ZADD", "yk:workers", score, w->id}) != 0 ||
        yk_rconn_append(w->redis, 4,
                        (const char *[]){"ZREMRANGEBYSCORE", "yk:workers", "-inf", old}) != 0 ||
        yk_rconn_append(w->redis, 2, (const char *[]){"ZCARD", "yk:workers"}) != 0 ||
        yk_rconn_append(w->redis, 2, (const char *[]){"GET", "yk:catalogue"}) != 0 ||
        partitions_dead_append(w) < 0)
        return -1;
    long long n = -1;
    *version = 0;
    for (int i = 0; i < 4; i++) {
        yk_reply *r = yk_rconn_get(w->redis);
        if (r == NULL)
            return -1; /* the connection is now unusable; the caller reconnects */
        if (i == 2 && yk_reply_is(r, YK_REPLY_INTEGER))
            n = yk_reply_int(r);
        if (i == 3 && yk_reply_is(r, YK_REPLY_STRING))
            *version = atoll(yk_reply_str(r, NULL));
        yk_rconn_free(r);
    }
    return partitions_dead_read(w) == 0 ? n : -1;
}

worker_status partitions_rebalance(worker *w)
{
    long long version;
    long long n = partitions_heartbeat(w, &version);
    if (n < 0)
        return WORKER_REDIS_LOST;
    /* Our locks live as long as the session. One that died while we were idle (PostgreSQL
     * restarted) is noticed here, not at the next commit: until then we would read partitions
     * another worker owns by now. One round trip a tick. */
    yk_pgres *alive = yk_pgconn_run(w->pg, &(yk_pgconn_stmt){.sql = "SELECT 1"});
    bool ok = yk_pgres_ok(alive);
    yk_pgres_free(alive);
    if (!ok)
        return WORKER_PG_LOST;
    if (n == 0)
        n = 1; /* our own entry expired between ZADD and ZCARD: only with a huge clock jump */
    unsigned owned = 0, target = (unsigned)((w->partitions + n - 1) / n);
    for (unsigned p = 0; p < w->partitions; p++)
        owned += w->parts[p].owned;

    /* Release from the top and acquire starting at a per-worker offset, so that workers starting
     * together do not all race for partition 0 first. */
    for (unsigned p = (unsigned)w->partitions; p-- > 0 && owned > target;) {
        if (!w->parts[p].owned)
            continue;
        if (partitions_lock_call(w, "pg_advisory_unlock", p) < 0)
            return WORKER_PG_LOST;
        partitions_forget(w, p);
        w->parts[p].owned = w->parts[p].setup = false;
        owned--;
        yk_info("released partition=%u owned=%u target=%u workers=%lld", p, owned, target, n);
    }
    unsigned start = yk_partition_of(w->id, (unsigned)w->partitions);
    for (unsigned i = 0; i < w->partitions && owned < target; i++) {
        unsigned p = (start + i) % (unsigned)w->partitions;
        if (w->parts[p].owned)
            continue;
        int got = partitions_lock_call(w, "pg_try_advisory_lock", p);
        if (got < 0)
            return WORKER_PG_LOST;
        if (got) {
            partitions_forget(w, p);
            w->parts[p].owned = true;
            owned++;
            yk_info("acquired partition=%u owned=%u target=%u workers=%lld", p, owned, target, n);
        }
    }
    /* Between batches the cache equals PostgreSQL, so dropping it is always safe. It is dropped
     * when an admin change bumped the catalogue version (limits, capacities, reminders), not
     * every tick: rereading a rush event's identity counts costs a scan of its bookings.
     * Setting up every tick sweeps entries orphaned by a worker that lost its session while
     * reading, and re-creates a stream that vanished with a Redis restart. */
    bool changed = version != w->catalogue_version;
    w->catalogue_version = version;
    for (unsigned p = 0; p < w->partitions; p++) {
        if (w->parts[p].owned) {
            if (changed)
                partitions_forget(w, p);
            w->parts[p].setup = true;
        }
    }
    return yk_pgconn_lost(w->pg) ? WORKER_PG_LOST : WORKER_OK;
}

worker_status partitions_setup(worker *w, unsigned p)
{
    char key[32];
    partitions_key(p, key);
    yk_reply *r = yk_rconn_command(
        w->redis, 6, (const char *[]){"XGROUP", "CREATE", key, "workers", "0", "MKSTREAM"});
    if (r == NULL)
        return WORKER_REDIS_LOST;
    if (yk_reply_error(r) && strncmp(yk_reply_error(r), "BUSYGROUP", 9) != 0)
        yk_error("XGROUP CREATE %s: %s", key, yk_reply_error(r));
    yk_rconn_free(r);

    w->parts[p].setup = false; /* a failure below is retried at the next tick */
    /* Min idle 0: whoever held these entries no longer owns p, so cannot commit them. JUSTID
     * because the entries are read back, with our own, by the replay that follows. */
    char cursor[64] = "0-0";
    long long claimed = 0;
    do {
        r = yk_rconn_command(w->redis, 9,
                             (const char *[]){"XAUTOCLAIM", key, "workers", w->id, "0", cursor,
                                              "COUNT", "1000", "JUSTID"});
        if (r == NULL)
            return WORKER_REDIS_LOST;
        if (yk_reply_count(r) < 2 || !yk_reply_is(yk_reply_at(r, 0), YK_REPLY_STRING)) {
            yk_error("XAUTOCLAIM %s: %s", key, yk_reply_error(r) ? yk_reply_error(r) : "bad reply");
            yk_rconn_free(r);
            return WORKER_OK; /* replay still answers our own pending entries */
        }
        snprintf(cursor, sizeof cursor, "%s", yk_reply_str(yk_reply_at(r, 0), NULL));
        claimed += (long long)yk_reply_count(yk_reply_at(r, 1));
        yk_rconn_free(r);
    } while (strcmp(cursor, "0-0") != 0);
    if (claimed)
        yk_info("claimed partition=%u entries=%lld", p, claimed);
    return WORKER_OK;
}

void partitions_leave(worker *w)
{
    if (w->redis)
        yk_rconn_free(yk_rconn_command(w->redis, 3, (const char *[]){"ZREM", "yk:workers", w->id}));
    if (w->pg)
        yk_pgres_free(
            yk_pgconn_run(w->pg, &(yk_pgconn_stmt){.sql = "SELECT pg_advisory_unlock_all()"}));
}
