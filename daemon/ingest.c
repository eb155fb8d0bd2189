/*
 * ingest.c - the ingest thread (see ingest.h for the design).
 */
#include "ingest.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "ack.h"
#include "admit.h"
#include "auth.h"
#include "estimator.h"
#include "flow.h"
#include "health.h"
#include "log.h"
#include "stats.h"
#include "store.h"
#include "streams.h"
#include "wire.h"

#define INGEST_POLL_MS      100
#define INGEST_FULL_POLL_MS 2 /* while pushing back: how soon to look at the queues again */
#define INGEST_BURST        32 /* messages read before looking at the pipe (a lambda waits for them) */
#define INGEST_PEER_SILENCE 10000 /* ms without a message before a peer is forgotten */
#define INGEST_MAX_FRAMES   3     /* payload frames kept for decoding (2 + 1 to see excess) */
/* Messages ZeroMQ queues per client connection while ingest pushes back:
 * with a 256 KiB sample, 4 MiB; the rest waits in the client's own queue. */
#define INGEST_PEER_HWM 16
#define INGEST_CMDS_MAX 64   /* policy commands waiting for the ingest thread */
#define INGEST_SHED_MS  1000 /* a run's shed events of one reason: one row a second at most */
/* Ingest stops reading at half of INGEST_EST_JOBS, which leaves room for
 * the blocks of one more message (a 1M-value message in blocks of at least
 * 64 values is 16385 blocks). */
/* The largest frame a client may send (a full SAMPLES body); a peer that
 * sends more is disconnected by ZeroMQ before anything is buffered. */
#define INGEST_MAX_FRAME ((int64_t)4 * WIRE_COUNT_MAX)
/* Under load ingest naps between wake-ups (nap_if_busy). */
#define INGEST_NAP_US  500
#define INGEST_BUSY_US 1000

/* A barrier on its way through the estimators and the writer: the
 * identity that asked (none: an idle stream's slot waits to be freed), what
 * to echo in the ACK, and how many estimator queues still have to take it. */
typedef struct barrier {
    uint64_t id;
    uint32_t run_slot;
    long free_slot; /* >= 0: the stream slot to free once it passes */
    uint8_t ident[STREAMS_ID_MAX];
    size_t ident_len;
    int64_t token;
    uint64_t seq;
    size_t pushed; /* estimator queues that took it */
} barrier;

struct ingest {
    void *ctx;
    bqueue **est_qs; /* one per estimator thread; a stream always uses slot % nest */
    size_t nest;
    bqueue *cmds; /* policy commands from other threads (ingest_set_policy) */
    htgad_config cfg;
    streams *reg;
    admit *adm;        /* what one peer may create (admit.h) */
    const auth *auth;  /* CURVE, or NULL (ingest_set_auth) */
    zmq_msg_t *cur_id; /* a frame of the message being handled (its metadata) */
    sqlite3 *ro;       /* read-only: stored state of streams that come back */
    int64_t idle_ms;
    void *router;
    void *pipe;
    uint64_t seq;
    int flushing;         /* 1 during the shutdown flush */
    uint64_t queue_bytes; /* the estimator queues' bound (--queue-bytes) */
    int pushing_back;     /* the queues are full: the ROUTER is not read */
    int64_t pushback_since_ms;
    flow_ctl flow;
    int64_t last_tick_ms;
    barrier *bars; /* barriers not yet passed */
    size_t nbars, bars_cap;
    uint64_t next_barrier;
    atomic_int stop;
    pthread_t thread;
    int started;
    /* start-up handshake */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int ready; /* 0 pending, 1 listening, -1 failed */
    char endpoint[CONFIG_STR_MAX];
    log_limit lim_decode, lim_drop;
};

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --peer-max-streams, or by default half the table but at least 64
 * streams (all of a smaller table): one peer never takes the whole of a
 * big table, and a small one still holds one trainer's groups. */
static size_t peer_share(const htgad_config *cfg)
{
    size_t max = cfg->max_streams, floor = max < 64 ? max : 64;

    if (cfg->peer_max_streams)
        return cfg->peer_max_streams;
    return max / 2 > floor ? max / 2 : floor;
}

ingest *ingest_new(void *ctx, bqueue *const *est_qs, size_t nest, const htgad_config *cfg)
{
    ingest *g = calloc(1, sizeof(*g));

    if (g == NULL)
        return NULL;
    g->reg = streams_new(cfg->max_streams, cfg->block_samples, cfg->window_steps);
    g->queue_bytes = cfg->queue_bytes;
    flow_init(&g->flow);
    g->adm = admit_new(cfg->max_streams, peer_share(cfg), cfg->peer_runs_per_s,
                       (double)cfg->peer_runs_burst);
    g->cmds = bqueue_new(INGEST_CMDS_MAX);
    g->est_qs = nest ? malloc(nest * sizeof(bqueue *)) : NULL;
    if (g->reg == NULL || g->adm == NULL || g->cmds == NULL || g->est_qs == NULL)
        goto out_free_ingest;
    memcpy(g->est_qs, est_qs, nest * sizeof(bqueue *));
    g->nest = nest;
    g->ctx = ctx;
    g->cfg = *cfg;
    g->idle_ms = (int64_t)cfg->stream_idle_s * 1000;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    return g;

out_free_ingest:
    streams_free(&g->reg);
    admit_free(&g->adm);
    bqueue_destroy(&g->cmds);
    free(g->est_qs);
    free(g);
    return NULL;
}

/* A policy set over HTTP survives restarts and idle expiry; one that came
 * from the flags follows the current flags ("flags" row if it changed). */
static void restore_policy(ingest *g, run_entry *run, const store_state *st)
{
    if (st->has_policy && strcmp(st->source, "http") == 0) {
        run->pol = st->pol;
        run->pol_source = "http";
    } else if (st->has_policy && !policy_equal(&st->pol, &g->cfg.policy)) {
        run->pol_source = "flags";
    }
}

/* A stream's stored state goes on in its slot: numbering, last lambda. */
static void restore_stream(stream_entry *se, const store_state *st)
{
    if (!st->has_block)
        return;
    se->next_block = st->last_block + 1;
    se->has_lambda = 1;
    se->last.lambda = st->lambda;
    se->last.alpha = st->alpha;
    se->last.block = st->last_block;
    se->last.step = st->last_step;
    se->last.reason = st->reason;
}

int ingest_preload(ingest *g, const store_state *st, uint32_t *run_slot, uint32_t *stream_slot,
                   policy *pol)
{
    long r = streams_run(g->reg, st->run, strlen(st->run), &g->cfg.policy);
    long s;
    run_entry *run;
    stream_entry *se;

    if (r < 0)
        return -1;
    s = streams_stream(g->reg, (uint32_t)r, st->group, strlen(st->group));
    if (s < 0)
        return -1;
    run = &g->reg->runs[r];
    restore_policy(g, run, st);
    se = &g->reg->streams[s];
    se->last_ms = now_ms();
    restore_stream(se, st);
    *run_slot = (uint32_t)r;
    *stream_slot = (uint32_t)s;
    *pol = run->pol;
    return 0;
}

