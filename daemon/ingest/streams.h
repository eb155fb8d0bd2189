/*
 * streams.h - the ingest thread's registry of runs, streams and peers.
 *
 * DESIGN: owned by the ingest thread alone. A run is a name with its lambda
 * policy, its streams (one per group) and its peers (ZeroMQ routing
 * identities of the clients that named it). A stream is one (run, group):
 * its sample accumulator, its next block number and the latest lambda pushed
 * for it (what a HELLO is answered with). Runs and streams live in fixed
 * arrays of `max` slots. An idle stream's slot is freed (streams_stream_free)
 * and a run's slot once it has no streams and no peers (streams_run_free);
 * a freed slot is reused by the next new name, so a slot number is an id
 * other threads key their state by only while it is in use: ingest tells
 * them when a slot starts a new life. Lookups by name go through
 * open-addressing hash tables sized 2*max (backward-shift deletion).
 */
#ifndef HTGAD_STREAMS_H
#define HTGAD_STREAMS_H

#include <stddef.h>
#include <stdint.h>

#include "accum.h"
#include "policy.h"
#include "wire.h"

#define STREAMS_PEERS_MAX 1024 /* routing identities per run */
#define STREAMS_ID_MAX    255  /* bytes of a ZeroMQ routing identity */

/* What ingest knows of one client connection's drops, to place them in
 * steps (kept a while after the connection goes: its successor carries on). */
typedef struct drop_trace {
    uint8_t known;     /* a report came (the first one is the baseline) */
    uint8_t has_step;  /* last_step holds the step of one of its SAMPLES */
    uint8_t succeeded; /* a later connection of the same client took over from it */
    uint32_t rank;     /* its header's rank */
    int64_t last_step;
    uint64_t dropped;       /* its last report */
    uint64_t next_seq;      /* the seq its next SAMPLES should carry */
    uint64_t unplaced;      /* drops it reported in a HELLO: placed at its next SAMPLES */
    uint64_t unplaced_lost; /* ... and messages lost with its earlier connection */
} drop_trace;

#define STREAMS_GONE_TRACES 8 /* traces of a run's departed connections kept */

typedef struct peer {
    uint8_t id[STREAMS_ID_MAX];
    uint8_t id_len;
    uint8_t answered; /* a HELLO of it was answered with all the run's lambdas */
    uint8_t missed;   /* a lambda to it was dropped since (its pipe was full) */
    uint8_t flow;     /* its HELLO said WIRE_FEAT_FLOW: it follows budgets */
    int64_t last_seen_ms;
    uint64_t msgs, values, refused; /* its SAMPLES on this connection (for ACK) */
    uint64_t dropped;               /* what it last reported it dropped (cumulative per client) */
    uint64_t dropped_base;          /* of that, what its client's earlier connection reported
                                       (counted there: client_drops counts dropped - base) */
    drop_trace tr;                  /* where its drops go (ingest/shed.c) */
    uint32_t bud_values, bud_every; /* the budget last sent to it; 0: none yet */
} peer;

/* Shed events of a run being gathered by the ingest thread: count things
 * between steps first and last since since_ms; count 0: none. */
typedef struct shed_acc {
    uint64_t count;
    int64_t first, last, since_ms;
} shed_acc;

typedef struct run_entry {
    char name[WIRE_NAME_MAX + 1];
    size_t name_len;
    policy pol;
    const char *pol_source; /* "default", "flags", "http" */
    uint32_t *streams;      /* slots of this run's streams */
    size_t nstreams, streams_cap;
    peer *peers;
    size_t npeers, peers_cap;
    uint64_t drops_gone;            /* drops reported by peers since forgotten */
    uint64_t refused;               /* values refused (stream limit, no memory) */
    uint64_t lost;                  /* blocks lost in ingest (no memory) */
    uint32_t bud_values, bud_every; /* the run's current budget (flow.h); 0: none */
    int64_t active_ms;              /* when its samples last arrived, or it was restored
                                       at start (0: never); its streams may have left
                                       memory since */
    shed_acc client_shed;           /* messages its clients reported they dropped */
    shed_acc refused_shed;          /* values refused */
    shed_acc conn_shed;             /* messages a client sent that never arrived (seq gaps) */
    int restoring; /* new or back: its stored policy is not known yet (ingest/lambdas.c) */
    int pol_moved; /* while restoring, the default policy changed (SIGHUP) */
    drop_trace gone[STREAMS_GONE_TRACES]; /* of departed peers, the latest at gone_next - 1 */
    size_t gone_next;
    int used;
} run_entry;

