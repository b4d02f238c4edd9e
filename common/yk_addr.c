/* yk_addr: parses the address forms of yk_addr.h. Both the check at startup (yk_settings) and
 * the clients that connect (yk_redis, the worker) call it, so they cannot read a value two ways. */
#include "yk_addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define ADDR_UNIX_MAX 107 /* sizeof(struct sockaddr_un.sun_path) - 1 on Linux */

static const char expected[] = "expected host:port, [IPv6]:port, host (port %d) or /socket/path";

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A DNS name as resolvers take it (RFC 1123, plus '_' which container runtimes put in names),
 * whose last label starts with a letter: a name ending in a digit-led label is a mistyped number
 * (a port alone, an IPv4 address with a letter in it), and better refused than looked up. */
static int valid_name(const char *h, size_t len)
{
    if (len == 0 || len > YK_ADDR_HOST_MAX)
        return 0;
    if (h[len - 1] == '.' && --len == 0) /* a fully qualified "redis.example." */
        return 0;
    size_t label = 0;
    int labels = 1, numeric = 0; /* labels so far that are digits only */
    const char *last = h;
    for (size_t i = 0; i < len; i++) {
        char c = h[i];
        if (c == '.') {
            if (label == 0 || h[i - 1] == '-')
                return 0;
            numeric += strspn(last, "0123456789") == label;
            labels++;
            label = 0;
            last = h + i + 1;
        } else if (is_alnum(c) || c == '_' || (c == '-' && label > 0)) {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    if (labels == 4 && numeric == 3) /* "127.0.0.l": an IPv4 address with a typo */
        return 0;
    return label > 0 && h[len - 1] != '-' && is_alpha(*last);
}

/* Decimal digits only (no sign, no spaces), 1…65535. */
static int parse_port(const char *p, int *port)
{
    long v = 0;
    if (*p == '\0')
        return -1;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
        if (v > 65535)
            return -1;
    }
    if (v < 1)
        return -1;
    *port = (int)v;
    return 0;
}

int yk_addr_parse(const char *s, int default_port, yk_addr *out, char *err, size_t errlen)
{
    if (s == NULL || *s == '\0') {
        snprintf(err, errlen, expected, default_port);
        return -1;
    }
    if (s[0] == '/') {
        size_t n = strlen(s);
        if (n > ADDR_UNIX_MAX) {
            snprintf(err, errlen, "a unix socket path has at most %d bytes", ADDR_UNIX_MAX);
            return -1;
        }
        memcpy(out->host, s, n + 1);
        out->port = 0;
        return 0;
    }
    const char *host = s, *port = NULL;
    size_t hlen;
    int v6 = 0;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
            snprintf(err, errlen, "an IPv6 address is written [address]:port");
            return -1;
        }
        host = s + 1;
        hlen = (size_t)(close - host);
        port = close[1] == ':' ? close + 2 : NULL;
        v6 = 1;
    } else {
        const char *colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':')) {
            snprintf(err, errlen, "expected host:port (an IPv6 address is written [address]:port)");
            return -1;
        }
        hlen = colon ? (size_t)(colon - s) : strlen(s);
        port = colon ? colon + 1 : NULL;
    }
    if (hlen > YK_ADDR_HOST_MAX) {
        snprintf(err, errlen, "a host name has at most %d bytes", YK_ADDR_HOST_MAX);
        return -1;
    }
    char h[YK_ADDR_HOST_MAX + 1];
    memcpy(h, host, hlen);
    h[hlen] = '\0';
    unsigned char bin[16];
    int ok = v6 ? inet_pton(AF_INET6, h, bin) == 1
                : inet_pton(AF_INET, h, bin) == 1 || valid_name(h, hlen);
    if (!ok) {
        if (v6)
            snprintf(err, errlen, "not an IPv6 address between the brackets");
        else
            snprintf(err, errlen, expected, default_port);
        return -1;
    }
    int p = default_port;
    if (port && parse_port(port, &p) != 0) {
        snprintf(err, errlen, "the port must be a number from 1 to 65535");
        return -1;
    }
    memcpy(out->host, h, hlen + 1);
    out->port = p;
    return 0;
}

/* --- IP addresses and networks --------------------------------------------------------------- */

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int yk_ip_parse(const char *s, size_t len, unsigned char out[YK_IP_LEN])
{
    char text[INET6_ADDRSTRLEN];
    if (len == 0 || len >= sizeof text)
        return -1;
    memcpy(text, s, len);
    text[len] = '\0';
    if (inet_pton(AF_INET, text, out + 12) == 1) {
        memcpy(out, v4_mapped, sizeof v4_mapped);
        return 0;
    }
    return inet_pton(AF_INET6, text, out) == 1 ? 0 : -1;
}

