/* roster: owns the cache event id → has a roster, and the batch's lookup of roster hashes. */
#include "roster.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "map.h"
#include "yk_buf.h"
#include "yk_log.h"
#include "yk_pgconn.h"
#include "yk_roster.h"

#define ROSTER_NONE ((void *)1)
#define ROSTER_SOME ((void *)2)

static map flags = MAP_INIT; /* event id (decimal) → ROSTER_NONE or ROSTER_SOME */
static int64_t last_ev;      /* the last event looked up in flags, and its flag (NULL: none) */
static void *last_flag;
static long long flags_version;

void roster_forget(void)
{
    map_clear(&flags, NULL);
    last_flag = NULL;
}

static bool candidate(const entry *en)
{
    /* reservations and waitlist joins (an accepted offer was checked when it joined) */
    return en->st == ENTRY_NEW && !en->cancel && !en->attend && en->found > 0 &&
           (!en->wl || strcmp(en->type, "wjoin") == 0);
}

/* The event's flag: keyed by its id in canonical decimal, as PostgreSQL writes it. The last one
 * looked up is remembered (a rush's entries are mostly one event's): no formatting per entry. */
static void *flag_of(const entry *en)
{
    if (en->ev == last_ev && last_flag)
        return last_flag;
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)en->ev);
    last_ev = en->ev;
    return last_flag = map_get(&flags, key);
}

/* Appends s to a PostgreSQL array literal of simple words ("{a,b}"), opening it first. */
static void array_add(yk_buf *b, const char *s)
{
    yk_buf_addc(b, b->len == 0 ? '{' : ',');
    yk_buf_adds(b, s);
}

/* The lookup, prepared once per session: planned each time it cost more than it ran. Only live
 * generations are in roster_rows (a replacement deletes the old one in its transaction; a load
 * under way is not committed), and the hash covers the campaign: h alone says "on the roster". */
#define ROSTER_LOOKUP "yk_roster_lookup"
static const char lookup_sql[] = "SELECT encode(h, 'hex') FROM roster_rows WHERE h = ANY(ARRAY("
                                 "SELECT decode(x, 'hex') FROM unnest($1::text[]) x))";
static const yk_pgconn *prepared_on; /* the session the lookup is prepared on */

static yk_pgres *run(worker *w, const char *sql, yk_buf *arr)
{
    yk_buf_addc(arr, '}');
    yk_buf_addc(arr, '\0');
    if (arr->failed)
        return NULL;
    const char *values[] = {arr->p};
    yk_pgconn_stmt st = {.sql = sql, .n = 1, .values = values};
    if (sql == lookup_sql) {
        /* a new session at the old one's address still fails 26000 once: prepared again */
        for (int i = 0; i < 2 && prepared_on != w->pg; i++)
            if (yk_pgconn_prepare(w->pg, ROSTER_LOOKUP, lookup_sql, 1) == 0)
                prepared_on = w->pg;
        st = (yk_pgconn_stmt){.name = ROSTER_LOOKUP, .n = 1, .values = values};
    }
    yk_pgres *r = yk_pgconn_run(w->pg, &st);
    if (r && !yk_pgres_ok(r) && sql == lookup_sql && strcmp(yk_pgres_sqlstate(r), "26000") == 0) {
        yk_pgres_free(r);
        prepared_on = NULL;
        if (yk_pgconn_prepare(w->pg, ROSTER_LOOKUP, lookup_sql, 1) == 0)
            prepared_on = w->pg;
        r = yk_pgconn_run(w->pg, &st);
    }
    if (r && !yk_pgres_ok(r)) {
        yk_error("roster lookup failed: %s", yk_pgres_error(r));
        yk_pgres_free(r);
        r = NULL;
    }
    return r;
}

/* Loads the roster flags of the candidates' events not cached yet. 0 or -1. */
static int load_flags(worker *w, entry *v, size_t n)
{
    yk_buf ids = YK_BUF_INIT((size_t)1 << 24);
    for (size_t i = 0; i < n; i++)
        if (candidate(&v[i]) && flag_of(&v[i]) == NULL)
            array_add(&ids, v[i].ev_s);
    if (ids.len == 0)
        return 0;
    yk_pgres *r = run(w,
                      "SELECT id::text, roster IS NOT NULL AND campaign IS NOT NULL FROM events"
                      " WHERE id = ANY($1::bigint[])",
                      &ids);
    yk_buf_free(&ids);
    if (r == NULL)
        return -1;
    int rc = 0;
    for (int i = 0; i < yk_pgres_rows(r) && rc == 0; i++) {
        void **ref = map_ref(&flags, yk_pgres_text(r, i, 0));
        if (ref == NULL)
            rc = -1;
        else
            *ref = yk_pgres_bool(r, i, 1) ? ROSTER_SOME : ROSTER_NONE;
    }
    yk_pgres_free(r);
    return rc;
}

static void retry_all(entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (candidate(&v[i]) && flag_of(&v[i]) != ROSTER_NONE)
            v[i].st = ENTRY_RETRY;
}

static void refuse(entry *en)
{
    answer_refuse(en, 409, "not_eligible",
                  "These details are not on the roster of people who may book this event.");
}

worker_status roster_check(worker *w, entry *v, size_t n)
{
    if (flags_version != w->catalogue_version) { /* a definition may have gained a roster */
        roster_forget();
        flags_version = w->catalogue_version;
    }
    int loaded = load_flags(w, v, n);
    last_flag = NULL; /* the map may have grown (moved) */
    if (loaded != 0) {
        retry_all(v, n);
        return yk_pgconn_lost(w->pg) ? WORKER_PG_LOST : WORKER_OK;
    }
    yk_buf hashes = YK_BUF_INIT((size_t)1 << 24);
    unsigned char h[YK_ROSTER_HASH_BYTES];
    for (size_t i = 0; i < n; i++) {
        entry *en = &v[i];
        if (!candidate(en) || flag_of(en) != ROSTER_SOME)
            continue;
        if (yk_roster_unhex(en->rh, h) != 0)
            refuse(en); /* queued without a hash (before the roster was added): not on it */
        else
            array_add(&hashes, en->rh);
    }
    if (hashes.len == 0) {
        yk_buf_free(&hashes);
        return WORKER_OK;
    }
    yk_pgres *r = run(w, lookup_sql, &hashes);
    yk_buf_free(&hashes);
    if (r == NULL) {
        retry_all(v, n);
        return yk_pgconn_lost(w->pg) ? WORKER_PG_LOST : WORKER_OK;
    }
    map found = MAP_INIT;
    bool ok = true;
    for (int i = 0; i < yk_pgres_rows(r) && ok; i++) {
        void **ref = map_ref(&found, yk_pgres_text(r, i, 0));
        ok = ref != NULL;
        if (ok)
            *ref = ROSTER_SOME;
    }
    yk_pgres_free(r);
    for (size_t i = 0; i < n; i++) {
        entry *en = &v[i];
        if (!candidate(en) || flag_of(en) != ROSTER_SOME)
            continue;
        if (!ok)
            en->st = ENTRY_RETRY;
        else if (map_get(&found, en->rh) == NULL)
            refuse(en);
    }
    map_clear(&found, NULL);
    return WORKER_OK;
}
