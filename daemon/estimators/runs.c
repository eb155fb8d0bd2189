/*
 * runs.c - est_hill_runs: the Hill interval of a block whose values came in
 * runs of correlated neighbours (client run sampling, see est.h).
 *
 * DESIGN: the Hill estimate solves sum_i psi_i = 0 with the score
 * psi_i = 1{y_i exceeds u} (z_i - gamma), z_i = log(y_i / u); with
 * independent values its variance is gamma^2 / k, but values of one run
 * share their tail, so the standard error comes from the runs as units:
 * the delete-one-cluster jackknife of alpha itself over the G clusters
 * holding exceedances, u held fixed. Deleting cluster c (n_c exceedances,
 * score sum s_c, log-excess sum Z_c = s_c + gamma n_c) leaves
 * alpha_c = (k - n_c) / (Z - Z_c), Z = k gamma, so
 * d_c = alpha_c - alpha = s_c / (gamma (Z - Z_c)) is known when the pass
 * closes the cluster, and var = (G - 1) / G sum_c (d_c - mean d)^2.
 * To first order d_c is the CR3 (leverage-weighted sandwich) term; the
 * rest is the curvature of alpha = 1/gamma, which a sandwich on gamma
 * misses and which with few clusters makes the spread of alpha larger
 * than the delta method says (bench/runs_calib.c measures it against
 * fresh draws: 0.81-0.86 of the spread with CR3 where 3-20 runs hold the
 * tail). The interval takes Student's t with G - 1 degrees of freedom.
 * Only exceedances have a non-zero score, so one pass over the block
 * compares each y with u and takes a logarithm only for the k
 * exceedances; positions outside run segments are clusters of one. The
 * caller skips the call for a block without runs, so those blocks pay
 * nothing.
 * Ties at u: est_block counts k_tied of the values equal to u among the k
 * without saying which; here the first k_tied in block order are taken
 * (z = 0), a choice that only decides which cluster a tie joins.
 * A loose segment (boundaries unknown, runs of at most `run`) bounds its
 * clusters' sum of d_c^2 from above: sum s_c^2 <= run sum psi_i^2 for any
 * split into such runs (Cauchy-Schwarz), and Z - Z_c >= Z - Zmax with
 * Zmax the most log-excess one run of it can hold (at most all of the
 * segment's, at most min(run, hits) times its largest z); the jackknife
 * is then taken uncentred and without the (G - 1) / G factor (both only
 * shrink it), and the segment counts ceil(hits / run) clusters, the fewest
 * possible (the widest t): the interval can only come out wider.
 */
#include <math.h>

#include "est_internal.h"

/* The running state of the pass. */
typedef struct runs_acc {
    double med, u, lu, gamma;
    size_t ties;  /* ties at u still to be counted as exceedances */
    size_t above; /* exceedances seen: k at the end */
    double k;     /* the exceedances est_block counted */
    double z;     /* their log-excess sum, k gamma */
    double jd;    /* sum over closed clusters of d_c = alpha without c - alpha */
    double jd2;   /* sum of d_c^2, plus the loose segments' bounds */
    size_t g;     /* clusters holding an exceedance (a lower bound for loose segments) */
    int inf;      /* a cluster held all the log-excess: alpha without it infinite */
    int any_loose;
    size_t loose; /* exceedances in the loose segment being passed */
    double lss;   /* their run * score^2 */
    double lz;    /* their log-excess sum */
    double lzmax; /* their largest log-excess */
    double cur;   /* score of the open cluster */
    size_t cur_n; /* its exceedances */
    size_t cur_id;
    int open;
} runs_acc;

/* Cluster c deleted: its score sum s and the log-excess z_out the other
 * clusters hold add d_c = s / (gamma z_out) to the jackknife. */
static void jack_add(runs_acc *a, double s, double z_out)
{
    if (!(z_out > 0)) {
        a->inf = 1;
        return;
    }
    double d = s / (a->gamma * z_out);
    a->jd += d;
    a->jd2 += d * d;
}

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

static void close_cluster(runs_acc *a)
{
    if (a->open) {
        /* Z_c = s_c + gamma n_c: the others hold Z - Z_c */
        jack_add(a, a->cur, a->z - (a->cur + a->gamma * (double)a->cur_n));
        a->g++;
    }
    a->open = 0;
    a->cur = 0.0;
    a->cur_n = 0;
}

/* Position i of a segment starting at lo: its score goes to cluster
 * (i - lo + phase) / run; loose: run * score^2, as its own term. */
