/*
 * htga.h - libhtga, the client a trainer embeds to stream gradient samples
 * to htgad and receive per-group gradient scales (lambda) back.
 *
 * This is the one public header. Anything not declared here is not API.
 * Every call that can fail returns an int code, HTGA_OK == 0, negative on
 * error; htga_strerror() gives static text for a code.
 *
 * Thread-safety: one htga handle may be used from several threads at once;
 * htga_send(), htga_send_many(), htga_lambda(), htga_lambda_get(),
 * htga_group_budget(), htga_connected(), htga_set_int() and htga_stats_get()
 * never block on the network (they take short internal locks); htga_flush()
 * and htga_barrier() wait only as long as they are told. A send draws its
 * sample into a buffer of the handle's queue and returns; one background
 * I/O thread per handle owns the ZeroMQ socket (it makes, uses and closes
 * it): it hands queued messages to ZeroMQ, receives lambdas, budgets and
 * barrier answers, says HELLO and follows the connection. The queue is
 * bounded in bytes (HTGA_OPT_QUEUE_BYTES): while the daemon is away or slow
 * messages wait in it, and only a message that does not fit makes the
 * client shed, fairly, the oldest message of the group with the most queued
 * bytes. htga_destroy() must not race with other calls on the same handle.
 * Data-parallel workers (ranks) each create their own handle with their
 * rank set; all of them receive the run's lambdas. A handle belongs to the
 * process that created it: after fork() the child must not use (or destroy)
 * the parent's handles; it may create its own.
 */
#ifndef HTGA_H
#define HTGA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define HTGA_API __attribute__((visibility("default")))
#else
#define HTGA_API
#endif

#include "htga_version.h" /* HTGA_VERSION_MAJOR, _MINOR, _PATCH, _STRING (from meson.build) */

#define HTGA_VERSION_NUMBER                                                                        \
    (HTGA_VERSION_MAJOR * 1000000 + HTGA_VERSION_MINOR * 1000 + HTGA_VERSION_PATCH)

/* Result codes: negative codes are errors. HTGA_SKIPPED is not one: the
 * message was not sent on purpose, because the daemon's budget asks for its
 * group only every Nth step (counted in skipped_budget). HTGA_ETIMEDOUT:
 * htga_flush() found messages still queued at the deadline, or
 * htga_barrier() had no answer by then. */
#define HTGA_OK        0
#define HTGA_SKIPPED   1
#define HTGA_EINVAL    (-1) /* a bad argument (NULL, empty or over-long name, bad option value) */
#define HTGA_ENOMEM    (-2) /* out of memory */
#define HTGA_EZMQ      (-3) /* ZeroMQ refused (bad endpoint, context failure) */
#define HTGA_EDROPPED  (-4) /* the message was dropped (no room in the queue); counted */
#define HTGA_ENOTFOUND (-5) /* nothing received for this group yet (lambda, budget) */
#define HTGA_ETIMEDOUT (-6) /* see above */
#define HTGA_ENOTSUP   (-7) /* unknown option */
#define HTGA_EBUSY     (-8) /* option cannot change now (no longer returned) */
#define HTGA_ERESET    (-9) /* htga_barrier(): the connection was lost before the answer came */

