/* waitlist: the waitlist statements (each decides and writes at once, in PostgreSQL, which holds
 * the line) and the partition's memory that follows them: a slot's booked counts its held seats,
 * and its waiting entries make its free seats theirs (decide_reserve refuses them to others). */
#include "waitlist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "partitions.h"
#include "prior.h"
#include "yk_log.h"
#include "yk_partition.h"
#include "yk_token.h"

/* Offers the free seats of slot $1 (capacity − booked − held) to its first waiting entries, in
 * the order they joined, for the event's hold_minutes (a fraction allowed) but never past the
 * slot's end, holding a seat for each and writing each one's offer mail. The line takes no new
 * entries once the slot starts, but a seat freed while it runs (a no-show's) is still offered
 * to those waiting; nothing for a slot that has ended. One row: the slot's booked + held,
 * capacity, entries still waiting, offers made now. */
static const char OFFER_SQL[] =
    "WITH s AS ("
    " SELECT s.id, greatest(s.capacity - s.booked - s.held, 0) AS free, s.ends_at,"
    "  coalesce((e.waitlist->>'hold_minutes')::float8, 60) AS hold"
    " FROM slots s JOIN events e ON e.id = s.event_id WHERE s.id = $1::bigint FOR UPDATE OF s"
    "), pick AS ("
    " SELECT w.id FROM waitlist w, s WHERE w.slot_id = s.id AND w.status = 'waiting'"
    "  AND s.ends_at > now() ORDER BY w.id LIMIT (SELECT free FROM s)"
    "), off AS ("
    " UPDATE waitlist w SET status = 'offered', offered_at = now(),"
    "  offer_expires_at = least(now() + make_interval(secs => s.hold * 60), s.ends_at),"
    "  updated_at = now()"
    " FROM s WHERE w.id IN (SELECT id FROM pick) RETURNING w.id"
    "), upd AS ("
    " UPDATE slots x SET held = x.held + (SELECT count(*) FROM pick)::int FROM s"
    " WHERE x.id = s.id RETURNING x.booked + x.held AS taken, x.capacity"
    "), mo AS ("
    " INSERT INTO mail_outbox (waitlist_id, kind) SELECT id, 'waitlist_offer' FROM off"
    " ORDER BY id ON CONFLICT DO NOTHING RETURNING waitlist_id"
    "), nt AS ("
    " SELECT count(pg_notify('yk_outbox', '')) AS n FROM (SELECT FROM mo LIMIT 1) m"
    ")"
    " SELECT u.taken, u.capacity, (SELECT count(*) FROM waitlist w WHERE w.slot_id = $1::bigint"
    "  AND w.status = 'waiting') - (SELECT count(*) FROM pick), (SELECT count(*) FROM off)"
    " FROM upd u, nt";

/* $1 request id, $2 event, $3 slot, $4 e-mail, $5 identity, $6 fields, $7 token hash, $8 the
 * refusal decided in memory ('' none). One row: the refusal (NULL: joined, or joined before under
 * this request id), the new entry, the entry of an earlier delivery, the slot's waiting entries
 * now. Neither entry: the identity is in this slot's line already (the unique index). */
static const char JOIN_SQL[] =
    "WITH c AS ("
    " SELECT CASE WHEN NOT coalesce((e.waitlist->>'enabled')::boolean, false)"
    "  OR (e.closes_at IS NOT NULL AND now() >= e.closes_at) OR s.starts_at <= now()"
    "  THEN 'waitlist_closed' WHEN $8 <> '' THEN $8 END AS refusal"
    " FROM events e JOIN slots s ON s.event_id = e.id WHERE e.id = $2::bigint AND s.id = $3::bigint"
    "), old AS ("
    " SELECT yk_waitlist_json(w)::text AS j FROM waitlist w WHERE w.request_id = $1"
    "), ins AS ("
    " INSERT INTO waitlist (request_id, event_id, slot_id, email, identity, fields, token_hash)"
    " SELECT $1, $2::bigint, $3::bigint, $4, $5, $6::jsonb, $7 FROM c"
    " WHERE c.refusal IS NULL AND NOT EXISTS (SELECT 1 FROM old)"
    " ON CONFLICT DO NOTHING RETURNING yk_waitlist_json(waitlist)::text AS j"
    ")"
    " SELECT (SELECT refusal FROM c WHERE NOT EXISTS (SELECT 1 FROM old)), (SELECT j FROM ins),"
    " (SELECT j FROM old), (SELECT count(*) FROM waitlist x WHERE x.slot_id = $3::bigint"
    "  AND x.status = 'waiting') + (SELECT count(*) FROM ins)";

