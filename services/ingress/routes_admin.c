/* routes_admin: staff routes behind `Authorization: Bearer <token>` — events (create, change),
 * slots, bookings (lists, one by id).
 * Each request owns one admin_ctx for its PostgreSQL round trips; the token is checked first. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalogue.h"
#include "definition.h"
#include "export.h"
#include "ingress.h"
#include "queue.h"
#include "secret.h"
#include "yk_log.h"
#include "yk_token.h"

typedef enum {
    A_EVENT_CREATE,
    A_EVENT_LIST,
    A_EVENT_GET,
    A_EVENT_PATCH,
    A_SLOTS_ADD,
    A_BOOKINGS,
    A_BOOKING_GET,
    A_BOOKINGS_CSV,
    A_QUEUE
} admin_action;

#define NOT_VALID "The event definition is not valid."
#define SLOTS_NOT_VALID "The slots are not valid."

typedef struct admin_ctx admin_ctx;
typedef void (*admin_done)(admin_ctx *c, int ok);

struct admin_ctx {
    yk_pg_op op;
    yk_redis_op publish; /* the PUBLISH that tells every ingress and worker of a change */
    yk_http_req *req;
    admin_action action;
    char slug[72];
    char params[17][64]; /* short text parameters; long ones live in owned[] */
    char *owned[17];     /* every heap parameter, freed with the context */
    const char *argv[17];
    int argc;
    int limit;
    int pending, in_effect; /* announce: completions awaited, all succeeded so far */
    int answered;           /* the announce's answer went out (in time, or at its deadline) */
    admin_done done;        /* answers; never frees c (the timer's close does) */
    uv_timer_t deadline;    /* an announce answers within YOYAKU_WAIT_MS */
};

static void ctx_free(admin_ctx *c)
{
    for (size_t i = 0; i < sizeof c->owned / sizeof c->owned[0]; i++)
        free(c->owned[i]);
    free(c);
}

/* c takes s (may be NULL): it is freed with c. */
static void keep(admin_ctx *c, char *s)
{
    for (size_t i = 0; i < sizeof c->owned / sizeof c->owned[0]; i++)
        if (c->owned[i] == NULL) {
            c->owned[i] = s;
            break;
        }
}

/* Appends an owned string parameter (may be NULL = SQL NULL). */
static void param_owned(admin_ctx *c, char *s)
{
    keep(c, s);
    c->argv[c->argc++] = s;
}

static void param_text(admin_ctx *c, const char *s)
{
    if (s == NULL) {
        c->argv[c->argc++] = NULL;
        return;
    }
    param_owned(c, strdup(s));
}

static void param_int(admin_ctx *c, int slot, int v)
{
    snprintf(c->params[slot], sizeof c->params[slot], "%d", v);
    c->argv[c->argc++] = c->params[slot];
}

/* A committed change that is not (yet) in effect: saying 201 would claim what is not true, and a
 * plain retry could add the same slots twice, so the answer says both (contract: 503 with
 * Retry-After). */
static void respond_not_in_effect(yk_http_req *req)
{
    ingress_respond_json(req, 503,
                         json_pack("{s:s,s:s}", "error", "unavailable", "message",
                                   "The change is saved but not yet in effect: the catalogue could "
                                   "not be reloaded. Check it before sending the change again."),
                         "Retry-After: 1\r\n");
}

static void announce_closed(uv_handle_t *h)
{
    ctx_free(h->data);
}

static void announce_step(admin_ctx *c, int ok)
{
    c->in_effect &= ok;
    if (--c->pending > 0)
        return;
    if (!c->answered)
        c->done(c, c->in_effect);
    uv_timer_stop(&c->deadline);
    uv_close((uv_handle_t *)&c->deadline, announce_closed);
}

/* A stalled Redis or PostgreSQL must not hold the answer: 503, and the context waits on. */
static void announce_late(uv_timer_t *t)
{
    admin_ctx *c = t->data;
    c->answered = 1;
    respond_not_in_effect(c->req);
}

static void published_cb(yk_redis_op *op, yk_reply *reply)
{
    admin_ctx *c = (admin_ctx *)((char *)op - offsetof(admin_ctx, publish));
    announce_step(c, yk_reply_type(reply) == YK_REPLY_INTEGER);
}

