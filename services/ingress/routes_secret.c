/* routes_secret: the gate of secret events — POST /v1/events/{slug}/unlock, and the X-Access-Token
 * check every public route of a secret event passes. Owns the counter of failed unlocks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalogue.h"
#include "client.h"
#include "failrate.h"
#include "ingress.h"
#include "pwhash.h"
#include "routes_secret.h"
#include "secret.h"

static failrate unlock_failures;

void routes_secret_init(void)
{
    failrate_init(&unlock_failures, (int)ingress.fail_unlock);
}

int routes_secret_allowed(yk_http_req *req, const cat_event *e)
{
    if (!e->secret)
        return 1;
    /* An expired token is refused like a missing one: the page asks for the password again. */
    if (secret_token_verify(ingress.token_key, e->id, e->password_hash,
                            req->headers[YK_HDR_ACCESS_TOKEN], time(NULL)) == SECRET_TOKEN_OK)
        return 1;
    json_t *title = json_object_get(e->json, "title");
    ingress_respond_json(req, 401,
                         json_pack("{s:s,s:s,s:s,s:O,s:b}", "error", "password_required", "message",
                                   "This event is protected by a password.", "slug", e->slug,
                                   "title", title ? title : json_null(), "secret", 1),
                         NULL);
    return 0;
}

/* One unlock waiting for its verification. */
typedef struct {
    yk_http_req *req;
    int64_t event_id;
    char hash[PWHASH_HASH_MAX]; /* the password hash it was checked against */
    unsigned char addr[YK_IP_LEN];
    int counted; /* the attempt is in the failure counter */
} unlock_ctx;

static void respond_token(yk_http_req *req, int64_t event_id, const char *hash)
{
    char token[SECRET_TOKEN_LEN + 1];
    secret_token_sign(ingress.token_key, event_id, hash, (int64_t)time(NULL) + ingress.access_ttl,
                      token);
    ingress_respond_json(
        req, 200,
        json_pack("{s:s,s:I}", "access_token", token, "expires_in", (json_int_t)ingress.access_ttl),
        "Cache-Control: no-store\r\n");
}

static void respond_wrong(yk_http_req *req)
{
    yk_http_respond_error(req, 401, "wrong_password", "The password is not right.");
}

static void unlock_verified(void *ud, int ok)
{
    unlock_ctx *c = ud;
    if (ok != 0 && c->counted) /* a success, or a failure to check, is no wrong guess */
        failrate_give_back(&unlock_failures, c->addr);
    if (ok == 1)
        respond_token(c->req, c->event_id, c->hash);
    else if (ok == 0)
        respond_wrong(c->req);
    else
        ingress_respond_unavailable(c->req);
    free(c);
}

/* The password of an unlock body: NULL after answering 400/422. */
static json_t *unlock_body(yk_http_req *req, const char **password, size_t *len)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (body == NULL) {
        yk_http_respond_error(req, 400, "malformed_json", "The request body is not valid JSON.");
        return NULL;
    }
    json_t *errors = json_array();
    json_t *pw = json_object_get(body, "password");
    if (!json_is_object(body)) {
        ingress_add_error(errors, "body", "type");
    } else {
        const char *key;
        json_t *val;
        json_object_foreach(body, key, val)
        {
            if (strcmp(key, "password") != 0)
                ingress_add_error(errors, key, "unknown_field");
        }
        if (pw == NULL || json_is_null(pw) || (json_is_string(pw) && json_string_length(pw) == 0))
            ingress_add_error(errors, "password", "required");
        else if (!json_is_string(pw)) /* jansson refuses \u0000: no NUL cuts a password short */
            ingress_add_error(errors, "password", "type");
    }
    if (json_array_size(errors) > 0) {
        ingress_respond_invalid(req, errors, "The password is missing or not valid.");
        json_decref(body);
        return NULL;
    }
    json_decref(errors);
    *password = json_string_value(pw);
    *len = json_string_length(pw);
    return body;
}

void routes_secret_unlock(yk_http_req *req, const cat_event *e)
{
    if (e == NULL && !catalogue_current()) {
        ingress_respond_unavailable(req);
        return;
    }
    if (e == NULL || !e->published) {
        yk_http_respond_error(req, 404, "not_found", "No such event.");
        return;
    }
    const char *password;
    size_t len;
    json_t *body = unlock_body(req, &password, &len);
    if (body == NULL)
        return;
    if (!e->secret) { /* nothing to unlock: a token it does not need, whatever the password */
        respond_token(req, e->id, NULL);
        json_decref(body);
        return;
    }
    unlock_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        ingress_respond_unavailable(req);
        json_decref(body);
        return;
    }
    c->req = req;
    c->event_id = e->id;
    snprintf(c->hash, sizeof c->hash, "%s", e->password_hash ? e->password_hash : "");
    if (client_limited(req, c->addr)) {
        int wait = failrate_take(&unlock_failures, c->addr, time(NULL));
        if (wait > 0) {
            char retry[40];
            snprintf(retry, sizeof retry, "Retry-After: %d\r\n", wait);
            ingress_respond_json(req, 429,
                                 json_pack("{s:s,s:s}", "error", "rate_limited", "message",
                                           "Too many wrong passwords; try again later."),
                                 retry);
            free(c);
            json_decref(body);
            return;
        }
        c->counted = 1;
    }
    if (len > PWHASH_PASSWORD_MAX) { /* no password is that long: wrong, without hashing it */
        respond_wrong(req);
        free(c);
    } else if (pwhash_verify_start(c->hash, password, unlock_verified, c) != 0) {
        if (c->counted)
            failrate_give_back(&unlock_failures, c->addr);
        ingress_respond_unavailable(req);
        free(c);
    }
    json_decref(body);
}
