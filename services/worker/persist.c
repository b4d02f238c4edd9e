/* persist: the worker's PostgreSQL statements (one blocking yk_pgconn session per worker), their
 * results turned into typed rows. Every yk_pgres is freed here or by the list that holds it. */
#include "persist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prior.h"
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
static const char INSERT_SQL[] = INSERT_HEAD
    " ON CONFLICT (request_id) DO NOTHING" INSERT_COUNT "), b AS MATERIALIZED ("
    " SELECT id, 'confirmed' AS status FROM ins"
    " UNION ALL"
    " SELECT o.id, o.status FROM bookings o"
    " WHERE o.request_id = ANY (ARRAY(SELECT rid FROM r EXCEPT SELECT request_id FROM ins))"
    "), mo AS ("
    " INSERT INTO mail_outbox (booking_id, kind)"
    " SELECT id, 'confirmation' FROM b WHERE status = 'confirmed' ORDER BY id"
    " ON CONFLICT (booking_id, kind) DO NOTHING" INSERT_TAIL;

static const char INSERT_NEW_SQL[] =
    INSERT_HEAD INSERT_COUNT "), mo AS ("
                             " INSERT INTO mail_outbox (booking_id, kind) SELECT id, "
                             "'confirmation' FROM ins ORDER BY id" INSERT_TAIL;

/* One statement per cancellation batch. The conditions repeat the worker's decision, so a
 * booking whose state changed meanwhile (attendance marked, deadline passed) is left alone and
 * missing from the result: the worker then decides it again. A reminder row the notifier writes
 * while this runs is not seen by rem; the notifier's claim finds the booking cancelled and never
 * sends it. */
static const char CANCEL_SQL[] =
    "WITH RECURSIVE r AS ("
    " SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(bid bigint, ev bigint, th text)"
    "), upd AS ("
    " UPDATE bookings b SET status = 'cancelled', updated_at = now()"
    " FROM r, slots s, events e"
    " WHERE b.id = r.bid AND b.event_id = r.ev AND (r.th = '*' OR b.token_hash = r.th)"
    "  AND b.status = 'confirmed' AND s.id = b.slot_id AND e.id = b.event_id"
    "  AND (r.th = '*' OR now() <= s.starts_at - make_interval(hours => e.cancel_until_hours))"
    " RETURNING b.id, b.slot_id, b.identity, b.event_id"
    /* The events that depend on a cancelled booking's event, at any depth (bounded: a cycle
     * made by editing prerequisites must not loop), with the identity that loses them. */
    "), chain AS ("
    " SELECT e.slug, u.identity, 0 AS depth FROM upd u JOIN events e ON e.id = u.event_id"
    " UNION ALL"
    " SELECT d.slug, c.identity, c.depth + 1 FROM chain c"
    "  JOIN events d ON d.prerequisite->>'event' = c.slug WHERE c.depth < 8"
    /* Their bookings go too, whatever their deadline: no deadline keeps a dose 2 without dose 1.
     * The same snapshot still sees upd's rows confirmed: they are left out by id. */
    "), dep AS ("
    " UPDATE bookings b SET status = 'cancelled', updated_at = now()"
    " FROM chain c, events e"
    " WHERE c.depth > 0 AND e.slug = c.slug AND b.event_id = e.id AND b.identity = c.identity"
    "  AND b.status = 'confirmed' AND b.id NOT IN (SELECT id FROM upd)"
    " RETURNING b.id, b.slot_id"
    "), gone AS (SELECT id, slot_id FROM upd UNION ALL SELECT id, slot_id FROM dep"
    "), seats AS ("
    " UPDATE slots s SET booked = s.booked - c.n"
    " FROM (SELECT slot_id, count(*)::int AS n FROM gone GROUP BY slot_id) c"
    " WHERE s.id = c.slot_id"
    "), rem AS ("
    " UPDATE mail_outbox m SET status = 'cancelled' FROM gone"
    " WHERE m.booking_id = gone.id AND m.kind = 'reminder' AND m.status = 'pending'"
    "), mo AS ("
    " INSERT INTO mail_outbox (booking_id, kind) SELECT id, 'cancellation' FROM gone ORDER BY id"
    " ON CONFLICT (booking_id, kind) DO NOTHING"
    " RETURNING booking_id"
    /* one notification per statement, read once as in INSERT_SQL */
    "), nt AS ("
    " SELECT count(pg_notify('yk_outbox', '')) AS n FROM (SELECT FROM mo LIMIT 1) m"
    ")"
    /* second column: some dependent booking was cancelled too (the worker then rereads) */
    " SELECT x.* FROM nt CROSS JOIN LATERAL ("
    "  SELECT id::text, EXISTS (SELECT 1 FROM dep) FROM upd WHERE nt.n >= 0 OFFSET 0) x";

