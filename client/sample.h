/*
 * sample.h - libhtga internals: the random generator and the stratified
 * subsampler behind htga_send(). Not API (not exported, not installed).
 */
#ifndef HTGA_SAMPLE_H
#define HTGA_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

/* xoshiro256** state; seed with smp_seed(). */
typedef struct smp_rng {
    uint64_t s[4];
} smp_rng;

/* Seeds the generator from one 64-bit value (through splitmix64). */
void smp_seed(smp_rng *rng, uint64_t seed);

/* The next 64 uniformly distributed bits. */
uint64_t smp_next(smp_rng *rng);

/*
 * Writes min(n, m) values of x[0..n-1] to out (m == 0 means n). When n > m,
 * out[i] is drawn uniformly from the stratum [floor(i*n/m), floor((i+1)*n/m))
 * of x, so every value has inclusion probability m/n, order is kept and no
 * value is taken twice. Returns the number of values written. Pure apart
 * from advancing rng; cost O(min(n, m)).
 */
size_t smp_draw(const float *x, size_t n, size_t m, smp_rng *rng, float *out);

#endif /* HTGA_SAMPLE_H */
