/* routes_admin: the staff routes — the route table (each route's method, least role and handler)
 * and the reads (events, bookings lists, one booking, the queue); the caller is found by auth.c,
 * changes are in admin_write.c, admin_desk.c and staff.c. Each request owns one admin_ctx
 * (admin.h) for its round trips; the caller is checked first, then the role, then the event. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "auth.h"
#include "catalogue.h"
#include "definition.h"
#include "export.h"
#include "ingress.h"
#include "queue.h"
#include "reviews.h"
#include "staff.h"
#include "yk_log.h"

static const char sql_bookings[] =
    "SELECT b.id, " INGRESS_BOOKING_JSON INGRESS_BOOKING_FROM
    " WHERE b.event_id = $1::bigint AND ($2::text IS NULL OR b.status = $2)"
    " AND b.id > $3::bigint ORDER BY b.id LIMIT $4::int";

static void bookings_cb(yk_pg_op *op, yk_pgres *res)
{
    admin_ctx *c = (admin_ctx *)op;
    if (!yk_pgres_ok(res)) {
        if (res)
            yk_error("list bookings failed: %s", yk_pgres_error(res));
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
        return;
    }
    /* Looked up again: the catalogue may have been reloaded while the query ran. */
    cat_event *e = catalogue_event(c->slug);
    int n = yk_pgres_rows(res), shown = n > c->limit ? c->limit : n;
    json_t *list = json_array();
    for (int i = 0; i < shown; i++) {
        json_t *b = json_loads(yk_pgres_text(res, i, 1), 0, NULL);
        json_t *fields = e ? yk_fieldset_present(&e->fields, json_object_get(b, "fields")) : NULL;
        if (fields) /* jsonb keeps its own key order: show the definition's, values typed */
            json_object_set_new(b, "fields", fields);
        if (ingress_booking_checkin(b) != 0)
            yk_warn("booking %s: no check-in code", yk_pgres_text(res, i, 0));
        json_array_append_new(list, b);
    }
    json_t *next = n > c->limit ? json_string(yk_pgres_text(res, shown - 1, 0)) : json_null();
    ingress_respond_json(c->req, 200, json_pack("{s:o,s:o}", "bookings", list, "next_cursor", next),
                         NULL);
    admin_ctx_free(c);
}

static void bookings_list(admin_ctx *c, cat_event *e)
{
    char status[16] = "", limit[16] = "", cursor[24] = "";
    json_t *errors = json_array();
    const char *q = c->req->query;
    if (ingress_query_param(q, "status", status, sizeof status) < 0)
        ingress_add_error(errors, "status", "too_long");
    else if (status[0] && !definition_booking_status(status))
        ingress_add_error(errors, "status", "unknown_option");
    c->limit = 100;
    if (ingress_query_param(q, "limit", limit, sizeof limit) < 0)
        ingress_add_error(errors, "limit", "too_long");
    else if (limit[0] && !definition_limit(limit, &c->limit))
        ingress_add_error(errors, "limit", "pattern");
    if (ingress_query_param(q, "cursor", cursor, sizeof cursor) < 0)
        ingress_add_error(errors, "cursor", "too_long");
    else if (cursor[0] && !definition_cursor(cursor))
        ingress_add_error(errors, "cursor", "pattern");
    if (json_array_size(errors) > 0) {
        /* Name the parameters: this is no definition, and the errors array is easy to miss. */
        char message[96] = "Query parameter not valid:";
        size_t i;
        json_t *err;
        json_array_foreach(errors, i, err)
        {
            size_t len = strlen(message);
            snprintf(message + len, sizeof message - len, "%s %s", i ? "," : "",
                     json_string_value(json_object_get(err, "field")));
        }
        size_t len = strlen(message);
        snprintf(message + len, sizeof message - len, ".");
        ingress_respond_invalid(c->req, errors, message);
        admin_ctx_free(c);
        return;
    }
    json_decref(errors);
    admin_param_text(c, e->id_str);
    admin_param_text(c, status[0] ? status : NULL);
    admin_param_text(c, cursor[0] ? cursor : "0");
    admin_param_int(c, 0, c->limit + 1);
    c->op.cb = bookings_cb;
    if (yk_pg_query(ingress.pg, &c->op, sql_bookings, c->argc, c->argv) != 0) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
    }
}

static const char sql_booking_by_id[] =
    "SELECT b.event_id, " INGRESS_BOOKING_JSON INGRESS_BOOKING_FROM " WHERE b.id = $1::bigint";

