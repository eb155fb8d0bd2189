/*
 * accum.h - the sample accumulator of one (run, group) stream.
 *
 * DESIGN: samples of every rank of a run append to one buffer of `cap`
 * floats. A block closes when the buffer is full, or before appending a
 * sample whose step would make the block span more than `window` steps
 * (window 0 = no limit), or on accum_flush(). A closed block is handed to an
 * emit callback that takes the buffer when it returns 0; the accumulator then
 * allocates a fresh one lazily, so idle streams hold no buffer. Payloads are
 * little-endian float32 (possibly unaligned) as they come off the wire.
 */
#ifndef HTGAD_ACCUM_H
#define HTGAD_ACCUM_H

#include <stddef.h>
#include <stdint.h>

typedef struct accum_block {
    float *x; /* n values, malloc'd; owned by the callee when emit returns 0 */
    size_t n;
    int64_t step_first; /* smallest step in the block */
    int64_t step_last;  /* largest step in the block */
} accum_block;

/* Returns 0 when it took blk->x, nonzero to refuse (the block is dropped and
 * the accumulator keeps and reuses the buffer). */
typedef int (*accum_emit_fn)(accum_block *blk, void *ctx);

typedef struct accum {
    float *buf;
    size_t n;
    size_t cap;
    uint64_t window;
    int64_t step_first, step_last;
} accum;

void accum_init(accum *a, size_t cap, uint64_t window);

/* Frees the buffer. */
void accum_free(accum *a);

/*
 * Appends count little-endian float32 values (le_f32, any alignment) of
 * training step `step`, emitting every block that closes on the way.
 * Returns the number of values appended (all of them), or -1 when a buffer
 * could not be allocated (the rest of the values are dropped).
 */
long accum_add(accum *a, int64_t step, const void *le_f32, size_t count, accum_emit_fn emit,
               void *ctx);

/* Emits the partial block, if any. Returns 1 when one was emitted, else 0. */
int accum_flush(accum *a, accum_emit_fn emit, void *ctx);

#endif /* HTGAD_ACCUM_H */
