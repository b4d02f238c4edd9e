/* routes_public: the booker's routes — events, slots, reservations, request status. Everything
 * that can be refused without a worker is refused here, before anything reaches Redis (with an
 * Idempotency-Key, a refusal that depends on changing state goes to the key's lookup first). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalogue.h"
#include "deadline.h"
#include "eta.h"
#include "ingress.h"
#include "pending.h"
#include "phase.h"
#include "ratelimit.h"
#include "roster.h"
#include "routes_secret.h"
#include "submit.h"
#include "waitlist.h"
#include "yk_jarena.h"
#include "yk_text.h"
#include "yk_token.h"

static int is_date(const char *s)
{
    int y, m, d;
    char extra;
    return strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &extra) == 3 && m >= 1 &&
           m <= 12 && d >= 1 && d <= 31 && s[4] == '-' && s[7] == '-';
}

/* A public caller may see the event: published, and for a secret event an access token. */
static int event_visible(yk_http_req *req, cat_event *e)
{
    if (e == NULL && !catalogue_current()) {
        /* not loaded yet, or its last reload failed: this event may exist (never a 404 because
         * PostgreSQL is down or the ingress has just started) */
        ingress_respond_unavailable(req);
        return 0;
    }
    if (e == NULL || !e->published) {
        yk_http_respond_error(req, 404, "not_found", "No such event.");
        return 0;
    }
    return routes_secret_allowed(req, e);
}

static void list_events(yk_http_req *req)
{
    if (!catalogue_loaded()) { /* never an empty list because PostgreSQL is down */
        ingress_respond_unavailable(req);
        return;
    }
    json_t *list = json_array();
    cat_event *e;
    for (size_t i = 0; (e = catalogue_event_at(i)) != NULL; i++)
        if (e->published && !e->secret)
            json_array_append_new(list, catalogue_event_json(e, false));
    ingress_respond_json(req, 200, json_pack("{s:o}", "events", list), NULL);
}

static void list_slots(yk_http_req *req, cat_event *e)
{
    char from[16] = "", to[16] = "";
    json_t *errors = json_array();
    if (ingress_query_param(req->query, "from", from, sizeof from) != 0 && !is_date(from))
        ingress_add_error(errors, "from", "pattern");
    if (ingress_query_param(req->query, "to", to, sizeof to) != 0 && !is_date(to))
        ingress_add_error(errors, "to", "pattern");
    if (json_array_size(errors) > 0) {
        ingress_respond_invalid(req, errors, "Some fields are missing or not valid.");
        return;
    }
    json_decref(errors);
    json_t *list = json_array();
    time_t now = time(NULL);
    for (size_t i = 0; i < e->nslots; i++) {
        cat_slot *s = e->slots[i];
        /* starts_at is local time in the event's zone, so its date prefix is the local day */
        if ((from[0] && strncmp(s->starts_at, from, 10) < 0) ||
            (to[0] && strncmp(s->starts_at, to, 10) > 0))
            continue;
        json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:i,s:i,s:i}", "id", s->id_str,
                                              "starts_at", s->starts_at, "ends_at", s->ends_at,
                                              "capacity", s->capacity, "remaining",
                                              s->remaining > 0 && now < s->ends ? s->remaining : 0,
                                              "waiting", s->waiting > 0 ? s->waiting : 0));
    }
    ingress_respond_json(req, 200, json_pack("{s:o}", "slots", list), NULL);
}

/* A refusal that depends on changing state (sold out, the booking window). Without an
 * Idempotency-Key it is answered now (1). With one it becomes the submit's refusal, "<code>
 * <json>" in *refusal (malloc'd), which the submit script gives only if the key is new: a key
 * seen before repeats its earlier answer, whatever happened since (0). body is stolen. */
