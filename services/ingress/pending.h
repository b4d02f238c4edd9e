/* pending: a held reservation's deadline. At YOYAKU_WAIT_MS a request known to be queued gets its
 * pending marker written and 202 (or the final answer the marker's SET NX GET finds); one whose
 * XADD was never acknowledged gets 503. Markers Redis could not take are owed until it is back.
 * Everything here runs on the ingress loop; waiters are borrowed from submit.c. */
#ifndef PENDING_H
#define PENDING_H

#include <stdbool.h>

#include "waiter.h"

/* Starts the timers; 0 or -1. */
__attribute__((warn_unused_result)) int pending_init(void);
/* A submit was sent for w (W_SUBMITTING, hashed): its deadline starts now. */
void pending_track(waiter *w);
/* w's XADD is known to have succeeded: it waits for its answer until the deadline (at once with
 * YOYAKU_WAIT_MS=0 or while stopping, to 202). */
void pending_queued(waiter *w);
/* Takes w out of the list its state puts it in (W_SUBMITTING, W_WAITING, W_MARKING). */
void pending_forget(waiter *w);
/* 202 with w's position and Location. */
void pending_respond(waiter *w);
/* After every Redis connection: writes the pending markers owed since Redis was unreachable. */
void pending_owed_send(void);
/* Shutdown: every waiting request gets its marker and 202; the timers close. */
void pending_shutdown(void);
/* The connections are closing: no command may be sent any more. */
void pending_redis_closing(void);
bool pending_redis_closed(void);
/* YOYAKU_RESULT_TTL in decimal, for commands. */
const char *pending_ttl(void);
/* Frees the owed markers once the loop has ended. */
void pending_free(void);

#endif
