/*
 * wire.h - the htga wire protocol: encoder and pure decoder.
 *
 * DESIGN: ZeroMQ multipart messages over one DEALER (client) to ROUTER
 * (daemon) connection; docs/protocol.md is the normative description. Every
 * message starts with a header frame: a fixed 48-byte little-endian part
 * followed by the run name and the group name (UTF-8 bytes, no NUL, lengths in
 * the fixed part). A second frame carries the body:
 *
 *   kind     direction         body frame
 *   HELLO    client -> daemon  none (1 frame): "I belong to run R"; the daemon
 *                              answers with the run's current lambdas (and
 *                              budgets, when step carries WIRE_FEAT_FLOW)
 *   SAMPLES  client -> daemon  count little-endian float32 values
 *   LAMBDA   daemon -> client  a 40-byte wire_lambda record
 *   BARRIER  client -> daemon  none (1 frame): "answer once all I sent before
 *                              this is stored"; cluster holds its flags
 *   ACK      daemon -> client  a 48-byte wire_ack record: the barrier's answer
 *   BUDGET   daemon -> client  a 16-byte wire_budget record: values per send
 *                              wanted for one group (or every group) of a run
 *
 * Fixed header (offsets in bytes, all little-endian):
 *    0 u32 magic 0x41475448 ("HTGA" in memory)   4 u8 version (1)
 *    5 u8  kind                                  6 u8 dtype (1 = float32)
 *    7 u8  flags (0; reserved)                   8 u16 run_len
 *   10 u16 group_len                            12 u32 rank
 *   16 i64 step                                 24 u64 seq
 *   32 u32 count                                36 u32 cluster (SAMPLES; else 0)
 *   40 u64 dropped (messages this client dropped so far)
 *   48 run bytes, then group bytes
 *
 * Per kind (docs/protocol.md has the full rules): HELLO and BARRIER have
 * group_len 0 and count 0; SAMPLES has group_len 1..128 and count
 * 1..WIRE_COUNT_MAX; LAMBDA has group_len 1..128 and count 1; ACK group_len 0
 * and count 1; BUDGET group_len 0..128 (0: every group of the run) and count
 * 1. dtype is 1 in every kind. cluster is 0 in HELLO, LAMBDA, ACK and BUDGET;
 * in BARRIER it holds the barrier's flags (WIRE_BARRIER_*); in SAMPLES 0 or
 * 1 means independently drawn values, L >= 2 means the body is runs of L
 * consecutive input values (run j = values [jL, jL+L), the last may be
 * shorter), L <= count (<= WIRE_CLUSTER_MAX).
 *
 * The decoder never trusts a field: it checks frame count, sizes, magic,
 * version, kind, dtype, name lengths and bytes, count against the limit and
 * against the body length, and reports the first error with a code.
 */
#ifndef HTGA_WIRE_H
#define HTGA_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_MAGIC       0x41475448u
#define WIRE_VERSION     1
#define WIRE_FIXED_LEN   48
#define WIRE_NAME_MAX    128            /* bytes, run and group names each */
#define WIRE_COUNT_MAX   1048576        /* values in one SAMPLES message */
#define WIRE_CLUSTER_MAX WIRE_COUNT_MAX /* run length in one SAMPLES message */
#define WIRE_LAMBDA_LEN  40
#define WIRE_ACK_LEN     48
#define WIRE_BUDGET_LEN  16
#define WIRE_EVERY_MAX   65536 /* BUDGET: the longest "send every Nth step" */

/* HELLO's step field: what the client understands (HELLO's step carried no
 * meaning before htga 0.4, so an older daemon ignores it). */
#define WIRE_FEAT_FLOW 1u /* follows BUDGET, reads ACK */

/* BARRIER's flags (its cluster field). */
#define WIRE_BARRIER_CLOSE 1u /* close the run's open blocks before answering */
#define WIRE_BARRIER_FLAGS WIRE_BARRIER_CLOSE
#define WIRE_HEADER_MAX    (WIRE_FIXED_LEN + 2 * WIRE_NAME_MAX)
#define WIRE_DTYPE_F32     1

