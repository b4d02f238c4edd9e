/* submit: owns the submit pipeline (plain pipelined commands, or the idempotent submit script),
 * the polling of idempotent duplicates, the reply subscription (yk:rep:<ingress id> and yk:events)
 * and the shutdown of the reply path. Waiters come from waiter.c; their deadlines are pending.c's.
 */
#include "submit.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalogue.h"
#include "ingress.h"
#include "pending.h"
#include "waiter.h"
#include "waitlist.h"
#include "yk_log.h"
#include "yk_text.h"
#include "yk_token.h"

/* The submit with an Idempotency-Key: its SET NX GET must be atomic with the XADD, so that of
 * twenty concurrent retries exactly one enters the stream. It writes the pending marker at once:
 * a request with a marker keeps its answer for the TTL (proto/streams.md), which a retry reads.
 * The key is looked up before any refusal that depends on changing state (a sold-out slot, the
 * booking window): the ingress passes such a refusal as ARGV[3], and a new key stores it as the
 * request's answer instead of queueing it, so the same key and body give it again later.
 * KEYS: req stream, seq, done, res, idem. ARGV: idem value, ttl, refusal ("" or "<code> <json>"),
 * field, value, … Returns {1, seq, done} for a new request, {2, refusal} for a new request refused,
 * {0, "<request id> <body hash>"} for a key seen before. */
static const char submit_script[] =
    "local old = redis.call('SET', KEYS[5], ARGV[1], 'NX', 'GET', 'EX', ARGV[2])\n"
    "if old then return {0, old} end\n"
    "if ARGV[3] ~= '' then\n"
    "  redis.call('SET', KEYS[4], ARGV[3], 'EX', ARGV[2])\n"
    "  return {2, ARGV[3]}\n"
    "end\n"
    "local seq = redis.call('INCR', KEYS[2])\n"
    "redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4))\n"
    "local done = tonumber(redis.call('GET', KEYS[3]) or '0')\n"
    "local p = string.match(KEYS[1], '{(%d+)}')\n"
    "redis.call('SET', KEYS[4], '0 {\"p\":' .. p .. ',\"seq\":' .. seq .. '}', 'EX', ARGV[2])\n"
    "return {1, seq, done}\n";

/* The same in a Redis Cluster, where a script's keys must share one hash slot: the idempotency
 * key carries the partition's hash tag (yk:idem:{p}:…), and yk:res:<id> (in another slot) is
 * written by the ingress after the script's reply: the marker with NX (a worker's answer may be
 * there first), a refusal as is (proto/streams.md, "In a Redis Cluster").
 * KEYS: req stream, seq, done, idem. ARGV as above. Same returns. */
static const char submit_script_cluster[] =
    "local old = redis.call('SET', KEYS[4], ARGV[1], 'NX', 'GET', 'EX', ARGV[2])\n"
    "if old then return {0, old} end\n"
    "if ARGV[3] ~= '' then return {2, ARGV[3]} end\n"
    "local seq = redis.call('INCR', KEYS[2])\n"
    "redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4))\n"
    "local done = tonumber(redis.call('GET', KEYS[3]) or '0')\n"
    "return {1, seq, done}\n";

/* How long shutdown waits for Redis to confirm the pending markers of the requests it answers 202
 * before it closes the connections anyway. */
#define SHUTDOWN_GRACE_MS 2000
/* How long an idempotent duplicate's GET may stay unanswered past its deadline (Redis stalled)
 * before it is answered 202: the request it repeats is known to be in Redis. */
#define POLL_GRACE_MS 250

static waiter_list polls; /* idempotent duplicates waiting on another request's answer */
static uv_timer_t poll_timer, shutdown_timer;
static char script_sha[41], script_sha_cluster[41];
static void (*shutdown_then)(void); /* set from submit_shutdown until it is called */

static uint64_t now_ms(void)
{
    return uv_now(ingress.loop);
}

