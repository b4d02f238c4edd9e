/* submit: owns the waiters (pooled, in a FIFO by deadline and a hash by request id), the submit
 * pipeline, the idempotent submit script and the reply path. Every waiter has the same timeout, so
 * FIFO order is deadline order. */
#include "submit.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingress.h"
#include "yk_log.h"
#include "yk_text.h"
#include "yk_token.h"

/* The submit with an Idempotency-Key: its SET NX GET must be atomic with the XADD, so that of
 * twenty concurrent retries exactly one enters the stream. It writes the pending marker at once:
 * a request with a marker keeps its answer for the TTL (proto/streams.md), which a retry reads.
 * KEYS: req stream, seq, done, res, idem. ARGV: idem value, ttl, field, value, …
 * Returns {1, seq, done} for a new request, {0, "<request id> <body hash>"} for a key seen
 * before. */
static const char submit_script[] =
    "local old = redis.call('SET', KEYS[5], ARGV[1], 'NX', 'GET', 'EX', ARGV[2])\n"
    "if old then return {0, old} end\n"
    "local seq = redis.call('INCR', KEYS[2])\n"
    "redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))\n"
    "local done = tonumber(redis.call('GET', KEYS[3]) or '0')\n"
    "local p = string.match(KEYS[1], '{(%d+)}')\n"
    "redis.call('SET', KEYS[4], '0 {\"p\":' .. p .. ',\"seq\":' .. seq .. '}', 'EX', ARGV[2])\n"
    "return {1, seq, done}\n";

/* How long shutdown waits for Redis to confirm the pending markers of the requests it answers 202
 * before it closes the connections anyway. */
#define SHUTDOWN_GRACE_MS 2000

/* W_SUBMITTING: the submit pipeline (or script) is in flight; the waiter is already hashed, because
 * the worker's answer can overtake the submit's replies on the other connection. W_WAITING: queued,
 * in the FIFO. W_MARKING: its deadline came; the pending marker's SET NX GET is in flight and
 * decides between 202 and a final answer, and the waiter stays hashed until its reply. W_ANSWERED:
 * the worker's answer was relayed while Redis work was in flight; that work's last callback frees
 * the waiter. W_POLLING: idempotent duplicate waiting for another request's answer. */
enum { W_SUBMITTING, W_ANSWERED, W_WAITING, W_MARKING, W_POLLING };

typedef struct waiter {
    yk_redis_op op;                      /* script, marker or poll GET */
    yk_redis_op op_seq, op_add; /* the plain submit pipeline: INCR, XADD */
    yk_redis_op op_done;        /* GET yk:done:{p} before the pending marker, for the position */
    yk_http_req *req;
    int state;
    int ops;   /* replies of the submit pipeline still to come */
    int added; /* the XADD is known to have succeeded */
    unsigned partition;
    long long seq;  /* from INCR yk:seq:{p}; 0 when unknown */
    long long done; /* yk:done:{p} when the 202 is given; -1 when unknown */
    long long position;
    char id[YK_REQUEST_ID_LEN + 1];
    char body_hash[YK_HASH_HEX_LEN + 1]; /* with an Idempotency-Key */
    uint64_t deadline_ms;
    struct waiter *prev, *next;  /* FIFO of W_WAITING (or W_POLLING) waiters */
    struct waiter *hnext;        /* hash chain by id: W_SUBMITTING, W_WAITING, W_MARKING */
} waiter;

#define WAITER_OF(o, field) ((waiter *)((char *)(o) - offsetof(waiter, field)))

#define BUCKETS 65536
static waiter *buckets[BUCKETS];
static waiter *fifo_head, *fifo_tail;   /* waiting for a reply */
static waiter *poll_head, *poll_tail;   /* waiting on another request's answer (idempotency) */
static waiter *pool;                    /* free waiters, linked by next */
static uv_timer_t deadline_timer, poll_timer, shutdown_timer;
static char script_sha[41];
static char ttl_s[24];                  /* YOYAKU_RESULT_TTL in decimal */
static int inflight;                    /* waiters with Redis commands in flight */
static void (*shutdown_then)(void);     /* set from submit_shutdown until it is called */
static int redis_closed;                /* shutdown_then ran: no command may be sent any more */