typedef enum wire_kind {
    WIRE_HELLO = 1,
    WIRE_SAMPLES = 2,
    WIRE_LAMBDA = 3,
    WIRE_BARRIER = 4,
    WIRE_ACK = 5,
    WIRE_BUDGET = 6,
} wire_kind;

/* LAMBDA reason codes from WIRE_REFUSED up are not estimates: the daemon
 * refused the (run, group) of a SAMPLES message and did not keep its
 * values. lambda is 1, alpha NaN, block 0, step the refused message's
 * step. A client counts these instead of storing the lambda. */
#define WIRE_REFUSED              64
#define WIRE_REFUSED_PEER_STREAMS 64 /* this peer holds its share of streams */
#define WIRE_REFUSED_PEER_RUNS    65 /* this peer opens new runs too fast */
#define WIRE_REFUSED_FULL         66 /* the daemon holds its most streams (or peers) */

/* Decode errors: each has a stable code and a name for counters. */
typedef enum wire_err {
    WIRE_OK = 0,
    WIRE_E_FRAMES,     /* wrong number of frames for the kind */
    WIRE_E_SHORT,      /* header frame shorter than the fixed part */
    WIRE_E_MAGIC,      /* bad magic */
    WIRE_E_VERSION,    /* unsupported version */
    WIRE_E_KIND,       /* unknown kind, or a kind not allowed in this direction */
    WIRE_E_DTYPE,      /* unsupported dtype */
    WIRE_E_FLAGS,      /* reserved bits or fields not zero */
    WIRE_E_NAME_LEN,   /* run or group length 0 (where required) or over WIRE_NAME_MAX */
    WIRE_E_HEADER_LEN, /* header frame length != fixed part + names */
    WIRE_E_NAME_BYTES, /* a name holds NUL, control bytes or invalid UTF-8 */
    WIRE_E_COUNT,      /* count 0 or over WIRE_COUNT_MAX */
    WIRE_E_BODY_LEN,   /* body length disagrees with count (or with the kind) */
    WIRE_E_VALUE,      /* a LAMBDA, ACK or BUDGET record field out of range */
    WIRE_E_CLUSTER,    /* SAMPLES cluster (run length) over count */
    WIRE_E__COUNT      /* number of codes, for counter arrays */
} wire_err;

/* A decoded message. Names point into the caller's header frame (borrowed:
 * valid while that frame is), they are not NUL-terminated. */
typedef struct wire_msg {
    uint8_t version;
    uint8_t kind;
    uint8_t dtype;
    uint32_t rank;
    int64_t step;
    uint64_t seq;
    uint32_t count;
    uint32_t cluster; /* SAMPLES: run length L of the body, 0 or 1 = independent values;
                         BARRIER: its flags (WIRE_BARRIER_*) */
    uint64_t dropped;
    const char *run;
    size_t run_len;
    const char *group;
    size_t group_len;
    const void *body; /* SAMPLES: count LE float32 values (maybe unaligned); else a record */
    size_t body_len;
} wire_msg;

/* The LAMBDA body: a recommendation for (run, group). */
typedef struct wire_lambda {
    double lambda;   /* the scale to apply */
    double alpha;    /* the Hill alpha behind it (NaN when unreliable) */
    uint64_t block;  /* block number it was computed after */
    int64_t step;    /* last step of that block */
    uint32_t reason; /* 0 = estimate used, else a fallback reason code */
    uint32_t flags;  /* reserved, 0 */
} wire_lambda;

/* The ACK body: what the daemon did with everything one client connection
 * sent before a BARRIER. msgs and values count that connection's SAMPLES
 * since it connected; blocks_* count the run's blocks in this daemon's life. */
