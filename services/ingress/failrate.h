/* failrate: failures a minute per key — a client address (client.h) or a login's digest — the
 * counter behind 429 of unlock and sign-in. Bounded memory: a fixed table of keys, the stalest
 * forgotten first. */
#ifndef FAILRATE_H
#define FAILRATE_H

#include <stdint.h>

#define FAILRATE_KEY 16 /* bytes: an IP address (IPv4 mapped) or a digest cut to that */

#define FAILRATE_MAX 64     /* the largest limit; each key keeps that many times */
#define FAILRATE_SLOTS 2048 /* keys tracked at once; the stalest is forgotten first */
#define FAILRATE_WINDOW 60  /* seconds */

typedef struct {
    unsigned char key[FAILRATE_KEY];
    uint32_t times[FAILRATE_MAX]; /* a ring of the last failures (Unix seconds, low 32 bits) */
    uint8_t next;                 /* where the next failure goes */
    uint8_t used;                 /* how many of times[] hold a failure */
} failrate_entry;

typedef struct {
    int limit; /* failures a minute; 0 = no limit */
    failrate_entry e[FAILRATE_SLOTS];
} failrate;

/* Empties r and sets its limit (clamped to 0…FAILRATE_MAX). */
void failrate_init(failrate *r, int limit);
/* An attempt (an unlock, a sign-in) for key at now: when key failed limit times within the last
 * minute, returns the seconds until the oldest of those ages out (≥ 1) and records nothing; else
 * counts the attempt as a failure, so attempts in flight count too, and returns 0. */
int failrate_take(failrate *r, const unsigned char key[FAILRATE_KEY], int64_t now);
/* The attempt counted by the last failrate_take for key succeeded: it is not a failure. */
void failrate_give_back(failrate *r, const unsigned char key[FAILRATE_KEY]);
/* Failures of key within the minute before now (for tests). */
int failrate_count(const failrate *r, const unsigned char key[FAILRATE_KEY], int64_t now);

#endif
