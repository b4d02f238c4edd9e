/* waitlist: the waitlist routes. What can be refused without the worker is refused here (the body,
 * an unknown slot, a waitlist not enabled); the line itself is the worker's (one writer per
 * partition), so a join, an accept and a leave are stream entries it decides in order. */
#include "waitlist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "ingress.h"
#include "phase.h"
#include "roster.h"
#include "submit.h"
#include "yk_text.h"
#include "yk_token.h"

/* The event's waitlist takes entries (its definition's waitlist.enabled). */
static int waitlist_enabled(const cat_event *e)
{
    return json_is_true(json_object_get(json_object_get(e->json, "waitlist"), "enabled"));
}

void waitlist_join(yk_http_req *req, cat_event *e, const char *slot_id)
{
    static const char *const known[] = {"slot_id", "email", "fields", NULL};
    json_t *errors = json_array(), *clean = NULL;
    char *email = NULL, *identity = NULL, *fields_json = NULL;
    json_t *body = ingress_load_object(req, known, errors);
    if (body == NULL)
        goto out; /* answered 400 */
    json_t *bslot = json_object_get(body, "slot_id");
    if (bslot && (!json_is_string(bslot) || strcmp(json_string_value(bslot), slot_id) != 0))
        ingress_add_error(errors, "slot_id", json_is_string(bslot) ? "pattern" : "type");
    const char *raw_email =
        json_is_object(body) ? ingress_string_member(body, "email", errors) : NULL;
    if (raw_email) {
        email = yk_text_clean(raw_email);
        const char *problem = email ? yk_fields_email_problem(email) : "pattern";
        if (problem)
            ingress_add_error(errors, "email", problem);
    }
    json_t *fields = json_is_object(body) ? json_object_get(body, "fields") : NULL;
    if (fields && !json_is_object(fields) && !json_is_null(fields)) {
        ingress_add_error(errors, "fields", "type");
        fields = NULL;
    }
    int bad = json_is_object(body) && yk_fieldset_check(&e->fields, fields, errors, &clean) != 0;
    if (bad || json_array_size(errors) > 0) {
        ingress_respond_invalid(req, errors, "Some fields are missing or not valid.");
        errors = NULL;
        goto out;
    }
    char *end;
    long long sid = strtoll(slot_id, &end, 10);
    cat_slot *slot = *end == '\0' && sid > 0 && strspn(slot_id, "0123456789") == strlen(slot_id)
                         ? catalogue_slot(sid)
                         : NULL;
    if (slot == NULL || slot->event_id != e->id) {
        yk_http_respond_error(req, 404, "not_found", "No such slot in this event.");
        goto out;
    }
    if (!waitlist_enabled(e)) {
        yk_http_respond_error(req, 409, "waitlist_closed", "This event has no waitlist.");
        goto out;
    }
    /* a booker whose phase is not open may not book, so may not wait for a seat either */
    json_t *closed = phase_refusal(e, clean, time(NULL));
    if (closed) {
        ingress_respond_json(req, 409, closed, NULL);
        goto out;
    }
    const char *ident_src = yk_fieldset_identity_value(&e->fields, clean);
    identity = yk_text_identity(ident_src ? ident_src : email);
    fields_json = json_dumps(clean, JSON_COMPACT);
    char rh[YK_ROSTER_HEX_LEN + 1];
    int roster = roster_booking_hash(e, clean, rh); /* the worker checks it, as a booking's */
    if (identity == NULL || fields_json == NULL || roster < 0) {
        ingress_respond_unavailable(req);
        goto out;
    }
    submit_request s = {
        .partition = e->partition,
        .event_id = e->id_str,
        .slot_id = slot->id_str,
        .email = email,
        .identity = identity,
        .fields_json = fields_json,
        .wl = "wjoin",
        .roster_hash = roster > 0 ? rh : NULL,
    };
    submit_entry(req, &s);
out:
    json_decref(errors);
    json_decref(clean);
    json_decref(body);
    free(email);
    free(identity);
    free(fields_json);
}

typedef enum { W_READ, W_ACCEPT, W_LEAVE } waitlist_action;

typedef struct {
    yk_pg_op op;
    yk_http_req *req;
    waitlist_action action;
    char id[24];
    char token_hash[YK_HASH_HEX_LEN + 1];
} waitlist_ctx;

