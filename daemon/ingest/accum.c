/*
 * accum.c - per-stream sample blocks (see accum.h).
 *
 * DESIGN: a copy straight from the message payload into the block buffer
 * (memcpy on little-endian hosts, a byte swap elsewhere); no per-sample work
 * beyond that, so ingest keeps up with the network.
 */
#include "accum.h"

#include <stdlib.h>
#include <string.h>

void accum_init(accum *a, size_t cap, uint64_t window, size_t window_min)
{
    memset(a, 0, sizeof(*a));
    a->cap = cap;
    a->window = window;
    a->window_min = window_min;
}

void accum_free(accum *a)
{
    free(a->buf);
    a->buf = NULL;
    a->n = 0;
    if (a->seg != &a->seg_oom)
        free(a->seg);
    a->seg = NULL;
    a->nseg = 0;
}

static void copy_le_f32(float *dst, const unsigned char *src, size_t count)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(dst, src, count * sizeof(float));
#else
    for (size_t i = 0; i < count; i++) {
        uint32_t u = (uint32_t)src[4 * i] | (uint32_t)src[4 * i + 1] << 8 |
                     (uint32_t)src[4 * i + 2] << 16 | (uint32_t)src[4 * i + 3] << 24;
        memcpy(&dst[i], &u, sizeof(u));
    }
#endif
}

static void emit_block(accum *a, accum_emit_fn emit, void *ctx)
{
    accum_block blk = {a->buf, a->n, a->step_first, a->step_last, a->seg, a->nseg};

    if (emit(&blk, ctx) == 0)
        a->buf = NULL;
    a->n = 0;
    a->nseg = 0;
    if (a->seg == &a->seg_oom)
        a->seg = NULL; /* the next block tries to allocate the table again */
}

/* Notes that the values appended next, from block position a->n, are a
 * message's values from body offset off on, in runs of run (<= 1:
 * independent). */
static void seg_note(accum *a, uint32_t run, size_t off)
{
    est_seg *last = a->nseg ? &a->seg[a->nseg - 1] : NULL;

    if (run <= 1)
        run = 1;
    if (last && last->phase == EST_SEG_LOOSE) { /* the rest of the block */
        last->run = run > last->run ? run : last->run;
        return;
    }
    if (run == 1 && (last == NULL || last->run == 1))
        return; /* independent after independent: nothing to end */
    if (a->seg == NULL) {
        a->seg = malloc(ACCUM_SEG_MAX * sizeof(*a->seg));
        if (a->seg == NULL) { /* no table: all of the block is loose */
            a->seg = &a->seg_oom;
            a->seg_oom = (est_seg){0, run, EST_SEG_LOOSE};
            a->nseg = 1;
            return;
        }
    }
    if (a->nseg == ACCUM_SEG_MAX - 1)
        a->seg[a->nseg++] = (est_seg){(uint32_t)a->n, run, EST_SEG_LOOSE};
    else
        a->seg[a->nseg++] = (est_seg){(uint32_t)a->n, run, (uint32_t)(off % run)};
}

/* 1 when adding `step` would make the open block span more than window
 * and it holds enough values to close. */
static int window_exceeded(const accum *a, int64_t step)
{
    int64_t lo, hi;

    if (a->window == 0 || a->n == 0 || a->n < a->window_min)
        return 0;
    lo = step < a->step_first ? step : a->step_first;
    hi = step > a->step_last ? step : a->step_last;
    return (uint64_t)hi - (uint64_t)lo >= a->window;
}

long accum_add_runs(accum *a, int64_t step, const void *le_f32, size_t count, uint32_t run,
                    size_t first, accum_emit_fn emit, void *ctx)
{
    const unsigned char *src = le_f32;
    size_t done = 0, take;

    if (window_exceeded(a, step))
        emit_block(a, emit, ctx);
    while (done < count) {
        if (a->buf == NULL) {
            a->buf = malloc(a->cap * sizeof(float));
            if (a->buf == NULL)
                return -1;
        }
        if (a->n == 0) {
            a->step_first = step;
            a->step_last = step;
        }
        take = a->cap - a->n;
        if (take > count - done)
            take = count - done;
        if (run > 1 || a->nseg > 0)
            seg_note(a, run, first + done);
        copy_le_f32(a->buf + a->n, src + 4 * done, take);
        a->n += take;
        done += take;
        if (step < a->step_first)
            a->step_first = step;
        if (step > a->step_last)
            a->step_last = step;
        if (a->n == a->cap)
            emit_block(a, emit, ctx);
    }
    return (long)done;
}

int accum_flush(accum *a, accum_emit_fn emit, void *ctx)
{
    if (a->n == 0)
        return 0;
    emit_block(a, emit, ctx);
    return 1;
}
