/*
 * block_test.c - est_block end to end: hand-worked blocks, known tails,
 * edge cases, and agreement with the stand-alone estimators.
 */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "est.h"
#include "harness.h"
#include "samplers.h"

static est_k_rule rule_of(const char *text)
{
    est_k_rule r;
    cr_assert_eq(est_k_rule_parse(text, &r), EST_OK);
    return r;
}

Test(block, hand_worked_powers_of_two)
{
    /* median 0 (a sample value: one zero y), y = {8, 4, 2, 1} */
    const float x[5] = {-8, 2, 0, -4, 1};
    est_result r;
    double top[8];
    size_t tn;
    est_k_rule k1 = rule_of("1"), k2 = rule_of("fixed:2");
    cr_assert_eq(run_block(x, 5, &k1, top, 8, &tn, &r), EST_OK);
    cr_assert_eq(r.n, 5);
    cr_assert_eq(r.n_used, 5);
    cr_assert_eq(r.n_zero, 1);
    cr_assert_eq(r.n_pos, 4);
    cr_assert_eq(r.median, 0.0);
    cr_assert_eq(r.has_hill, 1);
    cr_assert_eq(r.hill.k, 1);
    cr_assert_float_eq(r.hill.gamma, M_LN2, 1e-15);
    cr_assert_float_eq(r.hill.alpha, 1.4426950408889634, 1e-14);
    cr_assert_eq(tn, 4);
    cr_assert(top[0] == 8 && top[1] == 4 && top[2] == 2 && top[3] == 1);
    cr_assert_eq(run_block(x, 5, &k2, NULL, 0, NULL, &r), EST_OK);
    cr_assert_float_eq(r.hill.gamma, 1.5 * M_LN2, 1e-15);
    cr_assert_eq(run_block(x, 5, NULL, NULL, 0, NULL, &r), EST_OK); /* sqrt(4) = 2 */
    cr_assert_eq(r.hill.k, 2);
    cr_assert_float_eq(r.hill.gamma, 1.5 * M_LN2, 1e-15);
    /* mean -1.8, variance sum (x+1.8)^2 / 4 = 68.8 / 4 */
    cr_assert_float_eq(r.mean, -1.8, 1e-15);
    cr_assert_float_eq(r.variance, 68.8 / 4.0, 1e-13);
    /* the same around median 100 */
    const float xs[5] = {92, 102, 100, 96, 101};
    cr_assert_eq(run_block(xs, 5, &k1, NULL, 0, NULL, &r), EST_OK);
    cr_assert_eq(r.median, 100.0);
    cr_assert_float_eq(r.hill.gamma, M_LN2, 1e-15);
}

Test(block, median_odd_even_and_nonfinite)
{
    est_result r;
    const float odd[3] = {3, 1, 2};
    cr_assert_eq(run_block(odd, 3, NULL, NULL, 0, NULL, &r), EST_OK);
    cr_assert_eq(r.median, 2.0);
    const float even[4] = {4, 1, 3, 2};
    cr_assert_eq(run_block(even, 4, NULL, NULL, 0, NULL, &r), EST_OK);
    cr_assert_eq(r.median, 2.5);
    cr_assert_eq(r.n_zero, 0);
    const float mixed[9] = {NAN, 4, -INFINITY, 1, INFINITY, 3, -NAN, 2, NAN};
    cr_assert_eq(run_block(mixed, 9, NULL, NULL, 0, NULL, &r), EST_OK);
    cr_assert_eq(r.n, 9);
    cr_assert_eq(r.n_nonfinite, 5);
    cr_assert_eq(r.n_used, 4);
    cr_assert_eq(r.median, 2.5);
    cr_assert_float_eq(r.mean, 2.5, 1e-15);
    cr_assert_float_eq(r.variance, 5.0 / 3.0, 1e-15);
    cr_assert_eq(r.n_pos, 4);
    cr_assert_eq(r.has_hill, 1); /* y = {1.5, 1.5, .5, .5}, k = 2 */
    cr_assert_float_eq(r.hill.gamma, log(3.0), 1e-15);
    const float big[2] = {FLT_MAX, -FLT_MAX};
    cr_assert_eq(run_block(big, 2, NULL, NULL, 0, NULL, &r), EST_OK);
    cr_assert_eq(r.median, 0.0);
}

