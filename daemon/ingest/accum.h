/*
 * accum.h - the sample accumulator of one (run, group) stream.
 *
 * DESIGN: samples of every rank of a run append to one buffer of `cap`
 * floats. A block closes when the buffer is full, or before appending a
 * sample whose step would make the block span more than `window` steps
 * (window 0 = no limit) once it holds at least `window_min` values (so a
 * small group's block is worth estimating), or on accum_flush(). A closed block is handed to an
 * emit callback that takes the buffer when it returns 0; the accumulator then
 * allocates a fresh one lazily, so idle streams hold no buffer. Payloads are
 * little-endian float32 (possibly unaligned) as they come off the wire.
 *
 * Runs: a message sent in runs of L correlated neighbours
 * (accum_add_runs) leaves a segment in the block's table (est_seg: where its
 * values start, L, and how much of its first run the previous block got),
 * so the estimator can form one cluster per run. A message of independent
 * values adds a segment only to end the runs before it: a block that never
 * saw a run has an empty table and costs nothing. The table holds
 * ACCUM_SEG_MAX segments (allocated at the first run); the last one, once
 * reached, is loose: the rest of the block counts as runs of at most the
 * longest L seen, with unknown boundaries, which est_hill_runs bounds from
 * above (a wider interval, never a narrower one). Without memory for the
 * table the whole block is such a loose segment.
 */
#ifndef HTGAD_ACCUM_H
#define HTGAD_ACCUM_H

#include <stddef.h>
#include <stdint.h>

#include "estimators/est.h"

#define ACCUM_SEG_MAX    256  /* run segments per block, the last one loose */
#define ACCUM_WINDOW_MIN 1024 /* values a block holds before a window may close it (htgad) */

typedef struct accum_block {
    float *x; /* n values, malloc'd; owned by the callee when emit returns 0 */
    size_t n;
    int64_t step_first; /* smallest step in the block */
    int64_t step_last;  /* largest step in the block */
    /* where runs are, for est_hill_runs(); nseg 0: no runs. Borrowed:
     * valid during the emit call only (copy what you keep). */
    const est_seg *seg;
    size_t nseg;
} accum_block;

/* Returns 0 when it took blk->x, nonzero to refuse (the block is dropped and
 * the accumulator keeps and reuses the buffer). */
typedef int (*accum_emit_fn)(accum_block *blk, void *ctx);

typedef struct accum {
    float *buf;
    size_t n;
    size_t cap;
    uint64_t window;
    size_t window_min;
    int64_t step_first, step_last;
    est_seg *seg; /* ACCUM_SEG_MAX, at the first run; NULL before */
    size_t nseg;
    est_seg seg_oom; /* the table when seg could not be allocated */
} accum;

/* An empty accumulator of blocks of cap values, closed early by a window
 * of `window` steps (0: never) once they hold window_min values. */
void accum_init(accum *a, size_t cap, uint64_t window, size_t window_min);

/* Frees the buffer. */
void accum_free(accum *a);

/*
 * Appends count little-endian float32 values (le_f32, any alignment) of
 * training step `step`, emitting every block that closes on the way. The
 * values came in runs of `run` consecutive input values (the wire's cluster
 * field; 0 or 1: independent values), le_f32 being the message's values from
 * body offset `first` on (runs start at body offsets that are multiples of
 * run); where the runs are goes into the block's segment table (see the
 * design note). Returns the number of values appended (all of them), or -1
 * when a buffer could not be allocated (the rest of the values are
 * dropped).
 */
long accum_add_runs(accum *a, int64_t step, const void *le_f32, size_t count, uint32_t run,
                    size_t first, accum_emit_fn emit, void *ctx);

/* Emits the partial block, if any. Returns 1 when one was emitted, else 0. */
int accum_flush(accum *a, accum_emit_fn emit, void *ctx);

#endif /* HTGAD_ACCUM_H */
