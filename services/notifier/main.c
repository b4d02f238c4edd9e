/* yoyaku-notifier: configuration, the libuv loop, the pump that moves claimed outbox rows through
 * rendering and SMTP to their outcome, /metrics, and the lifecycle (SIGTERM: drain, exit 0).
 * Owns every mail_job from its claim until outbox_finish has copied its outcome. */
#include <curl/curl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "notifier.h"
#include "outbox.h"
#include "render.h"
#include "smtp.h"
#include "yk_config.h"
#include "yk_http.h"
#include "yk_log.h"
#include "yk_metrics.h"
#include "yk_notify.h"
#include "yk_settings.h"
#include "yk_token.h"

static struct {
    const char *log_level, *pg, *smtp_url, *mail_from, *mail_domain, *public_url, *token_key,
        *template_dir, *metrics_listen;
    int64_t backoff_ms, backoff_max_ms, batch, drain_ms, lease_s, max_attempts, parallel, poll_ms,
        smtp_starttls, smtp_timeout_ms;
} cfg;
static const char *log_format; /* yk_log_init reads it from the environment */

static const yk_cf_entry config[] = {
    YK_CF_SHARED(yk_setting_log_format, &log_format),
    YK_CF_SHARED(yk_setting_log_level, &cfg.log_level),
    YK_CF_INTEGER("YOYAKU_MAIL_BACKOFF_MAX_MS", &cfg.backoff_max_ms, "3600000", 1, 86400000,
                  "longest wait between two attempts at one mail"),
    YK_CF_INTEGER(
        "YOYAKU_MAIL_BACKOFF_MS", &cfg.backoff_ms, "30000", 1, 86400000,
        "wait after the first transient failure; doubles with each attempt (+0-20% jitter)"),
    YK_CF_INTEGER("YOYAKU_MAIL_BATCH", &cfg.batch, "100", 1, 10000,
                  "most outbox rows claimed (and held) at once"),
    YK_CF_STRING("YOYAKU_MAIL_DOMAIN", &cfg.mail_domain, "",
                 "right-hand side of Message-ID and iCalendar UID; empty = host of "
                 "YOYAKU_PUBLIC_URL if a DNS name, else yoyaku.invalid"),
    YK_CF_INTEGER("YOYAKU_MAIL_DRAIN_MS", &cfg.drain_ms, "10000", 0, 600000,
                  "on SIGTERM, how long sends in flight may take before they are abandoned"),
    YK_CF_STRING("YOYAKU_MAIL_FROM", &cfg.mail_from, "yoyaku <noreply@yoyaku.invalid>",
                 "From: header and envelope sender"),
    YK_CF_INTEGER("YOYAKU_MAIL_LEASE_S", &cfg.lease_s, "120", 2, 86400,
                  "a claimed row is ours this long; after a crash it is sent again once it lapses"),
    YK_CF_INTEGER("YOYAKU_MAIL_MAX_ATTEMPTS", &cfg.max_attempts, "8", 1, 1000,
                  "attempts before a mail is dead (logged, counted in yoyaku_mail_sent_total)"),
    YK_CF_INTEGER("YOYAKU_MAIL_PARALLEL", &cfg.parallel, "8", 1, 256,
                  "SMTP transfers in flight and connections kept open"),
    YK_CF_INTEGER("YOYAKU_MAIL_POLL_MS", &cfg.poll_ms, "1000", 10, 3600000,
                  "look for due rows this often even without NOTIFY yk_outbox"),
    YK_CF_STRING("YOYAKU_METRICS_LISTEN", &cfg.metrics_listen, "127.0.0.1:9103",
                 "host:port serving /metrics, /healthz and /readyz; empty = none"),
    YK_CF_SHARED(yk_setting_pg, &cfg.pg),
    YK_CF_SHARED(yk_setting_public_url, &cfg.public_url),
    YK_CF_INTEGER("YOYAKU_SMTP_STARTTLS", &cfg.smtp_starttls, "0", 0, 1,
                  "1 = refuse to send unless the server accepts STARTTLS"),
    YK_CF_INTEGER("YOYAKU_SMTP_TIMEOUT_MS", &cfg.smtp_timeout_ms, "30000", 100, 600000,
                  "one SMTP transfer, connect included"),
    YK_CF_SECRET("YOYAKU_SMTP_URL", &cfg.smtp_url, "smtp://127.0.0.1:2525",
                 "smtp://host:port or smtps://host:port; user:password@ may precede host"),
    YK_CF_STRING("YOYAKU_TEMPLATE_DIR", &cfg.template_dir,
                 YK_SOURCE_DIR "/services/notifier/templates",
                 "directory of {confirmation,reminder,cancellation}.{ja,en}.txt"),
    YK_CF_SHARED(yk_setting_token_key, &cfg.token_key),
};