/* $1 entry, $2 event, $3 the presented token's hash, $4 request id (the booking's), $5 the new
 * booking's token hash. An offered entry within its hold becomes a booking: held → booked, its
 * confirmation mail job. No row: no such entry (or another token). Columns: refusal, the booking
 * (persist_booking's), identity, slot start (Unix s), slot booked + held, slot id. */
static const char ACCEPT_SQL[] =
    "WITH w AS ("
    " SELECT w.id, w.event_id, w.slot_id, w.status, w.email, w.identity, w.fields,"
    "  w.offer_expires_at, e.per_person_limit, e.campaign, e.slug, e.timezone"
    " FROM waitlist w JOIN events e ON e.id = w.event_id"
    " WHERE w.id = $1::bigint AND w.event_id = $2::bigint AND w.token_hash = $3 FOR UPDATE OF w"
    "), c AS ("
    " SELECT w.*, CASE WHEN w.status IN ('offered', 'expired') AND (w.status = 'expired'"
    "   OR w.offer_expires_at <= now()) THEN 'offer_expired'"
    "  WHEN w.status <> 'offered' THEN 'not_offered'"
    "  WHEN (SELECT count(*) FROM bookings b JOIN events be ON be.id = b.event_id"
    "   WHERE b.identity = w.identity AND b.status IN ('confirmed', 'attended')"
    "   AND (be.id = w.event_id OR be.campaign = w.campaign)) >= w.per_person_limit"
    "   THEN 'already_booked' END AS refusal FROM w"
    "), b AS ("
    " INSERT INTO bookings (request_id, event_id, slot_id, email, identity, fields, token_hash,"
    "  limit_one) SELECT $4, event_id, slot_id, email, identity, fields, $5,"
    "  per_person_limit = 1 FROM c WHERE refusal IS NULL RETURNING id, created_at"
    "), u AS ("
    " UPDATE waitlist x SET status = 'accepted', booking_id = (SELECT id FROM b),"
    "  updated_at = now() FROM c WHERE x.id = c.id AND c.refusal IS NULL"
    "), s AS ("
    " UPDATE slots s SET booked = s.booked + 1, held = s.held - 1 FROM c"
    " WHERE s.id = c.slot_id AND c.refusal IS NULL RETURNING s.booked + s.held AS taken"
    "), mo AS ("
    " INSERT INTO mail_outbox (booking_id, kind) SELECT id, 'confirmation' FROM b"
    " RETURNING booking_id"
    "), nt AS ("
    " SELECT count(pg_notify('yk_outbox', '')) AS n FROM (SELECT FROM mo LIMIT 1) m"
    ")"
    " SELECT c.refusal, b.id::text, c.slot_id::text, 'confirmed', c.email, c.fields::text,"
    "  yk_rfc3339(b.created_at, c.timezone), c.slug, yk_rfc3339(sl.starts_at, c.timezone),"
    "  yk_rfc3339(sl.ends_at, c.timezone), c.identity, extract(epoch FROM sl.starts_at)::bigint,"
    "  coalesce((SELECT taken FROM s), sl.booked + sl.held), c.slot_id"
    " FROM c JOIN slots sl ON sl.id = c.slot_id LEFT JOIN b ON true CROSS JOIN nt";

/* $1 entry, $2 event, $3 token hash. A waiting or offered entry leaves the line (an offered one
 * gives its held seat back, for the next offer). No row: no such entry. Columns: the status it
 * had, slot id, the entry now, the slot's waiting entries now. */
static const char LEAVE_SQL[] =
    "WITH w AS ("
    " SELECT id, slot_id, status FROM waitlist"
    " WHERE id = $1::bigint AND event_id = $2::bigint AND token_hash = $3 FOR UPDATE"
    "), u AS ("
    " UPDATE waitlist x SET status = 'left', updated_at = now() FROM w"
    " WHERE x.id = w.id AND w.status IN ('waiting', 'offered')"
    " RETURNING yk_waitlist_json(x)::text AS j"
    "), s AS ("
    " UPDATE slots s SET held = s.held - 1 FROM w WHERE s.id = w.slot_id AND w.status = 'offered'"
    ")"
    " SELECT w.status, w.slot_id, coalesce((SELECT j FROM u),"
    "  (SELECT yk_waitlist_json(x)::text FROM waitlist x WHERE x.id = w.id)),"
    "  (SELECT count(*) FROM waitlist x WHERE x.slot_id = w.slot_id AND x.status = 'waiting')"
    "  - (w.status = 'waiting')::int FROM w";

