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
 * The Gamma(k, 1) quantiles are exact (Newton on the Poisson form of the
 * regularised incomplete gamma) for k <= EST_CI_EXACT_K, where the
 * Wilson-Hilferty cube-root normal approximation q_p = k (1 - 1/(9k) +
 * z_p / (3 sqrt k))^3 is off by up to 48% (k = 1); above it, Wilson-Hilferty,
 * whose error there is below 2e-4 (tests/estimators/hill_test.c,
 * docs/estimators.md).
 */
#include <math.h>
#include <stdint.h>

#include "est_internal.h"

#define Z975 1.959963984540054 /* standard normal 0.975 quantile */

/* Wilson-Hilferty: the Gamma(k, 1) quantile at standard normal quantile z. */
static double gamma_q_wh(double k, double z)
{
    double c = 1.0 - 1.0 / (9.0 * k) + z / (3.0 * sqrt(k));
    return k * c * c * c;
}

/* The exact Gamma(k, 1) quantile for integer k (small k): Newton on
 * P(k, x) = 1 - e^-x sum_{j<k} x^j/j!, whose derivative is the density
 * x^(k-1) e^-x / (k-1)!, started from Wilson-Hilferty; a step that would
 * leave (0, inf) halves x instead. Converges in a few steps for k <= 30. */
static double gamma_q_exact(size_t k, double p, double x)
{
    double lgk = lgamma((double)k);
    for (int it = 0; it < 50; it++) {
        double term = exp(-x), q = 0.0; /* q = e^-x sum_{j<k} x^j/j! */
        for (size_t j = 0; j < k; j++) {
            q += term;
            term *= x / (double)(j + 1);
        }
        double dens = exp((double)(k - 1) * log(x) - x - lgk);
        double step = ((1.0 - q) - p) / dens;
        double next = x - step;
        if (next <= 0.0)
            next = 0.5 * x;
        if (fabs(next - x) <= 1e-14 * x)
            return next;
        x = next;
    }
    return x;
}

void est_hill_ci(double alpha_hat, size_t k, double *lo, double *hi)
{
    if (k == 0) {
        *lo = NAN;
        *hi = NAN;
        return;
    }
    double kd = (double)k;
    double ql = gamma_q_wh(kd, -Z975), qh = gamma_q_wh(kd, Z975);
    if (k <= EST_CI_EXACT_K) {
        ql = gamma_q_exact(k, 0.025, ql > 0 ? ql : 0.025 * kd);
        qh = gamma_q_exact(k, 0.975, qh);
    }
    *lo = alpha_hat * ql / kd;
    *hi = alpha_hat * qh / kd;
}

/* The regularised lower incomplete gamma P(a, x), a > 0, x >= 0: its
 * series below x = a + 1, the continued fraction of Q = 1 - P above
 * (modified Lentz). */
static double gamma_p(double a, double x)
{
    if (x <= 0.0)
        return 0.0;
    double lead = exp(a * log(x) - x - lgamma(a));
    if (x < a + 1.0) {
        double ap = a, del = 1.0 / a, sum = del;
        for (int i = 0; i < 1000 && fabs(del) > 1e-16 * fabs(sum); i++) {
            ap += 1.0;
            del *= x / ap;
            sum += del;
        }
        return sum * lead;
    }
    double b = x + 1.0 - a, c = 1.0 / 1e-300, d = 1.0 / b, h = d;
    for (int i = 1; i < 1000; i++) {
        double an = -(double)i * ((double)i - a);
        b += 2.0;
        d = an * d + b;
        if (fabs(d) < 1e-300)
            d = 1e-300;
        c = b + an / c;
        if (fabs(c) < 1e-300)
            c = 1e-300;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < 1e-16)
            break;
    }
    return 1.0 - lead * h;
}

/* The Gamma(a, 1) quantile at p for a real shape a > 0: Newton from x,
 * kept inside a bracket that bisection narrows when a step leaves it. */
static double gamma_q_real(double a, double p, double x)
{
    double lo = 0.0, hi = a + 10.0 * sqrt(a) + 50.0, lga = lgamma(a);
    while (gamma_p(a, hi) < p)
        hi *= 2.0;
    if (!(x > lo && x < hi))
        x = 0.5 * (lo + hi);
    for (int it = 0; it < 200; it++) {
        double f = gamma_p(a, x) - p;
        if (f < 0)
            lo = x;
        else
            hi = x;
        double dens = exp((a - 1.0) * log(x) - x - lga);
        double next = dens > 0 ? x - f / dens : 0.5 * (lo + hi);
        if (!(next > lo && next < hi))
            next = 0.5 * (lo + hi);
        if (fabs(next - x) <= 1e-14 * x || hi - lo <= 1e-14 * hi)
            return next;
        x = next;
    }
    return x;
}

void est_hill_ci_k(double alpha_hat, double k, double *lo, double *hi)
{
    if (!(k > 0) || !isfinite(k)) {
        *lo = NAN;
        *hi = NAN;
        return;
    }
    if (k == floor(k) && k <= (double)SIZE_MAX) {
        est_hill_ci(alpha_hat, (size_t)k, lo, hi);
        return;
    }
    double ql = gamma_q_wh(k, -Z975), qh = gamma_q_wh(k, Z975);
    if (k <= EST_CI_EXACT_K) {
        ql = gamma_q_real(k, 0.025, ql);
        qh = gamma_q_real(k, 0.975, qh);
    }
    *lo = alpha_hat * ql / k;
    *hi = alpha_hat * qh / k;
}

double est_t975(size_t df)
{
    if (df == 0)
        return INFINITY;
    if (df == 1) /* Cauchy */
        return tan(M_PI * 0.475);
    if (df == 2) /* t_2: (2p - 1) / sqrt(2 p (1 - p)) */
        return 0.95 / sqrt(2.0 * 0.975 * 0.025);
    /* Cornish-Fisher expansion in 1/df (Abramowitz and Stegun 26.7.5) */
    double z = Z975, z2 = z * z, n = (double)df;
    double g1 = (z2 + 1.0) * z / 4.0;
    double g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0;
    double g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0;
    double g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0;
    return z + (g1 + (g2 + (g3 + g4 / n) / n) / n) / n;
}

void est_hill_fill(double gamma, size_t k, est_hill *out)
{
    out->deff = 1.0;
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
    out->u = thr;
    out->k_tied = 0;
    for (size_t i = 0; i < k; i++)
        out->k_tied += y_desc[i] == thr;
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
