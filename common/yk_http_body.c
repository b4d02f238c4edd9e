/* yk_http_body: streamed request bodies of yk_http — the filter that picks them, the parser's
 * hooks that hand each piece to the handler's reader, and the reader's pause and resume. A body
 * is never gathered: memory per connection stays its read-ahead buffer, whatever the body's size.
 */
#include <llhttp.h>

#include "yk_http_int.h"

void yk_http_server_stream_bodies(yk_http_server *srv, yk_http_body_filter filter, void *ud)
{
    srv->body_filter = filter;
    srv->body_filter_ud = ud;
}

size_t yk_httpi_body_stream(void *owner, int method, const char *target)
{
    yk_http_conn *c = owner;
    yk_http_method m = method == HTTP_PUT     ? YK_M_PUT
                       : method == HTTP_POST  ? YK_M_POST
                       : method == HTTP_PATCH ? YK_M_PATCH
                       : method == HTTP_GET   ? YK_M_GET
                       : method == HTTP_HEAD  ? YK_M_GET
                                              : YK_M_OTHER;
    c->body_cb = NULL;
    c->body_paused = 0;
    return c->srv->body_filter ? c->srv->body_filter(m, target, c->srv->body_filter_ud) : 0;
}

int yk_httpi_body_data(void *owner, const char *data, size_t n)
{
    yk_http_conn *c = owner;
    c->since = uv_now(c->srv->loop); /* progress: the idle timer starts over */
    if (n > 0 && c->body_cb)
        c->body_cb(&c->req, data, n, 0, c->body_ud);
    return c->body_paused;
}

/* Goes on parsing from the loop (the connection's timer, as yk_httpi_written does): what waits
 * in ahead[] first, then the socket. */
static void body_kick(yk_http_conn *c)
{
    c->state = CONN_BODY;
    c->since = uv_now(c->srv->loop);
    c->resume = 1;
    uv_timer_start(&c->timer, c->timer.timer_cb, 0, 0);
}

void yk_httpi_body_event(yk_http_conn *c, int complete)
{
    if (c->state == CONN_CLOSING)
        return;
    c->state = CONN_HANDLING; /* paused, or done: what arrives waits in ahead[] */
    if (!complete)
        return;
    yk_http_body_cb cb = c->body_cb;
    c->body_cb = NULL;
    if (cb)
        cb(&c->req, NULL, 0, 0, c->body_ud);
}

void yk_httpi_body_respond(yk_http_conn *c)
{
    if (!c->hp.streamed || c->hp.ready || c->state == CONN_CLOSING)
        return;
    /* answered before the body's end: nothing more is read, and the connection closes after the
     * answer (the rest of the body would be taken for the next request) */
    c->body_cb = NULL;
    c->keep_alive = 0;
    c->resume = 0;
    if (c->state == CONN_BODY)
        c->state = CONN_HANDLING;
    uv_read_stop((uv_stream_t *)&c->tcp);
}

void yk_httpi_body_gone(yk_http_conn *c)
{
    yk_http_body_cb cb = c->body_cb;
    c->body_cb = NULL;
    if (cb)
        cb(&c->req, NULL, 0, -1, c->body_ud);
}

int yk_http_body_read(yk_http_req *req, yk_http_body_cb cb, void *ud)
{
    yk_http_conn *c = req->conn;
    if (c->state == CONN_CLOSING || !c->hp.streamed)
        return -1; /* the client went away before the handler asked */
    c->body_cb = cb;
    c->body_ud = ud;
    c->body_paused = 0;
    yk_hparse_resume(&c->hp);
    body_kick(c);
    return 0;
}

void yk_http_body_pause(yk_http_req *req)
{
    yk_http_conn *c = req->conn;
    c->body_paused = 1;
    if (c->state == CONN_BODY)
        c->state = CONN_HANDLING;
}

void yk_http_body_resume(yk_http_req *req)
{
    yk_http_conn *c = req->conn;
    if (!c->body_paused)
        return;
    c->body_paused = 0;
    if (c->state != CONN_HANDLING || c->hp.ready || c->body_cb == NULL)
        return;
    yk_hparse_resume(&c->hp);
    body_kick(c);
}
