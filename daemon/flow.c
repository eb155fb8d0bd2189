/*
 * flow.c - the budget controller and the per-run flow view (see flow.h).
 */
#include "flow.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

void flow_budget(double f, uint64_t block_samples, uint32_t ranks, uint32_t *values,
                 uint32_t *every)
{
    uint64_t r = ranks > 0 ? ranks : 1;
    double base = (double)((block_samples + r - 1) / r);
    double want = base * (f > 1 ? 1 : f);
    double floor_v = base < FLOW_MIN_VALUES ? base : FLOW_MIN_VALUES;
    double e = 1;

    if (want < floor_v) { /* thin the steps rather than send crumbs */
        e = ceil(floor_v / (want > 1e-9 ? want : 1e-9) - 1e-9);
        want = floor_v;
    }
    if (want < 1)
        want = 1;
    if (want > WIRE_COUNT_MAX)
        want = WIRE_COUNT_MAX;
    if (e > WIRE_EVERY_MAX)
        e = WIRE_EVERY_MAX;
    *values = (uint32_t)ceil(want - 1e-9);
    *every = (uint32_t)e;
}

void flow_init(flow_ctl *c)
{
    memset(c, 0, sizeof(*c));
    c->f = 1;
}

int flow_tick(flow_ctl *c, const flow_sample *s)
{
    double dt, busy, f = c->f, in_rate;
    uint64_t est_values;
    int pushed_back;

    if (!c->has_last) {
        c->last = *s;
        c->has_last = 1;
        return 0;
    }
    dt = (double)(s->now_ms - c->last.now_ms) / 1000;
    if (dt <= 0)
        return 0;
    busy = (double)(s->est_busy_ns - c->last.est_busy_ns) / 1e9;
    est_values = s->est_values - c->last.est_values;
    /* capacity: values per busy second, for every estimator; only from a
     * tick with enough work to time (a few ms) */
    if (busy > 0.005 && est_values > 0) {
        double cap = (double)est_values / busy * (double)(s->estimators ? s->estimators : 1);
        c->capacity = c->capacity > 0 ? 0.7 * c->capacity + 0.3 * cap : cap;
    }
    in_rate = (double)(s->values_in - c->last.values_in) / dt;
    /* a burst the queues nearly absorb pushes back for a moment; an
     * overload does most of the time */
    pushed_back =
        (double)(s->backpressure_ms - c->last.backpressure_ms) > FLOW_PUSHBACK_SHARE * dt * 1000;
    if (c->capacity > 0 && in_rate > 0) {
        /* in_rate came at factor f: at factor g it would be in_rate * g / f */
        double target = f * FLOW_TARGET * c->capacity / in_rate;
        if (target > f * FLOW_INCREASE)
            target = f * FLOW_INCREASE;
        f = target;
    } else if (in_rate == 0) {
        f *= FLOW_INCREASE; /* idle: back towards full resolution */
    }
    if (pushed_back && f > c->f * FLOW_DECREASE)
        f = c->f * FLOW_DECREASE;
    if (f > 1)
        f = 1;
    if (f < FLOW_F_MIN)
        f = FLOW_F_MIN;
    c->last = *s;
    if (fabs(f - c->f) < 1e-9)
        return 0;
    c->f = f;
    return 1;
}

static pthread_mutex_t view_lock = PTHREAD_MUTEX_INITIALIZER;
static flow_run *view;
static size_t view_n;

int flow_publish(const flow_run *runs, size_t n)
{
    flow_run *copy = NULL;

    if (n > 0) {
        copy = malloc(n * sizeof(*copy));
        if (copy == NULL)
            return -1;
        memcpy(copy, runs, n * sizeof(*copy));
    }
    pthread_mutex_lock(&view_lock);
    free(view);
    view = copy;
    view_n = n;
    pthread_mutex_unlock(&view_lock);
    return 0;
}

int flow_view(flow_run **out, size_t *n)
{
    int rc = 0;

    pthread_mutex_lock(&view_lock);
    *out = NULL;
    *n = 0;
    if (view_n > 0) {
        *out = malloc(view_n * sizeof(**out));
        if (*out == NULL) {
            rc = -1;
        } else {
            memcpy(*out, view, view_n * sizeof(**out));
            *n = view_n;
        }
    }
    pthread_mutex_unlock(&view_lock);
    return rc;
}

void flow_view_free(void)
{
    pthread_mutex_lock(&view_lock);
    free(view);
    view = NULL;
    view_n = 0;
    pthread_mutex_unlock(&view_lock);
}
