/* admin_write: creating and changing events (POST, PATCH; the password hashed off the loop) and
 * adding slots, each committed, then announced before it is answered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "definition.h"
#include "pwhash.h"
#include "yk_log.h"

#define SLOTS_NOT_VALID "The slots are not valid."

static void event_in_effect(admin_ctx *c, int ok)
{
    cat_event *e = catalogue_event(c->slug);
    if (!ok || e == NULL)
        admin_respond_not_in_effect(c->req);
    else /* c->limit: the status, 201 created or 200 changed */
        ingress_respond_json(c->req, c->limit, catalogue_event_json(e, true), NULL);
}

static void event_created_cb(yk_pg_op *op, yk_pgres *res)
{
    admin_ctx *c = (admin_ctx *)op;
    const char *state = yk_pgres_sqlstate(res);
    if (yk_pgres_ok(res) && yk_pgres_rows(res) == 1) {
        admin_announce(c, event_in_effect);
        return;
    }
    json_t *errors = json_array(); /* stolen by ingress_respond_invalid, else released here */
    if (yk_pgres_ok(res) && c->route->method == YK_M_PATCH && c->argv[10] == NULL) {
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
    admin_ctx_free(c);
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
    " reminder, published, partition_key"
    ", phases"   /* proto/sql/0013 */
    ", waitlist" /* proto/sql/0012 */
    ", roster"   /* proto/sql/0011 */
    ") SELECT $1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::int,"
    " $10, $11::jsonb, $12::timestamptz, $13::timestamptz, $14::int, $15::jsonb, $16::boolean,"
    " coalesce($10, (SELECT k FROM pre), $1)"
    ", $17::jsonb, $18::jsonb, $19::jsonb"
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
    " reminder = $15::jsonb, published = $16::boolean"
    ", phases = $17::jsonb"   /* proto/sql/0013 */
    ", waitlist = $18::jsonb" /* proto/sql/0012 */
    ", roster = $19::jsonb"   /* proto/sql/0011 */
    " WHERE e.slug = $1 AND ($11::jsonb IS NULL"
    " OR EXISTS (SELECT 1 FROM events p WHERE p.slug = $11::jsonb->>'event' AND p.slug <> $1"
    " AND coalesce(p.partition_key, p.campaign, p.slug) = e.partition_key))"
    " RETURNING id";

/* Fills c's 19 INSERT parameters from a checked definition, all but the password hash ($8, NULL
 * until event_hashed sets it); 0, or -1 when out of memory. */
static int event_params(admin_ctx *c, definition *d)
{
    snprintf(c->slug, sizeof c->slug, "%s", d->slug);
    admin_param_text(c, d->slug);
    admin_param_text(c, d->title);
    admin_param_text(c, d->description ? d->description : "");
    admin_param_text(c, d->venue ? d->venue : "");
    admin_param_text(c, d->timezone ? d->timezone : "Asia/Tokyo");
    admin_param_text(c, d->lang ? d->lang : "ja");
    admin_param_owned(c, d->fields_json);
    c->argv[c->argc++] = NULL; /* password_hash */
    admin_param_int(c, 0, d->per_person_limit);
    admin_param_text(c, d->campaign);
    admin_param_owned(c, d->prerequisite_json);
    admin_param_text(c, d->opens_at);
    admin_param_text(c, d->closes_at);
    admin_param_int(c, 1, d->cancel_until_hours);
    admin_param_owned(c, d->reminder_json);
    c->argv[c->argc++] = d->published ? "true" : "false";
    d->fields_json = d->prerequisite_json = d->reminder_json = NULL; /* now c's */
    admin_param_owned(c, d->phases_json);                            /* $17, NULL when none */
    admin_param_owned(c, d->waitlist_json);                          /* $18 */
    admin_param_owned(c, d->roster_json);                            /* $19 (roster_def.c) */
    d->phases_json = d->waitlist_json = d->roster_json = NULL;
    return c->oom ? -1 : 0; /* NULLs left are the optional values, absent */
}

/* Stores the event: insert (c->limit 201) or update (200), with every parameter in c->argv. */
static void event_store(admin_ctx *c)
{
    c->op.cb = event_created_cb;
    if (yk_pg_query(ingress.pg, &c->op, c->limit == 200 ? sql_event_update : sql_event_insert,
                    c->argc, c->argv) != 0) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
    }
}

/* The password's argon2id hash, made on a pool thread (pwhash.h): the loop serves meanwhile. */
static void event_hashed(void *ud, const char *hash)
{
    admin_ctx *c = ud;
    char *copy = hash ? strdup(hash) : NULL;
    if (copy == NULL) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
        return;
    }
    admin_keep(c, copy);
    c->argv[7] = copy; /* $8 */
    event_store(c);
}

