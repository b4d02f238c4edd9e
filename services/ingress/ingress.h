/* ingress: state shared by the ingress modules (one process = one libuv loop = one ingress).
 * The single global `ingress` is owned by main.c; other modules borrow it. The responders every
 * route uses are declared here and live in respond.c. */
#ifndef INGRESS_H
#define INGRESS_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "catalogue.h"
#include "yk_http.h"
#include "yk_pg.h"
#include "yk_redis.h"

typedef struct {
    /* configuration (yk_config table in main.c) */
    const char *listen, *redis_addr, *pg_conninfo, *log_level, *ingress_id_cfg, *token_key_hex,
        *web_dir, *public_url, *trusted_proxies;
    char origin[512];            /* YOYAKU_PUBLIC_URL's scheme://host[:port] */
    unsigned char token_key[32]; /* parsed YOYAKU_TOKEN_KEY */
    int64_t partitions, wait_ms, result_ttl;
    int64_t access_ttl, pwhash_concurrency, fail_unlock, rate_loopback; /* secret events */
    int64_t session_ttl, fail_login;                                    /* staff sign-in */
    /* abuse: YOYAKU_RATE_* (ratelimit.h's kinds, in their order), slow clients, the cap */
    const char *rate[4];
    int64_t header_timeout_ms, body_timeout_ms, idle_timeout_ms, max_conns_per_addr;
    int64_t redis_replicas; /* YOYAKU_REDIS_REPLICAS; -1: 1 when the master has a replica */
    char ingress_id[96];
    /* connections */
    uv_loop_t *loop;
    yk_http_server *http;
    yk_redis *redis; /* commands */
    yk_redis *sub;   /* pub/sub: replies and catalogue events */
    yk_pg *pg;
    int stopping;
} ingress_state;

extern ingress_state ingress;

/* Responders and request helpers (respond.c). */

/* Responds with json (a reference that is stolen) serialised compactly. */
void ingress_respond_json(yk_http_req *req, int status, json_t *json, const char *extra_headers);
/* Copies query parameter name's raw value into out (outlen bytes with the NUL): 1 if present,
 * 0 if absent, -1 if longer than out (out is then ""). */
int ingress_query_param(const char *query, const char *name, char *out, size_t outlen);
/* Appends {"field", "reason"} to errors (a borrowed JSON array). */
void ingress_add_error(json_t *errors, const char *field, const char *reason);
/* body's string member key (borrowed), or NULL with an error appended: absent or empty →
 * required, not a string → type, CR/LF → pattern. */
const char *ingress_string_member(json_t *body, const char *key, json_t *errors);
/* The request body as JSON (a new reference), or NULL after answering 400 malformed_json. Adds to
 * errors ("body", "type") when it is not an object, and ("<key>", "unknown_field") for each key not
 * in known (NULL-terminated; NULL: any key). */
json_t *ingress_load_object(yk_http_req *req, const char *const *known, json_t *errors);
/* 422 invalid_fields with errors (a reference that is stolen) and message (a literal). */
void ingress_respond_invalid(yk_http_req *req, json_t *errors, const char *message);
/* 503 unavailable with Retry-After: 1. */
void ingress_respond_unavailable(yk_http_req *req);
/* Answers with a stored "<code> <json>" value (v[0..len), borrowed): 0 if it was a final answer,
 * -1 (nothing sent) if it is a pending marker or malformed. */
__attribute__((warn_unused_result)) int ingress_respond_stored(yk_http_req *req, const char *v,
                                                               size_t len);

/* Adds "checkin_code" (yk_token_checkin_code of its "id", with this ingress's token key) to a
 * booking object (borrowed), last as the contract lists it. -1 when it has no usable id or memory
 * ran out. */
__attribute__((warn_unused_result)) int ingress_booking_checkin(json_t *booking);

/* The booking of contract §2 from its row's INGRESS_BOOKING_JSON text: fields in e's definition
 * order and typed (catalogue_booking_fields), and its check-in code. A new reference; NULL when
 * the text is not an object or memory ran out. */
json_t *ingress_booking(const cat_event *e, const char *booking_json);

/* The booking JSON of contract §2 for row b (joined with slots s and events e), as text. */
#define INGRESS_BOOKING_JSON                                                                       \
    "json_build_object('id', b.id::text, 'event', e.slug, 'slot_id', b.slot_id::text,"             \
    " 'starts_at', yk_rfc3339(s.starts_at, e.timezone),"                                           \
    " 'ends_at', yk_rfc3339(s.ends_at, e.timezone), 'status', b.status, 'email', b.email,"         \
    " 'fields', b.fields, 'created_at', yk_rfc3339(b.created_at, e.timezone))::text"
#define INGRESS_BOOKING_FROM                                                                       \
    " FROM bookings b JOIN slots s ON s.id = b.slot_id JOIN events e ON e.id = b.event_id"

/* Route handlers. Each must answer req exactly once. segs are the path's segments after "/v1/". */
void routes_public(yk_http_req *req, char **segs, int nsegs);
void routes_admin(yk_http_req *req, char **segs, int nsegs);
void routes_bookings(yk_http_req *req, char **segs, int nsegs);

#endif
