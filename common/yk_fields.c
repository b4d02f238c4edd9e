/* yk_fields: parses field definitions into a yk_fieldset and validates booker values against it.
 * Owns the fieldset's names, options and regexes; errors and clean objects belong to the caller. */
#include "yk_fields.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yk_text.h"

static const char *const fields_type_names[] = {"text",   "email",  "tel",     "date",
                                                "number", "select", "checkbox"};
static const char *const fields_keys[] = {"name",       "label",   "type",    "required",
                                          "max_length", "pattern", "options", "identity"};
#define FIELDS_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Appends {"field", "reason"}; a failed allocation only loses that one entry. */
static void fields_error(json_t *errors, const char *field, const char *reason)
{
    json_array_append_new(errors, json_pack("{s:s, s:s}", "field", field, "reason", reason));
}

/* Copies at most max bytes of s into out (size > max), never cutting a UTF-8 character: a cut one
 * is invalid UTF-8, json_pack refuses it and the error it was meant to report vanishes. */
static void fields_cut(char *out, size_t size, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* s[n] continues a character that would be cut: drop all of it */
    }
    snprintf(out, size, "%.*s", (int)n, s);
}

/* ---- definitions ---- */

typedef struct {
    json_t *errors;
    size_t i; /* index of the definition being parsed */
    int problems;
    bool oom;
} fields_parse_ctx;

/* Reports a problem with key (NULL: the definition itself) of definition ctx->i. */
static void def_error(fields_parse_ctx *ctx, const char *key, const char *reason)
{
    char at[128];
    if (key == NULL)
        snprintf(at, sizeof at, "fields[%zu]", ctx->i);
    else
        snprintf(at, sizeof at, "fields[%zu].%s", ctx->i, key);
    fields_error(ctx->errors, at, reason);
    ctx->problems++;
}

static bool fields_name_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static void parse_name(fields_parse_ctx *ctx, yk_fieldset *fs, const json_t *v)
{
    if (v == NULL) {
        def_error(ctx, "name", "required");
        return;
    }
    if (!json_is_string(v)) {
        def_error(ctx, "name", "type");
        return;
    }
    const char *s = json_string_value(v);
    if (json_string_length(v) > YK_FIELD_NAME_MAX) {
        def_error(ctx, "name", "too_long");
        return;
    }
    /* strlen() == length also rules out an embedded NUL. */
    if (strlen(s) != json_string_length(v) || !fields_name_ok(s)) {
        def_error(ctx, "name", "pattern");
        return;
    }
    for (size_t j = 0; j < ctx->i; j++)
        if (fs->fields[j].name != NULL && strcmp(fs->fields[j].name, s) == 0) {
            def_error(ctx, "name", "duplicate");
            return;
        }
    if ((fs->fields[ctx->i].name = strdup(s)) == NULL)
        ctx->oom = true;
}

/* Returns true and sets *t if v names a type. */
static bool parse_type(fields_parse_ctx *ctx, const json_t *v, yk_field_type *t)
{
    if (v == NULL) {
        def_error(ctx, "type", "required");
        return false;
    }
    if (!json_is_string(v)) {
        def_error(ctx, "type", "type");
        return false;
    }
    for (size_t k = 0; k < FIELDS_COUNT(fields_type_names); k++)
        if (strcmp(json_string_value(v), fields_type_names[k]) == 0) {
            *t = (yk_field_type)k;
            return true;
        }
    def_error(ctx, "type", "unknown_option");
    return false;
}

/* A label is one line of a form, a mail and a CSV header: CR/LF or NUL would break all three. */
static bool fields_bad_line(const json_t *text)
{
    const char *s = json_string_value(text);
    return strlen(s) != json_string_length(text) || yk_text_has_crlf(s);
}

