/*
 * kauto.c - the automatic k rule: the double bootstrap of Danielsson,
 * de Haan, Peng and de Vries (2001), "Using a bootstrap method to choose the
 * sample fraction in tail index estimation", J. Multivariate Anal. 76,
 * 226-248, in the form of hill_dbs() in Voitalov et al.'s tail-estimation
 * (github.com/ivanvoitalov/tail-estimation, Phys. Rev. Research 1, 033034).
 *
 * DESIGN: for a bootstrap sample of size s drawn with replacement from the
 * n_pos values y, the statistic (M2(k) - 2 M1(k)^2)^2, with M1 the Hill gamma
 * and M2 the mean squared log-excess over y(k+1), estimates the asymptotic
 * MSE of the Hill estimator up to a factor; its bootstrap average is
 * minimised over k at two sizes, n1 = n_pos^eps with eps = (1 + log(t n_pos)
 * / log n_pos) / 2 (t = 0.5, so n1 = n_pos sqrt(t)) and n2 = n1^2 / n_pos,
 * giving k1 and k2; then k* = k1^2 / k2 * rho with Qi's (2008) constant
 * rho = (1 - 2 (log k1 - log n1) / log k1)^(log k1 / log n1 - 1).
 * As in hill_dbs: 500 resamples per size (fewer for K > 1000, so that at
 * most DRAW_BUDGET order statistics are drawn), k searched from 2 to
 * eps_stop = 0.99 of the sample, and when k2 > k1 the lower search bound
 * moves up by 0.005 n and both bootstraps run again.
 * Bounded cost (a deviation from hill_dbs, which sorts each resample): the
 * AMSE search stops at k = EST_KAUTO_KCAP, so only the K+1 smallest order
 * statistics of each resample are needed. They are drawn directly as the
 * ascending uniform order statistics U(i) = 1 - exp(-sum_{j<=i} E_j/(s-j+1))
 * (E_j standard exponential) mapped to ranks floor(U n_pos) of the sorted
 * data, so a resample costs O(K) whatever n_pos is, and only the top
 * est_k_auto_top(n_pos) values of the block are read. When k2 > k1 with k2
 * within 5% of the cap, the AMSE minima lie beyond the cap and k = KCAP is
 * returned. The generator is splitmix64 seeded from the data, so the rule
 * is a pure function.
 */
#include <math.h>

#include "est_internal.h"

#define KCAP          EST_KAUTO_KCAP
#define RESAMPLES     500 /* hill_dbs' r_bootstrap, up to K = 1000 */
#define MIN_RESAMPLES 100
#define DRAW_BUDGET   500000 /* order statistics drawn per bootstrap size */
#define T_BOOT        0.5
#define EPS_STOP      0.99
#ifndef EST_KAUTO_MIN_N
#define EST_KAUTO_MIN_N 64 /* below this the sqrt rule is used */
#endif
#define MAX_RETRY 3

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t next_u64(rng *r)
{
    return htga_splitmix64(&r->s);
}

/* Standard exponential -log(U), U uniform in (0, 1], from a 256-entry table
 * of log c at the centres c of the top mantissa bits and a cubic in
 * r = m/c - 1 (|r| < 2^-9, |error| < 1e-11): no division, no libm. */
static double next_exp(rng *r, const double *tab)
{
    uint64_t u = est_f64_bits(((double)(next_u64(r) >> 11) + 1.0) * 0x1.0p-53);
    int64_t e = (int64_t)(u >> 52) - 1023;
    size_t i = (size_t)((u >> 44) & 0xff);
    double m = est_bits_f64((u & 0x000fffffffffffffull) | 0x3ff0000000000000ull);
    double q = m * tab[256 + i] - 1.0;
    return -((double)e * M_LN2 + tab[i] + q * (1.0 - q * (0.5 - q * (1.0 / 3))));
}

static void fill_log_table(double *tab)
{
    for (int i = 0; i < 256; i++) {
        double c = 1.0 + (i + 0.5) / 256.0;
        tab[i] = log(c);
        tab[256 + i] = 1.0 / c;
    }
}

/* 1 - exp(-t), by its series while t is small (|error| < 1e-10 relative). */
static double one_minus_exp(double t)
{
    if (t < 0.05)
        return t * (1.0 - t * (0.5 - t * (1.0 / 6 - t * (1.0 / 24 - t * (1.0 / 120 - t / 720)))));
    return -expm1(-t);
}

/* Top values read: the (K+1)-th order statistic of a resample of n2 =
 * n_pos/2 sits near rank 2(K+1), so 3(K+1) + 64 leaves a wide margin. A
 * test build lowers it (and raises EST_KAUTO_MIN_N, so the sqrt fallback's k
 * exceeds it) to force the re-gather path of est_block. */
#ifndef EST_KAUTO_TOP
#define EST_KAUTO_TOP (3 * (KCAP + 1) + 64)
#endif

size_t est_k_auto_top(size_t n_pos)
{
    size_t want = EST_KAUTO_TOP;
    return n_pos < want ? n_pos : want;
}

/* Length of each per-k array: k never exceeds n_pos nor KCAP. */
static size_t k_len(size_t n_pos)
{
    return (n_pos < KCAP ? n_pos : KCAP) + 2;
}

size_t est_k_auto_work(size_t n_pos)
{
    return est_k_auto_top(n_pos) + 4 * k_len(n_pos) + 512;
}

/* Last k searched for a bootstrap sample of size s (hill_dbs' max_index). */
static size_t k_max_for(size_t s)
{
    size_t k = (size_t)floor(EPS_STOP * (double)s);
    if (k > s - 2)
        k = s - 2;
    return k < KCAP ? k : KCAP;
}

