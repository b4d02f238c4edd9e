/* persist: everything the worker asks PostgreSQL — the session, loading an event's seat and
 * per-person state, looking up committed bookings, and the one-statement batch insert. */
#ifndef PERSIST_H
#define PERSIST_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "map.h"

/* A slot as the deciding worker sees it; times are preformatted in the event's time zone. */
typedef struct {
    int64_t id;
    int capacity, booked;
    char *starts_at, *ends_at; /* owned */
} persist_slot;

/* An event's decision state. counts is borrowed from the partition's scope map: events of one
 * campaign share one identity → active-booking-count map (the contract counts the limit across
 * the campaign), other events have their own. */
typedef struct {
    int64_t id;
    char *slug, *tz; /* owned */
    int limit;       /* per_person_limit */
    map slots;       /* slot id (decimal) → persist_slot*, owned */
    map *counts;     /* identity → (void *)(intptr_t) active bookings; owned by the scope map */
} persist_event;

/* Opens a session with synchronous_commit=on. NULL on failure (logged). Caller PQfinish()es. */
__attribute__((warn_unused_result)) PGconn *persist_connect(const char *conninfo,
                                                            const char *appname);

/* True when the session is gone: the caller must reconnect and forget every partition. */
bool persist_lost(PGconn *c);

/* Loads event id with its slots and, if scopes lacks it, its identity counts (scopes: scope key →
 * map*, owned by the caller, freed with persist_scope_free). 1 = *out set (caller frees with
 * persist_event_free), 0 = no such event, -1 = error (check persist_lost). */
__attribute__((warn_unused_result)) int persist_event_load(PGconn *c, int64_t id, map *scopes,
                                                           persist_event **out);

/* Adds slot_id to e if it belongs to e (slots created after e was loaded). 1 = added and *out set
 * (owned by e), 0 = not a slot of e, -1 = error. */
__attribute__((warn_unused_result)) int persist_slot_load(PGconn *c, persist_event *e,
                                                          int64_t slot_id, persist_slot **out);

void persist_event_free(void *e);
void persist_scope_free(void *counts);

/* Committed bookings among request ids rids[0..n) (each 32 hex digits). Columns, all text:
 * request_id, id, slot_id, status, email, fields, created_at, slug, starts_at, ends_at.
 * NULL on error. Caller PQclear()s. */
__attribute__((warn_unused_result)) PGresult *persist_lookup(PGconn *c, const char *const *rids,
                                                             int n);

/* Inserts the bookings described by json (an array of {"rid","ev","slot","email","ident","fields",
 * "th","l1"}) and adds them to their slots' booked counters, in one auto-committed statement.
 * Already-present request ids are skipped. Returns the inserted rows (request_id, id, created_at
 * formatted in the event's zone), or NULL on error with the SQLSTATE copied into sqlstate
 * ("" when there is none). Caller PQclear()s. */
__attribute__((warn_unused_result)) PGresult *persist_insert(PGconn *c, const char *json,
                                                             char sqlstate[6]);

#endif
