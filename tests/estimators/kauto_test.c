/*
 * kauto_test.c - the double-bootstrap k rule: range, purity, fallback, and
 * its estimates on known tails.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "est.h"
#include "harness.h"
#include "samplers.h"

static est_k_rule autorule(void)
{
    est_k_rule r = {EST_K_AUTO, 0, 0};
    return r;
}

Test(kauto, falls_back_to_sqrt_on_small_blocks)
{
    float x[40];
    smp_fill(x, 40, SMP_PARETO, 2.0, 1);
    est_k_rule a = autorule();
    est_result r;
    cr_assert_eq(run_block(x, 40, &a, NULL, 0, NULL, &r), EST_OK);
    cr_assert_eq(r.hill.k, est_k_from_rule(NULL, r.n_pos));
    double y[3] = {3, 2, 1}, w[8];
    cr_assert_eq(est_k_auto(y, 3, 3, w, 8), 1);
    cr_assert_eq(est_k_auto(NULL, 0, 2, NULL, 0), 0);
}

/* Student-t(3), n = 1e5: the bootstrap's k is data dependent, so only
 * loose checks: k in range, same k on the same data (pure), Hill at that k
 * within 4 se (se = alpha/sqrt(k)) plus 10% bias allowance of nu = 3. */
Test(kauto, student_t_and_cauchy)
{
    enum { N = 100000 };
    float *x = malloc(N * sizeof *x);
    est_k_rule a = autorule();
    static const struct {
        smp_kind kind;
        double param, alpha;
    } cases[] = {{SMP_STUDENT, 3, 3}, {SMP_CAUCHY, 0, 1}, {SMP_PARETO, 1.5, 1.5}};
    for (size_t c = 0; c < 3; c++) {
        smp_fill(x, N, cases[c].kind, cases[c].param, 40 + c);
        est_result r, again;
        cr_assert_eq(run_block(x, N, &a, NULL, 0, NULL, &r), EST_OK);
        cr_assert_eq(run_block(x, N, &a, NULL, 0, NULL, &again), EST_OK);
        cr_assert_eq(r.hill.k, again.hill.k);
        cr_assert(r.has_hill && r.hill.k >= 2 && r.hill.k < r.n_pos);
        double tol = 4.0 / sqrt((double)r.hill.k) + 0.10;
        cr_log_info("auto k case %zu: k %zu alpha %.4f", c, r.hill.k, r.hill.alpha);
        cr_assert(rel_err(r.hill.alpha, cases[c].alpha) < tol, "case %zu k %zu alpha %g", c,
                  r.hill.k, r.hill.alpha);
    }
    free(x);
}

/* Whatever k the bootstrap picks (also when it exceeds the top values it
 * read and the block is gathered again), the Hill estimate and the top
 * output equal a sort-based reference at that k. */
Test(kauto, estimate_matches_sorting_at_its_k)
{
    enum { N = 20000, TOP = 50 };
    float *x = malloc(N * sizeof *x);
    double *y = malloc(N * sizeof *y);
    est_k_rule a = autorule();
    for (int seed = 0; seed < 6; seed++) {
        smp_fill(x, N, seed & 1 ? SMP_CAUCHY : SMP_STUDENT, 3, 500 + seed);
        double top[TOP];
        size_t tn;
        est_result r;
        cr_assert_eq(run_block(x, N, &a, top, TOP, &tn, &r), EST_OK);
        size_t m = 0;
        for (size_t i = 0; i < N; i++) {
            double v = fabs((double)x[i] - r.median);
            if (v > 0)
                y[m++] = v;
        }
        qsort(y, m, sizeof *y, cmp_double_desc);
        est_hill h;
        cr_assert(r.has_hill);
        cr_assert_eq(est_hill_sorted(y, m, r.hill.k, &h), EST_OK);
        cr_log_info("seed %d: auto k %zu", seed, r.hill.k);
        cr_assert(rel_err(r.hill.gamma, h.gamma) < 1e-12, "seed %d k %zu", seed, r.hill.k);
        cr_assert_eq(tn, TOP);
        for (size_t i = 0; i < TOP; i++)
            cr_assert_eq(top[i], y[i]);
    }
    free(x);
    free(y);
}
