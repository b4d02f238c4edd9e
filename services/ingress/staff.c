/* staff: sign-in (argon2id off the loop through pwhash.h's pool, failures counted per client
 * address and per login), sessions (a random id in an HttpOnly cookie, only its SHA-256 stored),
 * the staff accounts and the audit log. Each request owns its context: login_ctx for a sign-in,
 * admin_ctx for the rest. */
#include "staff.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "definition.h"
#include "ingress.h"
#include "client.h"
#include "failrate.h"
#include "pwhash.h"
#include "ratelimit.h"
#include "yk_log.h"
#include "yk_text.h"
#include "yk_token.h"

#define STAFF_PASSWORD_MIN 10 /* characters */
#define STAFF_NAME_MAX 100    /* characters */

static failrate failed_by_addr, failed_by_login;
/* An unknown login is checked against this, so that its answer takes as long as a wrong
 * password's. */
static char stand_in_hash[PWHASH_HASH_MAX];

int staff_init(void)
{
    failrate_init(&failed_by_addr, (int)ingress.fail_login);
    failrate_init(&failed_by_login, (int)ingress.fail_login);
    char random[YK_TOKEN_LEN + 1];
    yk_token_new(random);
    return crypto_pwhash_str(stand_in_hash, random, strlen(random), PWHASH_OPSLIMIT,
                             PWHASH_MEMLIMIT);
}

/* The staff JSON of a row: login, name, role, disabled, created_at. */
#define STAFF_JSON                                                                                 \
    "json_build_object('login', login, 'name', name, 'role', role, 'disabled',"                    \
    " disabled_at IS NOT NULL, 'created_at', yk_rfc3339(created_at, 'UTC'))::text"

/* --- sign-in --------------------------------------------------------------------------------- */

typedef struct {
    yk_pg_op op;
    yk_http_req *req;
    char login[72];
    char *password; /* wiped and freed with the context */
    char hash[PWHASH_HASH_MAX];
    char name[512], role[8];
    char session[YK_TOKEN_LEN + 1];
    unsigned char addr[YK_IP_LEN], key[FAILRATE_KEY]; /* the counters' keys: client, login */
    int by_addr, by_login;                            /* the attempt is counted there */
    int known;                                        /* the login names an enabled account */
} login_ctx;

static void login_free(login_ctx *l)
{
    if (l->password) {
        sodium_memzero(l->password, strlen(l->password));
        free(l->password);
    }
    free(l);
}

/* A success, or a failure to check, is no wrong guess. */
static void login_give_back(login_ctx *l)
{
    if (l->by_addr)
        failrate_give_back(&failed_by_addr, l->addr);
    if (l->by_login)
        failrate_give_back(&failed_by_login, l->key);
}

static void login_wrong(yk_http_req *req)
{
    yk_http_respond_error(req, 401, "wrong_password", "The login or the password is not right.");
}

static void session_cb(yk_pg_op *op, yk_pgres *res)
{
    login_ctx *l = (login_ctx *)op;
    if (!yk_pgres_ok(res) || yk_pgres_rows(res) != 1) {
        ingress_respond_unavailable(l->req);
        login_free(l);
        return;
    }
    char cookie[256];
    snprintf(cookie, sizeof cookie,
             "Set-Cookie: " AUTH_COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%lld%s\r\n"
             "Cache-Control: no-store\r\n",
             l->session, (long long)ingress.session_ttl,
             strncmp(ingress.public_url, "https://", 8) == 0 ? "; Secure" : "");
    ingress_respond_json(l->req, 200,
                         json_pack("{s:{s:s,s:s,s:s},s:I}", "staff", "login", l->login, "name",
                                   l->name, "role", l->role, "expires_in",
                                   (json_int_t)ingress.session_ttl),
                         cookie);
    yk_info("staff login=%s signed in", l->login);
    login_free(l);
}

