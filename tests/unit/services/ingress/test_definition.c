/* Unit tests for services/ingress/definition.c: event definitions (every key, defaults, each
 * error), slot lists, slot generators and the bookings list's query parameters. Owns only its
 * cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "definition.h"

/* "field=reason,field=reason" of errors into buf, so a failure shows the whole list. */
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
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &jerr);
    if (j == NULL)
        fail_msg("bad test JSON %s: %s", text, jerr.text);
    return j;
}

/* Checks the definition {"slug":"a","title":"T", <extra>} and asserts the error list ("" = ok). */
static void expect(const char *extra, const char *want)
{
    char text[4096];
    snprintf(text, sizeof text, "{\"slug\":\"a\",\"title\":\"T\"%s%s}", *extra ? "," : "", extra);
    json_t *def = load(text), *errors = json_array();
    definition d;
    char buf[2048];
    int rc = definition_check(def, errors, &d);
    assert_string_equal(errors_str(errors, buf, sizeof buf), want);
    if (*want) {
        assert_int_equal(rc, (int)json_array_size(errors));
        assert_null(d.fields_json);
    } else {
        assert_int_equal(rc, 0);
        definition_free(&d);
    }
    json_decref(errors);
    json_decref(def);
}

static void minimal_and_defaults(void **state)
{
    json_t *def = load("{\"slug\":\"flu-2026\",\"title\":\"Flu\"}"), *errors = json_array();
    definition d;
    assert_int_equal(definition_check(def, errors, &d), 0);
    assert_string_equal(d.slug, "flu-2026");
    assert_string_equal(d.title, "Flu");
    assert_null(d.timezone); /* the caller stores its default */
    assert_string_equal(d.fields_json, "[]");
    assert_null(d.prerequisite_json);
    assert_null(d.prerequisite_event);
    assert_string_equal(d.reminder_json, "{\"at\":\"10:00\",\"days_before\":1}");
    assert_int_equal(d.per_person_limit, 1);
    assert_int_equal(d.cancel_until_hours, 24);
    assert_true(d.published);
    definition_free(&d);
    definition_free(&d); /* harmless twice */
    json_decref(errors);
    json_decref(def);
}

static void full_definition(void **state)
{
    json_t *def =
        load("{\"slug\":\"dose-2\",\"title\":\"接種 2 回目\",\"description\":\"line 1\\nline 2\","
             "\"venue\":\"市民会館\",\"timezone\":\"Europe/Paris\",\"lang\":\"en\","
             "\"fields\":[{\"name\":\"age\",\"type\":\"number\"}],\"password\":\"pw\\nx\","
             "\"per_person_limit\":3,\"campaign\":\"flu_2026\","
             "\"prerequisite\":{\"event\":\"dose-1\",\"min_days\":21,\"require_attended\":true},"
             "\"opens_at\":\"2026-01-01T09:00:00+09:00\",\"closes_at\":\"2026-02-01T00:00Z\","
             "\"cancel_until_hours\":0,\"reminder\":{\"days_before\":2,\"at\":\"08:30\"},"
             "\"published\":false}");
    json_t *errors = json_array();
    definition d;
    assert_int_equal(definition_check(def, errors, &d), 0);
    assert_string_equal(d.description, "line 1\nline 2"); /* the one multi-line text */
    assert_string_equal(d.password, "pw\nx");
    assert_string_equal(d.fields_json, "[{\"name\":\"age\",\"type\":\"number\"}]");
    assert_string_equal(d.prerequisite_event, "dose-1");
    assert_string_equal(d.prerequisite_json,
                        "{\"event\":\"dose-1\",\"min_days\":21,\"require_attended\":true}");
    assert_string_equal(d.reminder_json, "{\"at\":\"08:30\",\"days_before\":2}");
    assert_int_equal(d.per_person_limit, 3);
    assert_int_equal(d.cancel_until_hours, 0);
    assert_false(d.published);
    definition_free(&d);
    json_decref(errors);
    json_decref(def);
}

