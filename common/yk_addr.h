/* yk_addr: the one parser of YOYAKU_REDIS-style addresses: host:port, [v6]:port, a host alone
 * (default port) or a unix socket path. Owns nothing: it fills the caller's struct. */
#ifndef YK_ADDR_H
#define YK_ADDR_H

#include <stddef.h>

#define YK_ADDR_HOST_MAX 253 /* the longest DNS name; a socket path fits in sun_path (107) */

typedef struct {
    char host[YK_ADDR_HOST_MAX + 1]; /* a name or an IP literal without brackets, or a path */
    int port;                        /* 1…65535; 0 means host is a unix socket path */
} yk_addr;

/* Parses s:
 *   "/path"        a unix socket (at most 107 bytes, what sun_path holds)
 *   "host:port"    host is an IPv4 literal or a DNS name (letters, digits, '-', '_', '.'; the last
 *                  label starts with a letter, so "6379x" or "127.0.0.l" are refused as mistyped)
 *   "[v6]:port"    an IPv6 literal in brackets; a bare "::1" is refused (which colon is the port?)
 *   "host", "[v6]" default_port
 * port is decimal digits only, 1…65535. Returns 0, or -1 after writing into err (errlen bytes)
 * what was expected, without the value (the caller names the setting). */
__attribute__((warn_unused_result)) int yk_addr_parse(const char *s, int default_port, yk_addr *out,
                                                      char *err, size_t errlen);

#endif
