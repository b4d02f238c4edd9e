/* submit: owns the waiters (pooled, in a FIFO by deadline and a hash by request id), the submit
 * script and the reply path. Every waiter has the same timeout, so FIFO order is deadline order. */
#include "submit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingress.h"
#include "yk_log.h"
#include "yk_token.h"

/* KEYS: req stream, seq, done, res [, idem]. ARGV: idem value, ttl, field, value, … */
static const char submit_script[] =
    "if #KEYS == 5 then\n"
    "  local old = redis.call('SET', KEYS[5], ARGV[1], 'NX', 'GET', 'EX', ARGV[2])\n"
    "  if old then return {0, old} end\n"
    "end\n"
    "local seq = redis.call('INCR', KEYS[2])\n"
    "redis.call('XADD', KEYS[1], '*', 'seq', seq, unpack(ARGV, 3))\n"
    "local done = tonumber(redis.call('GET', KEYS[3]) or '0')\n"
    "local p = string.match(KEYS[1], '{(%d+)}')\n"
    "redis.call('SET', KEYS[4], '0 {\"p\":' .. p .. ',\"seq\":' .. seq .. '}', 'EX', ARGV[2])\n"
    "return {1, seq - done}\n";

/* W_SUBMITTING: the script is in flight (the waiter is already hashed, because the worker's answer
 * can overtake the script's reply on the other connection); W_ANSWERED: it did, and the script's
 * callback frees the waiter; W_WAITING: queued, in the FIFO; W_POLLING: idempotent duplicate. */
enum { W_SUBMITTING, W_ANSWERED, W_WAITING, W_POLLING };

typedef struct waiter {
    yk_redis_op op;
    yk_http_req *req;
    int state;
    char id[YK_REQUEST_ID_LEN + 1];
    char body_hash[YK_HASH_HEX_LEN + 1]; /* with an Idempotency-Key */
    long long position;
    uint64_t deadline_ms;
    struct waiter *prev, *next;  /* FIFO of W_WAITING (or W_POLLING) waiters */
    struct waiter *hnext;        /* hash chain by id, W_WAITING only */
} waiter;

#define BUCKETS 65536
static waiter *buckets[BUCKETS];
static waiter *fifo_head, *fifo_tail;   /* waiting for a reply */
static waiter *poll_head, *poll_tail;   /* waiting on another request's answer (idempotency) */
static waiter *pool;                    /* free waiters, linked by next */
static uv_timer_t deadline_timer, poll_timer;
static char script_sha[41];

static unsigned bucket_of(const char *id)
{
    return (unsigned)strtoul((char[]){id[0], id[1], id[2], id[3], 0}, NULL, 16) % BUCKETS;
}

static waiter *waiter_new(yk_http_req *req)
{
    waiter *w = pool;
    if (w)
        pool = w->next;
    else if ((w = malloc(sizeof *w)) == NULL)
        return NULL;
    memset(w, 0, sizeof *w);
    w->req = req;
    return w;
}

static void waiter_free(waiter *w)
{
    w->next = pool;
    pool = w;
}

static void list_push(waiter **head, waiter **tail, waiter *w)
{
    w->next = NULL;
    w->prev = *tail;
    if (*tail)
        (*tail)->next = w;
    else
        *head = w;
    *tail = w;
}

static void list_unlink(waiter **head, waiter **tail, waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        *head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        *tail = w->prev;
}

static void hash_unlink(waiter *w)
{
    for (waiter **p = &buckets[bucket_of(w->id)]; *p; p = &(*p)->hnext)
        if (*p == w) {
            *p = w->hnext;
            return;
        }
}

static void respond_pending(waiter *w)
{
    char body[160], hdr[96];
    int n = snprintf(body, sizeof body,
                     "{\"request_id\":\"%s\",\"status\":\"pending\",\"position\":%lld}", w->id,
                     w->position > 0 ? w->position : 1);
    snprintf(hdr, sizeof hdr, "Location: /v1/requests/%s\r\n", w->id);
    yk_http_respond(w->req, 202, "application/json", hdr, body, (size_t)n);
}

