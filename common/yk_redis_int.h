/* yk_redis_int: what yk_redis.c and yk_redis_cluster.c share inside common/. */
#ifndef YK_REDIS_INT_H
#define YK_REDIS_INT_H

#include <stdarg.h>

#include "yk_redis.h"

typedef struct yk_acluster yk_acluster;

/* Submits len bytes of one RESP-encoded command on one connection (not a cluster). */
void yk_redis__raw(yk_redis *r, yk_redis_op *op, const char *cmd, size_t len);
/* Replicas of the server behind a (single) connection, from its last INFO replication; -1 when
 * not known yet. */
int yk_redis__replicas(const yk_redis *r);

/* A deep copy of r (hiredis objects: freeReplyObject frees it), NULL when memory ran out. */
struct redisReply *yk_redis__reply_copy(const struct redisReply *r);

/* The cluster behind a yk_redis opened with a redis-cluster:// address (yk_redis_cluster.c). */
yk_acluster *yk_redis__cluster_open(yk_redis *owner, uv_loop_t *loop, const char *url,
                                    uint64_t retry_ms, yk_redis_on_connect on_connect, void *ud);
void yk_redis__cluster_close(yk_acluster *cl);
int yk_redis__cluster_connected(const yk_acluster *cl);
int yk_redis__cluster_ready(const yk_acluster *cl);
void yk_redis__cluster_argv(yk_acluster *cl, yk_redis_op *op, int argc, const char **argv,
                            const size_t *argvlen);
void yk_redis__cluster_vcmd(yk_acluster *cl, yk_redis_op *op, const char *fmt, va_list ap);
void yk_redis__cluster_subscribe(yk_acluster *cl, yk_redis_op *op, const char *channel,
                                 int sharded);
void yk_redis__cluster_wait(yk_acluster *cl, yk_redis_op *op, const char *key, int n, int ms);
int yk_redis__cluster_replicas(const yk_acluster *cl, const char *key);

#endif
