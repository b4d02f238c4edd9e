/* yk_http: an HTTP/1.1 server (RFC 9110, RFC 9112) on libuv + llhttp with keep-alive, size limits
 * and timeouts; yk_hparse parses its requests. One request per connection is in flight at a time;
 * what the client sends meanwhile (pipelined requests) is read ahead into the connection, at most
 * max_header + max_body bytes, after which the rest waits in the socket until the request in flight
 * is answered. */
#ifndef YK_HTTP_H
#define YK_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

typedef enum {
    YK_HDR_AUTHORIZATION,
    YK_HDR_IDEMPOTENCY_KEY,
    YK_HDR_BOOKING_TOKEN,
    YK_HDR_ACCESS_TOKEN,
    YK_HDR_CONTENT_TYPE,
    YK_HDR_EXPECT, /* answered by yk_http itself with 100 Continue */
    YK_HDR_COOKIE,
    YK_HDR_ORIGIN,
    YK_HDR_FORWARDED_FOR,
    YK_HDR_COUNT
} yk_http_hdr;

/* A handler never sees YK_M_HEAD: yk_http hands a HEAD request over as GET with req->head set,
 * and sends the GET answer's head without its body, so HEAD works wherever GET does. */
typedef enum {
    YK_M_OTHER,
    YK_M_GET,
    YK_M_HEAD,
    YK_M_POST,
    YK_M_PATCH,
    YK_M_PUT,
    YK_M_DELETE
} yk_http_method;

typedef struct yk_http_conn yk_http_conn;

/* A parsed request. The connection owns it and every string in it; all of it stays valid until the
 * handler calls yk_http_respond (even if the client has gone away meanwhile). Strings are
 * NUL-terminated. */
typedef struct {
    yk_http_method method;
    int head;         /* the request was HEAD (method says GET): the answer's body is dropped */
    const char *path; /* without the query string, not decoded */
    size_t path_len;
    const char *query; /* after '?', "" if none */
    const char *body;  /* "" if none */
    size_t body_len;
    const char *headers[YK_HDR_COUNT]; /* NULL when absent */
    struct sockaddr_storage peer;
    uint64_t started_ns; /* uv_hrtime() when the request was complete */
    const char *route;   /* set by the handler for metrics, always to a string literal (it is
                          * kept after the request is gone); "other" by default */
    void *data;          /* free for the handler */
    yk_http_conn *conn;
} yk_http_req;

/* Called once per complete request. The handler must call yk_http_respond exactly once, now or
 * later from the same loop. */
typedef void (*yk_http_handler)(yk_http_req *req, void *ud);
/* Called after a response was queued: for metrics and access logs. */
typedef void (*yk_http_observer)(const yk_http_req *req, int status, void *ud);

typedef struct {
    size_t max_body;            /* larger bodies get 413 too_large */
    size_t max_header;          /* request line + headers; larger get 431 */
    uint64_t header_timeout_ms; /* from a request's first byte to the end of its head (to its
                                 * last byte when body_timeout_ms is 0); a new connection's first
                                 * byte must come within it too (or the idle timeout if shorter) */
    uint64_t idle_timeout_ms;   /* between requests on a kept-alive connection */
    int share_port;             /* SO_REUSEPORT: several ingress processes serve one port; off
                                 * for metrics listeners, where a clash must fail loudly */
    /* Slow-client defences (slowloris): a trickled head or body is closed at its deadline
     * whatever it sends meanwhile, and one address cannot hold more than its share of sockets. */
    uint64_t body_timeout_ms;    /* from the end of a head to its body's last byte; 0: see
                                  * header_timeout_ms */
    unsigned max_conns_per_addr; /* open connections per address; one more is answered 429 and
                                  * closed at once; 0: no cap */
    /* The address a connection counts under for max_conns_per_addr: returns 1 after filling key,
     * or 0 for a peer that is not capped (a trusted proxy). NULL: each TCP peer by its IP
     * address (IPv4 mapped into 16 bytes). Called once per accepted connection. */
    int (*conn_key)(const struct sockaddr_storage *peer, unsigned char key[16]);
} yk_http_limits;

typedef struct yk_http_server yk_http_server;

