/* Unit suite for services/worker/answer.c: the answer texts (201 from the entry and from committed
 * rows, 200 cancelled, refusals), how long answers are held, and the RESP pipeline of a batch
 * (seats, SET … GET, one PUBLISH per ingress, the ack script per partition, retried entries left
 * pending, a pipeline that does not fit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"

#define TOKEN "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"

static persist_event event = {.id = 3, .slug = "rush", .tz = "Asia/Tokyo", .limit = 1};
static persist_slot slot = {
    17, 5, 1, "2030-01-01T10:00:00+09:00", "2030-01-01T11:00:00+09:00", 1893459600, 1893463200, 0};
static char rids[8][33];

static entry answered(int i, unsigned p, const char *sid, const char *ing)
{
    snprintf(rids[i], sizeof rids[i], "%032x", i + 1);
    return (entry){.p = p,
                   .st = ENTRY_NEW,
                   .sid = sid,
                   .rid = rids[i],
                   .ing = ing,
                   .tok = TOKEN,
                   .email = "zoe@example.org",
                   .fields_s = "{\"n\": \"1\", \"ok\":true}",
                   .fields_len = 21,
                   .ev = 3,
                   .slot = 17,
                   .e = &event,
                   .s = &slot,
                   .row = -1};
}

static int setup(void **state)
{
    (void)state;
    unsigned char key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (unsigned char)i; /* the key of test_yk_token's check-in vectors */
    answer_set_key(key);
    answer_reset();
    return 0;
}

static void texts(void **state)
{
    (void)state;
    entry v[4] = {answered(0, 0, "1-0", "i"), answered(1, 0, "1-1", "i"),
                  answered(2, 0, "1-2", "i"), answered(3, 0, "1-3", "i")};
    answer_booked(&v[0], "55", "2029-12-01T09:00:00+09:00");
    answer_refuse(&v[1], 409, "slot_full", "This slot is full.");
    persist_booking b = {.id = "56",
                         .slot_id = "17",
                         .status = "confirmed",
                         .email = "a\"b@x.org",
                         .fields = "",
                         .created_at = "c",
                         .slug = "rush",
                         .starts_at = "s",
                         .ends_at = "e"};
    answer_committed(&v[2], &b);
    b.fields = "{\"a\": \"x y\", \"b\": true}";
    answer_cancelled(&v[3], &b);
    answer_bodies_fix(v, 4);
    assert_int_equal(v[0].code, 201);
    /* the entry's fields are copied as the ingress wrote them */
    assert_string_equal(v[0].body,
                        "{\"booking\":{\"id\":\"55\",\"event\":\"rush\",\"slot_id\":\"17\","
                        "\"starts_at\":\"2030-01-01T10:00:00+09:00\",\"ends_at\":\"2030-01-01T11:"
                        "00:00+09:00\",\"status\":\"confirmed\",\"email\":\"zoe@example.org\","
                        "\"fields\":{\"n\": \"1\", \"ok\":true},\"created_at\":\"2029-12-01T09:00:"
                        "00+09:00\",\"checkin_code\":\"YK1-55-Y3RM7Z\"},\"token\":\"" TOKEN "\"}");
    assert_int_equal(v[1].code, 409);
    assert_string_equal(v[1].result, "slot_full");
    assert_string_equal(v[1].body, "{\"error\":\"slot_full\",\"message\":\"This slot is full.\"}");
    assert_int_equal(v[2].code, 201);
    assert_string_equal(
        v[2].body,
        "{\"booking\":{\"id\":\"56\",\"event\":\"rush\",\"slot_id\":"
        "\"17\",\"starts_at\":\"s\",\"ends_at\":\"e\",\"status\":"
        "\"confirmed\",\"email\":\"a\\\"b@x.org\",\"fields\":{},"
        "\"created_at\":\"c\",\"checkin_code\":\"YK1-56-C7506Y\"},\"token\":\"" TOKEN "\"}");
    assert_int_equal(v[3].code, 200);
    /* jsonb's text is written compact, and the status is cancelled whatever the row said */
    assert_string_equal(
        v[3].body, "{\"booking\":{\"id\":\"56\",\"event\":\"rush\",\"slot_id\":"
                   "\"17\",\"starts_at\":\"s\",\"ends_at\":\"e\",\"status\":"
                   "\"cancelled\",\"email\":\"a\\\"b@x.org\",\"fields\":{\"a\":"
                   "\"x y\",\"b\":true},\"created_at\":\"c\",\"checkin_code\":\"YK1-56-C7506Y\"}}");
}