int yk_ip_of(const struct sockaddr_storage *sa, unsigned char out[YK_IP_LEN])
{
    memset(out, 0, YK_IP_LEN);
    if (sa->ss_family == AF_INET) {
        memcpy(out, v4_mapped, sizeof v4_mapped);
        memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->ss_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, YK_IP_LEN);
        return 0;
    }
    return -1;
}

int yk_ip_loopback(const unsigned char ip[YK_IP_LEN])
{
    static const unsigned char v6_loopback[YK_IP_LEN] = {[15] = 1};
    return (memcmp(ip, v4_mapped, sizeof v4_mapped) == 0 && ip[12] == 127) ||
           memcmp(ip, v6_loopback, YK_IP_LEN) == 0;
}

void yk_ip_format(const unsigned char ip[YK_IP_LEN], char *out, size_t outlen)
{
    char text[INET6_ADDRSTRLEN] = "?";
    if (memcmp(ip, v4_mapped, sizeof v4_mapped) == 0)
        inet_ntop(AF_INET, ip + 12, text, sizeof text);
    else
        inet_ntop(AF_INET6, ip, text, sizeof text);
    snprintf(out, outlen, "%s", text);
}

/* One network of a list ("addr" or "addr/prefix", len bytes): 0 or -1. */
static int cidr_parse(const char *s, size_t len, yk_cidr *out)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    if (yk_ip_parse(s, alen, out->net) != 0)
        return -1;
    int v4 = memcmp(out->net, v4_mapped, sizeof v4_mapped) == 0 && memchr(s, ':', alen) == NULL;
    int max = v4 ? 32 : 128, prefix = max;
    if (slash) {
        const char *p = slash + 1, *end = s + len;
        if (p == end || end - p > 3)
            return -1;
        prefix = 0;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9')
                return -1;
            prefix = prefix * 10 + (*p - '0');
        }
        if (prefix > max)
            return -1;
    }
    out->prefix = v4 ? 96 + prefix : prefix;
    for (int bit = out->prefix; bit < 128; bit++) /* host bits must be zero: "10.0.0.1/8"? */
        if (out->net[bit / 8] & (0x80 >> (bit % 8)))
            return -1;
    return 0;
}

int yk_cidr_parse_list(const char *s, yk_cidr *out, size_t max, size_t *n, char *err, size_t errlen)
{
    *n = 0;
    for (const char *p = s ? s : ""; *p;) {
        p += strspn(p, ", \t");
        size_t len = strcspn(p, ", \t");
        if (len == 0)
            break;
        if (*n == max) {
            snprintf(err, errlen, "at most %zu networks", max);
            return -1;
        }
        if (cidr_parse(p, len, &out[*n]) != 0) {
            snprintf(err, errlen,
                     "expected IP addresses or networks (10.0.0.0/8, fd00::/8; host bits zero) "
                     "separated by commas");
            return -1;
        }
        (*n)++;
        p += len;
    }
    return 0;
}

int yk_cidr_match(const yk_cidr *list, size_t n, const unsigned char ip[YK_IP_LEN])
{
    for (size_t i = 0; i < n; i++) {
        int bits = list[i].prefix, whole = bits / 8, rest = bits % 8;
        if (memcmp(list[i].net, ip, (size_t)whole) != 0)
            continue;
        if (rest == 0 || ((list[i].net[whole] ^ ip[whole]) & (0xff00 >> rest)) == 0)
            return 1;
    }
    return 0;
}

/* One X-Forwarded-For entry (s, len bytes, trimmed) without brackets or port, into ip: 0 or -1. */
static int forwarded_entry(const char *s, size_t len, unsigned char ip[YK_IP_LEN])
{
    if (len > 0 && s[0] == '[') { /* [v6] or [v6]:port */
        const char *close = memchr(s, ']', len);
        return close ? yk_ip_parse(s + 1, (size_t)(close - s - 1), ip) : -1;
    }
    const char *colon = memchr(s, ':', len);
    if (colon && memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)) == NULL)
        len = (size_t)(colon - s); /* a.b.c.d:port */
    return yk_ip_parse(s, len, ip);
}

void yk_forwarded_client(const char *xff, const yk_cidr *list, size_t n,
                         unsigned char ip[YK_IP_LEN])
{
    if (xff == NULL || !yk_cidr_match(list, n, ip))
        return;
    const char *end = xff + strlen(xff);
    while (end > xff) {
        const char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        const char *a = start, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        end = start > xff ? start - 1 : xff;
        if (a == b)
            continue;
        unsigned char entry[YK_IP_LEN];
        if (forwarded_entry(a, (size_t)(b - a), entry) != 0)
            return;
        memcpy(ip, entry, YK_IP_LEN);
        if (!yk_cidr_match(list, n, ip))
            return;
    }
}