/* What the timer acts on: lapsed offers (entry id set), and slots with a free seat and a line
 * (entry id NULL); each with its event and partition key. Driven by the slots with a free seat
 * (a full slot, however long its line, costs nothing here) and the partial indexes of 0012. */
static const char TICK_SQL[] =
    "SELECT w.id, w.slot_id, w.event_id, coalesce(e.partition_key, e.campaign, e.slug)"
    " FROM waitlist w JOIN events e ON e.id = w.event_id"
    " WHERE w.status = 'offered' AND w.offer_expires_at <= now()"
    " UNION ALL SELECT NULL::bigint, s.id, s.event_id, coalesce(e.partition_key, e.campaign, "
    "e.slug)"
    " FROM slots s JOIN events e ON e.id = s.event_id"
    " WHERE s.booked + s.held < s.capacity AND s.ends_at > now() AND EXISTS"
    " (SELECT 1 FROM waitlist w WHERE w.slot_id = s.id AND w.status = 'waiting')";

/* $1 entry: a lapsed offer expires and gives its held seat back. */
static const char EXPIRE_SQL[] =
    "WITH x AS (UPDATE waitlist SET status = 'expired', updated_at = now()"
    " WHERE id = $1::bigint AND status = 'offered' AND offer_expires_at <= now()"
    " RETURNING slot_id)"
    " UPDATE slots s SET held = s.held - 1 FROM x WHERE s.id = x.slot_id RETURNING s.id";

static const struct {
    const char *error, *message;
} waitlist_refusals[] = {
    {"waitlist_closed", "This slot takes no waitlist entries."},
    {"slot_available", "This slot has a free seat: book it instead."},
    {"already_booked", "You already hold the maximum number of bookings for this event."},
    {"offer_expired", "This offer has expired."},
    {"not_offered", "No seat is offered to this entry."},
};

static void waitlist_refuse(entry *en, const char *error)
{
    for (size_t i = 0; i < sizeof waitlist_refusals / sizeof waitlist_refusals[0]; i++)
        if (strcmp(error, waitlist_refusals[i].error) == 0) {
            answer_refuse(en, 409, waitlist_refusals[i].error, waitlist_refusals[i].message);
            return;
        }
    answer_refuse(en, 500, "internal", "The request could not be processed.");
}

static bool is_decimal(const char *s, int64_t *out)
{
    int64_t v = 0;
    size_t i = 0;
    for (; s && s[i] >= '0' && s[i] <= '9' && i < 18; i++)
        v = v * 10 + (s[i] - '0');
    *out = v;
    return s && i > 0 && s[i] == '\0' && v > 0;
}

static bool is_hex64(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n == YK_HASH_HEX_LEN && strspn(s, "0123456789abcdef") == n;
}

int waitlist_decode(entry *en)
{
    if (en->type == NULL || en->type[0] != 'w')
        return 0;
    bool join = strcmp(en->type, "wjoin") == 0, accept = strcmp(en->type, "waccept") == 0;
    if (!join && !accept && strcmp(en->type, "wleave") != 0)
        return 0; /* unsupported: decode_entry answers it */
    en->wl = true;
    if (join)
        return 0;
    int64_t id;
    if (!en->ing || !*en->ing || !is_decimal(en->ev_s, &en->ev) || !is_hex64(en->th) ||
        !is_decimal(en->entry_s, &id) ||
        (accept && (en->tok == NULL || strlen(en->tok) != YK_TOKEN_LEN))) {
        yk_error("request=%s: malformed waitlist entry", en->rid);
        answer_refuse(en, 500, "internal", "The request could not be processed.");
        return 1;
    }
    en->st = ENTRY_NEW;
    return 1;
}

/* Tells the ingresses how many entries wait in slot's line (the slots list's "waiting"): a
 * message on yk:events beside the seat counts. A failure is not the entry's: the connection's
 * loss shows at the batch's answer pipeline, and the next change of the line sends it again. */
