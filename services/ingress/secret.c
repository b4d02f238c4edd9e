/* secret: the access tokens of secret events. Owns nothing: tokens are computed, never stored. */
#include "secret.h"

#include <sodium.h>
#include <string.h>

#define TOKEN_PAYLOAD 16
#define TOKEN_BYTES (TOKEN_PAYLOAD + crypto_auth_BYTES)

_Static_assert(crypto_auth_BYTES == 32, "crypto_auth is HMAC-SHA-512-256");
_Static_assert(crypto_auth_KEYBYTES == SECRET_KEY_BYTES, "the derived key is 32 bytes");
_Static_assert(SECRET_TOKEN_LEN == (TOKEN_BYTES * 4 + 2) / 3, "base64url without padding");

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* The MAC of payload and the password hash, under a key of its own: the server key also derives
 * booking tokens, and a key used for one purpose only cannot be played against another. */
static void token_mac(const unsigned char key[SECRET_KEY_BYTES], const unsigned char *payload,
                      const char *password_hash, unsigned char mac[crypto_auth_BYTES])
{
    static const char purpose[] = "yoyaku access token";
    unsigned char sub[crypto_auth_KEYBYTES];
    crypto_generichash(sub, sizeof sub, (const unsigned char *)purpose, sizeof purpose - 1, key,
                       SECRET_KEY_BYTES);
    crypto_auth_hmacsha512256_state st;
    crypto_auth_hmacsha512256_init(&st, sub, sizeof sub);
    crypto_auth_hmacsha512256_update(&st, payload, TOKEN_PAYLOAD);
    if (password_hash)
        crypto_auth_hmacsha512256_update(&st, (const unsigned char *)password_hash,
                                         strlen(password_hash));
    crypto_auth_hmacsha512256_final(&st, mac);
    sodium_memzero(sub, sizeof sub);
    sodium_memzero(&st, sizeof st);
}

void secret_token_sign(const unsigned char key[SECRET_KEY_BYTES], int64_t event_id,
                       const char *password_hash, int64_t expires, char out[SECRET_TOKEN_LEN + 1])
{
    unsigned char t[TOKEN_BYTES];
    put_be64(t, (uint64_t)event_id);
    put_be64(t + 8, (uint64_t)expires);
    token_mac(key, t, password_hash, t + TOKEN_PAYLOAD);
    sodium_bin2base64(out, SECRET_TOKEN_LEN + 1, t, sizeof t,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

secret_token_result secret_token_verify(const unsigned char key[SECRET_KEY_BYTES], int64_t event_id,
                                        const char *password_hash, const char *token, int64_t now)
{
    unsigned char t[TOKEN_BYTES], mac[crypto_auth_BYTES];
    size_t n = 0;
    if (token == NULL || strlen(token) != SECRET_TOKEN_LEN ||
        sodium_base642bin(t, sizeof t, token, SECRET_TOKEN_LEN, NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        n != sizeof t)
        return SECRET_TOKEN_BAD;
    token_mac(key, t, password_hash, mac);
    if (crypto_verify_32(mac, t + TOKEN_PAYLOAD) != 0 || get_be64(t) != (uint64_t)event_id)
        return SECRET_TOKEN_BAD;
    return (int64_t)get_be64(t + 8) <= now ? SECRET_TOKEN_EXPIRED : SECRET_TOKEN_OK;
}
