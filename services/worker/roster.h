/* roster: eligibility (contract §2 "Roster") of a batch's reservations of events with a roster —
 * which events have one (cached until the catalogue version moves), and ONE lookup per batch of
 * the entries' roster hashes (the stream entry's rh) among the rows of the live rosters. */
#ifndef WORKER_ROSTER_H
#define WORKER_ROSTER_H

#include <stddef.h>

#include "entry.h"
#include "worker.h"

/* Answers 409 not_eligible every undecided reservation (found, not cancel or attend) of an event
 * with a roster whose rh is missing or matches no row of a live roster (the hash covers the
 * campaign, so a match is a row of the event's campaign's roster). A batch without such events
 * costs no query (the events' roster flags are cached). A failed query leaves those entries for
 * a retry; WORKER_PG_LOST when the session is gone. */
__attribute__((warn_unused_result)) worker_status roster_check(worker *w, entry *v, size_t n);

/* Drops the cache of roster flags (tests; the catalogue version does it by itself). */
void roster_forget(void);

#endif
