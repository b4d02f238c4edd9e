/* commit: the batch's write (persist_write) built from the decided entries, its fallbacks, and
 * its outcome. Owns the write payloads and the inserted rows' texts, reused from batch to batch. */
#include "commit.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "answer.h"
#include "metrics.h"
#include "yk_log.h"
#include "yk_token.h"

/* 1 GiB - 1 is PostgreSQL's largest text parameter. */
#define COMMIT_TEXT_MAX (((size_t)1 << 30) - 1)
/* The booking id and created_at of each inserted row: booking id '\0' created_at '\0'. */
static yk_buf commit_rows = YK_BUF_INIT(COMMIT_TEXT_MAX);
/* The JSON payload of the cancel statement and the columns of the insert. */
static yk_buf commit_cancels = YK_BUF_INIT(COMMIT_TEXT_MAX);
static persist_rows commit_inserts;

void commit_reset(void)
{
    yk_buf_reset(&commit_rows);
}

void commit_trim(size_t keep)
{
    if (commit_rows.cap > keep)
        yk_buf_free(&commit_rows);
    if (commit_cancels.cap > keep)
        yk_buf_free(&commit_cancels);
    bool big = false;
    for (int i = 0; i < PERSIST_COLS; i++)
        big |= commit_inserts.col[i].cap > keep;
    if (big)
        persist_rows_free(&commit_inserts);
}

/* Copies the inserted rows into the accepted entries they belong to. */
static void commit_take_rows(entry *v, size_t n, const persist_written *wr)
{
    map index = MAP_INIT; /* request id → entry index + 1; the first of duplicates wins */
    for (size_t i = 0; i < n; i++) {
        void **ref = v[i].st == ENTRY_ACCEPT && !v[i].inserted ? map_ref(&index, v[i].rid) : NULL;
        if (ref && *ref == NULL)
            *ref = (void *)(i + 1);
    }
    for (int row = 0; row < wr->n_inserted; row++) {
        const persist_inserted *r = &wr->inserted[row];
        size_t i = (size_t)map_get(&index, r->request_id);
        if (i-- == 0)
            continue;
        size_t at = commit_rows.len;
        yk_buf_add(&commit_rows, r->id, strlen(r->id) + 1);
        yk_buf_add(&commit_rows, r->created_at, strlen(r->created_at) + 1);
        if (commit_rows.failed) { /* out of memory: looked up in PostgreSQL instead (DUP) */
            yk_buf_rewind(&commit_rows, at);
            continue;
        }
        v[i].inserted = true;
        v[i].row_at = at;
    }
    map_clear(&index, NULL);
}

/* Marks committed every cancel entry whose booking was cancelled now. */
static void commit_take_cancelled(entry *v, size_t n, const persist_written *wr)
{
    map ids = MAP_INIT;
    for (int row = 0; row < wr->n_cancelled; row++) {
        void **ref = map_ref(&ids, wr->cancelled[row]);
        if (ref)
            *ref = (void *)1;
    }
    for (size_t i = 0; i < n; i++)
        if (v[i].st == ENTRY_CANCEL && map_get(&ids, v[i].booking_s)) {
            v[i].committed = true;
            v[i].cascade = wr->cascaded;
        }
    map_clear(&ids, NULL);
}

/* The JSON array of the cancel records {"bid","ev","th"} of entries v[0..n) that free a seat
 * (only `only` when not NULL), or NULL when there is none (*oom set when it did not fit). Valid
 * until commit_cancels' next use. */
static const char *commit_cancel_records(entry *v, size_t n, const entry *only, bool *oom)
{
    yk_buf *b = &commit_cancels;
    yk_buf_reset(b);
    for (size_t i = 0; i < n; i++) {
        const entry *en = &v[i];
        if (en->st != ENTRY_CANCEL || (only && en != only) || !en->effect)
            continue;
        yk_buf_addc(b, b->len ? ',' : '[');
        yk_buf_adds(b, "{\"bid\":");
        yk_buf_int(b, en->booking);
        yk_buf_adds(b, ",\"ev\":");
        yk_buf_int(b, en->ev);
        yk_buf_adds(b, ",\"th\":\"");
        yk_buf_adds(b, en->th); /* hex, or "*" */
        yk_buf_adds(b, "\"}");
    }
    if (b->len == 0) {
        *oom = b->failed; /* not even the first record fitted */
        return NULL;
    }
    yk_buf_add(b, "]", 2); /* with the terminating NUL */
    *oom = b->failed;
    return b->failed ? NULL : b->p;
}

/* The rows to insert for the accepted entries of v[0..n) (only `only` when not NULL), or NULL
 * when there is none (*oom set when they did not fit). */
static persist_rows *commit_insert_rows(entry *v, size_t n, const entry *only, bool *oom)
{
    persist_rows_reset(&commit_inserts, COMMIT_TEXT_MAX);
    for (size_t i = 0; i < n; i++) {
        const entry *en = &v[i];
        if (en->st != ENTRY_ACCEPT || (only && en != only))
            continue;
        char th[YK_HASH_HEX_LEN + 1];
        yk_token_sha256_hex(en->tok, strlen(en->tok), th);
        persist_rows_add(&commit_inserts, en->rid, en->ev, en->slot, en->email, en->ident,
                         en->fields_s, en->fields_len, th, en->e->limit == 1);
    }
    *oom = persist_rows_failed(&commit_inserts);
    return commit_inserts.n && !*oom ? &commit_inserts : NULL;
}

