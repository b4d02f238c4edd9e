/* Unit tests for common/yk_fields.c: definition parsing (every error kind), booker value validation
 * (every reason), cleaning, identity lookup. Owns nothing but its own test cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "yk_fields.h"

/* Writes errors as "field=reason,field=reason" into buf so a failure shows the whole list. */
static const char *errors_str(const json_t *errors, char *buf, size_t len)
{
    size_t i, off = 0;
    json_t *e;
    buf[0] = '\0';
    json_array_foreach(errors, i, e)
    {
        off += (size_t)snprintf(buf + off, len - off, "%s%s=%s", i ? "," : "",
                                json_string_value(json_object_get(e, "field")),
                                json_string_value(json_object_get(e, "reason")));
        assert_true(off < len);
    }
    return buf;
}

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (j == NULL)
        fail_msg("bad test JSON %s: %s", text, jerr.text);
    return j;
}

/* Parses defs (JSON text) and asserts the exact error list ("" = success). On success the caller
 * owns *fs; on failure *fs must be empty. */
static void parse_expect(const char *defs, const char *want, yk_fieldset *fs)
{
    json_t *d = load(defs), *errors = json_array();
    char buf[2048];
    int rc = yk_fieldset_parse(fs, d, errors);
    assert_string_equal(errors_str(errors, buf, sizeof buf), want);
    if (*want == '\0') {
        assert_int_equal(rc, 0);
    } else {
        assert_int_equal(rc, -1);
        assert_null(fs->fields);
        assert_int_equal(fs->n, 0);
        assert_int_equal(fs->identity, -1);
    }
    json_decref(errors);
    json_decref(d);
}

static void def_fails(const char *defs, const char *want)
{
    yk_fieldset fs;
    parse_expect(defs, want, &fs);
}

static void def_ok(const char *defs)
{
    yk_fieldset fs;
    parse_expect(defs, "", &fs);
    yk_fieldset_free(&fs);
}

/* ---- definitions ---- */

static void def_shape(void **state)
{
    yk_fieldset fs;
    assert_int_equal(yk_fieldset_parse(&fs, NULL, NULL), 0);
    assert_int_equal(fs.n, 0);
    assert_int_equal(fs.identity, -1);
    def_ok("[]");
    def_fails("{}", "fields=type");
    def_fails("\"text\"", "fields=type");
    def_fails("[1]", "fields[0]=type");
    def_fails("[{\"name\":\"a\",\"type\":\"text\"}, []]", "fields[1]=type");
}

static void def_unknown_keys(void **state)
{
    def_fails("[{\"name\":\"a\",\"type\":\"text\",\"colour\":\"red\"}]",
              "fields[0].colour=unknown_field");
    def_fails("[{\"name\":\"a\",\"type\":\"text\",\"options\":[\"x\"]}]",
              "fields[0].options=unknown_field");
    def_fails("[{\"name\":\"a\",\"type\":\"checkbox\",\"pattern\":\"x\",\"max_length\":3}]",
              "fields[0].max_length=unknown_field,fields[0].pattern=unknown_field");
}

static void def_name(void **state)
{
    def_fails("[{\"type\":\"text\"}]", "fields[0].name=required");
    def_fails("[{\"name\":5,\"type\":\"text\"}]", "fields[0].name=type");
    def_fails("[{\"name\":\"\",\"type\":\"text\"}]", "fields[0].name=pattern");
    def_fails("[{\"name\":\"Name\",\"type\":\"text\"}]", "fields[0].name=pattern");
    def_fails("[{\"name\":\"first-name\",\"type\":\"text\"}]", "fields[0].name=pattern");
    def_fails("[{\"name\":\"名前\",\"type\":\"text\"}]", "fields[0].name=pattern");
    def_fails("[{\"name\":\"a\\u0000b\",\"type\":\"text\"}]", "fields[0].name=pattern");
    def_fails("[{\"name\":\"a\",\"type\":\"text\"},{\"name\":\"a\",\"type\":\"tel\"}]",
              "fields[1].name=duplicate");

    char defs[256], name[80];
    memset(name, 'n', 64);
    name[64] = '\0';
    snprintf(defs, sizeof defs, "[{\"name\":\"%s_9\",\"type\":\"text\"}]", name + 2);
    def_ok(defs); /* exactly 64 bytes */
    snprintf(defs, sizeof defs, "[{\"name\":\"%s\",\"type\":\"text\"}]", strcat(name, "x"));
    def_fails(defs, "fields[0].name=too_long");
}

