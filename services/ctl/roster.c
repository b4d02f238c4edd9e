/* roster: `yoyakuctl roster import FILE --campaign C [--encoding cp932]` — replaces a campaign's
 * roster straight in PostgreSQL with the same code as PUT /v1/admin/campaigns/{campaign}/roster
 * (yk_roster_pg: parse, hash, COPY, swap in one transaction), so it needs no running ingress and
 * no admin token, only what yoyakuctl already has: YOYAKU_PG, and YOYAKU_TOKEN_KEY for the hash.
 * Progress goes to stderr: a bar redrawn in place on a terminal, else a plain line a second. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "yk_roster_pg.h"

#define CTL_ROSTER_PIECE ((size_t)256 * 1024)

static double ctl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One progress report: done of total bytes (total 0: unknown), rows so far. */
static void ctl_progress(bool tty, long long done, long long total, long rows, double secs,
                         bool last)
{
    double rate = secs > 0 ? (double)rows / secs : 0;
    int pct = total > 0 ? (int)(100 * done / total) : 0;
    if (!tty) {
        fprintf(stderr, "roster: %ld rows, %lld bytes%s%.0d%s, %.0f rows/s\n", rows, done,
                total > 0 ? " (" : "", total > 0 ? pct : 0, total > 0 ? "%)" : "", rate);
        return;
    }
    char bar[31];
    int fill = total > 0 ? (int)(30 * done / total) : 0;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r[%s] %3d%% %10ld rows %8.0f rows/s%s", bar, pct, rows, rate,
            last ? "\n" : "");
    fflush(stderr);
}

int ctl_roster_import(const char *file, const char *campaign, const char *encoding,
                      const unsigned char token_key[YK_TOKEN_KEY_BYTES])
{
    size_t cl = campaign ? strlen(campaign) : 0;
    bool cp932 = encoding && strcasecmp(encoding, "cp932") == 0;
    if (cl == 0 || cl > 64 || strspn(campaign, "abcdefghijklmnopqrstuvwxyz0123456789_-") != cl ||
        (encoding && !cp932 && strcasecmp(encoding, "utf-8") != 0)) {
        fprintf(stderr, "yoyakuctl: roster import FILE --campaign C (a-z 0-9 _ -, at most 64) "
                        "[--encoding utf-8|cp932]\n");
        return 2;
    }
    FILE *in = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
    if (in == NULL) {
        fprintf(stderr, "yoyakuctl: %s: %s\n", file, strerror(errno));
        return 1;
    }
    struct stat st;
    long long total = fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
    bool tty = isatty(STDERR_FILENO);
    unsigned char key[YK_TOKEN_KEY_BYTES];
    yk_roster_key(token_key, key);
    yk_roster_load *l = NULL;
    yk_roster_status s = yk_roster_load_begin(&l, ctl_pg_conninfo, key, campaign, cp932);
    static char piece[CTL_ROSTER_PIECE];
    long long done = 0;
    double t0 = ctl_now(), shown = t0;
    while (s == YK_ROSTER_LOADED) {
        size_t n = fread(piece, 1, sizeof piece, in);
        if (n == 0)
            break;
        done += (long long)n;
        s = yk_roster_load_feed(l, piece, n);
        double now = ctl_now();
        if (now - shown >= (tty ? 0.2 : 1.0)) {
            shown = now;
            ctl_progress(tty, done, total, yk_roster_parser_rows(yk_roster_load_parser(l)),
                         now - t0, false);
        }
    }
    int rc = 1;
    if (s == YK_ROSTER_LOADED && ferror(in)) {
        fprintf(stderr, "yoyakuctl: %s: read error\n", file);
    } else if (s == YK_ROSTER_LOADED) {
        s = yk_roster_load_finish(l);
        const yk_roster_parser *p = yk_roster_load_parser(l);
        ctl_progress(tty, done, total, yk_roster_parser_rows(p), ctl_now() - t0, true);
        const yk_roster_error *e;
        for (size_t i = 0; s == YK_ROSTER_INVALID && (e = yk_roster_parser_error(p, i)); i++)
            fprintf(stderr, "line %ld: %s\n", e->line, e->reason);
        if (s == YK_ROSTER_INVALID)
            fprintf(stderr,
                    "yoyakuctl: the roster is not valid (%zu problems): nothing was "
                    "replaced\n",
                    yk_roster_parser_nerrors(p));
        if (s == YK_ROSTER_LOADED) {
            printf("rows: %ld\n", yk_roster_parser_rows(p));
            rc = 0;
        }
    }
    if (s == YK_ROSTER_BUSY)
        fprintf(stderr, "yoyakuctl: another upload of the roster of %s is under way\n", campaign);
    else if (s == YK_ROSTER_FAILED)
        fprintf(stderr, "yoyakuctl: roster import failed: %s\n",
                l ? yk_roster_load_error(l) : "out of memory");
    yk_roster_load_free(l);
    if (in != stdin)
        fclose(in);
    return rc;
}
