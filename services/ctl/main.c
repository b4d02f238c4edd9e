/* yoyakuctl: operator commands — applying the SQL migrations in proto/sql, creating admin tokens
 * and managing staff accounts. A blocking session (yk_pg_sync); every yk_pgres is freed where it
 * is read. */
#include <dirent.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "yk_config.h"
#include "yk_log.h"
#include "yk_pg.h"
#include "yk_settings.h"
#include "yk_text.h"
#include "yk_token.h"

#define MIGRATE_LOCK_CLASS 31600 /* pg_advisory_lock(31600, 0): one migrate at a time */

static const char USAGE[] =
    "usage: yoyakuctl [--help] [--version] [--config] COMMAND\n\n"
    "Commands:\n"
    "  migrate                    apply every proto/sql/NNNN_*.sql not applied yet, in name order\n"
    "  token create --name NAME [--role owner|staff|desk]\n"
    "                             create an admin token (role owner by default); prints only the "
    "token\n"
    "  staff add --login L --name N --role owner|staff|desk\n"
    "                             create a staff account; the password is read from stdin, or "
    "made\n"
    "                             and printed once when stdin is a terminal\n"
    "  staff list                 list the staff accounts\n"
    "  staff disable L            disable an account and end its sessions\n"
    "  staff password L           set a new password (as for add) and end its sessions\n"
    "  token list                 list the admin tokens (name, role, state)\n"
    "  token revoke NAME          revoke the active tokens of that name\n"
    "  status                     partitions, their owners, queue figures, outbox backlog\n"
    "  event export SLUG          an event's definition with its slots as JSON, on stdout\n"
    "  event import FILE          create the event of an export (FILE or - for stdin)\n"
    "  purge --older-than DAYS    erase booker e-mail and field values of bookings whose slot\n"
    "                             ended more than DAYS ago; prints how many\n"
    "  dead-letter list [--partition P]\n"
    "                             the entries workers could not decide (yk:dead:{p})\n"
    "  dead-letter replay [--partition P] [ID...]\n"
    "                             put them (all, or those IDs) back on their request stream";

const char *ctl_pg_conninfo, *ctl_redis_addr;
int64_t ctl_partitions;
static const char *sql_dir, *log_level, *log_format;

#define CONNECT_MS 10000

yk_pg_sync *ctl_connect(void)
{
    yk_pg_sync *c;
    char err[512];
    if (yk_pg_sync_open(&c, ctl_pg_conninfo, CONNECT_MS, err, sizeof err) != 0) {
        fprintf(stderr, "yoyakuctl: cannot connect to PostgreSQL (YOYAKU_PG=%s): %s\n",
                ctl_pg_conninfo, err);
        return NULL;
    }
    return c;
}

/* Runs sql (several statements allowed when n == 0) with n text parameters. 0 on success, else
 * prints the server's message prefixed with what and returns -1. */
__attribute__((warn_unused_result)) static int
ctl_exec(yk_pg_sync *c, const char *what, const char *sql, int n, const char *const *params)
{
    yk_pgres *r = yk_pg_exec_sync(c, sql, n, params);
    int ok = yk_pgres_ok(r);
    if (!ok)
        fprintf(stderr, "yoyakuctl: %s: %s", what, yk_pgres_error(r));
    yk_pgres_free(r);
    return ok ? 0 : -1;
}

