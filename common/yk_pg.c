/* yk_pg: owns the PGconn, its uv_poll handle, the retry, deadline and probe timers, the idle
 * handle that moves the queue from the loop, the FIFO of queued queries and the LISTEN channels. */
#include "yk_pg.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yk_log.h"

typedef enum { PG_DOWN, PG_CONNECTING, PG_UP } pg_state;

typedef struct pg_listen {
    struct pg_listen *next;
    yk_pg *pg;
    yk_pg_op op; /* the LISTEN statement, queued first on each new connection */
    int queued;
    yk_pg_notify_cb cb;
    void *ud;
    char channel[64];
} pg_listen;

struct yk_pg {
    uv_loop_t *loop;
    PGconn *conn;    /* NULL while PG_DOWN */
    uv_poll_t *poll; /* heap: it may outlive a connection while closing */
    pg_state state;
    uv_timer_t retry;    /* the next connect attempt */
    uv_timer_t deadline; /* of the connect in progress, or of the query in flight */
    uv_timer_t probe;    /* every YK_PG_PROBE_MS */
    uv_idle_t kick;      /* sends or fails the queue from the loop, never inside yk_pg_query */
    int handles;         /* not yet closed: pg is freed when this reaches 0 */
    uint64_t retry_ms, connect_ms, query_ms;
    char *conninfo;
    yk_pg_op *head, *tail; /* head is in flight when busy */
    int busy;
    int closing;
    int failing; /* the last connect failed: queries fail at once until one succeeds */
    PGresult *last;
    uint64_t answered; /* uv_now() of the server's last answer on this connection */
    yk_pg_op probe_op;
    int probe_queued;
    pg_listen *listens;
};

static void pg_poll_cb(uv_poll_t *h, int status, int events);
static void pg_connect(yk_pg *pg);

static void op_release(yk_pg_op *op)
{
    for (int i = 0; i < op->nparams; i++)
        free(op->params[i]);
    free(op->params);
    free(op->sql);
    op->params = NULL;
    op->sql = NULL;
    op->nparams = 0;
}

static void pg_poll_closed_cb(uv_handle_t *h)
{
    free(h);
}

static void pg_unwatch(yk_pg *pg)
{
    if (pg->poll) {
        uv_close((uv_handle_t *)pg->poll, pg_poll_closed_cb);
        pg->poll = NULL;
    }
}

/* Watches the connection's socket for events with a new poll handle: while connecting libpq may
 * close its socket and open another (next address, SSL refused), possibly with the same number,
 * which a libuv handle registered on the old one would never see. */
static int pg_watch(yk_pg *pg, int events)
{
    pg_unwatch(pg);
    pg->poll = malloc(sizeof *pg->poll);
    if (pg->poll == NULL || uv_poll_init(pg->loop, pg->poll, PQsocket(pg->conn)) != 0) {
        free(pg->poll);
        pg->poll = NULL;
        return -1;
    }
    pg->poll->data = pg;
    uv_poll_start(pg->poll, events, pg_poll_cb);
    return 0;
}

static yk_pg_op *pg_shift(yk_pg *pg)
{
    yk_pg_op *op = pg->head;
    pg->head = op->next;
    if (pg->head == NULL)
        pg->tail = NULL;
    op->next = NULL;
    return op;
}

/* Fails what is queued now with NULL; a callback that queues again is failed on a later turn. */
static void pg_fail_queue(yk_pg *pg)
{
    yk_pg_op *op = pg->head;
    pg->head = pg->tail = NULL;
    while (op) {
        yk_pg_op *next = op->next;
        op->next = NULL;
        op_release(op);
        op->cb(op, NULL);
        op = next;
    }
}

static void pg_retry_cb(uv_timer_t *t)
{
    pg_connect(t->data);
}

/* Drops the connection (or the connect in progress), schedules the next connect and fails
 * everything queued: the callers decide what to retry. */
