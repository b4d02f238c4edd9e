/* yk_text: NFKC, trimming and case folding with libunistring. Returned strings are malloc'd. */
#include "yk_text.h"

#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

bool yk_text_valid_utf8(const char *s, size_t len)
{
    return memchr(s, '\0', len) == NULL && u8_check((const uint8_t *)s, len) == NULL;
}

bool yk_text_has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

char *yk_text_decimal(char *p, unsigned long long v)
{
    char digits[20];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = digits[--n];
    return p;
}

size_t yk_text_length(const char *s)
{
    return u8_mbsnlen((const uint8_t *)s, strlen(s));
}

/* Returns a NUL-terminated copy of the libunistring result r[0..n), freeing r. */
static char *text_terminate(uint8_t *r, size_t n)
{
    if (r == NULL)
        return NULL;
    char *out = malloc(n + 1);
    if (out != NULL) {
        memcpy(out, r, n);
        out[n] = '\0';
    }
    free(r);
    return out;
}

/* ASCII is its own NFKC form and folds by tolower: the common case skips libunistring, which
 * was a third of the ingress's instructions per reservation. */
static bool text_is_ascii(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0x80)
            return false;
    return true;
}

char *yk_text_nfkc(const char *s)
{
    size_t len = strlen(s), n = 0;
    if (text_is_ascii(s))
        return strdup(s);
    if (!yk_text_valid_utf8(s, len))
        return NULL;
    uint8_t *r = u8_normalize(UNINORM_NFKC, (const uint8_t *)s, len, NULL, &n);
    return text_terminate(r, n);
}

static bool text_is_space(ucs4_t uc)
{
    return uc_is_space(uc) || uc_is_cntrl(uc) || uc == 0x3000;
}

/* Trims Unicode white space (and controls) at both ends, in place. Only the ends are decoded:
 * classifying every character was a twentieth of the ingress's instructions per booking. */
static void text_trim(char *s)
{
    const uint8_t *start = (const uint8_t *)s, *end = start + strlen(s), *prev;
    ucs4_t uc;
    int n;
    while (start < end && (n = u8_mbtouc(&uc, start, end - start)) > 0 && text_is_space(uc))
        start += n;
    while (end > start && (prev = u8_prev(&uc, end, start)) != NULL && text_is_space(uc))
        end = prev;
    size_t keep = end - start;
    memmove(s, start, keep);
    s[keep] = '\0';
}

char *yk_text_clean(const char *s)
{
    char *n = yk_text_nfkc(s);
    if (n != NULL)
        text_trim(n);
    return n;
}

char *yk_text_identity(const char *s)
{
    char *c = yk_text_clean(s);
    if (c == NULL)
        return NULL;
    if (text_is_ascii(c)) {
        for (char *p = c; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        return c;
    }
    size_t n = 0;
    uint8_t *r = u8_casefold((const uint8_t *)c, strlen(c), NULL, UNINORM_NFKC, NULL, &n);
    free(c);
    return text_terminate(r, n);
}

bool yk_text_is_email(const char *s)
{
    size_t len = strlen(s);
    if (len < 3 || len > 254)
        return false;
    const char *at = strchr(s, '@');
    if (at == NULL || at == s || strchr(at + 1, '@') != NULL)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>' || *p == ',' || *p == ';' ||
            *p == '"' || *p == '\\')
            return false;
    const char *dot = strrchr(at + 1, '.');
    /* "a.@b.c" stays valid: old Japanese mobile addresses look like that and still receive mail. */
    return dot != NULL && dot > at + 1 && at[1] != '.' && dot[1] != '\0' &&
           strstr(at + 1, "..") == NULL;
}