static const yk_http_limits http_limits = {
    .max_body = 4096, .max_header = 8192, .header_timeout_ms = 10000, .idle_timeout_ms = 60000};

static yk_family m_sent = YK_COUNTER(
    "yoyaku_mail_sent_total", "Mail outcomes by kind and result (sent, retry, dead, cancelled).");
static yk_family m_pending =
    YK_GAUGE("yoyaku_mail_outbox_pending", "Pending mail_outbox rows (all notifiers), last poll.");
static yk_family m_in_flight = YK_GAUGE("yoyaku_mail_in_flight", "SMTP transfers in flight.");
static yk_family m_seconds =
    YK_HISTOGRAM("yoyaku_mail_send_duration_seconds", "One SMTP transfer, by outcome.",
                 yk_metrics_latency_bounds);

static struct {
    uv_loop_t *loop;
    outbox *ob;
    smtp *smtp;
    render_templates *tpl;
    render_ctx ctx;
    yk_http_server *http;
    uv_timer_t poll, drain;
    uv_signal_t sigint, sigterm;
    mail_job *queue, *queue_tail; /* claimed, not yet handed to SMTP */
    int queued;
    int want_claim; /* something may be due: a NOTIFY, a poll tick, a full claim */
    int claiming;
    int claim_limit;
    uint64_t claim_started_ms;
    int stopping; /* SIGTERM: no new claims or sends, finish what is in flight */
    int aborting; /* inside smtp_abort_all: completions must not re-enter the pump */
    int drain_fires;
    int closed;
} n;

static void pump(void);

/* ---- outcomes */

static int64_t backoff_ms(int attempt)
{
    int64_t d = cfg.backoff_ms;
    for (int i = 1; i < attempt && d < cfg.backoff_max_ms; i++)
        d *= 2;
    if (d > cfg.backoff_max_ms)
        d = cfg.backoff_max_ms;
    /* jitter, so rows that failed together do not all come back at the same instant */
    return d +
           (int64_t)randombytes_uniform((uint32_t)(d / 5 < 1000000000 ? d / 5 + 1 : 1000000000));
}

static void count(const mail_job *job)
{
    char labels[64];
    snprintf(labels, sizeof labels, "kind=\"%s\",result=\"%s\"", job->b.kind,
             mail_result_name(job->result));
    yk_family_add(&m_sent, labels, 1);
}

/* Logs and counts the outcome, hands it to the outbox and frees the job. */
static void finish(mail_job *job, int64_t retry_ms)
{
    const mail_booking *b = &job->b;
    switch (job->result) {
    case MAIL_SENT:
        yk_info("mail sent outbox_id=%lld booking=%lld kind=%s attempt=%d", (long long)job->id,
                (long long)b->booking_id, b->kind, job->attempt);
        break;
    case MAIL_RETRY:
        yk_warn("mail deferred outbox_id=%lld booking=%lld kind=%s attempt=%d retry_in_ms=%lld "
                "err=\"%s\"",
                (long long)job->id, (long long)b->booking_id, b->kind, job->attempt,
                (long long)retry_ms, job->error);
        break;
    case MAIL_DEAD:
        yk_error("mail dead outbox_id=%lld booking=%lld kind=%s attempt=%d err=\"%s\"",
                 (long long)job->id, (long long)b->booking_id, b->kind, job->attempt, job->error);
        break;
    case MAIL_CANCELLED:
    case MAIL_RELEASE:
        yk_debug("mail %s outbox_id=%lld booking=%lld kind=%s", mail_result_name(job->result),
                 (long long)job->id, (long long)b->booking_id, b->kind);
        break;
    }
    if (job->result != MAIL_RELEASE)
        count(job);
    outbox_finish(n.ob, job, retry_ms);
    job_free(job);
}

