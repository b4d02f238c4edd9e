/* yk_addr: parses the address forms of yk_addr.h. Both the check at startup (yk_settings) and
 * the clients that connect (yk_redis, the worker) call it, so they cannot read a value two ways. */
#include "yk_addr.h"

#include <arpa/inet.h>
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
