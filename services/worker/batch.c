/* batch: one batch of request entries from XREADGROUP to XACK. Decisions (reservations and
 * cancellations alike) are made in memory in stream order against the partition's cached state;
 * PostgreSQL is asked only to load that state and the bookings that cancellations name, and to
 * store the outcome (one transaction, one round trip). Nothing is acked before its answer is out;
 * an entry that keeps failing is answered 500 after WORKER_ATTEMPTS tries. */
#include "batch.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yk_buf.h"
#include "metrics.h"
#include "partitions.h"
#include "persist.h"
#include "reply.h"
#include "yk_log.h"
#include "yk_text.h"
#include "yk_token.h"

typedef enum {
    E_NEW,    /* valid, not decided yet */
    E_ACCEPT, /* decided yes (counted in memory); waits for the insert */
    E_CANCEL, /* cancel decided yes (seat freed in memory, or by an earlier entry of this batch);
                 waits for the commit */
    E_DUP,    /* accepted but the insert found its request id already committed */
    E_ANSWER, /* code and body are final */
    E_ACK,    /* nothing to answer (deleted or unanswerable entry): only ack it */
    E_RETRY,  /* not decided (transient error): left pending, replayed at the next tick */
} entry_state;

typedef struct {
    unsigned p;
    entry_state st;
    /* Borrowed from the XREADGROUP reply, which outlives the batch; NULL when absent. */
    const char *sid, *rid, *ing, *type, *email, *ident, *tok, *fields_s, *dl_s, *ev_s, *slot_s;
    const char *idem; /* "1" when the request carries an Idempotency-Key */
    const char *booking_s, *th; /* t=cancel: the booking id and the presented token's hash */
    bool cancel;                /* t=cancel; else t=reserve */
    int64_t dl, ev, slot, booking; /* a cancel's slot is its booking's, once decided; dl: the
                                      ingress's deadline (Unix ms), 0 when unknown */
    size_t fields_len;     /* strlen(fields_s), once yk_buf_fields_ok accepted it */
    persist_event *e;      /* borrowed from w->parts[p]; valid until that partition is forgotten */
    persist_slot *s;       /* idem */
    bool touched;          /* decided against s: publish its seats */
    bool effect;           /* E_CANCEL: this entry frees the seat (not an earlier one) */
    bool committed;        /* E_CANCEL: the booking is cancelled in PostgreSQL now */
    int row;               /* cancel: row of its booking in the batch's booking rows, or -1 */
    const char *result;    /* yoyaku_bookings_total label: a literal */
    int code;              /* E_ANSWER: HTTP status */
    size_t body_at;        /* E_ANSWER: offset of the body in batch_bodies */
    char *body;            /* E_ANSWER: the body, borrowed from batch_bodies; set only by
                              batch_bodies_fix, right before batch_answer */
    bool inserted;         /* the insert returned its row: texts at row_at in batch_rows */
    size_t row_at;         /* booking id '\0' created_at '\0' */
} entry;

/* The texts a batch writes, in buffers reused from batch to batch (this process runs one batch at
 * a time, on one thread): every answer body, each followed by '\0' (entries keep offsets, as the
 * buffer moves when it grows); the booking id and created_at of each inserted row; the JSON
 * payloads of the two write statements. 1 GiB - 1 is PostgreSQL's largest text parameter; an
 * answer that does not fit is left for a retry (batch_answer_end). */
#define BATCH_TEXT_MAX (((size_t)1 << 30) - 1)
#define BATCH_TEXT_KEEP ((size_t)4 << 20) /* a buffer grown past this is freed after its batch */
static yk_buf batch_bodies = YK_BUF_INIT(BATCH_TEXT_MAX);
static yk_buf batch_rows = YK_BUF_INIT(BATCH_TEXT_MAX);
static yk_buf batch_cancels = YK_BUF_INIT(BATCH_TEXT_MAX);
static persist_rows batch_inserts;
/* The XREADGROUP reply of the running batch: tens of strings per entry, freed all at once. */
static reply_arena batch_replies;

/* Ends the answer body begun at offset `at` of batch_bodies: the entry's final answer, or, if
 * the body did not fit (memory, cap), nothing written and the entry left for a retry. */
static void entry_answer_end(entry *en, int code, size_t at)
{
    yk_buf_addc(&batch_bodies, '\0');
    if (batch_bodies.failed) {
        yk_buf_rewind(&batch_bodies, at);
        en->st = E_RETRY;
        return;
    }
    en->code = code;
    en->body_at = at;
    en->st = E_ANSWER;
}

/* error is a literal: it is also the entry's metrics result. */
static void entry_refuse(entry *en, int code, const char *error, const char *message)
{
    size_t at = batch_bodies.len;
    yk_buf_adds(&batch_bodies, "{\"error\":");
    yk_buf_str(&batch_bodies, error);
    yk_buf_adds(&batch_bodies, ",\"message\":");
    yk_buf_str(&batch_bodies, message);
    yk_buf_addc(&batch_bodies, '}');
    entry_answer_end(en, code, at);
    en->result = error;
}

/* Appends the booking object of every answer to b (keys in the order of the contract). fields is
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
    yk_buf_addc(b, '}');
}

/* Appends the 201 body, {"booking":{…},"token":tok}, to batch_bodies; arguments as booking_obj. */
static void booking_answer(entry *en, const char *id, const char *slug, const char *slot_id,
                           const char *starts, const char *ends, const char *status,
                           const char *email, const char *fields, size_t fields_len, bool from_db,
                           const char *created)
{
    size_t at = batch_bodies.len;
    yk_buf_adds(&batch_bodies, "{\"booking\":");
    booking_obj(&batch_bodies, id, slug, slot_id, starts, ends, status, email, fields, fields_len,
                from_db, created);
    yk_buf_adds(&batch_bodies, ",\"token\":");
    yk_buf_str(&batch_bodies, en->tok);
    yk_buf_addc(&batch_bodies, '}');
    entry_answer_end(en, 201, at);
}

/* Points every answered entry's body into batch_bodies, which no longer moves. */
static void batch_bodies_fix(entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i].body = v[i].st == E_ANSWER ? batch_bodies.p + v[i].body_at : NULL;
}