static void verified(void *ud, int ok)
{
    login_ctx *l = ud;
    if (ok != 0)
        login_give_back(l);
    if (ok < 0) {
        ingress_respond_unavailable(l->req);
    } else if (ok == 0 || !l->known) {
        login_wrong(l->req);
    } else {
        char hash[YK_HASH_HEX_LEN + 1], ttl[24];
        yk_token_new(l->session);
        yk_token_sha256_hex(l->session, strlen(l->session), hash);
        snprintf(ttl, sizeof ttl, "%lld", (long long)ingress.session_ttl);
        const char *argv[] = {hash, l->login, ttl};
        l->op.cb = session_cb;
        if (yk_pg_query(ingress.pg, &l->op,
                        "WITH s AS (INSERT INTO staff_sessions (session_hash, login, expires_at)"
                        " VALUES ($1, $2, now() + make_interval(secs => $3::int)) RETURNING login),"
                        " a AS (INSERT INTO audit_log (actor, action) SELECT 'staff:' || login,"
                        " 'POST /v1/admin/login' FROM s) SELECT 1 FROM s",
                        3, argv) == 0)
            return;
        ingress_respond_unavailable(l->req);
    }
    login_free(l);
}

static void account_cb(yk_pg_op *op, yk_pgres *res)
{
    login_ctx *l = (login_ctx *)op;
    if (!yk_pgres_ok(res)) {
        login_give_back(l);
        ingress_respond_unavailable(l->req);
        login_free(l);
        return;
    }
    l->known = yk_pgres_rows(res) == 1;
    if (l->known) {
        snprintf(l->hash, sizeof l->hash, "%s", yk_pgres_text(res, 0, 0));
        snprintf(l->name, sizeof l->name, "%s", yk_pgres_text(res, 0, 1));
        snprintf(l->role, sizeof l->role, "%s", yk_pgres_text(res, 0, 2));
    }
    if (pwhash_verify_start(l->known ? l->hash : stand_in_hash, l->password, verified, l) != 0) {
        login_give_back(l);
        ingress_respond_unavailable(l->req);
        login_free(l);
    }
}

/* Counts the attempt in both counters; the seconds to wait (> 0, after answering 429) when one of
 * them is full, else 0. */
static int login_take(login_ctx *l)
{
    int limited = client_limited(l->req, l->addr);
    unsigned char digest[crypto_generichash_BYTES];
    crypto_generichash(digest, sizeof digest, (const unsigned char *)l->login, strlen(l->login),
                       NULL, 0);
    memcpy(l->key, digest, sizeof l->key);
    int wait = 0;
    if (limited) {
        wait = failrate_take(&failed_by_addr, l->addr, time(NULL));
        l->by_addr = wait == 0;
    }
    if (wait == 0) { /* a login is guarded from everywhere, this machine included */
        wait = failrate_take(&failed_by_login, l->key, time(NULL));
        l->by_login = wait == 0;
    }
    if (wait > 0) {
        login_give_back(l);
        char retry[40];
        snprintf(retry, sizeof retry, "Retry-After: %d\r\n", wait);
        ingress_respond_json(l->req, 429,
                             json_pack("{s:s,s:s}", "error", "rate_limited", "message",
                                       "Too many failed sign-ins; try again later."),
                             retry);
    }
    return wait;
}

void staff_login(yk_http_req *req)
{
    static const char *const known[] = {"login", "password", NULL};
    if (ratelimit_refuse(req, RATE_LOGIN))
        return;
    json_t *errors = json_array();
    json_t *body = ingress_load_object(req, known, errors);
    if (body == NULL) {
        json_decref(errors);
        return;
    }
    for (int i = 0; known[i] && json_is_object(body); i++) {
        json_t *v = json_object_get(body, known[i]);
        if (v && !json_is_string(v))
            ingress_add_error(errors, known[i], "type");
        else if (v == NULL || json_string_length(v) == 0)
            ingress_add_error(errors, known[i], "required");
    }
    if (json_array_size(errors) > 0) {
        json_decref(body);
        ingress_respond_invalid(req, errors, "login and password are required.");
        return;
    }
    json_decref(errors);
    /* Typed on a phone: full-width letters, capitals and spaces around are the same login. */
    char *login = yk_text_identity(json_string_value(json_object_get(body, "login")));
    const char *password = json_string_value(json_object_get(body, "password"));
    login_ctx *l = calloc(1, sizeof *l);
    if (l == NULL || login == NULL || (l->password = strdup(password)) == NULL) {
        free(login);
        free(l);
        json_decref(body);
        ingress_respond_unavailable(req);
        return;
    }
    json_decref(body);
    l->req = req;
    /* Longer than any login: no account has it (not its first 64 bytes' account either). */
    if (strlen(login) <= 64)
        snprintf(l->login, sizeof l->login, "%s", login);
    free(login);
    if (login_take(l) > 0) {
        login_free(l);
        return;
    }
    if (strlen(l->password) > PWHASH_PASSWORD_MAX) { /* wrong, without hashing it */
        login_wrong(req);
        login_free(l);
        return;
    }
    const char *argv[] = {l->login};
    l->op.cb = account_cb;
    if (yk_pg_query(ingress.pg, &l->op,
                    "SELECT password_hash, name, role FROM staff WHERE login = $1"
                    " AND disabled_at IS NULL",
                    1, argv) != 0) {
        login_give_back(l);
        ingress_respond_unavailable(req);
        login_free(l);
    }
}

