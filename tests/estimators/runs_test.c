/*
 * runs_test.c - est_hill_runs: the cluster-robust Hill interval of blocks
 * whose values came in runs (client run sampling).
 *
 * Hand-worked blocks (clusters, phases, loose segments, ties at the
 * threshold), the two statistical ends (independent values sent as runs:
 * deff about 1; each value repeated through its run: deff about L), and a
 * block without runs left bit for bit as est_block made it.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "est.h"
#include "harness.h"
#include "samplers.h"

static est_k_rule fixed_k(size_t k)
{
    est_k_rule r = {.kind = EST_K_FIXED, .k = k};
    return r;
}

/* median 0; y = 256, 256, 2, 2, 2, 2, 1, 0, then seven 0.5. With k = 6:
 * u = 1, z = (8, 8, 1, 1, 1, 1) ln 2 = (24, 24, 3, 3, 3, 3) in units of
 * ln2 / 3, gamma = 10, Z = k gamma = 60, and the scores z - gamma are
 * (14, 14, -7, -7, -7, -7). */
static const float hand[15] = {256,  256,  2,    2,    2,    2,    1,   0,
                               -.5f, -.5f, -.5f, -.5f, -.5f, -.5f, -.5f};
static est_result hand_block(void)
{
    est_result r;
    est_k_rule k6 = fixed_k(6);
    cr_assert_eq(run_block(hand, 15, &k6, NULL, 0, NULL, &r), EST_OK);
    cr_assert_eq(r.median, 0.0);
    cr_assert_eq(r.hill.k, 6);
    cr_assert_eq(r.hill.u, 1.0);
    cr_assert_eq(r.hill.k_tied, 0);
    cr_assert_eq(r.hill.deff, 1.0);
    cr_assert_float_eq(r.hill.gamma, 10.0 / 3.0 * M_LN2, 1e-14);
    return r;
}

/* The design effect of the delete-one-cluster jackknife of alpha = 1 /
 * gamma, from the clusters written out by hand: score sums sc[c] and
 * exceedances nc[c] of g clusters, log-excess total z = k gamma (any unit).
 * Deleting cluster c leaves alpha_c = (k - n_c) / (z - z_c), z_c = s_c +
 * gamma n_c; var = (g - 1) / g sum (alpha_c - mean)^2, deff = var k gamma^2
 * (var over the model's alpha^2 / k), clamped to [1, k]. */
static double jack_deff(const double *sc, const double *nc, size_t g, double k, double gamma)
{
    double a[16], mean = 0, var = 0;
    for (size_t c = 0; c < g; c++) {
        a[c] = (k - nc[c]) / (k * gamma - (sc[c] + gamma * nc[c]));
        mean += a[c] / (double)g;
    }
    for (size_t c = 0; c < g; c++)
        var += (a[c] - mean) * (a[c] - mean);
    double deff = var * (double)(g - 1) / (double)g * k * gamma * gamma;
    return deff < 1 ? 1 : deff > k ? k : deff;
}

/* deff, se and interval as est_hill_runs must report them, g clusters
 * holding the exceedances: the interval at k / deff with Student's t of
 * g - 1 degrees of freedom in place of the normal. */
static void expect_deff(const est_result *r, double deff, size_t g)
{
    double lo, hi, k = (double)r->hill.k, z = 1.959963984540054;
    double shape = g > 1 ? k / deff * (z / est_t975(g - 1)) * (z / est_t975(g - 1)) : k / deff;
    cr_assert_float_eq(r->hill.deff, deff, 1e-12, "deff %.15g want %.15g", r->hill.deff, deff);
    cr_assert_float_eq(r->hill.se, r->hill.alpha * sqrt(deff / k), 1e-12);
    est_hill_ci_k(r->hill.alpha, shape, &lo, &hi);
    cr_assert_float_eq(r->hill.ci_lo, lo, 1e-12);
    cr_assert_float_eq(r->hill.ci_hi, hi, 1e-12);
}

