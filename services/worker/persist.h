/* persist: everything the worker asks PostgreSQL — the session, events' seat and per-person state,
 * committed bookings as typed rows, and the batch write (one transaction, one round trip). */
#ifndef PERSIST_H
#define PERSIST_H

#include <stdbool.h>
#include <stdint.h>

#include "map.h"
#include "yk_buf.h"
#include "yk_pgconn.h"
#include "yk_phase.h"

/* A slot as the deciding worker sees it; times are preformatted in the event's time zone. */
typedef struct {
    int64_t id;
    int capacity, booked;      /* booked counts the seats held for waitlist offers too */
    char *starts_at, *ends_at; /* owned */
    int64_t start, end; /* Unix seconds: start for the prerequisite's min_days; from end on, no
                         * booking (a seat a no-show released is not sold after the slot) */
    int waiting;        /* waitlist entries waiting: its free seats are theirs (waitlist.h) */
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
    /* Booking window: Unix seconds, 0 = none; opens_at: the RFC 3339 text for booking_closed
     * (owned, NULL when there is no opens_at). */
    int64_t opens, closes;
    char *opens_at;
    /* Prerequisite: pre = its event's id (0 none, -1 names an event that no longer exists),
     * prior = that event's history (identity → prior_list*, borrowed from the scope map, shared
     * with the prerequisite event, which shares this partition). */
    int64_t pre;
    int pre_days;
    bool pre_attended;
    map *prior;
    /* This event's own history, when an event of the partition depends on it (else NULL): what
     * this worker decides here is written to it. Found through scopes, which outlives e. */
    map *scopes;       /* the partition's scope map (borrowed) */
    char hist_key[24]; /* "h:<id>" */
    yk_phases phases;  /* phased opening (owned; read by phase_load): n == 0 none */
} persist_event;

/* Opens a session with synchronous_commit=on and the write statements prepared. NULL on failure
 * (logged). Caller closes it (yk_pgconn_close). */
__attribute__((warn_unused_result)) yk_pgconn *persist_connect(const char *conninfo,
                                                               const char *appname);

/* Loads event id with its slots and, if scopes lacks it, its identity counts and, when it has a
 * prerequisite, the prerequisite event's history (scopes: scope key → map*, owned by the caller,
 * freed with persist_scope_free). 1 = *out set (caller frees with
 * persist_event_free), 0 = no such event, -1 = error (check yk_pgconn_lost). */
__attribute__((warn_unused_result)) int persist_event_load(yk_pgconn *c, int64_t id, map *scopes,
                                                           persist_event **out);

/* Adds slot_id to e if it belongs to e (slots created after e was loaded). 1 = added and *out set
 * (owned by e), 0 = not a slot of e, -1 = error. */
__attribute__((warn_unused_result)) int persist_slot_load(yk_pgconn *c, persist_event *e,
                                                          int64_t slot_id, persist_slot **out);

void persist_event_free(void *e);
void persist_scope_free(void *counts);

/* A committed booking as the worker answers with it. Texts are borrowed from the list that holds
 * the row; times are in the event's zone; fields is PostgreSQL's jsonb text. */
typedef struct {
    const char *id, *slot_id, *status, *email, *fields, *created_at, *slug, *starts_at, *ends_at;
    const char *request_id;            /* persist_lookup only, else "" */
    const char *token_hash, *identity; /* persist_bookings only, else "" */
    int64_t event_id, slot;            /* persist_bookings only, else 0 */
    bool closed; /* persist_bookings: now() is past the slot start minus cancel_until_hours */
} persist_booking;

/* Rows of one query: v[0..n) borrow their texts from res. */
typedef struct {
    persist_booking *v; /* owned */
    int n;
    yk_pgres *res; /* owned */
} persist_bookings_list;

void persist_bookings_list_free(persist_bookings_list *l);

/* Committed bookings among request ids rids[0..n) (each 32 hex digits). 0 and *out set (the
 * caller frees it), or -1 on error (check yk_pgconn_lost). */
