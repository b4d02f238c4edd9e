/* fuzz_io: stand-ins for the ingress's I/O (yk_http's responders and streams, yk_redis, yk_pg,
 * yk_notify) so that a harness drives the real router and routes without sockets or servers.
 * Every Redis command and PostgreSQL query is queued and, when the harness settles, failed with
 * NULL as a lost connection would be — all but the admin caller's lookup, which finds a caller
 * (its role picked by the credential's hash) so that the admin routes' own checks run. Every
 * answer is checked as it is given. */
#ifndef FUZZ_IO_H
#define FUZZ_IO_H

#include <uv.h>

#include "yk_http.h"

/* The request now in flight: the answer checks below apply to it. */
void fuzz_io_begin(yk_http_req *req);
/* Runs what the request waits for — queued commands and queries failed with NULL, stream drains,
 * idle (a harness's hook), the loop without blocking — until nothing moves. Aborts (a finding)
 * unless the request was answered exactly once by then. */
void fuzz_io_settle(uv_loop_t *loop, void (*idle)(void));

#endif
