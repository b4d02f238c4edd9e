/* notifier: types shared by the modules of yoyaku-notifier (main.c pump, outbox.c, render.c,
 * smtp.c). A mail_job is one claimed mail_outbox row; main.c owns every job. */
#ifndef NOTIFIER_H
#define NOTIFIER_H

#include <stdint.h>

#include "yk_token.h"

/* What became of one claimed row. The strings are what mail_outbox.status takes, except
 * MAIL_RETRY (stays pending, due later) and MAIL_RELEASE (stays pending, due now, the claim's
 * attempt given back: the row was claimed but never handed to SMTP). */
typedef enum { MAIL_SENT, MAIL_RETRY, MAIL_DEAD, MAIL_CANCELLED, MAIL_RELEASE } mail_result;

const char *mail_result_name(mail_result r);

/* Everything render.c needs about a booking, copied out of the claim's result row. Every string
 * is owned by the job (freed by job_free); name may be NULL (the event has no "name" field). */
typedef struct {
    int64_t booking_id;
    const char *kind;       /* confirmation | reminder | cancellation */
    const char *lang;       /* ja | en */
    const char *request_id; /* the booking token derives from it */
    const char *email;
    const char *name;
    const char *title, *venue, *timezone;
    /* local wall-clock parts in the event's zone: "YYYY-MM-DD-ISODOW-HH24:MI"; cancel_local (the
     * cancel deadline) is NULL when it has passed by the time the send may end */
    const char *start_local, *end_local, *cancel_local;
    const char *starts_at, *ends_at; /* RFC 3339 with the zone's offset */
    int64_t starts_epoch, ends_epoch;
    int64_t stamp_epoch; /* the outbox row's creation: DTSTAMP, identical on every resend */
} mail_booking;

typedef struct mail_job {
    struct mail_job *next;
    int64_t id;            /* mail_outbox.id */
    int attempt;           /* mail_outbox.attempts after our claim: the fencing token */
    uint64_t lease_end_ms; /* uv_now() at which our claim lapses and another notifier may send */
    uint64_t started_ns;   /* uv_hrtime() when handed to SMTP */
    mail_booking b;
    char *strings; /* one allocation holding every string of b */
    mail_result result;
    char error[256];
} mail_job;

void job_free(mail_job *job);

/* Copies text into job->error as printable ASCII (anything else becomes '?'), so that a cut or
 * foreign server message can always be stored as JSON and logged on one line. */
void job_set_error(mail_job *job, const char *text);

#endif
