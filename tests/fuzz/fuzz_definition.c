/* fuzz_definition: what staff send the admin routes, through services/ingress/definition.c — an
 * event definition (new, or a PATCH merged into a current one), a slot list, a slot generator and
 * the bookings list's query parameters. Input: byte 0 picks which, the rest is the JSON body (or
 * the query parameter's text). What an accepted definition holds is checked against the
 * contract's rules; a refusal must name its problems. */
#include <jansson.h>
#include <locale.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "definition.h"

static json_t *current;
static regex_t slug_re;

static void finding(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_definition: %s: %.200s\n", what, detail ? detail : "");
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    setlocale(LC_CTYPE, "C.UTF-8"); /* as the ingress runs */
    current = json_loads(
        "{\"id\":\"7\",\"slug\":\"dose-1\",\"title\":\"Dose 1\",\"description\":\"\","
        "\"venue\":\"Hall\",\"timezone\":\"Asia/Tokyo\",\"lang\":\"ja\","
        "\"fields\":[{\"name\":\"n\",\"type\":\"text\"}],\"per_person_limit\":1,"
        "\"campaign\":\"c1\",\"prerequisite\":null,\"opens_at\":\"2030-01-01T09:00:00+09:00\","
        "\"closes_at\":null,\"cancel_until_hours\":24,"
        "\"reminder\":{\"at\":\"10:00\",\"days_before\":1},\"published\":true,\"secret\":false}",
        0, NULL);
    if (current == NULL || regcomp(&slug_re, "^[a-z0-9-]{1,64}$", REG_EXTENDED | REG_NOSUB))
        abort();
    return 0;
}

/* Every entry of errors is {"field": string, "reason": string}; n problems were counted. */
static void check_errors(json_t *errors, size_t n)
{
    if (json_array_size(errors) < n)
        finding("fewer errors listed than counted", NULL);
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        if (!json_is_string(json_object_get(e, "field")) ||
            !json_is_string(json_object_get(e, "reason")))
            finding("error entry not {field, reason}", NULL);
    }
}

static void check_json(const char *text, const char *what, int want_array)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    if (j == NULL || (want_array ? !json_is_array(j) : !json_is_object(j)))
        finding("stored JSON not valid", what);
    json_decref(j);
}

static void single_line(const char *s, const char *what)
{
    if (s && strpbrk(s, "\r\n"))
        finding("single-line text holds CR/LF", what);
}

static void check_definition(json_t *def, json_t *errors)
{
    definition d;
    int rc = definition_check(def, errors, &d);
    if (rc < 0)
        return; /* out of memory */
    check_errors(errors, (size_t)rc);
    if (rc > 0) {
        if (json_array_size(errors) == 0)
            finding("refused without a reason", NULL);
        return;
    }
    if (d.slug == NULL || regexec(&slug_re, d.slug, 0, NULL, 0) != 0)
        finding("accepted slug breaks its pattern", d.slug);
    if (d.title == NULL || d.title[0] == '\0')
        finding("accepted without a title", NULL);
    single_line(d.title, "title");
    single_line(d.venue, "venue");
    single_line(d.timezone, "timezone");
    single_line(d.campaign, "campaign");
    check_json(d.fields_json, "fields", 1);
    check_json(d.reminder_json, "reminder", 0);
    if (d.prerequisite_json)
        check_json(d.prerequisite_json, "prerequisite", 0);
    if ((d.prerequisite_json == NULL) != (d.prerequisite_event == NULL))
        finding("prerequisite and its event disagree", d.prerequisite_json);
    if (d.per_person_limit < 1 || d.cancel_until_hours < 0)
        finding("accepted a number out of range", NULL);
    definition_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0] % 5;
    const char *text = (const char *)data + 1;
    size--;
    if (mode == 4) { /* a query parameter's text */
        char *s = strndup(text, size);
        int limit = -1;
        if (s == NULL)
            return 0;
        (void)definition_booking_status(s);
        if (definition_limit(s, &limit) && (limit < 1 || limit > 1000))
            finding("limit out of 1..1000 accepted", s);
        if (definition_cursor(s) &&
            (strlen(s) < 1 || strlen(s) > 18 || strspn(s, "0123456789") != strlen(s)))
            finding("cursor not 1 to 18 digits accepted", s);
        free(s);
        return 0;
    }
    json_t *body = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
    if (body == NULL)
        return 0;
    json_t *errors = json_array();
    if (mode == 0) {
        check_definition(body, errors);
    } else if (mode == 1) {
        json_t *merged = definition_merge(current, body, errors);
        if (merged)
            check_definition(merged, errors);
        else if (json_array_size(errors) == 0 && json_is_object(body))
            ; /* out of memory */
        json_decref(merged);
    } else if (mode == 2) {
        definition_generator g;
        size_t n = definition_check_generator(json_object_get(body, "generate"), errors, &g);
        check_errors(errors, n);
        if (n == 0 && (g.duration_min < 1 || g.capacity < 0 || g.weekdays[0] != '{' ||
                       g.times[0] != '{' || g.from == NULL || g.to == NULL))
            finding("generator accepted but not filled", NULL);
    } else {
        size_t n = definition_check_slots(json_object_get(body, "slots"), errors);
        check_errors(errors, n);
    }
    json_decref(errors);
    json_decref(body);
    return 0;
}
