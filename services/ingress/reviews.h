/* reviews: bookers' reviews of attended bookings, and the staff's list of an event's reviews. */
#ifndef REVIEWS_H
#define REVIEWS_H

#include "admin.h"
#include "yk_http.h"

/* POST /v1/bookings/{id}/review: id (digits) and the hex SHA-256 of the presented booking token.
 * Answers req: 201, 400, 404, 409 not_attended / already_reviewed, 422, or 503. */
void reviews_post(yk_http_req *req, const char *id, const char *token_hash);

/* GET /v1/admin/events/{slug}/reviews (an admin_handler): answers c->req and frees c. */
void reviews_list(admin_ctx *c, cat_event *e);

#endif
