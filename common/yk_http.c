/* yk_http: connections, their timers, reading ahead and response writing for every yoyaku HTTP
 * listener; yk_hparse parses the requests. A connection owns its parser, a buffer of bytes read
 * ahead and a response remainder buffer, each a capped yk_buf reused across requests. */
#include "yk_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "yk_buf.h"
#include "yk_hparse.h"
#include "yk_http_int.h"

/* The parser's hooks: a request began (its header deadline starts), or asks for 100 Continue. */
static void conn_begin(void *owner)
{
    yk_http_conn *c = owner;
    c->state = CONN_READING;
    c->since = uv_now(c->srv->loop); /* the timer finds the header deadline from it */
    c->fresh = 0;
    c->in_body = 0;
}

static void conn_head(void *owner)
{
    yk_http_conn *c = owner;
    if (c->srv->lim.body_timeout_ms > 0) { /* the head was in time: now the body's deadline */
        c->in_body = 1;
        c->since = uv_now(c->srv->loop);
    }
}

static void conn_proceed(void *owner)
{
    yk_http_conn *c = owner;
    /* curl and others wait a second for this before sending a body; 25 bytes always fit an
     * empty socket buffer, and if not, the client simply sends after its own timeout */
    uv_buf_t b = uv_buf_init((char *)"HTTP/1.1 100 Continue\r\n\r\n", 25);
    (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
}

static const yk_hparse_hooks conn_hooks = {conn_begin, conn_proceed, conn_head,
                                           yk_httpi_body_stream, yk_httpi_body_data};

void yk_httpi_unref(yk_http_conn *c)
{
    if (--c->refs > 0)
        return;
    yk_hparse_free(&c->hp);
    yk_buf_free(&c->ahead);
    yk_buf_free(&c->out);
    yk_buf_free(&c->pend);
    free(c);
}

static void server_maybe_free(yk_http_server *srv)
{
    if (srv->closing == 2 && srv->nconns == 0) {
        yk_httpi_caps_free(srv);
        free(srv);
    }
}

static void conn_closed_cb(uv_handle_t *h)
{
    yk_http_conn *c = h->data;
    if (h == (uv_handle_t *)&c->tcp) {
        yk_http_drain_cb drain = c->drain;
        c->drain = NULL;
        if (drain) /* a stream's producer learns that its client is gone */
            drain(&c->req, c->drain_ud);
        yk_httpi_body_gone(c); /* and a streamed body's reader */
        c->srv->nconns--;
        server_maybe_free(c->srv);
    }
    yk_httpi_unref(c);
}

void yk_httpi_close(yk_http_conn *c)
{
    if (c->state == CONN_CLOSING)
        return;
    c->state = CONN_CLOSING;
    yk_httpi_cap_release(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->timer, conn_closed_cb);
    uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
}

static size_t ahead_used(const yk_http_conn *c)
{
    return c->ahead.len - c->ahead_off;
}

/* Appends to ahead[]; the caller has made sure it stays within srv->ahead_max (conn_alloc_cb
 * never hands out more room than is left). -1 when out of memory (the connection then closes). */
static int ahead_append(yk_http_conn *c, const char *data, size_t n)
{
    if (c->ahead.len + n > c->ahead.cap && c->ahead_off > 0) {
        memmove(c->ahead.p, c->ahead.p + c->ahead_off, ahead_used(c));
        yk_buf_rewind(&c->ahead, ahead_used(c));
        c->ahead_off = 0;
    }
    yk_buf_add(&c->ahead, data, n);
    return c->ahead.failed ? -1 : 0;
}

static void conn_resume(yk_http_conn *c);
static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* The timer is never stopped or restarted per request: IDLE and READING record when they began
 * (since), and the timer, when it fires, closes the connection whose deadline has passed or
 * sleeps again until it, at most tick_ms. That bound keeps it from sleeping past a deadline that
 * a later state change brings forward (a header timeout shorter than the idle one). */
static void conn_timer_cb(uv_timer_t *t)
{
    yk_http_conn *c = t->data;
    if (c->resume) {
        conn_resume(c);
        if (c->state == CONN_CLOSING)
            return;
    }
    uint64_t now = uv_now(c->srv->loop), wait = c->srv->tick_ms;
    if (c->state == CONN_IDLE || c->state == CONN_READING) {
        const yk_http_limits *lim = &c->srv->lim;
        /* a new connection gets no longer than a head would for its first byte: an idle
         * keep-alive allowance is earned by a request */
        uint64_t limit =
            c->state == CONN_READING ? (c->in_body ? lim->body_timeout_ms : lim->header_timeout_ms)
            : c->fresh && lim->header_timeout_ms < lim->idle_timeout_ms ? lim->header_timeout_ms
                                                                        : lim->idle_timeout_ms;
        uint64_t due = c->since + limit;
        if (now >= due) {
            yk_httpi_close(c);
            return;
        }
        if (due - now < wait)
            wait = due - now;
    } else if (c->state == CONN_BODY && now - c->since >= c->srv->lim.idle_timeout_ms) {
        yk_httpi_close(c); /* a streamed body's client that sends nothing */
        return;
    } else if (c->streaming && c->in_flight) {
        /* a stream's client that takes no byte for the idle timeout is cut (its producer hears
         * of it): progress is the socket's write queue shrinking, since the last tick */
        size_t q = c->tcp.write_queue_size;
        if (q != c->stream_q) {
            c->stream_q = q;
            c->since = now;
        } else if (now - c->since >= c->srv->lim.idle_timeout_ms) {
            yk_httpi_close(c);
            return;
        }
    }
    uv_timer_start(t, conn_timer_cb, wait, 0);
}

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    yk_http_conn *c = h->data;
    /* what does not fit the parser's current request may have to wait in ahead[]: read no
     * more than it can take (reading stops before the room is 0) */
    size_t room = c->srv->ahead_max - ahead_used(c);
    if (room > sizeof c->srv->readbuf)
        room = sizeof c->srv->readbuf;
    *buf = uv_buf_init(c->srv->readbuf, (unsigned)room);
}