Test(runs, hand_worked_clusters)
{
    est_result base = hand_block(), r;
    /* runs of 2 from position 0: {256, 256} {2, 2} {2, 2} {1, 0} ...:
     * cluster scores 28, -14, -14, two exceedances each */
    est_seg s2 = {0, 2, 0};
    r = base;
    cr_assert_eq(est_hill_runs(hand, 15, &s2, 1, &r), EST_OK);
    expect_deff(&r, jack_deff((double[]){28, -14, -14}, (double[]){2, 2, 2}, 3, 6, 10), 3);
    cr_assert_eq(r.hill.k, 6, "k is the count, unchanged");
    cr_assert_eq(r.hill.alpha, base.hill.alpha);
    cr_assert_eq(r.hill.gamma, base.hill.gamma);
    cr_assert_gt(r.hill.ci_hi - r.hill.ci_lo, base.hill.ci_hi - base.hill.ci_lo);
    /* runs of 3: {256, 256, 2} {2, 2, 2}: 21, -21, three exceedances each */
    est_seg s3 = {0, 3, 0};
    r = base;
    cr_assert_eq(est_hill_runs(hand, 15, &s3, 1, &r), EST_OK);
    expect_deff(&r, jack_deff((double[]){21, -21}, (double[]){3, 3}, 2, 6, 10), 2);
    /* runs of 3 cut by the block, one value before it (phase 1): the first
     * run is {256, 256}, then {2, 2, 2} {2, 1, 0}: 28, -21, -7 */
    est_seg s3p = {0, 3, 1};
    r = base;
    cr_assert_eq(est_hill_runs(hand, 15, &s3p, 1, &r), EST_OK);
    expect_deff(&r, jack_deff((double[]){28, -21, -7}, (double[]){2, 3, 1}, 3, 6, 10), 3);
    /* loose runs of at most 3: a run of them may hold every log-excess
     * (3 * 24 > 60), so deleting it could leave none: deff = k */
    est_seg loose = {0, 3, EST_SEG_LOOSE};
    r = base;
    cr_assert_eq(est_hill_runs(hand, 15, &loose, 1, &r), EST_OK);
    expect_deff(&r, 6.0, 2);
    /* independent values first, runs of 2 from position 2: {256} {256}
     * singletons, then {2, 2} {2, 2} */
    est_seg late = {2, 2, 0};
    r = base;
    cr_assert_eq(est_hill_runs(hand, 15, &late, 1, &r), EST_OK);
    expect_deff(&r, jack_deff((double[]){14, 14, -14, -14}, (double[]){1, 1, 2, 2}, 4, 6, 10), 4);
    /* a run segment, then independent values again: only {256, 256} joined */
    est_seg two[2] = {{0, 2, 0}, {2, 1, 0}};
    r = base;
    cr_assert_eq(est_hill_runs(hand, 15, two, 2, &r), EST_OK);
    expect_deff(&r, jack_deff((double[]){28, -7, -7, -7, -7}, (double[]){2, 1, 1, 1, 1}, 5, 6, 10),
                5);
    /* one run holding every exceedance: one cluster says nothing about the
     * spread; k_eff = 1 */
    est_seg one = {0, 15, 0};
    r = base;
    cr_assert_eq(est_hill_runs(hand, 15, &one, 1, &r), EST_OK);
    expect_deff(&r, 6.0, 1);
}

/* A loose segment bounds the clusters it stands for from above without
 * giving up when they cannot hold the whole tail: hand's values behind ten
 * independent ones near +-4 (and fifty +-0.25), k = 16: the 256s, the ten,
 * the four 2s. A loose run of 2 holds at most 2 * 8 ln2 of the log-excess
 * Z = 16 gamma, so the rest keeps the jackknife finite; the bound (run sum
 * psi^2 over (gamma (Z - zmax))^2, uncentred) must lie between the exact
 * runs' deff and k. */
Test(runs, loose_segment_partial_bound)
{
    enum { N = 15 + 60 };
    float x[N];
    for (int i = 0; i < 60; i++)
        x[i] = (i % 2 ? -1.0f : 1.0f) * (i < 10 ? 4.0f + 0.01f * (float)i : 0.25f);
    memcpy(x + 60, hand, sizeof hand);
    est_k_rule k16 = fixed_k(16);
    est_result base, exact, loose;
    cr_assert_eq(run_block(x, N, &k16, NULL, 0, NULL, &base), EST_OK);
    cr_assert_eq(base.hill.k, 16);
    est_seg runs[2] = {{0, 1, 0}, {60, 2, 0}}, lo[2] = {{0, 1, 0}, {60, 2, EST_SEG_LOOSE}};
    exact = base;
    loose = base;
    cr_assert_eq(est_hill_runs(x, N, runs, 2, &exact), EST_OK);
    cr_assert_eq(est_hill_runs(x, N, lo, 2, &loose), EST_OK);
    cr_assert_geq(loose.hill.deff, exact.hill.deff, "loose %g < exact %g", loose.hill.deff,
                  exact.hill.deff);
    cr_assert_gt(exact.hill.deff, 2.0, "the pair of 256s weighs: %g", exact.hill.deff);
    cr_assert_lt(loose.hill.deff, 16.0, "a partial loose segment keeps the jackknife finite");
}

