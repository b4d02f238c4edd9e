/* yk_token: thin wrappers over libsodium's random, SHA-256, hex and base64 helpers. */
#include "yk_token.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int yk_token_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

void yk_token_new(char out[YK_TOKEN_LEN + 1])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, YK_TOKEN_LEN + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* The random part is drawn from the system's random source 250 bytes at a time (libsodium takes
 * at most 256 per getrandom(2)): one system call per 25 requests instead of one per request, which
 * was a sixth of the ingress's system calls per booking. Each byte is used once and wiped; the
 * services do not fork. */
void yk_token_request_id(char out[YK_REQUEST_ID_LEN + 1])
{
    enum { RANDOM = 10 };
    static unsigned char pool[25 * RANDOM];
    static size_t left;
    if (left < RANDOM) {
        randombytes_buf(pool, sizeof pool);
        left = sizeof pool;
    }
    left -= RANDOM;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    unsigned char raw[6 + RANDOM];
    for (int i = 5; i >= 0; i--, ms >>= 8)
        raw[i] = (unsigned char)ms; /* big-endian: hex order is time order */
    memcpy(raw + 6, pool + left, RANDOM);
    sodium_memzero(pool + left, RANDOM);
    sodium_bin2hex(out, YK_REQUEST_ID_LEN + 1, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
}

void yk_token_sha256_hex(const void *data, size_t len, char out[YK_HASH_HEX_LEN + 1])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    sodium_bin2hex(out, YK_HASH_HEX_LEN + 1, h, sizeof h);
}

int yk_token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    return la == lb && sodium_memcmp(a, b, la) == 0;
}

int yk_token_key_parse(const char *hex, unsigned char key[YK_TOKEN_KEY_BYTES])
{
    size_t bin_len = 0;
    if (hex[0] == '\0') {
        crypto_generichash(key, YK_TOKEN_KEY_BYTES, (const unsigned char *)"yoyaku-dev-key", 14,
                           NULL, 0);
        return 1;
    }
    if (strlen(hex) != 2 * YK_TOKEN_KEY_BYTES ||
        sodium_hex2bin(key, YK_TOKEN_KEY_BYTES, hex, strlen(hex), NULL, &bin_len, NULL) != 0 ||
        bin_len != YK_TOKEN_KEY_BYTES)
        return -1;
    return 0;
}

void yk_token_for_request(const unsigned char key[YK_TOKEN_KEY_BYTES], const char *request_id,
                          char out[YK_TOKEN_LEN + 1])
{
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)request_id, strlen(request_id), key,
                       YK_TOKEN_KEY_BYTES);
    sodium_bin2base64(out, YK_TOKEN_LEN + 1, h, sizeof h, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static const char yk_token_crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static int yk_token_is_id(const char *id)
{
    size_t n = strlen(id);
    return n >= 1 && n <= 19 && strspn(id, "0123456789") == n;
}

void yk_token_checkin_code(const unsigned char key[YK_TOKEN_KEY_BYTES], const char *id,
                           char out[YK_CHECKIN_CODE_MAX + 1])
{
    out[0] = '\0';
    if (!yk_token_is_id(id))
        return;
    char msg[8 + 20];
    int len = snprintf(msg, sizeof msg, "checkin:%s", id);
    /* The keyed state (two of HMAC's four SHA-256 blocks) is made once per key: a worker makes a
     * code for every booking it answers. One process-wide copy; no code runs this off its loop. */
    static crypto_auth_hmacsha256_state keyed;
    static unsigned char keyed_for[YK_TOKEN_KEY_BYTES];
    static int have_keyed;
    if (!have_keyed || sodium_memcmp(keyed_for, key, YK_TOKEN_KEY_BYTES) != 0) {
        crypto_auth_hmacsha256_init(&keyed, key, YK_TOKEN_KEY_BYTES);
        memcpy(keyed_for, key, YK_TOKEN_KEY_BYTES);
        have_keyed = 1;
    }
    unsigned char h[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st = keyed;
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, (unsigned long long)len);
    crypto_auth_hmacsha256_final(&st, h);
    uint32_t v = ((uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3]) >> 2;
    char sig[7];
    for (int i = 0; i < 6; i++)
        sig[i] = yk_token_crockford[(v >> (25 - 5 * i)) & 31];
    sig[6] = '\0';
    snprintf(out, YK_CHECKIN_CODE_MAX + 1, "YK1-%s-%s", id, sig);
}

int yk_token_checkin_parse(const unsigned char key[YK_TOKEN_KEY_BYTES], const char *code,
                           char id[20])
{
    char given[YK_CHECKIN_CODE_MAX + 1], want[YK_CHECKIN_CODE_MAX + 1];
    size_t n = strlen(code);
    id[0] = '\0';
    if (n < 4 + 1 + 1 + 6 || n > YK_CHECKIN_CODE_MAX)
        return 0;
    for (size_t i = 0; i <= n; i++) /* a code read aloud or typed may come in lower case */
        given[i] = code[i] >= 'a' && code[i] <= 'z' ? (char)(code[i] - 'a' + 'A') : code[i];
    size_t idlen = n - 4 - 7;
    if (memcmp(given, "YK1-", 4) != 0 || given[4 + idlen] != '-')
        return 0;
    char digits[20];
    memcpy(digits, given + 4, idlen);
    digits[idlen] = '\0';
    yk_token_checkin_code(key, digits, want);
    if (want[0] == '\0' || !yk_token_equal(given, want))
        return 0;
    memcpy(id, digits, idlen + 1);
    return 1;
}
