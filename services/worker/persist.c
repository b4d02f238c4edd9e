/* persist: the worker's PostgreSQL statements (synchronous libpq, one session per worker).
 * Every PGresult is PQclear()ed here unless a function's comment hands it to the caller. */
#include "persist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yk_log.h"

/* One statement: the bookings, the slot counters and the confirmation mail jobs, in two forms
 * that share their head (r: the records) and tail (nt, ts and the rows returned).
 *
 * INSERT_SQL may meet request ids that are committed already (a replayed entry, or one request id
 * added to the stream twice). The counters are raised by what was really inserted, so such a
 * request id changes nothing; its confirmation job is (re)written with ON CONFLICT DO NOTHING, so
 * a booking that somehow lacks it gets it and none gets two. All parts see the snapshot from
 * before the statement: b's second branch finds exactly the bookings that ins skipped.
 *
 * INSERT_NEW_SQL is for entries read for the first time, whose request ids are new but for the
 * rare one added twice: plain inserts, so a committed request id fails the whole statement with a
 * unique violation (the caller then writes the batch again with INSERT_SQL). It saves the
 * arbiter-index probe and speculative insertion of both ON CONFLICT clauses and the lookup of
 * skipped request ids (≈ 20 % of the statement's time for 500 bookings).
 *
 * The reminder job is not written here: the notifier writes it when it settles the confirmation
 * (services/notifier/outbox.c), which keeps the rush's commit to one outbox row per booking. */
#define INSERT_HEAD                                                                                \
    "WITH r AS ("                                                                                  \
    " SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[], $5::text[],"            \
    "  $6::text[], $7::text[], $8::bool[])"                                                        \
    "  WITH ORDINALITY AS x(rid, ev, slot, email, ident, fields, th, l1, ord)"                     \
    "), ins AS ("                                                                                  \
    " INSERT INTO bookings (request_id, event_id, slot_id, email, identity, fields, token_hash,"   \
    "  limit_one)"                                                                                 \
    " SELECT rid, ev, slot, email, ident, fields::jsonb, th, l1 FROM r ORDER BY ord"
#define INSERT_COUNT                                                                               \
    " RETURNING id, request_id, event_id, slot_id"                                                 \
    "), upd AS ("                                                                                  \
    " UPDATE slots s SET booked = s.booked + c.n"                                                  \
    " FROM (SELECT slot_id, count(*)::int AS n FROM ins GROUP BY slot_id) c"                       \
    " WHERE s.id = c.slot_id"
/* One notification for the statement, not one per row. A data-modifying CTE runs to completion
 * even unread, but a plain one runs only if read: nt is the outer side of the final LATERAL join
 * (OFFSET 0 keeps the planner from flattening it), so it is read exactly once even when ins is
 * empty and a redelivered booking got its missing job. created_at is now() for every row of the
 * statement: ts formats it once per event (MATERIALIZED: inlined into the join, the formatting
 * ran once per booking: 7 µs per booking with 0001's yk_rfc3339). */
#define INSERT_TAIL                                                                                \
    " RETURNING booking_id"                                                                        \
    "), nt AS ("                                                                                   \
    " SELECT count(pg_notify('yk_outbox', '')) AS n FROM (SELECT FROM mo LIMIT 1) m"               \
    "), ts AS MATERIALIZED ("                                                                      \
    " SELECT e.id, yk_rfc3339(now(), e.timezone) AS at FROM events e"                              \
    " WHERE e.id IN (SELECT DISTINCT ev FROM r)"                                                   \
    ")"                                                                                            \
    " SELECT x.* FROM nt CROSS JOIN LATERAL ("                                                     \
    "  SELECT i.request_id, i.id::text, ts.at FROM ins i JOIN ts ON ts.id = i.event_id"            \
    "  WHERE nt.n >= 0 OFFSET 0) x"

/* MATERIALIZED keeps b's status test out of the bookings scan, which must stay a lookup of the
 * skipped request ids in their unique index (not a scan of every active booking). */
