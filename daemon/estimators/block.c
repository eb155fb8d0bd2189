/*
 * block.c - est_block: every estimate of one block in two reads of it,
 * plus a third for the median where pass 1's bracket missed its bucket.
 *
 * DESIGN: the block is never sorted.
 *   pass 1: order-key histogram (top 11 bits); the non-finite values are
 *           counted from their own buckets. Where the CPU has AVX-512 and
 *           n >= 16384, it also gathers the keys of a bracket of buckets
 *           around the median of a strided sample of 512 values
 *           (est_bracket_guess, about 15% of the block), and counts one by
 *           one (scalar increments, the pass's cost) only the bracket's
 *           buckets and two tails holding twice the values Hill and the
 *           top want plus 3% of the block (by the same sample): each middle
 *           side's count goes whole into one bucket, so ranks below and
 *           above the bracket stay exact. A median or Hill threshold that
 *           needs a middle bucket recounts (the plain pass). Or, when one
 *           key fills a quarter of the sample (exact zeros), it counts the
 *           keys below and equal to it by vector compares, leaving its
 *           lanes out of the scalar increments.
 *   median: radix select, touching only the bucket(s) of the middle rank(s)
 *           (select.c): from the bracket's keys when it holds them, else
 *           one more pass over the block that gathers the bucket's keys,
 *           bounds two buckets, or counts a repeated key.
 *   bound:  from the same histogram and the median, each bucket's smallest
 *           possible y = |x - median| is known, so a threshold T with at
 *           least t = max(k+1, top_len) values y >= T follows without
 *           another pass (k taken from n_used, an upper bound of n_pos).
 *   pass 2: one fused sweep in chunks of EST_LOGSUM_CHUNK finite values,
 *           eight at a time, on d = x - median and y = |d|: the power
 *           sums of d (the moments, shifted by the median, which lies
 *           within a standard deviation of the mean, so nothing cancels
 *           badly; moments.c), the stable estimator's exponent and
 *           mantissa sums of y and its block sums Y_j of d, the count of
 *           values equal to the median, and the gather of every y >= T (in
 *           double) as Hill candidates (where the CPU has AVX-512, a
 *           compress of the lanes, no branch). A chunk never spans two of
 *           the stable estimator's blocks. Without non-finite values the
 *           chunks are read in place; otherwise the finite values are
 *           first copied into a chunk buffer.
 *   Hill:   a quickselect (branch-free partitions) on the few candidates
 *           gives the k largest and the threshold y(k+1); only the top
 *           output is sorted.
 * Crowded blocks (offset data with a small spread, where one bucket holds
 * most values and the bound would keep most of the block) histogram y in
 * the sweep instead and gather once more from that finer histogram.
 * All memory is the caller's scratch, laid out by est_scratch_bytes().
 * EST_TOP_ANY_ORDER (est_block_flags) skips sorting the top output past
 * the Hill estimate's k + 1 values.
 */
#include <float.h>
#include <math.h>

#include "est_internal.h"

#define ABS_MASK  0x7fffffffffffffffull
#define MANT_MASK 0x000fffffffffffffull
#define ONE_BITS  0x3ff0000000000000ull
#define CHUNK     EST_LOGSUM_CHUNK

typedef struct layout {
    uint32_t *sub;   /* EST_HIST_COPIES * EST_TOP_BUCKETS */
    size_t *hist;    /* EST_TOP_BUCKETS */
    size_t *hy;      /* EST_Y_BUCKETS: y histogram, fallback mode only */
    double *cand;    /* n (also the median's uint32 keys) */
    double *work;    /* est_k_auto_work(n) */
    size_t work_len; /* doubles */
} layout;

/* Running sums of pass 2. The stable estimator's sums are over
 * d = x - med (the block sums Y_j) and y = |d| (log y as exponent sums and
 * mantissa products, renormalized without a log; see est_internal.h). */