static void reloaded_cb(void *ud, int ok)
{
    announce_step(ud, ok);
}

/* After a committed change: every ingress reloads at once (PUBLISH) and workers see the version at
 * their next tick (INCR); done(c, ok) answers once this ingress has reloaded and Redis has taken
 * the PUBLISH, ok only if both succeeded, unless YOYAKU_WAIT_MS passed first (then 503). Either
 * completion may run inside this call; c is freed after both. */
static void announce_catalogue(admin_ctx *c, admin_done done)
{
    c->pending = 2;
    c->in_effect = 1;
    c->done = done;
    c->publish.cb = published_cb;
    uv_timer_init(ingress.loop, &c->deadline);
    c->deadline.data = c;
    uv_timer_start(&c->deadline, announce_late,
                   ingress.wait_ms > 0 ? (uint64_t)ingress.wait_ms : 5000, 0);
    yk_redis_cmd(ingress.redis, NULL, "INCR yk:catalogue");
    yk_redis_cmd(ingress.redis, &c->publish, "PUBLISH yk:events catalogue");
    catalogue_reload(reloaded_cb, c);
}

static void event_in_effect(admin_ctx *c, int ok)
{
    cat_event *e = catalogue_event(c->slug);
    if (!ok || e == NULL)
        respond_not_in_effect(c->req);
    else /* c->limit: the status, 201 created or 200 changed */
        ingress_respond_json(c->req, c->limit, catalogue_event_json(e, true), NULL);
}

static void event_created_cb(yk_pg_op *op, yk_pgres *res)
{
    admin_ctx *c = (admin_ctx *)op;
    const char *state = yk_pgres_sqlstate(res);
    if (yk_pgres_ok(res) && yk_pgres_rows(res) == 1) {
        announce_catalogue(c, event_in_effect);
        return;
    }
    json_t *errors = json_array(); /* stolen by ingress_respond_invalid, else released here */
    if (yk_pgres_ok(res) && c->action == A_EVENT_PATCH && c->argv[10] == NULL) {
        json_decref(errors);
        yk_http_respond_error(c->req, 404, "not_found", "No such event."); /* deleted meanwhile */
    } else if (yk_pgres_ok(res)) { /* no row: the WHERE found no prerequisite event of that slug */
        ingress_add_error(errors, "prerequisite.event", "unknown_option");
        ingress_respond_invalid(c->req, errors, NOT_VALID);
    } else if (strncmp(state, "22", 2) == 0) {
        ingress_add_error(errors, "definition", "type");
        ingress_respond_invalid(c->req, errors, NOT_VALID);
    } else {
        json_decref(errors);
        if (strcmp(state, "23505") == 0) {
            yk_http_respond_error(c->req, 409, "slug_taken", "An event with this slug exists.");
        } else {
            if (res)
                yk_error("create event failed: %s", yk_pgres_error(res));
            ingress_respond_unavailable(c->req);
        }
    }
    ctx_free(c);
}

/* The prerequisite must name an event that exists: checked by the database, which knows even when
 * this ingress's catalogue is behind. partition_key (proto/sql/0007): the campaign, else the
 * prerequisite's key, else the slug; an event whose campaign differs from its prerequisite's key
 * would be decided away from its prerequisite, so it is refused like an unknown prerequisite. */
static const char sql_event_insert[] =
    "WITH pre AS (SELECT coalesce(p.partition_key, p.campaign, p.slug) AS k FROM events p"
    " WHERE p.slug = $11::jsonb->>'event')"
    " INSERT INTO events (slug, title, description, venue, timezone, lang, fields, password_hash,"
    " per_person_limit, campaign, prerequisite, opens_at, closes_at, cancel_until_hours,"
    " reminder, published, partition_key) SELECT $1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::int,"
    " $10, $11::jsonb, $12::timestamptz, $13::timestamptz, $14::int, $15::jsonb, $16::boolean,"
    " coalesce($10, (SELECT k FROM pre), $1)"
    " WHERE $11::jsonb IS NULL OR EXISTS"
    " (SELECT 1 FROM pre WHERE $10::text IS NULL OR pre.k = $10) RETURNING id";

/* The same parameters; the slug names the event and cannot change (nor its partition key: a new
 * prerequisite must live in the event's partition, else it is refused like an unknown one), a
 * password hash only replaces the stored one when given. Committed before the catalogue version
 * moves, so a worker that sees the new version reads the new row. */