Test(block, edge_cases)
{
    est_result r;
    double top[4];
    size_t tn = 99;
    cr_assert_eq(run_block(NULL, 0, NULL, top, 4, &tn, &r), EST_OK);
    cr_assert(r.n == 0 && r.n_used == 0 && r.has_hill == 0 && r.has_stable == 0 && tn == 0);
    cr_assert(isnan(r.median) && isnan(r.mean) && isnan(r.variance) && isnan(r.kurtosis));

    const float nan3[3] = {NAN, NAN, NAN};
    cr_assert_eq(run_block(nan3, 3, NULL, NULL, 0, NULL, &r), EST_OK);
    cr_assert(r.n_nonfinite == 3 && r.n_used == 0 && isnan(r.median) && !r.has_hill);

    const float eq[6] = {7, 7, 7, 7, 7, 7};
    cr_assert_eq(run_block(eq, 6, NULL, top, 4, &tn, &r), EST_OK);
    cr_assert(r.median == 7 && r.n_zero == 6 && r.n_pos == 0 && !r.has_hill && !r.has_stable);
    cr_assert(r.variance == 0 && isnan(r.kurtosis) && tn == 0);

    const float one[1] = {3};
    cr_assert_eq(run_block(one, 1, NULL, top, 4, &tn, &r), EST_OK);
    cr_assert(r.median == 3 && r.mean == 3 && isnan(r.variance) && !r.has_hill && tn == 0);
    const float two[2] = {3, 5};
    cr_assert_eq(run_block(two, 2, NULL, top, 4, &tn, &r), EST_OK);
    cr_assert(r.median == 4 && r.n_pos == 2 && !r.has_hill && tn == 2);
    cr_assert(top[0] == 1 && top[1] == 1);
    const float three[3] = {3, 5, 9};
    cr_assert_eq(run_block(three, 3, NULL, top, 4, &tn, &r), EST_OK);
    cr_assert(r.median == 5 && r.n_pos == 2 && r.n_zero == 1 && !r.has_hill);
    const float four[4] = {1, 5, 9, 20}; /* median 7: y = 13, 6, 2, 2 */
    cr_assert_eq(run_block(four, 4, NULL, top, 4, &tn, &r), EST_OK);
    cr_assert(r.n_pos == 4 && r.has_hill && r.hill.k == 2 && tn == 4 && top[0] == 13);
    cr_assert_float_eq(r.hill.gamma, 0.5 * (log(13.0 / 2) + log(6.0 / 2)), 1e-15);

    /* a top_len beyond the block: at most n_pos values are written */
    cr_assert_eq(run_block(four, 4, NULL, top, SIZE_MAX, &tn, &r), EST_OK);
    cr_assert(tn == 4 && top[0] == 13 && top[3] == 2);
    /* k out of range is clamped to n_pos - 1 */
    est_k_rule big = rule_of("1000");
    cr_assert_eq(run_block(four, 4, &big, NULL, 0, NULL, &r), EST_OK);
    cr_assert_eq(r.hill.k, 3);
    /* top k+1 all equal: gamma 0, no estimate */
    const float tie[6] = {0, 0, 0, 5, 5, -5};
    est_k_rule k2 = rule_of("2");
    cr_assert_eq(run_block(tie, 6, &k2, NULL, 0, NULL, &r), EST_OK);
    cr_assert_eq(r.n_pos, 3);
    cr_assert_eq(r.has_hill, 0);
}

