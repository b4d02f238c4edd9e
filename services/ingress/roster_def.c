/* roster_def: the "roster" member of an event definition (contract §2: {"fields":[name…]}, needs
 * a campaign, each name a field of the event), checked for definition.c. No I/O; unit-tested with
 * definition.c. */
#include <stdlib.h>
#include <string.h>

#include "definition.h"
#include "yk_roster.h"

/* A field of def's "fields" array is called name. */
static bool roster_def_has_field(json_t *def, const char *name)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(def, "fields"), i, f)
    {
        const char *n = json_string_value(json_object_get(f, "name"));
        if (n && strcmp(n, name) == 0)
            return true;
    }
    return false;
}

int definition_roster(json_t *def, json_t *errors, char **out)
{
    json_t *r = json_object_get(def, "roster");
    *out = NULL;
    if (r == NULL || json_is_null(r))
        return 0;
    size_t before = json_array_size(errors);
    if (!json_is_object(r)) {
        definition_error(errors, "roster", "type");
        return 1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(r, key, v)
    {
        if (strcmp(key, "fields") != 0)
            definition_error(errors, "roster.fields", "unknown_field");
    }
    json_t *campaign = json_object_get(def, "campaign");
    if (!json_is_string(campaign) || json_string_length(campaign) == 0)
        definition_error(errors, "campaign", "required"); /* a roster belongs to a campaign */
    json_t *fields = json_object_get(r, "fields");
    size_t i, n = json_array_size(fields);
    if (fields == NULL || json_is_null(fields) || (json_is_array(fields) && n == 0)) {
        definition_error(errors, "roster.fields", "required");
    } else if (!json_is_array(fields) || n > YK_ROSTER_MAX_FIELDS) {
        definition_error(errors, "roster.fields", "type");
    } else {
        json_array_foreach(fields, i, v)
        {
            const char *name = json_string_value(v);
            bool twice = false;
            for (size_t j = 0; name && j < i; j++)
                twice = twice || strcmp(name, json_string_value(json_array_get(fields, j))) == 0;
            if (name == NULL) {
                definition_error(errors, "roster.fields", "type");
                break;
            }
            if (twice || !roster_def_has_field(def, name)) {
                definition_error(errors, "roster.fields", "unknown_option");
                break;
            }
        }
    }
    if (json_array_size(errors) > before)
        return (int)(json_array_size(errors) - before);
    json_t *stored = json_pack("{s:O}", "fields", fields);
    *out = stored ? json_dumps(stored, JSON_COMPACT) : NULL;
    json_decref(stored);
    return *out ? 0 : -1;
}