/* POST (e NULL): the body is the definition; PATCH: the body merged into e's (definition_merge). */
void admin_write_event(admin_ctx *c, cat_event *e)
{
    json_t *def = admin_load_body(c, NOT_VALID);
    json_t *errors = json_array();
    if (def && e) {
        json_t *patch = def;
        def = definition_merge(e->json, patch, errors);
        json_decref(patch);
        if (def == NULL && json_array_size(errors) > 0) {
            ingress_respond_invalid(c->req, errors, NOT_VALID);
            admin_ctx_free(c);
            return;
        }
        if (def == NULL)
            ingress_respond_unavailable(c->req);
    }
    if (def == NULL) {
        json_decref(errors);
        admin_ctx_free(c);
        return;
    }
    definition d;
    int problems = definition_check(def, errors, &d);
    if (problems > 0) {
        ingress_respond_invalid(c->req, errors, NOT_VALID);
        json_decref(def);
        admin_ctx_free(c);
        return;
    }
    json_decref(errors);
    int rc = problems < 0 ? -1 : event_params(c, &d);
    c->limit = e ? 200 : 201;
    int secret = rc == 0 && d.password && d.password[0];
    if (secret) /* 503 when the hashing cap is reached: a flood of creations waits its turn */
        rc = pwhash_hash_start(d.password, event_hashed, c);
    definition_free(&d);
    json_decref(def); /* after event_params and pwhash_hash_start: d borrows its strings */
    if (rc != 0) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
    } else if (!secret) {
        event_store(c);
    }
}

static void slots_in_effect(admin_ctx *c, int ok)
{
    if (ok)
        ingress_respond_json(c->req, 201, json_pack("{s:i}", "created", c->limit), NULL);
    else
        admin_respond_not_in_effect(c->req);
}

static void slots_added_cb(yk_pg_op *op, yk_pgres *res)
{
    admin_ctx *c = (admin_ctx *)op;
    const char *state = yk_pgres_sqlstate(res);
    if (yk_pgres_ok(res)) {
        c->limit = (int)yk_pgres_int(res, 0, 0, 0); /* rows created */
        admin_announce(c, slots_in_effect);         /* answer once the new slots are listed */
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
    admin_ctx_free(c);
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

void admin_write_slots(admin_ctx *c, cat_event *e)
{
    json_t *body = admin_load_body(c, SLOTS_NOT_VALID);
    if (body == NULL) {
        admin_ctx_free(c);
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
    admin_param_text(c, e->id_str);
    if (gen && !slots) {
        definition_generator g;
        if (definition_check_generator(gen, errors, &g) == 0) {
            admin_param_text(c, g.from);
            admin_param_text(c, g.to);
            admin_param_text(c, g.weekdays);
            admin_param_text(c, g.times);
            admin_param_int(c, 0, g.duration_min);
            admin_param_int(c, 1, g.capacity);
            sql = sql_slots_generate;
        }
    } else {
        if (gen && slots)
            ingress_add_error(errors, "generate", "unknown_field");
        if (definition_check_slots(slots, errors) == 0)
            admin_param_owned(c, json_dumps(slots, JSON_COMPACT));
    }
    json_decref(body);
    if (json_array_size(errors) > 0) {
        ingress_respond_invalid(c->req, errors, SLOTS_NOT_VALID);
        admin_ctx_free(c);
        return;
    }
    json_decref(errors);
    c->op.cb = slots_added_cb;
    if (yk_pg_query(ingress.pg, &c->op, sql, c->argc, c->argv) != 0) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
    }
}