static void parse_label(fields_parse_ctx *ctx, const json_t *v)
{
    if (json_is_string(v)) {
        if (fields_bad_line(v))
            def_error(ctx, "label", "pattern");
        return;
    }
    if (!json_is_object(v)) {
        def_error(ctx, "label", "type");
        return;
    }
    const char *key;
    json_t *text;
    char at[96], cut[84];
    /* jansson's iterator is not const-correct; the object is only read. */
    json_object_foreach((json_t *)v, key, text)
    {
        fields_cut(cut, sizeof cut, key, 80);
        snprintf(at, sizeof at, "label.%s", cut);
        if (strcmp(key, "ja") != 0 && strcmp(key, "en") != 0)
            def_error(ctx, at, "unknown_field");
        else if (!json_is_string(text))
            def_error(ctx, at, "type");
        else if (fields_bad_line(text))
            def_error(ctx, at, "pattern");
    }
    if (json_object_size(v) == 0)
        def_error(ctx, "label", "required");
}

static void parse_options(fields_parse_ctx *ctx, yk_field *f, const json_t *v)
{
    if (v == NULL || (json_is_array(v) && json_array_size(v) == 0)) {
        def_error(ctx, "options", "required");
        return;
    }
    if (!json_is_array(v)) {
        def_error(ctx, "options", "type");
        return;
    }
    size_t m = json_array_size(v);
    if ((f->options = calloc(m, sizeof *f->options)) == NULL) {
        ctx->oom = true;
        return;
    }
    f->n_options = m;
    char at[64];
    for (size_t j = 0; j < m; j++) {
        const json_t *o = json_array_get(v, j);
        const char *s = json_string_value(o);
        snprintf(at, sizeof at, "options[%zu]", j);
        if (s == NULL || *s == '\0' || strlen(s) != json_string_length(o)) {
            def_error(ctx, at, "type");
            continue;
        }
        if (yk_text_has_crlf(s)) {
            def_error(ctx, at, "pattern");
            continue;
        }
        bool dup = false;
        for (size_t k = 0; k < j && !dup; k++)
            dup = f->options[k] != NULL && strcmp(f->options[k], s) == 0;
        if (dup)
            def_error(ctx, at, "duplicate");
        else if ((f->options[j] = strdup(s)) == NULL)
            ctx->oom = true;
    }
}

/* ---- what a pattern may cost ---- */

/* glibc's regcomp expands every repetition into copies of what it repeats and builds an automaton
 * from them: "%" then 22 "+" took 2.9 GiB and 6 s, on the ingress loop, at every catalogue reload.
 * So a pattern is measured before it is compiled: its expanded size (each atom counts 1, a group
 * the size of its content, a repetition {n,m} multiplies what it repeats by max(n,m)+1, * + ? by
 * 2) must stay under YK_FIELD_PATTERN_WEIGHT; repeating a repetition ("a++", "a*{2}", stacked
 * quantifiers, the finding) and back-references (exponential matching) are refused outright. */
#define FIELDS_PATTERN_DEPTH 8 /* nested groups */

/* Parses the bound of "{n}", "{n,}" or "{n,m}" at p (at its '{'): the index after '}', or 0. */
static size_t fields_bound(const char *p, unsigned long *reps)
{
    size_t i = 1;
    unsigned long n = 0, m;
    if (p[i] < '0' || p[i] > '9')
        return 0;
    for (; p[i] >= '0' && p[i] <= '9'; i++)
        if ((n = n * 10 + (unsigned long)(p[i] - '0')) > YK_FIELD_PATTERN_WEIGHT)
            return 0;
    m = n;
    if (p[i] == ',') {
        i++;
        for (m = 0; p[i] >= '0' && p[i] <= '9'; i++)
            if ((m = m * 10 + (unsigned long)(p[i] - '0')) > YK_FIELD_PATTERN_WEIGHT)
                return 0;
        if (m < n)
            m = n; /* "{n,}": at least n copies; "{2,1}" is left to regcomp to refuse */
    }
    if (p[i] != '}')
        return 0;
    *reps = m + 1;
    return i + 1;
}

