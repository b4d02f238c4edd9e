/* yk_rconn: the blocking hiredis connection, and the reply arena (hiredis's reader is lent our
 * object functions only for the duration of one yk_rconn_command_in). Owns the arena's chunks.
 * A cluster connection is yk_rconn_cluster.c's; every call here hands it over. */
#include "yk_rconn.h"

#include <hiredis/hiredis.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "yk_addr.h"
#include "yk_cluster.h"
#include "yk_log.h"
#include "yk_rconn_int.h"
#include "yk_settings.h"

redisContext *yk_rconn__connect(const char *host, int port, int connect_ms, int io_ms)
{
    struct timeval connect_tv = {connect_ms / 1000, (connect_ms % 1000) * 1000};
    redisContext *c = port ? redisConnectWithTimeout(host, port, connect_tv)
                           : redisConnectUnixWithTimeout(host, connect_tv);
    if (c == NULL || c->err) {
        yk_warn("redis connect to %s failed: %s", host, c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    struct timeval io_tv = {io_ms / 1000, (io_ms % 1000) * 1000};
    if (redisSetTimeout(c, io_tv) != REDIS_OK) {
        redisFree(c);
        return NULL;
    }
    return c;
}

yk_rconn *yk_rconn_open(const char *host, int port, int connect_ms, int io_ms)
{
    yk_rconn *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    if ((r->c = yk_rconn__connect(host, port, connect_ms, io_ms)) == NULL) {
        free(r);
        return NULL;
    }
    return r;
}

yk_rconn *yk_rconn_open_addr(const char *addr, int connect_ms, int io_ms)
{
    if (yk_cluster_is_url(addr)) {
        yk_rconn *r = calloc(1, sizeof *r);
        if (r == NULL)
            return NULL;
        if ((r->cl = yk_rconn__cluster_open(addr, connect_ms, io_ms)) == NULL) {
            free(r);
            return NULL;
        }
        return r;
    }
    yk_addr a;
    char err[128];
    if (yk_addr_parse(addr, YK_SETTINGS_REDIS_PORT, &a, err, sizeof err) != 0) {
        yk_error("redis address %s: %s", addr, err);
        return NULL;
    }
    return yk_rconn_open(a.host, a.port, connect_ms, io_ms);
}

int yk_rconn_cluster(const yk_rconn *c)
{
    return c && c->cl != NULL;
}

void yk_rconn_close(yk_rconn *c)
{
    if (c == NULL)
        return;
    if (c->cl)
        yk_rconn__cluster_close(c->cl);
    redisFree(c->c);
    free(c);
}

const char *yk_rconn_error(const yk_rconn *c)
{
    if (c == NULL)
        return "no connection";
    return c->cl ? yk_rconn__cluster_error(c->cl) : c->c->errstr;
}

yk_reply *yk_rconn_command(yk_rconn *c, int argc, const char *const *argv)
{
    if (c->cl)
        return yk_rconn_append(c, argc, argv) == 0 ? yk_rconn_get(c) : NULL;
    return redisCommandArgv(c->c, argc, (const char **)argv, NULL);
}

void yk_rconn_free(yk_reply *r)
{
    if (r)
        freeReplyObject(r);
}

int yk_rconn_append(yk_rconn *c, int argc, const char *const *argv)
{
    if (c->cl)
        return yk_rconn__cluster_append(c->cl, argc, argv);
    return redisAppendCommandArgv(c->c, argc, (const char **)argv, NULL) == REDIS_OK ? 0 : -1;
}

int yk_rconn_append_raw(yk_rconn *c, const char *resp, size_t len)
{
    if (c->cl)
        return yk_rconn__cluster_append_raw(c->cl, resp, len);
    return redisAppendFormattedCommand(c->c, resp, len) == REDIS_OK ? 0 : -1;
}

yk_reply *yk_rconn_get(yk_rconn *c)
{
    if (c->cl)
        return yk_rconn__cluster_get(c->cl, NULL);
    void *r = NULL;
    return redisGetReply(c->c, &r) == REDIS_OK ? r : NULL;
}

struct yk_rconn_chunk {
    yk_rconn_chunk *next;
    size_t cap, used;
    alignas(max_align_t) char data[];
};

/* 256 KiB holds ≈ 3000 strings of an XREADGROUP entry; a batch of 1000 needs ≈ 8 chunks. */
#define ARENA_CHUNK ((size_t)256 << 10)
/* More than this after a reply (an unusually large batch) is given back. */
#define ARENA_KEEP ((size_t)16 << 20)

/* The arena of the running yk_rconn_command_in: hiredis's object functions take no context of
 * ours (task->privdata is not set for every task by every hiredis version). */
static yk_rconn_arena *arena_current;

static void *arena_alloc(size_t n)
{
    yk_rconn_arena *a = arena_current;
    n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    yk_rconn_chunk *c = a->cur;
    while (c && c->cap - c->used < n)
        c = c->next; /* a later chunk kept from an earlier reply may have room */
    if (c == NULL) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        if ((c = malloc(sizeof *c + cap)) == NULL)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = a->cur ? a->cur->next : NULL; /* after cur: its tail of chunks stays usable */
        if (a->cur)
            a->cur->next = c;
        else
            a->head = c;
    }
    a->cur = c;
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

/* A zeroed reply of type t, linked into its parent array as hiredis's own functions do. */
static redisReply *arena_reply(const redisReadTask *task, int t)
{
    redisReply *r = arena_alloc(sizeof *r);
    if (r == NULL)
        return NULL;
    memset(r, 0, sizeof *r);
    r->type = t;
    if (task->parent) {
        redisReply *parent = task->parent->obj;
        parent->element[task->idx] = r;
    }
    return r;
}

static void *arena_string(const redisReadTask *task, char *s, size_t len)
{
    char *buf = arena_alloc(len + 1);
    redisReply *r = buf ? arena_reply(task, task->type) : NULL;
    if (r == NULL)
        return NULL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    r->str = buf;
    r->len = len;
    return r;
}

static void *arena_array(const redisReadTask *task, int n)
{
    redisReply **el = n > 0 ? arena_alloc((size_t)n * sizeof *el) : NULL;
    redisReply *r = n <= 0 || el ? arena_reply(task, REDIS_REPLY_ARRAY) : NULL;
    if (r == NULL)
        return NULL;
    if (el)
        memset(el, 0, (size_t)n * sizeof *el);
    r->element = el;
    r->elements = n > 0 ? (size_t)n : 0;
    return r;
}

static void *arena_integer(const redisReadTask *task, long long v)
{
    redisReply *r = arena_reply(task, REDIS_REPLY_INTEGER);
    if (r)
        r->integer = v;
    return r;
}

static void *arena_nil(const redisReadTask *task)
{
    return arena_reply(task, REDIS_REPLY_NIL);
}

static void arena_forget(void *r)
{
    (void)r; /* the arena owns it */
}

static redisReplyObjectFunctions arena_fns = {
    .createString = arena_string,
    .createArray = arena_array,
    .createInteger = arena_integer,
    .createNil = arena_nil,
    .freeObject = arena_forget,
};

/* Empties a, keeping its chunks unless they add up to more than ARENA_KEEP. */
static void arena_reset(yk_rconn_arena *a)
{
    size_t total = 0;
    for (yk_rconn_chunk *c = a->head; c; c = c->next) {
        c->used = 0;
        total += c->cap;
    }
    if (total > ARENA_KEEP)
        yk_rconn_arena_free(a);
    a->cur = a->head;
}

void *yk_rconn__arena_alloc(yk_rconn_arena *a, size_t n)
{
    yk_rconn_arena *saved = arena_current;
    arena_current = a;
    void *p = arena_alloc(n);
    arena_current = saved;
    return p;
}

int yk_rconn__read(redisContext *c, yk_rconn_arena *a, void **out)
{
    *out = NULL;
    if (a == NULL)
        return redisGetReply(c, out) == REDIS_OK ? 0 : -1;
    redisReader *rd = c->reader;
    redisReplyObjectFunctions *fn = rd->fn;
    rd->fn = &arena_fns;
    arena_current = a;
    int rc = 0;
    if (redisGetReply(c, out) != REDIS_OK) {
        *out = NULL;
        rd->reply = NULL; /* whatever is half built is in the arena: hiredis must not free it */
        rc = -1;
    }
    rd->fn = fn;
    arena_current = NULL;
    return rc;
}

yk_reply *yk_rconn_get_in(yk_rconn *c, yk_rconn_arena *a)
{
    arena_reset(a);
    if (c->cl)
        return yk_rconn__cluster_get(c->cl, a);
    void *r;
    return yk_rconn__read(c->c, a, &r) == 0 ? r : NULL;
}

yk_reply *yk_rconn_command_in(yk_rconn *c, yk_rconn_arena *a, int argc, const char *const *argv)
{
    return yk_rconn_append(c, argc, argv) == 0 ? yk_rconn_get_in(c, a) : NULL;
}

void yk_rconn_arena_free(yk_rconn_arena *a)
{
    for (yk_rconn_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = a->cur = NULL;
}