/* Answers with a stored "<code> <json>" value; 0 if it was final, -1 if pending or malformed. */
static int respond_stored(yk_http_req *req, const char *v, size_t len)
{
    char *end;
    long code = strtol(v, &end, 10);
    if (code < 200 || code > 599 || *end != ' ')
        return -1;
    end++;
    yk_http_respond(req, (int)code, "application/json", NULL, end, len - (size_t)(end - v));
    return 0;
}

static uint64_t now_ms(void)
{
    return uv_now(ingress.loop);
}

static void deadline_cb(uv_timer_t *t)
{
    uint64_t now = now_ms();
    while (fifo_head && fifo_head->deadline_ms <= now) {
        waiter *w = fifo_head;
        list_unlink(&fifo_head, &fifo_tail, w);
        hash_unlink(w);
        respond_pending(w);
        waiter_free(w);
    }
    if (fifo_head)
        uv_timer_start(&deadline_timer, deadline_cb, fifo_head->deadline_ms - now, 0);
}

static void hash_insert(waiter *w)
{
    unsigned b = bucket_of(w->id);
    w->hnext = buckets[b];
    buckets[b] = w;
}

static void wait_for_reply(waiter *w)
{
    w->state = W_WAITING;
    w->deadline_ms = now_ms() + (uint64_t)ingress.wait_ms;
    list_push(&fifo_head, &fifo_tail, w);
    if (!uv_is_active((uv_handle_t *)&deadline_timer))
        uv_timer_start(&deadline_timer, deadline_cb, (uint64_t)ingress.wait_ms, 0);
}

void submit_on_reply(const char *payload, size_t len)
{
    if (len < YK_REQUEST_ID_LEN + 2 || payload[YK_REQUEST_ID_LEN] != ' ')
        return;
    char id[YK_REQUEST_ID_LEN + 1];
    memcpy(id, payload, YK_REQUEST_ID_LEN);
    id[YK_REQUEST_ID_LEN] = '\0';
    for (waiter **p = &buckets[bucket_of(id)]; *p; p = &(*p)->hnext) {
        waiter *w = *p;
        if (memcmp(w->id, id, YK_REQUEST_ID_LEN) != 0)
            continue;
        *p = w->hnext;
        const char *v = payload + YK_REQUEST_ID_LEN + 1;
        if (respond_stored(w->req, v, len - YK_REQUEST_ID_LEN - 1) != 0)
            respond_pending(w);
        if (w->state == W_SUBMITTING) {
            w->state = W_ANSWERED;
            return;
        }
        list_unlink(&fifo_head, &fifo_tail, w);
        waiter_free(w);
        return;
    }
}

/* Polling for an answer another request (same Idempotency-Key) will produce. */
static void poll_reply_cb(yk_redis_op *op, redisReply *reply)
{
    waiter *w = (waiter *)op;
    if (reply && reply->type == REDIS_REPLY_STRING && reply->str[0] != '0' &&
        respond_stored(w->req, reply->str, reply->len) == 0) {
        list_unlink(&poll_head, &poll_tail, w);
        waiter_free(w);
        return;
    }
    if (now_ms() >= w->deadline_ms) {
        list_unlink(&poll_head, &poll_tail, w);
        respond_pending(w);
        waiter_free(w);
        return;
    }
    w->state = W_POLLING; /* ask again on the next poll tick */
}

static void poll_cb(uv_timer_t *t)
{
    for (waiter *w = poll_head, *next; w; w = next) {
        next = w->next;
        if (w->state != W_POLLING)
            continue;
        w->state = W_SUBMITTING; /* a GET is in flight */
        w->op.cb = poll_reply_cb;
        yk_redis_cmd(ingress.redis, &w->op, "GET yk:res:%s", w->id);
    }
}

static void poll_start(waiter *w, const char *other_id)
{
    memcpy(w->id, other_id, YK_REQUEST_ID_LEN);
    w->id[YK_REQUEST_ID_LEN] = '\0';
    w->deadline_ms = now_ms() + (uint64_t)ingress.wait_ms;
    w->state = W_SUBMITTING;
    list_push(&poll_head, &poll_tail, w);
    w->op.cb = poll_reply_cb;
    yk_redis_cmd(ingress.redis, &w->op, "GET yk:res:%s", w->id);
}

