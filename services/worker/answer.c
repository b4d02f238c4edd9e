/* answer: the texts every entry of a batch is answered with, and the Redis pipeline that stores,
 * relays and acknowledges them, RESP encoded by hand (yk_resp). Owns the batch's text buffers. */
#include "answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "partitions.h"
#include "yk_log.h"
#include "yk_rconn.h"
#include "yk_resp.h"
#include "yk_token.h"

/* Every answer body of a batch, each followed by '\0' (entries keep offsets, as the buffer moves
 * when it grows); the answer pipeline; the message being built for one PUBLISH. Reused from batch
 * to batch (this process runs one batch at a time, on one thread). An answer that does not fit is
 * left for a retry. */
#define ANSWER_TEXT_MAX (((size_t)1 << 30) - 1)
static yk_buf answer_bodies = YK_BUF_INIT(ANSWER_TEXT_MAX);
static yk_buf answer_cmds = YK_BUF_INIT(ANSWER_TEXT_MAX);
static yk_buf answer_msg = YK_BUF_INIT(ANSWER_TEXT_MAX);

static unsigned char answer_key[YK_TOKEN_KEY_BYTES];
/* Redis Cluster: replies travel by sharded pub/sub (proto/streams.md) */
static bool answer_sharded;

void answer_set_key(const unsigned char key[32])
{
    memcpy(answer_key, key, sizeof answer_key);
}

void answer_reset(void)
{
    yk_buf_reset(&answer_bodies);
}

void answer_trim(size_t keep)
{
    yk_buf *bufs[] = {&answer_bodies, &answer_cmds, &answer_msg};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]->cap > keep)
            yk_buf_free(bufs[i]);
}

/* Ends the answer body begun at offset `at` of answer_bodies (see answer.h). */
static void answer_end(entry *en, int code, size_t at)
{
    yk_buf_addc(&answer_bodies, '\0');
    if (answer_bodies.failed) {
        yk_buf_rewind(&answer_bodies, at);
        en->st = ENTRY_RETRY;
        return;
    }
    en->code = code;
    en->body_at = at;
    en->st = ENTRY_ANSWER;
}

void answer_refuse(entry *en, int code, const char *error, const char *message)
{
    yk_buf *b = &answer_bodies;
    size_t at = b->len;
    yk_buf_adds(b, "{\"error\":");
    yk_buf_str(b, error);
    yk_buf_adds(b, ",\"message\":");
    yk_buf_str(b, message);
    yk_buf_addc(b, '}');
    answer_end(en, code, at);
    en->result = error;
}

void answer_closed(entry *en, const char *message, const char *opens_at)
{
    yk_buf *b = &answer_bodies;
    size_t at = b->len;
    yk_buf_adds(b, "{\"error\":\"booking_closed\",\"message\":");
    yk_buf_str(b, message);
    yk_buf_adds(b, ",\"opens_at\":");
    if (opens_at)
        yk_buf_str(b, opens_at);
    else
        yk_buf_adds(b, "null");
    yk_buf_addc(b, '}');
    answer_end(en, 409, at);
    en->result = "booking_closed";
}

/* Appends the booking object of every answer to b (keys in the order of the contract, the
 * check-in code derived from the id, never stored). fields is
 * JSON object text: checked by yk_buf_fields_ok (copied as it is) or, when from_db, PostgreSQL's
 * jsonb output (written compact, as jansson would; "" stands for {}). */
static void booking_obj(yk_buf *b, const char *id, const char *slug, const char *slot_id,
                        const char *starts, const char *ends, const char *status, const char *email,
                        const char *fields, size_t fields_len, bool from_db, const char *created)
{
    yk_buf_adds(b, "{\"id\":");
    yk_buf_str(b, id);
    yk_buf_adds(b, ",\"event\":");
    yk_buf_str(b, slug);
    yk_buf_adds(b, ",\"slot_id\":");
    yk_buf_str(b, slot_id);
    yk_buf_adds(b, ",\"starts_at\":");
    yk_buf_str(b, starts);
    yk_buf_adds(b, ",\"ends_at\":");
    yk_buf_str(b, ends);
    yk_buf_adds(b, ",\"status\":");
    yk_buf_str(b, status);
    yk_buf_adds(b, ",\"email\":");
    yk_buf_str(b, email);
    yk_buf_adds(b, ",\"fields\":");
    if (!from_db)
        yk_buf_add(b, fields, fields_len);
    else if (*fields)
        yk_buf_compact(b, fields);
    else
        yk_buf_adds(b, "{}");
    yk_buf_adds(b, ",\"created_at\":");
    yk_buf_str(b, created);
    char code[YK_CHECKIN_CODE_MAX + 1];
    yk_token_checkin_code(answer_key, id, code);
    yk_buf_adds(b, ",\"checkin_code\":");
    yk_buf_str(b, code);
    yk_buf_addc(b, '}');
}

