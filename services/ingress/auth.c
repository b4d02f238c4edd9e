/* auth: the admin caller's identity and role, the Origin check and the audit row. One statement
 * finds the token or the session and, for a call that changes state and that the role allows,
 * inserts the audit row: no round trip is added to an admin call. */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingress.h"
#include "yk_token.h"

admin_role auth_role(const char *name)
{
    return !name                        ? 0
           : strcmp(name, "owner") == 0 ? ROLE_OWNER
           : strcmp(name, "staff") == 0 ? ROLE_STAFF
           : strcmp(name, "desk") == 0  ? ROLE_DESK
                                        : 0;
}

const char *auth_role_name(admin_role role)
{
    return role == ROLE_OWNER ? "owner" : role == ROLE_STAFF ? "staff" : "desk";
}

int auth_cookie(const char *header, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    out[0] = '\0';
    for (const char *p = header; p && *p;) {
        p += strspn(p, " \t;");
        const char *end = p + strcspn(p, ";");
        if ((size_t)(end - p) > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            size_t len = (size_t)(end - p) - n - 1;
            while (len > 0 && (p[n + 1 + len - 1] == ' ' || p[n + 1 + len - 1] == '\t'))
                len--;
            if (len == 0 || len >= outlen)
                return 0;
            memcpy(out, p + n + 1, len);
            out[len] = '\0';
            return 1;
        }
        p = end;
    }
    return 0;
}

/* $1 'b' (token) or 'c' (session), $2 the credential's hash, $3 the rank the audit row needs (0:
 * no audit row), $4 the action, $5 the target. One row (role, actor, login, name) or none. */
static const char sql_auth[] =
    "WITH who AS ("
    " SELECT role, 'token:' || name AS actor, NULL::text AS login, name FROM admin_tokens"
    " WHERE $1 = 'b' AND token_hash = $2 AND revoked_at IS NULL"
    " UNION ALL"
    " SELECT s.role, 'staff:' || s.login, s.login, s.name FROM staff_sessions ss"
    " JOIN staff s ON s.login = ss.login WHERE $1 = 'c' AND ss.session_hash = $2"
    " AND ss.revoked_at IS NULL AND ss.expires_at > now() AND s.disabled_at IS NULL"
    "), audit AS ("
    " INSERT INTO audit_log (actor, action, target) SELECT actor, $4, $5 FROM who"
    " WHERE $3::int > 0"
    " AND CASE role WHEN 'owner' THEN 3 WHEN 'staff' THEN 2 ELSE 1 END >= $3::int"
    ")"
    " SELECT role, actor, login, name FROM who LIMIT 1";

typedef void (*auth_next)(admin_ctx *c);

static int audit_word(const char *v, size_t max)
{
    size_t n = v ? strlen(v) : 0;
    return n > 0 && n <= max && strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* The audit row's target into out: the path's parameter, else what a call without one acts on —
 * the slug or login a creation's body names, the booking number of a check-in (typed, or in its
 * code YK1-<number>-…). Only values of those shapes are taken: the log never holds a booker's
 * value or a password, and a body the handler will refuse leaves "". */
static void audit_target(const admin_ctx *c, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", c->slug);
    if (c->slug[0] || !c->route->writes || c->req->body_len == 0)
        return;
    const char *first = c->route->path[0];
    const char *key = strcmp(first, "events") == 0    ? "slug"
                      : strcmp(first, "staff") == 0   ? "login"
                      : strcmp(first, "checkin") == 0 ? "code"
                                                      : NULL;
    if (key == NULL)
        return;
    json_t *body = json_loadb(c->req->body, c->req->body_len, 0, NULL);
    const char *v = json_string_value(json_object_get(body, key));
    if (v && strcmp(key, "code") == 0) {
        size_t digits = strncmp(v, "YK1-", 4) == 0 ? strspn(v + 4, "0123456789") : 0;
        if (digits > 0 && digits <= 18 && v[4 + digits] == '-')
            snprintf(out, outlen, "%.*s", (int)digits, v + 4);
        else if (strspn(v, "0123456789") == strlen(v) && strlen(v) <= 18)
            snprintf(out, outlen, "%s", v);
    } else if (audit_word(v, 64)) {
        snprintf(out, outlen, "%s", v);
    }
    json_decref(body);
}