/* After parsing or answering: a client that stopped sending is closed once nothing it sent is
 * left to answer; reading resumes once ahead[] has room again. */
static void conn_settle(yk_http_conn *c)
{
    if (c->state != CONN_IDLE && c->state != CONN_READING && c->state != CONN_BODY)
        return;
    if (c->peer_eof && ahead_used(c) == 0) {
        yk_httpi_close(c);
        return;
    }
    if (c->read_stopped && !c->peer_eof && ahead_used(c) < c->srv->ahead_max) {
        c->read_stopped = 0;
        uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb);
    }
}

/* The response is all in the socket. from_loop: called from a libuv callback of our own, where
 * parsing the next request (and so calling the handler) is safe; otherwise we are inside
 * yk_http_respond, whose caller does not expect the handler to run again under it. */
void yk_httpi_written(yk_http_conn *c, int from_loop)
{
    if (!c->keep_alive || c->srv->closing) {
        yk_httpi_close(c);
        return;
    }
    c->state = CONN_IDLE;
    c->since = uv_now(c->srv->loop);
    yk_hparse_next(&c->hp);
    if (c->dispatching)
        return; /* answered inside the handler: conn_parse goes on with the bytes after it */
    if (ahead_used(c) == 0)
        conn_settle(c);
    else if (from_loop)
        conn_resume(c);
    else {
        c->resume = 1;
        uv_timer_start(&c->timer, conn_timer_cb, 0, 0);
    }
}

static void conn_write_cb(uv_write_t *w, int status)
{
    yk_http_conn *c = w->data;
    if (c->state == CONN_CLOSING)
        return;
    if (status != 0) {
        yk_httpi_close(c);
        return;
    }
    yk_httpi_written(c, 1);
}