/* Lowercase hex of exactly len digits. */
static bool is_hex(const char *s, size_t len)
{
    size_t i = 0;
    for (; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return i == len;
}

static bool is_token(const char *s)
{
    size_t i = 0;
    for (; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-' || s[i] == '_'))
            return false;
    return i == YK_TOKEN_LEN;
}

/* Strict positive decimal (ids and sequence numbers). */
static bool parse_id(const char *s, int64_t *out)
{
    int64_t v = 0;
    size_t i = 0;
    for (; s && s[i] >= '0' && s[i] <= '9' && i < 18; i++)
        v = v * 10 + (s[i] - '0');
    *out = v;
    return s && i > 0 && s[i] == '\0' && v > 0;
}

static bool is_text(const char *s)
{
    return s && *s && yk_text_valid_utf8(s, strlen(s));
}

/* The entry fields the worker reads, by name: each sets one string of the entry. */
static const struct {
    const char *name;
    size_t len, off;
} entry_names[] = {
#define NAME(s, field) {s, sizeof s - 1, offsetof(entry, field)}
    NAME("id", rid),          NAME("ing", ing),          NAME("t", type),  NAME("email", email),
    NAME("ident", ident),     NAME("tok", tok),          NAME("fields", fields_s),
    NAME("dl", dl_s),         NAME("ev", ev_s),          NAME("idem", idem),
    NAME("slot", slot_s),     NAME("booking", booking_s), NAME("th", th),
#undef NAME
};

/* Sets the field called name[0..len) of en to value (borrowed); unknown names are ignored. */
static void entry_set(entry *en, const char *name, size_t len, const char *value)
{
    for (size_t j = 0; j < sizeof entry_names / sizeof entry_names[0]; j++)
        if (len == entry_names[j].len && memcmp(name, entry_names[j].name, len) == 0) {
            *(const char **)((char *)en + entry_names[j].off) = value;
            return;
        }
}

/* Sets the fields of a header value "name=value name=value …" (proto/streams.md: the entry's
 * short fields in one stream field, which costs Redis less than one field each), cutting it into
 * NUL-terminated values in place: the reply arena is the batch's own. */
static void entry_header(entry *en, char *h)
{
    while (*h) {
        char *end = strchr(h, ' '), *eq;
        if (end)
            *end = '\0';
        if ((eq = strchr(h, '=')) != NULL)
            entry_set(en, h, (size_t)(eq - h), eq + 1);
        if (end == NULL)
            break;
        h = end + 1;
    }
}

/* Fills en from one stream entry [id, [field, value, …]] of partition p. */
static void entry_parse(entry *en, unsigned p, const redisReply *x)
{
    en->p = p;
    en->st = E_ACK;
    if (x->type != REDIS_REPLY_ARRAY || x->elements != 2 ||
        x->element[0]->type != REDIS_REPLY_STRING) {
        yk_error("partition=%u: malformed stream entry", p);
        return;
    }
    en->sid = x->element[0]->str;
    const redisReply *f = x->element[1];
    if (f->type != REDIS_REPLY_ARRAY)
        return; /* a pending entry that was deleted: nothing left to answer */
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        /* A value with an embedded NUL is treated as absent, hence malformed. */
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
            strlen(v->str) != v->len)
            continue;
        if (k->len == 1 && k->str[0] == 'h')
            entry_header(en, v->str);
        else
            entry_set(en, k->str, k->len, v->str);
    }
    if (en->dl_s && !parse_id(en->dl_s, &en->dl))
        en->dl = 0;
    if (en->rid == NULL || !is_hex(en->rid, YK_REQUEST_ID_LEN)) {
        yk_error("partition=%u entry=%s: no valid request id, dropped", p, en->sid);
        return;
    }
    en->row = -1;
    en->cancel = en->type && strcmp(en->type, "cancel") == 0;
    if (en->cancel) {
        if (!en->ing || !*en->ing || !parse_id(en->ev_s, &en->ev) ||
            !parse_id(en->booking_s, &en->booking) || !en->th ||
            !is_hex(en->th, YK_HASH_HEX_LEN)) {
            yk_error("request=%s: malformed cancel entry", en->rid);
            entry_refuse(en, 500, "internal", "The request could not be processed.");
            return;
        }
        en->st = E_NEW;
        return;
    }
    if (en->type == NULL || strcmp(en->type, "reserve") != 0) {
        yk_error("request=%s: unsupported entry type %s", en->rid, en->type ? en->type : "-");
        entry_refuse(en, 500, "internal", "This kind of request is not supported.");
        return;
    }
    /* The fields text is copied verbatim into the answer and the insert payload, so it must be
     * exactly what the ingress writes: one bad entry must get its own 500, not make PostgreSQL
     * refuse the payload of the whole batch. */
    en->fields_len = en->fields_s ? strlen(en->fields_s) : 0;
    if (!en->ing || !*en->ing || !parse_id(en->ev_s, &en->ev) ||
        !parse_id(en->slot_s, &en->slot) || !is_text(en->email) || !is_text(en->ident) ||
        !en->tok || !is_token(en->tok) || !yk_buf_fields_ok(en->fields_s, en->fields_len)) {
        yk_error("request=%s: malformed entry", en->rid);
        entry_refuse(en, 500, "internal", "The request could not be processed.");
        return;
    }
    en->st = E_NEW;
}

/* Finds (loading on first use) event ev and its slot in partition p. 1 found, 0 not found (no
 * such event, or the slot is not the event's), -1 error. */
static int batch_lookup(worker *w, unsigned p, int64_t ev, int64_t slot, persist_event **e,
                        persist_slot **s)
{
    worker_part *part = &w->parts[p];
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)ev);
    *e = map_get(&part->events, key);
    if (*e == NULL) {
        int r = persist_event_load(w->pg, ev, &part->scopes, e);
        if (r <= 0)
            return r;
        void **ref = map_ref(&part->events, key);
        if (ref == NULL) {
            persist_event_free(*e);
            return -1;
        }
        *ref = *e;
    }
    snprintf(key, sizeof key, "%lld", (long long)slot);
    *s = map_get(&(*e)->slots, key);
    return *s ? 1 : persist_slot_load(w->pg, *e, slot, s); /* a slot added since the load */
}

