/* admin: what the admin route modules share — one request's admin_ctx (its parameters, the
 * strings it owns, its PostgreSQL and Redis completions) and announcing a committed change.
 * routes_admin.c routes and reads; admin_write.c creates and changes events and slots. */
#ifndef ADMIN_H
#define ADMIN_H

#include <jansson.h>
#include <uv.h>

#include "catalogue.h"
#include "ingress.h"

#define NOT_VALID "The event definition is not valid."

typedef enum {
    A_EVENT_CREATE,
    A_EVENT_LIST,
    A_EVENT_GET,
    A_EVENT_PATCH,
    A_SLOTS_ADD,
    A_BOOKINGS,
    A_BOOKING_GET,
    A_BOOKINGS_CSV,
    A_QUEUE
} admin_action;

typedef struct admin_ctx admin_ctx;
typedef void (*admin_done)(admin_ctx *c, int ok);

struct admin_ctx {
    yk_pg_op op;
    yk_redis_op publish; /* the PUBLISH that tells every ingress and worker of a change */
    yk_http_req *req;
    admin_action action;
    char slug[72];
    char params[17][64]; /* short text parameters; long ones live in owned[] */
    char *owned[17];     /* every heap parameter, freed with the context */
    const char *argv[17];
    int argc;
    int limit;
    int pending, in_effect; /* announce: completions awaited, all succeeded so far */
    int answered;           /* the announce's answer went out (in time, or at its deadline) */
    admin_done done;        /* answers; never frees c (the timer's close does) */
    uv_timer_t deadline;    /* an announce answers within YOYAKU_WAIT_MS */
};

/* Frees c and every string it owns. */
void admin_ctx_free(admin_ctx *c);
/* c takes s (may be NULL): it is freed with c. */
void admin_keep(admin_ctx *c, char *s);
/* Appends a query parameter: an owned string (NULL = SQL NULL), a copy of s, or v in decimal
 * (in c->params[slot]). */
void admin_param_owned(admin_ctx *c, char *s);
void admin_param_text(admin_ctx *c, const char *s);
void admin_param_int(admin_ctx *c, int slot, int v);
/* 503: a committed change that is not (yet) in effect. */
void admin_respond_not_in_effect(yk_http_req *req);
/* After a committed change: every ingress reloads at once (PUBLISH) and workers see the version at
 * their next batch (INCR); done(c, ok) answers once this ingress has reloaded and Redis has taken
 * the PUBLISH, ok only if both succeeded, unless YOYAKU_WAIT_MS passed first (then 503). c is
 * freed after both completions. */
void admin_announce(admin_ctx *c, admin_done done);
/* The request body as a JSON object (a new reference), or NULL after answering 400 (not JSON) or
 * 422 (not an object, with message). */
json_t *admin_load_body(admin_ctx *c, const char *message);

/* admin_write.c. POST (e NULL): the body is a new event's definition; PATCH: merged into e's.
 * Each answers c->req and frees c. */
void admin_write_event(admin_ctx *c, cat_event *e);
/* POST /v1/admin/events/{slug}/slots: listed or generated slots of e. */
void admin_write_slots(admin_ctx *c, cat_event *e);

#endif
