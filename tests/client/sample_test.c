/*
 * sample_test.c - the stratified subsampler (client/sample.c), white box:
 * stratum bounds for awkward n/m ratios, uniformity inside strata, the
 * copy path, and that every input index can be drawn.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* ---------- runs (smp_draw_runs): stratified cluster sampling ---------- */

/* The design as sample.h states it, computed directly (with divisions):
 * the inclusion probability of every index of x[0..n-1]. */
static void run_inclusion(size_t n, size_t m, size_t len, double *p)
{
    size_t q, last;
    if (len > m)
        len = m;
    q = (m + len - 1) / len;
    last = len * ((q - 1) * n / m);
    for (size_t i = 0; i + 1 < q; i++) {
        size_t lo = len * (i * n / m), hi = len * ((i + 1) * n / m);
        for (size_t j = lo; j < hi; j++)
            p[j] = (double)len / (double)(hi - lo);
    }
    for (size_t j = last; j < n; j++)
        p[j] = (double)(m - (q - 1) * len) / (double)(n - last);
}

/* One draw's structure: m values, increasing (no index twice), whole
 * strata give one aligned unit inside their bounds, the last stratum a run
 * that is consecutive or wraps around inside it. Returns 1 if it wrapped. */
static int check_runs(const float *out, size_t n, size_t m, size_t len)
{
    size_t q, last, tail;
    if (len > m)
        len = m;
    q = (m + len - 1) / len;
    last = len * ((q - 1) * n / m);
    tail = m - (q - 1) * len;
    for (size_t k = 1; k < m; k++)
        cr_assert_gt(out[k], out[k - 1], "n=%zu m=%zu len=%zu: order at %zu", n, m, len, k);
    for (size_t i = 0; i + 1 < q; i++) {
        size_t lo = len * (i * n / m), hi = len * ((i + 1) * n / m), a = (size_t)out[i * len];
        cr_assert(a >= lo && a + len <= hi && a % len == 0, "n=%zu m=%zu len=%zu stratum %zu: %zu",
                  n, m, len, i, a);
        for (size_t k = 1; k < len; k++)
            cr_assert_eq((size_t)out[i * len + k], a + k);
    }
    const float *t = out + (q - 1) * len;
    size_t breaks = 0;
    cr_assert_geq((size_t)t[0], last);
    cr_assert_lt((size_t)t[tail - 1], n);
    for (size_t k = 1; k < tail; k++)
        if ((size_t)t[k] != (size_t)t[k - 1] + 1)
            breaks++;
    cr_assert_leq(breaks, 1, "the last run is one piece, or two when it wraps");
    if (breaks == 1)
        cr_assert((size_t)t[0] == last && (size_t)t[tail - 1] == n - 1,
                  "a wrapped run holds both ends of its stratum");
    return breaks == 1;
}

Test(sample, runs_structure)
{
    /* {n, m, len}: n not a multiple of len, m not a multiple of len, n/m
     * just above 1, len > m, a single stratum, the client's default sizes */
    size_t cases[][3] = {{1000, 100, 16},   {1001, 100, 16},     {1000, 99, 16},
                         {101, 100, 16},    {12345, 678, 32},    {5000, 10, 16},
                         {5000, 3, 16},     {1 << 20, 3000, 16}, {1000003, 65536, 16},
                         {100003, 4096, 7}, {40, 39, 4},         {17, 16, 16}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = cases[c][0], m = cases[c][1], len = cases[c][2];
        float *x = iota(n), *out = malloc(m * sizeof *out);
        smp_rng rng;
        smp_seed(&rng, c + 1);
        for (int r = 0; r < 20; r++) {
            cr_assert_eq(smp_draw_runs(x, n, m, len, &rng, out), m);
            check_runs(out, n, m, len);
        }
        free(x);
        free(out);
    }
}

/* Counts how often each index is taken over many draws and compares with
 * the stated inclusion probabilities: every index reached, each count
 * within 6 sd, probabilities summing to m, and a chi-square over the units
 * of the whole strata (a unit's values are taken together: one term per
 * unit, multinomial inside each stratum, units - strata degrees of freedom). */
static void check_inclusion(size_t n, size_t m, size_t len, unsigned draws, uint64_t seed)
{
    float *x = iota(n), *out = malloc(m * sizeof *out);
    double *p = malloc(n * sizeof *p), chi2 = 0, psum = 0;
    unsigned *hits = calloc(n, sizeof *hits), wraps = 0;
    size_t l = len > m ? m : len, q = (m + l - 1) / l, last = l * ((q - 1) * n / m);
    smp_rng rng;
    smp_seed(&rng, seed);
    run_inclusion(n, m, len, p);
    for (unsigned r = 0; r < draws; r++) {
        smp_draw_runs(x, n, m, len, &rng, out);
        wraps += (unsigned)check_runs(out, n, m, len);
        for (size_t i = 0; i < m; i++)
            hits[(size_t)out[i]]++;
    }
    for (size_t j = 0; j < n; j++) {
        double e = draws * p[j], sd = sqrt(e * (1 - p[j]));
        psum += p[j];
        cr_assert_gt(hits[j], 0, "n=%zu m=%zu len=%zu: index %zu never taken", n, m, len, j);
        if (p[j] < 1)
            cr_assert(fabs(hits[j] - e) < 6 * sd + 1, "index %zu: %u hits, %g expected", j, hits[j],
                      e);
        else
            cr_assert_eq(hits[j], draws);
        if (j < last && j % l == 0 && p[j] < 1)
            chi2 += (hits[j] - e) * (hits[j] - e) / (e * (1 - p[j]));
    }
    cr_assert(fabs(psum - (double)m) < 1e-9 * m, "probabilities sum to %g, not m", psum);
    double dof = (double)(last / l) - (double)(q - 1);
    if (dof > 0)
        cr_assert_lt(chi2, dof + 6 * sqrt(2 * dof), "n=%zu m=%zu len=%zu: chi2 %g, %g dof", n, m,
                     len, chi2, dof);
    if (n - last > m - (q - 1) * l && m - (q - 1) * l > 1)
        cr_assert_gt(wraps, 0, "the last stratum's run never wrapped");
    free(x);
    free(out);
    free(p);
    free(hits);
}