/* The t quantiles the interval uses: exact at 1 and 2 degrees of freedom,
 * the expansion above against published values (qt(0.975, df); df 1 and 2
 * from their closed forms, cot(pi / 40) and 0.95 / sqrt(0.04875), to 30
 * digits). */
Test(runs, t_quantiles)
{
    static const double want[][2] = {{1, 12.706204736174704},  {2, 4.302652729749464},
                                     {3, 3.182446305284263},   {4, 2.7764451051977987},
                                     {5, 2.5705818366147395},  {10, 2.2281388519649385},
                                     {30, 2.0422724563012373}, {120, 1.9799304050527766}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        double t = est_t975((size_t)want[i][0]);
        double tol = want[i][0] <= 2 ? 1e-13 : want[i][0] <= 3 ? 1.3e-3 : 4e-4;
        cr_assert_lt(fabs(t / want[i][1] - 1.0), tol, "df %g: %.10g vs %.10g", want[i][0], t,
                     want[i][1]);
    }
    cr_assert(isinf(est_t975(0)));
}

/* A loose segment is never narrower than the runs it stands for, even when
 * few runs hold the whole tail: two runs of 36 whose scores are nearly equal
 * inside each run (Cauchy-Schwarz almost tight). Here one run holds nearly
 * all the log-excess, so both come out at k. */
Test(runs, loose_segment_bounds_exact_runs_from_above)
{
    enum { N = 400, L = 36 };
    float x[N];
    for (int i = 0; i < L; i++) {
        x[i] = 100.0f * (1.0f + 1e-4f * (float)i);
        x[L + i] = 10.0f * (1.0f + 1e-4f * (float)i);
    }
    for (int i = 2 * L; i < N; i++)
        x[i] = (i % 2 ? 0.5f : -0.5f) * (1.0f + 1e-3f * (float)i);
    est_k_rule k71 = fixed_k(2 * L - 1);
    est_result base, exact, loose;
    cr_assert_eq(run_block(x, N, &k71, NULL, 0, NULL, &base), EST_OK);
    cr_assert_eq(base.hill.k, 2 * L - 1);
    est_seg runs = {0, L, 0}, lo = {0, L, EST_SEG_LOOSE};
    exact = base;
    loose = base;
    cr_assert_eq(est_hill_runs(x, N, &runs, 1, &exact), EST_OK);
    cr_assert_eq(est_hill_runs(x, N, &lo, 1, &loose), EST_OK);
    cr_assert_gt(exact.hill.deff, 2.0, "two clusters hold the tail: %g", exact.hill.deff);
    cr_assert_geq(loose.hill.deff, exact.hill.deff, "loose %g < exact %g", loose.hill.deff,
                  exact.hill.deff);
    cr_assert_geq(loose.hill.ci_hi - loose.hill.ci_lo, exact.hill.ci_hi - exact.hill.ci_lo);
}

/* A design effect below 1 never narrows the interval: the result stays
 * bit for bit as it was. */
Test(runs, deff_below_one_changes_nothing)
{
    /* the hand block's values reordered: runs of 3 hold a high and two low
     * values, {256, 2, 2} {256, 2, 2}: scores 14 - 7 - 7 = 0 each: deff 0 */
    const float x[15] = {256, 2, 2, 256, 2, 2, 1, 0, -.5f, -.5f, -.5f, -.5f, -.5f, -.5f, -.5f};
    est_k_rule k6 = fixed_k(6);
    est_result base, r;
    cr_assert_eq(run_block(x, 15, &k6, NULL, 0, NULL, &base), EST_OK);
    est_seg s3 = {0, 3, 0};
    r = base;
    cr_assert_eq(est_hill_runs(x, 15, &s3, 1, &r), EST_OK);
    cr_assert(memcmp(&r, &base, sizeof r) == 0);
}

/* Ties at u: est_block counts k_tied of the values equal to u among the k
 * largest; est_hill_runs takes the first ones in block order. median 0,
 * y = 256, 256, 2, 2, 2, 2, 1, 1, 0, eight 0.5; k = 7: u = 1, one tie in:
 * x[6]. gamma = 20/7 ln2; scores (36, 36, -13, -13, -13, -13, -20) ln2/7. */