static void waitlist_tell(worker *w, int64_t ev, int64_t slot, int waiting)
{
    char msg[96];
    snprintf(msg, sizeof msg, "waiting %lld %lld %d", (long long)ev, (long long)slot, waiting);
    yk_rconn_free(yk_rconn_command(w->redis, 3, (const char *[]){"PUBLISH", "yk:events", msg}));
}

/* Runs OFFER_SQL for slot and sets the cached slot from its result. 1 done (*left: the seats the
 * slot has for anyone now), 0 failed (logged; stale[p] set when given), -1 session lost. */
static int waitlist_offer(worker *w, unsigned p, int64_t ev, int64_t slot, int *left)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)slot);
    const char *params[] = {ids};
    yk_pgres *r =
        yk_pgconn_run(w->pg, &(yk_pgconn_stmt){.sql = OFFER_SQL, .n = 1, .values = params});
    if (!yk_pgres_ok(r) || yk_pgres_rows(r) != 1) {
        yk_error("slot=%s: waitlist offer failed: %s", ids, yk_pgconn_error(w->pg));
        yk_pgres_free(r);
        return yk_pgconn_lost(w->pg) ? -1 : 0;
    }
    int taken = (int)yk_pgres_int(r, 0, 0, 0), capacity = (int)yk_pgres_int(r, 0, 1, 0);
    int waiting = (int)yk_pgres_int(r, 0, 2, 0), offered = (int)yk_pgres_int(r, 0, 3, 0);
    yk_pgres_free(r);
    persist_event *e;
    persist_slot *s = partitions_cached_slot(w, p, ev, slot, &e);
    if (s) {
        s->booked = taken;
        s->waiting = waiting;
    }
    *left = waiting > 0 || taken >= capacity ? 0 : capacity - taken;
    if (offered > 0)
        waitlist_tell(w, ev, slot, waiting);
    if (offered > 0)
        yk_info("slot=%s: %d seat(s) offered to the waitlist (%d still waiting)", ids, offered,
                waiting);
    return 1;
}

/* The answer of a statement that failed: a retry, unless the session is gone. */
static int waitlist_failed(worker *w, entry *en, yk_pgres *r, const char *what)
{
    yk_error("request=%s: waitlist %s failed: sqlstate=%s %s", en->rid, what, yk_pgres_sqlstate(r),
             yk_pgconn_error(w->pg));
    yk_pgres_free(r);
    en->st = ENTRY_RETRY;
    return yk_pgconn_lost(w->pg) ? -1 : 0;
}

static int waitlist_join(worker *w, entry *en)
{
    if (en->found < 0) {
        en->st = ENTRY_RETRY;
        return 0;
    }
    if (en->found == 0) {
        answer_refuse(en, 404, "not_found", "Not found.");
        return 0;
    }
    persist_slot *s = en->s;
    const char *refusal = "";
    if (s->booked < s->capacity && s->waiting == 0)
        refusal = "slot_available";
    else if (en->e->counts && (intptr_t)map_get(en->e->counts, en->ident) >= en->e->limit)
        refusal = "already_booked";
    char th[YK_HASH_HEX_LEN + 1];
    yk_token_sha256_hex(en->tok, strlen(en->tok), th);
    const char *params[] = {en->rid,   en->ev_s,     en->slot_s, en->email,
                            en->ident, en->fields_s, th,         refusal};
    yk_pgres *r =
        yk_pgconn_run(w->pg, &(yk_pgconn_stmt){.sql = JOIN_SQL, .n = 8, .values = params});
    if (!yk_pgres_ok(r) || yk_pgres_rows(r) != 1)
        return waitlist_failed(w, en, r, "join");
    if (!yk_pgres_null(r, 0, 0)) {
        waitlist_refuse(en, yk_pgres_text(r, 0, 0));
    } else if (!yk_pgres_null(r, 0, 1)) {
        answer_json(en, 201, "entry", yk_pgres_text(r, 0, 1), true);
        en->result = "waitlisted";
        s->waiting = (int)yk_pgres_int(r, 0, 3, s->waiting + 1);
        en->touched = true; /* its free seats, if any, are the line's now */
        waitlist_tell(w, en->ev, en->slot, s->waiting);
    } else if (!yk_pgres_null(r, 0, 2)) {
        answer_json(en, 201, "entry", yk_pgres_text(r, 0, 2), true); /* a redelivery */
        en->result = "duplicate";
    } else {
        answer_refuse(en, 409, "already_waiting", "You are already on this slot's waitlist.");
    }
    yk_pgres_free(r);
    return 0;
}

