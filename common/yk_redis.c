/* yk_redis: owns the redisAsyncContext, its event hooks on libuv, the retry and probe timers, the
 * queue of commands to fail from the loop, and the per-command trampoline.
 * The context is never freed inside its own callbacks: hiredis frees it after disconnects. */
#include "yk_redis.h"

#include <hiredis/async.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "yk_addr.h"
#include "yk_cluster.h"
#include "yk_log.h"
#include "yk_redis_int.h"
#include "yk_resp.h"
#include "yk_settings.h"
#include "yk_text.h"

struct yk_redis {
    uv_loop_t *loop;
    redisAsyncContext *ac; /* NULL while disconnected */
    int connected;
    int closing;
    uv_timer_t retry;
    uint64_t retry_ms;
    uv_timer_t probe;         /* every YK_REDIS_PROBE_MS while open */
    uint64_t connect_started; /* uv_now() of the connect in progress */
    uint64_t probe_sent;      /* uv_now() of the unanswered probe, when probing */
    uint64_t answered;        /* uv_now() of the last answered probe */
    int probing;
    int answered_once; /* since the last connect */
    int failing;       /* the last connect failed: further failures log quietly */
    uv_idle_t fail;    /* runs the callbacks of commands that could not be sent */
    yk_redis_op **failed;
    size_t nfailed, failed_cap;
    int handles; /* not yet closed: r is freed when this reaches 0 */
    char host[256];
    int port; /* 0: host is a unix socket path */
    yk_redis_on_connect on_connect;
    void *ud;
    yk_buf fmt;               /* reused by yk_redis_argv's RESP encoding */
    yk_acluster *cl;          /* a cluster: everything above is unused (yk_redis_cluster.c) */
    int replicas;             /* from INFO replication at the last connect; -1 until known */
    int replicas_cfg;         /* yk_redis_set_replicas: 0 (the default), n, or -1: automatic */
    uv_idle_t waitq;          /* sends the WAITs asked for in this loop iteration, one per key */
    struct wait_group *waits; /* not sent yet */
};

/* The yk_redis_wait calls of one loop iteration for one key: one WAIT answers them all (a WAIT per
 * request held the connection for a replica's round trip each: submits queued behind it). */
typedef struct wait_group {
    yk_redis_op op; /* the WAIT's; first member */
    yk_redis *r;
    struct wait_group *next;
    int n, ms;
    yk_redis_op **ops;
    size_t nops, cap;
    char key[];
} wait_group;

static void redis_connect(yk_redis *r);
static void redis_drop(yk_redis *r, const char *why);

/* hiredis's event hooks, in place of its adapters/libuv.h: that one restarts the poll handle for
 * every command queued and every read, and in libuv each restart is an epoll_ctl DEL at once and
 * an ADD at the next poll (2.4 epoll_ctl per booking). Here the interest changes only when it
 * must, and once connected the commands are written from a prepare handle, just before the loop
 * would block: everything queued in one loop iteration goes out in one write, and write interest
 * is armed only when the socket would block. Freed when both handles are closed. */
typedef struct {
    redisAsyncContext *ac; /* NULL once hiredis has let go of it */
    uv_poll_t poll;
    uv_prepare_t flush;
    int events;   /* armed on poll */
    int flushing; /* inside the prepare's write: an add_write now means the socket would block */
    int handles;  /* not yet closed */
} redis_events;

