/* reply: an arena for hiredis reply trees. Owns the arena's chunks; hiredis's reader is lent our
 * object functions only for the duration of one reply_command. */
#include "reply.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct reply_chunk {
    reply_chunk *next;
    size_t cap, used;
    alignas(max_align_t) char data[];
};

/* 256 KiB holds ≈ 3000 strings of an XREADGROUP entry; a batch of 1000 needs ≈ 8 chunks. */
#define REPLY_CHUNK ((size_t)256 << 10)
/* More than this after a reply (an unusually large batch) is given back. */
#define REPLY_KEEP ((size_t)16 << 20)

/* The arena of the running reply_command: hiredis's object functions take no context of ours
 * (task->privdata is not set for every task by every hiredis version). */
static reply_arena *reply_current;

static void *reply_alloc(size_t n)
{
    reply_arena *a = reply_current;
    n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    reply_chunk *c = a->cur;
    while (c && c->cap - c->used < n)
        c = c->next; /* a later chunk kept from an earlier reply may have room */
    if (c == NULL) {
        size_t cap = n > REPLY_CHUNK ? n : REPLY_CHUNK;
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
static redisReply *reply_new(const redisReadTask *task, int t)
{
    redisReply *r = reply_alloc(sizeof *r);
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

static void *reply_string(const redisReadTask *task, char *s, size_t len)
{
    char *buf = reply_alloc(len + 1);
    redisReply *r = buf ? reply_new(task, task->type) : NULL;
    if (r == NULL)
        return NULL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    r->str = buf;
    r->len = len;
    return r;
}

static void *reply_array(const redisReadTask *task, int n)
{
    redisReply **el = n > 0 ? reply_alloc((size_t)n * sizeof *el) : NULL;
    redisReply *r = n <= 0 || el ? reply_new(task, REDIS_REPLY_ARRAY) : NULL;
    if (r == NULL)
        return NULL;
    if (el)
        memset(el, 0, (size_t)n * sizeof *el);
    r->element = el;
    r->elements = n > 0 ? (size_t)n : 0;
    return r;
}

static void *reply_integer(const redisReadTask *task, long long v)
{
    redisReply *r = reply_new(task, REDIS_REPLY_INTEGER);
    if (r)
        r->integer = v;
    return r;
}

static void *reply_nil(const redisReadTask *task)
{
    return reply_new(task, REDIS_REPLY_NIL);
}

static void reply_forget(void *r)
{
    (void)r; /* the arena owns it */
}

static redisReplyObjectFunctions reply_fns = {
    .createString = reply_string,
    .createArray = reply_array,
    .createInteger = reply_integer,
    .createNil = reply_nil,
    .freeObject = reply_forget,
};

/* Empties a, keeping its chunks unless they add up to more than REPLY_KEEP. */
static void reply_reset(reply_arena *a)
{
    size_t total = 0;
    for (reply_chunk *c = a->head; c; c = c->next) {
        c->used = 0;
        total += c->cap;
    }
    if (total > REPLY_KEEP)
        reply_arena_free(a);
    a->cur = a->head;
}

redisReply *reply_command(redisContext *c, reply_arena *a, int argc, const char **argv)
{
    reply_reset(a);
    redisReader *rd = c->reader;
    redisReplyObjectFunctions *fn = rd->fn;
    rd->fn = &reply_fns;
    reply_current = a;
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (r == NULL)
        rd->reply = NULL; /* whatever is half built is in the arena: hiredis must not free it */
    rd->fn = fn;
    reply_current = NULL;
    return r;
}

void reply_arena_free(reply_arena *a)
{
    for (reply_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = a->cur = NULL;
}
