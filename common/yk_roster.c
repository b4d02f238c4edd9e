/* yk_roster: the roster key and row hashes (libsodium), and the CSV parser (libcsv, iconv for
 * CP932) that hashes each row as it is read. A parser owns its libcsv state, its iconv descriptor
 * and one row's values: memory does not grow with the file. */
#include "yk_roster.h"

#include <csv.h>
#include <errno.h>
#include <iconv.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "yk_text.h"

/* libcsv grows its field buffer by realloc: a value never needs more than this (too_long). */
#define ROSTER_CSV_BUF_MAX ((size_t)64 * 1024)
#define ROSTER_STAGE 32768 /* CP932 bytes converted at once */

void yk_roster_key(const unsigned char token_key[YK_TOKEN_KEY_BYTES],
                   unsigned char out[YK_TOKEN_KEY_BYTES])
{
    static const char ctx[] = "yoyaku roster v1";
    crypto_generichash(out, YK_TOKEN_KEY_BYTES, (const unsigned char *)ctx, sizeof ctx - 1,
                       token_key, YK_TOKEN_KEY_BYTES);
}

static void hash_part(crypto_generichash_state *st, const char *s, size_t n)
{
    unsigned char len[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                            (unsigned char)(n >> 8), (unsigned char)n};
    crypto_generichash_update(st, len, 4);
    crypto_generichash_update(st, (const unsigned char *)s, n);
}

/* The hash over normalised values, pairs taken in order[0..n). */
static void hash_ordered(const unsigned char key[YK_TOKEN_KEY_BYTES], const char *campaign,
                         size_t n, const char *const *names, const char *const *values,
                         const size_t *order, unsigned char out[YK_ROSTER_HASH_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, key, YK_TOKEN_KEY_BYTES, YK_ROSTER_HASH_BYTES);
    hash_part(&st, campaign, strlen(campaign));
    for (size_t i = 0; i < n; i++) {
        hash_part(&st, names[order[i]], strlen(names[order[i]]));
        hash_part(&st, values[order[i]], strlen(values[order[i]]));
    }
    crypto_generichash_final(&st, out, YK_ROSTER_HASH_BYTES);
}

