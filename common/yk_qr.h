/* yk_qr: a QR code (libqrencode) of a short text as a compact SVG document — a booking's check-in
 * code for the booking page and the desk's scanner — or as a PNG image (libpng) for mail, whose
 * readers do not show SVG. Writes into the caller's yk_buf; owns nothing. */
#ifndef YK_QR_H
#define YK_QR_H

#include "yk_buf.h"

#define YK_QR_QUIET 4 /* modules of white border on each side (ISO/IEC 18004 minimum) */

/* Appends to b an SVG of text (a C string of at most 256 bytes) encoded as a QR code, error
 * correction level M (15 % of the symbol may be damaged): viewBox of (width + 2 * YK_QR_QUIET)
 * units, one unit per module, a white background and one black path of the dark modules, each
 * row's runs as "M<x> <y>h<n>v1h-<n>z" (x, y counted from the symbol's corner, quiet zone
 * included). 0, or -1 when the text is too long, memory ran out or b failed (b's content is then
 * what it was before the call). */
__attribute__((warn_unused_result)) int yk_qr_svg(yk_buf *b, const char *text);

/* Appends to b the same symbol as a PNG: 1-bit greyscale, scale pixels per module (1 to 32),
 * the quiet zone included, so (width + 2 * YK_QR_QUIET) * scale pixels square. 0 or -1 as for
 * yk_qr_svg. */
__attribute__((warn_unused_result)) int yk_qr_png(yk_buf *b, const char *text, int scale);

#endif
