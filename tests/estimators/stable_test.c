/*
 * stable_test.c - the alpha-stable block estimator against a libm reference
 * and on seeded shifted symmetric alpha-stable and Gaussian samples.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "est.h"
#include "harness.h"
#include "samplers.h"

/* Straightforward reference: libm log per value, long double sums. */
static double ref_stable(const float *x, size_t n, double centre, size_t *k1o, size_t *k2o)
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
        double c = (double)x[i] - centre;
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

/* Known answers: shifted symmetric alpha-stable blocks of htgad's size,
 * n = 65536 (K1 = K2 = 256), 2.5 + S with S standard symmetric stable
 * (Chambers-Mallows-Stuck). Centred on the median the estimate is unbiased
 * across 0 < alpha < 2; its spread over draws, measured with
 * `bench/stable_spread.py 100 65536 2.5 build/cli/htga` (100 draws), is
 * sd below, the mean within 0.002 of alpha at every alpha:
 *   alpha 0.5     0.7     1.0     1.2     1.5     1.9
 *   sd    0.0067  0.0103  0.0183  0.0249  0.0324  0.0447
 * Each of DRAWS draws must lie within 4.5 sd (a chance of 7e-6 per draw)
 * and their mean within 4 sd / sqrt(DRAWS). est_block must give what
 * est_stable gives centred on the block's median, to 1e-12.
 * Centred on the sample mean instead, the estimate collapses towards 1
 * below 1 (measured: 0.98 at 0.5, 0.97 at 0.7, no draw of 100 below 0.78);
 * that is checked too, as the reason for the median. */
Test(stable, known_answers_shifted_symmetric_stable)
{
    enum { N = 65536, DRAWS = 4 };
    static const double alphas[] = {0.5, 0.7, 1.0, 1.2, 1.5, 1.9};
    static const double sd[] = {0.0067, 0.0103, 0.0183, 0.0249, 0.0324, 0.0447};
    float *x = malloc(N * sizeof *x);
    for (size_t a = 0; a < sizeof alphas / sizeof alphas[0]; a++) {
        double sum = 0, sum_mean = 0;
        for (int d = 0; d < DRAWS; d++) {
            smp_fill(x, N, SMP_STABLE, alphas[a], 1000 * a + (size_t)d);
            for (size_t i = 0; i < N; i++)
                x[i] = 2.5f + x[i];
            est_result r, s, m;
            cr_assert_eq(run_block(x, N, NULL, NULL, 0, NULL, &r), EST_OK);
            cr_assert_eq(r.has_stable, 1);
            cr_assert_eq(r.stable_k1, 256);
            cr_assert_eq(est_stable(x, N, r.median, &s), EST_OK);
            cr_assert(rel_err(r.stable_alpha, s.stable_alpha) < 1e-12, "%.17g vs %.17g",
                      r.stable_alpha, s.stable_alpha);
            cr_assert(fabs(r.stable_alpha - alphas[a]) < 4.5 * sd[a], "alpha %g draw %d: %g",
                      alphas[a], d, r.stable_alpha);
            sum += r.stable_alpha;
            cr_assert_eq(est_stable(x, N, r.mean, &m), EST_OK);
            sum_mean += m.stable_alpha;
        }
        double mean = sum / DRAWS;
        cr_log_info("stable alpha %.1f: mean of %d draws %.4f (centred on the mean: %.4f)",
                    alphas[a], DRAWS, mean, sum_mean / DRAWS);
        cr_assert(fabs(mean - alphas[a]) < 4 * sd[a] / sqrt(DRAWS), "alpha %g: mean %g", alphas[a],
                  mean);
        if (alphas[a] < 0.8)
            cr_assert_gt(sum_mean / DRAWS, 0.85, "alpha %g centred on the mean: %g", alphas[a],
                         sum_mean / DRAWS);
    }
    free(x);
}

/* Exact zeros of x - median (a mostly-zero gradient, as an embedding's)
 * stay out of both means: est_block against the libm reference, with the
 * zeros spread over the K1*K2 values and the tail past them. */
Test(stable, zeros_at_the_median_are_left_out)
{
    enum { N = 70001 };
    float *x = malloc(N * sizeof *x);
    smp_fill(x, N, SMP_STABLE, 0.8, 5);
    for (size_t i = 0; i < N; i++)
        if (i % 10 < 7)
            x[i] = 0.0f;
    est_result r;
    cr_assert_eq(run_block(x, N, NULL, NULL, 0, NULL, &r), EST_OK);
    cr_assert_eq(r.median, 0.0);
    cr_assert_eq(r.n_zero, 49001);
    size_t k1, k2;
    double want = ref_stable(x, N, r.median, &k1, &k2);
    cr_assert_eq(r.has_stable, 1);
    cr_assert_eq(r.stable_k1, k1);
    cr_assert(rel_err(r.stable_alpha, want) < 1e-12, "%.17g vs %.17g", r.stable_alpha, want);
    free(x);
}

/* Gaussian is alpha = 2 (the estimate saturates there). */
Test(stable, gaussian_is_two)
{
    enum { N = 1000000 };
    float *x = malloc(N * sizeof *x);
    smp_fill(x, N, SMP_GAUSS, 0, 7);
    est_result r;
    cr_assert_eq(run_block(x, N, NULL, NULL, 0, NULL, &r), EST_OK);
    cr_log_info("stable gaussian: estimate %.4f", r.stable_alpha);
    cr_assert(fabs(r.stable_alpha - 2.0) < 0.1, "gaussian estimate %g", r.stable_alpha);
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
