/* yoyaku-ingress: HTTP front door. Owns the loop, the config table, the connections to Redis and
 * PostgreSQL, the router and the process lifecycle (SIGINT/SIGTERM drain and exit 0); what a
 * request needs after routing lives with its route (routes_*.c, submit.c, respond.c). */
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalogue.h"
#include "catalogue_sql.h"
#include "client.h"
#include "deadline.h"
#include "ingress.h"
#include "metrics.h"
#include "pwhash.h"
#include "ratelimit.h"
#include "roster.h"
#include "routes_secret.h"
#include "staff.h"
#include "submit.h"
#include "web.h"
#include "yk_config.h"
#include "yk_jarena.h"
#include "yk_log.h"
#include "yk_notify.h"
#include "yk_settings.h"
#include "yk_token.h"

ingress_state ingress;
static const char *log_format; /* yk_log_init reads it from the environment */

static const yk_cf_entry config[] = {
    YK_CF_INTEGER("YOYAKU_ACCESS_TTL", &ingress.access_ttl, "43200", 60, 30 * 86400,
                  "seconds an access token of a secret event (POST …/unlock) stays valid"),
    YK_CF_INTEGER("YOYAKU_HTTP_BODY_TIMEOUT_MS", &ingress.body_timeout_ms, "10000", 100, 600000,
                  "ms from the end of a request's head to its body's last byte, else the "
                  "connection closes (slow bodies)"),
    YK_CF_INTEGER("YOYAKU_HTTP_HEADER_TIMEOUT_MS", &ingress.header_timeout_ms, "10000", 100, 600000,
                  "ms from a request's first byte to the end of its head (and from a new "
                  "connection to its first byte), else the connection closes (slowloris)"),
    YK_CF_INTEGER("YOYAKU_HTTP_IDLE_TIMEOUT_MS", &ingress.idle_timeout_ms, "15000", 100, 3600000,
                  "ms a kept-alive connection may wait for its next request"),
    YK_CF_STRING("YOYAKU_INGRESS_ID", &ingress.ingress_id_cfg, "",
                 "name of this ingress process (reply channel); default <hostname>-<pid>"),
    YK_CF_STRING("YOYAKU_LISTEN", &ingress.listen, "127.0.0.1:8080", "HTTP listen address"),
    YK_CF_INTEGER("YOYAKU_LOGIN_FAILURES", &ingress.fail_login, "10", 0, 64,
                  "failed staff sign-ins a minute per client address (loopback only with "
                  "YOYAKU_RATE_LOOPBACK), and per login, before login answers 429; 0: no limit"),
    YK_CF_SHARED(yk_setting_log_format, &log_format),
    YK_CF_SHARED(yk_setting_log_level, &ingress.log_level),
    YK_CF_INTEGER("YOYAKU_MAX_CONNS_PER_ADDR", &ingress.max_conns_per_addr, "128", 0, 1000000,
                  "open connections per client address (IPv6: per /64); one more is answered 429 "
                  "and closed; loopback (unless YOYAKU_RATE_LOOPBACK=1) and "
                  "YOYAKU_TRUSTED_PROXIES are not counted; 0: no cap"),
    YK_CF_SHARED(yk_setting_partitions, &ingress.partitions),
    YK_CF_SHARED(yk_setting_pg, &ingress.pg_conninfo),
    YK_CF_SHARED(yk_setting_public_url, &ingress.public_url),
    YK_CF_INTEGER("YOYAKU_PWHASH_CONCURRENCY", &ingress.pwhash_concurrency, "2", 1, 64,
                  "password hashes (argon2id, 19 MiB each) computed at once; 4 times as many wait, "
                  "more get 503"),
    YK_CF_CHECKED(
        "YOYAKU_RATE_LOGIN", &ingress.rate[RATE_LOGIN], "30/min", ratelimit_check_setting,
        "staff sign-ins per client address (token bucket; format as YOYAKU_RATE_RESERVE)"),
    YK_CF_INTEGER("YOYAKU_RATE_LOOPBACK", &ingress.rate_loopback, "0", 0, 1,
                  "1: rate limits and the connection cap apply to loopback clients too (by default "
                  "one machine may rush)"),
    YK_CF_CHECKED("YOYAKU_RATE_RESERVE", &ingress.rate[RATE_RESERVE], "60/min",
                  ratelimit_check_setting,
                  "reservations per client address, a token bucket: N/s, N/min or N/h (a bare N "
                  "is N/min), optionally ,B for a bucket of B (default N); 0 or off: no limit; "
                  "beyond it 429 with Retry-After"),
    YK_CF_CHECKED("YOYAKU_RATE_UNLOCK", &ingress.rate[RATE_UNLOCK], "30/min",
                  ratelimit_check_setting,
                  "unlock attempts of secret events per client address (token bucket; format as "
                  "YOYAKU_RATE_RESERVE)"),
    YK_CF_CHECKED("YOYAKU_RATE_WAITLIST", &ingress.rate[RATE_WAITLIST], "30/min",
                  ratelimit_check_setting,
                  "waitlist joins per client address (token bucket; format as "
                  "YOYAKU_RATE_RESERVE)"),
    YK_CF_SHARED(yk_setting_redis, &ingress.redis_addr),
    YK_CF_INTEGER("YOYAKU_REDIS_REPLICAS", &ingress.redis_replicas, "-1", -1, 16,
                  "replicas that must hold a request (Redis WAIT) before it is answered 202; -1: 1 "
                  "when its Redis master has a replica, else 0"),
    YK_CF_SHARED(yk_setting_result_ttl, &ingress.result_ttl),
    YK_CF_INTEGER("YOYAKU_SESSION_TTL", &ingress.session_ttl, "43200", 300, 30 * 86400,
                  "seconds a staff session (the console's sign-in cookie) stays valid"),
    YK_CF_SHARED(yk_setting_token_key, &ingress.token_key_hex),
    YK_CF_SHARED(yk_setting_trusted_proxies, &ingress.trusted_proxies),
    YK_CF_INTEGER("YOYAKU_UNLOCK_FAILURES", &ingress.fail_unlock, "10", 0, 64,
                  "wrong passwords a minute per client address before unlock answers 429; 0: no "
                  "limit"),
    YK_CF_INTEGER("YOYAKU_WAIT_MS", &ingress.wait_ms, "5000", 0, 60000,
                  "how long a reservation waits for its decision before 202"),
    YK_CF_STRING("YOYAKU_WEB_DIR", &ingress.web_dir, YK_SOURCE_DIR "/web",
                 "directory of the booking pages served at / (read once at start)"),
};