static void submit_reply_cb(yk_redis_op *op, redisReply *reply)
{
    waiter *w = (waiter *)op;
    if (w->state == W_ANSWERED) {
        waiter_free(w);
        return;
    }
    hash_unlink(w);
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            yk_error("submit script failed: %s", reply->str);
            if (strncmp(reply->str, "NOSCRIPT", 8) == 0)
                submit_load_script(ingress.redis, NULL);
        }
        ingress_respond_unavailable(w->req);
        waiter_free(w);
        return;
    }
    redisReply *kind = reply->element[0], *val = reply->element[1];
    if (kind->integer == 1) {
        w->position = val->integer;
        hash_insert(w);
        wait_for_reply(w);
        return;
    }
    /* The Idempotency-Key was seen before: val is "<request id> <body hash>". */
    if (val->type != REDIS_REPLY_STRING || val->len != YK_REQUEST_ID_LEN + 1 + YK_HASH_HEX_LEN) {
        ingress_respond_unavailable(w->req);
        waiter_free(w);
        return;
    }
    if (memcmp(val->str + YK_REQUEST_ID_LEN + 1, w->body_hash, YK_HASH_HEX_LEN) != 0) {
        yk_http_respond_error(w->req, 409, "idempotency_conflict",
                              "This Idempotency-Key was already used with a different request.");
        waiter_free(w);
        return;
    }
    poll_start(w, val->str);
}

void submit_entry(yk_http_req *req, const submit_request *s)
{
    waiter *w = waiter_new(req);
    if (w == NULL) {
        ingress_respond_unavailable(req);
        return;
    }
    yk_token_request_id(w->id);
    char token[YK_TOKEN_LEN + 1], stream[32], seq[32], done[32], res[48], ttl[24], at[24], nk[4];
    char idem_key[96], idem_val[YK_REQUEST_ID_LEN + YK_HASH_HEX_LEN + 2] = "";
    yk_token_for_request(ingress.token_key, w->id, token);
    snprintf(stream, sizeof stream, "yk:req:{%u}", s->partition);
    snprintf(seq, sizeof seq, "yk:seq:{%u}", s->partition);
    snprintf(done, sizeof done, "yk:done:{%u}", s->partition);
    snprintf(res, sizeof res, "yk:res:%s", w->id);
    snprintf(ttl, sizeof ttl, "%lld", (long long)ingress.result_ttl);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(at, sizeof at, "%lld", (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
    if (s->idem_key) {
        char kh[YK_HASH_HEX_LEN + 1];
        yk_token_sha256_hex(s->idem_key, strlen(s->idem_key), kh);
        snprintf(idem_key, sizeof idem_key, "yk:idem:%s:%s", s->event_id, kh);
        snprintf(idem_val, sizeof idem_val, "%s %s", w->id, s->body_hash);
        memcpy(w->body_hash, s->body_hash, YK_HASH_HEX_LEN + 1);
    }
    snprintf(nk, sizeof nk, "%d", s->idem_key ? 5 : 4);
    const char *argv[32] = {"EVALSHA", script_sha, nk, stream, seq, done, res};
    size_t argc = 7;
    if (s->idem_key)
        argv[argc++] = idem_key;
    argv[argc++] = idem_val;
    argv[argc++] = ttl;
    const char *common[] = {"t", s->cancel ? "cancel" : "reserve", "id", w->id,
                            "ing", ingress.ingress_id, "ev", s->event_id, "at", at};
    const char *reserve[] = {"slot", s->slot_id, "email", s->email, "ident", s->identity,
                             "fields", s->fields_json, "tok", token};
    const char *cancel[] = {"booking", s->booking_id, "th", s->token_hash};
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
        argv[argc++] = common[i];
    for (size_t i = 0; !s->cancel && i < sizeof reserve / sizeof reserve[0]; i++)
        argv[argc++] = reserve[i];
    for (size_t i = 0; s->cancel && i < sizeof cancel / sizeof cancel[0]; i++)
        argv[argc++] = cancel[i];
    w->state = W_SUBMITTING;
    w->op.cb = submit_reply_cb;
    hash_insert(w);
    yk_redis_argv(ingress.redis, &w->op, (int)argc, argv, NULL);
}

/* GET /v1/requests/{id}: the stored answer, or the position of a pending request. */
typedef struct {
    yk_redis_op op;
    yk_http_req *req;
    long long seq;
} status_ctx;

static void status_done_cb(yk_redis_op *op, redisReply *reply)
{
    status_ctx *c = (status_ctx *)op;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ingress_respond_unavailable(c->req);
    } else {
        long long done = reply->type == REDIS_REPLY_STRING ? atoll(reply->str) : 0;
        long long pos = c->seq - done;
        ingress_respond_json(c->req, 200,
                             json_pack("{s:s,s:I}", "status", "pending", "position",
                                       (json_int_t)(pos > 0 ? pos : 1)),
                             NULL);
    }
    free(c);
}

static void status_res_cb(yk_redis_op *op, redisReply *reply)
{
    status_ctx *c = (status_ctx *)op;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ingress_respond_unavailable(c->req);
        free(c);
        return;
    }
    if (reply->type != REDIS_REPLY_STRING) {
        yk_http_respond_error(c->req, 404, "not_found", "No such request.");
        free(c);
        return;
    }
    char *end;
    long code = strtol(reply->str, &end, 10);
    json_t *body = *end == ' ' ? json_loads(end + 1, 0, NULL) : NULL;
    if (code == 0 && body) {
        json_int_t p = json_integer_value(json_object_get(body, "p"));
        c->seq = json_integer_value(json_object_get(body, "seq"));
        json_decref(body);
        c->op.cb = status_done_cb;
        yk_redis_cmd(ingress.redis, &c->op, "GET yk:done:{%lld}", (long long)p);
        return;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        ingress_respond_unavailable(c->req);
        free(c);
        return;
    }
    /* A 2xx carries a booking (confirmed, or cancelled for a cancellation); the rest refused. */
    const char *status = "rejected";
    if (code >= 200 && code < 300) {
        const char *b = json_string_value(json_object_get(json_object_get(body, "booking"), "status"));
        status = b ? b : "done";
    }
    json_object_set_new(body, "status", json_string(status));
    json_object_set_new(body, "code", json_integer(code));
    ingress_respond_json(c->req, 200, body, NULL);
    free(c);
}

