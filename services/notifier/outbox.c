/* outbox: owns the PostgreSQL session (yk_pg: queries and LISTEN yk_outbox) and the outcomes
 * waiting to be written. Every SQL statement the notifier runs is here. */
#include "outbox.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yk_log.h"
#include "yk_pg.h"

struct outbox {
    uv_loop_t *loop;
    yk_pg *pg;
    int64_t lease_s, max_attempts;
    const outbox_callbacks *cb;
    void *ud;

    yk_pg_op claim_op;
    int claiming;

    yk_pg_op mark_op;
    json_t *results; /* outcomes not yet sent: [{id, attempt, result, delay_ms, error}] */
    json_t *writing; /* the batch in flight, NULL if none */

    yk_pg_op count_op;
    int counting;
    long long pending;

    int closing;
};

const char *mail_result_name(mail_result r)
{
    switch (r) {
    case MAIL_SENT:
        return "sent";
    case MAIL_RETRY:
        return "retry";
    case MAIL_DEAD:
        return "dead";
    case MAIL_CANCELLED:
        return "cancelled";
    case MAIL_RELEASE:
        return "release";
    }
    return "?";
}

void job_free(mail_job *job)
{
    if (job) {
        free(job->strings);
        free(job);
    }
}

void job_set_error(mail_job *job, const char *text)
{
    size_t i = 0;
    for (; text[i] && i < sizeof job->error - 1; i++) {
        unsigned char c = (unsigned char)text[i];
        job->error[i] = c >= 0x20 && c < 0x7f && c != '"' ? (char)c : '?';
    }
    job->error[i] = '\0';
}

/* ---- reminder jobs */

/* The worker writes only the confirmation job with a booking (one outbox row per booking in the
 * rush's commit); the reminder job is written here, in the statement that settles the booking's
 * confirmation (sent, or dead), so a booking whose confirmation is settled has its reminder job.
 * It reads the statement's CTE named settled (booking_id, kind, status): the rows the statement
 * settled, with their new status. The reminder is due reminder.days_before days before the slot's
 * local date at reminder.at local time in the event's zone (AT TIME ZONE handles DST), and only
 * when that is after the booking was made and before the slot starts; a due time already past
 * (the notifier was down) is still written and sent at once. Only a booking still confirmed gets
 * one: a cancellation committed concurrently with this statement is not seen here, and its own
 * statement cannot see this row, but the claim re-reads the booking and settles the row
 * cancelled. ON CONFLICT keeps it one per booking when an outcome is written twice. */
#define REMINDER_INSERT                                                                            \
    "INSERT INTO mail_outbox (booking_id, kind, due_at)"                                           \
    " SELECT b.id, 'reminder', r.due FROM settled c JOIN bookings b ON b.id = c.booking_id"        \
    "  JOIN slots s ON s.id = b.slot_id JOIN events e ON e.id = b.event_id"                        \
    "  CROSS JOIN LATERAL (SELECT coalesce(e.reminder->>'days_before', '1') AS days,"              \
    "   coalesce(e.reminder->>'at', '10:00') AS at) p"                                             \
    "  CROSS JOIN LATERAL (SELECT CASE WHEN p.days ~ '^[0-9]{1,4}$'"                               \
    "   AND p.at ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'"                                              \
    "   THEN (((s.starts_at AT TIME ZONE e.timezone)::date - p.days::int) + p.at::time)"           \
    "    AT TIME ZONE e.timezone END AS due) r"                                                    \
    " WHERE c.kind = 'confirmation' AND c.status IN ('sent', 'dead') AND b.status = 'confirmed'"   \
    "  AND r.due > b.created_at AND r.due < s.starts_at AND s.starts_at > now()"                   \
    " ORDER BY b.id ON CONFLICT (booking_id, kind) DO NOTHING"

/* ---- claiming */

/* The rows of waitlist offers (proto/sql/0012: a row names its waitlist entry instead of a
 * booking) in the claim's columns: the entry's id and request id stand for the booking's (the
 * link's token derives from the request id, as a booking's), the offer's expiry for the cancel
 * deadline (render.c shows it as the time to accept by). */
