/*
 * admit.h - what one peer may take of the ingest registry.
 *
 * DESIGN: owned by the ingest thread. A peer is whoever sends: its CURVE
 * public key when the port uses CURVE, else its IP address, else (ipc://)
 * its routing identity, hashed to 64 bits. Only creation is limited:
 * samples for a run and stream that are already held always go through, so
 * a flood of new names from one peer cannot hurt runs that are going on.
 * A peer may hold at most `max_streams` streams it created (a stream counts
 * against the peer that created it until its slot is freed) and may open
 * new runs at `runs_per_s` after a burst of `runs_burst` (a token bucket).
 * The peer table is bounded; a peer with no streams and a full bucket is
 * forgotten, and when the table is full of peers that are not, a new peer
 * is refused until one is.
 */
#ifndef HTGAD_ADMIT_H
#define HTGAD_ADMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct admit admit;

#define ADMIT_PEERS_MAX 4096

/* Why a creation was refused (0 = admitted). */
typedef enum admit_verdict {
    ADMIT_OK = 0,
    ADMIT_PEER_STREAMS, /* the peer holds max_streams streams */
    ADMIT_PEER_RUNS,    /* the peer opens runs faster than allowed */
    ADMIT_PEERS_FULL,   /* too many peers hold streams */
    ADMIT_FULL,         /* the registry itself is full (--max-streams): not the peer's doing */
} admit_verdict;

/* A table for `slots` stream slots (the registry's size). NULL on out of
 * memory. */
admit *admit_new(size_t slots, size_t max_streams, double runs_per_s, double runs_burst);

/* Frees a; NULLs *a. Accepts NULL. */
void admit_free(admit **a);

/* The 64-bit key of a peer from the bytes that name it. */
uint64_t admit_key(const void *name, size_t len);

/* May peer `key` open a new run now? Spends a token when it may. */
admit_verdict admit_run(admit *a, uint64_t key, int64_t now_ms);

/* May peer `key` open a new stream? (Nothing is recorded: call
 * admit_opened once the stream exists.) */
admit_verdict admit_stream(admit *a, uint64_t key, int64_t now_ms);

/* Stream slot `slot` was created by peer `key` (after admit_stream). */
void admit_opened(admit *a, uint64_t key, uint32_t slot);

/* Stream slot `slot` was freed: its creator may open another. */
void admit_closed(admit *a, uint32_t slot);

#endif /* HTGAD_ADMIT_H */
