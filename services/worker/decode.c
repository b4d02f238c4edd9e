/* decode: stream entries (proto/streams.md) read field by field into entries; the strings stay in
 * the batch's reply arena. */
#include "decode.h"

#include <stdio.h>
#include <string.h>

#include "answer.h"
#include "waitlist.h"
#include "yk_log.h"
#include "yk_text.h"
#include "yk_token.h"

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
} decode_names[] = {
#define NAME(s, field)                                                                             \
    {                                                                                              \
        s, sizeof s - 1, offsetof(entry, field)                                                    \
    }
    NAME("id", rid),      NAME("ing", ing),   NAME("t", type),          NAME("email", email),
    NAME("ident", ident), NAME("tok", tok),   NAME("fields", fields_s), NAME("dl", dl_s),
    NAME("ev", ev_s),     NAME("idem", idem), NAME("slot", slot_s),     NAME("booking", booking_s),
    NAME("th", th),       NAME("st", st_s),   NAME("today", today_s),   NAME("rh", rh),
#undef NAME
};

/* Sets the field called name[0..len) of en to value (borrowed); unknown names are ignored. */
static void decode_set(entry *en, const char *name, size_t len, const char *value)
{
    if (len == 5 && memcmp(name, "entry", 5) == 0) { /* t=waccept, t=wleave: the entry's id */
        en->entry_s = value;
        return;
    }
    for (size_t j = 0; j < sizeof decode_names / sizeof decode_names[0]; j++)
        if (len == decode_names[j].len && memcmp(name, decode_names[j].name, len) == 0) {
            *(const char **)((char *)en + decode_names[j].off) = value;
            return;
        }
}

/* Sets the fields of a header value "name=value name=value …" (proto/streams.md: the entry's
 * short fields in one stream field, which costs Redis less than one field each), cutting it into
 * NUL-terminated values in place: the reply arena is the batch's own. */
static void decode_header(entry *en, char *h)
{
    while (*h) {
        char *end = strchr(h, ' '), *eq;
        if (end)
            *end = '\0';
        if ((eq = strchr(h, '=')) != NULL)
            decode_set(en, h, (size_t)(eq - h), eq + 1);
        if (end == NULL)
            break;
        h = end + 1;
    }
}