/* The index after the bracket expression that starts at p[0] == '[', or 0 if it is not closed. */
static size_t fields_bracket(const char *p)
{
    size_t i = 1;
    if (p[i] == '^')
        i++;
    if (p[i] == ']')
        i++; /* a ']' first is a member */
    for (; p[i] && p[i] != ']'; i++)
        if (p[i] == '[' && (p[i + 1] == ':' || p[i + 1] == '.' || p[i + 1] == '=')) {
            const char *end = strchr(p + i + 2, p[i + 1]);
            while (end && end[1] != ']')
                end = strchr(end + 1, p[i + 1]);
            if (end == NULL)
                return 0;
            i = (size_t)(end + 1 - p);
        }
    return p[i] == ']' ? i + 1 : 0;
}

bool yk_fields_pattern_cheap(const char *p)
{
    if (strlen(p) > YK_FIELD_PATTERN_MAX)
        return false;
    unsigned long size[FIELDS_PATTERN_DEPTH + 1] = {0}, last = 0; /* last: the atom to repeat */
    int depth = 0;
    bool repeated = false;
    for (size_t i = 0; p[i];) {
        unsigned long atom = 1, reps;
        if (p[i] == '*' || p[i] == '+' || p[i] == '?' || p[i] == '{') {
            size_t n = 1;
            reps = 2;
            if (p[i] == '{' && (n = fields_bound(p + i, &reps)) == 0)
                return false;
            if (last == 0 || repeated)
                return false; /* nothing to repeat, or a repetition repeated */
            size[depth] += last * (reps - 1);
            if (size[depth] > YK_FIELD_PATTERN_WEIGHT)
                return false;
            repeated = true;
            i += n;
            continue;
        }
        if (p[i] == '(' || p[i] == '|') {
            if (p[i] == '|')
                size[depth]++;
            else if (++depth > FIELDS_PATTERN_DEPTH)
                return false;
            else
                size[depth] = 0;
            last = 0;
            repeated = false;
            i++;
            continue;
        }
        if (p[i] == ')') {
            if (depth == 0)
                return false;
            atom = size[depth--] + 1;
            i++;
        } else if (p[i] == '\\') {
            if (p[i + 1] == '\0' || (p[i + 1] >= '1' && p[i + 1] <= '9'))
                return false; /* a back-reference makes matching exponential */
            i += 2;
        } else if (p[i] == '[') {
            size_t n = fields_bracket(p + i);
            if (n == 0)
                return false;
            i += n;
        } else {
            i++;
        }
        size[depth] += atom;
        if (size[depth] > YK_FIELD_PATTERN_WEIGHT)
            return false;
        last = atom;
        repeated = false;
    }
    return depth == 0;
}

