/* Unit suite for services/worker/deadletter.c: delivery counts matched from an XPENDING reply,
 * and which entries become dead letters — undecodable at once, undecided beyond the limit,
 * failing at the limit (503 when the failure was transient, else 500) — kept out of the ack. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "deadletter.h"

#define RID "0123456789abcdef0123456789abcdef"

static char resp[4096];
static size_t resp_len;

static void add(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    resp_len += (size_t)vsnprintf(resp + resp_len, sizeof resp - resp_len, fmt, ap);
    va_end(ap);
}

static redisReply *parse(void)
{
    redisReader *r = redisReaderCreate();
    assert_int_equal(redisReaderFeed(r, resp, resp_len), REDIS_OK);
    void *reply = NULL;
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(r);
    resp_len = 0;
    return reply;
}

/* One XPENDING row [id, consumer, idle, deliveries]. */
static void row(const char *id, int deliveries)
{
    add("*4\r\n$%zu\r\n%s\r\n$2\r\nme\r\n:12\r\n:%d\r\n", strlen(id), id, deliveries);
}

static entry fresh(const char *sid, entry_state st)
{
    return (entry){.sid = sid, .rid = RID, .ing = "ing-1", .type = "reserve", .st = st};
}

static void counts_matched_by_id(void **state)
{
    (void)state;
    add("*3\r\n");
    row("1-0", 2);
    row("3-0", 6); /* 2-0 was claimed away between the read and XPENDING */
    row("4-0", 1);
    redisReply *r = parse();
    entry v[4] = {fresh("1-0", ENTRY_NEW), fresh("2-0", ENTRY_NEW), fresh("3-0", ENTRY_NEW),
                  fresh("4-0", ENTRY_NEW)};
    int d[4];
    deadletter_counts(v, 4, (const yk_reply *)r, d);
    assert_int_equal(d[0], 2);
    assert_int_equal(d[1], 1);
    assert_int_equal(d[2], 6);
    assert_int_equal(d[3], 1);
    /* an error reply (XPENDING failed): every entry counts as a first delivery */
    add("-ERR no\r\n");
    redisReply *e = parse();
    deadletter_counts(v, 4, (const yk_reply *)e, d);
    for (int i = 0; i < 4; i++)
        assert_int_equal(d[i], 1);
    freeReplyObject(r);
    freeReplyObject(e);
}

static void undecodable_dead_at_once(void **state)
{
    (void)state;
    answer_reset();
    deadletter_begin();
    entry v[4] = {fresh("1-0", ENTRY_NEW),
                  fresh("2-0", ENTRY_NEW),
                  fresh("3-0", ENTRY_ACK),
                  {.sid = "4-0", .st = ENTRY_ACK}};
    answer_refuse(&v[1], 500, "internal", "x"); /* as decode refuses an entry */
    v[2].rid = NULL;                            /* fields, but no request id */
    deadletter_undecodable(v, 4, NULL);
    assert_int_equal(deadletter_count(), 2);
    assert_string_equal(v[0].sid, "1-0");
    assert_null(v[1].sid); /* kept out of answer_send's ack until moved */
    assert_null(v[2].sid);
    assert_string_equal(v[3].sid, "4-0"); /* deleted while pending: only acked */
    assert_int_equal(v[1].st, ENTRY_ANSWER);
    assert_int_equal(v[1].code, 500);
}

static void overdelivered_only_when_undecided(void **state)
{
    (void)state;
    answer_reset();
    deadletter_begin();
    entry v[3] = {fresh("1-0", ENTRY_NEW), fresh("2-0", ENTRY_NEW), fresh("3-0", ENTRY_NEW)};
    answer_refuse(&v[2], 409, "slot_full", "x"); /* answered (from PostgreSQL, say) */
    int d[3] = {5, 6, 9};
    deadletter_overdelivered(v, 3, d, 5);
    assert_int_equal(v[0].st, ENTRY_NEW);
    assert_string_equal(v[0].sid, "1-0");
    assert_int_equal(v[1].st, ENTRY_ANSWER);
    assert_int_equal(v[1].code, 500);
    assert_null(v[1].sid);
    assert_int_equal(v[2].code, 409);
    assert_string_equal(v[2].sid, "3-0");
    assert_int_equal(deadletter_count(), 1);
    deadletter_overdelivered(v, 3, NULL, 1); /* first deliveries: never */
    assert_int_equal(deadletter_count(), 1);
}

static void exhausted_at_the_limit(void **state)
{
    (void)state;
    for (int transient = 0; transient < 2; transient++) {
        answer_reset();
        deadletter_begin();
        entry v[3] = {fresh("1-0", ENTRY_RETRY), fresh("2-0", ENTRY_RETRY),
                      fresh("3-0", ENTRY_ANSWER)};
        int d[3] = {4, 5, 7};
        deadletter_exhausted(v, 3, d, 5, transient);
        assert_int_equal(v[0].st, ENTRY_RETRY); /* stays pending for the next tick */
        assert_string_equal(v[0].sid, "1-0");
        assert_int_equal(v[1].st, ENTRY_ANSWER);
        assert_int_equal(v[1].code, transient ? 503 : 500);
        assert_string_equal(v[1].result, transient ? "unavailable" : "internal");
        assert_null(v[1].sid);
        assert_string_equal(v[2].sid, "3-0");
        assert_int_equal(deadletter_count(), 1);
    }
    /* a limit of 1: a first delivery that fails is dead at once */
    answer_reset();
    deadletter_begin();
    entry one = fresh("9-0", ENTRY_RETRY);
    deadletter_exhausted(&one, 1, NULL, 1, false);
    assert_int_equal(one.code, 500);
    assert_int_equal(deadletter_count(), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_matched_by_id),
        cmocka_unit_test(undecodable_dead_at_once),
        cmocka_unit_test(overdelivered_only_when_undecided),
        cmocka_unit_test(exhausted_at_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
