/* smtp: owns the CURLM handle, one uv_poll_t per socket libcurl asks us to watch, the timer
 * libcurl asks for, and every transfer in flight (easy handle, MIME tree, header lists). */
#include "smtp.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yk_log.h"

typedef struct xfer xfer;
struct xfer {
    xfer *prev, *next;
    smtp *s;
    CURL *easy;
    curl_mime *mime;
    struct curl_slist *headers, *rcpt;
    smtp_done_cb cb;
    void *ud;
    char errbuf[CURL_ERROR_SIZE];
};

/* Memory is released only in its close callback. */
typedef struct sock_watch sock_watch;
struct sock_watch {
    uv_poll_t poll;
    curl_socket_t fd;
    smtp *s;
    sock_watch *prev, *next;
};

struct smtp {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer; /* freed with s, in its close callback */
    char *url;
    char *mail_from; /* "<addr>" */
    long timeout_ms;
    int starttls;
    xfer *xfers; /* in flight */
    int in_flight;
    sock_watch *watches; /* open uv_poll handles */
    int closing;
    /* Finished easy handles, reset and kept for the next transfers: an easy handle is a large
     * allocation, and reusing it keeps its caches (connections live in the multi handle). */
    CURL **idle;
    int nidle, maxidle;
};

static void check_done(smtp *s);

static void poll_cb(uv_poll_t *h, int status, int events)
{
    sock_watch *w = h->data;
    smtp *s = w->s; /* w may be closed by the socket callback inside socket_action */
    int flags = 0, running;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(s->multi, w->fd, flags, &running);
    check_done(s);
}

static void watch_closed_cb(uv_handle_t *h)
{
    free(h->data);
}

static void watch_close(smtp *s, sock_watch *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        s->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    uv_poll_stop(&w->poll);
    uv_close((uv_handle_t *)&w->poll, watch_closed_cb);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    smtp *s = userp;
    sock_watch *w = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            if (!s->closing)
                curl_multi_assign(s->multi, fd, NULL);
            watch_close(s, w);
        }
        return 0;
    }
    if (w == NULL) {
        w = calloc(1, sizeof *w);
        if (w == NULL || uv_poll_init_socket(s->loop, &w->poll, fd) != 0) {
            free(w);
            yk_error("smtp: cannot watch socket %d", (int)fd);
            return -1;
        }
        w->fd = fd;
        w->s = s;
        w->poll.data = w;
        w->next = s->watches;
        if (s->watches)
            s->watches->prev = w;
        s->watches = w;
        curl_multi_assign(s->multi, fd, w);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&w->poll, events, poll_cb);
    return 0;
}

static void timeout_cb(uv_timer_t *t)
{
    smtp *s = t->data;
    int running;
    curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(s);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    smtp *s = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&s->timer);
    else /* 0 means "now": from the loop, never from inside libcurl */
        uv_timer_start(&s->timer, timeout_cb, (uint64_t)timeout_ms, 0);
    return 0;
}

/* The easy handle goes back to the pool (or away); nothing of x may be in the multi any more. */
static void xfer_free(xfer *x)
{
    smtp *s = x->s;
    if (x->easy) {
        curl_easy_reset(x->easy); /* drops its references to the MIME tree and the lists */
        if (s->nidle < s->maxidle && !s->closing)
            s->idle[s->nidle++] = x->easy;
        else
            curl_easy_cleanup(x->easy);
    }
    curl_mime_free(x->mime);
    curl_slist_free_all(x->headers);
    curl_slist_free_all(x->rcpt);
    free(x);
}

/* Removes x from the multi and the list, frees it, then reports (the callback may send again). */
static void xfer_finish(xfer *x, smtp_status st, const char *error)
{
    smtp *s = x->s;
    curl_multi_remove_handle(s->multi, x->easy);
    if (x->prev)
        x->prev->next = x->next;
    else
        s->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    s->in_flight--;
    smtp_done_cb cb = x->cb;
    void *ud = x->ud;
    xfer_free(x);
    cb(ud, st, error);
}

/* A 5xx reply ends the message for good; anything else (4xx, no reply, I/O) is worth a retry. */
static smtp_status classify(CURLcode rc, long code)
{
    if (rc == CURLE_OK)
        return SMTP_OK;
    if (code >= 500 && code <= 599 &&
        (rc == CURLE_SEND_ERROR || rc == CURLE_WEIRD_SERVER_REPLY || rc == CURLE_RECV_ERROR ||
         rc == CURLE_LOGIN_DENIED))
        return SMTP_PERMANENT;
    return SMTP_TRANSIENT;
}

static void check_done(smtp *s)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        xfer *x = NULL;
        long code = 0;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
        char error[CURL_ERROR_SIZE + 64] = "";
        if (rc != CURLE_OK)
            snprintf(error, sizeof error, "smtp %ld: %s", code,
                     x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
        xfer_finish(x, classify(rc, code), error);
    }
}

