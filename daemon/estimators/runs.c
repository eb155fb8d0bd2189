/*
 * runs.c - est_hill_runs: the Hill interval of a block whose values came in
 * runs of correlated neighbours (client run sampling, see est.h).
 *
 * DESIGN: the Hill estimate solves sum_i psi_i = 0 with the score
 * psi_i = 1{y_i exceeds u} (log(y_i / u) - gamma); with independent values
 * its variance is gamma^2 / k, but values of one run share their tail, so
 * the scores of a run are summed before squaring (the cluster-robust, or
 * sandwich, variance): var = sum_c (sum_{i in c} psi_i)^2 / k^2. Only
 * exceedances have a non-zero score, so one pass over the block compares
 * each y with u and takes a logarithm only for the k exceedances; positions
 * outside run segments are clusters of one. The caller skips the call for a
 * block without runs, so those blocks pay nothing.
 * Ties at u are counted as est_block counts them: of the values equal to
 * u, the k_tied first in block order are exceedances (score -gamma).
 */
#include <math.h>

#include "est_internal.h"

/* The running state of the pass. */
typedef struct runs_acc {
    double med, u, lu, gamma;
    size_t ties;  /* ties at u still to be counted as exceedances */
    size_t above; /* exceedances seen: k at the end */
    double ss;    /* sum over clusters of (cluster score)^2 */
} runs_acc;

/* The score of value x, 0 when it is not an exceedance. *hit set to 1 when
 * it is one. */
static inline double score(runs_acc *a, float x, int *hit)
{
    double y = fabs((double)x - a->med);
    *hit = 0;
    if (!(y >= a->u) || !isfinite(y))
        return 0.0;
    if (y == a->u) {
        if (a->ties == 0)
            return 0.0;
        a->ties--;
        a->above++;
        *hit = 1;
        return -a->gamma;
    }
    a->above++;
    *hit = 1;
    return log(y) - a->lu - a->gamma;
}

/* Independent positions [lo, hi): clusters of one. */
static void pass_single(runs_acc *a, const float *x, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++) {
        int hit;
        double s = score(a, x[i], &hit);
        a->ss += s * s;
    }
}

/* Runs of len values over [lo, hi), the first one ending at lo + first. */
static void pass_runs(runs_acc *a, const float *x, size_t lo, size_t hi, size_t len, size_t first)
{
    size_t i = lo, end = lo + first;
    while (i < hi) {
        double c = 0.0;
        int any = 0;
        if (end > hi)
            end = hi;
        for (; i < end; i++) {
            int hit;
            c += score(a, x[i], &hit);
            any |= hit;
        }
        if (any)
            a->ss += c * c;
        end = i + len;
    }
}

/* Loose runs of at most len values over [lo, hi): by Cauchy-Schwarz, any
 * split into runs of at most len gives at most len * sum psi^2. */
static void pass_loose(runs_acc *a, const float *x, size_t lo, size_t hi, size_t len)
{
    double s2 = 0.0;
    for (size_t i = lo; i < hi; i++) {
        int hit;
        double s = score(a, x[i], &hit);
        s2 += s * s;
    }
    a->ss += (double)len * s2;
}

int est_hill_runs(const float *x, size_t n, const est_seg *seg, size_t nseg, est_result *res)
{
    if (!res || (!seg && nseg > 0) || (!x && n > 0))
        return EST_EINVAL;
    for (size_t j = 0; j < nseg; j++)
        if (seg[j].start > n || (j > 0 && seg[j].start < seg[j - 1].start) ||
            (seg[j].phase != EST_SEG_LOOSE && seg[j].run > 1 && seg[j].phase >= seg[j].run))
            return EST_EINVAL;
    if (nseg == 0 || !res->has_hill || res->hill.k == 0 || !(res->hill.gamma > 0) ||
        !(res->hill.u > 0))
        return EST_OK;
    est_hill *h = &res->hill;
    runs_acc a = {
        .med = res->median, .u = h->u, .lu = log(h->u), .gamma = h->gamma, .ties = h->k_tied};
    pass_single(&a, x, 0, seg[0].start);
    for (size_t j = 0; j < nseg; j++) {
        size_t lo = seg[j].start, hi = j + 1 < nseg ? seg[j + 1].start : n;
        size_t len = seg[j].run;
        if (seg[j].phase == EST_SEG_LOOSE && len > 1)
            pass_loose(&a, x, lo, hi, len);
        else if (len > 1)
            pass_runs(&a, x, lo, hi, len, len - seg[j].phase);
        else
            pass_single(&a, x, lo, hi);
    }
    if (a.above != h->k) /* res was not estimated from this block */
        return EST_EINVAL;
    double k = (double)h->k;
    double deff = a.ss / (k * h->gamma * h->gamma);
    if (!(deff > 1.0) || !isfinite(deff))
        return EST_OK;
    h->deff = deff;
    h->se = h->alpha * sqrt(deff / k);
    est_hill_ci_k(h->alpha, k / deff, &h->ci_lo, &h->ci_hi);
    return EST_OK;
}
