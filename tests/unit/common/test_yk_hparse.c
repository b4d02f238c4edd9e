/* Unit suite for common/yk_hparse.c, the parser alone (no socket): targets (origin and absolute
 * form), HEAD given as GET, Host and framing refusals, HTTP/1.0 keep-alive, pipelined requests,
 * size limits, and a long header name split across reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "yk_hparse.h"

static void nothing(void *owner)
{
    (void)owner;
}
static const yk_hparse_hooks no_hooks = {nothing, nothing, NULL};

/* Feeds text in pieces of at most step bytes; returns what the last feed returned. */
static int feed(yk_hparse *p, const char *text, size_t step, size_t *used_total)
{
    size_t n = strlen(text), off = 0;
    int rc = 0;
    while (off < n) {
        size_t k = n - off < step ? n - off : step, used = k;
        rc = yk_hparse_feed(p, text + off, k, &used);
        off += rc == 1 ? used : k;
        if (rc != 0)
            break;
    }
    if (used_total)
        *used_total = off;
    return rc;
}

static int parse_one(const char *text, yk_http_req *r, int *keep, int *http10)
{
    static yk_hparse p;
    yk_hparse_free(&p);
    yk_hparse_init(&p, &no_hooks, NULL, 8192, 65536);
    int rc = feed(&p, text, strlen(text), NULL);
    if (rc == 1) {
        memset(r, 0, sizeof *r);
        *keep = yk_hparse_request(&p, r, http10);
    }
    return rc;
}

static void origin_and_absolute_form(void **state)
{
    yk_http_req r;
    int keep, h10;
    assert_int_equal(parse_one("GET /v1/events?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", &r, &keep, &h10),
                     1);
    assert_int_equal(r.method, YK_M_GET);
    assert_string_equal(r.path, "/v1/events");
    assert_string_equal(r.query, "x=1");
    assert_true(keep);
    assert_false(h10);
    assert_int_equal(
        parse_one("GET http://example.com/v1/events?y=2 HTTP/1.1\r\nHost: example.com\r\n\r\n", &r,
                  &keep, &h10),
        1);
    assert_string_equal(r.path, "/v1/events");
    assert_string_equal(r.query, "y=2");
    assert_int_equal(
        parse_one("GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", &r, &keep, &h10),
        1);
    assert_string_equal(r.path, "/");
}

static void head_is_get(void **state)
{
    yk_http_req r;
    int keep, h10;
    assert_int_equal(parse_one("HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n", &r, &keep, &h10), 1);
    assert_int_equal(r.method, YK_M_GET);
    assert_true(r.head);
}

