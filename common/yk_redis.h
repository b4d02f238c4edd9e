/* yk_redis: one hiredis async connection on a libuv loop that reconnects by itself.
 * Every submitted command's callback runs exactly once: with the reply, or with NULL. */
#ifndef YK_REDIS_H
#define YK_REDIS_H

#include <hiredis/hiredis.h> /* until every service reads replies through yk_reply.h */
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "yk_reply.h"

typedef struct yk_redis yk_redis;

/* A command's completion, embedded by the caller in its own state (no allocation per command).
 * reply is owned by hiredis and valid only during the callback; NULL means the command could not
 * be sent or the connection failed before its reply. For a SUBSCRIBE the callback runs once per
 * message for as long as the connection lives, then once with NULL. */
typedef struct yk_redis_op yk_redis_op;
struct yk_redis_op {
    void (*cb)(yk_redis_op *op, yk_reply *reply);
};

/* Called after every (re)connection, e.g. to SUBSCRIBE again or load scripts. */
typedef void (*yk_redis_on_connect)(yk_redis *r, void *ud);

/* addr: as yk_addr_parse reads it (default port 6379); -1 when it is malformed. Connection is
 * attempted at once and, after a failure or loss, again every retry_ms. The caller owns the result;
 * release with yk_redis_close. */
__attribute__((warn_unused_result)) int yk_redis_open(yk_redis **out, uv_loop_t *loop,
                                                      const char *addr, uint64_t retry_ms,
                                                      yk_redis_on_connect on_connect, void *ud);
/* Disconnects (pending callbacks get NULL) and frees once every handle is closed. */
void yk_redis_close(yk_redis *r);
int yk_redis_connected(const yk_redis *r);
/* True when connected and the server answered a health probe within the last second. */
int yk_redis_ready(const yk_redis *r);

/* Submits one command given as argv (lengths in argvlen, or NULL for NUL-terminated strings).
 * op may be NULL for fire-and-forget. When not connected op->cb(op, NULL) runs before return. */
void yk_redis_argv(yk_redis *r, yk_redis_op *op, int argc, const char **argv, const size_t *argvlen);
/* printf-style (hiredis format: %s, %b with pointer+length, %d…) variant of yk_redis_argv. */
void yk_redis_cmd(yk_redis *r, yk_redis_op *op, const char *fmt, ...);

#endif
