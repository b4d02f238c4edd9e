/* Unit tests for common/yk_qr.c: the SVG's frame, and its path read back module by module equals
 * libqrencode's own matrix. Owns nothing but its own test cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <png.h>
#include <qrencode.h>

#include "yk_qr.h"

/* Paints the runs of the path d="…" into m (size × size, 1 = dark); -1 when a run is malformed
 * or leaves the frame. */
static int paint(const char *svg, unsigned char *m, int size)
{
    const char *d = strstr(svg, " d=\"");
    if (d == NULL)
        return -1;
    d += 4;
    while (*d == 'M') {
        int x, y, n, n2, used;
        if (sscanf(d, "M%d %dh%dv1h-%dz%n", &x, &y, &n, &n2, &used) != 4 || n != n2 || n < 1 ||
            x < 0 || y < 0 || x + n > size || y >= size)
            return -1;
        for (int i = 0; i < n; i++) {
            if (m[y * size + x + i])
                return -1; /* painted twice: runs must not overlap */
            m[y * size + x + i] = 1;
        }
        d += used;
    }
    return strncmp(d, "\"/></svg>", 9) == 0 ? 0 : -1;
}

static void check(const char *text)
{
    yk_buf b = YK_BUF_INIT(1 << 20);
    assert_int_equal(yk_qr_svg(&b, text), 0);
    yk_buf_addc(&b, '\0');
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    assert_non_null(qr);
    int size = qr->width + 2 * YK_QR_QUIET;
    char head[128];
    snprintf(head, sizeof head, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\"",
             size, size);
    assert_memory_equal(b.p, head, strlen(head));
    assert_non_null(strstr(b.p, "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"));
    /* exactly one path */
    const char *path = strstr(b.p, "<path");
    assert_non_null(path);
    assert_null(strstr(path + 1, "<path"));
    unsigned char *m = calloc((size_t)size * (size_t)size, 1);
    assert_int_equal(paint(b.p, m, size), 0);
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            int in = x >= YK_QR_QUIET && y >= YK_QR_QUIET && x < size - YK_QR_QUIET &&
                     y < size - YK_QR_QUIET;
            int want = in ? qr->data[(y - YK_QR_QUIET) * qr->width + x - YK_QR_QUIET] & 1 : 0;
            assert_int_equal(m[y * size + x], want);
        }
    free(m);
    QRcode_free(qr);
    yk_buf_free(&b);
}

static void matrix_matches(void **state)
{
    check("YK1-1-EGFBE2");
    check("YK1-1234567890123456789-J4X01X");
    check("mixed Case and ünïcode");
}

static void version_small(void **state)
{
    /* A check-in code fits version 2 (25 modules): big modules on a phone screen. */
    yk_buf b = YK_BUF_INIT(1 << 20);
    assert_int_equal(yk_qr_svg(&b, "YK1-1234567890123456789-J4X01X"), 0);
    yk_buf_addc(&b, '\0');
    assert_non_null(strstr(b.p, "viewBox=\"0 0 33 33\""));
    yk_buf_free(&b);
}

/* The PNG, read back with libpng's own reader, shows the matrix at the scale asked for. */
static void png_matches(void **state)
{
    const char *text = "YK1-42-NDXEJH";
    int scale = 3;
    yk_buf b = YK_BUF_INIT(1 << 20);
    assert_int_equal(yk_qr_png(&b, text, scale), 0);
    assert_memory_equal(b.p, "\x89PNG\r\n\x1a\n", 8);
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    assert_non_null(qr);
    int size = (qr->width + 2 * YK_QR_QUIET) * scale;
    png_image img = {.version = PNG_IMAGE_VERSION};
    assert_true(png_image_begin_read_from_memory(&img, b.p, b.len));
    assert_int_equal(img.width, size);
    assert_int_equal(img.height, size);
    img.format = PNG_FORMAT_GRAY;
    unsigned char *px = malloc(PNG_IMAGE_SIZE(img));
    assert_non_null(px);
    assert_true(png_image_finish_read(&img, NULL, px, 0, NULL));
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            int mx = x / scale - YK_QR_QUIET, my = y / scale - YK_QR_QUIET;
            int dark = mx >= 0 && my >= 0 && mx < qr->width && my < qr->width &&
                       (qr->data[my * qr->width + mx] & 1);
            assert_int_equal(px[y * size + x], dark ? 0 : 255);
        }
    free(px);
    QRcode_free(qr);
    yk_buf_addc(&b, 'x');
    size_t len = b.len;
    assert_int_equal(yk_qr_png(&b, text, 0), -1); /* bad scale: nothing written */
    assert_int_equal(yk_qr_png(&b, text, 33), -1);
    assert_int_equal(b.len, len);
    yk_buf small = YK_BUF_INIT(64); /* the cap is reached: nothing stays of the image */
    assert_int_equal(yk_qr_png(&small, text, 4), -1);
    assert_int_equal(small.len, 0);
    yk_buf_free(&small);
    yk_buf_free(&b);
}

static void refusals(void **state)
{
    char big[300];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    yk_buf b = YK_BUF_INIT(1 << 20);
    yk_buf_adds(&b, "keep");
    assert_int_equal(yk_qr_svg(&b, big), -1);
    assert_int_equal(b.len, 4);
    yk_buf small = YK_BUF_INIT(64); /* the cap is reached: nothing stays of the document */
    assert_int_equal(yk_qr_svg(&small, "YK1-1-EGFBE2"), -1);
    assert_int_equal(small.len, 0);
    assert_false(small.failed);
    yk_buf_free(&b);
    yk_buf_free(&small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matrix_matches),
        cmocka_unit_test(version_small),
        cmocka_unit_test(png_matches),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
