/*
 * lambdas.c - lambdas to the trainers (ingest.h): the notes the estimators and
 * the writer leave in the pipe, a stream's restored state, pushes to every
 * peer of a run, HELLO answers, and the restart preload.
 */
#include <string.h>

#include "internal.h"
#include "stats.h"

int ingest_preload(ingest *g, const ingest_restored *r, uint32_t *stream_slot, uint32_t *life)
{
    long run_slot = streams_run(g->reg, r->run, strlen(r->run), &g->cfg.policy);
    long s;
    stream_entry *se;

    if (run_slot < 0)
        return -1;
    s = streams_stream(g->reg, (uint32_t)run_slot, r->group, strlen(r->group));
    if (s < 0)
        return -1;
    g->reg->runs[run_slot].pol = r->pol;
    g->reg->runs[run_slot].pol_source = r->source;
    se = &g->reg->streams[s];
    se->last_ms = now_ms();
    g->reg->runs[run_slot].active_ms = se->last_ms;
    se->has_lambda = r->has_lambda;
    se->last = r->last;
    *stream_slot = (uint32_t)s;
    *life = se->life;
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
void ig_answer_hello(ingest *g, uint32_t run_slot, const uint8_t *id, size_t id_len)
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

/* The stream a note is about, or NULL when that life of its slot is over. */
static stream_entry *note_stream(ingest *g, const est_note *note)
{
    stream_entry *se;

    if (note->stream_slot >= g->reg->nstreams)
        return NULL;
    se = &g->reg->streams[note->stream_slot];
    return se->used && se->life == note->life ? se : NULL;
}

/* Its estimator looked a stream up (estimator_thread.h): the last stored
 * lambda is what HELLOs are answered with (no push carried it: the next
 * HELLO of each peer brings it), and a run created since its last life
 * carries on with its stored policy (est_policy_restore, the rule its
 * blocks got meanwhile). A default policy changed (SIGHUP) while that was
 * pending is stored and re-derived now, unless the run's is from HTTP. */
static void stream_opened(ingest *g, const est_note *note)
{
    stream_entry *se = note_stream(g, note);
    run_entry *run;

    if (se == NULL)
        return;
    run = &g->reg->runs[se->run_slot];
    if (note->has_lambda) {
        se->last = note->lam;
        se->has_lambda = 1;
        for (size_t i = 0; i < run->npeers; i++)
            run->peers[i].missed = 1;
    }
    if (!run->restoring)
        return;
    run->restoring = 0;
    if (!est_policy_restore(&note->stored, &run->pol, &run->pol_source) && run->pol_moved)
        ig_apply_policy(g, se->run_slot, &run->pol, "flags");
    run->pol_moved = 0;
}

/* Reads every note the estimators and the writer left in the pipe. */
void ig_drain_pipe(ingest *g)
{
    est_note note;
    stream_entry *se;
    int n;

    while ((n = zmq_recv(g->pipe, &note, sizeof(note), ZMQ_DONTWAIT)) >= 0) {
        if ((size_t)n != sizeof(note))
            continue;
        if (note.kind == NOTE_BARRIER) {
            ig_barrier_passed(g, &note);
        } else if (note.kind == NOTE_OPENED) {
            stream_opened(g, &note);
        } else if ((se = note_stream(g, &note)) != NULL) {
            se->last = note.lam;
            se->has_lambda = 1;
            push_lambda(g, note.stream_slot);
        }
    }
}
