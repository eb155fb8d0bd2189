/*
 * select.c - the median of a block by radix select on its float order keys.
 *
 * DESIGN: the median is found without sorting. Pass 1 (pass1.c) histograms
 * the top 11 bits of every order key (sign, exponent, two mantissa bits);
 * the bucket that holds the middle rank is then the only data touched
 * again: its keys are gathered (or were, by pass 1's bracket) and narrowed
 * in place on the next 11 and the last 10 bits. Data centred near zero
 * spreads over many exponents, so that bucket is tiny; offset data with a
 * small spread falls in one bucket: then the next 11 bits are histogrammed
 * in a pass over the block and only that sub-bucket is copied. Never a
 * sort. When the two middle ranks of an even count sit in different
 * buckets, they are the largest key of the lower bucket and the smallest
 * of the upper one. No allocation anywhere.
 */
#include "est_internal.h"

#ifdef EST_AVX512_PATHS
#include <immintrin.h>
#endif

#define SMALL    24
#define CROWDED  65536 /* a bucket this full is histogrammed, not copied */
#define REPEATED 4096  /* a bucket this full is first tested for one repeated key */

static void insertion_sort_u32(uint32_t *g, size_t m)
{
    for (size_t i = 1; i < m; i++) {
        uint32_t v = g[i];
        size_t j = i;
        for (; j > 0 && g[j - 1] > v; j--)
            g[j] = g[j - 1];
        g[j] = v;
    }
}

/* Bucket holding rank r under counts h[0..nb); *before = count below it. */
static size_t bucket_of_rank(const size_t *h, size_t nb, size_t r, size_t *before)
{
    size_t cum = 0;
    for (size_t b = 0; b < nb; b++) {
        if (r < cum + h[b]) {
            *before = cum;
            return b;
        }
        cum += h[b];
    }
    *before = cum;
    return nb - 1; /* unreachable for r < total */
}

/* h[0..mask] = counts of (g[i] >> sh) & mask over g[0..m).
 * EST_HIST_COPIES interleaved copies for many keys, so that a run of equal
 * keys (a block of exact zeros) does not chain every increment through one
 * counter; one copy for a few hundred keys (the median's bucket of data
 * centred at zero), where clearing and summing four copies of every
 * counter cost more than the keys. Only mask + 1 counters are cleared. */
static void key_hist(const uint32_t *g, size_t m, int sh, uint32_t mask, size_t *h)
{
    enum { FEW = 1024 };
    uint32_t c[EST_HIST_COPIES][2048];
    int copies = m > FEW ? EST_HIST_COPIES : 1;
    memset(h, 0, (mask + 1) * sizeof *h);
    for (size_t base = 0; base < m; base += EST_HIST_CHUNK) { /* uint32 counts never overflow */
        size_t i = base, end = m - base > EST_HIST_CHUNK ? base + EST_HIST_CHUNK : m;
        for (int j = 0; j < copies; j++)
            memset(c[j], 0, (mask + 1) * sizeof c[j][0]);
        if (copies > 1)
            for (; i + EST_HIST_COPIES <= end; i += EST_HIST_COPIES)
                for (int j = 0; j < EST_HIST_COPIES; j++)
                    c[j][(g[i + j] >> sh) & mask]++;
        for (; i < end; i++)
            c[0][(g[i] >> sh) & mask]++;
        for (uint32_t b = 0; b <= mask; b++)
            for (int j = 0; j < copies; j++)
                h[b] += c[j][b];
    }
}

/* How many of g[0..m) are below v and equal to v: eight keys a step. */
EST_HOT static void count_lt_eq(const uint32_t *g, size_t m, uint32_t v, size_t *lt, size_t *eq)
{
    const est_v8u vv = {v, v, v, v, v, v, v, v};
    est_v8i l = {0}, e = {0};
    size_t i = 0;
    for (; i + 8 <= m; i += 8) {
        est_v8u k;
        memcpy(&k, g + i, sizeof k);
        l -= (est_v8i)(k < vv);
        e -= (est_v8i)(k == vv);
    }
    size_t nl = 0, ne = 0;
    for (int j = 0; j < 8; j++) {
        nl += (size_t)l[j];
        ne += (size_t)e[j];
    }
    for (; i < m; i++) {
        nl += g[i] < v;
        ne += g[i] == v;
    }
    *lt = nl;
    *eq = ne;
}