static void visit(runs_acc *a, const float *x, size_t i, size_t lo, size_t run, size_t phase,
                  int loose)
{
    int hit;
    double s = score(a, x[i], &hit);
    if (!hit)
        return;
    if (loose) {
        double z = s + a->gamma;
        a->lss += (double)run * s * s;
        a->lz += z;
        a->lzmax = z > a->lzmax ? z : a->lzmax;
        a->loose++;
        return;
    }
    size_t id = (i - lo + phase) / run;
    if (!a->open || id != a->cur_id) {
        close_cluster(a);
        a->cur_id = id;
        a->open = 1;
    }
    a->cur += s;
    a->cur_n++;
}

/* The positions [lo, hi) of one segment: a vector test per group of eight
 * values, the scalar visit only where one of them may exceed u (about k of
 * n values do). Exceedances come in position order, so clusters close as
 * the pass leaves them. */
EST_HOT static void seg_pass(runs_acc *a, const float *x, size_t lo, size_t hi, size_t run,
                             size_t phase, int loose)
{
    const est_v4d vmed = {a->med, a->med, a->med, a->med}, vu = {a->u, a->u, a->u, a->u};
    size_t i = lo;
    for (; i + 8 <= hi; i += 8) {
        est_v4d y0, y1;
        est_absdev8(x + i, vmed, &y0, &y1);
        est_v4i hit = (y0 >= vu) | (y1 >= vu);
        if ((hit[0] | hit[1] | hit[2] | hit[3]) != 0)
            for (size_t j = i; j < i + 8; j++)
                visit(a, x, j, lo, run, phase, loose);
    }
    for (; i < hi; i++)
        visit(a, x, i, lo, run, phase, loose);
    close_cluster(a);
    /* a loose segment's exceedances fill at least ceil(hits / run) runs:
     * the fewest clusters; none holds more log-excess than zmax */
    if (a->loose > 0) {
        double most = (double)(a->loose < run ? a->loose : run) * a->lzmax;
        double zmax = most < a->lz ? most : a->lz, z_out = a->z - zmax;
        if (z_out > 0)
            a->jd2 += a->lss / (a->gamma * z_out * a->gamma * z_out);
        else
            a->inf = 1;
        a->g += (a->loose + run - 1) / run;
        a->any_loose = 1;
    }
    a->loose = 0;
    a->lss = 0.0;
    a->lz = 0.0;
    a->lzmax = 0.0;
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
    runs_acc a = {.med = res->median,
                  .u = h->u,
                  .lu = log(h->u),
                  .gamma = h->gamma,
                  .ties = h->k_tied,
                  .k = (double)h->k,
                  .z = (double)h->k * h->gamma};
    seg_pass(&a, x, 0, seg[0].start, 1, 0, 0);
    for (size_t j = 0; j < nseg; j++) {
        size_t lo = seg[j].start, hi = j + 1 < nseg ? seg[j + 1].start : n;
        size_t len = seg[j].run > 1 ? seg[j].run : 1;
        if (seg[j].phase == EST_SEG_LOOSE)
            seg_pass(&a, x, lo, hi, len, 0, 1);
        else
            seg_pass(&a, x, lo, hi, len, len > 1 ? seg[j].phase : 0, 0);
    }
    if (a.above != h->k) /* res was not estimated from this block */
        return EST_EINVAL;
    /* one cluster says nothing about the spread: k_eff = 1, as when the
     * jackknife would take k_eff below 1; deff = var(alpha) / (alpha^2 / k) */
    double k = (double)h->k, g = (double)a.g;
    double var = a.any_loose ? a.jd2 : (g - 1.0) / g * (a.jd2 - a.jd * a.jd / g);
    double deff = a.g > 1 && !a.inf ? var * k * h->gamma * h->gamma : k;
    if (deff > k)
        deff = k;
    if (!(deff > 1.0) || !isfinite(deff))
        return EST_OK;
    h->deff = deff;
    h->se = h->alpha * sqrt(deff / k);
    /* the variance rests on G cluster sums: t with G - 1 degrees of
     * freedom instead of the normal, as a smaller shape of the Gamma */
    double widen = 1.0;
    if (a.g > 1) {
        double t = est_t975(a.g - 1);
        widen = (1.959963984540054 / t) * (1.959963984540054 / t);
    }
    est_hill_ci_k(h->alpha, k / deff * widen, &h->ci_lo, &h->ci_hi);
    return EST_OK;
}

void est_hill_one_cluster(est_result *res)
{
    if (res == NULL || !res->has_hill || res->hill.k == 0 || !(res->hill.gamma > 0))
        return;
    res->hill.deff = (double)res->hill.k;
    res->hill.se = res->hill.alpha;
    est_hill_ci_k(res->hill.alpha, 1.0, &res->hill.ci_lo, &res->hill.ci_hi);
}
