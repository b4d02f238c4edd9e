/* routes_admin: staff routes behind `Authorization: Bearer <token>` — events, slots, bookings.
 * Each request owns one admin_ctx for its PostgreSQL round trips; the token is checked first. */
#include <regex.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalogue.h"
#include "ingress.h"
#include "queue.h"
#include "yk_log.h"
#include "yk_text.h"
#include "yk_token.h"

typedef enum {
    A_EVENT_CREATE,
    A_EVENT_LIST,
    A_EVENT_GET,
    A_SLOTS_ADD,
    A_BOOKINGS,
    A_QUEUE
} admin_action;

/* The message of every 422 here; the errors array says what exactly. */
#define NOT_VALID "The request is not a valid definition."

typedef struct {
    yk_pg_op op;
    yk_http_req *req;
    admin_action action;
    char slug[72];
    char params[17][64]; /* short text parameters; long ones live in owned[] */
    char *owned[17]; /* every heap parameter, freed with the context */
    const char *argv[17];
    int argc;
    int limit;
} admin_ctx;

static void ctx_free(admin_ctx *c)
{
    for (size_t i = 0; i < sizeof c->owned / sizeof c->owned[0]; i++)
        free(c->owned[i]);
    free(c);
}

static int matches(const char *s, const char *pattern)
{
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    int ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

static const char rfc3339_re[] =
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})$";

static int valid_timezone(const char *tz)
{
    char path[256];
    struct stat st;
    if (!matches(tz, "^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$") || strlen(tz) > 64)
        return 0;
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Appends an owned string parameter (may be NULL = SQL NULL). */
static void param_owned(admin_ctx *c, char *s)
{
    for (size_t i = 0; i < sizeof c->owned / sizeof c->owned[0]; i++)
        if (c->owned[i] == NULL) {
            c->owned[i] = s;
            break;
        }
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

static const char *opt_string(json_t *def, const char *key, json_t *errors, size_t max_len)
{
    json_t *v = json_object_get(def, key);
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        ingress_add_error(errors, key, "type");
        return NULL;
    }
    if (yk_text_length(json_string_value(v)) > max_len)
        ingress_add_error(errors, key, "too_long");
    return json_string_value(v);
}

static int opt_int(json_t *def, const char *key, json_t *errors, int min, int max, int dflt)
{
    json_t *v = json_object_get(def, key);
    if (v == NULL || json_is_null(v))
        return dflt;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        ingress_add_error(errors, key, "type");
        return dflt;
    }
    return (int)json_integer_value(v);
}

