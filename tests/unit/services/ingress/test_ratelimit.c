/* Unit suite for services/ingress/ratelimit.c: the YOYAKU_RATE_* format (good and bad values,
 * full-width digits and control bytes included), the token bucket (burst, refill, Retry-After,
 * separate addresses, no limit), a table flooded with addresses, and the route hook's 429. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>
#include <time.h>

#include "client.h"
#include "ingress.h"
#include "ratelimit.h"

#define S 1000000ull /* µs */
#define T0 (1000 * S)

/* --- what ratelimit.c borrows from the ingress: stand-ins that record --------------------- */

ingress_state ingress;
static int limited = 1;          /* what client_limited answers */
static unsigned char client[16]; /* the address it gives */
static int answered, last_status;
static char last_headers[128], last_body[256];

int client_limited(const yk_http_req *req, unsigned char out[YK_IP_LEN])
{
    (void)req;
    memcpy(out, client, YK_IP_LEN);
    return limited;
}

void yk_http_respond(yk_http_req *req, int status, const char *content_type,
                     const char *extra_headers, const char *body, size_t len)
{
    (void)req;
    assert_string_equal(content_type, "application/json");
    answered++;
    last_status = status;
    snprintf(last_headers, sizeof last_headers, "%s", extra_headers ? extra_headers : "");
    snprintf(last_body, sizeof last_body, "%.*s", (int)len, body);
}

static ratelimit_table table; /* large: not on the stack */
static const unsigned char seed[16] = "0123456789abcdef";

static void addr_of(unsigned char a[16], unsigned v)
{
    memset(a, 0, 16);
    a[10] = a[11] = 0xff;
    a[12] = 10;
    a[13] = (unsigned char)(v >> 16);
    a[14] = (unsigned char)(v >> 8);
    a[15] = (unsigned char)v;
}

static void parse_good(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint64_t interval;
        uint32_t burst;
    } cases[] = {
        {"60/min", S, 60},
        {"2/s", S / 2, 2},
        {"10/h,3", 360 * S, 3},
        {"5", 12 * S, 5},
        {" 7/min,2 ", 60 * S / 7, 2},
        {"1000000/s", 1, 1000000},
        {"1/h,1000000", 3600 * S, 1000000},
        {"0", 0, 1},
        {"off", 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t interval = 99;
        uint32_t burst = 99;
        char err[200];
        if (ratelimit_parse(cases[i].s, &interval, &burst, err, sizeof err) != 0)
            fail_msg("%s refused: %s", cases[i].s, err);
        assert_int_equal(interval, cases[i].interval);
        assert_int_equal(burst, cases[i].burst);
        assert_int_equal(ratelimit_check_setting(cases[i].s, err, sizeof err), 0);
    }
}

static void parse_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "abc",
        "5/day",
        "-1/min",
        "1/min,0",
        "\xef\xbc\x91\xef\xbc\x90/min",
        "10/min\r\n",
        "10/min\nX-A: b",
        "12345678/s",
        "1000001/s",
        "1/s,1000001",
        "10/min,",
        "/min",
        "10/",
        "10 /min",
        "off,5",
        "0/min",
        "+5/min",
        "5/MIN",
        "1e3/s",
        "10/min,2,3",
        "0x10/s",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t interval;
        uint32_t burst;
        char err[200] = "";
        if (ratelimit_parse(bad[i], &interval, &burst, err, sizeof err) == 0)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_non_null(strstr(err, "N/min")); /* says what is expected */
        assert_null(strchr(err, '\n'));
    }
}

/* B at once, then one per interval; the wait is exact, and a refused request takes nothing. */
static void bucket_burst_and_refill(void **state)
{
    (void)state;
    unsigned char a[16];
    addr_of(a, 1);
    ratelimit_table_init(&table, S, 3, seed); /* 60/min,3 */
    for (int i = 0; i < 3; i++)
        assert_int_equal(ratelimit_table_take(&table, a, T0), 0);
    assert_int_equal(ratelimit_table_take(&table, a, T0), S);
    assert_int_equal(ratelimit_table_take(&table, a, T0 + S / 4), 3 * S / 4);
    assert_int_equal(ratelimit_table_take(&table, a, T0 + S - 1), 1);
    assert_int_equal(ratelimit_table_take(&table, a, T0 + S), 0); /* one token earned */
    assert_int_equal(ratelimit_table_take(&table, a, T0 + S), S);
    /* a long rest fills the bucket to 3, never beyond */
    uint64_t later = T0 + 3600 * S;
    for (int i = 0; i < 3; i++)
        assert_int_equal(ratelimit_table_take(&table, a, later), 0);
    assert_true(ratelimit_table_take(&table, a, later) > 0);
    /* a steady client at the rate is never refused */
    for (int i = 1; i <= 100; i++)
        assert_int_equal(ratelimit_table_take(&table, a, later + (uint64_t)i * S), 0);
}