static void shutdown_cb(uv_timer_t *t)
{
    void (*then)(void) = shutdown_then;
    shutdown_then = NULL;
    pending_redis_closing();
    uv_close((uv_handle_t *)t, NULL);
    if (then)
        then();
}

/* The last waiter's Redis work ended during a shutdown: the connections may close (from a timer,
 * never inside a Redis callback). */
static void all_idle(void)
{
    if (shutdown_then)
        uv_timer_start(&shutdown_timer, shutdown_cb, 0, 0);
}

/* After the last reply of the submit: wait for the answer if the entry is in the stream, else 503
 * (a lost connection may or may not have let the XADD through: the booker retries). */
static void submit_settle(waiter *w)
{
    if (w->state == W_ANSWERED) {
        waiter_free(w);
    } else if (!w->added) {
        pending_forget(w);
        waiter_hash_unlink(w);
        ingress_respond_unavailable(w->req);
        waiter_free(w);
    } else {
        pending_queued(w);
    }
    waiter_idle();
}

/* INCR yk:seq:{p}: the request's sequence number, for its queue position only. A failure leaves
 * the position unknown (1); an INCR without a successful XADD makes later positions one too high,
 * which the clamp at 1 and the next request's count absorb. */
static void seq_reply_cb(yk_redis_op *op, yk_reply *reply)
{
    waiter *w = WAITER_OF(op, op_seq);
    if (yk_reply_is(reply, YK_REPLY_INTEGER))
        w->seq = yk_reply_int(reply);
    else if (yk_reply_error(reply))
        yk_error("request=%s: INCR: %s", w->id, yk_reply_error(reply));
    if (--w->ops == 0)
        submit_settle(w);
}

static void add_reply_cb(yk_redis_op *op, yk_reply *reply)
{
    waiter *w = WAITER_OF(op, op_add);
    w->added = yk_reply_is(reply, YK_REPLY_STRING);
    if (yk_reply_error(reply))
        yk_error("request=%s: XADD: %s", w->id, yk_reply_error(reply));
    if (--w->ops == 0)
        submit_settle(w);
}

/* WAIT n: the replicas hold the XADD (and whatever this connection wrote before it), so a
 * master failover cannot lose the request once it is answered 202. Fewer replicas than asked
 * (one lagging or gone): logged, and the request goes on (it is queued on the master, which
 * keeps it in its AOF; docs/ARCHITECTURE.md "Redis replication"). */
static void wait_reply_cb(yk_redis_op *op, yk_reply *reply)
{
    waiter *w = WAITER_OF(op, op_wait);
    static uint64_t warned;
    if (!yk_reply_is(reply, YK_REPLY_INTEGER) && w->added && now_ms() - warned >= 1000) {
        warned = now_ms();
        yk_warn("request=%s: WAIT: %s", w->id,
                yk_reply_error(reply) ? yk_reply_error(reply) : "no reply");
    } else if (yk_reply_is(reply, YK_REPLY_INTEGER) && yk_reply_int(reply) < w->replicas &&
               now_ms() - warned >= 1000) {
        warned = now_ms();
        yk_warn("request=%s: WAIT: %lld of %d replicas hold it", w->id,
                (long long)yk_reply_int(reply), w->replicas);
    }
    if (--w->ops == 0)
        submit_settle(w);
}

/* WAIT's timeout: well within the deadline (a later reply is 503) and the stall limit. */
static int wait_timeout_ms(void)
{
    return ingress.wait_ms >= 2000 || ingress.wait_ms == 0 ? 500 : (int)ingress.wait_ms / 4;
}

/* Sends WAIT after the submit on key's connection when replicas must confirm it; 1 if sent. */
static int submit_wait(waiter *w, const char *key)
{
    w->replicas = yk_redis_replicas(ingress.redis, key);
    if (w->replicas <= 0)
        return 0;
    w->op_wait.cb = wait_reply_cb;
    yk_redis_wait(ingress.redis, &w->op_wait, key, w->replicas, wait_timeout_ms());
    return 1;
}

