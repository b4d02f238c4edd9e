/* Unit suite for common/yk_rconn.c: commands, pipelines of pre-encoded RESP and the reply arena
 * (a reply of thousands of elements across chunks, chunks reused, a lost connection), against a
 * fake Redis server (a thread on a unix socket that answers each command with the next reply). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "yk_rconn.h"
#include "yk_resp.h"

#define ENTRIES 3000 /* ≈ 2 MB of reply objects: several of the arena's 256 KiB chunks */

static struct {
    char path[64];
    int listen_fd;
    pthread_t server;
    char *replies[8]; /* RESP text of each answer, in order; NULL: close the connection */
    int nreplies;
} F;

/* Reads one whole RESP array of bulk strings from fd; bytes of the next command (a pipeline)
 * stay for the next call. 0, or -1 when the client went away. */
static int read_command(int fd)
{
    static char buf[4096];
    static size_t len;
    for (;;) {
        /* complete when the header's count of arguments have all arrived */
        char *p = buf, *end = buf + len;
        long n = -1;
        if (len > 0 && buf[0] == '*' && memchr(buf, '\n', len)) {
            n = strtol(buf + 1, &p, 10);
            p += 2;
            while (n > 0 && p < end && *p == '$') {
                char *q;
                long l = strtol(p + 1, &q, 10);
                if (q + 2 + l + 2 > end)
                    break;
                p = q + 2 + l + 2;
                n--;
            }
        }
        if (n == 0) {
            len = (size_t)(end - p);
            memmove(buf, p, len);
            return 0;
        }
        ssize_t k = read(fd, buf + len, sizeof buf - len);
        if (k <= 0)
            return -1;
        len += (size_t)k;
    }
}

static void *server_main(void *arg)
{
    (void)arg;
    int fd = accept(F.listen_fd, NULL, NULL);
    for (int i = 0; fd >= 0 && i < F.nreplies && F.replies[i]; i++) {
        if (read_command(fd) != 0)
            break;
        size_t n = strlen(F.replies[i]);
        if (send(fd, F.replies[i], n, MSG_NOSIGNAL) != (ssize_t)n)
            break;
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* A reply to XREADGROUP of one stream with ENTRIES entries of three fields each. */
static char *big_reply(void)
{
    yk_buf b = YK_BUF_INIT((size_t)64 << 20);
    yk_resp_head(&b, '*', 1);
    yk_resp_head(&b, '*', 2);
    yk_resp_arg(&b, "yk:req:{0}", 10);
    yk_resp_head(&b, '*', ENTRIES);
    for (int i = 0; i < ENTRIES; i++) {
        char id[32];
        int l = snprintf(id, sizeof id, "%d-0", i + 1);
        yk_resp_head(&b, '*', 2);
        yk_resp_arg(&b, id, (size_t)l);
        const char *kv[] = {"h",      "id=0123456789abcdef0123456789abcdef t=reserve ev=1 slot=2",
                            "email",  "someone@example.org",
                            "fields", "{}"};
        yk_resp_cmd(&b, 6, kv, NULL);
    }
    yk_buf_addc(&b, '\0');
    assert_false(b.failed);
    return b.p;
}

static void start(void)
{
    snprintf(F.path, sizeof F.path, "/tmp/yk-rconn-%d.sock", (int)getpid());
    unlink(F.path);
    F.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", F.path);
    assert_int_equal(bind(F.listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(F.listen_fd, 1), 0);
    assert_int_equal(pthread_create(&F.server, NULL, server_main, NULL), 0);
}

static void stop(void)
{
    pthread_join(F.server, NULL);
    close(F.listen_fd);
    unlink(F.path);
}

static void arena_and_commands(void **state)
{
    (void)state;
    char *big = big_reply();
    F.replies[0] = big;
    F.replies[1] = "-NOGROUP No such key\r\n";
    F.replies[2] = big;
    F.replies[3] = ":42\r\n";
    F.replies[4] = "+OK\r\n";
    F.replies[5] = "$3\r\nold\r\n";
    F.replies[6] = NULL; /* then the server closes */
    F.nreplies = 7;
    start();
    yk_rconn *c = yk_rconn_open(F.path, 0, 1000, 5000);
    assert_non_null(c);
    yk_rconn_arena a = {0};
    const char *argv[] = {"XREADGROUP", "GROUP", "workers", "w", "STREAMS", "yk:req:{0}", ">"};

    yk_reply *r = yk_rconn_command_in(c, &a, 7, argv);
    assert_int_equal(yk_reply_count(r), 1);
    const yk_reply *entries = yk_reply_at(yk_reply_at(r, 0), 1);
    assert_int_equal(yk_reply_count(entries), ENTRIES);
    const yk_reply *last = yk_reply_at(entries, ENTRIES - 1);
    char want[32];
    snprintf(want, sizeof want, "%d-0", ENTRIES);
    assert_true(yk_reply_eq(yk_reply_at(last, 0), want));
    assert_true(yk_reply_eq(yk_reply_at(yk_reply_at(last, 1), 3), "someone@example.org"));
    yk_rconn_chunk *head = a.head;
    assert_non_null(head);
    assert_ptr_not_equal(a.cur, head); /* it took more than one chunk */

    r = yk_rconn_command_in(c, &a, 7, argv);
    assert_string_equal(yk_reply_error(r), "NOGROUP No such key");
    assert_ptr_equal(a.head, head); /* the chunks are kept for the next reply */

    /* a pipeline: the first reply in the arena, the next one outside it (hiredis's own) */
    assert_int_equal(yk_rconn_append(c, 7, argv), 0);
    assert_int_equal(yk_rconn_append(c, 2, (const char *[]){"ZCARD", "yk:workers"}), 0);
    r = yk_rconn_get_in(c, &a);
    assert_int_equal(yk_reply_count(yk_reply_at(yk_reply_at(r, 0), 1)), ENTRIES);
    assert_ptr_equal(a.head, head);
    yk_reply *n = yk_rconn_get(c);
    assert_int_equal(yk_reply_int(n), 42);
    yk_rconn_free(n);

    /* a pipeline written by hand, read reply by reply */
    yk_buf b = YK_BUF_INIT(4096);
    yk_resp_cmd(&b, 3, (const char *[]){"SET", "k", "v"}, NULL);
    yk_resp_cmd(&b, 2, (const char *[]){"GET", "k"}, NULL);
    assert_int_equal(yk_rconn_append_raw(c, b.p, b.len), 0);
    r = yk_rconn_get(c);
    assert_true(yk_reply_is(r, YK_REPLY_STATUS));
    yk_rconn_free(r);
    r = yk_rconn_get(c);
    assert_true(yk_reply_eq(r, "old"));
    yk_rconn_free(r);
    yk_buf_free(&b);

    /* the server hangs up: no reply, and the connection says why */
    assert_null(yk_rconn_command_in(c, &a, 7, argv));
    assert_true(strlen(yk_rconn_error(c)) > 0);
    yk_rconn_arena_free(&a);
    assert_null(a.head);
    yk_rconn_close(c);
    stop();
    free(big);
}

static void connect_refused(void **state)
{
    (void)state;
    assert_null(yk_rconn_open("/nonexistent/yk-rconn.sock", 0, 100, 100));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the worker does: a closed socket is an error, not a signal */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arena_and_commands),
        cmocka_unit_test(connect_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
