/* yk_metrics: counters and histograms rendered in the Prometheus text format 0.0.4 into a yk_buf
 * the caller owns. A family owns its series. Single-threaded: callers serialise. */
#ifndef YK_METRICS_H
#define YK_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "yk_buf.h"

/* The cap of a scrape's text: yk_buf b = YK_BUF_INIT(YK_METRICS_MAX). A text that would pass it
 * sets b.failed (yk_buf's sticky failure), and the scrape answers 500 rather than half a text. */
#define YK_METRICS_MAX ((size_t)1 << 20)

/* Appends printf-formatted text to b (yk_buf's failure rules). */
void yk_metrics_printf(yk_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define YK_HIST_BUCKETS 14
extern const double yk_metrics_latency_bounds[YK_HIST_BUCKETS]; /* seconds, 0.0005 … 10 */
extern const double yk_metrics_size_bounds[YK_HIST_BUCKETS];    /* counts, 1 … 5000 */

typedef struct {
    const double *bounds;
    uint64_t counts[YK_HIST_BUCKETS + 1]; /* last one is +Inf */
    double sum;
    uint64_t count;
} yk_histogram;

void yk_histogram_observe(yk_histogram *h, double v);

/* A family of series that differ by their label text, e.g. `route="reserve",code="201"`.
 * Series are created on first use; at most 256 per family (further ones are dropped). */
typedef struct yk_series yk_series;
typedef struct {
    const char *name, *help, *type; /* type: "counter", "gauge" or "histogram" */
    const double *bounds;           /* histograms only */
    yk_series *series;
    size_t n;
} yk_family;

#define YK_COUNTER(n, h)                                                                           \
    {                                                                                              \
        .name = n, .help = h, .type = "counter"                                                    \
    }
#define YK_GAUGE(n, h)                                                                             \
    {                                                                                              \
        .name = n, .help = h, .type = "gauge"                                                      \
    }
#define YK_HISTOGRAM(n, h, b)                                                                      \
    {                                                                                              \
        .name = n, .help = h, .type = "histogram", .bounds = b                                     \
    }

/* Adds v to the counter or gauge series with these labels ("" for none). */
void yk_family_add(yk_family *f, const char *labels, double v);
void yk_family_set(yk_family *f, const char *labels, double v);
void yk_family_observe(yk_family *f, const char *labels, double v);
/* Adds every bucket, the sum and the count of h to the histogram series with these labels. */
void yk_family_merge(yk_family *f, const char *labels, const yk_histogram *h);
/* Drops every series (gauges recomputed per scrape). */
void yk_family_clear(yk_family *f);
void yk_family_render(const yk_family *f, yk_buf *out);
void yk_family_free(yk_family *f);

#endif
