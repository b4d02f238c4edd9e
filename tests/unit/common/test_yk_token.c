/* Unit tests for common/yk_token.c: token and request id shape, randomness, SHA-256, comparison.
 * Owns nothing but its own test cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "yk_token.h"

#define N_UNIQUE 1000

static int setup(void **state)
{
    return yk_token_init();
}

static void token_shape(void **state)
{
    char t[YK_TOKEN_LEN + 1];
    for (int i = 0; i < 100; i++) {
        yk_token_new(t);
        assert_int_equal(strlen(t), YK_TOKEN_LEN);
        /* base64url without padding: safe in URLs and headers as is. */
        assert_int_equal(
            strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            YK_TOKEN_LEN);
    }
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* 12 hex digits of Unix milliseconds, then 20 random ones: later ids sort after earlier ones. */
static void request_id_shape(void **state)
{
    char id[YK_REQUEST_ID_LEN + 1], prev[YK_REQUEST_ID_LEN + 1] = "";
    for (int i = 0; i < 100; i++) {
        if (i % 10 == 0)
            usleep(1500); /* a later millisecond than prev's: id must sort after it */
        uint64_t before = now_ms();
        yk_token_request_id(id);
        uint64_t after = now_ms();
        assert_int_equal(strlen(id), YK_REQUEST_ID_LEN);
        assert_int_equal(strspn(id, "0123456789abcdef"), YK_REQUEST_ID_LEN);
        char head[13] = {0};
        memcpy(head, id, 12);
        uint64_t t = strtoull(head, NULL, 16);
        assert_true(t >= before && t <= after);
        assert_true(strncmp(prev, id, 12) <= 0);
        assert_true(i % 10 != 0 || strcmp(prev, id) < 0);
        memcpy(prev, id, sizeof id);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void unique(void **state)
{
    static char tokens[N_UNIQUE][YK_TOKEN_LEN + 1];
    static char ids[N_UNIQUE][YK_REQUEST_ID_LEN + 1];
    for (int i = 0; i < N_UNIQUE; i++) {
        yk_token_new(tokens[i]);
        yk_token_request_id(ids[i]);
    }
    qsort(tokens, N_UNIQUE, sizeof tokens[0], cmp_str);
    qsort(ids, N_UNIQUE, sizeof ids[0], cmp_str);
    for (int i = 1; i < N_UNIQUE; i++) {
        assert_string_not_equal(tokens[i - 1], tokens[i]);
        assert_string_not_equal(ids[i - 1], ids[i]);
    }
}

static void sha256_vectors(void **state)
{
    char h[YK_HASH_HEX_LEN + 1];
    /* FIPS 180-2 examples. */
    yk_token_sha256_hex("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    yk_token_sha256_hex("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    yk_token_sha256_hex(m, strlen(m), h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void equal(void **state)
{
    assert_int_equal(yk_token_equal("abc", "abc"), 1);
    assert_int_equal(yk_token_equal("", ""), 1);
    assert_int_equal(yk_token_equal("abc", "abd"), 0);
    assert_int_equal(yk_token_equal("abc", "abcd"), 0);
    assert_int_equal(yk_token_equal("abcd", "abc"), 0);
    assert_int_equal(yk_token_equal("", "a"), 0);
}

/* Vectors computed independently (Python's hmac) for the key 00 01 … 1f. */
static void checkin_code_vectors(void **state)
{
    unsigned char key[YK_TOKEN_KEY_BYTES], other[YK_TOKEN_KEY_BYTES];
    char c[YK_CHECKIN_CODE_MAX + 1], d[YK_CHECKIN_CODE_MAX + 1];
    for (int i = 0; i < YK_TOKEN_KEY_BYTES; i++)
        key[i] = (unsigned char)i, other[i] = (unsigned char)(i + 1);
    yk_token_checkin_code(key, "1", c);
    assert_string_equal(c, "YK1-1-EGFBE2");
    yk_token_checkin_code(key, "42", c);
    assert_string_equal(c, "YK1-42-NDXEJH");
    yk_token_checkin_code(key, "123456789012345678", c);
    assert_string_equal(c, "YK1-123456789012345678-J4X01X");
    yk_token_checkin_code(key, "1234567890123456789", c);
    assert_int_equal(strlen(c), YK_CHECKIN_CODE_MAX);
    /* Stable for one key, different under another: the key is what makes it unguessable. */
    yk_token_checkin_code(key, "42", d);
    assert_string_equal(d, "YK1-42-NDXEJH");
    yk_token_checkin_code(other, "42", d);
    assert_string_not_equal(d, "YK1-42-NDXEJH");
    /* Only booking ids. */
    const char *bad[] = {"", "-1", "1a", "12345678901234567890", "1 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        yk_token_checkin_code(key, bad[i], c);
        assert_string_equal(c, "");
    }
    /* Crockford's alphabet: no I, L, O, U. */
    for (int i = 1; i < 2000; i++) {
        char id[8];
        snprintf(id, sizeof id, "%d", i);
        yk_token_checkin_code(key, id, c);
        assert_int_equal(strcspn(strrchr(c, '-') + 1, "ILOU"), 6);
    }
}

static void checkin_code_parse(void **state)
{
    unsigned char key[YK_TOKEN_KEY_BYTES], other[YK_TOKEN_KEY_BYTES];
    char id[20];
    for (int i = 0; i < YK_TOKEN_KEY_BYTES; i++)
        key[i] = (unsigned char)i, other[i] = (unsigned char)(i + 1);
    assert_int_equal(yk_token_checkin_parse(key, "YK1-42-NDXEJH", id), 1);
    assert_string_equal(id, "42");
    assert_int_equal(yk_token_checkin_parse(key, "yk1-42-ndxejh", id), 1);
    assert_string_equal(id, "42");
    const char *bad[] = {
        "YK1-42-NDXEJJ",  "YK1-43-NDXEJH", "YK2-42-NDXEJH", "YK1-42NDXEJH", "YK1--NDXEJH", "42", "",
        "YK1-42-NDXEJH-", "YK1-4x-NDXEJH"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(yk_token_checkin_parse(key, bad[i], id), 0);
        assert_string_equal(id, "");
    }
    assert_int_equal(yk_token_checkin_parse(other, "YK1-42-NDXEJH", id), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(token_shape),
        cmocka_unit_test(request_id_shape),
        cmocka_unit_test(unique),
        cmocka_unit_test(sha256_vectors),
        cmocka_unit_test(equal),
        cmocka_unit_test(checkin_code_vectors),
        cmocka_unit_test(checkin_code_parse),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
