/* eta: the estimated wait of a queued request, from how fast each partition's decided count
 * (yk:done:{p}) has been seen to grow by this ingress. State is per process, owned by eta.c. */
#ifndef ETA_H
#define ETA_H

#include <stdint.h>

/* Partitions beyond this share the last slot's estimate (YOYAKU_PARTITIONS is at most 1024). */
#define ETA_PARTITIONS 1024

/* Notes that partition p had decided done entries at now_ms (the loop's clock). */
void eta_observe(unsigned p, long long done, uint64_t now_ms);
/* Whole seconds until a request at position (1 = next) of partition p is likely decided: 0 for
 * the next one, else position / the partition's recent rate, rounded up. */
long long eta_seconds(unsigned p, long long position);

#endif
