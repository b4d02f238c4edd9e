/* submit: puts a validated reservation into its partition's stream (plain pipelined commands, or
 * the submit script with an Idempotency-Key) and holds the HTTP request until the worker's answer
 * arrives on the reply subscription or YOYAKU_WAIT_MS passes (pending.h: 202 after writing the
 * request's pending marker, or 503 when Redis never acknowledged the XADD). */
#ifndef SUBMIT_H
#define SUBMIT_H

#include <stdint.h>

#include "yk_http.h"
#include "yk_redis.h"

/* One stream entry (proto/streams.md); every string is borrowed for the call only. */
typedef struct {
    int cancel; /* 0: reserve (or attend), 1: cancel */
    unsigned partition;
    const char *event_id;
    /* reserve */
    const char *slot_id, *email, *identity, *fields_json;
    const char *idem_key;  /* Idempotency-Key or NULL */
    const char *body_hash; /* hex SHA-256 of the request body (with idem_key) */
    /* With idem_key only: "<code> <json>", the answer of a refusal that depends on changing state
     * (sold out, booking window). It is given, and kept as the key's answer, only if the key is
     * new; a key seen before gives its earlier answer. NULL: submit the entry. */
    const char *refusal;
    /* the event's roster hash of the booker's values (roster.h: stream field rh), or NULL */
    const char *roster_hash;
    /* cancel and attend */
    const char *booking_id,
        *token_hash; /* token_hash "*": staff's cancel (no token, no deadline) */
    /* attend: "attended" or "no_show" (NULL: not an attend entry); today: the desk's check-in */
    const char *attend;
    int today;
    /* waitlist (waitlist.c): "wjoin" (a reserve's fields, slot_id), "waccept" or "wleave" (with
     * entry_id and token_hash); NULL for the types above */
    const char *wl, *entry_id;
} submit_request;

/* Starts the timers; 0 or -1. */
__attribute__((warn_unused_result)) int submit_init(void);
/* Answers req now (503, 409 idempotency_conflict, an earlier answer) or later (the worker's
 * answer, or 202 after YOYAKU_WAIT_MS). */
void submit_entry(yk_http_req *req, const submit_request *s);
/* One answer of a message on yk:rep:<ingress id> (one line of it): "<request id> <code> <json
 * body>". Unknown request ids are ignored. */
void submit_on_reply(const char *payload, size_t len);
/* After every Redis connection (a yk_redis_on_connect): loads the idempotent submit script and
 * writes the pending markers owed since Redis was unreachable. */
void submit_on_connect(yk_redis *r, void *ud);
/* After every connection of the subscription (a yk_redis_on_connect): subscribes to this
 * ingress's reply channel and yk:events (catalogue messages), and reloads the catalogue. */
void submit_sub_connected(yk_redis *r, void *ud);
/* Loads the idempotent submit script (again, after NOSCRIPT). */
void submit_load_script(yk_redis *r, void *ud);
/* Shutdown: answers every waiting request with 202 once its pending marker is written, refuses new
 * submits with 503, and calls then (once, from a timer) when no request needs Redis any more, or
 * after a grace period: then closes the connections, which completes what is left with NULL. */
void submit_shutdown(void (*then)(void));
/* Frees the waiter pool and owed markers once the loop has ended. */
void submit_free(void);

#endif
