/* yoyaku-worker: configuration, connections (with reconnect and backoff) and the main loop that
 * alternates rebalance ticks, partition setup/replay and batches. Owns the worker struct; the
 * metrics listener (metrics.c) is the only other thread. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"
#include "batch.h"
#include "metrics.h"
#include "partitions.h"
#include "persist.h"
#include "waitlist.h"
#include "worker.h"
#include "yk_addr.h"
#include "yk_config.h"
#include "yk_log.h"
#include "yk_notify.h"
#include "yk_settings.h"
#include "yk_token.h"

volatile sig_atomic_t worker_stop;

static void on_signal(int sig)
{
    worker_stop = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL); /* a signal cuts it short, which is what shutdown wants */
}

/* Sleeps backoff ms while a store is away; returns the next pause (doubling, 5 s at most). */
static int64_t rest(int64_t backoff)
{
    sleep_ms(backoff);
    return backoff * 2 > 5000 ? 5000 : backoff * 2;
}

static int owned_count(const worker *w)
{
    int n = 0;
    for (unsigned p = 0; p < w->partitions; p++)
        n += w->parts[p].owned;
    return n;
}

int main(int argc, char **argv)
{
    /* First: a SIGTERM while the process is still starting (a deployment that stops it at once)
     * must end it cleanly, through the loop's check, not by the default action. */
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a dead Redis or PostgreSQL socket is an error, not a signal */
    static const char *log_format, *log_level, *metrics_listen, *pg, *redis, *token_key, *worker_id;
    static int64_t batch_max, max_deliveries, partitions, rebalance_ms, ttl;
    const yk_cf_entry table[] = {
        YK_CF_INTEGER("YOYAKU_BATCH_MAX", &batch_max, "1000", 1, 100000,
                      "most entries read per stream per batch"),
        YK_CF_SHARED(yk_setting_log_format, &log_format),
        YK_CF_SHARED(yk_setting_log_level, &log_level),
        YK_CF_INTEGER("YOYAKU_MAX_DELIVERIES", &max_deliveries, "5", 1, 1000,
                      "deliveries of an entry before it is moved to the dead letters yk:dead:{p}"),
        YK_CF_STRING("YOYAKU_METRICS_LISTEN", &metrics_listen, "",
                     "host:port serving GET /metrics and /healthz; empty = none"),
        YK_CF_SHARED(yk_setting_partitions, &partitions),
        YK_CF_SHARED(yk_setting_pg, &pg),
        YK_CF_INTEGER("YOYAKU_REBALANCE_MS", &rebalance_ms, "2000", 100, 600000,
                      "heartbeat and rebalance period"),
        YK_CF_SHARED(yk_setting_redis, &redis),
        YK_CF_SHARED(yk_setting_result_ttl, &ttl),
        YK_CF_SHARED(yk_setting_token_key, &token_key),
        YK_CF_STRING("YOYAKU_WORKER_ID", &worker_id, "",
                     "consumer name; empty = <host>-<pid>, fresh at every start"),
    };
    int rc = yk_config_main(argc, argv,
                            "usage: yoyaku-worker [--help] [--version] [--config]\n\n"
                            "Decides reservation requests from the Redis streams yk:req:{p} of the "
                            "partitions it owns and commits them to PostgreSQL.",
                            table, sizeof table / sizeof table[0]);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    yk_log_init("worker", log_level);

    char id[300], err[128];
    if (yk_settings_check_redis(redis, err, sizeof err) != 0) { /* as checked at load */
        fprintf(stderr, "%s: YOYAKU_REDIS=%s: %s\n", argv[0], redis, err);
        return 2;
    }
    if (*worker_id) {
        snprintf(id, sizeof id, "%s", worker_id);
    } else {
        yk_settings_instance_id(id, sizeof id);
    }
    if (yk_token_init() != 0) {
        yk_error("libsodium init failed");
        return 1;
    }
    /* The answers' check-in codes: the ingress and the notifier derive the same ones. */
    unsigned char key[YK_TOKEN_KEY_BYTES];
    if (yk_token_key_parse(token_key, key) > 0)
        yk_warn("YOYAKU_TOKEN_KEY is empty: using the development key");
    answer_set_key(key);

    worker w = {.id = id,
                .pg_conninfo = pg,
                .redis_addr = redis,
                .partitions = partitions,
                .batch_max = batch_max,
                .max_deliveries = max_deliveries,
                .ttl = ttl,
                .rebalance_ms = rebalance_ms};
    w.parts = calloc((size_t)partitions, sizeof *w.parts);
    if (w.parts == NULL) {
        yk_error("out of memory");
        return 1;
    }
    if (metrics_start(metrics_listen) != 0) {
        metrics_stop();
        free(w.parts);
        return 1;
    }

    yk_info("starting id=%s partitions=%lld redis=%s", id, (long long)partitions, redis);
    int64_t next_tick = 0, backoff = 100, next_waitlist = 0;
    while (!worker_stop) {
        yk_notify_watchdog_poll();
        if (w.pg == NULL && (w.pg = persist_connect(pg, id)) != NULL) {
            partitions_drop_all(&w); /* a new session holds no locks */
            next_tick = 0;
            yk_info("postgresql connected");
        }
        /* XREADGROUP blocks 100 ms at most, so a reply slower than 10 s means Redis is gone. */
        if (w.redis == NULL && (w.redis = yk_rconn_open_addr(redis, 2000, 10000)) != NULL) {
            partitions_resetup_all(&w); /* our pending entries may be unanswered */
            yk_info("redis connected");
        }
        if (w.pg == NULL || w.redis == NULL) {
            backoff = rest(backoff);
            continue;
        }
        yk_notify_ready(); /* listening and both stores connected; once */

        worker_status st = WORKER_OK;
        if (now_ms() >= next_tick) {
            st = partitions_rebalance(&w);
            next_tick = now_ms() + rebalance_ms;
        }
        for (unsigned p = 0; p < w.partitions && st == WORKER_OK && !worker_stop; p++)
            if (w.parts[p].owned && w.parts[p].setup && (st = partitions_setup(&w, p)) == WORKER_OK)
                st = batch_replay(&w, p);
        if (st == WORKER_OK && owned_count(&w) > 0 && now_ms() >= next_waitlist) {
            st = waitlist_tick(&w); /* offers expire by the clock, not by a page visit */
            next_waitlist = now_ms() + WAITLIST_TICK_MS;
        }
        if (st == WORKER_OK && !worker_stop) {
            if (owned_count(&w) == 0)
                sleep_ms(100);
            else
                st = batch_read(&w);
        }

        if (st == WORKER_PG_LOST) {
            yk_error("postgresql session lost: %s; dropping every partition",
                     yk_pgconn_error(w.pg));
            yk_pgconn_close(w.pg);
            w.pg = NULL;
            partitions_drop_all(&w);
        } else if (st == WORKER_REDIS_LOST) {
            yk_error("redis connection lost: %s", yk_rconn_error(w.redis));
            yk_rconn_close(w.redis);
            w.redis = NULL;
        }
        /* A cluster handle opens without touching a node, so a lost store is only found by the
         * next command: pause before that, or a dead master is dialled in a tight loop. */
        if (st == WORKER_PG_LOST || st == WORKER_REDIS_LOST)
            backoff = rest(backoff);
        else
            backoff = 100;
        metrics_owned(owned_count(&w));
    }

    yk_info("stopping id=%s", id);
    yk_notify_stopping();
    partitions_leave(&w);
    partitions_drop_all(&w);
    yk_rconn_close(w.redis);
    yk_pgconn_close(w.pg);
    free(w.parts);
    metrics_stop();
    return 0;
}
