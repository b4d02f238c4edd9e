/* Unit tests for common/yk_settings.c: the shared declarations (one set of bounds, defaults and
 * docs whatever table includes them), their checks, and the <host>-<pid> id. Owns nothing but
 * its test cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "yk_settings.h"

/* Two services' tables, as their main.c write them: their own settings around the shared ones. */
static const char *a_log, *a_pg, *a_redis, *a_key, *a_listen;
static int64_t a_parts, a_ttl;
static const yk_cf_entry table_a[] = {
    YK_CF_STRING("YOYAKU_LISTEN", &a_listen, "127.0.0.1:8080", "own setting"),
    YK_CF_SHARED(yk_setting_log_level, &a_log),
    YK_CF_SHARED(yk_setting_partitions, &a_parts),
    YK_CF_SHARED(yk_setting_pg, &a_pg),
    YK_CF_SHARED(yk_setting_redis, &a_redis),
    YK_CF_SHARED(yk_setting_result_ttl, &a_ttl),
    YK_CF_SHARED(yk_setting_token_key, &a_key),
};
static const char *b_log, *b_pg, *b_redis, *b_key;
static int64_t b_parts, b_ttl, b_batch;
static const yk_cf_entry table_b[] = {
    YK_CF_INTEGER("YOYAKU_BATCH_MAX", &b_batch, "1000", 1, 100000, "own setting"),
    YK_CF_SHARED(yk_setting_log_level, &b_log),
    YK_CF_SHARED(yk_setting_partitions, &b_parts),
    YK_CF_SHARED(yk_setting_pg, &b_pg),
    YK_CF_SHARED(yk_setting_redis, &b_redis),
    YK_CF_SHARED(yk_setting_result_ttl, &b_ttl),
    YK_CF_SHARED(yk_setting_token_key, &b_key),
};
#define N(t) (sizeof t / sizeof t[0])

static int reset_env(void **state)
{
    for (size_t i = 0; i < yk_settings_count; i++)
        unsetenv(yk_settings_all[i]->env);
    return 0;
}

static void public_url(void **state)
{
    char err[128], origin[128];
    const char *good[] = {"http://127.0.0.1:8080", "https://yoyaku.example.jp/",
                          "https://yoyaku.example.jp/city/booking"};
    const char *bad[] = {"",
                         "127.0.0.1:8080",
                         "ftp://x",
                         "http://",
                         "http:///x",
                         "http://a b",
                         "https://x\r\nSet-Cookie: a"};
    for (size_t i = 0; i < N(good); i++)
        assert_int_equal(yk_settings_check_public_url(good[i], err, sizeof err), 0);
    for (size_t i = 0; i < N(bad); i++)
        assert_int_equal(yk_settings_check_public_url(bad[i], err, sizeof err), -1);
    yk_settings_origin("http://127.0.0.1:8080", origin, sizeof origin);
    assert_string_equal(origin, "http://127.0.0.1:8080");
    yk_settings_origin("https://yoyaku.example.jp/city/booking?x", origin, sizeof origin);
    assert_string_equal(origin, "https://yoyaku.example.jp");
}

static void declarations(void **state)
{
    assert_int_equal(yk_settings_count, 9);
    for (size_t i = 0; i < yk_settings_count; i++) {
        const yk_cf_entry *e = yk_settings_all[i];
        assert_non_null(e->env);
        assert_int_equal(strncmp(e->env, "YOYAKU_", 7), 0);
        assert_null(e->target);  /* each service brings its own */
        assert_null(e->shared);  /* no chains */
        assert_non_null(e->def); /* "" is a default too */
        assert_true(e->doc && strlen(e->doc) > 10);
        assert_true(e->type == YK_CF_STR || e->min <= e->max);
    }
    /* The values README documents, where the services' bounds used to disagree. */
    assert_string_equal(yk_setting_partitions.def, "16");
    assert_int_equal(yk_setting_partitions.min, 1);
    assert_int_equal(yk_setting_partitions.max, 1024);
    assert_non_null(strstr(yk_setting_partitions.doc, "1 to 1024"));
    assert_string_equal(yk_setting_result_ttl.def, "86400");
    assert_int_equal(yk_setting_result_ttl.min, 60);
    assert_int_equal(yk_setting_result_ttl.max, 2592000);
    assert_non_null(strstr(yk_setting_result_ttl.doc, "60 to 2592000"));
    assert_string_equal(yk_setting_redis.def, "127.0.0.1:6379");
    assert_string_equal(yk_setting_pg.def, "dbname=yoyaku");
    assert_string_equal(yk_setting_log_level.def, "info");
    assert_string_equal(yk_setting_token_key.def, "");
    assert_true(yk_setting_token_key.secret);
}

