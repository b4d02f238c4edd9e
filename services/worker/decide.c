/* decide: every decision of a batch made in memory against the partition's cached state, from
 * typed rows only, so that it is tested without PostgreSQL. Answers are written through answer. */
#include "decide.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answer.h"
#include "phase.h"
#include "prior.h"
#include "yk_log.h"
#include "yk_token.h"

int decide_cancel_ids(entry *v, size_t n, const char ***ids)
{
    int m = 0;
    *ids = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].cancel || v[i].st != ENTRY_NEW)
            continue;
        if (*ids == NULL && (*ids = malloc(n * sizeof **ids)) == NULL) {
            /* Not decided now, and not 404 either: the bookings were never read. */
            for (size_t j = 0; j < n; j++)
                if (v[j].cancel && v[j].st == ENTRY_NEW)
                    v[j].st = ENTRY_RETRY;
            return 0;
        }
        (*ids)[m++] = v[i].booking_s;
    }
    return m;
}

void decide_bookings_init(decide_bookings *bk, entry *v, size_t n, persist_bookings_list *rows)
{
    *bk = (decide_bookings)DECIDE_BOOKINGS_INIT;
    if (rows) {
        bk->rows = *rows;
        *rows = (persist_bookings_list){NULL, 0, NULL};
        bk->gone = calloc((size_t)bk->rows.n + 1, sizeof *bk->gone);
    }
    for (int i = 0; bk->gone && i < bk->rows.n; i++) {
        void **ref = map_ref(&bk->index, bk->rows.v[i].id);
        if (ref == NULL) {
            free(bk->gone);
            bk->gone = NULL;
        } else {
            *ref = (void *)(intptr_t)(i + 1);
        }
    }
    if (bk->gone)
        return;
    for (size_t i = 0; i < n; i++) /* query failed or out of memory: decide them next time */
        if (v[i].cancel && v[i].st == ENTRY_NEW)
            v[i].st = ENTRY_RETRY;
}

void decide_bookings_free(decide_bookings *bk)
{
    persist_bookings_list_free(&bk->rows);
    map_clear(&bk->index, NULL);
    free(bk->gone);
    bk->gone = NULL;
}

/* The row index of en's booking, or -1. */
static int decide_row(const decide_bookings *bk, const entry *en)
{
    return bk->gone ? (int)(intptr_t)map_get(&bk->index, en->booking_s) - 1 : -1;
}

const persist_booking *decide_booking_of(const decide_bookings *bk, const entry *en)
{
    int row = decide_row(bk, en);
    return row >= 0 ? &bk->rows.v[row] : NULL;
}

void decide_reserve(entry *en)
{
    if (en->found < 0) {
        en->st = ENTRY_RETRY;
        return;
    }
    if (en->found == 0) {
        answer_refuse(en, 404, "not_found", "Not found.");
        return;
    }
    persist_event *e = en->e;
    time_t now = time(NULL);
    if (e->opens && now < e->opens && phase_refuse(en, e->opens)) /* their phase opens later */
        return;
    if ((e->opens && now < e->opens) || (e->closes && now >= e->closes)) {
        answer_closed(en, "Bookings for this event are not open.",
                      e->opens && now < e->opens ? e->opens_at : NULL);
        return;
    }
    if (now >= en->s->end) {
        answer_closed(en, "This slot has ended.", NULL);
        return;
    }
    if (phase_refuse(en, now)) /* phased opening: phase.h */
        return;
    if (e->pre && !prior_met(e->prior, en->ident, en->s->start, e->pre_days, e->pre_attended)) {
        answer_refuse(en, 409, "prerequisite_not_met",
                      e->pre_attended ? "This booking needs an attended booking of the "
                                        "prerequisite event, early enough before this slot."
                                      : "This booking needs a booking of the prerequisite "
                                        "event, early enough before this slot.");
        return;
    }
    en->touched = true;
    if (en->s->booked >= en->s->capacity || en->s->waiting > 0) { /* a line: its seats */
        answer_refuse(en, 409, "slot_full", "This slot is full.");
        return;
    }
    void **count = map_ref(en->e->counts, en->ident);
    if (count == NULL) {
        en->st = ENTRY_RETRY;
        return;
    }
    if ((intptr_t)*count >= en->e->limit) {
        answer_refuse(en, 409, "already_booked",
                      "You already hold the maximum number of bookings for this event.");
        return;
    }
    /* An event of the partition depends on this one: it sees this booking at once. */
    map *hist = e->scopes ? map_get(e->scopes, e->hist_key) : NULL;
    if (hist && prior_add(hist, en->ident, en->s->start, false) != 0) {
        en->st = ENTRY_RETRY;
        return;
    }
    en->s->booked++;
    *count = (void *)((intptr_t)*count + 1);
    en->st = ENTRY_ACCEPT;
}