Test(block, denormals_and_huge_values)
{
    est_result r;
    float x[9];
    for (int i = 0; i < 9; i++)
        x[i] = (float)(i + 1) * 1.4e-45f; /* subnormals 1..9 times the smallest */
    double top[9];
    size_t tn;
    est_k_rule k1 = rule_of("1"), k2 = rule_of("2");
    /* y = (4, 4, 3, 3, 2, 2, 1, 1) * 2^-149: the top two tie at k = 1 */
    cr_assert_eq(run_block(x, 9, &k1, top, 9, &tn, &r), EST_OK);
    cr_assert_eq(r.median, (double)x[4]);
    cr_assert_eq(r.n_pos, 8);
    cr_assert_eq(tn, 8);
    cr_assert_eq(top[0], 4.0 * (double)x[0]);
    cr_assert_eq(top[7], (double)x[0]);
    cr_assert(!r.has_hill);
    cr_assert(r.has_stable);
    cr_assert_eq(run_block(x, 9, &k2, top, 9, &tn, &r), EST_OK);
    cr_assert(r.has_hill);
    cr_assert_float_eq(r.hill.gamma, log(4.0 / 3.0), 1e-15);

    const float huge[5] = {FLT_MAX, -FLT_MAX, 0, FLT_MAX, -FLT_MAX};
    cr_assert_eq(run_block(huge, 5, &k1, top, 9, &tn, &r), EST_OK);
    cr_assert_eq(r.median, 0.0);
    cr_assert_eq(r.n_pos, 4);
    cr_assert(isfinite(r.mean) && isfinite(r.variance));
    cr_assert_eq(top[0], (double)FLT_MAX);
    const float wide[5] = {FLT_MAX, -FLT_MAX, FLT_MAX, 1, -FLT_MAX}; /* median 1 */
    cr_assert_eq(run_block(wide, 5, NULL, top, 9, &tn, &r), EST_OK);
    cr_assert_eq(r.median, 1.0);
    cr_assert_eq(top[0], (double)FLT_MAX + 1.0);
}

Test(block, invalid_arguments)
{
    const float x[4] = {1, 2, 3, 4};
    size_t bytes = est_scratch_bytes(4);
    char *s = aligned_alloc(16, bytes + 16);
    est_result r;
    est_k_rule bad = {EST_K_FRAC, 2.0, 0}, zero = {EST_K_FIXED, 0, 0};
    cr_assert_eq(est_block(x, 4, NULL, s, bytes, NULL, 0, NULL, &r), EST_OK);
    cr_assert_eq(est_block(NULL, 4, NULL, s, bytes, NULL, 0, NULL, &r), EST_EINVAL);
    cr_assert_eq(est_block(x, 4, NULL, NULL, bytes, NULL, 0, NULL, &r), EST_EINVAL);
    cr_assert_eq(est_block(x, 4, NULL, s, bytes - 1, NULL, 0, NULL, &r), EST_EINVAL);
    cr_assert_eq(est_block(x, 4, NULL, s + 8, bytes, NULL, 0, NULL, &r), EST_EINVAL);
    cr_assert_eq(est_block(x, 4, NULL, s, bytes, NULL, 0, NULL, NULL), EST_EINVAL);
    cr_assert_eq(est_block(x, 4, &bad, s, bytes, NULL, 0, NULL, &r), EST_EINVAL);
    cr_assert_eq(est_block(x, 4, &zero, s, bytes, NULL, 0, NULL, &r), EST_EINVAL);
    free(s);
}

/* Exact Pareto quantiles x_i = ((i - 0.5)/n)^(-1/a): deterministic. The block
 * result must equal a long double Hill on the sorted |x - median| to 1e-10,
 * and with k = sqrt(n) = 1000 the estimate is within 3% of a (the shift by
 * the median, ~1.6 against a threshold of ~100, biases by about 1.6%). */
