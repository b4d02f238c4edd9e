/* export: the pure parts of the bookings.csv roster — RFC 4180 cells with the formula prefix,
 * records, header labels and the UTF-8 to CP932 conversion with a visible substitute. */
#include "export.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

int export_parse_lang(const char *s, export_lang *out)
{
    if (s[0] == '\0')
        *out = EXPORT_NAMES;
    else if (strcmp(s, "ja") == 0)
        *out = EXPORT_JA;
    else if (strcmp(s, "en") == 0)
        *out = EXPORT_EN;
    else
        return -1;
    return 0;
}

int export_parse_encoding(const char *s, export_encoding *out)
{
    if (s[0] == '\0' || strcasecmp(s, "utf-8") == 0)
        *out = EXPORT_UTF8;
    else if (strcasecmp(s, "cp932") == 0)
        *out = EXPORT_CP932;
    else
        return -1;
    return 0;
}

void export_cell(yk_buf *out, const char *s, size_t len)
{
    /* OWASP's CSV injection list: these start a formula (or, tab and CR, hide one) in Excel */
    int prefix = len > 0 && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' ||
                             s[0] == '\t' || s[0] == '\r');
    int quote = 0;
    for (size_t i = 0; i < len && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (quote)
        yk_buf_addc(out, '"');
    if (prefix)
        yk_buf_addc(out, '\'');
    if (!quote) {
        yk_buf_add(out, s, len);
        return;
    }
    for (const char *p = s, *end = s + len; p < end;) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        size_t n = q ? (size_t)(q - p) + 1 : (size_t)(end - p);
        yk_buf_add(out, p, n);
        if (q)
            yk_buf_addc(out, '"'); /* the quote doubled */
        p += n;
    }
    yk_buf_addc(out, '"');
}

void export_row(yk_buf *out, const char *const *cells, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            yk_buf_addc(out, ',');
        if (cells[i])
            export_cell(out, cells[i], strlen(cells[i]));
    }
    yk_buf_add(out, "\r\n", 2);
}

const char *export_fixed_header(int col, export_lang lang)
{
    static const char *const names[EXPORT_FIXED] = {"booking_id", "slot_starts_at", "slot_ends_at",
                                                    "status",     "email",          "created_at"};
    static const char *const ja[EXPORT_FIXED] = {"予約番号", "開始日時",       "終了日時",
                                                 "状態",     "メールアドレス", "申込日時"};
    static const char *const en[EXPORT_FIXED] = {"Booking ID", "Starts at", "Ends at",
                                                 "Status",     "Email",     "Created at"};
    if (col < 0 || col >= EXPORT_FIXED)
        return "";
    return lang == EXPORT_JA ? ja[col] : lang == EXPORT_EN ? en[col] : names[col];
}

const char *export_field_header(const json_t *def, export_lang lang)
{
    const char *name = json_string_value(json_object_get(def, "name"));
    const json_t *label = json_object_get(def, "label");
    if (name == NULL)
        name = "";
    if (lang == EXPORT_NAMES || label == NULL)
        return name;
    if (json_is_string(label))
        return json_string_value(label);
    const char *want = json_string_value(json_object_get(label, lang == EXPORT_JA ? "ja" : "en"));
    const char *other = json_string_value(json_object_get(label, lang == EXPORT_JA ? "en" : "ja"));
    return want ? want : other ? other : name;
}

/* Bytes of the UTF-8 sequence its lead byte announces, at most left (an invalid byte: 1). */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
    size_t n = p[0] >= 0xF0 && p[0] < 0xF8   ? 4
               : p[0] >= 0xE0 && p[0] < 0xF0 ? 3
               : p[0] >= 0xC0 && p[0] < 0xE0 ? 2
                                             : 1;
    return n < left ? n : left;
}

size_t export_cp932(yk_buf *out, iconv_t cd, const char *s, size_t len)
{
    size_t subs = 0;
    char *in = (char *)s; /* iconv's prototype; it does not write the input */
    size_t left = len;
    (void)iconv(cd, NULL, NULL, NULL, NULL); /* a fresh shift state (CP932 has none, but) */
    while (left > 0 && !out->failed) {
        char tmp[4096], *o = tmp;
        size_t room = sizeof tmp;
        size_t r = iconv(cd, &in, &left, &o, &room);
        int err = errno;
        yk_buf_add(out, tmp, (size_t)(o - tmp));
        if (r != (size_t)-1 || err == E2BIG)
            continue;
        /* EILSEQ (no CP932 code, or not UTF-8) or EINVAL (cut short): one character is lost,
         * and says so */
        size_t n = utf8_seq((const unsigned char *)in, left);
        in += n;
        left -= n;
        yk_buf_add(out, EXPORT_SUBSTITUTE, 2);
        subs++;
    }
    return subs;
}