typedef struct sweep {
    double med, thr; /* thr: gather y >= thr (> 0) */
    double pw[4];    /* sum d, d^2, d^3, d^4, d = x - med */
    est_logacc ly;   /* stable: log y over the first K1*K2 values */
    est_logacc lY;   /* stable: log|Y_j| over non-zero Y_j */
    size_t ny;
    size_t *hy;   /* non-NULL: histogram y instead of gathering */
    size_t zero;  /* values equal to the median */
    size_t g;     /* candidates gathered */
    double *cand; /* candidates */
} sweep;

static size_t align16(size_t b)
{
    return (b + 15) & ~(size_t)15;
}

static size_t fixed_bytes(void)
{
    return align16(EST_HIST_COPIES * EST_TOP_BUCKETS * sizeof(uint32_t)) +
           align16(EST_TOP_BUCKETS * sizeof(size_t)) + align16(EST_Y_BUCKETS * sizeof(size_t));
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
    p += align16(EST_HIST_COPIES * EST_TOP_BUCKETS * sizeof(uint32_t));
    l.hist = (size_t *)(void *)p;
    p += align16(EST_TOP_BUCKETS * sizeof(size_t));
    l.hy = (size_t *)(void *)p;
    p += align16(EST_Y_BUCKETS * sizeof(size_t));
    l.cand = (double *)(void *)p;
    p += align16(n * sizeof(double));
    l.work = (double *)(void *)p;
    l.work_len = est_k_auto_work(n);
    return l;
}

/* Smallest and largest |x - med| over the values of top-level bucket b. */
static void bucket_dist(uint32_t b, double med, double *dmin, double *dmax)
{
    double lo = est_key_to_f32(b << EST_TOP_SHIFT);
    double hi = est_key_to_f32((b << EST_TOP_SHIFT) | ((1u << EST_TOP_SHIFT) - 1));
    double a = fabs(lo - med), c = fabs(hi - med);
    *dmax = a > c ? a : c;
    *dmin = lo > med ? a : hi < med ? c : 0.0;
}

/* A threshold T > 0 with at least t finite values at |x - med| >= T, or the
 * smallest positive double when no such T > 0 is known (gather all y > 0);
 * +Inf when t == 0. Buckets are merged from both ends in decreasing order of
 * their smallest distance. *bound: how many values may have y >= T. NaN
 * when a bucket it needs was left uncounted by pass 1's tails (br). */
static double threshold_for(const size_t *hist, const est_bracket *br, double med, size_t t,
                            size_t *bound)
{
    *bound = 0;
    if (t == 0)
        return INFINITY;
    uint32_t first = 4, last = EST_TOP_BUCKETS - 5; /* the finite buckets */
    while (first < last && hist[first] == 0)        /* empty ends: most of the exponent range */
        first++;
    while (last > first && hist[last] == 0)
        last--;
    uint32_t lo = first, hi = last;
    size_t cum = 0;
    double thr = DBL_TRUE_MIN;
    while (lo <= hi) {
        double dl, dh, xl, xh;
        bucket_dist(lo, med, &dl, &xl);
        bucket_dist(hi, med, &dh, &xh);
        uint32_t b = dh >= dl ? hi-- : lo++;
        double d = dh >= dl ? dh : dl;
        if (!est_bracket_exact(br, b))
            return NAN; /* pass 1 did not count this bucket: recount */
        cum += hist[b];
        if (d <= 0)
            break;
        if (cum >= t) {
            thr = d;
            break;
        }
    }
    /* dmax falls from each end towards the median's bucket: the buckets
     * that may hold a y >= thr are two runs from the ends */
    uint32_t lo_end = first, hi_end = last;
    for (; lo_end <= hi_end; lo_end++) {
        double dmin, dmax;
        bucket_dist(lo_end, med, &dmin, &dmax);
        if (dmax < thr)
            break;
        if (!est_bracket_exact(br, lo_end))
            return NAN;
        *bound += hist[lo_end];
    }
    for (; hi_end > lo_end; hi_end--) {
        double dmin, dmax;
        bucket_dist(hi_end, med, &dmin, &dmax);
        if (dmax < thr)
            break;
        if (!est_bracket_exact(br, hi_end))
            return NAN;
        *bound += hist[hi_end];
    }
    return thr;
}

