/* secret: argon2id hashing on the loop's thread pool under a cap, access tokens, and the counter of
 * failed unlocks per address. Owns the pool's jobs (each freed after its callback) and no more. */
#include "secret.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* --- hashing off the loop ------------------------------------------------------------------ */

typedef struct secret_job {
    uv_work_t work; /* first: the pool hands it back */
    struct secret_job *next;
    int verify; /* 0: hash password; 1: check it against hash */
    char hash[SECRET_HASH_MAX];
    char *password; /* owned; wiped before it is freed */
    size_t password_len;
    int result; /* verify: 1, 0 or -1; hash: 0 or -1 */
    secret_hash_cb hash_done;
    secret_verify_cb verify_done;
    void *ud;
} secret_job;

static struct {
    uv_loop_t *loop;
    unsigned max_running, max_waiting, running, waiting;
    secret_job *head, *tail; /* waiting, first in first out */
} pool;

void secret_pool_init(uv_loop_t *loop, unsigned max_running, unsigned max_waiting)
{
    pool.loop = loop;
    pool.max_running = max_running ? max_running : 1;
    pool.max_waiting = max_waiting;
}

unsigned secret_pool_running(void)
{
    return pool.running;
}

unsigned secret_pool_waiting(void)
{
    return pool.waiting;
}

static void job_free(secret_job *j)
{
    sodium_memzero(j->password, j->password_len);
    free(j->password);
    free(j);
}

/* On a pool thread: only the job's own memory is touched. */
static void job_work(uv_work_t *w)
{
    secret_job *j = (secret_job *)w;
    if (j->verify) {
        int rc = crypto_pwhash_str_verify(j->hash, j->password, j->password_len);
        j->result = rc == 0 ? 1 : 0; /* -1 is a mismatch, a malformed hash or no memory alike */
    } else {
        j->result = crypto_pwhash_str(j->hash, j->password, j->password_len, SECRET_PWHASH_OPSLIMIT,
                                      SECRET_PWHASH_MEMLIMIT);
    }
}

static void job_after(uv_work_t *w, int status);

/* 0, or -1 when the pool refused (the job is then still the caller's). */
static int job_submit(secret_job *j)
{
    if (uv_queue_work(pool.loop, &j->work, job_work, job_after) != 0)
        return -1;
    pool.running++;
    return 0;
}

static void job_after(uv_work_t *w, int status)
{
    secret_job *j = (secret_job *)w;
    pool.running--;
    /* The next waiting job takes the freed place before the callback runs, so a callback that
     * starts a job queues behind the ones already waiting. */
    while (pool.head && pool.running < pool.max_running) {
        secret_job *n = pool.head;
        pool.head = n->next;
        if (pool.head == NULL)
            pool.tail = NULL;
        pool.waiting--;
        n->next = NULL;
        if (job_submit(n) != 0) { /* cannot happen with a live loop; fail the job, not the loop */
            n->result = -1;
            if (n->verify)
                n->verify_done(n->ud, -1);
            else
                n->hash_done(n->ud, NULL);
            job_free(n);
        }
    }
    if (j->verify)
        j->verify_done(j->ud, status == 0 ? j->result : -1);
    else
        j->hash_done(j->ud, status == 0 && j->result == 0 ? j->hash : NULL);
    job_free(j);
}

static int job_start(secret_job *j)
{
    if (pool.running < pool.max_running && job_submit(j) == 0)
        return 0;
    if (pool.waiting >= pool.max_waiting)
        return -1;
    if (pool.tail)
        pool.tail->next = j;
    else
        pool.head = j;
    pool.tail = j;
    pool.waiting++;
    return 0;
}

static secret_job *job_new(const char *password)
{
    size_t n = strlen(password);
    if (n > SECRET_PASSWORD_MAX)
        return NULL;
    secret_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return NULL;
    j->password = malloc(n + 1);
    if (j->password == NULL) {
        free(j);
        return NULL;
    }
    memcpy(j->password, password, n + 1);
    j->password_len = n;
    return j;
}

int secret_hash_start(const char *password, secret_hash_cb done, void *ud)
{
    if (pool.running >= pool.max_running && pool.waiting >= pool.max_waiting)
        return -1; /* before copying anything: this is the flood's path */
    secret_job *j = job_new(password);
    if (j == NULL)
        return -1;
    j->hash_done = done;
    j->ud = ud;
    if (job_start(j) != 0) {
        job_free(j);
        return -1;
    }
    return 0;
}