void decode_entry(entry *en, unsigned p, const yk_reply *x)
{
    en->p = p;
    en->st = ENTRY_ACK;
    en->found = -1;
    en->row = -1;
    const char *sid = yk_reply_str(yk_reply_at(x, 0), NULL);
    if (yk_reply_count(x) != 2 || !yk_reply_is(yk_reply_at(x, 0), YK_REPLY_STRING)) {
        yk_error("partition=%u: malformed stream entry", p);
        return;
    }
    en->sid = sid;
    const yk_reply *f = yk_reply_at(x, 1);
    if (!yk_reply_is(f, YK_REPLY_ARRAY))
        return; /* a pending entry that was deleted: nothing left to answer */
    for (size_t i = 0; i + 1 < yk_reply_count(f); i += 2) {
        const yk_reply *k = yk_reply_at(f, i), *v = yk_reply_at(f, i + 1);
        size_t kl, vl;
        const char *ks = yk_reply_str(k, &kl), *vs = yk_reply_str(v, &vl);
        /* A value with an embedded NUL is treated as absent, hence malformed. */
        if (!yk_reply_is(k, YK_REPLY_STRING) || !yk_reply_is(v, YK_REPLY_STRING) ||
            strlen(vs) != vl)
            continue;
        if (kl == 1 && ks[0] == 'h')
            decode_header(en, (char *)vs); /* the arena's memory: see decode_streams */
        else
            decode_set(en, ks, kl, vs);
    }
    if (en->dl_s && !parse_id(en->dl_s, &en->dl))
        en->dl = 0;
    if (en->rid == NULL || !is_hex(en->rid, YK_REQUEST_ID_LEN)) {
        yk_error("partition=%u entry=%s: no valid request id, dropped", p, en->sid);
        return;
    }
    en->cancel = en->type && strcmp(en->type, "cancel") == 0;
    en->attend = en->type && strcmp(en->type, "attend") == 0;
    if (en->attend) {
        if (!en->ing || !*en->ing || !parse_id(en->ev_s, &en->ev) ||
            !parse_id(en->booking_s, &en->booking) || !en->st_s ||
            (strcmp(en->st_s, "attended") != 0 && strcmp(en->st_s, "no_show") != 0)) {
            yk_error("request=%s: malformed attend entry", en->rid);
            answer_refuse(en, 500, "internal", "The request could not be processed.");
            return;
        }
        en->st = ENTRY_NEW;
        return;
    }
    if (waitlist_decode(en) != 0)
        return; /* waccept or wleave: decoded, or answered 500 */
    if (en->cancel) {
        if (!en->ing || !*en->ing || !parse_id(en->ev_s, &en->ev) ||
            !parse_id(en->booking_s, &en->booking) || !en->th ||
            (strcmp(en->th, "*") != 0 && !is_hex(en->th, YK_HASH_HEX_LEN))) {
            yk_error("request=%s: malformed cancel entry", en->rid);
            answer_refuse(en, 500, "internal", "The request could not be processed.");
            return;
        }
        en->st = ENTRY_NEW;
        return;
    }
    if (en->type == NULL || (strcmp(en->type, "reserve") != 0 && !en->wl)) {
        yk_error("request=%s: unsupported entry type %s", en->rid, en->type ? en->type : "-");
        answer_refuse(en, 500, "internal", "This kind of request is not supported.");
        return;
    }
    /* The fields text is copied verbatim into the answer and the insert payload, so it must be
     * exactly what the ingress writes: one bad entry must get its own 500, not make PostgreSQL
     * refuse the payload of the whole batch. */
    en->fields_len = en->fields_s ? strlen(en->fields_s) : 0;
    if (!en->ing || !*en->ing || !parse_id(en->ev_s, &en->ev) || !parse_id(en->slot_s, &en->slot) ||
        !is_text(en->email) || !is_text(en->ident) || !en->tok || !is_token(en->tok) ||
        !yk_buf_fields_ok(en->fields_s, en->fields_len)) {
        yk_error("request=%s: malformed entry", en->rid);
        answer_refuse(en, 500, "internal", "The request could not be processed.");
        return;
    }
    en->st = ENTRY_NEW;
}

/* The entries of one stream of the reply, and its partition; NULL when it is not a request
 * stream of ours. */
static const yk_reply *decode_stream(const yk_reply *s, unsigned partitions, unsigned *p)
{
    const char *key = yk_reply_str(yk_reply_at(s, 0), NULL);
    if (yk_reply_count(s) != 2 || !yk_reply_is(yk_reply_at(s, 1), YK_REPLY_ARRAY))
        return NULL;
    if (!yk_reply_is(yk_reply_at(s, 0), YK_REPLY_STRING) || sscanf(key, "yk:req:{%u}", p) != 1 ||
        *p >= partitions)
        return NULL;
    return yk_reply_at(s, 1);
}

size_t decode_count(const yk_reply *streams)
{
    size_t n = 0;
    for (size_t i = 0; i < yk_reply_count(streams); i++) {
        const yk_reply *s = yk_reply_at(streams, i);
        if (yk_reply_count(s) == 2 && yk_reply_is(yk_reply_at(s, 1), YK_REPLY_ARRAY))
            n += yk_reply_count(yk_reply_at(s, 1));
    }
    return n;
}

size_t decode_streams(entry *v, const yk_reply *streams, unsigned partitions)
{
    size_t k = 0;
    for (size_t i = 0; i < yk_reply_count(streams); i++) {
        unsigned p;
        const yk_reply *entries = decode_stream(yk_reply_at(streams, i), partitions, &p);
        for (size_t j = 0; j < yk_reply_count(entries); j++)
            decode_entry(&v[k++], p, yk_reply_at(entries, j));
    }
    return k;
}
