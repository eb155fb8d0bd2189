/*
 * hill_test.c - est_hill_sorted, est_hill_plot, est_hill_ci.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "est.h"
#include "harness.h"
#include "samplers.h"

Test(hill, hand_worked_powers_of_two)
{
    const double y[4] = {8, 4, 2, 1};
    est_hill h;
    cr_assert_eq(est_hill_sorted(y, 4, 1, &h), EST_OK);
    cr_assert_float_eq(h.gamma, M_LN2, 1e-15);
    cr_assert_float_eq(h.alpha, 1.4426950408889634, 1e-14);
    cr_assert_float_eq(h.se, h.alpha, 1e-15); /* alpha / sqrt(1) */
    cr_assert_eq(h.k, 1);
    cr_assert_eq(est_hill_sorted(y, 4, 2, &h), EST_OK);
    cr_assert_float_eq(h.gamma, 1.5 * M_LN2, 1e-15);
    cr_assert_float_eq(h.se, h.alpha / sqrt(2.0), 1e-15);
    cr_assert_eq(est_hill_sorted(y, 4, 3, &h), EST_OK);
    cr_assert_float_eq(h.gamma, 2.0 * M_LN2, 1e-15); /* (3+2+1)/3 ln2 - ln 1 */
}

Test(hill, rejects_bad_arguments)
{
    const double y[4] = {8, 4, 2, 1};
    const double unsorted[4] = {4, 8, 2, 1};
    const double zero[3] = {2, 1, 0};
    est_hill h;
    cr_assert_eq(est_hill_sorted(y, 4, 0, &h), EST_EINVAL);
    cr_assert_eq(est_hill_sorted(y, 4, 4, &h), EST_EINVAL);
    cr_assert_eq(est_hill_sorted(y, 1, 1, &h), EST_EINVAL);
    cr_assert_eq(est_hill_sorted(NULL, 4, 1, &h), EST_EINVAL);
    cr_assert_eq(est_hill_sorted(y, 4, 1, NULL), EST_EINVAL);
    cr_assert_eq(est_hill_sorted(unsorted, 4, 2, &h), EST_EINVAL);
    cr_assert_eq(est_hill_sorted(zero, 3, 2, &h), EST_EINVAL);
    double a[3];
    cr_assert_eq(est_hill_plot(y, 1, a), EST_EINVAL);
    cr_assert_eq(est_hill_plot(zero, 3, a), EST_EINVAL);
    cr_assert_eq(est_hill_plot(unsorted, 4, a), EST_EINVAL);
}

Test(hill, ties_give_zero_gamma_not_negative)
{
    const double y[4] = {5, 5, 5, 1};
    est_hill h;
    cr_assert_eq(est_hill_sorted(y, 4, 1, &h), EST_OK);
    cr_assert_eq(h.gamma, 0.0);
    cr_assert(isinf(h.alpha));
    cr_assert_eq(est_hill_sorted(y, 4, 3, &h), EST_OK);
    cr_assert_float_eq(h.gamma, log(5.0), 1e-15);
    double a[3];
    cr_assert_eq(est_hill_plot(y, 4, a), EST_OK);
    cr_assert(isinf(a[0]) && isinf(a[1]));
    cr_assert_float_eq(a[2], 1.0 / log(5.0), 1e-14);
}

Test(hill, plot_matches_sorted_estimates)
{
    enum { M = 200 };
    double y[M], a[M - 1];
    smp_rng r;
    smp_seed(&r, 7);
    for (int i = 0; i < M; i++)
        y[i] = smp_pareto(&r, 1.7);
    qsort(y, M, sizeof y[0], cmp_double_desc);
    cr_assert_eq(est_hill_plot(y, M, a), EST_OK);
    for (size_t k = 1; k < M; k++) {
        est_hill h;
        cr_assert_eq(est_hill_sorted(y, M, k, &h), EST_OK);
        cr_assert(rel_err(a[k - 1], h.alpha) < 1e-12, "k=%zu plot %g sorted %g", k, a[k - 1],
                  h.alpha);
    }
}

/* Exact Gamma(k, 1) quantile: for integer k the upper tail is the
 * Poisson sum Q(k, x) = sum_{j<k} e^-x x^j / j!; bisection to 1e-13. */
static double gamma_upper(size_t k, double x)
{
    double s = 0.0;
    for (size_t j = 0; j < k; j++)
        s += exp(-x + (double)j * log(x) - lgamma((double)j + 1.0));
    return s;
}

