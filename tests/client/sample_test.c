/*
 * sample_test.c - the stratified subsampler (client/sample.c), white box:
 * stratum bounds for awkward n/m ratios, uniformity inside strata, the
 * copy path, and that every input index can be drawn.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "sample.h"

static float *iota(size_t n)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)i;
    return x;
}

static void check_strata(size_t n, size_t m, uint64_t seed)
{
    float *x = iota(n), *out = malloc(m * sizeof *out);
    smp_rng rng;
    smp_seed(&rng, seed);
    cr_assert_eq(smp_draw(x, n, m, &rng, out), m);
    for (size_t i = 0; i < m; i++) {
        size_t lo = i * n / m, hi = (i + 1) * n / m; /* exact: small n */
        cr_assert(out[i] >= (float)lo && out[i] < (float)hi, "n=%zu m=%zu i=%zu v=%g", n, m, i,
                  out[i]);
    }
    free(x);
    free(out);
}

Test(sample, strata_bounds)
{
    size_t cases[][2] = {{11, 10},       {19, 10},    {1000, 7},       {1000, 999},
                         {65537, 65536}, {100003, 1}, {1 << 20, 3000}, {12345, 678}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_strata(cases[i][0], cases[i][1], i + 1);
}

Test(sample, small_n_is_copied)
{
    float x[5] = {1, 2, 3, 4, 5}, out[5];
    smp_rng rng;
    smp_seed(&rng, 1);
    cr_assert_eq(smp_draw(x, 5, 5, &rng, out), 5);
    cr_assert_arr_eq(x, out, sizeof x);
    cr_assert_eq(smp_draw(x, 3, 0, &rng, out), 3, "m = 0: all");
}

Test(sample, every_index_reachable_and_uniform)
{
    /* n = 3m: each stratum has 3 values; count how often each is picked */
    enum { M = 100, N = 300, R = 3000 };
    float *x = iota(N), out[M];
    unsigned hits[N] = {0};
    smp_rng rng;
    smp_seed(&rng, 7);
    for (int r = 0; r < R; r++) {
        smp_draw(x, N, M, &rng, out);
        for (int i = 0; i < M; i++)
            hits[(size_t)out[i]]++;
    }
    double chi2 = 0;
    for (int i = 0; i < N; i++) {
        cr_assert_gt(hits[i], 0);
        chi2 += (hits[i] - R / 3.0) * (hits[i] - R / 3.0) / (R / 3.0);
    }
    /* 200 dof (2 per stratum): mean 200, sd 20; 6 sd */
    cr_assert_lt(chi2, 320, "chi2 %g", chi2);
    free(x);
}

Test(sample, rng_is_seeded)
{
    smp_rng a, b;
    smp_seed(&a, 42);
    smp_seed(&b, 42);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(smp_next(&a), smp_next(&b));
    smp_seed(&b, 43);
    cr_assert_neq(smp_next(&a), smp_next(&b));
}
