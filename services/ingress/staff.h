/* staff: staff accounts and their sessions — POST /v1/admin/login (before any caller is known),
 * logout, me, the accounts (owner) and the audit log (owner). */
#ifndef STAFF_H
#define STAFF_H

#include "admin.h"
#include "yk_http.h"

/* Once, after the settings are read: the failed sign-in counters (YOYAKU_RATE_LOGIN) and the
 * stand-in hash an unknown login is checked against. 0 or -1. */
__attribute__((warn_unused_result)) int staff_init(void);

/* POST /v1/admin/login: answers req, now or after the password is checked off the loop. */
void staff_login(yk_http_req *req);

/* Admin handlers (admin_handler): each answers c->req and frees c. */
void staff_logout(admin_ctx *c, cat_event *unused);
void staff_me(admin_ctx *c, cat_event *unused);
void staff_list(admin_ctx *c, cat_event *unused);
void staff_create(admin_ctx *c, cat_event *unused);
void staff_patch(admin_ctx *c, cat_event *unused);
void staff_audit(admin_ctx *c, cat_event *unused);

#endif
