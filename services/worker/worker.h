/* worker: the state one yoyaku-worker process shares between main, partitions and batch.
 * Types only; each module documents which fields it changes. */
#ifndef WORKER_H
#define WORKER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "map.h"
#include "yk_pgconn.h"
#include "yk_rconn.h"

/* What a step that talks to Redis or PostgreSQL reports to the main loop. */
typedef enum {
    WORKER_OK = 0,
    WORKER_PG_LOST = -1,    /* session gone: reconnect, every partition and its state is lost */
    WORKER_REDIS_LOST = -2, /* connection gone: reconnect, then replay every owned partition */
} worker_status;

typedef struct {
    bool owned; /* this session holds pg_advisory_lock(31601, p) */
    bool setup; /* must (re)create the group, claim orphaned entries and replay its pending list */
    map events; /* event id (decimal) → persist_event*, a cache of PostgreSQL between batches */
    map scopes; /* "e:<id>" or "c:<campaign>" → identity count map shared by the scope's events */
} worker_part;

typedef struct {
    /* configuration */
    const char *id; /* consumer name and yk:workers member */
    const char *pg_conninfo, *redis_addr;
    int64_t partitions, batch_max, ttl, rebalance_ms;
    int64_t max_deliveries; /* YOYAKU_MAX_DELIVERIES: deliveries before a dead letter */
    /* connections: NULL while down; main (re)connects them */
    yk_rconn *redis;
    yk_pgconn *pg;
    worker_part *parts;          /* [partitions] */
    long long catalogue_version; /* yk:catalogue at the last tick; a change drops the caches */
} worker;

/* Set by SIGTERM/SIGINT: finish the current batch, then leave. */
extern volatile sig_atomic_t worker_stop;

#define WORKER_LOCK_CLASS 31601 /* first key of pg_advisory_lock(class, partition) */

#endif
