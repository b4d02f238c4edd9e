/* Unit suite for common/yk_resp.c: the RESP bytes of commands, checked against hiredis's own
 * encoder, binary arguments, and the buffer's cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "yk_resp.h"

/* b's bytes equal hiredis's encoding of the same argv. */
static void assert_as_hiredis(const yk_buf *b, int argc, const char **argv, const size_t *lens)
{
    char *want = NULL;
    int n = redisFormatCommandArgv(&want, argc, argv, lens);
    assert_true(n > 0);
    assert_false(b->failed);
    assert_int_equal(b->len, (size_t)n);
    assert_memory_equal(b->p, want, (size_t)n);
    redisFreeCommand(want);
}

static void cmd_of_c_strings(void **state)
{
    yk_buf b = YK_BUF_INIT(1 << 16);
    const char *argv[] = {"SET", "yk:res:1", "", "EX", "3600"};
    yk_resp_cmd(&b, 5, argv, NULL);
    assert_as_hiredis(&b, 5, argv, NULL);
    yk_buf_free(&b);
}

static void binary_arguments(void **state)
{
    yk_buf b = YK_BUF_INIT(1 << 16);
    const char *argv[] = {"PUBLISH", "ch", "a\0b\r\nc"};
    const size_t lens[] = {7, 2, 6};
    yk_resp_cmd(&b, 3, argv, lens);
    assert_as_hiredis(&b, 3, argv, lens);
    yk_buf_free(&b);
}

/* A command built from head and arguments equals the whole-command form. */
static void head_then_args(void **state)
{
    yk_buf b = YK_BUF_INIT(1 << 16);
    yk_resp_head(&b, '*', 2);
    yk_resp_arg(&b, "GET", 3);
    yk_resp_arg(&b, "k", 1);
    const char *argv[] = {"GET", "k"};
    assert_as_hiredis(&b, 2, argv, NULL);
    yk_buf_free(&b);
}

/* Past the cap nothing partial is kept and the failure is sticky. */
static void cap_refuses(void **state)
{
    yk_buf b = YK_BUF_INIT(16);
    const char *argv[] = {"SET", "a-key-that-is-long", "v"};
    yk_resp_cmd(&b, 3, argv, NULL);
    assert_true(b.failed);
    assert_true(b.len <= 16);
    yk_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cmd_of_c_strings),
        cmocka_unit_test(binary_arguments),
        cmocka_unit_test(head_then_args),
        cmocka_unit_test(cap_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
