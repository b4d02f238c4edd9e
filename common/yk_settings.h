/* yk_settings: the YOYAKU_* settings several services share, declared once — name, default,
 * bounds, doc and startup check — and the <host>-<pid> name a process gives itself by default. */
#ifndef YK_SETTINGS_H
#define YK_SETTINGS_H

#include <stddef.h>

#include "yk_config.h"

#define YK_SETTINGS_REDIS_PORT 6379 /* YOYAKU_REDIS without a port */
/* Where the services' bounds differed, the values every reader accepted (a deployment needs the
 * same value in every process): PARTITIONS 1…1024 (the worker took up to 4096), RESULT_TTL
 * 60 s…30 days (the worker took 1 s…365 days). */
#define YK_SETTINGS_PARTITIONS_MIN 1
#define YK_SETTINGS_PARTITIONS_MAX 1024
#define YK_SETTINGS_RESULT_TTL_MIN 60
#define YK_SETTINGS_RESULT_TTL_MAX (30 * 86400)

/* A service's table names one as YK_CF_SHARED(yk_setting_partitions, &its_int64), in its
 * alphabetical place. Strings target a const char * borrowed from environ or the default; numbers
 * an int64_t. */
extern const yk_cf_entry yk_setting_log_format; /* YOYAKU_LOG_FORMAT, string, checked */
extern const yk_cf_entry yk_setting_log_level;  /* YOYAKU_LOG_LEVEL, string, checked */
extern const yk_cf_entry yk_setting_partitions; /* YOYAKU_PARTITIONS, integer */
extern const yk_cf_entry yk_setting_pg;         /* YOYAKU_PG, string (libpq checks it) */
extern const yk_cf_entry yk_setting_public_url; /* YOYAKU_PUBLIC_URL, string, checked */
extern const yk_cf_entry yk_setting_redis;      /* YOYAKU_REDIS, string, checked by yk_addr */
extern const yk_cf_entry yk_setting_result_ttl; /* YOYAKU_RESULT_TTL, integer */
extern const yk_cf_entry yk_setting_token_key;  /* YOYAKU_TOKEN_KEY, secret string, checked */
/* YOYAKU_TRUSTED_PROXIES, string, checked by yk_cidr_parse_list */
extern const yk_cf_entry yk_setting_trusted_proxies;

/* Every declaration above, for the tests and the README. */
extern const yk_cf_entry *const yk_settings_all[];
extern const size_t yk_settings_count;

/* The checks of the declarations: 0, or -1 after writing into err what is expected. */
__attribute__((warn_unused_result)) int yk_settings_check_log_level(const char *v, char *err,
                                                                    size_t errlen);
__attribute__((warn_unused_result)) int yk_settings_check_log_format(const char *v, char *err,
                                                                     size_t errlen);
__attribute__((warn_unused_result)) int yk_settings_check_public_url(const char *v, char *err,
                                                                     size_t errlen);
/* The origin (scheme://host[:port]) of a checked public URL, for comparing with Origin headers. */
void yk_settings_origin(const char *public_url, char *out, size_t outlen);
__attribute__((warn_unused_result)) int yk_settings_check_redis(const char *v, char *err,
                                                                size_t errlen);
__attribute__((warn_unused_result)) int yk_settings_check_token_key(const char *v, char *err,
                                                                    size_t errlen);
__attribute__((warn_unused_result)) int yk_settings_check_trusted_proxies(const char *v, char *err,
                                                                          size_t errlen);

/* Writes "<host>-<pid>" into out (outlen >= 16): the default id of an ingress or a worker. The
 * host name is cut to fit (the pid is what makes it unique on the host) and any byte outside
 * A-Z a-z 0-9 . _ - becomes '_', since the id is a space-separated field in stream entries. */
void yk_settings_instance_id(char *out, size_t outlen);

#endif
