/* Unit tests of daemon/accum.c: blocks, windows, flush, refusal. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "accum.h"

#define MAXB 16

typedef struct sink {
    accum_block blocks[MAXB];
    accum_seg segs[MAXB][ACCUM_SEGS_MAX]; /* the pieces of blocks[i], copied */
    int n;
    int refuse;
} sink;

static int take(accum_block *blk, void *ctx)
{
    sink *s = ctx;

    if (s->refuse || s->n == MAXB)
        return 1;
    if (blk->nsegs > 0) {
        memcpy(s->segs[s->n], blk->segs, blk->nsegs * sizeof(blk->segs[0]));
        blk->segs = s->segs[s->n];
    }
    s->blocks[s->n++] = *blk;
    return 0;
}

/* A message for accum_add_ref: its values and how many references to it
 * are alive (take/drop count them; take refuses when `refuse` is set). */
typedef struct fake_msg {
    float v[64];
    int refs;
    int refuse;
} fake_msg;

static void *ref_take(void *src)
{
    fake_msg *m = src;

    if (m->refuse)
        return NULL;
    m->refs++;
    return m;
}

static void ref_drop(void *ref)
{
    ((fake_msg *)ref)->refs--;
}

static const accum_ref_ops fake_refs = {ref_take, ref_drop};

static void sink_free(sink *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->blocks[i].x);
        for (size_t j = 0; j < s->blocks[i].nsegs; j++)
            ref_drop(s->blocks[i].segs[j].ref);
    }
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

/* Whole messages that fill a block exactly go by reference (no copy): the
 * block is their pieces, in order, with one reference per piece; a block
 * of 64 values takes pieces of 64 / ACCUM_SEGS_MAX = 4 values or more. */
Test(accum, whole_messages_go_by_reference)
{
    accum a;
    sink s = {0};
    static fake_msg m[3];

    for (int i = 0; i < 3; i++)
        ramp(m[i].v, 64, 100.0f * (float)i);
    accum_init(&a, 64, 0);
    cr_assert_eq(accum_add_ref(&a, 5, m[0].v, 32, &m[0], &fake_refs, take, &s), 32);
    cr_assert_eq(accum_add_ref(&a, 3, m[1].v, 16, &m[1], &fake_refs, take, &s), 16);
    cr_assert_eq(s.n, 0);
    cr_assert_null(a.buf); /* nothing copied, no buffer */
    cr_assert_eq(accum_add_ref(&a, 6, m[2].v, 16, &m[2], &fake_refs, take, &s), 16);
    cr_assert_eq(s.n, 1);
    cr_assert_null(s.blocks[0].x);
    cr_assert_eq(s.blocks[0].n, 64);
    cr_assert_eq(s.blocks[0].nsegs, 3);
    cr_assert_eq(s.blocks[0].step_first, 3);
    cr_assert_eq(s.blocks[0].step_last, 6);
    cr_assert_eq(s.blocks[0].segs[0].x, m[0].v);
    cr_assert_eq(s.blocks[0].segs[1].x, m[1].v);
    cr_assert_eq(s.blocks[0].segs[2].n, 16);
    cr_assert(m[0].refs == 1 && m[1].refs == 1 && m[2].refs == 1);
    cr_assert_eq(a.nsegs, 0);
    cr_assert_null(a.buf);
    sink_free(&s);
    cr_assert(m[0].refs == 0 && m[1].refs == 0 && m[2].refs == 0);
    accum_free(&a);
}

/* A payload that cannot go by reference (too small, does not fit, a copy
 * already open, unaligned, or take refuses) gathers the pieces into the
 * buffer: the block holds the same values in the same order, every
 * reference is dropped, and later messages are copied until it closes. */
