/* routes_secret: POST /v1/events/{slug}/unlock and the access check of secret events' public
 * routes (routes_secret.c). */
#ifndef ROUTES_SECRET_H
#define ROUTES_SECRET_H

#include "catalogue.h"
#include "yk_http.h"

/* Once, after ingress's settings are read: the failed-unlock limit (YOYAKU_RATE_UNLOCK). */
void routes_secret_init(void);
/* 1 when a public caller may use e (borrowed): it is not secret, or the request carries a valid
 * X-Access-Token for it; else answers 401 password_required and returns 0. */
int routes_secret_allowed(yk_http_req *req, const cat_event *e);
/* POST /v1/events/{slug}/unlock for e (borrowed, NULL when unknown); answers req, now or after the
 * password is checked off the loop. */
void routes_secret_unlock(yk_http_req *req, const cat_event *e);

#endif
