/* pwhash: argon2id password hashes (libsodium crypto_pwhash_str) made and checked off the event
 * loop, on its thread pool, under a cap on concurrent hashes — the one machinery behind secret
 * events' passwords (routes_secret.c, admin_write.c) and staff passwords (staff.c). */
#ifndef PWHASH_H
#define PWHASH_H

#include <uv.h>

#include "yk_token.h"

/* argon2id at OWASP's first recommended setting: 19 MiB, 2 passes. A stored hash carries its own
 * parameters, so hashes made with other ones still verify. */
#define PWHASH_MEMLIMIT YK_PWHASH_MEMLIMIT
#define PWHASH_OPSLIMIT YK_PWHASH_OPSLIMIT
#define PWHASH_HASH_MAX 128      /* crypto_pwhash_STRBYTES, with the NUL */
#define PWHASH_PASSWORD_MAX 1024 /* bytes; a longer one is refused before any hashing */

/* Before the first job: the loop whose thread pool runs the hashes, how many run at once (each
 * holds PWHASH_MEMLIMIT of memory and a pool thread) and how many more may wait their
 * turn. */
void pwhash_pool_init(uv_loop_t *loop, unsigned max_running, unsigned max_waiting);

/* hash: the argon2id string (borrowed for the call), or NULL if hashing failed (memory). */
typedef void (*pwhash_hash_cb)(void *ud, const char *hash);
/* ok: 1 the password matches the hash, 0 it does not (or the hash is malformed), -1 failure. */
typedef void (*pwhash_verify_cb)(void *ud, int ok);

/* Hashes password (copied; NUL-terminated, at most PWHASH_PASSWORD_MAX bytes) on a pool thread;
 * done(ud, …) runs later on the loop, exactly once. Returns 0 when started or queued, -1 when the
 * cap and the queue are full or memory ran out: then done is never called (answer 503). ud must
 * stay valid until done. */
__attribute__((warn_unused_result)) int pwhash_hash_start(const char *password, pwhash_hash_cb done,
                                                          void *ud);
/* Checks password against hash (both copied) likewise. */
__attribute__((warn_unused_result)) int pwhash_verify_start(const char *hash, const char *password,
                                                            pwhash_verify_cb done, void *ud);
/* Jobs on a pool thread now, and jobs waiting for one (for tests and metrics). */
unsigned pwhash_running(void);
unsigned pwhash_waiting(void);

#endif