static void release(mail_job *job, const char *why)
{
    job->result = MAIL_RELEASE;
    job_set_error(job, why);
    finish(job, 0);
}

static void sent_cb(void *ud, smtp_status st, const char *error)
{
    mail_job *job = ud;
    if (n.closed) { /* the outbox is gone: the row comes back when its lease lapses */
        job_free(job);
        return;
    }
    job_set_error(job, error);
    int64_t retry = 0;
    switch (st) {
    case SMTP_OK:
        job->result = MAIL_SENT;
        break;
    case SMTP_PERMANENT:
        job->result = MAIL_DEAD;
        break;
    case SMTP_TRANSIENT:
        if (job->attempt >= cfg.max_attempts) {
            job->result = MAIL_DEAD;
        } else {
            job->result = MAIL_RETRY;
            retry = backoff_ms(job->attempt);
        }
        break;
    case SMTP_ABORTED:
        /* Perhaps delivered, perhaps not: another notifier sends it again, same Message-ID. */
        job->result = MAIL_RELEASE;
        break;
    }
    char labels[32];
    snprintf(labels, sizeof labels, "result=\"%s\"", st == SMTP_OK ? "sent" : "failed");
    yk_family_observe(&m_seconds, labels, (double)(uv_hrtime() - job->started_ns) / 1e9);
    finish(job, retry);
    if (!n.aborting)
        pump();
}

static void start(mail_job *job)
{
    /* A send must end before the lease does, or a second notifier may send it meanwhile.
     * (The loop's cached time may be behind after a long render of many jobs: refresh it.) */
    uv_update_time(n.loop);
    if (uv_now(n.loop) + (uint64_t)cfg.smtp_timeout_ms + 1000 > job->lease_end_ms) {
        release(job, "lease too short to start sending");
        return;
    }
    render_mail m;
    char err[200];
    if (render_build(n.tpl, &n.ctx, &job->b, time(NULL), &m, err, sizeof err) != 0) {
        job->result = MAIL_DEAD;
        job_set_error(job, err);
        finish(job, 0);
        return;
    }
    job->started_ns = uv_hrtime();
    if (smtp_send(n.smtp, &m, sent_cb, job) != 0) {
        job->result = job->attempt >= cfg.max_attempts ? MAIL_DEAD : MAIL_RETRY;
        job_set_error(job, "could not start an SMTP transfer");
        finish(job, job->result == MAIL_RETRY ? backoff_ms(job->attempt) : 0);
    }
    render_mail_free(&m);
}

/* ---- the pump: start queued sends, claim more when the queue runs low, write outcomes */

static void shutdown_now(void);
static void drain_cb(uv_timer_t *t);

/* Stopping: how long outcomes may still wait for PostgreSQL once no send is in flight. */
#define LAST_CHANCE_MS 5000

static void shutdown_cb(uv_timer_t *t)
{
    shutdown_now();
}

