/* catalogue: owns every cat_event and cat_slot, the two queries that load them and the list of
 * reload waiters. A reload builds a new table and swaps it in whole. */
#include "catalogue.h"

#include <stdlib.h>
#include <string.h>

#include "ingress.h"
#include "yk_log.h"
#include "yk_partition.h"

typedef struct {
    cat_event *events;
    size_t nevents;
    cat_slot *slots; /* ordered by id */
    size_t nslots;
} cat_table;

typedef struct waiter {
    catalogue_done_cb cb;
    void *ud;
    struct waiter *next;
} waiter;

static cat_table cat;
static bool cat_loaded;
static int cat_loading, cat_again;
static waiter *cat_running, *cat_queued; /* waiters of the load under way / of the next one */
static yk_pg_op op_events, op_slots;
static cat_table building;

/* Seat counts published while a load is under way. A worker publishes after its commit, so a
 * count that arrives during the load is as new as what the load reads, or newer (the load's
 * query may have run before that commit): they are applied again on top of the new table. */
typedef struct {
    int64_t slot;
    int remaining;
} cat_seat;
static cat_seat *fresh;
static size_t nfresh, fresh_cap;

static void table_set_remaining(cat_table *t, int64_t slot_id, int remaining);

static const char sql_events[] =
    "SELECT e.id, e.slug, e.fields::text, e.per_person_limit, coalesce(e.campaign, ''),"
    " e.published, e.password_hash IS NOT NULL,"
    " coalesce(extract(epoch FROM e.opens_at)::bigint, 0),"
    " coalesce(extract(epoch FROM e.closes_at)::bigint, 0),"
    " json_build_object('id', e.id::text, 'slug', e.slug, 'title', e.title,"
    "  'description', e.description, 'venue', e.venue, 'timezone', e.timezone, 'lang', e.lang,"
    "  'fields', e.fields, 'per_person_limit', e.per_person_limit, 'campaign', e.campaign,"
    "  'prerequisite', e.prerequisite, 'opens_at', yk_rfc3339(e.opens_at, e.timezone),"
    "  'closes_at', yk_rfc3339(e.closes_at, e.timezone),"
    "  'cancel_until_hours', e.cancel_until_hours, 'reminder', e.reminder,"
    "  'published', e.published, 'secret', e.password_hash IS NOT NULL)::text"
    " FROM events e ORDER BY e.id";

static const char sql_slots[] =
    "SELECT s.id, s.event_id, yk_rfc3339(s.starts_at, e.timezone),"
    " yk_rfc3339(s.ends_at, e.timezone), s.capacity, s.capacity - s.booked"
    " FROM slots s JOIN events e ON e.id = s.event_id ORDER BY s.id";

