/* waitlist: the booker's waitlist routes (contract v1.1 §2) — join a full slot's line, read an
 * entry, accept its offer, leave — and the staff's list. Joins, accepts and leaves queue on the
 * event's partition like reservations (submit.h): its worker decides them (services/worker). */
#ifndef INGRESS_WAITLIST_H
#define INGRESS_WAITLIST_H

#include "catalogue.h"
#include "yk_http.h"

/* POST /v1/events/{slug}/slots/{slot_id}/waitlist: e is visible to the caller (published, its
 * access token checked); slot_id is the path's. The body is a reservation's ({"email","fields"},
 * "slot_id" optional and then equal to the path's), checked the same way. */
void waitlist_join(yk_http_req *req, cat_event *e, const char *slot_id);

/* /v1/waitlist/{id}, /v1/waitlist/{id}/accept, /v1/waitlist/{id}/leave (segs[0] == "waitlist"),
 * behind X-Booking-Token: an unknown id and another entry's token both answer 404. */
void waitlist_routes(yk_http_req *req, char **segs, int n);

/* A message of yk:events: "waiting <event id> <slot id> <entries waiting>" (services/worker
 * waitlist.c) sets the slot's count for the slots list; 0 when it was one, -1 otherwise. */
int waitlist_on_message(const char *msg, size_t len);

#endif