/* The partition's memory after an accepted offer: the identity's count and, where an event of
 * the partition depends on this one, its history. false when it cannot follow (reread). */
static bool waitlist_remember(worker *w, entry *en, const char *ident, int64_t start, int taken)
{
    persist_event *e;
    persist_slot *s = partitions_cached_slot(w, en->p, en->ev, en->slot, &e);
    if (e == NULL)
        return true; /* read with the booking when next needed */
    if (s)
        s->booked = taken;
    void **count = e->counts ? map_ref(e->counts, ident) : NULL;
    if (e->counts && count == NULL)
        return false;
    if (count)
        *count = (void *)((intptr_t)*count + 1);
    map *hist = e->scopes ? map_get(e->scopes, e->hist_key) : NULL;
    return hist == NULL || prior_add(hist, ident, start, false) == 0;
}

static int waitlist_accept(worker *w, entry *en, bool *stale)
{
    char th[YK_HASH_HEX_LEN + 1];
    yk_token_sha256_hex(en->tok, strlen(en->tok), th);
    const char *params[] = {en->entry_s, en->ev_s, en->th, en->rid, th};
    yk_pgres *r =
        yk_pgconn_run(w->pg, &(yk_pgconn_stmt){.sql = ACCEPT_SQL, .n = 5, .values = params});
    if (!yk_pgres_ok(r))
        return waitlist_failed(w, en, r, "accept");
    if (yk_pgres_rows(r) != 1) {
        answer_refuse(en, 404, "not_found", "No such waitlist entry.");
    } else if (!yk_pgres_null(r, 0, 0)) {
        waitlist_refuse(en, yk_pgres_text(r, 0, 0));
    } else {
        persist_booking b = {
            .id = yk_pgres_text(r, 0, 1),
            .slot_id = yk_pgres_text(r, 0, 2),
            .status = yk_pgres_text(r, 0, 3),
            .email = yk_pgres_text(r, 0, 4),
            .fields = yk_pgres_text(r, 0, 5),
            .created_at = yk_pgres_text(r, 0, 6),
            .slug = yk_pgres_text(r, 0, 7),
            .starts_at = yk_pgres_text(r, 0, 8),
            .ends_at = yk_pgres_text(r, 0, 9),
            .request_id = "",
            .token_hash = "",
            .identity = "",
        };
        answer_committed(en, &b);
        en->result = "confirmed";
        en->slot = yk_pgres_int(r, 0, 13, 0);
        en->touched = true;
        if (!waitlist_remember(w, en, yk_pgres_text(r, 0, 10), yk_pgres_int(r, 0, 11, 0),
                               (int)yk_pgres_int(r, 0, 12, 0)))
            stale[en->p] = true;
        yk_info("request=%s waitlist entry=%s accepted: booking %s", en->rid, en->entry_s, b.id);
    }
    yk_pgres_free(r);
    return 0;
}

static int waitlist_leave(worker *w, entry *en, bool *stale)
{
    const char *params[] = {en->entry_s, en->ev_s, en->th};
    yk_pgres *r =
        yk_pgconn_run(w->pg, &(yk_pgconn_stmt){.sql = LEAVE_SQL, .n = 3, .values = params});
    if (!yk_pgres_ok(r))
        return waitlist_failed(w, en, r, "leave");
    if (yk_pgres_rows(r) != 1) {
        answer_refuse(en, 404, "not_found", "No such waitlist entry.");
        yk_pgres_free(r);
        return 0;
    }
    const char *was = yk_pgres_text(r, 0, 0);
    en->slot = yk_pgres_int(r, 0, 1, 0);
    answer_json(en, 200, "entry", yk_pgres_text(r, 0, 2), false);
    en->result = "left";
    persist_event *e;
    persist_slot *s = partitions_cached_slot(w, en->p, en->ev, en->slot, &e);
    int rc = 0, left;
    if (strcmp(was, "offered") == 0) { /* its seat goes to the next in line */
        en->touched = true;
        rc = waitlist_offer(w, en->p, en->ev, en->slot, &left);
        stale[en->p] |= rc == 0; /* the seat given back is not in memory: reread */
        rc = rc < 0 ? -1 : 0;
    } else if (strcmp(was, "waiting") == 0) {
        int waiting = (int)yk_pgres_int(r, 0, 3, 0);
        if (s)
            s->waiting = waiting;
        en->touched = true;
        waitlist_tell(w, en->ev, en->slot, waiting);
    }
    yk_pgres_free(r);
    return rc;
}