/* Set when a statement failed with a class of error that retrying later may cure. */
static bool persist_transient;

/* Notes a failure's SQLSTATE ("" when there is none: no result, connection trouble). */
static void persist_failed(const char *st)
{
    if (*st == '\0' || strncmp(st, "08", 2) == 0 || strncmp(st, "53", 2) == 0 ||
        strncmp(st, "57", 2) == 0 || strncmp(st, "58", 2) == 0)
        persist_transient = true;
}

bool persist_take_transient(void)
{
    bool t = persist_transient;
    persist_transient = false;
    return t;
}

yk_pgconn *persist_connect(const char *conninfo, const char *appname)
{
    /* A 201 promises the booking is durable: never let a server default weaken the commit. */
    yk_pgconn *c = yk_pgconn_open(conninfo, appname, "SET synchronous_commit = on");
    if (c == NULL)
        return NULL;
    /* Prepared once per session: after a few runs PostgreSQL keeps a generic plan, which saves
     * planning the large write statements (several ms) at every batch. */
    if (yk_pgconn_prepare(c, "yk_insert", INSERT_SQL, PERSIST_COLS) != 0 ||
        yk_pgconn_prepare(c, "yk_insert_new", INSERT_NEW_SQL, PERSIST_COLS) != 0 ||
        yk_pgconn_prepare(c, "yk_cancel", CANCEL_SQL, 1) != 0) {
        yk_pgconn_close(c);
        return NULL;
    }
    return c;
}

/* Runs a parameterised query expecting rows; NULL (logged) on failure. Caller frees. */
static yk_pgres *persist_query(yk_pgconn *c, const char *sql, int n, const char *const *params)
{
    yk_pgres *r = yk_pgconn_run(c, &(yk_pgconn_stmt){.sql = sql, .n = n, .values = params});
    if (yk_pgres_ok(r))
        return r;
    persist_failed(yk_pgres_sqlstate(r));
    yk_error("pg query failed: sqlstate=%s %s", yk_pgres_sqlstate(r), yk_pgconn_error(c));
    yk_pgres_free(r);
    return NULL;
}

/* A scope map: identity counts (values are integers) or an event's history (values are
 * prior_list*); the map comes first, so a scope is used as a map*. */
typedef struct {
    map m;
    bool hist;
} persist_scope;

void persist_scope_free(void *p)
{
    persist_scope *sc = p;
    if (sc) {
        map_clear(&sc->m, sc->hist ? prior_list_free : NULL);
        free(sc);
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
        free(e->opens_at);
        yk_phases_free(&e->phases);
        free(e);
    }
}

