/* prior: an event's active bookings per identity (slot start, attended or not), kept in memory for
 * the events whose prerequisite it is, so that the deciding worker checks a dose series without
 * PostgreSQL. A history is a map identity → prior_list*, owned by the partition's scopes. */
#ifndef PRIOR_H
#define PRIOR_H

#include <stdbool.h>
#include <stdint.h>

#include "map.h"

/* The active bookings of one identity in one event. */
typedef struct {
    int n, cap;
    struct {
        int64_t start; /* slot start, Unix seconds */
        bool attended; /* status attended, else confirmed */
    } * v;             /* owned */
} prior_list;

/* Adds one active booking of ident to h. 0, or -1 when memory runs out (h unchanged). */
__attribute__((warn_unused_result)) int prior_add(map *h, const char *ident, int64_t start,
                                                  bool attended);

/* Removes one active booking of ident starting at start (a cancellation); nothing if absent. */
void prior_remove(map *h, const char *ident, int64_t start);

/* Marks one confirmed booking of ident starting at start attended (for the attendance decided by
 * the worker); nothing if absent. */
void prior_attend(map *h, const char *ident, int64_t start);

/* True when ident holds, in h, an active booking (attended where attended is required) whose
 * slot starts at least min_days days before start. h NULL: false. */
bool prior_met(const map *h, const char *ident, int64_t start, int min_days, bool attended);

/* Frees one prior_list (a map value). */
void prior_list_free(void *l);

#endif
