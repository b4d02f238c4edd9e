/* yk_text: Unicode text rules shared by ingress and worker (libunistring).
 * Every returned string is malloc'd and owned by the caller (free()). */
#ifndef YK_TEXT_H
#define YK_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* True if s[0..len) is well-formed UTF-8 without NUL bytes. */
bool yk_text_valid_utf8(const char *s, size_t len);

/* True if s contains CR or LF (header injection guard). */
bool yk_text_has_crlf(const char *s);

/* Number of Unicode code points in a valid UTF-8 string. */
size_t yk_text_length(const char *s);

/* NFKC-normalises s; NULL if s is not valid UTF-8 or on allocation failure. */
char *yk_text_nfkc(const char *s);

/* Identity key for per-person limits: NFKC, then trim Unicode white space at both ends (after NFKC
 * U+3000 is a plain space), then full case folding. "１２３４" and " 1234 " both give "1234";
 * "Foo@Example.COM" gives "foo@example.com". NULL if s is not valid UTF-8. */
char *yk_text_identity(const char *s);

/* NFKC then trim; what the ingress stores for e-mail, tel, number and date values. NULL if invalid.
 */
char *yk_text_clean(const char *s);

/* Writes v in decimal at p (at most 20 bytes, no NUL); returns the end. For hot paths where
 * snprintf's cost shows (RESP lengths, keys and times of a submit). */
char *yk_text_decimal(char *p, unsigned long long v);

/* Plausible e-mail address: one '@', non-empty local part and a dotted domain, no spaces or
 * control characters, at most 254 bytes. Expects an already cleaned string. */
bool yk_text_is_email(const char *s);

#endif