/* Adds row i of r (the columns of SLOT_COLUMNS) to e; NULL when out of memory. */
static persist_slot *persist_slot_add(persist_event *e, const yk_pgres *r, int i)
{
    persist_slot *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->id = yk_pgres_int(r, i, 0, 0);
    s->capacity = (int)yk_pgres_int(r, i, 1, 0);
    s->booked = (int)yk_pgres_int(r, i, 2, 0);
    s->starts_at = strdup(yk_pgres_text(r, i, 3));
    s->ends_at = strdup(yk_pgres_text(r, i, 4));
    s->start = yk_pgres_int(r, i, 5, 0);
    s->waiting = (int)yk_pgres_int(r, i, 6, 0);
    s->end = yk_pgres_int(r, i, 7, 0);
    void **ref = s->starts_at && s->ends_at ? map_ref(&e->slots, yk_pgres_text(r, i, 0)) : NULL;
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
    "SELECT id, capacity, booked + held, yk_rfc3339(starts_at, $2), yk_rfc3339(ends_at, $2),"
    " extract(epoch FROM starts_at)::bigint, (SELECT count(*) FROM waitlist w"
    " WHERE w.slot_id = slots.id AND w.status = 'waiting'), extract(epoch FROM ends_at)::bigint"
    " FROM slots ";

/* Loads the identity counts of a scope (campaign or single event) into a new map stored in
 * scopes under key. 0 or -1. */
static int persist_counts_load(yk_pgconn *c, map *scopes, const char *key, const char *campaign,
                               const char *event_id, map **out)
{
    yk_pgres *r =
        campaign
            ? persist_query(c,
                            "SELECT b.identity, count(*) FROM bookings b JOIN events e ON e.id = "
                            "b.event_id WHERE e.campaign = $1 AND b.status IN ('confirmed', "
                            "'attended') GROUP BY b.identity",
                            1, &campaign)
            : persist_query(
                  c,
                  "SELECT identity, count(*) FROM bookings WHERE event_id = $1 AND status "
                  "IN ('confirmed', 'attended') GROUP BY identity",
                  1, &event_id);
    if (r == NULL)
        return -1;
    /* Fill a private map first so that a failure never leaves half-counted state in scopes. */
    persist_scope *sc = calloc(1, sizeof *sc);
    map *m = sc ? &sc->m : NULL;
    for (int i = 0; m && i < yk_pgres_rows(r); i++) {
        void **v = map_ref(m, yk_pgres_text(r, i, 0));
        if (v == NULL) {
            persist_scope_free(m);
            m = NULL;
        } else {
            *v = (void *)(intptr_t)yk_pgres_int(r, i, 1, 0);
        }
    }
    yk_pgres_free(r);
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

/* Loads the history of event pre (its active bookings per identity) into scopes under key, for
 * the prerequisite check of the events that depend on it. 0 or -1. */
static int persist_prior_load(yk_pgconn *c, map *scopes, const char *key, int64_t pre, map **out)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)pre);
    const char *p1[] = {ids};
    yk_pgres *r = persist_query(c,
                                "SELECT b.identity, extract(epoch FROM s.starts_at)::bigint,"
                                " b.status = 'attended' FROM bookings b JOIN slots s ON s.id ="
                                " b.slot_id WHERE b.event_id = $1 AND b.status IN ('confirmed',"
                                " 'attended')",
                                1, p1);
    if (r == NULL)
        return -1;
    persist_scope *sc = calloc(1, sizeof *sc);
    if (sc)
        sc->hist = true;
    for (int i = 0; sc && i < yk_pgres_rows(r); i++) {
        if (prior_add(&sc->m, yk_pgres_text(r, i, 0), yk_pgres_int(r, i, 1, 0),
                      yk_pgres_bool(r, i, 2)) != 0) {
            persist_scope_free(sc);
            sc = NULL;
        }
    }
    yk_pgres_free(r);
    void **slot = sc ? map_ref(scopes, key) : NULL;
    if (slot == NULL) {
        yk_error("out of memory loading a prerequisite's bookings");
        persist_scope_free(sc);
        return -1;
    }
    *slot = sc;
    *out = &sc->m;
    return 0;
}

