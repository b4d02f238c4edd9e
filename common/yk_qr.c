/* yk_qr: QR code SVG rendering over libqrencode; the QRcode matrix is owned for the call only. */
#include "yk_qr.h"

#include <qrencode.h>
#include <stdio.h>
#include <string.h>

/* Appends a decimal integer (small, non-negative). */
static void yk_qr_num(yk_buf *b, int v)
{
    char s[16];
    int n = snprintf(s, sizeof s, "%d", v);
    yk_buf_add(b, s, (size_t)n);
}

int yk_qr_svg(yk_buf *b, const char *text)
{
    if (strlen(text) > 256)
        return -1;
    /* 8-bit hint with case kept: libqrencode still picks alphanumeric or numeric segments where
     * they are shorter, so "YK1-…" codes take the smallest version. */
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (qr == NULL)
        return -1;
    size_t at = b->len;
    int w = qr->width, size = w + 2 * YK_QR_QUIET;
    yk_buf_adds(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ");
    yk_qr_num(b, size);
    yk_buf_addc(b, ' ');
    yk_qr_num(b, size);
    yk_buf_adds(b, "\" shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" "
                   "fill=\"#fff\"/><path fill=\"#000\" d=\"");
    for (int y = 0; y < w; y++) {
        const unsigned char *row = qr->data + (size_t)y * (size_t)w;
        for (int x = 0; x < w;) {
            if (!(row[x] & 1)) { /* bit 0 is the module's colour; the others are for debugging */
                x++;
                continue;
            }
            int run = 1;
            while (x + run < w && (row[x + run] & 1))
                run++;
            yk_buf_addc(b, 'M');
            yk_qr_num(b, x + YK_QR_QUIET);
            yk_buf_addc(b, ' ');
            yk_qr_num(b, y + YK_QR_QUIET);
            yk_buf_addc(b, 'h');
            yk_qr_num(b, run);
            yk_buf_adds(b, "v1h-");
            yk_qr_num(b, run);
            yk_buf_addc(b, 'z');
            x += run;
        }
    }
    yk_buf_adds(b, "\"/></svg>\n");
    QRcode_free(qr);
    if (b->failed) {
        yk_buf_rewind(b, at);
        return -1;
    }
    return 0;
}
