/*
 * select_test.c - radix-select median and top order statistics against a
 * sort-based reference; the double selection and sort helpers.
 */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "est_internal.h"
#include "harness.h"
#include "samplers.h"

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Reference: sort the finite values; median, and y sorted descending. */
static double ref_median(const float *x, size_t n, float *buf, size_t *used)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]))
            buf[m++] = x[i];
    *used = m;
    qsort(buf, m, sizeof *buf, cmp_float);
    return ((double)buf[(m - 1) / 2] + (double)buf[m / 2]) / 2.0;
}

/* Hill and the top output of res against sorting the finite values
 * buf[0..used) (ref_median's): n_pos, has_hill, k and gamma to 1e-12 (from
 * 3 positive values on), and the top_n = min(n_pos, top_len) largest
 * |x - med| bit for bit. yref: room for used doubles. */
static void check_hill_top(const float *buf, size_t used, double med, const est_result *res,
                           const double *top, size_t top_n, size_t top_len, double *yref, int tag)
{
    size_t npos = 0;
    for (size_t i = 0; i < used; i++) {
        double y = fabs((double)buf[i] - med);
        if (y > 0)
            yref[npos++] = y;
    }
    qsort(yref, npos, sizeof *yref, cmp_double_desc);
    cr_assert_eq(res->n_pos, npos, "case %d", tag);
    if (npos >= 3) {
        size_t k = est_k_from_rule(NULL, npos);
        est_hill h;
        cr_assert_eq(est_hill_sorted(yref, npos, k, &h), EST_OK);
        cr_assert_eq(res->has_hill, h.gamma > 0, "case %d", tag);
        if (res->has_hill)
            cr_assert(res->hill.k == k && rel_err(res->hill.gamma, h.gamma) < 1e-12, "case %d",
                      tag);
    }
    cr_assert_eq(top_n, npos < top_len ? npos : top_len);
    for (size_t i = 0; i < top_n; i++)
        cr_assert_eq(top[i], yref[i], "case %d top[%zu]", tag, i);
}

/* Draws with many duplicates, signed zeros, both signs and wide exponents. */
static float tricky(smp_rng *r, int mode)
{
    uint64_t u = smp_u64(r);
    switch (mode) {
    case 0: /* few distinct values */
        return (float)((int)(u % 7) - 3);
    case 1: /* signed zeros among small integers */
        return (u & 1) ? -0.0f : (u & 2) ? 0.0f : (float)(u % 5);
    case 2: /* wide exponents */
        return (float)(smp_gauss(r) * exp(20.0 * (smp_uniform(r) - 0.5)));
    case 3: /* offset data in one top-level bucket */
        return (float)(1000.0 + smp_gauss(r));
    case 4: /* random bit patterns, incl. NaN, Inf and subnormals */
        return est_bits_f32((uint32_t)u);
    default:
        return (float)smp_cauchy(r);
    }
}

Test(select, median_and_top_match_sorting)
{
    enum { MAXN = 5000 };
    static float x[MAXN], buf[MAXN];
    static double top[MAXN], yref[MAXN];
    smp_rng r;
    smp_seed(&r, 2024);
    for (int trial = 0; trial < 600; trial++) {
        int mode = trial % 6;
        size_t n = 1 + smp_u64(&r) % (trial % 3 == 0 ? 40 : MAXN);
        for (size_t i = 0; i < n; i++)
            x[i] = tricky(&r, mode);
        est_result res;
        size_t tn = 0;
        cr_assert_eq(run_block(x, n, NULL, top, MAXN, &tn, &res), EST_OK);
        size_t used;
        double med = ref_median(x, n, buf, &used);
        cr_assert_eq(res.n_used, used);
        if (used == 0) {
            cr_assert(isnan(res.median));
            continue;
        }
        cr_assert_eq(res.median, med, "trial %d mode %d n %zu: %.9g vs %.9g", trial, mode, n,
                     res.median, med);
        cr_assert_eq(res.n_zero, used - res.n_pos);
        check_hill_top(buf, used, med, &res, top, tn, MAXN, yref, trial);
    }
}

Test(select, nth_and_sort_of_doubles)
{
    enum { N = 3000 };
    static double v[N], ref[N];
    smp_rng r;
    smp_seed(&r, 5);
    for (int trial = 0; trial < 200; trial++) {
        size_t n = 1 + smp_u64(&r) % N;
        for (size_t i = 0; i < n; i++)
            v[i] = ref[i] = (trial & 1) ? (double)(smp_u64(&r) % 10) : smp_gauss(&r);
        qsort(ref, n, sizeof *ref, cmp_double_desc);
        size_t pos = smp_u64(&r) % n;
        est_nth_desc_f64(v, n, pos);
        cr_assert_eq(v[pos], ref[pos]);
        for (size_t i = 0; i < pos; i++)
            cr_assert(v[i] >= v[pos]);
        for (size_t i = pos + 1; i < n; i++)
            cr_assert(v[i] <= v[pos]);
        est_sort_desc_f64(v, n);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(v[i], ref[i]);
    }
}

