/* fuzz_mail: the notifier's mail making — services/notifier/render.c (templates filled with a
 * booking's texts, the header lines, RFC 2047 words, the From: setting) and smtp.c's message
 * (recipient, header list, MIME parts handed to libcurl; the transfer is aborted before it
 * connects). Input: byte 0 picks the part; the rest is texts separated by 0x1f. Every header
 * must stay one header: printable UTF-8, folded only as "\r\n ", lines within 998 characters;
 * encoded words must decode back to the text. */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>
#include <uv.h>

#include "render.h"
#include "smtp.h"

#define MAX_PARTS 16

static render_templates *templates;
static render_ctx ctx;
static smtp *mailer;
static int aborted;

static void finding(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_mail: %s: %.300s\n", what, detail ? detail : "");
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    unsigned char key[YK_TOKEN_KEY_BYTES] = {1, 2, 3};
    if (sodium_init() < 0 ||
        render_templates_load(&templates, YK_SOURCE_DIR "/services/notifier/templates", err,
                              sizeof err) != 0 ||
        render_ctx_init(&ctx, "https://yoyaku.example.org/", "", "予約係 <noreply@example.org>",
                        key, err, sizeof err) != 0)
        finding("setup", err);
    /* port 9 of this machine: nothing is sent, every transfer is aborted before the loop runs */
    smtp_config cfg = {.url = "smtp://127.0.0.1:9",
                       .envelope_from = ctx.envelope_from,
                       .parallel = 1,
                       .timeout_ms = 1000};
    if (smtp_open(&mailer, uv_default_loop(), &cfg) != 0)
        finding("smtp_open", NULL);
    return 0;
}

/* A header line as it goes out: printable (UTF-8 beyond ASCII), CRLF only before a folding space,
 * no line over 998 characters (RFC 5322 §2.1.1), a name and a colon. */
static void check_header(const char *h)
{
    const char *colon = strchr(h, ':');
    if (colon == NULL || colon == h || strcspn(h, " \t") < (size_t)(colon - h))
        finding("header without a name", h);
    /* 8-bit only as UTF-8: render_address_safe lets internationalised addresses through (RFC 6532)
     */
    if (u8_check((const uint8_t *)h, strlen(h)) != NULL)
        finding("header not UTF-8", h);
    size_t col = 0;
    for (const unsigned char *p = (const unsigned char *)h; *p; p++) {
        if (*p == '\r') {
            if (p[1] != '\n' || (p[2] != ' ' && p[2] != '\t'))
                finding("CR/LF that ends the header", h);
            p++;
            col = 0;
            continue;
        }
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            finding("control character in a header", h);
        if (++col > 998)
            finding("header line over 998 characters", h);
    }
}

/* Text with CRLF line ends only (text/plain and text/calendar parts). */
static void check_crlf(const char *s, const char *what)
{
    for (const char *p = s; p && *p; p++)
        if ((*p == '\r' && p[1] != '\n') || (*p == '\n' && (p == s || p[-1] != '\r')))
            finding("bare CR or LF", what);
}

/* render_encode_words(text, first): lines within 76 characters, each word whole, and the words
 * decode to text with its control characters as spaces. */
