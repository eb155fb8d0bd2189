/*
 * htga.h - libhtga, the client a trainer embeds to stream gradient samples
 * to htgad and receive per-group gradient scales (lambda) back.
 *
 * This is the one public header. Anything not declared here is not API.
 * Every call that can fail returns an int code, HTGA_OK == 0, negative on
 * error; htga_strerror() gives static text for a code.
 *
 * Thread-safety: one htga handle may be used from several threads at once;
 * htga_send(), htga_lambda(), htga_lambda_get(), htga_set_int() and
 * htga_stats_get() never block on the network (they take short internal
 * locks); htga_flush() waits only as long as it is told. htga_send() hands
 * its message to ZeroMQ in the calling thread (one lock around the handle's
 * socket; several threads sending on one handle take turns for that short
 * moment, never for the sampling); one background I/O thread per handle
 * receives lambdas, says HELLO and follows the connection. htga_destroy()
 * must not race with other calls on the same handle. Data-parallel workers (ranks)
 * each create their own handle with their rank set; all of them receive the
 * run's lambdas. A handle belongs to the process that created it: after
 * fork() the child must not use (or destroy) the parent's handles; it may
 * create its own.
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

#define HTGA_VERSION_MAJOR  0
#define HTGA_VERSION_MINOR  3
#define HTGA_VERSION_PATCH  0
#define HTGA_VERSION_STRING "0.3.0"
#define HTGA_VERSION_NUMBER                                                                        \
    (HTGA_VERSION_MAJOR * 1000000 + HTGA_VERSION_MINOR * 1000 + HTGA_VERSION_PATCH)

/* Error codes. */
#define HTGA_OK        0
#define HTGA_EINVAL    (-1) /* a bad argument (NULL, empty or over-long name, bad option value) */
#define HTGA_ENOMEM    (-2) /* out of memory */
#define HTGA_EZMQ      (-3) /* ZeroMQ refused (bad endpoint, context failure) */
#define HTGA_EDROPPED  (-4) /* the message was dropped (queue full, daemon away); counted */
#define HTGA_ENOTFOUND (-5) /* no lambda has arrived for this group yet */
#define HTGA_ETIMEDOUT (-6) /* htga_flush(): messages still queued at the deadline */
#define HTGA_ENOTSUP   (-7) /* unknown option */
#define HTGA_EBUSY     (-8) /* option cannot change now (HTGA_OPT_QUEUE_DEPTH with messages queued) */

/* Options, set with htga_set_int(). New options are appended, never renumbered. */
typedef enum htga_option {
    HTGA_OPT_MAX_SAMPLES = 1,       /* values kept per send; 0 = all (default 65536) */
    HTGA_OPT_RANK = 2,              /* this worker's rank (default 0) */
    HTGA_OPT_QUEUE_DEPTH = 3,       /* messages held during the start-up grace (default 64) */
    HTGA_OPT_SEED = 4,              /* subsampling seed (default: from time and address) */
    HTGA_OPT_CONNECT_GRACE_MS = 5,  /* after create, queue (not drop) while the first
                                       connection is made, this long (default 500, 0..60000) */
    HTGA_OPT_HELLO_INTERVAL_MS = 6, /* HELLO period while connected (default 1000, 10..60000) */
    HTGA_OPT_SAMPLE_CLUSTER = 7,    /* subsample in runs of this many consecutive values
                                       (1..4096; default 1: one value per stratum) */
    /* CURVE (docs/security.md), set with htga_set_str(): keys are 40-character
     * Z85 text as printed by `htga keygen`. */
    HTGA_OPT_CURVE_SERVER_KEY = 8,  /* htgad's public key: turns CURVE on */
    HTGA_OPT_CURVE_PUBLIC_KEY = 9,  /* this client's public key (in htgad's --curve-clients) */
    HTGA_OPT_CURVE_SECRET_KEY = 10, /* this client's secret key */
    HTGA_OPT_CURVE_KEY_FILE = 11,   /* a `htga keygen` file: this client's public and secret
                                       keys (and the server's, on a "server" line) */
} htga_option;

typedef struct htga htga;

/* Counters of one handle. Read with htga_stats_get(); fields are only
 * appended. After htga_flush() returns HTGA_OK, every htga_send() call with
 * valid arguments is in exactly one of msgs_sent, drops_queue and
 * drops_offline. */
