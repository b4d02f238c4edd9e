/* definition: checks event definitions, slot lists and generators, and the bookings list's query.
 * Owns the compiled regexes (definition_re, for the life of the process) and what a definition
 * owns. */
#include "definition.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "yk_fields.h"
#include "yk_phase.h"
#include "yk_text.h"

typedef enum {
    DEF_RE_SLUG,
    DEF_RE_CAMPAIGN,
    DEF_RE_TIMEZONE,
    DEF_RE_RFC3339,
    DEF_RE_DATE,
    DEF_RE_HHMM,
    DEF_RE_STATUS,
    DEF_RE_COUNT
} definition_re_id;

/* Compiled once: compiling on each call cost more than the check it served. */
static const char *const definition_re_src[DEF_RE_COUNT] = {
    [DEF_RE_SLUG] = "^[a-z0-9-]{1,64}$",
    [DEF_RE_CAMPAIGN] = "^[a-z0-9_-]{1,64}$",
    [DEF_RE_TIMEZONE] = "^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$",
    [DEF_RE_RFC3339] = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)?"
                       "(Z|[+-][0-9]{2}:[0-9]{2})$",
    [DEF_RE_DATE] = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
    [DEF_RE_HHMM] = "^([01][0-9]|2[0-3]):[0-5][0-9]$",
    [DEF_RE_STATUS] = "^(confirmed|cancelled|attended|no_show)$",
};
static regex_t definition_re[DEF_RE_COUNT];
static int definition_re_state; /* 0 not compiled, 1 compiled, -1 failed (nothing matches) */

static bool definition_matches(definition_re_id id, const char *s)
{
    if (definition_re_state == 0) {
        definition_re_state = 1;
        for (int i = 0; i < DEF_RE_COUNT; i++)
            if (regcomp(&definition_re[i], definition_re_src[i], REG_EXTENDED | REG_NOSUB) != 0)
                definition_re_state = -1; /* constant patterns: only allocation can fail */
    }
    return definition_re_state == 1 && regexec(&definition_re[id], s, 0, NULL, 0) == 0;
}

void definition_error(json_t *errors, const char *field, const char *reason)
{
    json_array_append_new(errors, json_pack("{s:s,s:s}", "field", field, "reason", reason));
}

/* The string at obj[key], or NULL when absent, null, or refused: then an error (named `at`) says
 * it is not a string, longer than max_len code points, or (single_line) holds CR/LF; a NUL is
 * refused in every text: PostgreSQL's text cannot hold one and C strings would cut it. */
static const char *definition_string(json_t *obj, const char *key, const char *at, json_t *errors,
                                     size_t max_len, bool single_line)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        definition_error(errors, at, "type");
        return NULL;
    }
    const char *s = json_string_value(v);
    if (yk_text_length(s) > max_len)
        definition_error(errors, at, "too_long");
    else if (strlen(s) != json_string_length(v) || (single_line && yk_text_has_crlf(s)))
        definition_error(errors, at, "pattern"); /* a title is a mail's Subject: no line breaks */
    else
        return s;
    return NULL;
}

static int definition_int(json_t *obj, const char *key, const char *at, json_t *errors, int min,
                          int max, int dflt)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return dflt;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        definition_error(errors, at, "type");
        return dflt;
    }
    return (int)json_integer_value(v);
}

/* Appends unknown_field for every key of obj not in known[0..n), named prefix + the key cut to 80
 * bytes on a character boundary: a cut character is invalid UTF-8, which json_pack refuses. */
static void definition_known(json_t *obj, const char *const *known, size_t n, const char *prefix,
                             json_t *errors)
{
    const char *key;
    json_t *val;
    char at[128];
    json_object_foreach(obj, key, val)
    {
        size_t i = 0;
        while (i < n && strcmp(key, known[i]) != 0)
            i++;
        if (i < n)
            continue;
        size_t len = strlen(key);
        if (len > 80) {
            len = 80;
            while (len > 0 && ((unsigned char)key[len] & 0xC0) == 0x80)
                len--;
        }
        snprintf(at, sizeof at, "%s%.*s", prefix, (int)len, key);
        definition_error(errors, at, "unknown_field");
    }
}

