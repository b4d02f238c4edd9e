/* deadletter: entries no delivery can decide — undecodable ones, ones still failing at their
 * YOYAKU_MAX_DELIVERIES-th delivery, ones delivered more often than that without an outcome (their
 * worker died each time) — answered, copied to yk:dead:{p} and acknowledged (proto/streams.md). */
#ifndef DEADLETTER_H
#define DEADLETTER_H

#include <stdbool.h>
#include <stddef.h>

#include "entry.h"
#include "worker.h"
#include "yk_reply.h"

/* Starts a batch: forgets the previous batch's dead entries. */
void deadletter_begin(void);

/* The delivery count of each of v[0..n) (this delivery included) into d[0..n), from the reply of
 * `XPENDING <stream> workers <start> + <count> <me>` sent right after the XREADGROUP that returned
 * them: [[id, consumer, idle ms, deliveries]…], in stream order as v. An entry it lacks (claimed
 * away meanwhile) counts 1. */
void deadletter_counts(const entry *v, size_t n, const yk_reply *pending, int *d);

/* Entries decode could not read: those it answered (500, a request id but fields it cannot use or
 * a type it does not know) and those without a request id that still hold fields. No delivery can
 * decide them, so they are dead at once ("undecodable"). d: delivery counts, or NULL (all 1). */
void deadletter_undecodable(entry *v, size_t n, const int *d);

/* Undecided entries (ENTRY_NEW) delivered more than max times: every earlier delivery ended
 * without an answer, so the worker likely died on them. Answered 500, dead ("deliveries"). Call
 * after committed reservations were answered from PostgreSQL. */
void deadletter_overdelivered(entry *v, size_t n, const int *d, int max);

/* Entries left for a retry (ENTRY_RETRY) at their max-th delivery or later: dead, answered 503
 * unavailable when the batch's failures were ones time may cure (transient: a lost connection,
 * SQLSTATE classes 08, 53, 57, 58) else 500 internal ("unavailable", "failed"). The others stay
 * pending for the next tick. */
void deadletter_exhausted(entry *v, size_t n, const int *d, int max, bool transient);

/* After answer_send: moves the batch's dead entries that were answered (or had nobody to answer)
 * to yk:dead:{p} and acknowledges them, one script per partition; counts them in metrics. Dead
 * entries are kept out of answer_send's ack (their sid is NULL meanwhile), so that one is never
 * acknowledged without its dead letter. WORKER_REDIS_LOST when the connection failed (the entries
 * stay pending and are moved at a later delivery). */
__attribute__((warn_unused_result)) worker_status deadletter_move(worker *w, const entry *v);

/* The number of dead entries of the running batch (for tests and logs). */
size_t deadletter_count(void);

#endif
