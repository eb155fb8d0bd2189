/*
 * select.c - radix select on float keys, selection and sorting of doubles.
 *
 * DESIGN: the median is found without sorting. One pass histograms the top
 * 11 bits of every order key (sign, exponent,
 * two mantissa bits) into four interleaved sub-histograms; the bucket that
 * holds the middle rank is then the only data touched again: its keys are
 * gathered and narrowed in place on the next 11 and the last 10 bits. Data
 * centred near zero spreads over many exponents, so that bucket is tiny;
 * offset data with a small spread falls in one bucket: then the next 11
 * bits are histogrammed in a pass over the block and only that sub-bucket
 * is copied. Never a sort. When the two middle
 * ranks of an even count sit in different buckets, they are the largest key
 * of the lower bucket and the smallest of the upper one.
 * Doubles (the Hill candidates) are selected with a three-way quickselect
 * and sorted with an introsort; both fall back to heapsort after too many
 * rounds, so the worst case stays O(n log n). No allocation anywhere.
 */
#include "est_internal.h"

#define HIST_CHUNK ((size_t)1 << 30) /* uint32 sub-histograms never overflow */
#define SMALL      24
#define CROWDED    65536 /* a bucket this full is histogrammed, not copied */
#define REPEATED   4096  /* a bucket this full is first tested for one repeated key */

/* The end of HIST_CHUNK keys of pass 1: the interleaved uint32 copies
 * sub[0..EST_HIST_COPIES) added into hist, and cleared for the next. */
EST_HOT static void flush_sub(size_t *hist, uint32_t *sub)
{
    const size_t B = EST_TOP_BUCKETS;
    for (size_t b = 0; b < B; b++)
        hist[b] += (size_t)sub[b] + sub[B + b] + sub[2 * B + b] + sub[3 * B + b];
    memset(sub, 0, EST_HIST_COPIES * B * sizeof *sub);
}