/* Appends s to the head at *n when it fits; returns 0, or -1 (the head stays incomplete). */
static int head_put(char *head, size_t cap, size_t *n, const char *s, size_t len)
{
    if (*n + len >= cap)
        return -1;
    memcpy(head + *n, s, len);
    *n += len;
    return 0;
}

#define HEAD_PUT(lit) head_put(head, sizeof head, &hn, lit, sizeof lit - 1)

/* Formats and writes one response; the connection must be in a state that may write. Head and
 * body go out in one writev straight from where they are; only what the socket does not take
 * at once is copied (to out) and queued. */
static void conn_send(yk_http_conn *c, int status, const char *ctype, const char *extra,
                      const char *body, size_t len, int keep_alive)
{
    /* Built with memcpy, not snprintf: this runs once per answer and the formatter was a tenth
     * of a sold-out answer's instructions. */
    char head[1024], num[24];
    size_t hn = 0;
    keep_alive = keep_alive && !c->srv->closing; /* and say so in the head */
    const char *text = yk_httpi_status_text(status);
    if (ctype == NULL)
        ctype = "application/json";
    int nl = 0;
    for (size_t v = len; nl == 0 || v; v /= 10)
        num[sizeof num - 1 - nl++] = (char)('0' + v % 10);
    char code[3] = {(char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10),
                    (char)('0' + status % 10)};
    if (HEAD_PUT("HTTP/1.1 ") || head_put(head, sizeof head, &hn, code, 3) || HEAD_PUT(" ") ||
        head_put(head, sizeof head, &hn, text, strlen(text)) || HEAD_PUT("\r\nDate: ") ||
        head_put(head, sizeof head, &hn, yk_httpi_date(c->srv), 29) ||
        HEAD_PUT("\r\nContent-Type: ") || head_put(head, sizeof head, &hn, ctype, strlen(ctype)) ||
        HEAD_PUT("\r\nContent-Length: ") ||
        head_put(head, sizeof head, &hn, num + sizeof num - nl, (size_t)nl) || HEAD_PUT("\r\n") ||
        (extra && head_put(head, sizeof head, &hn, extra, strlen(extra))) ||
        (!keep_alive && HEAD_PUT("Connection: close\r\n")) ||
        /* HTTP/1.0 closes unless the answer says otherwise (RFC 9112 §9.3) */
        (keep_alive && c->http10 && HEAD_PUT("Connection: keep-alive\r\n")) || HEAD_PUT("\r\n")) {
        hn = 0;
        (void)HEAD_PUT("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                       "Connection: close\r\n\r\n");
        len = 0;
        keep_alive = 0;
    }
    /* a response to HEAD announces its body's length but carries none (RFC 9110 §9.3.2) */
    size_t sent = c->state == CONN_HANDLING && c->req.head ? 0 : len;
    c->keep_alive = keep_alive;
    uv_buf_t b[2] = {uv_buf_init(head, (unsigned)hn), uv_buf_init((char *)body, (unsigned)sent)};
    int w = uv_try_write((uv_stream_t *)&c->tcp, b, sent ? 2 : 1);
    if (w < 0 && w != UV_EAGAIN) {
        yk_httpi_close(c);
        return;
    }
    size_t done = w > 0 ? (size_t)w : 0;
    if (done == hn + sent) {
        yk_httpi_written(c, 0);
        return;
    }
    yk_buf_reset(&c->out);
    if (done < hn) {
        yk_buf_add(&c->out, head + done, hn - done);
        yk_buf_add(&c->out, body, sent);
    } else {
        yk_buf_add(&c->out, body + (done - hn), hn + sent - done);
    }
    if (c->out.failed) {
        yk_httpi_close(c);
        return;
    }
    c->state = CONN_WRITING;
    uv_buf_t rest = uv_buf_init(c->out.p, (unsigned)c->out.len);
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &rest, 1, conn_write_cb) != 0)
        yk_httpi_close(c);
}

