/*
 * est.h - pure block estimators of gradient tails.
 *
 * DESIGN: every est_* function is a pure function over a block of float
 * samples. It takes arrays and caller-owned scratch space, returns an int
 * code (EST_OK == 0), and does no I/O, no allocation, no logging and no clock
 * reads. Sums are accumulated in double. Conventions (pinned by
 * shared/DESIGN.md and issue 2):
 *
 *   x_1..x_n      the block; NaN/+Inf/-Inf are removed and counted
 *                 (n_nonfinite); n_used = n - n_nonfinite.
 *   m             median of the finite values (mean of the two middle values
 *                 when n_used is even).
 *   y_i = |x_i-m| values with y_i == 0 (n_zero of them) have no logarithm and
 *                 are left out of Hill; n_pos = n_used - n_zero.
 *   Hill          y(1) >= y(2) >= ... >= y(n_pos), threshold at the (k+1)-th
 *                 largest: gamma_k = (1/k) sum_{i<=k} log y(i) - log y(k+1),
 *                 alpha = 1/gamma_k (the tail index: Cauchy 1, Student-t nu),
 *                 se = alpha/sqrt(k). k is clamped to [1, n_pos-1]; fewer than
 *                 3 positive values give no estimate.
 *   stable        Mohammadi et al. (2015) on c = x - m (the median, as
 *                 Hill; EST_STABLE_CENTRE) over the first
 *                 K1*K2 finite values in input order, K1 = floor(sqrt(n_used)),
 *                 K2 = floor(n_used/K1): 1/alpha = (mean log|Y_j| -
 *                 mean log|c_i|) / log K1, exact zeros left out of each mean;
 *                 alpha-stable laws have alpha in (0, 2], so an estimate of
 *                 1/alpha <= 1/2 (light tails, also <= 0) is reported as 2.
 *   moments       mean, variance (divisor n_used-1), excess kurtosis
 *                 m4/m2^2 - 3 (central moments with divisor n_used).
 */
#ifndef HTGA_EST_H
#define HTGA_EST_H

#include <stddef.h>
#include <stdint.h>

/* The centre the stable estimator subtracts, as stored with each block
 * (schema/007_stable_centre.sql). Rows stored with "mean" were centred on
 * the sample mean, which pulls every alpha below 1 towards 1. */
#define EST_STABLE_CENTRE "median"

#define EST_OK     0
#define EST_EINVAL 1 /* a bad argument: NULL pointer, bad rule, scratch too small */

/* How k, the number of upper order statistics Hill uses, is chosen. */
typedef enum est_k_kind {
    EST_K_SQRT = 0, /* k = floor(sqrt(n_pos)), the default */
    EST_K_FRAC,     /* k = floor(frac * n_pos), 0 < frac < 1 */
    EST_K_FIXED,    /* k = fixed value (clamped to [1, n_pos-1]) */
    EST_K_AUTO,     /* data-driven choice, see est_k_auto() */
} est_k_kind;

typedef struct est_k_rule {
    est_k_kind kind;
    double frac; /* EST_K_FRAC only */
    size_t k;    /* EST_K_FIXED only */
} est_k_rule;

/*
 * Parses a k rule as written on a command line or in a config file:
 * "sqrt", "auto", "frac:F" with 0 < F < 1, or a positive integer N (also
 * "fixed:N"). Returns EST_OK and fills *rule, or EST_EINVAL and leaves *rule
 * untouched.
 */
int est_k_rule_parse(const char *text, est_k_rule *rule);

/* Writes the canonical text of a rule ("sqrt", "frac:0.05", "100", "auto")
 * into buf (NUL-terminated, truncated to len). Returns EST_OK or EST_EINVAL. */
int est_k_rule_format(const est_k_rule *rule, char *buf, size_t len);

typedef struct est_hill {
    double alpha; /* 1/gamma */
    double gamma; /* the Hill estimate of the extreme value index */
    double se;    /* alpha / sqrt(k); alpha / sqrt(k / deff) after est_hill_runs() */
    double ci_lo; /* 95% interval for alpha, see est.h's est_hill_ci() */
    double ci_hi;
    size_t k;
    double deff;   /* design effect of se and the interval: 1, or > 1 from est_hill_runs() */
    double u;      /* the threshold y(k+1) */
    size_t k_tied; /* how many of the k largest equal u (ties at the threshold) */
} est_hill;

typedef struct est_result {
    size_t n;           /* values in the block */
    size_t n_nonfinite; /* NaN, +Inf, -Inf */
    size_t n_used;      /* n - n_nonfinite */
    size_t n_zero;      /* finite values equal to the median */
    size_t n_pos;       /* n_used - n_zero: values Hill can use */
    double median;      /* NaN when n_used == 0 */
    double mean;        /* NaN when n_used == 0 */
    double variance;    /* NaN when n_used < 2 */
    double kurtosis;    /* NaN when n_used < 2 or variance == 0 */

    int has_hill; /* 0: < 3 positive values, or the k+1 largest y are equal
                     (gamma = 0); hill is zeroed */
    est_hill hill;

    int has_stable;      /* 0: n_used < 4, or no non-zero Y_j or c_i */
    double stable_alpha; /* in (0, 2]: saturates at 2 on light tails (1/alpha <= 1/2) */
    size_t stable_k1;    /* block size K1 */
    size_t stable_k2;    /* number of blocks K2 */
} est_result;