static void parse_one(fields_parse_ctx *ctx, yk_fieldset *fs, const json_t *def)
{
    yk_field *f = &fs->fields[ctx->i];
    if (!json_is_object(def)) {
        def_error(ctx, NULL, "type");
        return;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)def, key, v)
    {
        bool known = false;
        for (size_t k = 0; k < FIELDS_COUNT(fields_keys) && !known; k++)
            known = strcmp(key, fields_keys[k]) == 0;
        if (!known) {
            char at[84];
            fields_cut(at, sizeof at, key, 80);
            def_error(ctx, at, "unknown_field");
        }
    }

    parse_name(ctx, fs, json_object_get(def, "name"));
    bool typed = parse_type(ctx, json_object_get(def, "type"), &f->type);
    bool checkbox = typed && f->type == YK_FT_CHECKBOX;

    if ((v = json_object_get(def, "label")) != NULL)
        parse_label(ctx, v);

    if ((v = json_object_get(def, "required")) != NULL) {
        if (json_is_boolean(v))
            f->required = json_is_true(v);
        else
            def_error(ctx, "required", "type");
    }

    if ((v = json_object_get(def, "identity")) != NULL) {
        if (!json_is_boolean(v) || (json_is_true(v) && checkbox)) {
            def_error(ctx, "identity", "type");
        } else if (json_is_true(v) && fs->identity >= 0) {
            def_error(ctx, "identity", "duplicate");
        } else if (json_is_true(v)) {
            f->identity = true;
            /* An optional identity would let a booker dodge per_person_limit by leaving it empty.
             */
            f->required = true;
            fs->identity = (int)ctx->i;
        }
    }

    if ((v = json_object_get(def, "max_length")) != NULL) {
        if (checkbox)
            def_error(ctx, "max_length", "unknown_field");
        else if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                 json_integer_value(v) > YK_FIELD_MAX_LENGTH_CAP)
            def_error(ctx, "max_length", "type");
        else
            f->max_length = (long)json_integer_value(v);
    }

    if ((v = json_object_get(def, "pattern")) != NULL) {
        if (checkbox)
            def_error(ctx, "pattern", "unknown_field");
        else if (!json_is_string(v))
            def_error(ctx, "pattern", "type");
        else if (strlen(json_string_value(v)) != json_string_length(v) ||
                 !yk_fields_pattern_cheap(json_string_value(v)) ||
                 regcomp(&f->pattern, json_string_value(v), REG_EXTENDED | REG_NOSUB) != 0)
            def_error(ctx, "pattern", "pattern");
        else
            f->has_pattern = true;
    }

    v = json_object_get(def, "options");
    if (typed && f->type == YK_FT_SELECT)
        parse_options(ctx, f, v);
    else if (typed && v != NULL)
        def_error(ctx, "options", "unknown_field");
}

int yk_fieldset_parse(yk_fieldset *fs, const json_t *defs, json_t *errors)
{
    *fs = (yk_fieldset){.fields = NULL, .n = 0, .identity = -1};
    if (defs == NULL)
        return 0;
    if (!json_is_array(defs)) {
        fields_error(errors, "fields", "type");
        return -1;
    }
    size_t n = json_array_size(defs);
    if (n == 0)
        return 0;
    /* calloc'd fields are safe to free at any point of parsing: NULL names, no pattern. */
    if ((fs->fields = calloc(n, sizeof *fs->fields)) == NULL)
        return -1;
    fs->n = n;
    fields_parse_ctx ctx = {.errors = errors, .i = 0, .problems = 0, .oom = false};
    for (ctx.i = 0; ctx.i < n && !ctx.oom; ctx.i++)
        parse_one(&ctx, fs, json_array_get(defs, ctx.i));
    if (ctx.problems > 0 || ctx.oom) {
        yk_fieldset_free(fs);
        return -1;
    }
    return 0;
}

void yk_fieldset_free(yk_fieldset *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        yk_field *f = &fs->fields[i];
        free(f->name);
        if (f->has_pattern)
            regfree(&f->pattern);
        for (size_t j = 0; j < f->n_options; j++)
            free(f->options[j]);
        free(f->options);
    }
    free(fs->fields);
    *fs = (yk_fieldset){.fields = NULL, .n = 0, .identity = -1};
}

/* ---- values ---- */

/* Japanese input methods type phone numbers and dates with dashes NFKC keeps: U+2010..U+2015,
 * U+2212 MINUS SIGN, U+30FC PROLONGED SOUND MARK. Rewrites them to '-' in place (s shrinks). */
static void fields_fold_dashes(char *s)
{
    const unsigned char *r = (const unsigned char *)s;
    char *w = s;
    while (*r) {
        /* Short-circuit keeps every read within the string: a NUL fails the earlier test. */
        if ((r[0] == 0xE2 && r[1] == 0x80 && r[2] >= 0x90 && r[2] <= 0x95) ||
            (r[0] == 0xE2 && r[1] == 0x88 && r[2] == 0x92) ||
            (r[0] == 0xE3 && r[1] == 0x83 && r[2] == 0xBC)) {
            *w++ = '-';
            r += 3;
        } else {
            *w++ = (char)*r++;
        }
    }
    *w = '\0';
}

