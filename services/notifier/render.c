/* render: owns the loaded templates and builds each mail's parts (header lines, text, and through
 * attach.c the iCalendar event and the check-in QR image).
 * Booker values go into the body and the attachment only; the one booker value in a header is the
 * To: address, which render_address_safe has checked. */
#include "render.h"

#include "attach.h"
#include "yk_buf.h"
#include "yk_token.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

/* ---- text under construction: common/yk_buf, capped at 1 MiB (a mail is a few KiB; the cap
 * only stops a runaway). A failed append is sticky, so one check at buf_take covers them all. */

#define RENDER_CAP (1u << 20)
#define RENDER_BUF YK_BUF_INIT(RENDER_CAP)
#define RENDER_LINE 76 /* longest header line holding encoded words, RFC 2047 §2 */

/* Returns the text as a C string (caller frees) or NULL if any append failed. Leaves b empty. */
static char *buf_take(yk_buf *b)
{
    yk_buf_addc(b, '\0');
    char *p = b->failed ? NULL : b->p;
    if (p == NULL)
        free(b->p);
    *b = (yk_buf)RENDER_BUF;
    return p;
}

/* ---- templates */

enum { K_CONFIRMATION, K_REMINDER, K_CANCELLATION, K_WAITLIST_OFFER, K_COUNT };
enum { L_JA, L_EN, L_COUNT };
static const char *const kind_names[K_COUNT] = {"confirmation", "reminder", "cancellation",
                                                "waitlist_offer"};
static const char *const lang_names[L_COUNT] = {"ja", "en"};

/* Every placeholder a template may use, in alphabetical order. */
enum {
    P_BOOKING_ID,      /* booking number */
    P_CANCEL_DEADLINE, /* last local time an online cancellation is accepted */
    P_CANCEL_URL,      /* YOYAKU_PUBLIC_URL/bookings/<id>?token=<booking token> */
    P_CHECKIN_CODE,    /* YK1-<id>-<6 characters>, shown at the venue (also as the QR image) */
    P_DATE,            /* local date of the slot, in the template's language */
    P_EMAIL,           /* the booker's address */
    P_ENDS_AT,         /* RFC 3339 */
    P_NAME,            /* the booker's "name" field, or a polite default */
    P_OFFER_DEADLINE,  /* waitlist_offer: local time the held seat is kept until */
    P_OFFER_URL,       /* waitlist_offer: YOYAKU_PUBLIC_URL/waitlist/<id>?token=<entry token> */
    P_STARTS_AT,       /* RFC 3339 */
    P_TIME,            /* local start–end time */
    P_TIMEZONE,        /* the event's IANA zone */
    P_TITLE,           /* event title */
    P_VENUE,           /* event venue */
    P_COUNT
};
static const char *const placeholder_names[P_COUNT] = {
    "booking_id", "cancel_deadline", "cancel_url", "checkin_code", "date", "email",    "ends_at",
    "name",       "offer_deadline",  "offer_url",  "starts_at",    "time", "timezone", "title",
    "venue"};

typedef struct {
    char *subject;
    char *body; /* CRLF line ends */
} tmpl;

struct render_templates {
    tmpl t[K_COUNT][L_COUNT];
};

static int kind_index(const char *kind)
{
    for (int k = 0; k < K_COUNT; k++)
        if (strcmp(kind, kind_names[k]) == 0)
            return k;
    return -1;
}

static int lang_index(const char *lang)
{
    return lang && strcmp(lang, "en") == 0 ? L_EN : L_JA;
}

/* Finds the tag starting at p ("{{"), sets *end past its "}}" and *sigil to '#', '^' or '/' for a
 * section tag, else 0. Returns the placeholder's index, -1 if unknown. */
static int placeholder_at(const char *p, const char **end, char *sigil)
{
    const char *close = strstr(p + 2, "}}");
    if (close == NULL)
        return -1;
    const char *a = p + 2, *b = close;
    while (a < b && *a == ' ')
        a++;
    *sigil = a < b && strchr("#^/", *a) ? *a++ : 0;
    while (a < b && *a == ' ')
        a++;
    while (b > a && b[-1] == ' ')
        b--;
    *end = close + 2;
    for (int i = 0; i < P_COUNT; i++)
        if ((size_t)(b - a) == strlen(placeholder_names[i]) &&
            memcmp(a, placeholder_names[i], (size_t)(b - a)) == 0)
            return i;
    return -1;
}