/* The continuation of one authentication, kept beside the context's PostgreSQL op. */
static void auth_cb(yk_pg_op *op, yk_pgres *res)
{
    admin_ctx *c = (admin_ctx *)op;
    admin_role role =
        yk_pgres_ok(res) && yk_pgres_rows(res) == 1 ? auth_role(yk_pgres_text(res, 0, 0)) : 0;
    if (!yk_pgres_ok(res)) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
        return;
    }
    if (role == 0) {
        yk_http_respond_error(c->req, 401, "unauthorized",
                              "A valid admin token or staff session is required.");
        admin_ctx_free(c);
        return;
    }
    c->role = role;
    snprintf(c->actor, sizeof c->actor, "%s", yk_pgres_text(res, 0, 1));
    snprintf(c->login, sizeof c->login, "%s", yk_pgres_text(res, 0, 2));
    admin_keep(c, c->name = strdup(yk_pgres_text(res, 0, 3)));
    c->argc = 0;
    auth_next next = c->next;
    next(c);
}

void auth_admin(admin_ctx *c, void (*next)(admin_ctx *c))
{
    yk_http_req *req = c->req;
    const char *auth = req->headers[YK_HDR_AUTHORIZATION];
    char cookie[64];
    const char *kind;
    char hash[YK_HASH_HEX_LEN + 1];
    if (auth != NULL) {
        size_t n = strncmp(auth, "Bearer ", 7) == 0 ? strlen(auth + 7) : 0;
        if (n < 16 || n > 256) {
            yk_http_respond_error(req, 401, "unauthorized", "A valid admin token is required.");
            admin_ctx_free(c);
            return;
        }
        kind = "b";
        yk_token_sha256_hex(auth + 7, n, hash);
    } else if (auth_cookie(req->headers[YK_HDR_COOKIE], AUTH_COOKIE, cookie, sizeof cookie)) {
        /* SameSite=Strict keeps the cookie off other sites' requests in today's browsers; the
         * Origin check keeps a state-changing call from another origin out everywhere. */
        const char *origin = req->headers[YK_HDR_ORIGIN];
        if (c->route->writes && (origin == NULL || strcmp(origin, ingress.origin) != 0)) {
            yk_http_respond_error(req, 403, "forbidden",
                                  "A change made with a session must come from the console.");
            admin_ctx_free(c);
            return;
        }
        kind = "c";
        yk_token_sha256_hex(cookie, strlen(cookie), hash);
        snprintf(c->session, sizeof c->session, "%s", hash);
    } else {
        yk_http_respond_error(req, 401, "unauthorized",
                              "A valid admin token or staff session is required.");
        admin_ctx_free(c);
        return;
    }
    char rank[4], action[160];
    snprintf(rank, sizeof rank, "%d", c->route->writes ? (int)c->route->role : 0);
    /* The route's pattern ("POST /v1/admin/bookings/{id}/cancel"); target holds the value. */
    size_t len = (size_t)snprintf(action, sizeof action, "%s /v1/admin",
                                  req->method == YK_M_PATCH  ? "PATCH"
                                  : req->method == YK_M_PUT  ? "PUT"
                                  : req->method == YK_M_POST ? "POST"
                                                             : "GET");
    for (int i = 0; i < 4 && c->route->path[i] && len < sizeof action; i++) {
        const char *seg = c->route->path[i];
        if (strcmp(seg, "*") == 0)
            seg = c->route->event                           ? "{slug}"
                  : strcmp(c->route->path[0], "staff") == 0 ? "{login}"
                                                            : "{id}";
        len += (size_t)snprintf(action + len, sizeof action - len, "/%s", seg);
    }
    char target[72];
    audit_target(c, target, sizeof target);
    const char *argv[5] = {kind, hash, rank, action, target};
    c->next = next;
    c->op.cb = auth_cb;
    if (yk_pg_query(ingress.pg, &c->op, sql_auth, 5, argv) != 0) {
        ingress_respond_unavailable(req);
        admin_ctx_free(c);
    }
}
