/* Unit tests for yk_http's slow-client defences (common/yk_http_cap.c and the timers of
 * yk_http.c): the per-address connection cap (answered 429 and closed, given back on close, an
 * uncapped peer, addresses apart, churn), the body timeout, and a new connection's first byte due
 * within the header timeout. A real server on 127.0.0.1, the loop pumped from this thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "yk_http.h"

#define WAIT_MS 3000

static uv_loop_t loop;
static yk_http_server *srv;
static int port, handled;

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

static void pump(void)
{
    struct pollfd p = {.fd = uv_backend_fd(&loop), .events = POLLIN};
    int to = uv_backend_timeout(&loop);
    poll(&p, 1, to < 0 || to > 2 ? 2 : to);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static void pump_for(uint64_t ms)
{
    for (uint64_t end = now_ms() + ms; now_ms() < end;)
        pump();
}

static void handler(yk_http_req *req, void *ud)
{
    (void)ud;
    handled++;
    yk_http_respond(req, 200, "text/plain", NULL, "ok", 2);
}

static int uncapped_key(const struct sockaddr_storage *peer, unsigned char key[16])
{
    (void)peer;
    (void)key;
    return 0;
}

static void start(yk_http_limits lim)
{
    assert_int_equal(uv_loop_init(&loop), 0);
    handled = 0;
    for (int tries = 0;; tries++) {
        port = 20000 + (int)(uv_hrtime() % 30000);
        char listen[64];
        snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
        lim.share_port = 0;
        if (yk_http_server_start(&srv, &loop, listen, &lim, handler, NULL, NULL) == 0)
            return;
        assert_true(tries < 20);
    }
}

static void finish(void)
{
    yk_http_server_close(srv);
    for (uint64_t end = now_ms() + WAIT_MS; uv_loop_alive(&loop) && now_ms() < end;)
        pump();
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* A client socket from source address 127.0.0.<src> (0: any), connected (the loop pumped until
 * the server accepted it). */
static int cl_open(int src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    if (src) {
        struct sockaddr_in s = {.sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(0x7f000000u | (unsigned)src)};
        assert_int_equal(bind(fd, (struct sockaddr *)&s, sizeof s), 0);
    }
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    assert_true(rc == 0 || errno == EINPROGRESS);
    pump_for(5);
    return fd;
}

static void cl_send(int fd, const char *s)
{
    assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Reads until the server closes or WAIT_MS passes; returns what came (static) and whether the
 * connection ended in *closed. Stops early once want (if not NULL) has come and no close is
 * awaited. */
static const char *cl_read(int fd, const char *want, int *closed)
{
    static char buf[4096];
    size_t n = 0;
    *closed = 0;
    buf[0] = '\0';
    for (uint64_t end = now_ms() + WAIT_MS; now_ms() < end;) {
        pump();
        ssize_t r = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        if (r > 0) {
            n += (size_t)r;
            buf[n] = '\0';
        } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            *closed = 1;
            break;
        }
        if (want && strstr(buf, want))
            break;
    }
    return buf;
}

static void expect_served(int fd)
{
    int closed;
    cl_send(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    const char *got = cl_read(fd, "\r\n\r\nok", &closed);
    if (strncmp(got, "HTTP/1.1 200 ", 13) != 0 || closed)
        fail_msg("not served: closed=%d %s", closed, got);
}

static void expect_refused(int fd)
{
    int closed;
    uint64_t t0 = now_ms();
    const char *got = cl_read(fd, NULL, &closed);
    assert_true(closed);
    if (strncmp(got, "HTTP/1.1 429 ", 13) != 0 || !strstr(got, "Retry-After: 1\r\n") ||
        !strstr(got, "\"rate_limited\"") || !strstr(got, "Date: "))
        fail_msg("not a 429: %s", got);
    assert_true(now_ms() - t0 < 500); /* at once, not at a timeout */
}

static const yk_http_limits base = {
    .max_body = 4096,
    .max_header = 4096,
    .header_timeout_ms = 5000,
    .idle_timeout_ms = 5000,
};

static void cap_per_address(void **state)
{
    (void)state;
    yk_http_limits lim = base;
    lim.max_conns_per_addr = 3;
    start(lim);
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = cl_open(0);
        expect_served(fds[i]);
    }
    int over = cl_open(0);
    expect_refused(over);
    close(over);
    assert_int_equal(handled, 3);
    /* another address is counted apart */
    int other = cl_open(2);
    expect_served(other);
    close(other);
    /* a closed connection gives its place back */
    close(fds[0]);
    pump_for(20);
    fds[0] = cl_open(0);
    expect_served(fds[0]);
    over = cl_open(0);
    expect_refused(over);
    close(over);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    finish();
}