static const char INSERT_SQL[] =
    INSERT_HEAD " ON CONFLICT (request_id) DO NOTHING" INSERT_COUNT
    "), b AS MATERIALIZED ("
    " SELECT id, 'confirmed' AS status FROM ins"
    " UNION ALL"
    " SELECT o.id, o.status FROM bookings o"
    " WHERE o.request_id = ANY (ARRAY(SELECT rid FROM r EXCEPT SELECT request_id FROM ins))"
    "), mo AS ("
    " INSERT INTO mail_outbox (booking_id, kind)"
    " SELECT id, 'confirmation' FROM b WHERE status = 'confirmed' ORDER BY id"
    " ON CONFLICT (booking_id, kind) DO NOTHING" INSERT_TAIL;

static const char INSERT_NEW_SQL[] =
    INSERT_HEAD INSERT_COUNT
    "), mo AS ("
    " INSERT INTO mail_outbox (booking_id, kind) SELECT id, 'confirmation' FROM ins ORDER BY id"
    INSERT_TAIL;

/* One statement per cancellation batch. The conditions repeat the worker's decision, so a
 * booking whose state changed meanwhile (attendance marked, deadline passed) is left alone and
 * missing from the result: the worker then decides it again. A reminder row the notifier writes
 * while this runs is not seen by rem; the notifier's claim finds the booking cancelled and never
 * sends it. */
static const char CANCEL_SQL[] =
    "WITH r AS ("
    " SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(bid bigint, ev bigint, th text)"
    "), upd AS ("
    " UPDATE bookings b SET status = 'cancelled', updated_at = now()"
    " FROM r, slots s, events e"
    " WHERE b.id = r.bid AND b.event_id = r.ev AND b.token_hash = r.th"
    "  AND b.status = 'confirmed' AND s.id = b.slot_id AND e.id = b.event_id"
    "  AND now() <= s.starts_at - make_interval(hours => e.cancel_until_hours)"
    " RETURNING b.id, b.slot_id"
    "), seats AS ("
    " UPDATE slots s SET booked = s.booked - c.n"
    " FROM (SELECT slot_id, count(*)::int AS n FROM upd GROUP BY slot_id) c"
    " WHERE s.id = c.slot_id"
    "), rem AS ("
    " UPDATE mail_outbox m SET status = 'cancelled' FROM upd"
    " WHERE m.booking_id = upd.id AND m.kind = 'reminder' AND m.status = 'pending'"
    "), mo AS ("
    " INSERT INTO mail_outbox (booking_id, kind) SELECT id, 'cancellation' FROM upd ORDER BY id"
    " ON CONFLICT (booking_id, kind) DO NOTHING"
    " RETURNING booking_id"
    /* one notification per statement, read once as in INSERT_SQL */
    "), nt AS ("
    " SELECT count(pg_notify('yk_outbox', '')) AS n FROM (SELECT FROM mo LIMIT 1) m"
    ")"
    " SELECT x.* FROM nt CROSS JOIN LATERAL ("
    "  SELECT id::text FROM upd WHERE nt.n >= 0 OFFSET 0) x";

/* Set when a statement failed with a class of error that retrying later may cure. */
static bool persist_transient;

/* Notes the SQLSTATE of a failed result (may be NULL) into state (6 bytes, "" when none). */
static void persist_failed(const PGresult *r, char state[6])
{
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(state, 6, "%s", st ? st : "");
    if (st == NULL || strncmp(st, "08", 2) == 0 || strncmp(st, "53", 2) == 0 ||
        strncmp(st, "57", 2) == 0 || strncmp(st, "58", 2) == 0)
        persist_transient = true;
}

bool persist_take_transient(void)
{
    bool t = persist_transient;
    persist_transient = false;
    return t;
}

