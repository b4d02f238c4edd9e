/* eta: per partition, the last sample of yk:done:{p} and a smoothed decision rate; read by the
 * 202 answer and by GET /v1/requests/{id}. */
#include "eta.h"

/* Before a partition has been seen to move: a worker decides far more than this, so the first
 * estimates err long, never short. */
#define ETA_DEFAULT_RATE 1000.0
/* Samples closer than this are too short to tell a rate (a batch lands at once). */
#define ETA_MIN_SPAN_MS 250

typedef struct {
    uint64_t at_ms;
    long long done;
    double rate; /* decisions per second; 0 = not known yet */
} eta_sample;

static eta_sample samples[ETA_PARTITIONS];

static eta_sample *sample_of(unsigned p)
{
    return &samples[p < ETA_PARTITIONS ? p : ETA_PARTITIONS - 1];
}

void eta_observe(unsigned p, long long done, uint64_t now_ms)
{
    eta_sample *s = sample_of(p);
    if (s->at_ms == 0 || done < s->done) { /* first sample, or the count was reset */
        *s = (eta_sample){now_ms ? now_ms : 1, done, s->rate};
        return;
    }
    uint64_t span = now_ms - s->at_ms;
    if (span < ETA_MIN_SPAN_MS)
        return;
    double r = (double)(done - s->done) * 1000.0 / (double)span;
    /* an idle spell says nothing about how fast the next rush is decided */
    if (r > 0)
        s->rate = s->rate > 0 ? 0.5 * s->rate + 0.5 * r : r;
    s->at_ms = now_ms;
    s->done = done;
}

long long eta_seconds(unsigned p, long long position)
{
    if (position <= 1)
        return 0;
    double rate = sample_of(p)->rate > 0 ? sample_of(p)->rate : ETA_DEFAULT_RATE;
    double s = (double)(position - 1) / rate;
    long long whole = (long long)s;
    return whole + (s > (double)whole);
}
