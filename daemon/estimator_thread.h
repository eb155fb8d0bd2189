/*
 * estimator_thread.h - the estimator thread: blocks in, rows and lambdas out.
 *
 * DESIGN: pure compute between two queues. It pops closed blocks (est_job)
 * from the bounded queue the ingest thread fills, runs est_block() on each
 * with scratch space (and a top buffer of estimator_top_cap() values)
 * allocated once for the largest block, applies the run's
 * lambda policy with the stream's EMA state (its last reliable lambda; kept
 * here, keyed by
 * stream slot), pushes a row to the writer queue (waiting when it is full:
 * backpressure, so rows are never dropped between here and SQLite) and sends
 * the lambda back to the ingest thread over an inproc PUSH socket that this
 * thread creates and alone uses (ingest owns the PULL end and the ROUTER).
 * With --estimators N there are N such threads, each with its own queue;
 * ingest sends all blocks of a stream to the same one (slot % N), so the
 * per-stream state (previous lambda, latest block) stays in one thread. A
 * POLICY job stores a run's new policy and re-derives the lambda of each of
 * its streams from the latest block (estimated in this process, or reloaded
 * from the database on start-up; as if that block had been computed under
 * the new policy), so trainers get the new
 * lambdas without waiting for a block. A SHED job (what ingest shed or
 * was told a client shed) goes on to the writer as it is, and a block this
 * thread cannot estimate goes there as STORE_LOST with its group and
 * steps: both become rows of table shed. A STOP job ends the thread after
 * everything before it was handled.
 *
 * A stream that comes back (its slot was freed while idle, or it is new):
 * the ingest thread never touches SQLite, so it cannot look up what the
 * stream carries on from. It sends an OPEN job, which names the stream
 * and nothing else, ahead of the stream's blocks, and goes on at once: it
 * numbers the blocks of each life of a slot from 0 and keeps taking
 * samples. This thread takes the OPEN before any of those blocks (one
 * queue per stream, in order), reads the group's stored state on a
 * read-only connection of its own, and from then on owns it: the EMA state
 * and latest block (so every lambda continues exactly as without the gap),
 * and the block-number base (the stored last block + 1, added to ingest's
 * numbers). It then tells ingest, over the pipe and ahead of any lambda of
 * those blocks, the stream's last stored lambda (what a HELLO is answered
 * with) and its run's stored policy (NOTE_OPENED). A block ingest
 * closed before that note came is marked pol_pending; this thread gives it
 * the restored policy (est_policy_restore, per block: a SIGHUP meanwhile
 * changed what ingest gave it, and the rule applies to that). The lookup is the estimator's rather
 * than the writer's because only the estimator sees the stream's OPEN before its first block
 * without waiting on anything: a writer's answer would queue behind a whole batch, and the block's
 * EMA cannot wait for it. A lookup that fails (no read connection) leaves base 0; the writer then
 * numbers the group's rows on past the stored ones (its safety net, store.h). Notes carry the
 * slot's life, so a late note of a freed slot's earlier life (the writer's barrier note may
 * overtake it: the PULL socket fair-queues its senders) is dropped.
 */
#ifndef HTGAD_ESTIMATOR_THREAD_H
#define HTGAD_ESTIMATOR_THREAD_H

#include <stddef.h>
#include <stdint.h>

#include "estimators/est.h"
#include "policy.h"
#include "queue.h"
#include "wire.h"

#define ESTIMATOR_PIPE "inproc://htgad-lambdas"

struct store_state;

typedef enum est_job_kind {
    EST_JOB_BLOCK = 1,
    EST_JOB_STOP = 2,
    EST_JOB_POLICY = 3,  /* a run's policy changed: store it, re-derive its lambdas */
    EST_JOB_OPEN = 4,    /* a stream slot starts a new life: look its stored state up */
    EST_JOB_BARRIER = 5, /* forwarded to the writer: everything before it is handed on */
    EST_JOB_SHED = 6,    /* a shed event (shed_*), forwarded to the writer as STORE_SHED */
} est_job_kind;

/* A closed block on its way to the estimator (malloc'd; x too, unless msg
 * holds it: then x points into the ZeroMQ message the block arrived in). */
typedef struct est_job {
    est_job_kind kind;
    uint32_t run_slot, stream_slot;
    char run[WIRE_NAME_MAX + 1];
    char group[WIRE_NAME_MAX + 1];
    uint64_t block;
    int64_t step_first, step_last;
    float *x;
    size_t n;
    void *msg; /* a zmq_msg_t (malloc'd) that holds x, or NULL: x is malloc'd */
    policy pol;
    const char *source;
    int final;       /* flushed at shutdown: stored, no lambda push (ingest is gone) */
    int pol_pending; /* EST_JOB_BLOCK: the run's stored policy was not known to ingest (pol is
                        what it used meanwhile): this thread restores it (est_policy_restore) */
    uint32_t life;   /* EST_JOB_OPEN, _BLOCK: the stream slot's life (streams.h) */
    int record;      /* EST_JOB_POLICY: this estimator stores the change (one of them does) */
    uint32_t *slots; /* EST_JOB_POLICY: the run's stream slots (malloc'd) */
    size_t nslots;
    est_seg *seg; /* EST_JOB_BLOCK: where runs are (est_hill_runs), in the job's own
                     allocation (not freed apart); nseg 0: no runs */
    size_t nseg;
    size_t bytes;        /* what the job holds against --queue-bytes (g_stats.est_bytes) */
    uint64_t barrier;    /* EST_JOB_BARRIER: its id */
    uint32_t parts;      /* EST_JOB_BARRIER: estimators it was sent to (the writer waits for all) */
    uint64_t shed_count; /* EST_JOB_SHED: as store_item's (group "" = the whole run) */
    const char *shed_unit, *shed_reason;
} est_job;

