/* ratelimit: the token buckets of YOYAKU_RATE_* in four fixed tables, one per kind. Owns the
 * tables (static, filled by ratelimit_init); see ratelimit.h. */
#include "ratelimit.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "ingress.h"

#define RATE_PROBES 8    /* slots looked at per address: the O(1) bound */
#define RATE_MAX 1000000 /* the largest N and B */
#define US_PER_S 1000000ull

static const char rate_expected[] =
    "N/s, N/min or N/h (a bare N is N/min), optionally followed by ,B (a bucket of B requests), "
    "or 0/off for no limit; N and B are 1 to 1000000";

/* Reads 1 to 7 ASCII digits at *p into *out and moves *p past them; -1 if there are none or more.
 */
static int parse_count(const char **p, uint64_t *out)
{
    uint64_t v = 0;
    int digits = 0;
    while (**p >= '0' && **p <= '9') {
        if (++digits > 7)
            return -1;
        v = v * 10 + (uint64_t)(**p - '0');
        (*p)++;
    }
    *out = v;
    return digits > 0 ? 0 : -1;
}

int ratelimit_parse(const char *s, uint64_t *interval_us, uint32_t *burst, char *err, size_t errlen)
{
    const char *p = s;
    uint64_t n, b, period = 60 * US_PER_S;
    *interval_us = 0;
    *burst = 1;
    while (*p == ' ')
        p++;
    if (strncmp(p, "off", 3) == 0) {
        p += 3;
        n = 0;
    } else if (parse_count(&p, &n) != 0) {
        goto bad;
    }
    if (n > 0 && *p == '/') {
        p++;
        if (strncmp(p, "min", 3) == 0) {
            p += 3;
        } else if (*p == 's') {
            p++;
            period = US_PER_S;
        } else if (*p == 'h') {
            p++;
            period = 3600 * US_PER_S;
        } else {
            goto bad;
        }
    }
    b = n;
    if (n > 0 && *p == ',') {
        p++;
        if (parse_count(&p, &b) != 0)
            goto bad;
    }
    while (*p == ' ')
        p++;
    if (*p != '\0' || n > RATE_MAX || (n > 0 && (b < 1 || b > RATE_MAX)))
        goto bad;
    if (n > 0) {
        *interval_us = period / n;
        *burst = (uint32_t)b;
    }
    return 0;
bad:
    snprintf(err, errlen, "%s", rate_expected);
    return -1;
}

int ratelimit_check_setting(const char *v, char *err, size_t errlen)
{
    uint64_t interval;
    uint32_t burst;
    return ratelimit_parse(v, &interval, &burst, err, errlen);
}

void ratelimit_table_init(ratelimit_table *t, uint64_t interval_us, uint32_t burst,
                          const unsigned char seed[16])
{
    memset(t->e, 0, sizeof t->e);
    memcpy(t->seed, seed, sizeof t->seed);
    t->interval_us = interval_us;
    t->tolerance_us = burst > 1 ? (uint64_t)(burst - 1) * interval_us : 0;
}

/* key's entry, or NULL after pointing *spare at the probed entry nearest to full (a free one has
 * tat 0): forgetting it errs only towards letting a request through. */
static ratelimit_entry *rate_find(ratelimit_table *t, const unsigned char key[RATELIMIT_KEY],
                                  ratelimit_entry **spare)
{
    unsigned char h8[crypto_shorthash_BYTES];
    crypto_shorthash(h8, key, RATELIMIT_KEY, t->seed); /* SipHash: keyed, so not aimable */
    uint64_t h;
    memcpy(&h, h8, sizeof h);
    *spare = NULL;
    for (uint64_t i = 0; i < RATE_PROBES; i++) {
        ratelimit_entry *e = &t->e[(h + i) % RATELIMIT_SLOTS];
        if (e->tat != 0 && memcmp(e->key, key, RATELIMIT_KEY) == 0)
            return e;
        if (*spare == NULL || e->tat < (*spare)->tat)
            *spare = e;
    }
    return NULL;
}

uint64_t ratelimit_table_take(ratelimit_table *t, const unsigned char key[RATELIMIT_KEY],
                              uint64_t now_us)
{
    if (t->interval_us == 0)
        return 0;
    if (now_us == 0)
        now_us = 1; /* tat 0 marks a free slot */
    ratelimit_entry *spare, *e = rate_find(t, key, &spare);
    /* GCRA: the bucket holds (tolerance - (tat - now)) / interval + 1 tokens */
    uint64_t tat = e != NULL && e->tat > now_us ? e->tat : now_us;
    if (tat - now_us > t->tolerance_us)
        return tat - now_us - t->tolerance_us;
    if (e == NULL) {
        e = spare;
        memcpy(e->key, key, RATELIMIT_KEY);
    }
    e->tat = tat + t->interval_us;
    return 0;
}

/* --- the ingress's tables ------------------------------------------------------------------- */

static ratelimit_table tables[RATE_KINDS];

void ratelimit_init(const char *const settings[RATE_KINDS])
{
    unsigned char seed[16];
    randombytes_buf(seed, sizeof seed);
    for (int k = 0; k < RATE_KINDS; k++) {
        uint64_t interval = 0;
        uint32_t burst = 1;
        char err[200];
        if (ratelimit_parse(settings[k], &interval, &burst, err, sizeof err) != 0)
            interval = 0; /* checked at load: cannot happen */
        ratelimit_table_init(&tables[k], interval, burst, seed);
    }
}

int ratelimit_refuse(yk_http_req *req, ratelimit_kind kind)
{
    static const char body[] = "{\"error\":\"rate_limited\",\"message\":\"Too many requests from "
                               "this address; try again after Retry-After seconds.\"}";
    ratelimit_table *t = &tables[kind];
    unsigned char ip[YK_IP_LEN];
    if (t->interval_us == 0 || !client_limited(req, ip))
        return 0;
    uint64_t wait = ratelimit_table_take(t, ip, uv_now(ingress.loop) * 1000);
    if (wait == 0)
        return 0;
    char retry[48];
    snprintf(retry, sizeof retry, "Retry-After: %llu\r\n",
             (unsigned long long)((wait + US_PER_S - 1) / US_PER_S));
    yk_http_respond(req, 429, "application/json", retry, body, sizeof body - 1);
    return 1;
}

_Static_assert(sizeof ingress.rate / sizeof ingress.rate[0] == RATE_KINDS,
               "ingress.rate holds one setting per kind");
