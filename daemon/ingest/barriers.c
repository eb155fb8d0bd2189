/*
 * barriers.c - barriers, the one "stored up to here" marker: a client's
 * BARRIER, an idle stream's expiry or a stored policy change (ack.h) goes
 * down every estimator queue to the writer, whose note says that
 * everything before it is committed; then the client gets its ACK, the
 * idle stream's slot is freed, or the change's waiter is told.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "stats.h"

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

/* A new barrier of run_slot (not pushed yet), or NULL (no memory). */
static barrier *barrier_add(ingest *g, uint32_t run_slot)
{
    barrier *b;

    if (g->nbars == g->bars_cap) {
        size_t cap = g->bars_cap ? 2 * g->bars_cap : 16;
        barrier *v = realloc(g->bars, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        g->bars = v;
        g->bars_cap = cap;
    }
    b = &g->bars[g->nbars++];
    memset(b, 0, sizeof(*b));
    b->id = ++g->next_barrier;
    b->run_slot = run_slot;
    b->free_slot = -1;
    return b;
}

int ig_barrier_start(ingest *g, uint32_t run_slot, const uint8_t *id, size_t id_len,
                     const wire_msg *m, long free_slot)
{
    barrier *b = barrier_add(g, run_slot);

    if (b == NULL)
        return -1;
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

void ig_barrier_ack(ingest *g, uint32_t run_slot, ack *done)
{
    barrier *b = barrier_add(g, run_slot);

    if (b == NULL) { /* the barrier table is full */
        ack_done(done, ACK_BUSY);
        return;
    }
    b->done = done;
    barrier_push(g, b);
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
void ig_barrier_passed(ingest *g, const est_note *note)
{
    for (size_t i = 0; i < g->nbars; i++) {
        barrier *b = &g->bars[i];
        if (b->id != note->barrier)
            continue;
        if (b->done != NULL) {
            ack_done(b->done, note->committed ? ACK_STORED : ACK_FAILED);
        } else if (b->free_slot >= 0) {
            stream_entry *se = &g->reg->streams[b->free_slot];
            if (se->used && se->expiring == b->id) {
                LOG(LOG_INFO, "stream %s/%s idle, slot freed (%llu blocks in this life)",
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
void ig_barriers_retry(ingest *g)
{
    for (size_t i = 0; i < g->nbars; i++)
        barrier_push(g, &g->bars[i]);
}

/* A client's BARRIER: with WIRE_BARRIER_CLOSE, the run's open blocks close
 * first (a replay's last partial block is stored too). */
void ig_handle_barrier(ingest *g, uint32_t run_slot, const uint8_t *id, size_t id_len,
                       const wire_msg *m)
{
    run_entry *run = &g->reg->runs[run_slot];

    STAT_INC(barriers);
    if (m->cluster & WIRE_BARRIER_CLOSE) {
        for (size_t i = 0; i < run->nstreams; i++) {
            emit_ctx c = {g, run->streams[i], 0};
            accum_flush(&g->reg->streams[run->streams[i]].acc, ig_emit_block, &c);
        }
    }
    if (ig_barrier_start(g, run_slot, id, id_len, m, -1) < 0)
        LOG(LOG_ERROR, "ingest: no memory for a barrier of %s", run->name);
}
