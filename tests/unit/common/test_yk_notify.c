/* Unit suite for common/yk_notify.c: what reaches NOTIFY_SOCKET (READY once, STOPPING once,
 * WATCHDOG at half of WATCHDOG_USEC and never after STOPPING), the readiness poll, and that its
 * timers never keep a loop alive. yk_notify keeps process-wide state, so each case runs in a forked
 * child. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "yk_notify.h"

#define MAX_MSGS 256

static char sock_path[108];
static int sock_fd = -1;
static char msgs[MAX_MSGS][256];
static double msg_ms[MAX_MSGS];
static int nmsgs;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static int setup(void **state)
{
    snprintf(sock_path, sizeof sock_path, "/tmp/yk-notify-test-%d", (int)getpid());
    unlink(sock_path);
    sock_fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock_path);
    assert_int_equal(bind(sock_fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {0, 20000};
    setsockopt(sock_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return 0;
}

static int teardown(void **state)
{
    close(sock_fd);
    unlink(sock_path);
    return 0;
}

/* Runs child(env) in a fork with NOTIFY_SOCKET (and the given WATCHDOG_ variables) set; collects
 * every datagram it sends until it exits, and asserts it exited 0. */
static void run_child(void (*child)(void), const char *watchdog_usec, const char *watchdog_pid,
                      int with_socket)
{
    nmsgs = 0;
    double t0 = now_ms();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsetenv("NOTIFY_SOCKET");
        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");
        if (with_socket)
            setenv("NOTIFY_SOCKET", sock_path, 1);
        if (watchdog_usec)
            setenv("WATCHDOG_USEC", watchdog_usec, 1);
        if (watchdog_pid)
            setenv("WATCHDOG_PID", watchdog_pid, 1);
        child();
        _exit(0);
    }
    int status = 0, done = 0;
    for (;;) {
        char buf[256];
        ssize_t n = recv(sock_fd, buf, sizeof buf - 1, 0);
        if (n > 0) {
            buf[n] = '\0';
            assert_true(nmsgs < MAX_MSGS);
            snprintf(msgs[nmsgs], sizeof msgs[nmsgs], "%s", buf);
            msg_ms[nmsgs++] = now_ms() - t0;
            continue;
        }
        if (done)
            break;
        if (waitpid(pid, &status, WNOHANG) == pid)
            done = 1; /* one more round drains what is queued */
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static int count(const char *prefix)
{
    int n = 0;
    for (int i = 0; i < nmsgs; i++)
        n += strncmp(msgs[i], prefix, strlen(prefix)) == 0;
    return n;
}

static int index_of(const char *prefix)
{
    for (int i = 0; i < nmsgs; i++)
        if (strncmp(msgs[i], prefix, strlen(prefix)) == 0)
            return i;
    return -1;
}

/* ---- READY and STOPPING are sent once each */

static void child_once(void)
{
    yk_notify_ready();
    yk_notify_ready();
    yk_notify_stopping();
    yk_notify_stopping();
    yk_notify_ready();
}

static void ready_and_stopping_once(void **state)
{
    run_child(child_once, NULL, NULL, 1);
    assert_int_equal(nmsgs, 2);
    assert_string_equal(msgs[0], "READY=1\nSTATUS=serving");
    assert_string_equal(msgs[1], "STOPPING=1\nSTATUS=stopping");
}

/* ---- yk_notify_start: READY when the predicate first holds; the timers keep no loop alive */

static int polls;
static int ready_third(void)
{
    return ++polls >= 3;
}

static void stop_cb(uv_timer_t *t)
{
    yk_notify_stopping();
    uv_close((uv_handle_t *)t, NULL);
}

static void run_loop_for(int (*ready)(void), uint64_t ms)
{
    uv_loop_t loop;
    uv_timer_t stop;
    if (uv_loop_init(&loop) != 0)
        _exit(3);
    yk_notify_start(&loop, ready);
    uv_timer_init(&loop, &stop);
    uv_timer_start(&stop, stop_cb, ms, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    /* every handle closed: yk_notify_stopping closed its timers */
    if (uv_loop_close(&loop) != 0)
        _exit(4);
}

static void child_poll(void)
{
    run_loop_for(ready_third, 400);
}

static void ready_after_predicate(void **state)
{
    run_child(child_poll, NULL, NULL, 1);
    assert_int_equal(count("READY=1"), 1);
    assert_int_equal(count("STOPPING=1"), 1);
    assert_int_equal(count("WATCHDOG=1"), 0);
    int r = index_of("READY=1");
    assert_true(r < index_of("STOPPING=1"));
    assert_true(msg_ms[r] >= 150); /* polled at 0, 100, 200 ms */
}

static int never(void)
{
    return 0;
}

static void child_never(void)
{
    run_loop_for(never, 300);
}

static void no_ready_while_not_ready(void **state)
{
    run_child(child_never, NULL, NULL, 1);
    assert_int_equal(nmsgs, 1);
    assert_string_equal(msgs[0], "STOPPING=1\nSTATUS=stopping");
}

static void child_unref(void)
{
    /* without any handle of its own the loop ends at once: the notify timers are unreferenced */
    uv_loop_t loop;
    uv_loop_init(&loop);
    yk_notify_start(&loop, never);
    double t0 = now_ms();
    uv_run(&loop, UV_RUN_DEFAULT);
    if (now_ms() - t0 > 50)
        _exit(5);
    yk_notify_stopping();
    uv_run(&loop, UV_RUN_DEFAULT); /* runs the close callbacks */
    if (uv_loop_close(&loop) != 0)
        _exit(4);
}

static void timers_keep_no_loop_alive(void **state)
{
    run_child(child_unref, NULL, NULL, 1);
}

/* ---- the watchdog */

/* Under valgrind (the valgrind test setup of meson.build sets YK_TEST_TIME_SCALE) the code runs
 * many times slower: the watchdog's run stretches by that factor, and the pings it may send. */
static uint64_t time_scale(void)
{
    const char *s = getenv("YK_TEST_TIME_SCALE");
    long f = s ? atol(s) : 1;
    return f > 1 ? (uint64_t)f : 1;
}

static void child_watchdog(void)
{
    run_loop_for(NULL, 400 * time_scale());
}

static void watchdog_timer(void **state)
{
    run_child(child_watchdog, "100000", NULL, 1); /* 100 ms: a ping every 50 ms */
    assert_int_equal(count("READY=1"), 1);
    int stop = index_of("STOPPING=1");
    assert_true(stop > 0);
    int pings = count("WATCHDOG=1");
    assert_in_range(pings, 3, 10 * time_scale()); /* one at start, then every 50 ms for 400 ms */
    for (int i = stop; i < nmsgs; i++)
        assert_null(strstr(msgs[i], "WATCHDOG"));
}

static void watchdog_for_another_pid(void **state)
{
    run_child(child_watchdog, "100000", "1", 1);
    assert_int_equal(count("WATCHDOG=1"), 0);
    assert_int_equal(count("READY=1"), 1);
}

static void child_poll_loop(void)
{
    /* a worker-style loop: called every 2 ms for 250 ms, with WATCHDOG_USEC = 200 ms */
    double t0 = now_ms();
    while (now_ms() - t0 < 250) {
        yk_notify_watchdog_poll();
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    yk_notify_stopping();
    yk_notify_watchdog_poll();
}

static void watchdog_poll_paced(void **state)
{
    run_child(child_poll_loop, "200000", NULL, 1);
    int pings = count("WATCHDOG=1");
    assert_in_range(pings, 2, 4); /* at 0, 100, 200 ms */
    assert_int_equal(index_of("STOPPING=1"), nmsgs - 1);
}

static void child_all(void)
{
    yk_notify_watchdog_poll();
    run_loop_for(NULL, 100);
}

static void silent_without_socket(void **state)
{
    run_child(child_all, "100000", NULL, 0);
    assert_int_equal(nmsgs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ready_and_stopping_once),  cmocka_unit_test(ready_after_predicate),
        cmocka_unit_test(no_ready_while_not_ready), cmocka_unit_test(timers_keep_no_loop_alive),
        cmocka_unit_test(watchdog_timer),           cmocka_unit_test(watchdog_for_another_pid),
        cmocka_unit_test(watchdog_poll_paced),      cmocka_unit_test(silent_without_socket),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
