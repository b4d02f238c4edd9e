/* fuzz_io: the stand-ins of fuzz_io.h. Each answer is checked as a client would read it: one per
 * request, a known status, JSON that parses (an error object for 4xx/5xx), header lines that
 * cannot split the response. A violation aborts, which libFuzzer reports as a crash. */
#include "fuzz_io.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yk_notify.h"
#include "yk_pg.h"
#include "yk_redis.h"

#define QUEUE_MAX 4096

typedef struct {
    yk_redis_op *r;
    yk_pg_op *p;
    char role; /* the admin caller's lookup (auth.c): answered with a caller of this role */
} queued;

static queued queue[QUEUE_MAX];
static size_t qhead, qlen;
static yk_http_req *current;
static int answers, streaming;
static yk_http_drain_cb drain;
static void *drain_ud;

static void finding(const char *what, int status, const char *detail)
{
    fprintf(stderr, "fuzz_io: %s (status %d): %.200s\n", what, status, detail ? detail : "");
    abort();
}

static void push(yk_redis_op *r, yk_pg_op *p, char role)
{
    if (qlen == QUEUE_MAX)
        finding("more than QUEUE_MAX commands in flight", 0, NULL);
    queue[(qhead + qlen++) % QUEUE_MAX] = (queued){r, p, role};
}

/* The one row auth.c's lookup returns for a known credential: role, actor, login, name. */
static void answer_auth(yk_pg_op *op, char role)
{
    static const char *const names[] = {"role", "actor", "login", "name"};
    const char *role_name = role == 'o' ? "owner" : role == 's' ? "staff" : "desk";
    const char *values[] = {role_name, "staff:fuzz", "fuzz", "Fuzz"};
    PGresAttDesc attrs[4];
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    memset(attrs, 0, sizeof attrs);
    for (int i = 0; i < 4; i++) {
        attrs[i].name = (char *)names[i];
        attrs[i].typid = 25; /* text */
        attrs[i].typlen = -1;
        attrs[i].atttypmod = -1;
    }
    if (r == NULL || !PQsetResultAttrs(r, 4, attrs))
        finding("cannot make a result", 0, NULL);
    for (int i = 0; i < 4; i++)
        if (!PQsetvalue(r, 0, i, (char *)values[i], (int)strlen(values[i])))
            finding("cannot make a result", 0, NULL);
    op->cb(op, (yk_pgres *)r);
    PQclear(r);
}

void fuzz_io_begin(yk_http_req *req)
{
    current = req;
    answers = 0;
    streaming = 0;
}

/* One pass over what waits; 1 if anything ran. */
static int settle_pass(uv_loop_t *loop, void (*idle)(void))
{
    int moved = 0;
    for (size_t n = qlen; n > 0; n--, moved = 1) {
        queued q = queue[qhead];
        qhead = (qhead + 1) % QUEUE_MAX;
        qlen--;
        if (q.r)
            q.r->cb(q.r, NULL);
        else if (q.role)
            answer_auth(q.p, q.role);
        else
            q.p->cb(q.p, NULL);
    }
    if (drain) {
        yk_http_drain_cb cb = drain;
        drain = NULL;
        cb(current, drain_ud);
        moved = 1;
    }
    if (idle)
        idle();
    uv_run(loop, UV_RUN_NOWAIT);
    return moved || qlen > 0;
}

void fuzz_io_settle(uv_loop_t *loop, void (*idle)(void))
{
    /* A password hash (argon2id, on libuv's threads) takes a second or more on a busy machine:
     * the loop waits for it (or a timer) for up to 8 s, within libFuzzer's -timeout of 10. */
    uint64_t until = uv_hrtime() + 8000000000ULL;
    for (;;) {
        for (int round = 0; round < 1000 && settle_pass(loop, idle); round++)
            ;
        if ((answers > 0 && !streaming) || uv_hrtime() > until || !uv_loop_alive(loop))
            break;
        uv_run(loop, UV_RUN_ONCE);
    }
    if (answers != 1 || streaming)
        finding(answers == 0 ? "request never answered" : "stream never ended", answers, NULL);
    current = NULL;
}

/* ---- yk_http ----------------------------------------------------------------------------------
 */

static void check_answer(yk_http_req *req, int status, const char *extra_headers)
{
    if (req != current || req == NULL)
        finding("answer to a request not in flight", status, NULL);
    if (++answers != 1)
        finding("request answered twice", status, req->path);
    if (status < 100 || status > 599)
        finding("status out of range", status, req->path);
    for (const char *p = extra_headers; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        if (eol == NULL || memchr(p, '\r', n) || memchr(p, '\n', n) || memchr(p, ':', n) == NULL)
            finding("extra header line malformed", status, p);
        p = eol + 2;
    }
}

void yk_http_respond(yk_http_req *req, int status, const char *content_type,
                     const char *extra_headers, const char *body, size_t len)
{
    check_answer(req, status, extra_headers);
    if (content_type && (strchr(content_type, '\r') || strchr(content_type, '\n')))
        finding("content type holds CR/LF", status, content_type);
    if (content_type && strncmp(content_type, "application/json", 16) == 0) {
        json_error_t err;
        json_t *j = json_loadb(body, len, 0, &err);
        if (j == NULL)
            finding("JSON answer does not parse", status, body);
        if (status >= 400 && !json_is_string(json_object_get(j, "error")))
            finding("error answer without an error code", status, body);
        json_decref(j);
    }
}

static void error_answer(yk_http_req *req, int status, const char *extra, const char *code,
                         const char *message)
{
    json_t *j = json_pack("{s:s,s:s}", "error", code, "message", message);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (text == NULL)
        finding("error answer: out of memory", status, code);
    yk_http_respond(req, status, "application/json", extra, text, strlen(text));
    free(text);
    json_decref(j);
}

