/* Unit tests of daemon/ingest/accum.c: blocks, windows, flush, refusal. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "accum.h"

/* Independent values (no runs), as most tests append them. */
static long accum_add(accum *a, int64_t step, const void *le_f32, size_t count, accum_emit_fn emit,
                      void *ctx)
{
    return accum_add_runs(a, step, le_f32, count, 0, 0, emit, ctx);
}

#define MAXB 16

typedef struct sink {
    accum_block blocks[MAXB];
    int n;
    int refuse;
} sink;

static int take(accum_block *blk, void *ctx)
{
    sink *s = ctx;

    if (s->refuse || s->n == MAXB)
        return 1;
    s->blocks[s->n++] = *blk;
    return 0;
}

static void sink_free(sink *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->blocks[i].x);
}

static void ramp(float *v, size_t n, float start)
{
    for (size_t i = 0; i < n; i++)
        v[i] = start + (float)i;
}

Test(accum, blocks_close_when_full_and_split_messages)
{
    accum a;
    sink s = {0};
    float v[10];

    accum_init(&a, 4, 0, 0);
    ramp(v, 10, 0);
    cr_assert_eq(accum_add(&a, 7, v, 3, take, &s), 3);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(accum_add(&a, 8, v + 3, 7, take, &s), 7); /* 3+7 = 10: two blocks, 2 left */
    cr_assert_eq(s.n, 2);
    cr_assert_eq(s.blocks[0].n, 4);
    cr_assert_eq(s.blocks[0].step_first, 7);
    cr_assert_eq(s.blocks[0].step_last, 8);
    cr_assert_eq(s.blocks[1].step_first, 8);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(s.blocks[i / 4].x[i % 4], (float)i);
    cr_assert_eq(a.n, 2);
    cr_assert_eq(accum_flush(&a, take, &s), 1);
    cr_assert_eq(s.n, 3);
    cr_assert_eq(s.blocks[2].n, 2);
    cr_assert_eq(s.blocks[2].x[1], 9.0f);
    cr_assert_eq(accum_flush(&a, take, &s), 0);
    sink_free(&s);
    accum_free(&a);
}

Test(accum, window_closes_partial_blocks)
{
    accum a;
    sink s = {0};
    float v[2] = {1, 2};

    accum_init(&a, 100, 3, 0); /* a block spans at most 3 steps */
    accum_add(&a, 10, v, 2, take, &s);
    accum_add(&a, 11, v, 2, take, &s);
    accum_add(&a, 12, v, 2, take, &s);
    cr_assert_eq(s.n, 0);
    accum_add(&a, 13, v, 2, take, &s); /* 10..13 would span 4 */
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.blocks[0].n, 6);
    cr_assert_eq(s.blocks[0].step_first, 10);
    cr_assert_eq(s.blocks[0].step_last, 12);
    accum_add(&a, 12, v, 2, take, &s); /* a late rank at step 12: 12..13 fits */
    cr_assert_eq(s.n, 1);
    cr_assert_eq(a.step_first, 12);
    cr_assert_eq(a.step_last, 13);
    sink_free(&s);
    accum_free(&a);
}

Test(accum, window_waits_for_enough_values)
{
    accum a;
    sink s = {0};
    float v[2] = {1, 2};

    accum_init(&a, 100, 3, 5); /* spans at most 3 steps, once it holds 5 values */
    accum_add(&a, 10, v, 2, take, &s);
    accum_add(&a, 20, v, 2, take, &s); /* span 11 but only 2 values: stays open */
    cr_assert_eq(s.n, 0);
    accum_add(&a, 30, v, 2, take, &s); /* 4 values: still open */
    cr_assert_eq(s.n, 0);
    accum_add(&a, 40, v, 2, take, &s); /* 6 values held: the window closes them */
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.blocks[0].n, 6);
    cr_assert_eq(s.blocks[0].step_first, 10);
    cr_assert_eq(s.blocks[0].step_last, 30);
    cr_assert_eq(a.n, 2);
    sink_free(&s);
    accum_free(&a);
}

Test(accum, refused_block_is_dropped_and_buffer_reused)
{
    accum a;
    sink s = {0};
    float v[4] = {1, 2, 3, 4};
    float *buf;

    accum_init(&a, 4, 0, 0);
    s.refuse = 1;
    accum_add(&a, 1, v, 4, take, &s);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(a.n, 0);
    buf = a.buf;
    cr_assert_not_null(buf);
    s.refuse = 0;
    accum_add(&a, 2, v, 4, take, &s);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.blocks[0].x, buf);
    cr_assert_null(a.buf); /* handed over; a new one comes with the next sample */
    sink_free(&s);
    accum_free(&a);
}

Test(accum, unaligned_little_endian_payload)
{
    accum a;
    sink s = {0};
    unsigned char raw[1 + 8];
    float f[2] = {1.5f, -2.25f};

    memcpy(raw + 1, f, sizeof(f)); /* little-endian host: the wire layout */
    accum_init(&a, 2, 0, 0);
    accum_add(&a, 0, raw + 1, 2, take, &s);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.blocks[0].x[0], 1.5f);
    cr_assert_eq(s.blocks[0].x[1], -2.25f);
    sink_free(&s);
    accum_free(&a);
}

/* Run segments: blocks with their est_seg tables copied out (the table is
 * borrowed during the emit call only). */
typedef struct run_sink {
    size_t n[MAXB];
    est_seg seg[MAXB][ACCUM_SEG_MAX];
    size_t nseg[MAXB];
    int nb;
} run_sink;

