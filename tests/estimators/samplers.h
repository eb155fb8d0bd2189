/*
 * samplers.h - seeded random samples with known tails, for tests.
 *
 * DESIGN: one small deterministic generator (xoshiro256** seeded by
 * splitmix64) and inverse-transform or textbook samplers, so any test can
 * reproduce a sample from its seed. Known answers: Pareto(a) has tail index
 * a, Student-t(nu) has nu, Cauchy 1, symmetric alpha-stable alpha, Gaussian
 * no power tail.
 */
#ifndef HTGA_TEST_SAMPLERS_H
#define HTGA_TEST_SAMPLERS_H

#include <stddef.h>
#include <stdint.h>

typedef struct smp_rng {
    uint64_t s[4];
} smp_rng;

void smp_seed(smp_rng *r, uint64_t seed);
uint64_t smp_u64(smp_rng *r);
/* Uniform in (0, 1), never 0 or 1. */
double smp_uniform(smp_rng *r);
double smp_gauss(smp_rng *r);
/* U^(-1/a): Pareto with x_min 1 and tail index a. */
double smp_pareto(smp_rng *r, double a);
double smp_student_t(smp_rng *r, double nu);
double smp_cauchy(smp_rng *r);
/* Symmetric alpha-stable (beta 0, scale 1) by Chambers-Mallows-Stuck. */
double smp_stable_sym(smp_rng *r, double alpha);
/* Gamma(shape, 1), Marsaglia-Tsang. */
double smp_gamma(smp_rng *r, double shape);

typedef enum smp_kind {
    SMP_GAUSS,
    SMP_PARETO,
    SMP_STUDENT,
    SMP_CAUCHY,
    SMP_STABLE,
} smp_kind;

/* Fills x[0..n) with seeded draws of a kind (param: a, nu or alpha). */
void smp_fill(float *x, size_t n, smp_kind kind, double param, uint64_t seed);

#endif