static void pump(void)
{
    if (n.closed)
        return;
    while (n.queue && !n.stopping && smtp_in_flight(n.smtp) < cfg.parallel) {
        mail_job *job = n.queue;
        n.queue = job->next;
        if (n.queue == NULL)
            n.queue_tail = NULL;
        job->next = NULL;
        n.queued--;
        start(job);
    }
    /* Claim again while one round of work is still queued, so senders never wait for it. */
    int backlog = n.queued + smtp_in_flight(n.smtp);
    if (!n.stopping && n.want_claim && !n.claiming && backlog <= cfg.parallel &&
        backlog < cfg.batch) {
        int limit = (int)cfg.batch - backlog;
        if (outbox_claim(n.ob, limit) == 0) {
            n.claiming = 1;
            n.claim_limit = limit;
            n.claim_started_ms = uv_now(n.loop);
            n.want_claim = 0;
        }
    }
    outbox_flush(n.ob);
    if (n.stopping && !n.claiming && smtp_in_flight(n.smtp) == 0) {
        /* Closed from the loop, not from inside whichever libpq or libcurl callback got us here. */
        if (outbox_idle(n.ob)) {
            uv_timer_start(&n.drain, shutdown_cb, 0, 0);
        } else if (n.drain_fires == 0) {
            /* Nothing left to send, only outcomes to write (PostgreSQL may be down): the drain
             * time is for sends, so go straight to the last chance. */
            n.drain_fires = 1;
            uv_timer_start(&n.drain, drain_cb, LAST_CHANCE_MS, 0);
        }
    }
}

static void claimed_cb(void *ud, mail_job *jobs, int rows, int ok)
{
    n.claiming = 0;
    if (ok && rows >= n.claim_limit)
        n.want_claim = 1; /* a full batch: more may be due */
    uint64_t lease_end = n.claim_started_ms + (uint64_t)cfg.lease_s * 1000;
    while (jobs) {
        mail_job *job = jobs;
        jobs = job->next;
        job->next = NULL;
        if (job->result == MAIL_CANCELLED || job->result == MAIL_DEAD) {
            /* settled by the claim itself; the row already says so */
            if (job->result == MAIL_DEAD)
                yk_error("mail dead outbox_id=%lld booking=%lld kind=%s attempt=%d err=\"%s\"",
                         (long long)job->id, (long long)job->b.booking_id, job->b.kind,
                         job->attempt, job->error);
            else
                yk_info("mail cancelled outbox_id=%lld booking=%lld kind=%s: booking cancelled",
                        (long long)job->id, (long long)job->b.booking_id, job->b.kind);
            count(job);
            job_free(job);
            continue;
        }
        job->lease_end_ms = lease_end;
        if (n.stopping) {
            release(job, "notifier stopping");
            continue;
        }
        if (n.queue_tail)
            n.queue_tail->next = job;
        else
            n.queue = job;
        n.queue_tail = job;
        n.queued++;
    }
    pump();
}

static void notified_cb(void *ud)
{
    n.want_claim = 1;
    pump();
}

static void progress_cb(void *ud)
{
    pump();
}

static void poll_cb(uv_timer_t *t)
{
    n.want_claim = 1;
    outbox_refresh_pending(n.ob);
    pump();
}

/* ---- metrics and health */

static void http_cb(yk_http_req *req, void *ud)
{
    const char *p = req->path;
    req->route = "other";
    if (req->method != YK_M_GET && req->method != YK_M_HEAD) {
        yk_http_respond_error(req, 405, "method_not_allowed", "Only GET and HEAD.");
    } else if (strcmp(p, "/healthz") == 0) {
        req->route = "healthz";
        yk_http_respond(req, 200, "text/plain; charset=utf-8", NULL, "ok\n", 3);
    } else if (strcmp(p, "/readyz") == 0) {
        req->route = "readyz";
        int ok = outbox_ready(n.ob);
        yk_http_respond(req, ok ? 200 : 503, "text/plain; charset=utf-8", NULL,
                        ok ? "ready\n" : "postgresql unreachable\n", ok ? 6 : 23);
    } else if (strcmp(p, "/metrics") == 0) {
        req->route = "metrics";
        yk_buf b = YK_BUF_INIT(YK_METRICS_MAX);
        yk_metrics_printf(&b,
                          "# HELP yoyaku_build_info Build of this process.\n"
                          "# TYPE yoyaku_build_info gauge\n"
                          "yoyaku_build_info{version=\"%s\",service=\"notifier\"} 1\n"
                          "# HELP yoyaku_up_postgres Whether the query session is connected.\n"
                          "# TYPE yoyaku_up_postgres gauge\nyoyaku_up_postgres %d\n",
                          YK_VERSION, outbox_connected(n.ob));
        yk_family_clear(&m_pending);
        if (outbox_pending(n.ob) >= 0)
            yk_family_set(&m_pending, "", (double)outbox_pending(n.ob));
        yk_family_set(&m_in_flight, "", n.smtp ? smtp_in_flight(n.smtp) : 0);
        yk_family_render(&m_sent, &b);
        yk_family_render(&m_pending, &b);
        yk_family_render(&m_in_flight, &b);
        yk_family_render(&m_seconds, &b);
        if (b.failed)
            yk_http_respond_error(req, 500, "internal", "The metrics could not be rendered.");
        else
            yk_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, b.p, b.len);
        yk_buf_free(&b);
    } else {
        yk_http_respond_error(req, 404, "not_found", "No such route.");
    }
}

