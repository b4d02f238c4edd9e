/* yk_rconn_int: what yk_rconn.c and yk_rconn_cluster.c share inside common/ (hiredis types
 * allowed here only). */
#ifndef YK_RCONN_INT_H
#define YK_RCONN_INT_H

#include <hiredis/hiredis.h>

#include "yk_rconn.h"

typedef struct yk_rcluster yk_rcluster;

struct yk_rconn {
    redisContext *c; /* one Redis; NULL for a cluster */
    yk_rcluster *cl; /* a cluster (yk_rconn_cluster.c); NULL for one Redis */
};

/* A blocking context with both timeouts set, NULL on failure (logged). */
redisContext *yk_rconn__connect(const char *host, int port, int connect_ms, int io_ms);
/* The next reply of c into *out: built in a when a is not NULL (the arena is not reset), else
 * hiredis's own objects. 0, or -1 when the connection failed (*out NULL). */
int yk_rconn__read(redisContext *c, yk_rconn_arena *a, void **out);
/* n bytes of a, aligned; NULL when memory ran out. */
void *yk_rconn__arena_alloc(yk_rconn_arena *a, size_t n);

yk_rcluster *yk_rconn__cluster_open(const char *url, int connect_ms, int io_ms);
void yk_rconn__cluster_close(yk_rcluster *cl);
const char *yk_rconn__cluster_error(const yk_rcluster *cl);
int yk_rconn__cluster_append(yk_rcluster *cl, int argc, const char *const *argv);
int yk_rconn__cluster_append_raw(yk_rcluster *cl, const char *resp, size_t len);
/* The next reply in command order: in a when a is not NULL (reset by the caller), else one the
 * caller frees with freeReplyObject. NULL when a connection failed. */
redisReply *yk_rconn__cluster_get(yk_rcluster *cl, yk_rconn_arena *a);

#endif
