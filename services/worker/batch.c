/* batch: one batch of request entries from XREADGROUP to XACK, in order: decode, look up, decide,
 * commit, answer. Owns the batch's reply arena and the partition caches' loading. */
#include "batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "attend.h"
#include "commit.h"
#include "deadletter.h"
#include "decide.h"
#include "decode.h"
#include "metrics.h"
#include "partitions.h"
#include "persist.h"
#include "phase.h"
#include "soldout.h"
#include "yk_log.h"
#include "yk_rconn.h"

/* A buffer grown past this is freed after its batch. */
#define BATCH_TEXT_KEEP ((size_t)4 << 20)
/* The XREADGROUP reply of the running batch: tens of strings per entry, freed all at once. */
static yk_rconn_arena batch_replies;

/* Finds (loading on first use) event ev and its slot in partition p. 1 found, 0 not found (no
 * such event, or the slot is not the event's), -1 error. */
static int batch_lookup(worker *w, unsigned p, int64_t ev, int64_t slot, persist_event **e,
                        persist_slot **s)
{
    worker_part *part = &w->parts[p];
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)ev);
    *e = map_get(&part->events, key);
    if (*e == NULL) {
        int r = persist_event_load(w->pg, ev, &part->scopes, e);
        if (r <= 0)
            return r;
        if (phase_load(w->pg, *e) != 0) {
            persist_event_free(*e);
            return -1;
        }
        void **ref = map_ref(&part->events, key);
        if (ref == NULL) {
            persist_event_free(*e);
            return -1;
        }
        *ref = *e;
    }
    snprintf(key, sizeof key, "%lld", (long long)slot);
    *s = map_get(&(*e)->slots, key);
    return *s ? 1 : persist_slot_load(w->pg, *e, slot, s); /* a slot added since the load */
}

/* Looks up the event and slot of every undecided entry before deciding (a cancellation's slot is
 * its booking's), so that deciding reads memory only. The partition's state is PostgreSQL's until
 * the batch commits, so loading it before the batch's decisions or between them is the same. */
static worker_status batch_resolve(worker *w, entry *v, size_t n, const decide_bookings *bk)
{
    for (size_t i = 0; i < n; i++) {
        entry *en = &v[i];
        if (en->st != ENTRY_NEW || en->attend)
            continue;
        int64_t slot = en->slot;
        if (en->cancel) {
            const persist_booking *b = decide_booking_of(bk, en);
            if (b == NULL || b->event_id != en->ev)
                continue; /* answered 404 without a lookup */
            slot = b->slot;
        }
        en->found = batch_lookup(w, en->p, en->ev, slot, &en->e, &en->s);
        if (en->found < 0 && yk_pgconn_lost(w->pg))
            return WORKER_PG_LOST;
    }
    return WORKER_OK;
}

/* Reads the bookings that the undecided cancellations name. A failure leaves those entries for a
 * retry. */
static worker_status batch_bookings(worker *w, entry *v, size_t n, decide_bookings *bk)
{
    const char **ids;
    int m = decide_cancel_ids(v, n, &ids);
    persist_bookings_list rows;
    bool ok = m > 0 && persist_bookings(w->pg, ids, m, &rows) == 0;
    free(ids);
    decide_bookings_init(bk, v, n, ok ? &rows : NULL);
    return m > 0 && !ok && yk_pgconn_lost(w->pg) ? WORKER_PG_LOST : WORKER_OK;
}

/* Answers from PostgreSQL every entry picked by want whose request id is already committed. */
static worker_status batch_committed(worker *w, entry *v, size_t n, bool (*want)(const entry *))
{
    const char **rids = malloc(n * sizeof *rids);
    int m = 0;
    for (size_t i = 0; rids && i < n; i++)
        if (want(&v[i]))
            rids[m++] = v[i].rid;
    if (rids == NULL || m == 0) {
        free(rids);
        return WORKER_OK; /* nothing to look up (or out of memory: the insert still never books
                             a request id twice) */
    }
    persist_bookings_list rows;
    int r = persist_lookup(w->pg, rids, m, &rows);
    free(rids);
    if (r != 0)
        return yk_pgconn_lost(w->pg) ? WORKER_PG_LOST : WORKER_OK;
    decide_committed(v, n, want, &rows);
    persist_bookings_list_free(&rows);
    return WORKER_OK;
}

static int seat_cmp(const void *a, const void *b)
{
    const answer_seat *x = a, *y = b;
    return x->ev != y->ev ? (x->ev < y->ev ? -1 : 1) : (x->slot > y->slot) - (x->slot < y->slot);
}

/* Collects the seats left of every slot the batch touched, sorted by event then slot, one each.
 * *m = how many; NULL with *m = 0 when none. -1 in *m: the PostgreSQL session was lost. */
