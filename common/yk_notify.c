/* yk_notify: sd_notify(3) for the services (READY, STOPPING, WATCHDOG), with the libuv timers that
 * pace the watchdog and wait for readiness. See yk_notify.h. */
#include "yk_notify.h"

#include <stdint.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "yk_log.h"

static uv_timer_t watchdog_timer, ready_timer;
static int (*ready_fn)(void);
static int started, ready_sent, stopping_sent;
static uint64_t watchdog_usec, last_ping_usec;

static uint64_t mono_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* sd_watchdog_enabled: > 0 when WATCHDOG_USEC is set for this pid; read once. */
static uint64_t watchdog_interval(void)
{
    static int looked;
    if (!looked) {
        looked = 1;
        uint64_t usec = 0;
        if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
            watchdog_usec = usec;
    }
    return watchdog_usec;
}

static void ping(void)
{
    last_ping_usec = mono_usec();
    sd_notify(0, "WATCHDOG=1");
}

void yk_notify_ready(void)
{
    if (ready_sent)
        return;
    ready_sent = 1;
    if (sd_notify(0, "READY=1\nSTATUS=serving") > 0)
        yk_info("told systemd: ready");
}

void yk_notify_watchdog_poll(void)
{
    uint64_t usec = watchdog_interval();
    if (usec > 0 && !stopping_sent && mono_usec() - last_ping_usec >= usec / 2)
        ping();
}

static void watchdog_cb(uv_timer_t *t)
{
    (void)t;
    ping();
}

static void ready_cb(uv_timer_t *t)
{
    if (ready_fn()) {
        uv_timer_stop(t);
        yk_notify_ready();
    }
}

void yk_notify_start(uv_loop_t *loop, int (*ready)(void))
{
    if (started)
        return;
    started = 1;
    uint64_t usec = watchdog_interval();
    uv_timer_init(loop, &watchdog_timer);
    uv_timer_init(loop, &ready_timer);
    uv_unref((uv_handle_t *)&watchdog_timer);
    uv_unref((uv_handle_t *)&ready_timer);
    if (usec > 0) {
        uint64_t half_ms = usec / 2000u > 0 ? usec / 2000u : 1;
        ping();
        uv_timer_start(&watchdog_timer, watchdog_cb, half_ms, half_ms);
    }
    ready_fn = ready;
    if (ready == NULL)
        yk_notify_ready();
    else
        uv_timer_start(&ready_timer, ready_cb, 0, 100);
}

void yk_notify_stopping(void)
{
    if (stopping_sent)
        return;
    stopping_sent = 1;
    sd_notify(0, "STOPPING=1\nSTATUS=stopping");
    if (started) {
        uv_close((uv_handle_t *)&watchdog_timer, NULL);
        uv_close((uv_handle_t *)&ready_timer, NULL);
    }
}
