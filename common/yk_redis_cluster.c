/* yk_redis_cluster: a yk_redis over a Redis Cluster. Owns the slot map, one yk_redis per master
 * (a link), a control connection that reads CLUSTER SLOTS, the commands in flight in submission
 * order (pooled, each with its bytes, to send again after MOVED, ASK, TRYAGAIN, CLUSTERDOWN) and
 * the copies of replies that came before their turn. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "yk_buf.h"
#include "yk_cluster.h"
#include "yk_log.h"
#include "yk_redis_int.h"
#include "yk_resp.h"
#include "yk_settings.h"

#define RETRY_MS 80          /* TRYAGAIN/CLUSTERDOWN: 80, 160, … ms between tries */
#define MAX_TRIES 6          /* sends of one command after a redirect or refusal */
#define TICK_MS 40           /* retries are sent on this tick */
#define ASK_MS 250           /* the map is read again at most this often while a master is out */
#define REFRESH_IDLE_MS 5000 /* and this often otherwise */
#define CONTROL_MS 1500      /* a control connection not up by then moves to the next node */
#define ROUTE_ARGS 16        /* arguments looked at to route a command (its key is among them) */

typedef struct ccmd ccmd;
struct ccmd {
    yk_redis_op op; /* what the link calls back; first member */
    yk_acluster *cl;
    yk_redis_op *user;
    yk_buf bytes; /* the command's RESP, kept until it is answered */
    int slot;     /* -1: keyless */
    int pin;      /* a link it must go to (WAIT), else -1 */
    int tries;
    int parts; /* replies still awaited: 1, or every master for SCRIPT and the like */
    int done;  /* answered: held is its reply (NULL: none) */
    redisReply *held;
    uint64_t due; /* on the retry list: when to send it again */
    ccmd *next;   /* in the order of submission, or in the pool */
    ccmd *rnext;  /* on the retry list */
};

typedef struct {
    yk_acluster *cl;
    yk_redis *conn; /* NULL: unused entry */
    char host[YK_ADDR_HOST_MAX + 1];
    int port;
} alink;

struct yk_acluster {
    yk_redis *owner;
    uv_loop_t *loop;
    uint64_t retry_ms;
    yk_redis_on_connect on_connect;
    void *ud;
    yk_addr seeds[YK_CLUSTER_SEEDS_MAX];
    int nseeds;
    yk_cluster_map map;
    int have_map;
    int link_of[YK_CLUSTER_NODES_MAX]; /* map node -> link, -1 */
    alink links[YK_CLUSTER_NODES_MAX];
    yk_redis *control; /* reads CLUSTER SLOTS */
    yk_redis_op slots_op, ssub_op;
    uint64_t control_opened, last_map, last_ask;
    int control_next; /* the next candidate address for the control connection */
    int inflight;     /* a CLUSTER SLOTS is on its way */
    int want_map;
    ccmd *head, *tail; /* in submission order */
    ccmd *retry;       /* waiting for their next try */
    ccmd *pool;
    int delivering, closing, handles;
    uv_timer_t tick;
    uv_idle_t idle; /* delivers what failed at submission, never inside the submitting call */
};

static void send_cmd(yk_acluster *cl, ccmd *c);
static void cmd_reply_cb(yk_redis_op *op, yk_reply *reply);
static void link_connected(yk_redis *r, void *ud);
static void idle_cb(uv_idle_t *h);

/* ---- commands in order */

static ccmd *cmd_new(yk_acluster *cl, yk_redis_op *user)
{
    ccmd *c = cl->pool;
    if (c)
        cl->pool = c->next;
    else if ((c = calloc(1, sizeof *c)) == NULL)
        return NULL;
    else
        c->bytes = (yk_buf)YK_BUF_INIT(64u << 20);
    c->op.cb = cmd_reply_cb;
    yk_buf_reset(&c->bytes);
    c->cl = cl;
    c->user = user;
    c->slot = c->pin = -1;
    c->tries = c->done = 0;
    c->parts = 1;
    c->held = NULL;
    c->next = NULL;
    if (cl->tail)
        cl->tail->next = c;
    else
        cl->head = c;
    cl->tail = c;
    return c;
}

static void cmd_free(yk_acluster *cl, ccmd *c)
{
    if (c->held)
        freeReplyObject(c->held);
    c->held = NULL;
    c->next = cl->pool;
    cl->pool = c;
}

