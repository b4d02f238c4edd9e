/* yk_phase: phased opening (contract §2 "Phases"): which bookers may book at time t. One rule for
 * the ingress (its fast refusal) and the worker (the decision). Pure: no I/O, no clock. */
#ifndef YK_PHASE_H
#define YK_PHASE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "yk_fields.h"

#define YK_PHASE_MAX 32 /* phases of one event */

typedef enum {
    YK_PHASE_ALL,    /* no field: everyone */
    YK_PHASE_NUMBER, /* a number field, bounds compared as numbers */
    YK_PHASE_DATE    /* a date field, bounds compared as days */
} yk_phase_kind;

typedef struct {
    int64_t opens;  /* Unix seconds */
    char *opens_at; /* owned: the RFC 3339 text as defined, for booking_closed's "opens_at" */
    yk_phase_kind kind;
    char field[YK_FIELD_NAME_MAX + 1];
    bool has_min, has_max;
    double min, max; /* a date as days since 1970-01-01 */
} yk_phase;

typedef struct {
    yk_phase *v; /* owned */
    size_t n;
} yk_phases;

#define YK_PHASES_INIT                                                                             \
    {                                                                                              \
        NULL, 0                                                                                    \
    }

/* Parses an event definition's "phases" (borrowed; NULL or JSON null: no phases, everyone may
 * book within the event's window). fs (borrowed) is the event's fields: when given, a phase's
 * field must name one of them of type number (bounds JSON numbers) or date (bounds "YYYY-MM-DD");
 * when NULL (a definition checked already, as the worker reads it) the kind follows the bounds'
 * JSON type. Each problem appends {"field","reason"} to errors (borrowed array; may be NULL):
 *   phases              type: not an array, or more than YK_PHASE_MAX phases
 *   phases[i]           type: not an object
 *   phases[i].opens_at  required; pattern: not RFC 3339 with an offset
 *   phases[i].field     type: not a string, or a field that is neither number nor date;
 *                       unknown_field: not a field of the event; required: min/max without field
 *   phases[i].min/max   required (field without either bound); type: wrong JSON type for the
 *                       field, or a number out of range; pattern: not a real date, or min > max
 *   phases[i].<other>   unknown_field
 * Returns 0 with *out filled (free with yk_phases_free), the number of problems (*out empty), or
 * -1 when out of memory (*out empty). */
__attribute__((warn_unused_result)) int yk_phases_parse(yk_phases *out, const json_t *phases,
                                                        const yk_fieldset *fs, json_t *errors);
void yk_phases_free(yk_phases *ph);

/* The phase this booker meets that opens first: the booker's values are a cleaned fields object
 * (borrowed; numbers as JSON numbers or strings of digits, dates as "YYYY-MM-DD"), a missing or
 * unreadable value meets no phase of its field. NULL when the booker meets none (never open).
 * With no phases at all there is nothing to meet: check ph->n first. */
const yk_phase *yk_phases_earliest(const yk_phases *ph, const json_t *values);

/* Whether a booker with these values may book at Unix second now; when not, *opens_at (may be
 * NULL) is the RFC 3339 time their phase opens (borrowed from ph), or NULL when none ever will. */
bool yk_phases_open(const yk_phases *ph, const json_t *values, int64_t now, const char **opens_at);

/* RFC 3339 with an offset ("2026-12-01T09:00:00+09:00", seconds and fraction optional, "Z") as
 * Unix seconds; -1 when it is not one (or not a real date and time). Fractions are dropped. */
int yk_phase_time(const char *s, int64_t *out);
/* "YYYY-MM-DD" (a real day) as days since 1970-01-01; -1 when it is not one. */
int yk_phase_date(const char *s, int64_t *days);

#endif
