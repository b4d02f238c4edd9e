/* yk_hparse: llhttp's callbacks, which gather one request into the parser's buffer and refuse
 * what RFC 9112 and the size limits forbid, and the request handed to yk_http's handler. */
#include "yk_hparse.h"

#include <string.h>
#include <strings.h>

#define NO_OFF ((size_t)-1)

static const char *const hdr_names[YK_HDR_COUNT] = {
    "authorization", "idempotency-key", "x-booking-token", "x-access-token",  "content-type",
    "expect",        "cookie",          "origin",          "x-forwarded-for",
};
/* Lengths of hdr_names: most header names are rejected by length before any compare. */
static const size_t hdr_lens[YK_HDR_COUNT] = {13, 15, 15, 14, 12, 6, 6, 6, 15};

static int refuse(llhttp_t *l, int status)
{
    yk_hparse *p = l->data;
    p->refused = status;
    return HPE_USER;
}

/* Appends data to the request; -1 when it would pass the buffer's cap (head + body limits). */
static int add(yk_hparse *p, const char *data, size_t n)
{
    yk_buf_add(&p->buf, data, n);
    return p->buf.failed ? -1 : 0;
}

static int head_bytes(llhttp_t *l, size_t n)
{
    yk_hparse *p = l->data;
    p->head_bytes += n;
    return p->head_bytes > p->max_header ? refuse(l, 431) : 0;
}

static int on_message_begin(llhttp_t *l)
{
    yk_hparse *p = l->data;
    yk_buf_reset(&p->buf);
    p->target_len = p->head_bytes = p->body_off = 0;
    p->refused = 0;
    p->cur_hdr = -1;
    p->field_len = 0;
    p->hosts = 0;
    for (int i = 0; i < YK_HDR_COUNT; i++)
        p->hdr_off[i] = NO_OFF;
    p->hooks->begin(p->owner);
    return 0;
}

static int on_url(llhttp_t *l, const char *at, size_t n)
{
    yk_hparse *p = l->data;
    if (head_bytes(l, n) != 0)
        return HPE_USER;
    p->target_len += n;
    return add(p, at, n) == 0 ? 0 : refuse(l, 414);
}

static int on_url_complete(llhttp_t *l)
{
    yk_hparse *p = l->data;
    return add(p, "", 1) == 0 ? 0 : refuse(l, 431);
}

static int on_header_field(llhttp_t *l, const char *at, size_t n)
{
    yk_hparse *p = l->data;
    if (head_bytes(l, n) != 0)
        return HPE_USER;
    /* a name longer than field is only counted: no pointer past field is ever formed */
    if (p->field_len < sizeof p->field) {
        size_t room = sizeof p->field - p->field_len;
        memcpy(p->field + p->field_len, at, n < room ? n : room);
    }
    p->field_len += n;
    return 0;
}

/* RFC 9110 §5.3: the lines of a list field are one value joined by commas. X-Forwarded-For is
 * the list read (a proxy such as HAProxy adds its own line after the client's): the value so far
 * is copied to the buffer's end with ", ", and the new line's value follows it. 0, or -1 past the
 * buffer's cap. */
static int join_list_field(yk_hparse *p, int i)
{
    size_t old = p->hdr_off[i], n = strlen(p->buf.p + old);
    p->hdr_off[i] = p->buf.len;
    p->cur_hdr = i;
    for (size_t off = 0; off < n;) {
        char piece[128]; /* the buffer may move while it grows: copy through the stack */
        size_t k = n - off < sizeof piece ? n - off : sizeof piece;
        memcpy(piece, p->buf.p + old + off, k);
        if (add(p, piece, k) != 0)
            return -1;
        off += k;
    }
    return add(p, ", ", 2);
}

static int on_header_field_complete(llhttp_t *l)
{
    yk_hparse *p = l->data;
    p->cur_hdr = -1;
    /* body_off is set once the head is complete: trailer fields count for nothing */
    if (p->field_len < sizeof p->field && p->body_off == 0) {
        p->field[p->field_len] = '\0';
        if (p->field_len == 4 && strcasecmp(p->field, "host") == 0)
            p->hosts++;
        for (int i = 0; i < YK_HDR_COUNT; i++) {
            if (p->field_len != hdr_lens[i] || strcasecmp(p->field, hdr_names[i]) != 0)
                continue;
            if (p->hdr_off[i] == NO_OFF) { /* else the first line is kept */
                p->cur_hdr = i;
                p->hdr_off[i] = p->buf.len;
            } else if (i == YK_HDR_FORWARDED_FOR && join_list_field(p, i) != 0) {
                p->field_len = 0;
                return refuse(l, 431);
            }
        }
    }
    p->field_len = 0;
    return 0;
}

static int on_header_value(llhttp_t *l, const char *at, size_t n)
{
    yk_hparse *p = l->data;
    if (head_bytes(l, n) != 0)
        return HPE_USER;
    if (p->cur_hdr < 0)
        return 0;
    return add(p, at, n) == 0 ? 0 : refuse(l, 431);
}

static int on_header_value_complete(llhttp_t *l)
{
    yk_hparse *p = l->data;
    if (p->cur_hdr >= 0) {
        /* llhttp keeps trailing whitespace; a field value has none (RFC 9112 §5) */
        size_t end = p->buf.len;
        while (end > p->hdr_off[p->cur_hdr] &&
               (p->buf.p[end - 1] == ' ' || p->buf.p[end - 1] == '\t'))
            end--;
        yk_buf_rewind(&p->buf, end);
        if (add(p, "", 1) != 0)
            return refuse(l, 431);
    }
    p->cur_hdr = -1;
    return 0;
}

