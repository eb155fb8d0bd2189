/*
 * est_internal.h - helpers shared by the estimator sources; not API.
 *
 * DESIGN: the hot paths work on integer views of the float bits. A float's
 * order key (est_key) is an unsigned integer whose unsigned order is the
 * float order (negatives flipped, positives with the sign bit set), so a
 * radix select can histogram its high bits. Non-finite values have keys at
 * the two ends of the key range and land in buckets of their own.
 * Logarithm sums avoid one libm log per value: an exactly summed integer
 * exponent plus a running product of mantissas in [1, 2), renormalized
 * every EST_LOGSUM_CHUNK values (see logsum.c).
 */
#ifndef HTGA_EST_INTERNAL_H
#define HTGA_EST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "est.h"
#include "mix.h"

/* Radix digits: the top level histograms key >> EST_TOP_SHIFT. */
/* Builds with AVX-512 paths, picked at run time (GCC on x86-64). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(EST_NO_CLONES)
#define EST_AVX512_PATHS 1
#endif

#define EST_HIST_CHUNK ((size_t)1 << 30) /* uint32 sub-histograms never overflow */

#define EST_TOP_SHIFT   21
#define EST_TOP_BUCKETS (1u << (32 - EST_TOP_SHIFT)) /* 2048 */
/* y >= 0 has a zero sign bit, so its level uses one more mantissa bit. */
#define EST_Y_SHIFT     20
#define EST_Y_BUCKETS   (1u << (31 - EST_Y_SHIFT)) /* 2048 */
#define EST_HIST_COPIES 4 /* interleaved sub-histograms: no store-to-load stalls */

/* GCC/Clang vector extensions: portable SIMD, split into 16-byte ops on
 * baseline x86-64 and native 32-byte ops in the AVX2 clones. */
typedef double est_v4d __attribute__((vector_size(32)));
typedef int64_t est_v4i __attribute__((vector_size(32)));
typedef uint64_t est_v4u __attribute__((vector_size(32)));
typedef float est_v4f __attribute__((vector_size(16)));
typedef uint32_t est_v8u __attribute__((vector_size(32)));
typedef int32_t est_v8i __attribute__((vector_size(32)));
/* Eight doubles: two AVX2 operations, one AVX-512 operation. */
typedef double est_v8d __attribute__((vector_size(64)));
typedef int64_t est_v8l __attribute__((vector_size(64)));
typedef uint64_t est_v8q __attribute__((vector_size(64)));
typedef float est_v8f __attribute__((vector_size(32)));

/* Hot loops get an AVX2 clone picked at load time where the CPU has it. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(EST_NO_CLONES)
#define EST_HOT __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define EST_HOT
#endif

/* |p[i] - med| for the eight floats at p (any alignment), in double, as
 * two vectors of four: the test against a threshold in the tail passes. */
static inline __attribute__((always_inline)) void est_absdev8(const float *p, est_v4d vmed,
                                                              est_v4d *y0, est_v4d *y1)
{
    const est_v4u abs_mask = {0x7fffffffffffffffull, 0x7fffffffffffffffull, 0x7fffffffffffffffull,
                              0x7fffffffffffffffull};
    est_v4f f0, f1;
    memcpy(&f0, p, sizeof f0);
    memcpy(&f1, p + 4, sizeof f1);
    *y0 = (est_v4d)((est_v4u)(__builtin_convertvector(f0, est_v4d) - vmed) & abs_mask);
    *y1 = (est_v4d)((est_v4u)(__builtin_convertvector(f1, est_v4d) - vmed) & abs_mask);
}

/* Whether any lane of a comparison's result is set: halves folded with
 * vector ORs, one lane read (reading all eight costs more than the test). */
static inline __attribute__((always_inline)) int est_any8(est_v8l m)
{
    typedef int64_t v4l __attribute__((vector_size(32)));
    typedef int64_t v2l __attribute__((vector_size(16)));
    v4l a = __builtin_shufflevector(m, m, 0, 1, 2, 3) | __builtin_shufflevector(m, m, 4, 5, 6, 7);
    v2l b = __builtin_shufflevector(a, a, 0, 1) | __builtin_shufflevector(a, a, 2, 3);
    return (b[0] | b[1]) != 0;
}

/* Products of at most this many mantissas in [1, 2) stay below 2^512. */
#define EST_LOGSUM_CHUNK 512

/* A sum of logarithms of positive normal doubles (and of zeros, which add
 * nothing) without a libm log per value: e sums the biased exponents as
 * integers, exactly, and eight lane products collect the mantissas in
 * [1, 2). After at most EST_LOGSUM_CHUNK / 8 values per lane a product is
 * renormalized: its exponent moves into e and it is back in [1, 2); no log
 * is taken until est_logacc_log(). Each product step rounds once (2^-53
 * relative): about 1e-16 absolute per value. */
typedef struct est_logacc {
    int64_t e; /* biased exponents of the values, plus the renormalized ones */
    est_v8d p; /* mantissa products */
} est_logacc;

static inline void est_logacc_init(est_logacc *a)
{
    const est_v8d one = {1, 1, 1, 1, 1, 1, 1, 1};
    a->e = 0;
    a->p = one;
}

/* Moves the exponents of the lane products into e. */
static inline void est_logacc_norm(est_logacc *a)
{
    const est_v8q mant_mask = (est_v8q){0} + 0x000fffffffffffffull;
    const est_v8q one = (est_v8q){0} + 0x3ff0000000000000ull;
    est_v8q u = (est_v8q)a->p;
    est_v8l ex = (est_v8l)(u >> 52) - 1023;
    a->e += ((ex[0] + ex[1]) + (ex[2] + ex[3])) + ((ex[4] + ex[5]) + (ex[6] + ex[7]));
    a->p = (est_v8d)((u & mant_mask) | one);
}