typedef struct wire_ack {
    uint64_t msgs;           /* SAMPLES messages received from the connection */
    uint64_t values;         /* values in them */
    uint64_t values_refused; /* of those, refused (stream or run limit, no memory) */
    uint64_t blocks_stored;  /* the run's blocks committed to the database */
    uint64_t blocks_lost;    /* the run's blocks closed but not stored, and why is counted */
    uint32_t status;         /* 0: answered normally; 1: the daemon is stopping */
    uint32_t flags;          /* reserved, 0 */
} wire_ack;

/* The BUDGET body: how a client should send one group (or every group) of a
 * run until the next BUDGET. */
typedef struct wire_budget {
    uint32_t values; /* values per send wanted (1..WIRE_COUNT_MAX): the client's
                        max_samples for the group, when smaller */
    uint32_t every;  /* send every Nth offered step (1..WIRE_EVERY_MAX), 1 = each */
    uint32_t ranks;  /* the ranks the daemon counts in the run (informative) */
    uint32_t flags;  /* reserved, 0 */
} wire_budget;

typedef struct wire_error {
    wire_err code;
    size_t offset;    /* byte offset in the header frame where it was found */
    const char *text; /* static text */
} wire_error;

/* Static name of an error code ("bad_magic", ...) for counters and logs. */
const char *wire_err_name(wire_err code);

/*
 * Decodes one message of nframes frames (frames[i] of lens[i] bytes), as
 * received after any ZeroMQ routing identity was removed. Pure: no I/O, no
 * allocation. On WIRE_OK fills *msg (pointing into frames); otherwise fills
 * *err (if not NULL) with the first problem and returns its code.
 */
wire_err wire_decode(const void *const *frames, const size_t *lens, size_t nframes, wire_msg *msg,
                     wire_error *err);

/* Who may send a kind (wire_decode() accepts every kind). */
typedef enum wire_dir {
    WIRE_DIR_ANY = 0,       /* no direction check */
    WIRE_DIR_TO_DAEMON = 1, /* HELLO, SAMPLES and BARRIER only */
    WIRE_DIR_TO_CLIENT = 2, /* LAMBDA, ACK and BUDGET only */
} wire_dir;

/*
 * Like wire_decode() but also rejects, with WIRE_E_KIND, a kind that may not
 * travel in direction dir: a daemon calls it with WIRE_DIR_TO_DAEMON, a
 * client with WIRE_DIR_TO_CLIENT.
 */
wire_err wire_decode_dir(const void *const *frames, const size_t *lens, size_t nframes,
                         wire_dir dir, wire_msg *msg, wire_error *err);

/*
 * Writes a header frame into buf (at least WIRE_HEADER_MAX bytes). msg's
 * kind, rank, step, seq, count, cluster (SAMPLES and BARRIER only; 0 is
 * written in the other kinds), dropped and names are used; version, magic
 * and dtype are set here. Returns the frame length, or 0 when a name is too
 * long, a SAMPLES cluster exceeds its count or BARRIER flags are unknown (a
 * frame the decoder would refuse).
 */
size_t wire_encode_header(const wire_msg *msg, void *buf, size_t buf_len);

/* Returns 1 when the len bytes at name are a valid run or group name by the
 * byte rules (UTF-8 in shortest form, no NUL, C0 control or DEL), else 0.
 * Does not check the length limits (for encoders checking input). */
int wire_name_ok(const void *name, size_t len);

/* Encode/decode the record bodies (little-endian; LAMBDA 40 bytes, ACK 48,
 * BUDGET 16). Decode only a body wire_decode() accepted. */
void wire_encode_lambda(const wire_lambda *lam, void *buf);
void wire_decode_lambda(const void *buf, wire_lambda *lam);
void wire_encode_ack(const wire_ack *ack, void *buf);
void wire_decode_ack(const void *buf, wire_ack *ack);
void wire_encode_budget(const wire_budget *b, void *buf);
void wire_decode_budget(const void *buf, wire_budget *b);

/* The number of frames a valid message of `kind` has (1 or 2; 0 for an
 * unknown kind). */
size_t wire_frames(wire_kind kind);

#endif /* HTGA_WIRE_H */