static void required_and_types(void **state)
{
    json_t *def = load("{}"), *errors = json_array();
    definition d;
    char buf[512];
    assert_int_equal(definition_check(def, errors, &d), 2);
    assert_string_equal(errors_str(errors, buf, sizeof buf), "slug=required,title=required");
    json_decref(errors);
    json_decref(def);
    expect("\"venue\":1", "venue=type");
    expect("\"per_person_limit\":0", "per_person_limit=type");
    expect("\"per_person_limit\":\"2\"", "per_person_limit=type");
    expect("\"cancel_until_hours\":-1", "cancel_until_hours=type");
    expect("\"published\":\"yes\"", "published=type");
    expect("\"lang\":\"fr\"", "lang=unknown_option");
    expect("\"timezone\":\"Mars/Olympus\"", "timezone=pattern");
    expect("\"timezone\":\"../../etc/passwd\"", "timezone=pattern");
    expect("\"campaign\":\"Big Sale\"", "campaign=pattern");
    expect("\"opens_at\":\"2026-01-01\"", "opens_at=pattern");
    expect("\"reminder\":{\"at\":\"25:00\",\"days_before\":99,\"x\":1}",
           "reminder.x=unknown_field,reminder.days_before=type,reminder.at=pattern");
    expect("\"reminder\":[]", "reminder=type");
    expect("\"colour\":\"red\"", "colour=unknown_field");
}

static void single_line_texts(void **state)
{
    /* Finding 9: a title is a mail's Subject and the page's heading: no CR/LF. */
    expect("\"title\":\"Flu\\r\\nBcc: x@example.com\"", "title=pattern");
    expect("\"venue\":\"Hall\\nB\"", "venue=pattern");
    expect("\"campaign\":\"a\\nb\"", "campaign=pattern");
    expect("\"title\":\"a\\u0000b\"", "title=pattern");
    expect("\"description\":\"a\\u0000b\"", "description=pattern");
    expect("\"fields\":[{\"name\":\"a\",\"type\":\"text\",\"label\":\"x\\ny\"}]",
           "fields[0].label=pattern");
}

static void prerequisite_shape(void **state)
{
    expect("\"prerequisite\":\"dose-1\"", "prerequisite=type");
    expect("\"prerequisite\":{}", "prerequisite.event=required");
    expect("\"prerequisite\":{\"event\":1}", "prerequisite.event=type");
    expect("\"prerequisite\":{\"event\":\"Dose 1\"}", "prerequisite.event=pattern");
    expect("\"prerequisite\":{\"event\":\"d\",\"min_days\":-1,\"require_attended\":1,\"x\":0}",
           "prerequisite.x=unknown_field,prerequisite.min_days=type,"
           "prerequisite.require_attended=type");
    expect("\"prerequisite\":{\"event\":\"d\"}", "");
}

static void fields_errors_reach_the_list(void **state)
{
    /* Finding 8: a key over 80 bytes was cut inside a character, the error vanished and the
     * definition was stored. 30 × "あ" (90 bytes): the error names the first 26. */
    char extra[512] = "\"fields\":[{\"name\":\"a\",\"type\":\"text\",\"", want[256] = "fields[0].";
    for (int i = 0; i < 30; i++)
        strcat(extra, "あ");
    strcat(extra, "\":1}]");
    for (int i = 0; i < 26; i++)
        strcat(want, "あ");
    strcat(want, "=unknown_field");
    expect(extra, want);
    /* The same at the top level of the definition. */
    char top[256] = "", want_top[256] = "";
    for (int i = 0; i < 30; i++)
        strcat(top, "あ");
    for (int i = 0; i < 26; i++)
        strcat(want_top, "あ");
    snprintf(extra, sizeof extra, "\"%s\":1", top);
    strcat(want_top, "=unknown_field");
    expect(extra, want_top);
}

static void costly_pattern_refused_fast(void **state)
{
    /* Finding 8: "%" then 22 "+" took glibc's regcomp 2.9 GiB and 6 s. */
    char extra[256];
    snprintf(extra, sizeof extra,
             "\"fields\":[{\"name\":\"a\",\"type\":\"text\",\"pattern\":\"%%%s\"}]",
             "++++++++++++++++++++++");
    clock_t t0 = clock();
    expect(extra, "fields[0].pattern=pattern");
    assert_true(clock() - t0 < CLOCKS_PER_SEC / 10);
}

