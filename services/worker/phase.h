/* phase: the worker's side of phased opening (contract §2 "Phases"): an event's phases read with
 * it, and the decision for one reservation by common/yk_phase's rule at the moment it is decided
 * (the ingress's refusal is only a fast path: a request queued before its booker's phase opened,
 * or an event whose phases changed since, is decided here). */
#ifndef WORKER_PHASE_H
#define WORKER_PHASE_H

#include <stdbool.h>
#include <stdint.h>

#include "entry.h"
#include "persist.h"

/* Reads event e's phases into e->phases (e freshly loaded, none read yet). 0, or -1 when the
 * query failed (check yk_pgconn_lost) or the stored phases cannot be read (logged; the event is
 * then not decided rather than decided open to everyone). */
__attribute__((warn_unused_result)) int phase_load(yk_pgconn *c, persist_event *e);

/* For a reservation of an event with phases: when its booker's phase is not open at now, answers
 * it 409 booking_closed (opens_at: when their phase opens, else null) and returns true. A fields
 * text that cannot be read meets no field's phase. Before the event's own opens_at, called with
 * now = that time: refuses with the booker's later phase, if any. */
bool phase_refuse(entry *en, int64_t now);

#endif
