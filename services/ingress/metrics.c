/* metrics: owns the ingress's metric families. Series labels are route names (literals set by
 * the router), status codes and partition numbers, so no label value needs escaping. */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingress.h"
#include "queue.h"
#include "yk_metrics.h"

static yk_family http_total = YK_COUNTER("yoyaku_http_requests_total", "HTTP requests answered.");
static yk_family http_seconds =
    YK_HISTOGRAM("yoyaku_http_request_duration_seconds",
                 "Time from a complete request to its answer.", yk_metrics_latency_bounds);
static yk_family bookings =
    YK_COUNTER("yoyaku_bookings_total", "Reservation answers given by this ingress, by result.");
static yk_family s_len = YK_GAUGE("yoyaku_stream_length", "Entries in the request stream.");
static yk_family s_pending =
    YK_GAUGE("yoyaku_stream_pending", "Entries delivered to a worker, not acknowledged.");
static yk_family s_lag = YK_GAUGE("yoyaku_stream_lag", "Entries not yet delivered to any worker.");
static yk_family s_age = YK_GAUGE("yoyaku_queue_oldest_pending_age_seconds",
                                  "Age of the oldest delivered, unacknowledged entry.");
static yk_family s_consumers =
    YK_GAUGE("yoyaku_stream_consumers", "Consumers in the workers group.");

static const char *booking_result(int status)
{
    switch (status) {
    case 201:
        return "confirmed";
    case 202:
        return "pending";
    case 409:
        return "refused";
    case 400:
    case 404:
    case 413:
    case 422:
        return "invalid";
    default:
        return "unavailable";
    }
}

/* The hot path counts into this table, keyed by the route's literal (pointer) and the status: no
 * formatting, no string compares. The families are filled from it when /metrics is scraped. */
#define SEEN_MAX 128
static struct {
    const char *route;
    int status;
    uint64_t count;
    yk_histogram seconds;
} seen[SEEN_MAX];
static size_t nseen;

void metrics_observe(const yk_http_req *req, int status, void *ud)
{
    size_t i = 0;
    while (i < nseen && (seen[i].route != req->route || seen[i].status != status))
        i++;
    if (i == nseen) {
        if (nseen == SEEN_MAX)
            return; /* cannot happen with the router's fixed set of routes */
        seen[nseen].route = req->route;
        seen[nseen].status = status;
        seen[nseen].seconds.bounds = yk_metrics_latency_bounds;
        nseen++;
    }
    seen[i].count++;
    yk_histogram_observe(&seen[i].seconds, (double)(uv_hrtime() - req->started_ns) / 1e9);
}

/* Moves what the hot path counted into the families (they keep the totals). */
static void fold_seen(void)
{
    for (size_t i = 0; i < nseen; i++) {
        char labels[96];
        snprintf(labels, sizeof labels, "route=\"%s\",code=\"%d\"", seen[i].route, seen[i].status);
        yk_family_add(&http_total, labels, (double)seen[i].count);
        snprintf(labels, sizeof labels, "route=\"%s\"", seen[i].route);
        yk_family_merge(&http_seconds, labels, &seen[i].seconds);
        if (strcmp(seen[i].route, "reserve") == 0) {
            snprintf(labels, sizeof labels, "result=\"%s\"", booking_result(seen[i].status));
            yk_family_add(&bookings, labels, (double)seen[i].count);
        }
    }
    memset(seen, 0, sizeof seen);
    nseen = 0;
}

static void render(yk_http_req *req, int ok, const queue_partition *parts, int n)
{
    yk_buf b = YK_BUF_INIT(YK_METRICS_MAX);
    yk_metrics_printf(&b,
                      "# HELP yoyaku_build_info Build of this process.\n"
                      "# TYPE yoyaku_build_info gauge\n"
                      "yoyaku_build_info{version=\"%s\",service=\"ingress\",id=\"%s\"} 1\n"
                      "# HELP yoyaku_up_redis Whether Redis answered this scrape.\n"
                      "# TYPE yoyaku_up_redis gauge\nyoyaku_up_redis %d\n",
                      YK_VERSION, ingress.ingress_id, ok);
    yk_family *gauges[] = {&s_len, &s_pending, &s_lag, &s_age, &s_consumers};
    for (size_t g = 0; g < sizeof gauges / sizeof gauges[0]; g++)
        yk_family_clear(gauges[g]);
    for (int p = 0; ok && p < n; p++) {
        char labels[32];
        snprintf(labels, sizeof labels, "partition=\"%d\"", p);
        yk_family_set(&s_len, labels, (double)parts[p].length);
        yk_family_set(&s_pending, labels, (double)parts[p].pending);
        yk_family_set(&s_lag, labels, (double)parts[p].lag);
        yk_family_set(&s_age, labels, parts[p].oldest_pending_age);
        yk_family_set(&s_consumers, labels, (double)parts[p].consumers);
    }
    fold_seen();
    yk_family_render(&http_total, &b);
    yk_family_render(&http_seconds, &b);
    yk_family_render(&bookings, &b);
    for (size_t g = 0; g < sizeof gauges / sizeof gauges[0]; g++)
        yk_family_render(gauges[g], &b);
    if (b.failed)
        yk_http_respond_error(req, 500, "internal", "The metrics could not be rendered.");
    else
        yk_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, b.p, b.len);
    yk_buf_free(&b);
}

static void collected(void *ud, int ok, const queue_partition *parts, int n)
{
    render(ud, ok, parts, n);
}

void metrics_handle(yk_http_req *req)
{
    queue_collect(collected, req);
}

void metrics_free(void)
{
    yk_family *all[] = {&http_total, &http_seconds, &bookings, &s_len,
                        &s_pending,  &s_lag,        &s_age,    &s_consumers};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        yk_family_free(all[i]);
}
