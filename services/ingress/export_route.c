/* export_route: GET /v1/admin/events/{slug}/bookings.csv, streamed page by page (keyset: id >
 * last, 1000 rows) over the ingress's yk_pg; owns each export's export_ctx until the stream ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "ingress.h"
#include "yk_log.h"

/* A page is one query: yk_pg runs queries one at a time, so every other request's query waits
 * at most one page (a few ms) behind an export, and no transaction or connection is held. */
#define EXPORT_PAGE 1000
/* Back-pressure: past MARK bytes queued for a slow client the next page waits until LOW are
 * left; memory per export stays near MARK + a page, whatever the roster's size. */
#define EXPORT_MARK (256 * 1024)
#define EXPORT_LOW (64 * 1024)

typedef struct {
    yk_pg_op op;
    yk_http_req *req;
    char event_id[24], last[24], limit[16], slug[72];
    char file[96]; /* <slug>[-<lang>][-cp932].csv: one name per variant */
    char *names;   /* the fields' names as a PostgreSQL text[] literal, definition order */
    size_t nfields;
    export_encoding enc;
    iconv_t cd;
    int started; /* the head is out: a failure can only cut the body short */
    yk_buf page; /* one page as UTF-8 CSV */
    yk_buf conv; /* the same in CP932 */
} export_ctx;

static const char sql_page[] =
    "SELECT b.id::text, yk_rfc3339(s.starts_at, e.timezone), yk_rfc3339(s.ends_at, e.timezone),"
    " b.status, b.email, array_to_json(ARRAY(SELECT b.fields->>u.n"
    " FROM unnest($3::text[]) WITH ORDINALITY AS u(n, i) ORDER BY u.i))::text,"
    " yk_rfc3339(b.created_at, e.timezone)"
    " FROM bookings b JOIN slots s ON s.id = b.slot_id JOIN events e ON e.id = b.event_id"
    " WHERE b.event_id = $1::bigint AND b.id > $2::bigint ORDER BY b.id LIMIT $4::int";

static void ctx_free(export_ctx *x)
{
    if (x->cd != (iconv_t)-1)
        iconv_close(x->cd);
    free(x->names);
    yk_buf_free(&x->page);
    yk_buf_free(&x->conv);
    free(x);
}

/* Ends the export: the last chunk when complete, else a cut connection (the client's tool sees
 * a transfer that did not finish rather than a roster that silently lacks rows). */
static void finish(export_ctx *x, int complete)
{
    if (complete)
        yk_http_stream_end(x->req);
    else
        yk_http_stream_abort(x->req);
    ctx_free(x);
}

static void page_cb(yk_pg_op *op, yk_pgres *res);

static void next_page(export_ctx *x)
{
    const char *argv[4] = {x->event_id, x->last, x->names, x->limit};
    x->op.cb = page_cb;
    if (yk_pg_query(ingress.pg, &x->op, sql_page, 4, argv) != 0) {
        if (x->started)
            finish(x, 0);
        else {
            ingress_respond_unavailable(x->req);
            ctx_free(x);
        }
    }
}

static void drained_cb(yk_http_req *req, void *ud)
{
    export_ctx *x = ud;
    if (yk_http_stream_write(req, "", 0) != 0) { /* the client is gone */
        finish(x, 0);
        return;
    }
    next_page(x);
}

/* The page buffer converted as asked and written out; -1 when the client is gone. */
static int flush(export_ctx *x)
{
    const yk_buf *b = &x->page;
    if (x->enc == EXPORT_CP932) {
        yk_buf_reset(&x->conv);
        (void)export_cp932(&x->conv, x->cd, x->page.p, x->page.len);
        b = &x->conv;
    }
    if (b->failed)
        return -1;
    int rc = yk_http_stream_write(x->req, b->p, b->len);
    yk_buf_reset(&x->page);
    return rc;
}

static void start(export_ctx *x)
{
    char extra[160];
    snprintf(extra, sizeof extra, "Content-Disposition: attachment; filename=\"%s\"\r\n", x->file);
    yk_http_stream_begin(x->req, 200,
                         x->enc == EXPORT_CP932 ? "text/csv; charset=Windows-31J"
                                                : "text/csv; charset=utf-8",
                         extra);
    x->started = 1;
}

