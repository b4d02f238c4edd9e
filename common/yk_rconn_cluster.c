/* yk_rconn_cluster: a blocking connection to a Redis Cluster for yk_rconn. Owns the slot map, one
 * hiredis context per master (a link), the queue of commands appended and not yet answered with
 * their bytes (to send again after MOVED, ASK, TRYAGAIN, CLUSTERDOWN), and replies read ahead. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "yk_buf.h"
#include "yk_cluster.h"
#include "yk_log.h"
#include "yk_rconn_int.h"
#include "yk_resp.h"
#include "yk_settings.h"

/* A redirected or refused command is sent again at most this often; TRYAGAIN and CLUSTERDOWN
 * wait RETRY_MS, 2×RETRY_MS, … in between (≈ 2.5 s in all: a failover's election). */
#define MAX_TRIES 6
#define RETRY_MS 80
#define MAX_ARGS 16 /* arguments looked at to route a raw command (its key is among the first) */

typedef struct {
    char host[YK_ADDR_HOST_MAX + 1];
    int port;
    redisContext *c; /* NULL until first needed, or after it failed */
    int *sent;       /* parts sent on c whose replies are not read yet, in order */
    size_t head, nsent, cap;
} link;

typedef struct {
    size_t off, len; /* its bytes in cl->cmds */
    int slot;        /* -1: keyless */
    int link;        /* where it was sent, -1 not yet */
    int entry;       /* -1: an ASKING whose reply is dropped */
    int tries;
    int done;
    int in_arena; /* reply was built in the caller's arena */
    redisReply *reply;
} part;

typedef struct {
    int first, nparts;
    int merge;  /* XREAD(GROUP) over several masters: the parts' arrays are concatenated */
    long block; /* of a merged read: -1 none, else BLOCK's milliseconds (sent in a 2nd round) */
} entry;

struct yk_rcluster {
    yk_addr seeds[YK_CLUSTER_SEEDS_MAX];
    int nseeds;
    int connect_ms, io_ms;
    yk_cluster_map map;
    int link_of[YK_CLUSTER_NODES_MAX]; /* map node -> link */
    link links[YK_CLUSTER_NODES_MAX];
    int nlinks;
    int last_link; /* of the last keyed command: where WAIT goes */
    int hot_slot;  /* of the last stream a split read found entries in: it blocks next */
    yk_buf cmds;
    part *parts;
    size_t nparts, partcap, unsent; /* parts[unsent..] are not sent yet */
    entry *entries;
    size_t nentries, entcap, head; /* entries[head] is the next reply to return */
    char err[160];
};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int link_of(yk_rcluster *cl, const char *host, int port)
{
    for (int i = 0; i < cl->nlinks; i++)
        if (cl->links[i].port == port && strcmp(cl->links[i].host, host) == 0)
            return i;
    if (cl->nlinks == YK_CLUSTER_NODES_MAX)
        return -1;
    link *l = &cl->links[cl->nlinks];
    memset(l, 0, sizeof *l);
    snprintf(l->host, sizeof l->host, "%s", host);
    l->port = port;
    return cl->nlinks++;
}

/* Reads CLUSTER SLOTS from a fresh connection to a known master, else a seed. 0 or -1. */
static int refresh_map(yk_rcluster *cl)
{
    int tries = cl->nlinks + cl->nseeds;
    for (int t = 0; t < tries; t++) {
        const char *host = t < cl->nlinks ? cl->links[t].host : cl->seeds[t - cl->nlinks].host;
        int port = t < cl->nlinks ? cl->links[t].port : cl->seeds[t - cl->nlinks].port;
        redisContext *c = yk_rconn__connect(host, port, cl->connect_ms, cl->io_ms);
        if (c == NULL)
            continue;
        redisReply *r = redisCommand(c, "CLUSTER SLOTS");
        yk_cluster_map m;
        int ok = r && yk_cluster_map_parse(&m, r, host) == 0 && m.nnodes > 0;
        if (r && r->type == REDIS_REPLY_ERROR)
            yk_warn("redis cluster: CLUSTER SLOTS at %s:%d: %s", host, port, r->str);
        freeReplyObject(r);
        redisFree(c);
        if (!ok)
            continue;
        cl->map = m;
        for (int i = 0; i < m.nnodes; i++)
            cl->link_of[i] = m.nodes[i].master ? link_of(cl, m.nodes[i].host, m.nodes[i].port) : -1;
        if (!m.covered)
            yk_warn("redis cluster: some slots have no master (from %s:%d)", host, port);
        return 0;
    }
    snprintf(cl->err, sizeof cl->err, "no node of the cluster answered CLUSTER SLOTS");
    return -1;
}

