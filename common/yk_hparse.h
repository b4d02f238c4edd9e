/* yk_hparse: one connection's HTTP/1.1 request parser for yk_http: llhttp fed with the bytes read,
 * the request's target, headers of interest and body gathered into one capped yk_buf reused from
 * request to request, and the request-level checks of RFC 9112 (Host, framing, sizes).
 * A yk_hparse owns its buffer (yk_hparse_free); a yk_http_req filled from it borrows its strings.
 */
#ifndef YK_HPARSE_H
#define YK_HPARSE_H

#include <llhttp.h>
#include <stddef.h>

#include "yk_buf.h"
#include "yk_http.h"

/* Told to the owner from inside yk_hparse_feed; neither may call back into the parser. */
typedef struct {
    void (*begin)(void *owner);   /* a request's first byte: its header deadline starts */
    void (*proceed)(void *owner); /* the head asked for 100 Continue before its body */
    void (*head)(void *owner);    /* the head is complete (its body's deadline starts); may be
                                   * NULL */
} yk_hparse_hooks;

typedef struct {
    llhttp_t llhttp;
    const yk_hparse_hooks *hooks;
    void *owner;
    size_t max_header, max_body;
    /* The request being parsed: target '\0' wanted header values '\0' … body '\0'. */
    yk_buf buf;
    size_t target_len, head_bytes, body_off;
    size_t hdr_off[YK_HDR_COUNT];
    int cur_hdr;      /* index of the header whose value is being read, or -1 */
    char field[32];   /* the header name being read; longer names match nothing */
    size_t field_len; /* may exceed sizeof field: then the name is only counted */
    int hosts;        /* Host fields in the head */
    int refused;      /* the HTTP status a callback refused the request with */
    int ready;        /* a whole request is parsed; the parser is paused until yk_hparse_next */
} yk_hparse;

/* Starts parsing requests; hooks (static) and owner are passed to the hooks. Bodies over max_body
 * are refused with 413, heads over max_header with 431 (or 414 for the target). */
void yk_hparse_init(yk_hparse *p, const yk_hparse_hooks *hooks, void *owner, size_t max_header,
                    size_t max_body);
void yk_hparse_free(yk_hparse *p);

/* Parses data[0..n). Returns 0 when all of it was taken and no request is complete yet; 1 when a
 * request is complete (*used: the bytes taken, up to its last one; the rest waits for
 * yk_hparse_next); or the HTTP status the request is refused with (400, 413, 414, 431), after
 * which the connection must close. */
__attribute__((warn_unused_result)) int yk_hparse_feed(yk_hparse *p, const char *data, size_t n,
                                                       size_t *used);

/* Fills r's method, path, query, body and headers from the complete request (the strings point
 * into p's buffer and stay valid until yk_hparse_next). HEAD is given as GET with r->head set.
 * Returns whether the connection may be kept open after the answer (HTTP/1.1 unless "close",
 * HTTP/1.0 only with "keep-alive"); *http10: the request was HTTP/1.0. */
int yk_hparse_request(yk_hparse *p, yk_http_req *r, int *http10);

/* The request was answered: the parser goes on with the next one. */
void yk_hparse_next(yk_hparse *p);

#endif
