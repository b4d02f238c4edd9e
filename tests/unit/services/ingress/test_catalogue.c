/* Unit tests for services/ingress/catalogue.c: loads built from rows (a stub loader), lookups,
 * seat updates from "remaining" messages (also during a load), the loaded/current states, failed
 * loads, and booking fields put in definition order and typed. Owns only its test cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "catalogue.h"

static int loads_started; /* calls of the stub loader */
static int loader_fails;

static int stub_loader(void)
{
    loads_started++;
    return loader_fails ? -1 : 0;
}

static const char fields_def[] = "[{\"name\":\"zz_name\",\"type\":\"text\",\"required\":true},"
                                 "{\"name\":\"age\",\"type\":\"number\"},"
                                 "{\"name\":\"b\",\"type\":\"text\"}]";

static void add_event(int64_t id, const char *slug, const char *campaign)
{
    char json[256];
    snprintf(json, sizeof json, "{\"id\":\"%lld\",\"slug\":\"%s\",\"title\":\"T\"}", (long long)id,
             slug);
    cat_event_row row = {.id = id,
                         .slug = slug,
                         .fields_json = fields_def,
                         .campaign = campaign,
                         .event_json = json,
                         .per_person_limit = 1,
                         .published = true};
    catalogue_load_event(&row);
}

static void add_slot(int64_t id, int64_t event_id, const char *starts_at, int remaining)
{
    cat_slot_row row = {.id = id,
                        .event_id = event_id,
                        .starts_at = starts_at,
                        .ends_at = starts_at,
                        .capacity = 10,
                        .remaining = remaining};
    catalogue_load_slot(&row);
}

/* One full load: events 1 (a) and 3 (b, campaign c), slots 10..12 of event 1 (12 starts first)
 * and 20 of event 3. */
static void load_two_events(void)
{
    catalogue_reload(NULL, NULL);
    add_event(1, "a", "");
    add_event(3, "b", "c");
    add_slot(10, 1, "2027-01-02T09:00:00+09:00", 5);
    add_slot(11, 1, "2027-01-03T09:00:00+09:00", 0);
    add_slot(12, 1, "2027-01-01T09:00:00+09:00", 1);
    add_slot(20, 3, "2027-01-01T10:00:00+09:00", 2);
    catalogue_load_end(true);
}

static int setup(void **state)
{
    (void)state;
    loads_started = 0;
    loader_fails = 0;
    catalogue_init(stub_loader, 16);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    catalogue_free();
    return 0;
}

static void test_not_loaded_until_a_load_ends(void **state)
{
    (void)state;
    assert_false(catalogue_loaded());
    assert_false(catalogue_current());
    catalogue_reload(NULL, NULL);
    assert_int_equal(loads_started, 1);
    add_event(1, "a", "");
    assert_false(catalogue_loaded()); /* rows being loaded are not visible */
    assert_null(catalogue_event("a"));
    catalogue_load_end(true);
    assert_true(catalogue_loaded());
    assert_true(catalogue_current());
    assert_non_null(catalogue_event("a"));
}

static void test_lookups(void **state)
{
    (void)state;
    load_two_events();
    cat_event *a = catalogue_event("a"), *b = catalogue_event("b");
    assert_non_null(a);
    assert_non_null(b);
    assert_null(catalogue_event("zzz"));
    assert_ptr_equal(catalogue_event_by_id(3), b);
    assert_null(catalogue_event_by_id(2));
    assert_ptr_equal(catalogue_event_at(0), a);
    assert_ptr_equal(catalogue_event_at(1), b);
    assert_null(catalogue_event_at(2));
    assert_string_equal(a->id_str, "1");
    /* slots ordered by start; open slots counted */
    assert_int_equal(a->nslots, 3);
    assert_int_equal(a->slots[0]->id, 12);
    assert_int_equal(a->slots[1]->id, 10);
    assert_int_equal(a->slots[2]->id, 11);
    assert_int_equal(a->open_slots, 2);
    assert_int_equal(catalogue_slot(20)->event_id, 3);
    assert_null(catalogue_slot(13));
    /* the partition comes from the campaign when there is one (FNV-1a, as the worker's) */
    assert_int_equal(b->partition, catalogue_event("b")->partition);
    assert_int_not_equal(a->fields.n, 0);
}