/* The link serving slot (-1: any master), or -1. */
static int slot_link(yk_rcluster *cl, int slot)
{
    if (slot < 0) {
        for (int i = 0; i < cl->map.nnodes; i++)
            if (cl->map.nodes[i].master && cl->link_of[i] >= 0)
                return cl->link_of[i];
        return -1;
    }
    unsigned n = cl->map.slot_node[slot];
    return n == YK_CLUSTER_NO_NODE ? -1 : cl->link_of[n];
}

yk_rcluster *yk_rconn__cluster_open(const char *url, int connect_ms, int io_ms)
{
    yk_rcluster *cl = calloc(1, sizeof *cl);
    if (cl == NULL)
        return NULL;
    char err[160];
    cl->nseeds = yk_cluster_seeds(url, YK_SETTINGS_REDIS_PORT, cl->seeds, YK_CLUSTER_SEEDS_MAX, err,
                                  sizeof err);
    if (cl->nseeds < 0) {
        yk_error("redis address %s: %s", url, err);
        free(cl);
        return NULL;
    }
    cl->connect_ms = connect_ms;
    cl->io_ms = io_ms;
    cl->last_link = cl->hot_slot = -1;
    cl->cmds = (yk_buf)YK_BUF_INIT(256u << 20);
    if (refresh_map(cl) != 0) {
        yk_warn("redis cluster %s: %s", url, cl->err);
        yk_rconn__cluster_close(cl);
        return NULL;
    }
    return cl;
}

static void drop_parts(yk_rcluster *cl)
{
    for (size_t i = 0; i < cl->nparts; i++)
        if (cl->parts[i].reply && !cl->parts[i].in_arena)
            freeReplyObject(cl->parts[i].reply);
    cl->nparts = cl->unsent = cl->nentries = cl->head = 0;
    yk_buf_reset(&cl->cmds);
    for (int i = 0; i < cl->nlinks; i++)
        cl->links[i].head = cl->links[i].nsent = 0;
}

void yk_rconn__cluster_close(yk_rcluster *cl)
{
    if (cl == NULL)
        return;
    drop_parts(cl);
    for (int i = 0; i < cl->nlinks; i++) {
        redisFree(cl->links[i].c);
        free(cl->links[i].sent);
    }
    free(cl->parts);
    free(cl->entries);
    yk_buf_free(&cl->cmds);
    free(cl);
}

const char *yk_rconn__cluster_error(const yk_rcluster *cl)
{
    return cl->err;
}

static part *new_part(yk_rcluster *cl, size_t off, size_t len, int slot, int entry)
{
    if (cl->nparts == cl->partcap) {
        size_t cap = cl->partcap ? 2 * cl->partcap : 64;
        part *p = realloc(cl->parts, cap * sizeof *p);
        if (p == NULL)
            return NULL;
        cl->parts = p;
        cl->partcap = cap;
    }
    part *p = &cl->parts[cl->nparts++];
    memset(p, 0, sizeof *p);
    p->off = off;
    p->len = len;
    p->slot = slot;
    p->link = -1;
    p->entry = entry;
    return p;
}

static entry *new_entry(yk_rcluster *cl)
{
    if (cl->nentries == cl->entcap) {
        size_t cap = cl->entcap ? 2 * cl->entcap : 64;
        entry *e = realloc(cl->entries, cap * sizeof *e);
        if (e == NULL)
            return NULL;
        cl->entries = e;
        cl->entcap = cap;
    }
    entry *e = &cl->entries[cl->nentries++];
    memset(e, 0, sizeof *e);
    e->first = (int)cl->nparts;
    e->block = -1;
    return e;
}

/* Queues one command (argv, lens): one part to its slot's master, one per master for SCRIPT and
 * the like, or one per master holding some of an XREAD's streams. */
