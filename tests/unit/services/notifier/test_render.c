/* Unit suite for services/notifier/render.c: templates, header encoding, address checks, the
 * iCalendar part. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <unistr.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attach.h"
#include "render.h"

static render_templates *tpl;
static render_ctx ctx;

static mail_booking booking(const char *kind, const char *lang)
{
    return (mail_booking){
        .booking_id = 42,
        .kind = kind,
        .lang = lang,
        .request_id = "0123456789abcdef0123456789abcdef",
        .email = "taro@example.com",
        .name = "予約 太郎",
        .title = "ワクチン接種（3回目）",
        .venue = "市民会館 2階",
        .timezone = "Asia/Tokyo",
        .start_local = "2026-12-01-2-09:00",
        .end_local = "2026-12-01-2-09:30",
        .cancel_local = "2026-11-30-1-09:00",
        .starts_at = "2026-12-01T09:00:00+09:00",
        .ends_at = "2026-12-01T09:30:00+09:00",
        .starts_epoch = 1796083200, /* 2026-12-01T00:00:00Z */
        .ends_epoch = 1796085000,
        .stamp_epoch = 1795000000,
    };
}

/* 1 if p[0..n) is whole UTF-8 characters: no word may end or start inside one (RFC 2047 §5). */
static int whole_chars(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t cl = p[i] < 0x80 ? 1 : p[i] >= 0xF0 ? 4 : p[i] >= 0xE0 ? 3 : p[i] >= 0xC0 ? 2 : 0;
        if (cl == 0 || i + cl > n)
            return 0;
        for (size_t j = 1; j < cl; j++)
            if ((p[i + j] & 0xC0) != 0x80)
                return 0;
        i += cl;
    }
    return 1;
}

/* Decodes a header value of RFC 2047 B-words joined by "\r\n " (what render_encode_words makes). */
static char *decode_words(const char *v)
{
    char *out = calloc(1, 4096);
    size_t len = 0;
    while (*v) {
        assert_true(strncmp(v, "=?UTF-8?B?", 10) == 0);
        v += 10;
        const char *end = strstr(v, "?=");
        assert_non_null(end);
        assert_true(end - v + 12 <= 75);
        size_t n;
        assert_int_equal(sodium_base642bin((unsigned char *)out + len, 4096 - len - 1, v,
                                           (size_t)(end - v), NULL, &n, NULL,
                                           sodium_base64_VARIANT_ORIGINAL),
                         0);
        assert_true(whole_chars((const unsigned char *)out + len, n));
        len += n;
        v = end + 2;
        if (*v) {
            assert_memory_equal(v, "\r\n ", 3);
            v += 3;
        }
    }
    return out;
}

static const char *header_value(const render_mail *m, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < m->nheaders; i++)
        if (strncmp(m->headers[i], name, n) == 0 && m->headers[i][n] == ':')
            return m->headers[i] + n + 2;
    return NULL;
}

/* No header may hold a CR or LF except as folding ("\r\n" then a space). */
static void assert_headers_clean(const render_mail *m)
{
    for (int i = 0; i < m->nheaders; i++)
        for (const char *p = m->headers[i]; *p; p++)
            if (*p == '\r' || *p == '\n') {
                assert_true(p[0] == '\r' && p[1] == '\n' && p[2] == ' ');
                p += 2;
            }
}

