/* web: the booking pages (static files from YOYAKU_WEB_DIR, read once at start) served by the
 * ingress next to the API: /, /events/{slug}, /bookings/{id}, /admin and /assets/{file}. */
#ifndef WEB_H
#define WEB_H

#include "yk_http.h"

/* Loads the files; 0, or -1 (logged) when the directory cannot be read: the API still works. */
int web_load(const char *dir);
/* Answers req if its path is a page or an asset; returns 0 when the path is not the web's. */
int web_handle(yk_http_req *req);
void web_free(void);

#endif