static worker_status entry_decide(worker *w, entry *en)
{
    int r = batch_lookup(w, en->p, en->ev, en->slot, &en->e, &en->s);
    if (r < 0) {
        en->st = E_RETRY;
        return persist_lost(w->pg) ? WORKER_PG_LOST : WORKER_OK;
    }
    if (r == 0) {
        entry_refuse(en, 404, "not_found", "Not found.");
        return WORKER_OK;
    }
    en->touched = true;
    if (en->s->booked >= en->s->capacity) {
        entry_refuse(en, 409, "slot_full", "This slot is full.");
        return WORKER_OK;
    }
    void **count = map_ref(en->e->counts, en->ident);
    if (count == NULL) {
        en->st = E_RETRY;
        return WORKER_OK;
    }
    if ((intptr_t)*count >= en->e->limit) {
        entry_refuse(en, 409, "already_booked",
                     "You already hold the maximum number of bookings for this event.");
        return WORKER_OK;
    }
    en->s->booked++;
    *count = (void *)((intptr_t)*count + 1);
    en->st = E_ACCEPT;
    return WORKER_OK;
}

/* The bookings named by the batch's cancel entries, read before deciding. Columns as
 * persist_bookings. gone[row] is set when an entry of this batch cancels that booking. */
typedef struct {
    PGresult *r; /* owned; NULL when the batch has no cancel entry */
    map index;   /* booking id → row + 1 */
    bool *gone;
} batch_bookings;

static void batch_bookings_free(batch_bookings *bk)
{
    PQclear(bk->r);
    map_clear(&bk->index, NULL);
    free(bk->gone);
}

/* Loads the bookings of every undecided cancel entry in one query. A failure leaves those
 * entries for a retry. */
static worker_status batch_bookings_load(worker *w, entry *v, size_t n, batch_bookings *bk)
{
    const char **ids = NULL;
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].cancel || v[i].st != E_NEW)
            continue;
        if (ids == NULL && (ids = malloc(n * sizeof *ids)) == NULL)
            break;
        ids[m++] = v[i].booking_s;
    }
    PGresult *r = m ? persist_bookings(w->pg, ids, m) : NULL;
    free(ids);
    int rows = r ? PQntuples(r) : 0;
    bk->r = r;
    bk->gone = r ? calloc((size_t)rows + 1, sizeof *bk->gone) : NULL;
    for (int i = 0; bk->gone && i < rows; i++) {
        void **ref = map_ref(&bk->index, PQgetvalue(r, i, 0));
        if (ref == NULL) {
            free(bk->gone);
            bk->gone = NULL;
        } else {
            *ref = (void *)(intptr_t)(i + 1);
        }
    }
    if (m == 0 || bk->gone)
        return WORKER_OK;
    for (size_t i = 0; i < n; i++) /* query failed or out of memory: decide them next time */
        if (v[i].cancel && v[i].st == E_NEW)
            v[i].st = E_RETRY;
    return persist_lost(w->pg) ? WORKER_PG_LOST : WORKER_OK;
}

/* Answers en 200 {"booking": …} (status cancelled), from row of the booking rows. */
static void cancel_answer(entry *en, const batch_bookings *bk, int row)
{
    PGresult *r = bk->r;
    size_t at = batch_bodies.len;
    yk_buf_adds(&batch_bodies, "{\"booking\":");
    booking_obj(&batch_bodies, PQgetvalue(r, row, 0), PQgetvalue(r, row, 9), PQgetvalue(r, row, 2),
                PQgetvalue(r, row, 10), PQgetvalue(r, row, 11), "cancelled", PQgetvalue(r, row, 6),
                PQgetvalue(r, row, 7), 0, true, PQgetvalue(r, row, 8));
    yk_buf_addc(&batch_bodies, '}');
    entry_answer_end(en, 200, at);
}

/* Decides a cancel entry in stream order: the booking must be this event's and the token hash
 * its own (else 404, the same answer for both); a booking cancelled already is answered as it is;
 * otherwise the seat and the identity's count are freed in memory at once, so the entries after
 * this one may take them. */
static worker_status entry_cancel(worker *w, entry *en, batch_bookings *bk)
{
    PGresult *r = bk->r;
    int row = (int)(intptr_t)map_get(&bk->index, en->booking_s) - 1;
    const char *th = row >= 0 ? PQgetvalue(r, row, 4) : "";
    if (row < 0 || strtoll(PQgetvalue(r, row, 1), NULL, 10) != en->ev ||
        strlen(th) != strlen(en->th) || !yk_token_equal(th, en->th)) {
        entry_refuse(en, 404, "not_found", "No such booking, or another booking's token.");
        return WORKER_OK;
    }
    en->row = row;
    const char *status = PQgetvalue(r, row, 3);
    if (bk->gone[row]) { /* an earlier entry of this batch cancels it: answer with that one */
        en->st = E_CANCEL;
        return WORKER_OK;
    }
    if (strcmp(status, "cancelled") == 0) {
        cancel_answer(en, bk, row);
        en->result = "already_cancelled";
        return WORKER_OK;
    }
    if (strcmp(status, "confirmed") != 0 || PQgetvalue(r, row, 12)[0] == 't') {
        entry_refuse(en, 409, "cancellation_closed",
                     strcmp(status, "confirmed") != 0
                         ? "This booking can no longer be cancelled."
                         : "The cancellation deadline for this booking has passed.");
        return WORKER_OK;
    }
    en->slot = strtoll(PQgetvalue(r, row, 2), NULL, 10);
    int found = batch_lookup(w, en->p, en->ev, en->slot, &en->e, &en->s);
    if (found < 0) {
        en->st = E_RETRY;
        return persist_lost(w->pg) ? WORKER_PG_LOST : WORKER_OK;
    }
    void **count = found ? map_ref(en->e->counts, PQgetvalue(r, row, 5)) : NULL;
    if (count == NULL) { /* out of memory, or the slot vanished from its event: try again */
        en->st = E_RETRY;
        return WORKER_OK;
    }
    if ((intptr_t)*count > 0)
        *count = (void *)((intptr_t)*count - 1);
    if (en->s->booked > 0)
        en->s->booked--;
    en->touched = true;
    en->effect = true;
    bk->gone[row] = true;
    en->st = E_CANCEL;
    return WORKER_OK;
}

/* Only reservations can be committed under their own request id. */
static bool want_new(const entry *en)
{
    return en->st == E_NEW && !en->cancel;
}

static bool want_dup(const entry *en)
{
    return en->st == E_DUP;
}

/* A refusal may be for a request that is itself committed (the same request id added to the
 * stream twice): its first answer stands. */
static bool want_refused(const entry *en)
{
    return en->st == E_ANSWER && en->code == 409 && !en->cancel;
}

/* Answers from PostgreSQL every entry picked by want whose request id is already committed;
 * the others keep their state. */