/* With YOYAKU_WAIT_MS=0 the 202's position is read with the submit: GET yk:done:{p}. */
static void done_reply_cb(yk_redis_op *op, yk_reply *reply)
{
    waiter *w = WAITER_OF(op, op_done);
    const char *v = yk_reply_is(reply, YK_REPLY_STRING) ? yk_reply_str(reply, NULL) : NULL;
    if (v)
        w->done = strtoll(v, NULL, 10);
    else if (yk_reply_is(reply, YK_REPLY_NIL))
        w->done = 0;
    if (--w->ops == 0)
        submit_settle(w);
}

static void poll_done_cb(yk_redis_op *op, yk_reply *reply)
{
    waiter *w = WAITER_OF(op, op_done);
    const char *v = yk_reply_is(reply, YK_REPLY_STRING) ? yk_reply_str(reply, NULL) : NULL;
    w->done = v ? strtoll(v, NULL, 10) : yk_reply_is(reply, YK_REPLY_NIL) ? 0 : -1;
}

/* Polling for an answer another request (same Idempotency-Key) will produce. */
static void poll_reply_cb(yk_redis_op *op, yk_reply *reply)
{
    waiter *w = (waiter *)op;
    size_t len;
    const char *v = yk_reply_is(reply, YK_REPLY_STRING) ? yk_reply_str(reply, &len) : NULL;
    unsigned p;
    long long seq;
    if (v && v[0] == '0' && sscanf(v, "0 {\"p\":%u,\"seq\":%lld}", &p, &seq) == 2) {
        w->partition = p; /* its pending marker: the next GET reads done too, for the position */
        w->seq = seq;
    }
    if (w->state == W_ANSWERED) {
        waiter_free(w); /* answered 202 while this GET was late */
    } else if (v && v[0] != '0' && ingress_respond_stored(w->req, v, len) == 0) {
        waiter_list_unlink(&polls, w);
        waiter_free(w);
    } else if (now_ms() >= w->deadline_ms || ingress.stopping) {
        waiter_list_unlink(&polls, w);
        pending_respond(w);
        waiter_free(w);
    } else {
        w->state = W_POLLING; /* ask again on the next poll tick */
    }
    waiter_idle();
}

static void poll_send(waiter *w)
{
    w->state = W_POLL_BUSY;
    w->op.cb = poll_reply_cb;
    waiter_busy();
    if (pending_redis_closed()) {
        poll_reply_cb(&w->op, NULL);
        return;
    }
    char key[48];
    if (w->seq > 0) { /* its reply comes before the GET's below, on the same connection */
        snprintf(key, sizeof key, "yk:done:{%u}", w->partition);
        w->op_done.cb = poll_done_cb;
        yk_redis_argv(ingress.redis, &w->op_done, 2, (const char *[]){"GET", key}, NULL);
    }
    snprintf(key, sizeof key, "yk:res:%s", w->id);
    yk_redis_argv(ingress.redis, &w->op, 2, (const char *[]){"GET", key}, NULL);
}

static void poll_cb(uv_timer_t *t)
{
    (void)t;
    uint64_t now = now_ms();
    for (waiter *w = polls.head, *next; w; w = next) {
        next = w->next;
        if (w->state == W_POLLING) {
            poll_send(w);
        } else if (w->state == W_POLL_BUSY && now >= w->deadline_ms + POLL_GRACE_MS) {
            waiter_list_unlink(&polls, w);
            pending_respond(w);
            w->state = W_ANSWERED; /* poll_reply_cb frees it */
        }
    }
}

static void poll_start(waiter *w, const char *other_id)
{
    memcpy(w->id, other_id, YK_REQUEST_ID_LEN);
    w->id[YK_REQUEST_ID_LEN] = '\0';
    w->deadline_ms = now_ms() + (uint64_t)ingress.wait_ms;
    waiter_list_push(&polls, w);
    poll_send(w);
}

/* In a cluster, what the script could not write (its slot is not yk:res:<id>'s): the pending
 * marker (NX: the worker's answer may be stored already) or the refusal, for the TTL. */
