/*
 * pass1.c - pass 1 over a block: the histogram of the top 11 bits of every
 * order key (four interleaved uint32 sub-histograms), and the sampled
 * bracket: a strided sample picks the buckets around the median (and the
 * tails Hill needs), whose keys pass 1 gathers as it counts, so select.c
 * never reads the block again for them. AVX-512 paths are picked at run
 * time; the counts are the same on every path.
 */
#include "est_internal.h"
/* The end of EST_HIST_CHUNK keys of pass 1: the interleaved uint32 copies
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
    for (size_t base = 0; base < n; base += EST_HIST_CHUNK) {
        size_t end = n - base > EST_HIST_CHUNK ? base + EST_HIST_CHUNK : n;
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

#ifdef EST_AVX512_PATHS
#include <immintrin.h>
#define BRACKET_CHUNK 512 /* bucket numbers buffered per round of increments */
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
    for (size_t base = 0; base < n; base += EST_HIST_CHUNK) {
        size_t end = n - base > EST_HIST_CHUNK ? base + EST_HIST_CHUNK : n;
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
#ifdef EST_AVX512_PATHS
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
#ifdef EST_AVX512_PATHS
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
#ifdef EST_AVX512_PATHS
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