/* Options, set with htga_set_int(). New options are appended, never renumbered. */
typedef enum htga_option {
    HTGA_OPT_MAX_SAMPLES = 1,       /* values kept per send; 0 = all (default 65536) */
    HTGA_OPT_RANK = 2,              /* this worker's rank (default 0) */
    HTGA_OPT_QUEUE_DEPTH = 3,       /* superseded by QUEUE_BYTES: a cap on the number of
                                       queued messages, 0 = none (default 0) */
    HTGA_OPT_SEED = 4,              /* subsampling seed (default: from time and address) */
    HTGA_OPT_CONNECT_GRACE_MS = 5,  /* superseded: messages now wait in the queue whenever
                                       the daemon is away; accepted (0..60000), no effect */
    HTGA_OPT_HELLO_INTERVAL_MS = 6, /* HELLO period while connected (default 1000, 10..60000) */
    HTGA_OPT_SAMPLE_CLUSTER = 7,    /* subsample in runs of this many consecutive values
                                       (1..4096; default 1: one value per stratum) */
    HTGA_OPT_QUEUE_BYTES = 8,       /* the queue's bound in bytes of sample buffers
                                       (65536..2^40; default 64 MiB) */
    HTGA_OPT_FOLLOW_BUDGET = 9,     /* 1 (default): follow the daemon's budgets; 0: send
                                       max_samples values every step (a replay tool) */
    /* CURVE (docs/security.md), set with htga_set_str(): keys are 40-character
     * Z85 text as printed by `htga keygen`. */
    HTGA_OPT_CURVE_SERVER_KEY = 10, /* htgad's public key: turns CURVE on */
    HTGA_OPT_CURVE_PUBLIC_KEY = 11, /* this client's public key (in htgad's --curve-clients) */
    HTGA_OPT_CURVE_SECRET_KEY = 12, /* this client's secret key */
    HTGA_OPT_CURVE_KEY_FILE = 13,   /* a `htga keygen` file: this client's public and secret
                                       keys (and the server's, on a "server" line) */
} htga_option;

/* htga_barrier() flags. */
#define HTGA_BARRIER_CLOSE 1u /* the daemon closes the run's open blocks before answering */

typedef struct htga htga;

/* Counters of one handle. Read with htga_stats_get(); fields are only
 * appended. Every message offered with valid arguments (an htga_send() call
 * or an htga_send_many() entry) ends in exactly one of msgs_sent,
 * drops_queue, drops_offline and skipped_budget; until then it is counted in
 * queue_msgs. So at any time offered == msgs_sent + drops_queue +
 * drops_offline + skipped_budget + queue_msgs, and after htga_flush()
 * returns HTGA_OK queue_msgs is 0. */
typedef struct htga_stats {
    uint64_t sends;         /* messages accepted into the queue (some may be evicted later) */
    uint64_t msgs_sent;     /* messages handed to ZeroMQ */
    uint64_t samples_sent;  /* values in those messages */
    uint64_t bytes_sent;    /* payload bytes in those messages */
    uint64_t drops_queue;   /* dropped while the daemon was connected: no room in the queue
                               (evicted, or the new message itself), no memory */
    uint64_t drops_offline; /* dropped while the daemon was not connected: no room in the
                               queue, or still queued at htga_destroy() */
    uint64_t lambdas_recv;  /* lambda messages received */
    uint64_t bad_msgs_recv; /* messages from the daemon that failed to decode */
    /* since 0.4 */
    uint64_t offered;           /* valid messages offered (see above) */
    uint64_t skipped_budget;    /* not sent: the budget's "every Nth step" (HTGA_SKIPPED) */
    uint64_t drops_evicted;     /* of drops_queue + drops_offline: queued messages shed for
                                   newer ones (longest-queue-drop) */
    uint64_t queue_msgs;        /* messages queued now (being drawn or handed over included) */
    uint64_t queue_bytes;       /* bytes of sample buffers now: queued, being drawn, lent to
                                   ZeroMQ, pooled; never above HTGA_OPT_QUEUE_BYTES */
    uint64_t queue_bytes_max;   /* the highest queue_bytes so far */
    uint64_t budgets_recv;      /* BUDGET messages received */
    uint64_t acks_recv;         /* ACK messages received */
    uint64_t acks_unmatched;    /* of those, answering no waiting barrier (ignored) */
    uint64_t barriers_sent;     /* BARRIER messages handed to ZeroMQ */
    uint64_t connections;       /* connections made (handshakes) since create */
    uint64_t budget_values_min; /* the smallest values-per-send of the budgets in force, 0: none */
    uint64_t budget_values_max; /* the largest */
    uint64_t refused;           /* notices that htgad refused a new run or group of this handle
                                   (limits per peer, or full); its values were not kept */
    uint64_t auth_failures;     /* connection attempts the daemon refused in the CURVE
                                   handshake (wrong or missing keys) */
} htga_stats;

/* The answer to a barrier (htga_barrier()). The first seven fields are the
 * daemon's (docs/protocol.md, "ACK record"); the rest the client's view of
 * the same connection. Fields are only appended. */