static int refuse(yk_http_req *req, const char *idem, json_t *body, char **refusal)
{
    if (idem == NULL) {
        ingress_respond_json(req, 409, body, NULL);
        return 1;
    }
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    size_t n = text ? strlen(text) + 5 : 0;
    *refusal = text ? malloc(n) : NULL;
    if (*refusal)
        snprintf(*refusal, n, "409 %s", text);
    free(text);
    if (*refusal == NULL) {
        ingress_respond_unavailable(req);
        return 1;
    }
    return 0;
}

static json_t *slot_full(void)
{
    return json_pack("{s:s,s:s}", "error", "slot_full", "message", "This slot is full.");
}

static json_t *slot_ended(void)
{
    return json_pack("{s:s,s:s,s:n}", "error", "booking_closed", "message", "This slot has ended.",
                     "opens_at");
}

static void reserve(yk_http_req *req, cat_event *e)
{
    const char *idem = req->headers[YK_HDR_IDEMPOTENCY_KEY];
    /* Once every slot is taken, the next hundred thousand requests of the rush get this answer;
     * it needs no part of the body, so none of it is parsed (that was half their cost). Not with
     * an Idempotency-Key: its earlier answer comes first (refuse()). */
    if (idem == NULL && e->nslots > 0 && e->open_slots == 0) {
        yk_http_respond_error(req, 409, "slot_full", "Every slot of this event is full.");
        return;
    }
    json_error_t jerr;
    /* Only the parse and the field checks allocate from the arena (yk_jarena.h), never an answer:
     * the text json_dumps makes of one is released with free(). */
    yk_jarena_begin();
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    yk_jarena_end();
    if (body == NULL) {
        yk_http_respond_error(req, 400, "malformed_json", "The request body is not valid JSON.");
        return;
    }
    json_t *errors = json_array(), *clean = NULL;
    char *email = NULL, *identity = NULL, *fields_json = NULL, *refusal = NULL;
    if (!json_is_object(body)) {
        ingress_add_error(errors, "body", "type");
        goto invalid;
    }
    /* Sold out is the answer most requests get in a rush: give it before the costlier checks. */
    const char *early_slot = json_string_value(json_object_get(body, "slot_id"));
    cat_slot *full = early_slot && !idem ? catalogue_slot(strtoll(early_slot, NULL, 10)) : NULL;
    if (full && full->event_id == e->id && full->remaining <= 0 &&
        strspn(early_slot, "0123456789") == strlen(early_slot)) {
        yk_http_respond_error(req, 409, "slot_full", "This slot is full.");
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val)
    {
        if (strcmp(key, "slot_id") && strcmp(key, "email") && strcmp(key, "fields"))
            ingress_add_error(errors, key, "unknown_field");
    }
    const char *slot_id = ingress_string_member(body, "slot_id", errors);
    const char *raw_email = ingress_string_member(body, "email", errors);
    if (raw_email) {
        email = yk_text_clean(raw_email);
        const char *problem = email ? yk_fields_email_problem(email) : "pattern";
        if (problem) /* "type" for non-ASCII: mail goes out without SMTPUTF8 */
            ingress_add_error(errors, "email", problem);
    }
    json_t *fields = json_object_get(body, "fields");
    if (fields && !json_is_object(fields) && !json_is_null(fields)) {
        ingress_add_error(errors, "fields", "type");
        fields = NULL;
    }
    yk_jarena_begin();
    int bad = yk_fieldset_check(&e->fields, fields, errors, &clean) != 0;
    yk_jarena_end();
    if (idem && (strlen(idem) == 0 || strlen(idem) > 128))
        ingress_add_error(errors, "Idempotency-Key", strlen(idem) ? "too_long" : "required");
    if (bad || json_array_size(errors) > 0)
        goto invalid;
    char *end;
    long long sid = strtoll(slot_id, &end, 10);
    cat_slot *slot = *end == '\0' && sid > 0 ? catalogue_slot(sid) : NULL;
    if (slot == NULL || slot->event_id != e->id) {
        yk_http_respond_error(req, 404, "not_found", "No such slot in this event.");
        goto out;
    }
    time_t now = time(NULL);
    /* phases (phase.h); before the event opens, a booker whose phase opens later hears when */
    json_t *closed = e->opens_at && now < e->opens_at ? phase_refusal(e, clean, e->opens_at) : NULL;
    if (closed) {
        if (refuse(req, idem, closed, &refusal))
            goto out;
    } else if ((e->opens_at && now < e->opens_at) || (e->closes_at && now >= e->closes_at)) {
        json_t *opens = json_object_get(e->json, "opens_at");
        if (refuse(req, idem,
                   json_pack("{s:s,s:s,s:O}", "error", "booking_closed", "message",
                             "Bookings for this event are not open.", "opens_at",
                             opens ? opens : json_null()),
                   &refusal))
            goto out;
    } else if ((closed = phase_refusal(e, clean, now)) != NULL) {
        if (refuse(req, idem, closed, &refusal))
            goto out;
    } else if (now >= slot->ends) {
        if (refuse(req, idem, slot_ended(), &refusal))
            goto out;
    } else if (slot->remaining <= 0 && refuse(req, idem, slot_full(), &refusal)) {
        goto out;
    }
    const char *ident_src = yk_fieldset_identity_value(&e->fields, clean);
    identity = yk_text_identity(ident_src ? ident_src : email);
    fields_json = json_dumps(clean, JSON_COMPACT);
    char rh[YK_ROSTER_HEX_LEN + 1];
    int roster = roster_booking_hash(e, clean, rh); /* the worker checks it against the roster */
    if (identity == NULL || fields_json == NULL || roster < 0) {
        ingress_respond_unavailable(req);
        goto out;
    }
    char body_hash[YK_HASH_HEX_LEN + 1] = "";
    if (idem) /* only an Idempotency-Key needs to recognise the same body again */
        yk_token_sha256_hex(req->body, req->body_len, body_hash);
    submit_request s = {
        .partition = e->partition,
        .event_id = e->id_str,
        .slot_id = slot->id_str,
        .email = email,
        .identity = identity,
        .fields_json = fields_json,
        .idem_key = idem,
        .body_hash = body_hash,
        .refusal = refusal,
        .roster_hash = roster > 0 ? rh : NULL,
    };
    req->route = "reserve";
    submit_entry(req, &s);
    goto out;
invalid:
    ingress_respond_invalid(req, errors, "Some fields are missing or not valid.");
    errors = NULL;
out:
    json_decref(errors);
    json_decref(clean);
    json_decref(body);
    free(email);
    free(identity);
    free(fields_json);
    free(refusal);
}