/* Runs the callbacks of the answered commands at the head, in order. */
static void deliver(yk_acluster *cl)
{
    if (cl->delivering)
        return;
    cl->delivering = 1;
    while (cl->head && cl->head->done) {
        ccmd *c = cl->head;
        if ((cl->head = c->next) == NULL)
            cl->tail = NULL;
        if (c->user && c->user->cb)
            c->user->cb(c->user, c->held);
        cmd_free(cl, c);
    }
    cl->delivering = 0;
}

/* c is answered with reply (borrowed; NULL: none). At the head it is delivered with the reply
 * itself; otherwise a copy waits for its turn. */
static void settle(yk_acluster *cl, ccmd *c, const yk_reply *reply)
{
    if (c == cl->head && !cl->delivering) {
        cl->head = c->next;
        if (cl->head == NULL)
            cl->tail = NULL;
        cl->delivering = 1;
        if (c->user && c->user->cb)
            c->user->cb(c->user, (yk_reply *)reply);
        cl->delivering = 0;
        cmd_free(cl, c);
        deliver(cl);
        return;
    }
    if (reply && c->held == NULL && (c->held = yk_redis__reply_copy(reply)) == NULL)
        yk_error("redis cluster: out of memory keeping a reply for its turn");
    c->done = 1;
    deliver(cl);
}

/* Answered NULL from the loop (no master to send it to). */
static void fail_later(yk_acluster *cl, ccmd *c)
{
    c->done = 1;
    if (!cl->closing)
        uv_idle_start(&cl->idle, idle_cb);
}

/* ---- the map and the links */

static void want_map(yk_acluster *cl);