static void slot_lists(void **state)
{
    json_t *errors = json_array();
    char buf[512];
    json_t *ok = load("[{\"starts_at\":\"2026-12-01T09:00:00+09:00\","
                      "\"ends_at\":\"2026-12-01T09:30:00+09:00\",\"capacity\":10}]");
    assert_int_equal(definition_check_slots(ok, errors), 0);
    json_decref(ok);
    assert_int_equal(definition_check_slots(NULL, errors), 1);
    json_t *bad = load("[{\"starts_at\":\"2026-12-01\",\"ends_at\":\"2026-12-01T09:30Z\","
                       "\"capacity\":1},{\"starts_at\":\"x\"},"
                       "{\"starts_at\":\"2026-12-01T09:00Z\",\"ends_at\":\"2026-12-01T09:30Z\","
                       "\"capacity\":-1}]");
    assert_int_equal(definition_check_slots(bad, errors), 3);
    json_decref(bad);
    bad = load("[]");
    assert_int_equal(definition_check_slots(bad, errors), 1);
    json_decref(bad);
    assert_string_equal(errors_str(errors, buf, sizeof buf),
                        "slots=required,slots[0]=pattern,slots[1]=type,slots[2]=type,slots=type");
    json_decref(errors);
}

static void generators(void **state)
{
    json_t *errors = json_array();
    char buf[512];
    definition_generator g;
    json_t *gen = load("{\"from\":\"2026-12-01\",\"to\":\"2026-12-31\",\"weekdays\":[1,3,5],"
                       "\"times\":[\"09:00\",\"13:30\"],\"duration_min\":30,\"capacity\":8}");
    assert_int_equal(definition_check_generator(gen, errors, &g), 0);
    assert_string_equal(g.from, "2026-12-01");
    assert_string_equal(g.weekdays, "{1,3,5}");
    assert_string_equal(g.times, "{09:00,13:30}");
    assert_int_equal(g.duration_min, 30);
    assert_int_equal(g.capacity, 8);
    json_decref(gen);
    gen = load("{\"from\":\"2026-12-31\",\"to\":\"2026-12-01\",\"weekdays\":[0],"
               "\"times\":[\"9:00\"],\"x\":1}");
    assert_int_equal(definition_check_generator(gen, errors, &g), 6);
    assert_string_equal(errors_str(errors, buf, sizeof buf),
                        "x=unknown_field,generate.to=pattern,generate.weekdays=type,"
                        "generate.times=pattern,generate.duration_min=required,"
                        "generate.capacity=required");
    json_decref(gen);
    json_decref(errors);
}

static void query_parameters(void **state)
{
    int limit = 0;
    assert_true(definition_booking_status("confirmed"));
    assert_true(definition_booking_status("no_show"));
    assert_false(definition_booking_status("Confirmed"));
    assert_false(definition_booking_status("confirmed2"));
    assert_true(definition_limit("1000", &limit));
    assert_int_equal(limit, 1000);
    assert_false(definition_limit("0", &limit));
    assert_false(definition_limit("1001", &limit));
    assert_false(definition_limit("10x", &limit));
    assert_false(definition_limit("", &limit));
    assert_int_equal(limit, 1000);
    assert_true(definition_cursor("123456789012345678"));
    assert_false(definition_cursor("1234567890123456789"));
    assert_false(definition_cursor("-1"));
}

/* The event as the admin API shows it, the way catalogue_sql builds it. */
#define CURRENT                                                                                    \
    "{\"id\":\"7\",\"slug\":\"dose-1\",\"title\":\"Dose "                                          \
    "1\",\"description\":\"\",\"venue\":\"Hall\","                                                 \
    "\"timezone\":\"Asia/Tokyo\",\"lang\":\"ja\",\"fields\":[{\"name\":\"n\",\"type\":\"text\"}]," \
    "\"per_person_limit\":1,\"campaign\":\"c1\",\"prerequisite\":null,"                            \
    "\"opens_at\":\"2030-01-01T09:00:00+09:00\",\"closes_at\":null,\"cancel_until_hours\":24,"     \
    "\"reminder\":{\"at\":\"10:00\",\"days_before\":1},\"published\":true,\"secret\":false}"

/* Merges patch into CURRENT; want_errors "" = merged and checked as a definition. */
static json_t *merge(const char *patch, const char *want_errors)
{
    json_t *cur = load(CURRENT), *p = load(patch), *errors = json_array();
    char buf[2048];
    json_t *m = definition_merge(cur, p, errors);
    definition d;
    if (m && definition_check(m, errors, &d) == 0)
        definition_free(&d);
    assert_string_equal(errors_str(errors, buf, sizeof buf), want_errors);
    json_decref(cur);
    json_decref(p);
    json_decref(errors);
    return m;
}

