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
#define YK_FIELD_PATTERN_MAX 256      /* bytes of a pattern */
#define YK_FIELD_PATTERN_WEIGHT 1000  /* expanded size of a pattern (yk_fields_pattern_cheap) */
/* Largest number value: 2^53 - 1, the last integer a JavaScript client reads exactly. */
#define YK_FIELD_NUMBER_MAX 9007199254740991ULL

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
 *   pattern        name not [a-z0-9_]+; pattern costly (yk_fields_pattern_cheap) or does not
 *                  compile; an option or a label holds CR/LF (or NUL)
 *   too_long       name over YK_FIELD_NAME_MAX bytes
 *   unknown_option type is not one of the seven
 *   unknown_field  a key not in the contract; label key other than ja/en; options on a non-select;
 *                  pattern or max_length on a checkbox
 *   duplicate      a name used twice, a second identity field, an option listed twice
 * label is optional (absent: show the name); options[j] must be non-empty strings ("type").
 * An error's "field" names a key of the definition cut to 80 bytes on a character boundary. */
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
 * (yk_text_is_email) and be ASCII; tel is digits, spaces, + - ( ) with at least one digit; date is
 * YYYY-MM-DD and a real day; number is a non-negative JSON integer or a string of digits, at most
 * YK_FIELD_NUMBER_MAX; select is exactly one of options; checkbox is a boolean, and a required
 * checkbox must be true. Values are measured and matched in the form they are stored: text (unless
 * it is the identity) and select as given; the identity text, email, tel, date and number
 * NFKC-cleaned (yk_text_clean), with the dashes Japanese input methods produce (U+2010..U+2015,
 * U+2212, U+30FC) turned into '-' for tel and date; numbers as a decimal string. Returns the number
 * of problems, or -1 when out of memory (errors may hold some entries). When 0 and clean is not
 * NULL, *clean is a new reference to the object to store, holding only the present values, in
 * definition order, typed as defined: a number is a JSON number (its leading zeros dropped), a
 * checkbox a boolean, any other value a string. Otherwise *clean is set to NULL. */
__attribute__((warn_unused_result)) int
yk_fieldset_check(const yk_fieldset *fs, const json_t *values, json_t *errors, json_t **clean);

/* Borrowed pointer to the identity field's value in a cleaned fields object, or NULL if the event
 * has no identity field or the value is absent. A number identity is written into a per-thread
 * buffer, valid until the next call. The caller still applies yk_text_identity. */
const char *yk_fieldset_identity_value(const yk_fieldset *fs, const json_t *clean);

/* A booking's stored fields (borrowed) as the API shows them: a new object in definition order,
 * values typed as defined (a number stored as a string of digits becomes a JSON number), then any
 * key the definition no longer names, as stored. NULL when out of memory; {} if stored is not an
 * object. */
json_t *yk_fieldset_present(const yk_fieldset *fs, const json_t *stored);

/* What is wrong with a cleaned (yk_text_clean) booker e-mail address, as a reason of contract §2:
 * "too_long" over 254 bytes, "type" when not ASCII (mail is sent without SMTPUTF8), "pattern" when
 * it does not look like an address (yk_text_is_email); NULL when it is fine. */
const char *yk_fields_email_problem(const char *s);

/* True if the POSIX extended regex p is cheap to compile and to match: at most
 * YK_FIELD_PATTERN_MAX bytes, groups nested at most 8 deep, no repetition of a repetition (as in
 * "a++" or "a*{2}"), no back-reference, and an expanded size (atoms count 1, a group what it holds
 * plus 1, "{n,m}" multiplies what it repeats by max(n,m)+1, "*", "+" and "?" by 2) of at most
 * YK_FIELD_PATTERN_WEIGHT. Says nothing about whether regcomp accepts it. */
bool yk_fields_pattern_cheap(const char *p);

#endif
