/* Unit tests for common/yk_phase.c: parsing an event's phases (and their refusals), the time and
 * date parsers, and who may book when. Owns nothing but its own test cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "yk_phase.h"

/* The example: born in 1961 or earlier from 2026-12-01 09:00 (JST), everyone a week on. */
static const char *const example =
    "[{\"opens_at\":\"2026-12-08T09:00:00+09:00\"},"
    " {\"opens_at\":\"2026-12-01T09:00:00+09:00\",\"field\":\"birth\",\"max\":\"1961-12-31\"}]";
static const char *const fields_def =
    "[{\"name\":\"name\",\"type\":\"text\"},{\"name\":\"birth\",\"type\":\"date\"},"
    " {\"name\":\"age\",\"type\":\"number\"},{\"name\":\"ok\",\"type\":\"checkbox\"}]";

static int64_t at(const char *s)
{
    int64_t t;
    assert_int_equal(yk_phase_time(s, &t), 0);
    return t;
}

static void fieldset(yk_fieldset *fs)
{
    json_t *defs = json_loads(fields_def, 0, NULL), *errors = json_array();
    assert_int_equal(yk_fieldset_parse(fs, defs, errors), 0);
    json_decref(defs);
    json_decref(errors);
}

/* Parses text with fs (NULL: as the worker does); returns the problems and keeps the errors. */
static int parse(const char *text, const yk_fieldset *fs, yk_phases *ph, json_t **errors)
{
    json_t *v = json_loads(text, 0, NULL);
    assert_non_null(v);
    *errors = json_array();
    int rc = yk_phases_parse(ph, v, fs, *errors);
    json_decref(v);
    return rc;
}

/* errors holds exactly one {"field": field, "reason": reason}. */
static void expect_error(json_t *errors, const char *field, const char *reason)
{
    assert_int_equal(json_array_size(errors), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 0), "field")),
                        field);
    assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 0), "reason")),
                        reason);
}

static void refused(const char *text, const char *field, const char *reason)
{
    yk_fieldset fs;
    fieldset(&fs);
    yk_phases ph;
    json_t *errors;
    assert_true(parse(text, &fs, &ph, &errors) > 0);
    assert_null(ph.v);
    assert_int_equal(ph.n, 0);
    expect_error(errors, field, reason);
    json_decref(errors);
    yk_fieldset_free(&fs);
}

