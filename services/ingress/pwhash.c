/* pwhash: argon2id on the loop's thread pool under a cap. Owns the pool's jobs (each freed after
 * its callback, its password wiped) and no more. */
#include "pwhash.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef struct pwhash_job {
    uv_work_t work; /* first: the pool hands it back */
    struct pwhash_job *next;
    int verify; /* 0: hash password; 1: check it against hash */
    char hash[PWHASH_HASH_MAX];
    char *password; /* owned; wiped before it is freed */
    size_t password_len;
    int result; /* verify: 1, 0 or -1; hash: 0 or -1 */
    pwhash_hash_cb hash_done;
    pwhash_verify_cb verify_done;
    void *ud;
} pwhash_job;

static struct {
    uv_loop_t *loop;
    unsigned max_running, max_waiting, running, waiting;
    pwhash_job *head, *tail; /* waiting, first in first out */
} pool;

void pwhash_pool_init(uv_loop_t *loop, unsigned max_running, unsigned max_waiting)
{
    pool.loop = loop;
    pool.max_running = max_running ? max_running : 1;
    pool.max_waiting = max_waiting;
}

unsigned pwhash_running(void)
{
    return pool.running;
}

unsigned pwhash_waiting(void)
{
    return pool.waiting;
}

static void job_free(pwhash_job *j)
{
    sodium_memzero(j->password, j->password_len);
    free(j->password);
    free(j);
}

/* On a pool thread: only the job's own memory is touched. */
static void job_work(uv_work_t *w)
{
    pwhash_job *j = (pwhash_job *)w;
    if (j->verify) {
        int rc = crypto_pwhash_str_verify(j->hash, j->password, j->password_len);
        j->result = rc == 0 ? 1 : 0; /* -1 is a mismatch, a malformed hash or no memory alike */
    } else {
        j->result = crypto_pwhash_str(j->hash, j->password, j->password_len, PWHASH_OPSLIMIT,
                                      PWHASH_MEMLIMIT);
    }
}

static void job_after(uv_work_t *w, int status);

/* 0, or -1 when the pool refused (the job is then still the caller's). */
static int job_submit(pwhash_job *j)
{
    if (uv_queue_work(pool.loop, &j->work, job_work, job_after) != 0)
        return -1;
    pool.running++;
    return 0;
}

static void job_after(uv_work_t *w, int status)
{
    pwhash_job *j = (pwhash_job *)w;
    pool.running--;
    /* The next waiting job takes the freed place before the callback runs, so a callback that
     * starts a job queues behind the ones already waiting. */
    while (pool.head && pool.running < pool.max_running) {
        pwhash_job *n = pool.head;
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

static int job_start(pwhash_job *j)
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

static pwhash_job *job_new(const char *password)
{
    size_t n = strlen(password);
    if (n > PWHASH_PASSWORD_MAX)
        return NULL;
    pwhash_job *j = calloc(1, sizeof *j);
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

int pwhash_hash_start(const char *password, pwhash_hash_cb done, void *ud)
{
    if (pool.running >= pool.max_running && pool.waiting >= pool.max_waiting)
        return -1; /* before copying anything: this is the flood's path */
    pwhash_job *j = job_new(password);
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

int pwhash_verify_start(const char *hash, const char *password, pwhash_verify_cb done, void *ud)
{
    if (pool.running >= pool.max_running && pool.waiting >= pool.max_waiting)
        return -1;
    size_t hl = strlen(hash);
    if (hl >= PWHASH_HASH_MAX)
        return -1;
    pwhash_job *j = job_new(password);
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
