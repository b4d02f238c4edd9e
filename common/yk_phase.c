/* yk_phase: parses an event's phases and tells which booker may book when. Owns the phases it
 * parsed (their opens_at texts). */
#include "yk_phase.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* n digits at s as a number; -1 when one is not a digit. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "YYYY-MM-DD" at s (no more checked): 0 with *out the days, or -1. */
static int date_at(const char *s, int64_t *out)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
    if (y < 0 || m < 1 || m > 12 || d < 1 || s[4] != '-' || s[7] != '-')
        return -1;
    if (d > mdays[m - 1] + (m == 2 && leap(y)))
        return -1;
    *out = days_from_civil(y, (unsigned)m, (unsigned)d);
    return 0;
}

int yk_phase_date(const char *s, int64_t *days)
{
    if (s == NULL || strlen(s) != 10)
        return -1;
    return date_at(s, days);
}

int yk_phase_time(const char *s, int64_t *out)
{
    size_t len = s ? strlen(s) : 0;
    if (len < 17 || s[10] != 'T' || s[13] != ':')
        return -1;
    char day[11];
    memcpy(day, s, 10);
    day[10] = '\0';
    int64_t days;
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = 0;
    if (yk_phase_date(day, &days) != 0 || h < 0 || h > 23 || mi < 0 || mi > 59)
        return -1;
    const char *p = s + 16;
    if (*p == ':') {
        if ((sec = digits(p + 1, 2)) < 0 || sec > 60)
            return -1;
        p += 3;
        if (*p == '.') {
            p++;
            if (*p < '0' || *p > '9')
                return -1;
            while (*p >= '0' && *p <= '9')
                p++;
        }
    }
    int off = 0;
    if (*p == 'Z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6) {
        int oh = digits(p + 1, 2), om = p[3] == ':' ? digits(p + 4, 2) : -1;
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    *out = days * 86400 + h * 3600 + mi * 60 + sec - off;
    return 0;
}

void yk_phases_free(yk_phases *ph)
{
    for (size_t i = 0; ph->v && i < ph->n; i++)
        free(ph->v[i].opens_at);
    free(ph->v);
    ph->v = NULL;
    ph->n = 0;
}

/* Counts one problem in *bad and, with a list, appends it there. */
static void phase_error(json_t *errors, int *bad, size_t i, const char *key, const char *reason)
{
    char at[160];
    (*bad)++;
    if (errors == NULL)
        return;
    if (key)
        snprintf(at, sizeof at, "phases[%zu].%s", i, key);
    else
        snprintf(at, sizeof at, "phases[%zu]", i);
    json_array_append_new(errors, json_pack("{s:s,s:s}", "field", at, "reason", reason));
}

/* A bound of kind k from v: 0 with *out set, else the reason it is refused. */
static const char *phase_bound(yk_phase_kind k, const json_t *v, double *out)
{
    if (k == YK_PHASE_NUMBER) {
        if (!json_is_number(v))
            return "type";
        double d = json_number_value(v);
        if (d != d || d < -(double)YK_FIELD_NUMBER_MAX || d > (double)YK_FIELD_NUMBER_MAX)
            return "type";
        *out = d;
        return NULL;
    }
    int64_t days;
    if (!json_is_string(v))
        return "type";
    if (yk_phase_date(json_string_value(v), &days) != 0)
        return "pattern";
    *out = (double)days;
    return NULL;
}

/* Checks phases[i] (an object) into *p; appends its problems. */
static void phase_one(const json_t *o, size_t i, const yk_fieldset *fs, yk_phase *p, json_t *errors,
                      int *bad)
{
    static const char *const known[] = {"opens_at", "field", "min", "max"};
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)o, key, val)
    {
        size_t k = 0;
        while (k < 4 && strcmp(key, known[k]) != 0)
            k++;
        if (k == 4) {
            char cut[81];
            snprintf(cut, sizeof cut, "%s", key);
            size_t len = strlen(cut);
            while (len > 0 && ((unsigned char)cut[len] & 0xC0) == 0x80) /* whole characters */
                cut[--len] = '\0';
            phase_error(errors, bad, i, cut, "unknown_field");
        }
    }
    const json_t *opens = json_object_get(o, "opens_at");
    if (opens == NULL || json_is_null(opens))
        phase_error(errors, bad, i, "opens_at", "required");
    else if (!json_is_string(opens) || yk_phase_time(json_string_value(opens), &p->opens) != 0)
        phase_error(errors, bad, i, "opens_at", "pattern");
    else if ((p->opens_at = strdup(json_string_value(opens))) == NULL)
        phase_error(errors, bad, i, "opens_at",
                    "required"); /* out of memory: never a valid phase */

    const json_t *field = json_object_get(o, "field"), *min = json_object_get(o, "min"),
                 *max = json_object_get(o, "max");
    if (json_is_null(min))
        min = NULL;
    if (json_is_null(max))
        max = NULL;
    if (field == NULL || json_is_null(field)) {
        p->kind = YK_PHASE_ALL;
        if (min || max)
            phase_error(errors, bad, i, "field", "required");
        return;
    }
    const char *name = json_string_value(field);
    if (name == NULL || strlen(name) > YK_FIELD_NAME_MAX) {
        phase_error(errors, bad, i, "field", "type");
        return;
    }
    snprintf(p->field, sizeof p->field, "%s", name);
    const json_t *sample = min ? min : max;
    if (fs) {
        size_t f = 0;
        while (f < fs->n && strcmp(fs->fields[f].name, name) != 0)
            f++;
        if (f == fs->n) {
            phase_error(errors, bad, i, "field", "unknown_field");
            return;
        }
        if (fs->fields[f].type != YK_FT_NUMBER && fs->fields[f].type != YK_FT_DATE) {
            phase_error(errors, bad, i, "field", "type");
            return;
        }
        p->kind = fs->fields[f].type == YK_FT_NUMBER ? YK_PHASE_NUMBER : YK_PHASE_DATE;
    } else {
        p->kind = json_is_number(sample) ? YK_PHASE_NUMBER : YK_PHASE_DATE;
    }
    if (sample == NULL) {
        phase_error(errors, bad, i, "min", "required");
        return;
    }
    const char *why;
    if (min && (why = phase_bound(p->kind, min, &p->min)) != NULL)
        phase_error(errors, bad, i, "min", why);
    else
        p->has_min = min != NULL;
    if (max && (why = phase_bound(p->kind, max, &p->max)) != NULL)
        phase_error(errors, bad, i, "max", why);
    else
        p->has_max = max != NULL;
    if (p->has_min && p->has_max && p->min > p->max)
        phase_error(errors, bad, i, "max", "pattern");
}