PGconn *persist_connect(const char *conninfo, const char *appname)
{
    /* Our defaults come first so that anything in YOYAKU_PG overrides them (later wins). */
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {"5", appname, conninfo, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c == NULL || PQstatus(c) != CONNECTION_OK) {
        yk_warn("pg connect failed: %s", c ? PQerrorMessage(c) : "out of memory");
        PQfinish(c);
        return NULL;
    }
    /* A 201 promises the booking is durable: never let a server default weaken the commit. */
    PGresult *r = PQexec(c, "SET synchronous_commit = on");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    /* Prepared once per session: after a few runs PostgreSQL keeps a generic plan, which saves
     * planning the large write statements (several ms) at every batch. */
    static const struct {
        const char *name, *sql;
    } stmts[] = {
        {"yk_insert", INSERT_SQL}, {"yk_insert_new", INSERT_NEW_SQL}, {"yk_cancel", CANCEL_SQL}};
    for (size_t i = 0; ok && i < sizeof stmts / sizeof stmts[0]; i++) {
        r = PQprepare(c, stmts[i].name, stmts[i].sql, stmts[i].sql == CANCEL_SQL ? 1 : PERSIST_COLS,
                      NULL);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
    }
    if (!ok) {
        yk_warn("pg session setup failed: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

bool persist_lost(PGconn *c)
{
    return c == NULL || PQstatus(c) != CONNECTION_OK;
}

/* Runs a parameterised query expecting rows; NULL (logged) on failure. Caller PQclear()s. */
static PGresult *persist_query(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        return r;
    char state[6];
    persist_failed(r, state);
    yk_error("pg query failed: sqlstate=%s %s", state, PQerrorMessage(c));
    PQclear(r);
    return NULL;
}

void persist_scope_free(void *counts)
{
    if (counts) {
        map_clear(counts, NULL);
        free(counts);
    }
}

static void persist_slot_free(void *p)
{
    persist_slot *s = p;
    if (s) {
        free(s->starts_at);
        free(s->ends_at);
        free(s);
    }
}

void persist_event_free(void *p)
{
    persist_event *e = p;
    if (e) {
        map_clear(&e->slots, persist_slot_free);
        free(e->slug);
        free(e->tz);
        free(e);
    }
}

/* Adds row i of r (id, capacity, booked, starts_at, ends_at) to e. NULL on out of memory. */
static persist_slot *persist_slot_add(persist_event *e, PGresult *r, int i)
{
    persist_slot *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
    s->capacity = atoi(PQgetvalue(r, i, 1));
    s->booked = atoi(PQgetvalue(r, i, 2));
    s->starts_at = strdup(PQgetvalue(r, i, 3));
    s->ends_at = strdup(PQgetvalue(r, i, 4));
    void **ref = s->starts_at && s->ends_at ? map_ref(&e->slots, PQgetvalue(r, i, 0)) : NULL;
    if (ref == NULL) {
        persist_slot_free(s);
        return NULL;
    }
    if (*ref) { /* already known: keep it, entries of the running batch may point to it */
        persist_slot_free(s);
        return *ref;
    }
    *ref = s;
    return s;
}

static const char SLOT_COLUMNS[] =
    "SELECT id, capacity, booked, yk_rfc3339(starts_at, $2), yk_rfc3339(ends_at, $2) FROM slots ";

/* Loads the identity counts of a scope (campaign or single event) into a new map stored in
 * scopes under key. 0 or -1. */
static int persist_counts_load(PGconn *c, map *scopes, const char *key, const char *campaign,
                               const char *event_id, map **out)
{
    PGresult *r = campaign
        ? persist_query(c,
                        "SELECT b.identity, count(*) FROM bookings b JOIN events e ON e.id = "
                        "b.event_id WHERE e.campaign = $1 AND b.status IN ('confirmed', "
                        "'attended') GROUP BY b.identity",
                        1, &campaign)
        : persist_query(c,
                        "SELECT identity, count(*) FROM bookings WHERE event_id = $1 AND status "
                        "IN ('confirmed', 'attended') GROUP BY identity",
                        1, &event_id);
    if (r == NULL)
        return -1;
    /* Fill a private map first so that a failure never leaves half-counted state in scopes. */
    map *m = calloc(1, sizeof *m);
    for (int i = 0; m && i < PQntuples(r); i++) {
        void **v = map_ref(m, PQgetvalue(r, i, 0));
        if (v == NULL) {
            persist_scope_free(m);
            m = NULL;
        } else {
            *v = (void *)(intptr_t)atoi(PQgetvalue(r, i, 1));
        }
    }
    PQclear(r);
    void **slot = m ? map_ref(scopes, key) : NULL;
    if (slot == NULL) {
        yk_error("out of memory loading identity counts");
        persist_scope_free(m);
        return -1;
    }
    *slot = m; /* scopes owns m from here on */
    *out = m;
    return 0;
}

int persist_event_load(PGconn *c, int64_t id, map *scopes, persist_event **out)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p1[] = {ids};
    PGresult *r = persist_query(
        c, "SELECT slug, timezone, per_person_limit, campaign FROM events WHERE id = $1", 1, p1);
    if (r == NULL)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    persist_event *e = calloc(1, sizeof *e);
    if (e == NULL)
        goto oom;
    e->id = id;
    e->slug = strdup(PQgetvalue(r, 0, 0));
    e->tz = strdup(PQgetvalue(r, 0, 1));
    e->limit = atoi(PQgetvalue(r, 0, 2));
    char key[300];
    bool campaign = !PQgetisnull(r, 0, 3);
    /* Campaign names longer than the key buffer would collide only with each other's prefixes:
     * refuse them rather than merge two campaigns' limits. */
    if ((size_t)snprintf(key, sizeof key, "%c:%s", campaign ? 'c' : 'e',
                         campaign ? PQgetvalue(r, 0, 3) : ids) >= sizeof key) {
        yk_error("event %s: campaign name too long", ids);
        goto fail;
    }
    if (e->slug == NULL || e->tz == NULL)
        goto oom;
    e->counts = map_get(scopes, key);
    if (e->counts == NULL && persist_counts_load(c, scopes, key,
                                                 campaign ? PQgetvalue(r, 0, 3) : NULL, ids,
                                                 &e->counts) != 0)
        goto fail;
    PQclear(r);

    const char *p2[] = {ids, e->tz};
    char sql[200];
    snprintf(sql, sizeof sql, "%sWHERE event_id = $1", SLOT_COLUMNS);
    r = persist_query(c, sql, 2, p2);
    if (r == NULL)
        goto fail;
    for (int i = 0; i < PQntuples(r); i++)
        if (persist_slot_add(e, r, i) == NULL)
            goto oom;
    PQclear(r);
    *out = e;
    return 1;
oom:
    yk_error("out of memory loading event %s", ids);
fail:
    PQclear(r);
    persist_event_free(e);
    return -1;
}

int persist_slot_load(PGconn *c, persist_event *e, int64_t slot_id, persist_slot **out)
{
    char ids[24], sids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)e->id);
    snprintf(sids, sizeof sids, "%lld", (long long)slot_id);
    const char *p[] = {ids, e->tz, sids};
    char sql[200];
    snprintf(sql, sizeof sql, "%sWHERE event_id = $1 AND id = $3", SLOT_COLUMNS);
    PGresult *r = persist_query(c, sql, 3, p);
    if (r == NULL)
        return -1;
    int found = PQntuples(r) == 1;
    if (found && (*out = persist_slot_add(e, r, 0)) == NULL)
        found = -1;
    PQclear(r);
    return found;
}

