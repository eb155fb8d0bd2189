/*
 * flow.h - htgad's flow control: how much each client should send, and the
 * per-run view of what was shed where.
 *
 * DESIGN: nothing is thrown away after it was paid for. The estimator
 * queues are bounded in bytes (--queue-bytes); when they are full the
 * ingest thread stops reading its socket, ZeroMQ's per-connection pipes
 * fill, and each client's own bounded queue takes the excess and sheds
 * there, fairly, where shedding is free. That alone would let a sustained
 * overload shed at the clients all the time, so the daemon also sets a
 * budget: the values per send it wants of each group. A budget of
 *   values = ceil(block_samples / ranks) * f
 * makes one step of all the run's ranks fill one block (64 ranks together
 * send what one block needs, not 64 times it); f in (0, 1] is one factor
 * for every run, so an overload lowers every group's resolution alike and
 * no group starves. Below FLOW_MIN_VALUES values per send (or the full
 * share, when smaller) the budget asks for one send in `every` steps
 * instead of crumbs that cost more to send than they carry; a small block
 * still closes by --window-steps once it holds ACCUM_WINDOW_MIN values. The controller measures
 * capacity as values per busy second of the estimators (they time each block) times their number,
 * and sets f so that what arrives stays under FLOW_TARGET of it; while ingest is pushing back, f
 * also falls by FLOW_DECREASE a tick. It rises again by at most FLOW_INCREASE a tick. The budget is
 * pure arithmetic on counters, tested without a daemon (tests/daemon/flow_test.c).
 *
 * The per-run view (ranks, budget, drops reported by clients, values
 * refused) is written by the ingest thread each tick and read by the HTTP
 * threads under one mutex.
 */
#ifndef HTGAD_FLOW_H
#define HTGAD_FLOW_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define FLOW_MIN_VALUES     1024 /* below this per send, thin the steps instead */
#define FLOW_TICK_MS        500  /* the controller's period */
#define FLOW_TARGET         0.7  /* share of the measured capacity to fill */
#define FLOW_DECREASE       0.7  /* f's factor per tick while ingest pushes back */
#define FLOW_PUSHBACK_SHARE 0.5  /* ...for more than this share of the tick */
#define FLOW_INCREASE       1.5  /* f's largest rise per tick */
#define FLOW_F_MIN          1e-4

/* The values per send and step thinning that factor f asks of each of
 * `ranks` ranks of a run whose blocks hold block_samples values. */
void flow_budget(double f, uint64_t block_samples, uint32_t ranks, uint32_t *values,
                 uint32_t *every);

/* Counters the controller reads each tick (totals since start). */
typedef struct flow_sample {
    int64_t now_ms;
    uint64_t values_in;       /* values received */
    uint64_t est_busy_ns;     /* estimators' time on blocks */
    uint64_t est_values;      /* values they estimated */
    uint64_t backpressure_ms; /* time ingest stopped reading */
    size_t estimators;        /* estimator threads */
} flow_sample;

typedef struct flow_ctl {
    double f;        /* the budget factor, (0, 1] */
    double capacity; /* values per second the estimators can take (EWMA), 0 = not known */
    flow_sample last;
    int has_last;
} flow_ctl;

void flow_init(flow_ctl *c);

/* One tick: updates c->f from the counters' change since the last tick.
 * Returns 1 when f changed, else 0. */
int flow_tick(flow_ctl *c, const flow_sample *s);

/* What a user sees of one run's flow (GET /api/v1/stats, /metrics). */
typedef struct flow_run {
    char run[WIRE_NAME_MAX + 1];
    uint32_t ranks;          /* client connections of the run */
    uint32_t streams;        /* its groups held in memory (idle ones leave) */
    uint32_t budget_values;  /* values per send asked of each rank */
    uint32_t budget_every;   /* one send in this many steps */
    uint64_t client_drops;   /* messages its clients report they dropped */
    uint64_t values_refused; /* values the daemon refused (stream or run limit, no memory) */
    uint64_t blocks_lost;    /* blocks closed but never stored */
    double idle_s;           /* seconds since its last samples */
} flow_run;

/* Replaces the published view with runs[0..n-1] (copied). 0 or -1 (out of
 * memory: the old view stays). Any thread. */
int flow_publish(const flow_run *runs, size_t n);

/* A copy of the published view: *out (malloc'd, caller frees; NULL when
 * empty) and its length. 0 or -1 (out of memory). Any thread. */
int flow_view(flow_run **out, size_t *n);

/* Frees the published view (at exit). */
void flow_view_free(void);

#endif /* HTGAD_FLOW_H */