static void cap_uncapped_peer(void **state)
{
    (void)state;
    yk_http_limits lim = base;
    lim.max_conns_per_addr = 1;
    lim.conn_key = uncapped_key; /* e.g. a trusted proxy */
    start(lim);
    int fds[8];
    for (int i = 0; i < 8; i++) {
        fds[i] = cl_open(0);
        expect_served(fds[i]);
    }
    for (int i = 0; i < 8; i++)
        close(fds[i]);
    finish();
}

/* Connections of 60 addresses opened and closed in a shuffled order: every count stays exact (a
 * table whose removals lost an entry would refuse or admit one too many). */
static void cap_churn(void **state)
{
    (void)state;
    yk_http_limits lim = base;
    lim.max_conns_per_addr = 2;
    start(lim);
    enum { ADDRS = 60 };
    int fds[ADDRS][2];
    for (int a = 0; a < ADDRS; a++)
        for (int k = 0; k < 2; k++)
            fds[a][k] = cl_open(10 + a);
    pump_for(20);
    for (int round = 0; round < 3; round++) {
        for (int a = round % 2; a < ADDRS; a += 2) { /* half the addresses drop one */
            close(fds[a][round % 2]);
            fds[a][round % 2] = -1;
        }
        pump_for(30);
        for (int a = 0; a < ADDRS; a++) {
            int k = fds[a][0] < 0 ? 0 : fds[a][1] < 0 ? 1 : -1;
            int fd = cl_open(10 + a);
            if (k < 0) {
                expect_refused(fd);
                close(fd);
            } else {
                expect_served(fd);
                fds[a][k] = fd;
            }
        }
    }
    for (int a = 0; a < ADDRS; a++)
        for (int k = 0; k < 2; k++)
            close(fds[a][k]);
    finish();
}

static uint64_t time_to_close(int fd)
{
    uint64_t t0 = now_ms();
    int closed;
    (void)cl_read(fd, NULL, &closed);
    assert_true(closed);
    return now_ms() - t0;
}

static void body_and_first_byte_timeouts(void **state)
{
    (void)state;
    yk_http_limits lim = base;
    lim.header_timeout_ms = 300;
    lim.body_timeout_ms = 600;
    start(lim);
    /* a silent new connection: its first byte was due within the header timeout */
    int fd = cl_open(0);
    uint64_t took = time_to_close(fd);
    if (took < 200 || took > 900)
        fail_msg("silent connection closed after %llu ms", (unsigned long long)took);
    close(fd);
    /* a head in time and a body trickled: the body's deadline, counted from the head's end */
    fd = cl_open(0);
    pump_for(200);
    cl_send(fd, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n");
    uint64_t t0 = now_ms();
    for (int i = 0; i < 5; i++) {
        pump_for(100);
        cl_send(fd, "x");
    }
    int closed;
    (void)cl_read(fd, NULL, &closed);
    took = now_ms() - t0;
    assert_true(closed);
    if (took < 500 || took > 1100)
        fail_msg("trickled body closed %llu ms after its head", (unsigned long long)took);
    close(fd);
    assert_int_equal(handled, 0);
    /* a head trickled a byte at a time: its own deadline, whatever it sends */
    fd = cl_open(0);
    t0 = now_ms();
    const char *head = "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaa";
    for (size_t i = 0; i < 8; i++) {
        char one[2] = {head[i], 0};
        if (send(fd, one, 1, MSG_NOSIGNAL) != 1)
            break;
        pump_for(60);
    }
    (void)cl_read(fd, NULL, &closed);
    took = now_ms() - t0;
    assert_true(closed);
    if (took < 250 || took > 900)
        fail_msg("trickled head closed after %llu ms", (unsigned long long)took);
    close(fd);
    /* a slow but steady body within its deadline is served; after it the idle timeout holds */
    fd = cl_open(0);
    cl_send(fd, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab");
    pump_for(400); /* past the header timeout: the body has its own */
    cl_send(fd, "cd");
    const char *got = cl_read(fd, "\r\n\r\nok", &closed);
    assert_false(closed);
    assert_int_equal(strncmp(got, "HTTP/1.1 200 ", 13), 0);
    pump_for(700); /* idle 5000: still open */
    expect_served(fd);
    close(fd);
    finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cap_per_address),
        cmocka_unit_test(cap_uncapped_peer),
        cmocka_unit_test(cap_churn),
        cmocka_unit_test(body_and_first_byte_timeouts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