/* The plain histogram of pass 1 again, every bucket counted: for the rare
 * block whose median or Hill threshold needs a bucket the tails left out. */
static void recount(const float *x, size_t n, const layout *l, est_bracket *br)
{
    est_pass_keys(x, n, l->hist, l->sub, NULL);
    br->tails = 0;
}

/* threshold_for, recounting first when pass 1's tails fall short. */
static double threshold(const float *x, size_t n, const layout *l, est_bracket *br, double med,
                        size_t t, size_t *bound)
{
    double thr = threshold_for(l->hist, br, med, t, bound);
    if (isnan(thr)) {
        recount(x, n, l, br);
        thr = threshold_for(l->hist, br, med, t, bound);
    }
    return thr;
}

/* Float-key bucket of y for the fallback y histogram. */
static inline uint32_t y_bucket(double y)
{
    float f = (float)(y < FLT_MAX ? y : FLT_MAX);
    return est_f32_bits(f) >> EST_Y_SHIFT;
}

/* From the y histogram: a threshold with at least t values y >= it. A y
 * that rounds up into bucket b as a float is at least its lower edge times
 * (1 - 2^-24), so the edge times (1 - 2^-23) keeps every such y. */
static double threshold_from_y(const size_t *hy, size_t t)
{
    size_t cum = 0;
    uint32_t b = EST_Y_BUCKETS;
    while (b > 0 && cum < t)
        cum += hy[--b];
    if (b == 0)
        return DBL_TRUE_MIN;
    return (double)est_bits_f32(b << EST_Y_SHIFT) * (1.0 - 0x1.0p-23);
}

/* The y histogram of the fallback mode. */
static void chunk_hist(const float *b, size_t m, sweep *s)
{
    for (size_t i = 0; i < m; i++)
        s->hy[y_bucket(fabs((double)b[i] - s->med))]++;
}