typedef struct stream_entry {
    uint32_t run_slot;
    char group[WIRE_NAME_MAX + 1];
    size_t group_len;
    accum acc;
    uint64_t next_block; /* blocks closed in this life (the estimator numbers them on from the
                            stored ones: see estimator_thread.h) */
    uint32_t life;       /* how many lives the slot has had: notes of an earlier one are stale */
    int has_lambda;
    wire_lambda last;  /* the latest lambda pushed */
    int64_t last_ms;   /* when samples last arrived (ingest's clock) */
    uint64_t expiring; /* idle: the barrier whose passing frees the slot; 0: none */
    int used;
} stream_entry;

typedef struct streams {
    size_t max;
    run_entry *runs;
    size_t nruns; /* slots ever used: iterate below it, skip !used */
    size_t live_runs;
    stream_entry *streams;
    size_t nstreams; /* slots ever used: iterate below it, skip !used */
    size_t live_streams;
    uint32_t *free_runs, *free_streams; /* freed slots, reused first */
    size_t nfree_runs, nfree_streams;
    size_t block_samples;
    uint64_t window;
    uint32_t *run_index; /* hash -> slot+1, 0 = empty */
    uint32_t *stream_index;
    size_t index_cap; /* power of two */
} streams;

/* A registry of at most max runs and max streams. NULL on out of memory. */
streams *streams_new(size_t max, size_t block_samples, uint64_t window);

/* Frees everything (accumulator buffers included); NULLs *s. Accepts NULL. */
void streams_free(streams **s);

/* The slot of run `name` (len bytes), created with policy pol when missing.
 * Returns the slot, or -1 when the table is full. */
long streams_run(streams *s, const char *name, size_t len, const policy *pol);

/* The slot of run `name`, or -1 when it is not held (nothing is created). */
long streams_run_find(const streams *s, const char *name, size_t len);

/* The slot of group `group` of run run_slot, or -1 when not held. */
long streams_stream_find(const streams *s, uint32_t run_slot, const char *group, size_t len);

/* The slot of group `group` of run run_slot, created when missing.
 * Returns the slot, or -1 when the table is full. */
long streams_stream(streams *s, uint32_t run_slot, const char *group, size_t len);

/* Frees stream slot (its accumulator too) and takes it off its run; the
 * slot can then be reused by another (run, group). */
void streams_stream_free(streams *s, uint32_t slot);

/* Frees run slot when it has no streams and no peers. Returns 1 when freed. */
int streams_run_free(streams *s, uint32_t run_slot);

/* Registers (or refreshes) a peer of run run_slot. Returns 0, or -1 when the
 * run has STREAMS_PEERS_MAX peers already or the identity is too long. */
int streams_peer_touch(streams *s, uint32_t run_slot, const void *id, size_t id_len,
                       int64_t now_ms);

/* The peer of run run_slot with this identity, or NULL. */
peer *streams_peer_find(streams *s, uint32_t run_slot, const void *id, size_t id_len);

/* Removes peer i of run run_slot (order not kept); what it reported it
 * dropped stays in the run's drops_gone, its drop trace among the run's
 * gone ones (unless a successor took it over). */
void streams_peer_remove(streams *s, uint32_t run_slot, size_t i);

/* Forgets peers silent since before now_ms - silence_ms. Returns how many. */
size_t streams_prune(streams *s, int64_t now_ms, int64_t silence_ms);

#endif /* HTGAD_STREAMS_H */
