/*
 * sample.c - stratified subsampling for htga_send(): one value per stratum
 * (smp_draw) or one run of consecutive values per stratum (smp_draw_runs).
 *
 * DESIGN: the client must send a bounded, unbiased sample of a gradient whose
 * size may be 100M values, in about the time of copying the sample. Stratum
 * bounds are walked incrementally (no division per value), the offset in a
 * stratum comes from a 64x64->128 multiply of a xoshiro256** draw (bias below
 * 2^-64 * stratum size), and indices are computed a batch ahead and
 * prefetched, because with a large n every value taken is a cache miss and
 * the loop is bound by memory latency, not arithmetic.
 *
 * Runs: one value per stratum touches a cache line per value shipped (with
 * 16 or more values per stratum, every line of the gradient), so a large
 * send costs a pass over the whole gradient. smp_draw_runs() cuts x into
 * units of `len` consecutive values and does the same stratified draw over
 * units: one whole unit per stratum, so it reads only the lines it ships
 * (exactly those when x is 64-byte aligned and len a multiple of 16).
 * Units start at multiples of len from x[0], not from an address, so the
 * same seed draws the same sample wherever x lives. The values past the
 * last whole stratum form the last stratum, from which a run starting at a
 * uniform offset and wrapping around inside it is taken: every value of a
 * stratum is taken with probability len/S, S its size.
 */
#include "sample.h"

#include <string.h>

#include "mix.h"

__extension__ typedef unsigned __int128 u128;

#define BATCH       64
#define RUN_BATCH   64 /* strata planned (and prefetched) ahead of the copy */
#define LINE_FLOATS 16 /* floats in a 64-byte cache line */

void smp_seed(smp_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->s[i] = htga_splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t smp_next(smp_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

size_t smp_draw(const float *x, size_t n, size_t m, smp_rng *rng, float *out)
{
    size_t base, rem, acc = 0, start = 0;
    size_t idx[BATCH];

    if (m == 0 || n <= m) {
        memcpy(out, x, n * sizeof *x);
        return n;
    }
    base = n / m;
    rem = n % m;
    /* stratum i starts at i*base + floor(i*rem/m); acc tracks i*rem mod m */
    for (size_t i = 0; i < m; i += BATCH) {
        size_t b = m - i < BATCH ? m - i : BATCH;
        for (size_t j = 0; j < b; j++) {
            size_t size = base;
            acc += rem;
            if (acc >= m) {
                acc -= m;
                size++;
            }
            idx[j] = start + (size_t)(((u128)smp_next(rng) * size) >> 64);
            __builtin_prefetch(x + idx[j]);
            start += size;
        }
        for (size_t j = 0; j < b; j++)
            out[i + j] = x[idx[j]];
    }
    return m;
}

/* The walk over the strata of smp_draw_runs() but the last: stratum i is
 * units [floor(i*n/m), floor((i+1)*n/m)) of len values each; its size
 * advances by base plus a carry when acc, i*(n mod m) mod m, wraps. */
struct walk {
    const float *x;
    size_t m, len, strata, next, unit, base, rem, acc;
    smp_rng *rng;
};

/* Plans (and prefetches) the next runs, up to RUN_BATCH; writes the index
 * of each run's first value to at[] and returns how many. */
static size_t plan_runs(struct walk *w, size_t *at)
{
    size_t b = w->strata - w->next < RUN_BATCH ? w->strata - w->next : RUN_BATCH;
    /* locals: at[] is size_t, so stores to it could alias w and the rng */
    size_t unit = w->unit, acc = w->acc;
    const size_t base = w->base, rem = w->rem, m = w->m, len = w->len;
    const float *x = w->x;
    smp_rng rng = *w->rng;
    for (size_t j = 0; j < b; j++) {
        size_t units = base, a;
        acc += rem;
        if (acc >= m) {
            acc -= m;
            units++;
        }
        a = (unit + (size_t)(((u128)smp_next(&rng) * units) >> 64)) * len;
        for (size_t k = 0; k < len; k += LINE_FLOATS)
            __builtin_prefetch(x + a + k);
        __builtin_prefetch(x + a + len - 1);
        at[j] = a;
        unit += units;
    }
    *w->rng = rng;
    w->unit = unit;
    w->acc = acc;
    w->next += b;
    return b;
}

static float *copy_run(float *out, const float *p, size_t l)
{
    size_t k = 0;
    for (; k + LINE_FLOATS <= l; k += LINE_FLOATS)
        memcpy(out + k, p + k, LINE_FLOATS * sizeof *p);
    for (; k < l; k++)
        out[k] = p[k];
    return out + l;
}

/* The last stratum x[start..n): l values from a uniform offset, wrapping
 * around inside it, written in index order. */
static void draw_tail(const float *x, size_t start, size_t n, size_t l, smp_rng *rng, float *out)
{
    size_t size = n - start, s = (size_t)(((u128)smp_next(rng) * size) >> 64);
    if (s + l <= size) {
        copy_run(out, x + start + s, l);
        return;
    }
    out = copy_run(out, x + start, s + l - size);
    copy_run(out, x + start + s, size - s);
}

size_t smp_draw_runs(const float *x, size_t n, size_t m, size_t len, smp_rng *rng, float *out)
{
    size_t at[2][RUN_BATCH];
    struct walk w = {.x = x, .m = m, .rng = rng};
    size_t b, cur = 0;

    if (m == 0 || n <= m || len <= 1)
        return smp_draw(x, n, m, rng, out);
    w.base = n / m;
    w.rem = n % m;
    w.len = len < m ? len : m;
    w.strata = (m + w.len - 1) / w.len - 1; /* all but the last */
    /* plan a batch ahead of the copy, so its lines arrive while we copy */
    b = plan_runs(&w, at[0]);
    while (b > 0) {
        size_t nb = plan_runs(&w, at[cur ^ 1]);
        for (size_t j = 0; j < b; j++)
            out = copy_run(out, x + at[cur][j], w.len);
        cur ^= 1;
        b = nb;
    }
    draw_tail(x, w.unit * w.len, n, m - w.strata * w.len, rng, out);
    return m;
}