static void def_type(void **state)
{
    def_fails("[{\"name\":\"a\"}]", "fields[0].type=required");
    def_fails("[{\"name\":\"a\",\"type\":1}]", "fields[0].type=type");
    def_fails("[{\"name\":\"a\",\"type\":\"colour\"}]", "fields[0].type=unknown_option");
    def_fails("[{\"name\":\"a\",\"type\":\"Text\"}]", "fields[0].type=unknown_option");
    def_ok("[{\"name\":\"a\",\"type\":\"text\"},{\"name\":\"b\",\"type\":\"email\"},"
           "{\"name\":\"c\",\"type\":\"tel\"},{\"name\":\"d\",\"type\":\"date\"},"
           "{\"name\":\"e\",\"type\":\"number\"},{\"name\":\"f\",\"type\":\"select\","
           "\"options\":[\"x\"]},{\"name\":\"g\",\"type\":\"checkbox\"}]");
}

static void def_label(void **state)
{
    def_ok("[{\"name\":\"a\",\"type\":\"text\",\"label\":\"氏名\"}]");
    def_ok("[{\"name\":\"a\",\"type\":\"text\",\"label\":{\"ja\":\"氏名\",\"en\":\"Name\"}}]");
    def_ok("[{\"name\":\"a\",\"type\":\"text\",\"label\":{\"en\":\"Name\"}}]");
    def_fails("[{\"name\":\"a\",\"type\":\"text\",\"label\":1}]", "fields[0].label=type");
    def_fails("[{\"name\":\"a\",\"type\":\"text\",\"label\":{}}]", "fields[0].label=required");
    def_fails("[{\"name\":\"a\",\"type\":\"text\",\"label\":{\"ja\":[]}}]",
              "fields[0].label.ja=type");
    def_fails("[{\"name\":\"a\",\"type\":\"text\",\"label\":{\"ja\":\"x\",\"fr\":\"y\"}}]",
              "fields[0].label.fr=unknown_field");
}

static void def_required_identity(void **state)
{
    def_fails("[{\"name\":\"a\",\"type\":\"text\",\"required\":\"yes\"}]",
              "fields[0].required=type");
    def_fails("[{\"name\":\"a\",\"type\":\"text\",\"identity\":1}]", "fields[0].identity=type");
    def_fails("[{\"name\":\"a\",\"type\":\"checkbox\",\"identity\":true}]",
              "fields[0].identity=type");
    def_fails("[{\"name\":\"a\",\"type\":\"tel\",\"identity\":true},"
              "{\"name\":\"b\",\"type\":\"text\",\"identity\":false},"
              "{\"name\":\"c\",\"type\":\"number\",\"identity\":true}]",
              "fields[2].identity=duplicate");

    yk_fieldset fs;
    parse_expect("[{\"name\":\"a\",\"type\":\"text\"},"
                 "{\"name\":\"b\",\"type\":\"tel\",\"identity\":true,\"required\":false}]",
                 "", &fs);
    assert_int_equal(fs.n, 2);
    assert_int_equal(fs.identity, 1);
    assert_false(fs.fields[0].identity);
    assert_false(fs.fields[0].required);
    assert_true(fs.fields[1].identity);
    assert_true(fs.fields[1].required); /* forced: an empty identity would dodge the limit */
    yk_fieldset_free(&fs);
    yk_fieldset_free(&fs); /* a second free is harmless */
    assert_int_equal(fs.n, 0);
}

static void def_max_length(void **state)
{
    static const char *const bad[] = {"0", "-1", "1.5", "\"10\"", "65537", "true", "null"};
    char defs[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(defs, sizeof defs, "[{\"name\":\"a\",\"type\":\"text\",\"max_length\":%s}]",
                 bad[i]);
        def_fails(defs, "fields[0].max_length=type");
    }
    yk_fieldset fs;
    parse_expect("[{\"name\":\"a\",\"type\":\"text\",\"max_length\":65536},"
                 "{\"name\":\"b\",\"type\":\"text\"}]",
                 "", &fs);
    assert_int_equal(fs.fields[0].max_length, 65536);
    assert_int_equal(fs.fields[1].max_length, 0);
    yk_fieldset_free(&fs);
}

static void def_pattern(void **state)
{
    def_fails("[{\"name\":\"a\",\"type\":\"text\",\"pattern\":1}]", "fields[0].pattern=type");
    def_fails("[{\"name\":\"a\",\"type\":\"text\",\"pattern\":\"(\"}]",
              "fields[0].pattern=pattern");
    def_fails("[{\"name\":\"a\",\"type\":\"text\",\"pattern\":\"[a-\"}]",
              "fields[0].pattern=pattern");
    def_fails("[{\"name\":\"a\",\"type\":\"text\",\"pattern\":\"a{2,1}\"}]",
              "fields[0].pattern=pattern");
    def_ok("[{\"name\":\"a\",\"type\":\"text\",\"pattern\":\"^(foo|bar)[[:digit:]]{2,}$\"}]");
}

