/* yk_partition: which request stream an event belongs to. Ingress and worker must agree, so the
 * function lives here and nowhere else (see proto/streams.md). */
#ifndef YK_PARTITION_H
#define YK_PARTITION_H

#include <stdint.h>

/* FNV-1a 32 of key (NUL-terminated) modulo n; n > 0. */
static inline unsigned yk_partition_of(const char *key, unsigned n)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h % n;
}

#endif