static worker_status batch_from_db(worker *w, entry *v, size_t n, bool (*want)(const entry *))
{
    const char **rids = malloc(n * sizeof *rids);
    int m = 0;
    for (size_t i = 0; rids && i < n; i++)
        if (want(&v[i]))
            rids[m++] = v[i].rid;
    if (rids == NULL || m == 0) {
        free(rids);
        return WORKER_OK; /* nothing to look up (or out of memory: the insert still never books
                             a request id twice) */
    }
    PGresult *r = persist_lookup(w->pg, rids, m);
    free(rids);
    if (r == NULL)
        return persist_lost(w->pg) ? WORKER_PG_LOST : WORKER_OK;
    map rows = MAP_INIT; /* request id → row + 1 */
    for (int i = 0; i < PQntuples(r); i++) {
        void **ref = map_ref(&rows, PQgetvalue(r, i, 0));
        if (ref)
            *ref = (void *)(intptr_t)(i + 1);
    }
    for (size_t i = 0; i < n; i++) {
        entry *en = &v[i];
        int row = want(en) ? (int)(intptr_t)map_get(&rows, en->rid) - 1 : -1;
        if (row < 0)
            continue;
        booking_answer(en, PQgetvalue(r, row, 1), PQgetvalue(r, row, 7), PQgetvalue(r, row, 2),
                       PQgetvalue(r, row, 8), PQgetvalue(r, row, 9), PQgetvalue(r, row, 3),
                       PQgetvalue(r, row, 4), PQgetvalue(r, row, 5), 0, true,
                       PQgetvalue(r, row, 6));
        en->result = "duplicate";
        yk_info("request=%s answered from the database (booking %s)", en->rid,
                PQgetvalue(r, row, 1));
    }
    map_clear(&rows, NULL);
    PQclear(r);
    return WORKER_OK;
}

/* Copies the inserted rows (request_id, id, created_at) into the accepted entries they belong to.
 * Takes nothing: r stays the caller's to PQclear. */
static void batch_take_rows(entry *v, size_t n, PGresult *r)
{
    map index = MAP_INIT; /* request id → entry index + 1; the first of duplicates wins */
    for (size_t i = 0; i < n; i++) {
        void **ref = v[i].st == E_ACCEPT && !v[i].inserted ? map_ref(&index, v[i].rid) : NULL;
        if (ref && *ref == NULL)
            *ref = (void *)(i + 1);
    }
    for (int row = 0; row < PQntuples(r); row++) {
        size_t i = (size_t)map_get(&index, PQgetvalue(r, row, 0));
        if (i-- == 0)
            continue;
        size_t at = batch_rows.len;
        yk_buf_add(&batch_rows, PQgetvalue(r, row, 1), (size_t)PQgetlength(r, row, 1) + 1);
        yk_buf_add(&batch_rows, PQgetvalue(r, row, 2), (size_t)PQgetlength(r, row, 2) + 1);
        if (batch_rows.failed) { /* out of memory: looked up in PostgreSQL instead (E_DUP) */
            yk_buf_rewind(&batch_rows, at);
            continue;
        }
        v[i].inserted = true;
        v[i].row_at = at;
    }
    map_clear(&index, NULL);
}

/* Appends the cancel record of an entry that frees a seat to b (th is hex). */
static void entry_cancel_record(yk_buf *b, const entry *en)
{
    yk_buf_adds(b, "{\"bid\":");
    yk_buf_int(b, en->booking);
    yk_buf_adds(b, ",\"ev\":");
    yk_buf_int(b, en->ev);
    yk_buf_adds(b, ",\"th\":\"");
    yk_buf_adds(b, en->th);
    yk_buf_adds(b, "\"}");
}

/* Marks committed every cancel entry whose booking id is in r (one column: booking id). */
static void batch_take_cancelled(entry *v, size_t n, PGresult *r)
{
    map ids = MAP_INIT;
    for (int row = 0; row < PQntuples(r); row++) {
        void **ref = map_ref(&ids, PQgetvalue(r, row, 0));
        if (ref)
            *ref = (void *)1;
    }
    for (size_t i = 0; i < n; i++)
        if (v[i].st == E_CANCEL && map_get(&ids, v[i].booking_s))
            v[i].committed = true;
    map_clear(&ids, NULL);
}

/* The JSON array of the cancel records of entries v[0..n) that free a seat (only `only` when
 * not NULL), written into b (emptied first), or NULL when there is none (*oom set when it did not
 * fit). Valid until b's next use. */
static const char *batch_cancel_records(yk_buf *b, entry *v, size_t n, const entry *only, bool *oom)
{
    yk_buf_reset(b);
    for (size_t i = 0; i < n; i++) {
        if (v[i].st != E_CANCEL || (only && &v[i] != only) || !v[i].effect)
            continue;
        yk_buf_addc(b, b->len ? ',' : '[');
        entry_cancel_record(b, &v[i]);
    }
    if (b->len == 0) {
        *oom = b->failed; /* not even the first record fitted */
        return NULL;
    }
    yk_buf_add(b, "]", 2); /* with the terminating NUL */
    *oom = b->failed;
    return b->failed ? NULL : b->p;
}

/* The rows to insert for the accepted entries of v[0..n) (only `only` when not NULL), in
 * batch_inserts, or NULL when there is none (*oom set when they did not fit). */
static persist_rows *batch_insert_rows(entry *v, size_t n, const entry *only, bool *oom)
{
    persist_rows_reset(&batch_inserts, BATCH_TEXT_MAX);
    for (size_t i = 0; i < n; i++) {
        const entry *en = &v[i];
        if (en->st != E_ACCEPT || (only && en != only))
            continue;
        char th[YK_HASH_HEX_LEN + 1];
        yk_token_sha256_hex(en->tok, strlen(en->tok), th);
        persist_rows_add(&batch_inserts, en->rid, en->ev, en->slot, en->email, en->ident,
                         en->fields_s, en->fields_len, th, en->e->limit == 1);
    }
    *oom = persist_rows_failed(&batch_inserts);
    return batch_inserts.n && !*oom ? &batch_inserts : NULL;
}

/* Writes, in one transaction, the cancellations (if cancels) and the bookings (if inserts) of
 * every decided entry, or of `only` alone when it is not NULL (fresh: as persist_write). 1 done
 * (rows taken), 0 refused by PostgreSQL or nothing to do (*state set), -1 session lost. */
