/* queue: owns one collection context per call: three pipelined commands per partition
 * (XLEN, XINFO GROUPS, XPENDING summary), answered together when the last reply arrives. */
#include "queue.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingress.h"

typedef struct collect collect;

typedef struct {
    yk_redis_op len_op, info_op, pend_op;
    collect *owner;
} part_ops;

struct collect {
    queue_done_cb done;
    void *ud;
    int n, outstanding, failed;
    queue_partition *parts;
    part_ops *ops;
};

static void collect_step(collect *c)
{
    if (--c->outstanding > 0)
        return;
    c->done(c->ud, !c->failed, c->parts, c->n);
    free(c->parts);
    free(c->ops);
    free(c);
}

#define OPS_OF(op, member) ((part_ops *)((char *)(op) - offsetof(part_ops, member)))

static queue_partition *part_of(part_ops *o)
{
    return &o->owner->parts[o - o->owner->ops];
}

static void len_cb(yk_redis_op *op, redisReply *r)
{
    part_ops *o = OPS_OF(op, len_op);
    if (r == NULL)
        o->owner->failed = 1;
    else if (r->type == REDIS_REPLY_INTEGER)
        part_of(o)->length = r->integer;
    collect_step(o->owner);
}

static void info_cb(yk_redis_op *op, redisReply *r)
{
    part_ops *o = OPS_OF(op, info_op);
    if (r == NULL)
        o->owner->failed = 1;
    /* [[name, workers, consumers, N, pending, N, …, lag, N], …]; lag is nil when unknown */
    for (size_t g = 0; r && r->type == REDIS_REPLY_ARRAY && g < r->elements; g++) {
        redisReply *grp = r->element[g];
        if (grp->type != REDIS_REPLY_ARRAY)
            continue;
        for (size_t i = 0; i + 1 < grp->elements; i += 2) {
            redisReply *k = grp->element[i], *v = grp->element[i + 1];
            if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_INTEGER)
                continue;
            if (strcmp(k->str, "consumers") == 0)
                part_of(o)->consumers = v->integer;
            else if (strcmp(k->str, "lag") == 0)
                part_of(o)->lag = v->integer;
        }
    }
    collect_step(o->owner);
}

static void pend_cb(yk_redis_op *op, redisReply *r)
{
    part_ops *o = OPS_OF(op, pend_op);
    if (r == NULL)
        o->owner->failed = 1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
        r->element[0]->type == REDIS_REPLY_INTEGER) {
        queue_partition *p = part_of(o);
        p->pending = r->element[0]->integer;
        if (r->element[1]->type == REDIS_REPLY_STRING) {
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            double ms = (double)now.tv_sec * 1000 + now.tv_nsec / 1e6;
            double age = (ms - strtod(r->element[1]->str, NULL)) / 1000.0;
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