static size_t put(char *out, size_t n, const char *s, size_t len)
{
    memcpy(out + n, s, len);
    return n + len;
}

/* {"error":"<code>","message":"<message>"} into out[0..cap); the message is left empty when it
 * does not fit. code and message are literals from our own tables: no JSON escaping needed.
 * Built with memcpy: snprintf was 14 % of a sold-out answer's instructions. */
static size_t error_body(char *out, size_t cap, const char *code, const char *message)
{
    static const char a[] = "{\"error\":\"", b[] = "\",\"message\":\"", z[] = "\"}";
    const size_t fixed = sizeof a - 1 + sizeof b - 1 + sizeof z - 1;
    size_t cl = strlen(code), ml = strlen(message);
    if (fixed + cl > cap)
        cl = 0;
    if (fixed + cl + ml > cap)
        ml = 0;
    size_t n = put(out, 0, a, sizeof a - 1);
    n = put(out, n, code, cl);
    n = put(out, n, b, sizeof b - 1);
    n = put(out, n, message, ml);
    return put(out, n, z, sizeof z - 1);
}

static void conn_refuse(yk_http_conn *c, int status)
{
    const char *code = status == 413   ? "too_large"
                       : status == 431 ? "headers_too_large"
                       : status == 414 ? "uri_too_long"
                                       : "bad_request";
    char body[160];
    size_t n = error_body(body, sizeof body, code,
                          status == 413   ? "The request body is larger than allowed."
                          : status == 400 ? "The request is not valid HTTP/1.1."
                                          : "The request head is larger than allowed.");
    /* nothing after a refused request is read: the connection closes once this is out */
    uv_read_stop((uv_stream_t *)&c->tcp);
    conn_send(c, status, "application/json", NULL, body, n, 0);
}

static void conn_dispatch(yk_http_conn *c)
{
    yk_http_req *r = &c->req;
    memset(r, 0, sizeof *r);
    c->state = CONN_HANDLING;
    c->refs++;
    c->keep_alive = yk_hparse_request(&c->hp, r, &c->http10);
    r->peer = c->peer; /* read once at accept: a syscall per request showed in strace */
    r->started_ns = uv_hrtime();
    r->route = "other";
    r->conn = c;
    c->srv->handler(r, c->srv->ud);
}

/* Feeds data[0..n) to the parser, dispatching each complete request; a request answered at once
 * lets parsing go on. Returns how many bytes at the end of data wait because a request is in
 * flight (0 when all were parsed, or the connection is closing). */
static size_t conn_parse(yk_http_conn *c, const char *data, size_t n)
{
    for (;;) {
        size_t used = 0;
        int rc = yk_hparse_feed(&c->hp, data, n, &used);
        if (rc == 0)
            return 0;
        if (rc != 1 && rc != YK_HPARSE_HEAD && rc != YK_HPARSE_PAUSED) {
            conn_refuse(c, rc);
            return 0;
        }
        data += used;
        n -= used;
        c->dispatching = 1;
        if (rc == YK_HPARSE_PAUSED || (rc == 1 && c->hp.streamed))
            yk_httpi_body_event(c, rc == 1); /* a streamed body paused, or complete */
        else
            conn_dispatch(c);
        c->dispatching = 0;
        if (c->state == CONN_CLOSING)
            return 0;
        if (c->state != CONN_IDLE || n == 0)
            return n;
    }
}

/* Stops reading once ahead[] is full: a client that pipelines without reading its answers
 * waits in TCP flow control, not in our memory. */
