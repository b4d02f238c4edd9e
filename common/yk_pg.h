/* yk_pg: one libpq connection driven by a libuv loop, running queued queries one at a time.
 * Used by the ingress for the catalogue and admin routes; the worker uses libpq directly. */
#ifndef YK_PG_H
#define YK_PG_H

#include <libpq-fe.h>
#include <uv.h>

#include "yk_pgres.h"

typedef struct yk_pg yk_pg;

/* A query's completion, embedded by the caller in its own state. res is owned by yk_pg and
 * cleared (PQclear) right after cb returns; NULL means the connection failed before an answer.
 * A statement error arrives as a res whose PQresultStatus is PGRES_FATAL_ERROR. */
typedef struct yk_pg_op yk_pg_op;
struct yk_pg_op {
    void (*cb)(yk_pg_op *op, yk_pgres *res);
    /* private */
    yk_pg_op *next;
    char *sql; /* copies of the query text and parameters, freed when the query was sent */
    int nparams;
    char **params;
};

/* Opens lazily: the first query (or yk_pg_open itself) connects; a lost connection is retried
 * every retry_ms. The caller owns the result; release with yk_pg_close. */
__attribute__((warn_unused_result)) int yk_pg_open(yk_pg **out, uv_loop_t *loop,
                                                   const char *conninfo, uint64_t retry_ms);
/* Fails every queued query with NULL and frees once the handles are closed. */
void yk_pg_close(yk_pg *pg);
int yk_pg_connected(const yk_pg *pg);
/* True when connected and the server answered a health probe within the last second. */
int yk_pg_ready(const yk_pg *pg);

/* Queues sql with text parameters (NULL entries are SQL NULL); sql and params are copied.
 * Returns 0, or -1 (out of memory, or yk_pg_close was called) without calling op->cb. op->cb never
 * runs inside this call: always from the loop, later. */
__attribute__((warn_unused_result)) int yk_pg_query(yk_pg *pg, yk_pg_op *op, const char *sql,
                                                    int nparams, const char *const *params);

#endif
