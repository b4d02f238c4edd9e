/* admin_desk: the check-in desk and attendance — POST /v1/admin/checkin, POST
 * /v1/admin/bookings/{id}/attendance, and POST /v1/admin/bookings/{id}/cancel on a booker's
 * behalf. Each changes what the event's worker decides from (seats, the prerequisite history), so
 * each finds the booking's event (one PostgreSQL read: the desk's path, not the rush's) and then
 * queues an entry on that event's partition like a reservation (submit.h), whose worker answers. */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "ingress.h"
#include "submit.h"
#include "yk_text.h"
#include "yk_token.h"

/* What the entry will ask for, kept in c->params[0] until the event is known. */
#define DESK_CANCEL "cancel"

static void desk_event_cb(yk_pg_op *op, yk_pgres *res)
{
    admin_ctx *c = (admin_ctx *)op;
    cat_event *e = admin_booking_event(c, res);
    if (e != NULL) {
        int cancel = strcmp(c->params[0], DESK_CANCEL) == 0;
        submit_request s = {
            .cancel = cancel,
            .partition = e->partition,
            .event_id = e->id_str,
            .booking_id = c->params[1],
            .token_hash = cancel ? "*" : NULL,
            .attend = cancel ? NULL : c->params[0],
            .today = c->params[2][0] == '1',
        };
        submit_entry(c->req, &s); /* answers c->req, now or when the worker has decided */
    }
    admin_ctx_free(c);
}

/* Queues what c->params[0] asks of booking id (digits, ≤ 18) once its event is known. */
static void desk_submit(admin_ctx *c, const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 18 || strspn(id, "0123456789") != n) {
        yk_http_respond_error(c->req, 404, "not_found", "No such booking.");
        admin_ctx_free(c);
        return;
    }
    memcpy(c->params[1], id, n + 1);
    const char *argv[1] = {c->params[1]};
    c->op.cb = desk_event_cb;
    if (yk_pg_query(ingress.pg, &c->op, "SELECT event_id FROM bookings WHERE id = $1::bigint", 1,
                    argv) != 0) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
    }
}

void admin_desk_cancel(admin_ctx *c, cat_event *unused)
{
    (void)unused;
    strcpy(c->params[0], DESK_CANCEL);
    desk_submit(c, c->slug);
}

/* The one string member `name` of c's JSON body (copied into out, outlen bytes), or -1 after
 * answering 400 or 422. */
static int desk_body_string(admin_ctx *c, const char *name, char *out, size_t outlen)
{
    const char *known[] = {name, NULL};
    json_t *errors = json_array();
    json_t *body = ingress_load_object(c->req, known, errors);
    if (body == NULL) {
        json_decref(errors);
        return -1;
    }
    json_t *v = json_object_get(body, name); /* NULL also for a body that is no object */
    if (json_is_object(body) && (v == NULL || json_is_null(v)))
        ingress_add_error(errors, name, "required");
    else if (v && !json_is_string(v))
        ingress_add_error(errors, name, "type");
    else if (v && json_string_length(v) >= outlen)
        ingress_add_error(errors, name, "too_long");
    if (json_array_size(errors) > 0) {
        json_decref(body);
        ingress_respond_invalid(c->req, errors, "The request body is not valid.");
        return -1;
    }
    json_decref(errors);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    json_decref(body);
    return 0;
}

void admin_desk_attendance(admin_ctx *c, cat_event *unused)
{
    (void)unused;
    char status[16];
    if (desk_body_string(c, "status", status, sizeof status) != 0) {
        admin_ctx_free(c);
        return;
    }
    if (strcmp(status, "attended") != 0 && strcmp(status, "no_show") != 0) {
        json_t *errors = json_array();
        ingress_add_error(errors, "status", "unknown_option");
        ingress_respond_invalid(c->req, errors, "status is attended or no_show.");
        admin_ctx_free(c);
        return;
    }
    strcpy(c->params[0], status);
    desk_submit(c, c->slug);
}

void admin_desk_checkin(admin_ctx *c, cat_event *unused)
{
    (void)unused;
    char code[256], id[20]; /* a code typed in full-width characters takes 3 bytes a character */
    if (desk_body_string(c, "code", code, sizeof code) != 0) {
        admin_ctx_free(c);
        return;
    }
    /* Typed at a desk: full-width characters and spaces around are the same code. */
    char *clean = yk_text_clean(code);
    if (clean == NULL) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
        return;
    }
    size_t n = strlen(clean);
    if (n > 0 && n <= 18 && strspn(clean, "0123456789") == n) /* a booking number */
        memcpy(id, clean, n + 1);
    else if (!yk_token_checkin_parse(ingress.token_key, clean, id))
        id[0] = '\0'; /* neither: 404, as for an unknown booking */
    free(clean);
    strcpy(c->params[0], "attended");
    strcpy(c->params[2], "1");
    desk_submit(c, id);
}
