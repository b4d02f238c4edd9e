/* yk_fields: an event's booker-field definitions (contract §2 "field") and the validation of a
 * booker's values against them. A yk_fieldset owns all its memory, including compiled regexes. */
#ifndef YK_FIELDS_H
#define YK_FIELDS_H

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
    YK_FT_TEXT,
    YK_FT_EMAIL,
    YK_FT_TEL,
    YK_FT_DATE,
    YK_FT_NUMBER,
    YK_FT_SELECT,
    YK_FT_CHECKBOX
} yk_field_type;

typedef struct {
    char *name;        /* [a-z0-9_]+, at most 64 bytes */
    yk_field_type type;
    bool required;
    long max_length;   /* code points; 0 = default limit of 1000 */
    bool has_pattern;
    regex_t pattern;   /* POSIX extended, anchored by the definition's author (or not) */
    char **options;    /* select only */
    size_t n_options;
    bool identity;
} yk_field;

typedef struct {
    yk_field *fields;
    size_t n;
    int identity;      /* index of the identity field, or -1 for "the booker's e-mail" */
} yk_fieldset;

/* Parses an event definition's "fields" array (borrowed). On success returns 0 and fills fs (free
 * with yk_fieldset_free). On failure returns -1, leaves fs empty, and appends one
 * {"field": "fields[i].<key>", "reason": <contract reason>} object per problem to errors (a
 * borrowed JSON array). Checks: array of objects, name syntax and uniqueness, known type, label is
 * a string or {"ja","en"} strings, max_length a positive integer, pattern compiles, select has a
 * non-empty string array of options, at most one identity, no unknown keys. */
__attribute__((warn_unused_result)) int yk_fieldset_parse(yk_fieldset *fs, const json_t *defs,
                                                          json_t *errors);
void yk_fieldset_free(yk_fieldset *fs);

/* Validates a booker's "fields" object (borrowed; NULL counts as {}). Appends one
 * {"field": name, "reason": r} per problem to errors, r one of required, too_long, pattern, type,
 * unknown_option, unknown_field (CR/LF in a value is reported as "pattern").
 * Types: text/email/tel/date are strings (email must look like an address, tel is digits, spaces,
 * + - ( ) after NFKC, date is YYYY-MM-DD and a real day), number is a JSON number or a string of
 * digits after NFKC, select is a string among options, checkbox is a boolean. An empty string or
 * null counts as absent. Returns the number of problems; when 0 and clean is not NULL, *clean is a
 * new reference to the object to store (strings NFKC-cleaned for email/tel/date/number; text kept
 * as given). */
__attribute__((warn_unused_result)) int yk_fieldset_check(const yk_fieldset *fs, const json_t *values,
                                                          json_t *errors, json_t **clean);

/* Borrowed pointer to the identity field's value in a cleaned fields object, or NULL if the event
 * has no identity field or the value is absent. */
const char *yk_fieldset_identity_value(const yk_fieldset *fs, const json_t *clean);

#endif