PGresult *persist_lookup(PGconn *c, const char *const *rids, int n)
{
    /* Request ids are validated hex, so the array literal needs no quoting. */
    size_t len = 3 + (size_t)n * 33;
    char *arr = malloc(len);
    if (arr == NULL)
        return NULL;
    char *w = arr;
    *w++ = '{';
    for (int i = 0; i < n; i++) {
        if (i)
            *w++ = ',';
        memcpy(w, rids[i], 32);
        w += 32;
    }
    *w++ = '}';
    *w = '\0';
    const char *p[] = {arr};
    PGresult *r = persist_query(
        c,
        "SELECT b.request_id, b.id, b.slot_id, b.status, b.email, b.fields::text, "
        "yk_rfc3339(b.created_at, e.timezone), e.slug, yk_rfc3339(s.starts_at, e.timezone), "
        "yk_rfc3339(s.ends_at, e.timezone) FROM bookings b JOIN events e ON e.id = b.event_id "
        "JOIN slots s ON s.id = b.slot_id WHERE b.request_id = ANY($1::text[])",
        1, p);
    free(arr);
    return r;
}

PGresult *persist_bookings(PGconn *c, const char *const *ids, int n)
{
    /* Ids are validated decimals, so the array literal needs no quoting. */
    size_t len = 3;
    for (int i = 0; i < n; i++)
        len += strlen(ids[i]) + 1;
    char *arr = malloc(len), *w = arr;
    if (arr == NULL)
        return NULL;
    *w++ = '{';
    for (int i = 0; i < n; i++) {
        size_t l = strlen(ids[i]);
        if (i)
            *w++ = ',';
        memcpy(w, ids[i], l);
        w += l;
    }
    *w++ = '}';
    *w = '\0';
    const char *p[] = {arr};
    PGresult *r = persist_query(
        c,
        "SELECT b.id, b.event_id, b.slot_id, b.status, b.token_hash, b.identity, b.email, "
        "b.fields::text, yk_rfc3339(b.created_at, e.timezone), e.slug, "
        "yk_rfc3339(s.starts_at, e.timezone), yk_rfc3339(s.ends_at, e.timezone), "
        "now() > s.starts_at - make_interval(hours => e.cancel_until_hours) "
        "FROM bookings b JOIN events e ON e.id = b.event_id JOIN slots s ON s.id = b.slot_id "
        "WHERE b.id = ANY($1::bigint[])",
        1, p);
    free(arr);
    return r;
}