/* The sum of the logs of the nz non-zero values added to a. */
double est_logacc_log(const est_logacc *a, size_t nz);

/* The bit casts are mix.h's (one copy for every side). */
#define est_f32_bits htga_f32_bits
#define est_bits_f32 htga_bits_f32
#define est_f64_bits htga_f64_bits
#define est_bits_f64 htga_bits_f64

/* Order key of float bits: unsigned key order == float order. */
static inline uint32_t est_key(uint32_t u)
{
    uint32_t mask = (0u - (u >> 31)) | 0x80000000u;
    return u ^ mask;
}

static inline float est_key_to_f32(uint32_t k)
{
    uint32_t mask = ((k >> 31) - 1u) | 0x80000000u;
    return est_bits_f32(k ^ mask);
}

static inline int est_bits_finite(uint32_t u)
{
    return (u & 0x7f800000u) != 0x7f800000u;
}

/* Sum of log(v[i] / ref), v[i] >= ref > 0: exact 0 when all equal. */
double est_logsum_ratio_f64(const double *v, size_t n, double ref);

/* Selection and sorting of doubles (sort.c); pass 1 and its bracket
 * (pass1.c); the median by radix select (select.c). */
void est_sort_desc_f64(double *v, size_t n);
/* Partial order: afterwards v[pos] is the value a descending sort puts there,
 * v[0..pos) >= v[pos] >= v[pos+1..n). */
void est_nth_desc_f64(double *v, size_t n, size_t pos);

/*
 * A bracket of top-level buckets [lo, hi] around a sample's median whose
 * keys the histogram pass also gathers, in block order, into g (m of
 * them), so that the median's bucket need not be read from the block
 * again. lo > hi: no bracket. g: room for n + 16 keys.
 */
typedef struct est_bracket {
    uint32_t lo, hi;
    uint32_t *g;
    size_t m;
    /* rep: instead of a bracket, one key v fills a quarter of the sample
     * (exact zeros, say); pass 1 counts the keys below it (lt) and equal
     * to it (eq), so a median that is v needs no further pass */
    int rep;
    uint32_t v;
    size_t lt, eq;
    /* tails: with a bracket, pass 1 counts one by one only the buckets
     * below tl, above th and in the bracket; each middle side's count goes
     * whole into its first bucket (tl, th), so counts below and above the
     * bracket stay exact but the middle buckets' own do not */
    int tails;
    uint32_t tl, th;
} est_bracket;

/* Sets *br from a strided sample of x: the buckets between the sample's
 * ranks s/2 -+ about 3 standard errors of its median, or no bracket (small
 * blocks, no AVX-512, or a bracket the sample says holds a quarter of the
 * block or more: values crowding one bucket; when one key is a quarter of
 * the sample, rep and v are set instead). t: how many of the largest
 * |x - median| the caller will want; with a bracket, tails holding about
 * twice that are set when the sample allows. */
void est_bracket_guess(const float *x, size_t n, uint32_t *g, size_t t, est_bracket *br);
/* Whether pass 1 counted bucket b exactly (always, without tails). */
int est_bracket_exact(const est_bracket *br, size_t b);
/* Whether this build on this CPU brackets at all (AVX-512). */
int est_bracket_supported(void);

/* Keys at ranks r and r+1 (ascending) among the finite values, given the
 * top-level histogram hist (EST_TOP_BUCKETS counts over all n keys).
 * g: scratch for up to n keys. br: a bracket gathered by est_pass_keys
 * (or NULL): where it holds the middle ranks' buckets, the block is not
 * read again. Writes the two values (equal when odd) and returns 0, or
 * returns -1 when a middle rank lies in a bucket br's tails left uncounted
 * (the caller recounts without br). */
int est_median_radix(const float *x, size_t n, const size_t *hist, size_t n_neg_nonfinite,
                     size_t n_used, uint32_t *g, const est_bracket *br, double *median);

/* Top-level histogram of the order keys of x into hist (EST_TOP_BUCKETS),
 * and, when br holds a bracket, the gather of its keys into br->g.
 * sub: EST_HIST_COPIES * EST_TOP_BUCKETS uint32. */
void est_pass_keys(const float *x, size_t n, size_t *hist, uint32_t *sub, est_bracket *br);

/* Moments from the mean (moments.c): fills variance and kurtosis. sums are
 * sum c, c^2, c^3, c^4 over the finite values, c = x - mean. */
void est_moments_centered(const float *x, size_t n, size_t n_used, double mean, est_result *out);
/* mean, variance and kurtosis from sums of d, d^2, d^3, d^4 over the
 * finite values, d = x - k for a shift k within a standard deviation of
 * the mean (the median is: |mean - median| <= sd). */
void est_moments_shifted(const double sums[4], size_t n_used, double k, est_result *out);

/* Hill helpers (hill.c): gamma from the k largest (any order) and the
 * (k+1)-th largest thr > 0; filling a result from gamma. */
double est_hill_gamma(const double *top, size_t k, double thr);
void est_hill_fill(double gamma, size_t k, est_hill *out);

/* 1 when rule is NULL or well formed (krule.c). */
int est_k_rule_valid(const est_k_rule *rule);

/* floor(sqrt(v)), exact (stable.c). */
size_t est_isqrt(size_t v);

/* Sets the stable alpha from inv = 1/alpha_hat (stable.c): alpha-stable laws
 * have alpha in (0, 2], so inv <= 1/2 (light tails) saturates at 2. */
void est_stable_set(double inv, est_result *out);

/* Stable estimator given n_used (stable.c). */
void est_stable_core(const float *x, size_t n, size_t n_used, double centre, est_result *out);

#endif /* HTGA_EST_INTERNAL_H */