/* --- the caller's session -------------------------------------------------------------------- */

static void logout_cb(yk_pg_op *op, yk_pgres *res)
{
    admin_ctx *c = (admin_ctx *)op;
    if (!yk_pgres_ok(res))
        ingress_respond_unavailable(c->req);
    else
        ingress_respond_json(c->req, 200, json_pack("{s:b}", "signed_out", 1),
                             "Set-Cookie: " AUTH_COOKIE "=; HttpOnly; SameSite=Strict; Path=/; "
                             "Max-Age=0\r\nCache-Control: no-store\r\n");
    admin_ctx_free(c);
}

void staff_logout(admin_ctx *c, cat_event *unused)
{
    (void)unused;
    const char *argv[] = {c->session};
    c->op.cb = logout_cb;
    if (yk_pg_query(ingress.pg, &c->op,
                    "UPDATE staff_sessions SET revoked_at = now() WHERE session_hash = $1"
                    " AND revoked_at IS NULL",
                    1, argv) != 0) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
    }
}

void staff_me(admin_ctx *c, cat_event *unused)
{
    (void)unused;
    const char *role = auth_role_name(c->role), *name = c->name ? c->name : "";
    ingress_respond_json(
        c->req, 200,
        c->login[0]
            ? json_pack("{s:{s:s,s:s,s:s}}", "staff", "login", c->login, "name", name, "role", role)
            : json_pack("{s:{s:s,s:s}}", "token", "name", name, "role", role),
        "Cache-Control: no-store\r\n");
    admin_ctx_free(c);
}

/* --- accounts -------------------------------------------------------------------------------- */

/* Answers the first column of a one-row result as {"<key>": <json>} with status, 404 without a
 * row, 503 on failure. */
static void respond_row(admin_ctx *c, yk_pgres *res, int status, const char *key)
{
    if (!yk_pgres_ok(res)) {
        if (strcmp(yk_pgres_sqlstate(res), "23505") == 0)
            yk_http_respond_error(c->req, 409, "login_taken", "This login is taken.");
        else
            ingress_respond_unavailable(c->req);
    } else if (yk_pgres_rows(res) == 1 && yk_pgres_null(res, 0, 0)) {
        yk_http_respond_error(c->req, 409, "last_owner",
                              "This is the last owner: add another owner before disabling or "
                              "demoting this one.");
    } else if (yk_pgres_rows(res) != 1) {
        yk_http_respond_error(c->req, status == 201 ? 409 : 404,
                              status == 201 ? "login_taken" : "not_found",
                              status == 201 ? "This login is taken." : "No such staff account.");
    } else {
        json_t *v = json_loads(yk_pgres_text(res, 0, 0), 0, NULL);
        ingress_respond_json(c->req, status, v ? json_pack("{s:o}", key, v) : NULL, NULL);
    }
    admin_ctx_free(c);
}

static void list_cb(yk_pg_op *op, yk_pgres *res)
{
    admin_ctx *c = (admin_ctx *)op;
    respond_row(c, res, 200, "staff");
}

void staff_list(admin_ctx *c, cat_event *unused)
{
    (void)unused;
    c->op.cb = list_cb;
    if (yk_pg_query(ingress.pg, &c->op,
                    "SELECT coalesce(json_agg(x.j::json ORDER BY x.login), '[]')::text FROM"
                    " (SELECT login, " STAFF_JSON " AS j FROM staff) x",
                    0, NULL) != 0) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
    }
}

/* The account fields of a POST (create: all but disabled required) or PATCH body into c's
 * parameters $2.. (login is $1): name, role, password (hashed later), disabled; answers 400/422
 * and returns -1 when not valid. */
