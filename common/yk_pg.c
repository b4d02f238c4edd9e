/* yk_pg: owns the PGconn, its uv_poll handle, the retry timer and the FIFO of queued queries.
 * Connecting is blocking (PQconnectdb, loopback only); queries are fully asynchronous. */
#include "yk_pg.h"

#include <stdlib.h>
#include <string.h>

#include "yk_log.h"

struct yk_pg {
    uv_loop_t *loop;
    PGconn *conn;      /* NULL while disconnected */
    uv_poll_t *poll;   /* heap: it may outlive a connection while closing */
    uv_timer_t retry;
    uint64_t retry_ms;
    char *conninfo;
    yk_pg_op *head, *tail; /* head is in flight when busy */
    int busy;
    int closing;
    PGresult *last;
};

static void pg_poll_cb(uv_poll_t *h, int status, int events);
static void pg_kick(yk_pg *pg);

static void op_release(yk_pg_op *op)
{
    for (int i = 0; i < op->nparams; i++)
        free(op->params[i]);
    free(op->params);
    free(op->sql);
    op->params = NULL;
    op->sql = NULL;
}

static void pg_complete_head(yk_pg *pg, PGresult *res)
{
    yk_pg_op *op = pg->head;
    pg->head = op->next;
    if (pg->head == NULL)
        pg->tail = NULL;
    pg->busy = 0;
    op_release(op);
    op->cb(op, res);
    if (res)
        PQclear(res);
}

static void pg_poll_closed_cb(uv_handle_t *h)
{
    free(h);
}

static void pg_retry_cb(uv_timer_t *t)
{
    pg_kick(t->data);
}

/* Drops the connection and fails everything queued: the caller's callbacks decide what to retry. */
static void pg_fail(yk_pg *pg, const char *why)
{
    if (!pg->closing)
        yk_warn("postgres connection lost err=\"%s\"", why);
    if (pg->poll) {
        uv_close((uv_handle_t *)pg->poll, pg_poll_closed_cb);
        pg->poll = NULL;
    }
    if (pg->conn) {
        PQfinish(pg->conn);
        pg->conn = NULL;
    }
    if (pg->last) {
        PQclear(pg->last);
        pg->last = NULL;
    }
    pg->busy = 0;
    if (!pg->closing)
        uv_timer_start(&pg->retry, pg_retry_cb, pg->retry_ms, 0);
    /* Fail only what was queued now: a callback that queues again waits for the retry timer. */
    yk_pg_op *op = pg->head;
    pg->head = pg->tail = NULL;
    while (op) {
        yk_pg_op *next = op->next;
        op_release(op);
        op->cb(op, NULL);
        op = next;
    }
}

static int pg_connect(yk_pg *pg)
{
    pg->conn = PQconnectdb(pg->conninfo);
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", PQerrorMessage(pg->conn));
        why[strcspn(why, "\n")] = '\0';
        PQfinish(pg->conn);
        pg->conn = NULL;
        pg_fail(pg, why);
        return -1;
    }
    PQsetnonblocking(pg->conn, 1);
    pg->poll = malloc(sizeof *pg->poll);
    if (pg->poll == NULL || uv_poll_init(pg->loop, pg->poll, PQsocket(pg->conn)) != 0) {
        free(pg->poll);
        pg->poll = NULL;
        PQfinish(pg->conn);
        pg->conn = NULL;
        pg_fail(pg, "cannot poll the socket");
        return -1;
    }
    pg->poll->data = pg;
    uv_poll_start(pg->poll, UV_READABLE, pg_poll_cb);
    yk_info("postgres connected");
    return 0;
}

/* Sends the head of the queue if nothing is in flight. */
static void pg_kick(yk_pg *pg)
{
    if (pg->busy || pg->head == NULL || pg->closing)
        return;
    if (pg->conn == NULL && uv_is_active((uv_handle_t *)&pg->retry))
        return; /* backing off after a failure */
    if (pg->conn == NULL && pg_connect(pg) != 0)
        return;
    yk_pg_op *op = pg->head;
    if (!PQsendQueryParams(pg->conn, op->sql, op->nparams, NULL,
                           (const char *const *)op->params, NULL, NULL, 0)) {
        pg_fail(pg, PQerrorMessage(pg->conn));
        return;
    }
    pg->busy = 1;
    int flush = PQflush(pg->conn);
    if (flush < 0) {
        pg_fail(pg, PQerrorMessage(pg->conn));
        return;
    }
    uv_poll_start(pg->poll, flush ? UV_READABLE | UV_WRITABLE : UV_READABLE, pg_poll_cb);
}

static void pg_poll_cb(uv_poll_t *h, int status, int events)
{
    yk_pg *pg = h->data;
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
    while (pg->busy && !PQisBusy(pg->conn)) {
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
    }
    if (!pg->busy)
        pg_kick(pg);
    if (pg->conn && PQstatus(pg->conn) == CONNECTION_BAD)
        pg_fail(pg, PQerrorMessage(pg->conn));
}

int yk_pg_open(yk_pg **out, uv_loop_t *loop, const char *conninfo, uint64_t retry_ms)
{
    yk_pg *pg = calloc(1, sizeof *pg);
    if (pg == NULL || (pg->conninfo = strdup(conninfo)) == NULL) {
        free(pg);
        return -1;
    }
    pg->loop = loop;
    pg->retry_ms = retry_ms;
    uv_timer_init(loop, &pg->retry);
    pg->retry.data = pg;
    *out = pg;
    return 0;
}

static void pg_closed_cb(uv_handle_t *h)
{
    yk_pg *pg = h->data;
    free(pg->conninfo);
    free(pg);
}

void yk_pg_close(yk_pg *pg)
{
    pg->closing = 1;
    if (pg->conn || pg->head)
        pg_fail(pg, "closing");
    uv_close((uv_handle_t *)&pg->retry, pg_closed_cb);
}

int yk_pg_connected(const yk_pg *pg)
{
    return pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK;
}

int yk_pg_query(yk_pg *pg, yk_pg_op *op, const char *sql, int nparams, const char *const *params)
{
    op->next = NULL;
    op->nparams = 0;
    op->params = NULL;
    if (pg->closing)
        return -1;
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
    if (pg->tail)
        pg->tail->next = op;
    else
        pg->head = op;
    pg->tail = op;
    /* Sending (and connecting) happens on the next loop turn, so a failure never calls op->cb
     * from inside this call: callers may set their state after yk_pg_query returns. A query in
     * flight or a backoff already has the queue moving. */
    if (!pg->busy && !uv_is_active((uv_handle_t *)&pg->retry))
        uv_timer_start(&pg->retry, pg_retry_cb, 0, 0);
    return 0;
}

int yk_pg_ready(const yk_pg *pg)
{
    return yk_pg_connected(pg); /* placeholder until the health probe lands */
}