static void check_words(const char *text, size_t first)
{
    char *enc = render_encode_words(text, first);
    if (enc == NULL)
        return;
    size_t len = strlen(text), got_len = 0;
    unsigned char *got = malloc(len + 1);
    if (got == NULL)
        finding("malloc", NULL);
    size_t col = first;
    for (const char *p = enc; *p;) {
        if (strncmp(p, "\r\n ", 3) == 0) {
            p += 3;
            col = 1;
            continue;
        }
        if (strncmp(p, "=?UTF-8?B?", 10) != 0)
            finding("not an encoded word", enc);
        const char *end = strstr(p + 10, "?=");
        if (end == NULL)
            finding("encoded word not closed", enc);
        size_t wlen = (size_t)(end + 2 - p), bin = 0;
        col += wlen;
        if (wlen > 75 || col > 76)
            finding("encoded word line over 76 characters", enc);
        if (sodium_base642bin(got + got_len, len + 1 - got_len, p + 10, (size_t)(end - p - 10),
                              NULL, &bin, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
            finding("encoded word is not base64 of its bytes", enc);
        got_len += bin;
        p = end + 2;
    }
    if (got_len != len)
        finding("encoded words lose or add bytes", enc);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        unsigned char want = (c < 0x20 || c == 0x7f) ? ' ' : c;
        if (got[i] != want)
            finding("encoded words change the text", enc);
    }
    free(got);
    free(enc);
}

static void sent_cb(void *ud, smtp_status st, const char *error)
{
    if (st != SMTP_ABORTED)
        finding("a transfer ended otherwise than aborted", error);
    aborted++;
}

static void render(char **part, size_t n, const uint8_t *data)
{
    static const char *const kinds[] = {"confirmation", "reminder", "cancellation"};
    const char *def[] = {"0123456789abcdef0123456789abcdef",
                         "taro@example.com",
                         "予約 太郎",
                         "ワクチン接種（3回目）",
                         "市民会館 2階",
                         "Asia/Tokyo",
                         "2026-12-01-2-09:00",
                         "2026-12-01-2-09:30",
                         "2026-11-30-1-09:00",
                         "2026-12-01T09:00:00+09:00",
                         "2026-12-01T09:30:00+09:00"};
    const char *v[11];
    for (size_t i = 0; i < 11; i++)
        v[i] = i < n ? part[i] : def[i];
    mail_booking b = {.booking_id = (int64_t)(data[0] * 7919 + 1),
                      .kind = kinds[data[0] % 3],
                      .lang = data[0] & 4 ? "en" : "ja",
                      .request_id = v[0],
                      .email = v[1],
                      .name = data[0] & 8 ? NULL : v[2],
                      .title = v[3],
                      .venue = v[4],
                      .timezone = v[5],
                      .start_local = v[6],
                      .end_local = v[7],
                      .cancel_local = data[0] & 16 ? NULL : v[8],
                      .starts_at = v[9],
                      .ends_at = v[10],
                      .starts_epoch = 1796083200,
                      .ends_epoch = 1796085000,
                      .stamp_epoch = 1795000000};
    render_mail m;
    char err[256];
    memset(&m, 0, sizeof m);
    if (render_build(templates, &ctx, &b, 1795000000, &m, err, sizeof err) != 0)
        return;
    if (!render_address_safe(m.to))
        finding("mail to an unsafe address", m.to);
    for (int i = 0; i < m.nheaders; i++)
        check_header(m.headers[i]);
    check_crlf(m.text, "text");
    check_crlf(m.ics, "ics");
    int before = aborted;
    if (smtp_send(mailer, &m, sent_cb, NULL) == 0) {
        smtp_abort_all(mailer);
        if (aborted != before + 1)
            finding("transfer not ended once", m.to);
    }
    render_mail_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    char *part[MAX_PARTS];
    size_t n = 0;
    for (size_t start = 2; n < MAX_PARTS;) {
        const uint8_t *sep = start < size ? memchr(data + start, 0x1f, size - start) : NULL;
        size_t end = sep ? (size_t)(sep - data) : size;
        part[n++] = strndup((const char *)data + start, end - start);
        if (part[n - 1] == NULL)
            finding("malloc", NULL);
        if (sep == NULL)
            break;
        start = end + 1;
    }
    switch (data[0] % 4) {
    case 0:
    case 1:
        render(part, n, data + 1);
        break;
    case 2:
        check_words(part[0], data[1] % 90);
        break;
    default: {
        render_ctx c;
        char err[256];
        unsigned char key[YK_TOKEN_KEY_BYTES] = {0};
        if (render_ctx_init(&c, part[0], n > 1 ? part[1] : "", n > 2 ? part[2] : "a@b.example", key,
                            err, sizeof err) == 0) {
            {
                char line[700];
                snprintf(line, sizeof line, "From: %s", c.from_header);
                check_header(line);
            }
            if (!render_address_safe(c.envelope_from))
                finding("unsafe envelope sender", c.envelope_from);
            if (strpbrk(c.public_url, " \r\n") || strpbrk(c.domain, " \r\n<>"))
                finding("URL or domain holds a space or CR/LF", c.public_url);
        }
    }
    }
    for (size_t i = 0; i < n; i++)
        free(part[i]);
    return 0;
}
