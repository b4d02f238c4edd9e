/* metrics: the ingress's /metrics page and the per-request observer that feeds it. */
#ifndef METRICS_H
#define METRICS_H

#include "yk_http.h"

/* yk_http observer: counts every answered request by route and status. */
void metrics_observe(const yk_http_req *req, int status, void *ud);
/* GET /metrics: counters plus stream statistics collected from Redis now. */
void metrics_handle(yk_http_req *req);
void metrics_free(void);

#endif