static void events_poll_cb(uv_poll_t *h, int status, int events)
{
    redis_events *e = h->data;
    if (status != 0) {
        /* libuv reports POLLERR (a refused connect, a reset) as an error and stops the handle:
         * hiredis would never hear of it, so the context is dropped here and a retry scheduled. */
        if (e->ac) {
            int err = 0;
            socklen_t len = sizeof err;
            if (getsockopt(e->ac->c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err == 0)
                err = -status;
            redis_drop(e->ac->data, strerror(err));
        }
        return;
    }
    if (e->ac && (events & UV_READABLE))
        redisAsyncHandleRead(e->ac);
    if (e->ac && (events & UV_WRITABLE)) /* the read may have freed the context */
        redisAsyncHandleWrite(e->ac);
}

static void events_set(redis_events *e, int events)
{
    if (events == e->events)
        return;
    e->events = events;
    if (events)
        uv_poll_start(&e->poll, events, events_poll_cb);
    else
        uv_poll_stop(&e->poll);
}

static void events_flush_cb(uv_prepare_t *h)
{
    redis_events *e = h->data;
    uv_prepare_stop(h);
    if (e->ac == NULL)
        return;
    e->flushing = 1;
    redisAsyncHandleWrite(e->ac); /* may free the context: e lives until its handles close */
    e->flushing = 0;
}

static void events_add_read(void *p)
{
    redis_events *e = p;
    events_set(e, e->events | UV_READABLE);
}

static void events_del_read(void *p)
{
    redis_events *e = p;
    events_set(e, e->events & ~UV_READABLE);
}

/* Until connected, the first writable event is how hiredis learns that connect(2) finished. */
static void events_add_write(void *p)
{
    redis_events *e = p;
    if (e->flushing || !(e->ac->c.flags & REDIS_CONNECTED))
        events_set(e, e->events | UV_WRITABLE);
    else
        uv_prepare_start(&e->flush, events_flush_cb);
}

static void events_del_write(void *p)
{
    redis_events *e = p;
    events_set(e, e->events & ~UV_WRITABLE);
}

static void events_closed_cb(uv_handle_t *h)
{
    redis_events *e = h->data;
    if (--e->handles == 0)
        free(e);
}

static void events_cleanup(void *p)
{
    redis_events *e = p;
    e->ac = NULL;
    uv_close((uv_handle_t *)&e->poll, events_closed_cb);
    uv_close((uv_handle_t *)&e->flush, events_closed_cb);
}

static int events_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    redis_events *e = calloc(1, sizeof *e);
    if (e == NULL)
        return -1;
    if (uv_poll_init(loop, &e->poll, ac->c.fd) != 0) {
        free(e);
        return -1;
    }
    uv_prepare_init(loop, &e->flush);
    e->poll.data = e->flush.data = e;
    e->ac = ac;
    e->handles = 2;
    ac->ev.data = e;
    ac->ev.addRead = events_add_read;
    ac->ev.delRead = events_del_read;
    ac->ev.addWrite = events_add_write;
    ac->ev.delWrite = events_del_write;
    ac->ev.cleanup = events_cleanup;
    return 0;
}

static void redis_reply_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
    yk_redis_op *op = privdata;
    if (op != NULL && op->cb != NULL)
        op->cb(op, reply);
}

/* ---- commands that could not be sent: failed from the loop, never inside the submitting call */

static void redis_fail_cb(uv_idle_t *h)
{
    yk_redis *r = h->data;
    uv_idle_stop(h);
    /* Only what is queued now: a callback that submits again while disconnected is failed on the
     * next iteration, so a caller retrying at once cannot starve the loop. */
    yk_redis_op **ops = r->failed;
    size_t n = r->nfailed;
    r->failed = NULL;
    r->nfailed = r->failed_cap = 0;
    for (size_t i = 0; i < n; i++)
        ops[i]->cb(ops[i], NULL);
    free(ops);
}

static void redis_fail_later(yk_redis *r, yk_redis_op *op)
{
    if (op == NULL || op->cb == NULL)
        return;
    if (r->nfailed == r->failed_cap) {
        size_t cap = r->failed_cap ? 2 * r->failed_cap : 16;
        yk_redis_op **f = realloc(r->failed, cap * sizeof *f);
        if (f == NULL) { /* the callback must run once: late and inline beats never */
            yk_error("redis: out of memory deferring a failed command; failing it inline");
            op->cb(op, NULL);
            return;
        }
        r->failed = f;
        r->failed_cap = cap;
    }
    r->failed[r->nfailed++] = op;
    if (!r->closing)
        uv_idle_start(&r->fail, redis_fail_cb);
}

/* ---- connection lifecycle */

static void redis_retry_cb(uv_timer_t *t)
{
    redis_connect(t->data);
}

/* Logged once per outage, not once per retry. */
static void redis_connect_failed(yk_redis *r, const char *why)
{
    if (!r->failing)
        yk_warn("redis connect failed addr=%s:%d err=\"%s\"", r->host, r->port, why);
    else
        yk_debug("redis still unreachable addr=%s:%d err=\"%s\"", r->host, r->port, why);
    r->failing = 1;
}

static void redis_lost(yk_redis *r)
{
    r->ac = NULL;
    r->connected = 0;
    r->probing = 0;
    if (!r->closing)
        uv_timer_start(&r->retry, redis_retry_cb, r->retry_ms, 0);
}

/* Drops the context now, connected or still connecting: hiredis runs every pending callback with
 * NULL, then (if it was connected) the disconnect callback; a retry follows. Not for use inside
 * a hiredis callback (hiredis would defer the free). */