#define WAITLIST_OFFER_ROWS                                                                        \
    "SELECT c.id, c.kind, c.status, c.attempts, c.waitlist_id,"                                    \
    "  extract(epoch FROM c.created_at)::bigint, w.request_id, w.email, w.fields->>'name',"        \
    "  e.title, e.venue, e.timezone, e.lang,"                                                      \
    "  to_char(s.starts_at AT TIME ZONE e.timezone, 'YYYY-MM-DD-ID-HH24:MI'),"                     \
    "  to_char(s.ends_at AT TIME ZONE e.timezone, 'YYYY-MM-DD-ID-HH24:MI'),"                       \
    "  to_char(w.offer_expires_at AT TIME ZONE e.timezone, 'YYYY-MM-DD-ID-HH24:MI'),"              \
    "  yk_rfc3339(s.starts_at, e.timezone), yk_rfc3339(s.ends_at, e.timezone),"                    \
    "  extract(epoch FROM s.starts_at)::bigint, extract(epoch FROM s.ends_at)::bigint,"            \
    "  c.last_error "                                                                              \
    "FROM claimed c JOIN waitlist w ON w.id = c.waitlist_id JOIN slots s ON s.id = w.slot_id"      \
    "  JOIN events e ON e.id = w.event_id"

/* The claim and everything the mail shows, in one statement: rows are locked (SKIP LOCKED, so
 * notifiers never wait for each other), leased by pushing due_at past now, and settled at once
 * when their booking was cancelled (except the cancellation mail itself) or when they were
 * claimed max_attempts times already without an outcome (a notifier died holding them); a
 * confirmation settled dead here gets its booking's reminder job as one settled by an outcome
 * does. The booking's status is read here, at each claim: no reminder or confirmation of a
 * booking cancelled before its claim is sent. The cancel deadline is NULL when it passes before
 * the lease ends (a send ends before the lease does), so no mail promises a past deadline. */
static const char sql_claim[] =
    "WITH picked AS ("
    "  SELECT id FROM mail_outbox WHERE status = 'pending' AND due_at <= now()"
    "  ORDER BY due_at LIMIT $1::int FOR UPDATE SKIP LOCKED"
    "), claimed AS ("
    "  UPDATE mail_outbox o SET attempts = o.attempts + 1,"
    "    due_at = now() + make_interval(secs => $2::int),"
    "    status = CASE WHEN o.kind <> 'cancellation' AND b.status = 'cancelled' THEN 'cancelled'"
    "                  WHEN o.kind = 'waitlist_offer' AND NOT EXISTS (SELECT 1 FROM waitlist w"
    "                   WHERE w.id = o.waitlist_id AND w.status = 'offered') THEN 'cancelled'"
    "                  WHEN o.attempts >= $3::int THEN 'dead' ELSE 'pending' END,"
    "    last_error = CASE WHEN o.kind <> 'cancellation' AND b.status = 'cancelled'"
    "                      THEN o.last_error"
    "                      WHEN o.attempts >= $3::int"
    "                      THEN 'claimed ' || o.attempts || ' times without an outcome; last: '"
    "                           || coalesce(o.last_error, 'none')"
    "                      ELSE o.last_error END"
    "  FROM picked p JOIN mail_outbox q ON q.id = p.id LEFT JOIN bookings b ON b.id = q.booking_id"
    "  WHERE o.id = p.id"
    "  RETURNING o.id, o.kind, o.status, o.attempts, o.booking_id, o.created_at, o.last_error,"
    "   o.waitlist_id"
    "), settled AS (SELECT booking_id, kind, status FROM claimed"
    "), reminders AS (" REMINDER_INSERT ") "
    "SELECT c.id, c.kind, c.status, c.attempts, c.booking_id,"
    "  extract(epoch FROM c.created_at)::bigint, b.request_id, b.email, b.fields->>'name',"
    "  e.title, e.venue, e.timezone, e.lang,"
    "  to_char(s.starts_at AT TIME ZONE e.timezone, 'YYYY-MM-DD-ID-HH24:MI'),"
    "  to_char(s.ends_at AT TIME ZONE e.timezone, 'YYYY-MM-DD-ID-HH24:MI'),"
    "  CASE WHEN s.starts_at - make_interval(hours => e.cancel_until_hours)"
    "            > now() + make_interval(secs => $2::int)"
    "  THEN to_char((s.starts_at - make_interval(hours => e.cancel_until_hours))"
    "          AT TIME ZONE e.timezone, 'YYYY-MM-DD-ID-HH24:MI') END,"
    "  yk_rfc3339(s.starts_at, e.timezone), yk_rfc3339(s.ends_at, e.timezone),"
    "  extract(epoch FROM s.starts_at)::bigint, extract(epoch FROM s.ends_at)::bigint,"
    "  c.last_error "
    "FROM claimed c JOIN bookings b ON b.id = c.booking_id JOIN slots s ON s.id = b.slot_id"
    "  JOIN events e ON e.id = b.event_id"
    " UNION ALL " WAITLIST_OFFER_ROWS " ORDER BY 1";