static void defaults_pass_their_own_checks(void **state)
{
    char err[256] = "";
    assert_int_equal(yk_config_load(table_a, N(table_a), err, sizeof err), 0);
    assert_int_equal(a_parts, 16);
    assert_int_equal(a_ttl, 86400);
    assert_string_equal(a_redis, "127.0.0.1:6379");
    assert_string_equal(a_log, "info");
    assert_string_equal(a_pg, "dbname=yoyaku");
    assert_string_equal(a_key, "");
}

/* Every table that includes a shared setting resolves it to the same entry but for its target. */
static void one_declaration_whatever_the_table(void **state)
{
    for (size_t i = 1; i < N(table_a); i++) {
        yk_cf_entry a = yk_config_resolve(&table_a[i]), b = yk_config_resolve(&table_b[i]);
        assert_string_equal(a.env, b.env);
        assert_ptr_equal(a.def, b.def);
        assert_ptr_equal(a.doc, b.doc);
        assert_int_equal(a.min, b.min);
        assert_int_equal(a.max, b.max);
        assert_ptr_equal(a.check, b.check);
        assert_int_equal(a.secret, b.secret);
        assert_ptr_equal(a.target, table_a[i].target);
        assert_ptr_equal(b.target, table_b[i].target);
        assert_ptr_not_equal(a.target, b.target);
    }
}

/* Both tables refuse (or accept) a value with the same message. */
static void same_verdict(const char *env, const char *value, int ok, const char *want)
{
    char ea[256] = "", eb[256] = "";
    setenv(env, value, 1);
    int ra = yk_config_load(table_a, N(table_a), ea, sizeof ea);
    int rb = yk_config_load(table_b, N(table_b), eb, sizeof eb);
    unsetenv(env);
    if (ra != (ok ? 0 : -1) || rb != ra)
        fail_msg("%s=%s: %d (%s) and %d (%s)", env, value, ra, ea, rb, eb);
    assert_string_equal(ea, eb);
    if (!ok && strstr(ea, want) == NULL)
        fail_msg("%s=%s: message \"%s\" lacks \"%s\"", env, value, ea, want);
}

static void bounds_and_checks_identical(void **state)
{
    same_verdict("YOYAKU_PARTITIONS", "2000", 0,
                 "YOYAKU_PARTITIONS=2000: expected an integer in "
                 "[1, 1024]");
    same_verdict("YOYAKU_PARTITIONS", "1024", 1, NULL);
    same_verdict("YOYAKU_PARTITIONS", "0", 0, "[1, 1024]");
    same_verdict("YOYAKU_RESULT_TTL", "59", 0, "[60, 2592000]");
    same_verdict("YOYAKU_RESULT_TTL", "60", 1, NULL);
    same_verdict("YOYAKU_RESULT_TTL", "2592000", 1, NULL);
    same_verdict("YOYAKU_RESULT_TTL", "2592001", 0, "[60, 2592000]");
    same_verdict("YOYAKU_REDIS", "6379x", 0, "YOYAKU_REDIS=6379x: expected host:port");
    same_verdict("YOYAKU_REDIS", "localhost", 1, NULL);
    same_verdict("YOYAKU_REDIS", "[::1]:6379", 1, NULL);
    same_verdict("YOYAKU_REDIS", "/run/redis.sock", 1, NULL);
    same_verdict("YOYAKU_REDIS", "localhost:70000", 0, "port");
    same_verdict("YOYAKU_LOG_LEVEL", "verbose", 0, "YOYAKU_LOG_LEVEL=verbose: expected debug");
    same_verdict("YOYAKU_LOG_LEVEL", "warn", 1, NULL);
    same_verdict("YOYAKU_TOKEN_KEY",
                 "0123456789abcdefABCDEF0123456789abcdef0123456789abcdef0123456789", 1, NULL);
    same_verdict("YOYAKU_TOKEN_KEY", "abc", 0, "YOYAKU_TOKEN_KEY: expected 64 hex characters");
}