static double gamma_quantile_exact(size_t k, double p)
{
    double lo = 0.0, hi = (double)k + 20.0 * sqrt((double)k) + 40.0;
    for (int i = 0; i < 200 && hi - lo > 1e-13 * hi; i++) {
        double mid = 0.5 * (lo + hi);
        if (1.0 - gamma_upper(k, mid) < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

Test(hill, exact_gamma_quantiles_match_chi2_tables)
{
    /* Gamma(k,1) quantile = chi2(2k) quantile / 2; tables give 3 decimals. */
    cr_assert_float_eq(gamma_quantile_exact(1, 0.975), -log(0.025), 1e-10);
    cr_assert_float_eq(gamma_quantile_exact(1, 0.025), -log(0.975), 1e-10);
    cr_assert_float_eq(2 * gamma_quantile_exact(10, 0.025), 9.591, 1e-3);
    cr_assert_float_eq(2 * gamma_quantile_exact(10, 0.975), 34.170, 1e-3);
    cr_assert_float_eq(2 * gamma_quantile_exact(50, 0.025), 74.222, 1e-3);
    cr_assert_float_eq(2 * gamma_quantile_exact(50, 0.975), 129.561, 1e-3);
}

/* The interval's Gamma(k, 1) quantiles against the bisection reference:
 * est_hill_ci is exact (Newton) for k <= EST_CI_EXACT_K, so 1e-10 there,
 * including k = 1 where Wilson-Hilferty would be 48% off at the low end.
 * Above it, Wilson-Hilferty; the bounds are its measured relative errors
 * (k=31: 1.8e-4; k=100: 2.3e-5; k=1e4: 1.6e-8) rounded up by about 2x
 * (table in docs/estimators.md). */
Test(hill, ci_quantile_accuracy)
{
    static const struct {
        size_t k;
        double tol_lo, tol_hi;
    } cases[] = {
        {1, 1e-10, 1e-10},  {2, 1e-10, 1e-10},  {5, 1e-10, 1e-10},
        {10, 1e-10, 1e-10}, {30, 1e-10, 1e-10}, {31, 4e-4, 8e-5},
        {100, 5e-5, 2e-5},  {1000, 1e-6, 1e-6}, {10000, 3e-8, 3e-8},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t k = cases[c].k;
        double lo, hi;
        est_hill_ci((double)k, k, &lo, &hi); /* alpha_hat = k: lo, hi = q */
        double qlo = gamma_quantile_exact(k, 0.025), qhi = gamma_quantile_exact(k, 0.975);
        double elo = rel_err(lo, qlo), ehi = rel_err(hi, qhi);
        cr_log_info("k=%zu lo rel err %.2e, hi rel err %.2e", k, elo, ehi);
        cr_assert(elo < cases[c].tol_lo, "k=%zu lo %.15g exact %.15g", k, lo, qlo);
        cr_assert(ehi < cases[c].tol_hi, "k=%zu hi %.15g exact %.15g", k, hi, qhi);
    }
}

/* Coverage of the 95% interval on exact Pareto tails: 400 replicates, so
 * the observed rate has standard error sqrt(.95 * .05 / 400) = 0.011; the
 * band [0.91, 0.99] is 3.6 standard errors. */
Test(hill, interval_covers_95_percent)
{
    enum { N = 1000, K = 100, REPS = 400 };
    static double y[N];
    smp_rng r;
    smp_seed(&r, 99);
    int covered = 0;
    for (int rep = 0; rep < REPS; rep++) {
        for (int i = 0; i < N; i++)
            y[i] = smp_pareto(&r, 1.5);
        qsort(y, N, sizeof y[0], cmp_double_desc);
        est_hill h;
        cr_assert_eq(est_hill_sorted(y, N, K, &h), EST_OK);
        covered += h.ci_lo <= 1.5 && 1.5 <= h.ci_hi;
    }
    double rate = (double)covered / REPS;
    cr_assert(rate > 0.91 && rate < 0.99, "coverage %g", rate);
}

Test(hill, ci_of_zero_k_is_nan)
{
    double lo, hi;
    est_hill_ci(1.0, 0, &lo, &hi);
    cr_assert(isnan(lo) && isnan(hi));
}

/* est_hill_ci_k, the interval at a real (effective) k: half-integer shapes
 * against chi-square tables (Gamma(k, 1) = chi2(2k) / 2), the integer
 * shapes of est_hill_ci, and no jump between them. */
Test(hill, ci_at_real_k)
{
    static const struct {
        double k, q025, q975; /* chi2(2k) quantiles / 2 */
    } tab[] = {
        {0.5, 0.0009820691 / 2, 5.0238862 / 2}, {1.5, 0.2157953 / 2, 9.3484036 / 2},
        {2.5, 0.8312116 / 2, 12.8325020 / 2},   {12.5, 13.119720 / 2, 40.646469 / 2},
        {40.5, 57.998417 / 2, 107.783410 / 2}, /* Wilson-Hilferty */
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        double lo, hi, k = tab[i].k;
        est_hill_ci_k(k, k, &lo, &hi); /* alpha_hat = k: lo, hi = q */
        cr_assert_lt(rel_err(lo, tab[i].q025), 2e-4, "k %g lo %.8g want %.8g", k, lo, tab[i].q025);
        cr_assert_lt(rel_err(hi, tab[i].q975), 2e-4, "k %g hi %.8g want %.8g", k, hi, tab[i].q975);
    }
    for (size_t k = 1; k <= 40; k++) {
        double lo, hi, lo2, hi2, lo3, hi3;
        est_hill_ci(1.7, k, &lo, &hi);
        est_hill_ci_k(1.7, (double)k, &lo2, &hi2);
        cr_assert(lo == lo2 && hi == hi2, "integer k %zu as est_hill_ci", k);
        est_hill_ci_k(1.7, (double)k + 1e-9, &lo3, &hi3);
        /* past EST_CI_EXACT_K, Wilson-Hilferty: within its 2e-4 */
        double tol = (double)k < EST_CI_EXACT_K ? 1e-6 : 2e-4;
        cr_assert_lt(rel_err(lo3, lo), tol, "k %zu + 1e-9: lo %.10g vs %.10g", k, lo3, lo);
        cr_assert_lt(rel_err(hi3, hi), tol, "k %zu + 1e-9: hi %.10g vs %.10g", k, hi3, hi);
    }
    double lo, hi;
    est_hill_ci_k(1.0, 0.0, &lo, &hi);
    cr_assert(isnan(lo) && isnan(hi));
    est_hill_ci_k(1.0, NAN, &lo, &hi);
    cr_assert(isnan(lo) && isnan(hi));
}
