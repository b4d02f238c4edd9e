/* submit: puts a validated reservation into its partition's stream with the submit script and
 * holds the HTTP request until the worker's answer arrives or YOYAKU_WAIT_MS passes (202). */
#ifndef SUBMIT_H
#define SUBMIT_H

#include <stdint.h>

#include "yk_http.h"
#include "yk_redis.h"

typedef struct {
    unsigned partition;
    const char *event_id, *slot_id, *email, *identity, *fields_json; /* borrowed for the call */
    const char *idem_key;  /* Idempotency-Key or NULL */
    const char *body_hash; /* hex SHA-256 of the request body (with idem_key) */
} submit_request;

/* Starts the timers; 0 or -1. */
__attribute__((warn_unused_result)) int submit_init(void);
/* Answers req now (503, 409 idempotency_conflict, an earlier answer) or later (201/409/202). */
void submit_reservation(yk_http_req *req, const submit_request *s);
/* A message on yk:rep:<ingress id>: "<request id> <code> <json body>". */
void submit_on_reply(const char *payload, size_t len);
/* GET /v1/requests/{id}. */
void submit_request_status(yk_http_req *req, const char *request_id);
/* Loads the submit script (after every Redis connection; a yk_redis_on_connect). */
void submit_load_script(yk_redis *r, void *ud);
/* Answers every waiting request with 202 (shutdown). */
void submit_shutdown(void);
/* Frees the waiter pool once the loop has ended. */
void submit_free(void);

#endif