/* order[0..n) = the indexes of names sorted by name (n is small: insertion sort). */
static void name_order(size_t n, const char *const *names, size_t *order)
{
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        for (; j > 0 && strcmp(names[order[j - 1]], names[i]) > 0; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
}

int yk_roster_hash(const unsigned char key[YK_TOKEN_KEY_BYTES], const char *campaign, size_t n,
                   const char *const *names, const char *const *values,
                   unsigned char out[YK_ROSTER_HASH_BYTES])
{
    size_t order[YK_ROSTER_MAX_FIELDS];
    char *norm[YK_ROSTER_MAX_FIELDS] = {NULL};
    if (n > YK_ROSTER_MAX_FIELDS)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        if ((norm[i] = yk_text_identity(values[i])) == NULL)
            rc = -1;
    if (rc == 0) {
        name_order(n, names, order);
        hash_ordered(key, campaign, n, names, (const char *const *)norm, order, out);
    }
    for (size_t i = 0; i < n; i++)
        free(norm[i]);
    return rc;
}

void yk_roster_hex(const unsigned char h[YK_ROSTER_HASH_BYTES], char out[YK_ROSTER_HEX_LEN + 1])
{
    sodium_bin2hex(out, YK_ROSTER_HEX_LEN + 1, h, YK_ROSTER_HASH_BYTES);
}

int yk_roster_unhex(const char *hex, unsigned char out[YK_ROSTER_HASH_BYTES])
{
    size_t n = 0;
    if (hex == NULL || strlen(hex) != YK_ROSTER_HEX_LEN ||
        strspn(hex, "0123456789abcdef") != YK_ROSTER_HEX_LEN)
        return -1;
    return sodium_hex2bin(out, YK_ROSTER_HASH_BYTES, hex, YK_ROSTER_HEX_LEN, NULL, &n, NULL) == 0 &&
                   n == YK_ROSTER_HASH_BYTES
               ? 0
               : -1;
}

struct yk_roster_parser {
    unsigned char key[YK_TOKEN_KEY_BYTES];
    char *campaign;
    yk_roster_row_cb cb;
    void *ud;
    struct csv_parser csv;
    iconv_t cd;   /* CP932 → UTF-8, or (iconv_t)-1 for UTF-8 */
    char pend[8]; /* a CP932 character cut by the end of a piece */
    size_t npend;
    size_t nbom;   /* UTF-8: bytes of a BOM matched so far at the file's start */
    bool bom_done; /* the file's start is past */
    bool dead;     /* a problem nothing after can be read past (quoting, encoding) */
    bool oom;
    /* The record being read: values NUL-terminated one after the other in row. */
    char row[YK_ROSTER_MAX_FIELDS * (YK_ROSTER_MAX_VALUE + 1)];
    size_t row_len, nvals, off[YK_ROSTER_MAX_FIELDS];
    const char *row_problem; /* first problem of this record, or NULL */
    /* The header. */
    char names[YK_ROSTER_MAX_FIELDS][YK_ROSTER_MAX_NAME + 1];
    const char *name_ptrs[YK_ROSTER_MAX_FIELDS];
    size_t order[YK_ROSTER_MAX_FIELDS];
    size_t nfields;
    bool have_header;
    long records, rows;
    size_t nerrors;
    yk_roster_error errors[YK_ROSTER_MAX_ERRORS];
};

static void add_error(yk_roster_parser *p, long line, const char *reason)
{
    if (p->nerrors < YK_ROSTER_MAX_ERRORS)
        p->errors[p->nerrors] = (yk_roster_error){line, reason};
    p->nerrors++;
}

static void *capped_realloc(void *ptr, size_t n)
{
    return n > ROSTER_CSV_BUF_MAX ? NULL : realloc(ptr, n);
}

static void on_field(void *s, size_t len, void *data)
{
    yk_roster_parser *p = data;
    const char *v = s ? s : "";
    if (p->row_problem)
        return;
    if (p->nvals >= YK_ROSTER_MAX_FIELDS || len > YK_ROSTER_MAX_VALUE) {
        p->row_problem = p->have_header ? "too_long" : "bad_header";
        return;
    }
    if (!yk_text_valid_utf8(v, len)) {
        p->row_problem = "encoding";
        return;
    }
    p->off[p->nvals++] = p->row_len;
    memcpy(p->row + p->row_len, v, len);
    p->row_len += len;
    p->row[p->row_len++] = '\0';
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= YK_ROSTER_MAX_NAME &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static void on_header(yk_roster_parser *p)
{
    p->have_header = true;
    if (p->row_problem) {
        add_error(p, 1, p->row_problem);
        return;
    }
    for (size_t i = 0; i < p->nvals; i++) {
        char *name = yk_text_identity(p->row + p->off[i]);
        if (name == NULL) {
            p->oom = true;
            return;
        }
        const char *problem = name[0] == '\0'  ? "empty_header"
                              : !name_ok(name) ? "bad_header"
                                               : NULL;
        for (size_t j = 0; problem == NULL && j < i; j++)
            if (strcmp(p->names[j], name) == 0)
                problem = "bad_header";
        if (problem == NULL)
            memcpy(p->names[i], name, strlen(name) + 1);
        free(name);
        if (problem) {
            add_error(p, 1, problem);
            return;
        }
        p->name_ptrs[i] = p->names[i];
    }
    p->nfields = p->nvals;
    name_order(p->nfields, p->name_ptrs, p->order);
}

static void on_row(yk_roster_parser *p)
{
    p->rows++;
    if (p->nfields == 0)
        return; /* the header was refused: its problem is the one to fix */
    const char *problem = p->row_problem;
    if (problem == NULL && p->nvals != p->nfields)
        problem = "column_count";
    if (problem) {
        add_error(p, p->records, problem);
        return;
    }
    if (p->nerrors > 0 || p->nfields == 0)
        return; /* the upload fails anyway: nothing more to hash */
    char *norm[YK_ROSTER_MAX_FIELDS] = {NULL};
    bool ok = true;
    for (size_t i = 0; i < p->nvals; i++)
        ok = (norm[i] = yk_text_identity(p->row + p->off[i])) != NULL && ok;
    if (ok) {
        unsigned char h[YK_ROSTER_HASH_BYTES];
        hash_ordered(p->key, p->campaign, p->nfields, p->name_ptrs, (const char *const *)norm,
                     p->order, h);
        p->cb(p->ud, h);
    } else {
        add_error(p, p->records, "encoding");
    }
    for (size_t i = 0; i < p->nvals; i++)
        free(norm[i]);
}

static void on_record(int c, void *data)
{
    yk_roster_parser *p = data;
    (void)c;
    p->records++;
    if (!p->have_header)
        on_header(p);
    else
        on_row(p);
    p->nvals = p->row_len = 0;
    p->row_problem = NULL;
}

/* Parses UTF-8 text; a libcsv failure ends the parse (nothing after it can be trusted). */
static void csv_feed(yk_roster_parser *p, const char *s, size_t n)
{
    if (p->dead || n == 0)
        return;
    if (csv_parse(&p->csv, s, n, on_field, on_record, p) == n)
        return;
    int e = csv_error(&p->csv);
    add_error(p, p->records + 1, e == CSV_EPARSE ? "quoting" : "too_long");
    p->dead = true;
}

yk_roster_parser *yk_roster_parser_new(const unsigned char key[YK_TOKEN_KEY_BYTES],
                                       const char *campaign, bool cp932, yk_roster_row_cb cb,
                                       void *ud)
{
    yk_roster_parser *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    memcpy(p->key, key, YK_TOKEN_KEY_BYTES);
    p->cb = cb;
    p->ud = ud;
    p->cd = (iconv_t)-1;
    if ((p->campaign = strdup(campaign)) == NULL ||
        csv_init(&p->csv, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
        goto fail;
    csv_set_realloc_func(&p->csv, capped_realloc);
    if (cp932 && (p->cd = iconv_open("UTF-8", "CP932")) == (iconv_t)-1) {
        csv_free(&p->csv);
        goto fail;
    }
    return p;
fail:
    free(p->campaign);
    free(p);
    return NULL;
}

/* CP932 → UTF-8 through a stage that also holds a character cut at the previous piece's end. */
static void cp932_feed(yk_roster_parser *p, const char *data, size_t len)
{
    static __thread char stage[ROSTER_STAGE + sizeof p->pend], out[3 * ROSTER_STAGE + 64];
    while (len > 0 && !p->dead) {
        size_t k = len < ROSTER_STAGE ? len : ROSTER_STAGE;
        memcpy(stage, p->pend, p->npend);
        memcpy(stage + p->npend, data, k);
        data += k;
        len -= k;
        char *in = stage;
        size_t in_n = p->npend + k;
        p->npend = 0;
        while (in_n > 0 && !p->dead) {
            char *o = out;
            size_t o_n = sizeof out;
            size_t r = iconv(p->cd, &in, &in_n, &o, &o_n);
            int err = errno;
            csv_feed(p, out, (size_t)(o - out));
            if (p->dead || r != (size_t)-1 || err == E2BIG)
                continue; /* dead: a quoting problem before the bad byte; nothing after counts */
            if (err == EINVAL && in_n < sizeof p->pend) { /* cut character: keep it */
                memcpy(p->pend, in, in_n);
                p->npend = in_n;
                break;
            }
            add_error(p, p->records + 1, "encoding");
            p->dead = true;
        }
    }
}

int yk_roster_parser_feed(yk_roster_parser *p, const char *data, size_t len)
{
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    if (p->cd != (iconv_t)-1) {
        cp932_feed(p, data, len);
        return p->oom ? -1 : 0;
    }
    while (!p->bom_done && len > 0) {
        if ((unsigned char)*data != bom[p->nbom]) {
            p->bom_done = true;
            csv_feed(p, (const char *)bom, p->nbom); /* a start like a BOM's is text */
            break;
        }
        data++;
        len--;
        if (++p->nbom == 3)
            p->bom_done = true;
    }
    csv_feed(p, data, len);
    return p->oom ? -1 : 0;
}

int yk_roster_parser_end(yk_roster_parser *p)
{
    if (!p->bom_done && p->nbom > 0)
        csv_feed(p, "\xEF\xBB\xBF", p->nbom);
    p->bom_done = true;
    if (p->npend > 0 && !p->dead) {
        add_error(p, p->records + 1, "encoding");
        p->dead = true;
    }
    if (!p->dead && csv_fini(&p->csv, on_field, on_record, p) != 0)
        add_error(p, p->records + 1, "quoting");
    p->dead = true;
    if (!p->have_header && p->nerrors == 0)
        add_error(p, 1, "empty_header");
    return p->oom ? -1 : 0;
}

long yk_roster_parser_rows(const yk_roster_parser *p)
{
    return p->rows;
}

size_t yk_roster_parser_nerrors(const yk_roster_parser *p)
{
    return p->nerrors;
}

const yk_roster_error *yk_roster_parser_error(const yk_roster_parser *p, size_t i)
{
    return i < p->nerrors && i < YK_ROSTER_MAX_ERRORS ? &p->errors[i] : NULL;
}

size_t yk_roster_parser_fields(const yk_roster_parser *p, const char *const **names)
{
    *names = p->name_ptrs;
    return p->nfields;
}

void yk_roster_parser_free(yk_roster_parser *p)
{
    if (p == NULL)
        return;
    csv_free(&p->csv);
    if (p->cd != (iconv_t)-1)
        iconv_close(p->cd);
    free(p->campaign);
    free(p);
}