/* Keys of ranks r and r+1 (if want2) among g[0..m), all sharing the bits
 * above those of level (0: bits 20..10, 1: bits 9..0); g is narrowed in
 * place. A bucket of mostly one key (a block of mostly exact zeros) is
 * answered by counting that key, before any histogram: a histogram of
 * equal keys chains every increment through one counter. */
static void narrow_keys(uint32_t *g, size_t m, size_t r, int want2, int level, uint32_t out[2])
{
    static const int shifts[2] = {10, 0};
    static const uint32_t masks[2] = {0x7ff, 0x3ff};
    size_t h[2048];
    if (m > REPEATED) {
        size_t lt, eq;
        uint32_t v = g[m / 2];
        count_lt_eq(g, m, v, &lt, &eq);
        if (r >= lt && r + (size_t)(want2 != 0) < lt + eq) {
            out[0] = out[1] = v;
            return;
        }
    }
    for (; level < 2 && m > SMALL; level++) {
        int sh = shifts[level];
        uint32_t mask = masks[level];
        key_hist(g, m, sh, mask, h);
        size_t before0, before1;
        size_t d0 = bucket_of_rank(h, mask + 1, r, &before0);
        size_t d1 = want2 ? bucket_of_rank(h, mask + 1, r + 1, &before1) : d0;
        if (sh == 0) { /* the last bits: the histogram names the keys themselves */
            out[0] = (g[0] & ~mask) | (uint32_t)d0;
            out[1] = (g[0] & ~mask) | (uint32_t)d1;
            return;
        }
        if (d1 != d0) {
            uint32_t kmax = 0, kmin = UINT32_MAX;
            for (size_t i = 0; i < m; i++) {
                uint32_t d = (g[i] >> sh) & mask;
                if (d == d0 && g[i] > kmax)
                    kmax = g[i];
                if (d == d1 && g[i] < kmin)
                    kmin = g[i];
            }
            out[0] = kmax;
            out[1] = kmin;
            return;
        }
        size_t w = 0;
        for (size_t i = 0; i < m; i++)
            if (((g[i] >> sh) & mask) == d0)
                g[w++] = g[i];
        m = w;
        r -= before0;
    }
    insertion_sort_u32(g, m);
    out[0] = g[r];
    out[1] = want2 ? g[r + 1] : g[r];
}

/* Keys of the values with key >> shift == b into g; returns how many. A
 * vector test per eight values; the scalar copy only where one matches. */
EST_HOT static size_t gather_bucket(const float *x, size_t n, int shift, uint32_t b, uint32_t *g)
{
    typedef uint32_t v16u __attribute__((vector_size(64)));
    typedef uint64_t v8q __attribute__((vector_size(64)));
    typedef uint64_t v4q __attribute__((vector_size(32)));
    const v16u sign = (v16u){0} + 0x80000000u, vb = (v16u){0} + b;
    size_t m = 0, i = 0;
    for (; i + 16 <= n; i += 16) {
        v16u u;
        memcpy(&u, x + i, sizeof u);
        v16u key = u ^ ((0u - (u >> 31)) | sign);
        v8q hit = (v8q)((key >> shift) == vb);
        /* any lane: halves folded with vector ORs, one read */
        v4q h4 = __builtin_shufflevector(hit, hit, 0, 1, 2, 3) |
                 __builtin_shufflevector(hit, hit, 4, 5, 6, 7);
        if ((h4[0] | h4[1] | h4[2] | h4[3]) != 0) {
            for (int l = 0; l < 16; l++) {
                g[m] = key[l];
                m += (key[l] >> shift) == b;
            }
        }
    }
    for (; i < n; i++) {
        uint32_t key = est_key(est_f32_bits(x[i]));
        g[m] = key;
        m += (key >> shift) == b;
    }
    return m;
}

/* The end of a max/min pass, one key at a time, from the lanes' kmax and
 * kmin: out[0] the largest key of bucket p0, out[1] the smallest of p1. */