mail_job *outbox_job_from_row(const yk_pgres *res, int r)
{
    static const int text_cols[] = {
        OUTBOX_COL_KIND,        OUTBOX_COL_REQUEST,   OUTBOX_COL_EMAIL,        OUTBOX_COL_NAME,
        OUTBOX_COL_TITLE,       OUTBOX_COL_VENUE,     OUTBOX_COL_TZ,           OUTBOX_COL_LANG,
        OUTBOX_COL_START_LOCAL, OUTBOX_COL_END_LOCAL, OUTBOX_COL_CANCEL_LOCAL, OUTBOX_COL_STARTS_AT,
        OUTBOX_COL_ENDS_AT};
    enum { NT = sizeof text_cols / sizeof text_cols[0] };
    size_t total = 0;
    for (int i = 0; i < NT; i++)
        total += strlen(yk_pgres_text(res, r, text_cols[i])) + 1;
    mail_job *job = calloc(1, sizeof *job);
    char *buf = job ? malloc(total) : NULL;
    if (buf == NULL) {
        free(job);
        return NULL;
    }
    job->strings = buf;
    const char *s[OUTBOX_COL_COUNT] = {0};
    for (int i = 0; i < NT; i++) {
        int c = text_cols[i];
        const char *v = yk_pgres_text(res, r, c);
        size_t n = strlen(v);
        memcpy(buf, v, n + 1);
        s[c] = yk_pgres_null(res, r, c) ? NULL : buf;
        buf += n + 1;
    }
    job->id = yk_pgres_int(res, r, OUTBOX_COL_ID, 0);
    job->attempt = (int)yk_pgres_int(res, r, OUTBOX_COL_ATTEMPTS, 0);
    job->b = (mail_booking){
        .booking_id = yk_pgres_int(res, r, OUTBOX_COL_BOOKING, 0),
        .kind = s[OUTBOX_COL_KIND],
        .lang = s[OUTBOX_COL_LANG],
        .request_id = s[OUTBOX_COL_REQUEST],
        .email = s[OUTBOX_COL_EMAIL],
        .name = s[OUTBOX_COL_NAME],
        .title = s[OUTBOX_COL_TITLE],
        .venue = s[OUTBOX_COL_VENUE],
        .timezone = s[OUTBOX_COL_TZ],
        .start_local = s[OUTBOX_COL_START_LOCAL],
        .end_local = s[OUTBOX_COL_END_LOCAL],
        .cancel_local = s[OUTBOX_COL_CANCEL_LOCAL],
        .starts_at = s[OUTBOX_COL_STARTS_AT],
        .ends_at = s[OUTBOX_COL_ENDS_AT],
        .starts_epoch = yk_pgres_int(res, r, OUTBOX_COL_STARTS_EPOCH, 0),
        .ends_epoch = yk_pgres_int(res, r, OUTBOX_COL_ENDS_EPOCH, 0),
        .stamp_epoch = yk_pgres_int(res, r, OUTBOX_COL_STAMP, 0),
    };
    const char *status = yk_pgres_text(res, r, OUTBOX_COL_STATUS);
    job->result = strcmp(status, "cancelled") == 0 ? MAIL_CANCELLED
                  : strcmp(status, "dead") == 0    ? MAIL_DEAD
                                                   : MAIL_RETRY;
    if (job->result == MAIL_DEAD)
        job_set_error(job, yk_pgres_text(res, r, OUTBOX_COL_LAST_ERROR));
    return job;
}

