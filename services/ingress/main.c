/* yoyaku-ingress: HTTP front door. Owns the loop, the config table, the connections to Redis and
 * PostgreSQL, the router and the process lifecycle (SIGINT/SIGTERM drain and exit 0). */
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalogue.h"
#include "ingress.h"
#include "metrics.h"
#include "submit.h"
#include "web.h"
#include "yk_config.h"
#include "yk_jarena.h"
#include "yk_log.h"
#include "yk_token.h"

ingress_state ingress;

static const yk_cf_entry config[] = {
    YK_CF_STRING("YOYAKU_INGRESS_ID", &ingress.ingress_id_cfg, "",
                 "name of this ingress process (reply channel); default <hostname>-<pid>"),
    YK_CF_STRING("YOYAKU_LISTEN", &ingress.listen, "127.0.0.1:8080", "HTTP listen address"),
    YK_CF_STRING("YOYAKU_LOG_LEVEL", &ingress.log_level, "info", "debug, info, warn or error"),
    YK_CF_INTEGER("YOYAKU_PARTITIONS", &ingress.partitions, "16", 1, 1024,
                  "number of request streams; the same for every process"),
    YK_CF_STRING("YOYAKU_PG", &ingress.pg_conninfo, "dbname=yoyaku", "libpq connection string"),
    YK_CF_STRING("YOYAKU_REDIS", &ingress.redis_addr, "127.0.0.1:6379",
                 "Redis host:port or unix socket path"),
    YK_CF_INTEGER("YOYAKU_RESULT_TTL", &ingress.result_ttl, "86400", 60, 30 * 86400,
                  "seconds a 202'd or idempotent request's answer and an Idempotency-Key are kept"),
    YK_CF_SECRET("YOYAKU_TOKEN_KEY", &ingress.token_key_hex, "",
                 "64 hex characters; booking tokens are derived from it (same for the notifier)"),
    YK_CF_INTEGER("YOYAKU_WAIT_MS", &ingress.wait_ms, "5000", 0, 60000,
                  "how long a reservation waits for its decision before 202"),
    YK_CF_STRING("YOYAKU_WEB_DIR", &ingress.web_dir, YK_SOURCE_DIR "/web",
                 "directory of the booking pages served at / (read once at start)"),
};

static const yk_http_limits limits = {
    .max_body = 64 * 1024,
    .max_header = 8 * 1024,
    .header_timeout_ms = 10000,
    .idle_timeout_ms = 60000,
    .share_port = 1,
};

static uv_signal_t sig_int, sig_term;
static uv_timer_t catalogue_timer;

void ingress_respond_json(yk_http_req *req, int status, json_t *json, const char *extra_headers)
{
    char *body = json ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    if (body == NULL) {
        yk_http_respond_error(req, 500, "internal", "The answer could not be built.");
        return;
    }
    yk_http_respond(req, status, "application/json", extra_headers, body, strlen(body));
    free(body);
}

