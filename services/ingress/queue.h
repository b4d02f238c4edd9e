/* queue: per-partition stream statistics (length, pending, lag, oldest pending age, consumers),
 * collected from Redis for GET /v1/admin/queue and /metrics. */
#ifndef QUEUE_H
#define QUEUE_H

#include <stdint.h>

typedef struct {
    long long length, pending, lag, consumers;
    double oldest_pending_age;
} queue_partition;

/* parts[0..n) is valid only during the callback; ok is 0 when Redis did not answer. */
typedef void (*queue_done_cb)(void *ud, int ok, const queue_partition *parts, int n);

void queue_collect(queue_done_cb done, void *ud);

#endif