static int queue_command(yk_rcluster *cl, int argc, const char *const *argv, const size_t *lens)
{
    if (cl->head == cl->nentries)
        drop_parts(cl); /* everything before was answered: start the buffers afresh */
    int key = yk_cluster_key_arg(argc, argv, lens);
    entry *e = new_entry(cl);
    if (e == NULL)
        return -1;
    int first, nstreams = argc <= 4096 ? yk_cluster_streams(argc, argv, lens, &first) : 0;
    int spread = 0;
    for (int i = 1; i < nstreams; i++)
        if (yk_cluster_slot(argv[first + i], lens[first + i]) !=
            yk_cluster_slot(argv[first], lens[first]))
            spread = 1;
    if (spread) {
        /* one XREAD(GROUP) per slot (Redis refuses keys of several slots, even on one master),
         * without BLOCK; BLOCK in a 2nd round if all of them found nothing */
        e->merge = 1;
        const char **sub = malloc((size_t)argc * sizeof *sub);
        size_t *sublen = malloc((size_t)argc * sizeof *sublen);
        unsigned char *taken = calloc((size_t)nstreams, 1);
        for (int i = 0; sub && sublen && taken && i < nstreams; i++) {
            if (taken[i])
                continue;
            unsigned slot = yk_cluster_slot(argv[first + i], lens[first + i]);
            int n = 0;
            for (int k = 0; k < first; k++) {
                if (k + 1 < first && lens[k] == 5 && strncasecmp(argv[k], "BLOCK", 5) == 0) {
                    e->block = strtol(argv[k + 1], NULL, 10);
                    k++;
                    continue;
                }
                sub[n] = argv[k], sublen[n++] = lens[k];
            }
            for (int k = i; k < nstreams; k++)
                if (!taken[k] && yk_cluster_slot(argv[first + k], lens[first + k]) == slot)
                    sub[n] = argv[first + k], sublen[n++] = lens[first + k];
            for (int k = i; k < nstreams; k++)
                if (!taken[k] && yk_cluster_slot(argv[first + k], lens[first + k]) == slot) {
                    sub[n] = argv[first + nstreams + k], sublen[n++] = lens[first + nstreams + k];
                    taken[k] = 1;
                }
            size_t o = cl->cmds.len;
            yk_resp_cmd(&cl->cmds, n, sub, sublen);
            if (new_part(cl, o, cl->cmds.len - o, (int)slot, (int)(e - cl->entries)) == NULL)
                break;
            e->nparts++;
        }
        free(sub);
        free(sublen);
        free(taken);
        return e->nparts > 0 && !cl->cmds.failed ? 0 : -1;
    }
    size_t off = cl->cmds.len;
    yk_resp_cmd(&cl->cmds, argc, argv, lens);
    if (cl->cmds.failed)
        return -1;
    int eidx = (int)(e - cl->entries);
    if (key == YK_CLUSTER_ALL) {
        for (int i = 0; i < cl->map.nnodes; i++) {
            if (!cl->map.nodes[i].master)
                continue;
            part *p = new_part(cl, off, cl->cmds.len - off, -1, eidx);
            if (p == NULL)
                return -1;
            p->link = -2 - cl->link_of[i]; /* pinned to this master: see send_unsent */
            e->nparts++;
        }
        return e->nparts > 0 ? 0 : -1;
    }
    int slot = key >= 0 ? (int)yk_cluster_slot(argv[key], lens[key]) : -1;
    part *p = new_part(cl, off, cl->cmds.len - off, slot, eidx);
    if (p == NULL)
        return -1;
    if (key == YK_CLUSTER_CONN && cl->last_link >= 0)
        p->link = -2 - cl->last_link;
    else if (key >= 0)
        cl->last_link = slot_link(cl, slot);
    e->nparts = 1;
    return 0;
}

int yk_rconn__cluster_append(yk_rcluster *cl, int argc, const char *const *argv)
{
    size_t stack[64], *lens = argc <= 64 ? stack : malloc((size_t)argc * sizeof *lens);
    if (lens == NULL)
        return -1;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    int rc = queue_command(cl, argc, argv, lens);
    if (lens != stack)
        free(lens);
    return rc;
}

