/* Unit tests for services/ingress/export.c: CSV cells (quoting, the formula prefix), records,
 * header labels and the CP932 conversion with its substitute. Owns nothing but its test cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "export.h"

/* One cell as export_cell writes it, NUL-terminated (static). */
static const char *cell(const char *s)
{
    static char out[256];
    yk_buf b = YK_BUF_INIT(1024);
    export_cell(&b, s, strlen(s));
    assert_false(b.failed);
    assert_true(b.len < sizeof out);
    if (b.len)
        memcpy(out, b.p, b.len);
    out[b.len] = '\0';
    yk_buf_free(&b);
    return out;
}

static void cells_quoting(void **state)
{
    (void)state;
    assert_string_equal(cell(""), "");
    assert_string_equal(cell("plain"), "plain");
    assert_string_equal(cell("山田 太郎"), "山田 太郎");
    assert_string_equal(cell("a,b"), "\"a,b\"");
    assert_string_equal(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_string_equal(cell("\""), "\"\"\"\"");
    assert_string_equal(cell("two\nlines"), "\"two\nlines\"");
    assert_string_equal(cell("cr\rhere"), "\"cr\rhere\"");
    assert_string_equal(cell("a'b"), "a'b");
    assert_string_equal(cell("2026-12-04T10:00:00+09:00"), "2026-12-04T10:00:00+09:00");
}

static void cells_formula_prefix(void **state)
{
    (void)state;
    assert_string_equal(cell("=1+1"), "'=1+1");
    assert_string_equal(cell("+81"), "'+81");
    assert_string_equal(cell("-3"), "'-3");
    assert_string_equal(cell("@x"), "'@x");
    assert_string_equal(cell("\tx"), "'\tx");
    assert_string_equal(cell("\rx"), "\"'\rx\""); /* prefixed, and quoted for the CR */
    assert_string_equal(cell("=HYPERLINK(\"a\",\"b\")"), "\"'=HYPERLINK(\"\"a\"\",\"\"b\"\")\"");
    assert_string_equal(cell("1=1"), "1=1"); /* only the first character counts */
    assert_string_equal(cell(" =1"), " =1");
}

static void rows(void **state)
{
    (void)state;
    yk_buf b = YK_BUF_INIT(1024);
    const char *cells[4] = {"1", NULL, "a,b", "=x"};
    export_row(&b, cells, 4);
    export_row(&b, cells, 1);
    yk_buf_addc(&b, '\0');
    assert_string_equal(b.p, "1,,\"a,b\",'=x\r\n1\r\n");
    yk_buf_free(&b);
}

static void params(void **state)
{
    (void)state;
    export_lang l;
    export_encoding e;
    assert_int_equal(export_parse_lang("", &l), 0);
    assert_int_equal(l, EXPORT_NAMES);
    assert_int_equal(export_parse_lang("ja", &l), 0);
    assert_int_equal(l, EXPORT_JA);
    assert_int_equal(export_parse_lang("en", &l), 0);
    assert_int_equal(l, EXPORT_EN);
    assert_int_equal(export_parse_lang("fr", &l), -1);
    assert_int_equal(export_parse_lang("jp", &l), -1);
    assert_int_equal(export_parse_encoding("", &e), 0);
    assert_int_equal(e, EXPORT_UTF8);
    assert_int_equal(export_parse_encoding("utf-8", &e), 0);
    assert_int_equal(e, EXPORT_UTF8);
    assert_int_equal(export_parse_encoding("cp932", &e), 0);
    assert_int_equal(e, EXPORT_CP932);
    assert_int_equal(export_parse_encoding("CP932", &e), 0);
    assert_int_equal(export_parse_encoding("shift_jis", &e), -1);
    assert_int_equal(export_parse_encoding("utf8", &e), -1);
}

static void headers(void **state)
{
    (void)state;
    assert_string_equal(export_fixed_header(0, EXPORT_NAMES), "booking_id");
    assert_string_equal(export_fixed_header(1, EXPORT_NAMES), "slot_starts_at");
    assert_string_equal(export_fixed_header(2, EXPORT_NAMES), "slot_ends_at");
    assert_string_equal(export_fixed_header(3, EXPORT_NAMES), "status");
    assert_string_equal(export_fixed_header(4, EXPORT_NAMES), "email");
    assert_string_equal(export_fixed_header(5, EXPORT_NAMES), "created_at");
    assert_string_equal(export_fixed_header(0, EXPORT_JA), "予約番号");
    assert_string_equal(export_fixed_header(5, EXPORT_EN), "Created at");
    assert_string_equal(export_fixed_header(6, EXPORT_EN), "");
    json_t *both =
        json_pack("{s:s,s:{s:s,s:s}}", "name", "name", "label", "ja", "氏名", "en", "Name");
    json_t *plain = json_pack("{s:s,s:s}", "name", "voucher", "label", "接種券番号");
    json_t *ja_only = json_pack("{s:s,s:{s:s}}", "name", "age", "label", "ja", "年齢");
    json_t *none = json_pack("{s:s}", "name", "memo");
    assert_string_equal(export_field_header(both, EXPORT_NAMES), "name");
    assert_string_equal(export_field_header(both, EXPORT_JA), "氏名");
    assert_string_equal(export_field_header(both, EXPORT_EN), "Name");
    assert_string_equal(export_field_header(plain, EXPORT_EN), "接種券番号");
    assert_string_equal(export_field_header(plain, EXPORT_NAMES), "voucher");
    assert_string_equal(export_field_header(ja_only, EXPORT_EN), "年齢"); /* the other language */
    assert_string_equal(export_field_header(none, EXPORT_JA), "memo");
    assert_string_equal(export_field_header(NULL, EXPORT_JA), "");
    json_decref(both);
    json_decref(plain);
    json_decref(ja_only);
    json_decref(none);
}

/* s in CP932 as hex pairs, with the substitute count. */
static const char *cp932(const char *s, size_t *subs)
{
    static char hex[8192];
    iconv_t cd = iconv_open("CP932", "UTF-8");
    assert_true(cd != (iconv_t)-1);
    yk_buf b = YK_BUF_INIT(1 << 20);
    *subs = export_cp932(&b, cd, s, strlen(s));
    iconv_close(cd);
    assert_false(b.failed);
    assert_true(b.len * 2 < sizeof hex);
    for (size_t i = 0; i < b.len; i++) {
        static const char d[] = "0123456789abcdef";
        hex[2 * i] = d[(unsigned char)b.p[i] >> 4];
        hex[2 * i + 1] = d[(unsigned char)b.p[i] & 15];
    }
    hex[2 * b.len] = '\0';
    yk_buf_free(&b);
    return hex;
}

static void cp932_conversion(void **state)
{
    (void)state;
    size_t subs;
    assert_string_equal(cp932("a,\"b\"\r\n", &subs), "612c2262220d0a");
    assert_int_equal(subs, 0);
    assert_string_equal(cp932("日本語", &subs), "93fa967b8cea");
    assert_int_equal(subs, 0);
    assert_string_equal(cp932("ｱ", &subs), "b1");    /* half-width katakana: one byte */
    assert_string_equal(cp932("～", &subs), "8160"); /* U+FF5E, the Windows wave dash */
    assert_string_equal(cp932("髙", &subs), "fbfc"); /* in CP932 (IBM extension), not JIS X 0208 */
    assert_int_equal(subs, 0);
    assert_string_equal(cp932("🍣", &subs), "81ac"); /* not in CP932: 〓 */
    assert_int_equal(subs, 1);
    assert_string_equal(cp932("a🍣b😀c", &subs), "6181ac6281ac63");
    assert_int_equal(subs, 2);
    assert_string_equal(cp932("x\xff"
                              "y",
                              &subs),
                        "7881ac79"); /* not UTF-8 at all */
    assert_int_equal(subs, 1);
    assert_string_equal(cp932("end\xe6\x97", &subs), "656e6481ac"); /* cut short */
    assert_int_equal(subs, 1);
}

/* Longer than the conversion's 4 KiB steps: nothing is lost at a step's edge. */
static void cp932_long(void **state)
{
    (void)state;
    enum { N = 3000 };
    char *s = malloc(N * 4 + 1);
    assert_non_null(s);
    size_t n = 0;
    for (int i = 0; i < N; i++) {
        const char *piece = i % 7 == 0 ? "🍣" : "日";
        memcpy(s + n, piece, strlen(piece));
        n += strlen(piece);
    }
    s[n] = '\0';
    iconv_t cd = iconv_open("CP932", "UTF-8");
    assert_true(cd != (iconv_t)-1);
    yk_buf b = YK_BUF_INIT(1 << 20);
    size_t subs = export_cp932(&b, cd, s, n);
    iconv_close(cd);
    assert_int_equal(subs, (N + 6) / 7);
    assert_int_equal(b.len, (size_t)N * 2);
    for (int i = 0; i < N; i++)
        assert_memory_equal(b.p + 2 * i, i % 7 == 0 ? "\x81\xac" : "\x93\xfa", 2);
    yk_buf_free(&b);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cells_quoting), cmocka_unit_test(cells_formula_prefix),
        cmocka_unit_test(rows),          cmocka_unit_test(params),
        cmocka_unit_test(headers),       cmocka_unit_test(cp932_conversion),
        cmocka_unit_test(cp932_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