int smtp_open(smtp **out, uv_loop_t *loop, const smtp_config *cfg)
{
    smtp *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    s->loop = loop;
    s->timeout_ms = cfg->timeout_ms;
    s->starttls = cfg->require_starttls;
    s->url = strdup(cfg->url);
    size_t flen = strlen(cfg->envelope_from) + 3;
    s->mail_from = malloc(flen);
    s->multi = curl_multi_init();
    s->maxidle = cfg->parallel;
    s->idle = calloc((size_t)cfg->parallel, sizeof *s->idle);
    if (s->url == NULL || s->mail_from == NULL || s->multi == NULL || s->idle == NULL) {
        curl_multi_cleanup(s->multi);
        free(s->idle);
        free(s->url);
        free(s->mail_from);
        free(s);
        return -1;
    }
    snprintf(s->mail_from, flen, "<%s>", cfg->envelope_from);
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
    curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, (long)cfg->parallel);
    curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)cfg->parallel);
    curl_multi_setopt(s->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)cfg->parallel);
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    *out = s;
    return 0;
}

int smtp_send(smtp *s, const render_mail *m, smtp_done_cb cb, void *ud)
{
    xfer *x = calloc(1, sizeof *x);
    if (x == NULL)
        return -1;
    x->s = s;
    x->cb = cb;
    x->ud = ud;
    x->easy = s->nidle > 0 ? s->idle[--s->nidle] : curl_easy_init();
    int bad = x->easy == NULL;
    size_t rlen = strlen(m->to) + 3;
    char *rcpt = bad ? NULL : malloc(rlen);
    if (rcpt) {
        snprintf(rcpt, rlen, "<%s>", m->to);
        struct curl_slist *l = curl_slist_append(NULL, rcpt);
        bad |= (x->rcpt = l) == NULL;
        free(rcpt);
    } else {
        bad = 1;
    }
    for (int i = 0; !bad && i < m->nheaders; i++) {
        struct curl_slist *l = curl_slist_append(x->headers, m->headers[i]);
        bad |= l == NULL;
        if (l)
            x->headers = l;
    }
    if (!bad) {
        x->mime = curl_mime_init(x->easy);
        curl_mimepart *p = x->mime ? curl_mime_addpart(x->mime) : NULL;
        /* base64 keeps every line short and 7-bit whatever the template's language */
        bad = p == NULL || curl_mime_data(p, m->text, CURL_ZERO_TERMINATED) != CURLE_OK ||
              curl_mime_type(p, "text/plain; charset=UTF-8") != CURLE_OK ||
              curl_mime_encoder(p, "base64") != CURLE_OK;
        if (!bad && m->ics) {
            p = curl_mime_addpart(x->mime);
            bad = p == NULL || curl_mime_data(p, m->ics, CURL_ZERO_TERMINATED) != CURLE_OK ||
                  curl_mime_type(p, "text/calendar; charset=UTF-8; method=PUBLISH") != CURLE_OK ||
                  curl_mime_filename(p, "booking.ics") != CURLE_OK ||
                  curl_mime_encoder(p, "base64") != CURLE_OK;
        }
        if (!bad && m->png) { /* shown in the mail, not offered as a file to save */
            p = curl_mime_addpart(x->mime);
            struct curl_slist *h =
                curl_slist_append(NULL, "Content-Disposition: inline; filename=\"checkin.png\"");
            bad = p == NULL || h == NULL || curl_mime_headers(p, h, 1) != CURLE_OK ||
                  curl_mime_data(p, m->png, m->png_len) != CURLE_OK ||
                  curl_mime_type(p, "image/png") != CURLE_OK ||
                  curl_mime_encoder(p, "base64") != CURLE_OK;
            if (p == NULL) /* else the part owns h */
                curl_slist_free_all(h);
        }
    }
    if (!bad) {
        CURL *e = x->easy;
        curl_easy_setopt(e, CURLOPT_URL, s->url);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
        curl_easy_setopt(e, CURLOPT_MAIL_FROM, s->mail_from);
        curl_easy_setopt(e, CURLOPT_MAIL_RCPT, x->rcpt);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
        curl_easy_setopt(e, CURLOPT_MIMEPOST, x->mime);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, s->timeout_ms);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                         s->timeout_ms < 10000 ? s->timeout_ms : 10000L);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
        curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
        if (s->starttls)
            curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
        bad = curl_multi_add_handle(s->multi, e) != CURLM_OK;
    }
    if (bad) {
        xfer_free(x);
        return -1;
    }
    x->next = s->xfers;
    if (s->xfers)
        s->xfers->prev = x;
    s->xfers = x;
    s->in_flight++;
    return 0;
}

int smtp_in_flight(const smtp *s)
{
    return s->in_flight;
}

void smtp_abort_all(smtp *s)
{
    while (s->xfers)
        xfer_finish(s->xfers, SMTP_ABORTED, "aborted at shutdown");
}

static void smtp_closed_cb(uv_handle_t *h)
{
    smtp *s = h->data;
    free(s->idle);
    free(s->url);
    free(s->mail_from);
    free(s);
}

void smtp_close(smtp *s)
{
    smtp_abort_all(s);
    s->closing = 1;
    curl_multi_cleanup(s->multi); /* closes cached connections; may call socket_cb */
    s->multi = NULL;
    while (s->watches) /* whatever libcurl did not report removed */
        watch_close(s, s->watches);
    while (s->nidle > 0)
        curl_easy_cleanup(s->idle[--s->nidle]);
    uv_close((uv_handle_t *)&s->timer, smtp_closed_cb);
}
