/* ops: yoyakuctl's operator commands — status (partitions, owners, queues, outbox), the token
 * list and revocation, an event's export and import as JSON, and the purge of old bookers' data.
 * Blocking sessions (yk_pg_sync, yk_rconn), closed by the command that opened them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "yk_addr.h"
#include "yk_partition.h"
#include "yk_rconn.h"
#include "yk_reply.h"

#define ADVISORY_CLASS 31601 /* a worker's lock on partition p: pg_advisory_lock(31601, p) */

/* Prints the rows of a query, tab-separated, after a header line; 0 or 1. */
static int print_rows(yk_pg_sync *c, const char *header, const char *sql, int n,
                      const char *const *params)
{
    yk_pgres *r = yk_pg_exec_sync(c, sql, n, params);
    int ok = yk_pgres_ok(r);
    if (!ok) {
        fprintf(stderr, "yoyakuctl: %s", yk_pgres_error(r));
    } else {
        if (header)
            printf("%s\n", header);
        for (int i = 0; i < yk_pgres_rows(r); i++)
            for (int j = 0; j < yk_pgres_cols(r); j++)
                printf("%s%s", yk_pgres_text(r, i, j), j + 1 < yk_pgres_cols(r) ? "\t" : "\n");
    }
    yk_pgres_free(r);
    return ok ? 0 : 1;
}

/* One integer of a Redis reply (0 when it is none). */
static long long reply_int(yk_reply *r)
{
    long long v = yk_reply_is(r, YK_REPLY_INTEGER) ? yk_reply_int(r) : 0;
    yk_rconn_free(r);
    return v;
}

int ctl_status(void)
{
    yk_pg_sync *c = ctl_connect();
    if (c == NULL)
        return 1;
    char cls[16];
    snprintf(cls, sizeof cls, "%d", ADVISORY_CLASS);
    const char *p[] = {cls};
    yk_pgres *owners = yk_pg_exec_sync(
        c,
        "SELECT l.objid::int, a.application_name FROM pg_locks l JOIN pg_stat_activity a"
        " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::oid"
        " AND l.objsubid = 2 ORDER BY 1",
        1, p);
    if (!yk_pgres_ok(owners)) {
        fprintf(stderr, "yoyakuctl: %s", yk_pgres_error(owners));
        yk_pgres_free(owners);
        yk_pg_sync_close(c);
        return 1;
    }
    yk_rconn *r = yk_rconn_open_addr(ctl_redis_addr, 2000, 5000);
    if (r == NULL)
        fprintf(stderr, "yoyakuctl: Redis (YOYAKU_REDIS=%s) unreachable: queue figures left out\n",
                ctl_redis_addr);
    printf("partition\towner\tlength\tpending\tdead\n");
    int unowned = 0;
    for (long long part = 0; part < ctl_partitions; part++) {
        const char *owner = "-";
        for (int i = 0; i < yk_pgres_rows(owners); i++)
            if (yk_pgres_int(owners, i, 0, -1) == part)
                owner = yk_pgres_text(owners, i, 1);
        unowned += strcmp(owner, "-") == 0;
        char key[32];
        snprintf(key, sizeof key, "yk:req:{%lld}", part);
        long long len = -1, pending = -1, dead = -1;
        if (r) {
            char dk[32];
            snprintf(dk, sizeof dk, "yk:dead:{%lld}", part);
            dead = reply_int(yk_rconn_command(r, 2, (const char *[]){"XLEN", dk}));
            len = reply_int(yk_rconn_command(r, 2, (const char *[]){"XLEN", key}));
            yk_reply *x = yk_rconn_command(r, 3, (const char *[]){"XPENDING", key, "workers"});
            pending = yk_reply_is(yk_reply_at(x, 0), YK_REPLY_INTEGER)
                          ? yk_reply_int(yk_reply_at(x, 0))
                          : 0;
            yk_rconn_free(x);
        }
        printf("%lld\t%s\t%lld\t%lld\t%lld\n", part, owner, len, pending, dead);
    }
    yk_pgres_free(owners);
    yk_rconn_close(r);
    printf("partitions without an owner: %d\n", unowned);
    int rc = print_rows(c, "outbox\tstatus\tcount",
                        "SELECT 'outbox', status, count(*) FROM mail_outbox GROUP BY status"
                        " ORDER BY status",
                        0, NULL);
    yk_pg_sync_close(c);
    return rc;
}

