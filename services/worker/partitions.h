/* partitions: which request streams this worker owns (PostgreSQL advisory locks), the yk:workers
 * heartbeat that sizes each worker's share, and taking a stream over (group, orphaned entries). */
#ifndef PARTITIONS_H
#define PARTITIONS_H

#include "persist.h"
#include "worker.h"

/* Forgets p's cached event state (PostgreSQL is reread on next use). */
void partitions_forget(worker *w, unsigned p);

/* The cached slot of event ev in partition p, or NULL when the event or slot is not cached (it is
 * read from PostgreSQL, changes included, when next needed). *e: the cached event, or NULL. */
persist_slot *partitions_cached_slot(worker *w, unsigned p, int64_t ev, int64_t slot,
                                     persist_event **e);

/* After the PostgreSQL session is lost: its locks went with it, so nothing is owned any more. */
void partitions_drop_all(worker *w);

/* Marks every owned partition for setup (after a Redis reconnect or a NOGROUP reply). */
void partitions_resetup_all(worker *w);

/* One rebalance tick: heartbeat, count live workers, release or acquire partitions to own about
 * P/N, refresh cached state and schedule every owned partition for setup. Call between batches. */
__attribute__((warn_unused_result)) worker_status partitions_rebalance(worker *w);

/* Creates p's consumer group if missing and claims every entry pending under any consumer
 * (a dead or former owner's) for this worker; the caller then replays them. */
__attribute__((warn_unused_result)) worker_status partitions_setup(worker *w, unsigned p);

/* Releases every lock and leaves yk:workers (clean shutdown). Errors are ignored. */
void partitions_leave(worker *w);

/* Writes the stream key of partition p ("yk:req:{3}") into buf. */
void partitions_key(unsigned p, char buf[32]);

#endif