int yk_rconn__cluster_append_raw(yk_rcluster *cl, const char *resp, size_t len)
{
    while (len > 0) {
        const char *argv[MAX_ARGS];
        size_t lens[MAX_ARGS];
        int argc;
        long n = yk_cluster_resp_next(resp, len, argv, lens, MAX_ARGS, &argc);
        if (n <= 0)
            return -1;
        /* routed by its first MAX_ARGS arguments: the key is among them (a long XREAD is not
         * sent raw) */
        if (cl->head == cl->nentries)
            drop_parts(cl);
        int key = yk_cluster_key_arg(argc < MAX_ARGS ? argc : MAX_ARGS, argv, lens);
        entry *e = new_entry(cl);
        size_t off = cl->cmds.len;
        yk_buf_add(&cl->cmds, resp, (size_t)n);
        if (e == NULL || cl->cmds.failed)
            return -1;
        int slot = key >= 0 ? (int)yk_cluster_slot(argv[key], lens[key]) : -1;
        part *p = new_part(cl, off, (size_t)n, slot, (int)(e - cl->entries));
        if (p == NULL)
            return -1;
        if (key >= 0)
            cl->last_link = slot_link(cl, slot);
        e->nparts = 1;
        resp += n;
        len -= (size_t)n;
    }
    return 0;
}

static int link_push(link *l, int part_idx)
{
    if (l->nsent == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        int *s = realloc(l->sent, cap * sizeof *s);
        if (s == NULL)
            return -1;
        l->sent = s;
        l->cap = cap;
    }
    l->sent[l->nsent++] = part_idx;
    return 0;
}

static int link_open(yk_rcluster *cl, int li)
{
    link *l = &cl->links[li];
    if (l->c == NULL &&
        (l->c = yk_rconn__connect(l->host, l->port, cl->connect_ms, cl->io_ms)) == NULL) {
        snprintf(cl->err, sizeof cl->err, "cannot connect to %s:%d", l->host, l->port);
        return -1;
    }
    return 0;
}

/* Puts part i's bytes (after ASKING when asking) on link li. */
static int send_part(yk_rcluster *cl, size_t i, int li, int asking)
{
    if (li < 0) {
        snprintf(cl->err, sizeof cl->err, "no master serves slot %d", cl->parts[i].slot);
        return -1;
    }
    if (link_open(cl, li) != 0)
        return -1;
    link *l = &cl->links[li];
    if (asking) {
        part *a = new_part(cl, 0, 0, -1, -1);
        if (a == NULL || redisAppendCommand(l->c, "ASKING") != REDIS_OK ||
            link_push(l, (int)(a - cl->parts)) != 0)
            return -1;
        a->link = li;
    }
    part *p = &cl->parts[i];
    p->link = li;
    p->done = 0;
    if (redisAppendFormattedCommand(l->c, cl->cmds.p + p->off, p->len) != REDIS_OK ||
        link_push(l, (int)i) != 0)
        return -1;
    return 0;
}

/* Sends every part not sent yet and writes each link's output (so that all masters work at
 * once, not one after the other as the replies are read). */
static int send_unsent(yk_rcluster *cl)
{
    if (cl->unsent == cl->nparts)
        return 0;
    for (; cl->unsent < cl->nparts; cl->unsent++) {
        part *p = &cl->parts[cl->unsent];
        if (p->entry < 0)
            continue;
        int li = p->link <= -2 ? -2 - p->link : slot_link(cl, p->slot);
        if (send_part(cl, cl->unsent, li, 0) != 0)
            return -1;
    }
    for (int i = 0; i < cl->nlinks; i++) {
        redisContext *c = cl->links[i].c;
        int done = 0;
        while (c && !done)
            if (redisBufferWrite(c, &done) != REDIS_OK) {
                snprintf(cl->err, sizeof cl->err, "%s:%d: %s", cl->links[i].host, cl->links[i].port,
                         c->errstr);
                return -1;
            }
    }
    return 0;
}

/* Reads until part i's reply is in (replies of other parts on its link read ahead are kept);
 * built in a when a is not NULL. 0 or -1. */