/* Validates an event definition and fills c's 16 INSERT parameters. Returns the error count. */
static size_t event_params(admin_ctx *c, json_t *def, json_t *errors)
{
    static const char *const known[] = {
        "slug", "title", "description", "venue", "timezone", "lang", "fields", "password",
        "per_person_limit", "campaign", "prerequisite", "opens_at", "closes_at",
        "cancel_until_hours", "reminder", "published"};
    const char *key;
    json_t *val;
    json_object_foreach(def, key, val)
    {
        size_t i = 0;
        while (i < sizeof known / sizeof known[0] && strcmp(key, known[i]) != 0)
            i++;
        if (i == sizeof known / sizeof known[0])
            ingress_add_error(errors, key, "unknown_field");
    }
    const char *slug = opt_string(def, "slug", errors, 64);
    if (slug == NULL)
        ingress_add_error(errors, "slug", "required");
    else if (!matches(slug, "^[a-z0-9-]{1,64}$"))
        ingress_add_error(errors, "slug", "pattern");
    const char *title = opt_string(def, "title", errors, 200);
    if (title == NULL || title[0] == '\0')
        ingress_add_error(errors, "title", "required");
    const char *description = opt_string(def, "description", errors, 10000);
    const char *venue = opt_string(def, "venue", errors, 500);
    const char *tz = opt_string(def, "timezone", errors, 64);
    if (tz && !valid_timezone(tz))
        ingress_add_error(errors, "timezone", "pattern");
    const char *lang = opt_string(def, "lang", errors, 2);
    if (lang && strcmp(lang, "ja") && strcmp(lang, "en"))
        ingress_add_error(errors, "lang", "unknown_option");
    json_t *fields = json_object_get(def, "fields");
    if (fields && !json_is_null(fields)) {
        yk_fieldset fs;
        if (yk_fieldset_parse(&fs, fields, errors) == 0)
            yk_fieldset_free(&fs);
    }
    const char *password = opt_string(def, "password", errors, 200);
    int limit = opt_int(def, "per_person_limit", errors, 1, 1000, 1);
    const char *campaign = opt_string(def, "campaign", errors, 64);
    if (campaign && !matches(campaign, "^[a-z0-9_-]{1,64}$"))
        ingress_add_error(errors, "campaign", "pattern");
    json_t *pre = json_object_get(def, "prerequisite");
    if (pre && !json_is_null(pre)) {
        json_t *pe = json_object_get(pre, "event");
        if (!json_is_object(pre) || !json_is_string(pe))
            ingress_add_error(errors, "prerequisite", "type");
    }
    const char *opens = opt_string(def, "opens_at", errors, 40);
    if (opens && !matches(opens, rfc3339_re))
        ingress_add_error(errors, "opens_at", "pattern");
    const char *closes = opt_string(def, "closes_at", errors, 40);
    if (closes && !matches(closes, rfc3339_re))
        ingress_add_error(errors, "closes_at", "pattern");
    int cancel = opt_int(def, "cancel_until_hours", errors, 0, 24 * 365, 24);
    json_t *rem = json_object_get(def, "reminder");
    int days = 1;
    const char *at = "10:00";
    if (rem && !json_is_null(rem)) {
        if (!json_is_object(rem)) {
            ingress_add_error(errors, "reminder", "type");
        } else {
            days = opt_int(rem, "days_before", errors, 0, 60, 1);
            const char *a = opt_string(rem, "at", errors, 5);
            if (a && !matches(a, "^([01][0-9]|2[0-3]):[0-5][0-9]$"))
                ingress_add_error(errors, "reminder.at", "pattern");
            else if (a)
                at = a;
        }
    }
    json_t *pub = json_object_get(def, "published");
    if (pub && !json_is_boolean(pub) && !json_is_null(pub))
        ingress_add_error(errors, "published", "type");
    size_t nerr = json_array_size(errors);
    if (nerr > 0)
        return nerr;

    char *pw_hash = NULL;
    if (password && password[0]) {
        pw_hash = malloc(crypto_pwhash_STRBYTES);
        if (pw_hash == NULL ||
            crypto_pwhash_str(pw_hash, password, strlen(password),
                              crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
            free(pw_hash);
            ingress_add_error(errors, "password", "type");
            return 1;
        }
    }
    snprintf(c->slug, sizeof c->slug, "%s", slug);
    param_text(c, slug);
    param_text(c, title);
    param_text(c, description ? description : "");
    param_text(c, venue ? venue : "");
    param_text(c, tz ? tz : "Asia/Tokyo");
    param_text(c, lang ? lang : "ja");
    param_owned(c, fields && !json_is_null(fields) ? json_dumps(fields, JSON_COMPACT) : strdup("[]"));
    param_owned(c, pw_hash);
    snprintf(c->params[0], sizeof c->params[0], "%d", limit);
    c->argv[c->argc++] = c->params[0];
    param_text(c, campaign);
    param_owned(c, pre && !json_is_null(pre) ? json_dumps(pre, JSON_COMPACT) : NULL);
    param_text(c, opens);
    param_text(c, closes);
    snprintf(c->params[1], sizeof c->params[1], "%d", cancel);
    c->argv[c->argc++] = c->params[1];
    json_t *reminder = json_pack("{s:i,s:s}", "days_before", days, "at", at);
    param_owned(c, json_dumps(reminder, JSON_COMPACT | JSON_SORT_KEYS));
    json_decref(reminder);
    c->argv[c->argc++] = pub && json_is_false(pub) ? "false" : "true";
    return 0;
}

static void respond_event_cb(void *ud, int ok)
{
    admin_ctx *c = ud;
    cat_event *e = catalogue_event(c->slug);
    if (!ok || e == NULL)
        ingress_respond_unavailable(c->req);
    else
        ingress_respond_json(c->req, c->action == A_EVENT_CREATE ? 201 : 200,
                             catalogue_event_json(e, true), NULL);
    ctx_free(c);
}

/* Ingresses reload at once; workers see the version at their next tick and drop their caches. */
static void announce_catalogue(void)
{
    yk_redis_cmd(ingress.redis, NULL, "INCR yk:catalogue");
    yk_redis_cmd(ingress.redis, NULL, "PUBLISH yk:events catalogue");
}

static void event_created_cb(yk_pg_op *op, PGresult *res)
{
    admin_ctx *c = (admin_ctx *)op;
    if (res == NULL) {
        ingress_respond_unavailable(c->req);
        ctx_free(c);
        return;
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "23505") == 0) {
            yk_http_respond_error(c->req, 409, "slug_taken", "An event with this slug exists.");
        } else if (state && strncmp(state, "22", 2) == 0) {
            json_t *errors = json_array();
            ingress_add_error(errors, "definition", "type");
            ingress_respond_invalid(c->req, errors, NOT_VALID);
        } else {
            yk_error("create event failed: %s", PQresultErrorMessage(res));
            ingress_respond_unavailable(c->req);
        }
        ctx_free(c);
        return;
    }
    announce_catalogue();
    catalogue_reload(respond_event_cb, c);
}

