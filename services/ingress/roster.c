/* roster: owns one upload's state — two body buffers (one filled by the loop while the other is
 * parsed, hashed and COPYed on the pool), its yk_roster_load — and the roster reads. One work item
 * of an upload runs at a time; the body is paused while both buffers are taken, so memory stays
 * flat whatever the file's size. */
#include "roster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ingress.h"
#include "yk_buf.h"
#include "yk_log.h"
#include "yk_roster_pg.h"

#define ROSTER_CHUNK ((size_t)256 * 1024) /* body bytes handed to the pool at once */
#define ROSTER_LOG_EVERY 100000           /* rows between progress lines in the log */

static unsigned char roster_key[YK_TOKEN_KEY_BYTES];
static int roster_key_set;

static const unsigned char *key(void)
{
    if (!roster_key_set) {
        yk_roster_key(ingress.token_key, roster_key);
        roster_key_set = 1;
    }
    return roster_key;
}

static int campaign_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

size_t roster_body_filter(yk_http_method method, const char *target, void *ud)
{
    (void)ud;
    static const char pre[] = "/v1/admin/campaigns/", post[] = "/roster";
    if (method != YK_M_PUT || strncmp(target, pre, sizeof pre - 1) != 0)
        return 0;
    const char *name = target + sizeof pre - 1, *end = strchr(name, '/');
    if (end == NULL || end == name || strncmp(end, post, sizeof post - 1) != 0)
        return 0;
    char c = end[sizeof post - 1];
    return c == '\0' || c == '?' ? ROSTER_MAX_BODY : 0;
}

typedef struct {
    admin_ctx *c; /* NULL once answered */
    uv_work_t work;
    yk_roster_load *load;
    char campaign[72];
    bool cp932;
    yk_buf buf[2];
    int fill;             /* buf[fill] takes the body; buf[1 - fill] is the pool's */
    bool busy;            /* a work item runs */
    bool ended, gone;     /* the body is complete / will never be */
    bool paused;          /* the body is paused until a buffer frees */
    bool oom;             /* a body buffer could not grow */
    bool finish, freeing; /* the work item finishes / frees the load */
    yk_roster_status st;
    long logged;
    uint64_t started;
} upload;

static void upload_next(upload *u);

static void upload_work(uv_work_t *w)
{
    upload *u = w->data;
    yk_buf *b = &u->buf[1 - u->fill];
    if (u->freeing) {
        yk_roster_load_free(u->load);
        u->load = NULL;
        return;
    }
    if (u->load == NULL)
        u->st = yk_roster_load_begin(&u->load, ingress.pg_conninfo, key(), u->campaign, u->cp932);
    if (u->st == YK_ROSTER_LOADED && b->len > 0)
        u->st = yk_roster_load_feed(u->load, b->p, b->len);
    yk_buf_reset(b);
    if (u->st == YK_ROSTER_LOADED && u->finish)
        u->st = yk_roster_load_finish(u->load);
}

static void upload_answer(upload *u)
{
    admin_ctx *c = u->c;
    u->c = NULL;
    const yk_roster_parser *p = u->load ? yk_roster_load_parser(u->load) : NULL;
    long rows = p ? yk_roster_parser_rows(p) : 0;
    if (u->gone) {
        yk_http_respond_error(c->req, 400, "bad_request", "The upload did not complete.");
    } else if (u->st == YK_ROSTER_LOADED) {
        yk_info("roster campaign=%s rows=%ld replaced ms=%llu", u->campaign, rows,
                (unsigned long long)(uv_now(ingress.loop) - u->started));
        ingress_respond_json(c->req, 200, json_pack("{s:I}", "rows", (json_int_t)rows), NULL);
    } else if (u->st == YK_ROSTER_INVALID) {
        json_t *errors = json_array();
        const yk_roster_error *e;
        for (size_t i = 0; (e = yk_roster_parser_error(p, i)) != NULL; i++)
            json_array_append_new(
                errors, json_pack("{s:I,s:s}", "line", (json_int_t)e->line, "reason", e->reason));
        yk_info("roster campaign=%s refused problems=%zu", u->campaign,
                yk_roster_parser_nerrors(p));
        ingress_respond_json(c->req, 422,
                             json_pack("{s:s,s:s,s:o}", "error", "invalid_roster", "message",
                                       "The roster is not valid: nothing was replaced.", "errors",
                                       errors),
                             NULL);
    } else if (u->st == YK_ROSTER_BUSY) {
        yk_http_respond_error(c->req, 409, "roster_busy",
                              "Another upload of this roster is under way.");
    } else {
        yk_error("roster campaign=%s failed: %s", u->campaign,
                 u->load ? yk_roster_load_error(u->load) : "out of memory");
        ingress_respond_unavailable(c->req);
    }
    admin_ctx_free(c);
}

