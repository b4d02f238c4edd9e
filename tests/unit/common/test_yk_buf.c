/* Unit suite for common/yk_buf.c: string escaping (checked against jansson's own output),
 * integers, the hard cap and its failure behaviour, compacting, and the check of `fields` texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yk_buf.h"

/* b's content as a C string (appends the NUL, which stays in b). */
static const char *text(yk_buf *b)
{
    yk_buf_addc(b, '\0');
    assert_false(b->failed);
    return b->p;
}

static const char *str_of(yk_buf *b, const char *s)
{
    yk_buf_reset(b);
    yk_buf_str(b, s);
    return text(b);
}

static void str_escapes(void **state)
{
    yk_buf b = YK_BUF_INIT(1 << 20);
    assert_string_equal(str_of(&b, ""), "\"\"");
    assert_string_equal(str_of(&b, "plain"), "\"plain\"");
    assert_string_equal(str_of(&b, "a\"b"), "\"a\\\"b\"");
    assert_string_equal(str_of(&b, "back\\slash"), "\"back\\\\slash\"");
    assert_string_equal(str_of(&b, "\"\\"), "\"\\\"\\\\\"");
    assert_string_equal(str_of(&b, "tab\there"), "\"tab\\there\"");
    assert_string_equal(str_of(&b, "\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
    assert_string_equal(str_of(&b, "\x01\x1f"), "\"\\u0001\\u001F\"");
    assert_string_equal(str_of(&b, "a/b\x7f"), "\"a/b\x7f\""); /* neither is escaped */
    /* Non-ASCII UTF-8 is copied as it is, 4-byte sequences included. */
    assert_string_equal(str_of(&b, "予約 太郎"), "\"予約 太郎\"");
    assert_string_equal(str_of(&b, "é😀"), "\"é😀\"");
    assert_string_equal(str_of(&b, "\"日本\"\\\t語"), "\"\\\"日本\\\"\\\\\\t語\"");
    yk_buf_free(&b);
}

/* Every byte from 0x01 to 0x7f, and Japanese text, comes out exactly as jansson's JSON_COMPACT
 * writes it, so the answers keep their bytes. */
static void str_matches_jansson(void **state)
{
    yk_buf b = YK_BUF_INIT(1 << 20);
    char s[8];
    for (int c = 1; c < 0x80; c++) {
        snprintf(s, sizeof s, "x%cy", c);
        json_t *j = json_string(s);
        char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_string_equal(str_of(&b, s), want);
        free(want);
        json_decref(j);
    }
    const char *ja = "氏名：山田\t太郎 \"予約\" \\ ｶﾀｶﾅ";
    json_t *j = json_string(ja);
    char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_string_equal(str_of(&b, ja), want);
    free(want);
    json_decref(j);
    yk_buf_free(&b);
}

static void integers(void **state)
{
    yk_buf b = YK_BUF_INIT(1 << 20);
    const int64_t v[] = {0, 7, -7, 1234567890123LL, INT64_MAX, INT64_MIN};
    const char *want[] = {
        "0", "7", "-7", "1234567890123", "9223372036854775807", "-9223372036854775808"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        yk_buf_reset(&b);
        yk_buf_int(&b, v[i]);
        assert_string_equal(text(&b), want[i]);
    }
    yk_buf_free(&b);
}

static void grows_past_first_allocation(void **state)
{
    yk_buf b = YK_BUF_INIT(1 << 20);
    for (int i = 0; i < 1000; i++)
        yk_buf_adds(&b, "0123456789");
    assert_int_equal(b.len, 10000);
    assert_true(b.cap >= 10000);
    for (int i = 0; i < 1000; i++)
        assert_memory_equal(b.p + 10 * i, "0123456789", 10);
    yk_buf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    yk_buf_adds(&b, "again"); /* usable after free */
    assert_string_equal(text(&b), "again");
    yk_buf_free(&b);
}

/* The cap: an append that would pass it writes nothing and fails every later append, until a
 * rewind drops the partial document. */
static void cap_and_failure(void **state)
{
    yk_buf b = YK_BUF_INIT(10);
    yk_buf_adds(&b, "12345678");
    assert_false(b.failed);
    yk_buf_adds(&b, "abc"); /* 11 > 10 */
    assert_true(b.failed);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.p, "12345678", 8);
    yk_buf_addc(&b, 'x'); /* would fit, but the buffer has failed */
    yk_buf_str(&b, "");
    yk_buf_int(&b, 1);
    assert_int_equal(b.len, 8);
    assert_true(b.failed);
    yk_buf_rewind(&b, 5);
    assert_false(b.failed);
    assert_int_equal(b.len, 5);
    yk_buf_adds(&b, "abcde"); /* exactly the cap */
    assert_false(b.failed);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.p, "12345abcde", 10);
    assert_true(b.cap <= 10);
    yk_buf_addc(&b, '\0');
    assert_true(b.failed);
    yk_buf_reset(&b);
    assert_false(b.failed);
    assert_int_equal(b.len, 0);
    /* An escaped string that does not fit is not half written either. */
    yk_buf_adds(&b, "ab");
    yk_buf_str(&b, "\"\"\"\"");
    assert_true(b.failed);
    assert_true(b.len <= 10);
    yk_buf_free(&b);
}