static answer_seat *batch_seats(worker *w, entry *v, size_t n, size_t *m)
{
    *m = 0;
    answer_seat *seats = malloc(n * sizeof *seats);
    for (size_t i = 0; seats && i < n; i++) {
        if (!v[i].touched)
            continue;
        persist_event *e;
        persist_slot *s;
        int r = batch_lookup(w, v[i].p, v[i].ev, v[i].slot, &e, &s); /* reloads if forgotten */
        if (r < 0 && yk_pgconn_lost(w->pg)) {
            free(seats);
            *m = (size_t)-1;
            return NULL;
        }
        if (r > 0)
            seats[(*m)++] = (answer_seat){v[i].ev, v[i].slot,
                                          s->capacity > s->booked ? s->capacity - s->booked : 0};
    }
    if (seats == NULL || *m == 0) {
        free(seats);
        *m = 0;
        return NULL;
    }
    qsort(seats, *m, sizeof *seats, seat_cmp);
    size_t k = 0;
    for (size_t i = 0; i < *m; i++)
        if (k == 0 || seat_cmp(&seats[k - 1], &seats[i]) != 0)
            seats[k++] = seats[i];
    *m = k;
    return seats;
}

/* Publishes the seats, stores and relays the answers and acks (answer_send). */
static worker_status batch_answer(worker *w, entry *v, size_t n)
{
    size_t m;
    answer_seat *seats = batch_seats(w, v, n, &m);
    if (m == (size_t)-1)
        return WORKER_PG_LOST;
    answer_bodies_fix(v, n);
    worker_status st = answer_send(w, v, n, seats, m);
    free(seats);
    return st;
}

/* Decides, persists and answers the entries of an XREADGROUP reply ([[key, [entry…]]…]) in
 * batch_replies, which must not be reused meanwhile. replay: the entries may already be
 * committed, and pending is the XPENDING reply with their delivery counts (deadletter_counts);
 * otherwise each is delivered for the first time. Nothing is acked before its answer is out; an
 * entry no delivery can decide goes to the dead letters (deadletter.h). */
static worker_status batch_run(worker *w, const yk_reply *streams, bool replay,
                               const yk_reply *pending)
{
    size_t n = decode_count(streams);
    if (n == 0)
        return WORKER_OK;
    entry *v = calloc(n, sizeof *v);
    bool *stale = calloc(w->partitions, sizeof *stale);
    int *d = replay ? malloc(n * sizeof *d) : NULL; /* NULL: first delivery of each */
    if (v == NULL || stale == NULL || (replay && d == NULL)) {
        free(v);
        free(stale);
        free(d);
        return WORKER_OK; /* entries stay pending and are replayed at the next tick */
    }
    answer_reset();
    commit_reset();
    deadletter_begin();
    size_t k = decode_streams(v, streams, (unsigned)w->partitions);
    if (replay)
        deadletter_counts(v, k, pending, d);
    deadletter_undecodable(v, k, d);

    (void)persist_take_transient(); /* count only this batch's errors */
    /* A replayed entry may be committed already; deciding it again would count its seat twice. */
    worker_status st = replay ? batch_committed(w, v, k, decide_want_new) : WORKER_OK;
    if (replay)
        deadletter_overdelivered(v, k, d, (int)w->max_deliveries);
    decide_bookings bk = DECIDE_BOOKINGS_INIT;
    if (st == WORKER_OK)
        st = batch_bookings(w, v, k, &bk);
    if (st == WORKER_OK)
        st = batch_resolve(w, v, k, &bk);
    soldout_mark(v, k);
    for (size_t i = 0; i < k && st == WORKER_OK; i++) {
        if (v[i].st != ENTRY_NEW || v[i].attend) /* attend_run decides those */
            continue;
        if (v[i].cancel)
            decide_cancel(&v[i], &bk);
        else
            decide_reserve(&v[i]);
    }
    if (st == WORKER_OK) /* slots full before the batch: answered before the commit */
        st = soldout_answer(w, v, k, replay);
    if (st == WORKER_OK)
        st = commit_write(w, v, k, !replay, stale);
    if (st == WORKER_OK) {
        commit_settle(v, k, &bk, stale);
        st = batch_committed(w, v, k, decide_want_dup);
        for (size_t i = 0; i < k; i++)
            if (v[i].st == ENTRY_DUP)
                v[i].st = ENTRY_RETRY; /* neither inserted nor found: should not happen */
    }
    if (st == WORKER_OK)
        st = batch_committed(w, v, k, decide_want_refused);
    if (st == WORKER_OK)
        st = attend_run(w, v, k, stale);
    if (st == WORKER_OK) {
        for (unsigned p = 0; p < w->partitions; p++)
            if (stale[p])
                partitions_forget(w, p); /* reread the truth before deciding again */
        deadletter_exhausted(v, k, d, (int)w->max_deliveries, persist_take_transient());
        metrics_batch(k);
        st = batch_answer(w, v, k);
    }
    if (st == WORKER_OK)
        st = deadletter_move(w, v);
    decide_bookings_free(&bk);
    free(v);
    free(stale);
    free(d);
    answer_trim(BATCH_TEXT_KEEP); /* an unusually large batch: give the memory back */
    commit_trim(BATCH_TEXT_KEEP);
    return st;
}