static void hold(void **state)
{
    (void)state;
    entry en = answered(0, 0, "1-0", "i");
    int64_t now = 1700000000000;
    assert_int_equal(answer_hold_s(&en, now, 86400), 120); /* no deadline known */
    en.dl = now + 5000;
    assert_int_equal(answer_hold_s(&en, now, 86400), 15); /* until the deadline, plus 10 s */
    en.dl = now + 600000;
    assert_int_equal(answer_hold_s(&en, now, 86400), 120);
    en.dl = now + 900; /* within a second of it: answered 202, polled later */
    assert_int_equal(answer_hold_s(&en, now, 86400), 86400);
    en.dl = now + 5000;
    en.idem = "1";
    assert_int_equal(answer_hold_s(&en, now, 86400), 86400);
}

/* RESP of one command, written independently of yk_resp. */
static void cmd(char **w, int argc, ...)
{
    va_list ap;
    va_start(ap, argc);
    *w += sprintf(*w, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        const char *a = va_arg(ap, const char *);
        *w += sprintf(*w, "$%zu\r\n%s\r\n", strlen(a), a);
    }
    va_end(ap);
}

static void pipeline(void **state)
{
    (void)state;
    entry v[5] = {answered(0, 0, "1-0", "i1"), answered(1, 0, "1-1", "i1"),
                  answered(2, 0, "1-2", "i1"), answered(3, 1, "2-0", "i2"),
                  answered(4, 1, "2-1", NULL)};
    int64_t now = 1700000000000;
    answer_refuse(&v[0], 409, "slot_full", "This slot is full.");
    answer_refuse(&v[1], 404, "not_found", "Not found.");
    v[1].idem = "1";
    v[2].st = ENTRY_RETRY; /* stays pending: neither answered nor acked */
    answer_refuse(&v[3], 409, "slot_full", "This slot is full.");
    v[3].dl = now + 5000;
    v[4].st = ENTRY_ACK; /* malformed: acked without an answer */
    answer_bodies_fix(v, 5);
    answer_seat seats[] = {{1, 10, 1}, {1, 11, 0}, {2, 20, 5}};
    yk_buf b = YK_BUF_INIT(1 << 20);
    int tag[3 * 5 + 2 + 2];
    int count = answer_pipeline(&b, v, 5, seats, 3, 2, now, 86400, tag);
    assert_int_equal(count, 10);
    int want_tag[] = {-1, -1, -1, 0, 1, 3, -1, -1, -1, -1};
    for (int i = 0; i < 10; i++)
        assert_int_equal(tag[i], want_tag[i]);

    char *want = malloc(1 << 16), *w = want, key[64], val[256], msg[512];
    cmd(&w, 6, "HSET", "yk:remaining:1", "10", "1", "11", "0");
    cmd(&w, 4, "HSET", "yk:remaining:2", "20", "5");
    cmd(&w, 3, "PUBLISH", "yk:events", "remaining 1 10 1 1 11 0 2 20 5");
    const char *holds[] = {"120", "86400", NULL, "15"};
    for (int i = 0; i < 4; i++) {
        if (i == 2)
            continue;
        snprintf(key, sizeof key, "yk:res:%s", v[i].rid);
        snprintf(val, sizeof val, "%d %s", v[i].code, v[i].body);
        cmd(&w, 6, "SET", key, val, "EX", holds[i], "GET");
    }
    snprintf(msg, sizeof msg, "%s 409 %s\n%s 404 %s", v[0].rid, v[0].body, v[1].rid, v[1].body);
    cmd(&w, 3, "PUBLISH", "yk:rep:i1", msg);
    snprintf(msg, sizeof msg, "%s 409 %s", v[3].rid, v[3].body);
    cmd(&w, 3, "PUBLISH", "yk:rep:i2", msg);
    *w = '\0';
    size_t head = (size_t)(w - want);
    assert_true(b.len > head);
    assert_memory_equal(b.p, want, head);

    /* Then one ack script per partition, with the ids of every entry not left for a retry. */
    yk_buf_addc(&b, '\0');
    const char *rest = b.p + head;
    assert_memory_equal(rest, "*7\r\n$4\r\nEVAL\r\n", 14);
    assert_non_null(strstr(rest, "\r\n$1\r\n2\r\n$10\r\nyk:req:{0}\r\n$11\r\nyk:done:{0}\r\n"
                                 "$3\r\n1-0\r\n$3\r\n1-1\r\n*7\r\n$4\r\nEVAL\r\n"));
    assert_true(strlen(rest) > 60);
    const char *tail =
        "\r\n$1\r\n2\r\n$10\r\nyk:req:{1}\r\n$11\r\nyk:done:{1}\r\n$3\r\n2-0\r\n$3\r\n2-1\r\n";
    assert_string_equal(rest + strlen(rest) - strlen(tail), tail);
    assert_null(strstr(rest, "1-2")); /* the retried entry is not acked */
    free(want);
    yk_buf_free(&b);
}