void yk_http_respond_error(yk_http_req *req, int status, const char *code, const char *message)
{
    error_answer(req, status, NULL, code, message);
}

void yk_http_respond_not_allowed(yk_http_req *req, const char *allow)
{
    char extra[128];
    snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
    error_answer(req, 405, extra, "method_not_allowed", "This method is not allowed here.");
}

void yk_http_stream_begin(yk_http_req *req, int status, const char *content_type,
                          const char *extra_headers)
{
    check_answer(req, status, extra_headers);
    streaming = 1;
}

int yk_http_stream_write(yk_http_req *req, const void *data, size_t len)
{
    if (req != current || !streaming)
        finding("stream write outside a stream", 0, NULL);
    volatile unsigned char sum = 0; /* every byte is read: ASan sees a bad pointer */
    for (size_t i = 0; i < len; i++)
        sum ^= ((const unsigned char *)data)[i];
    (void)sum;
    return 0;
}

size_t yk_http_stream_queued(const yk_http_req *req)
{
    return 0;
}

void yk_http_stream_wait(yk_http_req *req, size_t low, yk_http_drain_cb cb, void *ud)
{
    if (drain)
        finding("two stream waits at once", 0, NULL);
    drain = cb;
    drain_ud = ud;
}

void yk_http_stream_end(yk_http_req *req)
{
    if (req != current || !streaming)
        finding("stream end outside a stream", 0, NULL);
    streaming = 0;
}

void yk_http_stream_abort(yk_http_req *req)
{
    yk_http_stream_end(req);
}

int yk_http_server_start(yk_http_server **out, uv_loop_t *loop, const char *listen,
                         const yk_http_limits *limits, yk_http_handler handler,
                         yk_http_observer observer, void *ud)
{
    return UV_ENOTSUP;
}

void yk_http_server_close(yk_http_server *srv) {}

/* ---- yk_redis: never connected; every command fails from the queue ----------------------------
 */

struct yk_redis {
    int unused;
};
static yk_redis redis_stand_in;

int yk_redis_open(yk_redis **out, uv_loop_t *loop, const char *addr, uint64_t retry_ms,
                  yk_redis_on_connect on_connect, void *ud)
{
    *out = &redis_stand_in;
    return 0;
}

void yk_redis_close(yk_redis *r) {}

int yk_redis_connected(const yk_redis *r)
{
    return 0;
}

int yk_redis_ready(const yk_redis *r)
{
    return 0;
}

void yk_redis_argv(yk_redis *r, yk_redis_op *op, int argc, const char **argv, const size_t *argvlen)
{
    char *cmd = NULL;
    /* formatting reads every argument, as sending it would */
    if (argc < 1 || redisFormatCommandArgv(&cmd, argc, argv, argvlen) < 0)
        finding("Redis command cannot be formatted", argc, NULL);
    free(cmd);
    if (op)
        push(op, NULL, 0);
}

void yk_redis_cmd(yk_redis *r, yk_redis_op *op, const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (n < 0)
        finding("Redis command cannot be formatted", 0, fmt);
    free(cmd);
    if (op)
        push(op, NULL, 0);
}

/* One Redis, never connected: no cluster, no replicas; a subscription or WAIT fails at once. */
void yk_redis_subscribe(yk_redis *r, yk_redis_op *op, const char *channel, int sharded)
{
    push(op, NULL, 0);
}

int yk_redis_cluster(const yk_redis *r)
{
    return 0;
}

int yk_redis_replicas(const yk_redis *r, const char *key)
{
    return 0;
}

void yk_redis_set_replicas(yk_redis *r, int n) {}

void yk_redis_wait(yk_redis *r, yk_redis_op *op, const char *key, int n, int timeout_ms)
{
    push(op, NULL, 0);
}

/* ---- streamed request bodies: none is streamed (no filter is served), so none is read --------
 */

void yk_http_server_stream_bodies(yk_http_server *srv, yk_http_body_filter filter, void *ud) {}

int yk_http_body_read(yk_http_req *req, yk_http_body_cb cb, void *ud)
{
    return -1; /* as for a client gone: the handler answers */
}

void yk_http_body_pause(yk_http_req *req) {}

void yk_http_body_resume(yk_http_req *req) {}

/* ---- yk_pg: never connected -------------------------------------------------------------------
 */

struct yk_pg {
    int unused;
};
static yk_pg pg_stand_in;

int yk_pg_open(yk_pg **out, uv_loop_t *loop, const char *conninfo, uint64_t retry_ms)
{
    *out = &pg_stand_in;
    return 0;
}

void yk_pg_close(yk_pg *pg) {}

int yk_pg_ready(const yk_pg *pg)
{
    return 0;
}

int yk_pg_query(yk_pg *pg, yk_pg_op *op, const char *sql, int nparams, const char *const *params)
{
    volatile size_t n = strlen(sql); /* read as libpq would */
    for (int i = 0; i < nparams; i++)
        if (params[i])
            n += strlen(params[i]);
    (void)n;
    /* The admin caller's lookup (a token's or session's hash in $2) finds a caller, whose role
     * the hash picks, so that the admin routes run on; every other query fails. */
    char role = 0;
    if (strstr(sql, "FROM admin_tokens") && nparams >= 2 && params[1]) {
        unsigned char h = (unsigned char)params[1][0];
        role = h <= '7' ? 'o' : h <= 'b' ? 's' : 'd';
    }
    push(NULL, op, role);
    return 0;
}

/* ---- yk_notify: no systemd here ---------------------------------------------------------------
 */

void yk_notify_start(uv_loop_t *loop, int (*ready)(void)) {}

void yk_notify_stopping(void) {}
