/* yk_log: stderr logger. One fprintf per line so lines from several threads do not interleave.
 * The format (YOYAKU_LOG_FORMAT) is read once, by yk_log_init. */
#include "yk_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *log_service = "yoyaku";
static yk_log_level log_min = YK_LOG_INFO;
static int log_json;
static const char *const log_names[] = {"debug", "info", "warn", "error"};

void yk_log_init(const char *service, const char *level)
{
    log_service = service;
    for (int i = 0; i < 4; i++)
        if (level && strcmp(level, log_names[i]) == 0)
            log_min = (yk_log_level)i;
    const char *format = getenv("YOYAKU_LOG_FORMAT");
    log_json = format != NULL && strcmp(format, "json") == 0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (len == 0 || s[0] > 0xf4 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0; /* overlong, surrogate or past U+10FFFF */
    return len;
}

/* Appends s[0..n) to out as the inside of a JSON string: quote, backslash and control characters
 * escaped, a byte that is not valid UTF-8 written as U+FFFD, so every line parses. Returns the
 * new length, never past cap (the text is cut at a character). */
static size_t json_str(char *out, size_t len, size_t cap, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n && len + 7 < cap; i++) {
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            out[len++] = '\\';
            out[len++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            len += (size_t)snprintf(out + len, cap - len, "\\u%04x", c);
        } else if (c < 0x80) {
            out[len++] = (char)c;
        } else {
            size_t k = utf8_len(u + i, n - i);
            if (k == 0) {
                len += (size_t)snprintf(out + len, cap - len, "\\ufffd");
            } else {
                memcpy(out + len, u + i, k);
                len += k;
                i += k - 1;
            }
        }
    }
    return len;
}

static size_t json_raw(char *out, size_t len, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (len + n + 1 >= cap)
        return len;
    memcpy(out + len, s, n);
    return len + n;
}

/* The message's key=value words (a value may be "quoted") become fields of their own, after
 * "msg", which keeps the whole text. A key is [a-z_][a-z0-9_]*; a value's trailing ':' or ','
 * (prose after it) is not part of it. */
static size_t json_fields(char *out, size_t len, size_t cap, const char *msg)
{
    const char *p = msg;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *k = p;
        while ((*p >= 'a' && *p <= 'z') || *p == '_' || (p > k && *p >= '0' && *p <= '9'))
            p++;
        if (p == k || *p != '=' || (k != msg && k[-1] != ' ')) {
            while (*p && *p != ' ')
                p++;
            continue;
        }
        size_t klen = (size_t)(p - k);
        const char *v = ++p, *end;
        if (*v == '"') {
            v++;
            end = strchr(v, '"');
            if (end == NULL)
                end = v + strlen(v);
            p = *end ? end + 1 : end;
        } else {
            while (*p && *p != ' ')
                p++;
            end = p;
            while (end > v && (end[-1] == ':' || end[-1] == ','))
                end--;
        }
        if ((klen == 2 && memcmp(k, "ts", 2) == 0) || (klen == 3 && memcmp(k, "msg", 3) == 0) ||
            (klen == 3 && memcmp(k, "svc", 3) == 0) || (klen == 5 && memcmp(k, "level", 5) == 0))
            continue; /* never shadows the line's own fields */
        len = json_raw(out, len, cap, ",\"");
        len = json_str(out, len, cap, k, klen);
        len = json_raw(out, len, cap, "\":\"");
        len = json_str(out, len, cap, v, (size_t)(end - v));
        len = json_raw(out, len, cap, "\"");
    }
    return len;
}

void yk_log(yk_log_level level, const char *fmt, ...)
{
    if (level < log_min)
        return;
    char msg[1024], ts[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!log_json) {
        fprintf(stderr, "%s.%03ldZ level=%s svc=%s %s\n", ts, now.tv_nsec / 1000000,
                log_names[level], log_service, msg);
        return;
    }
    char line[4096];
    size_t len = (size_t)snprintf(
        line, sizeof line, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"svc\":\"%s\",\"msg\":\"", ts,
        now.tv_nsec / 1000000, log_names[level], log_service);
    len = json_str(line, len, sizeof line, msg, strlen(msg));
    len = json_raw(line, len, sizeof line, "\"");
    len = json_fields(line, len, sizeof line, msg);
    line[len] = '\0';
    fprintf(stderr, "%s}\n", line);
}