static yk_http_limits limits = {
    .max_body = 64 * 1024,
    .max_header = 8 * 1024,
    .share_port = 1,
    .conn_key = client_conn_capped,
}; /* the timeouts and the cap from the settings */

static uv_signal_t sig_int, sig_term;
static uv_timer_t catalogue_timer;

/* /readyz: both stores answered a probe within the last second, and the catalogue has loaded. */
static int ready(void)
{
    return yk_redis_ready(ingress.redis) && yk_redis_ready(ingress.sub) &&
           yk_pg_ready(ingress.pg) && catalogue_loaded();
}

static void handle(yk_http_req *req, void *ud)
{
    char path[512];
    char *segs[8];
    int n = 0;
    if (ingress.stopping) {
        ingress_respond_unavailable(req);
        return;
    }
    if (strcmp(req->path, "/healthz") == 0 || strcmp(req->path, "/readyz") == 0) {
        int ok = req->path[1] == 'h' || ready();
        req->route = req->path[1] == 'h' ? "healthz" : "readyz"; /* literals: metrics keep them */
        if (req->method != YK_M_GET)
            yk_http_respond_not_allowed(req, "GET, HEAD");
        else if (ok)
            yk_http_respond(req, 200, "application/json", NULL, "{\"status\":\"ok\"}", 15);
        else
            ingress_respond_unavailable(req);
        return;
    }
    if (strcmp(req->path, "/metrics") == 0) {
        req->route = "metrics";
        if (req->method != YK_M_GET)
            yk_http_respond_not_allowed(req, "GET, HEAD");
        else
            metrics_handle(req);
        return;
    }
    if (strncmp(req->path, "/v1/", 4) != 0 && web_handle(req))
        return;
    if (req->path_len >= sizeof path || strncmp(req->path, "/v1/", 4) != 0) {
        yk_http_respond_error(req, 404, "not_found", "No such route.");
        return;
    }
    memcpy(path, req->path + 4, req->path_len - 3);
    for (char *p = path, *save = NULL, *tok; (tok = strtok_r(p, "/", &save)) != NULL; p = NULL) {
        if (n == (int)(sizeof segs / sizeof segs[0])) {
            yk_http_respond_error(req, 404, "not_found", "No such route.");
            return;
        }
        segs[n++] = tok;
    }
    if (n >= 1 && strcmp(segs[0], "admin") == 0)
        routes_admin(req, segs, n);
    else if (n >= 1 && strcmp(segs[0], "bookings") == 0)
        routes_bookings(req, segs, n);
    else
        routes_public(req, segs, n);
}

/* A load that failed (PostgreSQL down) is tried again each second: until one succeeds, the
 * catalogue routes answer 503 rather than guess. */
static void catalogue_retry_cb(uv_timer_t *t)
{
    (void)t;
    if (!catalogue_current())
        catalogue_reload(NULL, NULL);
}

/* The last step of a shutdown: the waiting requests have been answered. */
static void close_connections(void)
{
    yk_redis_close(ingress.redis);
    yk_redis_close(ingress.sub);
    yk_pg_close(ingress.pg);
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&catalogue_timer, NULL);
    deadline_close();
}

static void on_signal(uv_signal_t *s, int signum)
{
    if (ingress.stopping)
        return;
    yk_info("stopping signal=%d", signum);
    ingress.stopping = 1;
    yk_notify_stopping();
    yk_http_server_close(ingress.http);
    submit_shutdown(close_connections);
}