static inline void max_min_tail(const float *x, size_t n, int shift, uint32_t p0, uint32_t p1,
                                uint32_t kmax, uint32_t kmin, uint32_t out[2])
{
    for (size_t i = 0; i < n; i++) {
        uint32_t key = est_key(est_f32_bits(x[i]));
        uint32_t b = key >> shift;
        if (b == p0 && key > kmax)
            kmax = key;
        if (b == p1 && key < kmin)
            kmin = key;
    }
    out[0] = kmax;
    out[1] = kmin;
}

/* The largest key with key >> shift == p0 and the smallest with p1: a full
 * pass over the block whenever the two middle ranks straddle a bucket edge
 * (common for data centred at zero), so it is branch-free and eight keys
 * wide; keys outside a bucket become 0 (max) or UINT32_MAX (min). */
EST_HOT static void max_min_keys(const float *x, size_t n, int shift, uint32_t p0, uint32_t p1,
                                 uint32_t out[2])
{
    typedef uint32_t v16u __attribute__((vector_size(64)));
    const v16u sign = (v16u){0} + 0x80000000u, vp0 = (v16u){0} + p0, vp1 = (v16u){0} + p1;
    v16u vmax = {0}, vmin = ~vmax;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v16u u;
        memcpy(&u, x + i, sizeof u);
        v16u key = u ^ ((0u - (u >> 31)) | sign);
        v16u k0 = key & (v16u)((key >> shift) == vp0);
        v16u k1 = key | ~(v16u)((key >> shift) == vp1);
        v16u up = (v16u)(k0 > vmax), down = (v16u)(k1 < vmin);
        vmax = (k0 & up) | (vmax & ~up);
        vmin = (k1 & down) | (vmin & ~down);
    }
    uint32_t kmax = 0, kmin = UINT32_MAX;
    for (int l = 0; l < 16; l++) {
        kmax = vmax[l] > kmax ? vmax[l] : kmax;
        kmin = vmin[l] < kmin ? vmin[l] : kmin;
    }
    max_min_tail(x + i, n - i, shift, p0, p1, kmax, kmin, out);
}

/* How many keys of x[0..n) are below v and equal to v, sixteen a step. */
EST_HOT static void count_keys(const float *x, size_t n, uint32_t v, size_t *lt, size_t *eq)
{
    typedef uint32_t v16u __attribute__((vector_size(64)));
    typedef int32_t v16i __attribute__((vector_size(64)));
    const v16u sign = (v16u){0} + 0x80000000u, vv = (v16u){0} + v;
    size_t nl = 0, ne = 0, i = 0;
    while (i + 16 <= n) {
        /* int32 lane counts, flushed before they could overflow */
        size_t end = n - i > ((size_t)1 << 30) ? i + ((size_t)1 << 30) : n;
        v16i l = {0}, e = {0};
        for (; i + 16 <= end; i += 16) {
            v16u u;
            memcpy(&u, x + i, sizeof u);
            v16u key = u ^ ((0u - (u >> 31)) | sign);
            l -= (v16i)(key < vv);
            e -= (v16i)(key == vv);
        }
        for (int j = 0; j < 16; j++) {
            nl += (size_t)l[j];
            ne += (size_t)e[j];
        }
    }
    for (; i < n; i++) {
        uint32_t key = est_key(est_f32_bits(x[i]));
        nl += key < v;
        ne += key == v;
    }
    *lt = nl;
    *eq = ne;
}

/* Whether one key fills the ranks r0..r1 of a bucket b that holds most of
 * the block (mostly exact zeros, say): the first key of the bucket is
 * counted, a compare pass instead of copying the bucket. */
static int repeated_key(const float *x, size_t n, uint32_t b, size_t r0, size_t r1, uint32_t *k)
{
    size_t i = 0;
    while (i < n && est_key(est_f32_bits(x[i])) >> EST_TOP_SHIFT != b)
        i++;
    if (i == n)
        return 0;
    uint32_t v = est_key(est_f32_bits(x[i]));
    size_t lt, eq;
    count_keys(x, n, v, &lt, &eq);
    if (r0 < lt || r1 >= lt + eq)
        return 0;
    k[0] = k[1] = v;
    return 1;
}