/* Element type of each column (pg_type oids: text, int8, bool) and the binary array layout of
 * array_recv: ndim, flags, element type, then per dimension its size and lower bound, then per
 * element its length and bytes, every integer in network order. */
static const uint32_t rows_elem[PERSIST_COLS] = {25, 20, 20, 25, 25, 25, 25, 16};
#define ROWS_HEAD 20
#define ROWS_DIM_AT 12

static void put_be(yk_buf *b, uint64_t v, int bytes)
{
    unsigned char x[8];
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        x[i] = (unsigned char)v;
    yk_buf_add(b, x, (size_t)bytes);
}

static void rows_text(yk_buf *b, const char *s, size_t len)
{
    put_be(b, len, 4);
    yk_buf_add(b, s, len);
}

void persist_rows_reset(persist_rows *r, size_t max)
{
    r->n = 0;
    for (int i = 0; i < PERSIST_COLS; i++) {
        yk_buf *b = &r->col[i];
        b->max = max;
        yk_buf_reset(b);
        put_be(b, 1, 4);               /* one dimension */
        put_be(b, 0, 4);               /* no NULLs */
        put_be(b, rows_elem[i], 4);
        put_be(b, 0, 4);               /* its size: set when sent */
        put_be(b, 1, 4);               /* lower bound */
    }
}

void persist_rows_add(persist_rows *r, const char *rid, int64_t ev, int64_t slot,
                      const char *email, const char *ident, const char *fields, size_t fields_len,
                      const char *th, bool limit_one)
{
    rows_text(&r->col[0], rid, strlen(rid));
    put_be(&r->col[1], 8, 4);
    put_be(&r->col[1], (uint64_t)ev, 8);
    put_be(&r->col[2], 8, 4);
    put_be(&r->col[2], (uint64_t)slot, 8);
    rows_text(&r->col[3], email, strlen(email));
    rows_text(&r->col[4], ident, strlen(ident));
    rows_text(&r->col[5], fields, fields_len);
    rows_text(&r->col[6], th, strlen(th));
    put_be(&r->col[7], 1, 4);
    yk_buf_addc(&r->col[7], limit_one ? 1 : 0);
    r->n++;
}

bool persist_rows_failed(const persist_rows *r)
{
    for (int i = 0; i < PERSIST_COLS; i++)
        if (r->col[i].failed)
            return true;
    return false;
}

void persist_rows_free(persist_rows *r)
{
    for (int i = 0; i < PERSIST_COLS; i++)
        yk_buf_free(&r->col[i]);
    r->n = 0;
}

/* The parameters of the insert statement: rows' columns, their array size set. */
static void rows_params(persist_rows *rows, const char *v[PERSIST_COLS], int len[PERSIST_COLS],
                        int fmt[PERSIST_COLS])
{
    for (int i = 0; i < PERSIST_COLS; i++) {
        unsigned char *d = (unsigned char *)rows->col[i].p + ROWS_DIM_AT;
        for (int k = 3; k >= 0; k--)
            d[3 - k] = (unsigned char)((uint32_t)rows->n >> (8 * k));
        v[i] = rows->col[i].p;
        len[i] = (int)rows->col[i].len;
        fmt[i] = 1; /* binary */
    }
}

