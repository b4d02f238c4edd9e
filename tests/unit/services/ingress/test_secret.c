/* Unit suite for services/ingress/secret.c: access tokens (round trip, expiry, another event or
 * password, tampering, another key). The counter's suite is test_failrate.c, the pool's
 * test_pwhash.c. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(token_round_trip),
        cmocka_unit_test(token_expires),
        cmocka_unit_test(token_bound_to_event_and_password),
        cmocka_unit_test(token_tampering),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