int ingress_query_param(const char *query, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = len - nl - 1;
            if (vl >= outlen)
                return -1;
            memcpy(out, p + nl + 1, vl);
            out[vl] = '\0';
            return 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

void ingress_add_error(json_t *errors, const char *field, const char *reason)
{
    json_array_append_new(errors, json_pack("{s:s,s:s}", "field", field, "reason", reason));
}

void ingress_respond_invalid(yk_http_req *req, json_t *errors, const char *message)
{
    ingress_respond_json(req, 422,
                         json_pack("{s:s,s:s,s:o}", "error", "invalid_fields", "message", message,
                                   "errors", errors),
                         NULL);
}

void ingress_respond_unavailable(yk_http_req *req)
{
    static const char body[] =
        "{\"error\":\"unavailable\",\"message\":\"The service is busy or a backend is down; "
        "try again shortly.\"}";
    yk_http_respond(req, 503, "application/json", "Retry-After: 1\r\n", body, sizeof body - 1);
}

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
            yk_http_respond_error(req, 405, "method_not_allowed", "Use GET.");
        else if (ok)
            yk_http_respond(req, 200, "application/json", NULL, "{\"status\":\"ok\"}", 15);
        else
            ingress_respond_unavailable(req);
        return;
    }
    if (strcmp(req->path, "/metrics") == 0) {
        req->route = "metrics";
        if (req->method != YK_M_GET)
            yk_http_respond_error(req, 405, "method_not_allowed", "Use GET.");
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

/* "<event id> <slot id> <seats left>" triples separated by spaces, one per touched slot. */
static void on_remaining(const char *p)
{
    for (;;) {
        char *end;
        long long v[3];
        for (int i = 0; i < 3; i++, p = end) {
            v[i] = strtoll(p, &end, 10);
            if (end == p)
                return;
        }
        if (v[2] >= INT_MIN && v[2] <= INT_MAX)
            catalogue_set_remaining(v[1], (int)v[2]);
    }
}

static void on_sub_message(yk_redis_op *op, redisReply *r)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[2]->type != REDIS_REPLY_STRING)
        return; /* subscription confirmations, or NULL when the connection drops */
    const char *channel = r->element[1]->str, *msg = r->element[2]->str;
    if (strncmp(channel, "yk:rep:", 7) == 0) {
        /* A worker sends one message per batch: answers separated by '\n' (compact JSON has none). */
        const char *end = msg + r->element[2]->len;
        for (const char *line = msg, *nl; line < end; line = nl + 1) {
            nl = memchr(line, '\n', (size_t)(end - line));
            if (nl == NULL)
                nl = end;
            submit_on_reply(line, (size_t)(nl - line));
        }
    } else if (strncmp(msg, "remaining ", 10) == 0) {
        on_remaining(msg + 10);
    } else if (strcmp(msg, "catalogue") == 0) {
        catalogue_reload(NULL, NULL);
    }
}

static yk_redis_op sub_op = {on_sub_message};

static void sub_connected(yk_redis *r, void *ud)
{
    yk_redis_cmd(r, &sub_op, "SUBSCRIBE yk:rep:%s yk:events", ingress.ingress_id);
    /* Seat counts may have changed while we were not listening. */
    catalogue_reload(NULL, NULL);
}

static void catalogue_retry_cb(uv_timer_t *t)
{
    if (!catalogue_loaded())
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
}

static void on_signal(uv_signal_t *s, int signum)
{
    if (ingress.stopping)
        return;
    yk_info("stopping signal=%d", signum);
    ingress.stopping = 1;
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
        char host[64] = "host";
        gethostname(host, sizeof host - 1);
        snprintf(ingress.ingress_id, sizeof ingress.ingress_id, "%s-%d", host, (int)getpid());
    }
    ingress.loop = uv_default_loop();
    if (yk_pg_open(&ingress.pg, ingress.loop, ingress.pg_conninfo, 1000) != 0 ||
        yk_redis_open(&ingress.redis, ingress.loop, ingress.redis_addr, 500, submit_on_connect,
                      NULL) != 0 ||
        yk_redis_open(&ingress.sub, ingress.loop, ingress.redis_addr, 500, sub_connected, NULL) !=
            0 ||
        submit_init() != 0) {
        yk_error("cannot set up connections (bad YOYAKU_REDIS?)");
        return 1;
    }
    rc = yk_http_server_start(&ingress.http, ingress.loop, ingress.listen, &limits, handle,
                              metrics_observe, NULL);
    if (rc != 0) {
        yk_error("cannot listen on %s: %s", ingress.listen, uv_strerror(rc));
        return 1;
    }
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
    uv_run(ingress.loop, UV_RUN_DEFAULT);
    catalogue_free();
    submit_free();
    metrics_free();
    web_free();
    uv_loop_close(ingress.loop);
    yk_info("stopped");
    return 0;
}