int main(int argc, char **argv)
{
    static const char usage[] =
        "usage: yoyaku-ingress [--help] [--version] [--config]\n"
        "The HTTP ingress of yoyaku: validates requests and queues reservations in Redis.";
    int rc = yk_config_main(argc, argv, usage, config, sizeof config / sizeof config[0]);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    setlocale(LC_CTYPE, "C.UTF-8"); /* field patterns match characters, not bytes */
    yk_log_init("ingress", ingress.log_level);
    yk_jarena_install();
    signal(SIGPIPE, SIG_IGN);
    if (yk_token_init() != 0) {
        yk_error("libsodium failed to initialise");
        return 1;
    }
    int key = yk_token_key_parse(ingress.token_key_hex, ingress.token_key);
    if (key < 0) {
        yk_error("YOYAKU_TOKEN_KEY must be 64 hex characters");
        return 2;
    }
    if (key > 0)
        yk_warn("YOYAKU_TOKEN_KEY is not set: using the public development key");
    if (ingress.ingress_id_cfg[0]) {
        /* It names the reply channel and is a value in the stream entries' header field, whose
         * values are separated by spaces (proto/streams.md). */
        size_t n = strlen(ingress.ingress_id_cfg);
        if (n >= sizeof ingress.ingress_id ||
            strspn(ingress.ingress_id_cfg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                           "0123456789._-") != n) {
            yk_error("YOYAKU_INGRESS_ID must be 1 to %zu of A-Z a-z 0-9 . _ -",
                     sizeof ingress.ingress_id - 1);
            return 2;
        }
        snprintf(ingress.ingress_id, sizeof ingress.ingress_id, "%s", ingress.ingress_id_cfg);
    } else {
        yk_settings_instance_id(ingress.ingress_id, sizeof ingress.ingress_id);
    }
    ingress.loop = uv_default_loop();
    catalogue_init(catalogue_sql_start, (unsigned)ingress.partitions);
    unsigned hashes = ingress.pwhash_concurrency > 0 ? (unsigned)ingress.pwhash_concurrency : 1;
    /* A small queue smooths a burst of honest unlocks and sign-ins; a flood beyond it gets 503 at
     * once, so neither memory (PWHASH_MEMLIMIT per running hash) nor the wait grows with it. */
    pwhash_pool_init(ingress.loop, hashes, 4 * hashes);
    routes_secret_init();
    if (client_init(ingress.trusted_proxies) != 0)
        return 2;
    ratelimit_init(ingress.rate);
    limits.header_timeout_ms = (uint64_t)ingress.header_timeout_ms;
    limits.body_timeout_ms = (uint64_t)ingress.body_timeout_ms;
    limits.idle_timeout_ms = (uint64_t)ingress.idle_timeout_ms;
    limits.max_conns_per_addr = (unsigned)ingress.max_conns_per_addr;
    yk_settings_origin(ingress.public_url, ingress.origin, sizeof ingress.origin);
    if (staff_init() != 0) {
        yk_error("cannot hash the stand-in password (memory)");
        return 1;
    }
    if (yk_pg_open(&ingress.pg, ingress.loop, ingress.pg_conninfo, 1000) != 0 ||
        yk_redis_open(&ingress.redis, ingress.loop, ingress.redis_addr, 500, submit_on_connect,
                      NULL) != 0 ||
        yk_redis_open(&ingress.sub, ingress.loop, ingress.redis_addr, 500, submit_sub_connected,
                      NULL) != 0 ||
        submit_init() != 0) {
        yk_error("cannot set up connections (bad YOYAKU_REDIS?)");
        return 1;
    }
    yk_redis_set_replicas(ingress.redis, (int)ingress.redis_replicas);
    rc = yk_http_server_start(&ingress.http, ingress.loop, ingress.listen, &limits, handle,
                              metrics_observe, NULL);
    if (rc != 0) {
        yk_error("cannot listen on %s: %s", ingress.listen, uv_strerror(rc));
        return 1;
    }
    yk_http_server_stream_bodies(ingress.http, roster_body_filter, NULL); /* roster uploads */
    web_load(ingress.web_dir); /* without pages the API still serves */
    uv_timer_init(ingress.loop, &catalogue_timer);
    uv_timer_start(&catalogue_timer, catalogue_retry_cb, 1000, 1000);
    uv_signal_init(ingress.loop, &sig_int);
    uv_signal_init(ingress.loop, &sig_term);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    catalogue_reload(NULL, NULL);
    yk_info("listening on %s id=%s partitions=%lld", ingress.listen, ingress.ingress_id,
            (long long)ingress.partitions);
    yk_notify_start(ingress.loop, ready); /* READY=1 once /readyz would answer 200 */
    uv_run(ingress.loop, UV_RUN_DEFAULT);
    catalogue_free();
    submit_free();
    metrics_free();
    web_free();
    uv_loop_close(ingress.loop);
    yk_info("stopped");
    return 0;
}
