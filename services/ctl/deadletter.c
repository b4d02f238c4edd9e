/* deadletter: yoyakuctl dead-letter list|replay — the entries workers moved to yk:dead:{p}
 * (proto/streams.md) shown, and put back on their partition's request stream. A blocking Redis
 * connection (yk_rconn), opened and closed by the command. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "yk_addr.h"
#include "yk_rconn.h"
#include "yk_reply.h"

yk_rconn *ctl_redis(void)
{
    yk_addr a;
    char err[128];
    yk_rconn *r = yk_addr_parse(ctl_redis_addr, 6379, &a, err, sizeof err) == 0
                      ? yk_rconn_open(a.host, a.port, 2000, 5000)
                      : NULL;
    if (r == NULL)
        fprintf(stderr, "yoyakuctl: Redis (YOYAKU_REDIS=%s) unreachable\n", ctl_redis_addr);
    return r;
}

/* A stream id "<ms>-<seq>". */
static bool ctl_stream_id(const char *s)
{
    size_t a = strspn(s, "0123456789");
    return a > 0 && a <= 20 && s[a] == '-' && strspn(s + a + 1, "0123456789") > 0 &&
           strspn(s + a + 1, "0123456789") <= 20 && s[a + 1 + strspn(s + a + 1, "0123456789")] == 0;
}

/* Copies into out the value of name in a stream entry's fields [name, value, …]: its own field,
 * or a pair of the header h ("t=… id=… ev=…"). "-" when absent. */
static void ctl_entry_value(const yk_reply *fields, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "-");
    size_t nl = strlen(name);
    for (size_t i = 0; i + 1 < yk_reply_count(fields); i += 2) {
        const char *k = yk_reply_str(yk_reply_at(fields, i), NULL);
        const char *v = yk_reply_str(yk_reply_at(fields, i + 1), NULL);
        if (k == NULL || v == NULL)
            continue;
        if (strcmp(k, name) == 0) {
            snprintf(out, cap, "%.*s", (int)strcspn(v, "\t\r\n"), v);
            return;
        }
        if (strcmp(k, "h") != 0)
            continue;
        for (const char *p = v; *p;) {
            size_t len = strcspn(p, " ");
            if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
                snprintf(out, cap, "%.*s", (int)(len - nl - 1), p + nl + 1);
                return;
            }
            p += len;
            p += *p == ' ';
        }
    }
}

/* Prints the dead letters of partition p, oldest first; their number, or -1 after an error. */
static long long ctl_dead_list_one(yk_rconn *r, unsigned p)
{
    char key[32], start[48] = "-";
    snprintf(key, sizeof key, "yk:dead:{%u}", p);
    long long n = 0;
    for (;;) {
        yk_reply *x =
            yk_rconn_command(r, 6, (const char *[]){"XRANGE", key, start, "+", "COUNT", "1000"});
        if (x == NULL || yk_reply_error(x)) {
            fprintf(stderr, "yoyakuctl: XRANGE %s: %s\n", key,
                    x ? yk_reply_error(x) : yk_rconn_error(r));
            yk_rconn_free(x);
            return -1;
        }
        size_t m = yk_reply_count(x);
        for (size_t i = 0; i < m; i++) {
            const yk_reply *e = yk_reply_at(x, i), *f = yk_reply_at(e, 1);
            char reason[32], deliveries[16], type[16], rid[40], ev[24], from[48];
            ctl_entry_value(f, "reason", reason, sizeof reason);
            ctl_entry_value(f, "deliveries", deliveries, sizeof deliveries);
            ctl_entry_value(f, "t", type, sizeof type);
            ctl_entry_value(f, "id", rid, sizeof rid);
            ctl_entry_value(f, "ev", ev, sizeof ev);
            ctl_entry_value(f, "from", from, sizeof from);
            printf("%u\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p, yk_reply_str(yk_reply_at(e, 0), NULL),
                   reason, deliveries, type, rid, ev, from);
            n++;
        }
        const char *last = m ? yk_reply_str(yk_reply_at(yk_reply_at(x, m - 1), 0), NULL) : NULL;
        if (last)
            snprintf(start, sizeof start, "(%s", last);
        yk_rconn_free(x);
        if (m < 1000 || last == NULL)
            return n;
    }
}

