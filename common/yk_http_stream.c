/* yk_http_stream: streaming responses of yk_http (chunked for HTTP/1.1, close-delimited for 1.0),
 * with a producer-driven back-pressure. Owns the connection's pend[] queue while a stream runs. */
#include <stdio.h>
#include <string.h>

#include "yk_http_int.h"

static void stream_kick(yk_http_conn *c, int from_loop);

static void stream_write_cb(uv_write_t *w, int status)
{
    yk_http_conn *c = w->data;
    c->in_flight = 0;
    if (c->state == CONN_CLOSING)
        return; /* a waiting producer hears of it from the socket's close callback */
    if (status != 0) {
        yk_httpi_close(c);
        return;
    }
    yk_buf_reset(&c->out);
    c->since = uv_now(c->srv->loop); /* progress: the stall timer starts over */
    stream_kick(c, 1);
}

/* Starts the next write (out[] and pend[] swap: the queue becomes the write in flight), finishes
 * an ended stream once all is out, and wakes a waiting producer once the queue is short. */
static void stream_kick(yk_http_conn *c, int from_loop)
{
    if (!c->in_flight && c->pend.len > 0) {
        yk_buf t = c->out;
        c->out = c->pend;
        c->pend = t;
        c->in_flight = 1;
        uv_buf_t b = uv_buf_init(c->out.p, (unsigned)c->out.len);
        if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, stream_write_cb) != 0) {
            c->in_flight = 0;
            yk_httpi_close(c);
            return;
        }
    }
    if (!c->in_flight && c->ending) {
        c->streaming = c->ending = 0;
        /* an export's buffers are large: give them back rather than keep them per connection */
        yk_buf_free(&c->out);
        yk_buf_free(&c->pend);
        yk_httpi_written(c, from_loop);
        return;
    }
    if (from_loop && c->drain && c->out.len + c->pend.len <= c->low) {
        yk_http_drain_cb cb = c->drain;
        c->drain = NULL;
        cb(&c->req, c->drain_ud);
    }
}

void yk_http_stream_begin(yk_http_req *req, int status, const char *content_type,
                          const char *extra_headers)
{
    yk_http_conn *c = req->conn;
    if (c->srv->observer)
        c->srv->observer(req, status, c->srv->ud);
    if (c->state != CONN_HANDLING)
        return; /* the client is gone: writes fail, end releases */
    c->streaming = 1;
    c->chunked = !c->http10;
    c->since = uv_now(c->srv->loop);
    c->stream_q = 0;
    /* HTTP/1.0 has no chunks: the end of the body is the end of the connection */
    int keep_alive = c->keep_alive && c->chunked && !c->srv->closing;
    c->keep_alive = keep_alive;
    char head[1536];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %03d %s\r\nDate: %s\r\nContent-Type: %s\r\n%s%s%s\r\n", status,
                     yk_httpi_status_text(status), yk_httpi_date(c->srv), content_type,
                     c->chunked ? "Transfer-Encoding: chunked\r\n" : "",
                     extra_headers ? extra_headers : "", keep_alive ? "" : "Connection: close\r\n");
    if (n < 0 || (size_t)n >= sizeof head) {
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 500 Internal Server Error\r\nContent-Length: "
                     "0\r\nConnection: close\r\n\r\n");
        c->keep_alive = 0;
        c->chunked = 0;
        c->req.head = 1; /* nothing more goes out */
    }
    yk_buf_reset(&c->pend);
    yk_buf_add(&c->pend, head, (size_t)n);
    stream_kick(c, 0);
}

int yk_http_stream_write(yk_http_req *req, const void *data, size_t len)
{
    yk_http_conn *c = req->conn;
    if (c->state != CONN_HANDLING || !c->streaming)
        return -1;
    if (len == 0 || req->head)
        return 0;
    if (c->chunked) {
        char size[24];
        int n = snprintf(size, sizeof size, "%zx\r\n", len);
        yk_buf_add(&c->pend, size, (size_t)n);
        yk_buf_add(&c->pend, data, len);
        yk_buf_add(&c->pend, "\r\n", 2);
    } else {
        yk_buf_add(&c->pend, data, len);
    }
    if (c->pend.failed) {
        yk_httpi_close(c);
        return -1;
    }
    stream_kick(c, 0);
    return c->state == CONN_CLOSING ? -1 : 0;
}

size_t yk_http_stream_queued(const yk_http_req *req)
{
    const yk_http_conn *c = req->conn;
    return c->out.len + c->pend.len;
}

void yk_http_stream_wait(yk_http_req *req, size_t low, yk_http_drain_cb cb, void *ud)
{
    yk_http_conn *c = req->conn;
    c->low = low;
    c->drain = cb;
    c->drain_ud = ud;
}

void yk_http_stream_end(yk_http_req *req)
{
    yk_http_conn *c = req->conn;
    c->drain = NULL;
    if (c->state == CONN_HANDLING && c->streaming) {
        if (c->chunked && !req->head)
            yk_buf_add(&c->pend, "0\r\n\r\n", 5);
        c->ending = 1;
        stream_kick(c, 0);
    }
    yk_httpi_unref(c);
}

void yk_http_stream_abort(yk_http_req *req)
{
    yk_http_conn *c = req->conn;
    c->drain = NULL;
    c->streaming = 0;
    yk_httpi_close(c);
    yk_httpi_unref(c);
}
