/* Unit suite for common/yk_partition.h: FNV-1a 32 values the ingress, the worker and the tests'
 * Python copy (tests/integration/ykstack.py fnv1a32) must all agree on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "yk_partition.h"

static void known_values(void **state)
{
    /* FNV-1a 32 of "" is the offset basis; of "a" and "demo" from the published algorithm. */
    assert_int_equal(yk_partition_of("", 0xffffffffu), 2166136261u % 0xffffffffu);
    assert_int_equal(yk_partition_of("a", 0xffffffffu), 0xe40c292cu);
    assert_int_equal(yk_partition_of("foobar", 0xffffffffu), 0xbf9cf968u);
}

static void in_range(void **state)
{
    const char *keys[] = {"demo", "campaign-2026", "予約", "x"};
    for (unsigned n = 1; n <= 1024; n *= 2)
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            assert_true(yk_partition_of(keys[i], n) < n);
    assert_int_equal(yk_partition_of("anything", 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_values),
        cmocka_unit_test(in_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
