/*
 * stats.h - htgad's counters, readable from any thread.
 *
 * DESIGN: one struct of relaxed atomics; each counter has one writer thread
 * (ingest, estimator or writer), and readers (the stats file, the HTTP API)
 * load them one by one (relaxed). Queue depths are read
 * from the queues at snapshot time. stats_write() prints `key value` lines,
 * the format of --stats-file.
 */
#ifndef HTGAD_STATS_H
#define HTGAD_STATS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "wire.h"

/* Why data was dropped. */
typedef enum drop_reason {
    DROP_STREAM_LIMIT = 0, /* a new run or (run, group) over --max-streams (samples) */
    DROP_EST_QUEUE,        /* estimator queue full: a whole block dropped (blocks); stays 0
                              since 0.4: ingest stops reading instead (back-pressure) */
    DROP_NOMEM,            /* a block buffer could not be allocated (samples) */
    DROP_PEER_LIMIT,       /* too many client identities for one run (messages) */
    DROP_LAMBDA_SEND,      /* a lambda push could not be queued to a client */
    DROP_LAMBDA_PIPE,      /* estimator -> ingest pipe full (lambdas) */
    DROP_PEER_STREAMS,     /* a new stream over --peer-max-streams of its peer (samples) */
    DROP_PEER_RUNS,        /* a new run over --peer-runs-per-s of its peer (samples) */
    DROP__COUNT
} drop_reason;

typedef struct htgad_stats {
    _Atomic uint64_t msgs;         /* messages received (all kinds, valid or not) */
    _Atomic uint64_t msgs_hello;   /* valid HELLO */
    _Atomic uint64_t msgs_samples; /* valid SAMPLES */
    _Atomic uint64_t samples;      /* values in valid SAMPLES */
    _Atomic uint64_t bytes;        /* bytes of all frames received */
    _Atomic uint64_t decode_errors[WIRE_E__COUNT];
    _Atomic uint64_t drops[DROP__COUNT];
    _Atomic uint64_t streams;          /* (run, group) streams held */
    _Atomic uint64_t runs;             /* runs held */
    _Atomic uint64_t streams_expired;  /* streams freed after --stream-idle-s without samples */
    _Atomic uint64_t auth_refused;     /* ZeroMQ handshakes refused (CURVE keys missing or wrong) */
    _Atomic uint64_t blocks_closed;    /* blocks handed to the estimator */
    _Atomic uint64_t blocks_zero_copy; /* of those, handed over in the message they came in */
    _Atomic uint64_t blocks_estimated;
    _Atomic uint64_t blocks_fallback; /* lambda fell back to 1 */
    _Atomic uint64_t lambdas_sent;    /* LAMBDA messages pushed to clients */
    _Atomic uint64_t ingest_naps;     /* ingest slept to let messages gather (under load) */
    _Atomic uint64_t rows_written;    /* block rows committed */
    _Atomic uint64_t transactions;    /* commits */
    _Atomic uint64_t write_errors;    /* failed write tries and refused rows (events, not rows) */
    _Atomic uint64_t policy_changes;  /* policy rows written */
    /* flow control (flow.h) */
    _Atomic uint64_t est_bytes;       /* bytes held by the estimator queues (gauge) */
    _Atomic uint64_t est_bytes_max;   /* high-water mark of est_bytes */
    _Atomic uint64_t backpressure_ms; /* ms ingest stopped reading because the queues were full */
    _Atomic uint64_t backpressure_events; /* times it started doing so */
    _Atomic uint64_t est_busy_ns;         /* estimators' time estimating blocks */
    _Atomic uint64_t est_values;          /* values in the blocks they estimated */
    _Atomic uint64_t blocks_lost;         /* blocks closed but never stored (estimator refused,
                                             no memory, write failure) */
    _Atomic uint64_t barriers;            /* BARRIER messages taken */
    _Atomic uint64_t acks_sent;           /* ACK answers sent */
    _Atomic uint64_t budgets_sent;        /* BUDGET messages sent */
    _Atomic uint64_t budget_ppm;          /* the budget factor, parts per million of a full send */
    _Atomic uint64_t client_drops;        /* messages clients report they dropped (all runs) */
    _Atomic uint64_t rows_lost;      /* rows (blocks, policy changes) taken in and never stored */
    _Atomic uint64_t writer_failing; /* 1 while the writer's tries fail (it retries) */
    _Atomic uint64_t writer_queue_full; /* pushes that waited for room in the writer's queue */
    _Atomic uint64_t wal_checkpoints;   /* WAL truncations after the disk was full */
} htgad_stats;

extern htgad_stats g_stats;

#define STAT_ADD(field, n) atomic_fetch_add_explicit(&g_stats.field, (n), memory_order_relaxed)
#define STAT_INC(field)    STAT_ADD(field, 1)
#define STAT_SET(field, v) atomic_store_explicit(&g_stats.field, (v), memory_order_relaxed)
#define STAT_GET(field)    atomic_load_explicit(&g_stats.field, memory_order_relaxed)

const char *drop_reason_name(int reason);

/* Queue depths to print beside the counters (may be NULL). */
struct bqueue;
typedef struct stats_queues {
    struct bqueue *const *est; /* one per estimator */
    size_t nest;
    struct bqueue *writer;
} stats_queues;

/* Prints every counter as `key value` lines. */
void stats_write(FILE *out, const stats_queues *qs);

/* Atomically replaces path (write to path.tmp, rename). Returns 0 or -1. */
int stats_write_file(const char *path, const stats_queues *qs, const char *listen);

#endif /* HTGAD_STATS_H */