static void times(void **state)
{
    (void)state;
    assert_int_equal(at("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(at("2026-12-01T09:00:00+09:00"), at("2026-12-01T00:00:00Z"));
    assert_int_equal(at("2026-12-01T09:00+09:00"), at("2026-12-01T00:00:00Z"));
    assert_int_equal(at("2026-12-01T00:00:00.999Z"), at("2026-12-01T00:00:00Z"));
    assert_int_equal(at("2026-11-30T19:30:00-04:30"), at("2026-12-01T00:00:00Z"));
    assert_int_equal(at("2024-02-29T00:00:00Z") + 86400, at("2024-03-01T00:00:00Z"));
    int64_t t;
    const char *bad[] = {"",
                         "2026-12-01",
                         "2026-12-01T09:00:00",
                         "2026-12-01 09:00:00Z",
                         "2026-02-30T09:00:00Z",
                         "2026-12-01T24:00:00Z",
                         "2026-12-01T09:00:00+9",
                         "2026-12-01T09:00:00Zjunk",
                         "２０２６-12-01T09:00:00Z",
                         "2025-02-29T00:00:00Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(yk_phase_time(bad[i], &t), -1);
    int64_t d;
    assert_int_equal(yk_phase_date("1969-12-31", &d), 0);
    assert_int_equal(d, -1);
    assert_int_equal(yk_phase_date("1961-12-31", &d), 0);
    assert_int_equal(yk_phase_date("1961-13-01", &d), -1);
    assert_int_equal(yk_phase_date("1961-1-01", &d), -1);
    assert_int_equal(yk_phase_date(NULL, &d), -1);
}

/* The rule: some phase with opens_at <= now whose condition holds; else the earliest it could. */
static void example_rule(void **state)
{
    (void)state;
    yk_fieldset fs;
    fieldset(&fs);
    yk_phases ph;
    json_t *errors;
    assert_int_equal(parse(example, &fs, &ph, &errors), 0);
    assert_int_equal(json_array_size(errors), 0);
    json_decref(errors);
    json_t *old = json_pack("{s:s}", "birth", "1961-12-31"),
           *young = json_pack("{s:s}", "birth", "1962-01-01"), *none = json_object();
    int64_t before = at("2026-12-01T08:59:59+09:00"), first = at("2026-12-01T09:00:00+09:00"),
            all = at("2026-12-08T09:00:00+09:00");
    const char *opens = "x";
    assert_false(yk_phases_open(&ph, old, before, &opens));
    assert_string_equal(opens, "2026-12-01T09:00:00+09:00");
    assert_true(yk_phases_open(&ph, old, first, &opens));
    assert_null(opens);
    assert_false(yk_phases_open(&ph, young, first, &opens));
    assert_string_equal(opens, "2026-12-08T09:00:00+09:00");
    assert_false(yk_phases_open(&ph, none, all - 1, &opens)); /* no birth date: everyone's phase */
    assert_string_equal(opens, "2026-12-08T09:00:00+09:00");
    assert_true(yk_phases_open(&ph, young, all, NULL));
    assert_true(yk_phases_open(&ph, none, all, NULL));
    /* The same phases read back without the field definitions (the worker) decide alike. */
    yk_phases w;
    json_t *v = json_loads(example, 0, NULL);
    assert_int_equal(yk_phases_parse(&w, v, NULL, NULL), 0);
    json_decref(v);
    assert_int_equal(w.v[1].kind, YK_PHASE_DATE);
    assert_ptr_equal(yk_phases_earliest(&w, old), &w.v[1]);
    assert_ptr_equal(yk_phases_earliest(&w, young), &w.v[0]);
    yk_phases_free(&w);
    json_decref(old);
    json_decref(young);
    json_decref(none);
    yk_phases_free(&ph);
    yk_phases_free(&ph); /* safe twice */
    yk_fieldset_free(&fs);
}

/* Numbers: inclusive bounds; a string of digits (as stored) reads the same; no phase: never. */
static void number_bounds(void **state)
{
    (void)state;
    yk_fieldset fs;
    fieldset(&fs);
    yk_phases ph;
    json_t *errors;
    assert_int_equal(parse("[{\"opens_at\":\"2026-01-01T00:00:00Z\",\"field\":\"age\",\"min\":65},"
                           " {\"opens_at\":\"2026-02-01T00:00:00Z\",\"field\":\"age\",\"min\":18,"
                           "\"max\":64.5}]",
                           &fs, &ph, &errors),
                     0);
    json_decref(errors);
    int64_t jan = at("2026-01-15T00:00:00Z"), feb = at("2026-02-15T00:00:00Z");
    json_t *v65 = json_pack("{s:i}", "age", 65), *v64 = json_pack("{s:s}", "age", "64"),
           *v17 = json_pack("{s:i}", "age", 17), *bad = json_pack("{s:s}", "age", "6x");
    const char *opens;
    assert_true(yk_phases_open(&ph, v65, jan, NULL));
    assert_false(yk_phases_open(&ph, v64, jan, &opens));
    assert_string_equal(opens, "2026-02-01T00:00:00Z");
    assert_true(yk_phases_open(&ph, v64, feb, NULL));
    assert_false(yk_phases_open(&ph, v17, feb, &opens)); /* meets no phase: never opens */
    assert_null(opens);
    assert_false(yk_phases_open(&ph, bad, feb, &opens));
    assert_null(opens);
    json_decref(v65);
    json_decref(v64);
    json_decref(v17);
    json_decref(bad);
    yk_phases_free(&ph);
    /* No phases at all: open to everyone. */
    json_t *empty = json_object();
    assert_int_equal(parse("[]", &fs, &ph, &errors), 0);
    assert_true(yk_phases_open(&ph, empty, 0, &opens));
    json_decref(errors);
    assert_int_equal(yk_phases_parse(&ph, NULL, &fs, NULL), 0);
    assert_int_equal(yk_phases_parse(&ph, json_null(), &fs, NULL), 0);
    assert_true(yk_phases_open(&ph, empty, 0, NULL));
    json_decref(empty);
    yk_fieldset_free(&fs);
}

static void refusals(void **state)
{
    (void)state;
    refused("{}", "phases", "type");
    refused("[1]", "phases[0]", "type");
    refused("[{}]", "phases[0].opens_at", "required");
    refused("[{\"opens_at\":\"2026-12-01\"}]", "phases[0].opens_at", "pattern");
    refused("[{\"opens_at\":9}]", "phases[0].opens_at", "pattern");
    refused("[{\"opens_at\":\"2026-12-01T09:00:00Z\",\"when\":1}]", "phases[0].when",
            "unknown_field");
    refused("[{\"opens_at\":\"2026-12-01T09:00:00Z\",\"field\":\"nope\",\"min\":1}]",
            "phases[0].field", "unknown_field");
    refused("[{\"opens_at\":\"2026-12-01T09:00:00Z\",\"field\":\"name\",\"min\":1}]",
            "phases[0].field", "type");
    refused("[{\"opens_at\":\"2026-12-01T09:00:00Z\",\"field\":\"ok\",\"min\":1}]",
            "phases[0].field", "type");
    refused("[{\"opens_at\":\"2026-12-01T09:00:00Z\",\"field\":3,\"min\":1}]", "phases[0].field",
            "type");
    refused("[{\"opens_at\":\"2026-12-01T09:00:00Z\",\"min\":1}]", "phases[0].field", "required");
    refused("[{\"opens_at\":\"2026-12-01T09:00:00Z\",\"field\":\"age\"}]", "phases[0].min",
            "required");
    refused("[{\"opens_at\":\"2026-12-01T09:00:00Z\",\"field\":\"age\",\"min\":\"1\"}]",
            "phases[0].min", "type");
    refused("[{\"opens_at\":\"2026-12-01T09:00:00Z\",\"field\":\"birth\",\"max\":1961}]",
            "phases[0].max", "type");
    refused("[{\"opens_at\":\"2026-12-01T09:00:00Z\",\"field\":\"birth\",\"max\":\"1961-02-30\"}]",
            "phases[0].max", "pattern");
    refused("[{\"opens_at\":\"2026-12-01T09:00:00Z\",\"field\":\"age\",\"min\":5,\"max\":4}]",
            "phases[0].max", "pattern");
    refused("[{\"opens_at\":\"2026-12-01T09:00:00Z\",\"field\":\"age\",\"min\":1e300}]",
            "phases[0].min", "type");
    /* Without an error list (the worker, the catalogue) a bad phase still fails the parse: it
     * must never read as a phase open to everyone. */
    const char *bad[] = {
        "[{\"opens_at\":\"2026-12-01T09:00:00Z\",\"field\":\"birth\",\"min\":\"1950-01-01\","
        "\"max\":\"bad\"}]",
        "[{\"opens_at\":\"2026-12-01T09:00:00Z\",\"field\":\"gone\",\"min\":1}]",
        "[{\"opens_at\":\"2026-12-01T09:00:00Z\",\"field\":\"birth\"}]",
        "[{\"opens_at\":\"2026-12-01T09:00:00Z\",\"field\":\"age\",\"min\":5,\"max\":1}]",
    };
    yk_fieldset fs;
    fieldset(&fs);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *v = json_loads(bad[i], 0, NULL);
        yk_phases ph;
        assert_true(yk_phases_parse(&ph, v, i == 1 ? &fs : NULL, NULL) > 0);
        assert_null(ph.v);
        json_decref(v);
    }
    yk_fieldset_free(&fs);
    /* too many phases */
    char many[4096] = "[";
    for (int i = 0; i <= YK_PHASE_MAX; i++)
        strcat(many, i ? ",{\"opens_at\":\"2026-12-01T09:00:00Z\"}"
                       : "{\"opens_at\":\"2026-12-01T09:00:00Z\"}");
    strcat(many, "]");
    refused(many, "phases", "type");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(times),
        cmocka_unit_test(example_rule),
        cmocka_unit_test(number_bounds),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
