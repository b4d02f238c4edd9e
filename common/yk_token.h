/* yk_token: random ids and secrets (libsodium). Every output is written into the caller's buffer.
 */
#ifndef YK_TOKEN_H
#define YK_TOKEN_H

#include <stddef.h>

/* argon2id at OWASP's first recommended setting (19 MiB, 2 passes): every stored password hash
 * (secret events, staff accounts) is made with these; a hash carries its own parameters. */
#define YK_PWHASH_MEMLIMIT (19u * 1024 * 1024)
#define YK_PWHASH_OPSLIMIT 2u
#define YK_TOKEN_LEN 43      /* 32 random bytes, base64url without padding */
#define YK_REQUEST_ID_LEN 32 /* 48-bit time, 80 random bits, lowercase hex */
#define YK_HASH_HEX_LEN 64   /* SHA-256, lowercase hex */

/* Must be called once before any other yk_token function; returns 0 or -1. */
__attribute__((warn_unused_result)) int yk_token_init(void);
void yk_token_new(char out[YK_TOKEN_LEN + 1]);
/* A new request id: the Unix time in milliseconds (12 hex digits) then 80 random bits (20). Ids
 * sort by creation time, so the unique index on bookings.request_id grows at its right edge
 * instead of at a random page per booking (PostgreSQL CPU per booking 30–37 → 25–29 µs for
 * 500-booking statements on a million rows, and no full-page image per booking after a
 * checkpoint); the random part keeps them unguessable. */
void yk_token_request_id(char out[YK_REQUEST_ID_LEN + 1]);
#define YK_TOKEN_KEY_BYTES 32

/* Parses YOYAKU_TOKEN_KEY: 64 hex characters. An empty string selects a fixed development key
 * (and returns 1 so the caller can warn); 0 on success, -1 if malformed. */
__attribute__((warn_unused_result)) int yk_token_key_parse(const char *hex,
                                                           unsigned char key[YK_TOKEN_KEY_BYTES]);
/* The booking token of a request: base64url(BLAKE2b-256 keyed with key, of the request id).
 * Deterministic, so the notifier can rebuild it for the cancel link and no table stores it. */
void yk_token_for_request(const unsigned char key[YK_TOKEN_KEY_BYTES], const char *request_id,
                          char out[YK_TOKEN_LEN + 1]);
/* A booking's check-in code, "YK1-<id>-<6 characters>" (contract §2): the characters are the
 * first 30 bits of HMAC-SHA256(key, "checkin:" + id) in Crockford base32 (0-9 A-Z without I L O
 * U), so a code is derived wherever a booking is shown and never stored, and cannot be made
 * without the key. id is a booking id (1 to 19 decimal digits); out receives "" for any other. */
#define YK_CHECKIN_CODE_MAX 30 /* "YK1-" + 19 digits + "-" + 6, without the NUL */
void yk_token_checkin_code(const unsigned char key[YK_TOKEN_KEY_BYTES], const char *id,
                           char out[YK_CHECKIN_CODE_MAX + 1]);
/* 1 when code is the check-in code of its booking (compared in constant time, letters of any
 * case), with the booking id copied into id; else 0 and id "". */
int yk_token_checkin_parse(const unsigned char key[YK_TOKEN_KEY_BYTES], const char *code,
                           char id[20]);
/* Hex SHA-256 of data[0..len). */
void yk_token_sha256_hex(const void *data, size_t len, char out[YK_HASH_HEX_LEN + 1]);
/* Constant-time comparison of two NUL-terminated strings of equal length; 1 if equal. */
int yk_token_equal(const char *a, const char *b);

#endif
