/* failrate: failures a minute per key in a fixed table. Owns nothing but the caller's table. */
#include "failrate.h"

#include <string.h>

#define RATE_PROBES 8

void failrate_init(failrate *r, int limit)
{
    memset(r->e, 0, sizeof r->e);
    r->limit = limit < 0 ? 0 : limit > FAILRATE_MAX ? FAILRATE_MAX : limit;
}

static uint32_t rate_hash(const unsigned char key[FAILRATE_KEY])
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < FAILRATE_KEY; i++)
        h = (h ^ key[i]) * 16777619u;
    return h;
}

/* The newest failure of e, or 0 when it has none. */
static uint32_t rate_newest(const failrate *r, const failrate_entry *e)
{
    return e->used ? e->times[(e->next + r->limit - 1) % r->limit] : 0;
}

static int rate_live(const failrate *r, const failrate_entry *e, uint32_t now)
{
    return e->used && now - rate_newest(r, e) < FAILRATE_WINDOW;
}

/* key's entry; with create, a free or stale one is taken for it, else the stalest probed is
 * forgotten (an attacker with many keys can make the table forget some: bounded memory). */
static failrate_entry *rate_find(failrate *r, const unsigned char key[FAILRATE_KEY], uint32_t now,
                                 int create)
{
    uint32_t h = rate_hash(key);
    failrate_entry *spare = NULL;
    for (int i = 0; i < RATE_PROBES; i++) {
        failrate_entry *e = &r->e[(h + (uint32_t)i) % FAILRATE_SLOTS];
        if (e->used && memcmp(e->key, key, FAILRATE_KEY) == 0)
            return e;
        if (spare == NULL || (rate_live(r, spare, now) &&
                              (!rate_live(r, e, now) || rate_newest(r, e) < rate_newest(r, spare))))
            spare = e;
    }
    if (!create)
        return NULL;
    memset(spare, 0, sizeof *spare);
    memcpy(spare->key, key, FAILRATE_KEY);
    return spare;
}

static int rate_count(const failrate *r, const failrate_entry *e, uint32_t now)
{
    int n = 0;
    for (int i = 0; i < r->limit; i++) /* a slot never used or given back holds 0 */
        n += e->times[i] != 0 && now - e->times[i] < FAILRATE_WINDOW;
    return n;
}

int failrate_take(failrate *r, const unsigned char key[FAILRATE_KEY], int64_t now64)
{
    if (r->limit == 0)
        return 0;
    uint32_t now = (uint32_t)now64;
    failrate_entry *e = rate_find(r, key, now, 1);
    if (e->used == r->limit) {
        /* full ring: times[next] is the oldest of the last limit failures */
        uint32_t oldest = e->times[e->next];
        if (now - oldest < FAILRATE_WINDOW)
            return (int)(FAILRATE_WINDOW - (now - oldest));
    }
    e->times[e->next] = now;
    e->next = (uint8_t)((e->next + 1) % r->limit);
    if (e->used < r->limit)
        e->used++;
    return 0;
}

void failrate_give_back(failrate *r, const unsigned char key[FAILRATE_KEY])
{
    if (r->limit == 0)
        return;
    failrate_entry *e = rate_find(r, key, 0, 0);
    if (e == NULL || e->used == 0)
        return;
    /* The newest goes; the ring's oldest entries keep their places. When the ring was full its
     * oldest slot was overwritten: that failure is lost, which only errs towards fewer counted. */
    e->next = (uint8_t)((e->next + r->limit - 1) % r->limit);
    e->times[e->next] = 0;
    e->used--;
}

int failrate_count(const failrate *r, const unsigned char key[FAILRATE_KEY], int64_t now)
{
    if (r->limit == 0)
        return 0;
    failrate_entry *e = rate_find((failrate *)r, key, (uint32_t)now, 0);
    return e ? rate_count(r, e, (uint32_t)now) : 0;
}
