/*
 * block.c - est_block: every estimate of one block in three fused passes.
 *
 * DESIGN: the block is read three times, never sorted.
 *   pass 1: order-key histogram (top 11 bits) + sum of the finite values;
 *           the non-finite values are counted from their own buckets.
 *   median: radix select in the bucket(s) that hold the middle rank(s).
 *   pass 2: centred power sums (moments), the count of values equal to the
 *           median, and a histogram of the float key of y = |x - median|.
 *   stable: the block estimator's log sums over c = x - mean (stable.c).
 *   Hill:   the y histogram names the bucket holding the (k+1)-th largest y;
 *           one pass gathers the y (in double) at or above it, a quickselect
 *           on those few candidates finishes. Float rounding of y is
 *           monotone, so every value above the threshold is among them.
 * All memory is the caller's scratch, laid out by est_scratch_bytes().
 */
#include <float.h>
#include <math.h>

#include "est_internal.h"

#define Y_BINS (EST_Y_BUCKETS + 8) /* + one bin for non-finite x, padded */

typedef struct layout {
    uint32_t *sub;   /* EST_HIST_COPIES * Y_BINS */
    size_t *hist;    /* EST_TOP_BUCKETS */
    size_t *hy;      /* Y_BINS */
    double *cand;    /* n (also the median's uint32 keys) */
    double *work;    /* est_k_auto_work(n) */
    size_t work_len; /* doubles */
} layout;

static size_t align16(size_t b)
{
    return (b + 15) & ~(size_t)15;
}

static size_t fixed_bytes(void)
{
    return align16(EST_HIST_COPIES * Y_BINS * sizeof(uint32_t)) +
           align16(EST_TOP_BUCKETS * sizeof(size_t)) + align16(Y_BINS * sizeof(size_t));
}

size_t est_scratch_bytes(size_t n)
{
    return fixed_bytes() + align16(n * sizeof(double)) + est_k_auto_work(n) * sizeof(double);
}

static layout carve(void *scratch, size_t n)
{
    char *p = scratch;
    layout l;
    l.sub = (uint32_t *)(void *)p;
    p += align16(EST_HIST_COPIES * Y_BINS * sizeof(uint32_t));
    l.hist = (size_t *)(void *)p;
    p += align16(EST_TOP_BUCKETS * sizeof(size_t));
    l.hy = (size_t *)(void *)p;
    p += align16(Y_BINS * sizeof(size_t));
    l.cand = (double *)(void *)p;
    p += align16(n * sizeof(double));
    l.work = (double *)(void *)p;
    l.work_len = est_k_auto_work(n);
    return l;
}

static inline uint32_t y_bucket(double y)
{
    float f = (float)(y < FLT_MAX ? y : FLT_MAX);
    return est_f32_bits(f) >> EST_Y_SHIFT;
}

/* Pass 2: centred power sums, values equal to the median, y histogram. */
static size_t pass_centred(const float *x, size_t n, double mean, double med, uint32_t *sub,
                           size_t *hy, double sums[4])
{
    double s1[2] = {0, 0}, s2[2] = {0, 0}, s3[2] = {0, 0}, s4[2] = {0, 0};
    size_t zero[2] = {0, 0};
    memset(hy, 0, Y_BINS * sizeof *hy);
    for (size_t base = 0; base < n; base += (size_t)1 << 30) {
        size_t end = n - base > (size_t)1 << 30 ? base + ((size_t)1 << 30) : n;
        memset(sub, 0, 2 * Y_BINS * sizeof *sub);
        size_t i = base;
        for (; i + 2 <= end; i += 2) {
            for (int l = 0; l < 2; l++) {
                float f = x[i + l];
                int fin = est_bits_finite(est_f32_bits(f));
                double c = fin ? (double)f - mean : 0.0;
                double d = fin ? (double)f - med : 0.0;
                double c2 = c * c;
                s1[l] += c;
                s2[l] += c2;
                s3[l] += c2 * c;
                s4[l] += c2 * c2;
                zero[l] += (size_t)(fin & (d == 0.0));
                sub[l * Y_BINS + (fin ? y_bucket(fabs(d)) : EST_Y_BUCKETS)]++;
            }
        }
        for (; i < end; i++) {
            float f = x[i];
            int fin = est_bits_finite(est_f32_bits(f));
            double c = fin ? (double)f - mean : 0.0;
            double d = fin ? (double)f - med : 0.0;
            s1[0] += c;
            s2[0] += c * c;
            s3[0] += c * c * c;
            s4[0] += c * c * c * c;
            zero[0] += (size_t)(fin & (d == 0.0));
            sub[fin ? y_bucket(fabs(d)) : EST_Y_BUCKETS]++;
        }
        for (size_t b = 0; b < Y_BINS; b++)
            hy[b] += (size_t)sub[b] + sub[Y_BINS + b];
    }
    sums[0] = s1[0] + s1[1];
    sums[1] = s2[0] + s2[1];
    sums[2] = s3[0] + s3[1];
    sums[3] = s4[0] + s4[1];
    return zero[0] + zero[1];
}

