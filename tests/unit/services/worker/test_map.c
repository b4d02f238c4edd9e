/* Unit suite for services/worker/map.c: insert, look up, delete (backward shift keeps every key
 * reachable), growth and clearing with a value destructor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "map.h"

static void get_ref_del(void **state)
{
    (void)state;
    map m = MAP_INIT;
    assert_null(map_get(&m, "a"));
    map_del(&m, "a", NULL); /* absent, empty map: nothing */
    void **ref = map_ref(&m, "a");
    assert_non_null(ref);
    assert_null(*ref); /* a new key's value is NULL */
    *ref = (void *)1;
    assert_ptr_equal(map_ref(&m, "a"), ref); /* the same slot, not a second key */
    assert_int_equal(m.len, 1);
    assert_ptr_equal(map_get(&m, "a"), (void *)1);
    map_del(&m, "a", NULL);
    assert_null(map_get(&m, "a"));
    assert_int_equal(m.len, 0);
    map_clear(&m, NULL);
}

/* Thousands of keys through several growths; deleting every other one must keep the rest
 * reachable through their probe chains. */
static void grow_and_delete(void **state)
{
    (void)state;
    map m = MAP_INIT;
    char key[16];
    for (intptr_t i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%ld", (long)i);
        void **ref = map_ref(&m, key);
        assert_non_null(ref);
        *ref = (void *)(i + 1);
    }
    assert_int_equal(m.len, 5000);
    assert_true(m.cap >= 2 * m.len); /* load factor at most 1/2 */
    for (intptr_t i = 0; i < 5000; i += 2) {
        snprintf(key, sizeof key, "k%ld", (long)i);
        map_del(&m, key, NULL);
    }
    assert_int_equal(m.len, 2500);
    for (intptr_t i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%ld", (long)i);
        assert_ptr_equal(map_get(&m, key), i % 2 ? (void *)(i + 1) : NULL);
    }
    size_t seen = 0;
    for (size_t i = 0; i < m.cap; i++)
        seen += m.slots[i].key != NULL;
    assert_int_equal(seen, 2500);
    map_clear(&m, NULL);
    assert_int_equal(m.cap, 0);
}

static int freed;
static void count_free(void *v)
{
    freed++;
    free(v);
}

static void clear_frees_values(void **state)
{
    (void)state;
    map m = MAP_INIT;
    for (int i = 0; i < 40; i++) {
        char key[8];
        snprintf(key, sizeof key, "%d", i);
        void **ref = map_ref(&m, key);
        assert_non_null(ref);
        *ref = malloc(4);
    }
    freed = 0;
    map_del(&m, "3", count_free);
    assert_int_equal(freed, 1);
    map_clear(&m, count_free);
    assert_int_equal(freed, 40);
    assert_int_equal(m.len, 0);
    void **ref = map_ref(&m, "again"); /* usable after clearing */
    assert_non_null(ref);
    map_clear(&m, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(get_ref_del),
        cmocka_unit_test(grow_and_delete),
        cmocka_unit_test(clear_frees_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
