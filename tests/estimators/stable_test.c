/*
 * stable_test.c - the alpha-stable block estimator against a libm reference
 * and on seeded symmetric alpha-stable and Gaussian samples.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "est.h"
#include "harness.h"
#include "samplers.h"

/* Straightforward reference: libm log per value, long double sums. */
static double ref_stable(const float *x, size_t n, double mean, size_t *k1o, size_t *k2o)
{
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        used += isfinite(x[i]) != 0;
    size_t k1 = (size_t)floor(sqrt((double)used)), k2 = used / k1;
    *k1o = k1;
    *k2o = k2;
    long double lc = 0, ly = 0, y = 0;
    size_t nc = 0, ny = 0, taken = 0;
    for (size_t i = 0; i < n && taken < k1 * k2; i++) {
        if (!isfinite(x[i]))
            continue;
        double c = (double)x[i] - mean;
        if (c != 0) {
            lc += logl(fabsl((long double)c));
            nc++;
        }
        y += c;
        if (++taken % k1 == 0) {
            if (y != 0) {
                ly += logl(fabsl(y));
                ny++;
            }
            y = 0;
        }
    }
    return (double)(logl((long double)k1) / (ly / ny - lc / nc));
}

Test(stable, matches_reference_with_nonfinite_mixed_in)
{
    enum { N = 200003 };
    float *x = malloc(N * sizeof *x);
    smp_fill(x, N, SMP_STABLE, 1.5, 17);
    for (size_t i = 0; i < N; i += 1013)
        x[i] = (i & 1) ? NAN : INFINITY;
    x[5] = 0.0f; /* an exact zero of c is skipped: set mean to hit it below */
    est_result m, s;
    cr_assert_eq(est_moments(x, N, &m), EST_OK);
    cr_assert_eq(est_stable(x, N, m.mean, &s), EST_OK);
    size_t k1, k2;
    double want = ref_stable(x, N, m.mean, &k1, &k2);
    cr_assert_eq(s.has_stable, 1);
    cr_assert_eq(s.stable_k1, k1);
    cr_assert_eq(s.stable_k2, k2);
    /* the fast log sum is within ~1e-16 per value of libm; 1e-12 relative */
    cr_assert(rel_err(s.stable_alpha, want) < 1e-12, "%.17g vs %.17g", s.stable_alpha, want);
    /* mean equal to a sample value: that c is an exact zero, left out */
    cr_assert_eq(est_stable(x, N, (double)x[7], &s), EST_OK);
    want = ref_stable(x, N, (double)x[7], &k1, &k2);
    cr_assert(rel_err(s.stable_alpha, want) < 1e-12, "%.17g vs %.17g", s.stable_alpha, want);
    free(x);
}

/* n = 1e6: K1 = K2 = 1000. The sd of log|S| for a symmetric stable law is
 * about 1.4, so mean log|Y| has se 1.4/sqrt(1000) = 0.044 and 1/alpha has
 * se 0.044 / log(1000) = 0.0064: alpha is within 1.2% (alpha = 1.8) at one
 * se; across seeds the spread measured here is about 1.5%. Centred on the
 * true centre 0 the tolerance is 5% (3-4 se). Centred on the sample mean,
 * as the estimator is pinned, alpha = 1.2 is biased low: the sample mean of
 * an alpha-stable law only converges like n^(1/alpha - 1) (scale 0.1 here),
 * and K1 times that shift is a third of the scale of Y_j (measured: 1.14 to
 * 1.19 over four seeds), so that case gets 8%. */