static void booking_cb(yk_pg_op *op, yk_pgres *res)
{
    admin_ctx *c = (admin_ctx *)op;
    cat_event *e = admin_booking_event(c, res);
    if (e != NULL) {
        json_t *b = ingress_booking(e, yk_pgres_text(res, 0, 1));
        ingress_respond_json(c->req, 200, b ? json_pack("{s:o}", "booking", b) : NULL, NULL);
    }
    admin_ctx_free(c);
}

/* The check-in desk types the number printed on a confirmation: digits only, else 404. */
static void booking_get(admin_ctx *c, cat_event *unused)
{
    (void)unused;
    size_t n = strlen(c->slug);
    if (n == 0 || n > 18 || strspn(c->slug, "0123456789") != n) {
        yk_http_respond_error(c->req, 404, "not_found", "No such booking.");
        admin_ctx_free(c);
        return;
    }
    admin_param_text(c, c->slug);
    c->op.cb = booking_cb;
    if (c->argv[0] == NULL || yk_pg_query(ingress.pg, &c->op, sql_booking_by_id, 1, c->argv) != 0) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
    }
}

static void queue_cb(void *ud, int ok, const queue_partition *parts, int n)
{
    admin_ctx *c = ud;
    if (!ok) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
        return;
    }
    json_t *list = json_array();
    for (int p = 0; p < n; p++)
        json_array_append_new(
            list,
            json_pack("{s:i,s:I,s:I,s:I,s:f,s:I}", "partition", p, "length",
                      (json_int_t)parts[p].length, "pending", (json_int_t)parts[p].pending, "lag",
                      (json_int_t)parts[p].lag, "oldest_pending_age_seconds",
                      parts[p].oldest_pending_age, "consumers", (json_int_t)parts[p].consumers));
    ingress_respond_json(c->req, 200, json_pack("{s:o}", "partitions", list), NULL);
    admin_ctx_free(c);
}

static void event_list(admin_ctx *c, cat_event *unused)
{
    (void)unused;
    json_t *list = json_array();
    cat_event *e;
    for (size_t i = 0; (e = catalogue_event_at(i)) != NULL; i++)
        json_array_append_new(list, catalogue_event_json(e, true));
    ingress_respond_json(c->req, 200, json_pack("{s:o}", "events", list), NULL);
    admin_ctx_free(c);
}

static void event_get(admin_ctx *c, cat_event *e)
{
    ingress_respond_json(c->req, 200, catalogue_event_json(e, true), NULL);
    admin_ctx_free(c);
}

static void bookings_csv(admin_ctx *c, cat_event *e)
{
    export_bookings_csv(c->req, e->id_str, e->slug, e->json);
    admin_ctx_free(c);
}

static void queue_get(admin_ctx *c, cat_event *unused)
{
    (void)unused;
    queue_collect(queue_cb, c);
}

/* Every admin route. A path may appear once per method; 405's Allow lists a path's rows. Groups
 * are kept apart so that each feature adds its rows under its own heading. */
