/* metrics: owns the worker's metric families, the listener's loop, thread and server. Families
 * are touched only under metrics_lock; the loop, server and async handle only by the listener
 * thread once it runs (metrics_start sets them up before creating it). */
#include "metrics.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "yk_http.h"
#include "yk_log.h"
#include "yk_metrics.h"

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static yk_family results =
    YK_COUNTER("yoyaku_bookings_total", "Requests decided by this worker, by result.");
static yk_family batch_size =
    YK_HISTOGRAM("yoyaku_worker_batch_size", "Entries decided per batch.", yk_metrics_size_bounds);
static yk_family batch_seconds =
    YK_HISTOGRAM("yoyaku_worker_batch_seconds",
                 "Time to commit a batch's bookings and cancellations to PostgreSQL.",
                 yk_metrics_latency_bounds);
static yk_family owned =
    YK_GAUGE("yoyaku_worker_partitions_owned", "Partitions whose lock this worker holds.");
static yk_family redeliveries =
    YK_COUNTER("yoyaku_worker_redeliveries_total",
               "Entries read again from the pending list (replay after a restart, a takeover or "
               "a failed attempt).");
static yk_family dead_letters =
    YK_COUNTER("yoyaku_dead_letters_total",
               "Entries this worker moved to the dead-letter stream yk:dead:{p}, by partition.");
static yk_family dead_length =
    YK_GAUGE("yoyaku_dead_letter_entries",
             "Entries in the dead-letter stream yk:dead:{p} of each partition this worker owns, "
             "read at its last rebalance tick.");
static yk_family *const families[] = {&results,      &batch_size,   &batch_seconds, &owned,
                                      &redeliveries, &dead_letters, &dead_length};

static uv_loop_t metrics_loop;
static uv_async_t metrics_stop_async;
static yk_http_server *metrics_http;
static pthread_t metrics_thread;
static bool metrics_running;

static const yk_http_limits metrics_limits = {
    .max_body = 4096,
    .max_header = 8 * 1024,
    .header_timeout_ms = 10000,
    .idle_timeout_ms = 60000,
};

static void metrics_render(yk_http_req *req)
{
    yk_buf b = YK_BUF_INIT(YK_METRICS_MAX);
    yk_metrics_printf(&b,
                      "# HELP yoyaku_build_info Build of this process.\n"
                      "# TYPE yoyaku_build_info gauge\n"
                      "yoyaku_build_info{version=\"%s\",service=\"worker\"} 1\n",
                      YK_VERSION);
    pthread_mutex_lock(&metrics_lock);
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        yk_family_render(families[i], &b);
    pthread_mutex_unlock(&metrics_lock);
    if (b.failed)
        yk_http_respond_error(req, 500, "internal", "The metrics could not be rendered.");
    else
        yk_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, b.p, b.len);
    yk_buf_free(&b);
}

static void metrics_handle(yk_http_req *req, void *ud)
{
    bool health = strcmp(req->path, "/healthz") == 0;
    if (!health && strcmp(req->path, "/metrics") != 0) {
        yk_http_respond_error(req, 404, "not_found", "No such route.");
    } else if (req->method != YK_M_GET && req->method != YK_M_HEAD) {
        yk_http_respond_not_allowed(req, "GET, HEAD");
    } else if (health) {
        yk_http_respond(req, 200, "application/json", NULL, "{\"status\":\"ok\"}", 15);
    } else {
        metrics_render(req);
    }
}

static void metrics_on_stop(uv_async_t *a)
{
    yk_http_server_close(metrics_http);
    uv_close((uv_handle_t *)&metrics_stop_async, NULL);
}

static void *metrics_main(void *arg)
{
    uv_run(&metrics_loop, UV_RUN_DEFAULT); /* returns once the server and async are closed */
    return NULL;
}

