/* yk_roster: a campaign's roster as keyed hashes (contract §2 "Roster") — the key, the hash of one
 * row or one booking's values, and a streaming parser of a roster CSV (UTF-8 or CP932, libcsv)
 * that turns each row into its hash. No I/O; yk_roster_pg.h stores what it makes. */
#ifndef YK_ROSTER_H
#define YK_ROSTER_H

#include <stdbool.h>
#include <stddef.h>

#include "yk_token.h"

/* BLAKE2b-128: keyed, so nobody without the key can test a guess */
#define YK_ROSTER_HASH_BYTES 16
#define YK_ROSTER_HEX_LEN (2 * YK_ROSTER_HASH_BYTES)
#define YK_ROSTER_MAX_FIELDS 16  /* columns of a roster */
#define YK_ROSTER_MAX_NAME 64    /* a column's name: [a-z0-9_]{1,64}, as an event field's */
#define YK_ROSTER_MAX_VALUE 1024 /* bytes of one value */
#define YK_ROSTER_MAX_ERRORS 20  /* problems reported per upload; the rest are counted only */

/* The roster key: BLAKE2b-256 keyed with YOYAKU_TOKEN_KEY over "yoyaku roster v1". A new token
 * key makes every stored roster unmatchable: upload the rosters again. */
void yk_roster_key(const unsigned char token_key[YK_TOKEN_KEY_BYTES],
                   unsigned char out[YK_TOKEN_KEY_BYTES]);

/* The hash of one row of campaign's roster: the keyed BLAKE2b-128 of the campaign and each
 * (name, value) pair in name order, every part length-prefixed (4 bytes, big endian), values
 * normalised as identities are (yk_text_identity: NFKC, trimmed, case-folded) — so a booking's
 * values hash to the same as the roster row they were written from, whatever the columns' order,
 * full-width digits or spaces around them. 0, or -1 when a value is not UTF-8 or memory ran out. */
__attribute__((warn_unused_result)) int yk_roster_hash(const unsigned char key[YK_TOKEN_KEY_BYTES],
                                                       const char *campaign, size_t n,
                                                       const char *const *names,
                                                       const char *const *values,
                                                       unsigned char out[YK_ROSTER_HASH_BYTES]);

/* Lowercase hex of a hash, NUL-terminated; and back (0, or -1 when hex is not 32 hex digits). */
void yk_roster_hex(const unsigned char h[YK_ROSTER_HASH_BYTES], char out[YK_ROSTER_HEX_LEN + 1]);
__attribute__((warn_unused_result)) int yk_roster_unhex(const char *hex,
                                                        unsigned char out[YK_ROSTER_HASH_BYTES]);

/* One problem of an upload: the record's number (1 = the header; a record is a line unless a
 * quoted value holds a line break) and a reason: empty_header (no header, or an empty name),
 * bad_header (a name not [a-z0-9_]{1,64} after normalising, or twice), column_count (not as many
 * values as the header has names), encoding (not UTF-8, or not CP932), too_long (a value over
 * YK_ROSTER_MAX_VALUE bytes, or more than YK_ROSTER_MAX_FIELDS columns), quoting (a quote where
 * RFC 4180 allows none; nothing after it is read). */
typedef struct {
    long line;
    const char *reason; /* a literal */
} yk_roster_error;

/* Called with each data row's hash, in file order, while no problem has been found. */
typedef void (*yk_roster_row_cb)(void *ud, const unsigned char h[YK_ROSTER_HASH_BYTES]);

typedef struct yk_roster_parser yk_roster_parser;

/* A parser for campaign's roster (copied); cp932: the bytes are CP932 (else UTF-8, a BOM
 * allowed). NULL when memory runs out. Free with yk_roster_parser_free. */
__attribute__((warn_unused_result)) yk_roster_parser *
yk_roster_parser_new(const unsigned char key[YK_TOKEN_KEY_BYTES], const char *campaign, bool cp932,
                     yk_roster_row_cb cb, void *ud);
/* Parses the next data[0..len) of the file (any cut, even inside a character). 0, or -1 when
 * memory ran out (the parser is then useless). Problems are collected, not returned. */
__attribute__((warn_unused_result)) int yk_roster_parser_feed(yk_roster_parser *p, const char *data,
                                                              size_t len);
/* The file ended: parses what is left (a last line without a line break, a cut character). 0 or
 * -1 as above. */
__attribute__((warn_unused_result)) int yk_roster_parser_end(yk_roster_parser *p);
/* Data rows parsed so far (all rows, also after a problem). */
long yk_roster_parser_rows(const yk_roster_parser *p);
/* Problems found so far: their number (all of them) and the first YK_ROSTER_MAX_ERRORS. */
size_t yk_roster_parser_nerrors(const yk_roster_parser *p);
const yk_roster_error *yk_roster_parser_error(const yk_roster_parser *p, size_t i);
/* The header's names (normalised) once it is read: their number, 0 before. Borrowed from p. */
size_t yk_roster_parser_fields(const yk_roster_parser *p, const char *const **names);
void yk_roster_parser_free(yk_roster_parser *p);

#endif
