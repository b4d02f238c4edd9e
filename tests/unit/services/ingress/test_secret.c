/* Unit suite for services/ingress/secret.c: access tokens (round trip, expiry, another event or
 * password, tampering, another key), the failed-unlock counter, and the hashing pool's cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "secret.h"

static const unsigned char key[SECRET_KEY_BYTES] = "0123456789abcdef0123456789abcdef";
static const char hash1[] = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA";
static const char hash2[] = "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0c2FsdA$aGFzaA";
#define NOW 1800000000

static int setup(void **state)
{
    return sodium_init() < 0 ? -1 : 0;
}

static void token_round_trip(void **state)
{
    char t[SECRET_TOKEN_LEN + 1];
    secret_token_sign(key, 42, hash1, NOW + 3600, t);
    assert_int_equal(strlen(t), SECRET_TOKEN_LEN);
    assert_int_equal(strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     SECRET_TOKEN_LEN);
    assert_int_equal(secret_token_verify(key, 42, hash1, t, NOW), SECRET_TOKEN_OK);
    assert_int_equal(secret_token_verify(key, 42, hash1, t, NOW + 3599), SECRET_TOKEN_OK);
}

/* Valid until its expiry, not at it. */
static void token_expires(void **state)
{
    char t[SECRET_TOKEN_LEN + 1];
    secret_token_sign(key, 42, hash1, NOW, t);
    assert_int_equal(secret_token_verify(key, 42, hash1, t, NOW - 1), SECRET_TOKEN_OK);
    assert_int_equal(secret_token_verify(key, 42, hash1, t, NOW), SECRET_TOKEN_EXPIRED);
    assert_int_equal(secret_token_verify(key, 42, hash1, t, NOW + 86400), SECRET_TOKEN_EXPIRED);
}

/* A token opens only the event it was made for, and only while its password stands. */
static void token_bound_to_event_and_password(void **state)
{
    char t[SECRET_TOKEN_LEN + 1];
    secret_token_sign(key, 42, hash1, NOW + 60, t);
    assert_int_equal(secret_token_verify(key, 43, hash1, t, NOW), SECRET_TOKEN_BAD);
    assert_int_equal(secret_token_verify(key, 4200, hash1, t, NOW), SECRET_TOKEN_BAD);
    assert_int_equal(secret_token_verify(key, 42, hash2, t, NOW), SECRET_TOKEN_BAD);
    assert_int_equal(secret_token_verify(key, 42, NULL, t, NOW), SECRET_TOKEN_BAD);
    unsigned char other[SECRET_KEY_BYTES];
    memcpy(other, key, sizeof other);
    other[31] ^= 1;
    assert_int_equal(secret_token_verify(other, 42, hash1, t, NOW), SECRET_TOKEN_BAD);
}

/* Any change of any character is caught, the expiry's bytes included (a later expiry cannot be
 * written in); so are tokens of the wrong length or alphabet. */