/* An admin change (PATCH of an event: its limit, its window) must hold for every request sent
 * after its answer. The ingress bumps yk:catalogue before answering, so a version read after
 * XREADGROUP returned an entry is at least the one of that entry's time: if it moved, the cached
 * events are dropped now, before deciding, and reloaded from PostgreSQL (which has the change),
 * instead of at the next tick. The GET is pipelined behind the XREADGROUP: Redis runs it when the
 * blocked read returns, so it costs no round trip. */
static void batch_catalogue(worker *w, const yk_reply *r)
{
    long long version = yk_reply_is(r, YK_REPLY_STRING) ? atoll(yk_reply_str(r, NULL)) : 0;
    if (version != w->catalogue_version) {
        w->catalogue_version = version;
        for (unsigned p = 0; p < w->partitions; p++)
            if (w->parts[p].owned)
                partitions_forget(w, p);
    }
}

worker_status batch_read(worker *w)
{
    /* argv: XREADGROUP GROUP workers <id> COUNT <n> BLOCK 100 STREAMS keys… ids… */
    const char **argv = malloc((9 + 2 * w->partitions) * sizeof *argv);
    char(*keys)[32] = malloc(w->partitions * sizeof *keys);
    char count[24];
    snprintf(count, sizeof count, "%lld", (long long)w->batch_max);
    int owned = 0;
    for (unsigned p = 0; keys && p < w->partitions; p++)
        if (w->parts[p].owned)
            partitions_key(p, keys[owned++]);
    worker_status st = WORKER_OK;
    yk_reply *r = NULL, *version = NULL;
    if (argv == NULL || keys == NULL || owned == 0)
        goto out;
    int argc = 0;
    const char *head[] = {"XREADGROUP", "GROUP", "workers", w->id,    "COUNT",
                          count,        "BLOCK", "100",     "STREAMS"};
    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
        argv[argc++] = head[i];
    for (int i = 0; i < owned; i++)
        argv[argc++] = keys[i];
    for (int i = 0; i < owned; i++)
        argv[argc++] = ">";
    if (yk_rconn_append(w->redis, argc, argv) != 0 ||
        yk_rconn_append(w->redis, 2, (const char *[]){"GET", "yk:catalogue"}) != 0 ||
        (r = yk_rconn_get_in(w->redis, &batch_replies)) == NULL ||
        (version = yk_rconn_get(w->redis)) == NULL) {
        st = WORKER_REDIS_LOST;
        goto out;
    }
    if (yk_reply_error(r)) {
        yk_error("XREADGROUP: %s", yk_reply_error(r));
        if (strncmp(yk_reply_error(r), "NOGROUP", 7) == 0)
            partitions_resetup_all(w); /* the stream vanished (Redis lost its data) */
    } else if (yk_reply_is(r, YK_REPLY_ARRAY)) {
        batch_catalogue(w, version);
        st = batch_run(w, r, false, NULL);
    }
out:
    yk_rconn_free(version);
    free(argv);
    free(keys);
    return st;
}

worker_status batch_replay(worker *w, unsigned p)
{
    char key[32], cursor[64] = "0", count[24];
    partitions_key(p, key);
    snprintf(count, sizeof count, "%lld", (long long)w->batch_max);
    while (!worker_stop) {
        const char *argv[] = {"XREADGROUP", "GROUP",   "workers", w->id, "COUNT",
                              count,        "STREAMS", key,       cursor};
        /* The same entries' delivery counts, this delivery included: the same consumer's pending
         * entries after the cursor, as many. */
        char start[66];
        snprintf(start, sizeof start, "%s%s", strcmp(cursor, "0") ? "(" : "-",
                 strcmp(cursor, "0") ? cursor : "");
        const char *xp[] = {"XPENDING", key, "workers", start, "+", count, w->id};
        yk_reply *r = NULL, *pending = NULL;
        if (yk_rconn_append(w->redis, 9, argv) != 0 || yk_rconn_append(w->redis, 7, xp) != 0 ||
            (r = yk_rconn_get_in(w->redis, &batch_replies)) == NULL ||
            (pending = yk_rconn_get(w->redis)) == NULL)
            return WORKER_REDIS_LOST;
        const yk_reply *stream = yk_reply_at(r, 0);
        const yk_reply *entries =
            yk_reply_count(r) == 1 && yk_reply_count(stream) == 2 ? yk_reply_at(stream, 1) : NULL;
        if (yk_reply_error(r))
            yk_error("replay %s: %s", key, yk_reply_error(r));
        size_t n = yk_reply_count(entries);
        /* Page by the last id: entries left pending (ENTRY_RETRY) must not be read again here. */
        const char *last = yk_reply_str(yk_reply_at(yk_reply_at(entries, n - 1), 0), NULL);
        if (n == 0 || last == NULL ||
            !yk_reply_is(yk_reply_at(yk_reply_at(entries, n - 1), 0), YK_REPLY_STRING)) {
            yk_rconn_free(pending);
            return WORKER_OK;
        }
        snprintf(cursor, sizeof cursor, "%s", last);
        yk_info("replaying partition=%u entries=%zu", p, n);
        metrics_redelivered(n);
        worker_status st = batch_run(w, r, true, pending);
        yk_rconn_free(pending);
        if (st != WORKER_OK)
            return st;
    }
    return WORKER_OK;
}
