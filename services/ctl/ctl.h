/* ctl: what yoyakuctl's command files share — the settings and the PostgreSQL session. */
#ifndef CTL_H
#define CTL_H

#include <stdint.h>

#include "yk_pg.h"
#include "yk_rconn.h"

extern const char *ctl_pg_conninfo, *ctl_redis_addr;
extern int64_t ctl_partitions;

/* A blocking session to YOYAKU_PG, or NULL after saying why. */
yk_pg_sync *ctl_connect(void);

/* ops.c: the operator's commands. Each returns the exit status (0, 1 failure, 2 usage). */
int ctl_status(void);
int ctl_token_list(void);
int ctl_token_revoke(const char *name);
int ctl_event_export(const char *slug);
int ctl_event_import(const char *file);
int ctl_purge(const char *days);

/* deadletter.c: dead-letter list|replay (args: the words after "dead-letter"), and the Redis
 * connection of YOYAKU_REDIS (NULL after saying why; the caller closes it). */
int ctl_dead_letter(char **args, int n);
yk_rconn *ctl_redis(void);

#endif
