/* Unit tests for common/yk_reply.c: replies built by hiredis's own reader from RESP bytes, read
 * through every accessor, NULL and wrong types included. Owns nothing but its test cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <string.h>

#include "yk_reply.h"

/* The reply hiredis builds from resp; the caller frees it with freeReplyObject. */
static yk_reply *parse(const char *resp, size_t len)
{
    redisReader *rd = redisReaderCreate();
    assert_non_null(rd);
    assert_int_equal(redisReaderFeed(rd, resp, len), REDIS_OK);
    void *reply = NULL;
    assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(rd);
    return reply;
}

#define PARSE(lit) parse(lit, sizeof lit - 1)

static void null_reply(void **state)
{
    size_t len = 7;
    assert_int_equal(yk_reply_type(NULL), YK_REPLY_NONE);
    assert_true(yk_reply_is(NULL, YK_REPLY_NONE));
    assert_false(yk_reply_is(NULL, YK_REPLY_NIL));
    assert_null(yk_reply_str(NULL, &len));
    assert_int_equal(len, 0);
    assert_null(yk_reply_str(NULL, NULL));
    assert_int_equal(yk_reply_int(NULL), 0);
    assert_int_equal(yk_reply_count(NULL), 0);
    assert_null(yk_reply_at(NULL, 0));
    assert_false(yk_reply_eq(NULL, ""));
    assert_null(yk_reply_error(NULL));
}

static void bulk_string(void **state)
{
    yk_reply *r = PARSE("$5\r\nh\0llo\r\n"); /* binary safe: the length counts, not the NUL */
    size_t len = 0;
    assert_int_equal(yk_reply_type(r), YK_REPLY_STRING);
    assert_true(yk_reply_is(r, YK_REPLY_STRING));
    assert_memory_equal(yk_reply_str(r, &len), "h\0llo", 5);
    assert_int_equal(len, 5);
    assert_false(yk_reply_eq(r, "h")); /* the whole string must match */
    assert_int_equal(yk_reply_int(r), 0);
    assert_int_equal(yk_reply_count(r), 0);
    assert_null(yk_reply_at(r, 0));
    assert_null(yk_reply_error(r));
    freeReplyObject(r);

    r = PARSE("$5\r\nhello\r\n");
    assert_true(yk_reply_eq(r, "hello"));
    assert_false(yk_reply_eq(r, "hell"));
    assert_false(yk_reply_eq(r, "hello!"));
    freeReplyObject(r);

    r = PARSE("$0\r\n\r\n");
    assert_string_equal(yk_reply_str(r, &len), "");
    assert_int_equal(len, 0);
    assert_true(yk_reply_eq(r, ""));
    freeReplyObject(r);
}

static void status_and_error(void **state)
{
    yk_reply *r = PARSE("+OK\r\n");
    size_t len = 0;
    assert_int_equal(yk_reply_type(r), YK_REPLY_STATUS);
    assert_string_equal(yk_reply_str(r, &len), "OK");
    assert_int_equal(len, 2);
    assert_false(yk_reply_eq(r, "OK")); /* eq is for strings only */
    assert_null(yk_reply_error(r));
    freeReplyObject(r);

    r = PARSE("-NOSCRIPT No matching script\r\n");
    assert_int_equal(yk_reply_type(r), YK_REPLY_ERROR);
    assert_true(yk_reply_is(r, YK_REPLY_ERROR));
    assert_string_equal(yk_reply_error(r), "NOSCRIPT No matching script");
    assert_string_equal(yk_reply_str(r, &len), "NOSCRIPT No matching script");
    assert_int_equal(len, 27);
    assert_int_equal(yk_reply_int(r), 0);
    freeReplyObject(r);
}

static void integer_and_nil(void **state)
{
    yk_reply *r = PARSE(":-9223372036854775807\r\n");
    size_t len = 3;
    assert_int_equal(yk_reply_type(r), YK_REPLY_INTEGER);
    assert_true(yk_reply_int(r) == -9223372036854775807LL);
    assert_null(yk_reply_str(r, &len));
    assert_int_equal(len, 0);
    assert_int_equal(yk_reply_count(r), 0);
    freeReplyObject(r);

    r = PARSE("$-1\r\n");
    assert_int_equal(yk_reply_type(r), YK_REPLY_NIL);
    assert_null(yk_reply_str(r, NULL));
    assert_false(yk_reply_eq(r, ""));
    assert_int_equal(yk_reply_int(r), 0);
    freeReplyObject(r);

    r = PARSE("*-1\r\n"); /* a nil array is nil, not an empty array */
    assert_int_equal(yk_reply_type(r), YK_REPLY_NIL);
    assert_int_equal(yk_reply_count(r), 0);
    freeReplyObject(r);
}

static void arrays(void **state)
{
    yk_reply *r = PARSE("*4\r\n$7\r\nmessage\r\n:42\r\n*2\r\n$1\r\na\r\n$-1\r\n-ERR x\r\n");
    assert_int_equal(yk_reply_type(r), YK_REPLY_ARRAY);
    assert_int_equal(yk_reply_count(r), 4);
    assert_null(yk_reply_str(r, NULL));
    assert_int_equal(yk_reply_int(r), 0);
    assert_true(yk_reply_eq(yk_reply_at(r, 0), "message"));
    assert_int_equal(yk_reply_int(yk_reply_at(r, 1)), 42);
    const yk_reply *inner = yk_reply_at(r, 2);
    assert_int_equal(yk_reply_count(inner), 2);
    assert_true(yk_reply_eq(yk_reply_at(inner, 0), "a"));
    assert_true(yk_reply_is(yk_reply_at(inner, 1), YK_REPLY_NIL));
    assert_null(yk_reply_at(inner, 2));
    assert_string_equal(yk_reply_error(yk_reply_at(r, 3)), "ERR x");
    assert_null(yk_reply_at(r, 4));
    assert_null(yk_reply_at(r, (size_t)-1));
    /* an absent element answers like NULL */
    assert_int_equal(yk_reply_type(yk_reply_at(r, 9)), YK_REPLY_NONE);
    freeReplyObject(r);

    r = PARSE("*0\r\n");
    assert_int_equal(yk_reply_type(r), YK_REPLY_ARRAY);
    assert_int_equal(yk_reply_count(r), 0);
    assert_null(yk_reply_at(r, 0));
    freeReplyObject(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(null_reply),       cmocka_unit_test(bulk_string),
        cmocka_unit_test(status_and_error), cmocka_unit_test(integer_and_nil),
        cmocka_unit_test(arrays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
