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

void accum_init(accum *a, size_t cap, uint64_t window)
{
    memset(a, 0, sizeof(*a));
    a->cap = cap;
    a->window = window;
}

void accum_free(accum *a)
{
    free(a->buf);
    a->buf = NULL;
    a->n = 0;
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
    accum_block blk = {a->buf, a->n, a->step_first, a->step_last};

    if (emit(&blk, ctx) == 0)
        a->buf = NULL;
    a->n = 0;
}

/* 1 when adding `step` would make the open block span more than window. */
static int window_exceeded(const accum *a, int64_t step)
{
    int64_t lo, hi;

    if (a->window == 0 || a->n == 0)
        return 0;
    lo = step < a->step_first ? step : a->step_first;
    hi = step > a->step_last ? step : a->step_last;
    return (uint64_t)hi - (uint64_t)lo >= a->window;
}

long accum_add(accum *a, int64_t step, const void *le_f32, size_t count, accum_emit_fn emit,
               void *ctx)
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
