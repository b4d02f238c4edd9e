/* waiter: owns the waiter pool, the hash of waiters by request id and the in-flight count; the
 * lists themselves belong to the modules that keep them. */
#include "waiter.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 65536
static waiter *buckets[BUCKETS];
static waiter *pool; /* free waiters, linked by next */
static int inflight;
static void (*idle_hook)(void);

/* From the id's random tail: its head is the time. */
static unsigned bucket_of(const char *id)
{
    unsigned v = 0;
    for (const char *r = id + YK_REQUEST_ID_LEN - 4; r < id + YK_REQUEST_ID_LEN; r++)
        v = v * 16 + (unsigned)(*r <= '9' ? *r - '0' : (*r | 0x20) - 'a' + 10);
    return v % BUCKETS;
}

waiter *waiter_new(yk_http_req *req)
{
    waiter *w = pool;
    if (w)
        pool = w->next;
    else if ((w = malloc(sizeof *w)) == NULL)
        return NULL;
    memset(w, 0, sizeof *w);
    w->req = req;
    w->done = -1;
    return w;
}

void waiter_free(waiter *w)
{
    w->next = pool;
    pool = w;
}

void waiter_pool_free(void)
{
    for (waiter *w = pool, *next; w; w = next) {
        next = w->next;
        free(w);
    }
    pool = NULL;
}

void waiter_hash_insert(waiter *w)
{
    unsigned b = bucket_of(w->id);
    w->hnext = buckets[b];
    buckets[b] = w;
}

void waiter_hash_unlink(waiter *w)
{
    for (waiter **p = &buckets[bucket_of(w->id)]; *p; p = &(*p)->hnext)
        if (*p == w) {
            *p = w->hnext;
            return;
        }
}

waiter *waiter_hash_take(const char *id)
{
    for (waiter **p = &buckets[bucket_of(id)]; *p; p = &(*p)->hnext) {
        waiter *w = *p;
        if (memcmp(w->id, id, YK_REQUEST_ID_LEN) == 0) {
            *p = w->hnext;
            return w;
        }
    }
    return NULL;
}

void waiter_list_push(waiter_list *l, waiter *w)
{
    w->next = NULL;
    w->prev = l->tail;
    if (l->tail)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
}

void waiter_list_unlink(waiter_list *l, waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        l->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        l->tail = w->prev;
    w->prev = w->next = NULL;
}

void waiter_busy(void)
{
    inflight++;
}

void waiter_idle(void)
{
    if (--inflight == 0 && idle_hook)
        idle_hook();
}

int waiter_inflight(void)
{
    return inflight;
}

void waiter_on_idle(void (*hook)(void))
{
    idle_hook = hook;
}
