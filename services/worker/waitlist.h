/* waitlist: a full slot's line (contract v1.1 §2 "entry (waitlist)"), decided by the partition's
 * one writer: joins, accepts and leaves (t=wjoin, waccept, wleave entries), the offer of every
 * freed seat to the first waiting entry, and the expiry of offers (a worker timer). */
#ifndef WAITLIST_H
#define WAITLIST_H

#include <stdbool.h>
#include <stddef.h>

#include "entry.h"
#include "worker.h"

/* How often waitlist_tick looks for lapsed offers and free seats with a line (ms). */
#define WAITLIST_TICK_MS 1000

/* Called by decode_entry once the header is read: marks a waitlist entry (en->wl). A t=wjoin is
 * then decoded as a reservation (0 returned). t=waccept and t=wleave are decoded here: 1 returned,
 * en ENTRY_NEW, or answered 500 when malformed. 0 for every other type. */
int waitlist_decode(entry *en);

/* Decides and commits, in stream order, every undecided waitlist entry of v[0..n) (one statement
 * each: the pace of a line, not of a rush), after the batch's bookings and cancellations are
 * committed; then offers the seats the batch's cancellations freed in slots with a line. The
 * partition's memory follows each change (seats held, entries waiting, the identity's count);
 * where it cannot, stale[p] is set. WORKER_PG_LOST when the session was lost. */
__attribute__((warn_unused_result)) worker_status waitlist_run(worker *w, entry *v, size_t n,
                                                               bool *stale);

/* The timer: expires the lapsed offers of the owned partitions (each seat goes to the next waiting
 * entry, or back to everyone), and offers every free seat of a slot that has a line (a seat freed
 * by a capacity increase, a no-show, or a cancellation committed just before a crash). Publishes
 * the seats it changes. WORKER_PG_LOST / WORKER_REDIS_LOST as the connection that failed. */
__attribute__((warn_unused_result)) worker_status waitlist_tick(worker *w);

#endif