static int read_part(yk_rcluster *cl, size_t i, yk_rconn_arena *a)
{
    while (!cl->parts[i].done) {
        link *l = &cl->links[cl->parts[i].link];
        if (l->head == l->nsent || l->c == NULL)
            return -1;
        int j = l->sent[l->head++];
        part *p = &cl->parts[j];
        void *r;
        yk_rconn_arena *use = (size_t)j == i ? a : NULL;
        if (yk_rconn__read(l->c, use, &r) != 0) {
            snprintf(cl->err, sizeof cl->err, "%s:%d: %s", l->host, l->port, l->c->errstr);
            return -1;
        }
        if (p->entry < 0) { /* ASKING's +OK */
            freeReplyObject(r);
            continue;
        }
        p->reply = r;
        p->in_arena = use != NULL;
        p->done = 1;
    }
    return 0;
}

/* Part i's reply, after following its redirects. 0 or -1 (a connection failed). */
static int settle_part(yk_rcluster *cl, size_t i, yk_rconn_arena *a)
{
    for (;;) {
        if (read_part(cl, i, a) != 0)
            return -1;
        part *p = &cl->parts[i];
        redisReply *r = p->reply;
        if (r->type != REDIS_REPLY_ERROR || p->tries >= MAX_TRIES)
            return 0;
        yk_cluster_redirect rd;
        yk_cluster_parse_error(r->str, r->len, &rd);
        if (rd.kind == YK_CLUSTER_ERR_NONE)
            return 0;
        const char *from = cl->links[p->link].host;
        p->tries++;
        int li = -1, asking = 0;
        if (rd.kind == YK_CLUSTER_ERR_MOVED || rd.kind == YK_CLUSTER_ERR_ASK) {
            li = link_of(cl, rd.host[0] ? rd.host : from, rd.port);
            asking = rd.kind == YK_CLUSTER_ERR_ASK;
            if (rd.kind == YK_CLUSTER_ERR_MOVED) {
                yk_info("redis cluster: slot %u moved to %s:%d", rd.slot, cl->links[li].host,
                        rd.port);
                if (refresh_map(cl) != 0) /* keep going with what MOVED said */
                    yk_warn("redis cluster: %s", cl->err);
            }
        } else {
            sleep_ms(RETRY_MS << (p->tries - 1));
            if (rd.kind == YK_CLUSTER_ERR_DOWN && refresh_map(cl) != 0)
                yk_warn("redis cluster: %s", cl->err);
            li = slot_link(cl, p->slot);
        }
        if (!p->in_arena)
            freeReplyObject(r);
        p->reply = NULL;
        if (send_part(cl, i, li, asking) != 0 || send_unsent(cl) != 0)
            return -1;
    }
}

/* A merged read's reply: the parts' [stream, entries] pairs in one array, nil when none. */
static redisReply *merge(yk_rcluster *cl, entry *e, yk_rconn_arena *a)
{
    size_t n = 0;
    for (int k = 0; k < e->nparts; k++) {
        redisReply *r = cl->parts[e->first + k].reply;
        if (r->type == REDIS_REPLY_ERROR)
            return NULL; /* the caller returns this part's error */
        if (r->type == REDIS_REPLY_ARRAY)
            n += r->elements;
    }
    redisReply *m = a ? yk_rconn__arena_alloc(a, sizeof *m) : calloc(1, sizeof *m);
    redisReply **el = n == 0 ? NULL
                      : a    ? yk_rconn__arena_alloc(a, n * sizeof *el)
                             : calloc(n, sizeof *el);
    if (m == NULL || (n > 0 && el == NULL)) {
        if (a == NULL) {
            free(m);
            free(el);
        }
        return NULL;
    }
    memset(m, 0, sizeof *m);
    m->type = n ? REDIS_REPLY_ARRAY : REDIS_REPLY_NIL;
    m->element = el;
    m->elements = n;
    size_t at = 0;
    for (int k = 0; k < e->nparts; k++) {
        part *p = &cl->parts[e->first + k];
        redisReply *r = p->reply;
        if (r->type == REDIS_REPLY_ARRAY) {
            memcpy(el + at, r->element, r->elements * sizeof *el);
            at += r->elements;
            if (!p->in_arena) { /* its elements now belong to m */
                free(r->element);
                r->element = NULL;
                r->elements = 0;
            }
        }
        if (!p->in_arena)
            freeReplyObject(r);
        p->reply = NULL;
    }
    return m;
}

