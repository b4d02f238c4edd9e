/* Unit tests for common/yk_redis.c: its event hooks on libuv against a fake server (a thread on a
 * unix socket), the async contract, reconnection and the health probe against a real
 * redis-server on a free port. Owns nothing but its own test cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "yk_redis.h"

#define WAIT_MS 8000 /* the guard timer fails the test after this long */
/* Under valgrind (the valgrind test setup of meson.build sets YK_TEST_TIME_SCALE) the code runs
 * many times slower, and the server thread shares its core: 8 MiB would then take longer than
 * the client waits for its probe's answer (YK_REDIS_STALL_MS). 1 MiB still fills the socket. */
static uint64_t time_scale(void)
{
    const char *s = getenv("YK_TEST_TIME_SCALE");
    long f = s ? atol(s) : 1;
    return f > 1 ? (uint64_t)f : 1;
}

/* far more than a unix socket buffers: the client's write must block */
#define BIG (time_scale() > 1 ? (1u << 20) : (8u << 20))

/* The server is a thread with blocking sockets, so that only the client's own events wake its
 * loop: a client that stopped writing when its socket was full would wait for the guard. */
static struct {
    uv_loop_t loop;
    uv_timer_t guard, later, watch;
    char path[64];
    int listen_fd;
    pthread_t server;
    int mute;        /* the fake server reads but never answers */
    int stopping;    /* the fake server's accept loop ends at its next connection */
    int accepts;     /* connections the fake server took */
    size_t sets;     /* SET commands the fake server read in full */
    size_t received; /* bytes the fake server has read; read by the client after joining */
    yk_redis *r;
    int connected, replies, nulls, timed_out;
    int ready_seen;
    uint64_t t0, t_event;
    pid_t redis_pid;
    int redis_port;
    char *big;
} F;

/* ---- a fake server: parses RESP commands, answers PING with +PONG and anything else with +OK */

typedef struct {
    int fd;
    char buf[65536];
    size_t have, pos;
} reader;

static int rd_fill(reader *rd)
{
    if (rd->pos < rd->have)
        return 0;
    ssize_t k = read(rd->fd, rd->buf, sizeof rd->buf);
    if (k <= 0)
        return -1;
    F.received += (size_t)k;
    rd->have = (size_t)k;
    rd->pos = 0;
    return 0;
}

/* Reads "<prefix><number>\r\n". */
static int rd_header(reader *rd, char prefix, long *n)
{
    char line[32];
    size_t len = 0;
    for (;;) {
        if (rd_fill(rd) != 0)
            return -1;
        char c = rd->buf[rd->pos++];
        if (c == '\n')
            break;
        if (len < sizeof line - 1)
            line[len++] = c;
    }
    line[len] = '\0';
    if (line[0] != prefix)
        return -1;
    *n = strtol(line + 1, NULL, 10);
    return 0;
}

/* Reads a bulk string of n bytes and its CRLF, keeping the first bytes in head. */
static int rd_bulk(reader *rd, long n, char *head, size_t headlen)
{
    size_t got = 0, want = (size_t)n + 2;
    while (got < want) {
        if (rd_fill(rd) != 0)
            return -1;
        size_t take = rd->have - rd->pos < want - got ? rd->have - rd->pos : want - got;
        for (size_t i = 0; i < take; i++)
            if (got + i < headlen - 1)
                head[got + i] = rd->buf[rd->pos + i];
        rd->pos += take;
        got += take;
    }
    head[(size_t)n < headlen - 1 ? (size_t)n : headlen - 1] = '\0';
    return 0;
}

static void serve(int fd)
{
    reader rd = {.fd = fd};
    usleep(100 * 1000); /* read slowly at first, so that the client's socket fills up */
    for (;;) {
        long argc, n;
        char name[16];
        if (rd_header(&rd, '*', &argc) != 0 || argc < 1)
            return;
        for (long i = 0; i < argc; i++) {
            char ignored[16];
            if (rd_header(&rd, '$', &n) != 0 ||
                rd_bulk(&rd, n, i ? ignored : name, i ? sizeof ignored : sizeof name) != 0)
                return;
        }
        int ping = strcmp(name, "PING") == 0;
        if (!ping)
            F.sets++;
        if (!F.mute && send(fd, ping ? "+PONG\r\n" : "+OK\r\n", ping ? 7 : 5, MSG_NOSIGNAL) <= 0)
            return;
    }
}

static void *server_main(void *arg)
{
    for (;;) {
        int fd = accept(F.listen_fd, NULL, NULL);
        if (fd < 0 || F.stopping) {
            if (fd >= 0)
                close(fd);
            return NULL;
        }
        F.accepts++;
        serve(fd);
        close(fd);
    }
}

static void fake_server_start(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", F.path);
    F.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(F.listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(F.listen_fd, 4), 0);
    assert_int_equal(pthread_create(&F.server, NULL, server_main, NULL), 0);
}