/*
 * Scratch space est_block() needs for a block of n values, in bytes. The
 * caller allocates it once (for the largest block it will see) and reuses it.
 */
size_t est_scratch_bytes(size_t n);

/*
 * Estimates everything for one block: counts, median, moments, Hill with the
 * given k rule, and the alpha-stable estimator.
 *
 * x: n float values (not modified). rule: NULL means EST_K_SQRT.
 * scratch: at least est_scratch_bytes(n) bytes, 16-byte aligned (EST_EINVAL
 * otherwise), caller-owned; 8n bytes plus 64 KiB plus the auto rule's work
 * (5n doubles at most, and at most about 0.6 MB).
 * top: optional (may be NULL): receives min(top_len, n_pos) largest y values in
 * descending order (the order statistics a Hill plot needs); *top_n is set to
 * how many were written. out: filled on EST_OK.
 *
 * An empty block, all-NaN or all-equal block is not an error: the result says
 * so through its counts, NaN fields and has_hill/has_stable == 0.
 * Returns EST_OK, or EST_EINVAL for NULL x (with n > 0), NULL out/scratch, a
 * bad rule or scratch_len < est_scratch_bytes(n).
 */
int est_block(const float *x, size_t n, const est_k_rule *rule, void *scratch, size_t scratch_len,
              double *top, size_t top_len, size_t *top_n, est_result *out);

/* est_block_flags flag: the top output may come in any order past its
 * first k + 1 values (the Hill estimate's); sorting it descending gives
 * est_block's top output bit for bit. Saves sorting the whole top (the
 * Hill plot's 1024 values) for a caller that keeps few of them. */
#define EST_TOP_ANY_ORDER 1u

/*
 * est_block with flags (0 or EST_TOP_ANY_ORDER): the same result, bit for
 * bit, and the same top output up to its order as the flag says. Returns
 * EST_OK, or EST_EINVAL as est_block does and for unknown flags.
 */
int est_block_flags(const float *x, size_t n, unsigned flags, const est_k_rule *rule, void *scratch,
                    size_t scratch_len, double *top, size_t top_len, size_t *top_n,
                    est_result *out);

/*
 * Hill estimate from y values already sorted in descending order (all > 0):
 * y[0] >= y[1] >= ... >= y[m-1], using k (1 <= k <= m-1). Fills *out.
 * Returns EST_OK or EST_EINVAL.
 */
int est_hill_sorted(const double *y_desc, size_t m, size_t k, est_hill *out);

/*
 * The Hill plot of a block: alpha_k for k = 1..m-1 from the m largest y
 * values in descending order (as est_block's top output). alpha[i] receives
 * alpha for k = i+1; m-1 values are written. Returns EST_OK or EST_EINVAL
 * (m < 2 or non-positive y).
 */
int est_hill_plot(const double *y_desc, size_t m, double *alpha);

/*
 * 95% confidence interval for alpha from the Hill estimate with k order
 * statistics, under the Pareto-tail model where k*gamma_hat/gamma follows
 * Gamma(k, 1): [alpha_hat * q(0.025)/k, alpha_hat * q(0.975)/k]. The
 * Gamma(k,1) quantiles q are exact for k <= EST_CI_EXACT_K and from the
 * Wilson-Hilferty approximation above (relative error < 2e-4 there).
 * Construction and accuracy in docs/estimators.md.
 */
#define EST_CI_EXACT_K 30
void est_hill_ci(double alpha_hat, size_t k, double *lo, double *hi);

/* Like est_hill_ci() for a real k > 0 (an effective number of order
 * statistics, k / deff): exact Gamma(k, 1) quantiles for k <= EST_CI_EXACT_K
 * (regularised incomplete gamma), Wilson-Hilferty above. Equals
 * est_hill_ci() at integer k. */
void est_hill_ci_k(double alpha_hat, double k, double *lo, double *hi);

/* The 0.975 quantile of Student's t with df degrees of freedom: exact for
 * df 1 and 2, the Cornish-Fisher expansion to 1/df^4 above (relative error
 * below 1.3e-3 at df 3, 1.1e-4 at df 5, 4e-6 at df 10); +Inf for df 0. */
double est_t975(size_t df);

/*
 * Where the values of a block came from, for est_hill_runs(). A segment
 * covers block positions [start, next segment's start), the last one up to
 * n; segments ascend, and positions before the first are independent.
 *   run <= 1   independent values (one per stratum, or all values).
 *   run >= 2   runs of `run` consecutive input values; the first run began
 *              `phase` values before start (0 <= phase < run: the block cut
 *              a run in two), the next ones start every `run` values; the
 *              segment may end inside a run.
 *   phase == EST_SEG_LOOSE: runs of at most `run` values whose boundaries
 *              are unknown (a segment table that overflowed); bounded from
 *              above, see est_hill_runs().
 */