Test(block, exact_pareto_quantiles)
{
    enum { N = 1000000 };
    const double a = 1.5;
    float *x = malloc(N * sizeof *x);
    double *y = malloc(N * sizeof *y);
    for (size_t i = 0; i < N; i++)
        x[(i * 7919) % N] = (float)pow(((double)i + 0.5) / N, -1.0 / a); /* shuffled */
    est_result r;
    cr_assert_eq(run_block(x, N, NULL, NULL, 0, NULL, &r), EST_OK);
    for (size_t i = 0; i < N; i++)
        y[i] = fabs((double)x[i] - r.median);
    qsort(y, N, sizeof *y, cmp_double_desc);
    size_t k = 1000;
    long double s = 0;
    for (size_t i = 0; i < k; i++)
        s += logl(y[i]) - logl(y[k]);
    double gamma = (double)(s / k);
    cr_assert_eq(r.hill.k, k);
    cr_assert(rel_err(r.hill.gamma, gamma) < 1e-10, "%.17g vs %.17g", r.hill.gamma, gamma);
    cr_log_info("exact Pareto a=1.5: alpha %.4f", r.hill.alpha);
    cr_assert(rel_err(r.hill.alpha, a) < 0.03, "alpha %g", r.hill.alpha);
    free(x);
    free(y);
}

/* Seeded samples, n = 1e6, k = sqrt(n) = 1000: se(alpha)/alpha = 1/sqrt(k)
 * = 3.2%. Tolerances are 3 se (9.5%) for the Pareto and Cauchy, whose
 * second-order bias at k/n = 1e-3 is negligible, and 4 se (13%) for
 * Student-t, whose bias term (rho = -2/nu) adds a few percent. */
Test(block, known_tails_seeded)
{
    enum { N = 1000000 };
    float *x = malloc(N * sizeof *x);
    static const struct {
        smp_kind kind;
        double param, alpha, tol;
    } cases[] = {
        {SMP_PARETO, 1.5, 1.5, 0.095}, {SMP_CAUCHY, 0, 1.0, 0.095}, {SMP_STUDENT, 2, 2, 0.13},
        {SMP_STUDENT, 3, 3, 0.13},     {SMP_STUDENT, 4, 4, 0.13},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        smp_fill(x, N, cases[c].kind, cases[c].param, 1000 + c);
        est_result r;
        cr_assert_eq(run_block(x, N, NULL, NULL, 0, NULL, &r), EST_OK);
        cr_assert_eq(r.hill.k, 1000);
        cr_log_info("case %zu: alpha %.4f (true %.1f) ci [%.3f, %.3f]", c, r.hill.alpha,
                    cases[c].alpha, r.hill.ci_lo, r.hill.ci_hi);
        cr_assert(rel_err(r.hill.alpha, cases[c].alpha) < cases[c].tol, "case %zu alpha %g", c,
                  r.hill.alpha);
    }
    free(x);
}

/* Gaussian: no power tail, so Hill's alpha grows with n (roughly like
 * 2 log(n/k)); the stable estimator sits near 2. */
Test(block, gaussian_has_no_tail_index)
{
    enum { N = 1000000 };
    float *x = malloc(N * sizeof *x);
    smp_fill(x, N, SMP_GAUSS, 0, 5);
    est_result small, large;
    cr_assert_eq(run_block(x, 10000, NULL, NULL, 0, NULL, &small), EST_OK);
    cr_assert_eq(run_block(x, N, NULL, NULL, 0, NULL, &large), EST_OK);
    cr_log_info("gaussian hill alpha n=1e4 %.3f, n=1e6 %.3f; stable %.3f", small.hill.alpha,
                large.hill.alpha, large.stable_alpha);
    cr_assert(large.hill.alpha > small.hill.alpha + 1.0);
    cr_assert(fabs(large.stable_alpha - 2.0) < 0.1);
    cr_assert(fabs(large.kurtosis) < 0.05); /* se of excess kurtosis sqrt(24/n) = .005 */
    free(x);
}

