/* yk_cluster: seeds, key slots, redirect errors and command keys for Redis Cluster routing.
 * Owns nothing: every function fills the caller's structs. */
#include "yk_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int yk_cluster_is_url(const char *addr)
{
    return addr && strncmp(addr, YK_CLUSTER_SCHEME, sizeof YK_CLUSTER_SCHEME - 1) == 0;
}

int yk_cluster_seeds(const char *url, int default_port, yk_addr *seeds, int max, char *err,
                     size_t errlen)
{
    if (!yk_cluster_is_url(url)) {
        snprintf(err, errlen, "expected " YK_CLUSTER_SCHEME "host:port[,host:port…]");
        return -1;
    }
    const char *p = url + sizeof YK_CLUSTER_SCHEME - 1;
    int n = 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char one[YK_ADDR_HOST_MAX + 16];
        if (n == max || len == 0 || len >= sizeof one) {
            snprintf(err, errlen,
                     "expected " YK_CLUSTER_SCHEME "host:port[,host:port…] (at most "
                     "%d seed nodes)",
                     max);
            return -1;
        }
        memcpy(one, p, len);
        one[len] = '\0';
        char why[128];
        if (yk_addr_parse(one, default_port, &seeds[n], why, sizeof why) != 0) {
            snprintf(err, errlen, "seed node %d: %s", n + 1, why);
            return -1;
        }
        if (seeds[n].port == 0) {
            snprintf(err, errlen, "seed node %d: expected host:port (no unix socket)", n + 1);
            return -1;
        }
        n++;
        if (comma == NULL)
            return n;
        p = comma + 1;
    }
}

/* CRC16-CCITT (XMODEM), as Redis Cluster's keyHashSlot computes it. */
static uint16_t crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned yk_cluster_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        const char *start = open + 1;
        const char *close = memchr(start, '}', len - (size_t)(start - key));
        if (close && close > start)
            return crc16(start, (size_t)(close - start)) & (YK_CLUSTER_SLOTS - 1);
    }
    return crc16(key, len) & (YK_CLUSTER_SLOTS - 1);
}

int yk_cluster_node_index(yk_cluster_map *m, const char *host, int port)
{
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].port == port && strcmp(m->nodes[i].host, host) == 0)
            return i;
    if (m->nnodes == YK_CLUSTER_NODES_MAX || strlen(host) > YK_ADDR_HOST_MAX)
        return -1;
    yk_cluster_node *n = &m->nodes[m->nnodes];
    memset(n, 0, sizeof *n);
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    return m->nnodes++;
}

static int has_prefix(const char *msg, size_t len, const char *word)
{
    size_t n = strlen(word);
    return len >= n && memcmp(msg, word, n) == 0 && (len == n || msg[n] == ' ');
}

void yk_cluster_parse_error(const char *msg, size_t len, yk_cluster_redirect *out)
{
    memset(out, 0, sizeof *out);
    if (msg == NULL)
        return;
    if (has_prefix(msg, len, "TRYAGAIN")) {
        out->kind = YK_CLUSTER_ERR_TRYAGAIN;
        return;
    }
    if (has_prefix(msg, len, "CLUSTERDOWN") || has_prefix(msg, len, "MASTERDOWN")) {
        out->kind = YK_CLUSTER_ERR_DOWN;
        return;
    }
    yk_cluster_err kind = has_prefix(msg, len, "MOVED") ? YK_CLUSTER_ERR_MOVED
                          : has_prefix(msg, len, "ASK") ? YK_CLUSTER_ERR_ASK
                                                        : YK_CLUSTER_ERR_NONE;
    if (kind == YK_CLUSTER_ERR_NONE)
        return;
    /* "MOVED <slot> <host>:<port>": the host may be an IPv6 literal (the last ':' ends it) or
     * empty. */
    const char *p = memchr(msg, ' ', len), *end = msg + len;
    if (p == NULL)
        return;
    p++;
    unsigned slot = 0;
    const char *d = p;
    while (d < end && *d >= '0' && *d <= '9' && slot < YK_CLUSTER_SLOTS)
        slot = slot * 10 + (unsigned)(*d++ - '0');
    if (d == p || d == end || *d != ' ' || slot >= YK_CLUSTER_SLOTS)
        return;
    const char *host = d + 1, *colon = NULL;
    for (const char *q = host; q < end; q++)
        if (*q == ':')
            colon = q;
    if (colon == NULL || colon + 1 == end || (size_t)(colon - host) > YK_ADDR_HOST_MAX)
        return;
    int port = 0;
    for (const char *q = colon + 1; q < end; q++) {
        if (*q < '0' || *q > '9' || port > 65535)
            return;
        port = port * 10 + (*q - '0');
    }
    if (port < 1 || port > 65535)
        return;
    size_t hl = (size_t)(colon - host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') { /* [v6]:port */
        host++;
        hl -= 2;
    }
    memcpy(out->host, host, hl);
    out->host[hl] = '\0';
    out->slot = slot;
    out->port = port;
    out->kind = kind;
}