/* If the line [p, e) is one section tag and blanks, its placeholder (and *sigil); else -1. */
static int section_line(const char *p, const char *e, char *sigil)
{
    while (p < e && *p == ' ')
        p++;
    while (e > p && e[-1] == ' ')
        e--;
    const char *end;
    if (e - p < 4 || strncmp(p, "{{", 2) != 0)
        return -1;
    int i = placeholder_at(p, &end, sigil);
    return i >= 0 && *sigil && end == e ? i : -1;
}

/* Checks every "{{…}}" in s (CRLF lines): a known placeholder; a section ({{#name}} shown when
 * name has a value, {{^name}} when it has none, closed by {{/name}}) only on a line of its own,
 * not nested, closed, and only where sections are allowed. On failure writes why into err. */
static int check_placeholders(const char *s, int sections, const char *file, char *err,
                              size_t errlen)
{
    int opened = -1;
    for (const char *line = s; *line;) {
        const char *e = line + strcspn(line, "\r\n");
        char sigil;
        int i = section_line(line, e, &sigil);
        const char *why = NULL;
        if (i >= 0) {
            if (!sections)
                why = "no section allowed here";
            else if (sigil != '/' && opened >= 0)
                why = "sections do not nest";
            else if (sigil == '/' && opened != i)
                why = "closes no open section";
            opened = sigil == '/' ? -1 : i;
        } else {
            for (const char *p = strstr(line, "{{"); p && p < e && !why; p = strstr(p, "{{")) {
                why = placeholder_at(p, &p, &sigil) < 0 ? "unknown placeholder"
                      : sigil                           ? "a section tag must be alone on its line"
                                                        : NULL;
            }
        }
        if (why) {
            int n = (int)(e - line);
            snprintf(err, errlen, "%s: %s in \"%.*s\"", file, why, n > 60 ? 60 : n, line);
            return -1;
        }
        line = e + strspn(e, "\r\n");
    }
    if (opened >= 0) {
        snprintf(err, errlen, "%s: section {{%s}} not closed", file, placeholder_names[opened]);
        return -1;
    }
    return 0;
}

/* Appends tpl with its placeholders replaced by values (NULL = none); the lines between a
 * section's tags only when the section shows, the tag lines never. */
/* A value goes into one line of the text: a control character in it (CR/LF above all, which
 * would leave a bare line end in a CRLF body) becomes a space, as in encoded words. */
static void add_value(yk_buf *out, const char *v)
{
    for (const char *p = v; *p;) {
        size_t n = 0;
        while (p[n] && !((unsigned char)p[n] < 0x20 && p[n] != '\t') && p[n] != 0x7f)
            n++;
        yk_buf_add(out, p, n);
        p += n;
        if (*p) {
            yk_buf_addc(out, ' ');
            p++;
        }
    }
}

static void expand(yk_buf *out, const char *tpl, const char *const values[P_COUNT])
{
    int hide = 0;
    for (const char *line = tpl; *line;) {
        const char *e = strstr(line, "\r\n");
        e = e ? e + 2 : line + strlen(line);
        char sigil;
        int i = section_line(line, e[-1] == '\n' ? e - 2 : e, &sigil);
        if (i >= 0) {
            int has = values[i] && *values[i];
            hide = sigil == '#' ? !has : sigil == '^' ? has : 0;
            line = e;
            continue;
        }
        const char *p = line;
        for (const char *q = strstr(p, "{{"); !hide && q && q < e; q = strstr(p, "{{")) {
            const char *end;
            i = placeholder_at(q, &end, &sigil);
            yk_buf_add(out, p, (size_t)(q - p));
            if (i < 0 || sigil) { /* cannot happen after check_placeholders; keep the text */
                yk_buf_add(out, q, 2);
                p = q + 2;
                continue;
            }
            add_value(out, values[i] ? values[i] : "");
            p = end;
        }
        if (!hide)
            yk_buf_add(out, p, (size_t)(e - p));
        line = e;
    }
}