static void pg_fail(yk_pg *pg, const char *why)
{
    char line[256];
    snprintf(line, sizeof line, "%s", why);
    line[strcspn(line, "\n")] = '\0';
    if (pg->closing) {
        /* nothing to report */
    } else if (pg->state == PG_UP) {
        yk_warn("postgres connection lost err=\"%s\"", line);
    } else if (!pg->failing) { /* once per outage, not once per retry */
        yk_warn("postgres connect failed err=\"%s\"", line);
    } else {
        yk_debug("postgres still unreachable err=\"%s\"", line);
    }
    pg_unwatch(pg);
    if (pg->conn) {
        PQfinish(pg->conn);
        pg->conn = NULL;
    }
    if (pg->last) {
        PQclear(pg->last);
        pg->last = NULL;
    }
    pg->state = PG_DOWN;
    pg->busy = 0;
    pg->failing = 1;
    uv_timer_stop(&pg->deadline);
    if (!pg->closing)
        uv_timer_start(&pg->retry, pg_retry_cb, pg->retry_ms, 0);
    pg_fail_queue(pg);
}

static void pg_deadline_cb(uv_timer_t *t)
{
    yk_pg *pg = t->data;
    char why[96];
    if (pg->state == PG_CONNECTING)
        snprintf(why, sizeof why, "connect timed out after %llu ms",
                 (unsigned long long)pg->connect_ms);
    else
        snprintf(why, sizeof why, "no answer to a query within %llu ms",
                 (unsigned long long)pg->query_ms);
    pg_fail(pg, why);
}

static void pg_push_front(yk_pg *pg, yk_pg_op *op)
{
    op->next = pg->head;
    pg->head = op;
    if (pg->tail == NULL)
        pg->tail = op;
}

static void pg_push_back(yk_pg *pg, yk_pg_op *op)
{
    op->next = NULL;
    if (pg->tail)
        pg->tail->next = op;
    else
        pg->head = op;
    pg->tail = op;
}

/* Sends the head of the queue if connected and nothing is in flight. */
static void pg_send(yk_pg *pg)
{
    if (pg->state != PG_UP || pg->busy || pg->head == NULL || pg->closing)
        return;
    yk_pg_op *op = pg->head;
    if (!PQsendQueryParams(pg->conn, op->sql, op->nparams, NULL, (const char *const *)op->params,
                           NULL, NULL, 0)) {
        pg_fail(pg, PQerrorMessage(pg->conn));
        return;
    }
    pg->busy = 1;
    uv_timer_start(&pg->deadline, pg_deadline_cb, pg->query_ms, 0);
    int flush = PQflush(pg->conn);
    if (flush < 0) {
        pg_fail(pg, PQerrorMessage(pg->conn));
        return;
    }
    uv_poll_start(pg->poll, flush ? UV_READABLE | UV_WRITABLE : UV_READABLE, pg_poll_cb);
}

static void pg_kick_cb(uv_idle_t *h)
{
    yk_pg *pg = h->data;
    uv_idle_stop(h);
    if (pg->closing)
        return;
    if (pg->state == PG_UP)
        pg_send(pg);
    else if (pg->state == PG_DOWN && pg->failing)
        pg_fail_queue(pg);
    else if (pg->state == PG_DOWN && !uv_is_active((uv_handle_t *)&pg->retry))
        pg_connect(pg);
}

static int pg_copy(yk_pg_op *op, const char *sql, int nparams, const char *const *params)
{
    op->next = NULL;
    op->nparams = 0;
    op->params = NULL;
    op->sql = strdup(sql);
    if (op->sql == NULL)
        return -1;
    if (nparams > 0) {
        op->params = calloc((size_t)nparams, sizeof *op->params);
        if (op->params == NULL) {
            op_release(op);
            return -1;
        }
        op->nparams = nparams;
        for (int i = 0; i < nparams; i++)
            if (params[i] && (op->params[i] = strdup(params[i])) == NULL) {
                op_release(op);
                return -1;
            }
    }
    return 0;
}

/* ---- LISTEN */

