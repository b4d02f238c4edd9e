/* yk_notify: the services' side of systemd's Type=notify (sd_notify): READY=1 once serving,
 * STOPPING=1 at shutdown, WATCHDOG=1 at half of WATCHDOG_USEC. Without NOTIFY_SOCKET each call is a
 * no-op, so the same binaries run under deploy/local/run, containers and the tests unchanged. */
#ifndef YK_NOTIFY_H
#define YK_NOTIFY_H

#include <uv.h>

/* For a libuv service: starts, on loop, a watchdog timer at half of WATCHDOG_USEC (when systemd
 * set one for this pid) and, when ready is not NULL, a 100 ms check that sends READY=1 the first
 * time ready() returns non-zero (NULL: READY=1 at once). The timers are unreferenced: they never
 * keep uv_run going; yk_notify_stopping closes them. Call once, after the listener is up. */
void yk_notify_start(uv_loop_t *loop, int (*ready)(void));

/* READY=1, once (later calls do nothing). For a service without a libuv loop. */
void yk_notify_ready(void);

/* WATCHDOG=1 when half of WATCHDOG_USEC has passed since the last one. For a service without a
 * libuv loop: call it from the main loop at least every quarter of WatchdogSec. */
void yk_notify_watchdog_poll(void);

/* STOPPING=1, once, and closes the timers of yk_notify_start (the loop can then end). Call when
 * the shutdown begins (SIGTERM/SIGINT), from the loop's thread. */
void yk_notify_stopping(void);

#endif