static const char sql_event_update[] =
    "UPDATE events e SET title = $2, description = $3, venue = $4, timezone = $5, lang = $6,"
    " fields = $7::jsonb, password_hash = coalesce($8, e.password_hash),"
    " per_person_limit = $9::int, campaign = $10, prerequisite = $11::jsonb,"
    " opens_at = $12::timestamptz, closes_at = $13::timestamptz, cancel_until_hours = $14::int,"
    " reminder = $15::jsonb, published = $16::boolean WHERE e.slug = $1 AND ($11::jsonb IS NULL"
    " OR EXISTS (SELECT 1 FROM events p WHERE p.slug = $11::jsonb->>'event' AND p.slug <> $1"
    " AND coalesce(p.partition_key, p.campaign, p.slug) = e.partition_key))"
    " RETURNING id";

static json_t *load_body(admin_ctx *c, const char *message)
{
    json_error_t jerr;
    json_t *body = json_loadb(c->req->body, c->req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (body == NULL)
        yk_http_respond_error(c->req, 400, "malformed_json", "The request body is not valid JSON.");
    else if (!json_is_object(body)) {
        json_t *errors = json_array();
        ingress_add_error(errors, "body", "type");
        ingress_respond_invalid(c->req, errors, message);
        json_decref(body);
        body = NULL;
    }
    return body;
}

/* Fills c's 16 INSERT parameters from a checked definition, all but the password hash ($8, NULL
 * until event_hashed sets it); 0, or -1 when out of memory. */
static int event_params(admin_ctx *c, definition *d)
{
    snprintf(c->slug, sizeof c->slug, "%s", d->slug);
    param_text(c, d->slug);
    param_text(c, d->title);
    param_text(c, d->description ? d->description : "");
    param_text(c, d->venue ? d->venue : "");
    param_text(c, d->timezone ? d->timezone : "Asia/Tokyo");
    param_text(c, d->lang ? d->lang : "ja");
    param_owned(c, d->fields_json);
    c->argv[c->argc++] = NULL; /* password_hash */
    param_int(c, 0, d->per_person_limit);
    param_text(c, d->campaign);
    param_owned(c, d->prerequisite_json);
    param_text(c, d->opens_at);
    param_text(c, d->closes_at);
    param_int(c, 1, d->cancel_until_hours);
    param_owned(c, d->reminder_json);
    c->argv[c->argc++] = d->published ? "true" : "false";
    d->fields_json = d->prerequisite_json = d->reminder_json = NULL; /* now c's */
    for (int i = 0; i < c->argc; i++)
        if (c->argv[i] == NULL && i != 7 && i != 9 && i != 10 && i != 11 && i != 12)
            return -1; /* a strdup failed: only the optional ones may be NULL */
    return 0;
}

/* Stores the event: insert (c->limit 201) or update (200), with every parameter in c->argv. */
static void event_store(admin_ctx *c)
{
    c->op.cb = event_created_cb;
    if (yk_pg_query(ingress.pg, &c->op, c->limit == 200 ? sql_event_update : sql_event_insert,
                    c->argc, c->argv) != 0) {
        ingress_respond_unavailable(c->req);
        ctx_free(c);
    }
}

/* The password's argon2id hash, made on a pool thread (secret.h): the loop serves meanwhile. */
static void event_hashed(void *ud, const char *hash)
{
    admin_ctx *c = ud;
    char *copy = hash ? strdup(hash) : NULL;
    if (copy == NULL) {
        ingress_respond_unavailable(c->req);
        ctx_free(c);
        return;
    }
    keep(c, copy);
    c->argv[7] = copy; /* $8 */
    event_store(c);
}

/* POST (e NULL): the body is the definition; PATCH: the body merged into e's (definition_merge). */
static void event_write(admin_ctx *c, cat_event *e)
{
    json_t *def = load_body(c, NOT_VALID);
    json_t *errors = json_array();
    if (def && e) {
        json_t *patch = def;
        def = definition_merge(e->json, patch, errors);
        json_decref(patch);
        if (def == NULL && json_array_size(errors) > 0) {
            ingress_respond_invalid(c->req, errors, NOT_VALID);
            ctx_free(c);
            return;
        }
        if (def == NULL)
            ingress_respond_unavailable(c->req);
    }
    if (def == NULL) {
        json_decref(errors);
        ctx_free(c);
        return;
    }
    definition d;
    int problems = definition_check(def, errors, &d);
    if (problems > 0) {
        ingress_respond_invalid(c->req, errors, NOT_VALID);
        json_decref(def);
        ctx_free(c);
        return;
    }
    json_decref(errors);
    int rc = problems < 0 ? -1 : event_params(c, &d);
    c->limit = e ? 200 : 201;
    int secret = rc == 0 && d.password && d.password[0];
    if (secret) /* 503 when the hashing cap is reached: a flood of creations waits its turn */
        rc = secret_hash_start(d.password, event_hashed, c);
    definition_free(&d);
    json_decref(def); /* after event_params and secret_hash_start: d borrows its strings */
    if (rc != 0) {
        ingress_respond_unavailable(c->req);
        ctx_free(c);
    } else if (!secret) {
        event_store(c);
    }
}

static void slots_in_effect(admin_ctx *c, int ok)
{
    if (ok)
        ingress_respond_json(c->req, 201, json_pack("{s:i}", "created", c->limit), NULL);
    else
        respond_not_in_effect(c->req);
}

static void slots_added_cb(yk_pg_op *op, yk_pgres *res)
{
    admin_ctx *c = (admin_ctx *)op;
    const char *state = yk_pgres_sqlstate(res);
    if (yk_pgres_ok(res)) {
        c->limit = (int)yk_pgres_int(res, 0, 0, 0); /* rows created */
        announce_catalogue(c, slots_in_effect);     /* answer once the new slots are listed */
        return;
    }
    if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0) {
        json_t *errors = json_array();
        ingress_add_error(errors, "slots", strcmp(state, "23514") == 0 ? "pattern" : "type");
        ingress_respond_invalid(c->req, errors, SLOTS_NOT_VALID);
    } else {
        if (res)
            yk_error("add slots failed: %s", yk_pgres_error(res));
        ingress_respond_unavailable(c->req);
    }
    ctx_free(c);
}

