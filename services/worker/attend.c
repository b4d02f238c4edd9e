/* attend: the attendance statement and its answers. The statement decides and writes at once,
 * under the booking's row lock: the refusals are checked in PostgreSQL, which holds every
 * prerequisite booking, rather than in the partition's cache. */
#include "attend.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "answer.h"
#include "partitions.h"
#include "prior.h"
#include "yk_log.h"

/* $1 booking id, $2 new status, $3 the desk's check-in (the slot must be today, in the event's
 * zone), $4 the entry's event (a booking of another event is unknown here). One row, or none for
 * an unknown booking: the refusal (NULL when done), whether the status changed, the columns of
 * persist_bookings (the status the one before), then identity and slot start (Unix seconds),
 * for the partition's memory, and the slot's booked + held when its seats moved (else NULL).
 * Marking attended needs the same identity's prerequisite booking attended (never dose 2 without
 * dose 1); marking again what is already so changes nothing. A no-show releases its seat (the
 * waitlist timer offers it to the slot's line while the slot runs); a no-show corrected needs a
 * seat again, refused when the slot has none left (its seat was booked or offered meanwhile) or
 * when the same identity has booked the event again meanwhile (one booking per person: the unique
 * index bookings_one_per_identity would refuse the row). */
static const char ATTEND_SQL[] =
    "WITH b AS ("
    " SELECT b.*, s.starts_at, s.ends_at, s.capacity - s.booked - s.held AS free, e.timezone,"
    "  e.slug, e.prerequisite"
    " FROM bookings b JOIN slots s ON s.id = b.slot_id JOIN events e ON e.id = b.event_id"
    " WHERE b.id = $1::bigint AND b.event_id = $4::bigint FOR UPDATE OF b, s"
    "), c AS ("
    " SELECT b.*, CASE"
    "  WHEN b.status = 'cancelled' THEN 'cancelled'"
    "  WHEN $3::bool AND (b.starts_at AT TIME ZONE b.timezone)::date"
    "   <> (now() AT TIME ZONE b.timezone)::date THEN 'not_today'"
    "  WHEN $2 = 'attended' AND b.status <> 'attended' AND b.prerequisite IS NOT NULL"
    "   AND NOT EXISTS (SELECT 1 FROM bookings p JOIN events pe ON pe.id = p.event_id"
    "    WHERE pe.slug = b.prerequisite->>'event' AND p.identity = b.identity"
    "    AND p.status = 'attended') THEN 'prerequisite_not_attended'"
    "  WHEN b.status = 'no_show' AND $2 <> 'no_show' AND b.free <= 0 THEN 'seat_released'"
    "  WHEN b.status = 'no_show' AND $2 <> 'no_show' AND b.limit_one"
    "   AND EXISTS (SELECT 1 FROM bookings o WHERE o.event_id = b.event_id"
    "    AND o.identity = b.identity AND o.id <> b.id AND o.limit_one"
    "    AND o.status IN ('confirmed', 'attended')) THEN 'already_booked'"
    "  END AS refusal,"
    "  CASE WHEN $2 = 'no_show' AND b.status <> 'no_show' THEN -1"
    "   WHEN b.status = 'no_show' AND $2 <> 'no_show' THEN 1 ELSE 0 END AS seat"
    " FROM b"
    "), upd AS ("
    " UPDATE bookings x SET status = $2, updated_at = now() FROM c"
    " WHERE x.id = c.id AND c.refusal IS NULL AND x.status <> $2 RETURNING x.id"
    "), seats AS ("
    " UPDATE slots s SET booked = s.booked + c.seat FROM c"
    " WHERE s.id = c.slot_id AND c.refusal IS NULL AND c.seat <> 0"
    " RETURNING s.booked + s.held AS taken"
    ")"
    " SELECT c.refusal, EXISTS (SELECT 1 FROM upd), c.id, c.event_id, c.slot_id, c.status,"
    " c.email, c.fields::text, yk_rfc3339(c.created_at, c.timezone), c.slug,"
    " yk_rfc3339(c.starts_at, c.timezone), yk_rfc3339(c.ends_at, c.timezone), c.identity,"
    " extract(epoch FROM c.starts_at)::bigint, (SELECT taken FROM seats) FROM c";

static const struct {
    const char *error, *message;
} attend_refusals[] = {
    {"cancelled", "This booking is cancelled."},
    {"not_today", "This booking is for another day."},
    {"prerequisite_not_attended",
     "The booking this one depends on (e.g. dose 1) has not been marked as attended."},
    {"seat_released", "This no-show's seat has gone to someone else and its slot has no seat "
                      "left."},
    {"already_booked", "This person has booked this event again since being marked as a no-show: "
                       "mark that booking instead."},
};

/* The partition's memory follows a change of booking status from → to (never cancelled) rather
 * than being reread (a desk checking in during a rush must not make the worker reload the
 * campaign): the identity's count in the event's scope (active: confirmed or attended, as
 * persist_counts_load counts) and the event's history, where loaded. Both are found through the
 * cached event, so the scope keys stay persist.c's. false when it cannot (the event is not cached,
 * so its scopes may be loaded under keys only it knows; an attended booking made no_show; out of
 * memory): reread the partition. */