static void def_options(void **state)
{
    def_fails("[{\"name\":\"a\",\"type\":\"select\"}]", "fields[0].options=required");
    def_fails("[{\"name\":\"a\",\"type\":\"select\",\"options\":[]}]",
              "fields[0].options=required");
    def_fails("[{\"name\":\"a\",\"type\":\"select\",\"options\":\"x\"}]", "fields[0].options=type");
    def_fails("[{\"name\":\"a\",\"type\":\"select\",\"options\":[\"x\",1,\"\",null]}]",
              "fields[0].options[1]=type,fields[0].options[2]=type,fields[0].options[3]=type");
    def_fails("[{\"name\":\"a\",\"type\":\"select\",\"options\":[\"x\",\"y\",\"x\"]}]",
              "fields[0].options[2]=duplicate");
    def_fails("[{\"name\":\"a\",\"type\":\"select\",\"options\":[\"x\\r\\nBcc: y\"]}]",
              "fields[0].options[0]=pattern");

    yk_fieldset fs;
    parse_expect("[{\"name\":\"a\",\"type\":\"select\",\"options\":[\"午前\",\"午後\"]}]", "", &fs);
    assert_int_equal(fs.fields[0].type, YK_FT_SELECT);
    assert_int_equal(fs.fields[0].n_options, 2);
    assert_string_equal(fs.fields[0].options[1], "午後");
    yk_fieldset_free(&fs);
}

static void def_all_problems_reported(void **state)
{
    /* An admin fixes a definition in one round trip, so every problem is listed. */
    def_fails("[{\"name\":\"A\",\"type\":\"x\",\"extra\":1},"
              "{\"name\":\"b\",\"type\":\"select\",\"pattern\":\"(\"},"
              "7]",
              "fields[0].extra=unknown_field,fields[0].name=pattern,fields[0].type=unknown_option,"
              "fields[1].pattern=pattern,fields[1].options=required,fields[2]=type");
}