int persist_event_load(yk_pgconn *c, int64_t id, map *scopes, persist_event **out)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p1[] = {ids};
    yk_pgres *r = persist_query(
        c,
        "SELECT e.slug, e.timezone, e.per_person_limit, e.campaign,"
        " coalesce(extract(epoch FROM e.opens_at)::bigint, 0),"
        " coalesce(extract(epoch FROM e.closes_at)::bigint, 0), yk_rfc3339(e.opens_at, e.timezone),"
        " CASE WHEN e.prerequisite IS NULL THEN 0 ELSE coalesce(p.id, -1) END,"
        " coalesce((e.prerequisite->>'min_days')::int, 0),"
        " coalesce((e.prerequisite->>'require_attended')::boolean, false)"
        " FROM events e LEFT JOIN events p ON p.slug = e.prerequisite->>'event' WHERE e.id = $1",
        1, p1);
    if (r == NULL)
        return -1;
    if (yk_pgres_rows(r) == 0) {
        yk_pgres_free(r);
        return 0;
    }
    persist_event *e = calloc(1, sizeof *e);
    if (e == NULL)
        goto oom;
    e->id = id;
    e->slug = strdup(yk_pgres_text(r, 0, 0));
    e->tz = strdup(yk_pgres_text(r, 0, 1));
    e->limit = (int)yk_pgres_int(r, 0, 2, 0);
    char key[300];
    bool campaign = !yk_pgres_null(r, 0, 3);
    /* Campaign names longer than the key buffer would collide only with each other's prefixes:
     * refuse them rather than merge two campaigns' limits. */
    if ((size_t)snprintf(key, sizeof key, "%c:%s", campaign ? 'c' : 'e',
                         campaign ? yk_pgres_text(r, 0, 3) : ids) >= sizeof key) {
        yk_error("event %s: campaign name too long", ids);
        goto fail;
    }
    e->opens = yk_pgres_int(r, 0, 4, 0);
    e->closes = yk_pgres_int(r, 0, 5, 0);
    e->opens_at = yk_pgres_null(r, 0, 6) ? NULL : strdup(yk_pgres_text(r, 0, 6));
    e->pre = yk_pgres_int(r, 0, 7, 0);
    e->pre_days = (int)yk_pgres_int(r, 0, 8, 0);
    e->pre_attended = yk_pgres_bool(r, 0, 9);
    e->scopes = scopes;
    snprintf(e->hist_key, sizeof e->hist_key, "h:%lld", (long long)id);
    if (e->slug == NULL || e->tz == NULL || (e->opens_at == NULL && !yk_pgres_null(r, 0, 6)))
        goto oom;
    char pre_key[24];
    snprintf(pre_key, sizeof pre_key, "h:%lld", (long long)e->pre);
    if (e->pre > 0 && (e->prior = map_get(scopes, pre_key)) == NULL &&
        persist_prior_load(c, scopes, pre_key, e->pre, &e->prior) != 0)
        goto fail;
    e->counts = map_get(scopes, key);
    if (e->counts == NULL &&
        persist_counts_load(c, scopes, key, campaign ? yk_pgres_text(r, 0, 3) : NULL, ids,
                            &e->counts) != 0)
        goto fail;
    yk_pgres_free(r);

    const char *p2[] = {ids, e->tz};
    char sql[400];
    snprintf(sql, sizeof sql, "%sWHERE event_id = $1", SLOT_COLUMNS);
    r = persist_query(c, sql, 2, p2);
    if (r == NULL)
        goto fail;
    for (int i = 0; i < yk_pgres_rows(r); i++)
        if (persist_slot_add(e, r, i) == NULL)
            goto oom;
    yk_pgres_free(r);
    *out = e;
    return 1;
oom:
    yk_error("out of memory loading event %s", ids);
fail:
    yk_pgres_free(r);
    persist_event_free(e);
    return -1;
}

int persist_slot_load(yk_pgconn *c, persist_event *e, int64_t slot_id, persist_slot **out)
{
    char ids[24], sids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)e->id);
    snprintf(sids, sizeof sids, "%lld", (long long)slot_id);
    const char *p[] = {ids, e->tz, sids};
    char sql[400];
    snprintf(sql, sizeof sql, "%sWHERE event_id = $1 AND id = $3", SLOT_COLUMNS);
    yk_pgres *r = persist_query(c, sql, 3, p);
    if (r == NULL)
        return -1;
    int found = yk_pgres_rows(r) == 1;
    if (found && (*out = persist_slot_add(e, r, 0)) == NULL)
        found = -1;
    yk_pgres_free(r);
    return found;
}

void persist_bookings_list_free(persist_bookings_list *l)
{
    free(l->v);
    yk_pgres_free(l->res);
    *l = (persist_bookings_list){NULL, 0, NULL};
}

/* Runs sql with the array literal of items[0..n) (texts that need no quoting) as its parameter and
 * types its rows with fill. 0 or -1. */