static void compact_copies_jsonb_output(void **state)
{
    yk_buf b = YK_BUF_INIT(1 << 20);
    yk_buf_compact(&b,
                   "{\"a\": \"x y\", \"b\": \"q\\\" : , \\\\\", \"c\": [1, true, {\"d\": null}]}");
    assert_string_equal(text(&b),
                        "{\"a\":\"x y\",\"b\":\"q\\\" : , \\\\\",\"c\":[1,true,{\"d\":null}]}");
    yk_buf_reset(&b);
    yk_buf_compact(&b, "{\"name\": \"予約\\t太郎\"}");
    assert_string_equal(text(&b), "{\"name\":\"予約\\t太郎\"}");
    yk_buf_free(&b);
}

static void fields_accepted(void **state)
{
    const char *ok[] = {
        "{}",
        " { } ",
        "{\"name\":\"X\"}",
        "{\"name\":\"予約 太郎\",\"agree\":true,\"news\":false}",
        "{ \"a\" : \"x\" ,\t\"b\" : true }\t ",
        "{\"a\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"}",
        "{\"a\":\"\\u00e9\\u00E9 \\ud83d\\ude00 \\u30c6\"}",
        "{\"a\":\"\\u0001\",\"b\":\"\"}",
        "{\"a\":\"x\",\"b\":\"\\\"a\\\":\",\"ab\":\"y\"}",
        "{\"note\":\"tab\\there \\\"quoted\\\" back\\\\slash 日本語\"}",
        "{\"age\":42,\"name\":\"X\"}", /* a number field: a JSON number */
        "{\"a\":0,\"b\":-7,\"c\":9007199254740991,\"d\":123456789012345678}",
        "{ \"a\" : 1 , \"b\" : 2 }",
        "{\"n\":1,\"m\":2,\"n2\":true}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (!yk_buf_fields_ok(ok[i], strlen(ok[i])))
            fail_msg("refused: %s", ok[i]);
        json_t *j = json_loads(ok[i], JSON_REJECT_DUPLICATES, NULL);
        assert_true(json_is_object(j));
        json_decref(j);
    }
}