/* GET /v1/requests/{id}: the stored answer, or the position of a pending request. */
typedef struct {
    yk_redis_op op;
    deadline_item dl;
    yk_http_req *req; /* NULL once answered 503 at the deadline */
    long long seq;
    unsigned partition;
    char id[YK_REQUEST_ID_LEN + 1];
} status_ctx;

/* A request whose answer Redis does not hold (not kept because the 201 was given, or written on a
 * master that died before its replica had it): a booking it made is in PostgreSQL all the same,
 * so its booker is told it was confirmed and shown the booking as it is now (without the token,
 * which only the 201 and the mail carry), not "no such request". Only for YOYAKU_RESULT_TTL after
 * the booking, as long as a stored answer lives: a request id (in Location headers and logs) must
 * not become a key to it for good. */
typedef struct {
    yk_pg_op op;
    yk_http_req *req;
} booked_ctx;

static const char sql_booked[] =
    "SELECT " INGRESS_BOOKING_JSON ", b.event_id" INGRESS_BOOKING_FROM " WHERE b.request_id = $1"
    " AND b.created_at > now() - make_interval(secs => $2::bigint)";

static void booked_cb(yk_pg_op *op, yk_pgres *res)
{
    booked_ctx *c = (booked_ctx *)op;
    const cat_event *e;
    if (!yk_pgres_ok(res)) {
        ingress_respond_unavailable(c->req);
    } else if (yk_pgres_rows(res) != 1) {
        yk_http_respond_error(c->req, 404, "not_found", "No such request.");
    } else if ((e = catalogue_event_by_id(yk_pgres_int(res, 0, 1, 0))) == NULL) {
        ingress_respond_unavailable(c->req); /* catalogue not loaded yet */
    } else {
        json_t *b = ingress_booking(e, yk_pgres_text(res, 0, 0)); /* as it is now */
        ingress_respond_json(
            c->req, 200,
            b ? json_pack("{s:o,s:s,s:i}", "booking", b, "status", "confirmed", "code", 201) : NULL,
            NULL);
    }
    free(c);
}

