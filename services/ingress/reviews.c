/* reviews: a booker's review of an attended booking (POST /v1/bookings/{id}/review behind
 * X-Booking-Token) and an event's reviews for staff (GET /v1/admin/events/{slug}/reviews).
 * Not on the rush path: each is one PostgreSQL statement from the ingress. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "definition.h"
#include "ingress.h"
#include "yk_token.h"

#define REVIEW_COMMENT_MAX 2000 /* characters (code points) */

/* The review object of the contract (openapi: Review), for reviews row r joined with events e. */
#define REVIEW_JSON                                                                                \
    "json_build_object('booking_id', r.booking_id::text, 'event', e.slug, 'rating', r.rating,"     \
    " 'comment', r.comment, 'created_at', yk_rfc3339(r.created_at, e.timezone))"

/* One round trip tells the answers apart: no row = unknown id or wrong token (404); a row with a
 * review = created; a row without = not attended, else already reviewed (the unique key on
 * booking_id makes the second of two concurrent posts insert nothing). */
static const char sql_review_insert[] =
    "WITH b AS (SELECT id, event_id, status FROM bookings WHERE id = $1::bigint AND token_hash = "
    "$2),"
    " r AS (INSERT INTO reviews (booking_id, event_id, rating, comment)"
    " SELECT id, event_id, $3::smallint, $4 FROM b WHERE status = 'attended'"
    " ON CONFLICT (booking_id) DO NOTHING RETURNING *)"
    " SELECT b.status, (SELECT " REVIEW_JSON "::text FROM r JOIN events e ON e.id = r.event_id)"
    " FROM b";

typedef struct {
    yk_pg_op op;
    yk_http_req *req;
    char id[24];
    char token_hash[YK_HASH_HEX_LEN + 1];
    char rating[4];
    char *comment; /* NULL: none */
} review_ctx;

/* Code points of a valid UTF-8 string (jansson has checked it): the bytes that start one. */
static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* Checks the body {"rating", "comment"}: 0 with c->rating and c->comment set, else -1 after
 * answering 400 or 422. */
static int review_parse(review_ctx *c)
{
    yk_http_req *req = c->req;
    json_error_t jerr;
    /* NUL is let through the parser so that it is refused by name below, not as bad JSON. */
    json_t *body =
        json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (body == NULL) {
        yk_http_respond_error(req, 400, "malformed_json", "The request body is not valid JSON.");
        return -1;
    }
    json_t *errors = json_array();
    if (!json_is_object(body)) {
        ingress_add_error(errors, "body", "type");
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(body, key, v)
        {
            if (strcmp(key, "rating") != 0 && strcmp(key, "comment") != 0)
                ingress_add_error(errors, key, "unknown_field");
        }
        json_t *rating = json_object_get(body, "rating");
        if (rating == NULL || json_is_null(rating))
            ingress_add_error(errors, "rating", "required");
        else if (!json_is_integer(rating) || json_integer_value(rating) < 1 ||
                 json_integer_value(rating) > 5)
            ingress_add_error(errors, "rating", "type");
        else
            snprintf(c->rating, sizeof c->rating, "%d", (int)json_integer_value(rating));
        json_t *comment = json_object_get(body, "comment");
        if (comment != NULL && !json_is_null(comment)) {
            const char *s = json_string_value(comment);
            size_t len = json_string_length(comment);
            if (s == NULL || memchr(s, '\0', len) != NULL)
                ingress_add_error(errors, "comment", "type");
            else if (utf8_chars(s, len) > REVIEW_COMMENT_MAX)
                ingress_add_error(errors, "comment", "too_long");
            else if ((c->comment = strdup(s)) == NULL)
                ingress_add_error(errors, "comment", "too_long"); /* out of memory */
        }
    }
    json_decref(body);
    if (json_array_size(errors) > 0) {
        ingress_respond_invalid(req, errors, "The review is not valid.");
        return -1;
    }
    json_decref(errors);
    return 0;
}

static void review_free(review_ctx *c)
{
    free(c->comment);
    free(c);
}

