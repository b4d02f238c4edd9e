/* batch: reading request entries from the owned streams and taking each batch through decode,
 * decide, commit and answer (one PostgreSQL round trip to store, one Redis pipeline to answer). */
#ifndef BATCH_H
#define BATCH_H

#include "worker.h"

/* One XREADGROUP ... BLOCK 100 ... > across every owned partition, and the batch it returns. */
__attribute__((warn_unused_result)) worker_status batch_read(worker *w);

/* Answers every entry pending under this worker in partition p, oldest first. Entries may have
 * been committed by a previous owner: those are answered from PostgreSQL, never booked twice. */
__attribute__((warn_unused_result)) worker_status batch_replay(worker *w, unsigned p);

#endif
