/* yk_addr: the one parser of YOYAKU_REDIS-style addresses (host:port, [v6]:port, a host alone
 * with the default port, or a unix socket path), and of IP networks (YOYAKU_TRUSTED_PROXIES) with
 * the X-Forwarded-For walk that finds a client behind trusted proxies. Owns nothing: it fills the
 * caller's structs. */
#ifndef YK_ADDR_H
#define YK_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

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

/* --- IP addresses and networks --------------------------------------------------------------- */

/* An address is 16 bytes: IPv6, or IPv4 mapped (::ffff:a.b.c.d), so one comparison serves both. */
#define YK_IP_LEN 16
#define YK_CIDR_MAX 64 /* networks in one list */

typedef struct {
    unsigned char net[YK_IP_LEN]; /* the bits past prefix are zero */
    int prefix;                   /* 0…128 (an IPv4 /n is stored as /96+n) */
} yk_cidr;

/* Parses an IP literal of len bytes (IPv4, or IPv6 without brackets) into out. 0 or -1. */
__attribute__((warn_unused_result)) int yk_ip_parse(const char *s, size_t len,
                                                    unsigned char out[YK_IP_LEN]);
/* The peer address of a socket into out: 0, or -1 (and out zeroed) for a unix socket. */
__attribute__((warn_unused_result)) int yk_ip_of(const struct sockaddr_storage *sa,
                                                 unsigned char out[YK_IP_LEN]);
/* 1 when ip is a loopback address (127.0.0.0/8, ::1). */
int yk_ip_loopback(const unsigned char ip[YK_IP_LEN]);
/* Writes ip as text (IPv4 dotted for a mapped address) into out (at least 46 bytes). */
void yk_ip_format(const unsigned char ip[YK_IP_LEN], char *out, size_t outlen);

/* Parses a list of networks separated by commas and/or spaces, each an address ("10.0.0.1",
 * "::1") or address/prefix ("10.0.0.0/8", "fd00::/8"); "" is an empty list. Fills out
 * (max entries) and *n. Host bits set under the prefix ("10.0.0.1/8") are refused as a likely
 * typo. 0, or -1 after writing into err what was expected. */
__attribute__((warn_unused_result)) int yk_cidr_parse_list(const char *s, yk_cidr *out, size_t max,
                                                           size_t *n, char *err, size_t errlen);
/* 1 when ip lies in one of the n networks of list. */
int yk_cidr_match(const yk_cidr *list, size_t n, const unsigned char ip[YK_IP_LEN]);

/* The client behind trusted proxies. ip holds the peer's address on entry. When the peer is in
 * list, xff (an X-Forwarded-For value, may be NULL; fields joined by commas) is walked from the
 * right — each proxy appends the address it saw — past every trusted address, and ip becomes the
 * first untrusted one: the nearest address no trusted proxy vouches beyond. An entry that is no
 * address (garbage, "unknown") stops the walk at the last address trusted so far, so a client
 * cannot pick another's address by writing a bad entry. Entries may carry a port ("1.2.3.4:80",
 * "[::1]:80"); empty entries are skipped. With every entry trusted, the leftmost is the client. */
void yk_forwarded_client(const char *xff, const yk_cidr *list, size_t n,
                         unsigned char ip[YK_IP_LEN]);

#endif