Test(select, keys_order_like_floats)
{
    const float f[] = {-INFINITY, -FLT_MAX, -1.0f, -1e-45f, -0.0f,
                       0.0f,      1e-45f,   1.0f,  FLT_MAX, INFINITY};
    for (size_t i = 0; i + 1 < sizeof f / sizeof f[0]; i++) {
        uint32_t a = est_key(est_f32_bits(f[i])), b = est_key(est_f32_bits(f[i + 1]));
        cr_assert(a < b);
        cr_assert_eq(est_f32_bits(est_key_to_f32(a)), est_f32_bits(f[i]));
    }
}

/* Blocks where most values share one top-level bucket (offset data): the
 * median is then found by a second histogram over the block, and Hill's
 * candidates through a y histogram, at htgad's block size too (65536, with
 * the 1024 top order statistics it keeps for the Hill plot). */
/*
 * The median through what pass 1 gathers from a strided sample's guess
 * (est_bracket_guess): the middle ranks inside one bucket of the bracket,
 * straddling two of its buckets, outside it (a sample that misleads: every
 * sampled position holds a value far above the rest); one key counted in
 * pass 1 (mostly exact zeros), and that key not the median (the sampled
 * positions zero, the rest not); the median in a bucket the tails left
 * uncounted, and so the 1024th largest |x - median| (both recounted).
 * Median, Hill and the top 1024 against sorting;
 * where the library brackets (AVX-512) the test also checks which case it
 * was, that pass 1 gathered exactly the bracket's keys or counted the key
 * exactly, and that its histogram is the plain pass's wherever it says it
 * counted.
 */
Test(select, bracket_median_matches_sorting)
{
    enum { N = 100001, MODES = 7, TOP = 1024 };
    static const size_t sizes[] = {16384, 65536 + 3, N - 1};
    float *x = malloc(N * sizeof *x), *buf = malloc(N * sizeof *buf);
    uint32_t *g = malloc((N + 16) * sizeof *g), *sub = malloc(4 * 2048 * sizeof *sub);
    size_t *hist = malloc(2048 * sizeof *hist), *href = malloc(2048 * sizeof *href);
    double *yref = malloc(N * sizeof *yref), *top = malloc(TOP * sizeof *top);
    cr_assert(x && buf && g && sub && hist && href && yref && top);
    int avx512 = est_bracket_supported();
    smp_rng r;
    smp_seed(&r, 31);
    for (int mode = 0; mode < MODES; mode++) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            size_t n = sizes[si], step = n / 512;
            for (size_t i = 0; i < n; i++) {
                int sampled = i % step == step / 2;
                if (mode == 0) /* centred heavy tails: the median's bucket in the bracket */
                    x[i] = (float)smp_student_t(&r, 3.0);
                else if (mode == 1) /* half below 1, half above, shuffled: two buckets */
                    x[i] = (float)exp2(((i * 7919) % n < n / 2 ? -8.0 : 8.0) * smp_uniform(&r));
                else if (mode == 2) /* the sampled positions far above the rest */
                    x[i] = (float)(sampled ? 1e6 * exp(4.0 * smp_uniform(&r))
                                           : smp_student_t(&r, 3.0));
                else if (mode == 3) /* mostly exact zeros */
                    x[i] = smp_uniform(&r) < 0.9 ? 0.0f : (float)smp_student_t(&r, 3.0);
                else if (mode == 4) /* the sampled positions zero, the rest above it */
                    x[i] = sampled ? 0.0f : 1.0f + (float)smp_uniform(&r);
                else if (mode == 5) /* the sampled positions shifted: the median between a
                                     * tail and the bracket, uncounted (a recount) */
                    x[i] = (float)(smp_student_t(&r, 3.0) + (sampled ? 0.8 : 0.0));
                else /* the sampled positions 8 times wider: the 1024 largest lie between
                      * the bracket and the tails, uncounted (a recount for Hill) */
                    x[i] = (float)(smp_student_t(&r, 3.0) * (sampled ? 40.0 : 5.0));
            }
            x[n / 5] = NAN;
            size_t used;
            double med = ref_median(x, n, buf, &used);
            est_result res;
            size_t top_n = 0;
            cr_assert_eq(run_block(x, n, NULL, top, TOP, &top_n, &res), EST_OK);
            cr_assert_eq(res.median, med, "mode %d n %zu: %.9g vs %.9g", mode, n, res.median, med);
            /* Hill and the top through the tails' threshold, against sorting */
            check_hill_top(buf, used, med, &res, top, top_n, TOP, yref, mode);
            /* which guess this was, and what pass 1 gathered or counted */
            est_bracket br;
            est_bracket_guess(x, n, g, 1024, &br);
            est_pass_keys(x, n, hist, sub, &br);
            est_pass_keys(x, n, href, sub, NULL);
            /* every bucket pass 1 says it counted is the plain pass's, and
             * so is every count below a bucket of the bracket */
            size_t cum = 0, cref = 0;
            for (size_t b = 0; b < 2048; b++) {
                if (est_bracket_exact(&br, b))
                    cr_assert_eq(hist[b], href[b], "mode %d n %zu: bucket %zu", mode, n, b);
                if (br.lo <= b && b <= br.hi)
                    cr_assert_eq(cum, cref, "mode %d n %zu: below bucket %zu", mode, n, b);
                cum += hist[b];
                cref += href[b];
            }
            cr_assert_eq(cum, n);
            if (!avx512) {
                cr_assert(br.lo > br.hi && !br.rep && !br.tails, "no bracket without AVX-512");
                continue;
            }
            uint32_t kmed = est_key(est_f32_bits((float)med)) >> EST_TOP_SHIFT;
            if (mode == 3 || mode == 4) {
                uint32_t v = est_key(est_f32_bits(0.0f));
                cr_assert(br.rep && br.v == v, "mode %d: zero counted", mode);
                size_t lt = 0, eq = 0;
                for (size_t i = 0; i < n; i++) {
                    uint32_t k = est_key(est_f32_bits(x[i]));
                    lt += k < v;
                    eq += k == v;
                }
                cr_assert(br.lt == lt && br.eq == eq, "mode %d: %zu %zu vs %zu %zu", mode, br.lt,
                          br.eq, lt, eq);
                continue;
            }
            cr_assert(br.lo <= br.hi && !br.rep, "mode %d n %zu: a bracket", mode, n);
            /* tails for the 1024 largest: below the bracket, above it, and
             * leaving some middle buckets uncounted one by one */
            cr_assert(br.tails && br.tl < br.lo && br.th > br.hi, "mode %d n %zu: tails", mode, n);
            if (mode < 2)
                cr_assert(br.lo <= kmed && kmed <= br.hi, "mode %d: median inside", mode);
            else if (mode == 2)
                cr_assert_gt(br.lo, kmed, "mode 2: the bracket misses the median");
            else if (mode == 5)
                cr_assert(!est_bracket_exact(&br, kmed), "mode 5: the median's bucket uncounted");
            else
                cr_assert(
                    !est_bracket_exact(&br, est_key(est_f32_bits((float)(med + top[TOP - 1]))) >>
                                                EST_TOP_SHIFT) ||
                        !est_bracket_exact(&br,
                                           est_key(est_f32_bits((float)(med - top[TOP - 1]))) >>
                                               EST_TOP_SHIFT),
                    "mode 6: the Hill threshold's buckets uncounted");
            size_t inside = 0;
            for (uint32_t b = br.lo; b <= br.hi; b++)
                inside += hist[b];
            cr_assert_eq(br.m, inside, "every key of the bracket gathered");
            for (size_t i = 0; i < br.m; i++)
                cr_assert(br.lo <= g[i] >> EST_TOP_SHIFT && g[i] >> EST_TOP_SHIFT <= br.hi);
        }
    }
    free(x);
    free(buf);
    free(g);
    free(sub);
    free(hist);
    free(href);
    free(yref);
    free(top);
}

