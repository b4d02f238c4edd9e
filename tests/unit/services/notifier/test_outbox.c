/* Unit suite for services/notifier/outbox.c without PostgreSQL: a claim's row turned into a job
 * (results built with libpq's own constructors), error texts made printable, result names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <string.h>

#include "outbox.h"

/* One claimed row: values[c] for column c, NULL for SQL NULL. */
static PGresult *claim_row(const char *const values[OUTBOX_COL_COUNT])
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc cols[OUTBOX_COL_COUNT];
    memset(cols, 0, sizeof cols);
    for (int c = 0; c < OUTBOX_COL_COUNT; c++) {
        cols[c].name = "c";
        cols[c].typid = 25;
        cols[c].typlen = -1;
    }
    assert_true(PQsetResultAttrs(r, OUTBOX_COL_COUNT, cols));
    for (int c = 0; c < OUTBOX_COL_COUNT; c++)
        assert_true(
            PQsetvalue(r, 0, c, (char *)values[c], values[c] ? (int)strlen(values[c]) : -1));
    return r;
}

static void base_row(const char *v[OUTBOX_COL_COUNT])
{
    v[OUTBOX_COL_ID] = "17";
    v[OUTBOX_COL_KIND] = "confirmation";
    v[OUTBOX_COL_STATUS] = "pending";
    v[OUTBOX_COL_ATTEMPTS] = "2";
    v[OUTBOX_COL_BOOKING] = "4242";
    v[OUTBOX_COL_STAMP] = "1764800000";
    v[OUTBOX_COL_REQUEST] = "0123456789abcdef0123456789abcdef";
    v[OUTBOX_COL_EMAIL] = "taro@example.com";
    v[OUTBOX_COL_NAME] = "予約 太郎";
    v[OUTBOX_COL_TITLE] = "接種 1回目";
    v[OUTBOX_COL_VENUE] = NULL;
    v[OUTBOX_COL_TZ] = "Asia/Tokyo";
    v[OUTBOX_COL_LANG] = "ja";
    v[OUTBOX_COL_START_LOCAL] = "2026-12-10-4-09:00";
    v[OUTBOX_COL_END_LOCAL] = "2026-12-10-4-09:30";
    v[OUTBOX_COL_CANCEL_LOCAL] = NULL;
    v[OUTBOX_COL_STARTS_AT] = "2026-12-10T09:00:00+09:00";
    v[OUTBOX_COL_ENDS_AT] = "2026-12-10T09:30:00+09:00";
    v[OUTBOX_COL_STARTS_EPOCH] = "1765324800";
    v[OUTBOX_COL_ENDS_EPOCH] = "1765326600";
    v[OUTBOX_COL_LAST_ERROR] = NULL;
}

/* Every column lands in its field; the job's strings outlive the result; NULL stays NULL (the
 * renderer leaves out the Where line and the cancel deadline then). */
static void row_to_job(void **state)
{
    const char *v[OUTBOX_COL_COUNT];
    base_row(v);
    PGresult *r = claim_row(v);
    mail_job *job = outbox_job_from_row(r, 0);
    PQclear(r);
    assert_non_null(job);
    assert_int_equal(job->id, 17);
    assert_int_equal(job->attempt, 2);
    assert_int_equal(job->b.booking_id, 4242);
    assert_int_equal(job->b.stamp_epoch, 1764800000);
    assert_int_equal(job->b.starts_epoch, 1765324800);
    assert_int_equal(job->b.ends_epoch, 1765326600);
    assert_string_equal(job->b.kind, "confirmation");
    assert_string_equal(job->b.name, "予約 太郎");
    assert_string_equal(job->b.title, "接種 1回目");
    assert_string_equal(job->b.start_local, "2026-12-10-4-09:00");
    assert_string_equal(job->b.ends_at, "2026-12-10T09:30:00+09:00");
    assert_null(job->b.venue);
    assert_null(job->b.cancel_local);
    assert_int_equal(job->result, MAIL_RETRY);
    job_free(job);
}

/* A row the claim settled: cancelled as it is, dead with its last error made printable. */
static void settled_rows(void **state)
{
    const char *v[OUTBOX_COL_COUNT];
    base_row(v);
    v[OUTBOX_COL_STATUS] = "cancelled";
    PGresult *r = claim_row(v);
    mail_job *job = outbox_job_from_row(r, 0);
    PQclear(r);
    assert_int_equal(job->result, MAIL_CANCELLED);
    job_free(job);

    v[OUTBOX_COL_STATUS] = "dead";
    v[OUTBOX_COL_LAST_ERROR] = "550 \"no\"\r\nsuch user\xe3\x81\x82";
    r = claim_row(v);
    job = outbox_job_from_row(r, 0);
    PQclear(r);
    assert_int_equal(job->result, MAIL_DEAD);
    assert_string_equal(job->error, "550 ?no???such user???");
    job_free(job);
}

static void error_text_capped(void **state)
{
    mail_job job;
    char long_text[1000];
    memset(long_text, 'e', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    job_set_error(&job, long_text);
    assert_int_equal(strlen(job.error), sizeof job.error - 1);
}

static void result_names(void **state)
{
    assert_string_equal(mail_result_name(MAIL_SENT), "sent");
    assert_string_equal(mail_result_name(MAIL_RETRY), "retry");
    assert_string_equal(mail_result_name(MAIL_DEAD), "dead");
    assert_string_equal(mail_result_name(MAIL_CANCELLED), "cancelled");
    assert_string_equal(mail_result_name(MAIL_RELEASE), "release");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(row_to_job),
        cmocka_unit_test(settled_rows),
        cmocka_unit_test(error_text_capped),
        cmocka_unit_test(result_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