static void a_secret_is_never_echoed(void **state)
{
    static const char *const bad[] = {"s3cr3t", "zz0123456789abcdef0123456789abcdef0123456789abcd"
                                                "ef0123456789ab"};
    for (size_t i = 0; i < 2; i++) {
        char err[256] = "";
        setenv("YOYAKU_TOKEN_KEY", bad[i], 1);
        assert_int_equal(yk_config_load(table_a, N(table_a), err, sizeof err), -1);
        assert_null(strstr(err, bad[i]));
        assert_non_null(strstr(err, "YOYAKU_TOKEN_KEY"));
    }
}

static void checks(void **state)
{
    char err[160];
    assert_int_equal(yk_settings_check_log_level("debug", err, sizeof err), 0);
    assert_int_equal(yk_settings_check_log_level("error", err, sizeof err), 0);
    assert_int_equal(yk_settings_check_log_level("INFO", err, sizeof err), -1);
    assert_int_equal(yk_settings_check_log_level("", err, sizeof err), -1);
    assert_int_equal(yk_settings_check_log_format("json", err, sizeof err), 0);
    assert_int_equal(yk_settings_check_log_format("text", err, sizeof err), 0);
    assert_int_equal(yk_settings_check_log_format("JSON", err, sizeof err), -1);
    assert_int_equal(yk_settings_check_redis("127.0.0.1:6379", err, sizeof err), 0);
    assert_int_equal(yk_settings_check_redis("6379x", err, sizeof err), -1);
    assert_int_equal(yk_settings_check_token_key("", err, sizeof err), 0);
    assert_int_equal(yk_settings_check_trusted_proxies("", err, sizeof err), 0);
    assert_int_equal(
        yk_settings_check_trusted_proxies("127.0.0.1, 10.0.0.0/8 fd00::/8", err, sizeof err), 0);
    assert_int_equal(yk_settings_check_trusted_proxies("10.0.0.1/8", err, sizeof err), -1);
    assert_int_equal(yk_settings_check_trusted_proxies("proxy.local", err, sizeof err), -1);
    assert_non_null(strstr(err, "expected IP addresses"));
    char key[65];
    memset(key, 'f', 64);
    key[64] = '\0';
    assert_int_equal(yk_settings_check_token_key(key, err, sizeof err), 0);
    key[63] = 'g';
    assert_int_equal(yk_settings_check_token_key(key, err, sizeof err), -1);
    key[63] = '\0';
    assert_int_equal(yk_settings_check_token_key(key, err, sizeof err), -1);
}

/* The error of an overlong value still ends with the reason. */
static void overlong_value_message(void **state)
{
    char value[400], err[256] = "";
    memset(value, 'h', 300);
    strcpy(value + 300, ":6379");
    setenv("YOYAKU_REDIS", value, 1);
    assert_int_equal(yk_config_load(table_a, N(table_a), err, sizeof err), -1);
    assert_non_null(strstr(err, "...: a host name has at most 253 bytes"));
}

static void instance_id(void **state)
{
    char host[256] = "", want[300], id[96];
    assert_int_equal(gethostname(host, sizeof host), 0);
    yk_settings_instance_id(id, sizeof id);
    snprintf(want, sizeof want, "%.*s-%ld",
             (int)(sizeof id - 1 - snprintf(NULL, 0, "-%ld", (long)getpid())), host,
             (long)getpid());
    for (char *p = want; *p; p++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-", *p))
            *p = '_';
    assert_string_equal(id, want);

    /* Too small for the host name: it is cut, the pid is whole. */
    char small[16], pid[16];
    snprintf(pid, sizeof pid, "-%ld", (long)getpid());
    yk_settings_instance_id(small, sizeof small);
    assert_true(strlen(small) < sizeof small);
    assert_string_equal(small + strlen(small) - strlen(pid), pid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(declarations, reset_env),
        cmocka_unit_test(public_url),
        cmocka_unit_test_setup(defaults_pass_their_own_checks, reset_env),
        cmocka_unit_test_setup(one_declaration_whatever_the_table, reset_env),
        cmocka_unit_test_setup(bounds_and_checks_identical, reset_env),
        cmocka_unit_test_setup(a_secret_is_never_echoed, reset_env),
        cmocka_unit_test_setup(checks, reset_env),
        cmocka_unit_test_setup(overlong_value_message, reset_env),
        cmocka_unit_test_setup(instance_id, reset_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