typedef struct htga_ack {
    uint64_t msgs;           /* SAMPLES the daemon received on this connection */
    uint64_t values;         /* values in them */
    uint64_t values_refused; /* of those, refused (stream or run limit, no memory) */
    uint64_t blocks_stored;  /* the run's blocks committed, in the daemon's life */
    uint64_t blocks_lost;    /* the run's blocks closed but not stored */
    uint32_t status;         /* 0: answered normally; 1: the daemon is stopping */
    uint32_t flags;          /* reserved, 0 */
    uint64_t msgs_sent;      /* SAMPLES this handle handed over on that connection before the
                                barrier: equal to msgs when none was lost on the way */
    uint64_t values_sent;    /* values in them */
    uint64_t connection;     /* which connection the barrier went on (1: the first; compare
                                with htga_stats.connections) */
} htga_ack;

/* The library's version, "MAJOR.MINOR.PATCH", and as a number (see
 * HTGA_VERSION_NUMBER); compare with the macros to check header and library match. */
HTGA_API const char *htga_version(void);
HTGA_API int htga_version_number(void);

/* Static English text for an error code (unknown codes included); never
 * NULL, never to be freed. */
HTGA_API const char *htga_strerror(int code);

/*
 * Creates a client for run `run` talking to the daemon at `endpoint` (a
 * ZeroMQ endpoint such as "tcp://127.0.0.1:5555"). Returns at once: the
 * connection is made, and remade after a daemon restart, in the background.
 * On HTGA_OK *out owns a new handle to release with htga_destroy(); on error
 * *out is set to NULL. Names are 1 to 128 bytes of UTF-8 without control bytes.
 * Configuration by environment: a NULL or empty `endpoint` is read from
 * HTGA_ENDPOINT and a NULL or empty `run` from HTGA_RUN (HTGA_EINVAL when
 * neither gives one); the rank starts at RANK (as torchrun sets it) when
 * that is a decimal 0..2^32-1, else 0; htga_set_int(HTGA_OPT_RANK) overrides.
 */
HTGA_API int htga_create(htga **out, const char *endpoint, const char *run);

/*
 * Releases the handle and sets *h to NULL; accepts NULL and a pointer to
 * NULL. Messages still queued are given at most 100 ms to leave (call
 * htga_flush() first to wait longer); it never hangs.
 */
HTGA_API void htga_destroy(htga **h);

/*
 * Sets an integer option (see htga_option); it applies to the sends that
 * follow. MAX_SAMPLES takes 0..1048576 (0 = all values, up to the protocol's
 * 1048576 per message); RANK 0..2^32-1; QUEUE_BYTES 65536..2^40 (a smaller
 * bound than what is held is reached as messages leave, or are shed by the
 * next sends); QUEUE_DEPTH 0..1048576 (0 = no cap on the message count);
 * SEED any value (same seed, same samples); SAMPLE_CLUSTER 1..4096 (see
 * htga_send()); FOLLOW_BUDGET 0 or 1; CONNECT_GRACE_MS 0..60000 and
 * HELLO_INTERVAL_MS 10..60000. Returns HTGA_OK, HTGA_EINVAL for a bad value,
 * HTGA_ENOTSUP for an unknown option.
 */
HTGA_API int htga_set_int(htga *h, htga_option opt, int64_t value);

/*
 * Sets a text option (the CURVE ones; value is copied). With the server's
 * key set, the handle talks CURVE: encrypted, and htgad admits it only when
 * its public key is on htgad's allow-list. Without a key pair of its own it
 * uses a fresh one (enough for a daemon started with --curve-clients any).
 * Setting a key reconnects at once; messages sent before that wait in the
 * start-up grace queue (HTGA_OPT_CONNECT_GRACE_MS), so set the keys right
 * after htga_create(). The environment can do the same without code:
 * htga_create() reads HTGA_CURVE_SERVER_KEY and HTGA_CURVE_KEY_FILE.
 * Returns HTGA_OK, HTGA_EINVAL for a malformed key or an unreadable file,
 * HTGA_ENOTSUP for an unknown option or a libzmq without CURVE.
 */
