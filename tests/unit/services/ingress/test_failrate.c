/* Unit suite for services/ingress/failrate.c: ten failures a minute, successes given back, no
 * limit, and a table fuller than it holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "failrate.h"

#define NOW 1800000000

static failrate rate; /* large: not on the stack */

static void addr_of(unsigned char a[16], unsigned v)
{
    memset(a, 0, 16);
    a[10] = a[11] = 0xff;
    a[12] = 10;
    a[13] = (unsigned char)(v >> 16);
    a[14] = (unsigned char)(v >> 8);
    a[15] = (unsigned char)v;
}

/* The 11th attempt within a minute is refused until the oldest failure is a minute old. */
static void rate_ten_a_minute(void **state)
{
    unsigned char a[16], b[16];
    addr_of(a, 1);
    addr_of(b, 2);
    failrate_init(&rate, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(failrate_take(&rate, a, NOW + i), 0);
    assert_int_equal(failrate_count(&rate, a, NOW + 9), 10);
    assert_int_equal(failrate_take(&rate, a, NOW + 10), 50); /* NOW + 60 - (NOW + 10) */
    assert_int_equal(failrate_take(&rate, a, NOW + 59), 1);
    assert_int_equal(failrate_count(&rate, a, NOW + 59), 10); /* refusals are not counted */
    assert_int_equal(failrate_take(&rate, b, NOW + 10), 0);   /* another address */
    assert_int_equal(failrate_take(&rate, a, NOW + 60), 0);   /* the first aged out */
    assert_int_equal(failrate_take(&rate, a, NOW + 60), 1);   /* the second is due at 61 */
    assert_int_equal(failrate_take(&rate, a, NOW + 200), 0);
    assert_int_equal(failrate_count(&rate, a, NOW + 200), 1);
}

/* A success is given back: right passwords never lock anyone out. */
static void rate_give_back(void **state)
{
    unsigned char a[16];
    addr_of(a, 3);
    failrate_init(&rate, 3);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(failrate_take(&rate, a, NOW), 0);
        failrate_give_back(&rate, a);
    }
    assert_int_equal(failrate_count(&rate, a, NOW), 0);
    /* with a full, wrapped ring too */
    for (int i = 0; i < 3; i++)
        assert_int_equal(failrate_take(&rate, a, NOW + 100 + i), 0);
    assert_int_equal(failrate_take(&rate, a, NOW + 200), 0); /* the old three aged out */
    failrate_give_back(&rate, a);
    assert_int_equal(failrate_count(&rate, a, NOW + 200), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(failrate_take(&rate, a, NOW + 201), 0);
    assert_int_equal(failrate_take(&rate, a, NOW + 202), 59);
}

static void rate_unlimited(void **state)
{
    unsigned char a[16];
    addr_of(a, 4);
    failrate_init(&rate, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(failrate_take(&rate, a, NOW), 0);
    failrate_init(&rate, 1000); /* clamped */
    assert_int_equal(rate.limit, FAILRATE_MAX);
}

/* More addresses than the table holds: memory stays bounded, the newest are still counted. */
static void rate_table_full(void **state)
{
    unsigned char a[16];
    failrate_init(&rate, 2);
    for (unsigned v = 0; v < 4 * FAILRATE_SLOTS; v++) {
        addr_of(a, v);
        assert_int_equal(failrate_take(&rate, a, NOW), 0);
    }
    addr_of(a, 4 * FAILRATE_SLOTS - 1);
    assert_int_equal(failrate_count(&rate, a, NOW), 1);
    assert_int_equal(failrate_take(&rate, a, NOW), 0);
    assert_int_equal(failrate_take(&rate, a, NOW), 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rate_ten_a_minute),
        cmocka_unit_test(rate_give_back),
        cmocka_unit_test(rate_unlimited),
        cmocka_unit_test(rate_table_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
