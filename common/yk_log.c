/* yk_log: stderr logger. One fprintf per line so lines from several threads do not interleave. */
#include "yk_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *log_service = "yoyaku";
static yk_log_level log_min = YK_LOG_INFO;
static const char *const log_names[] = {"debug", "info", "warn", "error"};

void yk_log_init(const char *service, const char *level)
{
    log_service = service;
    for (int i = 0; i < 4; i++)
        if (level && strcmp(level, log_names[i]) == 0)
            log_min = (yk_log_level)i;
}

void yk_log(yk_log_level level, const char *fmt, ...)
{
    if (level < log_min)
        return;
    char msg[1024], ts[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03ldZ level=%s svc=%s %s\n", ts, now.tv_nsec / 1000000, log_names[level],
            log_service, msg);
}