static void review_inserted_cb(yk_pg_op *op, yk_pgres *res)
{
    review_ctx *c = (review_ctx *)op;
    if (!yk_pgres_ok(res))
        ingress_respond_unavailable(c->req);
    else if (yk_pgres_rows(res) != 1)
        yk_http_respond_error(c->req, 404, "not_found", "No such booking.");
    else if (!yk_pgres_null(res, 0, 1))
        ingress_respond_json(
            c->req, 201,
            json_pack("{s:o?}", "review", json_loads(yk_pgres_text(res, 0, 1), 0, NULL)), NULL);
    else if (strcmp(yk_pgres_text(res, 0, 0), "attended") != 0)
        yk_http_respond_error(c->req, 409, "not_attended",
                              "Only an attended booking can be reviewed.");
    else
        yk_http_respond_error(c->req, 409, "already_reviewed",
                              "This booking has been reviewed already.");
    review_free(c);
}

void reviews_post(yk_http_req *req, const char *id, const char *token)
{
    review_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        ingress_respond_unavailable(req);
        return;
    }
    c->req = req;
    snprintf(c->id, sizeof c->id, "%s", id);
    yk_token_sha256_hex(token, strlen(token), c->token_hash);
    if (review_parse(c) != 0) {
        review_free(c);
        return;
    }
    const char *params[] = {c->id, c->token_hash, c->rating, c->comment};
    c->op.cb = review_inserted_cb;
    if (yk_pg_query(ingress.pg, &c->op, sql_review_insert, 4, params) != 0) {
        ingress_respond_unavailable(req);
        review_free(c);
    }
}

/* The page (newest first, review ids below the cursor), the event's count and average (two
 * decimals, null without reviews) and the next page's cursor, as the response's JSON text. */
static const char sql_reviews[] =
    "WITH page AS (SELECT r.id, " REVIEW_JSON
    " AS j FROM reviews r JOIN events e ON e.id = r.event_id"
    " WHERE r.event_id = $1::bigint AND r.id < $2::bigint ORDER BY r.id DESC LIMIT $3::int + 1),"
    " shown AS (SELECT * FROM page ORDER BY id DESC LIMIT $3::int),"
    " st AS (SELECT count(*) AS n, round(avg(rating), 2) AS a FROM reviews WHERE event_id = "
    "$1::bigint)"
    " SELECT json_build_object('reviews',"
    " coalesce((SELECT json_agg(j ORDER BY id DESC) FROM shown), '[]'::json),"
    " 'count', st.n, 'average', st.a, 'next_cursor',"
    " CASE WHEN (SELECT count(*) FROM page) > $3::int THEN (SELECT min(id) FROM shown)::text END"
    ")::text FROM st";

static void reviews_cb(yk_pg_op *op, yk_pgres *res)
{
    admin_ctx *c = (admin_ctx *)op;
    if (!yk_pgres_ok(res) || yk_pgres_rows(res) != 1) {
        ingress_respond_unavailable(c->req);
    } else {
        /* Compact like every answer; 15 digits print the rounded average as PostgreSQL did. */
        json_t *j = json_loads(yk_pgres_text(res, 0, 0), 0, NULL);
        char *body = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
        if (body == NULL)
            ingress_respond_unavailable(c->req);
        else
            yk_http_respond(c->req, 200, "application/json", NULL, body, strlen(body));
        free(body);
        json_decref(j);
    }
    admin_ctx_free(c);
}

void reviews_list(admin_ctx *c, cat_event *e)
{
    char limit[16] = "", cursor[24] = "";
    json_t *errors = json_array();
    const char *q = c->req->query;
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
        ingress_respond_invalid(c->req, errors, "Query parameter not valid: limit or cursor.");
        admin_ctx_free(c);
        return;
    }
    json_decref(errors);
    admin_param_text(c, e->id_str);
    admin_param_text(c, cursor[0] ? cursor : "9223372036854775807");
    admin_param_int(c, 0, c->limit);
    c->op.cb = reviews_cb;
    if (yk_pg_query(ingress.pg, &c->op, sql_reviews, c->argc, c->argv) != 0) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
    }
}