int ctl_token_list(void)
{
    yk_pg_sync *c = ctl_connect();
    if (c == NULL)
        return 1;
    int rc = print_rows(c, "name\trole\tstate\tcreated_at",
                        "SELECT name, role, CASE WHEN revoked_at IS NULL THEN 'active'"
                        " ELSE 'revoked' END, created_at FROM admin_tokens ORDER BY id",
                        0, NULL);
    yk_pg_sync_close(c);
    return rc;
}

/* Runs a statement that returns a count, printing it after what; 0, or 1 when it failed or when
 * none must be an error (what NULL). */
static int count_of(yk_pg_sync *c, const char *sql, int n, const char *const *params,
                    const char *what, const char *none)
{
    yk_pgres *r = yk_pg_exec_sync(c, sql, n, params);
    int rc = 1;
    if (!yk_pgres_ok(r))
        fprintf(stderr, "yoyakuctl: %s", yk_pgres_error(r));
    else if (none && yk_pgres_int(r, 0, 0, 0) == 0)
        fprintf(stderr, "yoyakuctl: %s\n", none);
    else
        rc = 0, printf("%s%s\n", what, yk_pgres_text(r, 0, 0));
    yk_pgres_free(r);
    return rc;
}

int ctl_token_revoke(const char *name)
{
    yk_pg_sync *c = ctl_connect();
    if (c == NULL)
        return 1;
    const char *p[] = {name};
    int rc = count_of(c,
                      "WITH u AS (UPDATE admin_tokens SET revoked_at = now() WHERE name = $1"
                      " AND revoked_at IS NULL RETURNING 1) SELECT count(*) FROM u",
                      1, p, "revoked: ", "no active token of that name");
    yk_pg_sync_close(c);
    return rc;
}

int ctl_purge(const char *days)
{
    size_t n = strlen(days);
    if (n == 0 || n > 5 || strspn(days, "0123456789") != n) {
        fprintf(stderr, "yoyakuctl: purge --older-than DAYS (a whole number)\n");
        return 2;
    }
    yk_pg_sync *c = ctl_connect();
    if (c == NULL)
        return 1;
    const char *p[] = {days};
    /* The identity is a field value too (e.g. an insurance number): it is replaced by the id, so
     * that counts per identity of what is left stay apart. Status, slot and times stay. */
    int rc =
        count_of(c,
                 "WITH b AS (UPDATE bookings b SET email = '', fields = '{}',"
                 " identity = 'purged:' || b.id, updated_at = now() FROM slots s"
                 " WHERE s.id = b.slot_id AND s.ends_at < now() - make_interval(days =>"
                 " $1::int) AND NOT (b.email = '' AND b.fields = '{}') RETURNING b.id),"
                 " r AS (UPDATE reviews SET comment = '' FROM b WHERE reviews.booking_id = b.id)"
                 " SELECT count(*) FROM b",
                 1, p, "purged bookings: ", NULL);
    /* Staff sessions that ended (expired or signed out) that long ago: only their hashes, of no
     * use. */
    if (rc == 0)
        rc = count_of(
            c,
            "WITH s AS (DELETE FROM staff_sessions WHERE coalesce(revoked_at, expires_at)"
            " < now() - make_interval(days => $1::int) RETURNING 1) SELECT count(*) FROM s",
            1, p, "purged staff sessions: ", NULL);
    yk_pg_sync_close(c);
    /* Dead letters keep the request's e-mail and field values (proto/streams.md). */
    long long dead = rc == 0 ? ctl_dead_purge(atoi(days)) : 0;
    if (dead < 0)
        return 1;
    if (rc == 0)
        printf("purged dead letters: %lld\n", dead);
    return rc;
}

