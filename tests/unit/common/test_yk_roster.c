/* Unit suite for common/yk_roster.c: the row hash (normalised values: full-width digits, spaces
 * and case are one person; the campaign, the key, the pairing of names and values all count; the
 * columns' order does not), and the CSV parser (UTF-8 with a BOM, CP932 cut anywhere, quoted
 * values, every problem with its line). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "yk_roster.h"

static unsigned char key[YK_TOKEN_KEY_BYTES];

static void hex_of(const char *campaign, size_t n, const char *const *names,
                   const char *const *values, char out[YK_ROSTER_HEX_LEN + 1])
{
    unsigned char h[YK_ROSTER_HASH_BYTES];
    assert_int_equal(yk_roster_hash(key, campaign, n, names, values, h), 0);
    yk_roster_hex(h, out);
}

static void hash_normalises(void **state)
{
    const char *names[] = {"voucher", "birth"};
    const char *a[] = {"１２３４５６７８", "1961-01-05"}, *b[] = {" 12345678 ", "1961-01-05"},
               *c[] = {"12345679", "1961-01-05"};
    char ha[33], hb[33], hc[33];
    hex_of("c1", 2, names, a, ha);
    hex_of("c1", 2, names, b, hb);
    hex_of("c1", 2, names, c, hc);
    assert_string_equal(ha, hb);
    assert_string_not_equal(ha, hc);
    assert_int_equal(strlen(ha), YK_ROSTER_HEX_LEN);
    const char *n1[] = {"name"}, *upper[] = {"ＴＡＲＯ"}, *lower[] = {"taro"};
    hex_of("c1", 1, n1, upper, ha);
    hex_of("c1", 1, n1, lower, hb);
    assert_string_equal(ha, hb);
}

static void hash_binds_campaign_key_and_pairs(void **state)
{
    const char *names[] = {"a", "b"}, *v[] = {"x", "y"};
    const char *rnames[] = {"b", "a"}, *rv[] = {"y", "x"};
    char h1[33], h2[33];
    hex_of("c1", 2, names, v, h1);
    hex_of("c1", 2, rnames, rv, h2);
    assert_string_equal(h1, h2); /* the columns' order does not count */
    hex_of("c2", 2, names, v, h2);
    assert_string_not_equal(h1, h2); /* the campaign does */
    const char *swapped[] = {"y", "x"};
    hex_of("c1", 2, names, swapped, h2);
    assert_string_not_equal(h1, h2); /* which value is whose does */
    const char *n2[] = {"ab"}, *v2[] = {"c"}, *n3[] = {"a"}, *v3[] = {"bc"};
    hex_of("c1", 1, n2, v2, h1);
    hex_of("c1", 1, n3, v3, h2);
    assert_string_not_equal(h1, h2); /* parts are length-prefixed */
    unsigned char other[YK_TOKEN_KEY_BYTES], h[YK_ROSTER_HASH_BYTES], k2[YK_TOKEN_KEY_BYTES];
    memset(other, 7, sizeof other);
    yk_roster_key(other, k2);
    assert_int_equal(yk_roster_hash(k2, "c1", 2, names, v, h), 0);
    hex_of("c1", 2, names, v, h1);
    yk_roster_hex(h, h2);
    assert_string_not_equal(h1, h2); /* and the key */
    unsigned char back[YK_ROSTER_HASH_BYTES];
    assert_int_equal(yk_roster_unhex(h2, back), 0);
    assert_memory_equal(back, h, YK_ROSTER_HASH_BYTES);
    assert_int_equal(yk_roster_unhex("zz", back), -1);
    const char *bad[] = {"\xff"}, *n1[] = {"name"};
    assert_int_equal(yk_roster_hash(key, "c1", 1, n1, bad, h), -1);
}

typedef struct {
    char hex[8][33];
    int n;
} rows;

static void collect(void *ud, const unsigned char h[YK_ROSTER_HASH_BYTES])
{
    rows *r = ud;
    if (r->n < 8)
        yk_roster_hex(h, r->hex[r->n]);
    r->n++;
}

/* Parses text fed in pieces of step bytes. */
static yk_roster_parser *parse(const char *text, size_t len, bool cp932, size_t step, rows *out)
{
    memset(out, 0, sizeof *out);
    yk_roster_parser *p = yk_roster_parser_new(key, "c1", cp932, collect, out);
    assert_non_null(p);
    for (size_t off = 0; off < len; off += step)
        assert_int_equal(yk_roster_parser_feed(p, text + off, len - off < step ? len - off : step),
                         0);
    assert_int_equal(yk_roster_parser_end(p), 0);
    return p;
}

