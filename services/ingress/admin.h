/* admin: what the admin route modules share — one request's admin_ctx (its parameters, the
 * strings it owns, its PostgreSQL and Redis completions) and announcing a committed change.
 * routes_admin.c routes and reads; admin_write.c creates and changes events and slots. */
#ifndef ADMIN_H
#define ADMIN_H

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "catalogue.h"
#include "ingress.h"

#define NOT_VALID "The event definition is not valid."

/* Staff roles, least to most: a route names the least role it needs (403 `forbidden` below). */
typedef enum { ROLE_DESK = 1, ROLE_STAFF, ROLE_OWNER } admin_role;

typedef struct admin_ctx admin_ctx;
typedef void (*admin_done)(admin_ctx *c, int ok);
/* Runs one admin route once the caller is authorized; e is the event named by the path when the
 * route has one (it exists), else NULL. Answers c->req and frees c, now or later. */
typedef void (*admin_handler)(admin_ctx *c, cat_event *e);

/* One row of the admin route table (routes_admin.c): the path's segments after "admin", "*" for
 * its one parameter ({slug}, {id}, {login}...), which lands in admin_ctx.slug. */
typedef struct {
    const char *path[4];
    yk_http_method method;
    const char *route; /* metrics label */
    admin_role role;   /* the least role allowed */
    int event;         /* the parameter names an event, which must exist (else 404) */
    int writes;        /* changes state: audited; a cookie-authenticated call needs Origin */
    admin_handler run;
} admin_route;

struct admin_ctx {
    yk_pg_op op;
    yk_redis_op publish; /* the PUBLISH that tells every ingress and worker of a change */
    yk_http_req *req;
    const admin_route *route;
    admin_role role;            /* the caller's (auth.c) */
    char actor[80];             /* "staff:<login>" or "token:<name>" */
    char login[72];             /* a staff caller's login, else "" */
    char *name;                 /* the staff's or the token's name (owned through owned[]) */
    char session[72];           /* a cookie caller's session hash, else "" */
    void (*next)(admin_ctx *c); /* what runs once the caller is known */
    char slug[72];              /* the path's parameter, or "" */
    char params[20][64];        /* short text parameters; long ones live in owned[] */
    char *owned[20];            /* every heap parameter, freed with the context */
    const char *argv[20];
    int argc;
    bool oom; /* admin_param_text could not copy a value: its parameter is not the given one */
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
/* The event of a booking looked up by id: res's one row has the event id in column 0. NULL after
 * answering 404 (no row) or 503 (the store failed, or the catalogue is behind the row). */
cat_event *admin_booking_event(admin_ctx *c, yk_pgres *res);
/* The request body as a JSON object (a new reference), or NULL after answering 400 (not JSON) or
 * 422 (not an object, with message). */
json_t *admin_load_body(admin_ctx *c, const char *message);

/* admin_write.c. POST (e NULL): the body is a new event's definition; PATCH: merged into e's.
 * Each answers c->req and frees c. */
void admin_write_event(admin_ctx *c, cat_event *e);
/* POST /v1/admin/events/{slug}/slots: listed or generated slots of e. */
void admin_write_slots(admin_ctx *c, cat_event *e);

/* admin_desk.c: check-in, attendance and cancelling on a booker's behalf, each queued on the
 * booking's partition and answered by its worker. */
void admin_desk_checkin(admin_ctx *c, cat_event *unused);
void admin_desk_attendance(admin_ctx *c, cat_event *unused);
void admin_desk_cancel(admin_ctx *c, cat_event *unused);

/* waitlist.c: the entries of e's slots' lines, oldest first per slot (staff). */
void waitlist_admin_list(admin_ctx *c, cat_event *e);
/* roster.c: a campaign's roster (PUT streams the CSV body; GET its rows, fields, updated_at). */
void roster_put(admin_ctx *c, cat_event *unused);
void roster_get(admin_ctx *c, cat_event *unused);

#endif