Test(select, crowded_bucket_medians)
{
    enum { N = 200001, TOP = 1024 };
    static const size_t sizes[] = {N - 1, N, 65536, 20001};
    float *x = malloc(N * sizeof *x), *buf = malloc(N * sizeof *buf);
    double *yref = malloc(N * sizeof *yref), top[TOP];
    smp_rng r;
    smp_seed(&r, 8);
    for (int mode = 0; mode < 5; mode++) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            size_t n = sizes[si], top_n = 0;
            for (size_t i = 0; i < n; i++) {
                double z = smp_gauss(&r);
                if (mode == 0) /* spread within the bucket [896, 1024) */
                    x[i] = (float)(960.0 + 20.0 * z);
                else if (mode == 1) /* many ties */
                    x[i] = (float)(1100 + (int)(3 * z));
                else if (mode == 2) /* the middle splits two values */
                    x[i] = i & 1 ? 1100.0f : 1200.0f;
                else if (mode == 3) /* distinct values, shuffled: no tie hides a rank error */
                    x[i] = 900.0f + (float)((i * 7919) % n) * 0x1.0p-12f;
                else /* mostly exact zeros (an embedding's gradient): one key, every level */
                    x[i] = i % 100 == 7 ? (float)z : 0.0f;
            }
            x[n / 3] = NAN;
            est_result res;
            cr_assert_eq(run_block(x, n, NULL, top, TOP, &top_n, &res), EST_OK);
            size_t used;
            double med = ref_median(x, n, buf, &used);
            cr_assert_eq(res.median, med, "mode %d n %zu: %.9g vs %.9g", mode, n, res.median, med);
            /* Hill through the y-histogram fallback, against sorting */
            check_hill_top(buf, used, med, &res, top, top_n, TOP, yref, mode);
        }
    }
    /* exactly split even block: the two middle values differ */
    size_t n = 140000;
    for (size_t i = 0; i < n; i++)
        x[i] = i < n / 2 ? 1100.0f : 1200.0f;
    est_result res;
    cr_assert_eq(run_block(x, n, NULL, NULL, 0, NULL, &res), EST_OK);
    cr_assert_eq(res.median, 1150.0);
    cr_assert_eq(res.n_zero, 0);
    free(x);
    free(buf);
    free(yref);
}
