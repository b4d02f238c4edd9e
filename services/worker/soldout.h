/* soldout: "sold out means stop waiting" (issue 14). A request for a slot that was full before its
 * batch began cannot be changed by the batch's commit: its slot_full is answered before the commit
 * rather than after it, so a long queue behind a sold-out slot drains at the speed of Redis, not
 * of PostgreSQL. */
#ifndef SOLDOUT_H
#define SOLDOUT_H

#include <stddef.h>

#include "entry.h"
#include "worker.h"

/* Before deciding: notes on each undecided reservation whether its slot is full already
 * (en->full), from the partition's committed state. */
void soldout_mark(entry *v, size_t n);

/* After deciding, before the commit: stores and relays now the slot_full answers of entries whose
 * slot was full before the batch (en->full), and marks them en->early so that the batch's answer
 * pipeline only acks them. Only when the batch has bookings to commit (otherwise its answers go
 * out at once anyway) and holds no cancellation or attendance (which could free a seat), nor
 * replayed entries (which may be committed already). WORKER_REDIS_LOST when the connection
 * failed; memory running out only skips the early answers. */
__attribute__((warn_unused_result)) worker_status soldout_answer(worker *w, entry *v, size_t n,
                                                                 bool replay);

#endif