__attribute__((warn_unused_result)) int persist_lookup(yk_pgconn *c, const char *const *rids, int n,
                                                       persist_bookings_list *out);

/* The bookings with ids ids[0..n) (positive decimals), for deciding cancellations. As
 * persist_lookup. */
__attribute__((warn_unused_result)) int persist_bookings(yk_pgconn *c, const char *const *ids,
                                                         int n, persist_bookings_list *out);

/* The bookings of one insert, column by column, as PostgreSQL binary arrays: the insert
 * statement's eight parameters (request id, event, slot, e-mail, identity, fields, token hash,
 * per_person_limit was 1), so PostgreSQL parses no JSON but each booking's fields (jsonb_in of a
 * JSON payload of whole records was a tenth of its CPU per booking). Owns its buffers; reused
 * from write to write. */
#define PERSIST_COLS 8
typedef struct {
    yk_buf col[PERSIST_COLS];
    int32_t n; /* rows */
} persist_rows;

/* Empties r for a new set of rows (max: each column's cap in bytes). */
void persist_rows_reset(persist_rows *r, size_t max);
/* Appends one booking; rid, email, ident, th are C strings, fields is fields_len bytes of JSON
 * object text. A row that does not fit sets the failed flag of a column (persist_rows_failed). */
void persist_rows_add(persist_rows *r, const char *rid, int64_t ev, int64_t slot, const char *email,
                      const char *ident, const char *fields, size_t fields_len, const char *th,
                      bool limit_one);
bool persist_rows_failed(const persist_rows *r);
/* Gives the columns' memory back (r stays usable). */
void persist_rows_free(persist_rows *r);

/* A booking inserted by persist_write (texts borrowed from its persist_written). */
typedef struct {
    const char *request_id, *id, *created_at; /* created_at in the event's zone */
} persist_inserted;

/* What persist_write committed; persist_written_free releases it (also when zeroed). */
typedef struct {
    const char **cancelled; /* ids of the bookings cancelled now */
    int n_cancelled;
    bool cascaded; /* bookings depending on those (dose 2 of a dose 1) were cancelled too */
    persist_inserted *inserted; /* bookings inserted now */
    int n_inserted;
    yk_pgres *res[2]; /* own the texts */
} persist_written;

void persist_written_free(persist_written *w);

/* One transaction, one round trip (a libpq pipeline when both are given):
 * cancels (NULL = none), a JSON array of {"bid","ev","th"}: each booking that is still confirmed,
 *   belongs to event ev, has token hash th and may still be cancelled becomes cancelled, frees its
 *   seat, has its pending reminder cancelled and gets a cancellation mail job; so does every
 *   confirmed booking of the same identity in an event whose prerequisite (at any depth) is the
 *   cancelled booking's event;
 * inserts (NULL or no rows = none): the bookings are inserted (request ids already present are
 *   skipped) and added to their slots' booked counters; every confirmed booking of these request
 *   ids gets its confirmation mail job (at most one, ever; the notifier writes the reminder job
 *   when it settles the confirmation).
 *   fresh: the request ids were read for the first time, so they are expected to be new: the
 *   cheaper statement is used, and one already present refuses the write (sqlstate 23505) instead
 *   of being skipped — write it again with fresh false.
 * pg_notify('yk_outbox', '') is raised once per statement that wrote a mail job (delivered at
 * commit).
 * 1 = committed: *out holds what was cancelled and inserted now (the caller frees it with
 * persist_written_free). 0 = refused, nothing committed, sqlstate set ("" when there is none).
 * -1 = the session is lost or unusable: the caller must close it even if it still looks up. */
__attribute__((warn_unused_result)) int persist_write(yk_pgconn *c, const char *cancels,
                                                      persist_rows *inserts, bool fresh,
                                                      persist_written *out, char sqlstate[6]);

/* True when a statement failed since the previous call with an error that time may cure (SQLSTATE
 * class 08 connection, 53 insufficient resources, 57 operator intervention, 58 system error):
 * an entry that keeps failing so is answered 503 rather than 500 (deadletter.h). Clears the flag.
 */
bool persist_take_transient(void);

#endif