static void token_tampering(void **state)
{
    char t[SECRET_TOKEN_LEN + 1], u[SECRET_TOKEN_LEN + 1];
    secret_token_sign(key, 42, hash1, NOW + 60, t);
    static const char alphabet[] = "AQgw_-9z";
    for (size_t i = 0; i < SECRET_TOKEN_LEN; i++)
        for (const char *c = alphabet; *c; c++) {
            if (t[i] == *c)
                continue;
            memcpy(u, t, sizeof u);
            u[i] = *c;
            /* the last character carries 4 bits: some changes decode to the same bytes and are
             * refused as non-canonical base64, or are the same token */
            assert_int_not_equal(secret_token_verify(key, 42, hash1, u, NOW), SECRET_TOKEN_OK);
        }
    /* the expiry rewritten to a year later, with the old MAC */
    unsigned char raw[48];
    size_t n;
    assert_int_equal(sodium_base642bin(raw, sizeof raw, t, strlen(t), NULL, &n, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    assert_int_equal(n, 48);
    raw[12] ^= 0x01; /* expiry's low bytes: + about 194 days */
    sodium_bin2base64(u, sizeof u, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    assert_int_equal(secret_token_verify(key, 42, hash1, u, NOW), SECRET_TOKEN_BAD);
    assert_int_equal(secret_token_verify(key, 42, hash1, NULL, NOW), SECRET_TOKEN_BAD);
    assert_int_equal(secret_token_verify(key, 42, hash1, "", NOW), SECRET_TOKEN_BAD);
    t[SECRET_TOKEN_LEN - 1] = '\0';
    assert_int_equal(secret_token_verify(key, 42, hash1, t, NOW), SECRET_TOKEN_BAD);
    memset(u, '*', SECRET_TOKEN_LEN);
    u[SECRET_TOKEN_LEN] = '\0';
    assert_int_equal(secret_token_verify(key, 42, hash1, u, NOW), SECRET_TOKEN_BAD);
}

/* --- the counter ---------------------------------------------------------------------------- */

static secret_rate rate; /* large: not on the stack */

static void addr_of(unsigned char a[16], unsigned v)
{
    memset(a, 0, 16);
    a[10] = a[11] = 0xff;
    a[12] = 10;
    a[13] = (unsigned char)(v >> 16);
    a[14] = (unsigned char)(v >> 8);
    a[15] = (unsigned char)v;
}

/* The 11th attempt within a minute is refused until the oldest failure is a minute old. */
static void rate_ten_a_minute(void **state)
{
    unsigned char a[16], b[16];
    addr_of(a, 1);
    addr_of(b, 2);
    secret_rate_init(&rate, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(secret_rate_take(&rate, a, NOW + i), 0);
    assert_int_equal(secret_rate_failures(&rate, a, NOW + 9), 10);
    assert_int_equal(secret_rate_take(&rate, a, NOW + 10), 50); /* NOW + 60 - (NOW + 10) */
    assert_int_equal(secret_rate_take(&rate, a, NOW + 59), 1);
    assert_int_equal(secret_rate_failures(&rate, a, NOW + 59), 10); /* refusals are not counted */
    assert_int_equal(secret_rate_take(&rate, b, NOW + 10), 0);      /* another address */
    assert_int_equal(secret_rate_take(&rate, a, NOW + 60), 0);      /* the first aged out */
    assert_int_equal(secret_rate_take(&rate, a, NOW + 60), 1);      /* the second is due at 61 */
    assert_int_equal(secret_rate_take(&rate, a, NOW + 200), 0);
    assert_int_equal(secret_rate_failures(&rate, a, NOW + 200), 1);
}

/* A success is given back: right passwords never lock anyone out. */
static void rate_give_back(void **state)
{
    unsigned char a[16];
    addr_of(a, 3);
    secret_rate_init(&rate, 3);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(secret_rate_take(&rate, a, NOW), 0);
        secret_rate_give_back(&rate, a);
    }
    assert_int_equal(secret_rate_failures(&rate, a, NOW), 0);
    /* with a full, wrapped ring too */
    for (int i = 0; i < 3; i++)
        assert_int_equal(secret_rate_take(&rate, a, NOW + 100 + i), 0);
    assert_int_equal(secret_rate_take(&rate, a, NOW + 200), 0); /* the old three aged out */
    secret_rate_give_back(&rate, a);
    assert_int_equal(secret_rate_failures(&rate, a, NOW + 200), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(secret_rate_take(&rate, a, NOW + 201), 0);
    assert_int_equal(secret_rate_take(&rate, a, NOW + 202), 59);
}

static void rate_unlimited(void **state)
{
    unsigned char a[16];
    addr_of(a, 4);
    secret_rate_init(&rate, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(secret_rate_take(&rate, a, NOW), 0);
    secret_rate_init(&rate, 1000); /* clamped */
    assert_int_equal(rate.limit, SECRET_RATE_MAX);
}

/* More addresses than the table holds: memory stays bounded, the newest are still counted. */
static void rate_table_full(void **state)
{
    unsigned char a[16];
    secret_rate_init(&rate, 2);
    for (unsigned v = 0; v < 4 * SECRET_RATE_SLOTS; v++) {
        addr_of(a, v);
        assert_int_equal(secret_rate_take(&rate, a, NOW), 0);
    }
    addr_of(a, 4 * SECRET_RATE_SLOTS - 1);
    assert_int_equal(secret_rate_failures(&rate, a, NOW), 1);
    assert_int_equal(secret_rate_take(&rate, a, NOW), 0);
    assert_int_equal(secret_rate_take(&rate, a, NOW), 60);
}

/* --- the pool ----------------------------------------------------------------------------------
 */

static char hashed[3][SECRET_HASH_MAX];
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
    if (secret_pool_running() > max_running)
        max_running = secret_pool_running();
}

/* One runs, one waits, the third is refused at once; both accepted hashes complete, argon2id at
 * 19 MiB and 2 passes, and verify. */
static void pool_caps_and_hashes(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    secret_pool_init(&loop, 1, 1);
    assert_int_equal(secret_hash_start("himitsu", on_hash, (void *)0), 0);
    note_running();
    assert_int_equal(secret_hash_start("himitsu", on_hash, (void *)1), 0);
    note_running();
    assert_int_equal(secret_pool_waiting(), 1);
    assert_int_equal(secret_hash_start("flood", on_hash, (void *)2), -1);
    assert_int_equal(secret_verify_start(hash1, "flood", on_verify, (void *)0), -1);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(hash_calls, 2);
    assert_int_equal(max_running, 1);
    assert_int_equal(secret_pool_running() + secret_pool_waiting(), 0);
    assert_true(strncmp(hashed[0], "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    assert_string_not_equal(hashed[0], hashed[1]); /* salted */

    secret_pool_init(&loop, 2, 2);
    assert_int_equal(secret_verify_start(hashed[0], "himitsu", on_verify, (void *)0), 0);
    assert_int_equal(secret_verify_start(hashed[1], "himitsu!", on_verify, (void *)1), 0);
    assert_int_equal(secret_verify_start("not a hash", "himitsu", on_verify, (void *)2), 0);
    note_running();
    assert_int_equal(secret_pool_running(), 2);
    char longpw[SECRET_PASSWORD_MAX + 2];
    memset(longpw, 'x', sizeof longpw - 1);
    longpw[sizeof longpw - 1] = '\0';
    assert_int_equal(secret_verify_start(hashed[0], longpw, on_verify, (void *)3), -1);
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
        cmocka_unit_test(token_round_trip),
        cmocka_unit_test(token_expires),
        cmocka_unit_test(token_bound_to_event_and_password),
        cmocka_unit_test(token_tampering),
        cmocka_unit_test(rate_ten_a_minute),
        cmocka_unit_test(rate_give_back),
        cmocka_unit_test(rate_unlimited),
        cmocka_unit_test(rate_table_full),
        cmocka_unit_test(pool_caps_and_hashes),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
