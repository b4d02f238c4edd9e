/* attach: the parts of a mail beside its text — the iCalendar event (libical) and the check-in
 * code's QR image (common/yk_qr, PNG). Each returns memory the caller owns. */
#include "attach.h"

#include <libical/ical.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

#include "yk_buf.h"
#include "yk_qr.h"

/* A text for a property: control characters become spaces and bytes that are not UTF-8 become
 * U+FFFD, since libical folds such text into bare CR and LF (found by tests/fuzz). malloc'd, or
 * NULL (out of memory). */
static char *ics_text(const char *s)
{
    size_t len = strlen(s);
    yk_buf b = YK_BUF_INIT(3 * len + 1);
    for (size_t i = 0; i < len;) {
        ucs4_t uc;
        int n = u8_mbtoucr(&uc, (const uint8_t *)s + i, len - i);
        if (n < 0) {
            yk_buf_add(&b, "\xef\xbf\xbd", 3);
            i++;
        } else if (uc < 0x20 || uc == 0x7f) {
            yk_buf_addc(&b, ' ');
            i++;
        } else {
            yk_buf_add(&b, s + i, (size_t)n);
            i += (size_t)n;
        }
    }
    yk_buf_addc(&b, '\0');
    if (b.failed) {
        yk_buf_free(&b);
        return NULL;
    }
    return b.p;
}

/* The content lines of text folded as RFC 5545 §3.1 says: at most 75 octets a line, never inside
 * a UTF-8 character, a fold being CRLF and one space. libical's own folds are undone first: it
 * folds a line that ends on its 75th octet between the CR and the LF of its end (found by
 * tests/fuzz), and removing its "\r\n " mends that too. malloc'd, or NULL (out of memory). */
static char *ics_refold(const char *text)
{
    size_t len = strlen(text);
    char *flat = malloc(len + 1); /* unfolded */
    if (flat == NULL)
        return NULL;
    size_t n = 0;
    for (const char *p = text; *p;) {
        if (p[0] == '\r' && p[1] == '\n' && p[2] == ' ')
            p += 3;
        else
            flat[n++] = *p++;
    }
    yk_buf b = YK_BUF_INIT(2 * n + 3);
    size_t col = 0;
    for (size_t i = 0; i < n;) {
        if (flat[i] == '\r' && i + 1 < n && flat[i + 1] == '\n') {
            yk_buf_add(&b, "\r\n", 2);
            i += 2;
            col = 0;
            continue;
        }
        size_t cl = 1; /* the character's octets */
        if ((unsigned char)flat[i] >= 0xc0)
            while (cl < 4 && i + cl < n && ((unsigned char)flat[i + cl] & 0xc0) == 0x80)
                cl++;
        if (col + cl > 75) {
            yk_buf_add(&b, "\r\n ", 3);
            col = 1;
        }
        yk_buf_add(&b, flat + i, cl);
        col += cl;
        i += cl;
    }
    free(flat);
    yk_buf_addc(&b, '\0');
    if (b.failed) {
        yk_buf_free(&b);
        return NULL;
    }
    return b.p;
}

char *attach_ics(const char *domain, const mail_booking *b, int japanese)
{
    icaltimezone *utc = icaltimezone_get_utc_timezone();
    char uid[320], desc[256];
    snprintf(uid, sizeof uid, "booking-%lld@%s", (long long)b->booking_id, domain);
    /* No cancel link here: calendars get shared and synced; the link is a credential. */
    snprintf(desc, sizeof desc, japanese ? "予約番号: %lld" : "Booking number: %lld",
             (long long)b->booking_id);
    char *title = ics_text(b->title), *venue = b->venue && *b->venue ? ics_text(b->venue) : NULL;
    icalcomponent *cal = icalcomponent_new(ICAL_VCALENDAR_COMPONENT);
    icalcomponent *ev = icalcomponent_new(ICAL_VEVENT_COMPONENT);
    if (cal == NULL || ev == NULL || title == NULL || (b->venue && *b->venue && venue == NULL)) {
        if (cal)
            icalcomponent_free(cal);
        if (ev)
            icalcomponent_free(ev);
        free(title);
        free(venue);
        return NULL;
    }
    icalcomponent_add_property(cal, icalproperty_new_version("2.0"));
    icalcomponent_add_property(cal,
                               icalproperty_new_prodid("-//yoyaku//notifier " YK_VERSION "//EN"));
    icalcomponent_add_property(cal, icalproperty_new_method(ICAL_METHOD_PUBLISH));
    icalcomponent_add_property(ev, icalproperty_new_uid(uid));
    icalcomponent_add_property(ev, icalproperty_new_dtstamp(icaltime_from_timet_with_zone(
                                       (time_t)b->stamp_epoch, 0, utc)));
    icalcomponent_add_property(ev, icalproperty_new_dtstart(icaltime_from_timet_with_zone(
                                       (time_t)b->starts_epoch, 0, utc)));
    icalcomponent_add_property(
        ev, icalproperty_new_dtend(icaltime_from_timet_with_zone((time_t)b->ends_epoch, 0, utc)));
    icalcomponent_add_property(ev, icalproperty_new_summary(title));
    if (venue)
        icalcomponent_add_property(ev, icalproperty_new_location(venue));
    icalcomponent_add_property(ev, icalproperty_new_description(desc));
    icalcomponent_add_property(ev, icalproperty_new_sequence(0));
    icalcomponent_add_property(ev, icalproperty_new_status(ICAL_STATUS_CONFIRMED));
    icalcomponent_add_property(ev, icalproperty_new_transp(ICAL_TRANSP_OPAQUE));
    icalcomponent_add_component(cal, ev); /* cal owns ev from here */
    char *text = icalcomponent_as_ical_string_r(cal);
    icalcomponent_free(cal);
    free(title);
    free(venue);
    if (text == NULL)
        return NULL;
    char *folded = ics_refold(text);
    icalmemory_free_buffer(text);
    return folded;
}

/* 6 pixels a module: a version-2 code is 198 pixels square, sharp on a phone and on paper. */
#define ATTACH_QR_SCALE 6

int attach_qr_png(const char *code, char **png, size_t *len)
{
    yk_buf b = YK_BUF_INIT(256 * 1024);
    *png = NULL;
    *len = 0;
    if (yk_qr_png(&b, code, ATTACH_QR_SCALE) != 0) {
        yk_buf_free(&b);
        return -1;
    }
    *png = b.p;
    *len = b.len;
    return 0;
}
