/*
 * estimator_thread.c - the estimator thread (see estimator_thread.h).
 */
#include "estimator_thread.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "health.h"
#include "log.h"
#include "prio.h"
#include "stats.h"
#include "store.h"

/* What a policy change needs to re-derive a stream's lambda. */
typedef struct est_latest {
    int has;
    char group[WIRE_NAME_MAX + 1]; /* the writer resolves its id by it */
    est_result res;
    policy_state before; /* the EMA state before that block */
    uint64_t block;
    int64_t step;
} est_latest;

/* What this thread keeps of one stream slot's current life. */
typedef struct est_stream {
    policy_state ema;  /* the last reliable lambda */
    est_latest latest; /* the latest block, for policy changes */
    uint64_t base;     /* added to ingest's block numbers: the stored blocks before this life */
    uint32_t life;
    est_stored_policy stored; /* its run's, for blocks marked pol_pending */
} est_stream;

struct estimator {
    bqueue *in, *out;
    void *ctx;
    void *pipe;
    est_k_rule rule;
    size_t max_block;
    void *scratch;
    size_t scratch_len;
    double *top; /* the block's largest y values, top_cap of them */
    size_t top_cap;
    size_t slots;
    est_stream *st;    /* per stream slot */
    char *db_path;     /* NULL: no lookups */
    sqlite3 *ro;       /* read-only, this thread's: streams that come back */
    uint64_t delay_us; /* tests only: an estimator made slow on purpose */
    pthread_t thread;
    int started;
    log_limit lim;
};

void est_job_free(est_job *job)
{
    if (job == NULL)
        return;
    if (job->msg != NULL) {
        zmq_msg_close(job->msg);
        free(job->msg);
    } else {
        free(job->x);
    }
    free(job->slots);
    free(job);
}

int est_policy_restore(const est_stored_policy *sp, policy *pol, const char **source)
{
    if (!sp->has)
        return 0;
    if (sp->http) {
        *pol = sp->pol;
        *source = "http";
        return 1;
    }
    if (!policy_equal(&sp->pol, pol))
        *source = "flags";
    return 0;
}

est_stored_policy est_stored_policy_of(const store_state *st)
{
    est_stored_policy sp = {st->has_policy, st->has_policy && strcmp(st->source, "http") == 0,
                            st->pol};

    return sp;
}

size_t estimator_top_cap(const est_k_rule *rule, size_t max_block)
{
    size_t k_max = rule != NULL && rule->kind == EST_K_AUTO ? EST_KAUTO_KCAP
                                                            : est_k_from_rule(rule, max_block);

    if (k_max > max_block)
        k_max = max_block;
    return k_max + 1 > STORE_TOP_MIN ? k_max + 1 : STORE_TOP_MIN;
}

estimator *estimator_new(bqueue *in, bqueue *out, void *ctx, size_t max_block,
                         const est_k_rule *rule, size_t slots, const char *db)
{
    estimator *e = calloc(1, sizeof(*e));

    if (e == NULL)
        return NULL;
    e->in = in;
    e->out = out;
    e->ctx = ctx;
    e->rule = *rule;
    e->max_block = max_block;
    e->slots = slots;
    e->scratch_len = est_scratch_bytes(max_block);
    e->scratch = aligned_alloc(16, (e->scratch_len + 15) / 16 * 16);
    e->top_cap = estimator_top_cap(rule, max_block);
    e->top = malloc(e->top_cap * sizeof(double));
    e->st = calloc(slots, sizeof(est_stream));
    e->db_path = db != NULL ? strdup(db) : NULL;
    if (e->scratch == NULL || e->top == NULL || e->st == NULL || (db != NULL && e->db_path == NULL))
        goto out_free_all;
    return e;

out_free_all:
    free(e->scratch);
    free(e->top);
    free(e->st);
    free(e->db_path);
    free(e);
    return NULL;
}

