/*
 * hill.c - the Hill estimator on sorted order statistics, its plot and its
 * confidence interval.
 *
 * DESIGN: gamma_k = (1/k) sum_{i<k} log(y(i) / y(k+1)) is computed on the
 * ratios, so ties at the threshold contribute exactly zero and gamma is never
 * negative; the ratio logs go through the exponent/mantissa sum of
 * logsum.c. A block whose k+1 largest values are all equal has gamma = 0 and
 * alpha = +Inf; est_block reports that as no estimate.
 * The interval uses the Pareto-tail model: k gamma_hat / gamma ~ Gamma(k, 1)
 * (Renyi representation of the k log-spacings), so alpha lies in
 * [alpha_hat q(0.025) / k, alpha_hat q(0.975) / k] with probability 0.95.
 * The Gamma(k, 1) quantiles come from the Wilson-Hilferty cube-root normal
 * approximation q_p = k (1 - 1/(9k) + z_p / (3 sqrt k))^3; its error against
 * exact quantiles is measured in tests/estimators/hill_test.c and tabulated
 * in docs/estimators.md.
 */
#include <math.h>

#include "est_internal.h"

#define Z975 1.959963984540054 /* standard normal 0.975 quantile */

void est_hill_ci(double alpha_hat, size_t k, double *lo, double *hi)
{
    if (k == 0) {
        *lo = NAN;
        *hi = NAN;
        return;
    }
    double kd = (double)k;
    double base = 1.0 - 1.0 / (9.0 * kd);
    double step = Z975 / (3.0 * sqrt(kd));
    double ql = base - step, qh = base + step;
    *lo = alpha_hat * ql * ql * ql;
    *hi = alpha_hat * qh * qh * qh;
}

void est_hill_fill(double gamma, size_t k, est_hill *out)
{
    out->gamma = gamma;
    out->k = k;
    out->alpha = gamma > 0 ? 1.0 / gamma : INFINITY;
    out->se = out->alpha / sqrt((double)k);
    est_hill_ci(out->alpha, k, &out->ci_lo, &out->ci_hi);
}

double est_hill_gamma(const double *top, size_t k, double thr)
{
    return est_logsum_ratio_f64(top, k, thr) / (double)k;
}

int est_hill_sorted(const double *y_desc, size_t m, size_t k, est_hill *out)
{
    if (!y_desc || !out || m < 2 || k < 1 || k > m - 1)
        return EST_EINVAL;
    double thr = y_desc[k];
    if (!(thr > 0) || !isfinite(y_desc[0]))
        return EST_EINVAL;
    for (size_t i = 0; i < k; i++)
        if (!(y_desc[i] >= y_desc[i + 1]))
            return EST_EINVAL;
    est_hill_fill(est_hill_gamma(y_desc, k, thr), k, out);
    return EST_OK;
}

int est_hill_plot(const double *y_desc, size_t m, double *alpha)
{
    if (!y_desc || !alpha || m < 2)
        return EST_EINVAL;
    for (size_t i = 0; i < m; i++)
        if (!(y_desc[i] > 0) || !isfinite(y_desc[i]) || (i > 0 && y_desc[i] > y_desc[i - 1]))
            return EST_EINVAL;
    double top = log(y_desc[0]);
    double s = 0.0; /* sum of log(y(i)) - log(y(1)) for i <= k */
    for (size_t k = 1; k < m; k++) {
        double prev = log(y_desc[k - 1]) - top;
        s += prev;
        double lk = log(y_desc[k]) - top;
        double gamma = s / (double)k - lk;
        double floor_g = -lk / (double)k; /* log(y(1)/y(k+1)) / k <= gamma */
        if (y_desc[k] == y_desc[0])
            gamma = 0.0;
        else if (gamma < floor_g)
            gamma = floor_g;
        alpha[k - 1] = gamma > 0 ? 1.0 / gamma : INFINITY;
    }
    return EST_OK;
}