static inline double hsum8(est_v8d v)
{
    return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

/* The lane sums of a chunk of pass 2. */
typedef struct lanes {
    est_v8d ds, s2, s3, s4; /* powers of d */
    est_v8l e;              /* biased exponents of y */
} lanes;

/* The end of a chunk of pass 2 from position i on, one value at a time,
 * and the chunk's sums folded into *s (g candidates and z zeros so far). */
static inline __attribute__((always_inline)) double
sweep_tail(const float *b, size_t i, size_t m, sweep *s, const lanes *l, size_t g, size_t z)
{
    const double med = s->med, thr = s->thr;
    double *cand = s->cand;
    double t2 = hsum8(l->s2), t3 = hsum8(l->s3), t4 = hsum8(l->s4), dsum = hsum8(l->ds);
    est_v8l e = l->e;
    int64_t er = ((e[0] + e[1]) + (e[2] + e[3])) + ((e[4] + e[5]) + (e[6] + e[7]));
    for (; i < m; i++) {
        double d = (double)b[i] - med, d2 = d * d, y = fabs(d);
        uint64_t u = est_f64_bits(y);
        dsum += d;
        t2 += d2;
        t3 += d2 * d;
        t4 += d2 * d2;
        z += y == 0.0;
        er += (int64_t)(u >> 52);
        s->ly.p[0] *= est_bits_f64((u & MANT_MASK) | ONE_BITS);
        cand[g] = y;
        g += y >= thr;
    }
    s->pw[0] += dsum;
    s->pw[1] += t2;
    s->pw[2] += t3;
    s->pw[3] += t4;
    s->g = g;
    s->zero += z;
    s->ly.e += er;
    est_logacc_norm(&s->ly);
    return dsum;
}

/* One chunk (m <= CHUNK) of pass 2, eight values a step: from d = x - med
 * and y = |d|, the power sums of d, the zero count, the gather
 * of candidates y >= thr (a vector test, the scalar gather only where one
 * of the eight is a candidate), and the stable estimator's log y sums.
 * Returns the sum of d. */
EST_HOT static double chunk_sweep(const float *b, size_t m, sweep *s)
{
    const double med = s->med, thr = s->thr;
    const est_v8d vmed = (est_v8d){0} + med, vthr = (est_v8d){0} + thr;
    const est_v8q abs_mask = (est_v8q){0} + ABS_MASK, mant_mask = (est_v8q){0} + MANT_MASK,
                  one = (est_v8q){0} + ONE_BITS;
    double *cand = s->cand;
    size_t g = s->g, i = 0;
    est_v8d s2 = {0}, s3 = s2, s4 = s2, ds = s2, p = s->ly.p;
    est_v8l e = {0}, zero = e;
    for (; i + 8 <= m; i += 8) {
        est_v8f f;
        memcpy(&f, b + i, sizeof f);
        est_v8d d = __builtin_convertvector(f, est_v8d) - vmed, d2 = d * d;
        ds += d;
        s2 += d2;
        s3 += d2 * d;
        s4 += d2 * d2;
        est_v8q u = (est_v8q)d & abs_mask;
        zero -= (est_v8l)(u == 0);
        e += (est_v8l)(u >> 52);
        p *= (est_v8d)((u & mant_mask) | one);
        if (est_any8((est_v8l)((est_v8d)u >= vthr))) {
            for (size_t j = i; j < i + 8; j++) {
                double y = fabs((double)b[j] - med);
                cand[g] = y;
                g += y >= thr;
            }
        }
    }
    int64_t z =
        ((zero[0] + zero[1]) + (zero[2] + zero[3])) + ((zero[4] + zero[5]) + (zero[6] + zero[7]));
    s->ly.p = p;
    lanes l = {ds, s2, s3, s4, e};
    return sweep_tail(b, i, m, s, &l, g, (size_t)z);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(EST_NO_CLONES)
#include <immintrin.h>
#define EST_SWEEP512 1
/* chunk_sweep with AVX-512 intrinsics, the same arithmetic lane for lane
 * (so the same bits), where the candidate gather is a compress of the
 * lanes y >= thr and a store of eight doubles: no branch, where the
 * portable test mispredicts on a fifth of the groups of eight (the Hill
 * candidates are 2-3% of a block). cand has room: at most as many
 * candidates as values seen, so cand + g + 8 stays inside its n doubles. */
__attribute__((target("avx512f,avx512dq,avx512vl,popcnt"))) static double
chunk_sweep512(const float *b, size_t m, sweep *s)
{
    const __m512d vmed = _mm512_set1_pd(s->med), vthr = _mm512_set1_pd(s->thr);
    const __m512i abs_mask = _mm512_set1_epi64((long long)ABS_MASK),
                  mant_mask = _mm512_set1_epi64((long long)MANT_MASK),
                  one = _mm512_set1_epi64((long long)ONE_BITS);
    double *cand = s->cand;
    size_t g = s->g, i = 0, z = 0;
    __m512d s2 = _mm512_setzero_pd(), s3 = s2, s4 = s2, ds = s2, p;
    __m512i e = _mm512_setzero_si512();
    memcpy(&p, &s->ly.p, sizeof p);
    for (; i + 8 <= m; i += 8) {
        __m512d d = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(b + i)), vmed);
        __m512d d2 = _mm512_mul_pd(d, d);
        ds = _mm512_add_pd(ds, d);
        s2 = _mm512_add_pd(s2, d2);
        s3 = _mm512_add_pd(s3, _mm512_mul_pd(d2, d));
        s4 = _mm512_add_pd(s4, _mm512_mul_pd(d2, d2));
        __m512i u = _mm512_and_si512(_mm512_castpd_si512(d), abs_mask);
        __m512d y = _mm512_castsi512_pd(u);
        z += (size_t)__builtin_popcount(_mm512_cmpeq_epi64_mask(u, _mm512_setzero_si512()));
        e = _mm512_add_epi64(e, _mm512_srli_epi64(u, 52));
        p = _mm512_mul_pd(
            p, _mm512_castsi512_pd(_mm512_or_si512(_mm512_and_si512(u, mant_mask), one)));
        __mmask8 hit = _mm512_cmp_pd_mask(y, vthr, _CMP_GE_OQ);
        _mm512_storeu_pd(cand + g, _mm512_maskz_compress_pd(hit, y));
        g += (size_t)__builtin_popcount(hit);
    }
    lanes l;
    memcpy(&l.s2, &s2, sizeof l.s2);
    memcpy(&l.s3, &s3, sizeof l.s3);
    memcpy(&l.s4, &s4, sizeof l.s4);
    memcpy(&l.ds, &ds, sizeof l.ds);
    memcpy(&l.e, &e, sizeof l.e);
    memcpy(&s->ly.p, &p, sizeof p);
    return sweep_tail(b, i, m, s, &l, g, z);
}
#endif

