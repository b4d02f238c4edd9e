/* deadletter: picks a batch's dead entries, answers them, and moves them to yk:dead:{p} with the
 * dead-letter script. Owns the list of the running batch's dead entries, reused from batch to
 * batch. */
#include "deadletter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "metrics.h"
#include "partitions.h"
#include "yk_log.h"
#include "yk_rconn.h"

typedef struct {
    size_t i;           /* index in the batch */
    const char *sid;    /* its stream id (the entry's sid is NULL while it is listed) */
    const char *reason; /* a literal: undecodable, deliveries, failed, unavailable */
    int deliveries;
} deadletter_item;

static deadletter_item *dead;
static size_t dead_n, dead_cap;

void deadletter_begin(void)
{
    dead_n = 0;
}

size_t deadletter_count(void)
{
    return dead_n;
}

/* Lists en as dead and keeps it out of answer_send's ack. No room (memory): left for a retry. */
static void deadletter_mark(entry *en, size_t i, const char *reason, int deliveries)
{
    if (en->sid == NULL)
        return; /* not even an id: nothing to acknowledge or to move */
    if (dead_n == dead_cap) {
        size_t cap = dead_cap ? 2 * dead_cap : 16;
        deadletter_item *d = realloc(dead, cap * sizeof *d);
        if (d == NULL) {
            en->st = ENTRY_RETRY;
            return;
        }
        dead = d, dead_cap = cap;
    }
    dead[dead_n++] = (deadletter_item){i, en->sid, reason, deliveries};
    en->sid = NULL;
    yk_error("request=%s entry=%s: dead letter (%s) after %d deliveries", en->rid ? en->rid : "-",
             dead[dead_n - 1].sid, reason, deliveries);
}

void deadletter_counts(const entry *v, size_t n, const yk_reply *pending, int *d)
{
    size_t m = yk_reply_count(pending), j = 0;
    for (size_t i = 0; i < n; i++) {
        d[i] = 1;
        for (size_t k = j; v[i].sid && k < m; k++) {
            const yk_reply *x = yk_reply_at(pending, k);
            if (yk_reply_eq(yk_reply_at(x, 0), v[i].sid)) {
                if (yk_reply_is(yk_reply_at(x, 3), YK_REPLY_INTEGER))
                    d[i] = (int)yk_reply_int(yk_reply_at(x, 3));
                j = k + 1;
                break;
            }
        }
    }
}

void deadletter_undecodable(entry *v, size_t n, const int *d)
{
    for (size_t i = 0; i < n; i++) {
        entry *en = &v[i];
        /* decode answers only entries it refuses; it leaves ENTRY_ACK with no field at all for an
         * entry deleted from the stream while pending (nothing to keep) */
        bool refused = en->st == ENTRY_ANSWER;
        bool unreadable = en->st == ENTRY_ACK && (en->rid || en->type || en->ing || en->ev_s ||
                                                  en->email || en->fields_s || en->booking_s);
        if (refused || unreadable)
            deadletter_mark(en, i, "undecodable", d ? d[i] : 1);
    }
}

void deadletter_overdelivered(entry *v, size_t n, const int *d, int max)
{
    for (size_t i = 0; d && i < n; i++) {
        if (v[i].st != ENTRY_NEW || d[i] <= max)
            continue;
        answer_refuse(&v[i], 500, "internal", "The request could not be processed.");
        if (v[i].st == ENTRY_ANSWER)
            deadletter_mark(&v[i], i, "deliveries", d[i]);
    }
}

void deadletter_exhausted(entry *v, size_t n, const int *d, int max, bool transient)
{
    for (size_t i = 0; i < n; i++) {
        entry *en = &v[i];
        if (en->st != ENTRY_RETRY)
            continue;
        int got = d ? d[i] : 1;
        if (got < max) {
            yk_warn("request=%s not decided (delivery %d of %d), retried at the next tick",
                    en->rid ? en->rid : "-", got, max);
            continue;
        }
        if (transient)
            answer_refuse(en, 503, "unavailable", "The request could not be processed now.");
        else
            answer_refuse(en, 500, "internal", "The request could not be processed.");
        if (en->st == ENTRY_ANSWER)
            deadletter_mark(en, i, transient ? "unavailable" : "failed", got);
    }
}

