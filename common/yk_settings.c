/* yk_settings: the declarations of the shared settings and their checks. Owns nothing: the
 * values live in each service's variables, filled by yk_config_load through YK_CF_SHARED. */
#include "yk_settings.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "yk_addr.h"
#include "yk_cluster.h"
#include "yk_token.h"

#define STR(x) #x
#define XSTR(x) STR(x)

const yk_cf_entry yk_setting_log_level = YK_CF_CHECKED(
    "YOYAKU_LOG_LEVEL", NULL, "info", yk_settings_check_log_level, "debug, info, warn or error");

const yk_cf_entry yk_setting_log_format =
    YK_CF_CHECKED("YOYAKU_LOG_FORMAT", NULL, "text", yk_settings_check_log_format,
                  "log lines as text (key=value) or json (one object a line)");

const yk_cf_entry yk_setting_partitions = YK_CF_INTEGER(
    "YOYAKU_PARTITIONS", NULL, "16", YK_SETTINGS_PARTITIONS_MIN, YK_SETTINGS_PARTITIONS_MAX,
    "number of request streams, 1 to 1024; the same for every ingress and worker");

const yk_cf_entry yk_setting_pg =
    YK_CF_STRING("YOYAKU_PG", NULL, "dbname=yoyaku", "PostgreSQL libpq connection string");

const yk_cf_entry yk_setting_public_url =
    YK_CF_CHECKED("YOYAKU_PUBLIC_URL", NULL, "http://127.0.0.1:8080", yk_settings_check_public_url,
                  "the booking pages' address as bookers reach it (http:// or https://): links in "
                  "mails, the staff console's Origin, Secure cookies when https");

const yk_cf_entry yk_setting_redis = YK_CF_CHECKED(
    "YOYAKU_REDIS", NULL, "127.0.0.1:6379", yk_settings_check_redis,
    "Redis as host:port, [IPv6]:port, host (port " XSTR(
        YK_SETTINGS_REDIS_PORT) ") or a unix socket path starting with /; or a "
                                "Redis Cluster as redis-cluster://host:port[,host:port…]");

const yk_cf_entry yk_setting_result_ttl = YK_CF_INTEGER(
    "YOYAKU_RESULT_TTL", NULL, "86400", YK_SETTINGS_RESULT_TTL_MIN, YK_SETTINGS_RESULT_TTL_MAX,
    "seconds (60 to 2592000) an Idempotency-Key and the answer of a request answered 202 or sent "
    "with one are kept");

const yk_cf_entry yk_setting_token_key = {
    "YOYAKU_TOKEN_KEY",
    YK_CF_STR,
    NULL,
    "",
    0,
    0,
    "64 hex characters, the same for every ingress and notifier: booking tokens (and the cancel "
    "links in mails) are derived from it; empty = a public development key",
    1,
    yk_settings_check_token_key,
    NULL};

const yk_cf_entry yk_setting_trusted_proxies = YK_CF_CHECKED(
    "YOYAKU_TRUSTED_PROXIES", NULL, "", yk_settings_check_trusted_proxies,
    "reverse proxies (addresses or networks, e.g. 127.0.0.1,10.0.0.0/8) whose X-Forwarded-For "
    "names the client the rate limits count; empty: the peer is the client");

const yk_cf_entry *const yk_settings_all[] = {
    &yk_setting_log_format, &yk_setting_log_level,  &yk_setting_partitions,
    &yk_setting_pg,         &yk_setting_public_url, &yk_setting_redis,
    &yk_setting_result_ttl, &yk_setting_token_key,  &yk_setting_trusted_proxies,
};
const size_t yk_settings_count = sizeof yk_settings_all / sizeof yk_settings_all[0];

int yk_settings_check_public_url(const char *v, char *err, size_t errlen)
{
    size_t n = strlen(v);
    const char *host = strncmp(v, "https://", 8) == 0  ? v + 8
                       : strncmp(v, "http://", 7) == 0 ? v + 7
                                                       : NULL;
    if (host == NULL || *host == '\0' || *host == '/' || n > 500 ||
        strpbrk(v, " \t\r\n\"<>\\") != NULL) {
        snprintf(err, errlen, "an absolute http:// or https:// URL (at most 500 characters)");
        return -1;
    }
    return 0;
}

void yk_settings_origin(const char *public_url, char *out, size_t outlen)
{
    const char *host = strstr(public_url, "://");
    size_t n = host ? (size_t)(host + 3 - public_url) + strcspn(host + 3, "/?#") : 0;
    snprintf(out, outlen, "%.*s", (int)n, public_url);
}

int yk_settings_check_log_level(const char *v, char *err, size_t errlen)
{
    /* yk_log_init would take anything else as info: a typo must not silently hide debug lines. */
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (strcmp(v, levels[i]) == 0)
            return 0;
    snprintf(err, errlen, "expected debug, info, warn or error");
    return -1;
}

int yk_settings_check_log_format(const char *v, char *err, size_t errlen)
{
    if (strcmp(v, "text") == 0 || strcmp(v, "json") == 0)
        return 0;
    snprintf(err, errlen, "expected text or json");
    return -1;
}

int yk_settings_check_redis(const char *v, char *err, size_t errlen)
{
    yk_addr seeds[YK_CLUSTER_SEEDS_MAX];
    if (yk_cluster_is_url(v)) /* redis-cluster://host:port[,…] (contract §2 Scale-out) */
        return yk_cluster_seeds(v, YK_SETTINGS_REDIS_PORT, seeds, YK_CLUSTER_SEEDS_MAX, err,
                                errlen) > 0
                   ? 0
                   : -1;
    yk_addr a;
    return yk_addr_parse(v, YK_SETTINGS_REDIS_PORT, &a, err, errlen);
}

int yk_settings_check_token_key(const char *v, char *err, size_t errlen)
{
    /* yk_token_key_parse is the rule; the key it derives here is thrown away. */
    unsigned char key[YK_TOKEN_KEY_BYTES];
    int rc = yk_token_key_parse(v, key);
    sodium_memzero(key, sizeof key);
    if (rc >= 0)
        return 0;
    snprintf(err, errlen, "expected 64 hex characters (or empty for the development key)");
    return -1;
}

int yk_settings_check_trusted_proxies(const char *v, char *err, size_t errlen)
{
    yk_cidr nets[YK_CIDR_MAX];
    size_t n;
    return yk_cidr_parse_list(v, nets, YK_CIDR_MAX, &n, err, errlen);
}

void yk_settings_instance_id(char *out, size_t outlen)
{
    char host[256] = "host", pid[16];
    if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
        snprintf(host, sizeof host, "host");
    host[sizeof host - 1] = '\0';
    int plen = snprintf(pid, sizeof pid, "-%ld", (long)getpid());
    size_t hlen = strlen(host), room = outlen - 1 - (size_t)plen;
    if (hlen > room)
        hlen = room;
    for (size_t i = 0; i < hlen; i++) {
        char c = host[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        out[i] = ok ? c : '_';
    }
    memcpy(out + hlen, pid, (size_t)plen + 1);
}
