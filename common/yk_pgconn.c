/* yk_pgconn: the blocking libpq session. Every PGresult made here is handed to the caller as a
 * yk_pgres or PQclear()ed here; the session is PQfinish()ed only by yk_pgconn_close. */
#include "yk_pgconn.h"

#include <libpq-fe.h>
#include <stdio.h>

#include "yk_log.h"

yk_pgconn *yk_pgconn_open(const char *conninfo, const char *appname, const char *setup)
{
    /* Our defaults come first so that anything in conninfo overrides them (later wins). */
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {"5", appname, conninfo, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c == NULL || PQstatus(c) != CONNECTION_OK) {
        yk_warn("pg connect failed: %s", c ? PQerrorMessage(c) : "out of memory");
        PQfinish(c);
        return NULL;
    }
    if (setup) {
        PGresult *r = PQexec(c, setup);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        if (!ok) {
            yk_warn("pg session setup failed: %s", PQerrorMessage(c));
            PQfinish(c);
            return NULL;
        }
    }
    return c;
}

void yk_pgconn_close(yk_pgconn *c)
{
    PQfinish(c);
}

bool yk_pgconn_lost(const yk_pgconn *c)
{
    return c == NULL || PQstatus(c) != CONNECTION_OK;
}

const char *yk_pgconn_error(const yk_pgconn *c)
{
    return c ? PQerrorMessage(c) : "no session";
}

int yk_pgconn_prepare(yk_pgconn *c, const char *name, const char *sql, int nparams)
{
    PGresult *r = PQprepare(c, name, sql, nparams, NULL);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        yk_warn("pg prepare %s failed: %s", name, PQerrorMessage(c));
    PQclear(r);
    return ok ? 0 : -1;
}

yk_pgres *yk_pgconn_run(yk_pgconn *c, const yk_pgconn_stmt *s)
{
    return s->name ? PQexecPrepared(c, s->name, s->n, s->values, s->lens, s->formats, 0)
                   : PQexecParams(c, s->sql, s->n, NULL, s->values, s->lens, s->formats, 0);
}

/* Reads the results of a pipeline of n statements and its sync into res (see yk_pgconn_pipeline).
 * 1, 0 (a statement failed; state set) or -1 (no result: connection trouble). */
static int pipeline_results(PGconn *c, int n, yk_pgres **res, char state[6])
{
    int ok = 1;
    for (int i = 0; i < n; i++) {
        PGresult *r = PQgetResult(c);
        if (r == NULL) { /* connection trouble: nothing more will come */
            yk_warn("pipeline: no result: %s", PQerrorMessage(c));
            return -1;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            res[i] = r;
        } else {
            if (ok && st != PGRES_PIPELINE_ABORTED) {
                const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
                snprintf(state, 6, "%s", s ? s : "");
                yk_warn("pipeline statement %d failed: sqlstate=%s %s", i + 1, state,
                        PQresultErrorMessage(r));
            }
            ok = 0;
            PQclear(r);
        }
        while ((r = PQgetResult(c)) != NULL) /* the NULL that ends statement i's results */
            PQclear(r);
    }
    PGresult *r = PQgetResult(c);
    bool synced = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    PQclear(r);
    if (!synced || PQexitPipelineMode(c) != 1)
        return -1;
    return ok;
}

int yk_pgconn_pipeline(yk_pgconn *c, const yk_pgconn_stmt *stmts, int n, yk_pgres **res,
                       char sqlstate[6])
{
    sqlstate[0] = '\0';
    for (int i = 0; i < n; i++)
        res[i] = NULL;
    int ok = PQenterPipelineMode(c) == 1;
    for (int i = 0; ok && i < n; i++) {
        const yk_pgconn_stmt *s = &stmts[i];
        ok = s->name ? PQsendQueryPrepared(c, s->name, s->n, s->values, s->lens, s->formats, 0)
                     : PQsendQueryParams(c, s->sql, s->n, NULL, s->values, s->lens, s->formats, 0);
    }
    ok = ok && PQpipelineSync(c) == 1;
    if (!ok) {
        yk_warn("pipeline could not be sent: %s", PQerrorMessage(c));
        /* A half-sent pipeline cannot be resumed: the caller must drop the session. */
        return yk_pgconn_lost(c) || PQpipelineStatus(c) != PQ_PIPELINE_OFF ? -1 : 0;
    }
    ok = pipeline_results(c, n, res, sqlstate);
    if (ok != 1) {
        for (int i = 0; i < n; i++) {
            PQclear(res[i]);
            res[i] = NULL;
        }
        if (ok < 0 || yk_pgconn_lost(c) || PQpipelineStatus(c) != PQ_PIPELINE_OFF)
            return -1;
    }
    return ok;
}