/* A pipeline over its buffer's cap is refused whole: nothing is sent, so nothing is acked. */
static void pipeline_too_big(void **state)
{
    (void)state;
    entry v[1] = {answered(0, 0, "1-0", "i1")};
    answer_refuse(&v[0], 409, "slot_full", "This slot is full.");
    answer_bodies_fix(v, 1);
    yk_buf b = YK_BUF_INIT(100);
    int tag[8];
    assert_int_equal(answer_pipeline(&b, v, 1, NULL, 0, 1, 0, 60, tag), -1);
    yk_buf_free(&b);
}

/* An entry answered before its batch's commit (soldout.h) is only acked with the batch: no second
 * SET, no second reply; an entry without a stream id (the early copies) is answered, not acked. */
static void pipeline_early(void **state)
{
    (void)state;
    entry v[2] = {answered(0, 0, "1-0", "i1"), answered(1, 0, "1-1", "i1")};
    answer_refuse(&v[0], 409, "slot_full", "This slot is full.");
    answer_refuse(&v[1], 409, "slot_full", "This slot is full.");
    v[0].early = true;
    answer_bodies_fix(v, 2);
    yk_buf b = YK_BUF_INIT(1 << 20);
    int tag[16];
    assert_int_equal(answer_pipeline(&b, v, 2, NULL, 0, 1, 0, 60, tag), 3); /* SET, PUBLISH, ack */
    yk_buf_addc(&b, '\0');
    char key[64];
    snprintf(key, sizeof key, "yk:res:%s", v[0].rid);
    assert_null(strstr(b.p, key));
    snprintf(key, sizeof key, "yk:res:%s", v[1].rid);
    assert_non_null(strstr(b.p, key));
    assert_non_null(strstr(b.p, "$3\r\n1-0\r\n$3\r\n1-1\r\n")); /* both acked */
    yk_buf_reset(&b);
    v[0].early = false;
    v[0].sid = v[1].sid = NULL;
    assert_int_equal(answer_pipeline(&b, v, 2, NULL, 0, 1, 0, 60, tag), 3); /* 2 SET, PUBLISH */
    yk_buf_addc(&b, '\0');
    assert_null(strstr(b.p, "EVAL"));
    yk_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(texts, setup),
        cmocka_unit_test_setup(hold, setup),
        cmocka_unit_test_setup(pipeline, setup),
        cmocka_unit_test_setup(pipeline_too_big, setup),
        cmocka_unit_test_setup(pipeline_early, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