/* KEYS: yk:req:{p}, yk:dead:{p}, yk:done:{p}. ARGV: stream id, reason, deliveries, … in stream
 * order. Only the call that acknowledges an entry writes its dead letter, so an entry moved twice
 * (a worker died between the move and its reply) has one. The entry's own fields follow reason,
 * deliveries and from (its id in yk:req:{p}); an entry gone from the stream leaves nothing to
 * move. done counts it as the ack script would; the stream is trimmed as there (every entry older
 * than the oldest pending one, or than the last moved, is acknowledged). Returns the number moved.
 */
static const char DEAD_LUA[] =
    "local moved = 0\n"
    "for i = 1, #ARGV, 3 do\n"
    "  if redis.call('XACK', KEYS[1], 'workers', ARGV[i]) == 1 then\n"
    "    redis.call('INCRBY', KEYS[3], 1)\n"
    "    local e = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])[1]\n"
    "    if e then\n"
    "      local a = {'XADD', KEYS[2], '*', 'reason', ARGV[i + 1], 'deliveries', ARGV[i + 2],\n"
    "                 'from', ARGV[i]}\n"
    "      for _, x in ipairs(e[2]) do a[#a + 1] = x end\n"
    "      redis.call(unpack(a))\n"
    "      moved = moved + 1\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local pending = redis.call('XPENDING', KEYS[1], 'workers')\n"
    "local ms, seq = string.match(ARGV[#ARGV - 2], '^(%d+)-(%d+)$')\n"
    "local min = ms .. '-' .. string.format('%d', tonumber(seq) + 1)\n"
    "if pending[1] > 0 then min = pending[2] end\n"
    "redis.call('XTRIM', KEYS[1], 'MINID', min)\n"
    "return moved\n";

worker_status deadletter_move(worker *w, const entry *v)
{
    if (dead_n == 0)
        return WORKER_OK;
    /* EVAL, script, 3, three keys, then three arguments per entry */
    const char **argv = malloc((6 + 3 * dead_n) * sizeof *argv);
    char(*counts)[16] = malloc(dead_n * sizeof *counts);
    worker_status st = WORKER_OK;
    for (unsigned p = 0; argv && counts && p < w->partitions && st == WORKER_OK; p++) {
        int argc = 6;
        for (size_t k = 0; k < dead_n; k++) {
            const entry *en = &v[dead[k].i];
            if (en->p != p || en->st == ENTRY_RETRY) /* its answer was not sent: moved later */
                continue;
            snprintf(counts[k], sizeof counts[k], "%d", dead[k].deliveries);
            argv[argc++] = dead[k].sid;
            argv[argc++] = dead[k].reason;
            argv[argc++] = counts[k];
        }
        if (argc == 6)
            continue;
        char stream[32], dl[32], done[32];
        partitions_key(p, stream);
        snprintf(dl, sizeof dl, "yk:dead:{%u}", p);
        snprintf(done, sizeof done, "yk:done:{%u}", p);
        argv[0] = "EVAL", argv[1] = DEAD_LUA, argv[2] = "3";
        argv[3] = stream, argv[4] = dl, argv[5] = done;
        yk_reply *r = yk_rconn_command(w->redis, argc, argv);
        if (r == NULL) {
            st = WORKER_REDIS_LOST;
        } else if (yk_reply_error(r)) {
            yk_error("moving dead letters of partition %u: %s", p, yk_reply_error(r));
        } else {
            metrics_dead(p, (size_t)yk_reply_int(r));
            yk_warn("partition=%u: %lld entries moved to %s", p, (long long)yk_reply_int(r), dl);
        }
        yk_rconn_free(r);
    }
    if (argv == NULL || counts == NULL)
        yk_error("out of memory: %zu dead letters stay pending", dead_n);
    free(argv);
    free(counts);
    return st;
}