typedef struct est_seg {
    uint32_t start;
    uint32_t run;
    uint32_t phase;
} est_seg;
#define EST_SEG_LOOSE UINT32_MAX

/*
 * Cluster-robust variance of the Hill estimate for a block whose values
 * came in runs of correlated neighbours. x, n: the block est_block()
 * estimated into *res (has_hill set; res->median, res->hill.gamma, k, u and
 * k_tied are read). seg[0..nseg): where the runs are (see est_seg). With
 * z_i = log(y_i / u) for the k exceedances (y_i > u, plus k_tied of the
 * values y_i == u: est_block does not say which, the first in block order
 * are taken), clusters c = runs (independent positions are clusters of
 * one), Z_c the log-excess and n_c the exceedances of cluster c, Z = k
 * gamma: the delete-one-cluster jackknife of alpha at the fixed threshold,
 *   alpha_c = (k - n_c) / (Z - Z_c),
 *   var = (G - 1) / G sum_c (alpha_c - mean alpha_c)^2
 * over the G clusters holding exceedances, deff = var / (alpha^2 / k),
 * clamped to [1, k]; G = 1, or a cluster holding all the log-excess, gives
 * deff = k (one independent observation of the tail). A loose segment
 * adds, uncentred, run * sum (z_i - gamma)^2 / (gamma (Z - Zmax))^2 for its
 * exceedances, Zmax the most log-excess a run of at most `run` of them can
 * hold, which bounds any split into such runs from above, and counts
 * ceil(its exceedances / run) clusters in G, the fewest such a split can
 * have; with a loose segment the whole sum is taken uncentred and without
 * the (G - 1) / G factor.
 * When deff > 1, res->hill gets deff, se = alpha / sqrt(k / deff) and the
 * interval est_hill_ci_k(alpha, k / deff * (z / t)^2), z and t the 0.975
 * quantiles of the normal and of Student's t with G - 1 degrees of
 * freedom (the variance rests on G clusters; G = 1: k / deff = 1);
 * k, alpha and gamma are kept.
 * When deff <= 1 (or no hill, or nseg == 0) *res is left as it is, bit for
 * bit. One pass over the block: skip the call for a block without runs.
 * Pure. Returns EST_OK, or EST_EINVAL for NULL pointers, segments out of
 * order or past n, or a *res whose k exceedances are not found in x.
 */
int est_hill_runs(const float *x, size_t n, const est_seg *seg, size_t nseg, est_result *res);

/*
 * The widest honest interval for a block sent in runs whose runs could not
 * be read (est_hill_runs refused them): the whole tail as one cluster, one
 * independent observation of it (deff = k, se = alpha, the interval at
 * k = 1). Leaves *res alone without a Hill estimate. Pure.
 */
void est_hill_one_cluster(est_result *res);

/*
 * The k rule applied to n_pos positive values: returns k clamped to
 * [1, n_pos-1] (0 when n_pos < 3). For EST_K_AUTO use est_k_auto().
 */
size_t est_k_from_rule(const est_k_rule *rule, size_t n_pos);

/*
 * The automatic k rule (EST_K_AUTO): the double bootstrap of Danielsson,
 * de Haan, Peng and de Vries (2001) as in Voitalov et al.'s tail-estimation
 * (hill_dbs), with the AMSE search capped at k = EST_KAUTO_KCAP so its cost
 * is bounded whatever n_pos is; details and measured cost in
 * docs/estimators.md. y_desc: the m >= est_k_auto_top(n_pos) largest of the
 * n_pos positive y values, in descending order. work: est_k_auto_work(n_pos)
 * doubles of caller scratch. Pure: the bootstrap generator is seeded from
 * the data. Returns k in [2, n_pos-1]; when the bootstrap cannot run (fewer
 * than 64 values, bad arguments, no stable minimum) it returns the sqrt
 * rule's k (0 when n_pos < 3).
 */
#ifndef EST_KAUTO_KCAP
#define EST_KAUTO_KCAP 10000
#endif
size_t est_k_auto(const double *y_desc, size_t m, size_t n_pos, double *work, size_t work_len);

/* How many top order statistics, and how many doubles of work space,
 * est_k_auto() needs for n_pos positive values. */
size_t est_k_auto_top(size_t n_pos);
size_t est_k_auto_work(size_t n_pos);

/*
 * Moments of the finite values of x in one pass (double accumulation).
 * Fills n_used, n_nonfinite, mean, variance, kurtosis of *out (other fields
 * untouched). Returns EST_OK or EST_EINVAL.
 */
int est_moments(const float *x, size_t n, est_result *out);

/*
 * The alpha-stable block estimator (Mohammadi et al. 2015) as pinned above,
 * on c = x - centre; est_block passes the median of the finite values.
 * Fills has_stable, stable_alpha, stable_k1, stable_k2 of *out. Returns
 * EST_OK, or EST_EINVAL for NULL pointers or a non-finite centre.
 */
int est_stable(const float *x, size_t n, double centre, est_result *out);

#endif /* HTGA_EST_H */