/* Reads the results of a pipeline of n statements and its sync. res[i] gets statement i's rows
 * (or stays NULL). 1 when every statement succeeded, else 0 with state set by the first failure.
 * Leaves pipeline mode whenever the connection is still usable. */
static int persist_pipeline_results(PGconn *c, int n, PGresult **res, char state[6])
{
    int ok = 1;
    state[0] = '\0';
    for (int i = 0; i < n; i++) {
        PGresult *r = PQgetResult(c);
        if (r == NULL) { /* connection trouble: nothing more will come */
            persist_failed(NULL, state);
            yk_warn("batch write: no result: %s", PQerrorMessage(c));
            return 0;
        }
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            res[i] = r;
        } else {
            if (ok && PQresultStatus(r) != PGRES_PIPELINE_ABORTED) {
                persist_failed(r, state);
                yk_warn("batch write statement %d failed: sqlstate=%s %s", i + 1, state,
                        PQresultErrorMessage(r));
            }
            ok = 0;
            PQclear(r);
        }
        while ((r = PQgetResult(c)) != NULL) /* the NULL that ends statement i's results */
            PQclear(r);
    }
    PGresult *r = PQgetResult(c);
    bool synced = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    PQclear(r);
    if (!synced || PQexitPipelineMode(c) != 1) {
        persist_failed(NULL, state);
        return 0;
    }
    return ok;
}

int persist_write(PGconn *c, const char *cancels, persist_rows *inserts, bool fresh,
                  PGresult **cancelled, PGresult **inserted, char sqlstate[6])
{
    const char *insert = fresh ? "yk_insert_new" : "yk_insert";
    const char *pi[PERSIST_COLS];
    int li[PERSIST_COLS], fi[PERSIST_COLS];
    if (inserts && inserts->n == 0)
        inserts = NULL;
    if (cancels == NULL && inserts == NULL)
        return 0;
    if (inserts)
        rows_params(inserts, pi, li, fi);
    *cancelled = *inserted = NULL;
    sqlstate[0] = '\0';
    if (cancels == NULL || inserts == NULL) {
        PGresult *r = cancels ? PQexecPrepared(c, "yk_cancel", 1, &cancels, NULL, NULL, 0)
                              : PQexecPrepared(c, insert, PERSIST_COLS, pi, li, fi, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            *(cancels ? cancelled : inserted) = r;
            return 1;
        }
        persist_failed(r, sqlstate);
        yk_warn("batch write failed: sqlstate=%s %s", sqlstate, PQerrorMessage(c));
        PQclear(r);
        return persist_lost(c) ? -1 : 0;
    }
    /* Cancellations first: the seats and per-person counts they free are what the bookings after
     * them in the stream were decided with (the partial unique index checks row by row). Without
     * BEGIN the pipeline is one implicit transaction up to its sync. Its results are small, so
     * sending the (larger) insert while the server answers the cancel cannot deadlock. */
    PGresult *res[2] = {NULL, NULL};
    int ok = PQenterPipelineMode(c) == 1 &&
             PQsendQueryPrepared(c, "yk_cancel", 1, &cancels, NULL, NULL, 0) == 1 &&
             PQsendQueryPrepared(c, insert, PERSIST_COLS, pi, li, fi, 0) == 1 &&
             PQpipelineSync(c) == 1;
    if (!ok) {
        persist_failed(NULL, sqlstate);
        yk_warn("batch write could not be sent: %s", PQerrorMessage(c));
        /* A half-sent pipeline cannot be resumed: the caller must drop the session. */
        return persist_lost(c) || PQpipelineStatus(c) != PQ_PIPELINE_OFF ? -1 : 0;
    }
    ok = persist_pipeline_results(c, 2, res, sqlstate);
    if (!ok) {
        PQclear(res[0]);
        PQclear(res[1]);
        return persist_lost(c) || PQpipelineStatus(c) != PQ_PIPELINE_OFF ? -1 : 0;
    }
    *cancelled = res[0];
    *inserted = res[1];
    return 1;
}