// clang-format off
static const admin_route routes[] = {
    /* events and slots */
    {{"events"}, YK_M_GET, "admin_events", ROLE_DESK, 0, 0, event_list},
    {{"events"}, YK_M_POST, "admin_events", ROLE_STAFF, 0, 1, admin_write_event},
    {{"events", "*"}, YK_M_GET, "admin_event", ROLE_DESK, 1, 0, event_get},
    {{"events", "*"}, YK_M_PATCH, "admin_event", ROLE_STAFF, 1, 1, admin_write_event},
    {{"events", "*", "slots"}, YK_M_POST, "admin_slots", ROLE_STAFF, 1, 1, admin_write_slots},
    /* bookings */
    {{"events", "*", "bookings"}, YK_M_GET, "admin_bookings", ROLE_STAFF, 1, 0, bookings_list},
    {{"events", "*", "bookings.csv"}, YK_M_GET, "admin_bookings_csv", ROLE_STAFF, 1, 0, bookings_csv},
    {{"bookings", "*"}, YK_M_GET, "admin_booking", ROLE_DESK, 0, 0, booking_get},
    /* check-in desk and attendance */
    {{"checkin"}, YK_M_POST, "admin_checkin", ROLE_DESK, 0, 1, admin_desk_checkin},
    {{"bookings", "*", "attendance"}, YK_M_POST, "admin_attendance", ROLE_DESK, 0, 1, admin_desk_attendance},
    {{"bookings", "*", "cancel"}, YK_M_POST, "admin_cancel", ROLE_STAFF, 0, 1, admin_desk_cancel},
    /* reviews */
    {{"events", "*", "reviews"}, YK_M_GET, "admin_reviews", ROLE_STAFF, 1, 0, reviews_list},
    /* staff accounts, sessions and audit */
    {{"logout"}, YK_M_POST, "admin_logout", ROLE_DESK, 0, 1, staff_logout},
    {{"me"}, YK_M_GET, "admin_me", ROLE_DESK, 0, 0, staff_me},
    {{"staff"}, YK_M_GET, "admin_staff", ROLE_OWNER, 0, 0, staff_list},
    {{"staff"}, YK_M_POST, "admin_staff", ROLE_OWNER, 0, 1, staff_create},
    {{"staff", "*"}, YK_M_PATCH, "admin_staff_one", ROLE_OWNER, 0, 1, staff_patch},
    {{"audit"}, YK_M_GET, "admin_audit", ROLE_OWNER, 0, 0, staff_audit},
    /* operations */
    {{"queue"}, YK_M_GET, "admin_queue", ROLE_STAFF, 0, 0, queue_get},
    /* waitlist */
    {{"events", "*", "waitlist"}, YK_M_GET, "admin_waitlist", ROLE_STAFF, 1, 0, waitlist_admin_list},
    /* rosters (roster.c) */
    {{"campaigns", "*", "roster"}, YK_M_PUT, "admin_roster", ROLE_STAFF, 0, 1, roster_put},
    {{"campaigns", "*", "roster"}, YK_M_GET, "admin_roster", ROLE_STAFF, 0, 0, roster_get},
};
// clang-format on

static int path_matches(const admin_route *r, char **segs, int n)
{
    int i = 0;
    for (; i < 4 && r->path[i]; i++)
        if (i + 1 >= n || (strcmp(r->path[i], "*") != 0 && strcmp(r->path[i], segs[i + 1]) != 0))
            return 0;
    return i + 1 == n;
}

/* The route for segs (segs[0] == "admin") and req's method (HEAD as GET); NULL after answering
 * 404 (no such path) or 405 (with the path's methods in Allow). */
static const admin_route *route_find(yk_http_req *req, char **segs, int n)
{
    yk_http_method m = req->method == YK_M_HEAD ? YK_M_GET : req->method;
    char allow[64] = "";
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const admin_route *r = &routes[i];
        if (!path_matches(r, segs, n))
            continue;
        req->route = r->route;
        if (r->method == m)
            return r;
        size_t len = strlen(allow);
        snprintf(allow + len, sizeof allow - len, "%s%s", len ? ", " : "",
                 r->method == YK_M_GET     ? "GET, HEAD"
                 : r->method == YK_M_POST  ? "POST"
                 : r->method == YK_M_PATCH ? "PATCH"
                 : r->method == YK_M_PUT   ? "PUT"
                                           : "DELETE");
    }
    if (allow[0])
        yk_http_respond_not_allowed(req, allow);
    else
        yk_http_respond_error(req, 404, "not_found", "No such route.");
    return NULL;
}

/* Runs c's route once the caller is known: its role, then the event its path names. */
static void admin_run(admin_ctx *c)
{
    const admin_route *r = c->route;
    if (c->role < r->role) {
        yk_http_respond_error(c->req, 403, "forbidden", "Your role does not allow this.");
        admin_ctx_free(c);
        return;
    }
    cat_event *e = r->event ? catalogue_event(c->slug) : NULL;
    if (r->event && e == NULL) {
        yk_http_respond_error(c->req, 404, "not_found", "No such event.");
        admin_ctx_free(c);
        return;
    }
    r->run(c, e);
}

void routes_admin(yk_http_req *req, char **segs, int n)
{
    if (n == 2 && strcmp(segs[1], "login") == 0) { /* the one admin route before any caller */
        req->route = "admin_login";
        if (req->method != YK_M_POST)
            yk_http_respond_not_allowed(req, "POST");
        else
            staff_login(req);
        return;
    }
    const admin_route *route = route_find(req, segs, n);
    if (route == NULL)
        return;
    admin_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        ingress_respond_unavailable(req);
        return;
    }
    c->req = req;
    c->route = route;
    for (int i = 0; i < 4 && route->path[i]; i++)
        if (strcmp(route->path[i], "*") == 0)
            snprintf(c->slug, sizeof c->slug, "%s", segs[i + 1]);
    auth_admin(c, admin_run);
}
