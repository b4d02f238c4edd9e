/* yk_qr: QR code SVG and PNG rendering over libqrencode and libpng; the QRcode matrix and the
 * PNG writer are owned for the call only. */
#include "yk_qr.h"

#include <png.h>
#include <qrencode.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends a decimal integer (small, non-negative). */
static void yk_qr_num(yk_buf *b, int v)
{
    char s[16];
    int n = snprintf(s, sizeof s, "%d", v);
    yk_buf_add(b, s, (size_t)n);
}

static QRcode *yk_qr_encode(const char *text)
{
    if (strlen(text) > 256)
        return NULL;
    /* 8-bit hint with case kept: libqrencode still picks alphanumeric or numeric segments where
     * they are shorter, so "YK1-…" codes take the smallest version. */
    return QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
}

int yk_qr_svg(yk_buf *b, const char *text)
{
    QRcode *qr = yk_qr_encode(text);
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

static void yk_qr_png_write(png_structp png, png_bytep data, size_t n)
{
    yk_buf_add(png_get_io_ptr(png), data, n);
}

static void yk_qr_png_flush(png_structp png)
{
    (void)png;
}

int yk_qr_png(yk_buf *b, const char *text, int scale)
{
    if (scale < 1 || scale > 32)
        return -1;
    QRcode *qr = yk_qr_encode(text);
    if (qr == NULL)
        return -1;
    size_t at = b->len;
    int w = qr->width, px = (w + 2 * YK_QR_QUIET) * scale;
    size_t stride = ((size_t)px + 7) / 8;
    /* volatile: both are read after a longjmp out of libpng. */
    unsigned char *volatile row = malloc(stride);
    png_structp volatile png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int rc = -1;
    if (row == NULL || info == NULL || setjmp(png_jmpbuf(png)))
        goto out;
    png_set_write_fn(png, b, yk_qr_png_write, yk_qr_png_flush);
    png_set_IHDR(png, info, (png_uint_32)px, (png_uint_32)px, 1, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < px; y++) {
        int my = y / scale - YK_QR_QUIET;
        memset(row, 0xff, stride); /* 1 is white in 1-bit greyscale */
        for (int x = 0; my >= 0 && my < w && x < px; x++) {
            int mx = x / scale - YK_QR_QUIET;
            if (mx >= 0 && mx < w && (qr->data[(size_t)my * (size_t)w + (size_t)mx] & 1))
                row[x / 8] &= (unsigned char)~(0x80u >> (x % 8));
        }
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    rc = b->failed ? -1 : 0;
out:
    png_destroy_write_struct((png_structpp)&png, info ? &info : NULL);
    free(row);
    QRcode_free(qr);
    if (rc != 0)
        yk_buf_rewind(b, at);
    return rc;
}