static void waitlist_found_cb(yk_pg_op *op, yk_pgres *res)
{
    waitlist_ctx *c = (waitlist_ctx *)op;
    if (!yk_pgres_ok(res)) {
        ingress_respond_unavailable(c->req);
    } else if (yk_pgres_rows(res) != 1) {
        yk_http_respond_error(c->req, 404, "not_found", "No such waitlist entry.");
    } else if (c->action == W_READ) {
        json_t *entry = json_loads(yk_pgres_text(res, 0, 0), 0, NULL);
        ingress_respond_json(c->req, 200, entry ? json_pack("{s:o}", "entry", entry) : NULL, NULL);
    } else {
        cat_event *e = catalogue_event_by_id(yk_pgres_int(res, 0, 1, 0));
        if (e == NULL) {
            ingress_respond_unavailable(c->req); /* catalogue not loaded yet */
        } else {
            /* The line belongs to the event's worker: the answer is its. */
            submit_request s = {
                .partition = e->partition,
                .event_id = e->id_str,
                .wl = c->action == W_ACCEPT ? "waccept" : "wleave",
                .entry_id = c->id,
                .token_hash = c->token_hash,
            };
            submit_entry(c->req, &s);
        }
    }
    free(c);
}

void waitlist_routes(yk_http_req *req, char **segs, int n)
{
    int accept = n == 3 && strcmp(segs[2], "accept") == 0;
    int leave = n == 3 && strcmp(segs[2], "leave") == 0;
    if (n != 2 && !accept && !leave) {
        yk_http_respond_error(req, 404, "not_found", "No such route.");
        return;
    }
    req->route = accept ? "waitlist_accept" : leave ? "waitlist_leave" : "waitlist_entry";
    if (req->method != (accept || leave ? YK_M_POST : YK_M_GET)) {
        yk_http_respond_not_allowed(req, accept || leave ? "POST" : "GET, HEAD");
        return;
    }
    const char *token = req->headers[YK_HDR_BOOKING_TOKEN];
    size_t idlen = strlen(segs[1]);
    if (token == NULL || idlen == 0 || idlen > 18 || strspn(segs[1], "0123456789") != idlen) {
        yk_http_respond_error(req, 404, "not_found", "No such waitlist entry.");
        return;
    }
    waitlist_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        ingress_respond_unavailable(req);
        return;
    }
    c->req = req;
    c->action = accept ? W_ACCEPT : leave ? W_LEAVE : W_READ;
    memcpy(c->id, segs[1], idlen + 1);
    yk_token_sha256_hex(token, strlen(token), c->token_hash);
    const char *params[] = {c->id, c->token_hash};
    c->op.cb = waitlist_found_cb;
    if (yk_pg_query(ingress.pg, &c->op,
                    "SELECT yk_waitlist_json(w)::text, w.event_id FROM waitlist w"
                    " WHERE w.id = $1::bigint AND w.token_hash = $2",
                    2, params) != 0) {
        ingress_respond_unavailable(req);
        free(c);
    }
}

int waitlist_on_message(const char *msg, size_t len)
{
    if (len < 8 || memcmp(msg, "waiting ", 8) != 0)
        return -1;
    char text[96];
    long long ev, slot;
    int n;
    char extra;
    if (len < sizeof text) {
        memcpy(text, msg, len);
        text[len] = '\0';
        cat_slot *s = sscanf(text, "waiting %lld %lld %d%c", &ev, &slot, &n, &extra) == 3
                          ? catalogue_slot(slot)
                          : NULL;
        if (s && s->event_id == ev)
            s->waiting = n;
    }
    return 0;
}

/* ---- staff: GET /v1/admin/events/{slug}/waitlist */

static void waitlist_listed_cb(yk_pg_op *op, yk_pgres *res)
{
    admin_ctx *c = (admin_ctx *)op;
    json_t *list = yk_pgres_ok(res) && yk_pgres_rows(res) == 1
                       ? json_loads(yk_pgres_text(res, 0, 0), 0, NULL)
                       : NULL;
    if (list == NULL)
        ingress_respond_unavailable(c->req);
    else
        ingress_respond_json(c->req, 200, json_pack("{s:o}", "entries", list), NULL);
    admin_ctx_free(c);
}

void waitlist_admin_list(admin_ctx *c, cat_event *e)
{
    /* Each entry as the booker sees it, with the booker's address and fields for the staff. */
    const char *params[] = {e->id_str};
    c->op.cb = waitlist_listed_cb;
    if (yk_pg_query(ingress.pg, &c->op,
                    "SELECT coalesce(json_agg(yk_waitlist_json(w)::jsonb"
                    " || jsonb_build_object('email', w.email, 'fields', w.fields)"
                    " ORDER BY w.slot_id, w.id), '[]')::text"
                    " FROM waitlist w WHERE w.event_id = $1::bigint",
                    1, params) != 0) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
    }
}