static void booked_lookup(yk_http_req *req, const char *request_id)
{
    booked_ctx *c = calloc(1, sizeof *c);
    const char *params[] = {request_id, pending_ttl()};
    if (c == NULL) {
        ingress_respond_unavailable(req);
        return;
    }
    c->req = req;
    c->op.cb = booked_cb;
    if (yk_pg_query(ingress.pg, &c->op, sql_booked, 2, params) != 0) {
        ingress_respond_unavailable(req);
        free(c);
    }
}

/* Redis did not answer within the wait (stalled): 503 now; the reply, when it comes, frees c. */
static void status_expired(deadline_item *d)
{
    status_ctx *c = (status_ctx *)((char *)d - offsetof(status_ctx, dl));
    ingress_respond_unavailable(c->req);
    c->req = NULL;
}

/* The reply came after the deadline's 503: only c is left to free. Otherwise the deadline goes. */
static int status_late(status_ctx *c)
{
    if (c->req == NULL) {
        free(c);
        return 1;
    }
    deadline_cancel(&c->dl);
    return 0;
}

static void status_done_cb(yk_redis_op *op, yk_reply *reply)
{
    status_ctx *c = (status_ctx *)op;
    if (status_late(c))
        return;
    if (reply == NULL || yk_reply_error(reply)) {
        ingress_respond_unavailable(c->req);
    } else {
        const char *v = yk_reply_is(reply, YK_REPLY_STRING) ? yk_reply_str(reply, NULL) : NULL;
        long long done = v ? atoll(v) : 0, pos = c->seq - done;
        if (pos < 1)
            pos = 1;
        eta_observe(c->partition, done, uv_now(ingress.loop));
        ingress_respond_json(c->req, 200,
                             json_pack("{s:s,s:I,s:I}", "status", "pending", "position",
                                       (json_int_t)pos, "estimated_wait_seconds",
                                       (json_int_t)eta_seconds(c->partition, pos)),
                             NULL);
    }
    free(c);
}

static void status_res_cb(yk_redis_op *op, yk_reply *reply)
{
    status_ctx *c = (status_ctx *)op;
    if (status_late(c))
        return;
    if (reply == NULL || yk_reply_error(reply)) {
        ingress_respond_unavailable(c->req);
        free(c);
        return;
    }
    const char *v = yk_reply_is(reply, YK_REPLY_STRING) ? yk_reply_str(reply, NULL) : NULL;
    if (v == NULL) {
        booked_lookup(c->req, c->id);
        free(c);
        return;
    }
    char *end;
    long code = strtol(v, &end, 10);
    json_t *body = *end == ' ' ? json_loads(end + 1, 0, NULL) : NULL;
    if (code == 0 && body) {
        json_int_t p = json_integer_value(json_object_get(body, "p"));
        c->seq = json_integer_value(json_object_get(body, "seq"));
        c->partition = p >= 0 ? (unsigned)p : 0;
        json_decref(body);
        c->op.cb = status_done_cb;
        if (deadline_add(&c->dl, deadline_wait_ms(), status_expired) != 0) {
            ingress_respond_unavailable(c->req);
            free(c);
            return;
        }
        yk_redis_cmd(ingress.redis, &c->op, "GET yk:done:{%lld}", (long long)p);
        return;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        ingress_respond_unavailable(c->req);
        free(c);
        return;
    }
    /* A 2xx carries a booking (confirmed, or cancelled for a cancellation); the rest refused. */
    const char *status = "rejected";
    if (code >= 200 && code < 300) {
        const char *b =
            json_string_value(json_object_get(json_object_get(body, "booking"), "status"));
        status = b ? b : "done";
    }
    json_object_set_new(body, "status", json_string(status));
    json_object_set_new(body, "code", json_integer(code));
    ingress_respond_json(c->req, 200, body, NULL);
    free(c);
}