/* Copies the next m finite values from x[*pos..n) into buf. */
static void take_finite(const float *x, size_t n, size_t *pos, float *buf, size_t m)
{
    size_t got = 0, i = *pos;
    for (; i < n && got < m; i++) {
        buf[got] = x[i];
        got += (size_t)est_bits_finite(est_f32_bits(x[i]));
    }
    *pos = i;
}

/* Pass 2 over the n_used finite values: stable blocks of k1, then the
 * rest, whose zeros (returned) are outside the stable estimator. */
static size_t sweep_block(const float *x, size_t n, size_t n_used, size_t k1, size_t k2, sweep *s)
{
    double (*chunk)(const float *, size_t, sweep *) = chunk_sweep;
#ifdef EST_SWEEP512
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("popcnt"))
        chunk = chunk_sweep512;
#endif
    int dense = n_used == n;
    size_t pos = 0, done = 0, tail_zero = 0;
    float buf[CHUNK];
    for (size_t j = 0; j <= k2; j++) {
        size_t len = j < k2 ? k1 : n_used - done; /* j == k2: the tail */
        double ysum = 0.0;
        est_logacc keep = s->ly;
        size_t zero0 = s->zero;
        for (size_t off = 0; off < len; off += CHUNK) {
            size_t m = len - off < CHUNK ? len - off : CHUNK;
            const float *b = x + done + off;
            if (!dense) {
                take_finite(x, n, &pos, buf, m);
                b = buf;
            }
            ysum += chunk(b, m, s);
            if (s->hy)
                chunk_hist(b, m, s);
        }
        if (j == k2) { /* the tail is outside the stable estimator */
            s->ly = keep;
            tail_zero = s->zero - zero0;
        } else if (ysum != 0.0) {
            uint64_t u = est_f64_bits(fabs(ysum));
            s->lY.e += (int64_t)(u >> 52);
            s->lY.p[0] *= est_bits_f64((u & MANT_MASK) | ONE_BITS);
            est_logacc_norm(&s->lY);
            s->ny++;
        }
        done += len;
    }
    return tail_zero;
}

/* 1/alpha from the sums of pass 2; nz: non-zero y among the K1*K2 values. */
static void stable_finish(const sweep *s, size_t k1, size_t k2, size_t nz, est_result *out)
{
    out->stable_k1 = k1;
    out->stable_k2 = k2;
    if (k1 < 2 || nz == 0 || s->ny == 0)
        return;
    double logc = est_logacc_log(&s->ly, nz), logy = est_logacc_log(&s->lY, s->ny);
    double inv = (logy / (double)s->ny - logc / (double)nz) / log((double)k1);
    est_stable_set(inv, out);
}