int metrics_start(const char *listen)
{
    /* Series that exist from the start, so a scrape shows them before the first batch. */
    yk_family_add(&batch_size, "", 0);
    yk_family_add(&batch_seconds, "", 0);
    yk_family_set(&owned, "", 0);
    yk_family_add(&redeliveries, "", 0);
    if (listen == NULL || *listen == '\0')
        return 0;
    int rc = uv_loop_init(&metrics_loop);
    if (rc != 0) {
        yk_error("metrics: loop init failed: %s", uv_strerror(rc));
        return rc;
    }
    rc = yk_http_server_start(&metrics_http, &metrics_loop, listen, &metrics_limits, metrics_handle,
                              NULL, NULL);
    if (rc == 0)
        rc = uv_async_init(&metrics_loop, &metrics_stop_async, metrics_on_stop);
    if (rc != 0) {
        yk_error("metrics: cannot listen on %s: %s", listen, uv_strerror(rc));
        if (metrics_http)
            yk_http_server_close(metrics_http);
        uv_run(&metrics_loop, UV_RUN_DEFAULT); /* lets the closed handles free their memory */
        uv_loop_close(&metrics_loop);
        return rc;
    }
    /* The thread inherits this mask: shutdown signals must interrupt the worker thread. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    rc = pthread_create(&metrics_thread, NULL, metrics_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        yk_error("metrics: cannot start the listener thread: %s", strerror(rc));
        uv_close((uv_handle_t *)&metrics_stop_async, NULL);
        yk_http_server_close(metrics_http);
        uv_run(&metrics_loop, UV_RUN_DEFAULT);
        uv_loop_close(&metrics_loop);
        return UV_EAGAIN;
    }
    metrics_running = true;
    yk_info("metrics listening on %s", listen);
    return 0;
}

void metrics_stop(void)
{
    if (metrics_running) {
        uv_async_send(&metrics_stop_async); /* the only loop call allowed from another thread */
        pthread_join(metrics_thread, NULL);
        if (uv_loop_close(&metrics_loop) != 0)
            yk_warn("metrics: loop closed with handles still open");
        metrics_running = false;
    }
    pthread_mutex_lock(&metrics_lock);
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        yk_family_free(families[i]);
    pthread_mutex_unlock(&metrics_lock);
}

void metrics_result(const char *result)
{
    char labels[64];
    snprintf(labels, sizeof labels, "result=\"%s\"", result);
    pthread_mutex_lock(&metrics_lock);
    yk_family_add(&results, labels, 1);
    pthread_mutex_unlock(&metrics_lock);
}

void metrics_batch(size_t entries)
{
    pthread_mutex_lock(&metrics_lock);
    yk_family_observe(&batch_size, "", (double)entries);
    pthread_mutex_unlock(&metrics_lock);
}

void metrics_commit(double seconds)
{
    pthread_mutex_lock(&metrics_lock);
    yk_family_observe(&batch_seconds, "", seconds);
    pthread_mutex_unlock(&metrics_lock);
}

void metrics_owned(int partitions)
{
    pthread_mutex_lock(&metrics_lock);
    yk_family_set(&owned, "", partitions);
    pthread_mutex_unlock(&metrics_lock);
}

void metrics_redelivered(size_t entries)
{
    pthread_mutex_lock(&metrics_lock);
    yk_family_add(&redeliveries, "", (double)entries);
    pthread_mutex_unlock(&metrics_lock);
}

void metrics_dead(unsigned partition, size_t entries)
{
    char labels[32];
    snprintf(labels, sizeof labels, "partition=\"%u\"", partition);
    pthread_mutex_lock(&metrics_lock);
    yk_family_add(&dead_letters, labels, (double)entries);
    pthread_mutex_unlock(&metrics_lock);
}

void metrics_dead_lengths(const long long *len, size_t partitions)
{
    pthread_mutex_lock(&metrics_lock);
    yk_family_clear(&dead_length);
    for (size_t p = 0; p < partitions; p++) {
        if (len[p] < 0)
            continue;
        char labels[40]; /* partition="<up to 20 digits>" */
        snprintf(labels, sizeof labels, "partition=\"%zu\"", p);
        yk_family_set(&dead_length, labels, (double)len[p]);
        yk_family_add(&dead_letters, labels, 0); /* the counter shows from the start */
    }
    pthread_mutex_unlock(&metrics_lock);
}