/* A pending marker that could not be written because Redis was unreachable when its request was
 * answered 202: written at the next connection, so that GET /v1/requests/{id} tells the position
 * until the decision (not 404) and the worker, finding the marker, keeps the answer for the TTL.
 * At most OWED_MAX are kept (only requests already queued when Redis went away can owe one: new
 * submits are refused meanwhile). */
typedef struct owed {
    yk_redis_op op, expire_op;
    struct owed *next;
    unsigned partition;
    long long seq;
    char id[YK_REQUEST_ID_LEN + 1];
} owed;
#define OWED_MAX 100000
static owed *owed_head;   /* waiting for a connection */
static size_t owed_count; /* in the list or in flight */

/* From the id's random tail: its head is the time. */
static unsigned bucket_of(const char *id)
{
    const char *r = id + YK_REQUEST_ID_LEN - 4;
    return (unsigned)strtoul((char[]){r[0], r[1], r[2], r[3], 0}, NULL, 16) % BUCKETS;
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
    w->done = -1;
    return w;
}

static void waiter_free(waiter *w)
{
    w->next = pool;
    pool = w;
}

static void shutdown_cb(uv_timer_t *t)
{
    void (*then)(void) = shutdown_then;
    shutdown_then = NULL;
    redis_closed = 1;
    uv_close((uv_handle_t *)t, NULL);
    if (then)
        then();
}

/* Called once per waiter whose Redis work ended, after any follow-up command was sent. During
 * shutdown the last one lets the connections close (from a timer, never inside a Redis
 * callback). */
