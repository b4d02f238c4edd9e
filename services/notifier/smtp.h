/* smtp: sends rendered mails over SMTP with one libcurl multi handle driven by a libuv loop.
 * Connections are kept and reused (at most `parallel`); transfers run concurrently. */
#ifndef SMTP_H
#define SMTP_H

#include <uv.h>

#include "render.h"

typedef struct smtp smtp;

typedef enum {
    SMTP_OK,        /* the server accepted the message (250 after DATA) */
    SMTP_TRANSIENT, /* 4xx, connection refused/dropped, timeout: try again later */
    SMTP_PERMANENT, /* 5xx: this message will never be accepted */
    SMTP_ABORTED    /* smtp_abort_all: the outcome is unknown */
} smtp_status;

/* Called exactly once per accepted smtp_send, later, from the loop. error is "" for SMTP_OK and
 * valid only during the call. */
typedef void (*smtp_done_cb)(void *ud, smtp_status st, const char *error);

typedef struct {
    const char *url;           /* smtp://host:port or smtps://…; credentials may be in it */
    const char *envelope_from; /* bare address for MAIL FROM */
    int parallel;              /* transfers and cached connections at most */
    long timeout_ms;           /* whole transfer, connect included */
    int require_starttls;      /* 1: refuse to send unless STARTTLS succeeds */
} smtp_config;

/* The strings in cfg are copied. The caller owns *out and releases it with smtp_close. */
__attribute__((warn_unused_result)) int smtp_open(smtp **out, uv_loop_t *loop,
                                                  const smtp_config *cfg);

/* Starts sending m; everything needed is copied, so m may be freed on return. Returns 0 (cb will
 * be called once), or -1 (out of memory or refused by libcurl; cb will not be called). */
__attribute__((warn_unused_result)) int smtp_send(smtp *s, const render_mail *m, smtp_done_cb cb,
                                                  void *ud);

int smtp_in_flight(const smtp *s);

/* Ends every transfer in flight now; each callback gets SMTP_ABORTED before this returns. */
void smtp_abort_all(smtp *s);

/* Aborts what is left, closes the cached connections and frees s once its handles have closed
 * (the loop must run on). */
void smtp_close(smtp *s);

#endif
