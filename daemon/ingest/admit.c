/*
 * admit.c - per-peer limits on new runs and streams (see admit.h).
 */
#include "admit.h"

#include <stdlib.h>
#include <string.h>

#include "mix.h"

typedef struct admit_peer {
    uint64_t key;
    size_t streams;  /* streams it created that are still held */
    double tokens;   /* new runs it may open now */
    int64_t last_ms; /* when tokens was last brought up to date */
    int used;
} admit_peer;

struct admit {
    admit_peer peers[ADMIT_PEERS_MAX];
    int32_t *owner; /* per stream slot: index into peers, -1 = none */
    size_t slots;
    size_t max_streams;
    double rate, burst;
};

uint64_t admit_key(const void *name, size_t len)
{
    return htga_fnv1a(HTGA_FNV_SEED, name, len);
}

admit *admit_new(size_t slots, size_t max_streams, double runs_per_s, double runs_burst)
{
    admit *a = calloc(1, sizeof(*a));

    if (a == NULL)
        return NULL;
    a->owner = malloc((slots ? slots : 1) * sizeof(*a->owner));
    if (a->owner == NULL) {
        free(a);
        return NULL;
    }
    for (size_t i = 0; i < slots; i++)
        a->owner[i] = -1;
    a->slots = slots;
    a->max_streams = max_streams;
    a->rate = runs_per_s;
    a->burst = runs_burst;
    return a;
}

void admit_free(admit **ap)
{
    if (ap == NULL || *ap == NULL)
        return;
    free((*ap)->owner);
    free(*ap);
    *ap = NULL;
}

static void refill(const admit *a, admit_peer *p, int64_t now_ms)
{
    if (now_ms > p->last_ms) {
        p->tokens += a->rate * (double)(now_ms - p->last_ms) / 1000.0;
        if (p->tokens > a->burst)
            p->tokens = a->burst;
        p->last_ms = now_ms;
    }
}

/* Peer `key`, found or made; NULL when the table is full of peers that
 * still hold something (streams, or spent tokens). A linear scan: it runs
 * only when a run or stream is created. */
static admit_peer *find(admit *a, uint64_t key, int64_t now_ms, int make)
{
    admit_peer *spare = NULL;

    for (size_t i = 0; i < ADMIT_PEERS_MAX; i++) {
        admit_peer *p = &a->peers[i];
        if (p->used && p->key == key)
            return p;
        if (spare == NULL && make) {
            if (p->used && p->streams == 0) {
                refill(a, p, now_ms);
                if (p->tokens >= a->burst)
                    p->used = 0; /* forgotten: it holds nothing */
            }
            if (!p->used)
                spare = p;
        }
    }
    if (spare != NULL)
        *spare = (admit_peer){key, 0, a->burst, now_ms, 1};
    return spare;
}

admit_verdict admit_run(admit *a, uint64_t key, int64_t now_ms)
{
    admit_peer *p = find(a, key, now_ms, 1);

    if (p == NULL)
        return ADMIT_PEERS_FULL;
    refill(a, p, now_ms);
    if (p->tokens < 1.0)
        return ADMIT_PEER_RUNS;
    p->tokens -= 1.0;
    return ADMIT_OK;
}

admit_verdict admit_stream(admit *a, uint64_t key, int64_t now_ms)
{
    admit_peer *p = find(a, key, now_ms, 1);

    if (p == NULL)
        return ADMIT_PEERS_FULL;
    return p->streams >= a->max_streams ? ADMIT_PEER_STREAMS : ADMIT_OK;
}

void admit_opened(admit *a, uint64_t key, uint32_t slot)
{
    admit_peer *p = find(a, key, 0, 0);

    if (p == NULL || slot >= a->slots)
        return;
    admit_closed(a, slot); /* a reused slot's former owner lets go first */
    a->owner[slot] = (int32_t)(p - a->peers);
    p->streams++;
}

void admit_closed(admit *a, uint32_t slot)
{
    if (slot >= a->slots || a->owner[slot] < 0)
        return;
    a->peers[a->owner[slot]].streams--;
    a->owner[slot] = -1;
}