static void request_status(yk_http_req *req, const char *request_id)
{
    size_t n = strlen(request_id);
    if (n != YK_REQUEST_ID_LEN || strspn(request_id, "0123456789abcdef") != n) {
        yk_http_respond_error(req, 404, "not_found", "No such request.");
        return;
    }
    status_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        ingress_respond_unavailable(req);
        return;
    }
    c->req = req;
    memcpy(c->id, request_id, n + 1);
    c->op.cb = status_res_cb;
    if (deadline_add(&c->dl, deadline_wait_ms(), status_expired) != 0) {
        ingress_respond_unavailable(req);
        free(c);
        return;
    }
    yk_redis_cmd(ingress.redis, &c->op, "GET yk:res:%s", request_id);
}

void routes_public(yk_http_req *req, char **segs, int n)
{
    int get = req->method == YK_M_GET, post = req->method == YK_M_POST;
    const char *allow = "GET, HEAD";
    if (n == 1 && strcmp(segs[0], "events") == 0) {
        req->route = "events";
        if (!get)
            goto method;
        list_events(req);
        return;
    }
    if (n >= 2 && strcmp(segs[0], "events") == 0) {
        cat_event *e = catalogue_event(segs[1]);
        if (n == 2) {
            req->route = "event";
            if (!get)
                goto method;
            if (event_visible(req, e))
                ingress_respond_json(req, 200, catalogue_event_json(e, false), NULL);
            return;
        }
        if (n == 3 && strcmp(segs[2], "slots") == 0) {
            req->route = "slots";
            if (!get)
                goto method;
            if (event_visible(req, e))
                list_slots(req, e);
            return;
        }
        if (n == 3 && strcmp(segs[2], "unlock") == 0) {
            req->route = "unlock";
            allow = "POST";
            if (!post)
                goto method;
            if (ratelimit_refuse(req, RATE_UNLOCK))
                return;
            routes_secret_unlock(req, e);
            return;
        }
        if (n == 5 && strcmp(segs[2], "slots") == 0 && strcmp(segs[4], "waitlist") == 0) {
            req->route = "waitlist_join";
            allow = "POST";
            if (!post)
                goto method;
            if (ratelimit_refuse(req, RATE_WAITLIST))
                return;
            if (event_visible(req, e))
                waitlist_join(req, e, segs[3]);
            return;
        }
        if (n == 3 && strcmp(segs[2], "reservations") == 0) {
            req->route = "reserve";
            allow = "POST";
            if (!post)
                goto method;
            if (ratelimit_refuse(req, RATE_RESERVE))
                return;
            if (event_visible(req, e))
                reserve(req, e);
            return;
        }
    }
    if (n >= 2 && strcmp(segs[0], "waitlist") == 0) {
        waitlist_routes(req, segs, n);
        return;
    }
    if (n == 2 && strcmp(segs[0], "requests") == 0) {
        req->route = "request";
        if (!get)
            goto method;
        request_status(req, segs[1]);
        return;
    }
    yk_http_respond_error(req, 404, "not_found", "No such route.");
    return;
method:
    yk_http_respond_not_allowed(req, allow);
}
