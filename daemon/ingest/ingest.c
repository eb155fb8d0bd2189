/*
 * ingest.c - the ingest thread (see ingest.h for the design): its start,
 * its loop over the ROUTER and the pipe, decoding, the idle sweep and the
 * ordered stop. What it does with each kind of message is in the files
 * internal.h lists.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "internal.h"
#include "stats.h"

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

static void count_decode_error(ingest *g, const wire_error *err)
{
    if (err->code > 0 && err->code < WIRE_E__COUNT)
        STAT_INC(decode_errors[err->code]);
    if (log_limit_allow(&g->lim_decode, LOG_WARN))
        LOG(LOG_WARN, "ingest: bad message: %s (%s at offset %zu)", wire_err_name(err->code),
            err->text ? err->text : "", err->offset);
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
                              : admit_run(g->adm, ig_peer_key(g, id, id_len), now_ms());
        if (v == ADMIT_OK)
            run_slot = streams_run(g->reg, m->run, m->run_len, &g->cfg.policy);
        if (run_slot < 0) {
            ig_refuse(g, id, id_len, m, v);
            return;
        }
    }
    if (g->reg->live_runs != before) /* new, or back: its first stream's estimator says how */
        g->reg->runs[run_slot].restoring = 1;
    STAT_SET(runs, g->reg->live_runs);
    npeers = g->reg->runs[run_slot].npeers;
    if (streams_peer_touch(g->reg, (uint32_t)run_slot, id, id_len, now_ms()) < 0)
        STAT_INC(drops[DROP_PEER_LIMIT]);
    p = streams_peer_find(g->reg, (uint32_t)run_slot, id, id_len);
    if (p != NULL)
        ig_note_client_drops(g, (uint32_t)run_slot, p, m);
    if (p != NULL && m->kind != WIRE_BARRIER)
        p->dropped = m->dropped;
    if (m->kind == WIRE_HELLO) {
        STAT_INC(msgs_hello);
        if (p != NULL && ((uint64_t)m->step & WIRE_FEAT_FLOW))
            p->flow = 1;
        ig_answer_hello(g, (uint32_t)run_slot, id, id_len);
    } else if (m->kind == WIRE_SAMPLES) {
        ig_handle_samples(g, (uint32_t)run_slot, p, id, id_len, m, body);
    } else if (m->kind == WIRE_BARRIER) {
        ig_handle_barrier(g, (uint32_t)run_slot, id, id_len, m);
    }
    /* a rank came or went (every rank's share of a block changes), or a
     * client that follows budgets has none yet */
    if (g->reg->runs[run_slot].npeers != npeers || (p != NULL && p->flow && p->bud_values == 0))
        ig_update_budget(g, (uint32_t)run_slot);
    if (g->reg->runs[run_slot].npeers != npeers) /* a user sees the new rank at once */
        ig_publish_flow(g);
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
        ig_drain_pipe(g);
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
 * stored everything before it the slot is freed (ig_barrier_passed); a run
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
        accum_flush(&se->acc, ig_emit_block, &c);
        if (ig_barrier_start(g, se->run_slot, NULL, 0, NULL, (long)i) == 0)
            se->expiring = g->next_barrier;
    }
    for (size_t i = 0; i < r->nruns; i++) {
        run_entry *run = &r->runs[i];
        if (run->used && run->nstreams == 0 && run->npeers == 0) /* about to go: its events first */
            ig_shed_flush_run(g, (uint32_t)i, now, 1);
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
        accum_flush(&g->reg->streams[i].acc, ig_emit_block, &c);
    }
    for (size_t i = 0; i < g->reg->nruns; i++)
        if (g->reg->runs[i].used)
            ig_shed_flush_run(g, (uint32_t)i, now_ms(), 1);
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
    STAT_SET(runs, g->reg->live_runs);
    STAT_SET(streams, g->reg->live_streams);
    signal_ready(g, 1);
    while (!atomic_load(&g->stop)) {
        /* while the estimator queues are full, only the pipe is read: the
         * clients' queues hold the excess (push-back, flow.h) */
        int full = ig_queues_full(g);
        zmq_pollitem_t items[2] = {{g->pipe, 0, ZMQ_POLLIN, 0}, {g->router, 0, ZMQ_POLLIN, 0}};
        health_busy();
        if (zmq_poll(items, full ? 1 : 2, full ? INGEST_FULL_POLL_MS : INGEST_POLL_MS) < 0 &&
            errno != EINTR)
            break;
        ig_drain_pipe(g);
        ig_drain_cmds(g);
        ig_barriers_retry(g);
        full = ig_queues_full(g);
        ig_note_pushback(g, full, now_ms());
        for (got = 0; !full && got < INGEST_BURST && recv_one(g) == 0; got++)
            full = ig_queues_full(g);
        nap_if_busy(g, got, &last_busy);
        if (now_ms() - last_prune > 1000) {
            last_prune = now_ms();
            streams_prune(g->reg, last_prune, INGEST_PEER_SILENCE);
        }
        if (now_ms() - last_sweep >= sweep_ms) {
            last_sweep = now_ms();
            expire_idle(g, last_sweep);
        }
        ig_flow_control(g, now_ms());
    }
    ig_drain_pipe(g);
    flush_all(g);
    zmq_close(g->pipe);
    g->pipe = NULL;
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
    for (size_t i = 0; i < g->nbars; i++) /* never passed: not known to be stored */
        ack_done(g->bars[i].done, ACK_FAILED);
    free(g->bars);
    admit_free(&g->adm);
    while ((cmd = bqueue_pop(g->cmds, 0)) != NULL) {
        ack_done(((ingest_cmd *)cmd)->done, ACK_FAILED);
        free(cmd);
    }
    bqueue_destroy(&g->cmds);
    free(g->est_qs);
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
    free(g);
    *gp = NULL;
}