static void upload_free(upload *u)
{
    yk_buf_free(&u->buf[0]);
    yk_buf_free(&u->buf[1]);
    free(u);
}

static void upload_after(uv_work_t *w, int status)
{
    upload *u = w->data;
    (void)status;
    u->busy = false;
    if (u->freeing) {
        upload_free(u);
        return;
    }
    const yk_roster_parser *p = u->load ? yk_roster_load_parser(u->load) : NULL;
    long rows = p ? yk_roster_parser_rows(p) : 0;
    if (u->st == YK_ROSTER_LOADED && !u->finish && rows - u->logged >= ROSTER_LOG_EVERY) {
        u->logged = rows;
        yk_info("roster campaign=%s rows=%ld", u->campaign, rows);
    }
    upload_next(u);
}

static void upload_queue(upload *u)
{
    u->busy = true;
    u->work.data = u;
    if (uv_queue_work(ingress.loop, &u->work, upload_work, upload_after) != 0) {
        u->busy = false;
        u->st = YK_ROSTER_FAILED;
        u->finish = true; /* nothing more will run: answer (below) and free */
    }
}

/* What to do once no work item runs: answer a failed or finished upload, hand a full buffer (or
 * the last one) to the pool, resume a paused body, free what is done. */
static void upload_next(upload *u)
{
    if (u->busy)
        return;
    if (u->oom)
        u->st = YK_ROSTER_FAILED;
    if (u->st != YK_ROSTER_LOADED || u->finish || u->gone) {
        /* A failure is answered at once: the rest of the body is not read (the connection
         * closes after the answer), and no more of it comes. */
        if (u->c)
            upload_answer(u);
        u->freeing = true;
        upload_queue(u);
        if (!u->busy)
            upload_free(u);
        return;
    }
    yk_buf *b = &u->buf[u->fill];
    if (u->load != NULL && !u->ended && b->len < ROSTER_CHUNK)
        return;
    u->fill = 1 - u->fill; /* b goes to the pool (the first item also connects) */
    u->finish = u->ended;
    upload_queue(u);
    if (u->paused) {
        u->paused = false;
        yk_http_body_resume(u->c->req);
    }
}

static void upload_body(yk_http_req *req, const char *data, size_t len, int status, void *ud)
{
    upload *u = ud;
    if (status != 0 || len == 0) {
        if (status != 0)
            u->gone = true;
        else
            u->ended = true;
        upload_next(u);
        return;
    }
    if (u->c == NULL)
        return; /* answered already (a failure): the rest is dropped */
    yk_buf *b = &u->buf[u->fill];
    yk_buf_add(b, data, len);
    if (b->failed) {
        u->oom = true;
        upload_next(u);
        return;
    }
    if (b->len >= ROSTER_CHUNK && u->busy && !u->paused) {
        u->paused = true; /* both buffers taken: the socket waits */
        yk_http_body_pause(req);
    } else if (b->len >= ROSTER_CHUNK) {
        upload_next(u);
    }
}

