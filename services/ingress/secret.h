/* secret: the access tokens of secret events — signed, expiring, no server state. The password
 * hashes behind them are pwhash.h's; the route and the failure limit are routes_secret.c's. */
#ifndef SECRET_H
#define SECRET_H

#include <stdint.h>

#define SECRET_KEY_BYTES 32 /* YOYAKU_TOKEN_KEY */
#define SECRET_TOKEN_LEN 64 /* base64url of 48 bytes */

/* A token is base64url (no padding) of the event id and the expiry (Unix seconds), 8 bytes
 * big-endian each, then their HMAC-SHA-512-256 (crypto_auth) followed by the event's password hash
 * under a key derived from YOYAKU_TOKEN_KEY (BLAKE2b keyed with it, of "yoyaku access token").
 * No server state: any ingress with the key verifies it; a new password voids the old tokens. */
void secret_token_sign(const unsigned char key[SECRET_KEY_BYTES], int64_t event_id,
                       const char *password_hash, int64_t expires, char out[SECRET_TOKEN_LEN + 1]);

typedef enum {
    SECRET_TOKEN_OK = 0,
    SECRET_TOKEN_BAD = -1,    /* absent, malformed, forged, another event's or another password's */
    SECRET_TOKEN_EXPIRED = -2 /* genuine, but at or past its expiry */
} secret_token_result;
/* Checks token (may be NULL) for event_id and its current password_hash at time now. */
secret_token_result secret_token_verify(const unsigned char key[SECRET_KEY_BYTES], int64_t event_id,
                                        const char *password_hash, const char *token, int64_t now);

#endif