static void cluster_store_res(waiter *w, const yk_reply *reply, int64_t kind)
{
    char key[48], val[80];
    snprintf(key, sizeof key, "yk:res:%s", w->id);
    size_t len = 0;
    const char *v = val;
    if (kind == 1) {
        len = (size_t)snprintf(val, sizeof val, "0 {\"p\":%u,\"seq\":%lld}", w->partition,
                               (long long)yk_reply_int(yk_reply_at(reply, 1)));
    } else if ((v = yk_reply_str(yk_reply_at(reply, 1), &len)) == NULL) {
        return;
    }
    const char *argv[] = {"SET", key, v, "EX", pending_ttl(), "NX"};
    size_t lens[] = {3, strlen(key), len, 2, strlen(pending_ttl()), 2};
    yk_redis_argv(ingress.redis, NULL, kind == 1 ? 6 : 5, argv, lens);
}

static void script_reply_cb(yk_redis_op *op, yk_reply *reply)
{
    waiter *w = (waiter *)op;
    if (w->state == W_ANSWERED) {
        waiter_free(w);
        waiter_idle();
        return;
    }
    int64_t kind = yk_reply_int(yk_reply_at(reply, 0));
    if (yk_redis_cluster(ingress.redis) && (kind == 1 || kind == 2))
        cluster_store_res(w, reply, kind);
    if (yk_reply_count(reply) == 3 && kind == 1) {
        w->seq = yk_reply_int(yk_reply_at(reply, 1));
        w->done = yk_reply_int(yk_reply_at(reply, 2));
        w->added = 1;
        char stream[32];
        snprintf(stream, sizeof stream, "yk:req:{%u}", w->partition);
        w->ops = 1;
        if (!submit_wait(w, stream)) /* else its reply settles */
            submit_settle(w);
        return;
    }
    pending_forget(w);
    waiter_hash_unlink(w);
    size_t len;
    const char *v = yk_reply_count(reply) == 2 ? yk_reply_str(yk_reply_at(reply, 1), &len) : NULL;
    if (v && kind == 2 && ingress_respond_stored(w->req, v, len) == 0) {
        waiter_free(w); /* a refusal, now this key's answer */
    } else if (v == NULL || kind != 0 || len != YK_REQUEST_ID_LEN + 1 + YK_HASH_HEX_LEN) {
        const char *err = yk_reply_error(reply);
        if (err) {
            yk_error("submit script failed: %s", err);
            if (strncmp(err, "NOSCRIPT", 8) == 0)
                submit_load_script(ingress.redis, NULL);
        }
        ingress_respond_unavailable(w->req);
        waiter_free(w);
    } else if (memcmp(v + YK_REQUEST_ID_LEN + 1, w->body_hash, YK_HASH_HEX_LEN) != 0) {
        /* The Idempotency-Key was seen before: the value is "<request id> <body hash>". */
        yk_http_respond_error(w->req, 409, "idempotency_conflict",
                              "This Idempotency-Key was already used with a different request.");
        waiter_free(w);
    } else {
        poll_start(w, v);
    }
    waiter_idle();
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
    waiter *w = ingress.stopping || (s->refusal && !s->idem_key) ? NULL : waiter_new(req);
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
        if (yk_redis_cluster(ingress.redis)) /* one slot with the partition's keys */
            snprintf(idem_key, sizeof idem_key, "yk:idem:{%u}:%s:%s", s->partition, s->event_id,
                     kh);
        else
            snprintf(idem_key, sizeof idem_key, "yk:idem:%s:%s", s->event_id, kh);
        snprintf(idem_val, sizeof idem_val, "%s %s", w->id, s->body_hash);
        snprintf(res, sizeof res, "yk:res:%s", w->id);
        memcpy(w->body_hash, s->body_hash, YK_HASH_HEX_LEN + 1);
        const char *h[] = {"EVALSHA",
                           script_sha,
                           "5",
                           stream,
                           seq,
                           done,
                           res,
                           idem_key,
                           idem_val,
                           pending_ttl(),
                           s->refusal ? s->refusal : ""};
        head = sizeof h / sizeof h[0];
        memcpy(argv, h, sizeof h);
        if (yk_redis_cluster(ingress.redis)) { /* without res: KEYS 4 */
            argv[1] = script_sha_cluster;
            argv[2] = "4";
            memmove(&argv[6], &argv[7], (head - 7) * sizeof *argv);
            head--;
        }
    } else {
        const char *h[] = {"XADD", stream, "*"};
        head = sizeof h / sizeof h[0];
        memcpy(argv, h, sizeof h);
    }
    /* The short fields go into one header field, h: Redis's cost of an XADD grows with its
     * number of arguments (6.0–6.4 → 3.9–5.0 µs of CPU per entry for 11 fields → 5). Every value
     * in it is a token without spaces (ids, decimals, hex, the ingress id); the booker's texts
     * keep fields of their own. idem: the worker keeps the answer for the TTL at once. */
    const char *pairs[][2] = {{"t", s->wl       ? s->wl
                                    : s->attend ? "attend"
                                    : s->cancel ? "cancel"
                                                : "reserve"},
                              {"id", w->id},
                              {"ing", ingress.ingress_id},
                              {"ev", s->event_id},
                              {"at", at},
                              {"dl", dl},
                              {s->cancel || s->attend ? "booking"
                               : s->entry_id          ? "entry"
                                                      : "slot",
                               s->cancel || s->attend ? s->booking_id
                               : s->entry_id          ? s->entry_id
                                                      : s->slot_id},
                              {s->cancel || s->entry_id ? "th" : NULL, s->token_hash},
                              {s->attend ? "st" : NULL, s->attend},
                              {s->attend && s->today ? "today" : NULL, "1"},
                              {s->idem_key ? "idem" : NULL, "1"},
                              {s->roster_hash ? "rh" : NULL, s->roster_hash}};
    /* Names, separators and st/today ≤ 64, ids and decimals ≤ 24 each, the token hash 64. */
    char h[sizeof ingress.ingress_id + YK_REQUEST_ID_LEN + YK_HASH_HEX_LEN + 5 * 24 + 64 + 36],
        *e = h; /* + 36: rh=<32 hex> */
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (pairs[i][0])
            e = put_pair(e, e == h, pairs[i][0], pairs[i][1]);
    size_t argc = head;
    const char *fields[] = {"h",         h,        "email",        s->email, "ident",
                            s->identity, "fields", s->fields_json, "tok",    token};
    size_t nfields = s->cancel || s->attend ? 2 : sizeof fields / sizeof fields[0];
    for (size_t i = 0; !s->refusal && i < nfields; i++)
        argv[argc++] = fields[i];
    if (s->entry_id && !s->refusal && !s->cancel && !s->attend) { /* waitlist: h and tok */
        argc = head + 2;
        argv[argc++] = "tok";
        argv[argc++] = token;
    }
    w->state = W_SUBMITTING;
    waiter_hash_insert(w);
    pending_track(w);
    waiter_busy();
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
    w->ops += submit_wait(w, stream);
    if (ingress.wait_ms == 0) /* answered 202 at once: its position is read now */
        yk_redis_argv(ingress.redis, &w->op_done, 2, (const char *[]){"GET", done}, NULL);
}