HTGA_API int htga_set_str(htga *h, htga_option opt, const char *value);

/*
 * Sends a sample of the gradient grad[0..n-1] of parameter group `group` at
 * training step `step`. When n exceeds the max_samples option, a sample of
 * max_samples values is drawn without bias, so the cost does not grow with
 * n. By default it is stratified: one uniformly chosen value from each of
 * max_samples equal strata; that reads one cache line per value taken, so
 * a send of a gradient much larger than max_samples costs ~20 times a copy
 * of the sample. With SAMPLE_CLUSTER L > 1 it is stratified cluster
 * sampling: grad is cut into runs of L consecutive values and one run is
 * chosen uniformly from each of ceil(max_samples / L) strata (the last one
 * gives the remaining values as one run that wraps around inside it; L >
 * max_samples is one run of max_samples values), so the send
 * reads about as much memory as it ships (L = 16: a 64-byte cache line of
 * an aligned grad), at a statistical price: neighbouring gradient values
 * are correlated (a weight row shares its output's error, a conv kernel
 * its feature maps), so runs carry less information than as many
 * scattered values (bench/README-ingest.md has the measured figures). The
 * message says so (the wire's cluster field, docs/protocol.md) and the
 * daemon widens the standard error and interval it reports for alpha by
 * the design effect it measures in each block, so the reported uncertainty,
 * and the policy's CI-too-wide fallback, stay honest. Run sampling needs an
 * htgad 0.3.0 or later: an older one rejects every
 * message carrying the field (bad_flags in its /api/v1/stats), and the
 * sends, though handed over, never reach a block.
 * Either way every value of a stratum is taken with the same probability,
 * (values it gives) / (its size): max_samples / n up to the rounding of
 * stratum sizes, except that with L > 1 the last stratum also absorbs the
 * rounding of the run counts (fewer than L + n/max_samples * its run length
 * values), so its rate can be lower. The sample keeps grad's order.
 * The number of values sent is m = min(max_samples, n), or, once the
 * daemon has sent a budget for the group (or for the whole run; the group's
 * own wins), min(budget values, max_samples, n); a budget may also ask for
 * one send of every N offered steps of the group: the others return
 * HTGA_SKIPPED and are counted in skipped_budget (HTGA_OPT_FOLLOW_BUDGET = 0
 * ignores budgets). A daemon before 0.4 sends no budget.
 * grad is only read during the call (borrowed); the sample is copied once,
 * into a buffer of the handle's queue, which the I/O thread lends to ZeroMQ.
 * Never blocks on the network: returns HTGA_OK when queued (it leaves as
 * soon as the daemon takes it), HTGA_SKIPPED as said, HTGA_EDROPPED (and
 * counts it) when it cannot fit in the queue even after shedding (what
 * holds the bytes is being drawn or lent to ZeroMQ), HTGA_EINVAL for bad
 * arguments (NULL, n == 0, bad group name; not counted), HTGA_ENOMEM when no
 * buffer could be allocated (counted in drops_queue). A queued message can
 * still be shed for a newer one when the queue is full (drops_evicted), or
 * dropped at htga_destroy(); htga_stats_get() counts every such message.
 */
HTGA_API int htga_send(htga *h, const char *group, int64_t step, const float *grad, size_t n);

/*
 * Sends samples of several groups' gradients at one training step: message
 * i (0 <= i < count) is what htga_send(h, groups[i], step, grads[i], ns[i])
 * would send, in that order, each its own message, sampled, queued, shed and
 * counted as by htga_send() (stats count messages, not calls); the I/O
 * thread is woken at most once. All arrays are borrowed for the call only.
 * Never blocks on the network. rcs, when not NULL, receives each message's
 * code as htga_send() would return it (HTGA_OK: queued, HTGA_SKIPPED,
 * HTGA_EDROPPED or HTGA_ENOMEM), true when the call returns. Returns the
 * number of messages queued (rcs HTGA_OK), 0..count; or HTGA_EINVAL, and
 * nothing is sent, when h is NULL, count exceeds INT_MAX, an array is NULL
 * while count > 0, or any message has a bad argument (NULL grads[i], ns[i]
 * == 0, bad group name). count == 0 returns 0.
 */