Test(stable, recovers_symmetric_stable_alpha)
{
    enum { N = 1000000 };
    float *x = malloc(N * sizeof *x);
    const double alphas[3] = {1.2, 1.5, 1.8}, tol_mean[3] = {0.08, 0.05, 0.05};
    for (int a = 0; a < 3; a++) {
        smp_fill(x, N, SMP_STABLE, alphas[a], 100 + a);
        est_result m, s, s0;
        est_moments(x, N, &m);
        cr_assert_eq(est_stable(x, N, m.mean, &s), EST_OK);
        cr_assert_eq(est_stable(x, N, 0.0, &s0), EST_OK);
        cr_assert_eq(s.has_stable, 1);
        cr_log_info("stable alpha %.2f: estimate %.4f (true centre %.4f)", alphas[a],
                    s.stable_alpha, s0.stable_alpha);
        cr_assert(rel_err(s0.stable_alpha, alphas[a]) < 0.05, "alpha %g true-centre estimate %g",
                  alphas[a], s0.stable_alpha);
        cr_assert(rel_err(s.stable_alpha, alphas[a]) < tol_mean[a], "alpha %g estimate %g",
                  alphas[a], s.stable_alpha);
    }
    /* Gaussian is alpha = 2 */
    smp_fill(x, N, SMP_GAUSS, 0, 7);
    est_result m, s;
    est_moments(x, N, &m);
    cr_assert_eq(est_stable(x, N, m.mean, &s), EST_OK);
    cr_log_info("stable gaussian: estimate %.4f", s.stable_alpha);
    cr_assert(fabs(s.stable_alpha - 2.0) < 0.1, "gaussian estimate %g", s.stable_alpha);
    free(x);
}

Test(stable, degenerate_blocks)
{
    est_result s;
    const float three[3] = {1, 2, 3};
    cr_assert_eq(est_stable(three, 3, 2.0, &s), EST_OK);
    cr_assert_eq(s.has_stable, 0);
    const float eq[9] = {4, 4, 4, 4, 4, 4, 4, 4, 4};
    cr_assert_eq(est_stable(eq, 9, 4.0, &s), EST_OK);
    cr_assert_eq(s.has_stable, 0);
    cr_assert_eq(s.stable_k1, 3);
    cr_assert_eq(s.stable_k2, 3);
    const float nan4[5] = {NAN, NAN, 1, 2, 3};
    cr_assert_eq(est_stable(nan4, 5, 2.0, &s), EST_OK);
    cr_assert_eq(s.has_stable, 0);
    cr_assert_eq(est_stable(NULL, 0, NAN, &s), EST_OK);
    cr_assert_eq(s.has_stable, 0);
    cr_assert_eq(est_stable(NULL, 4, 0.0, &s), EST_EINVAL);
    cr_assert_eq(est_stable(eq, 9, NAN, &s), EST_EINVAL);
    cr_assert_eq(est_stable(eq, 9, 4.0, NULL), EST_EINVAL);
}

/* Alpha-stable laws have alpha in (0, 2]: light tails saturate at 2, through
 * est_stable and through est_block's fused sweep alike. Uniform(-1, 1) at
 * n = 1e5 gives a raw 1/alpha below 1/2 (raw alpha about 2.1, seen before the
 * clamp), so exactly 2 is expected. */
Test(stable, light_tails_saturate_at_two)
{
    const size_t n = 100000;
    float *x = malloc(n * sizeof *x);
    smp_rng r;
    smp_seed(&r, 11);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(2.0 * smp_uniform(&r) - 1.0);
    est_result m, s, b;
    est_moments(x, n, &m);
    cr_assert_eq(est_stable(x, n, m.mean, &s), EST_OK);
    cr_assert_eq(s.has_stable, 1);
    cr_assert_eq(s.stable_alpha, 2.0, "uniform: %g", s.stable_alpha);
    cr_assert_eq(run_block(x, n, NULL, NULL, 0, NULL, &b), EST_OK);
    cr_assert_eq(b.has_stable, 1);
    cr_assert_eq(b.stable_alpha, 2.0, "uniform via est_block: %g", b.stable_alpha);
    free(x);
}

/* Hand-worked 1/alpha < 0: x = 1,-1,1,-1,1,-1,1,-1,1 (K1 = K2 = 3, mean 1/9):
 * Y = 2/3, -4/3, 2/3 so mean log|Y| = -0.1744; mean log|c| = -0.0186;
 * 1/alpha = (-0.1744 + 0.0186) / ln 3 < 0: no finite alpha, light side: 2. */
Test(stable, negative_inverse_is_two)
{
    const float x[9] = {1, -1, 1, -1, 1, -1, 1, -1, 1};
    est_result s;
    cr_assert_eq(est_stable(x, 9, 1.0 / 9.0, &s), EST_OK);
    cr_assert_eq(s.stable_k1, 3);
    cr_assert_eq(s.has_stable, 1);
    cr_assert_eq(s.stable_alpha, 2.0);
}
