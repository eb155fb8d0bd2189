/* Unit tests of daemon/accum.c: blocks, windows, flush, refusal. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "accum.h"

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

    accum_init(&a, 4, 0);
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

    accum_init(&a, 100, 3); /* a block spans at most 3 steps */
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

Test(accum, refused_block_is_dropped_and_buffer_reused)
{
    accum a;
    sink s = {0};
    float v[4] = {1, 2, 3, 4};
    float *buf;

    accum_init(&a, 4, 0);
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
    accum_init(&a, 2, 0);
    accum_add(&a, 0, raw + 1, 2, take, &s);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.blocks[0].x[0], 1.5f);
    cr_assert_eq(s.blocks[0].x[1], -2.25f);
    sink_free(&s);
    accum_free(&a);
}