static void redis_drop(yk_redis *r, const char *why)
{
    redisAsyncContext *ac = r->ac;
    if (ac == NULL)
        return;
    if (r->connected)
        yk_warn("redis connection dropped addr=%s:%d err=\"%s\"", r->host, r->port, why);
    else
        redis_connect_failed(r, why);
    r->connected = 0; /* commands submitted from the NULL callbacks are failed from the loop */
    redisAsyncFree(ac);
    redis_lost(r); /* again if the disconnect callback ran: restarting the timer is harmless */
}

static void redis_probe_reply_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
    yk_redis *r = privdata;
    if (reply == NULL || r->ac != ac)
        return; /* the connection went: redis_lost cleared probing */
    r->probing = 0;
    r->answered = uv_now(r->loop);
    r->answered_once = 1;
}

static void redis_probe_send(yk_redis *r)
{
    /* hiredis 0.14 routes replies on a subscribed connection by channel name: a PING's answer
     * there would never reach its callback, a SUBSCRIBE's does. */
    const char *cmd =
        (r->ac->c.flags & REDIS_SUBSCRIBED) ? "SUBSCRIBE " YK_REDIS_PROBE_CHANNEL : "PING";
    if (redisAsyncCommand(r->ac, redis_probe_reply_cb, r, cmd) == REDIS_OK) {
        r->probing = 1;
        r->probe_sent = uv_now(r->loop);
    }
}

static void redis_probe_cb(uv_timer_t *t)
{
    yk_redis *r = t->data;
    uint64_t now = uv_now(r->loop);
    if (r->ac == NULL)
        return;
    if (!r->connected) {
        if (now - r->connect_started >= YK_REDIS_CONNECT_MS)
            redis_drop(r, "connect timed out");
        return;
    }
    if (!r->probing) {
        redis_probe_send(r);
    } else if (now - r->probe_sent >= YK_REDIS_STALL_MS) {
        char why[64];
        snprintf(why, sizeof why, "no answer to the health probe for %llu ms",
                 (unsigned long long)(now - r->probe_sent));
        redis_drop(r, why);
    }
}

/* "connected_slaves:N" of INFO replication: how many replicas a write can be confirmed by. */
static void redis_info_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
    yk_redis *r = privdata;
    size_t len;
    const char *info = yk_reply_str(reply, &len);
    if (r->ac != ac || info == NULL || !yk_reply_is(reply, YK_REPLY_STRING))
        return;
    const char *at = strstr(info, "connected_slaves:");
    r->replicas = at ? atoi(at + 17) : 0;
}

static void redis_connect_cb(const redisAsyncContext *ac, int status)
{
    yk_redis *r = ac->data;
    if (status != REDIS_OK) {
        redis_connect_failed(r, ac->errstr);
        redis_lost(r); /* hiredis frees ac after this callback */
        return;
    }
    r->connected = 1;
    r->answered_once = 0;
    r->failing = 0;
    yk_info("redis connected addr=%s:%d", r->host, r->port);
    /* before on_connect: on a connection it subscribes, a regular reply still comes first */
    if (r->replicas_cfg < 0)
        redisAsyncCommand(r->ac, redis_info_cb, r, "INFO replication");
    if (r->on_connect)
        r->on_connect(r, r->ud);
    if (r->connected && r->ac == ac) /* after on_connect: a SUBSCRIBE there changes the probe */
        redis_probe_send(r);
}

static void redis_disconnect_cb(const redisAsyncContext *ac, int status)
{
    yk_redis *r = ac->data;
    if (status != REDIS_OK)
        yk_warn("redis connection lost addr=%s:%d err=\"%s\"", r->host, r->port, ac->errstr);
    if (r->ac == ac)
        redis_lost(r);
}

