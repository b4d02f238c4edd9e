/* yk_pg: one libpq connection driven by a libuv loop, connecting without blocking, running queued
 * queries one at a time, watching the server's health and LISTENing; plus a small blocking API
 * for command-line tools (yk_pg_sync_*). The worker uses libpq directly. */
#ifndef YK_PG_H
#define YK_PG_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "yk_pgres.h"

typedef struct yk_pg yk_pg;

/* Health and deadlines, all driven by the owner's loop (no thread, nothing blocks it):
 * - connecting is asynchronous (PQconnectStartParams + PQconnectPoll on a uv_poll); a connect not
 *   done within connect_ms fails. (A host name is resolved by libpq inside the connect call: use
 *   an address or a socket directory, as the services' defaults do, to never block.)
 * - a query in flight for longer than query_ms drops the connection (a stopped or hung server, or
 *   a statement slower than allowed): it and everything queued get NULL.
 * - after any failure the next connect is tried after retry_ms whether or not a query waits, and
 *   until it succeeds a query queued meanwhile is failed (NULL) on the next loop iteration
 *   instead of waiting: callers answer "unavailable" at once.
 * - while idle, an empty query probes the server every YK_PG_PROBE_MS; ready = connected and the
 *   server answered (a probe, a query, a notification) within the last YK_PG_READY_MS. */
#define YK_PG_PROBE_MS 250
#define YK_PG_READY_MS 1000
#define YK_PG_CONNECT_MS 1000 /* defaults, see yk_pg_set_timeouts */
#define YK_PG_QUERY_MS 2000

/* A query's completion, embedded by the caller in its own state. res is owned by yk_pg and
 * cleared right after cb returns; NULL means no answer (not connected, connect failed, connection
 * lost, deadline passed). A statement error arrives as a res for which yk_pgres_ok is false.
 * cb never runs inside the yk_pg_query call that queued it: always from the loop, later (or from
 * yk_pg_close). An op must not be queued again before its callback ran. */
typedef struct yk_pg_op yk_pg_op;
struct yk_pg_op {
    void (*cb)(yk_pg_op *op, yk_pgres *res);
    /* private */
    yk_pg_op *next;
    char *sql; /* copies of the query text and parameters, freed when the query completes */
    int nparams;
    char **params;
};

/* A notification on a channel given to yk_pg_listen; channel and payload are borrowed for the
 * call. payload NULL means "listening (again) on a new connection": notifications sent while the
 * connection was down were missed, look for yourself. */
typedef void (*yk_pg_notify_cb)(void *ud, const char *channel, const char *payload);

/* Starts connecting at once (from the loop); conninfo is copied. The caller owns the result;
 * release with yk_pg_close. */
__attribute__((warn_unused_result)) int yk_pg_open(yk_pg **out, uv_loop_t *loop,
                                                   const char *conninfo, uint64_t retry_ms);
/* Bounds for the next connects and queries (0 keeps the current value). */
void yk_pg_set_timeouts(yk_pg *pg, uint64_t connect_ms, uint64_t query_ms);
/* Fails every queued query with NULL (the callbacks run before this returns) and frees pg once
 * its handles are closed (the loop must run). Queries queued from those callbacks return -1. */
void yk_pg_close(yk_pg *pg);
int yk_pg_connected(const yk_pg *pg);
/* True when connected and the server answered within the last YK_PG_READY_MS. */
int yk_pg_ready(const yk_pg *pg);

/* Queues sql with text parameters (NULL entries are SQL NULL); sql and params are copied.
 * Returns 0, or -1 (out of memory, or yk_pg_close was called) without calling op->cb. */
__attribute__((warn_unused_result)) int yk_pg_query(yk_pg *pg, yk_pg_op *op, const char *sql,
                                                    int nparams, const char *const *params);

/* LISTEN channel (letters, digits, '_'; copied) on every connection from now on; cb and ud are
 * borrowed until yk_pg_close. cb runs from the loop: with payload NULL each time the LISTEN took
 * effect on a new connection, then once per notification. 0, or -1 (bad name, out of memory). */
__attribute__((warn_unused_result)) int yk_pg_listen(yk_pg *pg, const char *channel,
                                                     yk_pg_notify_cb cb, void *ud);

/* ---- blocking sessions, for command-line tools only (they block the calling thread) */

typedef struct yk_pg_sync yk_pg_sync;

/* Connects, giving up after connect_ms (rounded up to seconds, at least 2: libpq's
 * connect_timeout). On failure returns -1 with the reason in err. The caller owns *out; release
 * with yk_pg_sync_close (which also ends the session's advisory locks). */
__attribute__((warn_unused_result)) int yk_pg_sync_open(yk_pg_sync **out, const char *conninfo,
                                                        uint64_t connect_ms, char *err,
                                                        size_t errlen);
/* Runs sql and waits for its result, which the caller owns (yk_pgres_free). With nparams == 0
 * sql may hold several statements (the result is the last one's); with parameters, one. NULL
 * only when out of memory; a failed statement is a result for which yk_pgres_ok is false. */
__attribute__((warn_unused_result)) yk_pgres *
yk_pg_exec_sync(yk_pg_sync *s, const char *sql, int nparams, const char *const *params);
void yk_pg_sync_close(yk_pg_sync *s);

#endif
