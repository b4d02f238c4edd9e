/* Unit tests for common/yk_config.c: defaults, environment overrides, integer parsing and bounds,
 * and yk_config_main's --help/--version/--config handling. Owns nothing but its test cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "yk_config.h"

static const char *t_str;
static int64_t t_int;

static const yk_cf_entry table[] = {
    YK_CF_STRING("YK_TEST_STR", &t_str, "127.0.0.1:6379", "a string"),
    YK_CF_INTEGER("YK_TEST_INT", &t_int, "5000", 1, 60000, "an integer"),
};
#define N_TABLE (sizeof table / sizeof table[0])

static int reset_env(void **state)
{
    unsetenv("YK_TEST_STR");
    unsetenv("YK_TEST_INT");
    t_str = NULL;
    t_int = -1;
    return 0;
}

/* Runs yk_config_main with stdout and stderr sent to a temporary file; returns what was written
 * (malloc'd) and stores the return code in *rc. */
static char *run_main(int argc, char **argv, int *rc)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stdout);
    fflush(stderr);
    int out = dup(STDOUT_FILENO), err = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDOUT_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    *rc = yk_config_main(argc, argv, "usage: test [options]", table, N_TABLE);
    fflush(stdout);
    fflush(stderr);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    close(out);
    close(err);

    long size = ftell(tmp);
    char *text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    rewind(tmp);
    assert_int_equal(fread(text, 1, (size_t)size, tmp), (size_t)size);
    fclose(tmp);
    return text;
}

static void defaults(void **state)
{
    char err[128] = "";
    assert_int_equal(yk_config_load(table, N_TABLE, err, sizeof err), 0);
    assert_string_equal(t_str, "127.0.0.1:6379");
    assert_int_equal(t_int, 5000);
}

static void env_override(void **state)
{
    char err[128] = "";
    setenv("YK_TEST_STR", "/run/redis.sock", 1);
    setenv("YK_TEST_INT", " 250 ", 1);
    assert_int_equal(yk_config_load(table, N_TABLE, err, sizeof err), 0);
    assert_string_equal(t_str, "/run/redis.sock");
    assert_int_equal(t_int, 250);
}

static void empty_env_means_default(void **state)
{
    char err[128] = "";
    setenv("YK_TEST_STR", "", 1);
    setenv("YK_TEST_INT", "", 1);
    assert_int_equal(yk_config_load(table, N_TABLE, err, sizeof err), 0);
    assert_string_equal(t_str, "127.0.0.1:6379");
    assert_int_equal(t_int, 5000);
}

static void int_bounds(void **state)
{
    static const struct {
        const char *v;
        int ok;
    } cases[] = {{"1", 1}, {"60000", 1}, {"0", 0}, {"60001", 0}, {"-1", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[128] = "";
        setenv("YK_TEST_INT", cases[i].v, 1);
        int rc = yk_config_load(table, N_TABLE, err, sizeof err);
        assert_int_equal(rc, cases[i].ok ? 0 : -1);
        if (cases[i].ok) {
            assert_int_equal(t_int, strtoll(cases[i].v, NULL, 10));
        } else {
            /* The message must name the variable and the range so an operator can fix it. */
            assert_non_null(strstr(err, "YK_TEST_INT"));
            assert_non_null(strstr(err, "[1, 60000]"));
        }
    }
}

static void parse_int(void **state)
{
    static const char *const bad[] = {"",
                                      "abc",
                                      "12abc",
                                      "0x10",
                                      "1.5",
                                      "--1",
                                      "1 2",
                                      "9223372036854775808",
                                      "-9223372036854775809"};
    int64_t v = 7;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(yk_config_parse_int(bad[i], &v), -1);
        assert_int_equal(v, 7); /* untouched on failure */
    }
    assert_int_equal(yk_config_parse_int(NULL, &v), -1);

    assert_int_equal(yk_config_parse_int("42", &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(yk_config_parse_int(" -3 ", &v), 0);
    assert_int_equal(v, -3);
    assert_int_equal(yk_config_parse_int("9223372036854775807", &v), 0);
    assert_int_equal(v, INT64_MAX);
}

static void bad_int_env(void **state)
{
    char err[128] = "";
    setenv("YK_TEST_INT", "5s", 1);
    assert_int_equal(yk_config_load(table, N_TABLE, err, sizeof err), -1);
    assert_non_null(strstr(err, "YK_TEST_INT=5s"));
}

/* A value holding CR/LF cannot add a line to the error (or to the log it goes to). */
static void error_is_one_line(void **state)
{
    char err[128] = "";
    setenv("YK_TEST_INT", "5\r\nlevel=error forged", 1);
    assert_int_equal(yk_config_load(table, N_TABLE, err, sizeof err), -1);
    assert_null(strpbrk(err, "\r\n"));
    assert_non_null(strstr(err, "YK_TEST_INT=5??level=error forged"));
}

static void main_help(void **state)
{
    char *argv[] = {"test", "--help", NULL};
    int rc;
    char *out = run_main(2, argv, &rc);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "usage: test [options]"));
    assert_non_null(strstr(out, "YK_TEST_STR"));
    assert_non_null(strstr(out, "an integer (default: 5000)"));
    free(out);

    char *argv_h[] = {"test", "-h", NULL};
    out = run_main(2, argv_h, &rc);
    assert_int_equal(rc, 1);
    free(out);
}

