/* yk_http_cap: how many connections each address holds open on one server, for
 * yk_http_limits.max_conns_per_addr. Owns the server's table (srv->caps): open addressing with
 * linear probing under a keyed hash, kept at most half full, entries removed by backward shift,
 * so a lookup stays short whatever addresses connect. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "yk_addr.h"
#include "yk_http_int.h"

#define CAP_SLOTS 16384 /* addresses with connections open at once, twice over */

typedef struct {
    unsigned char key[16];
    uint32_t n;    /* open connections; 0 marks a free slot */
    uint32_t home; /* the slot its hash names */
} cap_slot;

struct yk_http_caps {
    unsigned char seed[crypto_shorthash_KEYBYTES];
    size_t used;
    cap_slot s[CAP_SLOTS];
};

/* Each connection holds a descriptor: a soft limit of 1024 (systemd's default) would refuse the
 * 1025th client however the caps are set. */
static void raise_nofile(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &r);
    }
}

int yk_httpi_caps_init(yk_http_server *srv)
{
    raise_nofile();
    srv->caps = NULL;
    if (srv->lim.max_conns_per_addr == 0)
        return 0;
    if (sodium_init() < 0)
        return UV_ENOMEM;
    srv->caps = calloc(1, sizeof *srv->caps);
    if (srv->caps == NULL)
        return UV_ENOMEM;
    randombytes_buf(srv->caps->seed, sizeof srv->caps->seed);
    return 0;
}

void yk_httpi_caps_free(yk_http_server *srv)
{
    free(srv->caps);
    srv->caps = NULL;
}

static uint32_t cap_home(const struct yk_http_caps *t, const unsigned char key[16])
{
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, key, 16, t->seed);
    uint32_t v;
    memcpy(&v, h, sizeof v);
    return v % CAP_SLOTS;
}

/* key's slot, or the free slot where it would go (n == 0). */
static cap_slot *cap_find(struct yk_http_caps *t, const unsigned char key[16], uint32_t home)
{
    for (uint32_t i = home;; i = (i + 1) % CAP_SLOTS) {
        cap_slot *s = &t->s[i];
        if (s->n == 0 || memcmp(s->key, key, 16) == 0)
            return s; /* never full: used stays at most half the slots */
    }
}

int yk_httpi_cap_take(yk_http_conn *c)
{
    struct yk_http_caps *t = c->srv->caps;
    if (t == NULL)
        return 0;
    if (c->srv->lim.conn_key != NULL) {
        if (!c->srv->lim.conn_key(&c->peer, c->cap_key))
            return 0;
    } else if (yk_ip_of(&c->peer, c->cap_key) != 0) {
        return 0; /* a unix socket */
    }
    uint32_t home = cap_home(t, c->cap_key);
    cap_slot *s = cap_find(t, c->cap_key, home);
    if (s->n == 0) {
        if (t->used >= CAP_SLOTS / 2)
            return 0; /* this many addresses at once: the newest go uncounted, not refused */
        memcpy(s->key, c->cap_key, 16);
        s->home = home;
        t->used++;
    } else if (s->n >= c->srv->lim.max_conns_per_addr) {
        return -1;
    }
    s->n++;
    c->capped = 1;
    return 0;
}

/* 1 when slot j's entry (home h) may move back to the hole at i: h is not cyclically in (i, j]. */
static int cap_may_move(uint32_t i, uint32_t j, uint32_t h)
{
    return i <= j ? (h <= i || h > j) : (h <= i && h > j);
}

void yk_httpi_cap_release(yk_http_conn *c)
{
    struct yk_http_caps *t = c->srv->caps;
    if (!c->capped || t == NULL)
        return;
    c->capped = 0;
    uint32_t i = cap_home(t, c->cap_key);
    cap_slot *s = cap_find(t, c->cap_key, i);
    if (s->n == 0 || --s->n > 0)
        return;
    /* the slot empties: later entries of its run move back so no lookup stops short of them */
    i = (uint32_t)(s - t->s);
    for (uint32_t j = (i + 1) % CAP_SLOTS; t->s[j].n != 0; j = (j + 1) % CAP_SLOTS) {
        if (cap_may_move(i, j, t->s[j].home)) {
            t->s[i] = t->s[j];
            t->s[j].n = 0;
            i = j;
        }
    }
    t->s[i].n = 0;
    t->used--;
}

/* One connection too many from its address: told so (429, as a rate limit) and closed at once,
 * before anything is read; what the client sent meanwhile is dropped. */
void yk_httpi_cap_refuse(yk_http_conn *c)
{
    static const char body[] =
        "{\"error\":\"rate_limited\",\"message\":\"Too many connections from this address.\"}";
    char head[256];
    int n =
        snprintf(head, sizeof head,
                 "HTTP/1.1 429 Too Many Requests\r\nDate: %s\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\nRetry-After: 1\r\nConnection: close\r\n\r\n",
                 yk_httpi_date(c->srv), sizeof body - 1);
    uv_buf_t b[2] = {uv_buf_init(head, (unsigned)n), uv_buf_init((char *)body, sizeof body - 1)};
    (void)uv_try_write((uv_stream_t *)&c->tcp, b, 2); /* an empty socket buffer takes it */
    yk_httpi_close(c);
}