static int arg_is(const char *a, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(a, word, len) == 0;
}

static int any_of(const char *a, size_t len, const char *const *words)
{
    for (; *words; words++)
        if (arg_is(a, len, *words))
            return 1;
    return 0;
}

int yk_cluster_streams(int argc, const char *const *argv, const size_t *lens, int *first)
{
    if (argc < 1 || !(arg_is(argv[0], lens[0], "XREAD") || arg_is(argv[0], lens[0], "XREADGROUP")))
        return 0;
    for (int i = 1; i < argc; i++) {
        if (arg_is(argv[i], lens[i], "STREAMS")) {
            int rest = argc - i - 1;
            if (rest < 2 || rest % 2)
                return 0;
            *first = i + 1;
            return rest / 2;
        }
    }
    return 0;
}

int yk_cluster_key_arg(int argc, const char *const *argv, const size_t *lens)
{
    static const char *const keyless[] = {"PING",      "INFO",       "CLUSTER",     "PUBLISH",
                                          "SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE",
                                          "CLIENT",    "CONFIG",     "DBSIZE",      "TIME",
                                          "ROLE",      "READONLY",   "READWRITE",   "ASKING",
                                          "AUTH",      "HELLO",      "SELECT",      "ECHO",
                                          "QUIT",      "KEYS",       "SCAN",        "COMMAND",
                                          "LASTSAVE",  "SLOWLOG",    "LATENCY",     "MULTI",
                                          "EXEC",      "DISCARD",    "RANDOMKEY",   NULL};
    static const char *const all[] = {"SCRIPT", "FLUSHALL", "FLUSHDB", "FUNCTION", NULL};
    static const char *const scripts[] = {"EVAL",  "EVALSHA",  "EVAL_RO", "EVALSHA_RO",
                                          "FCALL", "FCALL_RO", NULL};
    static const char *const second[] = {"XGROUP", "XINFO", "OBJECT", "MEMORY", NULL};
    if (argc < 1)
        return YK_CLUSTER_KEYLESS;
    const char *c = argv[0];
    size_t n = lens[0];
    if (arg_is(c, n, "WAIT"))
        return YK_CLUSTER_CONN;
    if (any_of(c, n, all))
        return YK_CLUSTER_ALL;
    if (any_of(c, n, keyless))
        return YK_CLUSTER_KEYLESS;
    if (any_of(c, n, scripts)) {
        /* numkeys > 0: the first key; the others must share its slot (Redis checks) */
        if (argc < 4 || lens[2] == 0 || argv[2][0] < '1' || argv[2][0] > '9')
            return YK_CLUSTER_KEYLESS;
        return 3;
    }
    if (any_of(c, n, second))
        return argc > 2 ? 2 : YK_CLUSTER_KEYLESS;
    int first;
    if (yk_cluster_streams(argc, argv, lens, &first) > 0)
        return first;
    return argc > 1 ? 1 : YK_CLUSTER_KEYLESS;
}

/* Reads "<c><digits>\r\n" at *p and advances *p past it: the number, -2 when buf ends first,
 * -1 when it is something else. */
static long resp_number(const char **p, const char *end, char c)
{
    const char *q = *p;
    if (q == end)
        return -2;
    if (*q != c)
        return -1;
    long v = 0;
    int digits = 0;
    for (q++; q < end && *q >= '0' && *q <= '9'; q++, digits++) {
        if (v > 100000000L)
            return -1;
        v = v * 10 + (*q - '0');
    }
    if (end - q < 2)
        return -2;
    if (digits == 0 || q[0] != '\r' || q[1] != '\n')
        return -1;
    *p = q + 2;
    return v;
}

long yk_cluster_resp_next(const char *buf, size_t len, const char **argv, size_t *lens, int max,
                          int *argc)
{
    const char *p = buf, *end = buf + len;
    if (len == 0)
        return 0;
    long n = resp_number(&p, end, '*');
    if (n == -2)
        return 0;
    if (n < 1)
        return -1;
    *argc = (int)n;
    for (long i = 0; i < n; i++) {
        long l = resp_number(&p, end, '$');
        if (l == -2)
            return 0;
        if (l < 0)
            return -1;
        if (end - p < l + 2)
            return 0;
        if (p[l] != '\r' || p[l + 1] != '\n')
            return -1;
        if (i < max) {
            argv[i] = p;
            lens[i] = (size_t)l;
        }
        p += l + 2;
    }
    return (long)(p - buf);
}
