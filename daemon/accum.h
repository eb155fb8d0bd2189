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
 *
 * A block may instead be held in pieces, without a copy (accum_add_ref):
 * while every payload so far was a whole message body that fits in the
 * open block, is float-aligned, holds at least cap / ACCUM_SEGS_MAX values
 * and the host is little-endian, the block keeps a reference to each
 * message (ops->take) and the values where they lie. So a block in pieces
 * holds no more memory than its own values (plus ACCUM_SEGS_MAX references
 * at most): the same bound as a copied block. The first payload that does
 * not qualify gathers the pieces into the buffer (dropping the references)
 * and the block carries on as a copy.
 */
#ifndef HTGAD_ACCUM_H
#define HTGAD_ACCUM_H

#include <stddef.h>
#include <stdint.h>

#define ACCUM_SEGS_MAX 16 /* pieces of a block held by reference */

/* A piece of a block held where it arrived. */
typedef struct accum_seg {
    const float *x; /* n values */
    size_t n;
    void *ref; /* keeps x alive: from ops->take, released with ops->drop */
} accum_seg;

/* How the accumulator references what holds a payload (a message). */
typedef struct accum_ref_ops {
    void *(*take)(void *src); /* a new reference to src, or NULL: copy instead */
    void (*drop)(void *ref);
} accum_ref_ops;

typedef struct accum_block {
    float *x; /* n values, malloc'd, or NULL when the block is in segs */
    size_t n;
    int64_t step_first;    /* smallest step in the block */
    int64_t step_last;     /* largest step in the block */
    const accum_seg *segs; /* x == NULL: nsegs pieces, n values in all */
    size_t nsegs;
} accum_block;
/* When emit returns 0 the callee owns x, or the references of segs (it
 * copies the array: the accumulator reuses it). */

/* Returns 0 when it took blk->x, nonzero to refuse (the block is dropped and
 * the accumulator keeps and reuses the buffer). */
typedef int (*accum_emit_fn)(accum_block *blk, void *ctx);

typedef struct accum {
    float *buf;
    size_t n;
    size_t cap;
    uint64_t window;
    int64_t step_first, step_last;
    accum_seg segs[ACCUM_SEGS_MAX]; /* nsegs > 0: the open block is these pieces */
    size_t nsegs;
    const accum_ref_ops *ops; /* of the references in segs */
} accum;

void accum_init(accum *a, size_t cap, uint64_t window);

/* Frees the buffer, drops the references. */
void accum_free(accum *a);

/*
 * Appends count little-endian float32 values (le_f32, any alignment) of
 * training step `step`, emitting every block that closes on the way.
 * Returns the number of values appended (all of them), or -1 when a buffer
 * could not be allocated (the rest of the values are dropped).
 */
long accum_add(accum *a, int64_t step, const void *le_f32, size_t count, accum_emit_fn emit,
               void *ctx);

/*
 * accum_add for the whole body of a message: le_f32 (count values) lies in
 * what src holds. The values are held by reference (ops->take(src)) when
 * they qualify (see the top of this file) and ops->take returns one;
 * otherwise they are copied as accum_add does. Same return values.
 */
long accum_add_ref(accum *a, int64_t step, const void *le_f32, size_t count, void *src,
                   const accum_ref_ops *ops, accum_emit_fn emit, void *ctx);

/* Emits the partial block, if any. Returns 1 when one was emitted, else 0. */
int accum_flush(accum *a, accum_emit_fn emit, void *ctx);

#endif /* HTGAD_ACCUM_H */
