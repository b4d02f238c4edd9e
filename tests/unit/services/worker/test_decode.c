/* Unit suite for services/worker/decode.c: stream entries (header field and separate fields) read
 * into entries; malformed ones answered 500 or only acked; streams of other partitions skipped.
 * Replies are built by hiredis's own reader from RESP text, as the worker receives them. */
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
#include "decode.h"

#define RID "0123456789abcdef0123456789abcdef"
#define TOKEN "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
#define TH "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static char resp[8192];
static size_t resp_len;

static void add(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    resp_len += (size_t)vsnprintf(resp + resp_len, sizeof resp - resp_len, fmt, ap);
    va_end(ap);
}

static void bulk(const char *s)
{
    add("$%zu\r\n%s\r\n", strlen(s), s);
}

/* One entry [sid, [k, v, …]] of argc/2 pairs. */
static void entry_resp(const char *sid, int argc, const char *const *kv)
{
    add("*2\r\n");
    bulk(sid);
    add("*%d\r\n", argc);
    for (int i = 0; i < argc; i++)
        bulk(kv[i]);
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

static entry decode_one(int argc, const char *const *kv, redisReply **keep)
{
    entry_resp("5-0", argc, kv);
    *keep = parse();
    entry en = {0};
    decode_entry(&en, 2, (const yk_reply *)*keep);
    return en;
}

static void reserve_with_header(void **state)
{
    (void)state;
    const char *kv[] = {
        "h",      "id=" RID " ing=ing-1 t=reserve ev=3 slot=17 dl=1700000000000 x=y",
        "email",  "zoe@example.org",
        "ident",  "zoe@example.org",
        "tok",    TOKEN,
        "fields", "{\"a\":\"b\"}"};
    redisReply *r;
    entry en = decode_one(10, kv, &r);
    assert_int_equal(en.st, ENTRY_NEW);
    assert_int_equal(en.p, 2);
    assert_string_equal(en.sid, "5-0");
    assert_string_equal(en.rid, RID);
    assert_string_equal(en.ing, "ing-1");
    assert_false(en.cancel);
    assert_int_equal(en.ev, 3);
    assert_int_equal(en.slot, 17);
    assert_int_equal(en.dl, 1700000000000);
    assert_int_equal(en.fields_len, 9);
    assert_null(en.idem);
    freeReplyObject(r);
}

static void cancel_entry(void **state)
{
    (void)state;
    const char *kv[] = {"id", RID, "ing", "i", "t", "cancel", "ev", "3", "booking", "42", "th", TH};
    redisReply *r;
    entry en = decode_one(12, kv, &r);
    assert_int_equal(en.st, ENTRY_NEW);
    assert_true(en.cancel);
    assert_int_equal(en.booking, 42);
    assert_string_equal(en.booking_s, "42");
    freeReplyObject(r);
}

static void attend_entry(void **state)
{
    (void)state;
    const char *kv[] = {"h", "id=" RID " ing=i t=attend ev=3 booking=42 st=no_show today=1"};
    redisReply *r;
    entry en = decode_one(2, kv, &r);
    assert_int_equal(en.st, ENTRY_NEW);
    assert_true(en.attend);
    assert_false(en.cancel);
    assert_int_equal(en.booking, 42);
    assert_string_equal(en.st_s, "no_show");
    assert_string_equal(en.today_s, "1");
    freeReplyObject(r);
    /* staff cancel: "*" instead of a token hash */
    const char *c[] = {"id", RID, "ing", "i", "t", "cancel", "ev", "3", "booking", "42", "th", "*"};
    en = decode_one(12, c, &r);
    assert_int_equal(en.st, ENTRY_NEW);
    assert_true(en.cancel);
    freeReplyObject(r);
    /* an attendance of an unknown status, or without a booking */
    const char *b[] = {"h", "id=" RID " ing=i t=attend ev=3 booking=42 st=came"};
    answer_reset();
    en = decode_one(2, b, &r);
    assert_int_equal(en.code, 500);
    freeReplyObject(r);
    const char *d[] = {"h", "id=" RID " ing=i t=attend ev=3 st=attended"};
    en = decode_one(2, d, &r);
    assert_int_equal(en.code, 500);
    freeReplyObject(r);
}

/* Waitlist entries (waitlist.h): a join is decoded as a reservation; an accept or a leave names
 * the entry and the token's hash, an accept carries the new booking's token too. */
static void waitlist_entries(void **state)
{
    (void)state;
    const char *j[] = {"h",      "id=" RID " ing=i t=wjoin ev=3 slot=17",
                       "email",  "a@example.org",
                       "ident",  "a@example.org",
                       "tok",    TOKEN,
                       "fields", "{}"};
    redisReply *r;
    entry en = decode_one(10, j, &r);
    assert_int_equal(en.st, ENTRY_NEW);
    assert_true(en.wl);
    assert_false(en.cancel);
    assert_int_equal(en.slot, 17);
    freeReplyObject(r);
    const char *a[] = {"h", "id=" RID " ing=i t=waccept ev=3 entry=9 th=" TH, "tok", TOKEN};
    en = decode_one(4, a, &r);
    assert_int_equal(en.st, ENTRY_NEW);
    assert_true(en.wl);
    assert_string_equal(en.entry_s, "9");
    assert_string_equal(en.th, TH);
    assert_int_equal(en.slot, 0);
    freeReplyObject(r);
    const char *l[] = {"h", "id=" RID " ing=i t=wleave ev=3 entry=9 th=" TH};
    en = decode_one(2, l, &r);
    assert_int_equal(en.st, ENTRY_NEW);
    assert_true(en.wl);
    freeReplyObject(r);
    /* refused: an accept without its token, a leave without a token hash or an entry, a join
     * without its booker's fields, staff's "*" (no staff route accepts for a booker) */
    answer_reset();
    const char *bad1[] = {"h", "id=" RID " ing=i t=waccept ev=3 entry=9 th=" TH};
    const char *bad2[] = {"h", "id=" RID " ing=i t=wleave ev=3 entry=9"};
    const char *bad3[] = {"h", "id=" RID " ing=i t=wleave ev=3 th=" TH};
    const char *bad4[] = {"h", "id=" RID " ing=i t=wjoin ev=3 slot=17"};
    const char *bad5[] = {"h", "id=" RID " ing=i t=wleave ev=3 entry=9 th=*"};
    const char *const *bads[] = {bad1, bad2, bad3, bad4, bad5};
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        en = decode_one(2, bads[i], &r);
        assert_int_equal(en.st, ENTRY_ANSWER);
        assert_int_equal(en.code, 500);
        freeReplyObject(r);
    }
}

