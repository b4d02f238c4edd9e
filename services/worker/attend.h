/* attend: attendance (t=attend entries: the desk's check-in, staff marking attended or no-show),
 * decided by the partition's worker in the order of its stream. */
#ifndef ATTEND_H
#define ATTEND_H

#include <stdbool.h>
#include <stddef.h>

#include "entry.h"
#include "worker.h"

/* Decides and commits every undecided attend entry of v[0..n), one statement each (the desk's
 * pace, never the rush's), after the batch's bookings are committed: a reservation of the same
 * batch was decided before the attendance it follows. Each gets its answer (200, 404, 409
 * cancelled / not_today / prerequisite_not_attended) or is left for a retry; a change is written
 * to the partition's counts and history in memory, or, where it cannot be, the partition is marked
 * in stale (reread). WORKER_PG_LOST when the session was lost. */
worker_status attend_run(worker *w, entry *v, size_t n, bool *stale);

#endif
