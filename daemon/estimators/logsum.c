/*
 * logsum.c - sums of logarithms without one libm log per value.
 *
 * DESIGN: log v = (e - 1023) ln 2 + log m for v = m 2^(e-1023), m in [1, 2).
 * The exponents are summed exactly as integers; the mantissas are
 * multiplied, and every EST_LOGSUM_CHUNK values the product (< 2^512) is
 * split again into exponent and mantissa, so one libm log per chunk remains.
 * Used for the Hill sum on ratios y(i)/y(k+1) >= 1; block.c and stable.c
 * inline the same idea in their sweeps. Each product step rounds once (relative
 * 2^-53), so the sum of n logs is off by at most about n * 1.1e-16 in
 * absolute terms: 1e-16 per value, far below 1e-12 relative of any mean log.
 * Subnormal or zero inputs are not valid here; callers filter them.
 */
#include <math.h>

#include "est_internal.h"

#define MANT_MASK 0x000fffffffffffffull
#define ONE_BITS  0x3ff0000000000000ull

static inline double mant_of(uint64_t u)
{
    return est_bits_f64((u & MANT_MASK) | ONE_BITS);
}

static inline int64_t exp_of(uint64_t u)
{
    return (int64_t)((u >> 52) & 0x7ff) - 1023;
}

/* Folds a lane product back into the exponent sum, returns its log mantissa. */
static inline double flush(double *p, int64_t *e)
{
    uint64_t u = est_f64_bits(*p);
    *e += exp_of(u);
    double lm = log(mant_of(u));
    *p = 1.0;
    return lm;
}

double est_logsum_ratio_f64(const double *v, size_t n, double ref)
{
    int64_t e = 0;
    double lm = 0.0;
    size_t i = 0;
    double inv = 1.0 / ref;
    int exact_inv = est_f64_bits(inv) << 12 == 0 && est_f64_bits(ref) << 12 == 0;
    while (i < n) {
        size_t end = n - i > EST_LOGSUM_CHUNK ? i + EST_LOGSUM_CHUNK : n;
        double p = 1.0;
        for (; i < end; i++) {
            double r = exact_inv ? v[i] * inv : v[i] / ref;
            uint64_t u = est_f64_bits(r);
            e += exp_of(u);
            p *= mant_of(u);
        }
        lm += flush(&p, &e);
    }
    return (double)e * M_LN2 + lm;
}

double est_logacc_log(const est_logacc *a, size_t nz)
{
    est_logacc c = *a;
    est_logacc_norm(&c);
    /* eight mantissas in [1, 2): their product is below 2^8, one log */
    double p = ((c.p[0] * c.p[1]) * (c.p[2] * c.p[3])) * ((c.p[4] * c.p[5]) * (c.p[6] * c.p[7]));
    return (double)(c.e - 1023 * (int64_t)nz) * M_LN2 + log(p);
}
