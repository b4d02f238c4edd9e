/* admin: the admin_ctx helpers (parameters, owned strings, the request body) and announcing a
 * committed change to every ingress and worker. */
#include "admin.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void admin_ctx_free(admin_ctx *c)
{
    for (size_t i = 0; i < sizeof c->owned / sizeof c->owned[0]; i++)
        free(c->owned[i]);
    free(c);
}

/* c takes s (may be NULL): it is freed with c. */
void admin_keep(admin_ctx *c, char *s)
{
    for (size_t i = 0; i < sizeof c->owned / sizeof c->owned[0]; i++)
        if (c->owned[i] == NULL) {
            c->owned[i] = s;
            break;
        }
}

/* Appends an owned string parameter (may be NULL = SQL NULL). */
void admin_param_owned(admin_ctx *c, char *s)
{
    admin_keep(c, s);
    c->argv[c->argc++] = s;
}

void admin_param_text(admin_ctx *c, const char *s)
{
    if (s == NULL) {
        c->argv[c->argc++] = NULL;
        return;
    }
    char *copy = strdup(s);
    c->oom |= copy == NULL;
    admin_param_owned(c, copy);
}

void admin_param_int(admin_ctx *c, int slot, int v)
{
    snprintf(c->params[slot], sizeof c->params[slot], "%d", v);
    c->argv[c->argc++] = c->params[slot];
}

/* A committed change that is not (yet) in effect: saying 201 would claim what is not true, and a
 * plain retry could add the same slots twice, so the answer says both (contract: 503 with
 * Retry-After). */
void admin_respond_not_in_effect(yk_http_req *req)
{
    ingress_respond_json(req, 503,
                         json_pack("{s:s,s:s}", "error", "unavailable", "message",
                                   "The change is saved but not yet in effect: the catalogue could "
                                   "not be reloaded. Check it before sending the change again."),
                         "Retry-After: 1\r\n");
}

static void announce_closed(uv_handle_t *h)
{
    admin_ctx_free(h->data);
}

static void announce_step(admin_ctx *c, int ok)
{
    c->in_effect &= ok;
    if (--c->pending > 0)
        return;
    if (!c->answered)
        c->done(c, c->in_effect);
    uv_timer_stop(&c->deadline);
    uv_close((uv_handle_t *)&c->deadline, announce_closed);
}

/* A stalled Redis or PostgreSQL must not hold the answer: 503, and the context waits on. */
static void announce_late(uv_timer_t *t)
{
    admin_ctx *c = t->data;
    c->answered = 1;
    admin_respond_not_in_effect(c->req);
}

static void published_cb(yk_redis_op *op, yk_reply *reply)
{
    admin_ctx *c = (admin_ctx *)((char *)op - offsetof(admin_ctx, publish));
    announce_step(c, yk_reply_type(reply) == YK_REPLY_INTEGER);
}

static void reloaded_cb(void *ud, int ok)
{
    announce_step(ud, ok);
}

/* After a committed change: every ingress reloads at once (PUBLISH) and workers see the version at
 * their next tick (INCR); done(c, ok) answers once this ingress has reloaded and Redis has taken
 * the PUBLISH, ok only if both succeeded, unless YOYAKU_WAIT_MS passed first (then 503). Either
 * completion may run inside this call; c is freed after both. */
void admin_announce(admin_ctx *c, admin_done done)
{
    c->pending = 2;
    c->in_effect = 1;
    c->done = done;
    c->publish.cb = published_cb;
    uv_timer_init(ingress.loop, &c->deadline);
    c->deadline.data = c;
    uv_timer_start(&c->deadline, announce_late,
                   ingress.wait_ms > 0 ? (uint64_t)ingress.wait_ms : 5000, 0);
    yk_redis_cmd(ingress.redis, NULL, "INCR yk:catalogue");
    yk_redis_cmd(ingress.redis, &c->publish, "PUBLISH yk:events catalogue");
    catalogue_reload(reloaded_cb, c);
}

json_t *admin_load_body(admin_ctx *c, const char *message)
{
    json_t *errors = json_array();
    json_t *body = ingress_load_object(c->req, NULL, errors);
    if (body && json_array_size(errors) > 0) { /* not an object */
        json_decref(body);
        body = NULL;
        ingress_respond_invalid(c->req, errors, message);
    } else {
        json_decref(errors);
    }
    return body;
}

cat_event *admin_booking_event(admin_ctx *c, yk_pgres *res)
{
    cat_event *e = yk_pgres_ok(res) && yk_pgres_rows(res) == 1
                       ? catalogue_event_by_id(yk_pgres_int(res, 0, 0, 0))
                       : NULL;
    if (yk_pgres_ok(res) && yk_pgres_rows(res) == 0)
        yk_http_respond_error(c->req, 404, "not_found", "No such booking.");
    else if (e == NULL)
        ingress_respond_unavailable(c->req);
    return e;
}