/* Only NNNN_name.sql files are migrations; anything else in the directory is ignored. */
static int is_migration(const struct dirent *d)
{
    const char *s = d->d_name;
    size_t len = strlen(s);
    for (int i = 0; i < 4; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return len > 9 && s[4] == '_' && strcmp(s + len - 4, ".sql") == 0;
}

/* The whole file as a NUL-terminated string (caller frees), or NULL. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (len >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len + 1)) != NULL) {
        if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
            free(buf);
            buf = NULL;
        } else {
            buf[len] = '\0';
        }
    }
    fclose(f);
    return buf;
}

/* Applies one migration file and records it in the same transaction, so a failure leaves
 * neither half a schema nor a record of it. 1 applied, 0 already applied, -1 failed. */
static int migrate_one(yk_pg_sync *c, const char *name)
{
    char version[256], path[4096];
    snprintf(version, sizeof version, "%.*s", (int)(strlen(name) - 4), name);
    snprintf(path, sizeof path, "%s/%s", sql_dir, name);
    const char *p[] = {version};
    yk_pgres *r = yk_pg_exec_sync(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, p);
    int done = yk_pgres_ok(r) ? yk_pgres_rows(r) > 0 : -1;
    if (done < 0)
        fprintf(stderr, "yoyakuctl: reading schema_migrations: %s", yk_pgres_error(r));
    yk_pgres_free(r);
    if (done != 0)
        return done < 0 ? -1 : 0;
    char *sql = read_file(path);
    if (sql == NULL) {
        fprintf(stderr, "yoyakuctl: cannot read %s\n", path);
        return -1;
    }
    int rc = ctl_exec(c, "BEGIN", "BEGIN", 0, NULL);
    if (rc == 0)
        rc = ctl_exec(c, path, sql, 0, NULL);
    if (rc == 0)
        rc = ctl_exec(c, "recording the migration",
                      "INSERT INTO schema_migrations (version) VALUES ($1)", 1, p);
    if (rc == 0)
        rc = ctl_exec(c, "COMMIT", "COMMIT", 0, NULL);
    if (rc != 0)
        yk_pgres_free(yk_pg_exec_sync(c, "ROLLBACK", 0, NULL));
    free(sql);
    return rc == 0 ? 1 : -1;
}

static int cmd_migrate(void)
{
    struct dirent **list;
    int n = scandir(sql_dir, &list, is_migration, alphasort);
    if (n < 0) {
        fprintf(stderr, "yoyakuctl: cannot list YOYAKU_SQL_DIR=%s: %m\n", sql_dir);
        return 1;
    }
    yk_pg_sync *c = ctl_connect();
    int rc = c ? 0 : -1, applied = 0;
    /* The lock makes concurrent migrates queue up; the second then finds everything recorded. */
    if (rc == 0)
        rc = ctl_exec(c, "session setup",
                      "SET client_min_messages = warning; SELECT pg_advisory_lock(31600, 0)", 0,
                      NULL);
    if (rc == 0)
        rc = ctl_exec(c, "creating schema_migrations",
                      "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, "
                      "applied_at timestamptz NOT NULL DEFAULT now())",
                      0, NULL);
    for (int i = 0; i < n; i++) {
        if (rc == 0) {
            int r = migrate_one(c, list[i]->d_name);
            if (r < 0)
                rc = -1;
            else if (r > 0 && ++applied)
                printf("applied %s\n", list[i]->d_name);
        }
        free(list[i]);
    }
    free(list);
    if (rc == 0 && applied == 0)
        printf("schema up to date (%d migrations)\n", n);
    yk_pg_sync_close(c); /* also releases the advisory lock */
    return rc == 0 ? 0 : 1;
}

/* The value of --key VALUE or --key=VALUE among args[0..n), or NULL. */
static const char *ctl_opt(char **args, int n, const char *key)
{
    size_t k = strlen(key);
    for (int i = 0; i < n; i++) {
        if (strcmp(args[i], key) == 0 && i + 1 < n)
            return args[i + 1];
        if (strncmp(args[i], key, k) == 0 && args[i][k] == '=')
            return args[i] + k + 1;
    }
    return NULL;
}

static bool ctl_role_ok(const char *role)
{
    return role &&
           (strcmp(role, "owner") == 0 || strcmp(role, "staff") == 0 || strcmp(role, "desk") == 0);
}

/* A new password's argon2id hash into hash: read from stdin (one line), or, when stdin is a
 * terminal, made at random and printed once. 0, or -1 after saying why. */
static int ctl_password_hash(char hash[crypto_pwhash_STRBYTES])
{
    char pw[1024 + 2];
    if (isatty(STDIN_FILENO)) {
        yk_token_new(pw);
        printf("password: %s\n", pw); /* the only copy: only its hash is stored */
    } else if (fgets(pw, sizeof pw, stdin) == NULL) {
        fprintf(stderr, "yoyakuctl: no password on stdin\n");
        return -1;
    }
    pw[strcspn(pw, "\r\n")] = '\0';
    if (yk_text_length(pw) < 10 || strlen(pw) > 1024) {
        fprintf(stderr, "yoyakuctl: a password has 10 to 1024 characters\n");
        sodium_memzero(pw, sizeof pw);
        return -1;
    }
    int rc = crypto_pwhash_str(hash, pw, strlen(pw), YK_PWHASH_OPSLIMIT, YK_PWHASH_MEMLIMIT);
    sodium_memzero(pw, sizeof pw);
    if (rc != 0)
        fprintf(stderr, "yoyakuctl: hashing the password failed (memory)\n");
    return rc == 0 ? 0 : -1;
}

static int cmd_staff(char **args, int n)
{
    if (yk_token_init() != 0)
        return 1;
    const char *verb = n > 0 ? args[0] : "";
    char hash[crypto_pwhash_STRBYTES];
    yk_pg_sync *c = NULL;
    int rc = 1;
    if (strcmp(verb, "add") == 0) {
        const char *login = ctl_opt(args, n, "--login"), *name = ctl_opt(args, n, "--name"),
                   *role = ctl_opt(args, n, "--role");
        size_t ll = login ? strlen(login) : 0;
        if (!login || !name || !*name || !ctl_role_ok(role) ||
            !yk_text_valid_utf8(name, strlen(name)) || yk_text_has_crlf(name)) {
            fprintf(stderr, "yoyakuctl: staff add needs --login L --name N --role "
                            "owner|staff|desk\n");
            return 2;
        }
        /* the API's rules (staff.c), said before a password is asked for */
        if (ll == 0 || ll > 64 || strspn(login, "abcdefghijklmnopqrstuvwxyz0123456789._-") != ll ||
            yk_text_length(name) > 100) {
            fprintf(stderr, "yoyakuctl: a login is 1 to 64 of a-z 0-9 . _ -, a name at most 100 "
                            "characters\n");
            return 2;
        }
        if (ctl_password_hash(hash) != 0 || (c = ctl_connect()) == NULL)
            return 1;
        const char *p[] = {login, name, role, hash};
        yk_pgres *r = yk_pg_exec_sync(c,
                                      "INSERT INTO staff (login, name, role, password_hash)"
                                      " VALUES ($1, $2, $3, $4) ON CONFLICT (login) DO NOTHING"
                                      " RETURNING login",
                                      4, p);
        if (!yk_pgres_ok(r))
            fprintf(stderr, "yoyakuctl: adding the account: %s", yk_pgres_error(r));
        else if (yk_pgres_rows(r) != 1)
            fprintf(stderr, "yoyakuctl: the login %s is taken\n", login);
        else
            rc = 0;
        yk_pgres_free(r);
    } else if (strcmp(verb, "list") == 0 && n == 1) {
        if ((c = ctl_connect()) == NULL)
            return 1;
        yk_pgres *r = yk_pg_exec_sync(c,
                                      "SELECT login, role, CASE WHEN disabled_at IS NULL THEN"
                                      " 'active' ELSE 'disabled' END, name FROM staff"
                                      " ORDER BY login",
                                      0, NULL);
        if (yk_pgres_ok(r)) {
            for (int i = 0; i < yk_pgres_rows(r); i++)
                printf("%s\t%s\t%s\t%s\n", yk_pgres_text(r, i, 0), yk_pgres_text(r, i, 1),
                       yk_pgres_text(r, i, 2), yk_pgres_text(r, i, 3));
            rc = 0;
        } else {
            fprintf(stderr, "yoyakuctl: listing: %s", yk_pgres_error(r));
        }
        yk_pgres_free(r);
    } else if ((strcmp(verb, "disable") == 0 || strcmp(verb, "password") == 0) && n == 2) {
        bool disable = strcmp(verb, "disable") == 0;
        if ((!disable && ctl_password_hash(hash) != 0) || (c = ctl_connect()) == NULL)
            return 1;
        const char *p[] = {args[1], disable ? NULL : hash};
        yk_pgres *r = yk_pg_exec_sync(
            c,
            "WITH u AS (UPDATE staff SET updated_at = now(),"
            " disabled_at = CASE WHEN $2::text IS NULL THEN coalesce(disabled_at, now())"
            " ELSE disabled_at END, password_hash = coalesce($2, password_hash)"
            " WHERE login = $1 RETURNING login),"
            " s AS (UPDATE staff_sessions ss SET revoked_at = now() FROM u"
            " WHERE ss.login = u.login AND ss.revoked_at IS NULL)"
            " SELECT login FROM u",
            2, p);
        if (!yk_pgres_ok(r))
            fprintf(stderr, "yoyakuctl: %s: %s", verb, yk_pgres_error(r));
        else if (yk_pgres_rows(r) != 1)
            fprintf(stderr, "yoyakuctl: no staff account %s\n", args[1]);
        else
            rc = 0;
        yk_pgres_free(r);
    } else {
        fprintf(stderr, "yoyakuctl: staff add|list|disable L|password L\n");
        return 2;
    }
    yk_pg_sync_close(c);
    return rc;
}

static int cmd_token_create(const char *name, const char *role)
{
    if (yk_token_init() != 0) {
        fprintf(stderr, "yoyakuctl: libsodium init failed\n");
        return 1;
    }
    char tok[YK_TOKEN_LEN + 1], hash[YK_HASH_HEX_LEN + 1];
    yk_token_new(tok);
    yk_token_sha256_hex(tok, strlen(tok), hash);
    yk_pg_sync *c = ctl_connect();
    if (c == NULL)
        return 1;
    const char *p[] = {name, hash, role};
    int rc =
        ctl_exec(c, "storing the token",
                 "INSERT INTO admin_tokens (name, token_hash, role) VALUES ($1, $2, $3)", 3, p);
    yk_pg_sync_close(c);
    if (rc != 0)
        return 1;
    printf("%s\n", tok); /* the only copy: only its hash is stored */
    return 0;
}

int main(int argc, char **argv)
{
    const yk_cf_entry table[] = {
        YK_CF_SHARED(yk_setting_log_format, &log_format),
        YK_CF_SHARED(yk_setting_log_level, &log_level),
        YK_CF_SHARED(yk_setting_partitions, &ctl_partitions),
        YK_CF_SHARED(yk_setting_pg, &ctl_pg_conninfo),
        YK_CF_SHARED(yk_setting_redis, &ctl_redis_addr),
        YK_CF_STRING("YOYAKU_SQL_DIR", &sql_dir, YK_SOURCE_DIR "/proto/sql",
                     "directory of the NNNN_*.sql migrations"),
    };
    /* Global options go to yk_config_main; everything else is the command and its arguments. */
    char **opts = calloc((size_t)argc + 1, sizeof *opts),
         **cmd = calloc((size_t)argc + 1, sizeof *cmd);
    if (opts == NULL || cmd == NULL)
        return 1;
    int nopts = 0, ncmd = 0;
    opts[nopts++] = argv[0];
    for (int i = 1; i < argc; i++) {
        bool global = strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 ||
                      strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "--config") == 0;
        if (global)
            opts[nopts++] = argv[i];
        else
            cmd[ncmd++] = argv[i];
    }
    int rc = yk_config_main(nopts, opts, USAGE, table, sizeof table / sizeof table[0]);
    if (rc != 0) {
        free(opts);
        free(cmd);
        return rc > 0 ? 0 : 2;
    }
    yk_log_init("ctl", log_level);

    rc = 2;
    if (ncmd == 1 && strcmp(cmd[0], "migrate") == 0) {
        rc = cmd_migrate();
    } else if (ncmd >= 2 && strcmp(cmd[0], "token") == 0 && strcmp(cmd[1], "create") == 0) {
        const char *name = ctl_opt(cmd + 2, ncmd - 2, "--name"),
                   *role = ctl_opt(cmd + 2, ncmd - 2, "--role");
        if (name && *name && yk_text_valid_utf8(name, strlen(name)) && (!role || ctl_role_ok(role)))
            rc = cmd_token_create(name, role ? role : "owner");
        else
            fprintf(stderr, "yoyakuctl: token create needs --name NAME (non-empty UTF-8) and "
                            "optionally --role owner|staff|desk\n");
    } else if (ncmd >= 1 && strcmp(cmd[0], "dead-letter") == 0) {
        rc = ctl_dead_letter(cmd + 1, ncmd - 1);
    } else if (ncmd >= 1 && strcmp(cmd[0], "staff") == 0) {
        rc = cmd_staff(cmd + 1, ncmd - 1);
    } else if (ncmd == 1 && strcmp(cmd[0], "status") == 0) {
        rc = ctl_status();
    } else if (ncmd == 2 && strcmp(cmd[0], "token") == 0 && strcmp(cmd[1], "list") == 0) {
        rc = ctl_token_list();
    } else if (ncmd == 3 && strcmp(cmd[0], "token") == 0 && strcmp(cmd[1], "revoke") == 0) {
        rc = ctl_token_revoke(cmd[2]);
    } else if (ncmd == 3 && strcmp(cmd[0], "event") == 0 && strcmp(cmd[1], "export") == 0) {
        rc = ctl_event_export(cmd[2]);
    } else if (ncmd == 3 && strcmp(cmd[0], "event") == 0 && strcmp(cmd[1], "import") == 0) {
        rc = ctl_event_import(cmd[2]);
    } else if (ncmd >= 2 && strcmp(cmd[0], "purge") == 0) {
        const char *days = ctl_opt(cmd + 1, ncmd - 1, "--older-than");
        rc = days ? ctl_purge(days) : 2;
        if (!days)
            fprintf(stderr, "yoyakuctl: purge --older-than DAYS\n");
    } else {
        fprintf(stderr, "yoyakuctl: %s%s\n%s\n", ncmd ? "unknown command: " : "missing command",
                ncmd ? cmd[0] : "", USAGE);
    }
    free(opts);
    free(cmd);
    return rc;
}
