/*
 * stats.h - htgad's counters, readable from any thread.
 *
 * DESIGN: one struct of relaxed atomics; each counter has one writer thread
 * (ingest, estimator or writer), and readers (the stats file now, the HTTP
 * API later) take a snapshot with stats_snapshot(). Queue depths are read
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
    DROP_EST_QUEUE,        /* estimator queue full: a whole block dropped (blocks) */
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
    _Atomic uint64_t write_errors;    /* SQLite failures (rows lost) */
    _Atomic uint64_t policy_changes;  /* policy rows written */
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
