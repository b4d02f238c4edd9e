/* Unit tests for common/yk_text.c: NFKC, trimming, case folding, UTF-8 checks, e-mail shape.
 * Owns nothing but its own test cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "yk_text.h"

/* Asserts that f(in) equals want (NULL: f must fail), freeing the result. */
static void expect_str(char *(*f)(const char *), const char *in, const char *want)
{
    char *got = f(in);
    if (want == NULL) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void identity_fullwidth_digits(void **state)
{
    expect_str(yk_text_identity, "１２３４", "1234");
    expect_str(yk_text_identity, " 1234 ", "1234");
    /* Both spellings must give the same per-person key. */
    char *a = yk_text_identity("０９０１２３４５６７８"), *b = yk_text_identity("09012345678");
    assert_string_equal(a, b);
    free(a);
    free(b);
}

static void identity_case_and_spaces(void **state)
{
    expect_str(yk_text_identity, " Foo@Example.COM\u3000", "foo@example.com");
    expect_str(yk_text_identity, "ＦＯＯ＠ｅｘａｍｐｌｅ．ｃｏｍ", "foo@example.com");
    expect_str(yk_text_identity, "Straße", "strasse");
    expect_str(yk_text_identity, "\t\u3000 \u00a0", "");
    expect_str(yk_text_identity, "", "");
}

static void clean_trims_u3000_keeps_case(void **state)
{
    expect_str(yk_text_clean, "\u3000\u3000山田\u3000太郎\u3000", "山田 太郎");
    expect_str(yk_text_clean, "  Foo@Example.COM ", "Foo@Example.COM");
    expect_str(yk_text_clean, "ｶﾀｶﾅ", "カタカナ");
    expect_str(yk_text_clean, "\r\nx\t", "x");
    expect_str(yk_text_clean, "   ", "");
    /* only the ends are trimmed, up to the first and last other character, multi-byte or not */
    expect_str(yk_text_clean, "\xc2\x85 a \t b\xc2\x85\x7f", "a \t b");
    expect_str(yk_text_clean, "\u3000予約 太郎\u3000 ", "予約 太郎");
    expect_str(yk_text_clean, "é ", "é");
    expect_str(yk_text_clean, " \u3000\xc2\x85", "");
}

static void nfkc_basic(void **state)
{
    expect_str(yk_text_nfkc, "①ｱ＋", "1ア+");
    expect_str(yk_text_nfkc, " keep spaces ", " keep spaces ");
    /* e + combining acute composes to é. */
    expect_str(yk_text_nfkc, "e\xcc\x81", "\xc3\xa9");
}

static void invalid_utf8_is_null(void **state)
{
    static const char *const bad[] = {
        "\xff",             /* never valid */
        "abc\xc3",          /* truncated sequence */
        "\xc0\xaf",         /* overlong '/' */
        "\xed\xa0\x80",     /* UTF-16 surrogate */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_str(yk_text_nfkc, bad[i], NULL);
        expect_str(yk_text_clean, bad[i], NULL);
        expect_str(yk_text_identity, bad[i], NULL);
        assert_false(yk_text_valid_utf8(bad[i], strlen(bad[i])));
    }
}

static void valid_utf8(void **state)
{
    assert_true(yk_text_valid_utf8("", 0));
    assert_true(yk_text_valid_utf8("予約 ok", strlen("予約 ok")));
    assert_true(yk_text_valid_utf8("\xf0\x9f\x98\x80", 4));
    /* An embedded NUL is refused: C strings would silently cut the value. */
    assert_false(yk_text_valid_utf8("a\0b", 3));
}

static void has_crlf(void **state)
{
    assert_true(yk_text_has_crlf("a\rb"));
    assert_true(yk_text_has_crlf("a\nb"));
    assert_true(yk_text_has_crlf("\r\n"));
    assert_false(yk_text_has_crlf("a b\tc"));
    assert_false(yk_text_has_crlf(""));
    assert_false(yk_text_has_crlf("\u2028")); /* not a header line break */
}

static void length_in_code_points(void **state)
{
    assert_int_equal(yk_text_length(""), 0);
    assert_int_equal(yk_text_length("abc"), 3);
    assert_int_equal(yk_text_length("予約"), 2);
    assert_int_equal(yk_text_length("１２３４"), 4);
    assert_int_equal(yk_text_length("\xf0\x9f\x98\x80x"), 2);
}

static void decimal(void **state)
{
    static const struct {
        unsigned long long v;
        const char *want;
    } cases[] = {{0, "0"},
                 {9, "9"},
                 {10, "10"},
                 {1796026689149ULL, "1796026689149"},
                 {18446744073709551615ULL, "18446744073709551615"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[24];
        memset(buf, 'x', sizeof buf);
        char *end = yk_text_decimal(buf, cases[i].v);
        assert_int_equal(end - buf, strlen(cases[i].want));
        assert_memory_equal(buf, cases[i].want, strlen(cases[i].want));
        assert_int_equal(*end, 'x'); /* nothing written past the digits */
    }
}

static void is_email_cases(void **state)
{
    /* "a.@" and "..": old Japanese mobile-carrier addresses that must still be accepted. */
    static const char *const good[] = {
        "a@b.c",           "foo@example.com",    "first.last+tag@sub.example.co.jp",
        "x_y-z@e-x.ample", "taro.@docomo.ne.jp", "ta..ro@ezweb.ne.jp"};
    static const char *const bad[] = {"",          "a@b",     "@b.c",     "a@@b.c",   "a@b@c.d",
                                      "a b@c.d",   "a@.c",    "a@b..c",   "a@b.c.",   "a@b.",
                                      "a@.b.c",    "abc",     "<a@b.c>",  "a,b@c.d",  "a\"b@c.d",
                                      "a@b.c\r\n", "a;b@c.d", "a\\b@c.d", "a@b\x7f.c"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(yk_text_is_email(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(yk_text_is_email(bad[i]));

    char big[300];
    memset(big, 'a', sizeof big);
    memcpy(big + 250, "@b.cd", 6); /* 255 bytes: one too many */
    assert_false(yk_text_is_email(big));
    memcpy(big + 249, "@b.cd", 6); /* 254 bytes */
    assert_true(yk_text_is_email(big));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identity_fullwidth_digits),
        cmocka_unit_test(identity_case_and_spaces),
        cmocka_unit_test(clean_trims_u3000_keeps_case),
        cmocka_unit_test(nfkc_basic),
        cmocka_unit_test(invalid_utf8_is_null),
        cmocka_unit_test(valid_utf8),
        cmocka_unit_test(has_crlf),
        cmocka_unit_test(length_in_code_points),
        cmocka_unit_test(is_email_cases),
        cmocka_unit_test(decimal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
