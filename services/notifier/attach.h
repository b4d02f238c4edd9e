/* attach: the iCalendar event and the check-in QR image of a confirmation or reminder mail. */
#ifndef ATTACH_H
#define ATTACH_H

#include <stddef.h>

#include "notifier.h"

/* The booking's event as iCalendar text (METHOD:PUBLISH, UID booking-<id>@domain), in Japanese
 * or English; the caller frees it. NULL when memory ran out. */
char *attach_ics(const char *domain, const mail_booking *b, int japanese);

/* A PNG of code as a QR code into *png (the caller frees it) and its size into *len. 0, or -1
 * (*png NULL) when the code is too long or memory ran out. */
__attribute__((warn_unused_result)) int attach_qr_png(const char *code, char **png, size_t *len);

#endif