static void page_cb(yk_pg_op *op, yk_pgres *res)
{
    export_ctx *x = (export_ctx *)op;
    if (!yk_pgres_ok(res)) {
        if (res)
            yk_error("export of %s failed: %s", x->slug, yk_pgres_error(res));
        if (x->started) {
            finish(x, 0);
        } else {
            ingress_respond_unavailable(x->req);
            ctx_free(x);
        }
        return;
    }
    if (!x->started) {
        start(x);
        if (x->req->head) { /* the head is all HEAD wants */
            finish(x, 1);
            return;
        }
    }
    int n = yk_pgres_rows(res);
    const char **cells = calloc(EXPORT_FIXED + x->nfields, sizeof *cells);
    if (cells == NULL) {
        finish(x, 0);
        return;
    }
    for (int i = 0; i < n; i++) {
        for (int c = 0; c < 5; c++)
            cells[c] = yk_pgres_null(res, i, c) ? NULL : yk_pgres_text(res, i, c);
        json_t *vals = json_loads(yk_pgres_text(res, i, 5), 0, NULL);
        for (size_t f = 0; f < x->nfields; f++)
            cells[5 + f] = json_string_value(json_array_get(vals, f)); /* NULL: no value */
        cells[5 + x->nfields] = yk_pgres_text(res, i, 6);
        export_row(&x->page, cells, EXPORT_FIXED + x->nfields);
        json_decref(vals);
    }
    free(cells);
    if (n > 0)
        snprintf(x->last, sizeof x->last, "%s", yk_pgres_text(res, n - 1, 0));
    if (flush(x) != 0) {
        finish(x, 0);
        return;
    }
    if (n < EXPORT_PAGE) {
        finish(x, 1);
        return;
    }
    if (yk_http_stream_queued(x->req) > EXPORT_MARK)
        yk_http_stream_wait(x->req, EXPORT_LOW, drained_cb, x);
    else
        next_page(x);
}

/* The header row (after the UTF-8 BOM Excel needs to read UTF-8) into x->page. */
static void header_row(export_ctx *x, const json_t *fields, export_lang lang)
{
    if (x->enc == EXPORT_UTF8)
        yk_buf_add(&x->page, "\xEF\xBB\xBF", 3);
    const char **cells = calloc(EXPORT_FIXED + x->nfields, sizeof *cells);
    if (cells == NULL) {
        x->page.failed = true;
        return;
    }
    for (int c = 0; c < 5; c++)
        cells[c] = export_fixed_header(c, lang);
    for (size_t f = 0; f < x->nfields; f++)
        cells[5 + f] = export_field_header(json_array_get(fields, f), lang);
    cells[5 + x->nfields] = export_fixed_header(5, lang);
    export_row(&x->page, cells, EXPORT_FIXED + x->nfields);
    free(cells);
}

void export_bookings_csv(yk_http_req *req, const char *event_id, const char *slug,
                         const json_t *event_json)
{
    char lang_s[8] = "", enc_s[16] = "";
    export_lang lang;
    export_encoding enc;
    json_t *errors = json_array();
    if (ingress_query_param(req->query, "lang", lang_s, sizeof lang_s) < 0 ||
        export_parse_lang(lang_s, &lang) != 0)
        ingress_add_error(errors, "lang", "unknown_option");
    if (ingress_query_param(req->query, "encoding", enc_s, sizeof enc_s) < 0 ||
        export_parse_encoding(enc_s, &enc) != 0)
        ingress_add_error(errors, "encoding", "unknown_option");
    if (json_array_size(errors) > 0) {
        ingress_respond_invalid(req, errors,
                                "Query parameter not valid: lang is ja or en, encoding is utf-8 "
                                "or cp932.");
        return;
    }
    json_decref(errors);
    export_ctx *x = calloc(1, sizeof *x);
    if (x == NULL) {
        ingress_respond_unavailable(req);
        return;
    }
    x->req = req;
    x->enc = enc;
    x->cd = (iconv_t)-1;
    x->page = (yk_buf)YK_BUF_INIT(64 * 1024 * 1024);
    x->conv = (yk_buf)YK_BUF_INIT(64 * 1024 * 1024);
    snprintf(x->event_id, sizeof x->event_id, "%s", event_id);
    snprintf(x->slug, sizeof x->slug, "%s", slug);
    snprintf(x->file, sizeof x->file, "%s%s%s%s.csv", slug, lang_s[0] ? "-" : "", lang_s,
             enc == EXPORT_CP932 ? "-cp932" : "");
    snprintf(x->last, sizeof x->last, "0");
    snprintf(x->limit, sizeof x->limit, "%d", EXPORT_PAGE);
    const json_t *fields = json_object_get(event_json, "fields");
    x->nfields = json_array_size(fields);
    /* names are [a-z0-9_]+ (yk_fieldset_parse): a literal needs no quoting */
    yk_buf names = YK_BUF_INIT(1024 * 1024);
    yk_buf_addc(&names, '{');
    for (size_t f = 0; f < x->nfields; f++) {
        if (f)
            yk_buf_addc(&names, ',');
        const char *name = json_string_value(json_object_get(json_array_get(fields, f), "name"));
        yk_buf_adds(&names, name ? name : "\"\"");
    }
    yk_buf_add(&names, "}", 2);
    x->names = names.p;
    if (enc == EXPORT_CP932)
        x->cd = iconv_open("CP932", "UTF-8");
    header_row(x, fields, lang);
    if (names.failed || x->page.failed || (enc == EXPORT_CP932 && x->cd == (iconv_t)-1)) {
        ingress_respond_unavailable(req);
        ctx_free(x);
        return;
    }
    next_page(x); /* the head goes out with the first page: a PostgreSQL failure is still a 503 */
}