static int batch_write(worker *w, entry *v, size_t n, const entry *only, bool cancels,
                       bool inserts, bool fresh, char state[6])
{
    bool oom_c = false, oom_i = false;
    const char *cj = cancels ? batch_cancel_records(&batch_cancels, v, n, only, &oom_c) : NULL;
    persist_rows *ij = inserts ? batch_insert_rows(v, n, only, &oom_i) : NULL;
    int r = 0;
    snprintf(state, 6, "%s", oom_c || oom_i ? "OOM" : "");
    if (!oom_c && !oom_i && (cj || ij)) {
        PGresult *cr, *ir;
        r = persist_write(w->pg, cj, ij, fresh, &cr, &ir, state);
        if (r == 1) {
            if (cr)
                batch_take_cancelled(v, n, cr);
            if (ir)
                batch_take_rows(v, n, ir);
            PQclear(cr);
            PQclear(ir);
        }
    }
    return r;
}

static double batch_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Stores every decided cancellation and booking in one transaction (fresh: the entries were read
 * for the first time; a request id among them that is committed already makes the cheaper write
 * fail, and the batch is written again the ordinary way). A batch refused by PostgreSQL (the
 * in-memory decision was wrong, which should never happen, or an entry hits a persistent error)
 * is retried entry by entry so one bad entry cannot block the stream: cancellations first, as in
 * the stream's effect on seats, then the bookings together, then one by one. */
static worker_status batch_persist(worker *w, entry *v, size_t n, bool fresh, bool *stale)
{
    size_t accepted = 0, cancels = 0;
    for (size_t i = 0; i < n; i++) {
        accepted += v[i].st == E_ACCEPT;
        cancels += v[i].st == E_CANCEL && v[i].effect;
    }
    if (accepted == 0 && cancels == 0)
        return WORKER_OK;
    double t0 = batch_now();
    char state[6];
    int r = batch_write(w, v, n, NULL, true, true, fresh && accepted, state);
    if (r == 0 && fresh && accepted && strcmp(state, "23505") == 0) {
        yk_info("a request id of the batch is committed already: batch written again");
        r = batch_write(w, v, n, NULL, true, true, false, state);
    }
    if (r < 0)
        return WORKER_PG_LOST;
    if (r == 0) {
        yk_error("batch of %zu bookings and %zu cancellations refused (sqlstate %s): retrying "
                 "one by one", accepted, cancels, state);
        for (size_t i = 0; i < n; i++) {
            if (v[i].st != E_CANCEL || !v[i].effect)
                continue;
            stale[v[i].p] = true;
            if ((r = batch_write(w, v, n, &v[i], true, false, false, state)) < 0)
                return WORKER_PG_LOST;
            if (r == 0)
                yk_error("request=%s: cancellation refused by PostgreSQL (sqlstate %s)", v[i].rid,
                         state);
        }
        r = accepted ? batch_write(w, v, n, NULL, false, true, false, state) : 1;
        if (r < 0)
            return WORKER_PG_LOST;
    }
    if (r == 0) {
        for (size_t i = 0; i < n; i++) {
            if (v[i].st != E_ACCEPT)
                continue;
            stale[v[i].p] = true; /* memory counted what PostgreSQL may now refuse */
            r = batch_write(w, v, n, &v[i], false, true, false, state);
            if (r < 0)
                return WORKER_PG_LOST;
            if (r == 1)
                continue;
            if (strcmp(state, "23514") == 0) /* check_violation: booked > capacity */
                entry_refuse(&v[i], 409, "slot_full", "This slot is full.");
            else if (strcmp(state, "23505") == 0) /* unique: one active booking per identity */
                entry_refuse(&v[i], 409, "already_booked",
                             "You already hold the maximum number of bookings for this event.");
            else
                v[i].st = E_RETRY;
            yk_error("request=%s refused by PostgreSQL (sqlstate %s)", v[i].rid, state);
        }
    }
    metrics_commit(batch_now() - t0);
    return WORKER_OK;
}

/* Turns the outcome of the write into answers: 201 for inserted bookings (those whose request id
 * was committed before are looked up), 200 for committed cancellations. Whatever PostgreSQL did
 * not take is retried, and its partition's memory reread. */
static worker_status batch_settle(worker *w, entry *v, size_t n, const batch_bookings *bk,
                                  bool *stale)
{
    for (size_t i = 0; i < n; i++) {
        entry *en = &v[i];
        if (en->st == E_CANCEL) {
            if (!en->committed) { /* its state changed meanwhile: decide it again */
                stale[en->p] |= en->effect;
                en->st = E_RETRY;
                continue;
            }
            cancel_answer(en, bk, en->row);
            en->result = en->effect ? "cancelled" : "already_cancelled";
            if (en->effect)
                yk_debug("request=%s cancelled id=%s event=%s", en->rid, en->booking_s,
                         en->e->slug);
            continue;
        }
        if (en->st != E_ACCEPT)
            continue;
        if (!en->inserted) { /* request id already committed: memory counted it twice */
            en->st = E_DUP;
            stale[en->p] = true;
            continue;
        }
        char slot[24];
        snprintf(slot, sizeof slot, "%lld", (long long)en->s->id);
        const char *bid = batch_rows.p + en->row_at, *created = bid + strlen(bid) + 1;
        booking_answer(en, bid, en->e->slug, slot, en->s->starts_at, en->s->ends_at, "confirmed",
                       en->email, en->fields_s, en->fields_len, false, created);
        en->result = "confirmed";
        yk_debug("request=%s booked id=%s event=%s slot=%s", en->rid, bid, en->e->slug, slot);
    }
    worker_status st = batch_from_db(w, v, n, want_dup);
    for (size_t i = 0; i < n; i++)
        if (v[i].st == E_DUP)
            v[i].st = E_RETRY; /* neither inserted nor found: should not happen, try again */
    return st;
}

/* Appends one command for the rare second round of the answer pipeline (hiredis encodes it). */
static void batch_cmd(worker *w, int *count, int argc, const char **argv)
{
    if (redisAppendCommandArgv(w->redis, argc, argv, NULL) == REDIS_OK)
        (*count)++;
}

/* How long an answer stays in yk:res:<id>. YOYAKU_RESULT_TTL (ttl) when someone may ask for it
 * later: a request with an Idempotency-Key (retried), or one decided within a second of its
 * ingress's deadline (the entry's `dl`) or after it, which is answered 202 (polled) even when
 * Redis could not take the pending marker then. Otherwise nobody asks for it but the waiting
 * ingress, which reads yk:res at its deadline if the pub/sub reply went missing: until then
 * plus a margin for a stalled loop and clock skew, never more than ANSWER_HOLD_MAX_S (twice the
 * largest YOYAKU_WAIT_MS, 60 s, for entries without `dl`). A rush leaves seconds of answers in
 * Redis, not minutes. An answer that replaces a pending marker gets the TTL as well, by the
 * EXPIRE that batch_answer sends when its SET returns an old value (proto/streams.md). */
