/*
 * sample.c - stratified subsampling for htga_send().
 *
 * DESIGN: the client must send a bounded, unbiased sample of a gradient whose
 * size may be 100M values, in about the time of copying the sample. Stratum
 * bounds are walked incrementally (no division per value), the offset in a
 * stratum comes from a 64x64->128 multiply of a xoshiro256** draw (bias below
 * 2^-64 * stratum size), and indices are computed a batch ahead and
 * prefetched, because with a large n every value taken is a cache miss and
 * the loop is bound by memory latency, not arithmetic.
 */
#include "sample.h"

#include <string.h>

__extension__ typedef unsigned __int128 u128;

#define BATCH 64

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void smp_seed(smp_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t smp_next(smp_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

size_t smp_draw(const float *x, size_t n, size_t m, smp_rng *rng, float *out)
{
    size_t base, rem, acc = 0, start = 0;
    size_t idx[BATCH];

    if (m == 0 || n <= m) {
        memcpy(out, x, n * sizeof *x);
        return n;
    }
    base = n / m;
    rem = n % m;
    /* stratum i starts at i*base + floor(i*rem/m); acc tracks i*rem mod m */
    for (size_t i = 0; i < m; i += BATCH) {
        size_t b = m - i < BATCH ? m - i : BATCH;
        for (size_t j = 0; j < b; j++) {
            size_t size = base;
            acc += rem;
            if (acc >= m) {
                acc -= m;
                size++;
            }
            idx[j] = start + (size_t)(((u128)smp_next(rng) * size) >> 64);
            __builtin_prefetch(x + idx[j]);
            start += size;
        }
        for (size_t j = 0; j < b; j++)
            out[i + j] = x[idx[j]];
    }
    return m;
}