static void host_and_framing(void **state)
{
    yk_http_req r;
    int keep, h10;
    assert_int_equal(parse_one("GET / HTTP/1.1\r\n\r\n", &r, &keep, &h10), 400);
    assert_int_equal(parse_one("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &r, &keep, &h10),
                     400);
    assert_int_equal(parse_one("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                               &r, &keep, &h10),
                     400);
    assert_int_equal(parse_one("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
                               "Content-Length: 3\r\n\r\nabc",
                               &r, &keep, &h10),
                     400);
}

static void http10_keep_alive(void **state)
{
    yk_http_req r;
    int keep, h10;
    assert_int_equal(parse_one("GET / HTTP/1.0\r\n\r\n", &r, &keep, &h10), 1);
    assert_true(h10);
    assert_false(keep);
    assert_int_equal(parse_one("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r, &keep, &h10),
                     1);
    assert_true(h10);
    assert_true(keep);
    assert_int_equal(
        parse_one("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &r, &keep, &h10), 1);
    assert_false(keep);
}

/* Two requests in one read: the first is taken up to its last byte, the second after next. */
static void pipelined(void **state)
{
    yk_hparse p;
    yk_hparse_init(&p, &no_hooks, NULL, 8192, 65536);
    const char *two = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                      "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    size_t used = 0;
    assert_int_equal(yk_hparse_feed(&p, two, strlen(two), &used), 1);
    yk_http_req r = {0};
    int h10;
    yk_hparse_request(&p, &r, &h10);
    assert_string_equal(r.path, "/a");
    assert_int_equal(r.body_len, 3);
    assert_memory_equal(r.body, "abc", 3);
    yk_hparse_next(&p);
    size_t used2 = 0;
    assert_int_equal(yk_hparse_feed(&p, two + used, strlen(two) - used, &used2), 1);
    memset(&r, 0, sizeof r);
    yk_hparse_request(&p, &r, &h10);
    assert_string_equal(r.path, "/b");
    yk_hparse_free(&p);
}

static void limits(void **state)
{
    yk_hparse p;
    yk_hparse_init(&p, &no_hooks, NULL, 256, 16);
    assert_int_equal(feed(&p, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n", 64, NULL),
                     413);
    yk_hparse_free(&p);
    yk_hparse_init(&p, &no_hooks, NULL, 256, 16);
    char big[600];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET / HTTP/1.1\r\nX-Big: ", 23);
    big[sizeof big - 1] = '\0';
    int rc = feed(&p, big, sizeof big, NULL);
    assert_true(rc == 431 || rc == 400);
    yk_hparse_free(&p);
}

/* A header name longer than the buffer, split at every point around the buffer's size: counted,
 * matched to nothing, and the known header after it still read. */
static void long_name_split(void **state)
{
    char req[256];
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: h\r\nX-%s: 1\r\nIdempotency-Key: k1\r\n\r\n",
             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    for (size_t step = 1; step < 60; step++) {
        yk_hparse p;
        yk_hparse_init(&p, &no_hooks, NULL, 8192, 65536);
        assert_int_equal(feed(&p, req, step, NULL), 1);
        yk_http_req r = {0};
        int h10;
        yk_hparse_request(&p, &r, &h10);
        assert_non_null(r.headers[YK_HDR_IDEMPOTENCY_KEY]);
        assert_string_equal(r.headers[YK_HDR_IDEMPOTENCY_KEY], "k1");
        yk_hparse_free(&p);
    }
}

/* X-Forwarded-For's lines are one comma-joined list (a proxy may add its own line), split at
 * every point; another header's repeat keeps its first line. */
static void forwarded_for_lines_joined(void **state)
{
    const char *req = "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2 \r\n"
                      "Origin: http://a\r\nx-forwarded-for:3.3.3.3\r\nOrigin: http://b\r\n"
                      "X-FORWARDED-FOR:  4.4.4.4\r\n\r\n";
    for (size_t step = 1; step < 40; step++) {
        yk_hparse p;
        yk_hparse_init(&p, &no_hooks, NULL, 8192, 65536);
        assert_int_equal(feed(&p, req, step, NULL), 1);
        yk_http_req r = {0};
        int h10;
        yk_hparse_request(&p, &r, &h10);
        assert_string_equal(r.headers[YK_HDR_FORWARDED_FOR], "1.1.1.1, 2.2.2.2, 3.3.3.3, 4.4.4.4");
        assert_string_equal(r.headers[YK_HDR_ORIGIN], "http://a");
        yk_hparse_free(&p);
    }
    /* many lines: each copy counts against the buffer, which refuses at its cap (431) */
    char big[8192] = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (int i = 0; i < 200; i++)
        strcat(big, "X-Forwarded-For: 10.0.0.1\r\n");
    strcat(big, "\r\n");
    yk_hparse p;
    yk_hparse_init(&p, &no_hooks, NULL, 8192, 1024);
    assert_int_equal(feed(&p, big, strlen(big), NULL), 431);
    yk_hparse_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(origin_and_absolute_form),
        cmocka_unit_test(head_is_get),
        cmocka_unit_test(host_and_framing),
        cmocka_unit_test(http10_keep_alive),
        cmocka_unit_test(pipelined),
        cmocka_unit_test(limits),
        cmocka_unit_test(long_name_split),
        cmocka_unit_test(forwarded_for_lines_joined),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
