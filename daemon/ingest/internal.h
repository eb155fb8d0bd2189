/*
 * internal.h - what the ingest thread's files share; not API. The thread
 * (ingest.c: its loop, sockets, stop) calls into lambdas.c (notes from the
 * pipe, pushes, HELLO answers), samples.c (stream admission, blocks to the
 * estimators), commands.c (policy changes from other threads), barriers.c,
 * budgets.c (flow control, flow.h) and shed.c (shed events).
 */
#ifndef HTGAD_INGEST_INTERNAL_H
#define HTGAD_INGEST_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <zmq.h>

#include "accum.h"
#include "ack.h"
#include "admit.h"
#include "auth.h"
#include "estimator_thread.h"
#include "flow.h"
#include "ingest.h"
#include "log.h"
#include "streams.h"

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
    ack *done;     /* a policy change waits for it (ack.h), or NULL */
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

typedef struct emit_ctx {
    ingest *g;
    uint32_t slot;
    int final; /* an idle stream's last block: stored, no lambda push */
} emit_ctx;

static inline int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
static inline int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* lambdas.c: reads every note the estimators and the writer left in the
 * pipe; answers a HELLO of identity id with the run's lambdas it may lack. */
void ig_drain_pipe(ingest *g);
void ig_answer_hello(ingest *g, uint32_t run_slot, const uint8_t *id, size_t id_len);

/* commands.c: applies the queued policy commands; gives run_slot a new
 * policy and asks the estimators to store it and re-derive its lambdas
 * (0, or -1 when one of their jobs could not be made). */
void ig_drain_cmds(ingest *g);
int ig_apply_policy(ingest *g, uint32_t run_slot, const policy *pol, const char *source);

/* samples.c: the SAMPLES m from identity id (p: its peer, or NULL; body: the
 * frame m->body lies in, or NULL), its stream admitted or refused; accum's
 * emit callback (arg an emit_ctx); the sender's admission key; a refusal,
 * counted and told; whether the estimator queues are too full to read. */
void ig_handle_samples(ingest *g, uint32_t run_slot, peer *p, const uint8_t *id, size_t id_len,
                       const wire_msg *m, zmq_msg_t *body);
int ig_emit_block(accum_block *blk, void *arg);
uint64_t ig_peer_key(ingest *g, const uint8_t *id, size_t id_len);
void ig_refuse(ingest *g, const uint8_t *id, size_t id_len, const wire_msg *m, admit_verdict why);
int ig_queues_full(const ingest *g);

/* barriers.c: a barrier of run_slot started (from identity id, an ACK owed,
 * or for stream slot free_slot, freed once it passes; 0 or -1); those some
 * queue has not taken yet; one the writer passed; a client's BARRIER. */
int ig_barrier_start(ingest *g, uint32_t run_slot, const uint8_t *id, size_t id_len,
                     const wire_msg *m, long free_slot);
void ig_barriers_retry(ingest *g);
/* A barrier of run_slot behind a policy change: done ends once it passes
 * (committed or not), or at once when it cannot be made. */
void ig_barrier_ack(ingest *g, uint32_t run_slot, ack *done);
void ig_barrier_passed(ingest *g, const est_note *note);
void ig_handle_barrier(ingest *g, uint32_t run_slot, const uint8_t *id, size_t id_len,
                       const wire_msg *m);

/* budgets.c: run_slot's budget sent where it is lacking; the runs' flow
 * published; the controller's tick; push-back started or ended. */
void ig_update_budget(ingest *g, uint32_t run_slot);
void ig_publish_flow(ingest *g);
void ig_flow_control(ingest *g, int64_t now);
void ig_note_pushback(ingest *g, int full, int64_t now);

/* shed.c: count things shed between steps lo and hi added to a; a run's
 * events handed on once due (or at once with force); what a client's
 * header says it dropped placed in steps. */
void ig_shed_note(shed_acc *a, uint64_t count, int64_t lo, int64_t hi, int64_t now);
void ig_shed_flush_run(ingest *g, uint32_t run_slot, int64_t now, int force);
void ig_note_client_drops(ingest *g, uint32_t run_slot, peer *p, const wire_msg *m);

#endif /* HTGAD_INGEST_INTERNAL_H */