static char *read_file(const char *path, size_t max, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int bad = buf == NULL || ferror(f);
    fclose(f);
    if (bad || n > max) {
        snprintf(err, errlen, "%s: %s", path, bad ? "cannot read" : "larger than 64 KiB");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (strlen(buf) != n || u8_check((const uint8_t *)buf, n) != NULL) {
        snprintf(err, errlen, "%s: not UTF-8 text", path);
        free(buf);
        return NULL;
    }
    return buf;
}

/* Splits a template file into subject and body (LF or CRLF in, CRLF out). */
static int parse_template(tmpl *t, const char *text, const char *file, char *err, size_t errlen)
{
    static const char prefix[] = "Subject:";
    if (strncmp(text, "\xEF\xBB\xBF", 3) == 0)
        text += 3; /* editors on Windows add a BOM */
    if (strncmp(text, prefix, sizeof prefix - 1) != 0) {
        snprintf(err, errlen, "%s: the first line must be \"Subject: …\"", file);
        return -1;
    }
    const char *s = text + sizeof prefix - 1;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t slen = strcspn(s, "\r\n");
    while (slen > 0 && (s[slen - 1] == ' ' || s[slen - 1] == '\t'))
        slen--;
    const char *body = s + strcspn(s, "\n");
    if (*body == '\n')
        body++;
    if (body[0] == '\n')
        body++;
    else if (body[0] == '\r' && body[1] == '\n')
        body += 2;
    yk_buf b = RENDER_BUF;
    for (const char *p = body; *p; p++) {
        if (*p == '\r' && p[1] == '\n')
            continue;
        if (*p == '\n')
            yk_buf_add(&b, "\r\n", 2);
        else
            yk_buf_add(&b, p, 1);
    }
    t->subject = strndup(s, slen);
    t->body = buf_take(&b);
    if (t->subject == NULL || t->body == NULL) {
        snprintf(err, errlen, "%s: out of memory", file);
        return -1;
    }
    if (slen == 0) {
        snprintf(err, errlen, "%s: empty subject", file);
        return -1;
    }
    if (check_placeholders(t->subject, 0, file, err, errlen) != 0 ||
        check_placeholders(t->body, 1, file, err, errlen) != 0)
        return -1;
    return 0;
}

int render_templates_load(render_templates **out, const char *dir, char *err, size_t errlen)
{
    render_templates *t = calloc(1, sizeof *t);
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int k = 0; k < K_COUNT; k++)
        for (int l = 0; l < L_COUNT; l++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s.%s.txt", dir, kind_names[k], lang_names[l]);
            char *text = read_file(path, 64 * 1024, err, errlen);
            int rc = text ? parse_template(&t->t[k][l], text, path, err, errlen) : -1;
            free(text);
            if (rc != 0) {
                render_templates_free(t);
                return -1;
            }
        }
    *out = t;
    return 0;
}

void render_templates_free(render_templates *t)
{
    if (t == NULL)
        return;
    for (int k = 0; k < K_COUNT; k++)
        for (int l = 0; l < L_COUNT; l++) {
            free(t->t[k][l].subject);
            free(t->t[k][l].body);
        }
    free(t);
}

/* ---- addresses and header values */

int render_address_safe(const char *addr)
{
    size_t len = strlen(addr);
    const char *at = strrchr(addr, '@');
    if (len == 0 || len > 254 || at == NULL || at == addr || at[1] == '\0')
        return 0;
    for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || strchr("<>(),;:\"\\[]", *p))
            return 0;
    return u8_check((const uint8_t *)addr, len) == NULL;
}

/* Bytes of text one encoded word may carry on a line with `room` columns left: the word is
 * "=?UTF-8?B?" + base64 + "?=" (12 + 4 per 3 bytes), at most 75 characters (RFC 2047 §2). */
static size_t word_bytes(size_t room)
{
    if (room > 75)
        room = 75;
    return room < 12 + 4 ? 0 : (room - 12) / 4 * 3;
}