static int persist_list(yk_pgconn *c, const char *sql, const char *const *items, int n,
                        void (*fill)(const yk_pgres *, int, persist_booking *),
                        persist_bookings_list *out)
{
    *out = (persist_bookings_list){NULL, 0, NULL};
    size_t len = 3;
    for (int i = 0; i < n; i++)
        len += strlen(items[i]) + 1;
    char *arr = malloc(len), *w = arr;
    if (arr == NULL)
        return -1;
    *w++ = '{';
    for (int i = 0; i < n; i++) {
        size_t l = strlen(items[i]);
        if (i)
            *w++ = ',';
        memcpy(w, items[i], l);
        w += l;
    }
    *w++ = '}';
    *w = '\0';
    const char *p[] = {arr};
    yk_pgres *r = persist_query(c, sql, 1, p);
    free(arr);
    if (r == NULL)
        return -1;
    int rows = yk_pgres_rows(r);
    out->v = calloc((size_t)rows + 1, sizeof *out->v);
    if (out->v == NULL) {
        yk_pgres_free(r);
        return -1;
    }
    out->res = r;
    out->n = rows;
    for (int i = 0; i < rows; i++) {
        out->v[i] = (persist_booking){.request_id = "", .token_hash = "", .identity = ""};
        fill(r, i, &out->v[i]);
    }
    return 0;
}

static void lookup_row(const yk_pgres *r, int i, persist_booking *b)
{
    b->request_id = yk_pgres_text(r, i, 0);
    b->id = yk_pgres_text(r, i, 1);
    b->slot_id = yk_pgres_text(r, i, 2);
    b->status = yk_pgres_text(r, i, 3);
    b->email = yk_pgres_text(r, i, 4);
    b->fields = yk_pgres_text(r, i, 5);
    b->created_at = yk_pgres_text(r, i, 6);
    b->slug = yk_pgres_text(r, i, 7);
    b->starts_at = yk_pgres_text(r, i, 8);
    b->ends_at = yk_pgres_text(r, i, 9);
}

int persist_lookup(yk_pgconn *c, const char *const *rids, int n, persist_bookings_list *out)
{
    /* Request ids are validated hex, so the array literal needs no quoting. */
    return persist_list(
        c,
        "SELECT b.request_id, b.id, b.slot_id, b.status, b.email, b.fields::text, "
        "yk_rfc3339(b.created_at, e.timezone), e.slug, yk_rfc3339(s.starts_at, e.timezone), "
        "yk_rfc3339(s.ends_at, e.timezone) FROM bookings b JOIN events e ON e.id = b.event_id "
        "JOIN slots s ON s.id = b.slot_id WHERE b.request_id = ANY($1::text[])",
        rids, n, lookup_row, out);
}

static void booking_row(const yk_pgres *r, int i, persist_booking *b)
{
    b->id = yk_pgres_text(r, i, 0);
    b->event_id = yk_pgres_int(r, i, 1, 0);
    b->slot_id = yk_pgres_text(r, i, 2);
    b->slot = yk_pgres_int(r, i, 2, 0);
    b->status = yk_pgres_text(r, i, 3);
    b->token_hash = yk_pgres_text(r, i, 4);
    b->identity = yk_pgres_text(r, i, 5);
    b->email = yk_pgres_text(r, i, 6);
    b->fields = yk_pgres_text(r, i, 7);
    b->created_at = yk_pgres_text(r, i, 8);
    b->slug = yk_pgres_text(r, i, 9);
    b->starts_at = yk_pgres_text(r, i, 10);
    b->ends_at = yk_pgres_text(r, i, 11);
    b->closed = yk_pgres_bool(r, i, 12);
}

int persist_bookings(yk_pgconn *c, const char *const *ids, int n, persist_bookings_list *out)
{
    /* Ids are validated decimals, so the array literal needs no quoting. */
    return persist_list(
        c,
        "SELECT b.id, b.event_id, b.slot_id, b.status, b.token_hash, b.identity, b.email, "
        "b.fields::text, yk_rfc3339(b.created_at, e.timezone), e.slug, "
        "yk_rfc3339(s.starts_at, e.timezone), yk_rfc3339(s.ends_at, e.timezone), "
        "now() > s.starts_at - make_interval(hours => e.cancel_until_hours) "
        "FROM bookings b JOIN events e ON e.id = b.event_id JOIN slots s ON s.id = b.slot_id "
        "WHERE b.id = ANY($1::bigint[])",
        ids, n, booking_row, out);
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
        put_be(b, 1, 4); /* one dimension */
        put_be(b, 0, 4); /* no NULLs */
        put_be(b, rows_elem[i], 4);
        put_be(b, 0, 4); /* its size: set when sent */
        put_be(b, 1, 4); /* lower bound */
    }
}

