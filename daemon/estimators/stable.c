/*
 * stable.c - the alpha-stable block estimator of Mohammadi et al. (2015).
 *
 * DESIGN: for a symmetric alpha-stable variable, a sum of K1 of them is
 * K1^(1/alpha) times one of them in law, so E log|Y| - E log|c| = log(K1) /
 * alpha. On c = x - m, m the block's median (the centre Hill uses; a mean
 * does not exist for alpha <= 1, and centring on the sample mean pulls
 * every estimate below 1 towards 1), over the first K1*K2 finite values in
 * input order (K1 = floor(sqrt(n_used)), K2 = floor(n_used / K1)), Y_j =
 * the sum of the j-th run of K1 consecutive c, and exact zeros left out of
 * each mean:
 *   1/alpha = (mean log|Y_j| - mean log|c_i|) / log K1.
 * The n_used logs of |c| are the cost, so they are not taken one by one: the
 * biased exponents of |c| are summed as integers and the mantissas
 * multiplied in four lanes, flushed every EST_LOGSUM_CHUNK values (see
 * logsum.c), about 1e-16 absolute error per value. A zero contributes
 * exponent 0 and mantissa 1, so it drops out once its count is known; a
 * subnormal |c| cannot occur (floats and the mean of two floats are
 * multiples of 2^-150, so a non-zero |c| is far above 2^-1022). Only the K2
 * block sums go through libm. This is the stand-alone version (any centre);
 * est_block computes the same sums in its fused sweep.
 */
#include <math.h>

#include "est_internal.h"

#define ABS_MASK  0x7fffffffffffffffull
#define MANT_MASK 0x000fffffffffffffull
#define ONE_BITS  0x3ff0000000000000ull

typedef struct logacc {
    int64_t e_raw; /* sum of biased exponents of |c| */
    size_t nz;     /* non-zero values */
    double lm;     /* sum of logs of flushed mantissa products */
} logacc;

static inline double flush_mant(double p, logacc *a)
{
    uint64_t u = est_f64_bits(p);
    a->e_raw += (int64_t)(u >> 52) - 1023;
    return log(est_bits_f64((u & MANT_MASK) | ONE_BITS));
}

/* Adds log|b[i] - centre| for i < m (m <= EST_LOGSUM_CHUNK) to a; returns
 * the sum of the c values. */
static double run_chunk(const float *b, size_t m, double centre, logacc *a)
{
    double p[4] = {1, 1, 1, 1}, y[4] = {0, 0, 0, 0};
    int64_t e[4] = {0, 0, 0, 0};
    size_t nz[4] = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 4 <= m; i += 4) {
        for (int l = 0; l < 4; l++) {
            double c = (double)b[i + l] - centre;
            uint64_t u = est_f64_bits(c) & ABS_MASK;
            y[l] += c;
            e[l] += (int64_t)(u >> 52);
            nz[l] += u != 0;
            p[l] *= est_bits_f64((u & MANT_MASK) | ONE_BITS);
        }
    }
    for (; i < m; i++) {
        double c = (double)b[i] - centre;
        uint64_t u = est_f64_bits(c) & ABS_MASK;
        y[0] += c;
        e[0] += (int64_t)(u >> 52);
        nz[0] += u != 0;
        p[0] *= est_bits_f64((u & MANT_MASK) | ONE_BITS);
    }
    for (int l = 0; l < 4; l++) {
        a->e_raw += e[l];
        a->nz += nz[l];
        a->lm += flush_mant(p[l], a);
    }
    return (y[0] + y[1]) + (y[2] + y[3]);
}

/* The first count finite values of x from *pos into buf (count <= chunk). */
static size_t take_finite(const float *x, size_t n, size_t *pos, float *buf, size_t count)
{
    size_t got = 0, i = *pos;
    for (; i < n && got < count; i++)
        if (est_bits_finite(est_f32_bits(x[i])))
            buf[got++] = x[i];
    *pos = i;
    return got;
}

size_t est_isqrt(size_t v)
{
    size_t r = (size_t)sqrt((double)v);
    while (r > 0 && r > v / r)
        r--;
    while ((r + 1) <= v / (r + 1))
        r++;
    return r;
}

void est_stable_core(const float *x, size_t n, size_t n_used, double centre, est_result *out)
{
    out->has_stable = 0;
    out->stable_alpha = NAN;
    out->stable_k1 = 0;
    out->stable_k2 = 0;
    if (n_used < 4)
        return;
    size_t k1 = est_isqrt(n_used), k2 = n_used / k1;
    out->stable_k1 = k1;
    out->stable_k2 = k2;
    int dense = n_used == n; /* no non-finite value to skip */
    logacc a = {0, 0, 0.0};
    double logy = 0.0;
    size_t ny = 0, pos = 0;
    float buf[EST_LOGSUM_CHUNK];
    for (size_t j = 0; j < k2; j++) {
        double y = 0.0;
        for (size_t s = 0; s < k1; s += EST_LOGSUM_CHUNK) {
            size_t m = k1 - s < EST_LOGSUM_CHUNK ? k1 - s : EST_LOGSUM_CHUNK;
            if (dense) {
                y += run_chunk(x + j * k1 + s, m, centre, &a);
            } else {
                take_finite(x, n, &pos, buf, m);
                y += run_chunk(buf, m, centre, &a);
            }
        }
        if (y != 0.0) {
            logy += log(fabs(y));
            ny++;
        }
    }
    if (a.nz == 0 || ny == 0)
        return;
    /* a zero adds biased exponent 0: subtract the bias of the non-zeros only */
    double logc = (double)(a.e_raw - 1023 * (int64_t)a.nz) * M_LN2 + a.lm;
    double inv = (logy / (double)ny - logc / (double)a.nz) / log((double)k1);
    est_stable_set(inv, out);
}

void est_stable_set(double inv, est_result *out)
{
    if (isnan(inv) || inv == INFINITY)
        return;
    out->stable_alpha = inv > 0.5 ? 1.0 / inv : 2.0;
    out->has_stable = 1;
}

int est_stable(const float *x, size_t n, double centre, est_result *out)
{
    if (!out || (!x && n > 0))
        return EST_EINVAL;
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        used += (size_t)est_bits_finite(est_f32_bits(x[i]));
    if (used >= 4 && !isfinite(centre))
        return EST_EINVAL;
    est_stable_core(x, n, used, centre, out);
    return EST_OK;
}
