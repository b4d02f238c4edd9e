/* waiter: one HTTP request held while its reservation is in Redis — pooled (no allocation per
 * request once the pool has grown), hashed by request id, and kept in deadline-ordered lists —
 * plus the count of waiters with Redis work in flight, which a shutdown waits for. Used by
 * submit.c (submitting, the reply path) and pending.c (deadlines, pending markers). */
#ifndef WAITER_H
#define WAITER_H

#include <stdint.h>

#include "yk_http.h"
#include "yk_redis.h"
#include "yk_token.h"

/* W_SUBMITTING: the submit pipeline (or script) is in flight; in the due list, and already hashed,
 * because the worker's answer can overtake the submit's replies on the other connection.
 * W_WAITING: queued; in the due list. W_MARKING: its deadline came; the pending marker's SET NX GET
 * is in flight and decides between 202 and a final answer; in the marking list, still hashed.
 * W_ANSWERED: answered while Redis work was in flight; in no list; that work's last callback frees
 * the waiter. W_POLLING / W_POLL_BUSY: an idempotent duplicate waiting for another request's
 * answer, between GETs / with a GET in flight; in the poll list. */
enum { W_SUBMITTING, W_ANSWERED, W_WAITING, W_MARKING, W_POLLING, W_POLL_BUSY };

typedef struct waiter {
    yk_redis_op op;             /* script, marker or poll GET */
    yk_redis_op op_seq, op_add; /* the plain submit pipeline: INCR, XADD */
    yk_redis_op op_done;        /* GET yk:done:{p} before the pending marker, for the position */
    yk_redis_op op_wait;        /* WAIT: the XADD reached the replicas (YOYAKU_REDIS_REPLICAS) */
    yk_http_req *req;           /* borrowed until the waiter answers it */
    int state;
    int ops;      /* replies of the submit pipeline still to come */
    int added;    /* the XADD is known to have succeeded */
    int replicas; /* WAIT's count for this request (0: no WAIT) */
    unsigned partition;
    long long seq;  /* from INCR yk:seq:{p}; 0 when unknown */
    long long done; /* yk:done:{p} when the 202 is given; -1 when unknown */
    long long position;
    char id[YK_REQUEST_ID_LEN + 1];
    char body_hash[YK_HASH_HEX_LEN + 1]; /* with an Idempotency-Key */
    uint64_t deadline_ms;                /* uv_now() of the list's deadline */
    struct waiter *prev, *next;          /* in its list (or the pool: next only) */
    struct waiter *hnext;                /* hash chain by id */
} waiter;

#define WAITER_OF(o, field) ((waiter *)((char *)(o)-offsetof(waiter, field)))

typedef struct {
    waiter *head, *tail;
} waiter_list;

/* A cleared waiter for req from the pool (or malloc); NULL when out of memory. */
waiter *waiter_new(yk_http_req *req);
/* Back to the pool; the waiter must be in no list and not hashed. */
void waiter_free(waiter *w);
/* Frees the pool once the loop has ended. */
void waiter_pool_free(void);

void waiter_hash_insert(waiter *w);
void waiter_hash_unlink(waiter *w);
/* The hashed waiter with this id (YK_REQUEST_ID_LEN bytes), unhashed; NULL when none. */
waiter *waiter_hash_take(const char *id);

void waiter_list_push(waiter_list *l, waiter *w);
void waiter_list_unlink(waiter_list *l, waiter *w);

/* Redis work of a waiter starts / ends. When the count falls to 0 during a shutdown, the hook set
 * by waiter_on_idle runs (once). */
void waiter_busy(void);
void waiter_idle(void);
int waiter_inflight(void);
void waiter_on_idle(void (*hook)(void));

#endif