static bool definition_timezone(const char *tz)
{
    char path[256];
    struct stat st;
    if (strlen(tz) > 64 || !definition_matches(DEF_RE_TIMEZONE, tz))
        return false;
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void definition_prerequisite(json_t *pre, definition *out, json_t *errors)
{
    static const char *const known[] = {"event", "min_days", "require_attended"};
    if (!json_is_object(pre)) {
        definition_error(errors, "prerequisite", "type");
        return;
    }
    definition_known(pre, known, 3, "prerequisite.", errors);
    const char *ev = definition_string(pre, "event", "prerequisite.event", errors, 64, true);
    json_t *pe = json_object_get(pre, "event");
    if (pe == NULL || json_is_null(pe))
        definition_error(errors, "prerequisite.event", "required");
    else if (ev && !definition_matches(DEF_RE_SLUG, ev))
        definition_error(errors, "prerequisite.event", "pattern");
    (void)definition_int(pre, "min_days", "prerequisite.min_days", errors, 0, 3650, 0);
    json_t *ra = json_object_get(pre, "require_attended");
    if (ra && !json_is_boolean(ra) && !json_is_null(ra))
        definition_error(errors, "prerequisite.require_attended", "type");
    out->prerequisite_event = ev;
}

/* The reminder with its defaults filled in, as stored; NULL when out of memory. */
static char *definition_reminder(json_t *rem, json_t *errors)
{
    static const char *const known[] = {"days_before", "at"};
    int days = 1;
    const char *at = "10:00";
    if (rem && !json_is_null(rem)) {
        if (!json_is_object(rem)) {
            definition_error(errors, "reminder", "type");
        } else {
            definition_known(rem, known, 2, "reminder.", errors);
            days = definition_int(rem, "days_before", "reminder.days_before", errors, 0, 60, 1);
            const char *a = definition_string(rem, "at", "reminder.at", errors, 5, true);
            if (a && !definition_matches(DEF_RE_HHMM, a))
                definition_error(errors, "reminder.at", "pattern");
            else if (a)
                at = a;
        }
    }
    json_t *r = json_pack("{s:i,s:s}", "days_before", days, "at", at);
    char *text = r ? json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(r);
    return text;
}

int definition_check(json_t *def, json_t *errors, definition *out)
{
    static const char *const known[] = {"slug",
                                        "title",
                                        "description",
                                        "venue",
                                        "timezone",
                                        "lang",
                                        "fields",
                                        "password",
                                        "per_person_limit",
                                        "campaign",
                                        "prerequisite",
                                        "opens_at",
                                        "closes_at",
                                        "cancel_until_hours",
                                        "reminder",
                                        "published",
                                        "phases"};
    memset(out, 0, sizeof *out);
    size_t before = json_array_size(errors);
    definition_known(def, known, sizeof known / sizeof known[0], "", errors);

    out->slug = definition_string(def, "slug", "slug", errors, 64, true);
    json_t *slug = json_object_get(def, "slug");
    if (slug == NULL || json_is_null(slug))
        definition_error(errors, "slug", "required");
    else if (out->slug && !definition_matches(DEF_RE_SLUG, out->slug))
        definition_error(errors, "slug", "pattern");
    out->title = definition_string(def, "title", "title", errors, 200, true);
    json_t *title = json_object_get(def, "title");
    if (title == NULL || json_is_null(title) ||
        (json_is_string(title) && !json_string_length(title)))
        definition_error(errors, "title", "required");
    out->description = definition_string(def, "description", "description", errors, 10000, false);
    out->venue = definition_string(def, "venue", "venue", errors, 500, true);
    out->timezone = definition_string(def, "timezone", "timezone", errors, 64, true);
    if (out->timezone && !definition_timezone(out->timezone))
        definition_error(errors, "timezone", "pattern");
    out->lang = definition_string(def, "lang", "lang", errors, 2, true);
    if (out->lang && strcmp(out->lang, "ja") != 0 && strcmp(out->lang, "en") != 0)
        definition_error(errors, "lang", "unknown_option");

    json_t *fields = json_object_get(def, "fields");
    yk_fieldset fs = {NULL, 0, -1};
    if (fields && !json_is_null(fields)) {
        size_t had = json_array_size(errors);
        if (yk_fieldset_parse(&fs, fields, errors) != 0 && json_array_size(errors) == had)
            goto oom; /* -1 with no error appended: out of memory, never a valid definition */
    }
    /* phases name the event's number and date fields (common/yk_phase.h) */
    yk_phases phases;
    json_t *ph = json_object_get(def, "phases");
    int ph_rc = yk_phases_parse(&phases, ph, &fs, errors);
    yk_phases_free(&phases);
    yk_fieldset_free(&fs);
    if (ph_rc < 0 || (ph_rc == 0 && json_array_size(ph) > 0 &&
                      (out->phases_json = json_dumps(ph, JSON_COMPACT)) == NULL))
        goto oom;
    out->password = definition_string(def, "password", "password", errors, 200, false);
    out->per_person_limit =
        definition_int(def, "per_person_limit", "per_person_limit", errors, 1, 1000, 1);
    out->campaign = definition_string(def, "campaign", "campaign", errors, 64, true);
    if (out->campaign && !definition_matches(DEF_RE_CAMPAIGN, out->campaign))
        definition_error(errors, "campaign", "pattern");
    json_t *pre = json_object_get(def, "prerequisite");
    if (pre && !json_is_null(pre))
        definition_prerequisite(pre, out, errors);
    out->opens_at = definition_string(def, "opens_at", "opens_at", errors, 40, true);
    if (out->opens_at && !definition_matches(DEF_RE_RFC3339, out->opens_at))
        definition_error(errors, "opens_at", "pattern");
    out->closes_at = definition_string(def, "closes_at", "closes_at", errors, 40, true);
    if (out->closes_at && !definition_matches(DEF_RE_RFC3339, out->closes_at))
        definition_error(errors, "closes_at", "pattern");
    out->cancel_until_hours =
        definition_int(def, "cancel_until_hours", "cancel_until_hours", errors, 0, 24 * 365, 24);
    out->reminder_json = definition_reminder(json_object_get(def, "reminder"), errors);
    json_t *pub = json_object_get(def, "published");
    if (pub && !json_is_boolean(pub) && !json_is_null(pub))
        definition_error(errors, "published", "type");
    out->published = !json_is_false(pub);

    size_t problems = json_array_size(errors) - before;
    if (problems > 0) {
        definition_free(out);
        return (int)problems;
    }
    if (out->reminder_json == NULL)
        goto oom;
    out->fields_json =
        fields && !json_is_null(fields) ? json_dumps(fields, JSON_COMPACT) : strdup("[]");
    if (out->fields_json == NULL)
        goto oom;
    if (pre && !json_is_null(pre) &&
        (out->prerequisite_json = json_dumps(pre, JSON_COMPACT)) == NULL)
        goto oom;
    return 0;
oom:
    definition_free(out);
    return -1;
}

void definition_free(definition *out)
{
    free(out->fields_json);
    free(out->prerequisite_json);
    free(out->reminder_json);
    free(out->phases_json);
    memset(out, 0, sizeof *out);
}

/* RFC 7396 on objects: into target (owned), each key of patch; 0 or -1 (memory). */
static int definition_merge_into(json_t *target, json_t *patch)
{
    const char *key;
    json_t *val;
    json_object_foreach(patch, key, val)
    {
        json_t *cur = json_object_get(target, key);
        if (json_is_null(val)) {
            json_object_del(target, key);
        } else if (json_is_object(val) && json_is_object(cur)) {
            if (definition_merge_into(cur, val) != 0)
                return -1;
        } else if (json_object_set_new(target, key, json_deep_copy(val)) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Two JSON strings or nulls/absences naming the same value (absent and null alike). */
static bool definition_same(json_t *a, json_t *b)
{
    if (a == NULL || json_is_null(a))
        return b == NULL || json_is_null(b);
    return b != NULL && json_equal(a, b);
}

json_t *definition_merge(json_t *current, json_t *patch, json_t *errors)
{
    size_t before = json_array_size(errors);
    json_t *slug = json_object_get(current, "slug");
    if (json_object_get(patch, "slug") && !definition_same(json_object_get(patch, "slug"), slug))
        definition_error(errors, "slug", "pattern");
    json_t *campaign = json_object_get(patch, "campaign");
    if (campaign && !definition_same(campaign, json_object_get(current, "campaign")))
        definition_error(errors, "campaign", "pattern");
    json_t *pre = json_object_get(patch, "prerequisite");
    if (json_is_object(pre) && definition_same(json_object_get(pre, "event"), slug))
        definition_error(errors, "prerequisite.event", "pattern");
    if (json_array_size(errors) > before)
        return NULL;
    json_t *merged = json_deep_copy(current);
    if (merged == NULL)
        return NULL;
    json_object_del(merged, "id");
    json_object_del(merged, "secret");
    if (definition_merge_into(merged, patch) != 0) {
        json_decref(merged);
        return NULL;
    }
    return merged;
}

/* Writes "{a,b,…}" of arr's items (1..48, each passing check) into out; 0, or -1 when one fails. */
static int definition_pg_array(json_t *arr, char *out, size_t outlen, bool (*check)(json_t *))
{
    size_t i, len = 0;
    json_t *v;
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 48)
        return -1;
    out[len++] = '{';
    json_array_foreach(arr, i, v)
    {
        if (!check(v))
            return -1;
        int n = json_is_string(v)
                    ? snprintf(out + len, outlen - len, "%s%s", i ? "," : "", json_string_value(v))
                    : snprintf(out + len, outlen - len, "%s%lld", i ? "," : "",
                               (long long)json_integer_value(v));
        if (n < 0 || (size_t)n >= outlen - len)
            return -1;
        len += (size_t)n;
    }
    if (len + 2 > outlen)
        return -1;
    out[len++] = '}';
    out[len] = '\0';
    return 0;
}

static bool definition_is_weekday(json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 7;
}

static bool definition_is_hhmm(json_t *v)
{
    return json_is_string(v) && definition_matches(DEF_RE_HHMM, json_string_value(v));
}

size_t definition_check_generator(json_t *gen, json_t *errors, definition_generator *out)
{
    static const char *const known[] = {"from",  "to",           "weekdays",
                                        "times", "duration_min", "capacity"};
    size_t before = json_array_size(errors);
    memset(out, 0, sizeof *out);
    if (!json_is_object(gen))
        definition_error(errors, "generate", "type");
    else
        definition_known(gen, known, 6, "", errors);
    out->from = json_string_value(json_object_get(gen, "from"));
    out->to = json_string_value(json_object_get(gen, "to"));
    if (out->from == NULL || !definition_matches(DEF_RE_DATE, out->from))
        definition_error(errors, "generate.from", out->from ? "pattern" : "required");
    if (out->to == NULL || !definition_matches(DEF_RE_DATE, out->to))
        definition_error(errors, "generate.to", out->to ? "pattern" : "required");
    else if (out->from && strcmp(out->to, out->from) < 0)
        definition_error(errors, "generate.to", "pattern");
    if (definition_pg_array(json_object_get(gen, "weekdays"), out->weekdays, sizeof out->weekdays,
                            definition_is_weekday) != 0)
        definition_error(errors, "generate.weekdays", "type");
    if (definition_pg_array(json_object_get(gen, "times"), out->times, sizeof out->times,
                            definition_is_hhmm) != 0)
        definition_error(errors, "generate.times", "pattern");
    out->duration_min =
        definition_int(gen, "duration_min", "generate.duration_min", errors, 1, 24 * 60, 0);
    out->capacity = definition_int(gen, "capacity", "generate.capacity", errors, 0, 100000, -1);
    if (out->duration_min == 0)
        definition_error(errors, "generate.duration_min", "required");
    if (out->capacity < 0)
        definition_error(errors, "generate.capacity", "required");
    return json_array_size(errors) - before;
}

size_t definition_check_slots(json_t *slots, json_t *errors)
{
    size_t i, before = json_array_size(errors);
    json_t *val;
    if (!json_is_array(slots) || json_array_size(slots) == 0 || json_array_size(slots) > 1000) {
        definition_error(errors, "slots", slots ? "type" : "required");
        return json_array_size(errors) - before;
    }
    json_array_foreach(slots, i, val)
    {
        char where[48];
        json_t *s = json_object_get(val, "starts_at"), *en = json_object_get(val, "ends_at"),
               *cap = json_object_get(val, "capacity");
        snprintf(where, sizeof where, "slots[%zu]", i);
        if (!json_is_object(val) || json_object_size(val) != 3 || !json_is_string(s) ||
            !json_is_string(en) || !json_is_integer(cap))
            definition_error(errors, where, "type");
        else if (!definition_matches(DEF_RE_RFC3339, json_string_value(s)) ||
                 !definition_matches(DEF_RE_RFC3339, json_string_value(en)))
            definition_error(errors, where, "pattern");
        else if (json_integer_value(cap) < 0 || json_integer_value(cap) > 100000)
            definition_error(errors, where, "type");
    }
    return json_array_size(errors) - before;
}

bool definition_booking_status(const char *s)
{
    return definition_matches(DEF_RE_STATUS, s);
}

bool definition_limit(const char *s, int *limit)
{
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 4 || s[n] != '\0' || atoi(s) < 1 || atoi(s) > 1000)
        return false;
    *limit = atoi(s);
    return true;
}

bool definition_cursor(const char *s)
{
    size_t n = strspn(s, "0123456789");
    return n >= 1 && n <= 18 && s[n] == '\0';
}
