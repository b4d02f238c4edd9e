/* yk_metrics: the series tables and the text rendering (into the caller's yk_buf). Label text is
 * copied into each series; callers pass label values that are already safe (route names, codes,
 * partition numbers). */
#include "yk_metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 256

struct yk_series {
    char labels[96];
    double value;
    yk_histogram hist;
};

const double yk_metrics_latency_bounds[YK_HIST_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const double yk_metrics_size_bounds[YK_HIST_BUCKETS] = {1,   2,   5,    10,   20,   50,   100,
                                                        200, 500, 1000, 2000, 3000, 4000, 5000};

void yk_metrics_printf(yk_buf *b, const char *fmt, ...)
{
    char line[512]; /* a series line fits; longer text (a HELP block) takes one malloc */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof line) {
        yk_buf_add(b, line, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    yk_buf_add(b, big, (size_t)n);
    free(big);
}

void yk_histogram_observe(yk_histogram *h, double v)
{
    int i = 0;
    while (i < YK_HIST_BUCKETS && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

static yk_series *family_series(yk_family *f, const char *labels)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->series[i].labels, labels) == 0)
            return &f->series[i];
    if (f->n == MAX_SERIES)
        return NULL;
    if (f->series == NULL && (f->series = calloc(MAX_SERIES, sizeof *f->series)) == NULL)
        return NULL;
    yk_series *s = &f->series[f->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->labels, sizeof s->labels, "%s", labels);
    s->hist.bounds = f->bounds;
    return s;
}

void yk_family_add(yk_family *f, const char *labels, double v)
{
    yk_series *s = family_series(f, labels);
    if (s)
        s->value += v;
}

void yk_family_set(yk_family *f, const char *labels, double v)
{
    yk_series *s = family_series(f, labels);
    if (s)
        s->value = v;
}

void yk_family_observe(yk_family *f, const char *labels, double v)
{
    yk_series *s = family_series(f, labels);
    if (s)
        yk_histogram_observe(&s->hist, v);
}

void yk_family_merge(yk_family *f, const char *labels, const yk_histogram *h)
{
    yk_series *s = family_series(f, labels);
    if (s == NULL)
        return;
    for (int i = 0; i <= YK_HIST_BUCKETS; i++)
        s->hist.counts[i] += h->counts[i];
    s->hist.sum += h->sum;
    s->hist.count += h->count;
}

void yk_family_clear(yk_family *f)
{
    f->n = 0;
}

static void render_hist(const yk_family *f, const yk_series *s, yk_buf *out)
{
    const char *sep = s->labels[0] ? "," : "";
    uint64_t cum = 0;
    for (int i = 0; i < YK_HIST_BUCKETS; i++) {
        cum += s->hist.counts[i];
        yk_metrics_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", f->name, s->labels, sep,
                          f->bounds[i], (unsigned long long)cum);
    }
    cum += s->hist.counts[YK_HIST_BUCKETS];
    yk_metrics_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", f->name, s->labels, sep,
                      (unsigned long long)cum);
    const char *open = s->labels[0] ? "{" : "", *close = s->labels[0] ? "}" : "";
    yk_metrics_printf(out, "%s_sum%s%s%s %.9g\n", f->name, open, s->labels, close, s->hist.sum);
    yk_metrics_printf(out, "%s_count%s%s%s %llu\n", f->name, open, s->labels, close,
                      (unsigned long long)s->hist.count);
}

void yk_family_render(const yk_family *f, yk_buf *out)
{
    yk_metrics_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
    for (size_t i = 0; i < f->n; i++) {
        const yk_series *s = &f->series[i];
        if (f->bounds)
            render_hist(f, s, out);
        else if (s->labels[0])
            yk_metrics_printf(out, "%s{%s} %.17g\n", f->name, s->labels, s->value);
        else
            yk_metrics_printf(out, "%s %.17g\n", f->name, s->value);
    }
}

void yk_family_free(yk_family *f)
{
    free(f->series);
    f->series = NULL;
    f->n = 0;
}
