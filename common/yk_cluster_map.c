/* yk_cluster_map: the slot map from a CLUSTER SLOTS reply (the part of yk_cluster that reads a
 * yk_reply, hence in yk_net). Fills the caller's map. */
#include <stdio.h>
#include <string.h>

#include "yk_cluster.h"

/* [host, port, id, …] of a node in a range; 0 and the node's index, or -1. */
static int range_node(yk_cluster_map *m, const yk_reply *n, const char *fallback_host, int *out)
{
    size_t hl;
    const char *host = yk_reply_str(yk_reply_at(n, 0), &hl);
    const yk_reply *port = yk_reply_at(n, 1);
    if (yk_reply_count(n) < 2 || host == NULL || !yk_reply_is(port, YK_REPLY_INTEGER) ||
        yk_reply_int(port) < 1 || yk_reply_int(port) > 65535)
        return -1;
    if (hl == 0 || strcmp(host, "?") == 0) /* the node does not know its address */
        host = fallback_host;
    int i = yk_cluster_node_index(m, host, (int)yk_reply_int(port));
    if (i < 0)
        return -1;
    *out = i;
    return 0;
}

int yk_cluster_map_parse(yk_cluster_map *m, const yk_reply *r, const char *fallback_host)
{
    memset(m, 0, sizeof *m);
    for (unsigned s = 0; s < YK_CLUSTER_SLOTS; s++)
        m->slot_node[s] = YK_CLUSTER_NO_NODE;
    if (!yk_reply_is(r, YK_REPLY_ARRAY))
        return -1;
    for (size_t i = 0; i < yk_reply_count(r); i++) {
        const yk_reply *range = yk_reply_at(r, i);
        const yk_reply *a = yk_reply_at(range, 0), *b = yk_reply_at(range, 1);
        int master;
        if (yk_reply_count(range) < 3 || !yk_reply_is(a, YK_REPLY_INTEGER) ||
            !yk_reply_is(b, YK_REPLY_INTEGER) || yk_reply_int(a) < 0 ||
            yk_reply_int(b) >= YK_CLUSTER_SLOTS || yk_reply_int(a) > yk_reply_int(b) ||
            range_node(m, yk_reply_at(range, 2), fallback_host, &master) != 0)
            goto bad;
        int replicas = 0;
        for (size_t k = 3; k < yk_reply_count(range); k++) {
            int rep;
            if (range_node(m, yk_reply_at(range, k), fallback_host, &rep) != 0)
                goto bad;
            replicas++;
        }
        m->nodes[master].master = 1;
        if (replicas > m->nodes[master].replicas)
            m->nodes[master].replicas = replicas;
        for (int64_t s = yk_reply_int(a); s <= yk_reply_int(b); s++)
            m->slot_node[s] = (uint16_t)master;
    }
    m->covered = 1;
    for (unsigned s = 0; s < YK_CLUSTER_SLOTS; s++)
        if (m->slot_node[s] == YK_CLUSTER_NO_NODE)
            m->covered = 0;
    return 0;
bad:
    memset(m, 0, sizeof *m);
    for (unsigned s = 0; s < YK_CLUSTER_SLOTS; s++)
        m->slot_node[s] = YK_CLUSTER_NO_NODE;
    return -1;
}
