/* Unit tests for common/yk_redis.c's event hooks on libuv, against a fake Redis server (a thread
 * on a unix socket). Owns nothing but its own test cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "yk_redis.h"

#define WAIT_MS 5000 /* the guard timer fails the test after this long */
#define BIG (8u << 20) /* far more than a unix socket buffers: the client's write must block */

/* The server is a thread with blocking sockets, so that only the client's own events wake its
 * loop: a client that stopped writing when its socket was full would wait for the guard. */
static struct {
    uv_loop_t loop;
    uv_timer_t guard, later;
    char path[64];
    int listen_fd;
    pthread_t server;
    size_t set_len, ping_len; /* the RESP lengths the server waits for before each answer */
    size_t received;          /* bytes the server has read; read by the client after joining */
    yk_redis *r;
    int connected, replies, timed_out;
    char *big;
} F;

static void read_exactly(int fd, size_t n)
{
    static char chunk[65536];
    while (n > 0) {
        ssize_t k = read(fd, chunk, n < sizeof chunk ? n : sizeof chunk);
        if (k <= 0)
            return;
        F.received += (size_t)k;
        n -= (size_t)k;
    }
}

/* Reads slowly at first, so that the client's socket fills up, then answers each command once
 * all of its bytes arrived. */
static void *server_main(void *arg)
{
    int fd = accept(F.listen_fd, NULL, NULL);
    if (fd < 0)
        return NULL;
    usleep(100 * 1000);
    read_exactly(fd, F.set_len);
    if (send(fd, "+OK\r\n", 5, MSG_NOSIGNAL) != 5)
        goto out;
    read_exactly(fd, F.ping_len);
    if (send(fd, "+PONG\r\n", 7, MSG_NOSIGNAL) != 7)
        goto out;
    read_exactly(fd, 1); /* until the client closes */
out:
    close(fd);
    return NULL;
}

static void finish(void)
{
    yk_redis_close(F.r);
    uv_close((uv_handle_t *)&F.guard, NULL);
    uv_close((uv_handle_t *)&F.later, NULL);
}

static void guard_cb(uv_timer_t *t)
{
    F.timed_out = 1;
    finish();
}

/* Callbacks only count: a failed assertion would jump out of hiredis mid-callback. */
static int is_status(redisReply *reply, const char *want)
{
    return reply && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, want) == 0;
}

static void pong_cb(yk_redis_op *op, redisReply *reply)
{
    F.replies += is_status(reply, "PONG");
    if (reply)
        finish();
}

static yk_redis_op pong_op = {pong_cb};

/* Queued from a timer, not from an I/O callback: it must still go out before the loop blocks. */
static void ping_later_cb(uv_timer_t *t)
{
    yk_redis_argv(F.r, &pong_op, 1, (const char *[]){"PING"}, NULL);
}

static void set_cb(yk_redis_op *op, redisReply *reply)
{
    F.replies += is_status(reply, "OK");
    if (reply)
        uv_timer_start(&F.later, ping_later_cb, 10, 0);
}

static yk_redis_op set_op = {set_cb};

/* Sent from a timer: commands queued while hiredis is still writing for the connect would go
 * out with its write interest, which is not the path under test. */
static void set_later_cb(uv_timer_t *t)
{
    yk_redis_argv(F.r, &set_op, 3, (const char *[]){"SET", "k", F.big},
                  (const size_t[]){3, 1, BIG});
}

static void on_connect(yk_redis *r, void *ud)
{
    F.connected++;
    uv_timer_start(&F.later, set_later_cb, 10, 0);
}

static int setup(void **state)
{
    memset(&F, 0, sizeof F);
    assert_int_equal(uv_loop_init(&F.loop), 0);
    snprintf(F.path, sizeof F.path, "/tmp/yk-test-redis-%d.sock", (int)getpid());
    unlink(F.path);
    F.listen_fd = -1;
    F.big = malloc(BIG);
    memset(F.big, 'x', BIG);
    uv_timer_init(&F.loop, &F.guard);
    uv_timer_init(&F.loop, &F.later);
    uv_timer_start(&F.guard, guard_cb, WAIT_MS, 0);
    return 0;
}

static int teardown(void **state)
{
    uv_run(&F.loop, UV_RUN_DEFAULT); /* close callbacks */
    assert_int_equal(uv_loop_close(&F.loop), 0);
    if (F.listen_fd >= 0) {
        pthread_join(F.server, NULL);
        close(F.listen_fd);
    }
    unlink(F.path);
    free(F.big);
    return 0;
}

/* A command larger than the socket buffer is written in full (the write would block, so write
 * interest is armed), its reply arrives, a command queued from a timer follows, and once closed
 * no handle is left: the loop returns by itself. */
static void large_write_then_timer_command(void **state)
{
    char head[64];
    int n = snprintf(head, sizeof head, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%u\r\n", BIG);
    F.set_len = (size_t)n + BIG + 2;
    F.ping_len = strlen("*1\r\n$4\r\nPING\r\n");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", F.path);
    F.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(F.listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(F.listen_fd, 4), 0);
    assert_int_equal(pthread_create(&F.server, NULL, server_main, NULL), 0);
    assert_int_equal(yk_redis_open(&F.r, &F.loop, F.path, 100, on_connect, NULL), 0);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    assert_int_equal(F.timed_out, 0);
    assert_int_equal(F.connected, 1);
    assert_int_equal(F.replies, 2);
    pthread_join(F.server, NULL);
    close(F.listen_fd);
    F.listen_fd = -1;
    assert_int_equal(F.received, F.set_len + F.ping_len);
}

static void refused_cb(uv_timer_t *t)
{
    assert_int_equal(yk_redis_connected(F.r), 0);
    finish();
}

/* A connection refused after connect(2) began is noticed through the write interest, retried,
 * and closed without leaking the hooks (ASan). */
static void connect_refused(void **state)
{
    assert_int_equal(yk_redis_open(&F.r, &F.loop, "127.0.0.1:1", 20, on_connect, NULL), 0);
    uv_timer_start(&F.later, refused_cb, 150, 0);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    assert_int_equal(F.timed_out, 0);
    assert_int_equal(F.connected, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(large_write_then_timer_command, setup, teardown),
        cmocka_unit_test_setup_teardown(connect_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
