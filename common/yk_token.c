/* yk_token: thin wrappers over libsodium's random, SHA-256, hex and base64 helpers. */
#include "yk_token.h"

#include <sodium.h>
#include <string.h>

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

void yk_token_request_id(char out[YK_REQUEST_ID_LEN + 1])
{
    unsigned char raw[16];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(out, YK_REQUEST_ID_LEN + 1, raw, sizeof raw);
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
