/* queue: owns one collection context per call: three pipelined commands per partition
 * (XLEN, XINFO GROUPS, XPENDING summary), answered together when the last reply arrives, or as
 * failed at the deadline (deadline.h) when Redis is stalled. */
#include "queue.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deadline.h"
#include "ingress.h"

typedef struct collect collect;

typedef struct {
    yk_redis_op len_op, info_op, pend_op;
    collect *owner;
} part_ops;

struct collect {
    deadline_item dl;
    queue_done_cb done; /* NULL once called at the deadline */
    void *ud;
    int n, outstanding, failed;
    queue_partition *parts;
    part_ops *ops;
};

/* Redis did not answer every command within the wait (stalled): the caller hears "not ok" now;
 * the replies, when they come, complete c. */
static void collect_expired(deadline_item *d)
{
    collect *c = (collect *)((char *)d - offsetof(collect, dl));
    queue_done_cb done = c->done;
    c->done = NULL;
    done(c->ud, 0, NULL, 0);
}

static void collect_step(collect *c)
{
    if (--c->outstanding > 0)
        return;
    deadline_cancel(&c->dl);
    if (c->done)
        c->done(c->ud, !c->failed, c->parts, c->n);
    free(c->parts);
    free(c->ops);
    free(c);
}

#define OPS_OF(op, member) ((part_ops *)((char *)(op)-offsetof(part_ops, member)))

static queue_partition *part_of(part_ops *o)
{
    return &o->owner->parts[o - o->owner->ops];
}

static void len_cb(yk_redis_op *op, yk_reply *r)
{
    part_ops *o = OPS_OF(op, len_op);
    if (r == NULL)
        o->owner->failed = 1;
    else if (yk_reply_is(r, YK_REPLY_INTEGER))
        part_of(o)->length = yk_reply_int(r);
    collect_step(o->owner);
}

static void info_cb(yk_redis_op *op, yk_reply *r)
{
    part_ops *o = OPS_OF(op, info_op);
    if (r == NULL)
        o->owner->failed = 1;
    /* [[name, workers, consumers, N, pending, N, …, lag, N], …]; lag is nil when unknown */
    for (size_t g = 0; g < yk_reply_count(r); g++) {
        const yk_reply *grp = yk_reply_at(r, g);
        for (size_t i = 0; i + 1 < yk_reply_count(grp); i += 2) {
            const yk_reply *k = yk_reply_at(grp, i), *v = yk_reply_at(grp, i + 1);
            if (!yk_reply_is(v, YK_REPLY_INTEGER))
                continue;
            if (yk_reply_eq(k, "consumers"))
                part_of(o)->consumers = yk_reply_int(v);
            else if (yk_reply_eq(k, "lag"))
                part_of(o)->lag = yk_reply_int(v);
        }
    }
    collect_step(o->owner);
}

static void pend_cb(yk_redis_op *op, yk_reply *r)
{
    part_ops *o = OPS_OF(op, pend_op);
    if (r == NULL)
        o->owner->failed = 1;
    if (yk_reply_count(r) == 4 && yk_reply_is(yk_reply_at(r, 0), YK_REPLY_INTEGER)) {
        queue_partition *p = part_of(o);
        p->pending = yk_reply_int(yk_reply_at(r, 0));
        const yk_reply *oldest = yk_reply_at(r, 1);
        if (yk_reply_is(oldest, YK_REPLY_STRING)) {
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            double ms = (double)now.tv_sec * 1000 + now.tv_nsec / 1e6;
            double age = (ms - strtod(yk_reply_str(oldest, NULL), NULL)) / 1000.0;
            p->oldest_pending_age = age > 0 ? age : 0;
        }
    }
    collect_step(o->owner);
}

void queue_collect(queue_done_cb done, void *ud)
{
    int n = (int)ingress.partitions;
    collect *c = calloc(1, sizeof *c);
    if (c)
        c->parts = calloc((size_t)n, sizeof *c->parts);
    if (c)
        c->ops = calloc((size_t)n, sizeof *c->ops);
    if (c == NULL || c->parts == NULL || c->ops == NULL) {
        if (c) {
            free(c->parts);
            free(c->ops);
        }
        free(c);
        done(ud, 0, NULL, 0);
        return;
    }
    c->done = done;
    c->ud = ud;
    c->n = n;
    c->outstanding = 3 * n + 1; /* +1 held until every command is submitted */
    if (deadline_add(&c->dl, deadline_wait_ms(), collect_expired) != 0)
        c->failed = 1; /* unbounded: say Redis did not answer rather than risk a hang */
    for (int p = 0; p < n; p++) {
        part_ops *o = &c->ops[p];
        o->owner = c;
        o->len_op.cb = len_cb;
        o->info_op.cb = info_cb;
        o->pend_op.cb = pend_cb;
        yk_redis_cmd(ingress.redis, &o->len_op, "XLEN yk:req:{%d}", p);
        yk_redis_cmd(ingress.redis, &o->info_op, "XINFO GROUPS yk:req:{%d}", p);
        yk_redis_cmd(ingress.redis, &o->pend_op, "XPENDING yk:req:{%d} workers", p);
    }
    collect_step(c);
}