/* Gathers every finite y >= thr into cand again (used when the auto rule
 * asks for more order statistics than pass 2 kept); returns how many. */
static size_t regather(const float *x, size_t n, double med, double thr, double *cand)
{
    size_t g = 0;
    for (size_t i = 0; i < n; i++) {
        if (!est_bits_finite(est_f32_bits(x[i])))
            continue;
        double y = fabs((double)x[i] - med);
        cand[g] = y;
        g += y >= thr;
    }
    return g;
}

/* Orders cand[0..g) so that cand[0..k) are the k largest, cand[k] the
 * (k+1)-th, and cand[0..tl) the tl largest in descending order; with
 * any_order, only cand[0..k] is sorted when tl > k + 1 (the same values in
 * the same places, so the same Hill sum; the rest of the top unordered). */
static void order_top(double *cand, size_t g, size_t k, size_t tl, int any_order)
{
    size_t t = k + 1 > tl ? k + 1 : tl;
    est_nth_desc_f64(cand, g, t - 1);
    if (tl > k + 1 && any_order) {
        est_nth_desc_f64(cand, tl, k);
        est_sort_desc_f64(cand, k);
    } else if (tl >= k + 1) {
        est_sort_desc_f64(cand, tl);
    } else if (tl > 0) {
        est_nth_desc_f64(cand, k, tl - 1);
        est_sort_desc_f64(cand, tl);
    }
}

/* How many order statistics pass 2 must keep: an upper bound, since k is
 * computed from n_used >= n_pos and every rule is monotone in n_pos. */
static size_t wanted_top(const est_k_rule *rule, size_t n_used, size_t top_len)
{
    size_t t = est_k_from_rule(rule, n_used) + 1;
    if (rule && rule->kind == EST_K_AUTO && est_k_auto_top(n_used) > t)
        t = est_k_auto_top(n_used);
    if (n_used < 3)
        t = 0;
    return t > top_len ? t : top_len;
}

static void hill_part(const float *x, size_t n, const est_k_rule *rule, const layout *l,
                      est_bracket *br, size_t g, int y_hist, unsigned flags, double *top,
                      size_t top_len, size_t *top_n, est_result *out)
{
    size_t n_pos = out->n_pos;
    size_t tl = top ? (top_len < n_pos ? top_len : n_pos) : 0;
    size_t k = est_k_from_rule(rule, n_pos);
    double *cand = l->cand;
    if (k > 0 && rule && rule->kind == EST_K_AUTO) {
        size_t ta = est_k_auto_top(n_pos);
        size_t t = ta > tl ? ta : tl;
        est_nth_desc_f64(cand, g, t - 1);
        est_sort_desc_f64(cand, t);
        k = est_k_auto(cand, t, n_pos, l->work, l->work_len);
        if (k + 1 > t) {
            size_t bound;
            double thr = y_hist ? threshold_from_y(l->hy, k + 1)
                                : threshold(x, n, l, br, out->median, k + 1, &bound);
            g = regather(x, n, out->median, thr, cand);
            order_top(cand, g, k, tl, 0);
        }
    } else if (k > 0) {
        order_top(cand, g, k, tl, (flags & EST_TOP_ANY_ORDER) != 0);
    } else if (tl > 0) {
        order_top(cand, g, tl - 1, tl, 0);
    }
    if (k > 0) {
        double gamma = est_hill_gamma(cand, k, cand[k]);
        if (gamma > 0) {
            est_hill_fill(gamma, k, &out->hill);
            out->hill.u = cand[k];
            for (size_t i = 0; i < k; i++) /* for est_hill_runs() */
                out->hill.k_tied += cand[i] == cand[k];
            out->has_hill = 1;
        }
    }
    if (tl > 0) {
        memcpy(top, cand, tl * sizeof *top);
        if (top_n)
            *top_n = tl;
    }
}

