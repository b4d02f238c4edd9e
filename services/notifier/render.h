/* render: turns a claimed booking into a mail — the templates (one file per kind and language),
 * the header lines, the text body, the iCalendar attachment and the check-in QR image. Pure: no I/O
 * after loading. */
#ifndef RENDER_H
#define RENDER_H

#include <stddef.h>
#include <time.h>

#include "notifier.h"
#include "yk_token.h"

#define RENDER_MAX_HEADERS 8

typedef struct render_templates render_templates;

/* Settings every mail shares; filled once by render_ctx_init and read-only afterwards. */
typedef struct {
    char public_url[512];    /* YOYAKU_PUBLIC_URL without a trailing slash */
    char domain[256];        /* right-hand side of Message-ID and UID */
    char from_header[600];   /* From: value, display name RFC 2047-encoded when not ASCII */
    char envelope_from[320]; /* the address inside <…>, for MAIL FROM */
    unsigned char token_key[YK_TOKEN_KEY_BYTES];
} render_ctx;

/* One rendered mail. Every pointer is owned by the struct; release with render_mail_free. */
typedef struct {
    char *to; /* RCPT TO and To: (already checked by render_address_safe) */
    char *headers[RENDER_MAX_HEADERS]; /* "Name: value" without the final CRLF; a folded value
                                          continues after "\r\n " */
    int nheaders;
    char *subject; /* the subject as the reader sees it (logs, tests) */
    char *text;    /* text/plain; charset=UTF-8, CRLF line ends */
    char *ics;     /* text/calendar; method=PUBLISH, or NULL for a cancellation */
    char *png;     /* image/png: the check-in code's QR image, or NULL for a cancellation */
    size_t png_len;
} render_mail;

/* Reads <dir>/{confirmation,reminder,cancellation}.{ja,en}.txt. Each file is UTF-8: a first line
 * "Subject: …", an optional blank line, then the body; {{name}} placeholders from the list in
 * render.c. Unknown placeholders, a missing Subject line or invalid UTF-8 fail the load with one
 * line in err naming the file. The caller owns *out (render_templates_free). */
__attribute__((warn_unused_result)) int
render_templates_load(render_templates **out, const char *dir, char *err, size_t errlen);
void render_templates_free(render_templates *t);

/* Fills ctx from the configuration. domain may be "" (then the host of public_url if it is a DNS
 * name, else "yoyaku.invalid"); from is "addr" or "Display Name <addr>". 0 or -1 with err. */
__attribute__((warn_unused_result)) int render_ctx_init(render_ctx *ctx, const char *public_url,
                                                        const char *domain, const char *from,
                                                        const unsigned char key[YK_TOKEN_KEY_BYTES],
                                                        char *err, size_t errlen);

/* Renders b. now is the Date: header's time. Returns 0, or -1 with err when the mail must not be
 * sent at all (an address that could smuggle a header or SMTP command, out of memory): the row
 * is then dead, not retried. */
__attribute__((warn_unused_result)) int render_build(const render_templates *t,
                                                     const render_ctx *ctx, const mail_booking *b,
                                                     time_t now, render_mail *out, char *err,
                                                     size_t errlen);
void render_mail_free(render_mail *m);

/* 1 if addr is one mailbox that can go into RCPT TO:<…> and To: unchanged: local@domain, no
 * whitespace, no control characters (CR/LF above all), none of <>(),;:"\[]. */
int render_address_safe(const char *addr);

/* RFC 2047 "=?UTF-8?B?…?=" words of at most 75 characters, split on character boundaries (each
 * word decodes to whole UTF-8 characters) and joined by "\r\n " (folding), so that no line is
 * longer than 76 characters: first is how many columns precede the value on the first line (9 for
 * "Subject: "). Control characters in text become spaces first. Returns a malloc'd string or NULL
 * (out of memory). */
char *render_encode_words(const char *text, size_t first);

/* The Message-ID value "<booking-ID-KIND@DOMAIN>" into out; the same for every resend. */
void render_message_id(const render_ctx *ctx, int64_t booking_id, const char *kind, char *out,
                       size_t outlen);

#endif