static void fields_refused(void **state)
{
    const char *bad[] = {
        "",
        "   ",
        "[]",
        "\"x\"",
        "{",
        "{\"a\"",
        "{\"a\":",
        "{\"a\":\"x",
        "{\"a\":\"x\"",
        "{\"a\":\"x\",}",
        "{,}",
        "{\"a\" \"x\"}",
        "{\"a\":\"x\" \"b\":\"y\"}",
        "{\"a\":\"x\"} x",
        "{\"a\":\"x\"}{}",
        "{\"a\":01}", /* numbers: integers as JSON writes them */
        "{\"a\":-}",
        "{\"a\":+1}",
        "{\"a\":1.5}",
        "{\"a\":1e3}",
        "{\"a\":1234567890123456789}", /* more than 18 digits */
        "{\"a\":1x}",
        "{\"a\":1,\"a\":2}",
        "{\"a\":1,\"b\":2,\"a\":true}",
        "{\"a\":null}",
        "{\"a\":{}}",
        "{\"a\":[\"x\"]}",
        "{\"a\":tru}",
        "{\"a\":truex}",
        "{\"a\":True}",
        "{a:\"x\"}",
        "{'a':'x'}",
        "{\"\":\"x\"}",              /* empty key */
        "{\"\\u0061\":\"x\"}",       /* escaped key */
        "{\"a\":\"1\",\"a\":\"2\"}", /* duplicate */
        "{\"a\":\"1\",\"b\":\"\\\"a\\\":\",\"a\":\"x\"}",
        "{\"b\":true,\"a\":false,\"b\":\"x\"}",
        "{ \"a\" : \"x\" }\n",          /* line breaks even between tokens: answers */
        "{\"a\":\"x\",\r\n\"b\":true}", /* travel one per line */
        "{\"a\":\"x\ty\"}",             /* raw control character */
        "{\"a\":\"x\ny\"}",
        "{\"a\":\"\\x\"}", /* unknown escape */
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\u12g4\"}",
        "{\"a\":\"\\u0000\"}", /* jsonb refuses \u0000 */
        "{\"a\":\"\\ud800\"}", /* unpaired surrogates */
        "{\"a\":\"\\udc00\"}",
        "{\"a\":\"\\ud800\\u0041\"}",
        "{\"a\":\"\\ud800x\"}",
        "{\"a\":\"\\",
        "{\"a\":\"\xff\"}",         /* invalid UTF-8 */
        "{\"a\":\"\xc0\xaf\"}",     /* overlong */
        "{\"a\":\"\xed\xa0\x80\"}", /* a surrogate in UTF-8 */
        "{\"a\":\"\xe6\x97\"}",     /* truncated sequence */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (yk_buf_fields_ok(bad[i], strlen(bad[i])))
            fail_msg("accepted: %s", bad[i]);
    /* An embedded NUL, and no text at all. */
    assert_false(yk_buf_fields_ok("{\"a\":\"x\0\"}", 10));
    assert_false(yk_buf_fields_ok(NULL, 0));
    /* The length given is the text: a valid object followed by more bytes is refused. */
    const char *two = "{\"a\":\"x\"}{\"b\":\"y\"}";
    assert_true(yk_buf_fields_ok(two, 9));
    assert_false(yk_buf_fields_ok(two, strlen(two)));
}

/* Every prefix of a valid text is refused (no read past the length, no half object). */
static void fields_prefixes_refused(void **state)
{
    const char *s = "{\"name\":\"予約\\t\\\"太郎\\\" \\ud83d\\ude00\",\"agree\":true,"
                    "\"x\":false,\"n\":-42}";
    size_t len = strlen(s);
    assert_true(yk_buf_fields_ok(s, len));
    for (size_t n = 0; n < len; n++) {
        char *copy = malloc(n ? n : 1); /* exact size, so ASan sees any read past it */
        memcpy(copy, s, n);
        assert_false(yk_buf_fields_ok(copy, n));
        free(copy);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(str_escapes),
        cmocka_unit_test(str_matches_jansson),
        cmocka_unit_test(integers),
        cmocka_unit_test(grows_past_first_allocation),
        cmocka_unit_test(cap_and_failure),
        cmocka_unit_test(compact_copies_jsonb_output),
        cmocka_unit_test(fields_accepted),
        cmocka_unit_test(fields_refused),
        cmocka_unit_test(fields_prefixes_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