static void test_remaining_messages(void **state)
{
    (void)state;
    load_two_events();
    cat_event *a = catalogue_event("a");
    const char msg[] = "remaining 1 10 0 1 12 0 3 20 7";
    catalogue_on_message(msg, strlen(msg));
    assert_int_equal(catalogue_slot(10)->remaining, 0);
    assert_int_equal(catalogue_slot(12)->remaining, 0);
    assert_int_equal(catalogue_slot(20)->remaining, 7);
    assert_int_equal(a->open_slots, 0); /* sold out */
    const char back[] = "remaining 1 11 3";
    catalogue_on_message(back, strlen(back));
    assert_int_equal(a->open_slots, 1);
    /* unknown slots are ignored; a malformed message keeps what was read before the fault */
    const char odd[] = "remaining 1 99 4 1 10 2 1 x 5";
    catalogue_on_message(odd, strlen(odd));
    assert_int_equal(catalogue_slot(10)->remaining, 2);
    assert_int_equal(a->open_slots, 2);
    /* not NUL-terminated: only len bytes count */
    const char cut[] = "remaining 3 20 15";
    catalogue_on_message(cut, strlen(cut) - 1);
    assert_int_equal(catalogue_slot(20)->remaining, 1);
    /* other messages change nothing */
    catalogue_on_message("hello", 5);
    assert_int_equal(catalogue_slot(20)->remaining, 1);
}

static void test_counts_heard_during_a_load_win(void **state)
{
    (void)state;
    load_two_events();
    const char msg[] = "catalogue";
    catalogue_on_message(msg, strlen(msg)); /* starts a reload */
    assert_int_equal(loads_started, 2);
    const char seats[] = "remaining 1 10 0";
    catalogue_on_message(seats, strlen(seats));
    add_event(1, "a", "");
    add_slot(10, 1, "2027-01-02T09:00:00+09:00", 5); /* read before the worker's commit */
    catalogue_load_end(true);
    assert_int_equal(catalogue_slot(10)->remaining, 0);
    assert_int_equal(catalogue_event("a")->open_slots, 0);
    assert_null(catalogue_event("b")); /* the new table replaced the old one whole */
}

static int done_calls, done_ok;

static void on_done(void *ud, int ok)
{
    (void)ud;
    done_calls++;
    done_ok = ok;
}

static void test_failed_reload_keeps_the_table_but_not_current(void **state)
{
    (void)state;
    load_two_events();
    done_calls = 0;
    catalogue_reload(on_done, NULL);
    catalogue_load_end(false);
    assert_int_equal(done_calls, 1);
    assert_int_equal(done_ok, 0);
    assert_true(catalogue_loaded());
    assert_false(catalogue_current()); /* an unknown slug may be an event not loaded */
    assert_non_null(catalogue_event("a"));
    /* a loader that cannot send fails the load at once */
    loader_fails = 1;
    catalogue_reload(on_done, NULL);
    assert_int_equal(done_calls, 2);
    assert_false(catalogue_current());
    loader_fails = 0;
    load_two_events();
    assert_true(catalogue_current());
}

static void test_reload_during_a_load_runs_again(void **state)
{
    (void)state;
    done_calls = 0;
    catalogue_reload(on_done, NULL);
    catalogue_reload(on_done, NULL); /* waits for a load that starts after it */
    assert_int_equal(loads_started, 1);
    catalogue_load_end(true);
    assert_int_equal(done_calls, 1);
    assert_int_equal(loads_started, 2);
    catalogue_load_end(true);
    assert_int_equal(done_calls, 2);
}

static void test_booking_fields_in_definition_order_and_typed(void **state)
{
    (void)state;
    load_two_events();
    /* as jsonb gives it back: keys by length, the number as its decimal text */
    json_t *stored =
        json_loads("{\"b\":\"x\",\"old\":1,\"age\":\"42\",\"zz_name\":\"N\"}", 0, NULL);
    json_t *out = catalogue_booking_fields(catalogue_event("a"), stored);
    char *text = json_dumps(out, JSON_COMPACT);
    assert_string_equal(text, "{\"zz_name\":\"N\",\"age\":42,\"b\":\"x\",\"old\":1}");
    free(text);
    json_decref(out);
    json_decref(stored);
    /* a number that is not a plain decimal stays as stored */
    stored = json_loads("{\"age\":\"4x\"}", 0, NULL);
    out = catalogue_booking_fields(catalogue_event("a"), stored);
    assert_string_equal(json_string_value(json_object_get(out, "age")), "4x");
    json_decref(out);
    json_decref(stored);
    /* no fields stored: {} */
    out = catalogue_booking_fields(catalogue_event("a"), NULL);
    assert_int_equal(json_object_size(out), 0);
    json_decref(out);
}

static void test_bad_event_row_is_skipped(void **state)
{
    (void)state;
    catalogue_reload(NULL, NULL);
    cat_event_row bad = {.id = 1,
                         .slug = "bad",
                         .fields_json = "[{\"name\":\"x\",\"type\":\"nope\"}]",
                         .campaign = "",
                         .event_json = "{}"};
    catalogue_load_event(&bad);
    add_event(2, "good", "");
    catalogue_load_end(true);
    assert_null(catalogue_event("bad"));
    assert_non_null(catalogue_event("good"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_not_loaded_until_a_load_ends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remaining_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts_heard_during_a_load_win, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_reload_keeps_the_table_but_not_current, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reload_during_a_load_runs_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_booking_fields_in_definition_order_and_typed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_event_row_is_skipped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