static bool attend_remember(worker *w, const entry *en, const char *ident, int64_t start,
                            const char *from, const char *to)
{
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)en->ev);
    persist_event *e = map_get(&w->parts[en->p].events, key);
    if (e == NULL)
        return false;
    bool was = strcmp(from, "no_show") != 0, is = strcmp(to, "attended") == 0;
    if (e->counts && was != is) {
        void **count = map_ref(e->counts, ident);
        if (count == NULL)
            return false;
        intptr_t n = (intptr_t)*count + (is ? 1 : -1);
        *count = (void *)(n > 0 ? n : 0);
    }
    map *hist = e->scopes ? map_get(e->scopes, e->hist_key) : NULL;
    if (hist == NULL)
        return true;
    if (strcmp(from, "confirmed") == 0 && is)
        prior_attend(hist, ident, start);
    else if (strcmp(from, "confirmed") == 0)
        prior_remove(hist, ident, start); /* no_show: no longer active */
    else if (strcmp(from, "no_show") == 0 && is)
        return prior_add(hist, ident, start, true) == 0;
    else
        return false; /* attended → no_show: prior_remove keeps attended bookings */
    return true;
}

/* The partition's memory after a seat moved: the slot's booked + held is taken, and its seats are
 * published with the batch's (a released seat in a slot with a line is the waitlist timer's to
 * offer: decide_reserve leaves it to the line meanwhile). */
static void attend_seat(worker *w, entry *en, int64_t ev, int64_t slot, int taken)
{
    persist_event *e;
    persist_slot *s = partitions_cached_slot(w, en->p, ev, slot, &e);
    if (s)
        s->booked = taken;
    en->ev = ev;
    en->slot = slot;
    en->touched = true;
}

/* One entry: 0 decided (answered), -1 left for a retry. */
static int attend_one(worker *w, entry *en, bool *stale)
{
    const char *params[] = {en->booking_s, en->st_s,
                            en->today_s && strcmp(en->today_s, "1") == 0 ? "true" : "false",
                            en->ev_s};
    yk_pgres *r =
        yk_pgconn_run(w->pg, &(yk_pgconn_stmt){.sql = ATTEND_SQL, .n = 4, .values = params});
    if (!yk_pgres_ok(r)) {
        yk_error("request=%s attendance failed: %s", en->rid, yk_pgconn_error(w->pg));
        yk_pgres_free(r);
        en->st = ENTRY_RETRY;
        return -1;
    }
    if (yk_pgres_rows(r) != 1) {
        answer_refuse(en, 404, "not_found", "No such booking.");
    } else if (!yk_pgres_null(r, 0, 0)) {
        const char *refusal = yk_pgres_text(r, 0, 0);
        for (size_t i = 0; i < sizeof attend_refusals / sizeof attend_refusals[0]; i++)
            if (strcmp(refusal, attend_refusals[i].error) == 0)
                answer_refuse(en, 409, attend_refusals[i].error, attend_refusals[i].message);
    } else {
        persist_booking b = {
            .id = yk_pgres_text(r, 0, 2),
            .event_id = yk_pgres_int(r, 0, 3, 0),
            .slot_id = yk_pgres_text(r, 0, 4),
            .status = yk_pgres_text(r, 0, 5),
            .email = yk_pgres_text(r, 0, 6),
            .fields = yk_pgres_text(r, 0, 7),
            .created_at = yk_pgres_text(r, 0, 8),
            .slug = yk_pgres_text(r, 0, 9),
            .starts_at = yk_pgres_text(r, 0, 10),
            .ends_at = yk_pgres_text(r, 0, 11),
            .request_id = "",
            .token_hash = "",
            .identity = "",
        };
        answer_status(en, &b, en->st_s);
        en->result = en->st_s;
        if (yk_pgres_bool(r, 0, 1)) { /* the counts and the history the dependents read changed */
            if (!attend_remember(w, en, yk_pgres_text(r, 0, 12), yk_pgres_int(r, 0, 13, 0),
                                 b.status, en->st_s))
                stale[en->p] = true;
            yk_info("request=%s booking=%s marked %s", en->rid, b.id, en->st_s);
        }
        if (!yk_pgres_null(r, 0, 14)) /* a seat released or taken back */
            attend_seat(w, en, b.event_id, yk_pgres_int(r, 0, 4, 0),
                        (int)yk_pgres_int(r, 0, 14, 0));
    }
    yk_pgres_free(r);
    return 0;
}

worker_status attend_run(worker *w, entry *v, size_t n, bool *stale)
{
    for (size_t i = 0; i < n; i++) {
        if (!v[i].attend || v[i].st != ENTRY_NEW)
            continue;
        if (attend_one(w, &v[i], stale) != 0 && yk_pgconn_lost(w->pg))
            return WORKER_PG_LOST;
    }
    return WORKER_OK;
}