#define ANSWER_HOLD_MARGIN_S 10
#define ANSWER_HOLD_MAX_S 120

static int64_t answer_hold_s(const entry *en, int64_t now_ms, int64_t ttl)
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

/* The answer pipeline of a batch, RESP encoded by hand (hiredis's encoder, one sdscatfmt per
 * argument, was a third of the worker's instructions per entry), and the reply message being
 * built for one ingress. Reused from batch to batch like the buffers above. */
static yk_buf batch_cmds = YK_BUF_INIT(BATCH_TEXT_MAX);
static yk_buf batch_msg = YK_BUF_INIT(BATCH_TEXT_MAX);

static void resp_head(yk_buf *b, char kind, size_t n)
{
    yk_buf_addc(b, kind);
    yk_buf_int(b, (int64_t)n);
    yk_buf_add(b, "\r\n", 2);
}

static void resp_arg(yk_buf *b, const char *s, size_t n)
{
    resp_head(b, '$', n);
    yk_buf_add(b, s, n);
    yk_buf_add(b, "\r\n", 2);
}

static void resp_args(yk_buf *b, int argc, const char *const *argv)
{
    resp_head(b, '*', (size_t)argc);
    for (int i = 0; i < argc; i++)
        resp_arg(b, argv[i], strlen(argv[i]));
}

/* One touched slot's seats left, for the seat messages. */
typedef struct {
    int64_t ev, slot;
    int left;
} batch_seat;

static int seat_cmp(const void *a, const void *b)
{
    const batch_seat *x = a, *y = b;
    return x->ev != y->ev ? (x->ev < y->ev ? -1 : 1) : (x->slot > y->slot) - (x->slot < y->slot);
}

/* Collects the seats left of every slot the batch touched, sorted by event then slot, one each.
 * *m = how many; NULL with *m = 0 when none. -1 in *m: the PostgreSQL session was lost. */
static batch_seat *batch_seats(worker *w, entry *v, size_t n, size_t *m)
{
    *m = 0;
    batch_seat *seats = malloc(n * sizeof *seats);
    for (size_t i = 0; seats && i < n; i++) {
        if (!v[i].touched)
            continue;
        persist_event *e;
        persist_slot *s;
        int r = batch_lookup(w, v[i].p, v[i].ev, v[i].slot, &e, &s); /* reloads if forgotten */
        if (r < 0 && persist_lost(w->pg)) {
            free(seats);
            *m = (size_t)-1;
            return NULL;
        }
        if (r > 0)
            seats[(*m)++] = (batch_seat){v[i].ev, v[i].slot,
                                         s->capacity > s->booked ? s->capacity - s->booked : 0};
    }
    if (seats == NULL || *m == 0) {
        free(seats);
        *m = 0;
        return NULL;
    }
    qsort(seats, *m, sizeof *seats, seat_cmp);
    size_t k = 0;
    for (size_t i = 0; i < *m; i++)
        if (k == 0 || seat_cmp(&seats[k - 1], &seats[i]) != 0)
            seats[k++] = seats[i];
    *m = k;
    return seats;
}

/* Appends the seat commands: one HSET yk:remaining:<event> per event, one PUBLISH on yk:events
 * with every slot's triple. Returns the number of commands. */
static int batch_seat_cmds(yk_buf *b, const batch_seat *seats, size_t m)
{
    int count = 0;
    char key[48];
    for (size_t i = 0, j; i < m; i = j) {
        for (j = i; j < m && seats[j].ev == seats[i].ev; j++)
            ;
        resp_head(b, '*', 2 + 2 * (j - i));
        resp_arg(b, "HSET", 4);
        resp_arg(b, key, (size_t)snprintf(key, sizeof key, "yk:remaining:%lld",
                                          (long long)seats[i].ev));
        for (size_t k = i; k < j; k++) {
            char f[24], l[16];
            resp_arg(b, f, (size_t)snprintf(f, sizeof f, "%lld", (long long)seats[k].slot));
            resp_arg(b, l, (size_t)snprintf(l, sizeof l, "%d", seats[k].left));
        }
        count++;
    }
    yk_buf_reset(&batch_msg);
    yk_buf_adds(&batch_msg, "remaining");
    for (size_t i = 0; i < m; i++) {
        yk_buf_addc(&batch_msg, ' ');
        yk_buf_int(&batch_msg, seats[i].ev);
        yk_buf_addc(&batch_msg, ' ');
        yk_buf_int(&batch_msg, seats[i].slot);
        yk_buf_addc(&batch_msg, ' ');
        yk_buf_int(&batch_msg, seats[i].left);
    }
    resp_head(b, '*', 3);
    resp_arg(b, "PUBLISH", 7);
    resp_arg(b, "yk:events", 9);
    resp_arg(b, batch_msg.p, batch_msg.len);
    return count + 1;
}

/* Appends "<code> <body>" as one bulk string. */
static void resp_answer(yk_buf *b, const entry *en)
{
    char code[16];
    size_t cl = (size_t)snprintf(code, sizeof code, "%d ", en->code), bl = strlen(en->body);
    resp_head(b, '$', cl + bl);
    yk_buf_add(b, code, cl);
    yk_buf_add(b, en->body, bl);
    yk_buf_add(b, "\r\n", 2);
}

/* Appends one PUBLISH yk:rep:<ing> per ingress that waits for answers of this batch, each with
 * one line "<request id> <code> <body>" per answer (compact JSON holds no newline). Returns the
 * number of commands. */