static void fake_server_stop(void)
{
    if (F.listen_fd < 0)
        return;
    /* wake the accept with a connection of our own */
    F.stopping = 1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", F.path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        perror("connect to the fake server");
    pthread_join(F.server, NULL);
    close(fd);
    close(F.listen_fd);
    F.listen_fd = -1;
}

/* ---- a real redis-server on a free port */

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void redis_server_start(void)
{
    char port[16];
    snprintf(port, sizeof port, "%d", F.redis_port);
    char *argv[] = {"redis-server", "--port", port,         "--bind",  "127.0.0.1", "--save", "",
                    "--appendonly", "no",     "--loglevel", "warning", NULL};
    F.redis_pid = fork();
    assert_true(F.redis_pid >= 0);
    if (F.redis_pid == 0) { /* dies with the test, whatever becomes of it */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execvp("redis-server", argv);
        _exit(127);
    }
}

static void redis_server_stop(void)
{
    if (F.redis_pid > 0) {
        kill(F.redis_pid, SIGCONT);
        kill(F.redis_pid, SIGKILL);
        waitpid(F.redis_pid, NULL, 0);
        F.redis_pid = 0;
    }
}

/* ---- fixture */

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

static void on_connect(yk_redis *r, void *ud)
{
    F.connected++;
}

static int setup(void **state)
{
    memset(&F, 0, sizeof F);
    assert_int_equal(uv_loop_init(&F.loop), 0);
    snprintf(F.path, sizeof F.path, "/tmp/yk-test-redis-%d.sock", (int)getpid());
    unlink(F.path);
    F.listen_fd = -1;
    uv_timer_init(&F.loop, &F.guard);
    uv_timer_init(&F.loop, &F.later);
    uv_timer_start(&F.guard, guard_cb, WAIT_MS, 0);
    F.t0 = uv_now(&F.loop);
    return 0;
}

static int teardown(void **state)
{
    uv_run(&F.loop, UV_RUN_DEFAULT); /* close callbacks */
    assert_int_equal(uv_loop_close(&F.loop), 0);
    fake_server_stop();
    redis_server_stop();
    unlink(F.path);
    free(F.big);
    return 0;
}

/* Callbacks only count: a failed assertion would jump out of hiredis mid-callback. */
static int is_status(yk_reply *reply, const char *want)
{
    return yk_reply_is(reply, YK_REPLY_STATUS) && strcmp(yk_reply_str(reply, NULL), want) == 0;
}

/* ---- large write */

static void pong_cb(yk_redis_op *op, yk_reply *reply)
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

static void set_cb(yk_redis_op *op, yk_reply *reply)
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

static void on_connect_set(yk_redis *r, void *ud)
{
    F.connected++;
    uv_timer_start(&F.later, set_later_cb, 10, 0);
}

/* A command larger than the socket buffer is written in full (the write would block, so write
 * interest is armed), its reply arrives, a command queued from a timer follows, and once closed
 * no handle is left: the loop returns by itself. */
static void large_write_then_timer_command(void **state)
{
    F.big = malloc(BIG);
    memset(F.big, 'x', BIG);
    fake_server_start();
    assert_int_equal(yk_redis_open(&F.r, &F.loop, F.path, 100, on_connect_set, NULL), 0);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    assert_int_equal(F.timed_out, 0);
    assert_int_equal(F.connected, 1);
    assert_int_equal(F.replies, 2);
    fake_server_stop();
    assert_int_equal(F.sets, 1);
    assert_true(F.received > BIG);
}

/* ---- refused, deferred */

static void refused_cb(uv_timer_t *t)
{
    assert_int_equal(yk_redis_connected(F.r), 0);
    assert_int_equal(yk_redis_ready(F.r), 0);
    finish();
}

/* A connection refused after connect(2) began is noticed, retried, and closed without leaking
 * the hooks (ASan). */
static void connect_refused(void **state)
{
    assert_int_equal(yk_redis_open(&F.r, &F.loop, "127.0.0.1:1", 20, on_connect, NULL), 0);
    uv_timer_start(&F.later, refused_cb, 150, 0);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    assert_int_equal(F.timed_out, 0);
    assert_int_equal(F.connected, 0);
}

static int in_submit; /* set around a submitting call */

static void null_cb(yk_redis_op *op, yk_reply *reply)
{
    F.nulls += reply == NULL;
    F.replies += in_submit ? 100 : 1; /* a callback inside the submitting call spoils the count */
    if (F.replies == 2)
        finish();
}

static yk_redis_op null_op = {null_cb};

/* Not connected: each submission's callback runs once, with NULL, from the loop and never inside
 * the call (twice the same op: two callbacks). */
static void deferred_when_not_connected(void **state)
{
    assert_int_equal(yk_redis_open(&F.r, &F.loop, "127.0.0.1:1", 1000, on_connect, NULL), 0);
    in_submit = 1;
    yk_redis_argv(F.r, &null_op, 1, (const char *[]){"PING"}, NULL);
    yk_redis_cmd(F.r, &null_op, "GET %s", "k");
    in_submit = 0;
    assert_int_equal(F.replies, 0);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    assert_int_equal(F.timed_out, 0);
    assert_int_equal(F.replies, 2);
    assert_int_equal(F.nulls, 2);
}