/* Writes, in one transaction, the cancellations (if cancels) and the bookings (if inserts) of
 * every decided entry, or of `only` alone when it is not NULL (fresh: as persist_write). 1 done
 * (rows taken), 0 refused by PostgreSQL or nothing to do (*state set), -1 session lost. */
static int commit_once(worker *w, entry *v, size_t n, const entry *only, bool cancels, bool inserts,
                       bool fresh, char state[6])
{
    bool oom_c = false, oom_i = false;
    const char *cj = cancels ? commit_cancel_records(v, n, only, &oom_c) : NULL;
    persist_rows *ij = inserts ? commit_insert_rows(v, n, only, &oom_i) : NULL;
    int r = 0;
    snprintf(state, 6, "%s", oom_c || oom_i ? "OOM" : "");
    if (!oom_c && !oom_i && (cj || ij)) {
        persist_written wr;
        r = persist_write(w->pg, cj, ij, fresh, &wr, state);
        if (r == 1) {
            commit_take_cancelled(v, n, &wr);
            commit_take_rows(v, n, &wr);
            persist_written_free(&wr);
        }
    }
    return r;
}

static double commit_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A request id of a fresh batch committed already makes the cheaper write fail, and the batch is
 * written again the ordinary way. A batch refused by PostgreSQL (the in-memory decision was wrong,
 * which should never happen, or an entry hits a persistent error) is retried entry by entry:
 * cancellations first, as in the stream's effect on seats, then the bookings together, then one
 * by one. */
worker_status commit_write(worker *w, entry *v, size_t n, bool fresh, bool *stale)
{
    size_t accepted = 0, cancels = 0;
    for (size_t i = 0; i < n; i++) {
        accepted += v[i].st == ENTRY_ACCEPT;
        cancels += v[i].st == ENTRY_CANCEL && v[i].effect;
    }
    if (accepted == 0 && cancels == 0)
        return WORKER_OK;
    double t0 = commit_now();
    char state[6];
    int r = commit_once(w, v, n, NULL, true, true, fresh && accepted, state);
    if (r == 0 && fresh && accepted && strcmp(state, "23505") == 0) {
        yk_info("a request id of the batch is committed already: batch written again");
        r = commit_once(w, v, n, NULL, true, true, false, state);
    }
    if (r < 0)
        return WORKER_PG_LOST;
    if (r == 0) {
        yk_error("batch of %zu bookings and %zu cancellations refused (sqlstate %s): retrying "
                 "one by one",
                 accepted, cancels, state);
        for (size_t i = 0; i < n; i++) {
            if (v[i].st != ENTRY_CANCEL || !v[i].effect)
                continue;
            stale[v[i].p] = true;
            if ((r = commit_once(w, v, n, &v[i], true, false, false, state)) < 0)
                return WORKER_PG_LOST;
            if (r == 0)
                yk_error("request=%s: cancellation refused by PostgreSQL (sqlstate %s)", v[i].rid,
                         state);
        }
        r = accepted ? commit_once(w, v, n, NULL, false, true, false, state) : 1;
        if (r < 0)
            return WORKER_PG_LOST;
    }
    if (r == 0) {
        for (size_t i = 0; i < n; i++) {
            if (v[i].st != ENTRY_ACCEPT)
                continue;
            stale[v[i].p] = true; /* memory counted what PostgreSQL may now refuse */
            r = commit_once(w, v, n, &v[i], false, true, false, state);
            if (r < 0)
                return WORKER_PG_LOST;
            if (r == 1)
                continue;
            if (strcmp(state, "23514") == 0) /* check_violation: booked > capacity */
                answer_refuse(&v[i], 409, "slot_full", "This slot is full.");
            else if (strcmp(state, "23505") == 0) /* unique: one active booking per identity */
                answer_refuse(&v[i], 409, "already_booked",
                              "You already hold the maximum number of bookings for this event.");
            else
                v[i].st = ENTRY_RETRY;
            yk_error("request=%s refused by PostgreSQL (sqlstate %s)", v[i].rid, state);
        }
    }
    metrics_commit(commit_now() - t0);
    return WORKER_OK;
}

void commit_settle(entry *v, size_t n, const decide_bookings *bk, bool *stale)
{
    for (size_t i = 0; i < n; i++) {
        entry *en = &v[i];
        if (en->st == ENTRY_CANCEL) {
            if (!en->committed) { /* its state changed meanwhile: decide it again */
                stale[en->p] |= en->effect;
                en->st = ENTRY_RETRY;
                continue;
            }
            /* Dependent bookings were cancelled in PostgreSQL only: their seats, counts and
             * the history are reread before the partition decides again. */
            stale[en->p] |= en->cascade;
            answer_cancelled(en, &bk->rows.v[en->row]);
            en->result = en->effect ? "cancelled" : "already_cancelled";
            if (en->effect)
                yk_debug("request=%s cancelled id=%s event=%s", en->rid, en->booking_s,
                         en->e->slug);
            continue;
        }
        if (en->st != ENTRY_ACCEPT)
            continue;
        if (!en->inserted) { /* request id already committed: memory counted it twice */
            en->st = ENTRY_DUP;
            stale[en->p] = true;
            continue;
        }
        const char *bid = commit_rows.p + en->row_at, *created = bid + strlen(bid) + 1;
        answer_booked(en, bid, created);
        en->result = "confirmed";
        yk_debug("request=%s booked id=%s event=%s slot=%lld", en->rid, bid, en->e->slug,
                 (long long)en->slot);
    }
}
