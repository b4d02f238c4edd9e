/* metrics: the worker's Prometheus families and its /metrics + /healthz listener. The worker
 * loop blocks on Redis and PostgreSQL, so the listener runs its own libuv loop in a second
 * thread; the worker thread updates the families through the functions below and the listener
 * renders them, both under one mutex. Every function is safe to call when the listener is off. */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>

/* Starts serving on listen ("host:port"; "" = no listener, returns 0). Call before any other
 * thread exists, with SIGTERM/SIGINT not yet blocked: the listener thread blocks them so that
 * they reach the worker thread. 0 or a negative libuv error (logged). */
__attribute__((warn_unused_result)) int metrics_start(const char *listen);

/* Stops the listener (answers in flight are dropped), joins its thread and frees every family.
 * Safe without metrics_start. */
void metrics_stop(void);

/* yoyaku_bookings_total{result}: one decided entry. result is a literal such as "confirmed",
 * "slot_full", "cancelled" (label-safe: [a-z_]). */
void metrics_result(const char *result);

/* yoyaku_worker_batch_size: entries decided in one batch. */
void metrics_batch(size_t entries);

/* yoyaku_worker_batch_seconds: time to commit one batch's writes. */
void metrics_commit(double seconds);

/* yoyaku_worker_partitions_owned. */
void metrics_owned(int partitions);

/* yoyaku_worker_redeliveries_total: entries read again from the pending list. */
void metrics_redelivered(size_t entries);

/* yoyaku_dead_letters_total{partition}: entries moved to yk:dead:{partition}. */
void metrics_dead(unsigned partition, size_t entries);

/* yoyaku_dead_letter_entries{partition}: the length of yk:dead:{p} for each p with len[p] >= 0
 * (the partitions owned), replacing the previous figures. */
void metrics_dead_lengths(const long long *len, size_t partitions);

#endif