Test(accum, pieces_gathered_when_a_payload_cannot_join)
{
    static fake_msg m[4];
    float small[3] = {-1, -2, -3};
    unsigned char raw[1 + 16 * 4];

    for (int i = 0; i < 4; i++)
        ramp(m[i].v, 64, 100.0f * (float)i);
    for (int c = 0; c < 5; c++) {
        accum a;
        sink s = {0};
        size_t want_n = 0;
        float want[64];
        accum_init(&a, 64, 0);
        accum_add_ref(&a, 1, m[0].v, 16, &m[0], &fake_refs, take, &s);
        accum_add_ref(&a, 1, m[1].v, 16, &m[1], &fake_refs, take, &s);
        cr_assert_eq(a.nsegs, 2);
        memcpy(want, m[0].v, 16 * sizeof(float));
        memcpy(want + 16, m[1].v, 16 * sizeof(float));
        want_n = 32;
        if (c == 0) { /* too small to be a piece */
            accum_add_ref(&a, 1, small, 3, &m[2], &fake_refs, take, &s);
            memcpy(want + 32, small, sizeof(small));
            want_n = 35;
        } else if (c == 1) { /* would run past the block: split and copied */
            accum_add_ref(&a, 1, m[2].v, 40, &m[2], &fake_refs, take, &s);
            memcpy(want + 32, m[2].v, 32 * sizeof(float));
            want_n = 64;
        } else if (c == 2) { /* plain accum_add */
            accum_add(&a, 1, small, 3, take, &s);
            memcpy(want + 32, small, sizeof(small));
            want_n = 35;
        } else if (c == 3) { /* unaligned */
            memcpy(raw + 1, m[2].v, 16 * sizeof(float));
            accum_add_ref(&a, 1, raw + 1, 16, &m[2], &fake_refs, take, &s);
            memcpy(want + 32, m[2].v, 16 * sizeof(float));
            want_n = 48;
        } else { /* take refuses */
            m[2].refuse = 1;
            accum_add_ref(&a, 1, m[2].v, 16, &m[2], &fake_refs, take, &s);
            m[2].refuse = 0;
            memcpy(want + 32, m[2].v, 16 * sizeof(float));
            want_n = 48;
        }
        cr_assert_eq(a.nsegs, 0, "case %d", c);
        cr_assert(m[0].refs == 0 && m[1].refs == 0 && m[2].refs == 0, "case %d", c);
        /* a qualifying message now joins the copy */
        if (want_n < 64 - 16) {
            accum_add_ref(&a, 2, m[3].v, 16, &m[3], &fake_refs, take, &s);
            cr_assert_eq(m[3].refs, 0);
            memcpy(want + want_n, m[3].v, 16 * sizeof(float));
            want_n += 16;
        }
        accum_flush(&a, take, &s);
        cr_assert_eq(s.blocks[0].nsegs, 0, "case %d", c);
        cr_assert_eq(s.blocks[0].n, want_n, "case %d", c);
        cr_assert_eq(memcmp(s.blocks[0].x, want, want_n * sizeof(float)), 0, "case %d", c);
        sink_free(&s);
        accum_free(&a);
        for (int i = 0; i < 4; i++)
            cr_assert_eq(m[i].refs, 0, "case %d msg %d", c, i);
    }
}

/* The window, a flush, a refused block and accum_free handle a block in
 * pieces as a copied one: closed with its steps, or dropped with every
 * reference. */
Test(accum, pieces_closed_refused_and_freed)
{
    accum a;
    sink s = {0};
    static fake_msg m[2];

    accum_init(&a, 64, 2);
    accum_add_ref(&a, 10, m[0].v, 16, &m[0], &fake_refs, take, &s);
    accum_add_ref(&a, 12, m[1].v, 16, &m[1], &fake_refs, take, &s); /* 10..12 spans 3 */
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.blocks[0].nsegs, 1);
    cr_assert_eq(s.blocks[0].step_last, 10);
    cr_assert_eq(a.nsegs, 1);
    cr_assert_eq(accum_flush(&a, take, &s), 1);
    cr_assert_eq(s.blocks[1].nsegs, 1);
    cr_assert_eq(s.blocks[1].segs[0].x, m[1].v);
    sink_free(&s);
    cr_assert(m[0].refs == 0 && m[1].refs == 0);

    s.n = 0;
    s.refuse = 1;
    accum_add_ref(&a, 20, m[0].v, 32, &m[0], &fake_refs, take, &s);
    accum_add_ref(&a, 20, m[1].v, 32, &m[1], &fake_refs, take, &s); /* closes, refused */
    cr_assert_eq(s.n, 0);
    cr_assert(m[0].refs == 0 && m[1].refs == 0);
    accum_add_ref(&a, 21, m[0].v, 32, &m[0], &fake_refs, take, &s);
    cr_assert_eq(m[0].refs, 1);
    accum_free(&a);
    cr_assert_eq(m[0].refs, 0);
}
