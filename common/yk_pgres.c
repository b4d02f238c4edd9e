/* yk_pgres: the accessors over libpq's PGresult. */
#include "yk_pgres.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdlib.h>

bool yk_pgres_ok(const yk_pgres *res)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

int yk_pgres_rows(const yk_pgres *res)
{
    return res && PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : 0;
}

int yk_pgres_cols(const yk_pgres *res)
{
    return res && PQresultStatus(res) == PGRES_TUPLES_OK ? PQnfields(res) : 0;
}

int64_t yk_pgres_affected(const yk_pgres *res)
{
    const char *s = res ? PQcmdTuples((yk_pgres *)res) : "";
    return *s ? (int64_t)strtoll(s, NULL, 10) : 0;
}

bool yk_pgres_null(const yk_pgres *res, int row, int col)
{
    return row < 0 || row >= yk_pgres_rows(res) || col < 0 || col >= yk_pgres_cols(res) ||
           PQgetisnull(res, row, col);
}

const char *yk_pgres_text(const yk_pgres *res, int row, int col)
{
    return yk_pgres_null(res, row, col) ? "" : PQgetvalue(res, row, col);
}

int64_t yk_pgres_int(const yk_pgres *res, int row, int col, int64_t fallback)
{
    if (yk_pgres_null(res, row, col))
        return fallback;
    const char *s = PQgetvalue(res, row, col);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' ? (int64_t)v : fallback;
}

bool yk_pgres_bool(const yk_pgres *res, int row, int col)
{
    return yk_pgres_text(res, row, col)[0] == 't';
}

const char *yk_pgres_error(const yk_pgres *res)
{
    return res ? PQresultErrorMessage(res) : "no result";
}

const char *yk_pgres_sqlstate(const yk_pgres *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}

void yk_pgres_free(yk_pgres *res)
{
    PQclear(res);
}