static void inflight_end(void)
{
    if (--inflight == 0 && shutdown_then)
        uv_timer_start(&shutdown_timer, shutdown_cb, 0, 0);
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

static void owe_marker(const char *id, unsigned partition, long long seq)
{
    owed *o = owed_count < OWED_MAX ? malloc(sizeof *o) : NULL;
    if (o == NULL) {
        yk_error("request=%s: its pending marker is lost (Redis unreachable)", id);
        return;
    }
    memcpy(o->id, id, sizeof o->id);
    o->partition = partition;
    o->seq = seq;
    o->next = owed_head;
    owed_head = o;
    owed_count++;
}

static void owed_expire_cb(yk_redis_op *op, redisReply *reply)
{
    (void)reply;
    free((owed *)((char *)op - offsetof(owed, expire_op)));
}

/* The marker's SET NX GET, sent again: nil or a marker is done; a final answer was stored by a
 * worker that decided before the deadline, with a short hold (it could not know of the 202), and
 * gets the TTL; no reply keeps it owed. */
static void owed_reply_cb(yk_redis_op *op, redisReply *reply)
{
    owed *o = (owed *)op;
    if (reply == NULL && !redis_closed) {
        o->next = owed_head;
        owed_head = o;
        return;
    }
    owed_count--;
    if (reply && reply->type == REDIS_REPLY_STRING && reply->len > 1 && reply->str[0] != '0') {
        char key[48];
        snprintf(key, sizeof key, "yk:res:%s", o->id);
        o->expire_op.cb = owed_expire_cb;
        yk_redis_argv(ingress.redis, &o->expire_op, 3, (const char *[]){"EXPIRE", key, ttl_s},
                      NULL);
        return;
    }
    if (reply && reply->type == REDIS_REPLY_ERROR)
        yk_error("request=%s: pending marker: %s", o->id, reply->str);
    free(o);
}

/* Sends every owed marker (after a connection). */
static void owed_send(void)
{
    owed *list = owed_head;
    owed_head = NULL;
    if (list)
        yk_info("writing %zu pending markers owed since Redis was unreachable", owed_count);
    for (owed *o = list, *next; o; o = next) {
        next = o->next;
        char key[48], val[80];
        snprintf(key, sizeof key, "yk:res:%s", o->id);
        snprintf(val, sizeof val, "0 {\"p\":%u,\"seq\":%lld}", o->partition, o->seq);
        o->op.cb = owed_reply_cb;
        yk_redis_argv(ingress.redis, &o->op, 7,
                      (const char *[]){"SET", key, val, "NX", "GET", "EX", ttl_s}, NULL);
    }
}

/* The reply to the pending marker's SET NX GET: nil means the marker is stored (202); a final
 * answer means the worker decided and its pub/sub reply was lost or is still on its way. No
 * connection or an error: 202 all the same, the request is in the stream and will be decided. */
static void mark_reply_cb(yk_redis_op *op, redisReply *reply)
{
    waiter *w = (waiter *)op;
    w->position = w->seq > 0 && w->done >= 0 ? w->seq - w->done : 1;
    if (reply == NULL && !redis_closed)
        owe_marker(w->id, w->partition, w->seq);
    if (w->state != W_ANSWERED) {
        hash_unlink(w);
        if (reply && reply->type == REDIS_REPLY_ERROR)
            yk_error("request=%s: pending marker: %s", w->id, reply->str);
        if (reply == NULL || reply->type != REDIS_REPLY_STRING ||
            respond_stored(w->req, reply->str, reply->len) != 0)
            respond_pending(w);
    }
    waiter_free(w);
    inflight_end();
}

static void submit_settle(waiter *w);

/* GET yk:done:{p}: entries decided so far, for the 202's position; read at the deadline, or with
 * the submit when YOYAKU_WAIT_MS is 0 (then w->ops counts it). */
static void done_reply_cb(yk_redis_op *op, redisReply *reply)
{
    waiter *w = WAITER_OF(op, op_done);
    if (reply && reply->type == REDIS_REPLY_STRING)
        w->done = strtoll(reply->str, NULL, 10);
    else if (reply && reply->type == REDIS_REPLY_NIL)
        w->done = 0;
    if (w->ops > 0 && --w->ops == 0)
        submit_settle(w);
}

/* The request will be answered 202 unless its answer is already stored: writes the pending marker
 * that keeps a later answer for the TTL and lets GET /v1/requests/{id} tell its position. The
 * waiter stays hashed, so a reply arriving meanwhile is still relayed. */
static void mark_pending(waiter *w)
{
    w->state = W_MARKING;
    inflight++;
    if (ingress.wait_ms == 0) {
        /* YOYAKU_WAIT_MS=0: 202 at once, with the position read at submit; the marker follows
         * (the worker keeps the answer of a request decided past its deadline for the TTL). */
        hash_unlink(w);
        w->position = w->seq > 0 && w->done >= 0 ? w->seq - w->done : 1;
        respond_pending(w);
        w->state = W_ANSWERED;
    }
    if (redis_closed) {
        mark_reply_cb(&w->op, NULL);
        return;
    }
    char key[48], val[80];
    /* Read before the marker's reply on the same connection: the position is counted when the
     * booker is told it, and a request decided in time never pays for this read. */
    snprintf(key, sizeof key, "yk:done:{%u}", w->partition);
    w->op_done.cb = done_reply_cb;
    if (ingress.wait_ms > 0)
        yk_redis_argv(ingress.redis, &w->op_done, 2, (const char *[]){"GET", key}, NULL);
    snprintf(key, sizeof key, "yk:res:%s", w->id);
    snprintf(val, sizeof val, "0 {\"p\":%u,\"seq\":%lld}", w->partition, w->seq);
    const char *argv[] = {"SET", key, val, "NX", "GET", "EX", ttl_s};
    w->op.cb = mark_reply_cb;
    yk_redis_argv(ingress.redis, &w->op, 7, argv, NULL);
}

static void deadline_cb(uv_timer_t *t)
{
    uint64_t now = now_ms();
    while (fifo_head && fifo_head->deadline_ms <= now) {
        waiter *w = fifo_head;
        list_unlink(&fifo_head, &fifo_tail, w);
        mark_pending(w);
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

/* The request is in the stream: wait for its answer (or, shutting down, answer 202 now). */
static void wait_for_reply(waiter *w)
{
    if (ingress.stopping) {
        mark_pending(w);
        return;
    }
    w->state = W_WAITING;
    w->deadline_ms = now_ms() + (uint64_t)ingress.wait_ms;
    list_push(&fifo_head, &fifo_tail, w);
    if (!uv_is_active((uv_handle_t *)&deadline_timer))
        uv_timer_start(&deadline_timer, deadline_cb, (uint64_t)ingress.wait_ms, 0);
}

void submit_on_reply(const char *payload, size_t len)
{
    /* YOYAKU_WAIT_MS=0 answers every request 202, even one whose answer overtakes the submit's
     * replies (the answer, decided past the deadline, is kept for the TTL and polled). */
    if (ingress.wait_ms == 0 || len < YK_REQUEST_ID_LEN + 2 || payload[YK_REQUEST_ID_LEN] != ' ')
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
        if (w->state != W_WAITING) { /* submitting or marking: its callback frees it */
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
    } else if (now_ms() >= w->deadline_ms || ingress.stopping) {
        list_unlink(&poll_head, &poll_tail, w);
        respond_pending(w);
        waiter_free(w);
    } else {
        w->state = W_POLLING; /* ask again on the next poll tick */
    }
    inflight_end();
}

static void poll_send(waiter *w)
{
    w->state = W_SUBMITTING; /* a GET is in flight */
    w->op.cb = poll_reply_cb;
    inflight++;
    if (redis_closed) {
        poll_reply_cb(&w->op, NULL);
        return;
    }
    char key[48];
    snprintf(key, sizeof key, "yk:res:%s", w->id);
    yk_redis_argv(ingress.redis, &w->op, 2, (const char *[]){"GET", key}, NULL);
}

static void poll_cb(uv_timer_t *t)
{
    for (waiter *w = poll_head, *next; w; w = next) {
        next = w->next;
        if (w->state == W_POLLING)
            poll_send(w);
    }
}

static void poll_start(waiter *w, const char *other_id)
{
    memcpy(w->id, other_id, YK_REQUEST_ID_LEN);
    w->id[YK_REQUEST_ID_LEN] = '\0';
    w->deadline_ms = now_ms() + (uint64_t)ingress.wait_ms;
    list_push(&poll_head, &poll_tail, w);
    poll_send(w);
}

/* After the last reply of the submit: wait for the answer if the entry is in the stream, else 503
 * (a lost connection may or may not have let the XADD through: the booker retries). */
static void submit_settle(waiter *w)
{
    if (w->state == W_ANSWERED) {
        waiter_free(w);
    } else if (!w->added) {
        hash_unlink(w);
        ingress_respond_unavailable(w->req);
        waiter_free(w);
    } else {
        wait_for_reply(w);
    }
    inflight_end();
}

/* INCR yk:seq:{p}: the request's sequence number, for its queue position only. A failure leaves
 * the position unknown (1); an INCR without a successful XADD makes later positions one too high,
 * which the clamp at 1 and the next request's count absorb. */
static void seq_reply_cb(yk_redis_op *op, redisReply *reply)
{
    waiter *w = WAITER_OF(op, op_seq);
    if (reply && reply->type == REDIS_REPLY_INTEGER)
        w->seq = reply->integer;
    else if (reply && reply->type == REDIS_REPLY_ERROR)
        yk_error("request=%s: INCR: %s", w->id, reply->str);
    if (--w->ops == 0)
        submit_settle(w);
}

static void add_reply_cb(yk_redis_op *op, redisReply *reply)
{
    waiter *w = WAITER_OF(op, op_add);
    w->added = reply && reply->type == REDIS_REPLY_STRING;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        yk_error("request=%s: XADD: %s", w->id, reply->str);
    if (--w->ops == 0)
        submit_settle(w);
}

static void script_reply_cb(yk_redis_op *op, redisReply *reply)
{
    waiter *w = (waiter *)op;
    if (w->state == W_ANSWERED) {
        waiter_free(w);
        inflight_end();
        return;
    }
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER && reply->element[0]->integer == 1) {
        w->seq = reply->element[1]->integer;
        w->done = reply->element[2]->integer;
        w->added = 1;
        submit_settle(w);
        return;
    }
    hash_unlink(w);
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[1]->type != REDIS_REPLY_STRING ||
        reply->element[1]->len != YK_REQUEST_ID_LEN + 1 + YK_HASH_HEX_LEN) {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            yk_error("submit script failed: %s", reply->str);
            if (strncmp(reply->str, "NOSCRIPT", 8) == 0)
                submit_load_script(ingress.redis, NULL);
        }
        ingress_respond_unavailable(w->req);
        waiter_free(w);
    } else if (memcmp(reply->element[1]->str + YK_REQUEST_ID_LEN + 1, w->body_hash,
                      YK_HASH_HEX_LEN) != 0) {
        /* The Idempotency-Key was seen before: the value is "<request id> <body hash>". */
        yk_http_respond_error(w->req, 409, "idempotency_conflict",
                              "This Idempotency-Key was already used with a different request.");
        waiter_free(w);
    } else {
        poll_start(w, reply->element[1]->str);
    }
    inflight_end();
}

