/* Unit tests for common/yk_pg.c against servers that fail the way a stopped or stalled
 * PostgreSQL does: nothing listening, a server that accepts and never answers, one that completes
 * the startup and then never answers a query. The loop must keep turning and every query must
 * get its NULL within the bounds, never inside yk_pg_query. Owns nothing but its test cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "yk_pg.h"

#define WAIT_MS 8000

static struct {
    uv_loop_t loop;
    uv_timer_t guard, tick, later;
    int listen_fd, port, stopping;
    int handshake; /* the fake server completes the startup before going silent */
    pthread_t server;
    yk_pg *pg;
    int in_submit, calls, nulls, inline_calls, timed_out, was_ready;
    uint64_t t0, t_done, last_tick, max_gap;
} F;

/* ---- the fake server: accepts, optionally answers the startup (AuthenticationOk,
 * ReadyForQuery), then reads whatever comes and answers nothing */

static void *server_main(void *arg)
{
    for (;;) {
        int fd = accept(F.listen_fd, NULL, NULL);
        if (fd < 0 || F.stopping) {
            if (fd >= 0)
                close(fd);
            return NULL;
        }
        char buf[4096];
        if (F.handshake) {
            uint32_t len = 0;
            if (read(fd, &len, 4) == 4) {
                size_t left = ntohl(len) - 4;
                while (left > 0) {
                    ssize_t k = read(fd, buf, left < sizeof buf ? left : sizeof buf);
                    if (k <= 0)
                        break;
                    left -= (size_t)k;
                }
                static const char ok[] = {'R', 0, 0, 0, 8, 0, 0, 0, 0, 'Z', 0, 0, 0, 5, 'I'};
                if (send(fd, ok, sizeof ok, MSG_NOSIGNAL) != sizeof ok)
                    perror("fake server send");
            }
        }
        while (read(fd, buf, sizeof buf) > 0) /* until the client hangs up */
            ;
        close(fd);
    }
}

static void server_start(int handshake)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    F.handshake = handshake;
    F.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(F.listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(F.listen_fd, (struct sockaddr *)&sa, &len), 0);
    assert_int_equal(listen(F.listen_fd, 16), 0);
    F.port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&F.server, NULL, server_main, NULL), 0);
}

static void server_stop(void)
{
    if (F.listen_fd < 0)
        return;
    F.stopping = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons((uint16_t)F.port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        perror("connect to the fake server");
    pthread_join(F.server, NULL);
    close(fd);
    close(F.listen_fd);
    F.listen_fd = -1;
}

/* A port nothing listens on. */
static int closed_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* ---- fixture */

static void finish(void)
{
    yk_pg_close(F.pg);
    uv_close((uv_handle_t *)&F.guard, NULL);
    uv_close((uv_handle_t *)&F.tick, NULL);
    uv_close((uv_handle_t *)&F.later, NULL);
}

static void guard_cb(uv_timer_t *t)
{
    F.timed_out = 1;
    finish();
}

/* Measures how long the loop ever went without turning. */
static void tick_cb(uv_timer_t *t)
{
    uint64_t now = uv_now(&F.loop);
    if (F.last_tick && now - F.last_tick > F.max_gap)
        F.max_gap = now - F.last_tick;
    F.last_tick = now;
    F.was_ready |= yk_pg_ready(F.pg);
}

static int setup(void **state)
{
    memset(&F, 0, sizeof F);
    F.listen_fd = -1;
    assert_int_equal(uv_loop_init(&F.loop), 0);
    uv_timer_init(&F.loop, &F.guard);
    uv_timer_init(&F.loop, &F.tick);
    uv_timer_init(&F.loop, &F.later);
    uv_timer_start(&F.guard, guard_cb, WAIT_MS, 0);
    uv_timer_start(&F.tick, tick_cb, 10, 10);
    F.t0 = uv_now(&F.loop);
    return 0;
}

static int teardown(void **state)
{
    uv_run(&F.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&F.loop), 0);
    server_stop();
    return 0;
}

static void open_pg(int port, uint64_t retry_ms, uint64_t connect_ms, uint64_t query_ms)
{
    char conninfo[160];
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1 port=%d dbname=x user=x sslmode=disable gssencmode=disable", port);
    assert_int_equal(yk_pg_open(&F.pg, &F.loop, conninfo, retry_ms), 0);
    yk_pg_set_timeouts(F.pg, connect_ms, query_ms);
}

static void done_cb(yk_pg_op *op, yk_pgres *res)
{
    F.calls++;
    F.inline_calls += F.in_submit;
    F.nulls += res == NULL;
    F.t_done = uv_now(&F.loop);
    finish();
}

static yk_pg_op op = {.cb = done_cb};

static void query_cb(uv_timer_t *t)
{
    F.in_submit = 1;
    int rc = yk_pg_query(F.pg, &op, "SELECT $1", 1, (const char *const[]){"1"});
    F.in_submit = 0;
    assert_int_equal(rc, 0);
}

/* Under valgrind (the valgrind test setup of meson.build sets YK_TEST_TIME_SCALE) the code runs
 * many times slower: the bounds on how long things may take stretch by that factor. */
static uint64_t time_scale(void)
{
    const char *s = getenv("YK_TEST_TIME_SCALE");
    long f = s ? atol(s) : 1;
    return f > 1 ? (uint64_t)f : 1;
}

static void run_and_check(uint64_t within_ms)
{
    uv_run(&F.loop, UV_RUN_DEFAULT);
    assert_int_equal(F.timed_out, 0);
    assert_int_equal(F.calls, 1);
    assert_int_equal(F.nulls, 1);
    assert_int_equal(F.inline_calls, 0);
    assert_true(F.t_done - F.t0 <= within_ms * time_scale());
    assert_true(F.max_gap < 100 * time_scale());
}

/* Nothing listens: the connect fails, and a query queued while backing off (retry far away) is
 * failed on the next loop turn instead of waiting for the retry. */
static void refused_fails_at_once(void **state)
{
    open_pg(closed_port(), 60000, 1000, 1000);
    uv_timer_start(&F.later, query_cb, 200, 0);
    run_and_check(200 + 100);
}

/* A server that accepts and never answers the startup (a stopped postmaster): the connect is
 * abandoned after connect_ms and the waiting query gets NULL; the loop never stalls. */
static void stalled_connect_bounded(void **state)
{
    server_start(0);
    open_pg(F.port, 60000, 300, 1000);
    query_cb(NULL);
    run_and_check(300 + 150);
    assert_int_equal(F.was_ready, 0);
}

/* Connected (ready at first), then the server stops answering: the query in flight gets NULL
 * after query_ms. */
static void stalled_query_bounded(void **state)
{
    server_start(1);
    open_pg(F.port, 60000, 1000, 300);
    uv_timer_start(&F.later, query_cb, 100, 0);
    run_and_check(100 + 300 + 150);
    assert_int_equal(F.was_ready, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(refused_fails_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(stalled_connect_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(stalled_query_bounded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
