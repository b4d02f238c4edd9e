/* routes_bookings: a booker's own booking — read it, its check-in QR code, cancel it, review it
 * (reviews.c) — behind X-Booking-Token.
 * An unknown id and a wrong token both answer 404, so ids cannot be probed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalogue.h"
#include "reviews.h"
#include "ingress.h"
#include "submit.h"
#include "yk_qr.h"
#include "yk_token.h"

typedef enum { B_READ, B_QR, B_CANCEL } booking_action;

typedef struct {
    yk_pg_op op;
    yk_http_req *req;
    booking_action action;
    char id[24];
    char token_hash[YK_HASH_HEX_LEN + 1];
} booking_ctx;

static const char sql_booking[] =
    "SELECT " INGRESS_BOOKING_JSON ", b.event_id, b.status,"
    " now() > s.starts_at - make_interval(hours => e.cancel_until_hours)" INGRESS_BOOKING_FROM
    " WHERE b.id = $1::bigint AND b.token_hash = $2";

/* The booking's JSON with its fields as the contract shows them: in the definition order and
 * typed as defined (bookings.fields is jsonb, which keeps neither). */
static void respond_booking(yk_http_req *req, const cat_event *e, const char *booking_json)
{
    json_t *b = ingress_booking(e, booking_json);
    ingress_respond_json(req, 200, b ? json_pack("{s:o}", "booking", b) : NULL, NULL);
}

/* The booking's check-in code as a QR code (SVG, about 2 KiB). */
static void respond_qr(yk_http_req *req, const char *id)
{
    char code[YK_CHECKIN_CODE_MAX + 1];
    yk_buf svg = YK_BUF_INIT(64 * 1024);
    yk_token_checkin_code(ingress.token_key, id, code);
    if (code[0] == '\0' || yk_qr_svg(&svg, code) != 0)
        yk_http_respond_error(req, 500, "internal", "The QR code could not be drawn.");
    else
        yk_http_respond(req, 200, "image/svg+xml", "Cache-Control: private, max-age=3600\r\n",
                        svg.p, svg.len);
    yk_buf_free(&svg);
}

static void looked_up_cb(yk_pg_op *op, yk_pgres *res)
{
    booking_ctx *c = (booking_ctx *)op;
    if (!yk_pgres_ok(res)) {
        ingress_respond_unavailable(c->req);
        goto done;
    }
    if (yk_pgres_rows(res) != 1) {
        yk_http_respond_error(c->req, 404, "not_found", "No such booking.");
        goto done;
    }
    cat_event *e = catalogue_event_by_id(yk_pgres_int(res, 0, 1, 0));
    if (e == NULL) {
        ingress_respond_unavailable(c->req); /* catalogue not loaded yet */
        goto done;
    }
    const char *status = yk_pgres_text(res, 0, 2);
    if (c->action == B_QR) {
        respond_qr(c->req, c->id);
        goto done;
    }
    if (c->action == B_READ ||
        strcmp(status, "cancelled") == 0) { /* cancelling twice: same answer */
        respond_booking(c->req, e, yk_pgres_text(res, 0, 0));
        goto done;
    }
    if (strcmp(status, "confirmed") != 0 || yk_pgres_bool(res, 0, 3)) {
        yk_http_respond_error(c->req, 409, "cancellation_closed",
                              "This booking can no longer be cancelled online.");
        goto done;
    }
    /* The seat count belongs to the event's worker: the cancellation queues like a booking. */
    submit_request s = {
        .cancel = 1,
        .partition = e->partition,
        .event_id = e->id_str,
        .booking_id = c->id,
        .token_hash = c->token_hash,
    };
    submit_entry(c->req, &s);
done:
    free(c);
}

void routes_bookings(yk_http_req *req, char **segs, int n)
{
    /* segs[0] == "bookings" */
    int cancel = n == 3 && strcmp(segs[2], "cancel") == 0;
    int qr = n == 3 && strcmp(segs[2], "qr.svg") == 0;
    int review = n == 3 && strcmp(segs[2], "review") == 0;
    if (n != 2 && !cancel && !qr && !review) {
        yk_http_respond_error(req, 404, "not_found", "No such route.");
        return;
    }
    req->route = cancel   ? "booking_cancel"
                 : qr     ? "booking_qr"
                 : review ? "booking_review"
                          : "booking";
    if (req->method != (cancel || review ? YK_M_POST : YK_M_GET)) {
        yk_http_respond_not_allowed(req, cancel || review ? "POST" : "GET, HEAD");
        return;
    }
    const char *token = req->headers[YK_HDR_BOOKING_TOKEN];
    size_t idlen = strlen(segs[1]);
    if (token == NULL || idlen == 0 || idlen > 18 || strspn(segs[1], "0123456789") != idlen) {
        yk_http_respond_error(req, 404, "not_found", "No such booking.");
        return;
    }
    if (review) {
        char hash[YK_HASH_HEX_LEN + 1];
        yk_token_sha256_hex(token, strlen(token), hash);
        reviews_post(req, segs[1], hash);
        return;
    }
    booking_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        ingress_respond_unavailable(req);
        return;
    }
    c->req = req;
    c->action = cancel ? B_CANCEL : qr ? B_QR : B_READ;
    memcpy(c->id, segs[1], idlen + 1);
    yk_token_sha256_hex(token, strlen(token), c->token_hash);
    const char *params[] = {c->id, c->token_hash};
    c->op.cb = looked_up_cb;
    if (yk_pg_query(ingress.pg, &c->op, sql_booking, 2, params) != 0) {
        ingress_respond_unavailable(req);
        free(c);
    }
}
