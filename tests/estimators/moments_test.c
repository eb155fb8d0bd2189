/*
 * moments_test.c - est_moments: hand values, non-finite handling, precision.
 */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "est.h"
#include "harness.h"
#include "samplers.h"

Test(moments, hand_values)
{
    /* 1,2,3,4: mean 2.5, var 5/3, m2 = 1.25, m4 = (2*5.0625+2*0.0625)/4 = 2.5625,
     * kurtosis = 2.5625 / 1.5625 - 3 = -1.36 */
    const float x[4] = {1, 2, 3, 4};
    est_result r;
    cr_assert_eq(est_moments(x, 4, &r), EST_OK);
    cr_assert_eq(r.n_used, 4);
    cr_assert_eq(r.n_nonfinite, 0);
    cr_assert_float_eq(r.mean, 2.5, 1e-15);
    cr_assert_float_eq(r.variance, 5.0 / 3.0, 1e-15);
    cr_assert_float_eq(r.kurtosis, -1.36, 1e-14);
}

Test(moments, nonfinite_excluded)
{
    const float x[7] = {1, NAN, 2, INFINITY, 3, -INFINITY, 4};
    est_result r;
    cr_assert_eq(est_moments(x, 7, &r), EST_OK);
    cr_assert_eq(r.n_used, 4);
    cr_assert_eq(r.n_nonfinite, 3);
    cr_assert_float_eq(r.mean, 2.5, 1e-15);
    cr_assert_float_eq(r.variance, 5.0 / 3.0, 1e-15);
}

Test(moments, degenerate_blocks)
{
    est_result r;
    cr_assert_eq(est_moments(NULL, 0, &r), EST_OK);
    cr_assert_eq(r.n_used, 0);
    cr_assert(isnan(r.mean) && isnan(r.variance) && isnan(r.kurtosis));
    const float one[1] = {5};
    cr_assert_eq(est_moments(one, 1, &r), EST_OK);
    cr_assert_eq(r.mean, 5.0);
    cr_assert(isnan(r.variance) && isnan(r.kurtosis));
    const float eq[3] = {2, 2, 2};
    cr_assert_eq(est_moments(eq, 3, &r), EST_OK);
    cr_assert_eq(r.variance, 0.0);
    cr_assert(isnan(r.kurtosis));
    const float big[2] = {FLT_MAX, -FLT_MAX};
    cr_assert_eq(est_moments(big, 2, &r), EST_OK);
    cr_assert_eq(r.mean, 0.0);
    cr_assert_float_eq(r.variance, 2.0 * (double)FLT_MAX * FLT_MAX,
                       1e-15 * 2 * FLT_MAX * (double)FLT_MAX);
    cr_assert_eq(est_moments(NULL, 3, &r), EST_EINVAL);
    cr_assert_eq(est_moments(one, 1, NULL), EST_EINVAL);
}

/* 1e7 values around 1e4 with spread 1e-2 (float ulp at 1e4 is 1e-3): the
 * reference is a long double two-pass; a one-pass raw-moment method would
 * lose all digits of the variance here. */
Test(moments, precision_large_offset_small_spread)
{
    enum { N = 10000000 };
    float *x = malloc(N * sizeof *x);
    smp_rng g;
    smp_seed(&g, 11);
    for (size_t i = 0; i < N; i++)
        x[i] = (float)(1e4 + 1e-2 * smp_gauss(&g));
    long double s = 0;
    for (size_t i = 0; i < N; i++)
        s += x[i];
    long double mean = s / N, s2 = 0, s4 = 0;
    for (size_t i = 0; i < N; i++) {
        long double c = x[i] - mean;
        s2 += c * c;
        s4 += c * c * c * c;
    }
    est_result r;
    cr_assert_eq(est_moments(x, N, &r), EST_OK);
    cr_assert(rel_err(r.mean, (double)mean) < 1e-14);
    cr_assert(rel_err(r.variance, (double)(s2 / (N - 1))) < 1e-9, "var %.17g want %.17Lg",
              r.variance, s2 / (N - 1));
    long double m2 = s2 / N;
    double kurt = (double)(s4 / N / (m2 * m2) - 3);
    cr_assert(fabs(r.kurtosis - kurt) < 1e-8, "kurt %.17g want %.17g", r.kurtosis, kurt);
    free(x);
}
