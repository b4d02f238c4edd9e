/* reviews: a booker's review of an attended booking (POST /v1/bookings/{id}/review, behind
 * X-Booking-Token) and the staff's list of an event's reviews with their count and average.
 * Not the rush path: each is one PostgreSQL statement. Each request owns one review_ctx. */
#include "reviews.h"

#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "definition.h"
#include "ingress.h"
#include "yk_text.h"

#define REVIEW_COMMENT_MAX 2000 /* characters (code points) */

typedef struct {
    yk_pg_op op;
    yk_http_req *req;
    char rating[4];
    char *comment;
} review_ctx;

/* A review as JSON, from a row r of reviews, its event's slug and time zone. */
#define REVIEW_JSON(r, slug, tz)                                                                   \
    "json_build_object('booking_id', " r ".booking_id::text, 'event', " slug ", 'rating', " r      \
    ".rating, 'comment', " r ".comment, 'created_at', yk_rfc3339(" r ".created_at, " tz "))"

/* One statement tells the four outcomes apart: no row (unknown id or wrong token), a review
 * (inserted), or the booking's status with no review (not attended, or reviewed before: the
 * primary key keeps the first of two concurrent posts). */
static const char sql_review[] =
    "WITH b AS (SELECT b.id, b.status, b.event_id, e.slug, e.timezone FROM bookings b"
    " JOIN events e ON e.id = b.event_id WHERE b.id = $1::bigint AND b.token_hash = $2),"
    " ins AS (INSERT INTO reviews (booking_id, event_id, rating, comment)"
    " SELECT id, event_id, $3::smallint, $4 FROM b WHERE status = 'attended'"
    " ON CONFLICT (booking_id) DO NOTHING RETURNING booking_id, rating, comment, created_at)"
    " SELECT b.status, ins.booking_id IS NOT NULL, " REVIEW_JSON(
        "ins", "b.slug", "b.timezone") "::text FROM b LEFT JOIN ins ON true";

static void review_cb(yk_pg_op *op, yk_pgres *res)
{
    review_ctx *c = (review_ctx *)op;
    if (!yk_pgres_ok(res)) {
        ingress_respond_unavailable(c->req);
    } else if (yk_pgres_rows(res) != 1) {
        yk_http_respond_error(c->req, 404, "not_found", "No such booking.");
    } else if (yk_pgres_bool(res, 0, 1)) {
        json_t *review = json_loads(yk_pgres_text(res, 0, 2), 0, NULL);
        ingress_respond_json(c->req, 201, review ? json_pack("{s:o}", "review", review) : NULL,
                             NULL);
    } else if (strcmp(yk_pgres_text(res, 0, 0), "attended") != 0) {
        yk_http_respond_error(c->req, 409, "not_attended",
                              "Only a booking marked as attended can be reviewed.");
    } else {
        yk_http_respond_error(c->req, 409, "already_reviewed", "This booking has a review.");
    }
    free(c->comment);
    free(c);
}

void reviews_post(yk_http_req *req, const char *id, const char *token_hash)
{
    static const char *const known[] = {"rating", "comment", NULL};
    json_t *errors = json_array();
    json_t *body = ingress_load_object(req, known, errors);
    if (body == NULL) {
        json_decref(errors);
        return;
    }
    if (json_is_object(body)) {
        json_t *rating = json_object_get(body, "rating");
        json_t *comment = json_object_get(body, "comment");
        if (rating == NULL)
            ingress_add_error(errors, "rating", "required");
        else if (!json_is_integer(rating) || json_integer_value(rating) < 1 ||
                 json_integer_value(rating) > 5)
            ingress_add_error(errors, "rating", "type");
        if (comment && !json_is_string(comment) && !json_is_null(comment))
            ingress_add_error(errors, "comment", "type");
        else if (json_is_string(comment) &&
                 yk_text_length(json_string_value(comment)) > REVIEW_COMMENT_MAX)
            ingress_add_error(errors, "comment", "too_long");
    }
    if (json_array_size(errors) > 0) {
        json_decref(body);
        ingress_respond_invalid(req, errors, "The review is not valid.");
        return;
    }
    json_decref(errors);
    review_ctx *c = calloc(1, sizeof *c);
    const char *comment = json_string_value(json_object_get(body, "comment"));
    if (c == NULL || (c->comment = strdup(comment ? comment : "")) == NULL) {
        free(c);
        json_decref(body);
        ingress_respond_unavailable(req);
        return;
    }
    c->req = req;
    c->rating[0] = (char)('0' + json_integer_value(json_object_get(body, "rating")));
    json_decref(body);
    const char *params[] = {id, token_hash, c->rating, c->comment};
    c->op.cb = review_cb;
    if (yk_pg_query(ingress.pg, &c->op, sql_review, 4, params) != 0) {
        ingress_respond_unavailable(req);
        free(c->comment);
        free(c);
    }
}

/* Count and average over every review of the event; the newest `limit` of them listed. */
static const char sql_reviews[] =
    "SELECT (SELECT count(*) FROM reviews WHERE event_id = $1::bigint),"
    " (SELECT round(avg(rating), 2)::float8 FROM reviews WHERE event_id = $1::bigint),"
    " (SELECT coalesce(json_agg(" REVIEW_JSON(
        "r", "e.slug", "e.timezone") " ORDER BY r.created_at DESC, r.booking_id DESC), '[]')"
                                     " FROM (SELECT * FROM reviews WHERE event_id = $1::bigint"
                                     " ORDER BY created_at DESC, booking_id DESC LIMIT $2::int) r"
                                     " JOIN events e ON e.id = r.event_id)::text";

static void reviews_cb(yk_pg_op *op, yk_pgres *res)
{
    admin_ctx *c = (admin_ctx *)op;
    if (!yk_pgres_ok(res) || yk_pgres_rows(res) != 1) {
        ingress_respond_unavailable(c->req);
    } else {
        json_t *list = json_loads(yk_pgres_text(res, 0, 2), 0, NULL);
        json_t *average = yk_pgres_null(res, 0, 1)
                              ? json_null()
                              : json_real(strtod(yk_pgres_text(res, 0, 1), NULL));
        json_t *body = list ? json_pack("{s:o,s:I,s:o}", "reviews", list, "count",
                                        (json_int_t)yk_pgres_int(res, 0, 0, 0), "average", average)
                            : NULL;
        if (list == NULL)
            json_decref(average);
        ingress_respond_json(c->req, 200, body, NULL);
    }
    admin_ctx_free(c);
}

void reviews_list(admin_ctx *c, cat_event *e)
{
    char limit[16] = "";
    c->limit = 100;
    if (ingress_query_param(c->req->query, "limit", limit, sizeof limit) < 0 ||
        (limit[0] && !definition_limit(limit, &c->limit))) {
        json_t *errors = json_array();
        ingress_add_error(errors, "limit", "pattern");
        ingress_respond_invalid(c->req, errors, "Query parameter not valid: limit.");
        admin_ctx_free(c);
        return;
    }
    admin_param_text(c, e->id_str);
    admin_param_int(c, 0, c->limit);
    c->op.cb = reviews_cb;
    if (yk_pg_query(ingress.pg, &c->op, sql_reviews, c->argc, c->argv) != 0) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
    }
}