static void redis_connect(yk_redis *r)
{
    r->connect_started = uv_now(r->loop);
    redisAsyncContext *ac =
        r->port ? redisAsyncConnect(r->host, r->port) : redisAsyncConnectUnix(r->host);
    if (ac == NULL || ac->err) {
        redis_connect_failed(r, ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        redis_lost(r);
        return;
    }
    ac->data = r;
    if (events_attach(ac, r->loop) != 0) {
        redisAsyncFree(ac);
        redis_lost(r);
        return;
    }
    r->ac = ac;
    redisAsyncSetConnectCallback(ac, redis_connect_cb);
    redisAsyncSetDisconnectCallback(ac, redis_disconnect_cb);
}

int yk_redis_open(yk_redis **out, uv_loop_t *loop, const char *addr, uint64_t retry_ms,
                  yk_redis_on_connect on_connect, void *ud)
{
    yk_redis *r = calloc(1, sizeof *r);
    if (r == NULL)
        return -1;
    r->replicas = -1;
    if (yk_cluster_is_url(addr)) {
        r->loop = loop;
        if ((r->cl = yk_redis__cluster_open(r, loop, addr, retry_ms, on_connect, ud)) == NULL) {
            free(r);
            return -1;
        }
        uv_idle_init(loop, &r->waitq);
        r->waitq.data = r;
        r->handles = 1;
        *out = r;
        return 0;
    }
    r->loop = loop;
    r->fmt = (yk_buf)YK_BUF_INIT(64u << 20); /* far above any command: bodies are 64 KiB at most */
    r->retry_ms = retry_ms;
    r->on_connect = on_connect;
    r->ud = ud;
    yk_addr a; /* the parser YOYAKU_REDIS was checked with at startup */
    char err[128];
    if (yk_addr_parse(addr, YK_SETTINGS_REDIS_PORT, &a, err, sizeof err) != 0) {
        yk_error("redis address %s: %s", addr, err);
        free(r);
        return -1;
    }
    snprintf(r->host, sizeof r->host, "%s", a.host);
    r->port = a.port;
    uv_timer_init(loop, &r->retry);
    uv_timer_init(loop, &r->probe);
    uv_idle_init(loop, &r->fail);
    uv_idle_init(loop, &r->waitq);
    r->retry.data = r->probe.data = r->fail.data = r->waitq.data = r;
    r->handles = 4;
    uv_timer_start(&r->probe, redis_probe_cb, YK_REDIS_PROBE_MS, YK_REDIS_PROBE_MS);
    redis_connect(r);
    *out = r;
    return 0;
}

static void redis_closed_cb(uv_handle_t *h)
{
    yk_redis *r = h->data;
    if (--r->handles > 0)
        return;
    free(r->failed);
    yk_buf_free(&r->fmt);
    free(r);
}

static void waits_fail(yk_redis *r);

void yk_redis_close(yk_redis *r)
{
    waits_fail(r);
    if (r->cl) {
        r->closing = 1;
        yk_redis__cluster_close(r->cl); /* frees itself once its handles are closed */
        uv_close((uv_handle_t *)&r->waitq, redis_closed_cb);
        return;
    }
    r->closing = 1;
    r->connected = 0;
    if (r->ac)
        redisAsyncFree(r->ac); /* runs pending callbacks with NULL and disconnect_cb now */
    r->ac = NULL;
    while (r->nfailed > 0) /* including what those callbacks submitted */
        redis_fail_cb(&r->fail);
    uv_close((uv_handle_t *)&r->retry, redis_closed_cb);
    uv_close((uv_handle_t *)&r->probe, redis_closed_cb);
    uv_close((uv_handle_t *)&r->fail, redis_closed_cb);
    uv_close((uv_handle_t *)&r->waitq, redis_closed_cb);
}

int yk_redis_connected(const yk_redis *r)
{
    return r->cl ? yk_redis__cluster_connected(r->cl) : r->connected;
}

int yk_redis_ready(const yk_redis *r)
{
    if (r->cl)
        return yk_redis__cluster_ready(r->cl);
    return r->connected && r->answered_once && uv_now(r->loop) - r->answered <= YK_REDIS_READY_MS;
}

void yk_redis_argv(yk_redis *r, yk_redis_op *op, int argc, const char **argv, const size_t *argvlen)
{
    if (r->cl) {
        yk_redis__cluster_argv(r->cl, op, argc, argv, argvlen);
        return;
    }
    /* by yk_resp into a reused buffer: hiredis's own encoder (sdscatfmt per argument) was a sixth
     * of the ingress's instructions per reservation */
    yk_buf_reset(&r->fmt);
    if (r->connected)
        yk_resp_cmd(&r->fmt, argc, argv, argvlen);
    yk_buf_addc(&r->fmt, '\0'); /* hiredis reads the command's name and a SUBSCRIBE's channels */
    if (!r->fmt.failed)         /* as C strings (strchr), one byte past the last argument */
        r->fmt.len--;
    if (!r->connected || r->fmt.failed ||
        redisAsyncFormattedCommand(r->ac, redis_reply_cb, op, r->fmt.p, r->fmt.len) != REDIS_OK)
        redis_fail_later(r, op);
}

void yk_redis_cmd(yk_redis *r, yk_redis_op *op, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (r->cl) {
        yk_redis__cluster_vcmd(r->cl, op, fmt, ap);
        va_end(ap);
        return;
    }
    int rc = r->connected ? redisvAsyncCommand(r->ac, redis_reply_cb, op, fmt, ap) : REDIS_ERR;
    va_end(ap);
    if (rc != REDIS_OK)
        redis_fail_later(r, op);
}

void yk_redis__raw(yk_redis *r, yk_redis_op *op, const char *cmd, size_t len)
{
    if (!r->connected ||
        redisAsyncFormattedCommand(r->ac, redis_reply_cb, op, cmd, len) != REDIS_OK)
        redis_fail_later(r, op);
}

int yk_redis__replicas(const yk_redis *r)
{
    return r->replicas;
}

int yk_redis_cluster(const yk_redis *r)
{
    return r->cl != NULL;
}

void yk_redis_subscribe(yk_redis *r, yk_redis_op *op, const char *channel, int sharded)
{
    if (r->cl)
        yk_redis__cluster_subscribe(r->cl, op, channel, sharded);
    else
        yk_redis_cmd(r, op, "SUBSCRIBE %s", channel);
}

int yk_redis_replicas(const yk_redis *r, const char *key)
{
    if (r->replicas_cfg >= 0)
        return r->replicas_cfg;
    if (r->cl)
        return yk_redis__cluster_replicas(r->cl, key);
    return r->replicas > 0 ? 1 : 0;
}

void yk_redis_set_replicas(yk_redis *r, int n)
{
    r->replicas_cfg = n;
}

/* The WAIT's reply, to every caller of its group, in the order they asked. */
static void wait_group_cb(yk_redis_op *op, yk_reply *reply)
{
    wait_group *g = (wait_group *)op;
    for (size_t i = 0; i < g->nops; i++)
        g->ops[i]->cb(g->ops[i], reply);
    free(g->ops);
    free(g);
}

static void waits_send_cb(uv_idle_t *h)
{
    yk_redis *r = h->data;
    uv_idle_stop(h);
    wait_group *g = r->waits;
    r->waits = NULL;
    for (wait_group *next; g; g = next) {
        next = g->next;
        g->op.cb = wait_group_cb;
        if (r->cl) {
            yk_redis__cluster_wait(r->cl, &g->op, g->key, g->n, g->ms);
        } else {
            char ns[16], ms[16];
            snprintf(ns, sizeof ns, "%d", g->n);
            snprintf(ms, sizeof ms, "%d", g->ms);
            yk_redis_argv(r, &g->op, 3, (const char *[]){"WAIT", ns, ms}, NULL);
        }
    }
}

/* Closing: the WAITs not sent are answered NULL. */
static void waits_fail(yk_redis *r)
{
    while (r->waits) {
        wait_group *g = r->waits;
        r->waits = g->next;
        wait_group_cb(&g->op, NULL);
    }
}

void yk_redis_wait(yk_redis *r, yk_redis_op *op, const char *key, int n, int timeout_ms)
{
    /* sent from the idle phase of the next loop iteration (the poll does not block meanwhile):
     * after every command the callers queue in this one, before the loop writes them out */
    wait_group *g = r->waits;
    while (g && strcmp(g->key, key) != 0)
        g = g->next;
    if (g == NULL && (g = calloc(1, sizeof *g + strlen(key) + 1)) != NULL) {
        strcpy(g->key, key);
        g->r = r;
        g->next = r->waits;
        r->waits = g;
    }
    if (g && g->nops == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 16;
        yk_redis_op **ops = realloc(g->ops, cap * sizeof *ops);
        if (ops) {
            g->ops = ops;
            g->cap = cap;
        }
    }
    if (g == NULL || g->nops == g->cap || r->closing) { /* the callback must run once */
        yk_error("redis: out of memory (or closed) queueing a WAIT; failing it inline");
        op->cb(op, NULL);
        return;
    }
    g->ops[g->nops++] = op;
    g->n = n > g->n ? n : g->n;
    g->ms = timeout_ms > g->ms ? timeout_ms : g->ms;
    uv_idle_start(&r->waitq, waits_send_cb);
}

redisReply *yk_redis__reply_copy(const redisReply *r)
{
    redisReply *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->type = r->type;
    c->integer = r->integer;
    if (r->str) {
        if ((c->str = malloc(r->len + 1)) == NULL)
            goto fail;
        memcpy(c->str, r->str, r->len);
        c->str[r->len] = '\0';
        c->len = r->len;
    }
    if (r->elements) {
        if ((c->element = calloc(r->elements, sizeof *c->element)) == NULL)
            goto fail;
        c->elements = r->elements;
        for (size_t i = 0; i < r->elements; i++)
            if (r->element[i] && (c->element[i] = yk_redis__reply_copy(r->element[i])) == NULL)
                goto fail;
    }
    return c;
fail:
    freeReplyObject(c);
    return NULL;
}