#ifdef EST_AVX512_PATHS
#include <immintrin.h>
#define EST_MAXMIN512 1
/* max_min_keys with AVX-512's masked unsigned max and min: no blend
 * chain, about half the operations of the portable loop. */
__attribute__((target("avx512f"))) static void
max_min_keys512(const float *x, size_t n, int shift, uint32_t p0, uint32_t p1, uint32_t out[2])
{
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u), vp0 = _mm512_set1_epi32((int)p0),
                  vp1 = _mm512_set1_epi32((int)p1), vshift = _mm512_set1_epi32(shift);
    __m512i vmax = _mm512_setzero_si512(), vmin = _mm512_set1_epi32(-1);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i u = _mm512_loadu_si512((const void *)(x + i));
        /* key = u ^ (u < 0 ? all ones : sign bit) */
        __m512i key = _mm512_xor_si512(u, _mm512_or_si512(_mm512_srai_epi32(u, 31), sign));
        __m512i b = _mm512_srlv_epi32(key, vshift);
        vmax = _mm512_mask_max_epu32(vmax, _mm512_cmpeq_epi32_mask(b, vp0), vmax, key);
        vmin = _mm512_mask_min_epu32(vmin, _mm512_cmpeq_epi32_mask(b, vp1), vmin, key);
    }
    uint32_t kmax = _mm512_reduce_max_epu32(vmax), kmin = _mm512_reduce_min_epu32(vmin);
    max_min_tail(x + i, n - i, shift, p0, p1, kmax, kmin, out);
}
#endif

/* max_min_keys, with the AVX-512 loop where the CPU has it. */
static void max_min(const float *x, size_t n, int shift, uint32_t p0, uint32_t p1, uint32_t out[2])
{
#ifdef EST_MAXMIN512
    if (__builtin_cpu_supports("avx512f")) {
        max_min_keys512(x, n, shift, p0, p1, out);
        return;
    }
#endif
    max_min_keys(x, n, shift, p0, p1, out);
}

/* Whether bucket b's keys are all in the bracket's gather. */
static int in_bracket(const est_bracket *br, size_t b)
{
    return br && br->lo <= br->hi && br->lo <= b && b <= br->hi;
}

/* The largest key of bucket p0 and the smallest of p1 among the bracket's
 * keys (what max_min finds in the block), and the keys of bucket b among
 * them, in block order, moved to the front of g (what gather_bucket copies
 * from the block): sixteen keys a step. A bracket exists only where the
 * CPU has AVX-512. */
#ifdef EST_AVX512_PATHS
__attribute__((target("avx512f"))) static void max_min_gathered(const est_bracket *br, uint32_t p0,
                                                                uint32_t p1, uint32_t out[2])
{
    const __m512i vp0 = _mm512_set1_epi32((int)p0), vp1 = _mm512_set1_epi32((int)p1);
    __m512i vmax = _mm512_setzero_si512(), vmin = _mm512_set1_epi32(-1);
    size_t i = 0;
    for (; i + 16 <= br->m; i += 16) {
        __m512i key = _mm512_loadu_si512((const void *)(br->g + i));
        __m512i b = _mm512_srli_epi32(key, EST_TOP_SHIFT);
        vmax = _mm512_mask_max_epu32(vmax, _mm512_cmpeq_epi32_mask(b, vp0), vmax, key);
        vmin = _mm512_mask_min_epu32(vmin, _mm512_cmpeq_epi32_mask(b, vp1), vmin, key);
    }
    uint32_t kmax = _mm512_reduce_max_epu32(vmax), kmin = _mm512_reduce_min_epu32(vmin);
    for (; i < br->m; i++) {
        uint32_t key = br->g[i], b = key >> EST_TOP_SHIFT;
        kmax = b == p0 && key > kmax ? key : kmax;
        kmin = b == p1 && key < kmin ? key : kmin;
    }
    out[0] = kmax;
    out[1] = kmin;
}