/* est_block agrees with est_moments and est_stable (centred on its median);
 * moments at 1e7 values with a large offset keep 1e-9 relative precision. */
Test(block, agrees_with_parts_at_1e7)
{
    enum { N = 10000000 };
    float *x = malloc(N * sizeof *x);
    smp_fill(x, N, SMP_STUDENT, 3, 21);
    for (size_t i = 0; i < N; i++)
        x[i] = 5000.0f + 0.01f * x[i];
    x[123] = NAN;
    est_result r, m, s;
    cr_assert_eq(run_block(x, N, NULL, NULL, 0, NULL, &r), EST_OK);
    cr_assert_eq(est_moments(x, N, &m), EST_OK);
    cr_assert_eq(est_stable(x, N, r.median, &s), EST_OK);
    cr_assert_eq(r.n_used, N - 1);
    cr_assert(rel_err(r.mean, m.mean) < 1e-15);
    cr_assert(rel_err(r.variance, m.variance) < 1e-12);
    cr_assert(rel_err(r.kurtosis, m.kurtosis) < 1e-10);
    cr_assert(rel_err(r.stable_alpha, s.stable_alpha) < 1e-12);
    long double sum = 0, s2 = 0;
    for (size_t i = 0; i < N; i++)
        if (isfinite(x[i]))
            sum += x[i];
    long double mean = sum / (N - 1);
    for (size_t i = 0; i < N; i++)
        if (isfinite(x[i]))
            s2 += (x[i] - mean) * (x[i] - mean);
    cr_assert(rel_err(r.mean, (double)mean) < 1e-14);
    cr_assert(rel_err(r.variance, (double)(s2 / (N - 2))) < 1e-9);
    free(x);
}

/* Moments of centred heavy-tailed data (t(3) at 0: values over many
 * exponents, so the order of summation matters, unlike the offset block
 * above whose values are all multiples of 2^-11) against a long double
 * two-pass reference. The double sums' rounding error grows like
 * sqrt(n) * 2^-53 relative to the sums of |x|^p (about 1e-13 at n = 1e6);
 * measured here: mean 1e-19 of mean|x|, variance and kurtosis 3e-15 and
 * 5e-15 relative. A float accumulator or a lost lane would be 1e-7 off. */
Test(block, centred_moments_against_long_double)
{
    enum { N = 1000003 };
    float *x = malloc(N * sizeof *x);
    smp_fill(x, N, SMP_STUDENT, 3, 33);
    x[777] = INFINITY;
    est_result r;
    cr_assert_eq(run_block(x, N, NULL, NULL, 0, NULL, &r), EST_OK);
    long double sum = 0, sabs = 0, c2 = 0, c4 = 0;
    for (size_t i = 0; i < N; i++)
        if (isfinite(x[i])) {
            sum += x[i];
            sabs += fabsl((long double)x[i]);
        }
    long double mean = sum / (N - 1);
    for (size_t i = 0; i < N; i++)
        if (isfinite(x[i])) {
            long double c = x[i] - mean;
            c2 += c * c;
            c4 += c * c * c * c;
        }
    double var = (double)(c2 / (N - 2));
    long double m2 = c2 / (N - 1), m4 = c4 / (N - 1);
    cr_assert_eq(r.n_used, N - 1);
    cr_assert(fabs(r.mean - (double)mean) < 1e-11 * (double)(sabs / (N - 1)),
              "mean %.17g vs %.17Lg", r.mean, mean);
    cr_assert(rel_err(r.variance, var) < 1e-12, "variance %.17g vs %.17g", r.variance, var);
    double g2 = (double)(m4 / (m2 * m2)) - 3.0; /* m4 / m2^2 - 3, as est_moments_shifted */
    cr_assert(rel_err(r.kurtosis, g2) < 1e-12, "kurtosis %.17g vs %.17g", r.kurtosis, g2);
    free(x);
}

