/* yk_roster_pg: one upload's PostgreSQL session, its COPY buffer (binary rows of generation and
 * hash, sent when full) and the statement that swaps the new generation in. */
#include "yk_roster_pg.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yk_pgconn.h"

#define ROSTER_COPY_FLUSH ((size_t)256 * 1024) /* bytes of rows sent per PQputCopyData */
#define ROSTER_ROW_BYTES (2 + 4 + 8 + 4 + YK_ROSTER_HASH_BYTES)

struct yk_roster_load {
    PGconn *pg;
    yk_roster_parser *parser;
    yk_roster_status st;
    bool copying; /* COPY IN is open */
    char campaign[72];
    long long generation;
    unsigned char gen_be[8];
    unsigned char *buf; /* ROSTER_COPY_FLUSH + a row */
    size_t len;
    char updated_at[40];
    char error[256];
};

static void load_fail(yk_roster_load *l, const char *what)
{
    if (l->st != YK_ROSTER_FAILED)
        snprintf(l->error, sizeof l->error, "%s: %s", what, l->pg ? PQerrorMessage(l->pg) : "");
    l->st = YK_ROSTER_FAILED;
}

/* Runs a statement expecting a result status; its first value into out (may be NULL). */
static int load_exec(yk_roster_load *l, const char *sql, int n, const char *const *params,
                     ExecStatusType want, char *out, size_t outlen)
{
    PGresult *r = PQexecParams(l->pg, sql, n, NULL, params, NULL, NULL, 0);
    int ok = r && PQresultStatus(r) == want;
    if (ok && out)
        snprintf(out, outlen, "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    if (!ok)
        snprintf(l->error, sizeof l->error, "%s", r ? PQresultErrorMessage(r) : "no result");
    PQclear(r);
    return ok ? 0 : -1;
}

static void load_flush(yk_roster_load *l)
{
    if (l->st != YK_ROSTER_LOADED || l->len == 0)
        return;
    if (PQputCopyData(l->pg, (const char *)l->buf, (int)l->len) != 1)
        load_fail(l, "COPY");
    l->len = 0;
}

static void load_row(void *ud, const unsigned char h[YK_ROSTER_HASH_BYTES])
{
    yk_roster_load *l = ud;
    if (l->st != YK_ROSTER_LOADED)
        return;
    unsigned char *p = l->buf + l->len;
    static const unsigned char lens[] = {0, 2, 0, 0, 0, 8};
    memcpy(p, lens, sizeof lens);
    memcpy(p + 6, l->gen_be, 8);
    p[14] = p[15] = p[16] = 0;
    p[17] = YK_ROSTER_HASH_BYTES;
    memcpy(p + 18, h, YK_ROSTER_HASH_BYTES);
    l->len += ROSTER_ROW_BYTES;
    if (l->len >= ROSTER_COPY_FLUSH)
        load_flush(l);
}

yk_roster_status yk_roster_load_begin(yk_roster_load **out, const char *conninfo,
                                      const unsigned char key[YK_TOKEN_KEY_BYTES],
                                      const char *campaign, bool cp932)
{
    yk_roster_load *l = *out = calloc(1, sizeof *l);
    if (l == NULL)
        return YK_ROSTER_FAILED;
    snprintf(l->campaign, sizeof l->campaign, "%s", campaign);
    l->buf = malloc(ROSTER_COPY_FLUSH + ROSTER_ROW_BYTES);
    l->parser = yk_roster_parser_new(key, campaign, cp932, load_row, l);
    if (l->buf == NULL || l->parser == NULL) {
        snprintf(l->error, sizeof l->error, "out of memory");
        return l->st = YK_ROSTER_FAILED;
    }
    l->pg = yk_pgconn_open(conninfo, "yoyaku-roster", NULL);
    if (l->pg == NULL) {
        snprintf(l->error, sizeof l->error, "cannot connect to PostgreSQL");
        return l->st = YK_ROSTER_FAILED;
    }
    char locked[8], gen[24];
    const char *p1[] = {campaign};
    if (load_exec(l, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, 0) != 0 ||
        load_exec(l, "SELECT pg_try_advisory_xact_lock(31602, hashtext($1))", 1, p1,
                  PGRES_TUPLES_OK, locked, sizeof locked) != 0 ||
        (strcmp(locked, "t") == 0 && load_exec(l, "SELECT nextval('roster_generation')", 0, NULL,
                                               PGRES_TUPLES_OK, gen, sizeof gen) != 0))
        return l->st = YK_ROSTER_FAILED;
    if (strcmp(locked, "t") != 0)
        return l->st = YK_ROSTER_BUSY;
    l->generation = strtoll(gen, NULL, 10);
    for (int i = 0; i < 8; i++)
        l->gen_be[i] = (unsigned char)((unsigned long long)l->generation >> (56 - 8 * i));
    if (load_exec(l, "COPY roster_rows (generation, h) FROM STDIN (FORMAT binary)", 0, NULL,
                  PGRES_COPY_IN, NULL, 0) != 0)
        return l->st = YK_ROSTER_FAILED;
    l->copying = true;
    static const char head[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
    memcpy(l->buf, head, sizeof head);
    l->len = sizeof head;
    return l->st;
}

yk_roster_status yk_roster_load_feed(yk_roster_load *l, const char *data, size_t len)
{
    if (l->st == YK_ROSTER_LOADED && yk_roster_parser_feed(l->parser, data, len) != 0) {
        snprintf(l->error, sizeof l->error, "out of memory");
        l->st = YK_ROSTER_FAILED;
    }
    return l->st;
}

/* Ends the COPY: sends the trailer and takes its result (error: abandons it with that message). */
static void load_copy_end(yk_roster_load *l, const char *error)
{
    if (!l->copying)
        return;
    l->copying = false;
    if (error == NULL && l->st == YK_ROSTER_LOADED) {
        static const unsigned char trailer[2] = {0xFF, 0xFF};
        memcpy(l->buf + l->len, trailer, 2);
        l->len += 2;
        load_flush(l);
    }
    if (PQputCopyEnd(l->pg, error ? error : l->st == YK_ROSTER_LOADED ? NULL : "failed") != 1)
        load_fail(l, "COPY end");
    PGresult *r;
    while ((r = PQgetResult(l->pg)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && error == NULL && l->st == YK_ROSTER_LOADED) {
            snprintf(l->error, sizeof l->error, "COPY: %s", PQresultErrorMessage(r));
            l->st = YK_ROSTER_FAILED;
        }
        PQclear(r);
    }
}

yk_roster_status yk_roster_load_finish(yk_roster_load *l)
{
    if (l->st != YK_ROSTER_LOADED)
        return l->st;
    if (yk_roster_parser_end(l->parser) != 0) {
        snprintf(l->error, sizeof l->error, "out of memory");
        l->st = YK_ROSTER_FAILED;
    } else if (yk_roster_parser_nerrors(l->parser) > 0) {
        l->st = YK_ROSTER_INVALID;
    }
    load_copy_end(l, l->st == YK_ROSTER_INVALID ? "invalid roster" : NULL);
    if (l->st != YK_ROSTER_LOADED)
        return l->st;
    /* fields: the header's names, [a-z0-9_] each: a PostgreSQL array literal needs no quoting */
    const char *const *names;
    size_t n = yk_roster_parser_fields(l->parser, &names);
    char fields[YK_ROSTER_MAX_FIELDS * (YK_ROSTER_MAX_NAME + 1) + 3] = "{", gen[24], rows[24];
    for (size_t i = 0; i < n; i++) {
        strcat(fields, i ? "," : "");
        strcat(fields, names[i]);
    }
    strcat(fields, "}");
    snprintf(gen, sizeof gen, "%lld", l->generation);
    snprintf(rows, sizeof rows, "%ld", yk_roster_parser_rows(l->parser));
    const char *p[] = {l->campaign, gen, fields, rows};
    static const char swap[] =
        "WITH old AS (SELECT generation FROM rosters WHERE campaign = $1),"
        " up AS (INSERT INTO rosters (campaign, generation, fields, rows, updated_at)"
        " VALUES ($1, $2::bigint, $3::text[], $4::bigint, now()) ON CONFLICT (campaign) DO UPDATE"
        " SET generation = EXCLUDED.generation, fields = EXCLUDED.fields, rows = EXCLUDED.rows,"
        " updated_at = EXCLUDED.updated_at RETURNING updated_at),"
        " del AS (DELETE FROM roster_rows WHERE generation IN (SELECT generation FROM old))"
        " SELECT yk_rfc3339(updated_at, 'UTC') FROM up";
    /* ANALYZE: the worker's lookup is planned with the new size (a fresh table has no stats) */
    if (load_exec(l, swap, 4, p, PGRES_TUPLES_OK, l->updated_at, sizeof l->updated_at) != 0 ||
        load_exec(l, "ANALYZE roster_rows", 0, NULL, PGRES_COMMAND_OK, NULL, 0) != 0 ||
        load_exec(l, "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL, 0) != 0) {
        l->updated_at[0] = '\0';
        l->st = YK_ROSTER_FAILED;
    }
    return l->st;
}

const yk_roster_parser *yk_roster_load_parser(const yk_roster_load *l)
{
    return l->parser;
}

const char *yk_roster_load_updated_at(const yk_roster_load *l)
{
    return l->updated_at;
}

const char *yk_roster_load_error(const yk_roster_load *l)
{
    return l->error;
}

void yk_roster_load_free(yk_roster_load *l)
{
    if (l == NULL)
        return;
    if (l->pg && l->copying)
        load_copy_end(l, "abandoned");
    yk_pgconn_close(l->pg); /* an open transaction rolls back with the session */
    yk_roster_parser_free(l->parser);
    free(l->buf);
    free(l);
}
