/* yk_fields: an event's booker-field definitions (contract §2 "field") and the validation of a
 * booker's values against them. A yk_fieldset owns all its memory, including compiled regexes. */
#ifndef YK_FIELDS_H
#define YK_FIELDS_H

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#define YK_FIELD_NAME_MAX 64          /* bytes */
#define YK_FIELD_MAX_LENGTH 1000      /* code points, when the definition gives no max_length */
#define YK_FIELD_MAX_LENGTH_CAP 65536 /* largest max_length allowed: the body limit (64 KiB) */

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
    char *name; /* [a-z0-9_]+, at most YK_FIELD_NAME_MAX bytes */
    yk_field_type type;
    bool required;   /* forced true for the identity field */
    long max_length; /* code points; 0 = YK_FIELD_MAX_LENGTH */
    bool has_pattern;
    regex_t pattern; /* POSIX extended, anchored by the definition's author (or not). Matches bytes
                      * unless the process runs with a UTF-8 LC_CTYPE (setlocale). */
    char **options;  /* select only */
    size_t n_options;
    bool identity;
} yk_field;

typedef struct {
    yk_field *fields;
    size_t n;
    int identity; /* index of the identity field, or -1 for "the booker's e-mail" */
} yk_fieldset;

/* Parses an event definition's "fields" array (borrowed; NULL counts as []). On success returns 0
 * and fills fs (free with yk_fieldset_free). On failure returns -1 and leaves fs empty; every
 * problem found appends {"field": "fields[i].<key>", "reason": r} to errors (a borrowed JSON
 * array); -1 with nothing appended means out of memory. Reasons:
 *   type           "fields" not an array, fields[i] not an object, a key of the wrong JSON type,
 *                  max_length not an integer in 1..YK_FIELD_MAX_LENGTH_CAP, identity on a checkbox
 *   required       name or type missing; select without options (or with []); label {}
 *   pattern        name not [a-z0-9_]+; pattern does not compile; an option holds CR/LF
 *   too_long       name over YK_FIELD_NAME_MAX bytes
 *   unknown_option type is not one of the seven
 *   unknown_field  a key not in the contract; label key other than ja/en; options on a non-select;
 *                  pattern or max_length on a checkbox
 *   duplicate      a name used twice, a second identity field, an option listed twice
 * label is optional (absent: show the name); options[j] must be non-empty strings ("type"). */
__attribute__((warn_unused_result)) int yk_fieldset_parse(yk_fieldset *fs, const json_t *defs,
                                                          json_t *errors);
/* Frees everything fs owns and leaves it empty; safe on an empty or already freed set. */
void yk_fieldset_free(yk_fieldset *fs);

/* Validates a booker's "fields" object (borrowed; NULL counts as {}). Appends one
 * {"field": name, "reason": r} per problem to errors, r one of required, too_long, pattern, type,
 * unknown_option, unknown_field; at most one problem per defined field, then one per unknown key.
 * A non-object gives {"field": "fields", "reason": "type"}.
 * Order of checks for a value: absent (missing, null, or a string that is empty after NFKC and
 * trimming) -> "required" if required, else skipped; wrong JSON type -> type; CR/LF, NUL or invalid
 * UTF-8 -> pattern; longer than max_length code points -> too_long; bad form -> type (select:
 * unknown_option); pattern does not match -> pattern.
 * Types: text/email/tel/date/select are strings; email must look like an address
 * (yk_text_is_email); tel is digits, spaces, + - ( ) with at least one digit; date is YYYY-MM-DD
 * and a real day; number is a non-negative JSON integer or a string of digits; select is exactly
 * one of options; checkbox is a boolean, and a required checkbox must be true. Values are measured
 * and matched in the form they are stored: text (unless it is the identity) and select as given;
 * the identity text, email, tel, date and number NFKC-cleaned (yk_text_clean), with the dashes Japanese input methods produce (U+2010..U+2015,
 * U+2212, U+30FC) turned into '-' for tel and date; numbers as a decimal string. Returns the number
 * of problems, or -1 when out of memory (errors may hold some entries). When 0 and clean is not
 * NULL, *clean is a new reference to the object to store, holding only the present values;
 * otherwise *clean is set to NULL. */
__attribute__((warn_unused_result)) int
yk_fieldset_check(const yk_fieldset *fs, const json_t *values, json_t *errors, json_t **clean);

/* Borrowed pointer to the identity field's value in a cleaned fields object, or NULL if the event
 * has no identity field or the value is absent. The caller still applies yk_text_identity. */
const char *yk_fieldset_identity_value(const yk_fieldset *fs, const json_t *clean);

#endif