Test(sample, runs_inclusion_probabilities)
{
    check_inclusion(1000, 100, 16, 4000, 1); /* m % len = 4: a short last run */
    check_inclusion(1003, 96, 16, 4000, 2);  /* n % len = 11, unequal strata */
    check_inclusion(997, 128, 32, 4000, 3);
    check_inclusion(300, 10, 16, 4000, 4); /* len > m: one run over all of x */
    check_inclusion(530, 161, 8, 4000, 5); /* n/m near 3, a last run of 1 */
    check_inclusion(530, 163, 8, 4000, 6);
}

Test(sample, runs_small_cases)
{
    float x[40], out[40];
    smp_rng rng;
    for (int i = 0; i < 40; i++)
        x[i] = (float)i;
    smp_seed(&rng, 3);
    cr_assert_eq(smp_draw_runs(x, 5, 5, 16, &rng, out), 5, "n <= m: copied");
    cr_assert_arr_eq(x, out, 5 * sizeof *x);
    cr_assert_eq(smp_draw_runs(x, 7, 0, 16, &rng, out), 7, "m = 0: all");
    cr_assert_arr_eq(x, out, 7 * sizeof *x);
    for (int r = 0; r < 50; r++) {
        cr_assert_eq(smp_draw_runs(x, 40, 1, 16, &rng, out), 1);
        cr_assert(out[0] >= 0 && out[0] < 40);
    }
}

Test(sample, runs_len_one_is_per_value)
{
    float *x = iota(10000), a[300], b[300];
    smp_rng r1, r2;
    smp_seed(&r1, 9);
    smp_seed(&r2, 9);
    smp_draw_runs(x, 10000, 300, 1, &r1, a);
    smp_draw(x, 10000, 300, &r2, b);
    cr_assert_arr_eq(a, b, sizeof a);
    free(x);
}

/* Units count from x[0], not from an address: the same seed draws the same
 * indices from a copy of x at another alignment. */
Test(sample, runs_do_not_depend_on_address)
{
    enum { N = 50000, M = 1000 };
    float *x = iota(N + 3), a[M], b[M];
    smp_rng r1, r2;
    smp_seed(&r1, 5);
    smp_seed(&r2, 5);
    smp_draw_runs(x, N, M, 16, &r1, a);
    for (size_t i = 0; i < N; i++)
        x[i + 3] = (float)i;
    smp_draw_runs(x + 3, N, M, 16, &r2, b);
    cr_assert_arr_eq(a, b, sizeof a);
    free(x);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The values taken follow the population's distribution: pooled over many
 * draws, a Kolmogorov-Smirnov distance against the whole array. The values
 * climb with a period (390) close to the stratum size (about 390.6), so a
 * gross slant (always the first unit of a stratum) shows up in the values;
 * finer slants are left to runs_inclusion_probabilities, which counts. */
Test(sample, runs_values_follow_the_population)
{
    enum { N = 100003, M = 4096, R = 200, P = 390 };
    float *x = malloc(N * sizeof *x), *pool = malloc((size_t)M * R * sizeof *pool);
    smp_rng rng;
    double d = 0;
    size_t below = 0;
    for (size_t i = 0; i < N; i++)
        x[i] = (float)(i % P);
    smp_seed(&rng, 11);
    for (int r = 0; r < R; r++)
        smp_draw_runs(x, N, M, 16, &rng, pool + (size_t)r * M);
    qsort(pool, (size_t)M * R, sizeof *pool, cmp_float);
    float *sorted = malloc(N * sizeof *sorted);
    memcpy(sorted, x, N * sizeof *x);
    qsort(sorted, N, sizeof *sorted, cmp_float);
    for (size_t i = 0; i < N; i++) { /* F_pop(v) - F_pool(v) at each population value */
        while (below < (size_t)M * R && pool[below] <= sorted[i])
            below++;
        double f_pop = (double)(i + 1) / N, f_pool = (double)below / ((double)M * R);
        if (fabs(f_pop - f_pool) > d)
            d = fabs(f_pop - f_pool);
    }
    /* 1.95 / sqrt(M) (0.030) is the 0.1% bound for one draw of M
     * independent values; the R pooled stratified draws measure 0.006 */
    cr_assert_lt(d, 1.95 / sqrt(M), "KS distance %g", d);
    free(x);
    free(pool);
    free(sorted);
}
