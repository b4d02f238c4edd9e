/* pending: owns the due list (waiters before their deadline, in deadline order: every waiter gets
 * the same timeout), the marking list (markers in flight, each given MARK_GRACE_MS), the owed
 * markers and their timers. */
#include "pending.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eta.h"
#include "ingress.h"
#include "yk_log.h"

/* How long a pending marker's SET NX GET may take before the request, known to be queued, is
 * answered 202 without its reply (Redis stalled): the marker is then written when Redis answers,
 * or owed if the connection drops. */
#define MARK_GRACE_MS 250
/* With YOYAKU_WAIT_MS=0 a request is answered 202 as soon as its XADD is acknowledged; this bounds
 * how long an unacknowledged XADD is waited for before 503. */
#define ZERO_WAIT_SUBMIT_MS 1000

static waiter_list due, marking;
static uv_timer_t due_timer, mark_timer;
static char ttl_s[24];
static bool redis_closed;

/* A pending marker that could not be written because Redis was unreachable when its request was
 * answered 202: written at the next connection, so that GET /v1/requests/{id} tells the position
 * until the decision (not 404) and the worker, finding the marker, keeps the answer for the TTL.
 * At most OWED_MAX are kept (only requests already queued when Redis went away can owe one: new
 * submits are refused meanwhile). */
typedef struct owed {
    yk_redis_op op, expire_op;
    struct owed *next;
    unsigned partition;
    long long seq;
    char id[YK_REQUEST_ID_LEN + 1];
} owed;
#define OWED_MAX 100000
static owed *owed_head;   /* waiting for a connection */
static size_t owed_count; /* in the list or in flight */

static uint64_t now_ms(void)
{
    return uv_now(ingress.loop);
}

const char *pending_ttl(void)
{
    return ttl_s;
}

bool pending_redis_closed(void)
{
    return redis_closed;
}

void pending_redis_closing(void)
{
    redis_closed = true;
}

void pending_respond(waiter *w)
{
    char body[200], hdr[96];
    /* seq and done as read so far (both read with the submit or at the deadline) */
    if (w->seq > 0 && w->done >= 0)
        eta_observe(w->partition, w->done, uv_now(ingress.loop));
    w->position = w->seq > 0 && w->done >= 0 ? w->seq - w->done : 1;
    long long pos = w->position > 0 ? w->position : 1;
    int n = snprintf(body, sizeof body,
                     "{\"request_id\":\"%s\",\"status\":\"pending\",\"position\":%lld,"
                     "\"estimated_wait_seconds\":%lld}",
                     w->id, pos, eta_seconds(w->partition, pos));
    snprintf(hdr, sizeof hdr, "Location: /v1/requests/%s\r\n", w->id);
    yk_http_respond(w->req, 202, "application/json", hdr, body, (size_t)n);
}

/* SET yk:res:<id> "0 {p, seq}" NX GET EX TTL: the pending marker, written at the deadline or,
 * owed, at the next connection; op's callback gets the reply. */
static void marker_set(yk_redis_op *op, const char *id, unsigned partition, long long seq)
{
    char key[48], val[80];
    snprintf(key, sizeof key, "yk:res:%s", id);
    snprintf(val, sizeof val, "0 {\"p\":%u,\"seq\":%lld}", partition, seq);
    yk_redis_argv(ingress.redis, op, 7, (const char *[]){"SET", key, val, "NX", "GET", "EX", ttl_s},
                  NULL);
}

static void arm(uv_timer_t *t, waiter_list *l, uv_timer_cb cb)
{
    if (l->head && !uv_is_active((uv_handle_t *)t) && !uv_is_closing((uv_handle_t *)t)) {
        uint64_t now = now_ms();
        uv_timer_start(t, cb, l->head->deadline_ms > now ? l->head->deadline_ms - now : 0, 0);
    }
}

static void owe_marker(const char *id, unsigned partition, long long seq)
{
    owed *o = owed_count < OWED_MAX ? malloc(sizeof *o) : NULL;
    if (o == NULL) {
        yk_error("request=%s: its pending marker is lost (Redis unreachable)", id);
        return;
    }
    memcpy(o->id, id, sizeof o->id);
    o->partition = partition;
    o->seq = seq;
    o->next = owed_head;
    owed_head = o;
    owed_count++;
}