typedef struct htga_stats {
    uint64_t sends;         /* htga_send() calls accepted */
    uint64_t msgs_sent;     /* messages handed to ZeroMQ */
    uint64_t samples_sent;  /* values in those messages */
    uint64_t bytes_sent;    /* payload bytes in those messages */
    uint64_t drops_queue;   /* dropped: the client's grace queue full, no free buffer, no memory */
    uint64_t drops_offline; /* dropped: daemon not connected, gone, or slow (its pipe full) */
    uint64_t lambdas_recv;  /* lambda messages received */
    uint64_t bad_msgs_recv; /* messages from the daemon that failed to decode */
    uint64_t refused;       /* notices that htgad refused a new run or group of this handle
                               (limits per peer, or full); its values were not kept */
    uint64_t auth_failures; /* connection attempts the daemon refused in the CURVE
                               handshake (wrong or missing keys) */
} htga_stats;

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
 * 1048576 per message); RANK 0..2^32-1; QUEUE_DEPTH 1..4096, only while
 * nothing is queued (else HTGA_EBUSY: set it before the first send); SEED any
 * value (same seed, same samples); SAMPLE_CLUSTER 1..4096 (see htga_send()).
 * Returns HTGA_OK, HTGA_EINVAL for a bad value, HTGA_ENOTSUP for an unknown
 * option.
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
 * grad is only read during the call (borrowed); the sample is copied
 * once, into a buffer the handle owns and lends to ZeroMQ, and handed to
 * ZeroMQ before the call returns (during the start-up grace, see
 * HTGA_OPT_CONNECT_GRACE_MS, it waits in the handle's queue for the first
 * connection instead, and the I/O thread sends it).
 * Never blocks: returns HTGA_OK when handed over (or queued in the grace),
 * HTGA_EDROPPED (and counts it) when the daemon is away or too slow to take
 * it (its pipe is full), when every buffer is still lent to ZeroMQ, or when
 * the grace queue is full; HTGA_EINVAL for bad arguments (NULL, n == 0, bad
 * group name), HTGA_ENOMEM when the sample buffer could not grow (counted in
 * drops_queue). A message queued in the grace can still be dropped later
 * (the grace ends without a connection); htga_stats_get() counts it.
 */
HTGA_API int htga_send(htga *h, const char *group, int64_t step, const float *grad, size_t n);

/*
 * Sends samples of several groups' gradients at one training step: message
 * i (0 <= i < count) is what htga_send(h, groups[i], step, grads[i], ns[i])
 * would send, in that order, each its own message with its own sequence
 * number, sampled, dropped and counted as by htga_send() (stats count
 * messages, not calls), with one difference: whether ZeroMQ has room is
 * looked at once per 32 messages, before they are drawn, not before each;
 * when its pipe fills inside such a batch (the daemon is slow), the
 * messages it then refuses are counted in drops_offline but reported as
 * HTGA_OK and in sends, as htga_send() reports a refusal after its own
 * look. The other difference is the cost: the samples are
 * drawn first and then handed to ZeroMQ together under one lock, with one
 * look at the socket afterwards, so the step pays the locks and that look
 * once, ZeroMQ's I/O thread (woken by the first message) finds the others
 * already queued, and a binding pays one foreign call per step (a trainer's
 * per-step send of all its groups).
 * All arrays are borrowed for the call only. Never blocks. rcs, when not
 * NULL, receives each message's code (HTGA_OK, HTGA_EDROPPED or
 * HTGA_ENOMEM, as htga_send() would return it). Returns the number of
 * messages accepted (handed over, or queued in the start-up grace: those
 * counted in sends), 0..count; or
 * HTGA_EINVAL, and nothing is sent, when h is NULL, count exceeds INT_MAX,
 * an array is NULL while count > 0, or any message has a bad argument (NULL
 * grads[i], ns[i] == 0, bad group name). count == 0 returns 0.
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
 * Waits up to timeout_ms for every queued message to be handed to ZeroMQ (or
 * dropped and counted, when the daemon is away). Only messages of the
 * start-up grace wait in the handle's queue: once connected, htga_send()
 * hands each message to ZeroMQ before it returns. ZeroMQ then writes them
 * out in its own thread; htga_destroy() gives that up to 100 ms. A negative
 * timeout counts as 0. Returns HTGA_OK, HTGA_ETIMEDOUT, or HTGA_EINVAL for a
 * NULL handle.
 */
HTGA_API int htga_flush(htga *h, int timeout_ms);

/* Copies a consistent snapshot of the counters into *out (size =
 * sizeof(htga_stats) of the caller's header; only that many bytes are
 * written, so older callers keep working when fields are appended). Returns
 * HTGA_OK or HTGA_EINVAL for a NULL argument. */
HTGA_API int htga_stats_get(htga *h, htga_stats *out, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* HTGA_H */