/* Sends the latest lambda of stream se to one identity. Returns 0 when
 * sent, 1 when dropped (the peer's pipe is full), or -1 when the peer is
 * gone (EHOSTUNREACH: the caller forgets it). */
static int send_lambda(ingest *g, const run_entry *run, const uint8_t *id, size_t id_len,
                       const stream_entry *se)
{
    unsigned char hdr[WIRE_HEADER_MAX];
    unsigned char body[WIRE_LAMBDA_LEN];
    wire_msg m;
    size_t hlen;

    memset(&m, 0, sizeof(m));
    m.kind = WIRE_LAMBDA;
    m.step = se->last.step;
    m.seq = g->seq++;
    m.count = 1;
    m.run = run->name;
    m.run_len = run->name_len;
    m.group = se->group;
    m.group_len = se->group_len;
    hlen = wire_encode_header(&m, hdr, sizeof(hdr));
    if (hlen == 0)
        return 0;
    wire_encode_lambda(&se->last, body);
    if (zmq_send(g->router, id, id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        if (errno == EHOSTUNREACH)
            return -1;
        STAT_INC(drops[DROP_LAMBDA_SEND]);
        return 1;
    }
    zmq_send(g->router, hdr, hlen, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(g->router, body, sizeof(body), ZMQ_DONTWAIT);
    STAT_INC(lambdas_sent);
    return 0;
}

/* Pushes stream slot's lambda to every peer of its run. */
static void push_lambda(ingest *g, uint32_t slot)
{
    stream_entry *se = &g->reg->streams[slot];
    run_entry *run = &g->reg->runs[se->run_slot];

    /* From the end: a gone peer is replaced by the last one. */
    for (size_t i = run->npeers; i-- > 0;) {
        int rc = send_lambda(g, run, run->peers[i].id, run->peers[i].id_len, se);
        if (rc < 0)
            streams_peer_remove(g->reg, se->run_slot, i);
        else if (rc > 0)
            run->peers[i].missed = 1; /* its next HELLO gets everything */
    }
}

/* Answers a HELLO with every current lambda of the run, to that identity,
 * when it may lack one: the first HELLO of an identity (a new client, a
 * reconnect, a daemon restart), or one after a push to it was dropped.
 * Otherwise the pushes have carried every change already and the HELLO is
 * only a sign of life: answering each one in full would cost groups x
 * clients messages per second on a big run. */
static void answer_hello(ingest *g, uint32_t run_slot, const uint8_t *id, size_t id_len)
{
    run_entry *run = &g->reg->runs[run_slot];
    peer *p = streams_peer_find(g->reg, run_slot, id, id_len);
    int missed = 0;

    if (p != NULL && p->answered && !p->missed)
        return;
    for (size_t i = 0; i < run->nstreams; i++) {
        const stream_entry *se = &g->reg->streams[run->streams[i]];
        int rc = se->has_lambda ? send_lambda(g, run, id, id_len, se) : 0;
        if (rc < 0)
            return;
        missed |= rc > 0;
    }
    if (p != NULL) {
        p->answered = 1;
        p->missed = (uint8_t)missed;
    }
}

static void barrier_passed(ingest *g, const est_note *note);

/* Reads every note the estimators and the writer left in the pipe. */
static void drain_pipe(ingest *g)
{
    est_note note;
    int n;

    while ((n = zmq_recv(g->pipe, &note, sizeof(note), ZMQ_DONTWAIT)) >= 0) {
        if ((size_t)n != sizeof(note))
            continue;
        if (note.kind == NOTE_BARRIER) {
            barrier_passed(g, &note);
            continue;
        }
        if (note.stream_slot >= g->reg->nstreams || !g->reg->streams[note.stream_slot].used)
            continue;
        g->reg->streams[note.stream_slot].last = note.lam;
        g->reg->streams[note.stream_slot].has_lambda = 1;
        push_lambda(g, note.stream_slot);
    }
}

/* A policy change for one run, or (all) for the default and every run
 * whose policy did not come from HTTP. */
typedef struct ingest_cmd {
    int all;
    char run[WIRE_NAME_MAX + 1];
    size_t run_len;
    policy pol;
    const char *source;
    ack *done; /* ends (one part per estimator) once the change is stored, or NULL */
} ingest_cmd;

/* Queues the command; done (may be NULL) goes with it. 0 or -1. */
static int queue_policy(ingest *g, const char *run, size_t run_len, const policy *pol,
                        const char *source, ack *done)
{
    ingest_cmd *c;

    if (policy_validate(pol, POLICY_NAMES_FLAGS, NULL) < 0 || run_len > WIRE_NAME_MAX ||
        (run != NULL && run_len == 0))
        return -1;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -1;
    c->done = done;
    c->all = run == NULL;
    if (run != NULL)
        memcpy(c->run, run, run_len);
    c->run_len = run_len;
    c->pol = *pol;
    c->source = source;
    if (bqueue_try_push(g->cmds, c) < 0) {
        free(c);
        return -1;
    }
    return 0;
}

int ingest_set_policy(ingest *g, const char *run, size_t run_len, const policy *pol,
                      const char *source)
{
    return queue_policy(g, run, run_len, pol, source, NULL);
}

int ingest_set_policy_stored(ingest *g, const char *run, size_t run_len, const policy *pol,
                             const char *source, int timeout_ms)
{
    ack *done = run != NULL ? ack_new((int)g->nest) : NULL;

    if (done == NULL)
        return -1;
    if (queue_policy(g, run, run_len, pol, source, done) < 0) {
        for (size_t k = 0; k < g->nest; k++)
            ack_done(done, 0);
        ack_wait(done, 0);
        return -1;
    }
    switch (ack_wait(done, timeout_ms)) {
    case 1:
        return 0;
    case 0:
        return -1;
    default:
        return 1;
    }
}

/* Gives run_slot its new policy and asks the estimator to store it and
 * re-derive the run's lambdas (waiting for room: policy changes are rare).
 * done (or NULL) gets one part ended per estimator: by it once stored, here
 * when its job could not be made. */
static void apply_policy(ingest *g, uint32_t run_slot, const policy *pol, const char *source,
                         ack *done)
{
    run_entry *run = &g->reg->runs[run_slot];

    run->pol = *pol;
    run->pol_source = source;
    /* Every estimator gets the job: each re-derives the streams it owns
     * (the others have no latest block for them); the first one stores it. */
    for (size_t k = 0; k < g->nest; k++) {
        est_job *job = calloc(1, sizeof(*job));
        if (job == NULL) {
            ack_done(done, 0);
            continue;
        }
        job->slots = run->nstreams ? malloc(run->nstreams * sizeof(uint32_t)) : NULL;
        if (run->nstreams && job->slots == NULL) {
            free(job);
            ack_done(done, 0);
            continue;
        }
        job->ack = done;
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
}

static void drain_cmds(ingest *g)
{
    ingest_cmd *c;
    long slot;

    while ((c = bqueue_pop(g->cmds, 0)) != NULL) {
        if (c->all) {
            g->cfg.policy = c->pol;
            for (size_t i = 0; i < g->reg->nruns; i++) {
                if (g->reg->runs[i].used && strcmp(g->reg->runs[i].pol_source, "http") != 0 &&
                    !policy_equal(&g->reg->runs[i].pol, &c->pol))
                    apply_policy(g, (uint32_t)i, &c->pol, c->source, NULL);
            }
        } else {
            slot = streams_run(g->reg, c->run, c->run_len, &c->pol);
            if (slot >= 0) {
                apply_policy(g, (uint32_t)slot, &c->pol, c->source, c->done);
            } else {
                STAT_INC(drops[DROP_STREAM_LIMIT]);
                for (size_t k = 0; k < g->nest; k++)
                    ack_done(c->done, 0);
            }
        }
        free(c);
    }
}

typedef struct emit_ctx {
    ingest *g;
    uint32_t slot;
    int final; /* an idle stream's last block: stored, no lambda push */
} emit_ctx;

/* Hands a job to estimator k, counting its bytes against --queue-bytes
 * first (the estimator takes them off once done). Never drops: ingest
 * stops reading before the queues are full (queues_full), and the rare push
 * that finds no room (a message that closes many small blocks) waits. */
static void push_job(ingest *g, size_t k, est_job *job)
{
    uint64_t bytes =
        atomic_fetch_add_explicit(&g_stats.est_bytes, job->bytes, memory_order_relaxed) +
        job->bytes;

    if (bytes > STAT_GET(est_bytes_max))
        STAT_SET(est_bytes_max, bytes);
    if (bqueue_try_push(g->est_qs[k], job) < 0)
        bqueue_push(g->est_qs[k], job);
}

/* Whether the estimator queues are too full to take another message. */
static int queues_full(const ingest *g)
{
    if (STAT_GET(est_bytes) >= g->queue_bytes)
        return 1;
    for (size_t k = 0; k < g->nest; k++)
        if (bqueue_depth(g->est_qs[k]) >= INGEST_EST_JOBS / 2)
            return 1;
    return 0;
}

/* A closed block of stream c->slot becomes an estimator job; msg (or NULL)
 * is the ZeroMQ message that holds x. Returns 0 when the estimator queue
 * took it (and with it x, or msg), -1 when no job could be allocated (the
 * block is lost, counted; x and msg stay the caller's). */
static int push_block(emit_ctx *c, const accum_block *blk, void *msg)
{
    ingest *g = c->g;
    stream_entry *se = &g->reg->streams[c->slot];
    run_entry *run = &g->reg->runs[se->run_slot];
    /* the block's run segments travel in the same allocation */
    est_job *job = calloc(1, sizeof(*job) + blk->nseg * sizeof(est_seg));

    if (job == NULL) {
        STAT_ADD(drops[DROP_NOMEM], blk->n);
        STAT_INC(blocks_lost);
        run->lost++;
        return -1;
    }
    if (blk->nseg > 0) {
        job->seg = (est_seg *)(void *)(job + 1);
        memcpy(job->seg, blk->seg, blk->nseg * sizeof(est_seg));
        job->nseg = blk->nseg;
    }
    job->kind = EST_JOB_BLOCK;
    job->run_slot = se->run_slot;
    job->stream_slot = c->slot;
    memcpy(job->run, run->name, run->name_len + 1);
    memcpy(job->group, se->group, se->group_len + 1);
    job->block = se->next_block;
    job->step_first = blk->step_first;
    job->step_last = blk->step_last;
    job->x = blk->x;
    job->n = blk->n;
    job->msg = msg;
    job->pol = run->pol;
    job->source = run->pol_source;
    job->final = g->flushing || c->final;
    job->bytes = msg != NULL ? zmq_msg_size(msg) : blk->n * sizeof(float);
    push_job(g, c->slot % g->nest, job);
    se->next_block++;
    STAT_INC(blocks_closed);
    return 0;
}

/* accum's emit callback: a closed block becomes an estimator job. */
static int emit_block(accum_block *blk, void *arg)
{
    return push_block(arg, blk, NULL);
}

/* The zero-copy fast path: when a SAMPLES body holds a whole block (but
 * less than two) and the stream has no partial block, the first block goes
 * to the estimator in the message it arrived in (a reference to it: ZeroMQ
 * counts them, the estimator closes its own), instead of being copied into
 * the accumulator. The reference keeps the whole body alive while the
 * block waits in the estimator's queue, so a larger body is copied: a
 * queued block never holds more than twice its own bytes (the bound in
 * docs/daemon.md). Only where the payload can be read in place: a
 * little-endian host and float-aligned data (a large frame is its own
 * allocation, aligned; small ones may sit at any offset of ZeroMQ's receive
 * buffer). Returns the values it took: 0 or the block size. */
static size_t take_whole_block(emit_ctx *c, const wire_msg *m, zmq_msg_t *body)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    accum *a = &c->g->reg->streams[c->slot].acc;
    est_seg runs = {0, m->cluster, 0}; /* the message's runs start at body offset 0 */
    accum_block blk = {
        (float *)(uintptr_t)m->body, a->cap, m->step, m->step, &runs, m->cluster > 1};
    zmq_msg_t *ref;

    if (body == NULL || a->n != 0 || m->count < a->cap || m->count / 2 >= a->cap ||
        (uintptr_t)m->body % _Alignof(float) != 0)
        return 0;
    ref = malloc(sizeof(*ref));
    if (ref == NULL || zmq_msg_init(ref) != 0 || zmq_msg_copy(ref, body) != 0 ||
        zmq_msg_data(ref) != zmq_msg_data(body)) { /* not shared: copy the usual way */
        if (ref != NULL)
            zmq_msg_close(ref);
        free(ref);
        return 0;
    }
    if (push_block(c, &blk, ref) < 0) {
        zmq_msg_close(ref);
        free(ref);
    } else {
        STAT_INC(blocks_zero_copy);
    }
    return a->cap; /* taken, or lost as a whole block: counted either way */
#else
    (void)c;
    (void)m;
    (void)body;
    return 0;
#endif
}

static void count_decode_error(ingest *g, const wire_error *err)
{
    if (err->code > 0 && err->code < WIRE_E__COUNT)
        STAT_INC(decode_errors[err->code]);
    if (log_limit_allow(&g->lim_decode, LOG_WARN))
        LOG(LOG_WARN, "ingest: bad message: %s (%s at offset %zu)", wire_err_name(err->code),
            err->text ? err->text : "", err->offset);
}

/* A stream created while running (new, or back after its slot was freed):
 * it carries on from its stored state (block numbers, last lambda), and its
 * estimator gets that state (EMA, latest block) before any of its blocks. */
static void open_stream(ingest *g, uint32_t slot)
{
    stream_entry *se = &g->reg->streams[slot];
    const run_entry *run = &g->reg->runs[se->run_slot];
    est_job *job = calloc(1, sizeof(*job));
    store_state *st = calloc(1, sizeof(*st));

    if (job == NULL || st == NULL) {
        free(job);
        free(st);
        return;
    }
    if (g->ro != NULL && store_lookup(g->ro, run->name, se->group, st) < 0) {
        LOG(LOG_ERROR, "ingest: looking up %s/%s: %s", run->name, se->group, sqlite3_errmsg(g->ro));
        memset(st, 0, sizeof(*st));
    }
    restore_stream(se, st);
    if (se->has_lambda) { /* a lambda no push carried: the next HELLOs bring it */
        run_entry *r = &g->reg->runs[se->run_slot];
        for (size_t i = 0; i < r->npeers; i++)
            r->peers[i].missed = 1;
    }
    job->kind = EST_JOB_OPEN;
    job->run_slot = se->run_slot;
    job->stream_slot = slot;
    job->state = st;
    bqueue_push(g->est_qs[slot % g->nest], job); /* rare: waiting is fine */
}

/* Who sent the message being handled (admit.h): its CURVE key, else its
 * IP address, else its routing identity. */
static uint64_t peer_key(ingest *g, const uint8_t *id, size_t id_len)
{
    const char *who = g->cur_id ? zmq_msg_gets(g->cur_id, "User-Id") : NULL;

    if (who == NULL || *who == '\0')
        who = g->cur_id ? zmq_msg_gets(g->cur_id, "Peer-Address") : NULL;
    if (who != NULL && *who != '\0')
        return admit_key(who, strlen(who));
    return admit_key(id, id_len);
}

/* A new run or stream of m was refused: counted, logged (rate-limited), and
 * the sender told why with a LAMBDA notice (reason WIRE_REFUSED_*, lambda 1)
 * for a SAMPLES message; dropped like a push when its pipe is full. */
static void refuse(ingest *g, const uint8_t *id, size_t id_len, const wire_msg *m,
                   admit_verdict why)
{
    static const uint32_t reason[] = {[ADMIT_OK] = WIRE_REFUSED_FULL,
                                      [ADMIT_PEER_STREAMS] = WIRE_REFUSED_PEER_STREAMS,
                                      [ADMIT_PEER_RUNS] = WIRE_REFUSED_PEER_RUNS,
                                      [ADMIT_PEERS_FULL] = WIRE_REFUSED_FULL,
                                      [ADMIT_FULL] = WIRE_REFUSED_FULL};
    unsigned char hdr[WIRE_HEADER_MAX];
    unsigned char body[WIRE_LAMBDA_LEN];
    wire_lambda lam = {1.0, NAN, 0, m->step, reason[why], 0};
    wire_msg n = {.kind = WIRE_LAMBDA,
                  .step = m->step,
                  .seq = g->seq++,
                  .count = 1,
                  .run = m->run,
                  .run_len = m->run_len,
                  .group = m->group,
                  .group_len = m->group_len};
    size_t hlen;

    STAT_ADD(drops[why == ADMIT_PEER_STREAMS ? DROP_PEER_STREAMS
                   : why == ADMIT_PEER_RUNS  ? DROP_PEER_RUNS
                                             : DROP_STREAM_LIMIT],
             m->count);
    if (log_limit_allow(&g->lim_drop, LOG_WARN))
        LOG(LOG_WARN, "ingest: new %s %.*s/%.*s refused: %s", m->group_len ? "stream" : "run",
            (int)m->run_len, m->run, (int)m->group_len, m->group ? m->group : "",
            why == ADMIT_PEER_STREAMS ? "its peer holds --peer-max-streams streams"
            : why == ADMIT_PEER_RUNS  ? "its peer opens runs faster than --peer-runs-per-s"
                                      : "--max-streams reached");
    if (m->kind != WIRE_SAMPLES || (hlen = wire_encode_header(&n, hdr, sizeof(hdr))) == 0)
        return;
    wire_encode_lambda(&lam, body);
    if (zmq_send(g->router, id, id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return;
    zmq_send(g->router, hdr, hlen, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(g->router, body, sizeof(body), ZMQ_DONTWAIT);
}

/* ---------- shed events (schema/008_shed.sql) ---------- */

/* Adds count things shed between steps lo and hi to a. */
static void shed_note(shed_acc *a, uint64_t count, int64_t lo, int64_t hi, int64_t now)
{
    if (count == 0)
        return;
    if (lo > hi) {
        int64_t t = lo;
        lo = hi;
        hi = t;
    }
    if (a->count == 0) {
        a->first = lo;
        a->last = hi;
        a->since_ms = now;
    }
    a->first = lo < a->first ? lo : a->first;
    a->last = hi > a->last ? hi : a->last;
    a->count += count;
}

/* Widens an event being gathered to step (a later message of its run). */
static void shed_extend(shed_acc *a, int64_t step)
{
    if (a->count > 0 && step > a->last)
        a->last = step;
}

/* Hands a, gathered for INGEST_SHED_MS (or at once with force), to the
 * writer as one shed event of run_slot, through the run's estimator queue
 * (ingest never touches SQLite). A full queue keeps it for a later turn,
 * except while flushing at shutdown, when the push waits. */
static void shed_flush(ingest *g, uint32_t run_slot, shed_acc *a, const char *unit,
                       const char *reason, int64_t now, int force)
{
    const run_entry *run = &g->reg->runs[run_slot];
    bqueue *q = g->est_qs[run_slot % g->nest];
    est_job *job;

    if (a->count == 0 || (!force && now - a->since_ms < INGEST_SHED_MS))
        return;
    job = calloc(1, sizeof(*job));
    if (job == NULL)
        return;
    job->kind = EST_JOB_SHED;
    job->run_slot = run_slot;
    memcpy(job->run, run->name, run->name_len + 1);
    job->step_first = a->first;
    job->step_last = a->last;
    job->shed_count = a->count;
    job->shed_unit = unit;
    job->shed_reason = reason;
    if (g->flushing)
        bqueue_push(q, job);
    else if (bqueue_try_push(q, job) < 0) {
        free(job);
        return;
    }
    memset(a, 0, sizeof(*a));
}

static void shed_flush_run(ingest *g, uint32_t run_slot, int64_t now, int force)
{
    run_entry *run = &g->reg->runs[run_slot];

    shed_flush(g, run_slot, &run->client_shed, "messages", "client_queue", now, force);
    shed_flush(g, run_slot, &run->refused_shed, "values", "refused", now, force);
    shed_flush(g, run_slot, &run->conn_shed, "messages", "connection", now, force);
}

/* Whether trace q is of the same client as m, the first message of a new
 * connection: the same rank, and m's seq past q's next by at least the
 * drops in between (seq goes on across reconnects, and a message the
 * client dropped takes one too; the rest were lost with the old
 * connection). */
static int continues(const drop_trace *q, const wire_msg *m)
{
    return q->known && !q->succeeded && q->rank == m->rank && m->dropped >= q->dropped &&
           m->seq >= q->next_seq && m->seq - q->next_seq >= m->dropped - q->dropped;
}

/* The drop trace of the same client's earlier connection in run_slot (a
 * peer still held, else the latest one gone), which m, the first message
 * of the connection of p, carries on from; NULL when there is none. */
static drop_trace *earlier_connection(ingest *g, uint32_t run_slot, const peer *p,
                                      const wire_msg *m)
{
    run_entry *run = &g->reg->runs[run_slot];

    for (size_t i = 0; i < run->npeers; i++)
        if (&run->peers[i] != p && continues(&run->peers[i].tr, m))
            return &run->peers[i].tr;
    for (size_t i = 1; i <= STREAMS_GONE_TRACES && i <= run->gone_next; i++) {
        drop_trace *q = &run->gone[(run->gone_next - i) % STREAMS_GONE_TRACES];
        if (continues(q, m))
            return q;
    }
    return NULL;
}

/* What a client's header says it dropped since its last report becomes a
 * shed event of its run (the wire says how many, not which groups). Its
 * steps start at the client's previous SAMPLES (what it shed left its queue
 * after that one) and grow with every later SAMPLES of the run until the
 * event is handed on: a client sheds the oldest message of its fullest
 * group, or the one it is offered, which may be newer than the message
 * that reports it. Drops reported in a HELLO or a BARRIER start at the
 * client's previous SAMPLES (or, before its first one, wait for it). A
 * connection's first report carries on from the same client's earlier
 * connection (earlier_connection), and what was sent on that one but never
 * arrived is a "connection" event; without one it is the baseline: those
 * drops came before it (htgad away, a connection long gone) at steps
 * nothing places, so they are in client_drops but leave no row. */
static void note_client_drops(ingest *g, uint32_t run_slot, peer *p, const wire_msg *m)
{
    run_entry *run = &g->reg->runs[run_slot];
    drop_trace *t = &p->tr, *q = t->known ? NULL : earlier_connection(g, run_slot, p, m);
    uint64_t d = t->known && m->dropped > t->dropped ? m->dropped - t->dropped : 0;
    int64_t lo, hi;

    if (q != NULL) {
        d = m->dropped - q->dropped;
        p->dropped_base = q->dropped; /* counted with the earlier connection */
        *t = *q;
        t->unplaced_lost += (m->seq - q->next_seq) - d;
        q->succeeded = 1;
    }
    t->known = 1;
    t->succeeded = 0;
    if (m->kind != WIRE_BARRIER) /* the rank its SAMPLES and HELLOs say */
        t->rank = m->rank;
    t->dropped = m->dropped;
    t->next_seq = m->kind == WIRE_SAMPLES ? m->seq + 1 : m->seq;
    t->unplaced += d;
    if (m->kind != WIRE_SAMPLES && !t->has_step)
        return;
    lo = t->has_step ? t->last_step : m->step;
    hi = m->kind == WIRE_SAMPLES ? m->step : lo;
    shed_note(&run->client_shed, t->unplaced, lo, hi, now_ms());
    shed_note(&run->conn_shed, t->unplaced_lost, lo, hi, now_ms());
    t->unplaced = t->unplaced_lost = 0;
    if (m->kind != WIRE_SAMPLES)
        return;
    shed_extend(&run->client_shed, m->step); /* later messages bound the steps of what */
    shed_extend(&run->conn_shed, m->step);   /* was shed, or lost, before them */
    t->last_step = m->step;
    t->has_step = 1;
}

/* The stream of m in run_slot, created when the sender may (-1: refused). */
static long admit_stream_of(ingest *g, uint32_t run_slot, const uint8_t *id, size_t id_len,
                            const wire_msg *m)
{
    long slot = streams_stream_find(g->reg, run_slot, m->group, m->group_len);
    uint64_t key;
    admit_verdict v;

    if (slot >= 0)
        return slot;
    key = peer_key(g, id, id_len);
    v = g->reg->live_streams >= g->reg->max ? ADMIT_FULL : admit_stream(g->adm, key, now_ms());
    if (v == ADMIT_OK && (slot = streams_stream(g->reg, run_slot, m->group, m->group_len)) >= 0) {
        admit_opened(g->adm, key, (uint32_t)slot);
        open_stream(g, (uint32_t)slot);
        return slot;
    }
    refuse(g, id, id_len, m, v);
    return -1;
}

/* body: the ZeroMQ frame m->body lies in (for the zero-copy path), or NULL;
 * p: the sending peer (NULL when the run has too many). */
static void handle_samples(ingest *g, uint32_t run_slot, peer *p, const uint8_t *id, size_t id_len,
                           const wire_msg *m, zmq_msg_t *body)
{
    size_t before = g->reg->live_streams;
    long slot = admit_stream_of(g, run_slot, id, id_len, m);
    run_entry *run = &g->reg->runs[run_slot];
    emit_ctx c = {g, 0, 0};
    size_t taken;
    long added;

    if (p != NULL) {
        p->msgs++;
        p->values += m->count;
    }
    if (slot < 0) { /* refused, counted and told (refuse) */
        run->refused += m->count;
        shed_note(&run->refused_shed, m->count, m->step, m->step, now_ms());
        if (p != NULL)
            p->refused += m->count;
        return;
    }
    if (g->reg->live_streams != before) {
        STAT_SET(streams, g->reg->live_streams);
        LOG(LOG_INFO, "new stream %s/%s (%zu of %llu)", run->name, g->reg->streams[slot].group,
            g->reg->live_streams, (unsigned long long)g->cfg.max_streams);
    }
    c.slot = (uint32_t)slot;
    g->reg->streams[slot].last_ms = now_ms();
    g->reg->streams[slot].expiring = 0;
    STAT_INC(msgs_samples);
    STAT_ADD(samples, m->count);
    taken = take_whole_block(&c, m, body);
    if (taken >= m->count)
        return;
    added = accum_add_runs(&g->reg->streams[slot].acc, m->step,
                           (const unsigned char *)m->body + 4 * taken, m->count - taken, m->cluster,
                           taken, emit_block, &c);
    if (added < 0) {
        STAT_ADD(drops[DROP_NOMEM], m->count - taken);
        run->refused += m->count - taken;
        shed_note(&run->refused_shed, m->count - taken, m->step, m->step, now_ms());
        if (p != NULL)
            p->refused += m->count - taken;
    }
}

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
static void update_budget(ingest *g, uint32_t run_slot)
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
static void publish_flow(ingest *g)
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
        f->budget_values = run->bud_values;
        f->budget_every = run->bud_every;
        f->client_drops = run->drops_gone;
        for (size_t k = 0; k < run->npeers; k++)
            f->client_drops += run->peers[k].dropped - run->peers[k].dropped_base;
        f->values_refused = run->refused;
        f->blocks_lost = run->lost;
        f->idle_s = 1e9; /* no samples yet */
        for (size_t k = 0; k < run->nstreams; k++) {
            double idle = (double)(now - g->reg->streams[run->streams[k]].last_ms) / 1000;
            if (idle < f->idle_s)
                f->idle_s = idle;
        }
        client_drops += f->client_drops;
        n++;
    }
    flow_publish(v, n);
    free(v);
    STAT_SET(client_drops, client_drops);
}

/* Every FLOW_TICK_MS: the controller's new factor, the runs' budgets. */
static void flow_control(ingest *g, int64_t now)
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
        update_budget(g, (uint32_t)i);
        shed_flush_run(g, (uint32_t)i, now, 0);
    }
    publish_flow(g);
}

/* Starts or ends a push-back: while the estimator queues are full the
 * ROUTER is not read (the clients' queues take the excess). */
static void note_pushback(ingest *g, int full, int64_t now)
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

/* ---------- barriers ---------- */

/* Hands barrier b to the estimator queues that have not taken it yet
 * (without waiting: one that is full takes it on a later turn). Returns 1
 * when every queue has it. */
static int barrier_push(ingest *g, barrier *b)
{
    while (b->pushed < g->nest) {
        est_job *job = calloc(1, sizeof(*job));
        if (job == NULL)
            return 0;
        job->kind = EST_JOB_BARRIER;
        job->run_slot = b->run_slot;
        job->stream_slot = b->free_slot >= 0 ? (uint32_t)b->free_slot : 0;
        memcpy(job->run, g->reg->runs[b->run_slot].name, g->reg->runs[b->run_slot].name_len + 1);
        job->barrier = b->id;
        job->parts = (uint32_t)g->nest;
        if (bqueue_try_push(g->est_qs[b->pushed], job) < 0) {
            free(job);
            return 0;
        }
        b->pushed++;
    }
    return 1;
}

/* Starts a barrier of run_slot: from identity id (an ACK is owed), or
 * for stream slot free_slot (freed once it passes). 0 or -1 (no memory). */
static int barrier_start(ingest *g, uint32_t run_slot, const uint8_t *id, size_t id_len,
                         const wire_msg *m, long free_slot)
{
    barrier *b;

    if (g->nbars == g->bars_cap) {
        size_t cap = g->bars_cap ? 2 * g->bars_cap : 16;
        barrier *v = realloc(g->bars, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        g->bars = v;
        g->bars_cap = cap;
    }
    b = &g->bars[g->nbars++];
    memset(b, 0, sizeof(*b));
    b->id = ++g->next_barrier;
    b->run_slot = run_slot;
    b->free_slot = free_slot;
    if (id != NULL) {
        memcpy(b->ident, id, id_len);
        b->ident_len = id_len;
        b->token = m->step;
        b->seq = m->seq;
    }
    barrier_push(g, b);
    return 0;
}

/* Answers the identity of barrier b with what became of its samples. */
static void send_ack(ingest *g, const barrier *b, const est_note *note, uint32_t status)
{
    const run_entry *run = &g->reg->runs[b->run_slot];
    peer *p = streams_peer_find(g->reg, b->run_slot, b->ident, b->ident_len);
    unsigned char hdr[WIRE_HEADER_MAX], body[WIRE_ACK_LEN];
    wire_msg m = {.kind = WIRE_ACK,
                  .count = 1,
                  .step = b->token,
                  .seq = b->seq,
                  .run = run->name,
                  .run_len = run->name_len};
    wire_ack ack = {.status = status};
    size_t hlen = wire_encode_header(&m, hdr, sizeof(hdr));

    if (p != NULL) {
        ack.msgs = p->msgs;
        ack.values = p->values;
        ack.values_refused = p->refused;
    }
    if (note != NULL) {
        ack.blocks_stored = note->blocks_stored;
        ack.blocks_lost = note->blocks_lost + run->lost;
    }
    wire_encode_ack(&ack, body);
    if (zmq_send(g->router, b->ident, b->ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return; /* gone or full: the client's barrier times out */
    zmq_send(g->router, hdr, hlen, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(g->router, body, sizeof(body), ZMQ_DONTWAIT);
    STAT_INC(acks_sent);
}

/* The writer committed everything before barrier note->barrier. */
static void barrier_passed(ingest *g, const est_note *note)
{
    for (size_t i = 0; i < g->nbars; i++) {
        barrier *b = &g->bars[i];
        if (b->id != note->barrier)
            continue;
        if (b->free_slot >= 0) {
            stream_entry *se = &g->reg->streams[b->free_slot];
            if (se->used && se->expiring == b->id) {
                LOG(LOG_INFO, "stream %s/%s idle, slot freed (next block %llu)",
                    g->reg->runs[se->run_slot].name, se->group, (unsigned long long)se->next_block);
                streams_stream_free(g->reg, (uint32_t)b->free_slot);
                admit_closed(g->adm, (uint32_t)b->free_slot);
                STAT_INC(streams_expired);
            }
        } else if (g->reg->runs[b->run_slot].used && g->router != NULL) {
            send_ack(g, b, note, g->flushing ? 1 : 0);
        }
        g->bars[i] = g->bars[--g->nbars];
        return;
    }
}

/* Barriers some estimator queue has not taken yet (it was full). */
static void barriers_retry(ingest *g)
{
    for (size_t i = 0; i < g->nbars; i++)
        barrier_push(g, &g->bars[i]);
}

/* A client's BARRIER: with WIRE_BARRIER_CLOSE, the run's open blocks close
 * first (a replay's last partial block is stored too). */
static void handle_barrier(ingest *g, uint32_t run_slot, const uint8_t *id, size_t id_len,
                           const wire_msg *m)
{
    run_entry *run = &g->reg->runs[run_slot];

    STAT_INC(barriers);
    if (m->cluster & WIRE_BARRIER_CLOSE) {
        for (size_t i = 0; i < run->nstreams; i++) {
            emit_ctx c = {g, run->streams[i], 0};
            accum_flush(&g->reg->streams[run->streams[i]].acc, emit_block, &c);
        }
    }
    if (barrier_start(g, run_slot, id, id_len, m, -1) < 0)
        LOG(LOG_ERROR, "ingest: no memory for a barrier of %s", run->name);
}

/* One decoded message from identity id. */
static void handle_msg(ingest *g, const uint8_t *id, size_t id_len, const wire_msg *m,
                       zmq_msg_t *body)
{
    size_t before = g->reg->live_runs;
    long run_slot = streams_run_find(g->reg, m->run, m->run_len);
    size_t npeers;
    peer *p;

    if (run_slot < 0) { /* a new run: if its sender may open one */
        admit_verdict v = g->reg->live_runs >= g->reg->max
                              ? ADMIT_FULL
                              : admit_run(g->adm, peer_key(g, id, id_len), now_ms());
        if (v == ADMIT_OK)
            run_slot = streams_run(g->reg, m->run, m->run_len, &g->cfg.policy);
        if (run_slot < 0) {
            refuse(g, id, id_len, m, v);
            return;
        }
    }
    if (g->reg->live_runs != before && g->ro != NULL) { /* new, or back: its stored policy */
        store_state st;
        run_entry *run = &g->reg->runs[run_slot];
        if (store_lookup(g->ro, run->name, "", &st) >= 0)
            restore_policy(g, run, &st);
    }
    STAT_SET(runs, g->reg->live_runs);
    npeers = g->reg->runs[run_slot].npeers;
    if (streams_peer_touch(g->reg, (uint32_t)run_slot, id, id_len, now_ms()) < 0)
        STAT_INC(drops[DROP_PEER_LIMIT]);
    p = streams_peer_find(g->reg, (uint32_t)run_slot, id, id_len);
    if (p != NULL)
        note_client_drops(g, (uint32_t)run_slot, p, m);
    if (p != NULL && m->kind != WIRE_BARRIER)
        p->dropped = m->dropped;
    if (m->kind == WIRE_HELLO) {
        STAT_INC(msgs_hello);
        if (p != NULL && ((uint64_t)m->step & WIRE_FEAT_FLOW))
            p->flow = 1;
        answer_hello(g, (uint32_t)run_slot, id, id_len);
    } else if (m->kind == WIRE_SAMPLES) {
        handle_samples(g, (uint32_t)run_slot, p, id, id_len, m, body);
    } else if (m->kind == WIRE_BARRIER) {
        handle_barrier(g, (uint32_t)run_slot, id, id_len, m);
    }
    /* a rank came or went (every rank's share of a block changes), or a
     * client that follows budgets has none yet */
    if (g->reg->runs[run_slot].npeers != npeers || (p != NULL && p->flow && p->bud_values == 0))
        update_budget(g, (uint32_t)run_slot);
    if (g->reg->runs[run_slot].npeers != npeers) /* a user sees the new rank at once */
        publish_flow(g);
}

/* Receives one whole multipart message (identity + frames) and handles it.
 * Returns 0, or -1 when nothing was waiting. */
static int recv_one(ingest *g)
{
    zmq_msg_t id, frames[INGEST_MAX_FRAMES], extra;
    const void *ptrs[INGEST_MAX_FRAMES];
    size_t lens[INGEST_MAX_FRAMES];
    size_t nframes = 0, total = 0, bytes;
    wire_msg m;
    wire_error err = {WIRE_OK, 0, NULL};
    int more;

    zmq_msg_init(&id);
    if (zmq_msg_recv(&id, g->router, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&id);
        return -1;
    }
    bytes = zmq_msg_size(&id);
    more = zmq_msg_more(&id);
    while (more) {
        zmq_msg_t *dst = nframes < INGEST_MAX_FRAMES ? &frames[nframes] : &extra;
        zmq_msg_init(dst);
        if (zmq_msg_recv(dst, g->router, 0) < 0) {
            zmq_msg_close(dst);
            break;
        }
        bytes += zmq_msg_size(dst);
        more = zmq_msg_more(dst);
        if (nframes < INGEST_MAX_FRAMES) {
            ptrs[nframes] = zmq_msg_data(dst);
            lens[nframes] = zmq_msg_size(dst);
            nframes++;
        } else {
            zmq_msg_close(dst);
        }
        total++;
    }
    STAT_INC(msgs);
    STAT_ADD(bytes, bytes);
    if (total > nframes)
        nframes = INGEST_MAX_FRAMES; /* more than 2 frames: the decoder says bad_frames */
    if (wire_decode_dir(ptrs, lens, nframes, WIRE_DIR_TO_DAEMON, &m, &err) != WIRE_OK)
        count_decode_error(g, &err);
    else {
        g->cur_id = &frames[0]; /* a data frame: the identity frame may lack metadata */
        handle_msg(g, zmq_msg_data(&id), zmq_msg_size(&id), &m, nframes == 2 ? &frames[1] : NULL);
        g->cur_id = NULL;
    }
    for (size_t i = 0; i < nframes && i < INGEST_MAX_FRAMES; i++)
        zmq_msg_close(&frames[i]);
    zmq_msg_close(&id);
    return 0;
}

/* Sleeps up to INGEST_NAP_US, or until the estimators' pipe has a lambda
 * to forward: ZMQ_FD is readable when the socket's state may have changed,
 * once ZMQ_EVENTS has been read (so it is read first). */
static void nap_on_pipe(ingest *g)
{
    struct timespec nap = {0, INGEST_NAP_US * 1000};
    int fd, events = 0;
    size_t len = sizeof(fd);
    struct pollfd p;

    if (zmq_getsockopt(g->pipe, ZMQ_FD, &fd, &len) != 0) {
        nanosleep(&nap, NULL);
        return;
    }
    len = sizeof(events);
    if (zmq_getsockopt(g->pipe, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN))
        return;
    p = (struct pollfd){.fd = fd, .events = POLLIN};
    ppoll(&p, 1, &nap, NULL);
}

/* After a wake-up that read `got` messages (fewer than a burst: the socket
 * is drained), and one before it that read some less than INGEST_BUSY_US
 * ago, messages are streaming in: nap up to INGEST_NAP_US so that the next
 * wake-up finds several waiting. Else ZeroMQ wakes this thread for nearly
 * every message (a poll, an eventfd read and a context switch here, a
 * wake-up in its I/O thread), which cost more than the messages
 * themselves. Lambdas are not held back by it: those that came during the
 * burst are forwarded before the nap, and one that comes during it ends
 * it. A message after a pause is never delayed. */
static void nap_if_busy(ingest *g, int got, int64_t *last_busy)
{
    int64_t t;

    if (got == 0)
        return;
    t = now_us();
    if (got < INGEST_BURST && t - *last_busy < INGEST_BUSY_US) {
        drain_pipe(g);
        nap_on_pipe(g);
        STAT_INC(ingest_naps);
    }
    *last_busy = t;
}

/* Creates and binds both sockets; 0 or -1 (logged). */
static int open_sockets(ingest *g)
{
    int one = 1, zero = 0, hwm = 10000, peer_hwm = INGEST_PEER_HWM;
    int64_t max_frame = INGEST_MAX_FRAME;
    size_t len = sizeof(g->endpoint);

    g->router = zmq_socket(g->ctx, ZMQ_ROUTER);
    g->pipe = zmq_socket(g->ctx, ZMQ_PULL);
    if (g->router == NULL || g->pipe == NULL)
        goto out_fail;
    zmq_setsockopt(g->router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
    zmq_setsockopt(g->router, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(g->router, ZMQ_RCVHWM, &peer_hwm, sizeof(peer_hwm));
    zmq_setsockopt(g->router, ZMQ_MAXMSGSIZE, &max_frame, sizeof(max_frame));
    zmq_setsockopt(g->pipe, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(g->pipe, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    if (auth_router(g->auth, g->router) < 0) {
        LOG(LOG_ERROR, "ingest: cannot set up CURVE: %s", zmq_strerror(errno));
        goto out_fail;
    }
    if (zmq_bind(g->router, g->cfg.listen) < 0) {
        LOG(LOG_ERROR, "ingest: cannot listen on %s: %s", g->cfg.listen, zmq_strerror(errno));
        goto out_fail;
    }
    if (zmq_bind(g->pipe, ESTIMATOR_PIPE) < 0) {
        LOG(LOG_ERROR, "ingest: cannot bind %s: %s", ESTIMATOR_PIPE, zmq_strerror(errno));
        goto out_fail;
    }
    if (zmq_getsockopt(g->router, ZMQ_LAST_ENDPOINT, g->endpoint, &len) < 0)
        snprintf(g->endpoint, sizeof(g->endpoint), "%s", g->cfg.listen);
    return 0;

out_fail:
    if (g->router != NULL)
        zmq_close(g->router);
    if (g->pipe != NULL)
        zmq_close(g->pipe);
    g->router = g->pipe = NULL;
    return -1;
}

static void signal_ready(ingest *g, int status)
{
    pthread_mutex_lock(&g->lock);
    g->ready = status;
    pthread_cond_signal(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

/* Streams without samples for --stream-idle-s: the partial block goes to
 * the estimator (as on SIGTERM), then a barrier, and once the writer has
 * stored everything before it the slot is freed (barrier_passed); a run
 * with no streams and no peers left is freed too. A stream that comes back
 * carries on from its stored state (open_stream). */
static void expire_idle(ingest *g, int64_t now)
{
    streams *r = g->reg;

    for (size_t i = 0; i < r->nstreams; i++) {
        stream_entry *se = &r->streams[i];
        emit_ctx c = {g, (uint32_t)i, 1};

        if (!se->used || se->expiring || now - se->last_ms < g->idle_ms)
            continue;
        accum_flush(&se->acc, emit_block, &c);
        if (barrier_start(g, se->run_slot, NULL, 0, NULL, (long)i) == 0)
            se->expiring = g->next_barrier;
    }
    for (size_t i = 0; i < r->nruns; i++) {
        run_entry *run = &r->runs[i];
        if (run->used && run->nstreams == 0 && run->npeers == 0) /* about to go: its events first */
            shed_flush_run(g, (uint32_t)i, now, 1);
        if (run->client_shed.count == 0 && run->refused_shed.count == 0 &&
            run->conn_shed.count == 0)
            streams_run_free(r, (uint32_t)i);
    }
    STAT_SET(streams, r->live_streams);
    STAT_SET(runs, r->live_runs);
}

/* Shutdown: no more input, every partial block to the estimator, then STOP. */
static void flush_all(ingest *g)
{
    emit_ctx c = {g, 0, 0};

    zmq_close(g->router);
    g->router = NULL;
    g->flushing = 1;
    for (size_t i = 0; i < g->reg->nstreams; i++) {
        if (!g->reg->streams[i].used)
            continue;
        c.slot = (uint32_t)i;
        accum_flush(&g->reg->streams[i].acc, emit_block, &c);
    }
    for (size_t i = 0; i < g->reg->nruns; i++)
        if (g->reg->runs[i].used)
            shed_flush_run(g, (uint32_t)i, now_ms(), 1);
    for (size_t k = 0; k < g->nest; k++) {
        est_job *stop = calloc(1, sizeof(*stop));
        if (stop == NULL) /* cannot happen in practice; that estimator would never stop */
            abort();
        stop->kind = EST_JOB_STOP;
        bqueue_push(g->est_qs[k], stop);
    }
}

static void *ingest_main(void *arg)
{
    ingest *g = arg;
    int64_t last_prune = now_ms(), last_sweep = last_prune;
    int64_t sweep_ms = g->idle_ms / 4 < 1000 ? (g->idle_ms / 4 > 50 ? g->idle_ms / 4 : 50) : 1000;
    int64_t last_busy = 0; /* now_us() of the last wake-up that read messages */
    int got;

    pthread_setname_np(pthread_self(), "htgad-ingest"); /* for top -H, perf */
    health_thread_enter("ingest");
    if (open_sockets(g) < 0) {
        health_thread_leave();
        signal_ready(g, -1);
        return NULL;
    }
    if (sqlite3_open_v2(g->cfg.db, &g->ro, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        LOG(LOG_ERROR, "ingest: cannot read %s: streams that come back restart their numbering",
            g->cfg.db);
        sqlite3_close(g->ro);
        g->ro = NULL;
    } else {
        sqlite3_busy_timeout(g->ro, 100);
    }
    STAT_SET(runs, g->reg->live_runs);
    STAT_SET(streams, g->reg->live_streams);
    signal_ready(g, 1);
    while (!atomic_load(&g->stop)) {
        /* while the estimator queues are full, only the pipe is read: the
         * clients' queues hold the excess (push-back, flow.h) */
        int full = queues_full(g);
        zmq_pollitem_t items[2] = {{g->pipe, 0, ZMQ_POLLIN, 0}, {g->router, 0, ZMQ_POLLIN, 0}};
        health_busy();
        if (zmq_poll(items, full ? 1 : 2, full ? INGEST_FULL_POLL_MS : INGEST_POLL_MS) < 0 &&
            errno != EINTR)
            break;
        drain_pipe(g);
        drain_cmds(g);
        barriers_retry(g);
        full = queues_full(g);
        note_pushback(g, full, now_ms());
        for (got = 0; !full && got < INGEST_BURST && recv_one(g) == 0; got++)
            full = queues_full(g);
        nap_if_busy(g, got, &last_busy);
        if (now_ms() - last_prune > 1000) {
            last_prune = now_ms();
            streams_prune(g->reg, last_prune, INGEST_PEER_SILENCE);
        }
        if (now_ms() - last_sweep >= sweep_ms) {
            last_sweep = now_ms();
            expire_idle(g, last_sweep);
        }
        flow_control(g, now_ms());
    }
    drain_pipe(g);
    flush_all(g);
    zmq_close(g->pipe);
    g->pipe = NULL;
    sqlite3_close(g->ro);
    g->ro = NULL;
    health_thread_leave();
    return NULL;
}

void ingest_set_auth(ingest *g, const auth *a)
{
    g->auth = a;
}

int ingest_start(ingest *g, char *endpoint, size_t len)
{
    if (pthread_create(&g->thread, NULL, ingest_main, g) != 0)
        return -1;
    g->started = 1;
    pthread_mutex_lock(&g->lock);
    while (g->ready == 0)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
    if (g->ready < 0)
        return -1;
    snprintf(endpoint, len, "%s", g->endpoint);
    return 0;
}

void ingest_stop(ingest *g)
{
    atomic_store(&g->stop, 1);
}

void ingest_join(ingest **gp)
{
    ingest *g;
    void *cmd;

    if (gp == NULL || *gp == NULL)
        return;
    g = *gp;
    if (g->started)
        pthread_join(g->thread, NULL);
    streams_free(&g->reg);
    free(g->bars);
    admit_free(&g->adm);
    while ((cmd = bqueue_pop(g->cmds, 0)) != NULL) {
        for (size_t k = 0; k < g->nest; k++)
            ack_done(((ingest_cmd *)cmd)->done, 0);
        free(cmd);
    }
    bqueue_destroy(&g->cmds);
    free(g->est_qs);
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
    free(g);
    *gp = NULL;
}