/* KEYS: yk:dead:{p}, yk:req:{p}, yk:seq:{p}. ARGV: dead-letter ids. Each entry still there goes
 * back on the request stream with its own fields (reason, deliveries and from left out), counted
 * in the sequence as the ingress counts a submit (positions stay seq − done), and leaves the
 * dead letters: one step, so a replay is never lost nor doubled. Returns [dead id, new id]…. */
static const char REPLAY_LUA[] =
    "local out = {}\n"
    "for _, id in ipairs(ARGV) do\n"
    "  local e = redis.call('XRANGE', KEYS[1], id, id)[1]\n"
    "  if e then\n"
    "    local a = {'XADD', KEYS[2], '*'}\n"
    "    local f = e[2]\n"
    "    for i = 1, #f, 2 do\n"
    "      if f[i] ~= 'reason' and f[i] ~= 'deliveries' and f[i] ~= 'from' then\n"
    "        a[#a + 1] = f[i]\n"
    "        a[#a + 1] = f[i + 1]\n"
    "      end\n"
    "    end\n"
    "    if #a > 3 then\n"
    "      redis.call('INCR', KEYS[3])\n"
    "      out[#out + 1] = {id, redis.call(unpack(a))}\n"
    "    end\n"
    "    redis.call('XDEL', KEYS[1], id)\n"
    "  end\n"
    "end\n"
    "return out\n";

/* Replays ids[0..n) of partition p (printing each); the number replayed, or -1. */
static long long ctl_replay_ids(yk_rconn *r, unsigned p, const char *const *ids, int n)
{
    const char **argv = malloc((6 + (size_t)n) * sizeof *argv);
    if (argv == NULL)
        return -1;
    char dead[32], req[32], seq[32];
    snprintf(dead, sizeof dead, "yk:dead:{%u}", p);
    snprintf(req, sizeof req, "yk:req:{%u}", p);
    snprintf(seq, sizeof seq, "yk:seq:{%u}", p);
    argv[0] = "EVAL", argv[1] = REPLAY_LUA, argv[2] = "3", argv[3] = dead, argv[4] = req;
    argv[5] = seq;
    for (int i = 0; i < n; i++)
        argv[6 + i] = ids[i];
    yk_reply *x = yk_rconn_command(r, 6 + n, argv);
    free(argv);
    if (x == NULL || yk_reply_error(x)) {
        fprintf(stderr, "yoyakuctl: replaying %s: %s\n", dead,
                x ? yk_reply_error(x) : yk_rconn_error(r));
        yk_rconn_free(x);
        return -1;
    }
    long long done = (long long)yk_reply_count(x);
    for (size_t i = 0; i < yk_reply_count(x); i++)
        printf("replayed\t%u\t%s\t%s\n", p, yk_reply_str(yk_reply_at(yk_reply_at(x, i), 0), NULL),
               yk_reply_str(yk_reply_at(yk_reply_at(x, i), 1), NULL));
    yk_rconn_free(x);
    return done;
}

/* Replays every dead letter of p that is there now (not those a failing replay adds meanwhile). */
static long long ctl_replay_all(yk_rconn *r, unsigned p)
{
    char key[32], last[48];
    snprintf(key, sizeof key, "yk:dead:{%u}", p);
    yk_reply *x =
        yk_rconn_command(r, 6, (const char *[]){"XREVRANGE", key, "+", "-", "COUNT", "1"});
    const char *top = yk_reply_str(yk_reply_at(yk_reply_at(x, 0), 0), NULL);
    if (x == NULL || yk_reply_error(x) || top == NULL) {
        bool bad = x == NULL || yk_reply_error(x);
        if (bad)
            fprintf(stderr, "yoyakuctl: XREVRANGE %s: %s\n", key,
                    x ? yk_reply_error(x) : yk_rconn_error(r));
        yk_rconn_free(x);
        return bad ? -1 : 0; /* none */
    }
    snprintf(last, sizeof last, "%s", top);
    yk_rconn_free(x);
    long long total = 0;
    for (;;) {
        x = yk_rconn_command(r, 6, (const char *[]){"XRANGE", key, "-", last, "COUNT", "500"});
        size_t m = yk_reply_count(x);
        if (x == NULL || yk_reply_error(x) || m == 0) {
            bool bad = x == NULL || yk_reply_error(x);
            if (bad)
                fprintf(stderr, "yoyakuctl: XRANGE %s: %s\n", key,
                        x ? yk_reply_error(x) : yk_rconn_error(r));
            yk_rconn_free(x);
            return bad ? -1 : total;
        }
        const char **ids = malloc(m * sizeof *ids);
        for (size_t i = 0; ids && i < m; i++)
            ids[i] = yk_reply_str(yk_reply_at(yk_reply_at(x, i), 0), NULL);
        long long got = ids ? ctl_replay_ids(r, p, ids, (int)m) : -1;
        free(ids);
        yk_rconn_free(x);
        if (got <= 0) /* an error, or entries that would not move: never loop on them */
            return got < 0 ? -1 : total;
        total += got;
    }
}