/* Work arrays of the bootstrap, k_len(n_pos) long except the 512-entry table. */
typedef struct boot {
    const double *logs; /* log y(i) - log y(1), i < m */
    size_t m, n_pos;
    double *sum, *cnt, *inv_k, *inv_sk, *tab;
} boot;

/* Averages the AMSE statistic over RESAMPLES samples of size s; returns the
 * argmin k in [kmin, kmax], or 0 when none was computed. */
static size_t amse_argmin(const boot *w, size_t s, size_t kmin, size_t kmax, rng *r)
{
    double *sum = w->sum, *cnt = w->cnt, *inv_k = w->inv_k, *inv_sk = w->inv_sk;
    for (size_t k = 0; k <= kmax + 1; k++) {
        sum[k] = cnt[k] = 0.0;
        inv_k[k] = k ? 1.0 / (double)k : 0.0;
        inv_sk[k] = 1.0 / (double)(s - k);
    }
    double nd = (double)w->n_pos;
    int64_t m = (int64_t)w->m;
    size_t reps = DRAW_BUDGET / (kmax + 1);
    reps = reps > RESAMPLES ? RESAMPLES : reps < MIN_RESAMPLES ? MIN_RESAMPLES : reps;
    for (size_t b = 0; b < reps; b++) {
        double t = next_exp(r, w->tab) * inv_sk[0];
        int64_t idx = (int64_t)(one_minus_exp(t) * nd);
        if (idx >= m)
            continue;
        double cur = w->logs[idx], s1 = 0.0, s2 = 0.0;
        for (size_t k = 1; k <= kmax; k++) {
            s1 += cur;
            s2 += cur * cur;
            t += next_exp(r, w->tab) * inv_sk[k];
            idx = (int64_t)(one_minus_exp(t) * nd);
            if (idx >= m)
                break;
            double nxt = w->logs[idx], ik = inv_k[k];
            double m1 = s1 * ik - nxt;
            double m2 = s2 * ik - 2.0 * nxt * s1 * ik + nxt * nxt;
            double d = m2 - 2.0 * m1 * m1;
            sum[k] += d * d;
            cnt[k] += 1.0;
            cur = nxt;
        }
    }
    size_t best = 0;
    double best_v = INFINITY;
    for (size_t k = kmin; k <= kmax; k++) {
        if (cnt[k] > 0 && sum[k] / cnt[k] < best_v) {
            best_v = sum[k] / cnt[k];
            best = k;
        }
    }
    return best;
}

static uint64_t seed_of(const double *y, size_t m, size_t n_pos)
{
    uint64_t h = 0x243f6a8885a308d3ull ^ (uint64_t)n_pos;
    const size_t pick[3] = {0, m / 2, m - 1};
    for (int i = 0; i < 3; i++) {
        h ^= est_f64_bits(y[pick[i]]) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    }
    return h;
}

size_t est_k_auto(const double *y_desc, size_t m, size_t n_pos, double *work, size_t work_len)
{
    size_t fallback = est_k_from_rule(NULL, n_pos);
    if (!y_desc || !work || n_pos < 3 || m < est_k_auto_top(n_pos) ||
        work_len < est_k_auto_work(n_pos))
        return fallback;
    if (n_pos < EST_KAUTO_MIN_N)
        return fallback;
    m = est_k_auto_top(n_pos);
    double *logs = work;
    size_t kl = k_len(n_pos);
    boot w = {.logs = logs, .m = m, .n_pos = n_pos};
    w.sum = work + m;
    w.cnt = w.sum + kl;
    w.inv_k = w.cnt + kl;
    w.inv_sk = w.inv_k + kl;
    w.tab = w.inv_sk + kl;
    fill_log_table(w.tab);
    double top = log(y_desc[0]);
    for (size_t i = 0; i < m; i++) {
        if (!(y_desc[i] > 0))
            return fallback;
        logs[i] = log(y_desc[i]) - top;
    }
    double nd = (double)n_pos;
    double eps = 0.5 * (1.0 + log(floor(T_BOOT * nd)) / log(nd));
    size_t n1 = (size_t)pow(nd, eps);
    size_t n2 = (size_t)((double)n1 * (double)n1 / nd);
    if (n2 < 8 || n1 >= n_pos)
        return fallback;
    rng r = {seed_of(y_desc, m, n_pos)};
    size_t kmin1 = 2, kmin2 = 2;
    size_t kmax1 = k_max_for(n1), kmax2 = k_max_for(n2);
    for (int attempt = 0; attempt <= MAX_RETRY; attempt++) {
        if (kmin1 > kmax1 || kmin2 > kmax2)
            break;
        size_t k1 = amse_argmin(&w, n1, kmin1, kmax1, &r);
        size_t k2 = amse_argmin(&w, n2, kmin2, kmax2, &r);
        if (k1 < 2 || k2 < 1)
            break;
        if (k2 > k1 && kmax2 == KCAP && k2 + k2 / 20 >= kmax2) {
            /* k2's minimum sits at the cost cap, so both optima lie beyond
             * it: the cap is the closest k this bounded search can give */
            return KCAP < n_pos - 1 ? KCAP : n_pos - 1;
        }
        if (k2 > k1) {
            size_t step = (size_t)(0.005 * nd);
            step = step ? step : 1;
            kmin1 += step;
            kmin2 += step;
            continue;
        }
        double lk1 = log((double)k1), ln1 = log((double)n1);
        double rho = pow(1.0 - 2.0 * (lk1 - ln1) / lk1, lk1 / ln1 - 1.0);
        double kstar = round((double)k1 * (double)k1 / (double)k2 * rho);
        if (!(kstar >= 2))
            kstar = 2;
        if (kstar > nd - 1)
            kstar = nd - 1;
        return (size_t)kstar;
    }
    return fallback;
}