static bool fields_all_in(const char *s, const char *set, bool need_digit)
{
    bool digit = false;
    for (; *s; s++) {
        if (strchr(set, *s) == NULL)
            return false;
        digit |= *s >= '0' && *s <= '9';
    }
    return digit || !need_digit;
}

static bool fields_is_date(const char *s)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int k = 0; k < 10; k++)
        if (k != 4 && k != 7 && (s[k] < '0' || s[k] > '9'))
            return false;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return false;
    return d <= days[m - 1] + (m == 2 && leap);
}

static bool fields_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

/* The value of a string of digits if it is at most YK_FIELD_NUMBER_MAX, else -1. */
static long long fields_number(const char *s)
{
    unsigned long long v = 0;
    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if ((v = v * 10 + (unsigned long long)(*s - '0')) > YK_FIELD_NUMBER_MAX)
            return -1;
    }
    return (long long)v;
}

static bool fields_form_ok(const yk_field *f, const char *s)
{
    switch (f->type) {
    case YK_FT_EMAIL:
        /* Mail goes out without SMTPUTF8: a non-ASCII address would travel as raw 8-bit
         * headers. */
        return fields_ascii(s) && yk_text_is_email(s);
    case YK_FT_TEL:
        return fields_all_in(s, "0123456789 +-()", true);
    case YK_FT_DATE:
        return fields_is_date(s);
    case YK_FT_NUMBER:
        return fields_number(s) >= 0;
    case YK_FT_SELECT:
        for (size_t j = 0; j < f->n_options; j++)
            if (strcmp(f->options[j], s) == 0)
                return true;
        return false;
    default:
        return true;
    }
}

/* Checks one value (borrowed, NULL if missing). Returns 0 with *out a new reference to the value to
 * store (NULL: absent), 1 with *reason set, or -1 when out of memory. */
static int check_value(const yk_field *f, json_t *v, json_t **out, const char **reason)
{
    *out = NULL;
    *reason = f->required ? "required" : NULL;
    if (v == NULL || json_is_null(v))
        return *reason ? 1 : 0;

    if (f->type == YK_FT_CHECKBOX) {
        if (!json_is_boolean(v))
            *reason = "type";
        else if (json_is_true(v) || !f->required)
            *reason = NULL;
        if (*reason)
            return 1;
        *out = json_incref(v);
        return 0;
    }

    const char *raw;
    char num[32];
    if (f->type == YK_FT_NUMBER && json_is_integer(v) && json_integer_value(v) >= 0) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        raw = num;
    } else if (json_is_string(v)) {
        raw = json_string_value(v);
        /* jansson never hands out invalid UTF-8, but a NUL (\u0000) would cut the C string. */
        if (!yk_text_valid_utf8(raw, json_string_length(v)) || yk_text_has_crlf(raw)) {
            *reason = "pattern";
            return 1;
        }
    } else {
        *reason = "type";
        return 1;
    }

    char *c = yk_text_clean(raw);
    if (c == NULL)
        return -1; /* raw is valid UTF-8, so only allocation can fail */
    if (*c == '\0') {
        free(c);
        return *reason ? 1 : 0;
    }
    if (f->type == YK_FT_TEL || f->type == YK_FT_DATE)
        fields_fold_dashes(c);
    /* Free text and options are kept as typed; an identity is compared after NFKC anyway, so its
     * pattern sees the cleaned value too: a voucher typed in full-width digits is still valid. */
    const char *s = ((f->type == YK_FT_TEXT && !f->identity) || f->type == YK_FT_SELECT) ? raw : c;

    long max = f->max_length > 0 ? f->max_length : YK_FIELD_MAX_LENGTH;
    if (yk_text_length(s) > (size_t)max)
        *reason = "too_long";
    else if (!fields_form_ok(f, s))
        *reason = f->type == YK_FT_SELECT ? "unknown_option" : "type";
    else if (f->has_pattern && regexec(&f->pattern, s, 0, NULL, 0) != 0)
        *reason = "pattern";
    else
        *reason = NULL;

    int rc = *reason ? 1 : 0;
    /* A number is stored as a JSON number: the booking shows it typed as defined. */
    if (rc == 0 &&
        (*out = f->type == YK_FT_NUMBER ? json_integer(fields_number(s)) : json_string(s)) == NULL)
        rc = -1;
    free(c);
    return rc;
}

