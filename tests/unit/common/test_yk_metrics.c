/* Unit tests for common/yk_metrics.c: the text of each family type, series limits, and the text
 * written into a capped yk_buf. Owns nothing but its own test cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yk_metrics.h"

/* b's text as a C string (it is not NUL-terminated). */
static const char *text(yk_buf *b)
{
    yk_buf_addc(b, '\0');
    assert_false(b->failed);
    b->len--;
    return b->p;
}

static void printf_lines(void **state)
{
    yk_buf b = YK_BUF_INIT(YK_METRICS_MAX);
    yk_metrics_printf(&b, "a %d\n", 1);
    yk_metrics_printf(&b, "%s\n", "b");
    assert_string_equal(text(&b), "a 1\nb\n");
    /* longer than the formatter's line buffer: written whole */
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    yk_metrics_printf(&b, "%s|", big);
    assert_int_equal(b.len, 6 + sizeof big);
    assert_int_equal(b.p[b.len - 1], '|');
    yk_buf_free(&b);
}

/* Past the cap nothing more is written and the failure sticks: a scrape is all or nothing. */
static void cap_fails(void **state)
{
    yk_buf b = YK_BUF_INIT(16);
    yk_metrics_printf(&b, "0123456789\n");
    assert_false(b.failed);
    yk_metrics_printf(&b, "0123456789\n");
    assert_true(b.failed);
    assert_int_equal(b.len, 11);
    yk_metrics_printf(&b, "x");
    assert_int_equal(b.len, 11);
    yk_family f = YK_COUNTER("c_total", "A counter.");
    yk_family_add(&f, "", 1);
    yk_family_render(&f, &b);
    assert_true(b.failed);
    assert_int_equal(b.len, 11);
    yk_family_free(&f);
    yk_buf_free(&b);
}

static void counter_and_gauge(void **state)
{
    yk_family c = YK_COUNTER("t_requests_total", "Requests.");
    yk_family g = YK_GAUGE("t_depth", "Depth.");
    yk_family_add(&c, "route=\"a\",code=\"200\"", 1);
    yk_family_add(&c, "route=\"a\",code=\"200\"", 2);
    yk_family_add(&c, "route=\"b\",code=\"404\"", 1);
    yk_family_set(&g, "", 7);
    yk_family_set(&g, "", 0.5);
    yk_buf b = YK_BUF_INIT(YK_METRICS_MAX);
    yk_family_render(&c, &b);
    yk_family_render(&g, &b);
    assert_string_equal(text(&b), "# HELP t_requests_total Requests.\n"
                                  "# TYPE t_requests_total counter\n"
                                  "t_requests_total{route=\"a\",code=\"200\"} 3\n"
                                  "t_requests_total{route=\"b\",code=\"404\"} 1\n"
                                  "# HELP t_depth Depth.\n"
                                  "# TYPE t_depth gauge\n"
                                  "t_depth 0.5\n");
    /* cleared gauges render their header only */
    yk_family_clear(&g);
    yk_buf_reset(&b);
    yk_family_render(&g, &b);
    assert_string_equal(text(&b), "# HELP t_depth Depth.\n# TYPE t_depth gauge\n");
    yk_family_free(&c);
    yk_family_free(&g);
    yk_buf_free(&b);
}

static void histogram(void **state)
{
    yk_family h = YK_HISTOGRAM("t_seconds", "Latency.", yk_metrics_latency_bounds);
    yk_family_observe(&h, "", 0.0004);
    yk_family_observe(&h, "", 0.003);
    yk_family_observe(&h, "", 99);
    yk_histogram part = {.bounds = yk_metrics_latency_bounds};
    yk_histogram_observe(&part, 0.001);
    yk_family_merge(&h, "", &part);
    yk_buf b = YK_BUF_INIT(YK_METRICS_MAX);
    yk_family_render(&h, &b);
    const char *t = text(&b);
    assert_non_null(strstr(t, "# TYPE t_seconds histogram\n"));
    assert_non_null(strstr(t, "t_seconds_bucket{le=\"0.0005\"} 1\n"));
    assert_non_null(strstr(t, "t_seconds_bucket{le=\"0.001\"} 2\n"));
    assert_non_null(strstr(t, "t_seconds_bucket{le=\"0.0025\"} 2\n"));
    assert_non_null(strstr(t, "t_seconds_bucket{le=\"0.005\"} 3\n"));
    assert_non_null(strstr(t, "t_seconds_bucket{le=\"10\"} 3\n"));
    assert_non_null(strstr(t, "t_seconds_bucket{le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(t, "t_seconds_sum 99.0044\n"));
    assert_non_null(strstr(t, "t_seconds_count 4\n"));
    yk_family_free(&h);
    yk_family l = YK_HISTOGRAM("t_size", "Sizes.", yk_metrics_size_bounds);
    yk_family_observe(&l, "partition=\"3\"", 2);
    yk_buf_reset(&b);
    yk_family_render(&l, &b);
    t = text(&b);
    assert_non_null(strstr(t, "t_size_bucket{partition=\"3\",le=\"1\"} 0\n"));
    assert_non_null(strstr(t, "t_size_bucket{partition=\"3\",le=\"2\"} 1\n"));
    assert_non_null(strstr(t, "t_size_sum{partition=\"3\"} 2\n"));
    assert_non_null(strstr(t, "t_size_count{partition=\"3\"} 1\n"));
    yk_family_free(&l);
    yk_buf_free(&b);
}

/* At most 256 series a family: further label sets are dropped, existing ones still count. */
static void series_limit(void **state)
{
    yk_family c = YK_COUNTER("t_total", "Many.");
    char labels[32];
    for (int i = 0; i < 300; i++) {
        snprintf(labels, sizeof labels, "i=\"%d\"", i);
        yk_family_add(&c, labels, 1);
    }
    yk_family_add(&c, "i=\"0\"", 1);
    assert_int_equal(c.n, 256);
    yk_buf b = YK_BUF_INIT(YK_METRICS_MAX);
    yk_family_render(&c, &b);
    const char *t = text(&b);
    assert_non_null(strstr(t, "t_total{i=\"0\"} 2\n"));
    assert_non_null(strstr(t, "t_total{i=\"255\"} 1\n"));
    assert_null(strstr(t, "t_total{i=\"256\"}"));
    yk_family_free(&c);
    yk_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(printf_lines),      cmocka_unit_test(cap_fails),
        cmocka_unit_test(counter_and_gauge), cmocka_unit_test(histogram),
        cmocka_unit_test(series_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