Test(runs, ties_at_threshold_in_block_order)
{
    const float x[17] = {256,  256,  2,    2,    2,    2,    1,    1,   0,
                         -.5f, -.5f, -.5f, -.5f, -.5f, -.5f, -.5f, -.5f};
    est_k_rule k7 = fixed_k(7);
    est_result base, r;
    cr_assert_eq(run_block(x, 17, &k7, NULL, 0, NULL, &base), EST_OK);
    cr_assert_eq(base.hill.u, 1.0);
    cr_assert_eq(base.hill.k_tied, 1);
    cr_assert_float_eq(base.hill.gamma, 20.0 / 7.0 * M_LN2, 1e-14);
    /* runs of 2 from phase 1: {256} {256, 2} {2, 2} {2, x6 = 1} {x7 = 1, 0}:
     * 36 (one exceedance), 23, -26, -33 (two each) and nothing, in units
     * of ln2 / 7 (gamma = 20), G = 4; had x[7] been the tie counted, G = 5 */
    est_seg s = {0, 2, 1};
    r = base;
    cr_assert_eq(est_hill_runs(x, 17, &s, 1, &r), EST_OK);
    expect_deff(&r, jack_deff((double[]){36, 23, -26, -33}, (double[]){1, 2, 2, 2}, 4, 7, 20), 4);
}

Test(runs, rejects_bad_arguments)
{
    est_result base = hand_block(), r = base;
    est_seg ok = {0, 2, 0}, past = {16, 2, 0}, phase = {0, 2, 2};
    est_seg order[2] = {{4, 2, 0}, {2, 2, 0}};
    cr_assert_eq(est_hill_runs(hand, 15, &ok, 1, NULL), EST_EINVAL);
    cr_assert_eq(est_hill_runs(hand, 15, NULL, 1, &r), EST_EINVAL);
    cr_assert_eq(est_hill_runs(NULL, 15, &ok, 1, &r), EST_EINVAL);
    cr_assert_eq(est_hill_runs(hand, 15, &past, 1, &r), EST_EINVAL);
    cr_assert_eq(est_hill_runs(hand, 15, &phase, 1, &r), EST_EINVAL);
    cr_assert_eq(est_hill_runs(hand, 15, order, 2, &r), EST_EINVAL);
    /* a result from another block: its k exceedances are not there */
    float other[15];
    memcpy(other, hand, sizeof other);
    other[0] = 0.25f;
    cr_assert_eq(est_hill_runs(other, 15, &ok, 1, &r), EST_EINVAL);
    cr_assert(memcmp(&r, &base, sizeof r) == 0, "nothing written on error");
    /* no segments, or no estimate: nothing to do */
    cr_assert_eq(est_hill_runs(hand, 15, NULL, 0, &r), EST_OK);
    cr_assert(memcmp(&r, &base, sizeof r) == 0);
}

/* (d) A block without runs: est_block's result is not touched, bit for bit
 * (the daemon does not even call est_hill_runs then), and est_block itself
 * reports deff 1 with the interval est_hill_ci gives at k. */
Test(runs, block_without_runs_is_unchanged)
{
    enum { N = 65536 };
    float *x = malloc(N * sizeof *x);
    est_result r, again;
    smp_fill(x, N, SMP_STUDENT, 3.0, 11);
    cr_assert_eq(run_block(x, N, NULL, NULL, 0, NULL, &r), EST_OK);
    cr_assert_eq(r.hill.deff, 1.0);
    double lo, hi;
    est_hill_ci(r.hill.alpha, r.hill.k, &lo, &hi);
    cr_assert(r.hill.ci_lo == lo && r.hill.ci_hi == hi);
    cr_assert(r.hill.se == r.hill.alpha / sqrt((double)r.hill.k));
    again = r;
    cr_assert_eq(est_hill_runs(x, N, NULL, 0, &again), EST_OK);
    cr_assert(memcmp(&again, &r, sizeof r) == 0);
    free(x);
}

/* Symmetric Pareto(a) values: |x| Pareto, random sign (median near 0). */
static void fill_sym_pareto(float *x, size_t n, double a, uint64_t seed)
{
    smp_rng g;
    smp_seed(&g, seed);
    for (size_t i = 0; i < n; i++) {
        double v = smp_pareto(&g, a);
        x[i] = (float)(smp_uniform(&g) < 0.5 ? -v : v);
    }
}

