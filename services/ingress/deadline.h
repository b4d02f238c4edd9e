/* deadline: bounds how long a request waits on Redis outside the reservation path (request status,
 * queue statistics): one timer for every pending item, so that a stalled Redis answers 503
 * within YOYAKU_WAIT_MS rather than never. Items are embedded by their owners, who keep them
 * alive until they fire or are cancelled. */
#ifndef DEADLINE_H
#define DEADLINE_H

#include <stdint.h>

typedef struct deadline_item deadline_item;
struct deadline_item {
    void (*expired)(deadline_item *d); /* runs once, from the loop; d is no longer listed */
    /* private */
    uint64_t at;
    deadline_item *prev, *next;
    int listed;
};

/* The wait a request is given: YOYAKU_WAIT_MS, at least 1 s (with YOYAKU_WAIT_MS=0 too). */
uint64_t deadline_wait_ms(void);
/* Lists d to expire after ms; 0 or -1 (the timer could not start: d is not listed). */
__attribute__((warn_unused_result)) int deadline_add(deadline_item *d, uint64_t ms,
                                                     void (*expired)(deadline_item *d));
/* Unlists d if it is listed (safe to call twice). */
void deadline_cancel(deadline_item *d);
/* Shutdown: closes the timer; items still listed never fire (their Redis callbacks do). */
void deadline_close(void);

#endif
