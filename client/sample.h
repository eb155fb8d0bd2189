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
 * of x, so every value has inclusion probability 1/S, S its stratum's size
 * (floor(n/m) or ceil(n/m), so about m/n), order is kept and no value is
 * taken twice. Returns the number of values written. Pure apart
 * from advancing rng; cost O(min(n, m)).
 */
size_t smp_draw(const float *x, size_t n, size_t m, smp_rng *rng, float *out);

/*
 * Like smp_draw(), but takes runs of len consecutive values (cluster
 * sampling), so it reads about as many cache lines as it writes values
 * instead of every line of x. When n > m, with q = ceil(m / len) strata:
 * stratum i < q-1 is units [floor(i*n/m), floor((i+1)*n/m)) of x, unit u
 * being x[u*len .. u*len+len), and gives one of its units, chosen
 * uniformly; the last stratum, x[len*floor((q-1)*n/m) .. n), gives
 * m - (q-1)*len values: a run from a uniformly chosen offset s, wrapping
 * around inside it (offsets s, s+1, ... mod its size), in index order.
 * Every value of a stratum of S values is taken with probability len/S (the
 * last: its run length/S), never twice; whole strata have floor(n/m) or
 * ceil(n/m) units, as smp_draw's strata have that many values. len <= 1 is
 * smp_draw(); len > m is taken as m. Returns the number of values written,
 * min(n, m) (m == 0 means n). Pure apart from advancing rng; cost O(min(n, m)).
 */
size_t smp_draw_runs(const float *x, size_t n, size_t m, size_t len, smp_rng *rng, float *out);

#endif /* HTGA_SAMPLE_H */
