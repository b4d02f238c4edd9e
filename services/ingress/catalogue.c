/* catalogue: owns every cat_event and cat_slot, the table being built by a load, the list of
 * reload waiters and the seat counts heard during a load. A load builds a new table and swaps it
 * in whole. */
#include "catalogue.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yk_log.h"
#include "yk_partition.h"

typedef struct {
    cat_event *events; /* ordered by id */
    size_t nevents, events_cap;
    cat_slot *slots; /* ordered by id */
    size_t nslots, slots_cap;
} cat_table;

typedef struct waiter {
    catalogue_done_cb cb;
    void *ud;
    struct waiter *next;
} waiter;

static cat_table cat, building;
static bool cat_loaded, cat_failed; /* cat_failed: the last load failed */
static int cat_loading, cat_again;
static waiter *cat_running, *cat_queued; /* waiters of the load under way / of the next one */
static catalogue_loader loader;
static unsigned n_partitions = 1;

/* Seat counts published while a load is under way. A worker publishes after its commit, so a
 * count that arrives during the load is as new as what the load reads, or newer (the load's
 * query may have run before that commit): they are applied again on top of the new table. */
typedef struct {
    int64_t slot;
    int remaining;
} cat_seat;
static cat_seat *fresh;
static size_t nfresh, fresh_cap;

static void event_free(cat_event *e)
{
    free(e->slug);
    free(e->password_hash);
    json_decref(e->json);
    yk_fieldset_free(&e->fields);
    yk_phases_free(&e->phases);
    free(e->slots);
    memset(e, 0, sizeof *e);
}