/*
 * (b) Independent values sent as runs of 16: the runs carry no correlation,
 * so deff estimates 1. Each block's estimate is noisy: its relative SE is
 * about sqrt(var((z - gamma)^2) / gamma^4 / G) = sqrt(8 / G) with G the
 * clusters holding exceedances (z exponential above u: E(z-g)^4 = 9 g^4),
 * here G ~ 250 of the k = 256 exceedances: 0.18. Reported deff is clamped
 * at 1 (the jackknife's (G - 1) / G and 1 / (1 - 1/k) per deleted singleton
 * cancel to 1e-5; its curvature term is of order 1/k), so its mean over blocks
 * is about 1 + 0.18 * 0.40 = 1.08, with an SD
 * of the mean over 40 blocks of about 0.11 / sqrt(40) = 0.02: the mean must
 * lie below 1.15 (4 SDs), and no block may pass 1 + 4 * 0.18 = 1.72.
 * Runs of 16 over values repeated in runs (below) give 16: far away.
 */
Test(runs, independent_values_as_runs_give_deff_one)
{
    enum { N = 65536, L = 16, BLOCKS = 40 };
    float *x = malloc(N * sizeof *x);
    est_seg s = {0, L, 0};
    double sum = 0.0, max = 0.0;
    for (int b = 0; b < BLOCKS; b++) {
        est_result r;
        fill_sym_pareto(x, N, 1.5, 100 + (uint64_t)b);
        cr_assert_eq(run_block(x, N, NULL, NULL, 0, NULL, &r), EST_OK);
        cr_assert_eq(r.hill.k, 256);
        cr_assert_eq(est_hill_runs(x, N, &s, 1, &r), EST_OK);
        sum += r.hill.deff;
        max = r.hill.deff > max ? r.hill.deff : max;
    }
    cr_assert_lt(sum / BLOCKS, 1.15, "mean deff %.3f", sum / BLOCKS);
    cr_assert_lt(max, 1.72, "max deff %.3f", max);
    free(x);
}

/*
 * (c) Each value repeated through its run of L: exceedances come in
 * clusters of L equal scores, so the jackknife's sum_c d_c^2, to first order
 * sum_c (L psi_c)^2 / (gamma k)^2... = L^2 sum psi_c^2 over k/L clusters,
 * gives deff ~ L, and se grows by sqrt(L). With k = 4096 of 65536
 * and L = 16, G = 256 clusters: relative SE 0.18 per block, 0.04 for the
 * mean of 20 blocks; it must be within 20% (5 SDs) of L. L = 4 (G = 1024,
 * 0.09 per block, 0.02 for the mean) within 10%.
 */
static void repeated_runs(size_t len, double tol)
{
    enum { N = 65536, BLOCKS = 20 };
    float *x = malloc(N * sizeof *x);
    est_k_rule k = fixed_k(4096);
    est_seg s = {0, (uint32_t)len, 0};
    double sum = 0.0, se_ratio = 0.0, w_ratio = 0.0;
    for (int b = 0; b < BLOCKS; b++) {
        est_result base, r;
        fill_sym_pareto(x, N / len, 1.5, 500 + (uint64_t)b);
        for (size_t i = N / len; i-- > 0;)
            for (size_t j = 0; j < len; j++)
                x[i * len + j] = x[i];
        cr_assert_eq(run_block(x, N, &k, NULL, 0, NULL, &base), EST_OK);
        r = base;
        cr_assert_eq(est_hill_runs(x, N, &s, 1, &r), EST_OK);
        sum += r.hill.deff;
        se_ratio += r.hill.se / base.hill.se;
        w_ratio += (r.hill.ci_hi - r.hill.ci_lo) / (base.hill.ci_hi - base.hill.ci_lo);
        cr_assert_eq(r.hill.k, base.hill.k);
    }
    double mean = sum / BLOCKS;
    cr_assert_lt(fabs(mean / (double)len - 1.0), tol, "L %zu: mean deff %.3f", len, mean);
    cr_assert_lt(fabs(se_ratio / BLOCKS / sqrt((double)len) - 1.0), tol, "se ratio %.3f",
                 se_ratio / BLOCKS);
    /* at k / deff = 256 still Wilson-Hilferty's near-normal width: sqrt(L) too */
    cr_assert_lt(fabs(w_ratio / BLOCKS / sqrt((double)len) - 1.0), tol, "width ratio %.3f",
                 w_ratio / BLOCKS);
    free(x);
}

Test(runs, repeated_values_give_deff_l)
{
    repeated_runs(16, 0.2);
    repeated_runs(4, 0.1);
}