HTGA_API int htga_send_many(htga *h, int64_t step, size_t count, const char *const *groups,
                            const float *const *grads, const size_t *ns, int *rcs);

/* The latest lambda the daemon pushed for `group` of this run, or 1.0 when
 * none has arrived (or on bad arguments). Never blocks; costs a hash lookup
 * under a lock, so calling it every step is fine. */
HTGA_API double htga_lambda(htga *h, const char *group);

/* Like htga_lambda() but says whether one arrived: HTGA_OK and *lambda set,
 * or HTGA_ENOTFOUND (*lambda set to 1.0); HTGA_EINVAL (and 1.0 when lambda
 * is not NULL) for a NULL handle or a bad group name. */
HTGA_API int htga_lambda_get(htga *h, const char *group, double *lambda);

/*
 * Waits up to timeout_ms for every queued message to be handed to ZeroMQ
 * (or shed and counted). While the daemon is away messages stay queued, so
 * this times out. ZeroMQ then writes them out in its own thread;
 * htga_destroy() gives that up to 100 ms. It says nothing of what the daemon
 * did with them: htga_barrier() does. A negative timeout counts as 0.
 * Returns HTGA_OK, HTGA_ETIMEDOUT, or HTGA_EINVAL for a NULL handle.
 */
HTGA_API int htga_flush(htga *h, int timeout_ms);

/*
 * A barrier: waits until every message queued on this handle before the
 * call has been handed to ZeroMQ, sends a BARRIER with a fresh token, and
 * waits for the daemon's ACK of that token, which it sends once everything
 * this connection sent before the barrier is estimated and committed (with
 * HTGA_BARRIER_CLOSE, after closing the run's open blocks, so that a
 * partial block is stored too). One deadline, timeout_ms (negative: 0),
 * covers the whole wait. On HTGA_OK *out (when not NULL; size =
 * sizeof(htga_ack) of the caller's header, only that many bytes written)
 * holds the daemon's counts and the client's for the same connection:
 * everything arrived when out->msgs == out->msgs_sent, and all of this
 * handle's messages went on that connection when out->connection == 1 (or
 * the connection count when the barrier started). Messages queued after the
 * call by other threads may leave before the barrier. Several threads may
 * wait on barriers at once; ACKs with unknown tokens are counted
 * (acks_unmatched) and ignored. Returns HTGA_OK, HTGA_ETIMEDOUT (not
 * answered by the deadline: the daemon is away, slow, or older than 0.4,
 * which never answers: it counts the BARRIER as bad_kind), HTGA_ERESET (the
 * connection was lost after the barrier left), or HTGA_EINVAL (NULL handle,
 * unknown flags). On an error *out is zeroed except the client's fields.
 */
HTGA_API int htga_barrier(htga *h, unsigned flags, int timeout_ms, htga_ack *out, size_t size);

/*
 * The budget the daemon set for `group` (its own, or else the run-wide
 * one): values per send wanted and "every Nth step". Returns HTGA_OK with
 * both set, HTGA_ENOTFOUND when no budget applies (*values 0, *every 1), or
 * HTGA_EINVAL for a NULL handle or a bad group name. Never blocks. Pointers
 * may be NULL.
 */
HTGA_API int htga_group_budget(htga *h, const char *group, uint32_t *values, uint32_t *every);

/* 1 while a connection to the daemon is up (its handshake done, no
 * disconnect seen since), else 0 (also for NULL). Never blocks; cheap
 * enough to call every step (a trainer may then stop applying lambdas while
 * the daemon is away, since sends no longer fail then: they queue). */
HTGA_API int htga_connected(htga *h);

/* Copies a consistent snapshot of the counters into *out (size =
 * sizeof(htga_stats) of the caller's header; only that many bytes are
 * written, so older callers keep working when fields are appended). Returns
 * HTGA_OK or HTGA_EINVAL for a NULL argument. */
HTGA_API int htga_stats_get(htga *h, htga_stats *out, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* HTGA_H */