static const char sql_event_insert[] =
    "INSERT INTO events (slug, title, description, venue, timezone, lang, fields, password_hash,"
    " per_person_limit, campaign, prerequisite, opens_at, closes_at, cancel_until_hours,"
    " reminder, published) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::int, $10,"
    " $11::jsonb, $12::timestamptz, $13::timestamptz, $14::int, $15::jsonb, $16::boolean)"
    " RETURNING id";

static json_t *load_body(admin_ctx *c)
{
    json_error_t jerr;
    json_t *body = json_loadb(c->req->body, c->req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (body == NULL)
        yk_http_respond_error(c->req, 400, "malformed_json", "The request body is not valid JSON.");
    else if (!json_is_object(body)) {
        json_t *errors = json_array();
        ingress_add_error(errors, "body", "type");
        ingress_respond_invalid(c->req, errors, NOT_VALID);
        json_decref(body);
        body = NULL;
    }
    return body;
}

static void event_create(admin_ctx *c)
{
    json_t *def = load_body(c);
    if (def == NULL) {
        ctx_free(c);
        return;
    }
    json_t *errors = json_array();
    if (event_params(c, def, errors) > 0) {
        ingress_respond_invalid(c->req, errors, NOT_VALID);
        json_decref(def);
        ctx_free(c);
        return;
    }
    json_decref(errors);
    json_decref(def);
    c->op.cb = event_created_cb;
    if (yk_pg_query(ingress.pg, &c->op, sql_event_insert, c->argc, c->argv) != 0) {
        ingress_respond_unavailable(c->req);
        ctx_free(c);
    }
}

static void slots_listed_cb(void *ud, int ok)
{
    admin_ctx *c = ud;
    ingress_respond_json(c->req, 201, json_pack("{s:i}", "created", c->limit), NULL);
    ctx_free(c);
}

static void slots_added_cb(yk_pg_op *op, PGresult *res)
{
    admin_ctx *c = (admin_ctx *)op;
    if (res == NULL) {
        ingress_respond_unavailable(c->req);
        ctx_free(c);
        return;
    }
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)) {
            json_t *errors = json_array();
            ingress_add_error(errors, "slots", strcmp(state, "23514") == 0 ? "pattern" : "type");
            ingress_respond_invalid(c->req, errors, NOT_VALID);
        } else {
            yk_error("add slots failed: %s", PQresultErrorMessage(res));
            ingress_respond_unavailable(c->req);
        }
        ctx_free(c);
        return;
    }
    c->limit = atoi(PQcmdTuples(res)); /* rows created */
    announce_catalogue();
    catalogue_reload(slots_listed_cb, c); /* answer once this ingress lists the new slots */
}