/* The blocking round of a merged read that found nothing: the same parts again with BLOCK. */
static int block_round(yk_rcluster *cl, entry *e)
{
    char ms[24];
    snprintf(ms, sizeof ms, "%ld", e->block);
    /* one blocking read per master (the reads after it on its connection wait for it, so they
     * find what came meanwhile without blocking again): the stream that last had entries, where
     * the next ones are likeliest (a rush), else the master's first */
    int blocker[YK_CLUSTER_NODES_MAX];
    for (int i = 0; i < YK_CLUSTER_NODES_MAX; i++)
        blocker[i] = -1;
    for (int k = 0; k < e->nparts; k++) {
        part *p = &cl->parts[e->first + k];
        if (blocker[p->link] < 0 || p->slot == cl->hot_slot)
            blocker[p->link] = k;
    }
    for (int k = 0; k < e->nparts; k++) {
        part *p = &cl->parts[e->first + k];
        int block = blocker[p->link] == k;
        /* "<cmd> BLOCK ms …": BLOCK goes right after the name (any option order is allowed) */
        const char *argv[MAX_ARGS * 2];
        size_t lens[MAX_ARGS * 2];
        int argc;
        /* parsed from a copy: appending to cmds may move its bytes */
        char *copy = malloc(p->len);
        if (copy == NULL)
            return -1;
        memcpy(copy, cl->cmds.p + p->off, p->len);
        long n = yk_cluster_resp_next(copy, p->len, argv + 2, lens + 2, MAX_ARGS * 2 - 2, &argc);
        if (n <= 0 || argc > MAX_ARGS * 2 - 2) {
            free(copy);
            return -1;
        }
        size_t off = cl->cmds.len;
        if (block) {
            argv[0] = argv[2], lens[0] = lens[2];
            argv[1] = "BLOCK", lens[1] = 5;
            argv[2] = ms, lens[2] = strlen(ms);
            yk_resp_cmd(&cl->cmds, argc + 2, argv, lens);
        } else {
            yk_resp_cmd(&cl->cmds, argc, argv + 2, lens + 2);
        }
        free(copy);
        if (cl->cmds.failed)
            return -1;
        p->off = off;
        p->len = cl->cmds.len - off;
        if (p->reply && !p->in_arena)
            freeReplyObject(p->reply);
        p->reply = NULL;
        if (send_part(cl, (size_t)(e->first + k), p->link, 0) != 0)
            return -1;
    }
    return send_unsent(cl);
}

redisReply *yk_rconn__cluster_get(yk_rcluster *cl, yk_rconn_arena *a)
{
    if (cl->head == cl->nentries || send_unsent(cl) != 0)
        return NULL;
    entry *e = &cl->entries[cl->head];
    for (int round = 0;; round++) {
        for (int k = 0; k < e->nparts; k++)
            if (settle_part(cl, (size_t)(e->first + k), a) != 0)
                return NULL;
        if (!e->merge)
            break;
        int any = 0;
        for (int k = 0; k < e->nparts && !any; k++)
            if (cl->parts[e->first + k].reply->type == REDIS_REPLY_ARRAY) {
                any = 1;
                cl->hot_slot = cl->parts[e->first + k].slot;
            }
        if (any || e->block < 0 || round > 0)
            break;
        if (block_round(cl, e) != 0)
            return NULL;
    }
    cl->head++;
    redisReply *r = NULL;
    if (e->merge) {
        r = merge(cl, e, a);
        if (r)
            return r;
    }
    /* one part, a broadcast (the first error, else the first reply), or a merge's error */
    int pick = 0;
    for (int k = 0; k < e->nparts; k++)
        if (cl->parts[e->first + k].reply &&
            cl->parts[e->first + k].reply->type == REDIS_REPLY_ERROR) {
            pick = k;
            break;
        }
    for (int k = 0; k < e->nparts; k++) {
        part *p = &cl->parts[e->first + k];
        if (k == pick)
            r = p->reply;
        else if (p->reply && !p->in_arena)
            freeReplyObject(p->reply);
        p->reply = NULL;
    }
    if (r == NULL)
        snprintf(cl->err, sizeof cl->err, "out of memory");
    return r;
}