static void table_free(cat_table *t)
{
    for (size_t i = 0; i < t->nevents; i++)
        event_free(&t->events[i]);
    for (size_t i = 0; i < t->nslots; i++) {
        free(t->slots[i].starts_at);
        free(t->slots[i].ends_at);
    }
    free(t->events);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

/* Grows *v (of *cap elements of size sz) to hold one more; 0 or -1. */
static int grow(void **v, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 64;
    void *p = realloc(*v, c * sz);
    if (p == NULL)
        return -1;
    *v = p;
    *cap = c;
    return 0;
}

static void run_waiters(waiter *w, int ok)
{
    while (w) {
        waiter *next = w->next;
        if (w->cb)
            w->cb(w->ud, ok);
        free(w);
        w = next;
    }
}

static cat_event *table_event_by_id(cat_table *t, int64_t id)
{
    size_t lo = 0, hi = t->nevents;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->events[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->nevents && t->events[lo].id == id ? &t->events[lo] : NULL;
}

static cat_slot *table_slot(cat_table *t, int64_t id)
{
    size_t lo = 0, hi = t->nslots;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->slots[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->nslots && t->slots[lo].id == id ? &t->slots[lo] : NULL;
}

static void table_set_remaining(cat_table *t, int64_t slot_id, int remaining)
{
    cat_slot *s = table_slot(t, slot_id);
    if (s == NULL)
        return;
    cat_event *e = table_event_by_id(t, s->event_id);
    if (e && (s->remaining > 0) != (remaining > 0))
        e->open_slots += remaining > 0 ? 1 : (size_t)-1;
    s->remaining = remaining;
}

static int slot_by_start(const void *a, const void *b)
{
    const cat_slot *x = *(cat_slot *const *)a, *y = *(cat_slot *const *)b;
    int c = strcmp(x->starts_at, y->starts_at); /* same zone per event: text order is time order */
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

/* Gives each event of t its slots, ordered by start, and its count of open slots; 0 or -1. */
static int table_link(cat_table *t)
{
    for (size_t i = 0; i < t->nslots; i++) {
        cat_slot *s = &t->slots[i];
        cat_event *e = table_event_by_id(t, s->event_id);
        if (e == NULL)
            continue;
        cat_slot **v = realloc(e->slots, (e->nslots + 1) * sizeof *v);
        if (v == NULL)
            return -1;
        e->slots = v;
        e->slots[e->nslots++] = s;
        e->open_slots += s->remaining > 0;
    }
    for (size_t i = 0; i < t->nevents; i++)
        if (t->events[i].nslots > 1)
            qsort(t->events[i].slots, t->events[i].nslots, sizeof(cat_slot *), slot_by_start);
    return 0;
}

static void load_start(void)
{
    cat_loading = 1;
    cat_again = 0;
    nfresh = 0; /* counts published before this load's queries are in what they read */
    cat_running = cat_queued;
    cat_queued = NULL;
    table_free(&building);
    if (loader == NULL || loader() != 0)
        catalogue_load_end(false);
}

void catalogue_init(catalogue_loader start, unsigned partitions)
{
    loader = start;
    n_partitions = partitions ? partitions : 1;
}

void catalogue_load_event(const cat_event_row *row)
{
    if (grow((void **)&building.events, &building.events_cap, building.nevents,
             sizeof(cat_event)) != 0)
        return;
    cat_event *e = &building.events[building.nevents];
    memset(e, 0, sizeof *e);
    e->id = row->id;
    snprintf(e->id_str, sizeof e->id_str, "%lld", (long long)e->id);
    e->slug = strdup(row->slug);
    json_t *defs = json_loads(row->fields_json, 0, NULL);
    json_t *errors = json_array();
    int rc = defs && errors ? yk_fieldset_parse(&e->fields, defs, errors) : -1;
    json_decref(defs);
    json_decref(errors);
    e->json = json_loads(row->event_json, 0, NULL);
    if (json_is_null(json_object_get(e->json, "phases")))
        json_object_del(e->json, "phases"); /* shown only when the event has phases */
    if (rc == 0 && e->json) /* checked when stored: a failure here is memory, or a bad row */
        rc = yk_phases_parse(&e->phases, json_object_get(e->json, "phases"), &e->fields, NULL);
    e->password_hash = row->password_hash ? strdup(row->password_hash) : NULL;
    if (rc != 0 || e->slug == NULL || e->json == NULL ||
        (row->password_hash && e->password_hash == NULL)) {
        /* skipped, logged: one bad row must not hide the others */
        yk_error("catalogue: event %s has an invalid definition", row->slug);
        event_free(e);
        return;
    }
    e->per_person_limit = row->per_person_limit;
    e->partition = yk_partition_of(row->campaign[0] ? row->campaign : e->slug, n_partitions);
    e->published = row->published;
    e->secret = row->secret || e->password_hash != NULL;
    e->opens_at = row->opens_at;
    e->closes_at = row->closes_at;
    building.nevents++;
}

void catalogue_load_slot(const cat_slot_row *row)
{
    if (grow((void **)&building.slots, &building.slots_cap, building.nslots, sizeof(cat_slot)) != 0)
        return;
    cat_slot *s = &building.slots[building.nslots];
    memset(s, 0, sizeof *s);
    s->id = row->id;
    snprintf(s->id_str, sizeof s->id_str, "%lld", (long long)s->id);
    s->event_id = row->event_id;
    s->starts_at = strdup(row->starts_at);
    s->ends_at = strdup(row->ends_at);
    s->capacity = row->capacity;
    s->remaining = row->remaining;
    s->waiting = row->waiting;
    s->ends = row->ends;
    if (s->starts_at == NULL || s->ends_at == NULL) {
        free(s->starts_at);
        free(s->ends_at);
        return;
    }
    building.nslots++;
}

void catalogue_load_end(bool ok)
{
    if (ok && table_link(&building) == 0) {
        table_free(&cat);
        cat = building;
        memset(&building, 0, sizeof building);
        cat_loaded = true;
        cat_failed = false;
        for (size_t i = 0; i < nfresh; i++)
            table_set_remaining(&cat, fresh[i].slot, fresh[i].remaining);
    } else {
        table_free(&building);
        cat_failed = true;
        ok = false;
    }
    cat_loading = 0;
    waiter *w = cat_running;
    cat_running = NULL;
    run_waiters(w, ok);
    if (cat_again || cat_queued)
        load_start();
}

void catalogue_reload(catalogue_done_cb done, void *ud)
{
    waiter *w = calloc(1, sizeof *w);
    if (w == NULL) {
        if (done)
            done(ud, 0);
        return;
    }
    w->cb = done;
    w->ud = ud;
    w->next = cat_queued;
    cat_queued = w;
    if (cat_loading)
        cat_again = 1;
    else
        load_start();
}

bool catalogue_loaded(void)
{
    return cat_loaded;
}

bool catalogue_current(void)
{
    return cat_loaded && !cat_failed;
}

cat_event *catalogue_event(const char *slug)
{
    for (size_t i = 0; i < cat.nevents; i++)
        if (strcmp(cat.events[i].slug, slug) == 0)
            return &cat.events[i];
    return NULL;
}

cat_event *catalogue_event_at(size_t i)
{
    return i < cat.nevents ? &cat.events[i] : NULL;
}

cat_event *catalogue_event_by_id(int64_t id)
{
    return table_event_by_id(&cat, id);
}

cat_slot *catalogue_slot(int64_t id)
{
    return table_slot(&cat, id);
}

void catalogue_set_remaining(int64_t slot_id, int remaining)
{
    table_set_remaining(&cat, slot_id, remaining);
    if (!cat_loading)
        return;
    if (grow((void **)&fresh, &fresh_cap, nfresh, sizeof *fresh) != 0)
        return; /* a hint lost: the next count published for that slot corrects it */
    fresh[nfresh++] = (cat_seat){slot_id, remaining};
}

/* "<event id> <slot id> <seats left>" triples separated by spaces, one per touched slot; p ends
 * at end (the message is not NUL-terminated). */
static void on_remaining(const char *p, const char *end)
{
    while (p < end) {
        long long v[3];
        for (int i = 0; i < 3; i++) {
            while (p < end && *p == ' ')
                p++;
            int neg = p < end && *p == '-';
            const char *d = p + neg;
            long long x = 0;
            for (; d < end && *d >= '0' && *d <= '9' && x < LLONG_MAX / 10 - 9; d++)
                x = x * 10 + (*d - '0');
            if (d == p + neg || (d < end && *d != ' '))
                return; /* malformed: what was read so far stands */
            v[i] = neg ? -x : x;
            p = d;
        }
        if (v[2] >= INT_MIN && v[2] <= INT_MAX)
            catalogue_set_remaining(v[1], (int)v[2]);
    }
}

void catalogue_on_message(const char *msg, size_t len)
{
    if (len > 10 && memcmp(msg, "remaining ", 10) == 0)
        on_remaining(msg + 10, msg + len);
    else if (len == 9 && memcmp(msg, "catalogue", 9) == 0)
        catalogue_reload(NULL, NULL);
}

json_t *catalogue_event_json(const cat_event *e, bool admin)
{
    json_t *j = json_deep_copy(e->json);
    if (j && !admin)
        json_object_del(j, "published");
    return j;
}

/* A stored number field's value as a JSON number: stored as its decimal text (yk_fieldset_check).
 */
static json_t *typed(const yk_field *f, json_t *v)
{
    if (f->type == YK_FT_NUMBER && json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = strlen(s);
        if (n > 0 && n <= 18 && strspn(s, "0123456789") == n)
            return json_integer(strtoll(s, NULL, 10));
    }
    return json_incref(v);
}

json_t *catalogue_booking_fields(const cat_event *e, json_t *stored)
{
    json_t *out = json_object();
    if (out == NULL || !json_is_object(stored))
        return out;
    for (size_t i = 0; i < e->fields.n; i++) {
        const yk_field *f = &e->fields.fields[i];
        json_t *v = json_object_get(stored, f->name);
        if (v && json_object_set_new(out, f->name, typed(f, v)) != 0)
            goto fail;
    }
    const char *key;
    json_t *v;
    json_object_foreach(stored, key, v)
    {
        if (json_object_get(out, key) == NULL && json_object_set(out, key, v) != 0)
            goto fail;
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

void catalogue_free(void)
{
    table_free(&cat);
    table_free(&building);
    run_waiters(cat_running, 0);
    run_waiters(cat_queued, 0);
    cat_running = cat_queued = NULL;
    free(fresh);
    fresh = NULL;
    nfresh = fresh_cap = 0;
    cat_loaded = cat_failed = false;
    cat_loading = cat_again = 0;
}
