/* yk_config: one declarative table per service parses, validates, documents (--help) and dumps
 * (--config) every YOYAKU_* environment variable. Values live in the caller's variables. */
#ifndef YK_CONFIG_H
#define YK_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef enum { YK_CF_STR, YK_CF_INT } yk_cf_type;

typedef struct yk_cf_entry yk_cf_entry;
struct yk_cf_entry {
    const char *env; /* "YOYAKU_WAIT_MS" */
    yk_cf_type type;
    void
        *target; /* YK_CF_STR: const char ** (borrowed from environ or def); YK_CF_INT: int64_t * */
    const char *def;  /* default, as it would be written in the environment */
    int64_t min, max; /* YK_CF_INT only: inclusive bounds */
    const char *doc;
    int secret; /* --config shows "(set)" instead of the value, and errors never show it */
    /* YK_CF_STR only, NULL = any value: returns -1 after writing into err (errlen bytes) what is
     * expected, without the value. Runs at load, so a bad value stops the process at startup. */
    int (*check)(const char *value, char *err, size_t errlen);
    /* A setting several services share, declared once in yk_settings.c: every field but target
     * comes from there (see YK_CF_SHARED). */
    const yk_cf_entry *shared;
};

#define YK_CF_STRING(env, target, def, doc)                                                        \
    {                                                                                              \
        env, YK_CF_STR, target, def, 0, 0, doc, 0, NULL, NULL                                      \
    }
#define YK_CF_SECRET(env, target, def, doc)                                                        \
    {                                                                                              \
        env, YK_CF_STR, target, def, 0, 0, doc, 1, NULL, NULL                                      \
    }
#define YK_CF_INTEGER(env, target, def, min, max, doc)                                             \
    {                                                                                              \
        env, YK_CF_INT, target, def, min, max, doc, 0, NULL, NULL                                  \
    }
#define YK_CF_CHECKED(env, target, def, check, doc)                                                \
    {                                                                                              \
        env, YK_CF_STR, target, def, 0, 0, doc, 0, check, NULL                                     \
    }
/* decl: one of yk_settings.h's yk_setting_*; target as for its type. */
#define YK_CF_SHARED(decl, target)                                                                 \
    {                                                                                              \
        NULL, YK_CF_STR, target, NULL, 0, 0, NULL, 0, NULL, &(decl)                                \
    }

/* Fills every target from the environment or its default. Returns 0, or -1 after writing one line
 * naming the offending variable into err (size errlen). */
__attribute__((warn_unused_result)) int yk_config_load(const yk_cf_entry *table, size_t n,
                                                       char *err, size_t errlen);

/* Parses a decimal integer with optional surrounding spaces; 0 on success. */
__attribute__((warn_unused_result)) int yk_config_parse_int(const char *s, int64_t *out);

/* The entry as loaded: e itself, or its shared declaration with e's target. */
yk_cf_entry yk_config_resolve(const yk_cf_entry *e);

/* Prints a markdown-ish table of the variables (used by --help and the README). */
void yk_config_print_help(const yk_cf_entry *table, size_t n, const char *usage);

/* Prints NAME=value for every entry. */
void yk_config_dump(const yk_cf_entry *table, size_t n);

/* Handles --help, --version and --config, then loads the table. Returns 0 to go on running,
 * 1 when the process should exit 0 (help/version printed), -1 when it should exit 2. */
__attribute__((warn_unused_result)) int yk_config_main(int argc, char **argv, const char *usage,
                                                       const yk_cf_entry *table, size_t n);

#endif
