/* yk_cluster: the pure parts of Redis Cluster routing, shared by yk_redis (async) and yk_rconn
 * (blocking): seed addresses, key slots, the slot map from CLUSTER SLOTS, redirect errors, and
 * which argument of a command is its key. No I/O; the map is the caller's. */
#ifndef YK_CLUSTER_H
#define YK_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "yk_addr.h"
#include "yk_reply.h"

#define YK_CLUSTER_SLOTS 16384
#define YK_CLUSTER_SCHEME "redis-cluster://"
#define YK_CLUSTER_SEEDS_MAX 16
#define YK_CLUSTER_NODES_MAX 64 /* masters and replicas named by one CLUSTER SLOTS */
#define YK_CLUSTER_NO_NODE 0xffff

/* True when addr is a cluster URL (starts with redis-cluster://). */
int yk_cluster_is_url(const char *addr);

/* Parses "redis-cluster://host:port[,host:port…]" (each as yk_addr_parse reads it, default port
 * default_port; no unix sockets) into seeds. Returns how many (1…max), or -1 after writing into
 * err what was expected. */
__attribute__((warn_unused_result)) int yk_cluster_seeds(const char *url, int default_port,
                                                         yk_addr *seeds, int max, char *err,
                                                         size_t errlen);

/* The hash slot of a key: CRC16 (XMODEM) of the key, or of the text between its first '{' and the
 * next '}' when that is not empty (a hash tag), modulo 16384. */
unsigned yk_cluster_slot(const char *key, size_t len);

/* One node of the map: masters first are not guaranteed; slots[] names masters only. */
typedef struct {
    char host[YK_ADDR_HOST_MAX + 1];
    int port;
    int master;   /* serves at least one slot range */
    int replicas; /* of a master: how many replicas CLUSTER SLOTS lists with its ranges (the
                   * most for any of its ranges) */
} yk_cluster_node;

typedef struct {
    yk_cluster_node nodes[YK_CLUSTER_NODES_MAX];
    int nnodes;
    uint16_t slot_node[YK_CLUSTER_SLOTS]; /* index into nodes, or YK_CLUSTER_NO_NODE */
    int covered;                          /* every slot has a master */
} yk_cluster_map;

/* Builds m from a CLUSTER SLOTS reply (yk_cluster_map.c): [[start, end, [host, port, id…],
 * [replica host, port, id…]…]…]. A master answering with an empty host is given fallback_host
 * (the host the reply came from). 0, or -1 when the reply is not such an array (m is then
 * empty). */
__attribute__((warn_unused_result)) int yk_cluster_map_parse(yk_cluster_map *m, const yk_reply *r,
                                                             const char *fallback_host);

/* Index of host:port in m, added (not a master, no replicas) if absent; -1 when m is full. */
int yk_cluster_node_index(yk_cluster_map *m, const char *host, int port);

/* Redirect and retry errors a cluster node answers instead of running a command. */
typedef enum {
    YK_CLUSTER_ERR_NONE = 0, /* not one of these */
    YK_CLUSTER_ERR_MOVED,    /* the slot lives elsewhere for good: refresh the map */
    YK_CLUSTER_ERR_ASK,      /* this one command: send ASKING then it to host:port */
    YK_CLUSTER_ERR_TRYAGAIN, /* slot being migrated: try again shortly */
    YK_CLUSTER_ERR_DOWN,     /* CLUSTERDOWN / MASTERDOWN: try again later, refresh the map */
} yk_cluster_err;

typedef struct {
    yk_cluster_err kind;
    unsigned slot;                   /* MOVED, ASK */
    char host[YK_ADDR_HOST_MAX + 1]; /* MOVED, ASK; "" when the node did not know its own
                                      * address (the caller uses the replying node's host) */
    int port;
} yk_cluster_redirect;

/* Classifies an error message (without the leading '-'), len bytes; out->kind NONE when it is no
 * redirect or a malformed one. */
void yk_cluster_parse_error(const char *msg, size_t len, yk_cluster_redirect *out);

/* Where the key of a command is: its argument index (argv[0] is the name), or
 * YK_CLUSTER_KEYLESS (any master may run it), YK_CLUSTER_ALL (every master must: SCRIPT,
 * FLUSHALL), YK_CLUSTER_CONN (runs on the connection's node, after the commands sent before it:
 * WAIT). For XREAD/XREADGROUP the index of the first stream after STREAMS; the streams that
 * follow are keys too (yk_cluster_streams). argv[i] has lens[i] bytes. */
#define YK_CLUSTER_KEYLESS (-1)
#define YK_CLUSTER_ALL (-2)
#define YK_CLUSTER_CONN (-3)
int yk_cluster_key_arg(int argc, const char *const *argv, const size_t *lens);

/* For XREAD/XREADGROUP: sets *first to the index of the first stream and returns how many streams
 * (keys) follow STREAMS (their ids follow them); 0 for any other command. */
int yk_cluster_streams(int argc, const char *const *argv, const size_t *lens, int *first);

/* One command of a RESP-encoded pipeline (an array of bulk strings, as yk_resp writes): the
 * offsets and lengths of at most max arguments. Returns the command's length in bytes, 0 when buf
 * holds no complete command, -1 when it is not such an array; *argc gets its argument count (all
 * of them, even past max). */
long yk_cluster_resp_next(const char *buf, size_t len, const char **argv, size_t *lens, int max,
                          int *argc);

#endif