static void owed_expire_cb(yk_redis_op *op, yk_reply *reply)
{
    (void)reply;
    free((owed *)((char *)op - offsetof(owed, expire_op)));
}

/* The marker's SET NX GET, sent again: nil or a marker is done; a final answer was stored by a
 * worker that decided before the deadline, with a short hold (it could not know of the 202), and
 * gets the TTL; no reply keeps it owed. */
static void owed_reply_cb(yk_redis_op *op, yk_reply *reply)
{
    owed *o = (owed *)op;
    if (reply == NULL && !redis_closed) {
        o->next = owed_head;
        owed_head = o;
        return;
    }
    owed_count--;
    size_t len;
    const char *v = yk_reply_is(reply, YK_REPLY_STRING) ? yk_reply_str(reply, &len) : NULL;
    if (v && len > 1 && v[0] != '0') {
        char key[48];
        snprintf(key, sizeof key, "yk:res:%s", o->id);
        o->expire_op.cb = owed_expire_cb;
        yk_redis_argv(ingress.redis, &o->expire_op, 3, (const char *[]){"EXPIRE", key, ttl_s},
                      NULL);
        return;
    }
    if (yk_reply_error(reply))
        yk_error("request=%s: pending marker: %s", o->id, yk_reply_error(reply));
    free(o);
}

void pending_owed_send(void)
{
    owed *list = owed_head;
    owed_head = NULL;
    if (list)
        yk_info("writing %zu pending markers owed since Redis was unreachable", owed_count);
    for (owed *o = list, *next; o; o = next) {
        next = o->next;
        o->op.cb = owed_reply_cb;
        marker_set(&o->op, o->id, o->partition, o->seq);
    }
}

/* The reply to the pending marker's SET NX GET: nil means the marker is stored (202); a final
 * answer means the worker decided and its pub/sub reply was lost or is still on its way. No
 * connection or an error: 202 all the same, the request is in the stream and will be decided. */
static void mark_reply_cb(yk_redis_op *op, yk_reply *reply)
{
    waiter *w = (waiter *)op;
    if (reply == NULL && !redis_closed)
        owe_marker(w->id, w->partition, w->seq);
    if (w->state != W_ANSWERED) {
        waiter_list_unlink(&marking, w);
        waiter_hash_unlink(w);
        if (yk_reply_error(reply))
            yk_error("request=%s: pending marker: %s", w->id, yk_reply_error(reply));
        size_t len;
        const char *v = yk_reply_is(reply, YK_REPLY_STRING) ? yk_reply_str(reply, &len) : NULL;
        if (v == NULL || ingress_respond_stored(w->req, v, len) != 0)
            pending_respond(w);
    }
    waiter_free(w);
    waiter_idle();
}

/* GET yk:done:{p}: entries decided so far, for the 202's position; read at the deadline, or with
 * the submit when YOYAKU_WAIT_MS is 0 (submit.c counts it then). */
static void done_reply_cb(yk_redis_op *op, yk_reply *reply)
{
    waiter *w = WAITER_OF(op, op_done);
    size_t len;
    const char *v = yk_reply_str(reply, &len);
    if (v && yk_reply_is(reply, YK_REPLY_STRING))
        w->done = strtoll(v, NULL, 10);
    else if (yk_reply_is(reply, YK_REPLY_NIL))
        w->done = 0;
}

static void mark_cb(uv_timer_t *t);

/* The request will be answered 202 unless its answer is already stored: writes the pending marker
 * that keeps a later answer for the TTL and lets GET /v1/requests/{id} tell its position. The
 * waiter stays hashed, so a reply arriving meanwhile is still relayed. */