static void event_free(cat_event *e)
{
    free(e->slug);
    json_decref(e->json);
    yk_fieldset_free(&e->fields);
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

static void load_start(void);

static void load_finish(int ok)
{
    if (ok) {
        table_free(&cat);
        cat = building;
        memset(&building, 0, sizeof building);
        cat_loaded = true;
        for (size_t i = 0; i < nfresh; i++)
            table_set_remaining(&cat, fresh[i].slot, fresh[i].remaining);
    } else {
        table_free(&building);
    }
    cat_loading = 0;
    waiter *w = cat_running;
    cat_running = NULL;
    run_waiters(w, ok);
    if (cat_again || cat_queued)
        load_start();
}

static int event_from_row(cat_event *e, PGresult *res, int row)
{
    e->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
    snprintf(e->id_str, sizeof e->id_str, "%lld", (long long)e->id);
    e->slug = strdup(PQgetvalue(res, row, 1));
    json_t *defs = json_loads(PQgetvalue(res, row, 2), 0, NULL);
    json_t *errors = json_array();
    int rc = defs && errors ? yk_fieldset_parse(&e->fields, defs, errors) : -1;
    json_decref(defs);
    json_decref(errors);
    if (rc != 0 || e->slug == NULL) {
        yk_error("catalogue: event %s has invalid fields", PQgetvalue(res, row, 1));
        return -1;
    }
    e->per_person_limit = atoi(PQgetvalue(res, row, 3));
    const char *campaign = PQgetvalue(res, row, 4);
    e->partition = yk_partition_of(campaign[0] ? campaign : e->slug, (unsigned)ingress.partitions);
    e->published = PQgetvalue(res, row, 5)[0] == 't';
    e->secret = PQgetvalue(res, row, 6)[0] == 't';
    e->opens_at = strtoll(PQgetvalue(res, row, 7), NULL, 10);
    e->closes_at = strtoll(PQgetvalue(res, row, 8), NULL, 10);
    e->json = json_loads(PQgetvalue(res, row, 9), 0, NULL);
    return e->json ? 0 : -1;
}

static void events_cb(yk_pg_op *op, PGresult *res)
{
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        yk_warn("catalogue: loading events failed: %s",
                res ? PQresultErrorMessage(res) : "no connection");
        return; /* building.events stays NULL: slots_cb ends the load as failed */
    }
    int n = PQntuples(res);
    building.events = calloc(n ? (size_t)n : 1, sizeof(cat_event));
    if (building.events == NULL)
        return;
    for (int i = 0; i < n; i++) {
        cat_event *e = &building.events[building.nevents];
        if (event_from_row(e, res, i) == 0)
            building.nevents++;
        else
            event_free(e); /* skipped, logged: one bad row must not hide the others */
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

static int slot_by_start(const void *a, const void *b)
{
    const cat_slot *x = *(cat_slot *const *)a, *y = *(cat_slot *const *)b;
    int c = strcmp(x->starts_at, y->starts_at); /* same zone per event: text order is time order */
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

static void slots_cb(yk_pg_op *op, PGresult *res)
{
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || building.events == NULL) {
        if (res)
            yk_warn("catalogue: loading slots failed: %s", PQresultErrorMessage(res));
        load_finish(0);
        return;
    }
    int n = PQntuples(res);
    building.slots = calloc(n ? (size_t)n : 1, sizeof(cat_slot));
    if (building.slots == NULL) {
        load_finish(0);
        return;
    }
    for (int i = 0; i < n; i++) {
        cat_slot *s = &building.slots[i];
        s->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        snprintf(s->id_str, sizeof s->id_str, "%lld", (long long)s->id);
        s->event_id = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        s->starts_at = strdup(PQgetvalue(res, i, 2));
        s->ends_at = strdup(PQgetvalue(res, i, 3));
        s->capacity = atoi(PQgetvalue(res, i, 4));
        s->remaining = atoi(PQgetvalue(res, i, 5));
        building.nslots++;
        cat_event *e = table_event_by_id(&building, s->event_id);
        if (s->starts_at == NULL || s->ends_at == NULL || e == NULL)
            continue;
        cat_slot **v = realloc(e->slots, (e->nslots + 1) * sizeof *v);
        if (v == NULL)
            continue;
        e->slots = v;
        e->slots[e->nslots++] = s;
    }
    for (size_t i = 0; i < building.nevents; i++)
        for (size_t j = 0; j < building.events[i].nslots; j++)
            building.events[i].open_slots += building.events[i].slots[j]->remaining > 0;
    for (size_t i = 0; i < building.nevents; i++)
        if (building.events[i].nslots > 1)
            qsort(building.events[i].slots, building.events[i].nslots, sizeof(cat_slot *),
              slot_by_start);
    load_finish(1);
}

static void load_start(void)
{
    cat_loading = 1;
    cat_again = 0;
    nfresh = 0; /* counts published before this load's query are in what it reads */
    cat_running = cat_queued;
    cat_queued = NULL;
    table_free(&building);
    op_events.cb = events_cb;
    op_slots.cb = slots_cb;
    /* Both go out back to back on one connection, so slots are read after events. */
    if (yk_pg_query(ingress.pg, &op_events, sql_events, 0, NULL) != 0 ||
        yk_pg_query(ingress.pg, &op_slots, sql_slots, 0, NULL) != 0)
        load_finish(0);
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

cat_slot *catalogue_slot(int64_t id)
{
    return table_slot(&cat, id);
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

void catalogue_set_remaining(int64_t slot_id, int remaining)
{
    table_set_remaining(&cat, slot_id, remaining);
    if (!cat_loading)
        return;
    if (nfresh == fresh_cap) {
        size_t cap = fresh_cap ? fresh_cap * 2 : 256;
        cat_seat *f = realloc(fresh, cap * sizeof *f);
        if (f == NULL)
            return; /* a hint lost: the next count published for that slot corrects it */
        fresh = f;
        fresh_cap = cap;
    }
    fresh[nfresh++] = (cat_seat){slot_id, remaining};
}

json_t *catalogue_event_json(const cat_event *e, bool admin)
{
    json_t *j = json_deep_copy(e->json);
    if (j && !admin)
        json_object_del(j, "published");
    return j;
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
}