/* Ends a 201 body {"booking":<begun at at>,"token":tok}. */
static void answer_token(entry *en, size_t at)
{
    yk_buf_adds(&answer_bodies, ",\"token\":");
    yk_buf_str(&answer_bodies, en->tok);
    yk_buf_addc(&answer_bodies, '}');
    answer_end(en, 201, at);
}

void answer_booked(entry *en, const char *id, const char *created)
{
    char slot[24];
    snprintf(slot, sizeof slot, "%lld", (long long)en->s->id);
    size_t at = answer_bodies.len;
    yk_buf_adds(&answer_bodies, "{\"booking\":");
    booking_obj(&answer_bodies, id, en->e->slug, slot, en->s->starts_at, en->s->ends_at,
                "confirmed", en->email, en->fields_s, en->fields_len, false, created);
    answer_token(en, at);
}

void answer_committed(entry *en, const persist_booking *b)
{
    size_t at = answer_bodies.len;
    yk_buf_adds(&answer_bodies, "{\"booking\":");
    booking_obj(&answer_bodies, b->id, b->slug, b->slot_id, b->starts_at, b->ends_at, b->status,
                b->email, b->fields, 0, true, b->created_at);
    answer_token(en, at);
    en->early = false; /* a refusal sent early (soldout.h) is corrected by this answer */
}

void answer_status(entry *en, const persist_booking *b, const char *status)
{
    size_t at = answer_bodies.len;
    yk_buf_adds(&answer_bodies, "{\"booking\":");
    booking_obj(&answer_bodies, b->id, b->slug, b->slot_id, b->starts_at, b->ends_at, status,
                b->email, b->fields, 0, true, b->created_at);
    yk_buf_addc(&answer_bodies, '}');
    answer_end(en, 200, at);
}

void answer_cancelled(entry *en, const persist_booking *b)
{
    answer_status(en, b, "cancelled");
}

void answer_json(entry *en, int code, const char *key, const char *json, bool token)
{
    size_t at = answer_bodies.len;
    yk_buf_addc(&answer_bodies, '{');
    yk_buf_str(&answer_bodies, key);
    yk_buf_addc(&answer_bodies, ':');
    yk_buf_compact(&answer_bodies, json);
    if (token) { /* a 201: a new entry, or a booking */
        answer_token(en, at);
        return;
    }
    yk_buf_addc(&answer_bodies, '}');
    answer_end(en, code, at);
}

void answer_bodies_fix(entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i].body = v[i].st == ENTRY_ANSWER ? answer_bodies.p + v[i].body_at : NULL;
}

/* How long an answer stays in yk:res:<id>. YOYAKU_RESULT_TTL (ttl) when someone may ask for it
 * later: a request with an Idempotency-Key (retried), or one decided within a second of its
 * ingress's deadline (the entry's `dl`) or after it, which is answered 202 (polled) even when
 * Redis could not take the pending marker then. Otherwise nobody asks for it but the waiting
 * ingress, which reads yk:res at its deadline if the pub/sub reply went missing: until then
 * plus a margin for a stalled loop and clock skew, never more than ANSWER_HOLD_MAX_S (twice the
 * largest YOYAKU_WAIT_MS, 60 s, for entries without `dl`). A rush leaves seconds of answers in
 * Redis, not minutes. An answer that replaces a pending marker gets the TTL as well, by the
 * EXPIRE that answer_send sends when its SET returns an old value (proto/streams.md). */
#define ANSWER_HOLD_MARGIN_S 10
#define ANSWER_HOLD_MAX_S 120

int64_t answer_hold_s(const entry *en, int64_t now_ms, int64_t ttl)
{
    if (en->idem || (en->dl && now_ms >= en->dl - 1000))
        return ttl;
    if (en->dl == 0)
        return ANSWER_HOLD_MAX_S;
    int64_t s = (en->dl - now_ms) / 1000 + ANSWER_HOLD_MARGIN_S;
    return s > ANSWER_HOLD_MAX_S ? ANSWER_HOLD_MAX_S : s;
}

/* Acknowledges one partition's entries of a batch, adds to yk:done:{p} the number XACK
 * acknowledged (an entry delivered twice, a replay after a takeover, is counted once, by whoever
 * acks it first, so done stays the count of decided entries that positions are taken from), and
 * trims the stream of every entry older than both the oldest one still pending in the group and
 * the batch's last (whole listpack nodes at a time: XDEL of each id was 2 µs per entry). Entries
 * newer than the batch's last are either pending or not yet delivered, so the trim never takes an
 * entry that someone still has to decide. unpack goes by chunks: Lua's stack takes about 8000
 * values. KEYS: stream, done. ARGV: ids, in stream order. */