static void conn_check_ahead(yk_http_conn *c)
{
    if (ahead_used(c) >= c->srv->ahead_max && !c->read_stopped) {
        c->read_stopped = 1;
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
}

/* Parses what was read ahead, now that no request is in flight. */
static void conn_resume(yk_http_conn *c)
{
    c->resume = 0;
    if (ahead_used(c) > 0 || c->state == CONN_BODY) { /* a body may end without a byte more */
        size_t rest = conn_parse(c, ahead_used(c) ? c->ahead.p + c->ahead_off : "", ahead_used(c));
        if (c->state == CONN_CLOSING)
            return;
        if (rest == 0) {
            yk_buf_reset(&c->ahead);
            c->ahead_off = 0;
        } else {
            c->ahead_off = c->ahead.len - rest;
        }
    }
    conn_check_ahead(c);
    conn_settle(c);
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    yk_http_conn *c = s->data;
    if (c->state == CONN_CLOSING)
        return;
    /* A request in flight, or bytes read ahead still to parse: the socket stays readable (no
     * epoll_ctl per request) and what arrives waits in ahead[]. */
    int busy = c->state == CONN_HANDLING || c->state == CONN_WRITING;
    if (nread == UV_EOF && (busy || ahead_used(c) > 0)) {
        c->peer_eof = 1; /* a half-closed client still gets its answers (libuv stopped reading) */
        return;
    }
    if (nread < 0) {
        yk_httpi_close(c); /* EOF or error; a handler still holding the request keeps c alive */
        return;
    }
    if (nread == 0)
        return;
    if (busy || ahead_used(c) > 0) {
        if (busy && !c->keep_alive && !(c->hp.streamed && !c->hp.ready))
            return; /* nothing after a request that closes the connection is parsed */
        if (ahead_append(c, buf->base, (size_t)nread) != 0) {
            yk_httpi_close(c);
            return;
        }
        if (!busy)
            conn_resume(c); /* an answer's conn_written left a resume pending: do it now */
        else
            conn_check_ahead(c);
        return;
    }
    size_t rest = conn_parse(c, buf->base, (size_t)nread);
    if (rest > 0 && c->state != CONN_CLOSING) {
        if (ahead_append(c, buf->base + nread - rest, rest) != 0) {
            yk_httpi_close(c);
            return;
        }
        conn_check_ahead(c);
    }
}

void yk_http_respond(yk_http_req *req, int status, const char *content_type,
                     const char *extra_headers, const char *body, size_t len)
{
    yk_http_conn *c = req->conn;
    yk_httpi_body_respond(c); /* a streamed body not read to its end: close after the answer */
    if (c->srv->observer)
        c->srv->observer(req, status, c->srv->ud);
    if (c->state == CONN_HANDLING)
        conn_send(c, status, content_type, extra_headers, body, len, c->keep_alive);
    yk_httpi_unref(c);
}

void yk_http_respond_error(yk_http_req *req, int status, const char *code, const char *message)
{
    char body[512];
    size_t n = error_body(body, sizeof body, code, message);
    yk_http_respond(req, status, "application/json", NULL, body, n);
}

void yk_http_respond_not_allowed(yk_http_req *req, const char *allow)
{
    static const char name[] = "Allow: ";
    char extra[128], body[160];
    size_t al = strlen(allow);
    if (al > sizeof extra - sizeof name - 2)
        al = 0; /* a router's literal never is that long */
    memcpy(extra, name, sizeof name - 1);
    memcpy(extra + sizeof name - 1, allow, al);
    memcpy(extra + sizeof name - 1 + al, "\r\n", 3);
    size_t n =
        error_body(body, sizeof body, "method_not_allowed", "This method is not allowed here.");
    yk_http_respond(req, 405, "application/json", extra, body, n);
}

static void server_accept_cb(uv_stream_t *l, int status)
{
    yk_http_server *srv = l->data;
    if (status != 0)
        return;
    yk_http_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return;
    c->srv = srv;
    c->refs = 2; /* one per handle: the socket and the timer each drop one when closed */
    srv->nconns++;
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c->timer.data = c->wreq.data = c;
    yk_hparse_init(&c->hp, &conn_hooks, c, srv->lim.max_header, srv->lim.max_body);
    c->ahead = (yk_buf)YK_BUF_INIT(srv->ahead_max);
    c->out = (yk_buf)YK_BUF_INIT(OUT_MAX);
    c->pend = (yk_buf)YK_BUF_INIT(OUT_MAX);
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->timer, conn_closed_cb);
        uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
        return;
    }
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    uv_tcp_nodelay(&c->tcp, 1);
    int alen = sizeof c->peer;
    uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &alen);
    c->state = CONN_IDLE;
    c->fresh = 1;
    c->since = uv_now(srv->loop);
    if (yk_httpi_cap_take(c) != 0) {
        yk_httpi_cap_refuse(c);
        return;
    }
    uv_timer_start(&c->timer, conn_timer_cb, srv->tick_ms, 0);
    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb);
}