static int batch_reply_cmds(yk_buf *b, entry *v, size_t n)
{
    int count = 0;
    bool *sent = calloc(n, sizeof *sent);
    for (size_t i = 0; i < n; i++) {
        if (v[i].st != E_ANSWER || v[i].ing == NULL || (sent && sent[i]))
            continue;
        yk_buf_reset(&batch_msg);
        for (size_t j = i; j < n; j++) {
            if (v[j].st != E_ANSWER || v[j].ing == NULL || (sent && sent[j]) ||
                (j != i && (sent == NULL || strcmp(v[j].ing, v[i].ing) != 0)))
                continue;
            if (sent)
                sent[j] = true;
            if (batch_msg.len)
                yk_buf_addc(&batch_msg, '\n');
            yk_buf_adds(&batch_msg, v[j].rid);
            yk_buf_addc(&batch_msg, ' ');
            yk_buf_int(&batch_msg, v[j].code);
            yk_buf_addc(&batch_msg, ' ');
            yk_buf_adds(&batch_msg, v[j].body);
        }
        char ch[160];
        int cl = snprintf(ch, sizeof ch, "yk:rep:%s", v[i].ing);
        if (cl >= (int)sizeof ch)
            continue; /* no ingress has such an id: nobody waits */
        resp_head(b, '*', 3);
        resp_arg(b, "PUBLISH", 7);
        resp_arg(b, ch, (size_t)cl);
        resp_arg(b, batch_msg.p, batch_msg.len);
        count++;
    }
    free(sent); /* without it (out of memory) each answer went in a message of its own */
    return count;
}

/* Publishes seats of touched slots, then stores and publishes the answers, then per partition
 * XACK/XDEL/done, in one pipeline. Seats go first so an ingress knows the count before it relays
 * the answer. An answer's SET returns the value it replaced: a pending marker (or an earlier
 * delivery's answer, which may have been given the TTL already) means someone may ask later,
 * and the answer gets the TTL. */
static worker_status batch_answer(worker *w, entry *v, size_t n)
{
    size_t m;
    batch_seat *seats = batch_seats(w, v, n, &m);
    if (m == (size_t)-1)
        return WORKER_PG_LOST;
    /* tag[k] = index of the entry whose answer's SET is command k, else -1. At most one command
     * per event and one per answer, one per ingress (≤ answers), one per partition, one more. */
    int *tag = malloc((3 * n + w->partitions + 2) * sizeof *tag);
    yk_buf *b = &batch_cmds;
    yk_buf_reset(b);
    int count = seats ? batch_seat_cmds(b, seats, m) : 0;
    free(seats);
    for (int k = 0; tag && k < count; k++)
        tag[k] = -1;
    char key[48];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    for (size_t i = 0; tag && i < n; i++) {
        entry *en = &v[i];
        if (en->st != E_ANSWER)
            continue;
        resp_head(b, '*', 6);
        resp_arg(b, "SET", 3);
        resp_arg(b, key, (size_t)snprintf(key, sizeof key, "yk:res:%s", en->rid));
        resp_answer(b, en);
        char hold[24];
        resp_arg(b, "EX", 2);
        resp_arg(b, hold, (size_t)snprintf(hold, sizeof hold, "%lld",
                                           (long long)answer_hold_s(en, now_ms, w->ttl)));
        resp_arg(b, "GET", 3);
        tag[count++] = (int)i;
    }
    for (int k = tag ? batch_reply_cmds(b, v, n) : 0; k > 0; k--)
        tag[count++] = -1;

    const char **ids = malloc((n + 5) * sizeof *ids); /* EVAL, script, 2, stream, done, ids… */
    for (unsigned p = 0; ids && tag && p < w->partitions; p++) {
        int k = 0;
        for (size_t i = 0; i < n; i++)
            if (v[i].p == p && v[i].st != E_RETRY && v[i].sid != NULL)
                ids[5 + k++] = v[i].sid;
        if (k == 0)
            continue;
        char stream[32], done[32];
        partitions_key(p, stream);
        snprintf(done, sizeof done, "yk:done:{%u}", p);
        ids[0] = "EVAL", ids[1] = ACK_LUA, ids[2] = "2", ids[3] = stream, ids[4] = done;
        resp_args(b, 5 + k, ids);
        tag[count++] = -1;
    }
    if (ids == NULL || tag == NULL || b->failed ||
        redisAppendFormattedCommand(w->redis, b->p, b->len) != REDIS_OK) {
        free(ids);
        free(tag);
        for (size_t i = 0; i < n; i++)
            v[i].st = E_RETRY; /* nothing sent: every entry is replayed at the next tick */
        return WORKER_OK;
    }
    free(ids);

    /* EXPIREs are appended while the first replies are read: hiredis sends them with the next
     * read, and their replies come after the rest. */
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%lld", (long long)w->ttl);
    int extra = 0;
    for (int i = 0; i < count + extra; i++) {
        redisReply *r = NULL;
        if (redisGetReply(w->redis, (void **)&r) != REDIS_OK) {
            free(tag);
            return WORKER_REDIS_LOST; /* committed but unanswered: replayed after reconnect */
        }
        if (r->type == REDIS_REPLY_ERROR) {
            yk_error("answer pipeline: %s", r->str);
        } else if (i < count && tag[i] >= 0 && r->type == REDIS_REPLY_STRING) {
            snprintf(key, sizeof key, "yk:res:%s", v[tag[i]].rid);
            batch_cmd(w, &extra, 3, (const char *[]){"EXPIRE", key, ttl});
        }
        freeReplyObject(r);
    }
    free(tag);
    for (size_t i = 0; i < n; i++) {
        entry *en = &v[i];
        if (en->st == E_RETRY)
            continue;
        metrics_result(en->st == E_ANSWER && en->result ? en->result : "malformed");
        if (en->rid && w->parts[en->p].failures.len)
            map_del(&w->parts[en->p].failures, en->rid, NULL);
    }
    return WORKER_OK;
}

/* Counts the failed attempts of entries left for a retry; one that failed WORKER_ATTEMPTS times
 * is answered 500 so that it is acked rather than retried forever. Failures the environment
 * causes (transient: lost connection, resources) are not counted: those entries wait. */
static void batch_failures(worker *w, entry *v, size_t n, bool transient)
{
    for (size_t i = 0; i < n; i++) {
        entry *en = &v[i];
        if (en->st != E_RETRY)
            continue;
        map *f = &w->parts[en->p].failures;
        if (f->len > 100000)
            map_clear(f, NULL); /* entries deleted behind our back: never let the map grow */
        void **ref = map_ref(f, en->rid);
        if (ref == NULL)
            continue;
        intptr_t tries = (intptr_t)*ref + !transient;
        *ref = (void *)tries;
        if (tries < WORKER_ATTEMPTS) {
            yk_warn("request=%s not decided (attempt %d of %d), retried at the next tick",
                    en->rid, (int)tries, WORKER_ATTEMPTS);
            continue;
        }
        yk_error("request=%s failed %d times: answered 500", en->rid, (int)tries);
        entry_refuse(en, 500, "internal", "The request could not be processed.");
    }
}

/* Decides, persists and answers the entries of an XREADGROUP reply ([[key, [entry…]]…]) in
 * batch_replies, which must not be reused meanwhile. replay: the entries may already be
 * committed. */