static void claim_cb(yk_pg_op *op, yk_pgres *res)
{
    outbox *o = (outbox *)((char *)op - offsetof(outbox, claim_op));
    o->claiming = 0;
    if (o->closing)
        return;
    if (!yk_pgres_ok(res) || yk_pgres_cols(res) != OUTBOX_COL_COUNT) {
        if (res)
            yk_warn("outbox claim failed err=\"%s\"", yk_pgres_error(res));
        o->cb->claimed(o->ud, NULL, 0, 0);
        return;
    }
    /* The rows are ours now; one we cannot hold in memory comes back when its lease lapses. */
    mail_job *head = NULL, **tail = &head;
    int n = yk_pgres_rows(res);
    for (int r = 0; r < n; r++) {
        mail_job *job = outbox_job_from_row(res, r);
        if (job == NULL) {
            yk_error("out of memory holding a claimed mail; it is retried after its lease");
            continue;
        }
        *tail = job;
        tail = &job->next;
    }
    o->cb->claimed(o->ud, head, n, 1);
}

int outbox_claim(outbox *o, int limit)
{
    if (o->claiming || o->closing || limit <= 0)
        return -1;
    char p_limit[16], p_lease[24], p_max[24];
    snprintf(p_limit, sizeof p_limit, "%d", limit);
    snprintf(p_lease, sizeof p_lease, "%lld", (long long)o->lease_s);
    snprintf(p_max, sizeof p_max, "%lld", (long long)o->max_attempts);
    const char *params[] = {p_limit, p_lease, p_max};
    o->claim_op.cb = claim_cb;
    if (yk_pg_query(o->pg, &o->claim_op, sql_claim, 3, params) != 0)
        return -1;
    o->claiming = 1; /* claim_cb runs later, from the loop */
    return 0;
}

/* ---- outcomes */

/* Fenced by the attempt number: after our lease lapsed another notifier may hold the row, and
 * only its outcome counts — except a delivery, which always ends the row. A confirmation that
 * ends here (sent or dead) gets its booking's reminder job in the same statement. */
static const char sql_mark[] =
    "WITH settled AS ("
    "UPDATE mail_outbox o SET"
    "  status = CASE u.result WHEN 'sent' THEN 'sent' WHEN 'dead' THEN 'dead' ELSE 'pending' END,"
    "  sent_at = CASE WHEN u.result = 'sent' THEN now() ELSE o.sent_at END,"
    "  due_at = CASE u.result WHEN 'retry' THEN now() + u.delay_ms * interval '1 millisecond'"
    "                         WHEN 'release' THEN now() ELSE o.due_at END,"
    "  attempts = CASE WHEN u.result = 'release' THEN o.attempts - 1 ELSE o.attempts END,"
    "  last_error = CASE WHEN u.result IN ('retry', 'dead') THEN u.error ELSE o.last_error END "
    "FROM jsonb_to_recordset($1::jsonb)"
    "  AS u(id bigint, attempt integer, result text, delay_ms bigint, error text) "
    "WHERE o.id = u.id AND o.status = 'pending' AND (u.result = 'sent' OR o.attempts = u.attempt)"
    " RETURNING o.booking_id, o.kind, o.status"
    ") " REMINDER_INSERT;

static void mark_cb(yk_pg_op *op, yk_pgres *res)
{
    outbox *o = (outbox *)((char *)op - offsetof(outbox, mark_op));
    json_t *batch = o->writing;
    o->writing = NULL;
    if (yk_pgres_ok(res)) {
        json_decref(batch);
        if (!o->closing) {
            outbox_flush(o);
            o->cb->progress(o->ud);
        }
        return;
    }
    if (res)
        yk_warn("outbox outcome write failed err=\"%s\"", yk_pgres_error(res));
    /* Keep them: the next flush (a poll tick) writes them together with newer ones. */
    json_array_extend(batch, o->results);
    json_decref(o->results);
    o->results = batch;
}