static void patch_merge(void **state)
{
    json_t *m =
        merge("{\"per_person_limit\":2,\"opens_at\":null,\"reminder\":{\"at\":\"09:30\"}}", "");
    assert_int_equal(json_integer_value(json_object_get(m, "per_person_limit")), 2);
    assert_null(json_object_get(m, "opens_at")); /* null removes: no window start */
    assert_null(json_object_get(m, "id"));
    assert_null(json_object_get(m, "secret"));
    json_t *rem = json_object_get(m, "reminder"); /* merged key by key */
    assert_string_equal(json_string_value(json_object_get(rem, "at")), "09:30");
    assert_int_equal(json_integer_value(json_object_get(rem, "days_before")), 1);
    assert_string_equal(json_string_value(json_object_get(m, "title")), "Dose 1");
    json_decref(m);
    /* same slug and campaign may be repeated */
    json_decref(merge("{\"slug\":\"dose-1\",\"campaign\":\"c1\",\"title\":\"New\"}", ""));
    json_decref(merge("{\"fields\":[]}", ""));
}

static void patch_refusals(void **state)
{
    assert_null(merge("{\"slug\":\"other\"}", "slug=pattern"));
    assert_null(merge("{\"slug\":null}", "slug=pattern"));
    assert_null(merge("{\"campaign\":\"c2\"}", "campaign=pattern"));
    assert_null(merge("{\"campaign\":null}", "campaign=pattern"));
    assert_null(merge("{\"prerequisite\":{\"event\":\"dose-1\"}}", "prerequisite.event=pattern"));
    /* the merged definition is checked as a whole */
    json_decref(
        merge("{\"per_person_limit\":0,\"title\":null,\"colour\":\"red\",\"id\":\"8\"}",
              "colour=unknown_field,id=unknown_field,title=required,per_person_limit=type"));
    json_decref(merge("{\"opens_at\":\"tomorrow\"}", "opens_at=pattern"));
}

/* phases (common/yk_phase.h): the field must be one of the event's number or date fields. */
static void phases_shape(void **state)
{
    (void)state;
    const char *fields = "\"fields\":[{\"name\":\"birth\",\"type\":\"date\"},"
                         "{\"name\":\"name\",\"type\":\"text\"}]";
    char extra[1024];
    snprintf(extra, sizeof extra,
             "%s,\"phases\":[{\"opens_at\":\"2026-12-01T09:00:00+09:00\",\"field\":\"birth\","
             "\"max\":\"1961-12-31\"},{\"opens_at\":\"2026-12-08T09:00:00+09:00\"}]",
             fields);
    expect(extra, "");
    snprintf(extra, sizeof extra,
             "%s,\"phases\":[{\"opens_at\":\"2026-12-01T09:00:00+09:00\",\"field\":\"name\","
             "\"min\":\"a\"}]",
             fields);
    expect(extra, "phases[0].field=type");
    expect("\"phases\":[{\"opens_at\":\"2026-12-01T09:00:00Z\",\"field\":\"birth\",\"min\":1}]",
           "phases[0].field=unknown_field");
    expect("\"phases\":{}", "phases=type");
    expect("\"phases\":[{\"opens_at\":\"soon\"}]", "phases[0].opens_at=pattern");
    expect("\"phases\":null", "");
    /* stored as given */
    json_t *def = load("{\"slug\":\"a\",\"title\":\"T\",\"phases\":[{\"opens_at\":"
                       "\"2026-12-01T09:00:00Z\"}]}"),
           *errors = json_array();
    definition d;
    assert_int_equal(definition_check(def, errors, &d), 0);
    assert_string_equal(d.phases_json, "[{\"opens_at\":\"2026-12-01T09:00:00Z\"}]");
    definition_free(&d);
    json_decref(def);
    json_decref(errors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(minimal_and_defaults),
        cmocka_unit_test(full_definition),
        cmocka_unit_test(required_and_types),
        cmocka_unit_test(single_line_texts),
        cmocka_unit_test(prerequisite_shape),
        cmocka_unit_test(fields_errors_reach_the_list),
        cmocka_unit_test(costly_pattern_refused_fast),
        cmocka_unit_test(slot_lists),
        cmocka_unit_test(generators),
        cmocka_unit_test(query_parameters),
        cmocka_unit_test(patch_merge),
        cmocka_unit_test(patch_refusals),
        cmocka_unit_test(phases_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