/* --partition P: 1 set *p, 0 absent, -1 invalid (said). */
static int ctl_partition_opt(char **args, int n, unsigned *p, int *used)
{
    for (int i = 0; i < n; i++) {
        const char *v = NULL;
        if (strcmp(args[i], "--partition") == 0 && i + 1 < n)
            v = args[i + 1], used[i] = used[i + 1] = 1;
        else if (strncmp(args[i], "--partition=", 12) == 0)
            v = args[i] + 12, used[i] = 1;
        if (v == NULL)
            continue;
        size_t len = strlen(v);
        long long x = len && len <= 6 && strspn(v, "0123456789") == len ? atoll(v) : -1;
        if (x < 0 || x >= ctl_partitions) {
            fprintf(stderr, "yoyakuctl: --partition takes 0 to %lld\n",
                    (long long)ctl_partitions - 1);
            return -1;
        }
        *p = (unsigned)x;
        return 1;
    }
    return 0;
}

/* The partition whose dead letters hold id, or -1. */
static long long ctl_dead_find(yk_rconn *r, const char *id)
{
    for (long long p = 0; p < ctl_partitions; p++) {
        char key[32];
        snprintf(key, sizeof key, "yk:dead:{%lld}", p);
        yk_reply *x = yk_rconn_command(r, 4, (const char *[]){"XRANGE", key, id, id});
        size_t m = yk_reply_count(x);
        yk_rconn_free(x);
        if (m)
            return p;
    }
    return -1;
}

int ctl_dead_letter(char **args, int n)
{
    const char *verb = n > 0 ? args[0] : "";
    bool list = strcmp(verb, "list") == 0, replay = strcmp(verb, "replay") == 0;
    int *used = calloc((size_t)n + 1, sizeof *used);
    unsigned part = 0;
    int has = used ? ctl_partition_opt(args + 1, n - 1, &part, used + 1) : -1;
    int rc = 2;
    if (has < 0 || !(list || replay))
        goto usage;
    /* IDs: the other arguments; list takes none */
    int nids = 0;
    for (int i = 1; i < n; i++) {
        if (used[i])
            continue;
        if (list || !ctl_stream_id(args[i])) {
            fprintf(stderr, "yoyakuctl: not a dead-letter id: %s\n", args[i]);
            goto usage;
        }
        args[1 + nids++] = args[i]; /* compacted in place, in order */
    }
    yk_rconn *r = ctl_redis();
    if (r == NULL) {
        free(used);
        return 1;
    }
    rc = 0;
    long long total = 0;
    if (list)
        printf("partition\tid\treason\tdeliveries\ttype\trequest\tevent\tfrom\n");
    for (long long p = has ? part : 0;
         rc == 0 && nids == 0 && p < (has ? part + 1 : ctl_partitions); p++) {
        long long got = list ? ctl_dead_list_one(r, (unsigned)p) : ctl_replay_all(r, (unsigned)p);
        if (got < 0)
            rc = 1;
        else
            total += got;
    }
    for (int i = 0; rc == 0 && i < nids; i++) {
        long long p = has ? part : ctl_dead_find(r, args[1 + i]);
        long long got =
            p < 0 ? 0 : ctl_replay_ids(r, (unsigned)p, (const char *[]){args[1 + i]}, 1);
        if (got < 0)
            rc = 1;
        else if (got == 0)
            fprintf(stderr, "yoyakuctl: no dead letter %s\n", args[1 + i]), rc = 1;
        else
            total += got;
    }
    printf("%s: %lld\n", list ? "dead letters" : "replayed", total);
    yk_rconn_close(r);
    free(used);
    return rc;
usage:
    free(used);
    fprintf(stderr, "yoyakuctl: dead-letter list [--partition P] | dead-letter replay "
                    "[--partition P] [ID…]\n");
    return rc;
}