/* A run's latest stored policy, as a returning stream's lookup found it. */
typedef struct est_stored_policy {
    int has;  /* the run has a policy row */
    int http; /* set over HTTP */
    policy pol;
} est_stored_policy;

/* What comes back to the ingest thread over the pipe (one frame), from an
 * estimator (a lambda, a stream's restored state) or the writer (a barrier
 * passed). */
typedef enum est_note_kind {
    NOTE_LAMBDA = 0,
    NOTE_BARRIER = 1,
    NOTE_OPENED = 2,
} est_note_kind;

typedef struct est_note {
    uint32_t kind; /* est_note_kind */
    uint32_t stream_slot;
    uint32_t life;            /* NOTE_LAMBDA, _OPENED: the slot's life it is about */
    int has_lambda;           /* NOTE_OPENED: lam is the stream's last stored lambda */
    wire_lambda lam;          /* NOTE_LAMBDA, NOTE_OPENED */
    est_stored_policy stored; /* NOTE_OPENED: its run's latest stored policy */
    uint64_t barrier;         /* NOTE_BARRIER: the barrier's id */
    uint32_t run_slot;        /* NOTE_BARRIER: its run */
    uint64_t blocks_stored;   /* NOTE_BARRIER: the run's blocks committed so far */
    uint64_t blocks_lost;     /* NOTE_BARRIER: the run's blocks the estimator or writer lost */
    int committed;            /* NOTE_BARRIER: every part's batch was committed */
} est_note;

/*
 * The policy a run coming back carries on with, given what it would use
 * now (*pol, *source: static text): a policy set over HTTP survives
 * restarts and idle expiry (*pol and *source become it); one that came
 * from the flags follows the current flags (*source becomes "flags" when
 * they differ, so the writer stores a "flags" row). The one rule for the
 * start-up restore, a returning stream's blocks (here) and its run in
 * ingest. Returns 1 when the stored policy was taken (HTTP), else 0.
 */
int est_policy_restore(const est_stored_policy *sp, policy *pol, const char **source);

/* The stored policy of a looked-up or restored group's run. */
est_stored_policy est_stored_policy_of(const struct store_state *st);

/* A PUSH end of ESTIMATOR_PIPE in zmq context ctx, for the thread that
 * calls it (an estimator, the writer) and only that one; NULL on failure.
 * Ingest binds the PULL end. */
void *estimator_pipe_open(void *ctx);

/* Frees a job and its samples (closes its message); accepts NULL. */
void est_job_free(est_job *job);

typedef struct estimator estimator;

/* An estimator reading `in`, writing `out` (the writer queue) and notifying
 * over ESTIMATOR_PIPE in zmq context ctx. max_block: the largest n of a job;
 * slots: stream slots; db: the database it looks returning streams up in
 * (read-only, opened by the thread; NULL: none, every stream starts afresh).
 * NULL on out of memory. Not started. */
estimator *estimator_new(bqueue *in, bqueue *out, void *ctx, size_t max_block,
                         const est_k_rule *rule, size_t slots, const char *db);

/* How many order statistics a block's Hill plot keeps: STORE_TOP_MIN, or
 * k_max + 1 when larger, k_max the largest k the rule can choose for a block
 * of max_block values (EST_KAUTO_KCAP for the auto rule), so the dashboard
 * can always mark the chosen k on the plot. */
size_t estimator_top_cap(const est_k_rule *rule, size_t max_block);

/* Before start, for tests only: sleep this long before each block
 * (--test-estimate-delay-us), to make an overload on purpose. */
void estimator_set_delay(estimator *e, uint64_t delay_us);

/* Before start: a restored stream in its slot's life `life` (as an OPEN
 * job would find it): its EMA state, its latest block (its estimate, the
 * EMA state before it, its number and last step, so a policy change right
 * after a restart re-derives and pushes the stream's lambda at once) and
 * its block-number base. */
void estimator_preload(estimator *e, uint32_t stream_slot, uint32_t life,
                       const struct store_state *st);

/* Starts the thread; 0 or -1. */
int estimator_start(estimator *e);

/* Waits for the thread (push a STOP job first), frees e, NULLs *e. */
void estimator_join(estimator **e);

#endif /* HTGAD_ESTIMATOR_THREAD_H */