/* Both count what they insert in one statement, so the answer says how many slots exist now. */
static const char sql_slots_insert[] =
    "WITH ins AS (INSERT INTO slots (event_id, starts_at, ends_at, capacity)"
    " SELECT $1::bigint, (x->>'starts_at')::timestamptz, (x->>'ends_at')::timestamptz,"
    " (x->>'capacity')::int FROM json_array_elements($2::json) x RETURNING 1)"
    " SELECT count(*) FROM ins";

static const char sql_slots_generate[] =
    "WITH ins AS (INSERT INTO slots (event_id, starts_at, ends_at, capacity)"
    " SELECT e.id, (d + t::time) AT TIME ZONE e.timezone,"
    " (d + t::time) AT TIME ZONE e.timezone + make_interval(mins => $6::int), $7::int"
    " FROM events e, unnest($5::text[]) t,"
    " generate_series(0, $3::date - $2::date) i, LATERAL (SELECT $2::date + i AS d) day"
    " WHERE e.id = $1::bigint AND extract(isodow FROM d)::int = ANY ($4::int[]) RETURNING 1)"
    " SELECT count(*) FROM ins";

static void slots_add(admin_ctx *c, cat_event *e)
{
    json_t *body = load_body(c, SLOTS_NOT_VALID);
    if (body == NULL) {
        ctx_free(c);
        return;
    }
    json_t *errors = json_array(), *slots = json_object_get(body, "slots");
    json_t *gen = json_object_get(body, "generate");
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val)
    {
        if (strcmp(key, "slots") != 0 && strcmp(key, "generate") != 0)
            ingress_add_error(errors, key, "unknown_field");
    }
    const char *sql = sql_slots_insert;
    param_text(c, e->id_str);
    if (gen && !slots) {
        definition_generator g;
        if (definition_check_generator(gen, errors, &g) == 0) {
            param_text(c, g.from);
            param_text(c, g.to);
            param_text(c, g.weekdays);
            param_text(c, g.times);
            param_int(c, 0, g.duration_min);
            param_int(c, 1, g.capacity);
            sql = sql_slots_generate;
        }
    } else {
        if (gen && slots)
            ingress_add_error(errors, "generate", "unknown_field");
        if (definition_check_slots(slots, errors) == 0)
            param_owned(c, json_dumps(slots, JSON_COMPACT));
    }
    json_decref(body);
    if (json_array_size(errors) > 0) {
        ingress_respond_invalid(c->req, errors, SLOTS_NOT_VALID);
        ctx_free(c);
        return;
    }
    json_decref(errors);
    c->op.cb = slots_added_cb;
    if (yk_pg_query(ingress.pg, &c->op, sql, c->argc, c->argv) != 0) {
        ingress_respond_unavailable(c->req);
        ctx_free(c);
    }
}

