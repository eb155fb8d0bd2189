/*
 * samples.c - SAMPLES messages: their stream admitted (admit.h) or
 * refused and told, opened with its estimator (estimator_thread.h), the
 * values appended to its accumulator, and closed blocks handed to the
 * estimator queues, zero-copy where a message holds a whole block.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "stats.h"

/* Hands a job to estimator k, counting its bytes against --queue-bytes
 * first (the estimator takes them off once done). Never drops: ingest
 * stops reading before the queues are full (ig_queues_full), and the rare push
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
int ig_queues_full(const ingest *g)
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
int ig_push_block(emit_ctx *c, const accum_block *blk, void *msg)
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
    job->pol_pending = run->restoring;
    job->life = se->life;
    job->final = g->flushing || c->final;
    job->bytes = msg != NULL ? zmq_msg_size(msg) : blk->n * sizeof(float);
    push_job(g, c->slot % g->nest, job);
    se->next_block++;
    STAT_INC(blocks_closed);
    return 0;
}

/* accum's emit callback: a closed block becomes an estimator job. */
int ig_emit_block(accum_block *blk, void *arg)
{
    return ig_push_block(arg, blk, NULL);
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
    if (ig_push_block(c, &blk, ref) < 0) {
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

/* A stream created while running (new, or back after its slot was freed):
 * its estimator looks up what it carries on from before it takes any of
 * its blocks, and tells (stream_opened); meanwhile its blocks are numbered
 * from 0 in this life and go on as usual (estimator_thread.h). */
static void open_stream(ingest *g, uint32_t slot)
{
    const stream_entry *se = &g->reg->streams[slot];
    const run_entry *run = &g->reg->runs[se->run_slot];
    est_job *job = calloc(1, sizeof(*job));

    if (job == NULL) /* its estimator keeps the slot's previous life: it starts afresh */
        return;
    job->kind = EST_JOB_OPEN;
    job->run_slot = se->run_slot;
    job->stream_slot = slot;
    job->life = se->life;
    memcpy(job->run, run->name, run->name_len + 1);
    memcpy(job->group, se->group, se->group_len + 1);
    bqueue_push(g->est_qs[slot % g->nest], job); /* rare: waiting is fine */
}

/* Who sent the message being handled (admit.h): its CURVE key, else its
 * IP address, else its routing identity. */
uint64_t ig_peer_key(ingest *g, const uint8_t *id, size_t id_len)
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
void ig_refuse(ingest *g, const uint8_t *id, size_t id_len, const wire_msg *m, admit_verdict why)
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

/* The stream of m in run_slot, created when the sender may (-1: refused). */
static long admit_stream_of(ingest *g, uint32_t run_slot, const uint8_t *id, size_t id_len,
                            const wire_msg *m)
{
    long slot = streams_stream_find(g->reg, run_slot, m->group, m->group_len);
    uint64_t key;
    admit_verdict v;

    if (slot >= 0)
        return slot;
    key = ig_peer_key(g, id, id_len);
    v = g->reg->live_streams >= g->reg->max ? ADMIT_FULL : admit_stream(g->adm, key, now_ms());
    if (v == ADMIT_OK && (slot = streams_stream(g->reg, run_slot, m->group, m->group_len)) >= 0) {
        admit_opened(g->adm, key, (uint32_t)slot);
        open_stream(g, (uint32_t)slot);
        return slot;
    }
    ig_refuse(g, id, id_len, m, v);
    return -1;
}

/* body: the ZeroMQ frame m->body lies in (for the zero-copy path), or NULL;
 * p: the sending peer (NULL when the run has too many). */
void ig_handle_samples(ingest *g, uint32_t run_slot, peer *p, const uint8_t *id, size_t id_len,
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
    if (slot < 0) { /* refused, counted and told (ig_refuse) */
        run->refused += m->count;
        ig_shed_note(&run->refused_shed, m->count, m->step, m->step, now_ms());
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
    run->active_ms = g->reg->streams[slot].last_ms;
    g->reg->streams[slot].expiring = 0;
    STAT_INC(msgs_samples);
    STAT_ADD(samples, m->count);
    taken = take_whole_block(&c, m, body);
    if (taken >= m->count)
        return;
    added = accum_add_runs(&g->reg->streams[slot].acc, m->step,
                           (const unsigned char *)m->body + 4 * taken, m->count - taken, m->cluster,
                           taken, ig_emit_block, &c);
    if (added < 0) {
        STAT_ADD(drops[DROP_NOMEM], m->count - taken);
        run->refused += m->count - taken;
        ig_shed_note(&run->refused_shed, m->count - taken, m->step, m->step, now_ms());
        if (p != NULL)
            p->refused += m->count - taken;
    }
}
