/* catalogue: the ingress's in-memory copy of events and slots, built from rows a loader reads
 * (catalogue_sql.c: PostgreSQL) and kept current by the workers' "remaining" messages. Readers
 * borrow pointers that stay valid only until the loop next runs a reload completion, so never
 * keep them across an asynchronous step. Pure logic: no I/O of its own (unit-tested). */
#ifndef CATALOGUE_H
#define CATALOGUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "yk_fields.h"
#include "yk_phase.h"

typedef struct {
    int64_t id;
    char id_str[24];
    int64_t event_id;
    char *starts_at, *ends_at; /* RFC 3339 in the event's zone */
    int capacity;
    int remaining; /* updated from the workers' "remaining" messages */
    int waiting;   /* waitlist entries waiting: the workers' "waiting" messages (waitlist.c) */
    int64_t ends;  /* ends_at as Unix seconds: an ended slot takes no booking, shows no seat */
} cat_slot;

typedef struct {
    int64_t id;
    char id_str[24];
    char *slug;
    json_t *json; /* the event as the API shows it (owned) */
    yk_fieldset fields;
    int per_person_limit;
    bool published, secret;
    char *password_hash;         /* owned argon2id string of a secret event; NULL otherwise */
    int64_t opens_at, closes_at; /* Unix seconds; 0 = unbounded */
    yk_phases phases;            /* phased opening; n == 0: none */
    unsigned partition;
    cat_slot **slots; /* borrowed from the slot table, ordered by starts_at */
    size_t nslots;
    size_t open_slots; /* slots with remaining > 0: 0 means sold out */
} cat_event;

/* One row of each query, as the loader read it; strings are borrowed for the call only. */
typedef struct {
    int64_t id;
    /* campaign: the partition key (events.partition_key: campaign, else the prerequisite's key,
     * else the slug); "" stands for the slug */
    const char *slug, *fields_json, *campaign, *event_json;
    const char *password_hash; /* NULL when not secret */
    int per_person_limit;
    bool published, secret;
    int64_t opens_at, closes_at;
} cat_event_row;

typedef struct {
    int64_t id, event_id;
    const char *starts_at, *ends_at;
    int capacity, remaining;
    int waiting;
    int64_t ends;
} cat_slot_row;

/* Starts a load's queries: returns 0 when they are under way (the loader then calls
 * catalogue_load_event for each event in id order, catalogue_load_slot for each slot in id order,
 * and catalogue_load_end once), or -1 when nothing was sent (the load fails at once). */
typedef int (*catalogue_loader)(void);

/* Before the first reload: who loads, and the number of request streams (YOYAKU_PARTITIONS). */
void catalogue_init(catalogue_loader start, unsigned partitions);
void catalogue_load_event(const cat_event_row *row); /* a bad row is logged and skipped */
void catalogue_load_slot(const cat_slot_row *row);
void catalogue_load_end(bool ok);

typedef void (*catalogue_done_cb)(void *ud, int ok);

/* Starts a reload; done (may be NULL) runs once a load that began after this call completes. */
void catalogue_reload(catalogue_done_cb done, void *ud);
/* A load has completed once: the catalogue can be read. */
bool catalogue_loaded(void);
/* Loaded, and no reload has failed since the last one that succeeded: an event it does not hold
 * does not exist (otherwise it may be one this ingress could not load yet). */
bool catalogue_current(void);

cat_event *catalogue_event(const char *slug);
cat_event *catalogue_event_at(size_t i); /* NULL past the end; ordered by id */
cat_event *catalogue_event_by_id(int64_t id);
cat_slot *catalogue_slot(int64_t id);
void catalogue_set_remaining(int64_t slot_id, int remaining);
/* A message of the yk:events channel (proto/streams.md): "remaining <event> <slot> <seats> …"
 * updates seat counts, "catalogue" starts a reload; anything else is ignored. */
void catalogue_on_message(const char *msg, size_t len);
/* JSON for one event (new reference); admin adds the fields only staff may see. */
json_t *catalogue_event_json(const cat_event *e, bool admin);
/* A booking's stored fields (borrowed) as the API shows them: in e's definition order, values
 * typed as defined (a number field a JSON number), then any value the definition no longer names.
 * A new reference; NULL when out of memory. */
json_t *catalogue_booking_fields(const cat_event *e, json_t *stored);
void catalogue_free(void);

#endif