static const char sql_bookings[] =
    "SELECT b.id, " INGRESS_BOOKING_JSON INGRESS_BOOKING_FROM
    " WHERE b.event_id = $1::bigint AND ($2::text IS NULL OR b.status = $2)"
    " AND b.id > $3::bigint ORDER BY b.id LIMIT $4::int";

static void bookings_cb(yk_pg_op *op, yk_pgres *res)
{
    admin_ctx *c = (admin_ctx *)op;
    if (!yk_pgres_ok(res)) {
        if (res)
            yk_error("list bookings failed: %s", yk_pgres_error(res));
        ingress_respond_unavailable(c->req);
        ctx_free(c);
        return;
    }
    /* Looked up again: the catalogue may have been reloaded while the query ran. */
    cat_event *e = catalogue_event(c->slug);
    int n = yk_pgres_rows(res), shown = n > c->limit ? c->limit : n;
    json_t *list = json_array();
    for (int i = 0; i < shown; i++) {
        json_t *b = json_loads(yk_pgres_text(res, i, 1), 0, NULL);
        json_t *fields = e ? yk_fieldset_present(&e->fields, json_object_get(b, "fields")) : NULL;
        if (fields) /* jsonb keeps its own key order: show the definition's, values typed */
            json_object_set_new(b, "fields", fields);
        if (ingress_booking_checkin(b) != 0)
            yk_warn("booking %s: no check-in code", yk_pgres_text(res, i, 0));
        json_array_append_new(list, b);
    }
    json_t *next = n > c->limit ? json_string(yk_pgres_text(res, shown - 1, 0)) : json_null();
    ingress_respond_json(c->req, 200, json_pack("{s:o,s:o}", "bookings", list, "next_cursor", next),
                         NULL);
    ctx_free(c);
}

static void bookings_list(admin_ctx *c, cat_event *e)
{
    char status[16] = "", limit[16] = "", cursor[24] = "";
    json_t *errors = json_array();
    const char *q = c->req->query;
    if (ingress_query_param(q, "status", status, sizeof status) < 0)
        ingress_add_error(errors, "status", "too_long");
    else if (status[0] && !definition_booking_status(status))
        ingress_add_error(errors, "status", "unknown_option");
    c->limit = 100;
    if (ingress_query_param(q, "limit", limit, sizeof limit) < 0)
        ingress_add_error(errors, "limit", "too_long");
    else if (limit[0] && !definition_limit(limit, &c->limit))
        ingress_add_error(errors, "limit", "pattern");
    if (ingress_query_param(q, "cursor", cursor, sizeof cursor) < 0)
        ingress_add_error(errors, "cursor", "too_long");
    else if (cursor[0] && !definition_cursor(cursor))
        ingress_add_error(errors, "cursor", "pattern");
    if (json_array_size(errors) > 0) {
        /* Name the parameters: this is no definition, and the errors array is easy to miss. */
        char message[96] = "Query parameter not valid:";
        size_t i;
        json_t *err;
        json_array_foreach(errors, i, err)
        {
            size_t len = strlen(message);
            snprintf(message + len, sizeof message - len, "%s %s", i ? "," : "",
                     json_string_value(json_object_get(err, "field")));
        }
        size_t len = strlen(message);
        snprintf(message + len, sizeof message - len, ".");
        ingress_respond_invalid(c->req, errors, message);
        ctx_free(c);
        return;
    }
    json_decref(errors);
    param_text(c, e->id_str);
    param_text(c, status[0] ? status : NULL);
    param_text(c, cursor[0] ? cursor : "0");
    param_int(c, 0, c->limit + 1);
    c->op.cb = bookings_cb;
    if (yk_pg_query(ingress.pg, &c->op, sql_bookings, c->argc, c->argv) != 0) {
        ingress_respond_unavailable(c->req);
        ctx_free(c);
    }
}