static int take_runs(accum_block *blk, void *ctx)
{
    run_sink *s = ctx;

    if (s->nb == MAXB)
        return 1;
    s->n[s->nb] = blk->n;
    s->nseg[s->nb] = blk->nseg;
    cr_assert(blk->nseg <= ACCUM_SEG_MAX);
    if (blk->nseg)
        memcpy(s->seg[s->nb], blk->seg, blk->nseg * sizeof(est_seg));
    free(blk->x);
    s->nb++;
    return 0;
}

static void expect_seg(const run_sink *s, int b, size_t i, uint32_t start, uint32_t run,
                       uint32_t phase)
{
    const est_seg *g = &s->seg[b][i];
    cr_assert(i < s->nseg[b], "block %d has %zu segments, want one at %zu", b, s->nseg[b], i);
    cr_assert(g->start == start && g->run == run && g->phase == phase,
              "block %d seg %zu: {%u, %u, %u}, want {%u, %u, %u}", b, i, g->start, g->run, g->phase,
              start, run, phase);
}

/* A block of independent values has no table (and allocates none). */
Test(accum, no_runs_no_segments)
{
    accum a;
    run_sink *s = calloc(1, sizeof(*s));
    float v[10] = {0};

    accum_init(&a, 4, 0, 0);
    accum_add(&a, 1, v, 10, take_runs, s);
    accum_add_runs(&a, 1, v, 3, 1, 0, take_runs, s); /* cluster 1: independent too */
    accum_flush(&a, take_runs, s);
    cr_assert_eq(s->nb, 4);
    for (int b = 0; b < s->nb; b++)
        cr_assert_eq(s->nseg[b], 0);
    cr_assert_null(a.seg);
    accum_free(&a);
    free(s);
}

/* Runs that blocks cut carry their phase; independent values after runs end
 * them; a message of runs after another starts a segment of its own. */
Test(accum, run_segments_across_blocks)
{
    accum a;
    run_sink *s = calloc(1, sizeof(*s));
    float v[32] = {0};

    accum_init(&a, 10, 0, 0);
    accum_add(&a, 1, v, 3, take_runs, s);             /* block 0: [0, 3) independent */
    accum_add_runs(&a, 1, v, 12, 4, 0, take_runs, s); /* [3, 10) runs of 4, then 5 more */
    accum_add(&a, 1, v, 2, take_runs, s);             /* block 1: [5, 7) independent */
    accum_add_runs(&a, 1, v, 2, 2, 0, take_runs, s);  /* [7, 9) one run of 2 */
    accum_add_runs(&a, 1, v, 5, 3, 0, take_runs, s);  /* [9, 10), then block 2: [0, 4) */
    accum_flush(&a, take_runs, s);
    cr_assert_eq(s->nb, 3);
    cr_assert_eq(s->nseg[0], 1);
    expect_seg(s, 0, 0, 3, 4, 0);
    /* block 1: the message's values from body offset 7 on: 3 into a run */
    cr_assert_eq(s->nseg[1], 4);
    expect_seg(s, 1, 0, 0, 4, 3);
    expect_seg(s, 1, 1, 5, 1, 0);
    expect_seg(s, 1, 2, 7, 2, 0);
    expect_seg(s, 1, 3, 9, 3, 0);
    cr_assert_eq(s->nseg[2], 1);
    expect_seg(s, 2, 0, 0, 3, 1); /* body offset 1 of runs of 3 */
    /* a body that starts past a zero-copied block: offsets from `first` */
    accum_add_runs(&a, 2, v, 6, 4, 10, take_runs, s);
    accum_flush(&a, take_runs, s);
    expect_seg(s, 3, 0, 0, 4, 2);
    accum_free(&a);
    free(s);
}

/* A table that fills up turns its last segment loose: the rest of the block
 * is runs of at most the longest L seen, boundaries unknown. */
Test(accum, full_table_ends_loose)
{
    accum a;
    run_sink *s = calloc(1, sizeof(*s));
    float v[8] = {0};
    size_t cap = 4 * ACCUM_SEG_MAX;

    accum_init(&a, cap, 0, 0);
    for (size_t i = 0; i < ACCUM_SEG_MAX - 1; i++)
        accum_add_runs(&a, 1, v, 2, 2, 0, take_runs, s);
    cr_assert_eq(a.nseg, ACCUM_SEG_MAX - 1);
    accum_add_runs(&a, 1, v, 2, 2, 0, take_runs, s); /* the last slot: loose */
    accum_add_runs(&a, 1, v, 8, 8, 0, take_runs, s); /* longer runs widen it */
    accum_add(&a, 1, v, 4, take_runs, s);            /* independent values: inside it */
    cr_assert_eq(a.nseg, ACCUM_SEG_MAX);
    accum_flush(&a, take_runs, s);
    cr_assert_eq(s->nb, 1);
    cr_assert_eq(s->nseg[0], ACCUM_SEG_MAX);
    expect_seg(s, 0, ACCUM_SEG_MAX - 2, 2 * (ACCUM_SEG_MAX - 2), 2, 0);
    expect_seg(s, 0, ACCUM_SEG_MAX - 1, 2 * (ACCUM_SEG_MAX - 1), 8, EST_SEG_LOOSE);
    /* the next block starts with an empty table again */
    accum_add_runs(&a, 2, v, 4, 2, 0, take_runs, s);
    accum_flush(&a, take_runs, s);
    cr_assert_eq(s->nseg[1], 1);
    expect_seg(s, 1, 0, 0, 2, 0);
    accum_free(&a);
    free(s);
}