static void server_listener_closed_cb(uv_handle_t *h)
{
    yk_http_server *srv = h->data;
    srv->closing = 2;
    server_maybe_free(srv);
}

int yk_http_parse_listen(const char *listen, struct sockaddr_storage *out)
{
    char host[64];
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || (size_t)(colon - listen) >= sizeof host)
        return UV_EINVAL;
    memcpy(host, listen, colon - listen);
    host[colon - listen] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535)
        return UV_EINVAL;
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0)
        return 0;
    return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out);
}

int yk_http_server_start(yk_http_server **out, uv_loop_t *loop, const char *listen,
                         const yk_http_limits *limits, yk_http_handler handler,
                         yk_http_observer observer, void *ud)
{
    struct sockaddr_storage addr;
    int rc = yk_http_parse_listen(listen, &addr);
    if (rc != 0)
        return rc;
    yk_http_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return UV_ENOMEM;
    srv->loop = loop;
    srv->lim = *limits;
    /* one request's worth (the request buffer's own cap) may wait behind the one in flight */
    srv->ahead_max = limits->max_header + limits->max_body;
    if (srv->ahead_max < 1024)
        srv->ahead_max = 1024;
    srv->tick_ms = limits->header_timeout_ms < limits->idle_timeout_ms ? limits->header_timeout_ms
                                                                       : limits->idle_timeout_ms;
    if (limits->body_timeout_ms > 0 && limits->body_timeout_ms < srv->tick_ms)
        srv->tick_ms = limits->body_timeout_ms;
    if (srv->tick_ms == 0)
        srv->tick_ms = 1;
    srv->handler = handler;
    srv->observer = observer;
    srv->ud = ud;
    if ((rc = yk_httpi_caps_init(srv)) != 0)
        goto fail;

    /* SO_REUSEPORT must be set before bind, which uv_tcp_bind (libuv 1.44) cannot do. */
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0) {
        rc = (-errno);
        goto fail;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (limits->share_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
        bind(fd, (struct sockaddr *)&addr,
             addr.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                       : sizeof(struct sockaddr_in6)) != 0) {
        rc = (-errno);
        close(fd);
        goto fail;
    }
    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    if ((rc = uv_tcp_open(&srv->listener, fd)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&srv->listener, 4096, server_accept_cb)) != 0) {
        uv_close((uv_handle_t *)&srv->listener, server_listener_closed_cb);
        return rc;
    }
    *out = srv;
    return 0;
fail:
    yk_httpi_caps_free(srv);
    free(srv);
    return rc;
}

void yk_http_server_close(yk_http_server *srv)
{
    srv->closing = 1;
    for (yk_http_conn *c = srv->conns, *next; c; c = next) {
        next = c->next;
        /* a stream may wait on a client that never reads: it is cut (its producer hears of it
         * through the drain callback or a failed write) so that stopping never waits on one */
        if (c->state == CONN_IDLE || c->state == CONN_READING || c->streaming ||
            c->state == CONN_BODY)
            yk_httpi_close(c);
    }
    uv_close((uv_handle_t *)&srv->listener, server_listener_closed_cb);
}
