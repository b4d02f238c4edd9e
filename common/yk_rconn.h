/* yk_rconn: one blocking Redis connection (hiredis) for a process that waits on its replies, like
 * the worker: commands, pipelines of pre-encoded RESP, and an arena for large reply trees. */
#ifndef YK_RCONN_H
#define YK_RCONN_H

#include <stddef.h>

#include "yk_reply.h"

typedef struct yk_rconn yk_rconn; /* opaque outside common/ */

/* The process must ignore SIGPIPE: a write to a connection the server closed then fails with an
 * error instead of ending the process. */

/* Connects to host:port, or to the unix socket host when port is 0, within connect_ms; a reply
 * slower than io_ms then fails the connection. NULL on failure (logged). yk_rconn_close frees. */
__attribute__((warn_unused_result)) yk_rconn *yk_rconn_open(const char *host, int port,
                                                            int connect_ms, int io_ms);

/* Connects as YOYAKU_REDIS names it: host:port, a unix socket, or redis-cluster://host:port,…
 * (seed nodes of a Redis Cluster: the slot map is read from one of them, each master is
 * connected when first needed, and every command goes to the master of its key's slot,
 * following MOVED and ASK and waiting out TRYAGAIN and CLUSTERDOWN; a pipeline's replies still
 * come back in the order of its commands, and an XREADGROUP/XREAD over streams of several masters
 * is sent to each and its replies merged). NULL on failure (logged). */
__attribute__((warn_unused_result)) yk_rconn *yk_rconn_open_addr(const char *addr, int connect_ms,
                                                                 int io_ms);

/* True when c talks to a Redis Cluster: reply channels are sharded (SPUBLISH). */
int yk_rconn_cluster(const yk_rconn *c);

/* Closes c (NULL is fine). */
void yk_rconn_close(yk_rconn *c);

/* The connection's error ("" when none). After any call here returned NULL or -1 the connection
 * is unusable: close it and open another. */
const char *yk_rconn_error(const yk_rconn *c);

/* Sends a command (argc C-string arguments) and waits for its reply. NULL when the connection
 * failed. The caller frees the reply with yk_rconn_free. */
__attribute__((warn_unused_result)) yk_reply *yk_rconn_command(yk_rconn *c, int argc,
                                                               const char *const *argv);

/* Frees a reply of yk_rconn_command or yk_rconn_get (NULL is fine). */
void yk_rconn_free(yk_reply *r);

/* Queues a command (hiredis encodes it); its reply comes from yk_rconn_get. 0 or -1. */
__attribute__((warn_unused_result)) int yk_rconn_append(yk_rconn *c, int argc,
                                                        const char *const *argv);

/* Queues len bytes of commands already RESP encoded (yk_resp); one yk_rconn_get per command. */
__attribute__((warn_unused_result)) int yk_rconn_append_raw(yk_rconn *c, const char *resp,
                                                            size_t len);

/* Sends whatever is queued and returns the next reply, NULL when the connection failed. The
 * caller frees it with yk_rconn_free. */
__attribute__((warn_unused_result)) yk_reply *yk_rconn_get(yk_rconn *c);

typedef struct yk_rconn_chunk yk_rconn_chunk;

/* Memory reused from reply to reply, so that a reply of thousands of elements costs a few
 * mallocs instead of one per element. Zero-initialise; yk_rconn_arena_free releases it. */
typedef struct {
    yk_rconn_chunk *head, *cur;
} yk_rconn_arena;

/* yk_rconn_command whose reply is built in a: valid until the next yk_rconn_command_in on a or
 * yk_rconn_arena_free, never given to yk_rconn_free. Its strings may be written to (cut in
 * place) by the caller: the memory is a's. NULL as for yk_rconn_command (or memory ran out). */
__attribute__((warn_unused_result)) yk_reply *
yk_rconn_command_in(yk_rconn *c, yk_rconn_arena *a, int argc, const char *const *argv);

/* yk_rconn_get whose reply is built in a, as for yk_rconn_command_in. */
__attribute__((warn_unused_result)) yk_reply *yk_rconn_get_in(yk_rconn *c, yk_rconn_arena *a);

/* Releases every chunk of a (and every reply in it). */
void yk_rconn_arena_free(yk_rconn_arena *a);

#endif