static void main_version(void **state)
{
    char *argv[] = {"test", "--version", NULL};
    int rc;
    char *out = run_main(2, argv, &rc);
    assert_int_equal(rc, 1);
    assert_string_equal(out, "test " YK_VERSION "\n");
    free(out);
}

static void main_config_dump(void **state)
{
    setenv("YK_TEST_INT", "42", 1);
    char *argv[] = {"test", "--config", NULL};
    int rc;
    char *out = run_main(2, argv, &rc);
    assert_int_equal(rc, 1);
    assert_string_equal(out, "YK_TEST_STR=127.0.0.1:6379\nYK_TEST_INT=42\n");
    free(out);
}

static void main_run_and_errors(void **state)
{
    char *argv[] = {"test", NULL};
    int rc;
    char *out = run_main(1, argv, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "");
    assert_int_equal(t_int, 5000);
    free(out);

    char *argv_bad[] = {"test", "--bogus", NULL};
    out = run_main(2, argv_bad, &rc);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(out, "--bogus"));
    free(out);

    setenv("YK_TEST_INT", "0", 1);
    out = run_main(1, argv, &rc);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(out, "YK_TEST_INT"));
    free(out);
}

/* A check refuses a string at load; a secret's value stays out of the message. */
static int only_abc(const char *v, char *err, size_t errlen)
{
    if (strcmp(v, "abc") == 0)
        return 0;
    snprintf(err, errlen, "expected abc");
    return -1;
}

static const char *c_plain, *c_secret;
static const yk_cf_entry checked[] = {
    YK_CF_CHECKED("YK_TEST_PLAIN", &c_plain, "abc", only_abc, "checked"),
    {"YK_TEST_SECRET", YK_CF_STR, &c_secret, "abc", 0, 0, "checked secret", 1, only_abc, NULL},
};

static void checked_strings(void **state)
{
    char err[256] = "";
    assert_int_equal(yk_config_load(checked, 2, err, sizeof err), 0);
    assert_string_equal(c_plain, "abc");
    setenv("YK_TEST_PLAIN", "abd", 1);
    assert_int_equal(yk_config_load(checked, 2, err, sizeof err), -1);
    assert_string_equal(err, "YK_TEST_PLAIN=abd: expected abc");
    unsetenv("YK_TEST_PLAIN");
    setenv("YK_TEST_SECRET", "hunter2", 1);
    assert_int_equal(yk_config_load(checked, 2, err, sizeof err), -1);
    assert_string_equal(err, "YK_TEST_SECRET: expected abc");
    unsetenv("YK_TEST_SECRET");
}

/* A long value is cut in the message so that the reason after it is never lost. */
static void long_value_cut(void **state)
{
    char v[200], err[256] = "";
    memset(v, '9', 150);
    v[150] = '\0';
    setenv("YK_TEST_INT", v, 1);
    assert_int_equal(yk_config_load(table, N_TABLE, err, sizeof err), -1);
    assert_non_null(strstr(err, "...: expected an integer in [1, 60000]"));
    assert_true(strlen(err) < 140);
}

/* A YK_CF_SHARED entry takes everything but its target from the declaration. */
static const yk_cf_entry decl = YK_CF_INTEGER("YK_TEST_SHARED", NULL, "7", 1, 9, "shared doc");
static int64_t s_a;
static const yk_cf_entry with_shared[] = {YK_CF_SHARED(decl, &s_a)};

static void shared_entry(void **state)
{
    char err[256] = "";
    unsetenv("YK_TEST_SHARED");
    assert_int_equal(yk_config_load(with_shared, 1, err, sizeof err), 0);
    assert_int_equal(s_a, 7);
    setenv("YK_TEST_SHARED", "10", 1);
    assert_int_equal(yk_config_load(with_shared, 1, err, sizeof err), -1);
    assert_string_equal(err, "YK_TEST_SHARED=10: expected an integer in [1, 9]");
    unsetenv("YK_TEST_SHARED");
    yk_cf_entry r = yk_config_resolve(&with_shared[0]);
    assert_ptr_equal(r.target, &s_a);
    assert_string_equal(r.doc, "shared doc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(defaults, reset_env),
        cmocka_unit_test_setup(env_override, reset_env),
        cmocka_unit_test_setup(empty_env_means_default, reset_env),
        cmocka_unit_test_setup(int_bounds, reset_env),
        cmocka_unit_test_setup(parse_int, reset_env),
        cmocka_unit_test_setup(bad_int_env, reset_env),
        cmocka_unit_test_setup(error_is_one_line, reset_env),
        cmocka_unit_test_setup(main_help, reset_env),
        cmocka_unit_test_setup(main_version, reset_env),
        cmocka_unit_test_setup(main_config_dump, reset_env),
        cmocka_unit_test_setup(main_run_and_errors, reset_env),
        cmocka_unit_test_setup(checked_strings, reset_env),
        cmocka_unit_test_setup(long_value_cut, reset_env),
        cmocka_unit_test_setup(shared_entry, reset_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
