/* yk_pgres: typed read access to a PostgreSQL result, so that no libpq type leaves common/.
 * A yk_pgres is libpq's result seen through these accessors only. Who frees it is said where it
 * is handed out (yk_pg: cleared after the callback returns); yk_pgres_free is for results a
 * caller was given to own. */
#ifndef YK_PGRES_H
#define YK_PGRES_H

#include <stdbool.h>
#include <stdint.h>

typedef struct pg_result yk_pgres; /* opaque outside common/ */

/* Accessors accept NULL (no result: the connection failed) and answer as for a failed statement
 * or an absent value. Rows and columns are 0-based; out of range reads as SQL NULL. */

/* True for a statement that succeeded (with or without rows). */
bool yk_pgres_ok(const yk_pgres *res);
int yk_pgres_rows(const yk_pgres *res);
/* The number of columns of a result with rows, else 0. */
int yk_pgres_cols(const yk_pgres *res);
/* The rows an INSERT, UPDATE, DELETE… affected (or a SELECT returned), 0 when unknown. */
int64_t yk_pgres_affected(const yk_pgres *res);
bool yk_pgres_null(const yk_pgres *res, int row, int col);
/* The text of a value ("" for NULL), borrowed from res. */
const char *yk_pgres_text(const yk_pgres *res, int row, int col);
/* The text of a value parsed as a decimal integer; fallback when NULL or not an integer. */
int64_t yk_pgres_int(const yk_pgres *res, int row, int col, int64_t fallback);
/* A boolean value ("t"); false for NULL. */
bool yk_pgres_bool(const yk_pgres *res, int row, int col);
/* The error message of a failed statement ("" when there is none, "no result" for NULL). */
const char *yk_pgres_error(const yk_pgres *res);
/* The SQLSTATE of a failed statement ("" when there is none). */
const char *yk_pgres_sqlstate(const yk_pgres *res);
void yk_pgres_free(yk_pgres *res);

#endif
