/* decide: the in-memory decisions of a batch, in stream order — seats, per-person limits (per event
 * or campaign), cancellations, and entries already committed. */
#ifndef DECIDE_H
#define DECIDE_H

#include <stdbool.h>
#include <stddef.h>

#include "entry.h"
#include "map.h"
#include "persist.h"
#include "worker.h"

/* The bookings named by the batch's cancel entries, read before deciding. */
typedef struct {
    persist_bookings_list rows; /* owned */
    map index;                  /* booking id → row + 1 */
    bool *gone;                 /* [rows.n]: an entry of this batch cancels that booking */
} decide_bookings;

#define DECIDE_BOOKINGS_INIT                                                                       \
    {                                                                                              \
        {NULL, 0, NULL}, MAP_INIT, NULL                                                            \
    }

/* The booking ids of the undecided cancel entries of v[0..n), for persist_bookings: returns their
 * number with *ids set (the caller frees it), 0 when there is none (*ids NULL). When memory runs
 * out every undecided cancel entry is left for a retry (ENTRY_RETRY) and 0 is returned. */
__attribute__((warn_unused_result)) int decide_cancel_ids(entry *v, size_t n, const char ***ids);

/* Indexes the rows persist_bookings returned for those ids (rows: taken, even on failure; NULL
 * when the query failed). A query that failed or memory running out leaves every undecided cancel
 * entry for a retry. */
void decide_bookings_init(decide_bookings *bk, entry *v, size_t n, persist_bookings_list *rows);

void decide_bookings_free(decide_bookings *bk);

/* The row of the booking that cancel entry en names, or NULL when there is none. */
const persist_booking *decide_booking_of(const decide_bookings *bk, const entry *en);

/* Decides an undecided reservation against its slot (en->found, e and s set by the caller's
 * lookup): 404, 409 slot_full or already_booked, or accepted with the seat and the identity's
 * count taken in memory at once. A failed lookup or memory running out: left for a retry. */
void decide_reserve(entry *en);

/* Decides an undecided cancellation in stream order: the booking must be this event's and the
 * token hash its own (else 404, the same answer for both); a booking cancelled already is answered
 * as it is; a closed one gets 409; otherwise the seat and the identity's count are freed in memory
 * at once, so the entries after this one may take them (en->found, e and s: the booking's slot,
 * looked up by the caller). */
void decide_cancel(entry *en, decide_bookings *bk);

/* Which entries batch asks PostgreSQL about (decide_committed). */
bool decide_want_new(const entry *en);     /* undecided reservations (a replay) */
bool decide_want_dup(const entry *en);     /* accepted, but the insert skipped its request id */
bool decide_want_refused(const entry *en); /* refused 409: the request itself may be committed */

/* Answers every entry picked by want whose request id has a committed booking among rows (the
 * rows persist_lookup returned): its first answer, 201 with the booking as committed. Others keep
 * their state. */
void decide_committed(entry *v, size_t n, bool (*want)(const entry *),
                      const persist_bookings_list *rows);

#endif
