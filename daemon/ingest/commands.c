/*
 * commands.c - policy changes from other threads (HTTP, SIGHUP): queued
 * commands the ingest thread applies, each handed to every estimator.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "stats.h"

/* Queues the command; done (may be NULL) goes with it. 0, -1 (invalid) or
 * -2 (no room: the command queue is full, or no memory). */
static int queue_policy(ingest *g, const char *run, size_t run_len, const policy *pol,
                        const char *source, ack *done)
{
    ingest_cmd *c;

    if (policy_validate(pol, POLICY_NAMES_FLAGS, NULL) < 0 || run_len > WIRE_NAME_MAX ||
        (run != NULL && run_len == 0))
        return -1;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -2;
    c->done = done;
    c->all = run == NULL;
    if (run != NULL)
        memcpy(c->run, run, run_len);
    c->run_len = run_len;
    c->pol = *pol;
    c->source = source;
    if (bqueue_try_push(g->cmds, c) < 0) {
        free(c);
        return -2;
    }
    return 0;
}

int ingest_set_policy(ingest *g, const char *run, size_t run_len, const policy *pol,
                      const char *source)
{
    return queue_policy(g, run, run_len, pol, source, NULL) < 0 ? -1 : 0;
}

int ingest_set_policy_stored(ingest *g, const char *run, size_t run_len, const policy *pol,
                             const char *source, int timeout_ms)
{
    ack *done = run != NULL ? ack_new() : NULL;
    int rc;

    if (done == NULL)
        return -1;
    rc = queue_policy(g, run, run_len, pol, source, done);
    if (rc < 0) {
        ack_done(done, ACK_FAILED);
        ack_wait(done, 0);
        return rc;
    }
    switch (ack_wait(done, timeout_ms)) {
    case ACK_STORED:
        return 0;
    case ACK_BUSY:
        return -2;
    case ACK_FAILED:
        return -1;
    default:
        return 1;
    }
}

/* Gives run_slot its new policy and asks the estimator to store it and
 * re-derive the run's lambdas (waiting for room: policy changes are rare).
 * 0, or -1 when an estimator's job could not be made. */
int ig_apply_policy(ingest *g, uint32_t run_slot, const policy *pol, const char *source)
{
    run_entry *run = &g->reg->runs[run_slot];
    int rc = 0;

    run->pol = *pol;
    run->pol_source = source;
    run->restoring = 0; /* set now: what was stored before gives way */
    /* Every estimator gets the job: each re-derives the streams it owns
     * (the others have no latest block for them); the first one stores it. */
    for (size_t k = 0; k < g->nest; k++) {
        est_job *job = calloc(1, sizeof(*job));
        if (job == NULL) {
            rc = -1;
            continue;
        }
        job->slots = run->nstreams ? malloc(run->nstreams * sizeof(uint32_t)) : NULL;
        if (run->nstreams && job->slots == NULL) {
            free(job);
            rc = -1;
            continue;
        }
        if (job->slots != NULL)
            memcpy(job->slots, run->streams, run->nstreams * sizeof(uint32_t));
        job->nslots = run->nstreams;
        job->kind = EST_JOB_POLICY;
        job->record = k == 0;
        job->run_slot = run_slot;
        memcpy(job->run, run->name, run->name_len + 1);
        job->pol = *pol;
        job->source = source;
        bqueue_push(g->est_qs[k], job);
    }
    return rc;
}

void ig_drain_cmds(ingest *g)
{
    ingest_cmd *c;
    long slot;

    while ((c = bqueue_pop(g->cmds, 0)) != NULL) {
        if (c->all) {
            g->cfg.policy = c->pol;
            for (size_t i = 0; i < g->reg->nruns; i++) {
                run_entry *run = &g->reg->runs[i];
                if (!run->used || strcmp(run->pol_source, "http") == 0 ||
                    policy_equal(&run->pol, &c->pol))
                    continue;
                if (run->restoring) { /* it may turn out "http": stream_opened settles it */
                    run->pol = c->pol;
                    run->pol_source = c->source;
                    run->pol_moved = 1;
                } else {
                    ig_apply_policy(g, (uint32_t)i, &c->pol, c->source);
                }
            }
        } else {
            slot = streams_run(g->reg, c->run, c->run_len, &c->pol);
            if (slot < 0) {
                STAT_INC(drops[DROP_STREAM_LIMIT]);
                ack_done(c->done, ACK_BUSY); /* every run slot is held */
            } else if (ig_apply_policy(g, (uint32_t)slot, &c->pol, c->source) < 0) {
                ack_done(c->done, ACK_FAILED);
            } else if (c->done != NULL) { /* told once everything before it is stored */
                ig_barrier_ack(g, (uint32_t)slot, c->done);
            }
        }
        free(c);
    }
}
