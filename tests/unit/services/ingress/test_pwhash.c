/* Unit suite for services/ingress/pwhash.c: the pool's cap and queue, argon2id's parameters, and
 * verification of right, wrong and malformed hashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "pwhash.h"

static const char hash1[] = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA";

static int setup(void **state)
{
    return sodium_init() < 0 ? -1 : 0;
}

static char hashed[3][PWHASH_HASH_MAX];
static int verified[4], hash_calls, verify_calls;
static unsigned max_running;

static void on_hash(void *ud, const char *hash)
{
    int i = (int)(intptr_t)ud;
    assert_non_null(hash);
    snprintf(hashed[i], sizeof hashed[i], "%s", hash);
    hash_calls++;
}

static void on_verify(void *ud, int ok)
{
    verified[(intptr_t)ud] = ok;
    verify_calls++;
}

static void note_running(void)
{
    if (pwhash_running() > max_running)
        max_running = pwhash_running();
}

/* One runs, one waits, the third is refused at once; both accepted hashes complete, argon2id at
 * 19 MiB and 2 passes, and verify. */
static void pool_caps_and_hashes(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    pwhash_pool_init(&loop, 1, 1);
    assert_int_equal(pwhash_hash_start("himitsu", on_hash, (void *)0), 0);
    note_running();
    assert_int_equal(pwhash_hash_start("himitsu", on_hash, (void *)1), 0);
    note_running();
    assert_int_equal(pwhash_waiting(), 1);
    assert_int_equal(pwhash_hash_start("flood", on_hash, (void *)2), -1);
    assert_int_equal(pwhash_verify_start(hash1, "flood", on_verify, (void *)0), -1);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(hash_calls, 2);
    assert_int_equal(max_running, 1);
    assert_int_equal(pwhash_running() + pwhash_waiting(), 0);
    assert_true(strncmp(hashed[0], "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    assert_string_not_equal(hashed[0], hashed[1]); /* salted */

    pwhash_pool_init(&loop, 2, 2);
    assert_int_equal(pwhash_verify_start(hashed[0], "himitsu", on_verify, (void *)0), 0);
    assert_int_equal(pwhash_verify_start(hashed[1], "himitsu!", on_verify, (void *)1), 0);
    assert_int_equal(pwhash_verify_start("not a hash", "himitsu", on_verify, (void *)2), 0);
    note_running();
    assert_int_equal(pwhash_running(), 2);
    char longpw[PWHASH_PASSWORD_MAX + 2];
    memset(longpw, 'x', sizeof longpw - 1);
    longpw[sizeof longpw - 1] = '\0';
    assert_int_equal(pwhash_verify_start(hashed[0], longpw, on_verify, (void *)3), -1);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(verify_calls, 3);
    assert_int_equal(verified[0], 1);
    assert_int_equal(verified[1], 0);
    assert_int_equal(verified[2], 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pool_caps_and_hashes),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