/*
 * (e) Calibration against fresh draws, where few runs hold the tail: blocks
 * of 4096 values in runs of L sharing a Pareto(1.5) scale (x = s e, e
 * Gaussian: a Linear layer's rows, bench/runs_calib.c's "shared" model),
 * each estimated as htgad does. The mean reported se over the SD of alpha
 * over the draws must meet the goal 0.9-1.1, give or take three of its own
 * Monte-Carlo standard errors (the SD's, from the draws' fourth moment,
 * and the mean se's, in quadrature); that error must itself be below 0.035
 * so the check has teeth: the CR3 sandwich on gamma this replaced gave
 * 0.81-0.83 here (15, 9 and 6 runs holding the k = 64 exceedances), below
 * 0.9 - 3 * 0.03.
 */
static double calib_ratio(size_t len, size_t draws, double *mc)
{
    enum { M = 4096 };
    float *x = malloc(M * sizeof *x);
    double *a = malloc(draws * sizeof *a), *se = malloc(draws * sizeof *se);
    cr_assert(x && a && se);
    est_seg seg = {0, (uint32_t)len, 0};
    double ma = 0, mse = 0;
    for (size_t d = 0; d < draws; d++) {
        smp_rng g;
        est_result r;
        smp_seed(&g, 7000 + 131 * len + d);
        for (size_t i = 0; i < M; i += len) {
            double s = smp_pareto(&g, 1.5);
            for (size_t j = i; j < i + len; j++)
                x[j] = (float)(s * smp_gauss(&g));
        }
        cr_assert_eq(run_block(x, M, NULL, NULL, 0, NULL, &r), EST_OK);
        cr_assert_eq(est_hill_runs(x, M, &seg, 1, &r), EST_OK);
        a[d] = r.hill.alpha;
        se[d] = r.hill.se;
        ma += a[d] / (double)draws;
        mse += se[d] / (double)draws;
    }
    double var = 0, m4 = 0, vse = 0, n = (double)draws;
    for (size_t d = 0; d < draws; d++) {
        double e2 = (a[d] - ma) * (a[d] - ma);
        var += e2 / (n - 1);
        m4 += e2 * e2 / n;
        vse += (se[d] - mse) * (se[d] - mse) / (n - 1);
    }
    double ratio = mse / sqrt(var), rel_sd = sqrt((m4 - var * var) / n) / (2 * var);
    double rel_se = sqrt(vse / n) / mse;
    *mc = ratio * sqrt(rel_sd * rel_sd + rel_se * rel_se);
    free(x);
    free(a);
    free(se);
    return ratio;
}

Test(runs, se_calibrated_with_few_runs_holding_the_tail)
{
    static const size_t lens[] = {16, 32, 64};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        double mc, ratio = calib_ratio(lens[i], 1500, &mc);
        cr_log_info("L %zu: se/sd %.3f +- %.3f", lens[i], ratio, mc);
        cr_assert_lt(mc, 0.035, "L %zu: Monte-Carlo error %.3f too large to judge", lens[i], mc);
        cr_assert_lt(fabs(ratio - 1.0), 0.1 + 3 * mc, "L %zu: se/sd %.3f +- %.3f", lens[i], ratio,
                     mc);
    }
}

/* The fallback when runs cannot be read: the tail as one cluster. */
Test(runs, one_cluster_fallback_is_the_widest_interval)
{
    est_result res;
    double lo1, hi1;

    memset(&res, 0, sizeof(res));
    res.has_hill = 1;
    res.hill.k = 100;
    res.hill.gamma = 0.5;
    res.hill.alpha = 2.0;
    res.hill.se = 0.2;
    res.hill.deff = 1;
    est_hill_one_cluster(&res);
    cr_assert_float_eq(res.hill.deff, 100.0, 0);
    cr_assert_float_eq(res.hill.se, 2.0, 0);
    est_hill_ci_k(2.0, 1.0, &lo1, &hi1);
    cr_assert_float_eq(res.hill.ci_lo, lo1, 0);
    cr_assert_float_eq(res.hill.ci_hi, hi1, 0);
    cr_assert_lt(res.hill.ci_lo, 2.0);
    cr_assert_gt(res.hill.ci_hi, 2.0);
    /* no Hill estimate: nothing to widen */
    memset(&res, 0, sizeof(res));
    est_hill_one_cluster(&res);
    cr_assert_float_eq(res.hill.deff, 0.0, 0);
    est_hill_one_cluster(NULL);
}
