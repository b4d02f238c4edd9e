/* ratelimit: token buckets per client address (contract §2 "Rate limits") for reservations,
 * waitlist joins, unlock and sign-in, set by YOYAKU_RATE_*. Fixed tables, O(1) per request, no
 * allocation; loopback is not limited unless YOYAKU_RATE_LOOPBACK=1 (client.h). */
#ifndef RATELIMIT_H
#define RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "yk_http.h"

typedef enum { RATE_RESERVE, RATE_WAITLIST, RATE_UNLOCK, RATE_LOGIN, RATE_KINDS } ratelimit_kind;

#define RATELIMIT_KEY 16     /* bytes: an IP address (IPv4 mapped; IPv6 cut to its /64) */
#define RATELIMIT_SLOTS 4096 /* addresses tracked per kind; a full bucket is forgotten first */

/* One address's bucket, kept in GCRA form: tat is the time (µs) at which its bucket will be full
 * again; 0 marks a free slot. A bucket whose tat has passed is full: the same as none. */
typedef struct {
    unsigned char key[RATELIMIT_KEY];
    uint64_t tat;
} ratelimit_entry;

typedef struct {
    uint64_t interval_us;  /* time to earn one token; 0: no limit */
    uint64_t tolerance_us; /* (burst - 1) * interval_us */
    unsigned char seed[16];
    ratelimit_entry e[RATELIMIT_SLOTS];
} ratelimit_table;

/* Parses a YOYAKU_RATE_* value: "N/s", "N/min" or "N/h" (N tokens earned per second, minute or
 * hour), a bare "N" meaning N/min, optionally followed by ",B" (bucket size B; default N): B
 * requests at once, then N per unit. "0" or "off": no limit (*interval_us = 0). ASCII digits only;
 * 1 ≤ N, B ≤ 1000000. Returns 0, or -1 after writing what is expected into err. */
__attribute__((warn_unused_result)) int ratelimit_parse(const char *s, uint64_t *interval_us,
                                                        uint32_t *burst, char *err, size_t errlen);
/* ratelimit_parse as a yk_config check. */
int ratelimit_check_setting(const char *v, char *err, size_t errlen);

/* Empties t; interval_us 0 (no limit) or the time per token, burst ≥ 1; seed: 16 bytes keying the
 * table's hash (random in the ingress, so nobody can aim addresses at one probe sequence). */
void ratelimit_table_init(ratelimit_table *t, uint64_t interval_us, uint32_t burst,
                          const unsigned char seed[16]);
/* A request of key at now_us: 0 when it may go on (a token is taken), else the µs until a token is
 * there (nothing is taken). */
uint64_t ratelimit_table_take(ratelimit_table *t, const unsigned char key[RATELIMIT_KEY],
                              uint64_t now_us);

/* Once, after the settings are read (the values were checked by ratelimit_check_setting). */
void ratelimit_init(const char *const settings[RATE_KINDS]);

/* The hook for a route: takes a token of kind for req's client (client_limited). Returns 0 when the
 * request may go on; 1 after answering 429 rate_limited with Retry-After (the caller returns). */
__attribute__((warn_unused_result)) int ratelimit_refuse(yk_http_req *req, ratelimit_kind kind);

#endif