static const yk_field *fields_find(const yk_fieldset *fs, const char *name)
{
    for (size_t i = 0; i < fs->n; i++)
        if (strcmp(fs->fields[i].name, name) == 0)
            return &fs->fields[i];
    return NULL;
}

int yk_fieldset_check(const yk_fieldset *fs, const json_t *values, json_t *errors, json_t **clean)
{
    if (clean != NULL)
        *clean = NULL;
    if (values != NULL && !json_is_object(values)) {
        fields_error(errors, "fields", "type");
        return 1;
    }
    json_t *out = json_object();
    if (out == NULL)
        return -1;
    int problems = 0;
    for (size_t i = 0; i < fs->n; i++) {
        const yk_field *f = &fs->fields[i];
        json_t *v = values ? json_object_get(values, f->name) : NULL;
        json_t *stored;
        const char *reason;
        int rc = check_value(f, v, &stored, &reason);
        if (rc < 0)
            goto oom;
        if (rc > 0) {
            fields_error(errors, f->name, reason);
            problems++;
        } else if (stored != NULL && json_object_set_new(out, f->name, stored) != 0) {
            goto oom; /* set_new steals stored even when it fails */
        }
    }
    const char *key;
    json_t *v;
    if (values != NULL) {
        json_object_foreach((json_t *)values, key, v)
        {
            if (fields_find(fs, key) == NULL) {
                fields_error(errors, key, "unknown_field");
                problems++;
            }
        }
    }
    if (problems == 0 && clean != NULL)
        *clean = out;
    else
        json_decref(out);
    return problems;
oom:
    json_decref(out);
    return -1;
}

const char *yk_fieldset_identity_value(const yk_fieldset *fs, const json_t *clean)
{
    static _Thread_local char number[24]; /* a number identity, written out */
    if (fs->identity < 0 || clean == NULL)
        return NULL;
    const json_t *v = json_object_get(clean, fs->fields[fs->identity].name);
    if (json_is_integer(v)) {
        snprintf(number, sizeof number, "%lld", (long long)json_integer_value(v));
        return number;
    }
    return json_string_value(v);
}

json_t *yk_fieldset_present(const yk_fieldset *fs, const json_t *stored)
{
    json_t *out = json_object();
    const char *key;
    json_t *v;
    if (out == NULL || !json_is_object(stored))
        return out;
    for (size_t i = 0; i < fs->n; i++) {
        const yk_field *f = &fs->fields[i];
        if ((v = json_object_get(stored, f->name)) == NULL)
            continue;
        long long num = f->type == YK_FT_NUMBER && json_is_string(v)
                            ? fields_number(json_string_value(v))
                            : -1; /* stored before numbers were typed */
        if (json_object_set_new(out, f->name, num >= 0 ? json_integer(num) : json_incref(v)) != 0)
            goto oom;
    }
    json_object_foreach((json_t *)stored, key, v)
    {
        if (fields_find(fs, key) == NULL && json_object_set(out, key, v) != 0)
            goto oom; /* a value the definition no longer names is still the booker's */
    }
    return out;
oom:
    json_decref(out);
    return NULL;
}

const char *yk_fields_email_problem(const char *s)
{
    if (strlen(s) > 254)
        return "too_long";
    if (!fields_ascii(s))
        return "type"; /* contract: e-mail addresses are ASCII */
    return yk_text_is_email(s) ? NULL : "pattern";
}
