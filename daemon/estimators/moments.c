/*
 * moments.c - mean, variance and excess kurtosis of the finite values.
 *
 * DESIGN: two passes in double. The first sums the finite values (four
 * lanes, which also shortens the rounding chains); the second sums powers of
 * c = x - mean in chunks of EST_LOGSUM_CHUNK values (each chunk's partial
 * sums added to the totals, which keeps the rounding of 1e7 terms near
 * that of pairwise summation), plus sum(c) for the corrected two-pass variance
 * (Chan, Golub, LeVeque 1983): var = (sum c^2 - (sum c)^2 / n) / (n - 1).
 * Centring first is what keeps a large offset with a small spread exact to
 * double precision at 1e7 values, where one-pass raw power sums would lose
 * every digit. The finish takes power sums about any shift k (here the
 * first pass's mean, whose residual sum(c)/n it adds back): est_block sums
 * powers of x - median in its sweep, the median being within a standard
 * deviation of the mean, and finishes the same way; this file is the
 * stand-alone version and the shared finishing arithmetic.
 */
#include <math.h>

#include "est_internal.h"

/* Power sums of one chunk of at most EST_LOGSUM_CHUNK values, added to the
 * totals: short chunks keep the rounding of each partial sum small. */
static void chunk_powers(const float *x, size_t m, double mean, double tot[4])
{
    double s1[2] = {0, 0}, s2[2] = {0, 0}, s3[2] = {0, 0}, s4[2] = {0, 0};
    size_t i = 0;
    for (; i + 2 <= m; i += 2) {
        for (int l = 0; l < 2; l++) {
            float f = x[i + l];
            double c = est_bits_finite(est_f32_bits(f)) ? (double)f - mean : 0.0;
            double c2 = c * c;
            s1[l] += c;
            s2[l] += c2;
            s3[l] += c2 * c;
            s4[l] += c2 * c2;
        }
    }
    if (i < m) {
        float f = x[i];
        double c = est_bits_finite(est_f32_bits(f)) ? (double)f - mean : 0.0;
        s1[0] += c;
        s2[0] += c * c;
        s3[0] += c * c * c;
        s4[0] += c * c * c * c;
    }
    tot[0] += s1[0] + s1[1];
    tot[1] += s2[0] + s2[1];
    tot[2] += s3[0] + s3[1];
    tot[3] += s4[0] + s4[1];
}

void est_moments_centered(const float *x, size_t n, size_t n_used, double mean, est_result *out)
{
    double sums[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i += EST_LOGSUM_CHUNK)
        chunk_powers(x + i, n - i < EST_LOGSUM_CHUNK ? n - i : EST_LOGSUM_CHUNK, mean, sums);
    est_moments_shifted(sums, n_used, mean, out);
}

void est_moments_shifted(const double sums[4], size_t n_used, double k, est_result *out)
{
    double nu = (double)n_used, delta = sums[0] / nu;
    out->mean = k + delta;
    if (n_used < 2) {
        out->variance = NAN;
        out->kurtosis = NAN;
        return;
    }
    /* central sums: M2 = S2 - n delta^2 (as S2 - S1^2 / n, the corrected
     * two-pass form), M4 = S4 - 4 delta S3 + 6 delta^2 S2 - 3 n delta^4 */
    double m2sum = sums[1] - sums[0] * sums[0] / nu;
    if (m2sum < 0)
        m2sum = 0;
    out->variance = m2sum / (nu - 1.0);
    double d2 = delta * delta;
    double m4sum = sums[3] - 4.0 * delta * sums[2] + 6.0 * d2 * sums[1] - 3.0 * nu * d2 * d2;
    double m2 = m2sum / nu, m4 = m4sum / nu;
    out->kurtosis = m2 > 0 ? m4 / (m2 * m2) - 3.0 : NAN;
}

int est_moments(const float *x, size_t n, est_result *out)
{
    if (!out || (!x && n > 0))
        return EST_EINVAL;
    double s[4] = {0, 0, 0, 0};
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        int fin = est_bits_finite(est_f32_bits(x[i]));
        s[i & 3] += fin ? (double)x[i] : 0.0;
        used += (size_t)fin;
    }
    out->n_used = used;
    out->n_nonfinite = n - used;
    if (used == 0) {
        out->mean = NAN;
        out->variance = NAN;
        out->kurtosis = NAN;
        return EST_OK;
    }
    out->mean = ((s[0] + s[1]) + (s[2] + s[3])) / (double)used;
    est_moments_centered(x, n, used, out->mean, out);
    return EST_OK;
}
