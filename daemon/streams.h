/*
 * streams.h - the ingest thread's registry of runs, streams and peers.
 *
 * DESIGN: owned by the ingest thread alone. A run is a name with its lambda
 * policy, its streams (one per group) and its peers (ZeroMQ routing
 * identities of the clients that named it). A stream is one (run, group):
 * its sample accumulator, its next block number and the latest lambda pushed
 * for it (what a HELLO is answered with). Runs and streams live in fixed
 * arrays of `max` slots and are never freed while the daemon runs, so a slot
 * number is a stable id other threads can key their own state by. Lookups
 * by name go through open-addressing hash tables sized 2*max.
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

typedef struct peer {
    uint8_t id[STREAMS_ID_MAX];
    uint8_t id_len;
    int64_t last_seen_ms;
} peer;

typedef struct run_entry {
    char name[WIRE_NAME_MAX + 1];
    size_t name_len;
    policy pol;
    const char *pol_source; /* "default", "flags", "http" */
    uint32_t *streams;      /* slots of this run's streams */
    size_t nstreams, streams_cap;
    peer *peers;
    size_t npeers, peers_cap;
} run_entry;

typedef struct stream_entry {
    uint32_t run_slot;
    char group[WIRE_NAME_MAX + 1];
    size_t group_len;
    accum acc;
    uint64_t next_block;
    int has_lambda;
    wire_lambda last; /* the latest lambda pushed */
} stream_entry;

typedef struct streams {
    size_t max;
    run_entry *runs;
    size_t nruns;
    stream_entry *streams;
    size_t nstreams;
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

/* The slot of group `group` of run run_slot, created when missing.
 * Returns the slot, or -1 when the table is full. */
long streams_stream(streams *s, uint32_t run_slot, const char *group, size_t len);

/* Registers (or refreshes) a peer of run run_slot. Returns 0, or -1 when the
 * run has STREAMS_PEERS_MAX peers already or the identity is too long. */
int streams_peer_touch(streams *s, uint32_t run_slot, const void *id, size_t id_len,
                       int64_t now_ms);

/* Removes peer i of run run_slot (order not kept). */
void streams_peer_remove(streams *s, uint32_t run_slot, size_t i);

/* Forgets peers silent since before now_ms - silence_ms. Returns how many. */
size_t streams_prune(streams *s, int64_t now_ms, int64_t silence_ms);

#endif /* HTGAD_STREAMS_H */