int ctl_event_export(const char *slug)
{
    yk_pg_sync *c = ctl_connect();
    if (c == NULL)
        return 1;
    const char *p[] = {slug};
    yk_pgres *r = yk_pg_exec_sync(
        c,
        "SELECT jsonb_pretty(jsonb_build_object('format', 'yoyaku-event/1', 'event',"
        " to_jsonb(e) - 'id' - 'created_at' - 'updated_at', 'slots', coalesce((SELECT"
        " jsonb_agg(jsonb_build_object('starts_at', s.starts_at, 'ends_at', s.ends_at,"
        " 'capacity', s.capacity) ORDER BY s.starts_at) FROM slots s WHERE s.event_id = e.id),"
        " '[]'))) FROM events e WHERE e.slug = $1",
        1, p);
    int rc = 1;
    if (!yk_pgres_ok(r))
        fprintf(stderr, "yoyakuctl: %s", yk_pgres_error(r));
    else if (yk_pgres_rows(r) != 1)
        fprintf(stderr, "yoyakuctl: no event %s\n", slug);
    else
        rc = 0, printf("%s\n", yk_pgres_text(r, 0, 0));
    yk_pgres_free(r);
    yk_pg_sync_close(c);
    return rc;
}

/* The whole of a file (at most 16 MiB) as a string, or NULL after saying why. */
static char *read_all(const char *file)
{
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
    if (f == NULL) {
        perror(file);
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *s = malloc(cap);
    for (size_t got; s && (got = fread(s + len, 1, cap - len - 1, f)) > 0;) {
        len += got;
        if (len + 1 == cap && cap < (16u << 20)) {
            char *t = realloc(s, cap *= 2);
            if (t == NULL)
                free(s);
            s = t;
        } else if (len + 1 == cap) {
            fprintf(stderr, "yoyakuctl: %s is larger than 16 MiB\n", file);
            free(s);
            s = NULL;
        }
    }
    if (f != stdin)
        fclose(f);
    if (s)
        s[len] = '\0';
    return s;
}

int ctl_event_import(const char *file)
{
    char *json = read_all(file);
    if (json == NULL)
        return 1;
    yk_pg_sync *c = ctl_connect();
    if (c == NULL) {
        free(json);
        return 1;
    }
    const char *p[] = {json};
    /* The table's own constraints check every column; a slug that exists is refused (23505). */
    yk_pgres *r = yk_pg_exec_sync(
        c,
        "WITH d AS (SELECT $1::jsonb AS j), e AS (INSERT INTO events SELECT (jsonb_populate_record("
        "NULL::events, (SELECT j->'event' FROM d) || jsonb_build_object('id', nextval("
        "pg_get_serial_sequence('events', 'id')), 'created_at', now(), 'updated_at', now()))).*"
        " WHERE (SELECT j->>'format' FROM d) = 'yoyaku-event/1' RETURNING id, slug),"
        " s AS (INSERT INTO slots (event_id, starts_at, ends_at, capacity) SELECT e.id,"
        " (x->>'starts_at')::timestamptz, (x->>'ends_at')::timestamptz, (x->>'capacity')::int"
        " FROM e, d, jsonb_array_elements(d.j->'slots') x RETURNING 1)"
        " SELECT e.slug, (SELECT count(*) FROM s) FROM e",
        1, p);
    free(json);
    int rc = 1;
    if (!yk_pgres_ok(r))
        fprintf(stderr, "yoyakuctl: import refused: %s", yk_pgres_error(r));
    else if (yk_pgres_rows(r) != 1)
        fprintf(stderr, "yoyakuctl: not a yoyaku-event/1 document\n");
    else
        rc = 0,
        printf("imported %s with %s slots\n", yk_pgres_text(r, 0, 0), yk_pgres_text(r, 0, 1));
    yk_pgres_free(r);
    yk_pg_sync_close(c);
    if (rc == 0) { /* every ingress and worker reloads, as after an admin change */
        yk_rconn *rc2 = yk_rconn_open_addr(ctl_redis_addr, 2000, 5000);
        if (rc2) {
            yk_rconn_free(yk_rconn_command(rc2, 2, (const char *[]){"INCR", "yk:catalogue"}));
            yk_rconn_free(
                yk_rconn_command(rc2, 3, (const char *[]){"PUBLISH", "yk:events", "catalogue"}));
            yk_rconn_close(rc2);
        } else {
            fprintf(stderr, "yoyakuctl: Redis unreachable: the services see the event at their "
                            "next reload\n");
        }
    }
    return rc;
}
