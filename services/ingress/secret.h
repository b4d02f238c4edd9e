/* secret: the cryptography of secret events and its limits — argon2id password hashes made and
 * checked off the event loop under a cap on concurrent hashes, signed expiring access tokens, and
 * the per-address counter of failed unlocks. No route and no catalogue (routes_secret.c has them);
 * the event routes (create, PATCH) hash a new password with secret_hash_start. */
#ifndef SECRET_H
#define SECRET_H

#include <stdint.h>
#include <uv.h>

#include "yk_token.h"

/* argon2id at OWASP's first recommended setting: 19 MiB, 2 passes. A stored hash carries its own
 * parameters, so hashes made with other ones still verify. */
#define SECRET_PWHASH_MEMLIMIT YK_PWHASH_MEMLIMIT
#define SECRET_PWHASH_OPSLIMIT YK_PWHASH_OPSLIMIT
#define SECRET_HASH_MAX 128      /* crypto_pwhash_STRBYTES, with the NUL */
#define SECRET_PASSWORD_MAX 1024 /* bytes; a longer one is refused before any hashing */
#define SECRET_KEY_BYTES 32      /* YOYAKU_TOKEN_KEY */
#define SECRET_TOKEN_LEN 64      /* base64url of 48 bytes */

/* --- hashing off the loop ------------------------------------------------------------------ */

/* Before the first job: the loop whose thread pool runs the hashes, how many run at once (each
 * holds SECRET_PWHASH_MEMLIMIT of memory and a pool thread) and how many more may wait their
 * turn. */
void secret_pool_init(uv_loop_t *loop, unsigned max_running, unsigned max_waiting);

/* hash: the argon2id string (borrowed for the call), or NULL if hashing failed (memory). */
typedef void (*secret_hash_cb)(void *ud, const char *hash);
/* ok: 1 the password matches the hash, 0 it does not (or the hash is malformed), -1 failure. */
typedef void (*secret_verify_cb)(void *ud, int ok);

/* Hashes password (copied; NUL-terminated, at most SECRET_PASSWORD_MAX bytes) on a pool thread;
 * done(ud, …) runs later on the loop, exactly once. Returns 0 when started or queued, -1 when the
 * cap and the queue are full or memory ran out: then done is never called (answer 503). ud must
 * stay valid until done. */
__attribute__((warn_unused_result)) int secret_hash_start(const char *password, secret_hash_cb done,
                                                          void *ud);
/* Checks password against hash (both copied) likewise. */
__attribute__((warn_unused_result)) int secret_verify_start(const char *hash, const char *password,
                                                            secret_verify_cb done, void *ud);
/* Jobs on a pool thread now, and jobs waiting for one (for tests and metrics). */
unsigned secret_pool_running(void);
unsigned secret_pool_waiting(void);

/* --- access tokens --------------------------------------------------------------------------- */

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

/* --- failed unlocks per client address ------------------------------------------------------ */

#define SECRET_RATE_MAX 64     /* the largest limit; each address keeps that many times */
#define SECRET_RATE_SLOTS 2048 /* addresses tracked at once; the stalest is forgotten first */
#define SECRET_RATE_WINDOW 60  /* seconds */

typedef struct {
    unsigned char addr[16];          /* IPv6, or IPv4 mapped (::ffff:a.b.c.d) */
    uint32_t times[SECRET_RATE_MAX]; /* a ring of the last failures (Unix seconds, low 32 bits) */
    uint8_t next;                    /* where the next failure goes */
    uint8_t used;                    /* how many of times[] hold a failure */
} secret_rate_entry;

typedef struct {
    int limit; /* failures a minute; 0 = no limit */
    secret_rate_entry e[SECRET_RATE_SLOTS];
} secret_rate;

/* Empties r and sets its limit (clamped to 0…SECRET_RATE_MAX). */
void secret_rate_init(secret_rate *r, int limit);
/* An unlock attempt from addr at now: when addr failed limit times within the last minute,
 * returns the seconds until the oldest of those ages out (≥ 1) and records nothing; else counts
 * the attempt as a failure, so attempts in flight count too, and returns 0. */
int secret_rate_take(secret_rate *r, const unsigned char addr[16], int64_t now);
/* The attempt counted by the last secret_rate_take for addr succeeded: it is not a failure. */
void secret_rate_give_back(secret_rate *r, const unsigned char addr[16]);
/* Failures of addr within the minute before now (for tests). */
int secret_rate_failures(const secret_rate *r, const unsigned char addr[16], int64_t now);

#endif