/* ---- reconnection to a real server */

static void start_redis_cb(uv_timer_t *t)
{
    redis_server_start();
}

static void watch_ready_cb(uv_timer_t *t)
{
    if (yk_redis_ready(F.r)) {
        F.t_event = uv_now(&F.loop);
        finish();
    }
}

/* Redis is down when the client starts and stays down longer than several retries (each refused
 * through a POLLERR on the connecting socket); once it listens the client connects and is ready
 * within a retry and a probe. */
static void reconnects_after_refused(void **state)
{
    F.redis_port = free_port();
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", F.redis_port);
    assert_int_equal(yk_redis_open(&F.r, &F.loop, addr, 100, on_connect, NULL), 0);
    uv_timer_start(&F.later, start_redis_cb, 600, 0);
    uv_timer_init(&F.loop, &F.watch);
    uv_timer_start(&F.watch, watch_ready_cb, 20, 20);
    uv_run(&F.loop, UV_RUN_NOWAIT);
    while (!F.timed_out && F.t_event == 0)
        uv_run(&F.loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&F.watch, NULL);
    assert_int_equal(F.timed_out, 0);
    assert_int_equal(F.connected, 1);
    assert_true(F.t_event - F.t0 < 600 + 3000);
}

/* ---- the probe on a subscribed connection, and a stopped server */

static void message_cb(yk_redis_op *op, yk_reply *reply)
{
    F.nulls += reply == NULL;
}

static yk_redis_op message_op = {message_cb};

static void on_connect_subscribe(yk_redis *r, void *ud)
{
    F.connected++;
    yk_redis_cmd(r, &message_op, "SUBSCRIBE some:channel");
}

static void sub_check_cb(uv_timer_t *t)
{
    uint64_t at = uv_now(&F.loop) - F.t0;
    int ready = yk_redis_ready(F.r);
    if (ready)
        F.ready_seen++;
    if (at < 2500)
        return;
    if (F.t_event == 0) { /* ready throughout the last seconds: stop the server */
        if (ready)
            kill(F.redis_pid, SIGSTOP);
        F.t_event = uv_now(&F.loop);
    } else if (!ready) {
        F.t_event = uv_now(&F.loop) - F.t_event; /* how long until not ready */
        uv_timer_stop(t);
        finish();
    }
}

/* A subscribed connection's probe is answered (hiredis 0.14 routes a PING's answer nowhere
 * there): it stays ready. Stopped (SIGSTOP), the server no longer answers: not ready within
 * about YK_REDIS_READY_MS. */
static void subscribed_ready_then_stopped(void **state)
{
    F.redis_port = free_port();
    redis_server_start();
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", F.redis_port);
    usleep(300 * 1000);
    assert_int_equal(yk_redis_open(&F.r, &F.loop, addr, 100, on_connect_subscribe, NULL), 0);
    uv_timer_start(&F.later, sub_check_cb, 50, 50);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    assert_int_equal(F.timed_out, 0);
    assert_int_equal(F.connected, 1);
    assert_true(F.ready_seen > 20); /* 2.5 s at 50 ms, minus the connect */
    assert_true(F.t_event >= 700 && F.t_event <= 1400);
}

static void stalled_cb(yk_redis_op *op, yk_reply *reply)
{
    F.nulls += reply == NULL;
    F.t_event = uv_now(&F.loop);
    finish();
}

static yk_redis_op stalled_op = {stalled_cb};

static void send_stalled_cb(uv_timer_t *t)
{
    yk_redis_argv(F.r, &stalled_op, 2, (const char *[]){"GET", "k"}, NULL);
}

/* A server that takes commands and never answers: never ready, and a command waiting for it gets
 * NULL once the probe went unanswered for YK_REDIS_STALL_MS; then the client reconnects. */
static void stalled_server_fails_pending(void **state)
{
    F.mute = 1;
    fake_server_start();
    assert_int_equal(yk_redis_open(&F.r, &F.loop, F.path, 50, on_connect, NULL), 0);
    uv_timer_start(&F.later, send_stalled_cb, 100, 0);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    assert_int_equal(F.timed_out, 0);
    assert_int_equal(F.nulls, 1);
    assert_true(F.t_event - F.t0 <= YK_REDIS_STALL_MS + YK_REDIS_PROBE_MS + 400);
    fake_server_stop();
    assert_true(F.connected >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(large_write_then_timer_command, setup, teardown),
        cmocka_unit_test_setup_teardown(connect_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(deferred_when_not_connected, setup, teardown),
        cmocka_unit_test_setup_teardown(reconnects_after_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(subscribed_ready_then_stopped, setup, teardown),
        cmocka_unit_test_setup_teardown(stalled_server_fails_pending, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