/* Listens on host:port (with SO_REUSEPORT if limits->share_port). The server is
 * heap-allocated and owned by the caller; close it with yk_http_server_close. Returns 0 or a
 * negative libuv error. */
__attribute__((warn_unused_result)) int yk_http_server_start(yk_http_server **out, uv_loop_t *loop,
                                                             const char *listen,
                                                             const yk_http_limits *limits,
                                                             yk_http_handler handler,
                                                             yk_http_observer observer, void *ud);
/* Stops accepting and closes idle connections; requests in flight still get their answer. The
 * memory is released once every handle has closed. */
void yk_http_server_close(yk_http_server *srv);

/* Sends a response. body[0..len) and extra_headers (preformatted "Name: value\r\n" lines, may be
 * NULL) are copied; the caller keeps ownership. After this call req is gone. */
void yk_http_respond(yk_http_req *req, int status, const char *content_type,
                     const char *extra_headers, const char *body, size_t len);

/* Convenience: {"error": code, "message": message} with status. */
void yk_http_respond_error(yk_http_req *req, int status, const char *code, const char *message);

/* 405 method_not_allowed with the Allow header RFC 9110 §15.5.6 requires: allow lists the
 * methods the path takes, e.g. "GET, HEAD" or "POST" (a literal; name HEAD wherever GET is,
 * since yk_http answers HEAD with the GET handler). */
void yk_http_respond_not_allowed(yk_http_req *req, const char *allow);

/* Streaming responses (a body made while it is sent, e.g. a CSV export of any size). Instead of
 * yk_http_respond, the handler calls yk_http_stream_begin once, then yk_http_stream_write any
 * number of times, then yk_http_stream_end exactly once; req stays valid until then. The body
 * goes out in chunks (Transfer-Encoding: chunked) to an HTTP/1.1 client, and to an HTTP/1.0 one
 * as is, the connection closing to end it. To HEAD only the head goes out (writes are dropped).
 * Memory stays bounded by the producer: write copies into the connection's queue, and
 * yk_http_stream_queued says how much waits there; above a mark of its choice the producer stops
 * and calls yk_http_stream_wait, whose callback says when to go on. A client that takes no byte
 * of a stream for the idle timeout is disconnected (the producer hears of it as below), and so is
 * every stream when the server closes. */
typedef void (*yk_http_drain_cb)(yk_http_req *req, void *ud);

/* Sends the head: status, content_type (e.g. "text/csv; charset=utf-8"), extra_headers as in
 * yk_http_respond, no Content-Length. */
void yk_http_stream_begin(yk_http_req *req, int status, const char *content_type,
                          const char *extra_headers);
/* Queues data[0..len) (copied) as the next part of the body; len 0 does nothing. Returns 0, or -1
 * when the client is gone or memory ran out (stop producing and call yk_http_stream_end). */
__attribute__((warn_unused_result)) int yk_http_stream_write(yk_http_req *req, const void *data,
                                                             size_t len);
/* Bytes written but not yet taken by the socket. */
size_t yk_http_stream_queued(const yk_http_req *req);
/* Calls cb(req, ud) once, from the loop, when at most low bytes are queued, or when the client
 * is gone (the next write then returns -1). Call it only while more than low bytes are queued;
 * one wait at a time. */
void yk_http_stream_wait(yk_http_req *req, size_t low, yk_http_drain_cb cb, void *ud);
/* Ends the body (the last chunk) and releases req, as yk_http_respond does: the connection sends
 * what is queued, then serves the next request or closes. */
void yk_http_stream_end(yk_http_req *req);

/* Ends a stream that cannot be completed (its source failed): the connection closes without the
 * last chunk, so the client sees an unfinished transfer, not a short body. Releases req. */
void yk_http_stream_abort(yk_http_req *req);

/* Formats t as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", RFC 9110 §5.6.7) into out
 * and NUL-terminates it; returns its length, 29. Every response's Date header is this, formatted
 * once per second per server. */
size_t yk_http_date(time_t t, char out[30]);

/* Parses "host:port" into a sockaddr; 0 or negative libuv error. */
__attribute__((warn_unused_result)) int yk_http_parse_listen(const char *listen,
                                                             struct sockaddr_storage *out);

#endif
