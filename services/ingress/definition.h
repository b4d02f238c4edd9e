/* definition: validation of what staff send the admin routes — an event definition (contract §2
 * "Event definition"), a slot list or a slot generator, and the bookings list's query parameters.
 * Owns its regexes, compiled once per process on first use. No I/O but a stat of a time zone's
 * file; unit-tested. */
#ifndef DEFINITION_H
#define DEFINITION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* A checked event definition, ready for the INSERT. Strings are borrowed from the definition
 * checked (valid while it lives) unless marked owned; free with definition_free. */
typedef struct {
    const char *slug, *title, *description, *venue, *timezone, *lang, *password, *campaign,
        *opens_at, *closes_at;      /* NULL when absent (defaults are the caller's, as stored) */
    char *fields_json;              /* owned: the "fields" array as stored, "[]" when absent */
    char *prerequisite_json;        /* owned: {"event",…} as stored, NULL when none */
    const char *prerequisite_event; /* its slug, or NULL */
    char *reminder_json;            /* owned: {"at","days_before"} with defaults filled in */
    char *phases_json;              /* owned: the "phases" array as stored, NULL when none */
    int per_person_limit, cancel_until_hours;
    bool published;
} definition;

/* Checks def (borrowed) and appends {"field","reason"} to errors (borrowed array) per problem,
 * with the reasons of contract §2: unknown keys unknown_field; slug required/pattern; title
 * required; texts type/too_long, and pattern for CR/LF or NUL in a single-line text (all but
 * description and password); timezone and campaign pattern; lang unknown_option; fields as
 * yk_fieldset_parse says; per_person_limit, cancel_until_hours, reminder.days_before type when not
 * an integer in range; opens_at, closes_at, reminder.at pattern; prerequisite type (not an object),
 * prerequisite.event required/pattern, prerequisite.min_days type, prerequisite.require_attended
 * type, prerequisite.<other> unknown_field; phases as yk_phases_parse says. Whether the
 * prerequisite event exists is left to the caller (the database knows). Returns the number of
 * problems (then *out is empty), 0 with *out filled, or -1 when out of memory (*out empty). */
__attribute__((warn_unused_result)) int definition_check(json_t *def, json_t *errors,
                                                         definition *out);
/* Frees what out owns and empties it; safe on an empty one. */
void definition_free(definition *out);

/* The definition a PATCH asks for: current (borrowed; the event as the admin API shows it) with
 * patch (borrowed object) merged in as RFC 7396 says (a null removes the key, so the default
 * applies again; objects such as reminder merge key by key; arrays such as fields are replaced).
 * The keys only the server sets (id, secret) are dropped. Refused, with an error appended to
 * errors: slug other than the current one (slug pattern: an event keeps its links), campaign
 * changed (campaign pattern: the campaign picks the event's partition, and requests already
 * queued would be decided by another writer), password (password unknown_field: not changeable
 * here yet), prerequisite naming the event itself (prerequisite.event pattern). Returns the merged
 * object (a new reference) for definition_check, or NULL (out of memory, or an error appended). */
json_t *definition_merge(json_t *current, json_t *patch, json_t *errors);

/* A checked slot generator (contract §2 "generate"); strings borrowed from the object checked. */
typedef struct {
    const char *from, *to;  /* YYYY-MM-DD */
    char weekdays[128];     /* PostgreSQL array text: {1,3,5} */
    char times[48 * 6 + 4]; /* {09:00,13:30} */
    int duration_min, capacity;
} definition_generator;

/* Checks {"generate": gen}: errors as generate.<key> (required/pattern/type) or <key>
 * (unknown_field). Returns the number of problems appended; 0 with *out filled. */
__attribute__((warn_unused_result)) size_t definition_check_generator(json_t *gen, json_t *errors,
                                                                      definition_generator *out);

/* Checks a slot list {"slots": slots} (1..1000 objects of exactly starts_at, ends_at (RFC 3339
 * with offset) and capacity (0..100000)): "slots" required/type, "slots[i]" type/pattern. Returns
 * the number of problems appended. */
__attribute__((warn_unused_result)) size_t definition_check_slots(json_t *slots, json_t *errors);

/* Query parameters of the bookings list: a status of contract §2, a limit 1..1000, a cursor of 1
 * to 18 digits. */
bool definition_booking_status(const char *s);
bool definition_limit(const char *s, int *limit);
bool definition_cursor(const char *s);

/* Appends {"field","reason"} to errors (borrowed); a failed allocation loses that one entry. */
void definition_error(json_t *errors, const char *field, const char *reason);

#endif
