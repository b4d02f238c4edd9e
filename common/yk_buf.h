/* yk_buf: the one growable byte buffer of the project, with a hard cap and a sticky failure flag;
 * writers for JSON text (RFC 8259) without building a tree, and the strict check of the booker's
 * `fields` text that the worker embeds verbatim.
 * A yk_buf owns its memory (yk_buf_free); p is valid until the next append, reset or free. */
#ifndef YK_BUF_H
#define YK_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *p;     /* owned; NULL until the first append. Not NUL-terminated: add a '\0' to end a
                    C string */
    size_t len;  /* bytes written */
    size_t cap;  /* bytes allocated */
    size_t max;  /* hard cap: len never exceeds it */
    bool failed; /* sticky, see below */
} yk_buf;

#define YK_BUF_INIT(max)                                                                           \
    {                                                                                              \
        NULL, 0, 0, (max), false                                                                   \
    }

/* Failure behaviour: an append that would pass max, or for which memory runs out, writes nothing
 * (the buffer keeps every byte it had) and sets failed; from then on every append is refused,
 * so a document is never silently missing a middle part. The owner checks failed once when the
 * document is complete, and drops the partial document with yk_buf_rewind to a length it noted
 * before starting it (or yk_buf_reset), which clears failed. */

/* Empties b and clears failed; keeps its memory for the next use. */
void yk_buf_reset(yk_buf *b);

/* Truncates b to len (<= b->len) and clears failed. */
void yk_buf_rewind(yk_buf *b, size_t len);

/* Releases b's memory and empties it (max kept: b is usable again). */
void yk_buf_free(yk_buf *b);

/* Raw bytes, copied as they are. */
void yk_buf_add(yk_buf *b, const void *s, size_t n);
void yk_buf_adds(yk_buf *b, const char *s); /* a C string */
void yk_buf_addc(yk_buf *b, char c);

/* A JSON string: s (a C string, valid UTF-8: the caller guarantees it) between quotes, with '"',
 * '\\' and the control characters below 0x20 escaped (\b \f \n \r \t, else \u00XX in upper case,
 * as jansson writes them); everything else, non-ASCII UTF-8 included, is copied as it is. */
void yk_buf_str(yk_buf *b, const char *s);

/* A JSON integer in decimal. */
void yk_buf_int(yk_buf *b, int64_t v);

/* Copies the JSON text s (trusted valid JSON, e.g. PostgreSQL's jsonb output) without the white
 * space between tokens, which is what jansson's JSON_COMPACT would write for it. */
void yk_buf_compact(yk_buf *b, const char *s);

/* True if s[0..len) is a flat JSON object as the ingress writes a booking's `fields`: keys are
 * non-empty strings written without escapes (field names are [a-z0-9_]+), never twice; values are
 * strings, true, false or integers (-?(0|[1-9][0-9]*), at most 18 digits: a number field); blanks
 * (space, tab) between tokens are allowed, line breaks are not (answers embed the text and travel
 * one per line). Strings must be valid UTF-8 without control characters, with valid escapes, no
 * \u0000 and no unpaired surrogate escape (PostgreSQL's jsonb refuses both). Anything this accepts,
 * both jsonb and JSON parsers accept, and it can be embedded in a larger JSON text as it is. No
 * allocation. */
bool yk_buf_fields_ok(const char *s, size_t len);

#endif