static const char sql_booking_by_id[] =
    "SELECT b.event_id, " INGRESS_BOOKING_JSON INGRESS_BOOKING_FROM " WHERE b.id = $1::bigint";

static void booking_cb(yk_pg_op *op, yk_pgres *res)
{
    admin_ctx *c = (admin_ctx *)op;
    cat_event *e = yk_pgres_ok(res) && yk_pgres_rows(res) == 1
                       ? catalogue_event_by_id(yk_pgres_int(res, 0, 0, 0))
                       : NULL;
    if (yk_pgres_ok(res) && yk_pgres_rows(res) == 0) {
        yk_http_respond_error(c->req, 404, "not_found", "No such booking.");
    } else if (e == NULL) { /* the store failed, or the catalogue is behind the row */
        ingress_respond_unavailable(c->req);
    } else {
        json_t *b = json_loads(yk_pgres_text(res, 0, 1), 0, NULL);
        json_t *fields = b ? catalogue_booking_fields(e, json_object_get(b, "fields")) : NULL;
        if (fields == NULL || json_object_set_new(b, "fields", fields) != 0 ||
            ingress_booking_checkin(b) != 0) {
            json_decref(b);
            b = NULL;
        }
        ingress_respond_json(c->req, 200, b ? json_pack("{s:o}", "booking", b) : NULL, NULL);
    }
    ctx_free(c);
}

/* The check-in desk types the number printed on a confirmation: digits only, else 404. */
static void booking_get(admin_ctx *c)
{
    size_t n = strlen(c->slug);
    if (n == 0 || n > 18 || strspn(c->slug, "0123456789") != n) {
        yk_http_respond_error(c->req, 404, "not_found", "No such booking.");
        ctx_free(c);
        return;
    }
    param_text(c, c->slug);
    c->op.cb = booking_cb;
    if (c->argv[0] == NULL || yk_pg_query(ingress.pg, &c->op, sql_booking_by_id, 1, c->argv) != 0) {
        ingress_respond_unavailable(c->req);
        ctx_free(c);
    }
}

static void queue_cb(void *ud, int ok, const queue_partition *parts, int n)
{
    admin_ctx *c = ud;
    if (!ok) {
        ingress_respond_unavailable(c->req);
        ctx_free(c);
        return;
    }
    json_t *list = json_array();
    for (int p = 0; p < n; p++)
        json_array_append_new(
            list,
            json_pack("{s:i,s:I,s:I,s:I,s:f,s:I}", "partition", p, "length",
                      (json_int_t)parts[p].length, "pending", (json_int_t)parts[p].pending, "lag",
                      (json_int_t)parts[p].lag, "oldest_pending_age_seconds",
                      parts[p].oldest_pending_age, "consumers", (json_int_t)parts[p].consumers));
    ingress_respond_json(c->req, 200, json_pack("{s:o}", "partitions", list), NULL);
    ctx_free(c);
}

static void admin_run(admin_ctx *c)
{
    int needs_event = c->action != A_EVENT_CREATE && c->action != A_EVENT_LIST &&
                      c->action != A_QUEUE && c->action != A_BOOKING_GET;
    cat_event *e = needs_event ? catalogue_event(c->slug) : NULL;
    if (needs_event && e == NULL) {
        yk_http_respond_error(c->req, 404, "not_found", "No such event.");
        ctx_free(c);
        return;
    }
    switch (c->action) {
    case A_EVENT_CREATE:
        event_write(c, NULL);
        return;
    case A_EVENT_PATCH:
        event_write(c, e);
        return;
    case A_BOOKING_GET:
        booking_get(c);
        return;
    case A_EVENT_LIST: {
        json_t *list = json_array();
        for (size_t i = 0; (e = catalogue_event_at(i)) != NULL; i++)
            json_array_append_new(list, catalogue_event_json(e, true));
        ingress_respond_json(c->req, 200, json_pack("{s:o}", "events", list), NULL);
        ctx_free(c);
        return;
    }
    case A_EVENT_GET:
        ingress_respond_json(c->req, 200, catalogue_event_json(e, true), NULL);
        ctx_free(c);
        return;
    case A_SLOTS_ADD:
        slots_add(c, e);
        return;
    case A_BOOKINGS:
        bookings_list(c, e);
        return;
    case A_BOOKINGS_CSV:
        export_bookings_csv(c->req, e->id_str, e->slug, e->json);
        ctx_free(c);
        return;
    case A_QUEUE:
        queue_collect(queue_cb, c);
        return;
    }
}