void submit_on_reply(const char *payload, size_t len)
{
    /* YOYAKU_WAIT_MS=0 answers every request 202, even one whose answer overtakes the submit's
     * replies (the answer, decided past the deadline, is kept for the TTL and polled). */
    if (ingress.wait_ms == 0 || len < YK_REQUEST_ID_LEN + 2 || payload[YK_REQUEST_ID_LEN] != ' ')
        return;
    waiter *w = waiter_hash_take(payload);
    if (w == NULL)
        return; /* another ingress's, or answered already */
    const char *v = payload + YK_REQUEST_ID_LEN + 1;
    pending_forget(w);
    if (ingress_respond_stored(w->req, v, len - YK_REQUEST_ID_LEN - 1) != 0)
        pending_respond(w);
    if (w->state != W_WAITING) { /* submitting or marking: its callback frees it */
        w->state = W_ANSWERED;
        return;
    }
    waiter_free(w);
}

/* Every message of the subscription: ["message", channel, payload]. */
static void on_sub_message(yk_redis_op *op, yk_reply *r)
{
    (void)op;
    size_t len;
    const char *channel = yk_reply_str(yk_reply_at(r, 1), NULL);
    const char *msg = yk_reply_str(yk_reply_at(r, 2), &len);
    if (yk_reply_count(r) != 3 || channel == NULL || msg == NULL)
        return; /* subscription confirmations, or NULL when the connection drops */
    if (strncmp(channel, "yk:rep:", 7) == 0) {
        /* A worker sends one message per batch: answers separated by '\n' (compact JSON has none).
         */
        const char *end = msg + len;
        for (const char *line = msg, *nl; line < end; line = nl + 1) {
            nl = memchr(line, '\n', (size_t)(end - line));
            if (nl == NULL)
                nl = end;
            submit_on_reply(line, (size_t)(nl - line));
        }
    } else if (waitlist_on_message(msg, len) != 0) {
        catalogue_on_message(msg, len);
    }
}