/* The top output feeds the Hill plot: its alpha at k equals est_block's. */
Test(block, top_output_feeds_hill_plot)
{
    enum { N = 20000, M = 400 };
    float *x = malloc(N * sizeof *x);
    smp_fill(x, N, SMP_STUDENT, 3, 77);
    x[10] = NAN;
    double top[M], plot[M - 1];
    size_t tn;
    est_result r;
    cr_assert_eq(run_block(x, N, NULL, top, M, &tn, &r), EST_OK);
    cr_assert_eq(tn, M);
    cr_assert_eq(r.hill.k, 141); /* floor(sqrt(19999)) */
    cr_assert_eq(est_hill_plot(top, M, plot), EST_OK);
    cr_assert(rel_err(plot[r.hill.k - 1], r.hill.alpha) < 1e-12, "%g vs %g", plot[r.hill.k - 1],
              r.hill.alpha);
    for (size_t i = 1; i < M; i++)
        cr_assert(top[i] <= top[i - 1]);
    free(x);
}

/* est_block_flags with EST_TOP_ANY_ORDER gives exactly est_block's result
 * (every field bit for bit, NaN fields included) and the same top output
 * once sorted, its first k + 1 values (the Hill estimate's) as they are:
 * centred, offset (crowded-bucket path), integer (ties), non-finite and
 * tiny blocks, three k rules. Flags 0 is est_block; unknown flags refused. */
Test(block, top_in_any_order_is_the_same_top)
{
    enum { N = 65536 + 13, TOP = 1100 };
    float *x = malloc(N * sizeof *x);
    double top_a[TOP], top_b[TOP];
    static const char *rules[] = {"sqrt", "auto", "fixed:7"};
    for (int c = 0; c < 6; c++) {
        size_t n = c == 5 ? 7 : N - (size_t)c;
        smp_fill(x, n, c == 1 ? SMP_GAUSS : SMP_STUDENT, 3, 500 + (uint64_t)c);
        for (size_t i = 0; i < n; i++) {
            if (c == 1)
                x[i] = 1000.0f + 0.001f * x[i]; /* offset, small spread */
            else if (c == 2)
                x[i] = (float)(int)(x[i] * 3); /* integers: many ties */
            else if (c == 3 && i % 997 == 0)
                x[i] = i % 3 ? NAN : (i % 2 ? INFINITY : -INFINITY);
        }
        est_k_rule rule = rule_of(rules[c % 3]);
        size_t bytes = est_scratch_bytes(n);
        void *scratch = aligned_alloc(16, (bytes + 15) & ~(size_t)15);
        est_result a, b;
        size_t tn_a, tn_b;
        cr_assert_eq(run_block(x, n, &rule, top_a, TOP, &tn_a, &a), EST_OK);
        for (unsigned flags = 0; flags <= EST_TOP_ANY_ORDER; flags++) {
            memset(&b, 0xa5, sizeof b);
            cr_assert_eq(est_block_flags(x, n, flags, &rule, scratch, bytes, top_b, TOP, &tn_b, &b),
                         EST_OK);
            cr_assert_eq(memcmp(&a, &b, sizeof a), 0, "case %d flags %u: results differ", c, flags);
            cr_assert_eq(tn_a, tn_b);
            if (flags) { /* the Hill part in place, the rest once sorted */
                size_t hk = a.has_hill ? a.hill.k + 1 : 0;
                cr_assert_eq(memcmp(top_a, top_b, (hk < tn_a ? hk : tn_a) * sizeof *top_a), 0);
                qsort(top_b, tn_b, sizeof *top_b, cmp_double_desc);
            }
            cr_assert_eq(memcmp(top_a, top_b, tn_a * sizeof *top_a), 0, "case %d flags %u", c,
                         flags);
        }
        cr_assert_eq(est_block_flags(x, n, 2, &rule, scratch, bytes, NULL, 0, NULL, &b),
                     EST_EINVAL);
        free(scratch);
    }
    free(x);
}