int secret_verify_start(const char *hash, const char *password, secret_verify_cb done, void *ud)
{
    if (pool.running >= pool.max_running && pool.waiting >= pool.max_waiting)
        return -1;
    size_t hl = strlen(hash);
    if (hl >= SECRET_HASH_MAX)
        return -1;
    secret_job *j = job_new(password);
    if (j == NULL)
        return -1;
    j->verify = 1;
    memcpy(j->hash, hash, hl + 1);
    j->verify_done = done;
    j->ud = ud;
    if (job_start(j) != 0) {
        job_free(j);
        return -1;
    }
    return 0;
}

/* --- access tokens --------------------------------------------------------------------------- */

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

/* --- failed unlocks per client address ------------------------------------------------------ */

#define RATE_PROBES 8

void secret_rate_init(secret_rate *r, int limit)
{
    memset(r->e, 0, sizeof r->e);
    r->limit = limit < 0 ? 0 : limit > SECRET_RATE_MAX ? SECRET_RATE_MAX : limit;
}

static uint32_t rate_hash(const unsigned char addr[16])
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ addr[i]) * 16777619u;
    return h;
}

/* The newest failure of e, or 0 when it has none. */
static uint32_t rate_newest(const secret_rate *r, const secret_rate_entry *e)
{
    return e->used ? e->times[(e->next + r->limit - 1) % r->limit] : 0;
}

static int rate_live(const secret_rate *r, const secret_rate_entry *e, uint32_t now)
{
    return e->used && now - rate_newest(r, e) < SECRET_RATE_WINDOW;
}

/* addr's entry; with create, a free or stale one is taken for it, else the stalest probed is
 * forgotten (an attacker with many addresses can make the table forget some: bounded memory). */
static secret_rate_entry *rate_find(secret_rate *r, const unsigned char addr[16], uint32_t now,
                                    int create)
{
    uint32_t h = rate_hash(addr);
    secret_rate_entry *spare = NULL;
    for (int i = 0; i < RATE_PROBES; i++) {
        secret_rate_entry *e = &r->e[(h + (uint32_t)i) % SECRET_RATE_SLOTS];
        if (e->used && memcmp(e->addr, addr, 16) == 0)
            return e;
        if (spare == NULL || (rate_live(r, spare, now) &&
                              (!rate_live(r, e, now) || rate_newest(r, e) < rate_newest(r, spare))))
            spare = e;
    }
    if (!create)
        return NULL;
    memset(spare, 0, sizeof *spare);
    memcpy(spare->addr, addr, 16);
    return spare;
}

static int rate_count(const secret_rate *r, const secret_rate_entry *e, uint32_t now)
{
    int n = 0;
    for (int i = 0; i < r->limit; i++) /* a slot never used or given back holds 0 */
        n += e->times[i] != 0 && now - e->times[i] < SECRET_RATE_WINDOW;
    return n;
}

int secret_rate_take(secret_rate *r, const unsigned char addr[16], int64_t now64)
{
    if (r->limit == 0)
        return 0;
    uint32_t now = (uint32_t)now64;
    secret_rate_entry *e = rate_find(r, addr, now, 1);
    if (e->used == r->limit) {
        /* full ring: times[next] is the oldest of the last limit failures */
        uint32_t oldest = e->times[e->next];
        if (now - oldest < SECRET_RATE_WINDOW)
            return (int)(SECRET_RATE_WINDOW - (now - oldest));
    }
    e->times[e->next] = now;
    e->next = (uint8_t)((e->next + 1) % r->limit);
    if (e->used < r->limit)
        e->used++;
    return 0;
}

void secret_rate_give_back(secret_rate *r, const unsigned char addr[16])
{
    if (r->limit == 0)
        return;
    secret_rate_entry *e = rate_find(r, addr, 0, 0);
    if (e == NULL || e->used == 0)
        return;
    /* The newest goes; the ring's oldest entries keep their places. When the ring was full its
     * oldest slot was overwritten: that failure is lost, which only errs towards fewer counted. */
    e->next = (uint8_t)((e->next + r->limit - 1) % r->limit);
    e->times[e->next] = 0;
    e->used--;
}

int secret_rate_failures(const secret_rate *r, const unsigned char addr[16], int64_t now)
{
    if (r->limit == 0)
        return 0;
    secret_rate_entry *e = rate_find((secret_rate *)r, addr, (uint32_t)now, 0);
    return e ? rate_count(r, e, (uint32_t)now) : 0;
}
