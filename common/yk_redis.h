/* yk_redis: one hiredis async connection on a libuv loop that reconnects by itself and watches the
 * server's health. Every submitted command's callback runs exactly once: with the reply, or NULL.
 */
#ifndef YK_REDIS_H
#define YK_REDIS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "yk_reply.h"

typedef struct yk_redis yk_redis;

/* Health, all driven by the owner's loop (no thread):
 * - a probe (PING, or SUBSCRIBE YK_REDIS_PROBE_CHANNEL on a subscribed connection, where hiredis
 *   0.14 cannot route a PING's answer) is sent at connect and every YK_REDIS_PROBE_MS;
 * - ready = connected and a probe answered within the last YK_REDIS_READY_MS;
 * - a probe unanswered for YK_REDIS_STALL_MS (a stopped or hung server) drops the connection:
 *   every pending callback then gets NULL at once and reconnection starts. So no command waits
 *   longer than about YK_REDIS_STALL_MS + YK_REDIS_PROBE_MS for its answer or its NULL; a command
 *   slower than that on a healthy server (a long script) is failed the same way;
 * - a connect that has not completed within YK_REDIS_CONNECT_MS is abandoned and retried. */
#define YK_REDIS_PROBE_MS 250
#define YK_REDIS_READY_MS 1000
#define YK_REDIS_STALL_MS 1500
#define YK_REDIS_CONNECT_MS 1000
#define YK_REDIS_PROBE_CHANNEL "yk:probe"

/* A command's completion, embedded by the caller in its own state (no allocation per command).
 * reply is owned by hiredis and valid only during the callback; NULL means the command could not
 * be sent or the connection failed (or was dropped as stalled) before its reply. For a SUBSCRIBE
 * the callback runs once per message for as long as the connection lives, then once with NULL.
 * The callback never runs inside the yk_redis_argv/yk_redis_cmd call that submitted it: a command
 * that cannot be sent is failed from the loop, at the latest on its next iteration. The same op
 * may be submitted again (even from its own callback) and then gets one callback per submission. */
typedef struct yk_redis_op yk_redis_op;
struct yk_redis_op {
    void (*cb)(yk_redis_op *op, yk_reply *reply);
};

/* Called after every (re)connection, e.g. to SUBSCRIBE again or load scripts. */
typedef void (*yk_redis_on_connect)(yk_redis *r, void *ud);

/* addr: as yk_addr_parse reads it (default port 6379), or redis-cluster://host:port[,…] (seed
 * nodes of a Redis Cluster); -1 when it is malformed. Connection is
 * attempted at once and, after a failure (refused, timed out, stalled, lost), again after retry_ms,
 * for as long as r is open. The caller owns the result; release with yk_redis_close. */
__attribute__((warn_unused_result)) int yk_redis_open(yk_redis **out, uv_loop_t *loop,
                                                      const char *addr, uint64_t retry_ms,
                                                      yk_redis_on_connect on_connect, void *ud);
/* Disconnects: every pending callback (sent or waiting to be failed) runs with NULL before this
 * returns; r is freed once its handles are closed (the loop must run). Submitting after close is
 * not allowed, except from those callbacks (the command then fails at once, still with NULL). */
void yk_redis_close(yk_redis *r);
int yk_redis_connected(const yk_redis *r);
/* True when connected and the server answered a probe within the last YK_REDIS_READY_MS. */
int yk_redis_ready(const yk_redis *r);

/* Submits one command given as argv (lengths in argvlen, or NULL for NUL-terminated strings);
 * argv is copied before return. op may be NULL for fire-and-forget. */
void yk_redis_argv(yk_redis *r, yk_redis_op *op, int argc, const char **argv,
                   const size_t *argvlen);
/* printf-style (hiredis format: %s, %b with pointer+length, %d…) variant of yk_redis_argv. */
void yk_redis_cmd(yk_redis *r, yk_redis_op *op, const char *fmt, ...);

/* ---- Redis Cluster
 * With a redis-cluster:// address r is a cluster: it reads the slot map (CLUSTER SLOTS) from a
 * seed or a known node on a control connection, keeps one connection per master, and sends each
 * command to the master of its key's slot (the key of EVAL/EVALSHA is its first; keyless commands
 * go to any master, SCRIPT and FLUSHALL to every master, answered with the first master's reply).
 * MOVED updates the map and sends the command again where it points (then the map is read
 * anew); ASK sends ASKING and the command there; TRYAGAIN and CLUSTERDOWN send it again after a
 * growing pause (80 ms … 1.3 s, then the error is the answer). A lost master fails its pending
 * commands (NULL) and the map is read again until every slot has a reachable master (after a
 * failover, its promoted replica). Callbacks still run in the order the commands were submitted,
 * whatever master answered first (a reply that overtakes an earlier command is copied until its
 * turn): callers keep one connection's guarantees. on_connect runs each time every master is
 * connected again. Ready: every slot has a master, and each master's connection is ready.
 * Commands of one slot reach their master in order; a command sent again after MOVED/ASK may
 * overtake later ones of its slot (only while slots migrate). */

/* Subscribes op to channel: op's callback runs with each message ([kind, channel, payload],
 * kind "message" or "smessage"), as for SUBSCRIBE. sharded: in a cluster, SSUBSCRIBE at the
 * channel's slot's master (the publisher uses SPUBLISH, see yk_redis_cluster); on one Redis a
 * plain SUBSCRIBE. After a failover, on_connect must subscribe again. */
void yk_redis_subscribe(yk_redis *r, yk_redis_op *op, const char *channel, int sharded);

/* True when r is a cluster. */
int yk_redis_cluster(const yk_redis *r);

/* How many replicas must hold a write to key before it is confirmed: what yk_redis_set_replicas
 * set (0 until it is called), or with -1 there (YOYAKU_REDIS_REPLICAS's default) 1 when key's
 * master has a replica (a cluster: from CLUSTER SLOTS; one Redis: from INFO replication at each
 * connect), else 0. Call it right after yk_redis_open. */
int yk_redis_replicas(const yk_redis *r, const char *key);
void yk_redis_set_replicas(yk_redis *r, int n);

/* WAIT n timeout_ms on the connection that carries key's commands: op's reply is the number of
 * replicas that hold every write sent on that connection before it (an integer), an error, or
 * NULL. */
void yk_redis_wait(yk_redis *r, yk_redis_op *op, const char *key, int n, int timeout_ms);

#endif