EST_HOT static void pass_keys(const float *x, size_t n, size_t *hist, uint32_t *sub)
{
    const size_t B = EST_TOP_BUCKETS;
    const est_v8u sign = {0x80000000u, 0x80000000u, 0x80000000u, 0x80000000u,
                          0x80000000u, 0x80000000u, 0x80000000u, 0x80000000u};
    memset(hist, 0, B * sizeof *hist);
    memset(sub, 0, EST_HIST_COPIES * B * sizeof *sub);
    for (size_t base = 0; base < n; base += HIST_CHUNK) {
        size_t end = n - base > HIST_CHUNK ? base + HIST_CHUNK : n;
        uint32_t *h0 = sub, *h1 = sub + B, *h2 = sub + 2 * B, *h3 = sub + 3 * B;
        size_t i = base;
        /* eight keys per step; the counts stay scalar (no conflict-free
         * vector scatter on x86 before AVX-512) */
        for (; i + 8 <= end; i += 8) {
            est_v8u u;
            memcpy(&u, x + i, sizeof u);
            est_v8u b = (u ^ ((0u - (u >> 31)) | sign)) >> EST_TOP_SHIFT;
            h0[b[0]]++;
            h1[b[1]]++;
            h2[b[2]]++;
            h3[b[3]]++;
            h0[b[4]]++;
            h1[b[5]]++;
            h2[b[6]]++;
            h3[b[7]]++;
        }
        for (; i < end; i++)
            h0[est_key(est_f32_bits(x[i])) >> EST_TOP_SHIFT]++;
        flush_sub(hist, sub);
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(EST_NO_CLONES)
#include <immintrin.h>
#define EST_BRACKET512 1
#define BRACKET_CHUNK  512 /* bucket numbers buffered per round of increments */
/* pass_keys sixteen keys a step, and either (gather) the keys of buckets
 * [br->lo, br->hi] compressed into br->g: a compare, a compress and a
 * store of sixteen lanes (br->g has room for the lanes past m), no branch;
 * or (rep) the keys below and equal to br->v counted. The counts are the
 * same as pass_keys'. */
static inline __attribute__((always_inline, target("avx512f,avx512bw,popcnt"))) void
pass_keys512(const float *x, size_t n, size_t *hist, uint32_t *sub, est_bracket *br, int gather)
{
    const size_t B = EST_TOP_BUCKETS;
    /* without tails every bucket is below tl: every lane counted */
    const uint32_t tl = br->tails ? br->tl : EST_TOP_BUCKETS, th = br->tails ? br->th : tl - 1;
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u), vlo = _mm512_set1_epi32((int)br->lo),
                  vw = _mm512_set1_epi32((int)(br->hi - br->lo)),
                  vv = _mm512_set1_epi32((int)br->v), vtl = _mm512_set1_epi32((int)tl),
                  vth = _mm512_set1_epi32((int)th);
    uint32_t *g = br->g;
    size_t m = 0, lt = 0, eq = 0, below = 0;
    memset(hist, 0, B * sizeof *hist);
    memset(sub, 0, EST_HIST_COPIES * B * sizeof *sub);
    for (size_t base = 0; base < n; base += HIST_CHUNK) {
        size_t end = n - base > HIST_CHUNK ? base + HIST_CHUNK : n;
        uint32_t *h0 = sub, *h1 = sub + B, *h2 = sub + 2 * B, *h3 = sub + 3 * B;
        size_t i = base;
        /* bucket numbers a chunk at a time through a small buffer, then the
         * scalar increments read them back: cheaper than extracting each
         * lane (two uops on the one shuffle port), and the buffer is
         * written a chunk ahead, so no load waits on a wide store. In rep
         * mode the keys equal to v are counted by the compare and left out
         * of the buffer: a block of mostly exact zeros would otherwise
         * chain most increments through the same four counters */
        uint16_t bb[BRACKET_CHUNK] __attribute__((aligned(64)));
        while (i + 16 <= end) {
            size_t len = end - i >= BRACKET_CHUNK ? BRACKET_CHUNK : (end - i) & ~(size_t)15, nb = 0;
            for (size_t j = 0; j < len; j += 16) {
                __m512i u = _mm512_loadu_si512((const void *)(x + i + j));
                __m512i key = _mm512_xor_si512(u, _mm512_or_si512(_mm512_srai_epi32(u, 31), sign));
                __m512i vb = _mm512_srli_epi32(key, EST_TOP_SHIFT);
                if (gather) {
                    __mmask16 in = _mm512_cmple_epu32_mask(_mm512_sub_epi32(vb, vlo), vw);
                    _mm512_storeu_si512((void *)(g + m), _mm512_maskz_compress_epi32(in, key));
                    m += (size_t)__builtin_popcount(in);
                    /* counted one by one: the bracket and the tails */
                    __mmask16 sc =
                        in | _mm512_cmplt_epu32_mask(vb, vtl) | _mm512_cmpgt_epu32_mask(vb, vth);
                    below += (size_t)__builtin_popcount(_mm512_cmplt_epu32_mask(vb, vlo));
                    _mm256_storeu_si256((__m256i *)(void *)(bb + nb),
                                        _mm512_cvtepi32_epi16(_mm512_maskz_compress_epi32(sc, vb)));
                    nb += (size_t)__builtin_popcount(sc);
                } else {
                    __mmask16 ne = _mm512_cmpneq_epu32_mask(key, vv);
                    lt += (size_t)__builtin_popcount(_mm512_cmplt_epu32_mask(key, vv));
                    eq += 16 - (size_t)__builtin_popcount(ne);
                    _mm256_storeu_si256((__m256i *)(void *)(bb + nb),
                                        _mm512_cvtepi32_epi16(_mm512_maskz_compress_epi32(ne, vb)));
                    nb += (size_t)__builtin_popcount(ne);
                }
            }
            size_t j = 0;
            for (; j + 4 <= nb; j += 4) {
                h0[bb[j]]++;
                h1[bb[j + 1]]++;
                h2[bb[j + 2]]++;
                h3[bb[j + 3]]++;
            }
            for (; j < nb; j++)
                h0[bb[j]]++;
            i += len;
        }
        for (; i < end; i++) {
            uint32_t key = est_key(est_f32_bits(x[i]));
            if (gather) {
                uint32_t b = key >> EST_TOP_SHIFT;
                int in = b - br->lo <= br->hi - br->lo;
                h0[b] += in || b < tl || b > th;
                below += b < br->lo;
                g[m] = key;
                m += (size_t)in;
            } else {
                lt += key < br->v;
                eq += key == br->v;
                h0[key >> EST_TOP_SHIFT] += key != br->v;
            }
        }
        flush_sub(hist, sub);
    }
    if (!gather)
        hist[br->v >> EST_TOP_SHIFT] += eq;
    if (gather && br->tails) {
        /* the middle buckets were not counted one by one: each side's
         * count goes whole into its first bucket, so that counts below the
         * bracket and above it stay exact (est_bracket_exact says which
         * buckets are) */
        size_t lo_known = 0, hi_known = 0;
        for (uint32_t b = 0; b < tl && b < br->lo; b++)
            lo_known += hist[b];
        for (uint32_t b = EST_TOP_BUCKETS - 1; b > th && b > br->hi; b--)
            hi_known += hist[b];
        if (tl < br->lo)
            hist[tl] += below - lo_known;
        if (th > br->hi)
            hist[th] += n - below - m - hi_known;
    }
    br->m = m;
    br->lt = lt;
    br->eq = eq;
}

__attribute__((target("avx512f,avx512bw,popcnt"))) static void
pass_keys_bracket512(const float *x, size_t n, size_t *hist, uint32_t *sub, est_bracket *br)
{
    pass_keys512(x, n, hist, sub, br, 1);
}

__attribute__((target("avx512f,avx512bw,popcnt"))) static void
pass_keys_rep512(const float *x, size_t n, size_t *hist, uint32_t *sub, est_bracket *br)
{
    pass_keys512(x, n, hist, sub, br, 0);
}
#endif

void est_pass_keys(const float *x, size_t n, size_t *hist, uint32_t *sub, est_bracket *br)
{
#ifdef EST_BRACKET512
    if (br && br->lo <= br->hi) {
        pass_keys_bracket512(x, n, hist, sub, br);
        return;
    }
    if (br && br->rep) {
        pass_keys_rep512(x, n, hist, sub, br);
        return;
    }
#endif
    if (br)
        br->lo = 1, br->hi = 0, br->m = 0, br->rep = 0, br->tails = 0;
    pass_keys(x, n, hist, sub);
}

enum {
    BRACKET_MIN_N = 16384, /* below, the block is read again: no sample */
    BRACKET_SAMPLE = 512,
    BRACKET_HALF = 36, /* sample ranks either side of its median: 3.2 of its SEs */
};

int est_bracket_exact(const est_bracket *br, size_t b)
{
    if (!br || !br->tails)
        return 1;
    return b < br->tl || b > br->th || (br->lo <= b && b <= br->hi);
}

int est_bracket_supported(void)
{
#ifdef EST_BRACKET512
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("popcnt");
#else
    return 0;
#endif
}

void est_bracket_guess(const float *x, size_t n, uint32_t *g, size_t t, est_bracket *br)
{
    br->tails = 0;
    br->tl = br->th = 0;
    br->lo = 1;
    br->hi = 0;
    br->g = g;
    br->m = 0;
    br->rep = 0;
    br->v = 0;
    br->lt = br->eq = 0;
#ifdef EST_BRACKET512
    if (n < BRACKET_MIN_N || !est_bracket_supported())
        return;
    /* the buckets of BRACKET_SAMPLE values spread over the block, counted;
     * the scan for its ranks runs over the buckets it fills only */
    uint16_t h[EST_TOP_BUCKETS];
    uint32_t sk[BRACKET_SAMPLE], bmin = EST_TOP_BUCKETS - 1, bmax = 0;
    memset(h, 0, sizeof h);
    size_t step = n / BRACKET_SAMPLE;
    for (size_t j = 0; j < BRACKET_SAMPLE; j++) {
        sk[j] = est_key(est_f32_bits(x[j * step + step / 2]));
        uint32_t c = sk[j] >> EST_TOP_SHIFT;
        h[c]++;
        bmin = c < bmin ? c : bmin;
        bmax = c > bmax ? c : bmax;
    }
    /* tails holding at least twice the t largest |x - median| of either
     * end and 3% of the block more (5% at least): the sample's buckets at
     * those ranks; the Hill threshold needs only their exact counts */
    size_t q = (size_t)((2.0 * (double)t / (double)n + 0.03) * BRACKET_SAMPLE) + 1;
    q = q < BRACKET_SAMPLE / 20 ? BRACKET_SAMPLE / 20 : q;
    int tails = q + 8 < BRACKET_SAMPLE / 2 - BRACKET_HALF;
    q = tails ? q : BRACKET_SAMPLE / 2 - BRACKET_HALF;
    /* the buckets of the sample's ranks q, s/2 -+ BRACKET_HALF, s/2, s-1-q */
    const size_t rk[5] = {q, BRACKET_SAMPLE / 2 - BRACKET_HALF, BRACKET_SAMPLE / 2,
                          BRACKET_SAMPLE / 2 + BRACKET_HALF, BRACKET_SAMPLE - 1 - q};
    uint32_t at[5] = {0};
    size_t cum = 0, i = 0;
    for (uint32_t c = bmin; c <= bmax && i < 5; c++) {
        cum += h[c];
        while (i < 5 && rk[i] < cum)
            at[i++] = c;
    }
    uint32_t lo = at[1], hi = at[3];
    /* the sample in [lo, hi]: a quarter of it or more means one bucket
     * holds much of the block, which the median handles by counting or
     * histogramming, not by copying */
    size_t in = 0;
    for (uint32_t c = lo; c <= hi; c++)
        in += h[c];
    if (in * 4 >= BRACKET_SAMPLE) {
        /* one key a quarter of the sample (exact zeros): pass 1 counts it;
         * the first sampled key of the bucket the sample's median is in */
        uint32_t v = 0;
        size_t same = 0, found = 0;
        for (size_t j = 0; j < BRACKET_SAMPLE; j++) {
            if (!found && sk[j] >> EST_TOP_SHIFT == at[2])
                v = sk[j], found = 1;
            same += found && sk[j] == v;
        }
        if (same * 4 >= BRACKET_SAMPLE) {
            br->rep = 1;
            br->v = v;
        }
        return;
    }
    br->lo = lo;
    br->hi = hi;
    /* the non-finite buckets must stay exact */
    if (!tails || at[0] < 4 || at[4] > EST_TOP_BUCKETS - 5)
        return;
    br->tails = 1;
    br->tl = at[0];
    br->th = at[4];
#else
    (void)x;
    (void)n;
    (void)t;
#endif
}

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
    for (size_t base = 0; base < m; base += HIST_CHUNK) { /* uint32 counts never overflow */
        size_t i = base, end = m - base > HIST_CHUNK ? base + HIST_CHUNK : m;
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

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(EST_NO_CLONES)
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
#ifdef EST_BRACKET512
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

/* ---- doubles, descending ---- */

static void swap_d(double *a, double *b)
{
    double t = *a;
    *a = *b;
    *b = t;
}

static void insertion_sort_desc(double *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        double t = v[i];
        size_t j = i;
        for (; j > 0 && v[j - 1] < t; j--)
            v[j] = v[j - 1];
        v[j] = t;
    }
}

static void sift_down_min(double *v, size_t start, size_t n)
{
    size_t root = start;
    for (;;) {
        size_t c = 2 * root + 1;
        if (c >= n)
            return;
        if (c + 1 < n && v[c + 1] < v[c])
            c++;
        if (v[root] <= v[c])
            return;
        swap_d(&v[root], &v[c]);
        root = c;
    }
}

/* Descending heapsort: a min-heap whose minimum goes to the end. */
static void heapsort_desc(double *v, size_t n)
{
    if (n < 2)
        return;
    for (size_t s = n / 2; s-- > 0;)
        sift_down_min(v, s, n);
    for (size_t end = n - 1; end > 0; end--) {
        swap_d(&v[0], &v[end]);
        sift_down_min(v, 0, end);
    }
}

static double median3(double a, double b, double c)
{
    if (a < b) {
        if (b < c)
            return b;
        return a < c ? c : a;
    }
    if (a < c)
        return a;
    return b < c ? c : b;
}

/* Three-way partition for descending order around p:
 * [0, *lt) > p, [*lt, *gt) == p, [*gt, n) < p. */
static void partition3(double *v, size_t n, double p, size_t *lt, size_t *gt)
{
    size_t a = 0, i = 0, b = n;
    while (i < b) {
        if (v[i] > p)
            swap_d(&v[a++], &v[i++]);
        else if (v[i] < p)
            swap_d(&v[i], &v[--b]);
        else
            i++;
    }
    *lt = a;
    *gt = b;
}

static size_t depth_limit(size_t n)
{
    size_t d = 0;
    while (n > 1) {
        n >>= 1;
        d += 2;
    }
    return d + 8;
}

static void introsort_desc(double *v, size_t n, size_t depth)
{
    while (n > SMALL) {
        if (depth-- == 0) {
            heapsort_desc(v, n);
            return;
        }
        double p = median3(v[0], v[n / 2], v[n - 1]);
        size_t lt, gt;
        partition3(v, n, p, &lt, &gt);
        if (lt < n - gt) {
            introsort_desc(v, lt, depth);
            v += gt;
            n -= gt;
        } else {
            introsort_desc(v + gt, n - gt, depth);
            n = lt;
        }
    }
    insertion_sort_desc(v, n);
}

void est_sort_desc_f64(double *v, size_t n)
{
    introsort_desc(v, n, depth_limit(n));
}

/* Moves the values of v[0..n) for which (v > p), or (v == p) when eq, to
 * the front; returns how many. Branch-free (Lomuto with an unconditional
 * swap): on the Hill candidates, which fall either side of p at random, a
 * branch per value mispredicts half the time. */
static size_t partition_front(double *v, size_t n, double p, int eq)
{
    size_t store = 0;
    for (size_t i = 0; i < n; i++) {
        double x = v[i];
        v[i] = v[store];
        v[store] = x;
        store += eq ? x == p : x > p;
    }
    return store;
}

void est_nth_desc_f64(double *v, size_t n, size_t pos)
{
    if (pos >= n)
        return;
    size_t depth = depth_limit(n);
    while (n > SMALL) {
        if (depth-- == 0) {
            heapsort_desc(v, n);
            return;
        }
        double p = median3(v[0], v[n / 2], v[n - 1]);
        size_t lt = partition_front(v, n, p, 0), gt = lt;
        if (pos >= lt) /* [lt, gt): the values equal to p */
            gt = lt + partition_front(v + lt, n - lt, p, 1);
        if (pos < lt) {
            n = lt;
        } else if (pos < gt) {
            return;
        } else {
            v += gt;
            n -= gt;
            pos -= gt;
        }
    }
    insertion_sort_desc(v, n);
}