static int link_get(yk_acluster *cl, const char *host, int port)
{
    int free_at = -1;
    for (int i = 0; i < YK_CLUSTER_NODES_MAX; i++) {
        alink *l = &cl->links[i];
        if (l->conn && l->port == port && strcmp(l->host, host) == 0)
            return i;
        if (l->conn == NULL && free_at < 0)
            free_at = i;
    }
    if (free_at < 0)
        return -1;
    alink *l = &cl->links[free_at];
    snprintf(l->host, sizeof l->host, "%s", host);
    l->port = port;
    l->cl = cl;
    char addr[YK_ADDR_HOST_MAX + 16];
    snprintf(addr, sizeof addr, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    if (yk_redis_open(&l->conn, cl->loop, addr, cl->retry_ms, link_connected, l) != 0) {
        l->conn = NULL;
        return -1;
    }
    return free_at;
}

static int all_connected(const yk_acluster *cl)
{
    if (!cl->have_map || !cl->map.covered)
        return 0;
    for (int i = 0; i < cl->map.nnodes; i++)
        if (cl->map.nodes[i].master &&
            (cl->link_of[i] < 0 || !yk_redis_connected(cl->links[cl->link_of[i]].conn)))
            return 0;
    return 1;
}

/* A master's connection came (back): with every master connected, the owner's on_connect. */
static void link_connected(yk_redis *r, void *ud)
{
    (void)r;
    alink *l = ud;
    yk_acluster *cl = l->cl;
    if (!cl->closing && all_connected(cl) && cl->on_connect)
        cl->on_connect(cl->owner, cl->ud);
}

static int slot_link(const yk_acluster *cl, int slot)
{
    if (!cl->have_map)
        return -1;
    if (slot < 0) {
        for (int i = 0; i < cl->map.nnodes; i++)
            if (cl->map.nodes[i].master && cl->link_of[i] >= 0)
                return cl->link_of[i];
        return -1;
    }
    unsigned n = cl->map.slot_node[slot];
    return n == YK_CLUSTER_NO_NODE ? -1 : cl->link_of[n];
}

static void apply_map(yk_acluster *cl, const yk_reply *reply, const char *from)
{
    yk_cluster_map *m = malloc(sizeof *m);
    if (m == NULL)
        return;
    if (yk_cluster_map_parse(m, reply, from) != 0 || m->nnodes == 0) {
        yk_warn("redis cluster: bad CLUSTER SLOTS reply from %s", from);
        free(m);
        return;
    }
    int changed = !cl->have_map || memcmp(m->slot_node, cl->map.slot_node, sizeof m->slot_node);
    cl->map = *m;
    free(m);
    cl->have_map = 1;
    cl->want_map = 0;
    cl->last_map = uv_now(cl->loop);
    int used[YK_CLUSTER_NODES_MAX] = {0};
    int masters = 0;
    for (int i = 0; i < cl->map.nnodes; i++) {
        cl->link_of[i] = -1;
        if (!cl->map.nodes[i].master)
            continue;
        masters++;
        cl->link_of[i] = link_get(cl, cl->map.nodes[i].host, cl->map.nodes[i].port);
        if (cl->link_of[i] >= 0)
            used[cl->link_of[i]] = 1;
    }
    for (int i = 0; i < YK_CLUSTER_NODES_MAX; i++) {
        if (cl->links[i].conn && !used[i]) { /* no longer a master: its commands fail */
            yk_info("redis cluster: %s:%d serves no slot now", cl->links[i].host,
                    cl->links[i].port);
            yk_redis *conn = cl->links[i].conn;
            cl->links[i].conn = NULL;
            yk_redis_close(conn);
        }
    }
    if (changed)
        yk_info("redis cluster: slot map from %s: %d masters%s", from, masters,
                cl->map.covered ? "" : ", some slots without a master");
}

static void slots_cb(yk_redis_op *op, yk_reply *reply)
{
    yk_acluster *cl = (yk_acluster *)((char *)op - offsetof(yk_acluster, slots_op));
    cl->inflight = 0;
    if (cl->closing)
        return;
    if (yk_reply_is(reply, YK_REPLY_ARRAY)) {
        int n = cl->control_next - 1;
        const char *from = n >= 0 && n < cl->nseeds ? cl->seeds[n].host : "127.0.0.1";
        apply_map(cl, reply, from);
    } else if (yk_reply_error(reply)) {
        yk_warn("redis cluster: CLUSTER SLOTS: %s", yk_reply_error(reply));
    }
}

static void ask_map(yk_acluster *cl)
{
    if (cl->inflight || cl->control == NULL || !yk_redis_connected(cl->control))
        return;
    cl->inflight = 1;
    yk_redis_argv(cl->control, &cl->slots_op, 2, (const char *[]){"CLUSTER", "SLOTS"}, NULL);
}

static void control_connected(yk_redis *r, void *ud)
{
    (void)r;
    ask_map(ud);
}

/* Opens the control connection to the next seed (then the known masters, in turn). */
static void control_open(yk_acluster *cl)
{
    if (cl->control) {
        yk_redis_close(cl->control);
        cl->control = NULL;
        cl->inflight = 0;
    }
    char addr[YK_ADDR_HOST_MAX + 16];
    int known = 0;
    for (int i = 0; i < YK_CLUSTER_NODES_MAX; i++)
        known += cl->links[i].conn != NULL;
    int n = cl->control_next++ % (cl->nseeds + known);
    if (n < cl->nseeds) {
        snprintf(addr, sizeof addr, strchr(cl->seeds[n].host, ':') ? "[%s]:%d" : "%s:%d",
                 cl->seeds[n].host, cl->seeds[n].port);
    } else {
        n -= cl->nseeds;
        for (int i = 0; i < YK_CLUSTER_NODES_MAX; i++)
            if (cl->links[i].conn && n-- == 0)
                snprintf(addr, sizeof addr, strchr(cl->links[i].host, ':') ? "[%s]:%d" : "%s:%d",
                         cl->links[i].host, cl->links[i].port);
    }
    cl->control_opened = uv_now(cl->loop);
    if (yk_redis_open(&cl->control, cl->loop, addr, cl->retry_ms, control_connected, cl) != 0)
        cl->control = NULL;
}

static void want_map(yk_acluster *cl)
{
    cl->want_map = 1;
    ask_map(cl);
}

static void retry_due(yk_acluster *cl, uint64_t now)
{
    ccmd *due = NULL, **pp = &cl->retry;
    while (*pp) {
        ccmd *c = *pp;
        if (c->due <= now) {
            *pp = c->rnext;
            c->rnext = due;
            due = c;
        } else {
            pp = &c->rnext;
        }
    }
    while (due) { /* after the list is consistent: sending may fail and deliver at once */
        ccmd *c = due;
        due = c->rnext;
        send_cmd(cl, c);
    }
}

static void tick_cb(uv_timer_t *t)
{
    yk_acluster *cl = t->data;
    uint64_t now = uv_now(cl->loop);
    retry_due(cl, now);
    int healthy = all_connected(cl);
    if (!healthy || now - cl->last_map >= REFRESH_IDLE_MS)
        cl->want_map = 1;
    if (!cl->want_map || now - cl->last_ask < ASK_MS)
        return;
    cl->last_ask = now;
    if (cl->control == NULL ||
        (!yk_redis_connected(cl->control) && now - cl->control_opened >= CONTROL_MS))
        control_open(cl);
    else
        ask_map(cl);
}

static void idle_cb(uv_idle_t *h)
{
    yk_acluster *cl = h->data;
    uv_idle_stop(h);
    deliver(cl);
}

/* ---- sending */

/* The link that takes c now, or -1. */
static int cmd_link(const yk_acluster *cl, const ccmd *c)
{
    if (c->pin >= 0)
        return cl->links[c->pin].conn ? c->pin : -1;
    return slot_link(cl, c->slot);
}

/* c waits on the retry list (staying in the order of submission) until c->due. */
static void cmd_retry(yk_acluster *cl, ccmd *c)
{
    c->rnext = cl->retry;
    cl->retry = c;
}

/* Sends c to its master; to a master whose connection is still being made (just named by MOVED
 * or a new map) after a pause, a few times. */
static void send_cmd(yk_acluster *cl, ccmd *c)
{
    int li = cmd_link(cl, c);
    if (li < 0 || cl->closing) {
        want_map(cl);
        fail_later(cl, c);
        return;
    }
    yk_redis *conn = cl->links[li].conn;
    if (!yk_redis_connected(conn) && c->tries < MAX_TRIES) {
        c->tries++;
        c->due = uv_now(cl->loop) + RETRY_MS;
        cmd_retry(cl, c);
        return;
    }
    yk_redis__raw(conn, &c->op, c->bytes.p, c->bytes.len);
}

static void cmd_reply_cb(yk_redis_op *op, yk_reply *reply)
{
    ccmd *c = (ccmd *)op;
    yk_acluster *cl = c->cl;
    if (c->parts > 1) { /* one of every master's replies: the first error, else the first */
        if (reply && (c->held == NULL || (yk_reply_error(reply) && !yk_reply_error(c->held)))) {
            if (c->held)
                freeReplyObject(c->held);
            c->held = yk_redis__reply_copy(reply);
        }
        if (--c->parts == 0) {
            c->done = 1;
            deliver(cl);
        }
        return;
    }
    const char *err = yk_reply_error(reply);
    if (err && !cl->closing && c->tries < MAX_TRIES) {
        yk_cluster_redirect rd;
        size_t len;
        yk_reply_str(reply, &len);
        yk_cluster_parse_error(err, len, &rd);
        if (rd.kind != YK_CLUSTER_ERR_NONE) {
            c->tries++;
            if (rd.kind == YK_CLUSTER_ERR_MOVED || rd.kind == YK_CLUSTER_ERR_ASK) {
                const char *host = rd.host[0] ? rd.host : "127.0.0.1";
                int li = link_get(cl, host, rd.port);
                if (li >= 0) {
                    if (rd.kind == YK_CLUSTER_ERR_MOVED) {
                        int n = yk_cluster_node_index(&cl->map, host, rd.port);
                        if (n >= 0) {
                            cl->map.nodes[n].master = 1;
                            cl->link_of[n] = li;
                            cl->map.slot_node[rd.slot] = (uint16_t)n;
                        }
                        want_map(cl);
                    } else {
                        yk_redis_argv(cl->links[li].conn, NULL, 1, (const char *[]){"ASKING"},
                                      NULL);
                    }
                    if (rd.kind == YK_CLUSTER_ERR_ASK)
                        yk_redis__raw(cl->links[li].conn, &c->op, c->bytes.p, c->bytes.len);
                    else
                        send_cmd(cl, c); /* by the map MOVED updated */
                    return;
                }
            } else {
                if (rd.kind == YK_CLUSTER_ERR_DOWN)
                    want_map(cl);
                c->due = uv_now(cl->loop) + ((uint64_t)RETRY_MS << (c->tries - 1));
                cmd_retry(cl, c);
                return;
            }
        }
    }
    if (reply == NULL && !cl->closing)
        want_map(cl); /* its master may be gone */
    settle(cl, c, reply);
}

/* ---- the yk_redis calls */

/* Queues a command given as RESP bytes with its first arguments (argv, lens: at most
 * ROUTE_ARGS of argc) and sends it to its master(s). */
static void submit(yk_acluster *cl, yk_redis_op *op, const char *bytes, size_t blen, int argc,
                   const char *const *argv, const size_t *lens)
{
    ccmd *c = cmd_new(cl, op);
    if (c == NULL) { /* the callback must run once: late and inline beats never */
        yk_error("redis cluster: out of memory queueing a command; failing it inline");
        if (op && op->cb)
            op->cb(op, NULL);
        return;
    }
    yk_buf_add(&c->bytes, bytes, blen);
    yk_buf_addc(&c->bytes, '\0'); /* as yk_redis_argv: hiredis reads one byte past the end */
    if (!c->bytes.failed)
        c->bytes.len--;
    if (c->bytes.failed || cl->closing) {
        fail_later(cl, c);
        return;
    }
    int key = yk_cluster_key_arg(argc < ROUTE_ARGS ? argc : ROUTE_ARGS, argv, lens);
    if (key == YK_CLUSTER_ALL) {
        int n = 0;
        for (int i = 0; cl->have_map && i < cl->map.nnodes; i++)
            n += cl->map.nodes[i].master && cl->link_of[i] >= 0;
        if (n == 0) {
            fail_later(cl, c);
            return;
        }
        c->parts = n;
        for (int i = 0; i < cl->map.nnodes; i++)
            if (cl->map.nodes[i].master && cl->link_of[i] >= 0)
                yk_redis__raw(cl->links[cl->link_of[i]].conn, &c->op, c->bytes.p, c->bytes.len);
        return;
    }
    c->slot = key >= 0 ? (int)yk_cluster_slot(argv[key], lens[key]) : -1;
    send_cmd(cl, c);
}

/* A command as RESP bytes: SUBSCRIBE is yk_redis__cluster_subscribe per channel, the rest goes
 * to its master(s). */
static void route(yk_acluster *cl, yk_redis_op *op, const char *bytes, long blen)
{
    const char *argv[ROUTE_ARGS];
    size_t lens[ROUTE_ARGS];
    int argc = 0;
    if (blen <= 0 ||
        yk_cluster_resp_next(bytes, (size_t)blen, argv, lens, ROUTE_ARGS, &argc) != blen) {
        ccmd *c = cmd_new(cl, op);
        if (c)
            fail_later(cl, c);
        return;
    }
    if (argc >= 2 && lens[0] == 9 && strncasecmp(argv[0], "SUBSCRIBE", 9) == 0) {
        for (int i = 1; i < argc && i < ROUTE_ARGS; i++) {
            char ch[256];
            snprintf(ch, sizeof ch, "%.*s", (int)lens[i], argv[i]);
            yk_redis__cluster_subscribe(cl, op, ch, 0);
        }
        return;
    }
    submit(cl, op, bytes, (size_t)blen, argc, argv, lens);
}

void yk_redis__cluster_argv(yk_acluster *cl, yk_redis_op *op, int argc, const char **argv,
                            const size_t *argvlen)
{
    yk_buf b = YK_BUF_INIT(64u << 20);
    yk_resp_cmd(&b, argc, argv, argvlen);
    route(cl, op, b.p, b.failed ? -1 : (long)b.len);
    yk_buf_free(&b);
}

void yk_redis__cluster_vcmd(yk_acluster *cl, yk_redis_op *op, const char *fmt, va_list ap)
{
    char *cmd = NULL;
    int len = redisvFormatCommand(&cmd, fmt, ap);
    route(cl, op, cmd, len);
    free(cmd);
}

static void ssub_cb(yk_redis_op *op, yk_reply *reply)
{
    yk_acluster *cl = (yk_acluster *)((char *)op - offsetof(yk_acluster, ssub_op));
    if (yk_reply_error(reply) && !cl->closing) {
        yk_warn("redis cluster: SSUBSCRIBE: %s", yk_reply_error(reply));
        want_map(cl);
    }
}

void yk_redis__cluster_subscribe(yk_acluster *cl, yk_redis_op *op, const char *channel, int sharded)
{
    int li = slot_link(cl, sharded ? (int)yk_cluster_slot(channel, strlen(channel)) : -1);
    if (li < 0 || cl->closing)
        return; /* on_connect subscribes again once every master is connected */
    yk_redis *conn = cl->links[li].conn;
    /* hiredis 0.14 knows no SSUBSCRIBE: its messages reach op because op is registered for the
     * same channel name by a plain SUBSCRIBE first (which nobody publishes to in a cluster:
     * workers use SPUBLISH). The SSUBSCRIBE's own reply is routed by that name too. */
    yk_redis_cmd(conn, op, "SUBSCRIBE %s", channel);
    if (sharded) {
        cl->ssub_op.cb = ssub_cb;
        yk_redis_cmd(conn, &cl->ssub_op, "SSUBSCRIBE %s", channel);
    }
}

void yk_redis__cluster_wait(yk_acluster *cl, yk_redis_op *op, const char *key, int n, int ms)
{
    char ns[16], mss[16];
    snprintf(ns, sizeof ns, "%d", n);
    snprintf(mss, sizeof mss, "%d", ms);
    const char *argv[] = {"WAIT", ns, mss};
    ccmd *c = cmd_new(cl, op);
    if (c == NULL) {
        if (op && op->cb)
            op->cb(op, NULL);
        return;
    }
    yk_resp_cmd(&c->bytes, 3, argv, NULL);
    yk_buf_addc(&c->bytes, '\0');
    if (!c->bytes.failed)
        c->bytes.len--;
    c->pin = slot_link(cl, (int)yk_cluster_slot(key, strlen(key)));
    if (c->pin < 0)
        fail_later(cl, c);
    else
        send_cmd(cl, c);
}

int yk_redis__cluster_replicas(const yk_acluster *cl, const char *key)
{
    if (!cl->have_map)
        return 0;
    unsigned n = cl->map.slot_node[yk_cluster_slot(key, strlen(key))];
    return n != YK_CLUSTER_NO_NODE && cl->map.nodes[n].replicas > 0 ? 1 : 0;
}

int yk_redis__cluster_connected(const yk_acluster *cl)
{
    return all_connected(cl);
}

int yk_redis__cluster_ready(const yk_acluster *cl)
{
    if (!all_connected(cl))
        return 0;
    for (int i = 0; i < cl->map.nnodes; i++)
        if (cl->map.nodes[i].master && !yk_redis_ready(cl->links[cl->link_of[i]].conn))
            return 0;
    return 1;
}

yk_acluster *yk_redis__cluster_open(yk_redis *owner, uv_loop_t *loop, const char *url,
                                    uint64_t retry_ms, yk_redis_on_connect on_connect, void *ud)
{
    yk_acluster *cl = calloc(1, sizeof *cl);
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
    cl->owner = owner;
    cl->loop = loop;
    cl->retry_ms = retry_ms;
    cl->on_connect = on_connect;
    cl->ud = ud;
    cl->slots_op.cb = slots_cb;
    for (int i = 0; i < YK_CLUSTER_NODES_MAX; i++)
        cl->link_of[i] = -1;
    uv_timer_init(loop, &cl->tick);
    uv_idle_init(loop, &cl->idle);
    cl->tick.data = cl->idle.data = cl;
    cl->handles = 2;
    cl->want_map = 1;
    uv_timer_start(&cl->tick, tick_cb, TICK_MS, TICK_MS);
    control_open(cl);
    return cl;
}

static void closed_cb(uv_handle_t *h)
{
    yk_acluster *cl = h->data;
    if (--cl->handles > 0)
        return;
    for (ccmd *c = cl->pool, *next; c; c = next) {
        next = c->next;
        yk_buf_free(&c->bytes);
        free(c);
    }
    free(cl);
}

void yk_redis__cluster_close(yk_acluster *cl)
{
    cl->closing = 1;
    if (cl->control)
        yk_redis_close(cl->control);
    cl->control = NULL;
    for (int i = 0; i < YK_CLUSTER_NODES_MAX; i++) {
        yk_redis *conn = cl->links[i].conn;
        cl->links[i].conn = NULL;
        if (conn)
            yk_redis_close(conn); /* its pending commands are answered NULL now */
    }
    for (ccmd *c = cl->retry; c; c = c->rnext)
        c->done = 1;
    cl->retry = NULL;
    for (ccmd *c = cl->head; c; c = c->next)
        c->done = 1; /* whatever is left (failed at submission) */
    deliver(cl);
    uv_close((uv_handle_t *)&cl->tick, closed_cb);
    uv_close((uv_handle_t *)&cl->idle, closed_cb);
}
