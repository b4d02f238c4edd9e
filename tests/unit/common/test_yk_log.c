/* Unit suite for common/yk_log.c: the line format, the level threshold and a long message cut to
 * one line. stderr is pointed at a temporary file and read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "yk_log.h"

static char out[4096];

/* Runs body with stderr captured into out. */
#define CAPTURE(body)                                                                              \
    do {                                                                                           \
        FILE *f = tmpfile();                                                                       \
        assert_non_null(f);                                                                        \
        fflush(stderr);                                                                            \
        int saved = dup(2);                                                                        \
        dup2(fileno(f), 2);                                                                        \
        body;                                                                                      \
        fflush(stderr);                                                                            \
        dup2(saved, 2);                                                                            \
        close(saved);                                                                              \
        rewind(f);                                                                                 \
        size_t n = fread(out, 1, sizeof out - 1, f);                                               \
        out[n] = '\0';                                                                             \
        fclose(f);                                                                                 \
    } while (0)

static void line_format(void **state)
{
    yk_log_init("unit", "info");
    CAPTURE(yk_info("hello key=%d", 7));
    /* 2026-12-04T15:04:05.123Z level=info svc=unit hello key=7 */
    assert_int_equal(strlen(out), 24 + strlen(" level=info svc=unit hello key=7\n"));
    assert_true(out[4] == '-' && out[10] == 'T' && out[19] == '.' && out[23] == 'Z');
    assert_string_equal(out + 24, " level=info svc=unit hello key=7\n");
}

static void threshold(void **state)
{
    yk_log_init("unit", "warn");
    CAPTURE(yk_info("hidden"); yk_debug("hidden"); yk_error("shown"));
    assert_null(strstr(out, "hidden"));
    assert_non_null(strstr(out, "level=error svc=unit shown\n"));
    yk_log_init("unit", "debug");
    CAPTURE(yk_debug("now shown"));
    assert_non_null(strstr(out, "level=debug svc=unit now shown\n"));
}

/* A message longer than the line buffer is cut, never split over two lines. */
static void long_message_one_line(void **state)
{
    yk_log_init("unit", "info");
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CAPTURE(yk_info("%s", big));
    assert_non_null(strchr(out, '\n'));
    assert_int_equal(strchr(out, '\n')[1], '\0');
}

/* YOYAKU_LOG_FORMAT=json: one object a line; the message whole in msg, its key=value words (a
 * quoted value with spaces, a trailing ':' cut) as fields; quotes and control characters escaped.
 */
static void json_format(void **state)
{
    setenv("YOYAKU_LOG_FORMAT", "json", 1);
    yk_log_init("unit", "info");
    unsetenv("YOYAKU_LOG_FORMAT");
    CAPTURE(yk_warn("request=abc: XADD failed err=\"a \\\"b\\\" c\" n=3 tab\there"));
    assert_int_equal(strncmp(out, "{\"ts\":\"", 7), 0);
    assert_non_null(strstr(out,
                           "Z\",\"level\":\"warn\",\"svc\":\"unit\",\"msg\":\"request=abc: XADD "
                           "failed err=\\\"a \\\\\\\"b\\\\\\\" c\\\" n=3 tab\\u0009here\""));
    assert_non_null(strstr(out, ",\"request\":\"abc\""));
    assert_non_null(strstr(out, ",\"n\":\"3\"}\n"));
    assert_non_null(strstr(out, ",\"err\":\"a \\\\\""));
    assert_int_equal(strchr(out, '\n')[1], '\0');
    CAPTURE(yk_info("bad=\xff\xc3( ok=日本"));
    assert_non_null(strstr(out, ",\"bad\":\"\\ufffd\\ufffd(\",\"ok\":\"日本\"}\n"));
    yk_log_init("unit", "info"); /* back to text */
    CAPTURE(yk_info("plain"));
    assert_non_null(strstr(out, " level=info svc=unit plain\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(line_format),
        cmocka_unit_test(threshold),
        cmocka_unit_test(long_message_one_line),
        cmocka_unit_test(json_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
