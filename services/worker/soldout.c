/* soldout: answers a batch's refusals for slots full before it, ahead of the batch's commit. Owns
 * the pipeline buffer of those answers, reused from batch to batch. */
#include "soldout.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answer.h"
#include "yk_log.h"
#include "yk_rconn.h"

#define SOLDOUT_TEXT_MAX (((size_t)1 << 30) - 1)
static yk_buf soldout_cmds = YK_BUF_INIT(SOLDOUT_TEXT_MAX);

/* Whether no seat of s can come free before the batch commits: every seat booked. The hook for
 * held waitlist offers: a seat held for an offer that may expire or be declined may return, so a
 * slot full only because of held offers must not count here. */
static bool soldout_final(const persist_slot *s)
{
    return s->booked >= s->capacity;
}

void soldout_mark(entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        entry *en = &v[i];
        en->full = en->st == ENTRY_NEW && !en->cancel && !en->attend && !en->wl && en->found > 0 &&
                   soldout_final(en->s);
    }
}

/* Whether en is answered early: refused slot_full, its slot full before the batch. */
static bool soldout_early(const entry *en)
{
    return en->full && en->st == ENTRY_ANSWER && en->code == 409 && en->result &&
           strcmp(en->result, "slot_full") == 0;
}

worker_status soldout_answer(worker *w, entry *v, size_t n, bool replay)
{
    size_t early = 0, accepted = 0;
    if (replay)
        return WORKER_OK;
    for (size_t i = 0; i < n; i++) {
        if (v[i].cancel || v[i].attend)
            return WORKER_OK; /* a seat may come free in this batch: answer after it */
        accepted += v[i].st == ENTRY_ACCEPT;
        early += soldout_early(&v[i]);
    }
    if (early == 0 || accepted == 0)
        return WORKER_OK;
    /* Copies without their stream ids: the pipeline stores and relays them but acks nothing (the
     * batch acks every entry once its commit is done). */
    entry *c = malloc(early * sizeof *c);
    int *tag = malloc((3 * early + (size_t)w->partitions + 2) * sizeof *tag);
    size_t k = 0;
    for (size_t i = 0; c && tag && i < n; i++)
        if (soldout_early(&v[i])) {
            c[k] = v[i];
            c[k++].sid = NULL;
        }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    yk_buf_reset(&soldout_cmds);
    int count = -1;
    if (k == early) {
        answer_bodies_fix(c, k);
        count = answer_pipeline(&soldout_cmds, c, k, NULL, 0, (unsigned)w->partitions, now_ms,
                                w->ttl, tag);
    }
    worker_status st = WORKER_OK;
    if (count < 0 || yk_rconn_append_raw(w->redis, soldout_cmds.p, soldout_cmds.len) != 0) {
        count = 0; /* out of memory: they are answered with the batch */
        k = 0;
    }
    if (answer_replies(w, c, tag, count, "early answers") != 0) {
        st = WORKER_REDIS_LOST; /* nothing committed yet: the batch is replayed */
        k = 0;
    }
    for (size_t i = 0, j = 0; i < n && j < k; i++)
        if (soldout_early(&v[i])) {
            v[i].early = true;
            j++;
        }
    free(c);
    free(tag);
    if (soldout_cmds.cap > ((size_t)4 << 20))
        yk_buf_free(&soldout_cmds);
    return st;
}