static void addresses_apart_and_no_limit(void **state)
{
    (void)state;
    unsigned char a[16], b[16];
    addr_of(a, 1);
    addr_of(b, 2);
    ratelimit_table_init(&table, 30 * S, 1, seed); /* 2/min,1 */
    assert_int_equal(ratelimit_table_take(&table, a, T0), 0);
    assert_int_equal(ratelimit_table_take(&table, a, T0), 30 * S);
    assert_int_equal(ratelimit_table_take(&table, b, T0), 0);
    ratelimit_table_init(&table, 0, 1, seed);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(ratelimit_table_take(&table, a, T0), 0);
}

/* Many more addresses than slots: a client that emptied its bucket is not forgotten for them
 * (full buckets go first), and each lookup stays bounded (this loop would crawl otherwise). */
static void flooded_table(void **state)
{
    (void)state;
    unsigned char a[16], x[16];
    addr_of(a, 0xabcdef);
    ratelimit_table_init(&table, S, 5, seed);
    for (int i = 0; i < 5; i++)
        assert_int_equal(ratelimit_table_take(&table, a, T0), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned v = 0; v < 16 * RATELIMIT_SLOTS; v++) {
        addr_of(x, v);
        assert_int_equal(ratelimit_table_take(&table, x, T0), 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
                (16.0 * RATELIMIT_SLOTS);
    print_message("ratelimit_table_take: %.0f ns per call over a flooded table\n", ns);
    assert_true(ratelimit_table_take(&table, a, T0) > 0);
}

static void route_hook(void **state)
{
    (void)state;
    static uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    ingress.loop = &loop;
    const char *settings[RATE_KINDS] = {[RATE_RESERVE] = "2/min",
                                        [RATE_WAITLIST] = "off",
                                        [RATE_UNLOCK] = "1/h",
                                        [RATE_LOGIN] = "30/min"};
    ratelimit_init(settings);
    yk_http_req req = {0};
    addr_of(client, 7);
    limited = 1;
    answered = 0;
    assert_int_equal(ratelimit_refuse(&req, RATE_RESERVE), 0);
    assert_int_equal(ratelimit_refuse(&req, RATE_RESERVE), 0);
    assert_int_equal(answered, 0);
    assert_int_equal(ratelimit_refuse(&req, RATE_RESERVE), 1);
    assert_int_equal(answered, 1);
    assert_int_equal(last_status, 429);
    int secs = 0;
    assert_int_equal(sscanf(last_headers, "Retry-After: %d\r\n", &secs), 1);
    assert_true(secs >= 29 && secs <= 30); /* the next token of 2/min */
    assert_non_null(strstr(last_body, "\"error\":\"rate_limited\""));
    /* kinds count apart; "off" never refuses; an hourly bucket says so in seconds */
    for (int i = 0; i < 50; i++)
        assert_int_equal(ratelimit_refuse(&req, RATE_WAITLIST), 0);
    assert_int_equal(ratelimit_refuse(&req, RATE_UNLOCK), 0);
    assert_int_equal(ratelimit_refuse(&req, RATE_UNLOCK), 1);
    assert_int_equal(sscanf(last_headers, "Retry-After: %d\r\n", &secs), 1);
    assert_true(secs >= 3599 && secs <= 3600);
    /* a client that is not limited (this machine) is never refused nor counted */
    limited = 0;
    answered = 0;
    for (int i = 0; i < 10; i++)
        assert_int_equal(ratelimit_refuse(&req, RATE_RESERVE), 0);
    assert_int_equal(answered, 0);
    /* another address has its own bucket */
    limited = 1;
    addr_of(client, 8);
    assert_int_equal(ratelimit_refuse(&req, RATE_RESERVE), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_good),
        cmocka_unit_test(parse_bad),
        cmocka_unit_test(bucket_burst_and_refill),
        cmocka_unit_test(addresses_apart_and_no_limit),
        cmocka_unit_test(flooded_table),
        cmocka_unit_test(route_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