/* ---- lifecycle */

/* The URL without "user:password@", for logs. */
static void redact_url(const char *url, char *out, size_t len)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    const char *at = strchr(host, '@');
    const char *slash = strchr(host, '/');
    if (at && (slash == NULL || at < slash))
        snprintf(out, len, "%.*s***%s", (int)(host - url), url, at);
    else
        snprintf(out, len, "%s", url);
}

static void drain_cb(uv_timer_t *t)
{
    if (n.drain_fires++ == 0) {
        if (smtp_in_flight(n.smtp) > 0)
            yk_warn("stopping: %d sends still in flight after %lld ms; abandoning them "
                    "(they are sent again, same Message-ID)",
                    smtp_in_flight(n.smtp), (long long)cfg.drain_ms);
        n.aborting = 1;
        smtp_abort_all(n.smtp);
        n.aborting = 0;
        uv_timer_start(&n.drain, drain_cb, LAST_CHANCE_MS, 0);
        pump();
        return;
    }
    yk_warn("stopping: outcomes could not be written; those rows are sent again once their "
            "lease lapses");
    shutdown_now();
}

static void signal_cb(uv_signal_t *h, int signum)
{
    if (n.stopping)
        return;
    n.stopping = 1;
    yk_notify_stopping();
    yk_info("stopping signal=%d in_flight=%d", signum, smtp_in_flight(n.smtp));
    uv_timer_stop(&n.poll);
    while (n.queue) {
        mail_job *job = n.queue;
        n.queue = job->next;
        release(job, "notifier stopping");
    }
    n.queue_tail = NULL;
    n.queued = 0;
    uv_timer_start(&n.drain, drain_cb, (uint64_t)cfg.drain_ms, 0);
    pump();
}

static void shutdown_now(void)
{
    if (n.closed)
        return;
    n.closed = 1;
    smtp_close(n.smtp);
    n.smtp = NULL;
    outbox_close(n.ob);
    n.ob = NULL;
    if (n.http)
        yk_http_server_close(n.http);
    uv_close((uv_handle_t *)&n.poll, NULL);
    uv_close((uv_handle_t *)&n.drain, NULL);
    uv_close((uv_handle_t *)&n.sigint, NULL);
    uv_close((uv_handle_t *)&n.sigterm, NULL);
}

static int ready(void)
{
    return outbox_ready(n.ob);
}

static const outbox_callbacks outbox_cbs = {
    .claimed = claimed_cb, .notified = notified_cb, .progress = progress_cb};