static const char ACK_LUA[] =
    "local n = 0\n"
    "for i = 1, #ARGV, 1000 do\n"
    "  n = n + redis.call('XACK', KEYS[1], 'workers', unpack(ARGV, i, math.min(i + 999, #ARGV)))\n"
    "end\n"
    "if n > 0 then redis.call('INCRBY', KEYS[2], n) end\n"
    "local ms, seq = string.match(ARGV[#ARGV], '^(%d+)-(%d+)$')\n"
    "local min = ms .. '-' .. string.format('%d', tonumber(seq) + 1)\n"
    "local pending = redis.call('XPENDING', KEYS[1], 'workers')\n"
    "if pending[1] > 0 then min = pending[2] end\n"
    "redis.call('XTRIM', KEYS[1], 'MINID', min)\n"
    "return n\n";

/* Appends the seat commands: one HSET yk:remaining:<event> per event, one PUBLISH on yk:events
 * with every slot's triple. Returns the number of commands. */
static int answer_seat_cmds(yk_buf *b, const answer_seat *seats, size_t m)
{
    int count = 0;
    char key[48];
    for (size_t i = 0, j; i < m; i = j) {
        for (j = i; j < m && seats[j].ev == seats[i].ev; j++)
            ;
        yk_resp_head(b, '*', 2 + 2 * (j - i));
        yk_resp_arg(b, "HSET", 4);
        yk_resp_arg(b, key,
                    (size_t)snprintf(key, sizeof key, "yk:remaining:%lld", (long long)seats[i].ev));
        for (size_t k = i; k < j; k++) {
            char f[24], l[16];
            yk_resp_arg(b, f, (size_t)snprintf(f, sizeof f, "%lld", (long long)seats[k].slot));
            yk_resp_arg(b, l, (size_t)snprintf(l, sizeof l, "%d", seats[k].left));
        }
        count++;
    }
    yk_buf_reset(&answer_msg);
    yk_buf_adds(&answer_msg, "remaining");
    for (size_t i = 0; i < m; i++) {
        yk_buf_addc(&answer_msg, ' ');
        yk_buf_int(&answer_msg, seats[i].ev);
        yk_buf_addc(&answer_msg, ' ');
        yk_buf_int(&answer_msg, seats[i].slot);
        yk_buf_addc(&answer_msg, ' ');
        yk_buf_int(&answer_msg, seats[i].left);
    }
    b->failed |= answer_msg.failed; /* a truncated message must not be sent */
    yk_resp_head(b, '*', 3);
    yk_resp_arg(b, "PUBLISH", 7);
    yk_resp_arg(b, "yk:events", 9);
    yk_resp_arg(b, answer_msg.p, answer_msg.len);
    return count + 1;
}

/* Appends "<code> <body>" as one bulk string. */
static void answer_value(yk_buf *b, const entry *en)
{
    char code[16];
    size_t cl = (size_t)snprintf(code, sizeof code, "%d ", en->code), bl = strlen(en->body);
    yk_resp_head(b, '$', cl + bl);
    yk_buf_add(b, code, cl);
    yk_buf_add(b, en->body, bl);
    yk_buf_add(b, "\r\n", 2);
}

/* Appends one PUBLISH yk:rep:<ing> per ingress that waits for answers of this batch, each with
 * one line "<request id> <code> <body>" per answer (compact JSON holds no newline). Returns the
 * number of commands. */
static int answer_reply_cmds(yk_buf *b, const entry *v, size_t n)
{
    int count = 0;
    bool *sent = calloc(n, sizeof *sent);
    for (size_t i = 0; i < n; i++) {
        if (v[i].st != ENTRY_ANSWER || v[i].ing == NULL || v[i].early || (sent && sent[i]))
            continue;
        yk_buf_reset(&answer_msg);
        for (size_t j = i; j < n; j++) {
            if (v[j].st != ENTRY_ANSWER || v[j].ing == NULL || v[j].early || (sent && sent[j]) ||
                (j != i && (sent == NULL || strcmp(v[j].ing, v[i].ing) != 0)))
                continue;
            if (sent)
                sent[j] = true;
            if (answer_msg.len)
                yk_buf_addc(&answer_msg, '\n');
            yk_buf_adds(&answer_msg, v[j].rid);
            yk_buf_addc(&answer_msg, ' ');
            yk_buf_int(&answer_msg, v[j].code);
            yk_buf_addc(&answer_msg, ' ');
            yk_buf_adds(&answer_msg, v[j].body);
        }
        char ch[160];
        int cl = snprintf(ch, sizeof ch, "yk:rep:%s", v[i].ing);
        if (cl >= (int)sizeof ch)
            continue; /* no ingress has such an id: nobody waits */
        b->failed |= answer_msg.failed;
        yk_resp_head(b, '*', 3);
        yk_resp_arg(b, answer_sharded ? "SPUBLISH" : "PUBLISH", answer_sharded ? 8 : 7);
        yk_resp_arg(b, ch, (size_t)cl);
        yk_resp_arg(b, answer_msg.p, answer_msg.len);
        count++;
    }
    free(sent); /* without it (out of memory) each answer went in a message of its own */
    return count;
}