void outbox_finish(outbox *o, const mail_job *job, int64_t retry_ms)
{
    json_t *r = json_pack("{sI sI ss sI ss}", "id", (json_int_t)job->id, "attempt",
                          (json_int_t)job->attempt, "result", mail_result_name(job->result),
                          "delay_ms", (json_int_t)retry_ms, "error", job->error);
    if (r == NULL || json_array_append_new(o->results, r) != 0)
        yk_error("out of memory recording mail %lld; it is retried after its lease",
                 (long long)job->id);
}

void outbox_flush(outbox *o)
{
    if (o->writing || o->closing || json_array_size(o->results) == 0)
        return;
    char *text = json_dumps(o->results, JSON_COMPACT);
    if (text == NULL)
        return;
    json_t *next = json_array();
    if (next == NULL) {
        free(text);
        return;
    }
    const char *params[] = {text};
    o->mark_op.cb = mark_cb;
    if (yk_pg_query(o->pg, &o->mark_op, sql_mark, 1, params) == 0) {
        o->writing = o->results; /* mark_cb, later, puts it back if the write fails */
        o->results = next;
    } else {
        json_decref(next);
    }
    free(text);
}

int outbox_idle(const outbox *o)
{
    return !o->claiming && !o->counting && o->writing == NULL && json_array_size(o->results) == 0;
}

/* ---- pending count */

static void count_cb(yk_pg_op *op, yk_pgres *res)
{
    outbox *o = (outbox *)((char *)op - offsetof(outbox, count_op));
    o->counting = 0;
    if (yk_pgres_rows(res) == 1)
        o->pending = yk_pgres_int(res, 0, 0, o->pending);
    if (!o->closing)
        o->cb->progress(o->ud);
}

void outbox_refresh_pending(outbox *o)
{
    if (o->counting || o->closing)
        return;
    o->count_op.cb = count_cb;
    if (yk_pg_query(o->pg, &o->count_op,
                    "SELECT count(*) FROM mail_outbox WHERE status = 'pending'", 0, NULL) == 0)
        o->counting = 1;
}

long long outbox_pending(const outbox *o)
{
    return o->pending;
}

int outbox_connected(const outbox *o)
{
    return yk_pg_connected(o->pg);
}

int outbox_ready(const outbox *o)
{
    return yk_pg_ready(o->pg);
}

/* ---- LISTEN yk_outbox (yk_pg LISTENs again on each new connection) */

static void notify_cb(void *ud, const char *channel, const char *payload)
{
    outbox *o = ud;
    if (payload == NULL) /* (re)listening: what was sent meanwhile was missed, look anyway */
        yk_info("outbox listening channel=%s", channel);
    if (!o->closing)
        o->cb->notified(o->ud);
}

/* ---- lifecycle */

int outbox_open(outbox **out, uv_loop_t *loop, const outbox_config *cfg, const outbox_callbacks *cb,
                void *ud)
{
    outbox *o = calloc(1, sizeof *o);
    if (o == NULL)
        return -1;
    o->loop = loop;
    o->lease_s = cfg->lease_s;
    o->max_attempts = cfg->max_attempts;
    o->cb = cb;
    o->ud = ud;
    o->pending = -1;
    o->results = json_array();
    if (o->results == NULL || yk_pg_open(&o->pg, loop, cfg->conninfo, 1000) != 0) {
        json_decref(o->results);
        free(o);
        return -1;
    }
    /* A claim (up to YOYAKU_MAIL_BATCH rows with their bookings) may take longer than the
     * default bound; a stalled server still fails it within seconds. */
    yk_pg_set_timeouts(o->pg, 0, 10000);
    if (yk_pg_listen(o->pg, "yk_outbox", notify_cb, o) != 0) {
        yk_pg_close(o->pg);
        json_decref(o->results);
        free(o);
        return -1;
    }
    *out = o;
    return 0;
}

void outbox_close(outbox *o)
{
    o->closing = 1;
    yk_pg_close(o->pg); /* fails what is queued now: the callbacks above see closing */
    json_decref(o->results);
    json_decref(o->writing);
    free(o);
}
