/* yk_config: the YOYAKU_* environment table shared by every binary.
 * Owns nothing: strings point into environ or the table's literals. */
#include "yk_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int yk_config_parse_int(const char *s, int64_t *out)
{
    char *end;
    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s)
        return -1;
    while (*end == ' ')
        end++;
    if (*end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* A value in an error message: its first 64 bytes, so that the reason after it always fits. */
#define SHOWN(v) (strlen(v) > 64 ? 64 : (int)strlen(v)), (v), (strlen(v) > 64 ? "..." : "")

/* The message stays one line whatever the value holds: control bytes become '?'. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

yk_cf_entry yk_config_resolve(const yk_cf_entry *e)
{
    if (e->shared == NULL)
        return *e;
    yk_cf_entry r = *e->shared;
    r.target = e->target;
    return r;
}

int yk_config_load(const yk_cf_entry *table, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const yk_cf_entry entry = yk_config_resolve(&table[i]), *e = &entry;
        const char *v = getenv(e->env);
        if (v == NULL || *v == '\0')
            v = e->def;
        if (e->type == YK_CF_STR) {
            char why[160];
            if (e->check && e->check(v, why, sizeof why) != 0) {
                if (e->secret) /* a secret stays out of logs, even a wrong one */
                    snprintf(err, errlen, "%s: %s", e->env, why);
                else
                    snprintf(err, errlen, "%s=%.*s%s: %s", e->env, SHOWN(v), why);
                one_line(err);
                return -1;
            }
            *(const char **)e->target = v;
            continue;
        }
        int64_t x;
        if (yk_config_parse_int(v, &x) != 0 || x < e->min || x > e->max) {
            snprintf(err, errlen, "%s=%.*s%s: expected an integer in [%lld, %lld]", e->env,
                     SHOWN(v), (long long)e->min, (long long)e->max);
            one_line(err);
            return -1;
        }
        *(int64_t *)e->target = x;
    }
    return 0;
}

void yk_config_print_help(const yk_cf_entry *table, size_t n, const char *usage)
{
    printf("%s\n\nOptions:\n  --help      this text\n  --version   print the version\n"
           "  --config    print the effective configuration\n\nEnvironment:\n",
           usage);
    for (size_t i = 0; i < n; i++) {
        const yk_cf_entry e = yk_config_resolve(&table[i]);
        printf("  %-28s %s (default: %s)\n", e.env, e.doc, e.def[0] ? e.def : "empty");
    }
}

void yk_config_dump(const yk_cf_entry *table, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const yk_cf_entry e = yk_config_resolve(&table[i]);
        const char *v = e.type == YK_CF_STR ? *(const char **)e.target : NULL;
        if (v && e.secret)
            printf("%s=%s\n", e.env, v[0] ? "(set)" : "");
        else if (v)
            printf("%s=%s\n", e.env, v);
        else
            printf("%s=%lld\n", e.env, (long long)*(int64_t *)e.target);
    }
}

int yk_config_main(int argc, char **argv, const char *usage, const yk_cf_entry *table, size_t n)
{
    int dump = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            yk_config_print_help(table, n, usage);
            return 1;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", argv[0], YK_VERSION);
            return 1;
        }
        if (strcmp(argv[i], "--config") == 0) {
            dump = 1;
            continue;
        }
        fprintf(stderr, "%s: unknown argument %s (try --help)\n", argv[0], argv[i]);
        return -1;
    }
    char err[256];
    if (yk_config_load(table, n, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", argv[0], err);
        return -1;
    }
    if (dump) {
        yk_config_dump(table, n);
        return 1;
    }
    return 0;
}