int est_block_flags(const float *x, size_t n, unsigned flags, const est_k_rule *rule, void *scratch,
                    size_t scratch_len, double *top, size_t top_len, size_t *top_n, est_result *out)
{
    if (!out || !scratch || (!x && n > 0) || !est_k_rule_valid(rule) ||
        ((uintptr_t)scratch & 15) != 0 || scratch_len < est_scratch_bytes(n) ||
        (flags & ~(unsigned)EST_TOP_ANY_ORDER) != 0)
        return EST_EINVAL;
    memset(out, 0, sizeof *out);
    if (top_n)
        *top_n = 0;
    if (!top || top_len > n)
        top_len = top ? n : 0;
    layout l = carve(scratch, n);
    out->n = n;
    out->median = out->mean = out->variance = out->kurtosis = out->stable_alpha = NAN;
    est_bracket br;
    est_bracket_guess(x, n, (uint32_t *)(void *)l.cand, wanted_top(rule, n, top_len), &br);
    est_pass_keys(x, n, l.hist, l.sub, &br);
    size_t neg_nf = 0, pos_nf = 0;
    for (int b = 0; b < 4; b++) {
        neg_nf += l.hist[b];
        pos_nf += l.hist[EST_TOP_BUCKETS - 1 - b];
    }
    out->n_nonfinite = neg_nf + pos_nf;
    size_t n_used = n - out->n_nonfinite;
    out->n_used = n_used;
    if (n_used == 0)
        return EST_OK;
    if (est_median_radix(x, n, l.hist, neg_nf, n_used, (uint32_t *)(void *)l.cand, &br,
                         &out->median) != 0) {
        recount(x, n, &l, &br);
        est_median_radix(x, n, l.hist, neg_nf, n_used, (uint32_t *)(void *)l.cand, &br,
                         &out->median);
    }

    size_t t = wanted_top(rule, n_used, top_len);
    size_t k1 = n_used >= 4 ? est_isqrt(n_used) : n_used, k2 = n_used >= 4 ? n_used / k1 : 0;
    sweep s = {.med = out->median, .cand = l.cand};
    est_logacc_init(&s.ly);
    est_logacc_init(&s.lY);
    size_t bound;
    s.thr = threshold(x, n, &l, &br, out->median, t, &bound);
    if (t > 0 && bound > 4 * t + 4096) {
        /* values crowd one bucket (offset data with a small spread): a y
         * histogram in the sweep and one gather pass beat selecting among
         * most of the block */
        s.hy = l.hy;
        s.thr = INFINITY;
        memset(l.hy, 0, EST_Y_BUCKETS * sizeof *l.hy);
    }
    size_t tail_zero = sweep_block(x, n, n_used, k1, k2, &s);

    out->n_zero = s.zero;
    out->n_pos = n_used - s.zero;
    est_moments_shifted(s.pw, n_used, out->median, out);
    if (n_used >= 4)
        stable_finish(&s, k1, k2, k1 * k2 - (s.zero - tail_zero), out);
    size_t g = s.g;
    if (s.hy) {
        size_t tp = wanted_top(rule, out->n_pos, top_len);
        g = tp ? regather(x, n, out->median, threshold_from_y(l.hy, tp), l.cand) : 0;
    }
    hill_part(x, n, rule, &l, &br, g, s.hy != NULL, flags, top, top_len, top_n, out);
    return EST_OK;
}

int est_block(const float *x, size_t n, const est_k_rule *rule, void *scratch, size_t scratch_len,
              double *top, size_t top_len, size_t *top_n, est_result *out)
{
    return est_block_flags(x, n, 0, rule, scratch, scratch_len, top, top_len, top_n, out);
}
