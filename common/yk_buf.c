/* yk_buf: JSON text written straight into a growable, capped buffer (the worker's answers and its
 * PostgreSQL payloads), and the check of the `fields` text it copies verbatim. */
#include "yk_buf.h"

#include <stdlib.h>
#include <string.h>

#include "yk_text.h"

void yk_buf_reset(yk_buf *b)
{
    b->len = 0;
    b->failed = false;
}

void yk_buf_rewind(yk_buf *b, size_t len)
{
    if (len < b->len)
        b->len = len;
    b->failed = false;
}

void yk_buf_free(yk_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

/* Room for n more bytes; false (and failed set) when refused. */
static bool yk_buf_room(yk_buf *b, size_t n)
{
    if (b->failed)
        return false;
    if (n <= b->cap - b->len)
        return true;
    if (n > b->max - b->len) {
        b->failed = true;
        return false;
    }
    size_t want = b->len + n, cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap = cap > b->max / 2 ? b->max : cap * 2;
    if (cap > b->max)
        cap = b->max;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void yk_buf_add(yk_buf *b, const void *s, size_t n)
{
    if (n && yk_buf_room(b, n)) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
    }
}

void yk_buf_adds(yk_buf *b, const char *s)
{
    yk_buf_add(b, s, strlen(s));
}

void yk_buf_addc(yk_buf *b, char c)
{
    if (yk_buf_room(b, 1))
        b->p[b->len++] = c;
}

void yk_buf_str(yk_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    yk_buf_addc(b, '"');
    const char *run = s;
    for (;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        yk_buf_add(b, run, (size_t)(s - run));
        if (c == '\0')
            break;
        run = s + 1;
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"':
        case '\\':
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        yk_buf_add(b, esc, n);
    }
    yk_buf_addc(b, '"');
}

void yk_buf_int(yk_buf *b, int64_t v)
{
    char d[24], *w = d + sizeof d;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do
        *--w = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--w = '-';
    yk_buf_add(b, w, (size_t)(d + sizeof d - w));
}

static bool yk_buf_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void yk_buf_compact(yk_buf *b, const char *s)
{
    const char *run = s;
    bool in_string = false;
    for (; *s; s++) {
        if (in_string) {
            if (*s == '\\' && s[1])
                s++;
            else if (*s == '"')
                in_string = false;
        } else if (*s == '"') {
            in_string = true;
        } else if (yk_buf_is_ws(*s)) {
            yk_buf_add(b, run, (size_t)(s - run));
            run = s + 1;
        }
    }
    yk_buf_add(b, run, (size_t)(s - run));
}

/* --- the check of a `fields` text ------------------------------------------------------------ */

/* Only blanks: a `fields` text is embedded verbatim in answers that travel one per line
 * (proto/streams.md, yk:rep), so it may hold no line break at all. */
static size_t yk_buf_skip_ws(const char *s, size_t i, size_t len)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

/* The value of 4 hex digits at s[i..i+4), or -1. */
static long yk_buf_hex4(const char *s, size_t i, size_t len)
{
    if (len < 4 || i > len - 4)
        return -1;
    long v = 0;
    for (size_t k = i; k < i + 4; k++) {
        char c = s[k];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Scans the JSON string whose opening quote is s[i]: the index after its closing quote, or 0 when
 * it is not a valid string for jsonb. *escaped is set if it holds an escape. */
static size_t yk_buf_scan_string(const char *s, size_t i, size_t len, bool *escaped)
{
    for (i++; i < len;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"')
            return i + 1;
        if (c < 0x20)
            return 0;
        if (c != '\\') {
            i++;
            continue;
        }
        *escaped = true;
        if (++i >= len)
            return 0;
        if (strchr("\"\\/bfnrt", s[i]) != NULL && s[i] != '\0') {
            i++;
            continue;
        }
        if (s[i] != 'u')
            return 0;
        long u = yk_buf_hex4(s, i + 1, len);
        i += 5;
        if (u <= 0 || (u >= 0xDC00 && u <= 0xDFFF)) /* \u0000, or a low surrogate alone */
            return 0;
        if (u >= 0xD800 && u <= 0xDBFF) { /* a high surrogate: its low half must follow */
            if (i + 1 >= len || s[i] != '\\' || s[i + 1] != 'u')
                return 0;
            long lo = yk_buf_hex4(s, i + 2, len);
            if (lo < 0xDC00 || lo > 0xDFFF)
                return 0;
            i += 6;
        }
    }
    return 0;
}

/* Scans the JSON integer at s[i] (-?(0|[1-9][0-9]*), at most 18 digits: any int64, and what a
 * number field holds): the index after it, or 0. No fraction or exponent: the ingress writes none.
 */
static size_t yk_buf_scan_integer(const char *s, size_t i, size_t len)
{
    if (i < len && s[i] == '-')
        i++;
    size_t start = i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == start || i - start > 18 || (s[start] == '0' && i - start > 1))
        return 0;
    return i;
}

/* True if the key s[k..k+n) was already a key of the object before offset k. s[0..k) is a valid
 * beginning of a flat object (checked by the caller), so the scan needs no checks of its own. */
static bool yk_buf_key_before(const char *s, size_t k, size_t n)
{
    size_t i = yk_buf_skip_ws(s, 0, k) + 1; /* after '{' */
    bool esc;
    for (;;) {
        i = yk_buf_skip_ws(s, i, k);
        size_t start = i + 1;
        if (start >= k)
            return false; /* reached the key itself */
        size_t end = yk_buf_scan_string(s, i, k, &esc);
        if (end - 1 - start == n && memcmp(s + start, s + k, n) == 0)
            return true;
        i = yk_buf_skip_ws(s, yk_buf_skip_ws(s, end, k) + 1, k); /* past ':' */
        i = s[i] == '"'   ? yk_buf_scan_string(s, i, k, &esc)
            : s[i] == 't' ? i + 4
            : s[i] == 'f' ? i + 5
                          : yk_buf_scan_integer(s, i, k);
        i = yk_buf_skip_ws(s, i, k) + 1; /* past ',' */
    }
}

bool yk_buf_fields_ok(const char *s, size_t len)
{
    if (s == NULL || !yk_text_valid_utf8(s, len))
        return false;
    size_t i = yk_buf_skip_ws(s, 0, len);
    if (i >= len || s[i] != '{')
        return false;
    i = yk_buf_skip_ws(s, i + 1, len);
    if (i < len && s[i] == '}')
        return yk_buf_skip_ws(s, i + 1, len) == len;
    for (;;) {
        bool esc = false;
        if (i >= len || s[i] != '"')
            return false;
        size_t key = i + 1, end = yk_buf_scan_string(s, i, len, &esc);
        if (end == 0 || esc || end == key + 1 || yk_buf_key_before(s, key, end - 1 - key))
            return false;
        i = yk_buf_skip_ws(s, end, len);
        if (i >= len || s[i] != ':')
            return false;
        i = yk_buf_skip_ws(s, i + 1, len);
        if (i < len && s[i] == '"')
            i = yk_buf_scan_string(s, i, len, &esc);
        else if (len - i >= 4 && memcmp(s + i, "true", 4) == 0)
            i += 4;
        else if (len - i >= 5 && memcmp(s + i, "false", 5) == 0)
            i += 5;
        else if (i < len && (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')))
            i = yk_buf_scan_integer(s, i, len); /* a number field's value */
        else
            return false;
        if (i == 0)
            return false;
        i = yk_buf_skip_ws(s, i, len);
        if (i < len && s[i] == ',') {
            i = yk_buf_skip_ws(s, i + 1, len);
            continue;
        }
        return i < len && s[i] == '}' && yk_buf_skip_ws(s, i + 1, len) == len;
    }
}