/* Writes "name=value" at p, after a space unless first, and a NUL; returns the NUL's address. */
static char *put_pair(char *p, int first, const char *name, const char *value)
{
    size_t n = strlen(name), v = strlen(value);
    if (!first)
        *p++ = ' ';
    memcpy(p, name, n);
    p[n] = '=';
    memcpy(p + n + 1, value, v);
    p[n + 1 + v] = '\0';
    return p + n + 1 + v;
}

/* Writes "<prefix>{<partition>}" into out, which holds at least strlen(prefix) + 13 bytes. */
static void partition_key(char *out, const char *prefix, unsigned partition)
{
    size_t n = strlen(prefix);
    memcpy(out, prefix, n);
    out[n] = '{';
    char *end = yk_text_decimal(out + n + 1, partition);
    end[0] = '}';
    end[1] = '\0';
}

void submit_entry(yk_http_req *req, const submit_request *s)
{
    waiter *w = ingress.stopping ? NULL : waiter_new(req);
    if (w == NULL) {
        ingress_respond_unavailable(req);
        return;
    }
    yk_token_request_id(w->id);
    w->partition = s->partition;
    char token[YK_TOKEN_LEN + 1], stream[32], seq[32], done[32], at[24], dl[24];
    yk_token_for_request(ingress.token_key, w->id, token);
    partition_key(stream, "yk:req:", s->partition);
    partition_key(seq, "yk:seq:", s->partition);
    partition_key(done, "yk:done:", s->partition);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t at_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    /* by hand: the five snprintf calls of a submit (keys and times) were a fifteenth of the
     * ingress's instructions per booking */
    *yk_text_decimal(at, at_ms) = '\0';
    *yk_text_decimal(dl, at_ms + (uint64_t)ingress.wait_ms) = '\0';
    /* argv[0..head) is the command's own head, then the entry's fields and values. */
    const char *argv[40];
    size_t head;
    char res[48], idem_key[96], idem_val[YK_REQUEST_ID_LEN + YK_HASH_HEX_LEN + 2];
    if (s->idem_key) {
        char kh[YK_HASH_HEX_LEN + 1];
        yk_token_sha256_hex(s->idem_key, strlen(s->idem_key), kh);
        snprintf(idem_key, sizeof idem_key, "yk:idem:%s:%s", s->event_id, kh);
        snprintf(idem_val, sizeof idem_val, "%s %s", w->id, s->body_hash);
        snprintf(res, sizeof res, "yk:res:%s", w->id);
        memcpy(w->body_hash, s->body_hash, YK_HASH_HEX_LEN + 1);
        const char *h[] = {"EVALSHA", script_sha, "5", stream, seq, done, res, idem_key,
                           idem_val, ttl_s};
        head = sizeof h / sizeof h[0];
        memcpy(argv, h, sizeof h);
    } else {
        const char *h[] = {"XADD", stream, "*"};
        head = sizeof h / sizeof h[0];
        memcpy(argv, h, sizeof h);
    }
    /* The short fields go into one header field, h: Redis's cost of an XADD grows with its
     * number of arguments (6.0–6.4 → 3.9–5.0 µs of CPU per entry for 11 fields → 5). Every value
     * in it is a token without spaces (ids, decimals, hex, the ingress id); the booker's texts
     * keep fields of their own. idem: the worker keeps the answer for the TTL at once. */
    const char *pairs[][2] = {
        {"t", s->cancel ? "cancel" : "reserve"},
        {"id", w->id},
        {"ing", ingress.ingress_id},
        {"ev", s->event_id},
        {"at", at},
        {"dl", dl},
        {s->cancel ? "booking" : "slot", s->cancel ? s->booking_id : s->slot_id},
        {s->cancel ? "th" : NULL, s->token_hash},
        {s->idem_key ? "idem" : NULL, "1"}};
    /* Names and separators ≤ 40, ids and decimals ≤ 24 each, the token hash 64. */
    char h[sizeof ingress.ingress_id + YK_REQUEST_ID_LEN + YK_HASH_HEX_LEN + 5 * 24 + 40], *e = h;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (pairs[i][0])
            e = put_pair(e, e == h, pairs[i][0], pairs[i][1]);
    size_t argc = head;
    const char *fields[] = {"h", h, "email", s->email, "ident", s->identity,
                            "fields", s->fields_json, "tok", token};
    for (size_t i = 0; i < (s->cancel ? 2 : sizeof fields / sizeof fields[0]); i++)
        argv[argc++] = fields[i];
    w->state = W_SUBMITTING;
    hash_insert(w);
    inflight++;
    if (s->idem_key) {
        w->op.cb = script_reply_cb;
        yk_redis_argv(ingress.redis, &w->op, (int)argc, argv, NULL);
        return;
    }
    /* Plain commands, pipelined: a script costs Redis about 4× the XADD it wraps
     * (docs/PERFORMANCE.md). Each has its own completion; the last one settles the request, and
     * w is gone once the last of them has completed, possibly before the last call returns. */
    w->ops = ingress.wait_ms == 0 ? 3 : 2;
    w->op_seq.cb = seq_reply_cb;
    w->op_add.cb = add_reply_cb;
    w->op_done.cb = done_reply_cb;
    yk_redis_argv(ingress.redis, &w->op_seq, 2, (const char *[]){"INCR", seq}, NULL);
    yk_redis_argv(ingress.redis, &w->op_add, (int)argc, argv, NULL);
    if (ingress.wait_ms == 0) /* answered 202 at once: its position is read now */
        yk_redis_argv(ingress.redis, &w->op_done, 2, (const char *[]){"GET", done}, NULL);
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

void submit_on_connect(yk_redis *r, void *ud)
{
    submit_load_script(r, ud);
    owed_send();
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
    snprintf(ttl_s, sizeof ttl_s, "%lld", (long long)ingress.result_ttl);
    if (uv_timer_init(ingress.loop, &deadline_timer) != 0 ||
        uv_timer_init(ingress.loop, &poll_timer) != 0 ||
        uv_timer_init(ingress.loop, &shutdown_timer) != 0)
        return -1;
    return uv_timer_start(&poll_timer, poll_cb, 25, 25) == 0 ? 0 : -1;
}

void submit_shutdown(void (*then)(void))
{
    shutdown_then = then;
    /* Every waiting request is answered 202 now, each after its pending marker is stored (or
     * its final answer found): a 202 promises that GET /v1/requests/{id} will tell. */
    while (fifo_head) {
        waiter *w = fifo_head;
        list_unlink(&fifo_head, &fifo_tail, w);
        mark_pending(w);
    }
    for (waiter *w = poll_head, *next; w; w = next) {
        next = w->next;
        if (w->state == W_POLLING) { /* one with a GET in flight is answered by its callback */
            list_unlink(&poll_head, &poll_tail, w);
            respond_pending(w);
            waiter_free(w);
        }
    }
    uv_close((uv_handle_t *)&deadline_timer, NULL);
    uv_close((uv_handle_t *)&poll_timer, NULL);
    uv_timer_start(&shutdown_timer, shutdown_cb, inflight ? SHUTDOWN_GRACE_MS : 0, 0);
}

void submit_free(void)
{
    for (owed *o = owed_head, *next; o; o = next) {
        next = o->next;
        free(o);
    }
    owed_head = NULL;
    for (waiter *w = pool, *next; w; w = next) {
        next = w->next;
        free(w);
    }
    pool = NULL;
}