void persist_rows_add(persist_rows *r, const char *rid, int64_t ev, int64_t slot, const char *email,
                      const char *ident, const char *fields, size_t fields_len, const char *th,
                      bool limit_one)
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

void persist_written_free(persist_written *w)
{
    free(w->cancelled);
    free(w->inserted);
    yk_pgres_free(w->res[0]);
    yk_pgres_free(w->res[1]);
    *w = (persist_written){0};
}

/* Types the results: cancel (one column, booking id) and insert (request_id, id, created_at). */
static int persist_written_take(persist_written *w, yk_pgres *cancel, yk_pgres *insert)
{
    w->res[0] = cancel;
    w->res[1] = insert;
    int nc = yk_pgres_rows(cancel), ni = yk_pgres_rows(insert);
    w->cancelled = calloc((size_t)nc + 1, sizeof *w->cancelled);
    w->inserted = calloc((size_t)ni + 1, sizeof *w->inserted);
    if (w->cancelled == NULL || w->inserted == NULL)
        return -1;
    for (int i = 0; i < nc; i++) {
        w->cancelled[i] = yk_pgres_text(cancel, i, 0);
        w->cascaded |= yk_pgres_bool(cancel, i, 1);
    }
    for (int i = 0; i < ni; i++)
        w->inserted[i] = (persist_inserted){
            yk_pgres_text(insert, i, 0), yk_pgres_text(insert, i, 1), yk_pgres_text(insert, i, 2)};
    w->n_cancelled = nc;
    w->n_inserted = ni;
    return 0;
}

int persist_write(yk_pgconn *c, const char *cancels, persist_rows *inserts, bool fresh,
                  persist_written *out, char sqlstate[6])
{
    const char *pi[PERSIST_COLS];
    int li[PERSIST_COLS], fi[PERSIST_COLS];
    *out = (persist_written){0};
    sqlstate[0] = '\0';
    if (inserts && inserts->n == 0)
        inserts = NULL;
    if (cancels == NULL && inserts == NULL)
        return 0;
    if (inserts)
        rows_params(inserts, pi, li, fi);
    yk_pgconn_stmt cs = {.name = "yk_cancel", .n = 1, .values = &cancels};
    yk_pgconn_stmt is = {.name = fresh ? "yk_insert_new" : "yk_insert",
                         .n = PERSIST_COLS,
                         .values = pi,
                         .lens = li,
                         .formats = fi};
    yk_pgres *res[2] = {NULL, NULL};
    if (cancels == NULL || inserts == NULL) {
        yk_pgres *r = yk_pgconn_run(c, cancels ? &cs : &is);
        if (!yk_pgres_ok(r)) {
            snprintf(sqlstate, 6, "%s", yk_pgres_sqlstate(r));
            persist_failed(sqlstate);
            yk_warn("batch write failed: sqlstate=%s %s", sqlstate, yk_pgconn_error(c));
            yk_pgres_free(r);
            return yk_pgconn_lost(c) ? -1 : 0;
        }
        res[cancels ? 0 : 1] = r;
    } else {
        /* Cancellations first: the seats and per-person counts they free are what the bookings
         * after them in the stream were decided with (the partial unique index checks row by
         * row). Without BEGIN the pipeline is one implicit transaction up to its sync. Its results
         * are small, so sending the (larger) insert while the server answers the cancel cannot
         * deadlock. */
        int ok = yk_pgconn_pipeline(c, (yk_pgconn_stmt[]){cs, is}, 2, res, sqlstate);
        if (ok != 1) {
            persist_failed(sqlstate);
            return ok;
        }
    }
    if (persist_written_take(out, res[0], res[1]) != 0) {
        /* Committed, but the outcome cannot be read: the entries are left for a retry, which
         * finds the bookings committed and answers from them. */
        yk_error("out of memory reading the batch write's rows");
        persist_written_free(out);
        persist_transient = true;
        *out = (persist_written){0};
        return 1;
    }
    return 1;
}