void submit_request_status(yk_http_req *req, const char *request_id)
{
    size_t n = strlen(request_id);
    if (n != YK_REQUEST_ID_LEN || strspn(request_id, "0123456789abcdef") != n) {
        yk_http_respond_error(req, 404, "not_found", "No such request.");
        return;
    }
    status_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        ingress_respond_unavailable(req);
        return;
    }
    c->req = req;
    c->op.cb = status_res_cb;
    yk_redis_cmd(ingress.redis, &c->op, "GET yk:res:%s", request_id);
}

static void script_loaded_cb(yk_redis_op *op, redisReply *reply)
{
    if (reply && reply->type == REDIS_REPLY_STRING && reply->len == 40)
        memcpy(script_sha, reply->str, 41);
    else
        yk_error("loading the submit script failed: %s", reply ? reply->str : "no connection");
    free(op);
}

void submit_load_script(yk_redis *r, void *ud)
{
    yk_redis_op *op = malloc(sizeof *op);
    if (op == NULL)
        return;
    op->cb = script_loaded_cb;
    yk_redis_cmd(r, op, "SCRIPT LOAD %s", submit_script);
}

int submit_init(void)
{
    if (uv_timer_init(ingress.loop, &deadline_timer) != 0 ||
        uv_timer_init(ingress.loop, &poll_timer) != 0)
        return -1;
    return uv_timer_start(&poll_timer, poll_cb, 25, 25) == 0 ? 0 : -1;
}

void submit_shutdown(void)
{
    while (fifo_head) {
        waiter *w = fifo_head;
        list_unlink(&fifo_head, &fifo_tail, w);
        hash_unlink(w);
        respond_pending(w);
        free(w);
    }
    for (waiter *w = poll_head, *next; w; w = next) {
        next = w->next;
        if (w->state == W_POLLING) { /* a GET in flight still owns the others */
            list_unlink(&poll_head, &poll_tail, w);
            respond_pending(w);
            free(w);
        }
    }
    uv_close((uv_handle_t *)&deadline_timer, NULL);
    uv_close((uv_handle_t *)&poll_timer, NULL);
}

void submit_free(void)
{
    for (waiter *w = pool, *next; w; w = next) {
        next = w->next;
        free(w);
    }
    pool = NULL;
}
