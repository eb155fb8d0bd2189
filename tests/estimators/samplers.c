/*
 * samplers.c - seeded samplers for the estimator tests; see samplers.h.
 */
#include <math.h>

#include "samplers.h"

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void smp_seed(smp_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t smp_u64(smp_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double smp_uniform(smp_rng *r)
{
    return ((double)(smp_u64(r) >> 11) + 0.5) * 0x1.0p-53;
}

double smp_gauss(smp_rng *r)
{
    double u = smp_uniform(r), v = smp_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

double smp_pareto(smp_rng *r, double a)
{
    return pow(smp_uniform(r), -1.0 / a);
}

double smp_gamma(smp_rng *r, double shape)
{
    if (shape < 1.0)
        return smp_gamma(r, shape + 1.0) * pow(smp_uniform(r), 1.0 / shape);
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double z = smp_gauss(r), v = 1.0 + c * z;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = smp_uniform(r);
        if (log(u) < 0.5 * z * z + d - d * v + d * log(v))
            return d * v;
    }
}

double smp_student_t(smp_rng *r, double nu)
{
    double z = smp_gauss(r);
    double chi2 = 2.0 * smp_gamma(r, nu / 2.0);
    return z / sqrt(chi2 / nu);
}

double smp_cauchy(smp_rng *r)
{
    return tan(M_PI * (smp_uniform(r) - 0.5));
}

double smp_stable_sym(smp_rng *r, double alpha)
{
    double v = M_PI * (smp_uniform(r) - 0.5);
    double w = -log(smp_uniform(r));
    if (alpha == 1.0)
        return tan(v);
    return sin(alpha * v) / pow(cos(v), 1.0 / alpha) *
           pow(cos(v - alpha * v) / w, (1.0 - alpha) / alpha);
}

void smp_fill(float *x, size_t n, smp_kind kind, double param, uint64_t seed)
{
    smp_rng r;
    smp_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        double v = 0;
        switch (kind) {
        case SMP_GAUSS:
            v = smp_gauss(&r);
            break;
        case SMP_PARETO:
            v = smp_pareto(&r, param);
            break;
        case SMP_STUDENT:
            v = smp_student_t(&r, param);
            break;
        case SMP_CAUCHY:
            v = smp_cauchy(&r);
            break;
        case SMP_STABLE:
            v = smp_stable_sym(&r, param);
            break;
        }
        x[i] = (float)v;
    }
}
