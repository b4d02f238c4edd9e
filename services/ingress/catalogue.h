/* catalogue: the ingress's in-memory copy of events and slots, loaded from PostgreSQL and
 * reloaded on a "catalogue" message. Readers borrow pointers that stay valid only until the loop
 * next runs a reload completion, so never keep them across an asynchronous step. */
#ifndef CATALOGUE_H
#define CATALOGUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "yk_fields.h"

typedef struct {
    int64_t id;
    char id_str[24];
    int64_t event_id;
    char *starts_at, *ends_at; /* RFC 3339 in the event's zone */
    int capacity;
    int remaining;             /* updated from the workers' "remaining" messages */
} cat_slot;

typedef struct {
    int64_t id;
    char id_str[24];
    char *slug;
    json_t *json;              /* the event as the API shows it (owned) */
    yk_fieldset fields;
    int per_person_limit;
    bool published, secret;
    int64_t opens_at, closes_at; /* Unix seconds; 0 = unbounded */
    unsigned partition;
    cat_slot **slots;          /* borrowed from the slot table, ordered by starts_at */
    size_t nslots;
    size_t open_slots;         /* slots with remaining > 0: 0 means sold out */
} cat_event;

typedef void (*catalogue_done_cb)(void *ud, int ok);

/* Starts a reload; done (may be NULL) runs once a load that began after this call completes. */
void catalogue_reload(catalogue_done_cb done, void *ud);
bool catalogue_loaded(void);

cat_event *catalogue_event(const char *slug);
cat_event *catalogue_event_at(size_t i); /* NULL past the end; ordered by id */
cat_event *catalogue_event_by_id(int64_t id);
cat_slot *catalogue_slot(int64_t id);
void catalogue_set_remaining(int64_t slot_id, int remaining);
/* JSON for one event (new reference); admin adds the fields only staff may see. */
json_t *catalogue_event_json(const cat_event *e, bool admin);
void catalogue_free(void);

#endif