static int account_fields(admin_ctx *c, int create, char **password)
{
    json_t *body = admin_load_body(c, "The staff account is not valid.");
    if (body == NULL)
        return -1;
    json_t *errors = json_array();
    static const char *const known[] = {"login", "name", "role", "password", "disabled"};
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        size_t i = 0;
        while (i < 5 && strcmp(key, known[i]) != 0)
            i++;
        if (i == 5 || (i == 0 && !create))
            ingress_add_error(errors, key, "unknown_field");
    }
    json_t *login = json_object_get(body, "login"), *name = json_object_get(body, "name"),
           *role = json_object_get(body, "role"), *pw = json_object_get(body, "password"),
           *disabled = json_object_get(body, "disabled");
    if (create) {
        const char *s = json_string_value(login);
        size_t n = s ? strlen(s) : 0;
        if (login == NULL)
            ingress_add_error(errors, "login", "required");
        else if (!json_is_string(login))
            ingress_add_error(errors, "login", "type");
        else if (n == 0 || n > 64 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") != n)
            ingress_add_error(errors, "login", "pattern");
        else
            snprintf(c->slug, sizeof c->slug, "%s", s);
        if (name == NULL)
            ingress_add_error(errors, "name", "required");
        if (role == NULL)
            ingress_add_error(errors, "role", "required");
        if (pw == NULL)
            ingress_add_error(errors, "password", "required");
    }
    if (name && (!json_is_string(name) || json_string_length(name) == 0))
        ingress_add_error(errors, "name", json_is_string(name) ? "required" : "type");
    else if (name && (yk_text_length(json_string_value(name)) > STAFF_NAME_MAX))
        ingress_add_error(errors, "name", "too_long");
    else if (name && yk_text_has_crlf(json_string_value(name)))
        ingress_add_error(errors, "name", "pattern");
    if (role && !json_is_string(role))
        ingress_add_error(errors, "role", "type");
    else if (role && auth_role(json_string_value(role)) == 0)
        ingress_add_error(errors, "role", "unknown_option");
    if (pw && !json_is_string(pw))
        ingress_add_error(errors, "password", "type");
    else if (pw && (yk_text_length(json_string_value(pw)) < STAFF_PASSWORD_MIN ||
                    json_string_length(pw) > PWHASH_PASSWORD_MAX))
        ingress_add_error(errors, "password", "pattern"); /* at least 10 characters */
    if (disabled && !json_is_boolean(disabled))
        ingress_add_error(errors, "disabled", "type");
    if (json_array_size(errors) > 0) {
        json_decref(body);
        ingress_respond_invalid(c->req, errors, "The staff account is not valid.");
        return -1;
    }
    json_decref(errors);
    admin_param_text(c, c->slug);
    admin_param_text(c, json_string_value(name));
    admin_param_text(c, json_string_value(role));
    admin_param_text(c, NULL); /* $4: the password's hash, once made */
    admin_param_text(c, disabled ? (json_is_true(disabled) ? "true" : "false") : NULL);
    *password = pw ? strdup(json_string_value(pw)) : NULL;
    json_decref(body);
    return pw && *password == NULL ? -1 : 0;
}

static const char sql_create[] =
    "INSERT INTO staff (login, name, role, password_hash) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (login) DO NOTHING RETURNING " STAFF_JSON;

/* Disabling an account or changing its password ends its sessions. The last enabled owner is
 * neither disabled nor demoted (nobody could manage accounts then): that change gives one NULL
 * row instead of the account. */
static const char sql_patch[] =
    "WITH last AS (SELECT 1 FROM staff WHERE login = $1 AND role = 'owner' AND disabled_at IS NULL"
    " AND (coalesce($3, 'owner') <> 'owner' OR coalesce($5::bool, false)) AND NOT EXISTS"
    " (SELECT 1 FROM staff o WHERE o.role = 'owner' AND o.disabled_at IS NULL AND o.login <> $1)),"
    " u AS (UPDATE staff SET name = coalesce($2, name), role = coalesce($3, role),"
    " password_hash = coalesce($4, password_hash), updated_at = now(),"
    " disabled_at = CASE WHEN $5::bool IS NULL THEN disabled_at WHEN $5::bool"
    " THEN coalesce(disabled_at, now()) END WHERE login = $1 AND NOT EXISTS (SELECT 1 FROM last)"
    " RETURNING *),"
    " r AS (UPDATE staff_sessions s SET revoked_at = now() FROM u WHERE s.login = u.login"
    " AND s.revoked_at IS NULL AND (u.disabled_at IS NOT NULL OR $4 IS NOT NULL))"
    " SELECT " STAFF_JSON " FROM u UNION ALL SELECT NULL FROM last";