void estimator_set_delay(estimator *e, uint64_t delay_us)
{
    e->delay_us = delay_us;
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Slot's new life `life` carries on from st (or from nothing: st NULL). */
static void restore_slot(estimator *e, uint32_t slot, uint32_t life, const store_state *st)
{
    est_stream *es = &e->st[slot];

    memset(es, 0, sizeof(*es));
    es->life = life;
    if (st == NULL)
        return;
    es->ema = (policy_state){st->has_ema, st->has_ema ? st->ema_lambda : 0};
    if (st->has_block) {
        es->latest = (est_latest){1,
                                  "",
                                  st->res,
                                  (policy_state){st->has_before, st->before_lambda},
                                  st->last_block,
                                  st->last_step};
        memcpy(es->latest.group, st->group, sizeof(st->group));
        es->base = st->last_block + 1;
    }
}

void estimator_preload(estimator *e, uint32_t stream_slot, uint32_t life, const store_state *st)
{
    if (stream_slot < e->slots)
        restore_slot(e, stream_slot, life, st);
}

/* Sends a stream's new lambda to the ingest thread (which pushes it). */
static void notify_ingest(estimator *e, uint32_t slot, const policy_out *out, const est_result *res,
                          uint64_t block, int64_t step)
{
    est_note note;

    memset(&note, 0, sizeof(note));
    note.kind = NOTE_LAMBDA;
    note.stream_slot = slot;
    note.life = e->st[slot].life;
    note.lam.lambda = out->lambda;
    note.lam.alpha = out->reason == POLICY_R_OK ? res->hill.alpha : NAN;
    note.lam.block = block;
    note.lam.step = step;
    note.lam.reason = out->reason;
    if (e->pipe == NULL || zmq_send(e->pipe, &note, sizeof(note), ZMQ_DONTWAIT) < 0)
        STAT_INC(drops[DROP_LAMBDA_PIPE]);
}

/* Estimates one block, hands the row to the writer and the lambda to ingest.
 * Returns -1 when the block could not be estimated (the caller reports it
 * lost), else 0. */
static int estimate_block(estimator *e, est_job *job)
{
    store_item *it = NULL;
    uint32_t slot = job->stream_slot;
    est_stream *es;
    est_result res;
    size_t top_n = 0;

    if (slot >= e->slots || job->n > e->max_block)
        return -1;
    es = &e->st[slot];
    if (es->life != job->life) /* its OPEN job was lost (no memory): it starts afresh */
        restore_slot(e, slot, job->life, NULL);
    if (job->pol_pending) /* closed before ingest knew the run's stored policy */
        est_policy_restore(&es->stored, &job->pol, &job->source);
    job->block += es->base;
    if (e->delay_us > 0) {
        struct timespec d = {(time_t)(e->delay_us / 1000000), (long)(e->delay_us % 1000000) * 1000};
        nanosleep(&d, NULL);
    }
    /* the top unsorted past the Hill estimate's values: the writer sorts
     * the few it stores */
    if (est_block_flags(job->x, job->n, EST_TOP_ANY_ORDER, &e->rule, e->scratch, e->scratch_len,
                        e->top, e->top_cap, &top_n, &res) != EST_OK) {
        if (log_limit_allow(&e->lim, LOG_ERROR))
            LOG(LOG_ERROR, "estimator: est_block refused a block of %zu values", job->n);
        return -1;
    }
    /* values sent in runs are correlated: widen alpha's interval (no-run
     * blocks skip this) */
    if (job->nseg > 0 && est_hill_runs(job->x, job->n, job->seg, job->nseg, &res) != EST_OK) {
        if (log_limit_allow(&e->lim, LOG_ERROR))
            LOG(LOG_ERROR, "estimator: est_hill_runs refused the runs of a block of %zu values",
                job->n);
        est_hill_one_cluster(&res);
    }
    it = malloc(offsetof(store_item, top) + top_n * sizeof(double));
    if (it == NULL)
        return -1;
    memset(it, 0, offsetof(store_item, top));
    it->res = res;
    it->top_n = top_n;
    it->top_any_order = 1;
    memcpy(it->top, e->top, top_n * sizeof(double));
    es->latest = (est_latest){1, "", it->res, es->ema, job->block, job->step_last};
    memcpy(es->latest.group, job->group, sizeof(job->group));
    policy_step(&job->pol, &it->res, &es->ema, &it->out);
    it->kind = STORE_BLOCK;
    it->run_slot = job->run_slot;
    it->stream_slot = slot;
    memcpy(it->run, job->run, sizeof(it->run));
    memcpy(it->group, job->group, sizeof(it->group));
    it->pol = job->pol;
    it->source = job->source;
    it->block = job->block;
    it->step_first = job->step_first;
    it->step_last = job->step_last;
    it->created_at = store_now();
    STAT_INC(blocks_estimated);
    if (it->out.reason != POLICY_R_OK)
        STAT_INC(blocks_fallback);
    if (!job->final)
        notify_ingest(e, slot, &it->out, &it->res, it->block, it->step_last);
    store_push(e->out, it);
    return 0;
}

/* A small item for the writer that names job's run (a lost block, a
 * barrier's part); NULL when out of memory. */
static store_item *run_item(const est_job *job, store_item_kind kind)
{
    store_item *it = calloc(1, sizeof(*it));

    if (it == NULL)
        return NULL;
    it->kind = kind;
    it->run_slot = job->run_slot;
    it->stream_slot = job->stream_slot;
    memcpy(it->run, job->run, sizeof(it->run));
    memcpy(it->group, job->group, sizeof(it->group));
    it->step_first = job->step_first;
    it->step_last = job->step_last;
    it->barrier = job->barrier;
    it->parts = job->parts;
    it->shed_count = job->shed_count;
    it->shed_unit = job->shed_unit;
    it->shed_reason = job->shed_reason;
    it->created_at = store_now();
    return it;
}

/* Estimates a block; one it cannot is reported to the writer as lost, so
 * that the run's barriers and counters say so. The time spent and the
 * values estimated feed the budget controller (flow.h). */
static void handle_block(estimator *e, est_job *job)
{
    uint64_t t0 = now_ns();
    store_item *lost;

    if (estimate_block(e, job) == 0) {
        STAT_ADD(est_busy_ns, now_ns() - t0);
        STAT_ADD(est_values, job->n);
        return;
    }
    STAT_INC(blocks_lost);
    lost = run_item(job, STORE_LOST);
    if (lost != NULL) { /* a row of table shed: the gap in the group's series */
        lost->shed_count = 1;
        lost->shed_unit = "blocks";
        lost->shed_reason = "estimator";
        store_push(e->out, lost);
    }
}

/* A barrier: everything this estimator took before it has gone to the
 * writer, so its part goes there too (waiting for room, like rows). */
static void handle_barrier(estimator *e, const est_job *job)
{
    store_item *it = run_item(job, STORE_BARRIER);

    while (it == NULL) { /* a barrier must arrive, or its client waits for good */
        struct timespec d = {0, 1000000};
        nanosleep(&d, NULL);
        it = run_item(job, STORE_BARRIER);
    }
    store_push(e->out, it);
}

/* A shed event from ingest goes on to the writer (waiting for room, like
 * rows); without memory it is lost, but its counters still tell. */
static void handle_shed(estimator *e, const est_job *job)
{
    store_item *it = run_item(job, STORE_SHED);

    if (it != NULL)
        store_push(e->out, it);
}

/* Hands a policy change to the writer, to be stored with its time. */
static void store_policy_change(estimator *e, const est_job *job)
{
    store_item *rec = calloc(1, sizeof(*rec));

    if (rec == NULL)
        return;
    rec->kind = STORE_POLICY;
    rec->run_slot = job->run_slot;
    memcpy(rec->run, job->run, sizeof(rec->run));
    rec->pol = job->pol;
    rec->source = job->source;
    rec->created_at = store_now();
    store_push(e->out, rec);
}

/* Hands the writer a lambda re-derived for stream slot from its latest
 * block l, so reads of the group show what was pushed. */
static void store_rederived(estimator *e, const est_job *job, uint32_t slot, const est_latest *l,
                            const policy_out *out)
{
    store_item *rec = calloc(1, sizeof(*rec));

    if (rec == NULL)
        return;
    rec->kind = STORE_LAMBDA;
    rec->run_slot = job->run_slot;
    rec->stream_slot = slot;
    memcpy(rec->run, job->run, sizeof(rec->run));
    memcpy(rec->group, l->group, sizeof(rec->group));
    rec->pol = job->pol;
    rec->block = l->block;
    rec->step_last = l->step;
    rec->out = *out;
    rec->created_at = store_now();
    bqueue_push(e->out, rec);
}

/* A run's policy changed: store the change (one estimator does), then
 * re-derive, store and push the lambda of each stream this estimator owns
 * from its latest block. */
static void handle_policy(estimator *e, est_job *job)
{
    policy_out out;
    policy_state st;

    if (job->record)
        store_policy_change(e, job);
    for (size_t i = 0; i < job->nslots; i++) {
        uint32_t slot = job->slots[i];
        const est_latest *l;

        if (slot >= e->slots || !e->st[slot].latest.has)
            continue;
        l = &e->st[slot].latest;
        st = l->before;
        policy_step(&job->pol, &l->res, &st, &out);
        e->st[slot].ema = st;
        store_rederived(e, job, slot, l, &out);
        notify_ingest(e, slot, &out, &l->res, l->block, l->step);
    }
}

/* The group's stored state, read on this thread's connection: 1 when
 * the group is stored, 0 when not (st may still hold its run's policy),
 * -1 when it cannot be read (logged; the stream starts afresh). */
static int look_up(estimator *e, const est_job *job, store_state *st)
{
    int rc;

    if (e->ro == NULL)
        rc = -1;
    else if ((rc = store_lookup(e->ro, job->run, job->group, st)) < 0 &&
             log_limit_allow(&e->lim, LOG_ERROR))
        LOG(LOG_ERROR, "estimator: looking up %s/%s: %s", job->run, job->group,
            sqlite3_errmsg(e->ro));
    return rc;
}

/* A stream slot starts a new life (a new group, or one back after its slot
 * was freed): it carries on from the group's stored state (estimator_thread.h),
 * and ingest is told what it needs of it. The writer notices the new name
 * by itself. */
static void handle_open(estimator *e, const est_job *job)
{
    uint32_t slot = job->stream_slot;
    store_state st;
    int found;
    est_note note;

    if (slot >= e->slots)
        return;
    found = look_up(e, job, &st);
    restore_slot(e, slot, job->life, found > 0 ? &st : NULL);
    memset(&note, 0, sizeof(note));
    note.kind = NOTE_OPENED;
    note.stream_slot = slot;
    note.life = job->life;
    if (found > 0 && st.has_block) {
        note.has_lambda = 1;
        note.lam = (wire_lambda){st.lambda, st.alpha, st.last_block, st.last_step, st.reason, 0};
    }
    if (found >= 0)
        e->st[slot].stored = est_stored_policy_of(&st);
    note.stored = e->st[slot].stored;
    if (e->pipe == NULL || zmq_send(e->pipe, &note, sizeof(note), ZMQ_DONTWAIT) < 0)
        STAT_INC(drops[DROP_LAMBDA_PIPE]);
}

void *estimator_pipe_open(void *ctx)
{
    int linger = 0, hwm = 100000;
    void *pipe = zmq_socket(ctx, ZMQ_PUSH);

    if (pipe == NULL)
        return NULL;
    zmq_setsockopt(pipe, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(pipe, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    if (zmq_connect(pipe, ESTIMATOR_PIPE) < 0) {
        zmq_close(pipe);
        return NULL;
    }
    return pipe;
}

static void *estimator_main(void *arg)
{
    estimator *e = arg;
    est_job *job;

    pthread_setname_np(pthread_self(), "htgad-est"); /* for top -H, perf */
    prio_enter_background("estimator");
    health_thread_enter("estimator");
    e->pipe = estimator_pipe_open(e->ctx);
    if (e->pipe == NULL)
        LOG(LOG_ERROR, "estimator: cannot connect %s: lambdas will not be pushed", ESTIMATOR_PIPE);
    if (e->db_path != NULL &&
        sqlite3_open_v2(e->db_path, &e->ro, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        LOG(LOG_ERROR, "estimator: cannot read %s: streams that come back start afresh",
            e->db_path);
        sqlite3_close(e->ro);
        e->ro = NULL;
    } else if (e->ro != NULL) {
        sqlite3_busy_timeout(e->ro, 100);
    }
    for (;;) {
        size_t bytes;

        health_idle();
        job = bqueue_pop(e->in, -1);
        health_busy();
        bytes = job->bytes;
        if (job->kind == EST_JOB_STOP) {
            est_job_free(job);
            break;
        }
        if (job->kind == EST_JOB_POLICY)
            handle_policy(e, job);
        else if (job->kind == EST_JOB_OPEN)
            handle_open(e, job);
        else if (job->kind == EST_JOB_BARRIER)
            handle_barrier(e, job);
        else if (job->kind == EST_JOB_SHED)
            handle_shed(e, job);
        else
            handle_block(e, job);
        est_job_free(job);
        if (bytes > 0) /* room for ingest to read again (after the free: a real bound) */
            atomic_fetch_sub_explicit(&g_stats.est_bytes, bytes, memory_order_relaxed);
    }
    if (e->pipe != NULL)
        zmq_close(e->pipe);
    e->pipe = NULL;
    sqlite3_close(e->ro);
    e->ro = NULL;
    health_thread_leave();
    return NULL;
}

int estimator_start(estimator *e)
{
    if (pthread_create(&e->thread, NULL, estimator_main, e) != 0)
        return -1;
    e->started = 1;
    return 0;
}

void estimator_join(estimator **ep)
{
    estimator *e;

    if (ep == NULL || *ep == NULL)
        return;
    e = *ep;
    if (e->started)
        pthread_join(e->thread, NULL);
    free(e->scratch);
    free(e->top);
    free(e->st);
    free(e->db_path);
    free(e);
    *ep = NULL;
}
