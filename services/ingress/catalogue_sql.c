/* catalogue_sql: owns the two queries that load the catalogue and their completions, which turn
 * each row into a cat_event_row or cat_slot_row for catalogue.c. */
#include "catalogue_sql.h"

#include "catalogue.h"
#include "ingress.h"
#include "yk_log.h"

static const char sql_events[] =
    "SELECT e.id, e.slug, e.fields::text, e.per_person_limit,"
    " coalesce(e.partition_key, e.campaign, e.slug)," /* the partition key (proto/sql/0007) */
    " e.published, e.password_hash IS NOT NULL,"
    " coalesce(extract(epoch FROM e.opens_at)::bigint, 0),"
    " coalesce(extract(epoch FROM e.closes_at)::bigint, 0),"
    " json_build_object('id', e.id::text, 'slug', e.slug, 'title', e.title,"
    "  'description', e.description, 'venue', e.venue, 'timezone', e.timezone, 'lang', e.lang,"
    "  'fields', e.fields, 'per_person_limit', e.per_person_limit, 'campaign', e.campaign,"
    "  'prerequisite', e.prerequisite, 'opens_at', yk_rfc3339(e.opens_at, e.timezone),"
    "  'closes_at', yk_rfc3339(e.closes_at, e.timezone),"
    "  'cancel_until_hours', e.cancel_until_hours, 'reminder', e.reminder,"
    "  'published', e.published, 'secret', e.password_hash IS NOT NULL,"
    "  'phases', e.phases," /* proto/sql/0013; null: catalogue.c drops it */
    "  'waitlist', coalesce(e.waitlist, '{\"enabled\": false, \"hold_minutes\": 60}'),"
    "  'roster', e.roster)::text,"
    " e.password_hash"
    " FROM events e ORDER BY e.id";

static const char sql_slots[] =
    "SELECT s.id, s.event_id, yk_rfc3339(s.starts_at, e.timezone),"
    " yk_rfc3339(s.ends_at, e.timezone), s.capacity, s.capacity - s.booked - s.held,"
    " (SELECT count(*) FROM waitlist w WHERE w.slot_id = s.id AND w.status = 'waiting'),"
    " extract(epoch FROM s.ends_at)::bigint"
    " FROM slots s JOIN events e ON e.id = s.event_id ORDER BY s.id";

static yk_pg_op op_events, op_slots;
static int events_ok; /* the events query of the load under way succeeded */

static void events_cb(yk_pg_op *op, yk_pgres *res)
{
    (void)op;
    events_ok = yk_pgres_ok(res);
    if (!events_ok) {
        yk_warn("catalogue: loading events failed: %s", yk_pgres_error(res));
        return; /* slots_cb ends the load as failed */
    }
    for (int i = 0, n = yk_pgres_rows(res); i < n; i++) {
        cat_event_row row = {
            .id = yk_pgres_int(res, i, 0, 0),
            .slug = yk_pgres_text(res, i, 1),
            .fields_json = yk_pgres_text(res, i, 2),
            .per_person_limit = (int)yk_pgres_int(res, i, 3, 1),
            .campaign = yk_pgres_text(res, i, 4), /* the partition key, see sql_events */
            .published = yk_pgres_bool(res, i, 5),
            .secret = yk_pgres_bool(res, i, 6),
            .opens_at = yk_pgres_int(res, i, 7, 0),
            .closes_at = yk_pgres_int(res, i, 8, 0),
            .event_json = yk_pgres_text(res, i, 9),
            .password_hash = yk_pgres_null(res, i, 10) ? NULL : yk_pgres_text(res, i, 10),
        };
        catalogue_load_event(&row);
    }
}

static void slots_cb(yk_pg_op *op, yk_pgres *res)
{
    (void)op;
    if (!events_ok || !yk_pgres_ok(res)) {
        if (events_ok)
            yk_warn("catalogue: loading slots failed: %s", yk_pgres_error(res));
        catalogue_load_end(false);
        return;
    }
    for (int i = 0, n = yk_pgres_rows(res); i < n; i++) {
        cat_slot_row row = {
            .id = yk_pgres_int(res, i, 0, 0),
            .event_id = yk_pgres_int(res, i, 1, 0),
            .starts_at = yk_pgres_text(res, i, 2),
            .ends_at = yk_pgres_text(res, i, 3),
            .capacity = (int)yk_pgres_int(res, i, 4, 0),
            .remaining = (int)yk_pgres_int(res, i, 5, 0),
            .waiting = (int)yk_pgres_int(res, i, 6, 0),
            .ends = yk_pgres_int(res, i, 7, 0),
        };
        catalogue_load_slot(&row);
    }
    catalogue_load_end(true);
}

int catalogue_sql_start(void)
{
    events_ok = 0;
    op_events.cb = events_cb;
    op_slots.cb = slots_cb;
    /* Both go out back to back on one connection, so slots are read after events. If the second
     * cannot be queued the first still completes: its completion then must not end a load. */
    if (yk_pg_query(ingress.pg, &op_events, sql_events, 0, NULL) != 0)
        return -1;
    if (yk_pg_query(ingress.pg, &op_slots, sql_slots, 0, NULL) != 0) {
        yk_error("catalogue: cannot queue the slots query");
        return -1;
    }
    return 0;
}
