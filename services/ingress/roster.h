/* roster: the campaign roster routes (contract §2: PUT and GET /v1/admin/campaigns/{campaign}/
 * roster), the filter that streams the PUT's body, and the roster hash of a booking (the stream
 * entry's rh, proto/streams.md). An upload is parsed, hashed and COPYed on libuv's thread pool
 * (yk_roster_pg.h): the loop only moves the body's bytes. */
#ifndef ROSTER_H
#define ROSTER_H

#include <jansson.h>
#include <stddef.h>

#include "admin.h"
#include "catalogue.h"
#include "yk_http.h"
#include "yk_roster.h"

/* The most bytes a roster upload may have (its body is streamed, never held). */
#define ROSTER_MAX_BODY ((size_t)1 << 30)

/* yk_http's body filter (yk_http_server_stream_bodies): ROSTER_MAX_BODY for PUT
 * /v1/admin/campaigns/{campaign}/roster, else 0. */
size_t roster_body_filter(yk_http_method method, const char *target, void *ud);

/* PUT: replaces the campaign's roster with the CSV body (query encoding=utf-8|cp932): 200
 * {"rows"}, 422 invalid_roster with errors, 409 roster_busy, 503. GET: 200 {"rows","fields",
 * "updated_at"} or 404. The campaign is c->slug. Each answers and frees c. */
void roster_put(admin_ctx *c, cat_event *unused);
void roster_get(admin_ctx *c, cat_event *unused);

/* The roster hash of a reservation of e (hex into out) when e has a roster ({"fields":[…]} in its
 * definition, and a campaign): 1 set, 0 e has no roster, -1 memory or a value not UTF-8. clean is
 * the booker's validated fields (yk_fieldset_check): strings, integers, booleans; a field left
 * out counts as "". */
__attribute__((warn_unused_result)) int roster_booking_hash(const cat_event *e, json_t *clean,
                                                            char out[YK_ROSTER_HEX_LEN + 1]);

#endif