static yk_redis_op sub_op = {on_sub_message};

void submit_sub_connected(yk_redis *r, void *ud)
{
    (void)ud;
    char rep[sizeof ingress.ingress_id + 8];
    snprintf(rep, sizeof rep, "yk:rep:%s", ingress.ingress_id);
    yk_redis_subscribe(r, &sub_op, rep, 1); /* sharded in a Redis Cluster (SSUBSCRIBE) */
    yk_redis_subscribe(r, &sub_op, "yk:events", 0);
    /* Seat counts may have changed while we were not listening. */
    catalogue_reload(NULL, NULL);
}

static void script_loaded_cb(yk_redis_op *op, yk_reply *reply)
{
    size_t len;
    const char *sha = yk_reply_str(reply, &len);
    if (yk_reply_is(reply, YK_REPLY_STRING) && len == 40)
        memcpy(yk_redis_cluster(ingress.redis) ? script_sha_cluster : script_sha, sha, 41);
    else
        yk_error("loading the submit script failed: %s", sha ? sha : "no connection");
    free(op);
}

void submit_on_connect(yk_redis *r, void *ud)
{
    submit_load_script(r, ud);
    pending_owed_send();
}

void submit_load_script(yk_redis *r, void *ud)
{
    (void)ud;
    yk_redis_op *op = malloc(sizeof *op);
    if (op == NULL)
        return;
    op->cb = script_loaded_cb;
    yk_redis_cmd(r, op, "SCRIPT LOAD %s",
                 yk_redis_cluster(r) ? submit_script_cluster : submit_script);
}

int submit_init(void)
{
    waiter_on_idle(all_idle);
    if (pending_init() != 0 || uv_timer_init(ingress.loop, &poll_timer) != 0 ||
        uv_timer_init(ingress.loop, &shutdown_timer) != 0)
        return -1;
    return uv_timer_start(&poll_timer, poll_cb, 25, 25) == 0 ? 0 : -1;
}

void submit_shutdown(void (*then)(void))
{
    shutdown_then = then;
    pending_shutdown();
    for (waiter *w = polls.head, *next; w; w = next) {
        next = w->next;
        if (w->state == W_POLLING) { /* one with a GET in flight is answered by its callback */
            waiter_list_unlink(&polls, w);
            pending_respond(w);
            waiter_free(w);
        }
    }
    uv_close((uv_handle_t *)&poll_timer, NULL);
    uv_timer_start(&shutdown_timer, shutdown_cb, waiter_inflight() ? SHUTDOWN_GRACE_MS : 0, 0);
}

void submit_free(void)
{
    pending_free();
    waiter_pool_free();
}