int answer_pipeline(yk_buf *b, const entry *v, size_t n, const answer_seat *seats, size_t m,
                    unsigned partitions, int64_t now_ms, int64_t ttl, int *tag)
{
    int count = seats ? answer_seat_cmds(b, seats, m) : 0;
    for (int k = 0; k < count; k++)
        tag[k] = -1;
    char key[48];
    for (size_t i = 0; i < n; i++) {
        const entry *en = &v[i];
        if (en->st != ENTRY_ANSWER || en->early) /* early: soldout.h */
            continue;
        yk_resp_head(b, '*', 6);
        yk_resp_arg(b, "SET", 3);
        yk_resp_arg(b, key, (size_t)snprintf(key, sizeof key, "yk:res:%s", en->rid));
        answer_value(b, en);
        char hold[24];
        yk_resp_arg(b, "EX", 2);
        yk_resp_arg(
            b, hold,
            (size_t)snprintf(hold, sizeof hold, "%lld", (long long)answer_hold_s(en, now_ms, ttl)));
        yk_resp_arg(b, "GET", 3);
        tag[count++] = (int)i;
    }
    for (int k = answer_reply_cmds(b, v, n); k > 0; k--)
        tag[count++] = -1;

    const char **ids = malloc((n + 5) * sizeof *ids); /* EVAL, script, 2, stream, done, ids… */
    for (unsigned p = 0; ids && p < partitions; p++) {
        int k = 0;
        for (size_t i = 0; i < n; i++)
            if (v[i].p == p && v[i].st != ENTRY_RETRY && v[i].sid != NULL)
                ids[5 + k++] = v[i].sid;
        if (k == 0)
            continue;
        char stream[32], done[32];
        partitions_key(p, stream);
        snprintf(done, sizeof done, "yk:done:{%u}", p);
        ids[0] = "EVAL", ids[1] = ACK_LUA, ids[2] = "2", ids[3] = stream, ids[4] = done;
        yk_resp_cmd(b, 5 + k, ids, NULL);
        tag[count++] = -1;
    }
    bool ok = ids != NULL && !b->failed;
    free(ids);
    return ok ? count : -1;
}

int answer_replies(worker *w, const entry *v, const int *tag, int count, const char *what)
{
    char ttl[24], key[48];
    snprintf(ttl, sizeof ttl, "%lld", (long long)w->ttl);
    int extra = 0;
    for (int i = 0; i < count + extra; i++) {
        yk_reply *r = yk_rconn_get(w->redis);
        if (r == NULL)
            return -1;
        if (yk_reply_error(r)) {
            yk_error("%s: %s", what, yk_reply_error(r));
        } else if (i < count && tag[i] >= 0 && yk_reply_is(r, YK_REPLY_STRING)) {
            /* it replaced a pending marker: the answer is kept for the TTL (proto/streams.md) */
            snprintf(key, sizeof key, "yk:res:%s", v[tag[i]].rid);
            if (yk_rconn_append(w->redis, 3, (const char *[]){"EXPIRE", key, ttl}) == 0)
                extra++;
        }
        yk_rconn_free(r);
    }
    return 0;
}

worker_status answer_send(worker *w, entry *v, size_t n, const answer_seat *seats, size_t m)
{
    /* At most one command per event and one per answer, one per ingress (≤ answers), one per
     * partition, one more. */
    int *tag = malloc((3 * n + (size_t)w->partitions + 2) * sizeof *tag);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    yk_buf_reset(&answer_cmds);
    answer_sharded = yk_rconn_cluster(w->redis);
    int count = tag ? answer_pipeline(&answer_cmds, v, n, seats, m, (unsigned)w->partitions, now_ms,
                                      w->ttl, tag)
                    : -1;
    if (count < 0 || yk_rconn_append_raw(w->redis, answer_cmds.p, answer_cmds.len) != 0) {
        free(tag);
        for (size_t i = 0; i < n; i++)
            v[i].st = ENTRY_RETRY; /* nothing sent: every entry is replayed at the next tick */
        return WORKER_OK;
    }

    int lost = answer_replies(w, v, tag, count, "answer pipeline");
    free(tag);
    if (lost)
        return WORKER_REDIS_LOST; /* committed but unanswered: replayed after reconnect */
    for (size_t i = 0; i < n; i++) {
        entry *en = &v[i];
        if (en->st == ENTRY_RETRY)
            continue;
        metrics_result(en->st == ENTRY_ANSWER && en->result ? en->result : "malformed");
    }
    return WORKER_OK;
}
