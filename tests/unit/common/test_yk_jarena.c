/* Unit tests for common/yk_jarena.c: jansson values made inside and outside the arena's window,
 * values that outlive it, an arena that fills up. Run under ASan by tests/run, which also checks
 * that no arena block is touched once the arena is reused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "yk_jarena.h"

/* gcc defines __SANITIZE_ADDRESS__ under ASan, clang answers __has_feature(address_sanitizer) */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

static const char booking[] =
    "{\"slot_id\":\"123\",\"email\":\"p1-2@bench.example\",\"fields\":{\"name\":\"予約 太郎 2\"}}";

static int setup(void **state)
{
    yk_jarena_install();
    return 0;
}

/* Outside a window jansson allocates with malloc; inside, a booking's body fits in the arena,
 * and the arena is empty again once the body is released. */
static void window(void **state)
{
    json_t *before = json_loads(booking, 0, NULL);
    assert_non_null(before);
    assert_int_equal(yk_jarena_used(), 0);
    yk_jarena_begin();
    json_t *body = json_loads(booking, JSON_REJECT_DUPLICATES, NULL);
    yk_jarena_end();
    assert_non_null(body);
    assert_true(yk_jarena_used() > 0);
    assert_true(yk_jarena_used() < 2048);
    assert_true(json_equal(before, body));
    char *text = json_dumps(body, JSON_COMPACT); /* outside the window: free() releases it */
    assert_non_null(text);
    free(text);
    json_decref(body);
    assert_int_equal(yk_jarena_used(), 0);
    json_decref(before);
}

/* A value that outlives its window keeps the arena from being reused: the next window's values
 * go elsewhere and the old one stays intact until it is released. */
static void survivor(void **state)
{
    yk_jarena_begin();
    json_t *kept = json_string("kept across requests");
    json_t *body = json_loads(booking, 0, NULL);
    yk_jarena_end();
    json_decref(body);
    size_t pinned = yk_jarena_used();
    assert_true(pinned > 0);
    for (int i = 0; i < 100; i++) {
        yk_jarena_begin();
        body = json_loads(booking, 0, NULL);
        yk_jarena_end();
        assert_non_null(body);
        json_decref(body);
    }
    assert_string_equal(json_string_value(kept), "kept across requests");
    json_decref(kept);
    assert_int_equal(yk_jarena_used(), 0);
}

/* A full arena falls back to malloc, for blocks larger than the arena too; everything is
 * released through the same free. */
static void full(void **state)
{
    char *big = malloc(100000);
    memset(big, 'x', 99999);
    big[99999] = '\0';
    yk_jarena_begin();
    json_t *arr = json_array();
    for (int i = 0; i < 2000; i++)
        assert_int_equal(json_array_append_new(arr, json_integer(i)), 0);
    json_t *s = json_string(big);
    yk_jarena_end();
    assert_non_null(s);
    assert_int_equal(json_integer_value(json_array_get(arr, 1999)), 1999);
    assert_int_equal(json_string_length(s), 99999);
    json_decref(s);
    json_decref(arr);
    assert_int_equal(yk_jarena_used(), 0);
    free(big);
}

/* Under ASan (gcc's or clang's) the arena's free bytes are poisoned: a block's padding, and a
 * block once the arena is empty again, cannot be touched without a report. Without ASan there is
 * nothing to check. */
static void poisoned(void **state)
{
#ifdef TEST_ASAN
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    yk_jarena_begin();
    char *p = m(8);
    yk_jarena_end();
    assert_non_null(p);
    assert_true(yk_jarena_used() > 0); /* from the arena, not malloc */
    assert_false(__asan_address_is_poisoned(p + 7));
    assert_true(__asan_address_is_poisoned(p + 8)); /* the alignment padding */
    f(p);
    assert_int_equal(yk_jarena_used(), 0);
    assert_true(__asan_address_is_poisoned(p));
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(window),
        cmocka_unit_test(survivor),
        cmocka_unit_test(full),
        cmocka_unit_test(poisoned),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
