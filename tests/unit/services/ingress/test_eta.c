/* Unit suite for services/ingress/eta.c: the estimate before any sample, from a measured rate,
 * smoothing, idle spells and a reset count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "eta.h"

static void next_is_now(void **state)
{
    assert_int_equal(eta_seconds(0, 1), 0);
    assert_int_equal(eta_seconds(0, 0), 0);
}

/* Unknown rate: 1,000 a second, rounded up. */
static void default_rate(void **state)
{
    assert_int_equal(eta_seconds(1, 2), 1);
    assert_int_equal(eta_seconds(1, 1001), 1);
    assert_int_equal(eta_seconds(1, 1002), 2);
}

static void measured_rate(void **state)
{
    eta_observe(2, 0, 10000);
    eta_observe(2, 100, 10100); /* too short a span: ignored */
    eta_observe(2, 500, 11000); /* 500/s */
    assert_int_equal(eta_seconds(2, 501), 1);
    assert_int_equal(eta_seconds(2, 1001), 2);
    eta_observe(2, 2000, 12000); /* 1,500/s, smoothed to 1,000/s */
    assert_int_equal(eta_seconds(2, 3001), 3);
}

/* An idle spell keeps the last rate; a smaller count (Redis lost its keys) starts over. */
static void idle_and_reset(void **state)
{
    eta_observe(3, 0, 1000);
    eta_observe(3, 200, 2000); /* 200/s */
    eta_observe(3, 200, 60000);
    assert_int_equal(eta_seconds(3, 401), 2);
    eta_observe(3, 5, 61000);
    assert_int_equal(eta_seconds(3, 401), 2);
}

/* Partitions past the table share its last slot instead of reading beyond it. */
static void partition_out_of_range(void **state)
{
    eta_observe(5000, 0, 1000);
    eta_observe(5000, 4000, 2000);
    assert_int_equal(eta_seconds(ETA_PARTITIONS - 1, 4001), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(next_is_now),
        cmocka_unit_test(default_rate),
        cmocka_unit_test(measured_rate),
        cmocka_unit_test(idle_and_reset),
        cmocka_unit_test(partition_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
