/*
 * ingest.h - the ingest thread: the ZeroMQ ROUTER trainers talk to.
 *
 * DESIGN: the only thread that touches the ROUTER socket and the ingest end
 * of the estimator's inproc pipe; both are created in the thread. It polls
 * both: messages from clients are decoded (wire_decode_dir, errors counted
 * by code), their identity registered as a peer of their run, HELLO
 * answered with the run's current lambdas, SAMPLES appended to the (run,
 * group) accumulator; a closed block goes to the estimator queue, never
 * dropped: while the queues hold --queue-bytes, the ROUTER is not read
 * (push-back, flow.h), and the clients' own queues take the excess.
 * Budgets (flow.h) go to clients that follow them. A barrier goes down
 * every estimator queue to the writer, whose note says everything before
 * it is committed: it answers a client's BARRIER with an ACK, frees an
 * idle stream's slot, and ends a stored policy change's wait (ack.h).
 * Lambdas coming back from the estimator are remembered per stream and
 * pushed to every peer of the run (ZMQ_DONTWAIT; a full pipe drops that
 * push, counted). On stop it closes the ROUTER (no more input), hands
 * every partial block to the estimator (waiting this time: nothing is lost
 * on SIGTERM) and then a STOP job to each estimator. A stream's blocks all
 * go to estimator slot % N. Its registry (streams.h) is memory-bounded by
 * --max-streams. A stream idle for --stream-idle-s has its partial block
 * flushed (stored, no push) and, once a barrier behind it has passed the
 * writer, its slot freed.
 *
 * This thread never touches SQLite: a stream created while running gets an
 * EST_JOB_OPEN job ahead of its blocks, and its estimator looks up what it
 * carries on from and tells (NOTE_OPENED; the design is argued in
 * estimator_thread.h); the writer, which caches ids per slot, notices the
 * slot's new name. What clients report they dropped (the header's
 * `dropped`) and the values refused are gathered per run and reason and
 * sent on, at most once a second, down the run's estimator queue as a SHED
 * job, which the writer stores as a row of table shed
 * (schema/008_shed.sql): the gap it leaves in a series is visible.
 *
 * Its files (daemon/ingest/): ingest.c the thread's loop, lambdas.c,
 * samples.c, commands.c, barriers.c, budgets.c and shed.c, sharing
 * internal.h; streams, admit and accum are its registry and admission.
 */
#ifndef HTGAD_INGEST_H
#define HTGAD_INGEST_H

#include <stddef.h>

#include "config.h"
#include "policy.h"
#include "queue.h"
#include "wire.h"

/* Jobs one estimator queue holds at most (the byte bound, --queue-bytes,
 * normally binds first: see ingest/samples.c). */
#define INGEST_EST_JOBS (1u << 17)

typedef struct ingest ingest;

/* An ingest over zmq context ctx feeding the nest estimator queues est_qs
 * (the array is copied), configured by cfg (copied). NULL on out of memory.
 * Not started. */
ingest *ingest_new(void *ctx, bqueue *const *est_qs, size_t nest, const htgad_config *cfg);

/* What ingest keeps of a group a restart carries on. */
typedef struct ingest_restored {
    const char *run, *group;
    int has_lambda;
    wire_lambda last;   /* its last stored lambda: what a HELLO is answered with */
    policy pol;         /* the policy its run carries on with (store_state_policy) */
    const char *source; /* static text */
} ingest_restored;

/*
 * Before start: carries a restored group on. Sets *stream_slot and *life
 * (for the estimator's preload). Returns 0, or -1 when the registry is
 * full.
 */
int ingest_preload(ingest *g, const ingest_restored *r, uint32_t *stream_slot, uint32_t *life);

/* Before start: the ROUTER is made a CURVE server of a (auth.h; NULL = off).
 * a must outlive the thread. */
struct auth;
void ingest_set_auth(ingest *g, const struct auth *a);

/* Starts the thread and waits until it is listening (or failed). On 0, the
 * bound endpoint (with the real port) is copied to endpoint. -1 on failure
 * (logged). */
int ingest_start(ingest *g, char *endpoint, size_t len);

/*
 * Changes a lambda policy; callable from any thread (the HTTP layer, the
 * SIGHUP reload). run (run_len bytes) names one run, created if unknown;
 * run NULL changes the default of new runs and every run whose policy did
 * not come from "http". source is static text stored with the change
 * ("http", "flags"). The ingest thread applies it within its poll interval
 * (100 ms): the change is stored with its time, later blocks use it, and
 * each stream's lambda is re-derived from its latest block and pushed.
 * Returns 0, or -1 for an invalid policy or a full command queue.
 */
int ingest_set_policy(ingest *g, const char *run, size_t run_len, const policy *pol,
                      const char *source);

/*
 * The same for one run, then waits up to timeout_ms until the change and
 * the lambdas it re-derived are committed to the database, so a read after
 * it sees them (read-your-writes). Returns 0 when stored, 1 when still on
 * its way at the deadline (it will apply), -2 when there is no room for it
 * now (a full command queue, every run slot or barrier held: it may be
 * retried), -1 when invalid or not stored (a write failed, htgad stopping).
 */
int ingest_set_policy_stored(ingest *g, const char *run, size_t run_len, const policy *pol,
                             const char *source, int timeout_ms);

/* Asks the thread to stop (async-signal-safe: sets a flag). */
void ingest_stop(ingest *g);

/* Waits for the thread to finish its flush and frees g; NULLs *g. */
void ingest_join(ingest **g);

#endif /* HTGAD_INGEST_H */