int main(int argc, char **argv)
{
    int rc = yk_config_main(argc, argv,
                            "usage: yoyaku-notifier [--help] [--version] [--config]\n\n"
                            "Sends the mails of the mail_outbox table (confirmation, reminder, "
                            "cancellation) over SMTP. Any number may run at once.",
                            config, sizeof config / sizeof config[0]);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    yk_log_init("notifier", cfg.log_level);
    if (cfg.lease_s * 1000 < 2 * cfg.smtp_timeout_ms + 1000) {
        fprintf(stderr,
                "%s: YOYAKU_MAIL_LEASE_S must be at least twice YOYAKU_SMTP_TIMEOUT_MS "
                "(a send must end well before another notifier may take the row)\n",
                argv[0]);
        return 2;
    }
    if (yk_token_init() != 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        yk_error("library initialisation failed");
        return 1;
    }
    unsigned char key[YK_TOKEN_KEY_BYTES];
    int krc = yk_token_key_parse(cfg.token_key, key);
    if (krc < 0) {
        fprintf(stderr, "%s: YOYAKU_TOKEN_KEY: expected 64 hex characters\n", argv[0]);
        return 2;
    }
    if (krc == 1)
        yk_warn(
            "YOYAKU_TOKEN_KEY is empty: using the development key (cancel links are guessable)");
    char err[512];
    if (render_ctx_init(&n.ctx, cfg.public_url, cfg.mail_domain, cfg.mail_from, key, err,
                        sizeof err) != 0 ||
        render_templates_load(&n.tpl, cfg.template_dir, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", argv[0], err);
        return 2;
    }
    sodium_memzero(key, sizeof key);

    n.loop = uv_default_loop();
    signal(SIGPIPE, SIG_IGN);
    const outbox_config ocfg = {
        .conninfo = cfg.pg, .lease_s = cfg.lease_s, .max_attempts = cfg.max_attempts};
    const smtp_config scfg = {.url = cfg.smtp_url,
                              .envelope_from = n.ctx.envelope_from,
                              .parallel = (int)cfg.parallel,
                              .timeout_ms = (long)cfg.smtp_timeout_ms,
                              .require_starttls = (int)cfg.smtp_starttls};
    if (outbox_open(&n.ob, n.loop, &ocfg, &outbox_cbs, NULL) != 0 ||
        smtp_open(&n.smtp, n.loop, &scfg) != 0) {
        yk_error("out of memory at start");
        return 1;
    }
    if (*cfg.metrics_listen) {
        int hrc = yk_http_server_start(&n.http, n.loop, cfg.metrics_listen, &http_limits, http_cb,
                                       NULL, NULL);
        if (hrc != 0) {
            yk_error("cannot listen on YOYAKU_METRICS_LISTEN=%s: %s", cfg.metrics_listen,
                     uv_strerror(hrc));
            return 1;
        }
    }
    static const char *const kinds[] = {"confirmation", "reminder", "cancellation",
                                        "waitlist_offer"};
    static const char *const results[] = {"sent", "retry", "dead", "cancelled"};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (size_t r = 0; r < 4; r++) {
            char labels[64];
            snprintf(labels, sizeof labels, "kind=\"%s\",result=\"%s\"", kinds[k], results[r]);
            yk_family_add(&m_sent, labels, 0);
        }

    uv_timer_init(n.loop, &n.poll);
    uv_timer_init(n.loop, &n.drain);
    uv_signal_init(n.loop, &n.sigint);
    uv_signal_init(n.loop, &n.sigterm);
    uv_signal_start(&n.sigint, signal_cb, SIGINT);
    uv_signal_start(&n.sigterm, signal_cb, SIGTERM);
    uv_timer_start(&n.poll, poll_cb, 0, (uint64_t)cfg.poll_ms);
    char shown[512];
    redact_url(cfg.smtp_url, shown, sizeof shown);
    yk_info("starting smtp=%s parallel=%lld batch=%lld lease_s=%lld max_attempts=%lld "
            "templates=%s domain=%s",
            shown, (long long)cfg.parallel, (long long)cfg.batch, (long long)cfg.lease_s,
            (long long)cfg.max_attempts, cfg.template_dir, n.ctx.domain);
    yk_notify_start(n.loop, ready); /* READY=1 once PostgreSQL answers */

    uv_run(n.loop, UV_RUN_DEFAULT);

    int lrc = uv_loop_close(n.loop);
    if (lrc != 0)
        yk_warn("loop closed with handles open: %s", uv_strerror(lrc));
    render_templates_free(n.tpl);
    yk_family *all[] = {&m_sent, &m_pending, &m_in_flight, &m_seconds};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        yk_family_free(all[i]);
    curl_global_cleanup();
    sodium_memzero(&n.ctx, sizeof n.ctx);
    yk_info("stopped");
    return 0;
}
