/* auth: who is calling an admin route — an API token (Authorization: Bearer) or a staff session
 * (the yoyaku_session cookie) — with its role, the Origin check of cookie calls that change state,
 * and the audit row of every state-changing call, all in one PostgreSQL statement. */
#ifndef AUTH_H
#define AUTH_H

#include "admin.h"

#define AUTH_COOKIE "yoyaku_session"

/* Authenticates c (c->req, c->route set): on success sets c->role, c->actor, c->login (staff
 * only), c->session (the cookie's hash, cookie calls only), writes the audit row of a `writes`
 * route the caller's role allows, and calls next(c); otherwise answers 401, 403 (a cookie call
 * that changes state without the console's Origin) or 503, and frees c. */
void auth_admin(admin_ctx *c, void (*next)(admin_ctx *c));

/* The role's rank (ROLE_*), or 0 for a string that names none. */
admin_role auth_role(const char *name);
const char *auth_role_name(admin_role role);

/* The value of cookie `name` in a Cookie header (NULL-safe) copied into out (outlen bytes): 1 when
 * present and it fits, else 0 and out "". */
int auth_cookie(const char *header, const char *name, char *out, size_t outlen);

#endif