static void malformed(void **state)
{
    (void)state;
    answer_reset();
    redisReply *r;
    /* no token */
    const char *a[] = {"id",   RID, "ing",   "i", "t",     "reserve", "ev",     "3",
                       "slot", "1", "email", "e", "ident", "e",       "fields", "{}"};
    entry en = decode_one(16, a, &r);
    assert_int_equal(en.st, ENTRY_ANSWER);
    assert_int_equal(en.code, 500);
    freeReplyObject(r);
    /* a cancel whose token hash is not hex */
    const char *b[] = {"id", RID, "ing", "i", "t", "cancel", "ev", "3", "booking", "42", "th", "x"};
    en = decode_one(12, b, &r);
    assert_int_equal(en.code, 500);
    freeReplyObject(r);
    /* an unknown type */
    const char *c[] = {"id", RID, "ing", "i", "t", "waitlist"};
    en = decode_one(6, c, &r);
    assert_int_equal(en.code, 500);
    freeReplyObject(r);
    /* no valid request id: nobody to answer, only acked */
    const char *d[] = {"id", "XYZ", "t", "reserve"};
    en = decode_one(4, d, &r);
    assert_int_equal(en.st, ENTRY_ACK);
    assert_string_equal(en.sid, "5-0");
    freeReplyObject(r);
    /* fields the ingress would never write: the entry's own 500, not a refused batch */
    const char *e[] = {"id",    RID, "ing",  "i",   "t",      "reserve",
                       "ev",    "3", "slot", "1",   "email",  "e",
                       "ident", "e", "tok",  TOKEN, "fields", "{\"a\":[1]}"};
    en = decode_one(18, e, &r);
    assert_int_equal(en.code, 500);
    freeReplyObject(r);
}

/* A pending entry deleted from the stream comes back as [id, nil]: only acked. */
static void deleted_entry(void **state)
{
    (void)state;
    add("*2\r\n");
    bulk("7-1");
    add("$-1\r\n");
    redisReply *r = parse();
    entry en = {0};
    decode_entry(&en, 0, (const yk_reply *)r);
    assert_int_equal(en.st, ENTRY_ACK);
    assert_string_equal(en.sid, "7-1");
    freeReplyObject(r);
}

static void streams(void **state)
{
    (void)state;
    const char *kv[] = {"id", RID, "ing", "i", "t", "cancel", "ev", "3", "booking", "42", "th", TH};
    add("*2\r\n*2\r\n");
    bulk("yk:req:{1}");
    add("*2\r\n");
    entry_resp("1-0", 12, kv);
    entry_resp("1-1", 12, kv);
    add("*2\r\n");
    bulk("yk:req:{9}"); /* not a partition of a 4-partition deployment */
    add("*1\r\n");
    entry_resp("2-0", 12, kv);
    redisReply *r = parse();
    assert_int_equal(decode_count((const yk_reply *)r), 3);
    entry v[3] = {{0}};
    assert_int_equal(decode_streams(v, (const yk_reply *)r, 4), 2);
    assert_int_equal(v[0].p, 1);
    assert_string_equal(v[1].sid, "1-1");
    assert_int_equal(v[1].st, ENTRY_NEW);
    freeReplyObject(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reserve_with_header), cmocka_unit_test(cancel_entry),
        cmocka_unit_test(attend_entry),        cmocka_unit_test(malformed),
        cmocka_unit_test(deleted_entry),       cmocka_unit_test(streams),
        cmocka_unit_test(waitlist_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
