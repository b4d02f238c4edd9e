/* outbox: the notifier's side of the mail_outbox table — claiming due rows under a lease,
 * recording outcomes, LISTEN yk_outbox, and the pending count for metrics. */
#ifndef OUTBOX_H
#define OUTBOX_H

#include <stdint.h>
#include <uv.h>

#include "notifier.h"
#include "yk_pgres.h"

typedef struct outbox outbox;

/* The columns of the claim statement, in order: what outbox_job_from_row reads. */
typedef enum {
    OUTBOX_COL_ID,
    OUTBOX_COL_KIND,
    OUTBOX_COL_STATUS,
    OUTBOX_COL_ATTEMPTS,
    OUTBOX_COL_BOOKING,
    OUTBOX_COL_STAMP,
    OUTBOX_COL_REQUEST,
    OUTBOX_COL_EMAIL,
    OUTBOX_COL_NAME,
    OUTBOX_COL_TITLE,
    OUTBOX_COL_VENUE,
    OUTBOX_COL_TZ,
    OUTBOX_COL_LANG,
    OUTBOX_COL_START_LOCAL,
    OUTBOX_COL_END_LOCAL,
    OUTBOX_COL_CANCEL_LOCAL,
    OUTBOX_COL_STARTS_AT,
    OUTBOX_COL_ENDS_AT,
    OUTBOX_COL_STARTS_EPOCH,
    OUTBOX_COL_ENDS_EPOCH,
    OUTBOX_COL_LAST_ERROR,
    OUTBOX_COL_COUNT
} outbox_col;

/* A new job from row r of a claim's result (columns as above; strings copied into one allocation
 * the job owns, NULL values kept as NULL pointers, status cancelled/dead settled in result). NULL
 * when memory runs out. The caller frees it with job_free. */
__attribute__((warn_unused_result)) mail_job *outbox_job_from_row(const yk_pgres *res, int r);

typedef struct {
    /* A claim finished. jobs is a list the receiver owns (job_free each). A job whose result is
     * MAIL_CANCELLED or MAIL_DEAD was settled by the claim itself (booking cancelled; claimed
     * max_attempts times already) and must not be sent or finished; every other job is to be sent
     * and then handed to outbox_finish. rows is how many rows the claim took (< limit: nothing
     * more is due now); ok is 0 when the query failed. */
    void (*claimed)(void *ud, mail_job *jobs, int rows, int ok);
    /* A NOTIFY yk_outbox arrived, or the LISTEN session (re)started and may have missed some. */
    void (*notified)(void *ud);
    /* Another statement (outcomes, pending count) finished: outbox_idle may have changed. */
    void (*progress)(void *ud);
} outbox_callbacks;

typedef struct {
    const char *conninfo;
    int64_t lease_s;      /* a claim holds its rows this long (due_at = now() + lease) */
    int64_t max_attempts; /* a row claimed this often without an outcome is dead */
} outbox_config;

/* conninfo is copied; cb and ud are borrowed and must outlive o. Connects at once, from the
 * loop, and LISTENs yk_outbox. Every callback runs from the loop, never inside an outbox_* call. */
__attribute__((warn_unused_result)) int outbox_open(outbox **out, uv_loop_t *loop,
                                                    const outbox_config *cfg,
                                                    const outbox_callbacks *cb, void *ud);

/* Claims up to limit due rows (oldest due first, SKIP LOCKED, attempts + 1, due_at pushed to the
 * lease's end). One claim at a time: returns -1 while one is running or if it cannot be queued
 * (then cb->claimed will not be called), else 0. */
__attribute__((warn_unused_result)) int outbox_claim(outbox *o, int limit);

/* Records job->result (SENT, RETRY with job->retry delay, DEAD, RELEASE) for the row; the job may
 * be freed on return. Outcomes are written in batches, one statement at a time; the write is
 * fenced by job->attempt, so a row re-claimed by another notifier after our lease lapsed keeps
 * its new claim (but SENT always wins). Failed writes are kept and retried by outbox_flush. */
void outbox_finish(outbox *o, const mail_job *job, int64_t retry_ms);

/* Writes the outcomes recorded so far if no write is running. */
void outbox_flush(outbox *o);

/* 1 when no outcome is waiting to be written and no query is running. */
int outbox_idle(const outbox *o);

/* Re-counts pending rows; the last count is in outbox_pending (-1 before the first). */
void outbox_refresh_pending(outbox *o);
long long outbox_pending(const outbox *o);

int outbox_connected(const outbox *o);
/* Connected and PostgreSQL answered within the last second (yk_pg_ready). */
int outbox_ready(const outbox *o);

/* Stops listening and closes the session; outcomes not yet written are dropped (their rows are
 * claimed again when the lease lapses). No callback runs after this call, not even for a claim
 * in flight (its rows come back when their lease lapses); o is freed before it returns. */
void outbox_close(outbox *o);

#endif