void roster_put(admin_ctx *c, cat_event *unused)
{
    (void)unused;
    char enc[16] = "";
    if (!campaign_ok(c->slug)) {
        yk_http_respond_error(c->req, 404, "not_found", "No such campaign.");
        admin_ctx_free(c);
        return;
    }
    if (ingress_query_param(c->req->query, "encoding", enc, sizeof enc) < 0 ||
        (enc[0] && strcasecmp(enc, "utf-8") != 0 && strcasecmp(enc, "cp932") != 0)) {
        json_t *errors = json_array();
        ingress_add_error(errors, "encoding", "unknown_option");
        ingress_respond_invalid(c->req, errors,
                                "Query parameter not valid: encoding is utf-8 "
                                "or cp932.");
        admin_ctx_free(c);
        return;
    }
    upload *u = calloc(1, sizeof *u);
    if (u == NULL) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
        return;
    }
    u->c = c;
    (void)key(); /* derived here, on the loop: the pool's threads only read it */
    snprintf(u->campaign, sizeof u->campaign, "%s", c->slug);
    u->cp932 = strcasecmp(enc, "cp932") == 0;
    u->buf[0] = (yk_buf)YK_BUF_INIT(ROSTER_CHUNK + 65536);
    u->buf[1] = (yk_buf)YK_BUF_INIT(ROSTER_CHUNK + 65536);
    u->st = YK_ROSTER_LOADED;
    u->started = uv_now(ingress.loop);
    yk_info("roster campaign=%s upload started encoding=%s", u->campaign,
            u->cp932 ? "cp932" : "utf-8");
    if (!c->req->streamed) { /* a target the filter does not know (absolute form): ≤ 64 KiB */
        yk_buf_add(&u->buf[0], c->req->body, c->req->body_len);
        u->ended = true;
    } else if (yk_http_body_read(c->req, upload_body, u) != 0) {
        u->gone = true; /* the client is gone already */
    }
    upload_next(u); /* connects and begins the COPY while the first bytes arrive */
}

static void get_cb(yk_pg_op *op, yk_pgres *res)
{
    admin_ctx *c = (admin_ctx *)op;
    if (!yk_pgres_ok(res)) {
        if (res)
            yk_error("roster read failed: %s", yk_pgres_error(res));
        ingress_respond_unavailable(c->req);
    } else if (yk_pgres_rows(res) == 0) {
        yk_http_respond_error(c->req, 404, "not_found", "This campaign has no roster.");
    } else {
        json_t *fields = json_loads(yk_pgres_text(res, 0, 1), 0, NULL);
        ingress_respond_json(
            c->req, 200,
            json_pack("{s:I,s:o,s:s}", "rows", (json_int_t)yk_pgres_int(res, 0, 0, 0), "fields",
                      fields ? fields : json_array(), "updated_at", yk_pgres_text(res, 0, 2)),
            NULL);
    }
    admin_ctx_free(c);
}

void roster_get(admin_ctx *c, cat_event *unused)
{
    (void)unused;
    if (!campaign_ok(c->slug)) {
        yk_http_respond_error(c->req, 404, "not_found", "This campaign has no roster.");
        admin_ctx_free(c);
        return;
    }
    static const char sql[] = "SELECT rows, to_json(fields)::text, yk_rfc3339(updated_at, 'UTC')"
                              " FROM rosters WHERE campaign = $1";
    const char *argv[] = {c->slug};
    c->op.cb = get_cb;
    if (yk_pg_query(ingress.pg, &c->op, sql, 1, argv) != 0) {
        ingress_respond_unavailable(c->req);
        admin_ctx_free(c);
    }
}

int roster_booking_hash(const cat_event *e, json_t *clean, char out[YK_ROSTER_HEX_LEN + 1])
{
    json_t *def = json_object_get(e->json, "roster");
    json_t *fields = json_object_get(def, "fields");
    const char *campaign = json_string_value(json_object_get(e->json, "campaign"));
    size_t n = json_array_size(fields);
    if (campaign == NULL || n == 0 || n > YK_ROSTER_MAX_FIELDS)
        return 0;
    const char *names[YK_ROSTER_MAX_FIELDS], *values[YK_ROSTER_MAX_FIELDS];
    char nums[YK_ROSTER_MAX_FIELDS][24];
    for (size_t i = 0; i < n; i++) {
        names[i] = json_string_value(json_array_get(fields, i));
        json_t *v = json_object_get(clean, names[i] ? names[i] : "");
        if (names[i] == NULL)
            return -1;
        if (json_is_integer(v)) {
            snprintf(nums[i], sizeof nums[i], "%lld", (long long)json_integer_value(v));
            values[i] = nums[i];
        } else if (json_is_boolean(v)) {
            values[i] = json_is_true(v) ? "true" : "false";
        } else {
            values[i] = json_is_string(v) ? json_string_value(v) : "";
        }
    }
    unsigned char h[YK_ROSTER_HASH_BYTES];
    if (yk_roster_hash(key(), campaign, n, names, values, h) != 0)
        return -1;
    yk_roster_hex(h, out);
    return 1;
}
