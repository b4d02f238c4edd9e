/* commit: storing a batch's decisions — the cancellations and bookings in one transaction (with
 * the fallbacks when PostgreSQL refuses it), then turning what was committed into answers. */
#ifndef COMMIT_H
#define COMMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "decide.h"
#include "entry.h"
#include "worker.h"

/* Empties the inserted rows' texts for a new batch. */
void commit_reset(void);

/* Gives back the buffers' memory after an unusually large batch. */
void commit_trim(size_t keep);

/* Stores every decided cancellation and booking of v[0..n) in one transaction (fresh: the entries
 * were read for the first time). A refused batch is written again entry by entry, so one bad entry
 * cannot block the stream; stale[p] is set for each partition whose memory may now differ from
 * PostgreSQL. WORKER_PG_LOST when the session is lost. */
__attribute__((warn_unused_result)) worker_status commit_write(worker *w, entry *v, size_t n,
                                                               bool fresh, bool *stale);

/* Turns the outcome into answers: 201 for inserted bookings, 200 for committed cancellations (from
 * bk's rows). An accepted entry whose request id was committed before becomes ENTRY_DUP, for the
 * caller to answer from PostgreSQL; a cancellation not taken is retried; stale as above. */
void commit_settle(entry *v, size_t n, const decide_bookings *bk, bool *stale);

#endif