static const char sql_slots_insert[] =
    "INSERT INTO slots (event_id, starts_at, ends_at, capacity)"
    " SELECT $1::bigint, (x->>'starts_at')::timestamptz, (x->>'ends_at')::timestamptz,"
    " (x->>'capacity')::int FROM json_array_elements($2::json) x";

static const char sql_slots_generate[] =
    "INSERT INTO slots (event_id, starts_at, ends_at, capacity)"
    " SELECT e.id, (d + t::time) AT TIME ZONE e.timezone,"
    " (d + t::time) AT TIME ZONE e.timezone + make_interval(mins => $6::int), $7::int"
    " FROM events e, unnest($5::text[]) t,"
    " generate_series(0, $3::date - $2::date) i, LATERAL (SELECT $2::date + i AS d) day"
    " WHERE e.id = $1::bigint AND extract(isodow FROM d)::int = ANY ($4::int[])";

/* Appends "{a,b,…}" of an array's validated items to out; 0 or -1 when an item fails check. */
static int pg_array(json_t *arr, char *out, size_t outlen, int (*check)(json_t *))
{
    size_t i, len = 0;
    json_t *v;
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 48)
        return -1;
    out[len++] = '{';
    json_array_foreach(arr, i, v)
    {
        if (!check(v))
            return -1;
        int n = json_is_string(v)
                    ? snprintf(out + len, outlen - len, "%s%s", i ? "," : "", json_string_value(v))
                    : snprintf(out + len, outlen - len, "%s%lld", i ? "," : "",
                               (long long)json_integer_value(v));
        if (n < 0 || (size_t)n >= outlen - len)
            return -1;
        len += (size_t)n;
    }
    if (len + 2 > outlen)
        return -1;
    out[len++] = '}';
    out[len] = '\0';
    return 0;
}

static int is_weekday(json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 7;
}

static int is_hhmm(json_t *v)
{
    return json_is_string(v) && matches(json_string_value(v), "^([01][0-9]|2[0-3]):[0-5][0-9]$");
}

/* {"generate": {from, to, weekdays, times, duration_min, capacity}} in the event's zone. */
static void slots_generate(admin_ctx *c, cat_event *e, json_t *gen, json_t *errors)
{
    static const char *const known[] = {"from", "to", "weekdays", "times", "duration_min",
                                        "capacity"};
    const char *key;
    json_t *val;
    if (!json_is_object(gen)) {
        ingress_add_error(errors, "generate", "type");
    } else {
        json_object_foreach(gen, key, val)
        {
            size_t i = 0;
            while (i < 6 && strcmp(key, known[i]) != 0)
                i++;
            if (i == 6)
                ingress_add_error(errors, key, "unknown_field");
        }
    }
    const char *from = json_string_value(json_object_get(gen, "from"));
    const char *to = json_string_value(json_object_get(gen, "to"));
    const char *date_re = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";
    if (from == NULL || !matches(from, date_re))
        ingress_add_error(errors, "generate.from", from ? "pattern" : "required");
    if (to == NULL || !matches(to, date_re))
        ingress_add_error(errors, "generate.to", to ? "pattern" : "required");
    else if (from && strcmp(to, from) < 0)
        ingress_add_error(errors, "generate.to", "pattern");
    char weekdays[128], times[48 * 6 + 4];
    if (pg_array(json_object_get(gen, "weekdays"), weekdays, sizeof weekdays, is_weekday) != 0)
        ingress_add_error(errors, "generate.weekdays", "type");
    if (pg_array(json_object_get(gen, "times"), times, sizeof times, is_hhmm) != 0)
        ingress_add_error(errors, "generate.times", "pattern");
    int duration = opt_int(gen, "duration_min", errors, 1, 24 * 60, 0);
    int capacity = opt_int(gen, "capacity", errors, 0, 100000, -1);
    if (duration == 0)
        ingress_add_error(errors, "generate.duration_min", "required");
    if (capacity < 0)
        ingress_add_error(errors, "generate.capacity", "required");
    if (json_array_size(errors) > 0)
        return;
    param_text(c, e->id_str);
    param_text(c, from);
    param_text(c, to);
    param_text(c, weekdays);
    param_text(c, times);
    snprintf(c->params[0], sizeof c->params[0], "%d", duration);
    snprintf(c->params[1], sizeof c->params[1], "%d", capacity);
    c->argv[c->argc++] = c->params[0];
    c->argv[c->argc++] = c->params[1];
}

