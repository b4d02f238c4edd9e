/* yk_http_int: the connection and server structures shared by yk_http.c and yk_http_stream.c,
 * and the few yk_http.c functions the streaming code calls. Private to those two files. */
#ifndef YK_HTTP_INT_H
#define YK_HTTP_INT_H

#include "yk_buf.h"
#include "yk_hparse.h"
#include "yk_http.h"

/* A response that the socket does not take at once waits in out[]: no answer is larger. */
#define OUT_MAX ((size_t)1 << 30)

enum { CONN_IDLE, CONN_READING, CONN_HANDLING, CONN_WRITING, CONN_CLOSING };

struct yk_http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    yk_http_limits lim;
    yk_http_handler handler;
    yk_http_observer observer;
    void *ud;
    yk_http_conn *conns; /* doubly linked list of open connections */
    int closing;         /* 1: closing, 2: listener closed too */
    size_t nconns;       /* connections whose socket is not closed yet; they point at us */
    size_t ahead_max;    /* bytes read ahead per connection before reading stops (back-pressure) */
    uint64_t tick_ms;    /* the longest a connection's timer sleeps: the shortest timeout */
    struct yk_http_caps *caps; /* connections per address (yk_http_cap.c); NULL: no cap */
    /* The Date header's value: formatted when the loop time reaches date_until, the end of the
     * second it names, so the hot path formats it once per second, not once per answer. */
    char date[30];
    uint64_t date_until;
    char readbuf[65536]; /* shared: the parser copies what it keeps into the connection */
};

struct yk_http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wreq;
    yk_hparse hp;
    yk_http_server *srv;
    yk_http_conn *prev, *next;
    int state;
    int refs; /* 1 while handles are open + 1 while a handler holds the request */
    int keep_alive;
    int http10;       /* the request in flight is HTTP/1.0: keep-alive must be said */
    int dispatching;  /* conn_parse is calling the handler: it parses what follows by itself */
    int resume;       /* the timer fires at once to parse ahead[]: see conn_written */
    int read_stopped; /* ahead[] is full: the socket is not read until it drains */
    int peer_eof;     /* the client stopped sending; close once what it sent is answered */
    int fresh;   /* no request has begun yet: the first byte is due within the header timeout */
    int in_body; /* READING past the head: the body timeout runs (from since) */
    int capped;  /* counted in srv->caps under cap_key until closed */
    unsigned char cap_key[16];
    uint64_t since; /* uv_now() when the current IDLE or READING period began */
    /* Bytes read while a request was in flight (pipelined, or sent before its answer was out):
     * ahead.p[ahead_off..ahead.len), at most srv->ahead_max. */
    yk_buf ahead;
    size_t ahead_off;
    yk_buf out;      /* the part of a response that the socket did not take at once; while
                      * streaming, the bytes in the socket's write in flight */
    yk_buf pend;     /* streaming: bytes queued behind the write in flight */
    int streaming;   /* 1 from yk_http_stream_begin until its last byte is out */
    int chunked;     /* the stream is sent in chunks (HTTP/1.1); else closed to end it */
    int in_flight;   /* a stream write is in the socket */
    int ending;      /* yk_http_stream_end was called: finish once all is out */
    size_t low;      /* yk_http_stream_wait's mark */
    size_t stream_q; /* the socket's write queue at the timer's last look: progress (since) */
    yk_http_drain_cb drain;
    void *drain_ud;
    struct sockaddr_storage peer;
    yk_http_req req;
};

const char *yk_httpi_status_text(int status);
const char *yk_httpi_date(yk_http_server *srv); /* the Date header's value, 29 characters */
void yk_httpi_close(yk_http_conn *c);
void yk_httpi_unref(yk_http_conn *c); /* drops a reference; frees c at the last */
void yk_httpi_written(yk_http_conn *c, int from_loop);

/* yk_http_cap.c: the per-address connection count of limits.max_conns_per_addr. */
/* Sets up srv->caps when the limits ask for a cap; 0 or UV_ENOMEM. Also raises the process's
 * open file limit to its hard limit (each connection holds a descriptor). */
__attribute__((warn_unused_result)) int yk_httpi_caps_init(yk_http_server *srv);
void yk_httpi_caps_free(yk_http_server *srv);
/* A connection just accepted (peer known): counts it, or returns -1 when its address holds
 * max_conns_per_addr already (then it is not counted; the caller refuses it). */
__attribute__((warn_unused_result)) int yk_httpi_cap_take(yk_http_conn *c);
/* Answers 429 at once and closes c (yk_httpi_cap_take said no). */
void yk_httpi_cap_refuse(yk_http_conn *c);
/* The connection closes: its count is given back (once). */
void yk_httpi_cap_release(yk_http_conn *c);

#endif