char *render_encode_words(const char *text, size_t first)
{
    size_t len = strlen(text);
    char *clean = malloc(len + 1);
    if (clean == NULL)
        return NULL;
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = (unsigned char)text[i];
        clean[i] = (c != 0 && (c < 0x20 || c == 0x7f)) ? ' ' : (char)c;
    }
    yk_buf out = RENDER_BUF;
    /* A line of encoded words is at most 76 characters (RFC 2047 §2): the first shares its line
     * with what precedes it; the others follow the folding "\r\n ". 4 bytes hold any character. */
    size_t room = first < RENDER_LINE ? RENDER_LINE - first : 0;
    if (word_bytes(room) < 4) {
        yk_buf_adds(&out, "\r\n "); /* nothing fits beside the header name: fold at once */
        room = RENDER_LINE - 1;
    }
    size_t i = 0;
    do {
        size_t n = 0, max = word_bytes(room);
        while (i + n < len) {
            int cl = u8_mblen((const uint8_t *)clean + i + n, len - i - n);
            if (cl <= 0)
                cl = 1; /* not UTF-8: still never split beyond this byte */
            if (n + (size_t)cl > max)
                break;
            n += (size_t)cl; /* whole characters only: each word decodes on its own */
        }
        char b64[sodium_base64_ENCODED_LEN(60, sodium_base64_VARIANT_ORIGINAL)];
        sodium_bin2base64(b64, sizeof b64, (const unsigned char *)clean + i, n,
                          sodium_base64_VARIANT_ORIGINAL);
        if (i > 0)
            yk_buf_adds(&out, "\r\n ");
        yk_buf_adds(&out, "=?UTF-8?B?");
        yk_buf_adds(&out, b64);
        yk_buf_adds(&out, "?=");
        i += n;
        room = RENDER_LINE - 1;
    } while (i < len);
    free(clean);
    return buf_take(&out);
}

/* A display name is used as is when it is plain ASCII words, else encoded. */
static int plain_phrase(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr(" !#$%&'*+-/=?^_`{|}~", *p)))
            return 0;
    return 1;
}

static int dns_name(const char *s, size_t n)
{
    int letter = 0;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            letter = 1;
        else if (!((c >= '0' && c <= '9') || c == '-' || c == '.'))
            return 0;
    }
    return letter; /* an IP address is no DNS name */
}