static int setup(void **state)
{
    char err[512];
    if (sodium_init() < 0)
        return -1;
    if (render_templates_load(&tpl, YK_TEST_TEMPLATES, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    unsigned char key[YK_TOKEN_KEY_BYTES] = {1, 2, 3};
    return render_ctx_init(&ctx, "https://yoyaku.example.org/", "", "予約係 <noreply@example.org>",
                           key, err, sizeof err);
}

static int teardown(void **state)
{
    render_templates_free(tpl);
    return 0;
}

static void test_ctx(void **state)
{
    assert_string_equal(ctx.domain, "yoyaku.example.org");
    assert_string_equal(ctx.public_url, "https://yoyaku.example.org");
    assert_string_equal(ctx.envelope_from, "noreply@example.org");
    assert_non_null(strstr(ctx.from_header, "=?UTF-8?B?"));
    assert_non_null(strstr(ctx.from_header, " <noreply@example.org>"));

    render_ctx c;
    char err[256];
    unsigned char key[YK_TOKEN_KEY_BYTES] = {0};
    assert_int_equal(
        render_ctx_init(&c, "http://127.0.0.1:8080", "", "noreply@x.example", key, err, sizeof err),
        0);
    assert_string_equal(c.domain, "yoyaku.invalid"); /* an IP address is no mail domain */
    assert_string_equal(c.from_header, "noreply@x.example");
    assert_int_equal(render_ctx_init(&c, "http://127.0.0.1:8080", "mail.example", "a <b@c>", key,
                                     err, sizeof err),
                     0);
    assert_string_equal(c.domain, "mail.example");
    assert_string_equal(c.from_header, "a <b@c>");
    /* a long encoded display name: folded, every line within 76 characters with "From: " */
    assert_int_equal(
        render_ctx_init(
            &c, "http://h", "",
            "予約係予約係予約係予約係予約係予約係予約係予約係予約係予約 <noreply@example.org>", key,
            err, sizeof err),
        0);
    size_t col = strlen("From: ");
    for (const char *p = c.from_header; *p; p++, col++)
        if (*p == '\r') {
            assert_true(col <= 76);
            col = (size_t)-1;
            p++;
        }
    assert_true(col <= 76);
    assert_non_null(strstr(c.from_header, "\r\n <noreply@example.org>"));
    assert_int_equal(
        render_ctx_init(&c, "http://h", "", "x <a@b\r\nBcc: c@d>", key, err, sizeof err), -1);
    assert_int_equal(render_ctx_init(&c, "http://h", "bad domain", "a@b", key, err, sizeof err),
                     -1);
}

static void test_confirmation_ja(void **state)
{
    mail_booking b = booking("confirmation", "ja");
    render_mail m;
    char err[256];
    assert_int_equal(render_build(tpl, &ctx, &b, 1795000000, &m, err, sizeof err), 0);
    assert_headers_clean(&m);
    assert_string_equal(m.to, "taro@example.com");
    assert_string_equal(header_value(&m, "To"), "taro@example.com");
    assert_string_equal(header_value(&m, "Message-ID"),
                        "<booking-42-confirmation@yoyaku.example.org>");
    assert_non_null(header_value(&m, "Date"));
    assert_non_null(strstr(header_value(&m, "Date"), " +0000"));
    char *subject = decode_words(header_value(&m, "Subject"));
    assert_string_equal(subject,
                        "【予約確定】ワクチン接種（3回目） 2026年12月1日(火) 09:00〜09:30");
    assert_string_equal(subject, m.subject);
    free(subject);

    char token[YK_TOKEN_LEN + 1], url[256];
    yk_token_for_request(ctx.token_key, b.request_id, token);
    snprintf(url, sizeof url, "https://yoyaku.example.org/bookings/42?token=%s", token);
    assert_non_null(strstr(m.text, url));
    assert_non_null(strstr(m.text, "予約 太郎 様"));
    assert_non_null(strstr(m.text, "市民会館 2階"));
    assert_non_null(strstr(m.text, "2026年11月30日(月) 09:00 までに"));
    assert_non_null(strstr(m.text, "\r\n"));
    assert_null(strstr(m.text, "{{"));
    for (const char *p = m.text; (p = strchr(p, '\n')) != NULL; p++)
        assert_true(p > m.text && p[-1] == '\r');

    assert_non_null(m.ics);
    assert_non_null(strstr(m.ics, "METHOD:PUBLISH"));
    assert_non_null(strstr(m.ics, "UID:booking-42@yoyaku.example.org"));
    assert_non_null(strstr(m.ics, "DTSTART:20261201T000000Z"));
    assert_non_null(strstr(m.ics, "DTEND:20261201T003000Z"));
    assert_non_null(strstr(m.ics, "DTSTAMP:20261118T"));
    assert_non_null(strstr(m.ics, "LOCATION:市民会館 2階"));
    assert_null(strstr(m.ics, "token=")); /* calendars get shared: no credential in them */
    render_mail_free(&m);
}

static void test_english_and_kinds(void **state)
{
    char err[256];
    render_mail m;
    mail_booking b = booking("reminder", "en");
    b.name = NULL;
    assert_int_equal(render_build(tpl, &ctx, &b, 0, &m, err, sizeof err), 0);
    char *subject = decode_words(header_value(&m, "Subject"));
    assert_string_equal(subject,
                        "Reminder: ワクチン接種（3回目）, Tuesday, 1 December 2026 09:00–09:30");
    free(subject);
    assert_non_null(strstr(m.text, "Dear guest,"));
    assert_string_equal(header_value(&m, "Message-ID"), "<booking-42-reminder@yoyaku.example.org>");
    assert_non_null(m.ics);
    render_mail_free(&m);

    b = booking("cancellation", "ja");
    assert_int_equal(render_build(tpl, &ctx, &b, 0, &m, err, sizeof err), 0);
    assert_null(m.ics);
    assert_string_equal(header_value(&m, "Message-ID"),
                        "<booking-42-cancellation@yoyaku.example.org>");
    render_mail_free(&m);

    /* a waitlist offer: the entry's link (its token derives from the join's request id, as a
     * booking's), the hold's end, its own Message-ID, and no calendar nor QR (no booking yet) */
    b = booking("waitlist_offer", "en");
    assert_int_equal(render_build(tpl, &ctx, &b, 0, &m, err, sizeof err), 0);
    assert_null(m.ics);
    assert_null(m.png);
    assert_string_equal(header_value(&m, "Message-ID"),
                        "<waitlist-42-waitlist_offer@yoyaku.example.org>");
    char token[YK_TOKEN_LEN + 1], url[256];
    yk_token_for_request(ctx.token_key, b.request_id, token);
    snprintf(url, sizeof url, "/waitlist/42?token=%s\r\n", token);
    assert_non_null(strstr(m.text, url));
    assert_null(strstr(m.text, "/bookings/"));
    assert_non_null(strstr(m.text, "before Monday, 30 November 2026, 09:00"));
    assert_null(strstr(m.text, "{{"));
    render_mail_free(&m);
    b = booking("waitlist_offer", "ja");
    assert_int_equal(render_build(tpl, &ctx, &b, 0, &m, err, sizeof err), 0);
    assert_non_null(strstr(m.subject, "空席"));
    assert_non_null(strstr(m.text, "2026年11月30日(月) 09:00 までに"));
    render_mail_free(&m);

    /* a slot past midnight shows its end date */
    b = booking("confirmation", "ja");
    b.end_local = "2026-12-02-3-01:00";
    assert_int_equal(render_build(tpl, &ctx, &b, 0, &m, err, sizeof err), 0);
    assert_non_null(strstr(m.subject, "09:00〜2026年12月2日(水) 01:00"));
    render_mail_free(&m);
}

/* The check-in code (the token module's, for booking 42) in the text, labelled per language, and
 * its QR as a PNG, for confirmations and reminders; a cancellation carries neither. */
static void test_checkin_code(void **state)
{
    static const char *const kinds[] = {"confirmation", "reminder", "cancellation"};
    char code[YK_CHECKIN_CODE_MAX + 1], line[96], err[256];
    yk_token_checkin_code(ctx.token_key, "42", code);
    assert_true(strncmp(code, "YK1-42-", 7) == 0);
    for (int k = 0; k < 3; k++)
        for (int lang = 0; lang < 2; lang++) {
            mail_booking b = booking(kinds[k], lang ? "en" : "ja");
            render_mail m;
            assert_int_equal(render_build(tpl, &ctx, &b, 0, &m, err, sizeof err), 0);
            snprintf(line, sizeof line, "%s%s\r\n",
                     lang ? "Check-in code:  " : "受付コード: ", code);
            if (k == 2) {
                assert_null(strstr(m.text, code));
                assert_null(m.png);
                assert_int_equal(m.png_len, 0);
            } else {
                assert_non_null(strstr(m.text, line));
                assert_non_null(strstr(m.text, "checkin.png"));
                assert_non_null(m.png);
                assert_true(m.png_len > 100);
                assert_memory_equal(m.png, "\x89PNG\r\n\x1a\n", 8);
            }
            render_mail_free(&m);
        }
}

static void test_injection(void **state)
{
    char err[256];
    render_mail m;
    mail_booking b = booking("confirmation", "ja");
    b.email = "taro@example.com\r\nBcc: evil@example.net";
    assert_int_equal(render_build(tpl, &ctx, &b, 0, &m, err, sizeof err), -1);
    assert_null(m.to);

    /* a name or title with CR/LF reaches the body only; the subject is encoded words */
    b = booking("confirmation", "ja");
    b.name = "太郎\r\nBcc: evil@example.net";
    b.title = "講座\r\nBcc: evil@example.net";
    assert_int_equal(render_build(tpl, &ctx, &b, 0, &m, err, sizeof err), 0);
    assert_headers_clean(&m);
    for (int i = 0; i < m.nheaders; i++)
        assert_null(strstr(m.headers[i], "Bcc"));
    /* …and there on one line, the CR/LF as spaces: the body's line ends stay CRLF throughout
     * (tests/fuzz found the bare ones) */
    assert_non_null(strstr(m.text, "太郎  Bcc: evil@example.net"));
    assert_non_null(strstr(m.subject, "講座  Bcc: evil@example.net"));
    for (const char *p = m.text; *p; p++)
        if (*p == '\r' || *p == '\n')
            assert_true(*p == '\r' ? p[1] == '\n' : p > m.text && p[-1] == '\r');
    render_mail_free(&m);

    assert_true(render_address_safe("user+tag@example.com"));
    assert_true(render_address_safe("ユーザー@例え.jp"));
    const char *bad[] = {
        "",      "a",    "a@",    "@b",      "a b@c",   "a@b\r\n", "a@b\nRCPT TO:<x@y>",
        "<a@b>", "a@b>", "a,b@c", "a@b\x7f", "\"a\"@b", "a@b\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(render_address_safe(bad[i]));
}

/* A title that libical folded into bare CR and LF — control characters and bytes that are not
 * UTF-8 (found by tests/fuzz): the calendar part keeps CRLF line ends and is UTF-8 throughout. */
static void test_ics_odd_text(void **state)
{
    char err[256];
    render_mail m;
    mail_booking b = booking("reminder", "ja");
    b.title = "\x12\x09\xe4\xba\x88\xe7\xb4\x84\xe3\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
              "\xf6\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
              "use_"
              "derivat\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
              "\x06\x06\x06\xff\xff\x06\x06\x06";
    b.venue = "Hall\r\n2F";
    assert_int_equal(render_build(tpl, &ctx, &b, 0, &m, err, sizeof err), 0);
    assert_non_null(m.ics);
    for (const char *p = m.ics; *p; p++)
        if (*p == '\r' || *p == '\n')
            assert_true(*p == '\r' ? p[1] == '\n' : p > m.ics && p[-1] == '\r');
    assert_null(u8_check((const uint8_t *)m.ics, strlen(m.ics)));
    assert_non_null(strstr(m.ics, "use_derivat"));
    assert_non_null(strstr(m.ics, "LOCATION:Hall  2F\r\n"));
    render_mail_free(&m);
}

/* Titles of 3-octet characters and ASCII, of every length around the folds: libical folded a
 * line ending on its 75th octet between the CR and the LF (found by tests/fuzz). Each line of
 * the calendar ends in CRLF and holds at most 75 octets; folds fall between whole characters
 * and unfold to the title. */
static void test_ics_folding(void **state)
{
    for (int k = 0; k < 30; k++)
        for (int a = 0; a < 8; a++) {
            char title[128] = "", want[160];
            for (int i = 0; i < k; i++)
                strcat(title, "\xef\xbf\xbd");
            strncat(title, "abcdefgh", (size_t)a);
            mail_booking b = booking("confirmation", "ja");
            b.title = title;
            char *ics = attach_ics("example.org", &b, 1);
            assert_non_null(ics);
            size_t col = 0, n = 0;
            char *flat = malloc(strlen(ics) + 1);
            assert_non_null(flat);
            for (const char *p = ics; *p; p++) {
                if (*p == '\r' || *p == '\n') {
                    assert_true(p[0] == '\r' && p[1] == '\n');
                    assert_true(col <= 75);
                    col = 0;
                    p++;
                    if (p[1] == ' ') { /* a fold: never before a character's continuation */
                        assert_false(((unsigned char)p[2] & 0xc0) == 0x80);
                        p++;
                        col = 1;
                    } else {
                        flat[n++] = '\r';
                        flat[n++] = '\n';
                    }
                    continue;
                }
                col++;
                flat[n++] = *p;
            }
            flat[n] = '\0';
            snprintf(want, sizeof want, "\r\nSUMMARY:%s\r\n", title);
            assert_non_null(strstr(flat, want));
            free(flat);
            free(ics);
        }
}

static void test_encode_words(void **state)
{
    char text[600];
    size_t len = 0;
    for (int i = 0; i < 60; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "あ%d", i % 10);
    char *enc = render_encode_words(text, 9);
    char *dec = decode_words(enc);
    assert_string_equal(dec, text);
    free(dec);
    free(enc);

    enc = render_encode_words("a\r\nb\tc", 9);
    dec = decode_words(enc);
    assert_string_equal(dec, "a  b c");
    free(dec);
    free(enc);

    enc = render_encode_words("", 9);
    assert_string_equal(enc, "=?UTF-8?B?"
                             "?=");
    free(enc);

    /* word sizes: 39 bytes beside "Subject: " (a 64-character word, a 73-character line), then
     * 45 (72 + the folding space); 3-byte characters: 13 beside "Subject: ", then 15 */
    char as[200];
    memset(as, 'a', sizeof as);
    as[39 + 45 + 1] = '\0';
    enc = render_encode_words(as, 9);
    const char *l2 = strstr(enc, "\r\n ");
    assert_non_null(l2);
    assert_int_equal(l2 - enc, 12 + 52);
    const char *l3 = strstr(l2 + 3, "\r\n ");
    assert_non_null(l3);
    assert_int_equal(l3 - (l2 + 3), 12 + 60);
    assert_string_equal(l3 + 3, "=?UTF-8?B?YQ==?=");
    free(enc);
    enc = render_encode_words("予予予予予予予予予予予予予予", 9); /* 14 characters */
    dec = decode_words(enc);
    assert_string_equal(dec, "予予予予予予予予予予予予予予");
    free(dec);
    l2 = strstr(enc, "\r\n ");
    assert_int_equal(l2 - enc, 12 + 52); /* 13 characters = 39 bytes */
    assert_string_equal(l2 + 3, "=?UTF-8?B?5LqI?=");
    free(enc);
    /* no room at all beside the header name: fold first */
    enc = render_encode_words("x", 70);
    assert_string_equal(enc, "\r\n =?UTF-8?B?eA==?=");
    free(enc);
}

/* Every line of the Subject header, as it goes on the wire: "Subject: " + value, folded. */
static void assert_subject_folded(const render_mail *m)
{
    const char *v = header_value(m, "Subject");
    assert_non_null(v);
    const char *line = v - strlen("Subject: ");
    for (;;) {
        const char *end = strstr(line, "\r\n");
        size_t n = end ? (size_t)(end - line) : strlen(line);
        assert_true(n <= 76);
        for (const char *w = line; (w = strstr(w, "=?")) != NULL && w < line + n;) {
            const char *e = strstr(w + 10, "?=");
            assert_non_null(e);
            assert_true(e + 2 - w <= 75); /* one encoded word, RFC 2047 §2 */
            w = e + 2;
        }
        if (end == NULL)
            break;
        assert_true(end[2] == ' ');
        line = end + 2;
    }
    char *dec = decode_words(v);
    assert_string_equal(dec, m->subject);
    free(dec);
}

/* Long titles of 1-, 2-, 3- and 4-byte characters, every length up to 120 characters: each word
 * boundary falls at every possible offset once. */
static void test_subject_folding(void **state)
{
    static const char *const unit[] = {"a", "é", "予", "😀", "予a", "Japan 予約 "};
    char err[256];
    for (size_t u = 0; u < sizeof unit / sizeof unit[0]; u++)
        for (int lang = 0; lang < 2; lang++)
            for (int n = 0; n < 120; n++) {
                char title[2400] = "";
                for (int i = 0; i < n; i++)
                    strcat(title, unit[u]);
                mail_booking b = booking("confirmation", lang ? "en" : "ja");
                b.title = title;
                render_mail m;
                assert_int_equal(render_build(tpl, &ctx, &b, 0, &m, err, sizeof err), 0);
                assert_non_null(strstr(m.subject, title));
                assert_subject_folded(&m);
                render_mail_free(&m);
            }
}

/* A booking made inside cancel_until_hours: the claim passes no deadline (NULL); the mail must not
 * promise one, and says that online cancellation is over, in both languages. */
static void test_no_past_deadline(void **state)
{
    static const char *const kinds[] = {"confirmation", "reminder"};
    char err[256];
    for (int k = 0; k < 2; k++) {
        render_mail m;
        mail_booking b = booking(kinds[k], "ja");
        b.cancel_local = NULL;
        assert_int_equal(render_build(tpl, &ctx, &b, 0, &m, err, sizeof err), 0);
        assert_null(strstr(m.text, "までに"));
        assert_null(strstr(m.text, "2026年11月30日"));
        assert_non_null(strstr(m.text, "オンラインでのキャンセル受付は終了しました"));
        assert_non_null(strstr(m.text, "/bookings/42?token=")); /* still shows the booking */
        assert_null(strstr(m.text, "{{"));
        render_mail_free(&m);

        b = booking(kinds[k], "en");
        b.cancel_local = NULL;
        assert_int_equal(render_build(tpl, &ctx, &b, 0, &m, err, sizeof err), 0);
        assert_null(strstr(m.text, "cancel before"));
        assert_null(strstr(m.text, "November"));
        assert_non_null(strstr(m.text, "can no longer be cancelled online"));
        render_mail_free(&m);

        /* with a deadline ahead, it is given */
        b = booking(kinds[k], "en");
        assert_int_equal(render_build(tpl, &ctx, &b, 0, &m, err, sizeof err), 0);
        assert_non_null(strstr(m.text, "cancel before Monday, 30 November 2026, 09:00"));
        assert_null(strstr(m.text, "no longer"));
        render_mail_free(&m);
    }
}

/* No venue: no "Where:" / "会場:" line at all, in every kind and language; a venue: the line. */
static void test_no_empty_where(void **state)
{
    static const char *const kinds[] = {"confirmation", "reminder", "cancellation"};
    char err[256];
    for (int k = 0; k < 3; k++)
        for (int lang = 0; lang < 2; lang++)
            for (int v = 0; v < 3; v++) {
                mail_booking b = booking(kinds[k], lang ? "en" : "ja");
                b.venue = v == 0 ? NULL : v == 1 ? "" : "Hall 2";
                render_mail m;
                assert_int_equal(render_build(tpl, &ctx, &b, 0, &m, err, sizeof err), 0);
                const char *label = lang ? "Where:" : "会場:";
                if (v < 2) {
                    assert_null(strstr(m.text, label));
                } else {
                    const char *l = strstr(m.text, label);
                    assert_non_null(l);
                    assert_non_null(strstr(l, "Hall 2\r\n"));
                }
                assert_null(strstr(m.text, "{{"));
                assert_null(strstr(m.text, "\r\n\r\n\r\n"));
                render_mail_free(&m);
            }
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_bad_templates(void **state)
{
    char dir[] = "/tmp/yk-tpl-XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *kinds[] = {"confirmation", "reminder", "cancellation", "waitlist_offer"};
    for (int k = 0; k < 4; k++)
        for (int l = 0; l < 2; l++) {
            char name[64];
            snprintf(name, sizeof name, "%s.%s.txt", kinds[k], l ? "en" : "ja");
            write_file(dir, name, "Subject: {{title}}\n\nhello {{ name }}\n");
        }
    render_templates *t;
    char err[512];
    assert_int_equal(render_templates_load(&t, dir, err, sizeof err), 0);
    render_templates_free(t);

    write_file(dir, "reminder.en.txt", "Subject: x\n\n{{tittle}}\n");
    assert_int_equal(render_templates_load(&t, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "reminder.en.txt"));
    assert_non_null(strstr(err, "tittle"));

    write_file(dir, "reminder.en.txt", "no subject line\n");
    assert_int_equal(render_templates_load(&t, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "Subject"));

    write_file(dir, "reminder.en.txt", "Subject: \xff\n\nx\n");
    assert_int_equal(render_templates_load(&t, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "UTF-8"));

    /* sections: alone on their line, closed, not nested, not in the subject */
    write_file(dir, "reminder.en.txt", "Subject: x\n\n{{#venue}}\n{{venue}}\n {{/venue}} \n");
    assert_int_equal(render_templates_load(&t, dir, err, sizeof err), 0);
    render_templates_free(t);
    const char *bad[] = {"Subject: x\n\n{{#venue}}\nx\n",
                         "Subject: x\n\nx {{#venue}}\n{{/venue}}\n",
                         "Subject: x\n\n{{#venue}}\n{{^name}}\n{{/name}}\n{{/venue}}\n",
                         "Subject: x\n\n{{/venue}}\n",
                         "Subject: {{#venue}}\n\nx\n",
                         "Subject: x\n\n{{#venus}}\n{{/venus}}\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(dir, "reminder.en.txt", bad[i]);
        assert_int_equal(render_templates_load(&t, dir, err, sizeof err), -1);
        assert_non_null(strstr(err, "reminder.en.txt"));
    }

    char path[512];
    snprintf(path, sizeof path, "%s/reminder.en.txt", dir);
    unlink(path);
    assert_int_equal(render_templates_load(&t, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "reminder.en.txt"));
    for (int k = 0; k < 3; k++)
        for (int l = 0; l < 2; l++) {
            snprintf(path, sizeof path, "%s/%s.%s.txt", dir, kinds[k], l ? "en" : "ja");
            unlink(path);
        }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctx),
        cmocka_unit_test(test_confirmation_ja),
        cmocka_unit_test(test_english_and_kinds),
        cmocka_unit_test(test_checkin_code),
        cmocka_unit_test(test_injection),
        cmocka_unit_test(test_ics_odd_text),
        cmocka_unit_test(test_ics_folding),
        cmocka_unit_test(test_encode_words),
        cmocka_unit_test(test_bad_templates),
        cmocka_unit_test(test_subject_folding),
        cmocka_unit_test(test_no_past_deadline),
        cmocka_unit_test(test_no_empty_where),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
