/* fuzz_roster: the roster CSV parser (common/yk_roster.c). Input: byte 0 picks the encoding (bit
 * 0: CP932, else UTF-8) and byte 1 the size of the pieces the rest is fed in. The same file fed in
 * one piece and in those pieces must give the same rows, hashes and problems (the parser takes
 * any cut, even inside a character); every problem has a line >= 1 and a reason the contract's
 * invalid_roster lists; no hash comes after a problem. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yk_roster.h"
#include "yk_token.h"

#define MAX_HASHES 256

typedef struct {
    unsigned char h[MAX_HASHES][YK_ROSTER_HASH_BYTES];
    long n;
} hashes;

static void finding(const char *what)
{
    fprintf(stderr, "fuzz_roster: %s\n", what);
    abort();
}

static void row(void *ud, const unsigned char h[YK_ROSTER_HASH_BYTES])
{
    hashes *hs = ud;
    if (hs->n < MAX_HASHES)
        memcpy(hs->h[hs->n], h, YK_ROSTER_HASH_BYTES);
    hs->n++;
}

typedef struct {
    long rows;
    size_t nerrors;
    hashes hs;
    yk_roster_error first[4];
} outcome;

static const unsigned char key[YK_TOKEN_KEY_BYTES] = {1, 2, 3};

/* Parses data[0..len) in pieces of step bytes; 0, or -1 when memory ran out. */
static int parse(const char *data, size_t len, size_t step, int cp932, outcome *o)
{
    memset(o, 0, sizeof *o);
    yk_roster_parser *p = yk_roster_parser_new(key, "campaign", cp932, row, &o->hs);
    if (p == NULL)
        return -1;
    int rc = 0;
    for (size_t at = 0; rc == 0 && at < len; at += step)
        rc = yk_roster_parser_feed(p, data + at, len - at < step ? len - at : step);
    if (rc == 0)
        rc = yk_roster_parser_end(p);
    o->rows = yk_roster_parser_rows(p);
    o->nerrors = yk_roster_parser_nerrors(p);
    static const char *const reasons[] = {"empty_header", "bad_header", "column_count",
                                          "encoding",     "too_long",   "quoting"};
    for (size_t i = 0; rc == 0 && i < o->nerrors && yk_roster_parser_error(p, i); i++) {
        const yk_roster_error *e = yk_roster_parser_error(p, i);
        int known = 0;
        for (size_t r = 0; r < sizeof reasons / sizeof reasons[0]; r++)
            known |= e->reason && strcmp(e->reason, reasons[r]) == 0;
        if (!known || e->line < 1)
            finding("a problem without a line or with an unknown reason");
        if (i < 4)
            o->first[i] = *e;
    }
    if (rc == 0 && o->hs.n > o->rows)
        finding("more hashes than rows");
    yk_roster_parser_free(p);
    return rc;
}

int LLVMFuzzerTestOneInput(const unsigned char *in, size_t size)
{
    if (size < 2)
        return 0;
    int cp932 = in[0] & 1;
    size_t step = in[1] % 64 + 1;
    const char *data = (const char *)in + 2;
    size_t len = size - 2;
    static outcome whole, cut; /* large: not on the stack */
    if (parse(data, len, len ? len : 1, cp932, &whole) != 0 ||
        parse(data, len, step, cp932, &cut) != 0)
        return 0; /* out of memory: nothing to compare */
    if (whole.rows != cut.rows || whole.nerrors != cut.nerrors || whole.hs.n != cut.hs.n)
        finding("the pieces changed the rows, the problems or the hashes' count");
    long n = whole.hs.n < MAX_HASHES ? whole.hs.n : MAX_HASHES;
    if (memcmp(whole.hs.h, cut.hs.h, (size_t)n * YK_ROSTER_HASH_BYTES) != 0)
        finding("the pieces changed a hash");
    for (size_t i = 0; i < whole.nerrors && i < 4; i++)
        if (whole.first[i].line != cut.first[i].line ||
            strcmp(whole.first[i].reason, cut.first[i].reason) != 0)
            finding("the pieces changed a problem");
    return 0;
}