int render_ctx_init(render_ctx *ctx, const char *public_url, const char *domain, const char *from,
                    const unsigned char key[YK_TOKEN_KEY_BYTES], char *err, size_t errlen)
{
    memset(ctx, 0, sizeof *ctx);
    memcpy(ctx->token_key, key, YK_TOKEN_KEY_BYTES);

    size_t ulen = strlen(public_url);
    while (ulen > 0 && public_url[ulen - 1] == '/')
        ulen--;
    const char *scheme = strstr(public_url, "://");
    if (ulen == 0 || ulen >= sizeof ctx->public_url || scheme == NULL) {
        snprintf(err, errlen, "YOYAKU_PUBLIC_URL: expected an absolute URL such as https://host");
        return -1;
    }
    for (size_t i = 0; i < ulen; i++)
        if ((unsigned char)public_url[i] <= 0x20 || public_url[i] == 0x7f) {
            snprintf(err, errlen, "YOYAKU_PUBLIC_URL: contains a space or control character");
            return -1;
        }
    memcpy(ctx->public_url, public_url, ulen);

    if (*domain) {
        if (!dns_name(domain, strlen(domain)) || strlen(domain) >= sizeof ctx->domain) {
            snprintf(err, errlen, "YOYAKU_MAIL_DOMAIN: expected a DNS name");
            return -1;
        }
        snprintf(ctx->domain, sizeof ctx->domain, "%s", domain);
    } else {
        const char *host = scheme + 3;
        size_t hlen = strcspn(host, ":/?#");
        if (memchr(host, '@', hlen) == NULL && dns_name(host, hlen) && hlen < sizeof ctx->domain)
            snprintf(ctx->domain, sizeof ctx->domain, "%.*s", (int)hlen, host);
        else
            snprintf(ctx->domain, sizeof ctx->domain, "yoyaku.invalid");
    }

    const char *lt = strrchr(from, '<');
    char addr[320];
    if (lt) {
        const char *gt = strchr(lt, '>');
        if (gt == NULL || gt[1] != '\0' || (size_t)(gt - lt - 1) >= sizeof addr) {
            snprintf(err, errlen, "YOYAKU_MAIL_FROM: expected \"Name <address>\" or \"address\"");
            return -1;
        }
        snprintf(addr, sizeof addr, "%.*s", (int)(gt - lt - 1), lt + 1);
    } else {
        snprintf(addr, sizeof addr, "%s", from);
    }
    if (!render_address_safe(addr)) {
        snprintf(err, errlen, "YOYAKU_MAIL_FROM: \"%s\" is not a usable address", addr);
        return -1;
    }
    snprintf(ctx->envelope_from, sizeof ctx->envelope_from, "%s", addr);
    char name[256] = "";
    if (lt) {
        const char *a = from, *b = lt;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        if ((size_t)(b - a) >= sizeof name) {
            snprintf(err, errlen, "YOYAKU_MAIL_FROM: display name too long");
            return -1;
        }
        snprintf(name, sizeof name, "%.*s", (int)(b - a), a);
    }
    if (name[0] == '\0') {
        snprintf(ctx->from_header, sizeof ctx->from_header, "%s", addr);
    } else if (plain_phrase(name)) {
        snprintf(ctx->from_header, sizeof ctx->from_header, "%s <%s>", name, addr);
    } else {
        char *enc = render_encode_words(name, strlen("From: "));
        if (enc == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        /* the address goes on the words' last line if that stays within 76 characters */
        const char *last = strrchr(enc, '\n');
        size_t col = last ? strlen(last + 1) : strlen("From: ") + strlen(enc);
        snprintf(ctx->from_header, sizeof ctx->from_header, "%s%s<%s>", enc,
                 col + 2 + strlen(addr) + 1 <= RENDER_LINE ? " " : "\r\n ", addr);
        free(enc);
    }
    return 0;
}

void render_message_id(const render_ctx *ctx, int64_t booking_id, const char *kind, char *out,
                       size_t outlen)
{
    snprintf(out, outlen, "<%s-%lld-%s@%s>",
             strcmp(kind, "waitlist_offer") == 0 ? "waitlist" : "booking", (long long)booking_id,
             kind, ctx->domain);
}

/* ---- local dates */

typedef struct {
    int y, m, d, dow; /* dow: ISO, 1 = Monday */
    char hm[6];
} local_time;

static int parse_local(const char *s, local_time *t)
{
    return s && sscanf(s, "%d-%d-%d-%d-%5s", &t->y, &t->m, &t->d, &t->dow, t->hm) == 5 &&
                   t->m >= 1 && t->m <= 12 && t->dow >= 1 && t->dow <= 7
               ? 0
               : -1;
}

static const char *const ja_dow[7] = {"月", "火", "水", "木", "金", "土", "日"};
static const char *const en_dow[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                      "Friday", "Saturday", "Sunday"};
static const char *const en_month[12] = {"January",   "February", "March",    "April",
                                         "May",       "June",     "July",     "August",
                                         "September", "October",  "November", "December"};

static void fmt_date(char *out, size_t len, const local_time *t, int lang)
{
    if (lang == L_JA)
        snprintf(out, len, "%d年%d月%d日(%s)", t->y, t->m, t->d, ja_dow[t->dow - 1]);
    else
        snprintf(out, len, "%s, %d %s %d", en_dow[t->dow - 1], t->d, en_month[t->m - 1], t->y);
}

static void fmt_time(char *out, size_t len, const local_time *s, const local_time *e, int lang)
{
    if (s->y == e->y && s->m == e->m && s->d == e->d) {
        snprintf(out, len, lang == L_JA ? "%s〜%s" : "%s–%s", s->hm, e->hm);
        return;
    }
    char ed[96];
    fmt_date(ed, sizeof ed, e, lang);
    snprintf(out, len, lang == L_JA ? "%s〜%s %s" : "%s – %s, %s", s->hm, ed, e->hm);
}

/* ---- one mail */

static char *header(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *header(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return s;
}

int render_build(const render_templates *t, const render_ctx *ctx, const mail_booking *b,
                 time_t now, render_mail *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int k = kind_index(b->kind), lang = lang_index(b->lang);
    if (k < 0) {
        snprintf(err, errlen, "unknown mail kind");
        return -1;
    }
    if (!render_address_safe(b->email)) {
        snprintf(err, errlen, "recipient address refused: not one plain mailbox");
        return -1;
    }
    local_time ls, le, lc;
    /* cancel_local is NULL once the cancellation deadline has passed: no deadline is promised */
    if (parse_local(b->start_local, &ls) || parse_local(b->end_local, &le) ||
        (b->cancel_local && parse_local(b->cancel_local, &lc))) {
        snprintf(err, errlen, "slot times unreadable");
        return -1;
    }

    char token[YK_TOKEN_LEN + 1], id[24], cancel_url[700], date[96], timestr[160], cdate[96],
        cancel_deadline[128], checkin[YK_CHECKIN_CODE_MAX + 1];
    yk_token_for_request(ctx->token_key, b->request_id, token);
    snprintf(id, sizeof id, "%lld", (long long)b->booking_id);
    yk_token_checkin_code(ctx->token_key, id, checkin);
    /* a waitlist offer: b names the entry, cancel_local is the offer's end (outbox.c) */
    bool offer = k == K_WAITLIST_OFFER;
    snprintf(cancel_url, sizeof cancel_url, "%s/%s/%s?token=%s", ctx->public_url,
             offer ? "waitlist" : "bookings", id, token);
    fmt_date(date, sizeof date, &ls, lang);
    fmt_time(timestr, sizeof timestr, &ls, &le, lang);
    cancel_deadline[0] = '\0'; /* empty: the templates' {{^cancel_deadline}} section shows */
    if (b->cancel_local) {
        fmt_date(cdate, sizeof cdate, &lc, lang);
        snprintf(cancel_deadline, sizeof cancel_deadline, lang == L_JA ? "%s %s" : "%s, %s", cdate,
                 lc.hm);
    }
    const char *name = b->name && *b->name ? b->name : lang == L_JA ? "ご予約者" : "guest";

    const char *values[P_COUNT] = {
        [P_BOOKING_ID] = id,
        [P_CANCEL_DEADLINE] = cancel_deadline,
        [P_CANCEL_URL] = cancel_url,
        [P_CHECKIN_CODE] = checkin,
        [P_DATE] = date,
        [P_EMAIL] = b->email,
        [P_ENDS_AT] = b->ends_at,
        [P_NAME] = name,
        [P_OFFER_DEADLINE] = offer ? cancel_deadline : "",
        [P_OFFER_URL] = offer ? cancel_url : "",
        [P_STARTS_AT] = b->starts_at,
        [P_TIME] = timestr,
        [P_TIMEZONE] = b->timezone,
        [P_TITLE] = b->title,
        [P_VENUE] = b->venue,
    };
    const tmpl *tp = &t->t[k][lang];
    yk_buf s = RENDER_BUF;
    expand(&s, tp->subject, values);
    out->subject = buf_take(&s);
    expand(&s, tp->body, values);
    out->text = buf_take(&s);
    char *subject_words =
        out->subject ? render_encode_words(out->subject, strlen("Subject: ")) : NULL;

    char msgid[400], date_hdr[64];
    render_message_id(ctx, b->booking_id, b->kind, msgid, sizeof msgid);
    struct tm tm;
    gmtime_r(&now, &tm);
    static const char *const wd[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mo[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    snprintf(date_hdr, sizeof date_hdr, "%s, %02d %s %04d %02d:%02d:%02d +0000", wd[tm.tm_wday],
             tm.tm_mday, mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);

    out->to = strdup(b->email);
    out->headers[out->nheaders++] = header("From: %s", ctx->from_header);
    out->headers[out->nheaders++] = header("To: %s", b->email);
    out->headers[out->nheaders++] = subject_words ? header("Subject: %s", subject_words) : NULL;
    out->headers[out->nheaders++] = header("Date: %s", date_hdr);
    out->headers[out->nheaders++] = header("Message-ID: %s", msgid);
    out->headers[out->nheaders++] = header("Auto-Submitted: auto-generated");
    out->headers[out->nheaders++] = header("Content-Language: %s", lang_names[lang]);
    free(subject_words);
    int failed = out->to == NULL || out->subject == NULL || out->text == NULL;
    for (int i = 0; i < out->nheaders; i++)
        failed |= out->headers[i] == NULL;
    if (!failed && k != K_CANCELLATION && k != K_WAITLIST_OFFER)
        failed = (out->ics = attach_ics(ctx->domain, b, lang == L_JA)) == NULL ||
                 attach_qr_png(checkin, &out->png, &out->png_len) != 0;
    if (failed) {
        snprintf(err, errlen, "out of memory while rendering");
        render_mail_free(out);
        return -1;
    }
    return 0;
}

void render_mail_free(render_mail *m)
{
    free(m->to);
    for (int i = 0; i < m->nheaders; i++)
        free(m->headers[i]);
    free(m->subject);
    free(m->text);
    free(m->ics);
    free(m->png);
    memset(m, 0, sizeof *m);
}