static void def_pattern_cost(void **state)
{
    /* Finding 8: "%" then 22 "+" made regcomp take 2.9 GiB and 6 s; it is refused unseen. */
    char costly[32] = "%";
    memset(costly + 1, '+', 22);
    assert_false(yk_fields_pattern_cheap(costly));
    char defs[256];
    snprintf(defs, sizeof defs, "[{\"name\":\"a\",\"type\":\"text\",\"pattern\":\"%s\"}]", costly);
    clock_t t0 = clock();
    def_fails(defs, "fields[0].pattern=pattern");
    assert_true(clock() - t0 < CLOCKS_PER_SEC / 10);

    static const char *const refused[] = {"a**",
                                          "a+?",
                                          "a*{2}",
                                          "(ab){2}{3}",
                                          "*a",
                                          "(|+)",
                                          "(a{100}){100}",
                                          "a{1001}",
                                          "x{2,1001}",
                                          "(a)\\1",
                                          "a\\",
                                          "a{",
                                          "a{x}",
                                          "a{1",
                                          "[a",
                                          "((((((((((a))))))))))",
                                          "(a",
                                          "a)"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (yk_fields_pattern_cheap(refused[i]))
            fail_msg("cheap: %s", refused[i]);
    static const char *const cheap[] = {"^[0-9]{10}$",
                                        "^(foo|bar)[[:digit:]]{2,}$",
                                        "^[A-Z]{2}-[0-9]{4,6}$",
                                        "^[]a]+$",
                                        "^.{1,500}$",
                                        "^0[0-9]{1,4}-[0-9]{1,4}-[0-9]{4}$",
                                        "\\.\\*",
                                        "^[^]]*$",
                                        "(a|b)*c?",
                                        "^[[:alpha:]_]+$"};
    for (size_t i = 0; i < sizeof cheap / sizeof cheap[0]; i++)
        if (!yk_fields_pattern_cheap(cheap[i]))
            fail_msg("costly: %s", cheap[i]);
    char longest[YK_FIELD_PATTERN_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[YK_FIELD_PATTERN_MAX] = '\0';
    assert_true(yk_fields_pattern_cheap(longest));
    longest[YK_FIELD_PATTERN_MAX] = 'a';
    longest[YK_FIELD_PATTERN_MAX + 1] = '\0';
    assert_false(yk_fields_pattern_cheap(longest));
}

static void def_long_key_cut_on_character(void **state)
{
    /* Finding 8: a key over 80 bytes was cut inside a character, json_pack refused the invalid
     * UTF-8 and the error vanished (-1 with an empty list). 30 × "あ" = 90 bytes: 26 fit. */
    char key[128] = "", want[256] = "", defs[512];
    for (int i = 0; i < 30; i++)
        strcat(key, "あ");
    for (int i = 0; i < 26; i++)
        strcat(want, "あ");
    snprintf(defs, sizeof defs, "[{\"name\":\"a\",\"type\":\"text\",\"%s\":1}]", key);
    char expect[300];
    snprintf(expect, sizeof expect, "fields[0].%s=unknown_field", want);
    def_fails(defs, expect);
    snprintf(defs, sizeof defs, "[{\"name\":\"a\",\"type\":\"text\",\"label\":{\"%s\":\"x\"}}]",
             key);
    snprintf(expect, sizeof expect, "fields[0].label.%s=unknown_field", want);
    def_fails(defs, expect);
}

static void def_label_single_line(void **state)
{
    def_fails("[{\"name\":\"a\",\"type\":\"text\",\"label\":\"x\\r\\nBcc: y\"}]",
              "fields[0].label=pattern");
    def_fails("[{\"name\":\"a\",\"type\":\"text\",\"label\":{\"ja\":\"x\\ny\"}}]",
              "fields[0].label.ja=pattern");
    def_fails("[{\"name\":\"a\",\"type\":\"text\",\"label\":\"x\\u0000y\"}]",
              "fields[0].label=pattern");
}

/* ---- values ---- */

static const char *const event_fields =
    "[{\"name\":\"name\",\"label\":{\"ja\":\"氏名\",\"en\":\"Name\"},\"type\":\"text\","
    "  \"required\":true,\"max_length\":5},"
    " {\"name\":\"contact\",\"type\":\"email\"},"
    " {\"name\":\"tel\",\"type\":\"tel\",\"pattern\":\"^0[0-9]{1,4}-[0-9]{1,4}-[0-9]{4}$\"},"
    " {\"name\":\"tel2\",\"type\":\"tel\"},"
    " {\"name\":\"birthday\",\"type\":\"date\"},"
    " {\"name\":\"member_no\",\"type\":\"number\",\"identity\":true,\"max_length\":8},"
    " {\"name\":\"plan\",\"type\":\"select\",\"options\":[\"A\",\"B\",\"松\"]},"
    " {\"name\":\"agree\",\"type\":\"checkbox\",\"required\":true},"
    " {\"name\":\"newsletter\",\"type\":\"checkbox\"},"
    " {\"name\":\"code\",\"type\":\"text\",\"pattern\":\"^[A-Z]{3}$\"},"
    " {\"name\":\"ref\",\"type\":\"text\",\"pattern\":\"^(foo|bar)[[:digit:]]+$\"},"
    " {\"name\":\"anywhere\",\"type\":\"text\",\"pattern\":\"[0-9]\"}]";

static int setup_event(void **state)
{
    yk_fieldset *fs = malloc(sizeof *fs);
    json_t *d = load(event_fields), *errors = json_array();
    int rc = yk_fieldset_parse(fs, d, errors);
    json_decref(d);
    json_decref(errors);
    if (rc != 0) {
        free(fs);
        return -1;
    }
    *state = fs;
    return 0;
}

static int teardown_event(void **state)
{
    yk_fieldset_free(*state);
    free(*state);
    return 0;
}

/* Validates a minimal valid booking with values[key] replaced by value (JSON text; NULL removes
 * the key) and asserts the error list want ("" = valid). When valid and stored is not NULL, the
 * cleaned object must hold stored (JSON text, "absent" = not stored) under key. */
static void check_one(const yk_fieldset *fs, const char *key, const char *value, const char *want,
                      const char *stored)
{
    json_t *values = load("{\"name\":\"山田\",\"member_no\":\"1\",\"agree\":true}");
    if (value == NULL)
        json_object_del(values, key);
    else
        json_object_set_new(values, key, load(value));
    json_t *errors = json_array(), *clean = (json_t *)1;
    char buf[2048];
    int n = yk_fieldset_check(fs, values, errors, &clean);
    assert_string_equal(errors_str(errors, buf, sizeof buf), want);
    assert_int_equal(n, json_array_size(errors));
    if (n > 0) {
        assert_null(clean);
    } else {
        assert_non_null(clean);
        if (stored != NULL && strcmp(stored, "absent") == 0) {
            assert_null(json_object_get(clean, key));
        } else if (stored != NULL) {
            json_t *w = load(stored);
            char *got = json_dumps(json_object_get(clean, key), JSON_ENCODE_ANY);
            if (!json_equal(w, json_object_get(clean, key)))
                fail_msg("%s: stored %s, want %s", key, got ? got : "(absent)", stored);
            free(got);
            json_decref(w);
        }
        json_decref(clean);
    }
    json_decref(errors);
    json_decref(values);
}

static void val_valid_minimal(void **state)
{
    const yk_fieldset *fs = *state;
    json_t *values = load("{\"name\":\"山田\",\"member_no\":\"１２３\",\"agree\":true,"
                          "\"contact\":\"\",\"newsletter\":null}");
    json_t *errors = json_array(), *clean = NULL;
    assert_int_equal(yk_fieldset_check(fs, values, errors, &clean), 0);
    /* Empty and null values are absent: they are not stored. */
    json_t *want = load("{\"name\":\"山田\",\"member_no\":123,\"agree\":true}");
    assert_true(json_equal(clean, want));
    json_decref(want);
    /* In definition order, a number as a JSON number: the text the booking shows as it is. */
    char *text = json_dumps(clean, JSON_COMPACT);
    assert_string_equal(text, "{\"name\":\"山田\",\"member_no\":123,\"agree\":true}");
    free(text);
    json_decref(clean);

    /* clean may be NULL when the caller only wants the verdict. */
    assert_int_equal(yk_fieldset_check(fs, values, errors, NULL), 0);
    assert_int_equal(json_array_size(errors), 0);
    json_decref(errors);
    json_decref(values);
}

static void val_required(void **state)
{
    const yk_fieldset *fs = *state;
    check_one(fs, "name", NULL, "name=required", NULL);
    check_one(fs, "name", "null", "name=required", NULL);
    check_one(fs, "name", "\"\"", "name=required", NULL);
    check_one(fs, "name", "\"\u3000 \\t\"", "name=required", NULL);
    check_one(fs, "member_no", NULL, "member_no=required", NULL); /* identity */
    check_one(fs, "agree", NULL, "agree=required", NULL);
    check_one(fs, "agree", "false", "agree=required", NULL);
    check_one(fs, "contact", "\" \"", "", "absent"); /* optional and blank: skipped */
}

static void val_too_long(void **state)
{
    const yk_fieldset *fs = *state;
    check_one(fs, "name", "\"abcdef\"", "name=too_long", NULL);
    /* max_length counts code points, not bytes: 5 kanji (15 bytes) fit in 5. */
    check_one(fs, "name", "\"山田太郎花\"", "", "\"山田太郎花\"");
    check_one(fs, "name", "\"山田太郎花子\"", "name=too_long", NULL);
    check_one(fs, "member_no", "\"123456789\"", "member_no=too_long", NULL);
    check_one(fs, "member_no", "\"１２３４５６７８\"", "", "12345678");

    /* No max_length: the default of 1000 code points. */
    char big[1010];
    memset(big, 'a', sizeof big);
    big[0] = '"';
    big[1] = '1';
    memcpy(big + 1001, "\"", 2); /* 1000 code points */
    check_one(fs, "anywhere", big, "", NULL);
    memcpy(big + 1001, "a\"", 3); /* 1001 code points */
    check_one(fs, "anywhere", big, "anywhere=too_long", NULL);
}

static void val_crlf_is_pattern(void **state)
{
    const yk_fieldset *fs = *state;
    check_one(fs, "name", "\"a\\r\\nb\"", "name=pattern", NULL);
    check_one(fs, "name", "\"ab\\n\"", "name=pattern", NULL);
    check_one(fs, "contact", "\"a@b.c\\r\\nBcc: x@y.z\"", "contact=pattern", NULL);
    check_one(fs, "tel2", "\"03\\r1234\"", "tel2=pattern", NULL);
    check_one(fs, "plan", "\"A\\n\"", "plan=pattern", NULL);
}

static void val_pattern(void **state)
{
    const yk_fieldset *fs = *state;
    check_one(fs, "code", "\"ABC\"", "", "\"ABC\"");
    check_one(fs, "code", "\"abc\"", "code=pattern", NULL);
    check_one(fs, "code", "\"ABCD\"", "code=pattern", NULL);
    /* text is matched as given: no trimming, no NFKC. */
    check_one(fs, "code", "\" ABC\"", "code=pattern", NULL);
    check_one(fs, "code", "\"ＡＢＣ\"", "code=pattern", NULL);
    check_one(fs, "ref", "\"foo12\"", "", NULL);
    check_one(fs, "ref", "\"bar7\"", "", NULL);
    check_one(fs, "ref", "\"baz7\"", "ref=pattern", NULL);
    check_one(fs, "anywhere", "\"abc1def\"", "", NULL); /* unanchored: anywhere */
    check_one(fs, "anywhere", "\"abcdef\"", "anywhere=pattern", NULL);
    /* tel is matched after NFKC and dash folding. */
    check_one(fs, "tel", "\"03-1234-5678\"", "", "\"03-1234-5678\"");
    check_one(fs, "tel", "\"0312345678\"", "tel=pattern", NULL);
    check_one(fs, "tel", "\"０９０−１２３４−５６７８\"", "", "\"090-1234-5678\"");
    check_one(fs, "tel", "\"０９０－１２３４－５６７８\"", "", "\"090-1234-5678\"");
    check_one(fs, "tel", "\"090ー1234ー5678\"", "", "\"090-1234-5678\"");
    check_one(fs, "tel", "\"\u3000090‐1234–5678 \"", "", "\"090-1234-5678\"");
}

static void val_type(void **state)
{
    const yk_fieldset *fs = *state;
    check_one(fs, "name", "5", "name=type", NULL);
    check_one(fs, "name", "true", "name=type", NULL);
    check_one(fs, "name", "[\"x\"]", "name=type", NULL);
    check_one(fs, "contact", "\"not-an-address\"", "contact=type", NULL);
    check_one(fs, "contact", "\"a@b\"", "contact=type", NULL);
    check_one(fs, "contact", "1", "contact=type", NULL);
    check_one(fs, "tel2", "\"abc\"", "tel2=type", NULL);
    check_one(fs, "tel2", "\"()\"", "tel2=type", NULL);
    check_one(fs, "tel2", "\"03.1234.5678\"", "tel2=type", NULL);
    check_one(fs, "tel2", "3", "tel2=type", NULL);
    check_one(fs, "birthday", "\"2024-02-30\"", "birthday=type", NULL);
    check_one(fs, "birthday", "\"2023-02-29\"", "birthday=type", NULL);
    check_one(fs, "birthday", "\"1900-02-29\"", "birthday=type", NULL);
    check_one(fs, "birthday", "\"2024-13-01\"", "birthday=type", NULL);
    check_one(fs, "birthday", "\"2024-00-10\"", "birthday=type", NULL);
    check_one(fs, "birthday", "\"2024-04-31\"", "birthday=type", NULL);
    check_one(fs, "birthday", "\"0000-01-01\"", "birthday=type", NULL);
    check_one(fs, "birthday", "\"2024/02/01\"", "birthday=type", NULL);
    check_one(fs, "birthday", "\"24-02-01\"", "birthday=type", NULL);
    check_one(fs, "birthday", "\"2024-2-1\"", "birthday=type", NULL);
    check_one(fs, "birthday", "\"2024-02-01T00:00\"", "birthday=type", NULL);
    check_one(fs, "member_no", "\"12a\"", "member_no=type", NULL);
    check_one(fs, "member_no", "\"-1\"", "member_no=type", NULL);
    check_one(fs, "member_no", "\"1 2\"", "member_no=type", NULL);
    check_one(fs, "member_no", "-1", "member_no=type", NULL);
    check_one(fs, "member_no", "1.5", "member_no=type", NULL);
    check_one(fs, "member_no", "true", "member_no=type", NULL);
    check_one(fs, "plan", "1", "plan=type", NULL);
    check_one(fs, "agree", "\"true\"", "agree=type", NULL);
    check_one(fs, "agree", "1", "agree=type", NULL);
    check_one(fs, "newsletter", "\"yes\"", "newsletter=type", NULL);
}

static void val_cleaning(void **state)
{
    const yk_fieldset *fs = *state;
    check_one(fs, "contact", "\" Foo@Example.COM\u3000\"", "", "\"Foo@Example.COM\"");
    check_one(fs, "contact", "\"ｆｏｏ＠ｅｘａｍｐｌｅ．ｃｏｍ\"", "", "\"foo@example.com\"");
    check_one(fs, "name", "\" 山田 \"", "", "\" 山田 \""); /* text kept as given */
    check_one(fs, "tel2", "\"（03）1234-5678\"", "", "\"(03)1234-5678\"");
    check_one(fs, "tel2", "\"＋８１ ９０ １２３４ ５６７８\"", "", "\"+81 90 1234 5678\"");
    check_one(fs, "birthday", "\"2024-02-29\"", "", "\"2024-02-29\"");
    check_one(fs, "birthday", "\"２０００−０２−２９\"", "", "\"2000-02-29\"");
    check_one(fs, "member_no", "\"１２３４\"", "", "1234");
    check_one(fs, "member_no", "1234", "", "1234"); /* numbers are stored as JSON numbers */
    check_one(fs, "member_no", "0", "", "0");
    check_one(fs, "member_no", "\"0012\"", "", "12"); /* a number: leading zeros go */
    check_one(fs, "newsletter", "false", "", "false");
    check_one(fs, "newsletter", "true", "", "true");
    check_one(fs, "newsletter", NULL, "", "absent");
}

static void val_select(void **state)
{
    const yk_fieldset *fs = *state;
    check_one(fs, "plan", "\"A\"", "", "\"A\"");
    check_one(fs, "plan", "\"松\"", "", "\"松\"");
    check_one(fs, "plan", "\"C\"", "plan=unknown_option", NULL);
    check_one(fs, "plan", "\"a\"", "plan=unknown_option", NULL);
    check_one(fs, "plan", "\"Ａ\"", "plan=unknown_option", NULL);
    check_one(fs, "plan", "\"A \"", "plan=unknown_option", NULL);
}

static void val_unknown_field(void **state)
{
    const yk_fieldset *fs = *state;
    check_one(fs, "colour", "\"red\"", "colour=unknown_field", NULL);
    check_one(fs, "colour", "null", "colour=unknown_field", NULL);
    check_one(fs, "Name", "\"x\"", "Name=unknown_field", NULL);
}

static void val_all_problems_in_order(void **state)
{
    const yk_fieldset *fs = *state;
    json_t *values = load("{\"zz\":1,\"plan\":\"Z\",\"contact\":\"x\",\"name\":\"123456\"}");
    json_t *errors = json_array(), *clean = NULL;
    char buf[512];
    assert_int_equal(yk_fieldset_check(fs, values, errors, &clean), 6);
    assert_string_equal(errors_str(errors, buf, sizeof buf),
                        "name=too_long,contact=type,member_no=required,plan=unknown_option,"
                        "agree=required,zz=unknown_field");
    assert_null(clean);
    json_decref(errors);
    json_decref(values);
}

static void val_not_an_object(void **state)
{
    const yk_fieldset *fs = *state;
    json_t *values = load("[\"x\"]"), *errors = json_array(), *clean = NULL;
    char buf[512];
    assert_int_equal(yk_fieldset_check(fs, values, errors, &clean), 1);
    assert_string_equal(errors_str(errors, buf, sizeof buf), "fields=type");
    assert_null(clean);
    json_decref(values);
    json_array_clear(errors);

    /* NULL counts as {}: only the required fields are missing. */
    assert_int_equal(yk_fieldset_check(fs, NULL, errors, &clean), 3);
    assert_string_equal(errors_str(errors, buf, sizeof buf),
                        "name=required,member_no=required,agree=required");
    json_decref(errors);
}

static void val_bad_strings(void **state)
{
    const yk_fieldset *fs = *state;
    /* jansson refuses these when decoding, but a caller could build them by hand. */
    json_t *values = load("{\"member_no\":\"1\",\"agree\":true}");
    json_object_set_new(values, "name", json_stringn_nocheck("a\xff", 2));
    json_object_set_new(values, "contact", json_stringn("a\0@b.c", 6));
    json_t *errors = json_array(), *clean = NULL;
    char buf[512];
    assert_int_equal(yk_fieldset_check(fs, values, errors, &clean), 2);
    assert_string_equal(errors_str(errors, buf, sizeof buf), "name=pattern,contact=pattern");
    json_decref(errors);
    json_decref(values);
}

static void val_empty_fieldset(void **state)
{
    yk_fieldset fs;
    json_t *errors = json_array(), *clean = NULL, *values = load("{\"x\":1}");
    char buf[256];
    assert_int_equal(yk_fieldset_parse(&fs, NULL, errors), 0);
    assert_int_equal(yk_fieldset_check(&fs, NULL, errors, &clean), 0);
    assert_int_equal(json_object_size(clean), 0);
    json_decref(clean);
    assert_int_equal(yk_fieldset_check(&fs, values, errors, &clean), 1);
    assert_string_equal(errors_str(errors, buf, sizeof buf), "x=unknown_field");
    assert_null(yk_fieldset_identity_value(&fs, values));
    yk_fieldset_free(&fs);
    json_decref(values);
    json_decref(errors);
}

static void val_email_ascii(void **state)
{
    /* Finding 5: mail is sent without SMTPUTF8, so a non-ASCII address is refused (type). */
    const yk_fieldset *fs = *state;
    check_one(fs, "contact", "\"zoë@example.com\"", "contact=type", NULL);
    check_one(fs, "contact", "\"zoe@exämple.com\"", "contact=type", NULL);
    check_one(fs, "contact", "\"zoe@example.com\"", "", "\"zoe@example.com\"");
    assert_null(yk_fields_email_problem("zoe@example.com"));
    assert_string_equal(yk_fields_email_problem("zoë@example.com"), "type");
    assert_string_equal(yk_fields_email_problem("zoe"), "pattern");
    char big[300];
    memset(big, 'a', sizeof big);
    memcpy(big + 250, "@example.com", 13);
    assert_string_equal(yk_fields_email_problem(big), "too_long");
}

static void val_number_range(void **state)
{
    yk_fieldset fs;
    json_t *d = load("[{\"name\":\"n\",\"type\":\"number\"}]"), *errors = json_array(), *clean;
    assert_int_equal(yk_fieldset_parse(&fs, d, errors), 0);
    json_t *v = load("{\"n\":\"9007199254740991\"}");
    assert_int_equal(yk_fieldset_check(&fs, v, errors, &clean), 0);
    assert_int_equal(json_integer_value(json_object_get(clean, "n")), 9007199254740991LL);
    json_decref(clean);
    json_decref(v);
    v = load("{\"n\":9007199254740992}");
    assert_int_equal(yk_fieldset_check(&fs, v, errors, &clean), 1);
    json_decref(v);
    v = load("{\"n\":\"99999999999999999999999\"}");
    assert_int_equal(yk_fieldset_check(&fs, v, errors, &clean), 1);
    json_decref(v);
    yk_fieldset_free(&fs);
    json_decref(d);
    json_decref(errors);
}

static void present_in_definition_order(void **state)
{
    /* Finding 9: stored fields come back (from jsonb) in its key order and numbers as strings. */
    const yk_fieldset *fs = *state;
    json_t *stored = load("{\"old\":\"x\",\"agree\":true,\"member_no\":\"0042\",\"name\":\"山田\","
                          "\"plan\":\"A\"}");
    json_t *shown = yk_fieldset_present(fs, stored);
    char *text = json_dumps(shown, JSON_COMPACT);
    assert_string_equal(text, "{\"name\":\"山田\",\"member_no\":42,\"plan\":\"A\",\"agree\":true,"
                              "\"old\":\"x\"}");
    free(text);
    json_decref(shown);
    json_decref(stored);
    shown = yk_fieldset_present(fs, NULL);
    assert_int_equal(json_object_size(shown), 0);
    json_decref(shown);
}

static void identity_value(void **state)
{
    const yk_fieldset *fs = *state;
    json_t *values = load("{\"name\":\"山田\",\"member_no\":\" ００４２ \",\"agree\":true}");
    json_t *errors = json_array(), *clean = NULL;
    assert_int_equal(yk_fieldset_check(fs, values, errors, &clean), 0);
    assert_string_equal(yk_fieldset_identity_value(fs, clean), "42"); /* the number's text */
    json_decref(clean);

    json_t *empty = json_object();
    assert_null(yk_fieldset_identity_value(fs, empty));
    assert_null(yk_fieldset_identity_value(fs, NULL));
    json_decref(empty);

    /* Without an identity field the caller falls back to the e-mail. */
    yk_fieldset plain;
    json_t *d = load("[{\"name\":\"a\",\"type\":\"text\"}]");
    assert_int_equal(yk_fieldset_parse(&plain, d, errors), 0);
    assert_null(yk_fieldset_identity_value(&plain, values));
    yk_fieldset_free(&plain);
    json_decref(d);
    json_decref(errors);
    json_decref(values);
}

static void identity_text_field(void **state)
{
    /* A text identity is NFKC-cleaned and trimmed before its pattern is checked and it is stored:
     * a voucher number typed in full-width digits is the same voucher. */
    yk_fieldset fs;
    json_t *d = load("[{\"name\":\"license\",\"type\":\"text\",\"identity\":true},"
                     "{\"name\":\"voucher\",\"type\":\"text\",\"pattern\":\"^[0-9]{4}$\"}]");
    json_t *errors = json_array(), *clean = NULL;
    json_t *values = load("{\"license\":\" ＡＢ１２ \"}");
    assert_int_equal(yk_fieldset_parse(&fs, d, errors), 0);
    assert_int_equal(fs.identity, 0);
    assert_int_equal(yk_fieldset_check(&fs, values, errors, &clean), 0);
    assert_string_equal(yk_fieldset_identity_value(&fs, clean), "AB12");
    json_decref(clean);
    json_decref(values);
    /* a plain text field keeps what was typed: its pattern sees the full-width digits */
    values = load("{\"license\":\"x\",\"voucher\":\"１２３４\"}");
    assert_int_equal(yk_fieldset_check(&fs, values, errors, &clean), 1);
    assert_null(clean);
    json_decref(values);
    yk_fieldset_free(&fs);
    json_decref(d);
    json_decref(errors);
}

int main(void)
{
    const struct CMUnitTest defs[] = {
        cmocka_unit_test(def_shape),
        cmocka_unit_test(def_unknown_keys),
        cmocka_unit_test(def_name),
        cmocka_unit_test(def_type),
        cmocka_unit_test(def_label),
        cmocka_unit_test(def_required_identity),
        cmocka_unit_test(def_max_length),
        cmocka_unit_test(def_pattern),
        cmocka_unit_test(def_options),
        cmocka_unit_test(def_all_problems_reported),
        cmocka_unit_test(def_pattern_cost),
        cmocka_unit_test(def_long_key_cut_on_character),
        cmocka_unit_test(def_label_single_line),
        cmocka_unit_test(val_empty_fieldset),
        cmocka_unit_test(identity_text_field),
    };
    const struct CMUnitTest vals[] = {
        cmocka_unit_test(val_valid_minimal), cmocka_unit_test(val_required),
        cmocka_unit_test(val_too_long),      cmocka_unit_test(val_crlf_is_pattern),
        cmocka_unit_test(val_pattern),       cmocka_unit_test(val_type),
        cmocka_unit_test(val_cleaning),      cmocka_unit_test(val_select),
        cmocka_unit_test(val_unknown_field), cmocka_unit_test(val_all_problems_in_order),
        cmocka_unit_test(val_not_an_object), cmocka_unit_test(val_bad_strings),
        cmocka_unit_test(identity_value),    cmocka_unit_test(val_email_ascii),
        cmocka_unit_test(val_number_range),  cmocka_unit_test(present_in_definition_order),
    };
    int failed = cmocka_run_group_tests_name("definitions", defs, NULL, NULL);
    failed += cmocka_run_group_tests_name("values", vals, setup_event, teardown_event);
    return failed;
}
