/* client: the address a request comes from, as the per-address rate limits count it (contract §2
 * "Rate limits") — the peer, or, when the peer is a proxy of YOYAKU_TRUSTED_PROXIES, the address
 * its X-Forwarded-For gives (yk_forwarded_client). Used by unlock and sign-in; reservation limits
 * take the same. */
#ifndef CLIENT_H
#define CLIENT_H

#include "yk_addr.h"
#include "yk_http.h"

/* Once, after the settings are read: parses the trusted proxies (already checked by
 * yk_settings). 0, or -1 after logging why. */
__attribute__((warn_unused_result)) int client_init(const char *trusted_proxies);

/* The client's address of req into out (IPv4 mapped). Returns 1 when it is this machine:
 * loopback, or a unix socket peer (then out is all zero). */
int client_addr(const yk_http_req *req, unsigned char out[YK_IP_LEN]);

/* client_addr, and whether per-address rate limits apply to that client: 1 for any but this
 * machine, which is limited only with YOYAKU_RATE_LOOPBACK=1 (one machine may rush). An IPv6
 * address is cut to its /64 in out (the block one subscriber is given), so the key a limit counts
 * is that network. */
int client_limited(const yk_http_req *req, unsigned char out[YK_IP_LEN]);

/* The per-address connection cap (YOYAKU_MAX_CONNS_PER_ADDR, yk_http_limits.conn_key): 1 and the
 * peer's address (IPv6 cut to its /64) in out when it counts; 0 for a unix socket, a proxy of
 * YOYAKU_TRUSTED_PROXIES, and loopback unless YOYAKU_RATE_LOOPBACK=1. */
int client_conn_capped(const struct sockaddr_storage *peer, unsigned char out[YK_IP_LEN]);

#endif