void decide_cancel(entry *en, decide_bookings *bk)
{
    if (bk->gone == NULL) { /* the bookings were not read: never a 404 for that */
        en->st = ENTRY_RETRY;
        return;
    }
    int row = decide_row(bk, en);
    const persist_booking *b = row >= 0 ? &bk->rows.v[row] : NULL;
    bool staff = strcmp(en->th, "*") == 0; /* on a booker's behalf: no token, no deadline */
    if (b == NULL || b->event_id != en->ev ||
        (!staff &&
         (strlen(b->token_hash) != strlen(en->th) || !yk_token_equal(b->token_hash, en->th)))) {
        answer_refuse(en, 404, "not_found", "No such booking, or another booking's token.");
        return;
    }
    en->row = row;
    if (bk->gone[row]) { /* an earlier entry of this batch cancels it: answer with that one */
        en->st = ENTRY_CANCEL;
        return;
    }
    if (strcmp(b->status, "cancelled") == 0) {
        answer_cancelled(en, b);
        en->result = "already_cancelled";
        return;
    }
    if (strcmp(b->status, "confirmed") != 0 || (b->closed && !staff)) {
        answer_refuse(en, 409, "cancellation_closed",
                      strcmp(b->status, "confirmed") != 0
                          ? "This booking can no longer be cancelled."
                          : "The cancellation deadline for this booking has passed.");
        return;
    }
    en->slot = b->slot;
    void **count = en->found > 0 ? map_ref(en->e->counts, b->identity) : NULL;
    if (count == NULL) { /* lookup failed, out of memory, or the slot vanished: try again */
        en->st = ENTRY_RETRY;
        return;
    }
    if ((intptr_t)*count > 0)
        *count = (void *)((intptr_t)*count - 1);
    if (en->s->booked > 0)
        en->s->booked--;
    if (en->e->scopes)
        prior_remove(map_get(en->e->scopes, en->e->hist_key), b->identity, en->s->start);
    en->touched = true;
    en->effect = true;
    bk->gone[row] = true;
    en->st = ENTRY_CANCEL;
}

/* Only reservations can be committed under their own request id. */
bool decide_want_new(const entry *en)
{
    return en->st == ENTRY_NEW && !en->cancel && !en->attend;
}

bool decide_want_dup(const entry *en)
{
    return en->st == ENTRY_DUP;
}

/* A refusal may be for a request that is itself committed (the same request id added to the
 * stream twice): its first answer stands. */
bool decide_want_refused(const entry *en)
{
    return en->st == ENTRY_ANSWER && en->code == 409 && !en->cancel && !en->attend;
}

void decide_committed(entry *v, size_t n, bool (*want)(const entry *),
                      const persist_bookings_list *rows)
{
    map index = MAP_INIT; /* request id → row + 1 */
    for (int i = 0; i < rows->n; i++) {
        void **ref = map_ref(&index, rows->v[i].request_id);
        if (ref)
            *ref = (void *)(intptr_t)(i + 1);
    }
    for (size_t i = 0; i < n; i++) {
        entry *en = &v[i];
        int row = want(en) ? (int)(intptr_t)map_get(&index, en->rid) - 1 : -1;
        if (row < 0)
            continue;
        answer_committed(en, &rows->v[row]);
        en->result = "duplicate";
        yk_info("request=%s answered from the database (booking %s)", en->rid, rows->v[row].id);
    }
    map_clear(&index, NULL);
}
