/* fuzz_export: the bookings.csv writer (services/ingress/export.c). Input: byte 0 picks the
 * part; the rest is the cells of one record (separated by 0x1f), UTF-8 text for the CP932
 * conversion, or a field definition and query parameters. A record written is read back as
 * RFC 4180 says and must give the cells again, each formula start behind its ' prefix; the CP932
 * text must convert back. */
#include <errno.h>
#include <iconv.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "export.h"

#define MAX_CELLS 16

static iconv_t to_cp932, from_cp932;

static void finding(const char *what, const char *detail, size_t len)
{
    fprintf(stderr, "fuzz_export: %s: %.*s\n", what, (int)(len > 200 ? 200 : len),
            detail ? detail : "");
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    to_cp932 = iconv_open("CP932", "UTF-8");
    from_cp932 = iconv_open("UTF-8", "CP932");
    if (to_cp932 == (iconv_t)-1 || from_cp932 == (iconv_t)-1)
        abort();
    return 0;
}

/* Reads one RFC 4180 field of csv[*pos..len) into out (yk_buf); returns the byte after it. */
static size_t read_field(const char *csv, size_t len, size_t pos, yk_buf *out)
{
    if (pos < len && csv[pos] == '"') {
        for (pos++;; pos++) {
            if (pos >= len)
                finding("quoted cell not closed", csv, len);
            if (csv[pos] == '"') {
                if (pos + 1 < len && csv[pos + 1] == '"') {
                    yk_buf_addc(out, '"');
                    pos++;
                } else {
                    return pos + 1;
                }
            } else {
                yk_buf_addc(out, csv[pos]);
            }
        }
    }
    size_t start = pos;
    while (pos < len && csv[pos] != ',' && csv[pos] != '\r' && csv[pos] != '\n') {
        if (csv[pos] == '"')
            finding("quote in an unquoted cell", csv, len);
        pos++;
    }
    yk_buf_add(out, csv + start, pos - start);
    return pos;
}

static void record(const uint8_t *data, size_t size)
{
    char *cells[MAX_CELLS];
    size_t n = 0;
    for (size_t start = 0; n < MAX_CELLS;) {
        const uint8_t *sep = memchr(data + start, 0x1f, size - start);
        size_t end = sep ? (size_t)(sep - data) : size;
        cells[n++] = strndup((const char *)data + start, end - start); /* up to a NUL */
        if (sep == NULL)
            break;
        start = end + 1;
    }
    yk_buf csv = YK_BUF_INIT(1 << 20);
    export_row(&csv, (const char *const *)cells, n);
    if (csv.failed)
        goto out;
    if (csv.len < 2 || memcmp(csv.p + csv.len - 2, "\r\n", 2) != 0)
        finding("record does not end in CRLF", csv.p, csv.len);
    size_t pos = 0, body = csv.len - 2;
    for (size_t i = 0; i < n; i++) {
        yk_buf got = YK_BUF_INIT(1 << 20);
        pos = read_field(csv.p, body, pos, &got);
        const char *want = cells[i];
        size_t wlen = strlen(want);
        int prefix = wlen > 0 && strchr("=+-@\t\r", want[0]);
        if (got.len != wlen + (size_t)prefix || (prefix && got.p[0] != '\'') ||
            (wlen > 0 && memcmp(got.p + prefix, want, wlen) != 0))
            finding("cell does not read back", csv.p, csv.len);
        yk_buf_free(&got);
        if (i + 1 < n) {
            if (pos >= body || csv.p[pos] != ',')
                finding("cells not separated by a comma", csv.p, csv.len);
            pos++;
        }
    }
    if (pos != body)
        finding("record has more than its cells", csv.p, csv.len);
out:
    yk_buf_free(&csv);
    for (size_t i = 0; i < n; i++)
        free(cells[i]);
}

static void cp932(const uint8_t *data, size_t size)
{
    yk_buf out = YK_BUF_INIT(1 << 20);
    size_t subs = export_cp932(&out, to_cp932, (const char *)data, size);
    if (!out.failed) {
        if (subs > size)
            finding("more substitutes than bytes", (const char *)data, size);
        /* what came out is CP932 throughout */
        char back[4096];
        char *in = out.p;
        size_t inleft = out.len;
        iconv(from_cp932, NULL, NULL, NULL, NULL);
        while (inleft > 0) {
            char *o = back;
            size_t oleft = sizeof back;
            if (iconv(from_cp932, &in, &inleft, &o, &oleft) == (size_t)-1 && errno != E2BIG)
                finding("output is not CP932", out.p, out.len);
        }
    }
    yk_buf_free(&out);
}

static void headers(const uint8_t *data, size_t size)
{
    json_t *def = json_loadb((const char *)data, size, 0, NULL);
    for (int lang = EXPORT_NAMES; lang <= EXPORT_EN; lang++) {
        if (def) {
            const char *h = export_field_header(def, (export_lang)lang);
            if (h == NULL)
                finding("field header NULL", (const char *)data, size);
            yk_buf b = YK_BUF_INIT(1 << 20);
            export_cell(&b, h, strlen(h)); /* the header row is cells like any */
            yk_buf_free(&b);
        }
        for (int col = -1; col <= EXPORT_FIXED; col++)
            if (export_fixed_header(col, (export_lang)lang) == NULL)
                finding("fixed header NULL", NULL, 0);
    }
    json_decref(def);
    char *s = strndup((const char *)data, size);
    export_lang l;
    export_encoding e;
    if (s && export_parse_lang(s, &l) == 0 && strcmp(s, "") && strcmp(s, "ja") && strcmp(s, "en"))
        finding("lang accepted", s, strlen(s));
    if (s && export_parse_encoding(s, &e) == 0 && strcmp(s, "") && strcasecmp(s, "utf-8") &&
        strcasecmp(s, "cp932"))
        finding("encoding accepted", s, strlen(s));
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        record(data + 1, size - 1);
        break;
    case 1:
        cp932(data + 1, size - 1);
        break;
    default:
        headers(data + 1, size - 1);
    }
    return 0;
}
