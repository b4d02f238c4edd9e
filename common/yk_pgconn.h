/* yk_pgconn: one blocking PostgreSQL session (libpq) for a process that waits on its statements,
 * like the worker: connect with a timeout, prepare, run statements and pipelines, typed results. */
#ifndef YK_PGCONN_H
#define YK_PGCONN_H

#include <stdbool.h>

#include "yk_pgres.h"

typedef struct pg_conn yk_pgconn; /* libpq's session, opaque outside common/ */

/* Opens a session (connect_timeout 5 s and application_name appname come first, so conninfo
 * overrides them) and runs setup (a statement without parameters, may be NULL). NULL on failure
 * (logged). The caller closes it with yk_pgconn_close. */
__attribute__((warn_unused_result)) yk_pgconn *
yk_pgconn_open(const char *conninfo, const char *appname, const char *setup);

/* Closes c (NULL is fine). */
void yk_pgconn_close(yk_pgconn *c);

/* True when the session is gone (or c is NULL): the owner must close it and open another. */
bool yk_pgconn_lost(const yk_pgconn *c);

/* The session's last error message ("" when none, "no session" for NULL). Borrowed from c. */
const char *yk_pgconn_error(const yk_pgconn *c);

/* Prepares sql under name with nparams parameters. 0 or -1 (logged). */
__attribute__((warn_unused_result)) int yk_pgconn_prepare(yk_pgconn *c, const char *name,
                                                          const char *sql, int nparams);

/* One statement: a prepared statement's name, or (name NULL) sql with its text; n parameters,
 * lens and formats (1 = binary) may be NULL for text parameters given as C strings. */
typedef struct {
    const char *name, *sql;
    int n;
    const char *const *values;
    const int *lens, *formats;
} yk_pgconn_stmt;

/* Runs one statement and returns its result, never NULL but when memory runs out (check it with
 * yk_pgres_ok). The caller frees it with yk_pgres_free. */
__attribute__((warn_unused_result)) yk_pgres *yk_pgconn_run(yk_pgconn *c, const yk_pgconn_stmt *s);

/* Runs stmts[0..n) in one pipeline, one round trip and one implicit transaction up to its sync.
 * 1: every statement succeeded and res[i] holds statement i's result (the caller frees each).
 * 0: a statement failed, nothing committed, res all NULL, sqlstate (6 bytes) holds the first
 * failure's code ("" when there is none) and the session is usable. -1: the session is lost or
 * left in a state it cannot leave: the caller must close it even if yk_pgconn_lost says no. */
__attribute__((warn_unused_result)) int yk_pgconn_pipeline(yk_pgconn *c,
                                                           const yk_pgconn_stmt *stmts, int n,
                                                           yk_pgres **res, char sqlstate[6]);

#endif