static void slots_add(admin_ctx *c, cat_event *e)
{
    json_t *body = load_body(c);
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
    if (gen && !slots) {
        slots_generate(c, e, gen, errors);
        if (json_array_size(errors) > 0) {
            ingress_respond_invalid(c->req, errors, NOT_VALID);
        } else {
            json_decref(errors);
            c->op.cb = slots_added_cb;
            if (yk_pg_query(ingress.pg, &c->op, sql_slots_generate, c->argc, c->argv) == 0) {
                json_decref(body);
                return;
            }
            ingress_respond_unavailable(c->req);
        }
        json_decref(body);
        ctx_free(c);
        return;
    }
    if (gen && slots)
        ingress_add_error(errors, "generate", "unknown_field");
    if (!json_is_array(slots) || json_array_size(slots) == 0 || json_array_size(slots) > 1000) {
        ingress_add_error(errors, "slots", slots ? "type" : "required");
    } else {
        size_t i;
        json_array_foreach(slots, i, val)
        {
            char where[48];
            json_t *s = json_object_get(val, "starts_at"), *en = json_object_get(val, "ends_at"),
                   *cap = json_object_get(val, "capacity");
            snprintf(where, sizeof where, "slots[%zu]", i);
            if (!json_is_object(val) || json_object_size(val) != 3 || !json_is_string(s) ||
                !json_is_string(en) || !json_is_integer(cap))
                ingress_add_error(errors, where, "type");
            else if (!matches(json_string_value(s), rfc3339_re) ||
                     !matches(json_string_value(en), rfc3339_re))
                ingress_add_error(errors, where, "pattern");
            else if (json_integer_value(cap) < 0 || json_integer_value(cap) > 100000)
                ingress_add_error(errors, where, "type");
        }
    }
    if (json_array_size(errors) > 0) {
        ingress_respond_invalid(c->req, errors, NOT_VALID);
        json_decref(body);
        ctx_free(c);
        return;
    }
    json_decref(errors);
    param_text(c, e->id_str);
    param_owned(c, json_dumps(slots, JSON_COMPACT));
    json_decref(body);
    c->op.cb = slots_added_cb;
    if (yk_pg_query(ingress.pg, &c->op, sql_slots_insert, c->argc, c->argv) != 0) {
        ingress_respond_unavailable(c->req);
        ctx_free(c);
    }
}

static const char sql_bookings[] =
    "SELECT b.id, " INGRESS_BOOKING_JSON INGRESS_BOOKING_FROM
    " WHERE b.event_id = $1::bigint AND ($2::text IS NULL OR b.status = $2)"
    " AND b.id > $3::bigint ORDER BY b.id LIMIT $4::int";