/* Gathers every y > 0 whose bucket is at or above the one holding the t-th
 * largest y into cand; returns how many (>= t). */
static size_t gather_top(const float *x, size_t n, double med, const size_t *hy, size_t t,
                         double *cand)
{
    size_t cum = 0;
    uint32_t b = EST_Y_BUCKETS;
    while (b > 0 && cum < t)
        cum += hy[--b];
    size_t g = 0;
    for (size_t i = 0; i < n; i++) {
        float f = x[i];
        if (!est_bits_finite(est_f32_bits(f)))
            continue;
        double y = fabs((double)f - med);
        cand[g] = y;
        g += (size_t)((y_bucket(y) >= b) & (y > 0.0));
    }
    return g;
}

/* Orders cand[0..g) so that cand[0..k) are the k largest, cand[k] the
 * (k+1)-th, and cand[0..tl) the tl largest in descending order. */
static void order_top(double *cand, size_t g, size_t k, size_t tl)
{
    size_t t = k + 1 > tl ? k + 1 : tl;
    est_nth_desc_f64(cand, g, t - 1);
    if (tl >= k + 1) {
        est_sort_desc_f64(cand, tl);
    } else if (tl > 0) {
        est_nth_desc_f64(cand, k, tl - 1);
        est_sort_desc_f64(cand, tl);
    }
}

static void hill_part(const float *x, size_t n, const est_k_rule *rule, const layout *l,
                      double *top, size_t top_len, size_t *top_n, est_result *out)
{
    size_t n_pos = out->n_pos;
    size_t tl = top ? (top_len < n_pos ? top_len : n_pos) : 0;
    size_t k = est_k_from_rule(rule, n_pos);
    size_t g = 0;
    int sorted = 0;
    if (k > 0 && rule && rule->kind == EST_K_AUTO) {
        size_t ta = est_k_auto_top(n_pos);
        size_t t = ta > tl ? ta : tl;
        g = gather_top(x, n, out->median, l->hy, t, l->cand);
        if (g > t)
            est_nth_desc_f64(l->cand, g, t - 1);
        est_sort_desc_f64(l->cand, t);
        g = t;
        sorted = 1;
        k = est_k_auto(l->cand, t, n_pos, l->work, l->work_len);
        if (k + 1 > t) {
            g = gather_top(x, n, out->median, l->hy, k + 1, l->cand);
            sorted = 0;
        }
    }
    if (k == 0 && tl == 0)
        return;
    if (!sorted) {
        if (g == 0)
            g = gather_top(x, n, out->median, l->hy, k + 1 > tl ? k + 1 : tl, l->cand);
        if (k > 0)
            order_top(l->cand, g, k, tl);
        else
            order_top(l->cand, g, tl - 1, tl);
    }
    if (k > 0) {
        double gamma = est_hill_gamma(l->cand, k, l->cand[k]);
        if (gamma > 0) {
            est_hill_fill(gamma, k, &out->hill);
            out->has_hill = 1;
        }
    }
    if (tl > 0) {
        memcpy(top, l->cand, tl * sizeof *top);
        if (top_n)
            *top_n = tl;
    }
}

int est_block(const float *x, size_t n, const est_k_rule *rule, void *scratch, size_t scratch_len,
              double *top, size_t top_len, size_t *top_n, est_result *out)
{
    if (!out || !scratch || (!x && n > 0) || !est_k_rule_valid(rule) ||
        ((uintptr_t)scratch & 15) != 0 || scratch_len < est_scratch_bytes(n))
        return EST_EINVAL;
    memset(out, 0, sizeof *out);
    if (top_n)
        *top_n = 0;
    layout l = carve(scratch, n);
    out->n = n;
    out->median = out->mean = out->variance = out->kurtosis = out->stable_alpha = NAN;
    double sum = 0.0;
    est_pass_keys(x, n, l.hist, l.sub, &sum);
    size_t neg_nf = 0, pos_nf = 0;
    for (int b = 0; b < 4; b++) {
        neg_nf += l.hist[b];
        pos_nf += l.hist[EST_TOP_BUCKETS - 1 - b];
    }
    out->n_nonfinite = neg_nf + pos_nf;
    out->n_used = n - out->n_nonfinite;
    if (out->n_used == 0)
        return EST_OK;
    out->mean = sum / (double)out->n_used;
    est_median_radix(x, n, l.hist, neg_nf, out->n_used, (uint32_t *)(void *)l.cand, &out->median);
    double sums[4];
    out->n_zero = pass_centred(x, n, out->mean, out->median, l.sub, l.hy, sums);
    out->n_pos = out->n_used - out->n_zero;
    est_moments_finish(sums, out->n_used, out);
    est_stable_core(x, n, out->n_used, out->mean, out);
    hill_part(x, n, rule, &l, top, top_len, top_n, out);
    return EST_OK;
}
