/* yk_log: one line per event on stderr, "ts level=L svc=S msg key=value…", or with
 * YOYAKU_LOG_FORMAT=json one JSON object {"ts","level","svc","msg", and each key=value of the
 * message as a string field}. The level threshold comes from YOYAKU_LOG_LEVEL via yk_log_init.
 * Lines about a request carry request=<its id>. No booker's e-mail or field value is logged at
 * info level or above. */
#ifndef YK_LOG_H
#define YK_LOG_H

typedef enum { YK_LOG_DEBUG, YK_LOG_INFO, YK_LOG_WARN, YK_LOG_ERROR } yk_log_level;

/* service is borrowed and must outlive the process (a literal). level: debug|info|warn|error.
 * Reads YOYAKU_LOG_FORMAT (json, else text). */
void yk_log_init(const char *service, const char *level);
void yk_log(yk_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define yk_debug(...) yk_log(YK_LOG_DEBUG, __VA_ARGS__)
#define yk_info(...) yk_log(YK_LOG_INFO, __VA_ARGS__)
#define yk_warn(...) yk_log(YK_LOG_WARN, __VA_ARGS__)
#define yk_error(...) yk_log(YK_LOG_ERROR, __VA_ARGS__)

#endif
