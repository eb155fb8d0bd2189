/*
 * budgets.c - flow control (flow.h): the controller's tick, each run's
 * budget sent to the peers that follow budgets, push-back, and the runs'
 * flow published for the HTTP layer.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "stats.h"

/* ---------- budgets (flow.h) ---------- */

/* Sends run's budget to one peer (a BUDGET for every group of the run).
 * Returns 0 when sent, 1 when its pipe was full, -1 when it is gone. */
static int send_budget(ingest *g, const run_entry *run, peer *p)
{
    unsigned char hdr[WIRE_HEADER_MAX], body[WIRE_BUDGET_LEN];
    wire_msg m = {.kind = WIRE_BUDGET, .count = 1, .run = run->name, .run_len = run->name_len};
    wire_budget b = {
        .values = run->bud_values, .every = run->bud_every, .ranks = (uint32_t)run->npeers};
    size_t hlen;

    m.seq = g->seq++;
    hlen = wire_encode_header(&m, hdr, sizeof(hdr));
    wire_encode_budget(&b, body);
    if (zmq_send(g->router, p->id, p->id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return errno == EHOSTUNREACH ? -1 : 1;
    zmq_send(g->router, hdr, hlen, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(g->router, body, sizeof(body), ZMQ_DONTWAIT);
    p->bud_values = run->bud_values;
    p->bud_every = run->bud_every;
    STAT_INC(budgets_sent);
    return 0;
}

/* Sets run_slot's budget from the controller's factor and its ranks, and
 * sends it to every peer that follows budgets and lacks it. */
void ig_update_budget(ingest *g, uint32_t run_slot)
{
    run_entry *run = &g->reg->runs[run_slot];

    flow_budget(g->flow.f, g->cfg.block_samples, (uint32_t)run->npeers, &run->bud_values,
                &run->bud_every);
    for (size_t i = run->npeers; i-- > 0;) {
        peer *p = &run->peers[i];
        if (!p->flow || (p->bud_values == run->bud_values && p->bud_every == run->bud_every))
            continue;
        if (send_budget(g, run, p) < 0)
            streams_peer_remove(g->reg, run_slot, i);
    }
}

/* Publishes what a user sees of each run's flow (flow.h). */
void ig_publish_flow(ingest *g)
{
    flow_run *v = calloc(g->reg->live_runs ? g->reg->live_runs : 1, sizeof(*v));
    size_t n = 0;
    uint64_t client_drops = 0;
    int64_t now = now_ms();

    if (v == NULL)
        return;
    for (size_t i = 0; i < g->reg->nruns && n < g->reg->live_runs; i++) {
        const run_entry *run = &g->reg->runs[i];
        flow_run *f = &v[n];
        if (!run->used)
            continue;
        memcpy(f->run, run->name, run->name_len + 1);
        f->ranks = (uint32_t)run->npeers;
        f->streams = (uint32_t)run->nstreams;
        f->budget_values = run->bud_values;
        f->budget_every = run->bud_every;
        f->client_drops = run->drops_gone;
        for (size_t k = 0; k < run->npeers; k++)
            f->client_drops += run->peers[k].dropped - run->peers[k].dropped_base;
        f->values_refused = run->refused;
        f->blocks_lost = run->lost;
        f->idle_s = run->active_ms > 0 ? (double)(now - run->active_ms) / 1000 : 1e9;
        client_drops += f->client_drops;
        n++;
    }
    flow_publish(v, n);
    free(v);
    STAT_SET(client_drops, client_drops);
}

/* Every FLOW_TICK_MS: the controller's new factor, the runs' budgets. */
void ig_flow_control(ingest *g, int64_t now)
{
    flow_sample fs;

    if (now - g->last_tick_ms < FLOW_TICK_MS) /* the ingest loop calls this every turn */
        return;
    g->last_tick_ms = now;
    if (g->pushing_back) { /* count the push-back still going on */
        STAT_ADD(backpressure_ms, (uint64_t)(now - g->pushback_since_ms));
        g->pushback_since_ms = now;
    }
    fs = (flow_sample){now,
                       STAT_GET(samples),
                       STAT_GET(est_busy_ns),
                       STAT_GET(est_values),
                       STAT_GET(backpressure_ms),
                       g->nest};
    flow_tick(&g->flow, &fs);
    STAT_SET(budget_ppm, (uint64_t)(g->flow.f * 1e6 + 0.5));
    for (size_t i = 0; i < g->reg->nruns; i++) {
        if (!g->reg->runs[i].used)
            continue;
        ig_update_budget(g, (uint32_t)i);
        ig_shed_flush_run(g, (uint32_t)i, now, 0);
    }
    ig_publish_flow(g);
}

/* Starts or ends a push-back: while the estimator queues are full the
 * ROUTER is not read (the clients' queues take the excess). */
void ig_note_pushback(ingest *g, int full, int64_t now)
{
    if (full && !g->pushing_back) {
        g->pushing_back = 1;
        g->pushback_since_ms = now;
        STAT_INC(backpressure_events);
    } else if (!full && g->pushing_back) {
        g->pushing_back = 0;
        STAT_ADD(backpressure_ms, (uint64_t)(now - g->pushback_since_ms));
    }
}