static void created_cb(yk_pg_op *op, yk_pgres *res)
{
    admin_ctx *c = (admin_ctx *)op;
    respond_row(c, res, c->route->method == YK_M_POST ? 201 : 200, "staff");
}

static void account_write(admin_ctx *c)
{
    c->op.cb = created_cb;
    int create = c->route->method == YK_M_POST; /* sql_create has no $5 (disabled) */
    if (yk_pg_query(ingress.pg, &c->op, create ? sql_create : sql_patch, create ? 4 : 5, c->argv) !=
        0) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
    }
}

static void hashed(void *ud, const char *hash)
{
    admin_ctx *c = ud;
    if (hash == NULL) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
        return;
    }
    char *copy = strdup(hash);
    admin_keep(c, copy);
    c->argv[3] = copy;
    if (copy == NULL) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
        return;
    }
    account_write(c);
}

static void account_change(admin_ctx *c, int create)
{
    char *password = NULL;
    if (account_fields(c, create, &password) != 0) {
        admin_ctx_free(c);
        return;
    }
    if (password == NULL) {
        account_write(c);
        return;
    }
    int rc = pwhash_hash_start(password, hashed, c);
    sodium_memzero(password, strlen(password));
    free(password);
    if (rc != 0) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
    }
}

void staff_create(admin_ctx *c, cat_event *unused)
{
    (void)unused;
    account_change(c, 1);
}

void staff_patch(admin_ctx *c, cat_event *unused)
{
    (void)unused;
    account_change(c, 0);
}

/* --- audit ----------------------------------------------------------------------------------- */

static void audit_cb(yk_pg_op *op, yk_pgres *res)
{
    admin_ctx *c = (admin_ctx *)op;
    if (!yk_pgres_ok(res)) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
        return;
    }
    int n = yk_pgres_rows(res), shown = n > c->limit ? c->limit : n;
    json_t *list = json_array();
    for (int i = 0; i < shown; i++)
        json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s}", "at", yk_pgres_text(res, i, 1),
                                              "actor", yk_pgres_text(res, i, 2), "action",
                                              yk_pgres_text(res, i, 3), "target",
                                              yk_pgres_text(res, i, 4)));
    json_t *next = n > c->limit ? json_string(yk_pgres_text(res, shown - 1, 0)) : json_null();
    ingress_respond_json(c->req, 200, json_pack("{s:o,s:o}", "entries", list, "next_cursor", next),
                         NULL);
    admin_ctx_free(c);
}

void staff_audit(admin_ctx *c, cat_event *unused)
{
    (void)unused;
    char limit[16] = "", cursor[24] = "";
    c->limit = 100;
    json_t *errors = json_array();
    if (ingress_query_param(c->req->query, "limit", limit, sizeof limit) < 0 ||
        (limit[0] && !definition_limit(limit, &c->limit)))
        ingress_add_error(errors, "limit", "pattern");
    if (ingress_query_param(c->req->query, "cursor", cursor, sizeof cursor) < 0 ||
        (cursor[0] && !definition_cursor(cursor)))
        ingress_add_error(errors, "cursor", "pattern");
    if (json_array_size(errors) > 0) {
        ingress_respond_invalid(c->req, errors, "Query parameter not valid.");
        admin_ctx_free(c);
        return;
    }
    json_decref(errors);
    admin_param_text(c, cursor[0] ? cursor : NULL);
    admin_param_int(c, 0, c->limit + 1);
    c->op.cb = audit_cb;
    if (yk_pg_query(ingress.pg, &c->op,
                    "SELECT id, yk_rfc3339(at, 'UTC'), actor, action, target FROM audit_log"
                    " WHERE $1::bigint IS NULL OR id < $1::bigint ORDER BY id DESC LIMIT $2::int",
                    2, c->argv) != 0) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
    }
}