static void bookings_cb(yk_pg_op *op, PGresult *res)
{
    admin_ctx *c = (admin_ctx *)op;
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        if (res)
            yk_error("list bookings failed: %s", PQresultErrorMessage(res));
        ingress_respond_unavailable(c->req);
        ctx_free(c);
        return;
    }
    int n = PQntuples(res), shown = n > c->limit ? c->limit : n;
    json_t *list = json_array();
    for (int i = 0; i < shown; i++)
        json_array_append_new(list, json_loads(PQgetvalue(res, i, 1), 0, NULL));
    json_t *next = n > c->limit ? json_string(PQgetvalue(res, shown - 1, 0)) : json_null();
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
    if (ingress_query_param(q, "limit", limit, sizeof limit) < 0)
        ingress_add_error(errors, "limit", "too_long");
    if (ingress_query_param(q, "cursor", cursor, sizeof cursor) < 0)
        ingress_add_error(errors, "cursor", "too_long");
    if (status[0] && !matches(status, "^(confirmed|cancelled|attended|no_show)$"))
        ingress_add_error(errors, "status", "unknown_option");
    c->limit = 100;
    if (limit[0]) {
        if (!matches(limit, "^[0-9]{1,4}$") || atoi(limit) < 1 || atoi(limit) > 1000)
            ingress_add_error(errors, "limit", "pattern");
        else
            c->limit = atoi(limit);
    }
    if (cursor[0] && !matches(cursor, "^[0-9]{1,18}$"))
        ingress_add_error(errors, "cursor", "pattern");
    if (json_array_size(errors) > 0) {
        ingress_respond_invalid(c->req, errors, NOT_VALID);
        ctx_free(c);
        return;
    }
    json_decref(errors);
    param_text(c, e->id_str);
    param_text(c, status[0] ? status : NULL);
    param_text(c, cursor[0] ? cursor : "0");
    snprintf(c->params[0], sizeof c->params[0], "%d", c->limit + 1);
    c->argv[c->argc++] = c->params[0];
    c->op.cb = bookings_cb;
    if (yk_pg_query(ingress.pg, &c->op, sql_bookings, c->argc, c->argv) != 0) {
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
            list, json_pack("{s:i,s:I,s:I,s:I,s:f,s:I}", "partition", p, "length",
                            (json_int_t)parts[p].length, "pending", (json_int_t)parts[p].pending,
                            "lag", (json_int_t)parts[p].lag, "oldest_pending_age_seconds",
                            parts[p].oldest_pending_age, "consumers",
                            (json_int_t)parts[p].consumers));
    ingress_respond_json(c->req, 200, json_pack("{s:o}", "partitions", list), NULL);
    ctx_free(c);
}

static void admin_run(admin_ctx *c)
{
    int needs_event = c->action != A_EVENT_CREATE && c->action != A_EVENT_LIST &&
                      c->action != A_QUEUE;
    cat_event *e = needs_event ? catalogue_event(c->slug) : NULL;
    if (needs_event && e == NULL) {
        yk_http_respond_error(c->req, 404, "not_found", "No such event.");
        ctx_free(c);
        return;
    }
    switch (c->action) {
    case A_EVENT_CREATE:
        event_create(c);
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
    case A_QUEUE:
        queue_collect(queue_cb, c);
        return;
    }
}

static void auth_cb(yk_pg_op *op, PGresult *res)
{
    admin_ctx *c = (admin_ctx *)op;
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        ingress_respond_unavailable(c->req);
        ctx_free(c);
        return;
    }
    if (PQntuples(res) != 1) {
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
        action = A_EVENT_GET, want = YK_M_GET;
        req->route = "admin_event";
    } else if (n == 4 && strcmp(segs[1], "events") == 0 && strcmp(segs[3], "slots") == 0) {
        action = A_SLOTS_ADD, want = YK_M_POST;
        req->route = "admin_slots";
    } else if (n == 4 && strcmp(segs[1], "events") == 0 && strcmp(segs[3], "bookings") == 0) {
        action = A_BOOKINGS, want = YK_M_GET;
        req->route = "admin_bookings";
    } else {
        yk_http_respond_error(req, 404, "not_found", "No such route.");
        return;
    }
    if (req->method != want) {
        yk_http_respond_error(req, 405, "method_not_allowed", "This method is not allowed here.");
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
