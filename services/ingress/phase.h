/* phase: the ingress's fast refusal of a booking outside the booker's phase (contract §2
 * "Phases"); the rule is common/yk_phase's, the worker applies it again when it decides. */
#ifndef PHASE_H
#define PHASE_H

#include <jansson.h>
#include <stdint.h>

#include "catalogue.h"

/* The 409 booking_closed body (a new reference) when the booker with these cleaned fields
 * (borrowed) may not book e at Unix second now because of e's phases, with "opens_at" the time
 * their phase opens (null when none will); NULL when their phase is open or e has none. With
 * now = the event's own opens_at (not open yet), it says whether this booker's phase opens later
 * than the event. */
json_t *phase_refusal(const cat_event *e, const json_t *fields, int64_t now);

#endif