static void pg_listen_cb(yk_pg_op *op, yk_pgres *res)
{
    pg_listen *l = (pg_listen *)((char *)op - offsetof(pg_listen, op));
    l->queued = 0;
    if (res == NULL || l->pg->closing)
        return; /* the next connection LISTENs again */
    if (!yk_pgres_ok(res)) {
        yk_warn("postgres LISTEN %s failed err=\"%s\"", l->channel, yk_pgres_error(res));
        return;
    }
    l->cb(l->ud, l->channel, NULL);
}

static int pg_listen_queue(yk_pg *pg, pg_listen *l, int front)
{
    char sql[96];
    snprintf(sql, sizeof sql, "LISTEN %s", l->channel);
    l->op.cb = pg_listen_cb;
    if (l->queued || pg_copy(&l->op, sql, 0, NULL) != 0)
        return -1;
    l->queued = 1;
    if (front)
        pg_push_front(pg, &l->op);
    else
        pg_push_back(pg, &l->op);
    return 0;
}

int yk_pg_listen(yk_pg *pg, const char *channel, yk_pg_notify_cb cb, void *ud)
{
    size_t n = strlen(channel);
    if (n == 0 || n >= sizeof((pg_listen *)0)->channel ||
        strspn(channel, "abcdefghijklmnopqrstuvwxyz"
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789_") != n)
        return -1;
    pg_listen *l = calloc(1, sizeof *l);
    if (l == NULL)
        return -1;
    memcpy(l->channel, channel, n + 1);
    l->pg = pg;
    l->cb = cb;
    l->ud = ud;
    l->next = pg->listens;
    pg->listens = l;
    if (pg->state == PG_UP && pg_listen_queue(pg, l, 0) == 0)
        uv_idle_start(&pg->kick, pg_kick_cb);
    return 0;
}

static void pg_notified(yk_pg *pg)
{
    PGnotify *n;
    while (pg->conn && (n = PQnotifies(pg->conn)) != NULL) {
        for (pg_listen *l = pg->listens; l; l = l->next)
            if (strcmp(l->channel, n->relname) == 0)
                l->cb(l->ud, l->channel, n->extra);
        PQfreemem(n);
    }
}

/* ---- connecting */

static void pg_connected(yk_pg *pg)
{
    uv_timer_stop(&pg->deadline);
    if (PQsetnonblocking(pg->conn, 1) != 0 || pg_watch(pg, UV_READABLE) != 0) {
        pg_fail(pg, "cannot poll the socket");
        return;
    }
    pg->state = PG_UP;
    pg->failing = 0;
    pg->answered = uv_now(pg->loop);
    yk_info("postgres connected");
    for (pg_listen *l = pg->listens; l; l = l->next)
        if (pg_listen_queue(pg, l, 1) != 0)
            yk_error("postgres: cannot queue LISTEN %s", l->channel);
    pg_send(pg);
}

/* One step of PQconnectPoll: watch what it asks for next, or finish. */
static void pg_connect_step(yk_pg *pg)
{
    switch (PQconnectPoll(pg->conn)) {
    case PGRES_POLLING_READING:
        if (pg_watch(pg, UV_READABLE) != 0)
            pg_fail(pg, "cannot poll the socket");
        break;
    case PGRES_POLLING_WRITING:
        if (pg_watch(pg, UV_WRITABLE) != 0)
            pg_fail(pg, "cannot poll the socket");
        break;
    case PGRES_POLLING_OK:
        pg_connected(pg);
        break;
    default:
        pg_fail(pg, PQerrorMessage(pg->conn));
        break;
    }
}

static void pg_connect(yk_pg *pg)
{
    if (pg->state != PG_DOWN || pg->closing)
        return;
    uv_timer_stop(&pg->retry);
    char timeout[24];
    snprintf(timeout, sizeof timeout, "%llu",
             (unsigned long long)(pg->connect_ms + 999) / 1000 < 2
                 ? 2
                 : (unsigned long long)(pg->connect_ms + 999) / 1000);
    /* connect_timeout first: a value in the caller's conninfo (dbname, expanded) overrides it */
    const char *const keys[] = {"connect_timeout", "dbname", NULL};
    const char *const vals[] = {timeout, pg->conninfo, NULL};
    pg->conn = PQconnectStartParams(keys, vals, 1);
    if (pg->conn == NULL) {
        pg_fail(pg, "out of memory");
        return;
    }
    pg->state = PG_CONNECTING;
    if (PQstatus(pg->conn) == CONNECTION_BAD) {
        pg_fail(pg, PQerrorMessage(pg->conn));
        return;
    }
    uv_timer_start(&pg->deadline, pg_deadline_cb, pg->connect_ms, 0);
    /* libpq's protocol: start as if PQconnectPoll had asked to wait for writing */
    if (pg_watch(pg, UV_WRITABLE) != 0)
        pg_fail(pg, "cannot poll the socket");
}

/* ---- answers */

static void pg_complete_head(yk_pg *pg, PGresult *res)
{
    yk_pg_op *op = pg_shift(pg);
    pg->busy = 0;
    uv_timer_stop(&pg->deadline);
    op_release(op);
    op->cb(op, res);
    if (res)
        PQclear(res);
}

static void pg_poll_cb(uv_poll_t *h, int status, int events)
{
    yk_pg *pg = h->data;
    if (pg->state == PG_CONNECTING) { /* libpq finds the socket's error itself */
        pg_connect_step(pg);
        return;
    }
    if (status < 0) {
        pg_fail(pg, uv_strerror(status));
        return;
    }
    if (events & UV_WRITABLE) {
        int flush = PQflush(pg->conn);
        if (flush < 0) {
            pg_fail(pg, PQerrorMessage(pg->conn));
            return;
        }
        if (flush == 0)
            uv_poll_start(pg->poll, UV_READABLE, pg_poll_cb);
    }
    if (!(events & UV_READABLE))
        return;
    if (!PQconsumeInput(pg->conn)) {
        pg_fail(pg, PQerrorMessage(pg->conn));
        return;
    }
    pg->answered = uv_now(pg->loop);
    pg_notified(pg);
    /* Callbacks may close pg (then conn is gone): look again after each. */
    while (pg->conn && pg->busy && !PQisBusy(pg->conn)) {
        PGresult *res = PQgetResult(pg->conn);
        if (res != NULL) { /* keep the last result of the statement */
            if (pg->last)
                PQclear(pg->last);
            pg->last = res;
            continue;
        }
        res = pg->last;
        pg->last = NULL;
        pg_complete_head(pg, res);
        if (pg->conn)
            pg_notified(pg);
    }
    if (pg->conn && PQstatus(pg->conn) == CONNECTION_BAD) {
        pg_fail(pg, PQerrorMessage(pg->conn));
        return;
    }
    if (pg->conn && !pg->busy)
        pg_send(pg);
}

/* ---- health */

static void pg_probe_done(yk_pg_op *op, yk_pgres *res)
{
    yk_pg *pg = (yk_pg *)((char *)op - offsetof(yk_pg, probe_op));
    pg->probe_queued = 0;
}

static void pg_probe_cb(uv_timer_t *t)
{
    yk_pg *pg = t->data;
    if (pg->state != PG_UP || pg->busy || pg->head || pg->probe_queued)
        return; /* a query in flight has its own deadline */
    pg->probe_op.cb = pg_probe_done;
    if (pg_copy(&pg->probe_op, "", 0, NULL) != 0)
        return;
    pg->probe_queued = 1;
    pg_push_back(pg, &pg->probe_op);
    pg_send(pg);
}

/* ---- lifecycle */

int yk_pg_open(yk_pg **out, uv_loop_t *loop, const char *conninfo, uint64_t retry_ms)
{
    yk_pg *pg = calloc(1, sizeof *pg);
    if (pg == NULL || (pg->conninfo = strdup(conninfo)) == NULL) {
        free(pg);
        return -1;
    }
    pg->loop = loop;
    pg->retry_ms = retry_ms;
    pg->connect_ms = YK_PG_CONNECT_MS;
    pg->query_ms = YK_PG_QUERY_MS;
    uv_timer_init(loop, &pg->retry);
    uv_timer_init(loop, &pg->deadline);
    uv_timer_init(loop, &pg->probe);
    uv_idle_init(loop, &pg->kick);
    pg->retry.data = pg->deadline.data = pg->probe.data = pg->kick.data = pg;
    pg->handles = 4;
    uv_timer_start(&pg->retry, pg_retry_cb, 0, 0); /* connect from the loop */
    uv_timer_start(&pg->probe, pg_probe_cb, YK_PG_PROBE_MS, YK_PG_PROBE_MS);
    *out = pg;
    return 0;
}

void yk_pg_set_timeouts(yk_pg *pg, uint64_t connect_ms, uint64_t query_ms)
{
    if (connect_ms)
        pg->connect_ms = connect_ms;
    if (query_ms)
        pg->query_ms = query_ms;
}

static void pg_closed_cb(uv_handle_t *h)
{
    yk_pg *pg = h->data;
    if (--pg->handles > 0)
        return;
    while (pg->listens) {
        pg_listen *l = pg->listens;
        pg->listens = l->next;
        free(l);
    }
    free(pg->conninfo);
    free(pg);
}

void yk_pg_close(yk_pg *pg)
{
    pg->closing = 1;
    pg_fail(pg, "closing");
    uv_close((uv_handle_t *)&pg->retry, pg_closed_cb);
    uv_close((uv_handle_t *)&pg->deadline, pg_closed_cb);
    uv_close((uv_handle_t *)&pg->probe, pg_closed_cb);
    uv_close((uv_handle_t *)&pg->kick, pg_closed_cb);
}

int yk_pg_connected(const yk_pg *pg)
{
    return pg->state == PG_UP;
}

int yk_pg_ready(const yk_pg *pg)
{
    return pg->state == PG_UP && uv_now(pg->loop) - pg->answered <= YK_PG_READY_MS;
}

int yk_pg_query(yk_pg *pg, yk_pg_op *op, const char *sql, int nparams, const char *const *params)
{
    if (pg->closing || pg_copy(op, sql, nparams, params) != 0)
        return -1;
    pg_push_back(pg, op);
    if (!pg->busy)
        uv_idle_start(&pg->kick, pg_kick_cb);
    return 0;
}

/* ---- blocking sessions */

struct yk_pg_sync {
    PGconn *conn;
};

int yk_pg_sync_open(yk_pg_sync **out, const char *conninfo, uint64_t connect_ms, char *err,
                    size_t errlen)
{
    char timeout[24];
    unsigned long long s = (unsigned long long)(connect_ms + 999) / 1000;
    snprintf(timeout, sizeof timeout, "%llu", s < 2 ? 2 : s);
    const char *const keys[] = {"connect_timeout", "dbname", NULL};
    const char *const vals[] = {timeout, conninfo, NULL};
    yk_pg_sync *ps = calloc(1, sizeof *ps);
    PGconn *c = ps ? PQconnectdbParams(keys, vals, 1) : NULL;
    if (c == NULL || PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "%s", c ? PQerrorMessage(c) : "out of memory");
        err[strcspn(err, "\n")] = '\0';
        PQfinish(c);
        free(ps);
        return -1;
    }
    ps->conn = c;
    *out = ps;
    return 0;
}

yk_pgres *yk_pg_exec_sync(yk_pg_sync *s, const char *sql, int nparams, const char *const *params)
{
    return nparams > 0 ? PQexecParams(s->conn, sql, nparams, NULL, params, NULL, NULL, 0)
                       : PQexec(s->conn, sql);
}

void yk_pg_sync_close(yk_pg_sync *s)
{
    if (s) {
        PQfinish(s->conn);
        free(s);
    }
}