worker_status waitlist_run(worker *w, entry *v, size_t n, bool *stale)
{
    for (size_t i = 0; i < n; i++) {
        entry *en = &v[i];
        int rc = 0, left;
        if (en->wl && en->st == ENTRY_NEW) {
            rc = strcmp(en->type, "wjoin") == 0     ? waitlist_join(w, en)
                 : strcmp(en->type, "waccept") == 0 ? waitlist_accept(w, en, stale)
                                                    : waitlist_leave(w, en, stale);
        } else if (en->cancel && en->effect && en->committed && en->found > 0 &&
                   en->s->waiting > 0) {
            /* a seat freed in a slot with a line: held for its first entry at once */
            rc = waitlist_offer(w, en->p, en->ev, en->slot, &left);
            if (rc == 0)
                stale[en->p] = true;
            rc = rc < 0 ? -1 : 0;
        }
        if (rc < 0)
            return WORKER_PG_LOST;
    }
    return WORKER_OK;
}

/* Publishes a slot's seats as the batch's answer pipeline does (proto/streams.md). */
static worker_status waitlist_publish(worker *w, int64_t ev, int64_t slot, int left)
{
    char key[48], field[24], value[24], msg[96];
    snprintf(key, sizeof key, "yk:remaining:%lld", (long long)ev);
    snprintf(field, sizeof field, "%lld", (long long)slot);
    snprintf(value, sizeof value, "%d", left);
    snprintf(msg, sizeof msg, "remaining %lld %lld %d", (long long)ev, (long long)slot, left);
    yk_reply *a = yk_rconn_command(w->redis, 4, (const char *[]){"HSET", key, field, value});
    yk_reply *b =
        a ? yk_rconn_command(w->redis, 3, (const char *[]){"PUBLISH", "yk:events", msg}) : NULL;
    worker_status st = a && b ? WORKER_OK : WORKER_REDIS_LOST;
    yk_rconn_free(a);
    yk_rconn_free(b);
    return st;
}

worker_status waitlist_tick(worker *w)
{
    if (w->pg == NULL || w->redis == NULL)
        return WORKER_OK;
    yk_pgres *r = yk_pgconn_run(w->pg, &(yk_pgconn_stmt){.sql = TICK_SQL});
    if (!yk_pgres_ok(r)) {
        yk_error("waitlist tick failed: %s", yk_pgconn_error(w->pg));
        yk_pgres_free(r);
        return yk_pgconn_lost(w->pg) ? WORKER_PG_LOST : WORKER_OK;
    }
    worker_status st = WORKER_OK;
    for (int i = 0; i < yk_pgres_rows(r) && st == WORKER_OK; i++) {
        unsigned p = yk_partition_of(yk_pgres_text(r, i, 3), (unsigned)w->partitions);
        if (!w->parts[p].owned || w->parts[p].setup)
            continue; /* another worker's, or not replayed yet */
        int64_t slot = yk_pgres_int(r, i, 1, 0), ev = yk_pgres_int(r, i, 2, 0);
        if (!yk_pgres_null(r, i, 0)) {
            const char *params[] = {yk_pgres_text(r, i, 0)};
            yk_pgres *x = yk_pgconn_run(
                w->pg, &(yk_pgconn_stmt){.sql = EXPIRE_SQL, .n = 1, .values = params});
            bool ok = yk_pgres_ok(x);
            if (ok && yk_pgres_rows(x) == 1)
                yk_info("waitlist entry=%s: offer expired", params[0]);
            yk_pgres_free(x);
            if (!ok) {
                yk_error("waitlist expiry failed: %s", yk_pgconn_error(w->pg));
                st = yk_pgconn_lost(w->pg) ? WORKER_PG_LOST : WORKER_OK;
                continue;
            }
        }
        int left, rc = waitlist_offer(w, p, ev, slot, &left);
        if (rc == 0)
            partitions_forget(w, p); /* an expired offer's seat is not in memory: reread */
        if (rc < 0)
            st = WORKER_PG_LOST;
        else if (rc > 0)
            st = waitlist_publish(w, ev, slot, left);
    }
    yk_pgres_free(r);
    return st;
}