static void auth_cb(yk_pg_op *op, yk_pgres *res)
{
    admin_ctx *c = (admin_ctx *)op;
    if (!yk_pgres_ok(res)) {
        ingress_respond_unavailable(c->req);
        ctx_free(c);
        return;
    }
    if (yk_pgres_rows(res) != 1) {
        yk_http_respond_error(c->req, 401, "unauthorized", "A valid admin token is required.");
        ctx_free(c);
        return;
    }
    c->argc = 0;
    admin_run(c);
}

void routes_admin(yk_http_req *req, char **segs, int n)
{
    admin_action action;
    yk_http_method want;
    /* segs[0] == "admin" */
    if (n == 2 && strcmp(segs[1], "queue") == 0) {
        action = A_QUEUE, want = YK_M_GET;
        req->route = "admin_queue";
    } else if (n == 2 && strcmp(segs[1], "events") == 0) {
        action = req->method == YK_M_POST ? A_EVENT_CREATE : A_EVENT_LIST;
        want = req->method == YK_M_POST ? YK_M_POST : YK_M_GET;
        req->route = "admin_events";
    } else if (n == 3 && strcmp(segs[1], "events") == 0) {
        action = req->method == YK_M_PATCH ? A_EVENT_PATCH : A_EVENT_GET;
        want = req->method == YK_M_PATCH ? YK_M_PATCH : YK_M_GET;
        req->route = "admin_event";
    } else if (n == 3 && strcmp(segs[1], "bookings") == 0) {
        action = A_BOOKING_GET, want = YK_M_GET;
        req->route = "admin_booking";
    } else if (n == 4 && strcmp(segs[1], "events") == 0 && strcmp(segs[3], "slots") == 0) {
        action = A_SLOTS_ADD, want = YK_M_POST;
        req->route = "admin_slots";
    } else if (n == 4 && strcmp(segs[1], "events") == 0 && strcmp(segs[3], "bookings") == 0) {
        action = A_BOOKINGS, want = YK_M_GET;
        req->route = "admin_bookings";
    } else if (n == 4 && strcmp(segs[1], "events") == 0 && strcmp(segs[3], "bookings.csv") == 0) {
        action = A_BOOKINGS_CSV, want = YK_M_GET;
        req->route = "admin_bookings_csv";
    } else {
        yk_http_respond_error(req, 404, "not_found", "No such route.");
        return;
    }
    if (req->method != want) {
        yk_http_respond_not_allowed(
            req, action == A_EVENT_LIST || action == A_EVENT_CREATE ? "GET, HEAD, POST"
                 : action == A_EVENT_GET || action == A_EVENT_PATCH ? "GET, HEAD, PATCH"
                 : want == YK_M_GET                                 ? "GET, HEAD"
                                                                    : "POST");
        return;
    }
    const char *auth = req->headers[YK_HDR_AUTHORIZATION];
    if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0 || strlen(auth + 7) < 16 ||
        strlen(auth + 7) > 256) {
        yk_http_respond_error(req, 401, "unauthorized", "A valid admin token is required.");
        return;
    }
    admin_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        ingress_respond_unavailable(req);
        return;
    }
    c->req = req;
    c->action = action;
    if (n >= 3)
        snprintf(c->slug, sizeof c->slug, "%s", segs[2]);
    char hash[YK_HASH_HEX_LEN + 1];
    yk_token_sha256_hex(auth + 7, strlen(auth + 7), hash);
    const char *argv[1] = {hash};
    c->op.cb = auth_cb;
    if (yk_pg_query(ingress.pg, &c->op,
                    "SELECT 1 FROM admin_tokens WHERE token_hash = $1 AND revoked_at IS NULL", 1,
                    argv) != 0) {
        ingress_respond_unavailable(req);
        ctx_free(c);
    }
}