static void mark_pending(waiter *w)
{
    w->state = W_MARKING;
    waiter_busy();
    if (ingress.wait_ms == 0) {
        /* YOYAKU_WAIT_MS=0: 202 at once, with the position read at submit; the marker follows
         * (the worker keeps the answer of a request decided past its deadline for the TTL). */
        waiter_hash_unlink(w);
        pending_respond(w);
        w->state = W_ANSWERED;
    } else {
        w->deadline_ms = now_ms() + MARK_GRACE_MS;
        waiter_list_push(&marking, w);
        arm(&mark_timer, &marking, mark_cb);
    }
    if (redis_closed) {
        mark_reply_cb(&w->op, NULL);
        return;
    }
    char key[48];
    /* Read before the marker's reply on the same connection: the position is counted when the
     * booker is told it, and a request decided in time never pays for this read. */
    snprintf(key, sizeof key, "yk:done:{%u}", w->partition);
    w->op_done.cb = done_reply_cb;
    if (ingress.wait_ms > 0)
        yk_redis_argv(ingress.redis, &w->op_done, 2, (const char *[]){"GET", key}, NULL);
    w->op.cb = mark_reply_cb;
    marker_set(&w->op, w->id, w->partition, w->seq);
}

/* Markers whose reply is late (Redis stalled): their requests are queued, so 202 now. */
static void mark_cb(uv_timer_t *t)
{
    (void)t;
    uint64_t now = now_ms();
    while (marking.head && marking.head->deadline_ms <= now) {
        waiter *w = marking.head;
        waiter_list_unlink(&marking, w);
        waiter_hash_unlink(w);
        pending_respond(w);
        w->state = W_ANSWERED; /* mark_reply_cb frees it */
    }
    arm(&mark_timer, &marking, mark_cb);
}

static void due_cb(uv_timer_t *t)
{
    (void)t;
    uint64_t now = now_ms();
    while (due.head && due.head->deadline_ms <= now) {
        waiter *w = due.head;
        waiter_list_unlink(&due, w);
        if (w->state == W_WAITING) {
            mark_pending(w);
        } else {
            /* W_SUBMITTING: Redis has not acknowledged the XADD (stalled, or slower than the
             * deadline): the request may or may not be queued, and the booker retries. */
            waiter_hash_unlink(w);
            ingress_respond_unavailable(w->req);
            w->state = W_ANSWERED; /* the submit's last callback frees it */
        }
    }
    arm(&due_timer, &due, due_cb);
}

void pending_track(waiter *w)
{
    uint64_t wait = ingress.wait_ms > 0 ? (uint64_t)ingress.wait_ms : ZERO_WAIT_SUBMIT_MS;
    w->deadline_ms = now_ms() + wait;
    waiter_list_push(&due, w);
    arm(&due_timer, &due, due_cb);
}

void pending_queued(waiter *w)
{
    if (ingress.wait_ms == 0 || ingress.stopping) {
        waiter_list_unlink(&due, w);
        mark_pending(w);
        return;
    }
    w->state = W_WAITING; /* stays in the due list: its deadline counts from the submit */
}

void pending_forget(waiter *w)
{
    if (w->state == W_SUBMITTING || w->state == W_WAITING)
        waiter_list_unlink(&due, w);
    else if (w->state == W_MARKING)
        waiter_list_unlink(&marking, w);
}

void pending_shutdown(void)
{
    /* Every waiting request is answered 202 now, each after its pending marker is stored (or
     * its final answer found): a 202 promises that GET /v1/requests/{id} will tell. One still
     * submitting is marked when its XADD is acknowledged (pending_queued), or answered 503 when
     * the closing connection fails it. */
    for (waiter *w = due.head, *next; w; w = next) {
        next = w->next;
        if (w->state == W_WAITING) {
            waiter_list_unlink(&due, w);
            mark_pending(w);
        }
    }
    uv_close((uv_handle_t *)&due_timer, NULL);
    uv_close((uv_handle_t *)&mark_timer, NULL);
}

int pending_init(void)
{
    snprintf(ttl_s, sizeof ttl_s, "%lld", (long long)ingress.result_ttl);
    return uv_timer_init(ingress.loop, &due_timer) == 0 &&
                   uv_timer_init(ingress.loop, &mark_timer) == 0
               ? 0
               : -1;
}

void pending_free(void)
{
    for (owed *o = owed_head, *next; o; o = next) {
        next = o->next;
        free(o);
    }
    owed_head = NULL;
}