static worker_status batch_run(worker *w, const redisReply *streams, bool replay)
{
    size_t n = 0;
    for (size_t i = 0; i < streams->elements; i++) {
        const redisReply *s = streams->element[i];
        if (s->type == REDIS_REPLY_ARRAY && s->elements == 2 &&
            s->element[1]->type == REDIS_REPLY_ARRAY)
            n += s->element[1]->elements;
    }
    if (n == 0)
        return WORKER_OK;
    entry *v = calloc(n, sizeof *v);
    bool *stale = calloc(w->partitions, sizeof *stale);
    if (v == NULL || stale == NULL) {
        free(v);
        free(stale);
        return WORKER_OK; /* entries stay pending and are replayed at the next tick */
    }
    yk_buf_reset(&batch_bodies);
    yk_buf_reset(&batch_rows);
    size_t k = 0;
    for (size_t i = 0; i < streams->elements; i++) {
        const redisReply *s = streams->element[i];
        unsigned p;
        if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 ||
            s->element[1]->type != REDIS_REPLY_ARRAY ||
            s->element[0]->type != REDIS_REPLY_STRING ||
            sscanf(s->element[0]->str, "yk:req:{%u}", &p) != 1 || p >= w->partitions)
            continue;
        for (size_t j = 0; j < s->element[1]->elements; j++)
            entry_parse(&v[k++], p, s->element[1]->element[j]);
    }

    (void)persist_take_transient(); /* count only this batch's errors */
    /* A replayed entry may be committed already; deciding it again would count its seat twice. */
    worker_status st = replay ? batch_from_db(w, v, k, want_new) : WORKER_OK;
    batch_bookings bk = {NULL, MAP_INIT, NULL};
    if (st == WORKER_OK)
        st = batch_bookings_load(w, v, k, &bk);
    for (size_t i = 0; i < k && st == WORKER_OK; i++)
        if (v[i].st == E_NEW)
            st = v[i].cancel ? entry_cancel(w, &v[i], &bk) : entry_decide(w, &v[i]);
    if (st == WORKER_OK)
        st = batch_persist(w, v, k, !replay, stale);
    if (st == WORKER_OK)
        st = batch_settle(w, v, k, &bk, stale);
    if (st == WORKER_OK)
        st = batch_from_db(w, v, k, want_refused);
    if (st == WORKER_OK) {
        for (unsigned p = 0; p < w->partitions; p++)
            if (stale[p])
                partitions_forget(w, p); /* reread the truth before deciding again */
        batch_failures(w, v, k, persist_take_transient());
        metrics_batch(k);
        batch_bodies_fix(v, k);
        st = batch_answer(w, v, k);
    }
    batch_bookings_free(&bk);
    free(v);
    free(stale);
    yk_buf *bufs[] = {&batch_bodies, &batch_rows, &batch_cancels, &batch_cmds, &batch_msg};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]->cap > BATCH_TEXT_KEEP)
            yk_buf_free(bufs[i]); /* an unusually large batch: give the memory back */
    bool big = false;
    for (int i = 0; i < PERSIST_COLS; i++)
        big |= batch_inserts.col[i].cap > BATCH_TEXT_KEEP;
    if (big)
        persist_rows_free(&batch_inserts);
    return st;
}

worker_status batch_read(worker *w)
{
    /* argv: XREADGROUP GROUP workers <id> COUNT <n> BLOCK 100 STREAMS keys… ids… */
    const char **argv = malloc((9 + 2 * w->partitions) * sizeof *argv);
    char (*keys)[32] = malloc(w->partitions * sizeof *keys);
    char count[24];
    snprintf(count, sizeof count, "%lld", (long long)w->batch_max);
    int owned = 0;
    for (unsigned p = 0; keys && p < w->partitions; p++)
        if (w->parts[p].owned)
            partitions_key(p, keys[owned++]);
    worker_status st = WORKER_OK;
    if (argv == NULL || keys == NULL || owned == 0)
        goto out;
    int argc = 0;
    const char *head[] = {"XREADGROUP", "GROUP", "workers", w->id, "COUNT", count,
                          "BLOCK",      "100",   "STREAMS"};
    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
        argv[argc++] = head[i];
    for (int i = 0; i < owned; i++)
        argv[argc++] = keys[i];
    for (int i = 0; i < owned; i++)
        argv[argc++] = ">";
    redisReply *r = reply_command(w->redis, &batch_replies, argc, argv);
    if (r == NULL) {
        st = WORKER_REDIS_LOST;
        goto out;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        yk_error("XREADGROUP: %s", r->str);
        if (strncmp(r->str, "NOGROUP", 7) == 0)
            partitions_resetup_all(w); /* the stream vanished (Redis lost its data) */
    } else if (r->type == REDIS_REPLY_ARRAY) {
        st = batch_run(w, r, false);
    }
out:
    free(argv);
    free(keys);
    return st;
}

worker_status batch_replay(worker *w, unsigned p)
{
    char key[32], cursor[64] = "0", count[24];
    partitions_key(p, key);
    snprintf(count, sizeof count, "%lld", (long long)w->batch_max);
    while (!worker_stop) {
        const char *argv[] = {"XREADGROUP", "GROUP", "workers", w->id, "COUNT",
                              count,        "STREAMS", key,     cursor};
        redisReply *r = reply_command(w->redis, &batch_replies, 9, argv);
        if (r == NULL)
            return WORKER_REDIS_LOST;
        const redisReply *entries = NULL;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
            r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2)
            entries = r->element[0]->element[1];
        if (r->type == REDIS_REPLY_ERROR)
            yk_error("replay %s: %s", key, r->str);
        if (entries == NULL || entries->type != REDIS_REPLY_ARRAY || entries->elements == 0)
            return WORKER_OK;
        /* Page by the last id: entries left pending (E_RETRY) must not be read again here. */
        const redisReply *last = entries->element[entries->elements - 1];
        if (last->type != REDIS_REPLY_ARRAY || last->elements < 1 ||
            last->element[0]->type != REDIS_REPLY_STRING)
            return WORKER_OK;
        snprintf(cursor, sizeof cursor, "%s", last->element[0]->str);
        yk_info("replaying partition=%u entries=%zu", p, entries->elements);
        metrics_redelivered(entries->elements);
        worker_status st = batch_run(w, r, true);
        if (st != WORKER_OK)
            return st;
    }
    return WORKER_OK;
}