int yk_phases_parse(yk_phases *out, const json_t *phases, const yk_fieldset *fs, json_t *errors)
{
    *out = (yk_phases)YK_PHASES_INIT;
    if (phases == NULL || json_is_null(phases))
        return 0;
    if (!json_is_array(phases) || json_array_size(phases) > YK_PHASE_MAX) {
        if (errors)
            json_array_append_new(errors,
                                  json_pack("{s:s,s:s}", "field", "phases", "reason", "type"));
        return 1;
    }
    size_t n = json_array_size(phases);
    if (n == 0)
        return 0;
    if ((out->v = calloc(n, sizeof *out->v)) == NULL)
        return -1;
    out->n = n;
    int problems = 0; /* counted with or without a list: a bad phase never reads as open */
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(phases, i);
        if (!json_is_object(o))
            phase_error(errors, &problems, i, NULL, "type");
        else
            phase_one(o, i, fs, &out->v[i], errors, &problems);
    }
    if (problems > 0) {
        yk_phases_free(out);
        return problems;
    }
    return 0;
}

/* The booker's value of p's field as a number (a date as days); false when absent or unreadable. */
static bool phase_value(const yk_phase *p, const json_t *values, double *v)
{
    const json_t *x = json_object_get(values, p->field);
    if (p->kind == YK_PHASE_NUMBER) {
        if (json_is_number(x)) {
            *v = json_number_value(x);
            return true;
        }
        const char *s = json_string_value(x);
        if (s == NULL || *s == '\0' || strspn(s, "0123456789") != strlen(s) || strlen(s) > 16)
            return false;
        *v = strtod(s, NULL);
        return true;
    }
    int64_t days;
    if (yk_phase_date(json_string_value(x), &days) != 0)
        return false;
    *v = (double)days;
    return true;
}

const yk_phase *yk_phases_earliest(const yk_phases *ph, const json_t *values)
{
    const yk_phase *best = NULL;
    for (size_t i = 0; i < ph->n; i++) {
        const yk_phase *p = &ph->v[i];
        if (best && best->opens <= p->opens)
            continue;
        double v;
        if (p->kind != YK_PHASE_ALL && (!phase_value(p, values, &v) || (p->has_min && v < p->min) ||
                                        (p->has_max && v > p->max)))
            continue;
        best = p;
    }
    return best;
}

bool yk_phases_open(const yk_phases *ph, const json_t *values, int64_t now, const char **opens_at)
{
    if (opens_at)
        *opens_at = NULL;
    if (ph->n == 0)
        return true;
    const yk_phase *p = yk_phases_earliest(ph, values);
    if (p && p->opens <= now)
        return true;
    if (opens_at && p)
        *opens_at = p->opens_at;
    return false;
}