static void parser_utf8_and_cp932(void **state)
{
    static const char utf8[] = "\xEF\xBB\xBFvoucher,name\r\n12345678,\"山田, 一郎\"\r\n"
                               "１２３４５６７９,ﾔﾏﾀﾞ\r\n";
    /* the same text in CP932 (the BOM left out) */
    static const char cp932[] =
        "voucher,name\r\n12345678,\"\x8e\x52\x93\x63, \x88\xea\x98\x59\"\r\n"
        "\x82\x50\x82\x51\x82\x52\x82\x53\x82\x54\x82\x55\x82\x56\x82\x58,"
        "\xd4\xcf\xc0\xde\r\n";
    rows a, b;
    for (size_t step = 1; step <= 64; step *= 4) {
        yk_roster_parser *p = parse(utf8, sizeof utf8 - 1, false, step, &a);
        assert_int_equal(yk_roster_parser_nerrors(p), 0);
        assert_int_equal(yk_roster_parser_rows(p), 2);
        const char *const *names;
        assert_int_equal(yk_roster_parser_fields(p, &names), 2);
        assert_string_equal(names[0], "voucher");
        yk_roster_parser_free(p);
        p = parse(cp932, sizeof cp932 - 1, true, step, &b);
        assert_int_equal(yk_roster_parser_nerrors(p), 0);
        yk_roster_parser_free(p);
        assert_int_equal(a.n, 2);
        assert_int_equal(b.n, 2);
        assert_string_equal(a.hex[0], b.hex[0]);
        assert_string_equal(a.hex[1], b.hex[1]);
    }
    /* a parsed row hashes as a booking's values do */
    const char *names[] = {"name", "voucher"}, *vals[] = {"ヤマダ", "12345679"};
    char h[33];
    hex_of("c1", 2, names, vals, h);
    assert_string_equal(a.hex[1], h);
}

static void expect_error(const char *text, bool cp932, long line, const char *reason)
{
    rows r;
    yk_roster_parser *p = parse(text, strlen(text), cp932, 3, &r);
    const yk_roster_error *e = yk_roster_parser_error(p, 0);
    assert_non_null(e);
    assert_int_equal(e->line, line);
    assert_string_equal(e->reason, reason);
    assert_int_equal(r.n, 0 + (line > 2 ? (int)(line - 2) : 0)); /* rows before it were hashed */
    yk_roster_parser_free(p);
}

static void parser_problems(void **state)
{
    rows r;
    yk_roster_parser *p;
    expect_error("", false, 1, "empty_header");
    expect_error("a,,b\n1,2,3\n", false, 1, "empty_header");
    expect_error("a,A\n1,2\n", false, 1, "bad_header");
    expect_error("a,b c\n1,2\n", false, 1, "bad_header");
    expect_error("a,b\n1,2\n3\n", false, 3, "column_count");
    expect_error("a\n1\n\xc3\x28\n", false, 3, "encoding");
    expect_error("a\n1\n\x81\n", true, 3, "encoding");
    expect_error("a\n1\n2\"3\n", false, 3, "quoting");
    expect_error("a\n\"1\n", false, 2, "quoting");
    char big[1200] = "a\n";
    memset(big + 2, '9', 1100);
    strcpy(big + 1102, "\n");
    expect_error(big, false, 2, "too_long");
    /* CP932 read in one piece: a quoting problem ends the parse, and a bad byte after it is not a
     * second problem (as when the file comes in small pieces; found by tests/fuzz's roster) */
    const char quoted_then_bad[] = "a,b\n1\"2,3\n\xff\xff\n";
    p = parse(quoted_then_bad, strlen(quoted_then_bad), true, strlen(quoted_then_bad), &r);
    assert_int_equal(yk_roster_parser_nerrors(p), 1);
    assert_string_equal(yk_roster_parser_error(p, 0)->reason, "quoting");
    yk_roster_parser_free(p);
    /* every problem is listed, up to the cap; all are counted */
    char many[400] = "a,b\n";
    for (int i = 0; i < 30; i++)
        strcat(many, "1\n");
    p = parse(many, strlen(many), false, 7, &r);
    assert_int_equal(yk_roster_parser_nerrors(p), 30);
    assert_non_null(yk_roster_parser_error(p, YK_ROSTER_MAX_ERRORS - 1));
    assert_null(yk_roster_parser_error(p, YK_ROSTER_MAX_ERRORS));
    assert_int_equal(yk_roster_parser_error(p, 5)->line, 7);
    assert_int_equal(yk_roster_parser_rows(p), 30);
    yk_roster_parser_free(p);
}

int main(void)
{
    unsigned char token_key[YK_TOKEN_KEY_BYTES];
    memset(token_key, 1, sizeof token_key);
    if (yk_token_init() != 0)
        return 1;
    yk_roster_key(token_key, key);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hash_normalises),
        cmocka_unit_test(hash_binds_campaign_key_and_pairs),
        cmocka_unit_test(parser_utf8_and_cp932),
        cmocka_unit_test(parser_problems),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