/* g may be br->g: keys only move towards the front. */
__attribute__((target("avx512f,popcnt"))) static size_t filter_gathered(const est_bracket *br,
                                                                        uint32_t b, uint32_t *g)
{
    const __m512i vb = _mm512_set1_epi32((int)b);
    size_t w = 0, i = 0;
    for (; i + 16 <= br->m; i += 16) {
        __m512i key = _mm512_loadu_si512((const void *)(br->g + i));
        __mmask16 hit = _mm512_cmpeq_epi32_mask(_mm512_srli_epi32(key, EST_TOP_SHIFT), vb);
        _mm512_mask_compressstoreu_epi32((void *)(g + w), hit, key);
        w += (size_t)__builtin_popcount(hit);
    }
    for (; i < br->m; i++) {
        g[w] = br->g[i];
        w += br->g[i] >> EST_TOP_SHIFT == b;
    }
    return w;
}
#else
/* without AVX-512 there is no bracket: never called */
static void max_min_gathered(const est_bracket *br, uint32_t p0, uint32_t p1, uint32_t out[2])
{
    (void)br, (void)p0, (void)p1;
    out[0] = out[1] = 0;
}

static size_t filter_gathered(const est_bracket *br, uint32_t b, uint32_t *g)
{
    (void)br, (void)b, (void)g;
    return 0;
}
#endif

int est_median_radix(const float *x, size_t n, const size_t *hist, size_t n_neg_nonfinite,
                     size_t n_used, uint32_t *g, const est_bracket *br, double *median)
{
    size_t r0 = n_neg_nonfinite + (n_used - 1) / 2;
    size_t r1 = n_neg_nonfinite + n_used / 2;
    size_t before0, before1;
    size_t b0 = bucket_of_rank(hist, EST_TOP_BUCKETS, r0, &before0);
    size_t b1 = bucket_of_rank(hist, EST_TOP_BUCKETS, r1, &before1);
    uint32_t k[2];
    if (!est_bracket_exact(br, b0) || !est_bracket_exact(br, b1))
        return -1; /* a middle rank in a bucket pass 1 did not count */
    if (b0 != b1 && in_bracket(br, b0) && in_bracket(br, b1)) {
        max_min_gathered(br, (uint32_t)b0, (uint32_t)b1, k);
    } else if (b0 != b1) {
        max_min(x, n, EST_TOP_SHIFT, (uint32_t)b0, (uint32_t)b1, k);
    } else if (br && br->rep && r0 >= br->lt && r1 < br->lt + br->eq) {
        k[0] = k[1] = br->v; /* one key fills the middle ranks, counted in pass 1 */
    } else if (hist[b0] > n / 4 && hist[b0] > REPEATED &&
               repeated_key(x, n, (uint32_t)b0, r0, r1, k)) {
        /* k set */
    } else if (hist[b0] > CROWDED && hist[b0] > n / 8) {
        /* most values share the bucket: histogram the next 11 bits on the
         * fly rather than copying most of the block */
        size_t h2[2048] = {0}, bf0, bf1, r = r0 - before0;
        for (size_t i = 0; i < n; i++) {
            uint32_t key = est_key(est_f32_bits(x[i]));
            if ((key >> EST_TOP_SHIFT) == b0)
                h2[(key >> 10) & 0x7ff]++;
        }
        uint32_t d0 = (uint32_t)bucket_of_rank(h2, 2048, r, &bf0);
        uint32_t d1 = r1 != r0 ? (uint32_t)bucket_of_rank(h2, 2048, r + 1, &bf1) : d0;
        uint32_t p0 = ((uint32_t)b0 << 11) | d0, p1 = ((uint32_t)b0 << 11) | d1;
        if (d0 != d1) {
            max_min(x, n, 10, p0, p1, k);
        } else {
            size_t m = gather_bucket(x, n, 10, p0, g);
            narrow_keys(g, m, r - bf0, r1 != r0, 1, k);
        }
    } else {
        size_t m = in_bracket(br, b0) ? filter_gathered(br, (uint32_t)b0, g)
                                      : gather_bucket(x, n, EST_TOP_SHIFT, (uint32_t)b0, g);
        narrow_keys(g, m, r0 - before0, r1 != r0, 0, k);
    }
    double v = ((double)est_key_to_f32(k[0]) + (double)est_key_to_f32(k[1])) * 0.5;
    *median = v + 0.0; /* -0 becomes +0 */
    return 0;
}
