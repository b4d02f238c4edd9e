/* phase: reads an event's phases from PostgreSQL and decides a reservation by them; the phases
 * belong to their persist_event (freed with it). */
#include "phase.h"

#include <stdio.h>

#include "answer.h"
#include "yk_log.h"

int phase_load(yk_pgconn *c, persist_event *e)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)e->id);
    const char *p[] = {ids};
    yk_pgres *r = yk_pgconn_run(
        c, &(yk_pgconn_stmt){.sql = "SELECT phases::text FROM events WHERE id = $1 " /* 0013 */
                                    "AND phases IS NOT NULL",
                             .n = 1,
                             .values = p});
    if (!yk_pgres_ok(r)) {
        yk_error("event %s: reading its phases failed: %s", ids, yk_pgconn_error(c));
        yk_pgres_free(r);
        return -1;
    }
    int rc = 0;
    if (yk_pgres_rows(r) == 1) {
        json_t *v = json_loads(yk_pgres_text(r, 0, 0), 0, NULL);
        rc = v && yk_phases_parse(&e->phases, v, NULL, NULL) == 0 ? 0 : -1;
        json_decref(v);
        if (rc != 0)
            yk_error("event %s: its phases cannot be read", ids);
    }
    yk_pgres_free(r);
    return rc;
}

bool phase_refuse(entry *en, int64_t now)
{
    const yk_phases *ph = &en->e->phases;
    if (ph->n == 0)
        return false;
    json_t *fields = en->fields_s ? json_loads(en->fields_s, 0, NULL) : NULL;
    const char *opens;
    bool open = yk_phases_open(ph, fields, now, &opens);
    json_decref(fields);
    if (open)
        return false;
    answer_closed(en, opens ? "Bookings for you open later." : "Bookings are not open to you.",
                  opens);
    return true;
}