static int on_headers_complete(llhttp_t *l)
{
    yk_hparse *p = l->data;
    /* RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host, any request at most one. llhttp
     * itself refuses conflicting framing (Content-Length with Transfer-Encoding, two
     * Content-Lengths, a request's Transfer-Encoding not ending in chunked). */
    if (p->hosts > 1 || (p->hosts == 0 && (l->http_major > 1 || l->http_minor > 0)))
        return refuse(l, 400);
    if ((l->flags & F_CONTENT_LENGTH) && l->content_length > p->max_body)
        return refuse(l, 413);
    p->body_off = p->buf.len;
    if (p->hooks->head)
        p->hooks->head(p->owner);
    const char *expect =
        p->hdr_off[YK_HDR_EXPECT] == NO_OFF ? NULL : p->buf.p + p->hdr_off[YK_HDR_EXPECT];
    /* never to an HTTP/1.0 client, which knows no 1xx (RFC 9110 §10.1.1) */
    if (expect && strcasecmp(expect, "100-continue") == 0 &&
        (l->http_major > 1 || l->http_minor > 0))
        p->hooks->proceed(p->owner);
    return 0;
}

static int on_body(llhttp_t *l, const char *at, size_t n)
{
    yk_hparse *p = l->data;
    if (p->buf.len - p->body_off + n > p->max_body)
        return refuse(l, 413);
    return add(p, at, n) == 0 ? 0 : refuse(l, 413);
}

static int on_message_complete(llhttp_t *l)
{
    yk_hparse *p = l->data;
    if (p->body_off == 0)
        p->body_off = p->buf.len;
    if (add(p, "", 1) != 0) /* the body's NUL: counted in buf.len, not in body_len */
        return refuse(l, 413);
    p->ready = 1;
    return HPE_PAUSED; /* one request at a time: the rest waits until this one is answered */
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void yk_hparse_init(yk_hparse *p, const yk_hparse_hooks *hooks, void *owner, size_t max_header,
                    size_t max_body)
{
    memset(p, 0, sizeof *p);
    p->hooks = hooks;
    p->owner = owner;
    p->max_header = max_header;
    p->max_body = max_body;
    /* the request's NULs and the trimmed target fit in the 64 bytes over the two limits */
    p->buf = (yk_buf)YK_BUF_INIT(max_body + max_header + 64);
    llhttp_init(&p->llhttp, HTTP_REQUEST, &settings);
    p->llhttp.data = p;
}

void yk_hparse_free(yk_hparse *p)
{
    yk_buf_free(&p->buf);
}

int yk_hparse_feed(yk_hparse *p, const char *data, size_t n, size_t *used)
{
    llhttp_errno_t err = llhttp_execute(&p->llhttp, data, n);
    if (err == HPE_OK) {
        *used = n;
        return 0;
    }
    if (err != HPE_PAUSED || !p->ready)
        /* A callback's refusal may surface as HPE_USER or as HPE_CB_* (on_headers_complete). */
        return p->refused ? p->refused : 400;
    *used = (size_t)(llhttp_get_error_pos(&p->llhttp) - data);
    return 1;
}

/* The path of an absolute-form target "scheme://authority/path?query" (RFC 9112 §3.2.2): where
 * the authority ends. An origin-form target ("/…") or any other is returned as it is. */
static char *skip_origin(char *t, const char *end)
{
    char *s = t;
    if (s == end || !((*s | 0x20) >= 'a' && (*s | 0x20) <= 'z'))
        return t;
    while (s < end && (((*s | 0x20) >= 'a' && (*s | 0x20) <= 'z') || (*s >= '0' && *s <= '9') ||
                       *s == '+' || *s == '-' || *s == '.'))
        s++;
    if (end - s < 3 || memcmp(s, "://", 3) != 0)
        return t;
    for (s += 3; s < end && *s != '/' && *s != '?'; s++)
        ;
    return s;
}

int yk_hparse_request(yk_hparse *p, yk_http_req *r, int *http10)
{
    switch (llhttp_get_method(&p->llhttp)) {
    case HTTP_GET:
        r->method = YK_M_GET;
        break;
    case HTTP_HEAD:
        /* HEAD works wherever GET does (RFC 9110 §9.3.2): routers see GET, yk_http drops the
         * body */
        r->method = YK_M_GET;
        r->head = 1;
        break;
    case HTTP_POST:
        r->method = YK_M_POST;
        break;
    case HTTP_PATCH:
        r->method = YK_M_PATCH;
        break;
    case HTTP_PUT:
        r->method = YK_M_PUT;
        break;
    case HTTP_DELETE:
        r->method = YK_M_DELETE;
        break;
    default:
        r->method = YK_M_OTHER;
    }
    char *target = p->buf.p, *end = target + p->target_len; /* *end is the target's NUL */
    char *path = skip_origin(target, end);
    char *q = memchr(path, '?', (size_t)(end - path));
    if (q) {
        *q = '\0';
        r->query = q + 1;
        r->path_len = (size_t)(q - path);
    } else {
        r->query = "";
        r->path_len = (size_t)(end - path);
    }
    r->path = path;
    if (r->path_len == 0 && path != target) { /* "http://host" names the path "/" */
        r->path = "/";
        r->path_len = 1;
    }
    r->body = p->buf.p + p->body_off;
    r->body_len = p->buf.len - 1 - p->body_off;
    for (int i = 0; i < YK_HDR_COUNT; i++)
        r->headers[i] = p->hdr_off[i] == NO_OFF ? NULL : p->buf.p + p->hdr_off[i];
    *http10 = p->llhttp.http_major == 1 && p->llhttp.http_minor == 0;
    return llhttp_should_keep_alive(&p->llhttp);
}

void yk_hparse_next(yk_hparse *p)
{
    p->ready = 0;
    llhttp_resume(&p->llhttp);
}
