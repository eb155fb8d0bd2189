/*
 * logsum_test.c - the exponent/mantissa log sums against libm.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "est_internal.h"
#include "harness.h"
#include "samplers.h"

/* Reference: one libm log per value, Neumaier-compensated sum. (Not long
 * double: valgrind runs x87 long double at double precision.) Each log is
 * within 0.5 ulp, < 2.2e-15 for |log| < 20, so the reference is within
 * n * 2.2e-15 in the worst case and ~sqrt(n) * 1e-15 typically. */
static long double ref_logsum(const double *v, size_t n, double ref)
{
    double s = 0, comp = 0;
    for (size_t i = 0; i < n; i++) {
        double t = log(v[i] / ref);
        double u = s + t;
        comp += fabs(s) >= fabs(t) ? (s - u) + t : (t - u) + s;
        s = u;
    }
    return (long double)s + comp;
}

Test(logsum, matches_libm_over_wide_ranges)
{
    enum { N = 100003 };
    double *v = malloc(N * sizeof *v);
    smp_rng r;
    smp_seed(&r, 3);
    for (int i = 0; i < N; i++)
        v[i] = exp(40.0 * (smp_uniform(&r) - 0.5)) * (1.0 + smp_uniform(&r));
    double got = est_logsum_ratio_f64(v, N, 1.0);
    long double want = ref_logsum(v, N, 1.0);
    /* bound: ~1.1e-16 absolute per value for the fast sum plus the
     * reference's worst case (above), so N * 2.5e-15 (7e-15 relative) */
    cr_assert(fabsl((long double)got - want) < N * 2.5e-15L, "got %.17g want %.17Lg", got, want);
    double thr = 1e-3;
    for (int i = 0; i < N; i++)
        v[i] = thr * (1.0 + 1e6 * smp_uniform(&r));
    got = est_logsum_ratio_f64(v, N, thr);
    want = ref_logsum(v, N, thr);
    cr_assert(fabsl((long double)got - want) < N * 2.5e-15L, "got %.17g want %.17Lg", got, want);
    free(v);
}

Test(logsum, exact_cases)
{
    const double p[5] = {1, 2, 4, 8, 16};
    cr_assert_eq(est_logsum_ratio_f64(p, 5, 1.0), 10.0 * M_LN2); /* exact */
    cr_assert_eq(est_logsum_ratio_f64(p, 0, 1.0), 0.0);
    const double same[3] = {3.7, 3.7, 3.7};
    cr_assert_eq(est_logsum_ratio_f64(same, 3, 3.7), 0.0);
    const double tiny[2] = {1e-300, 4.9e-300};
    cr_assert_float_eq(est_logsum_ratio_f64(tiny, 2, 1e-301), log(10.0) + log(49.0), 1e-13);
}
