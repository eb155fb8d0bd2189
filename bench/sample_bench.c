/*
 * sample_bench - the client's sampler alone (no queue, no ZeroMQ) against a
 * memcpy of the bytes it writes, timed one after the other in each round:
 * smp_draw_runs() of an N-value gradient to 65536 values for each run
 * length, and a memcpy of the 256 KiB, per round; then a memcpy of the whole
 * gradient (the floor of a sampler that reads every line of it). Prints the
 * medians over rounds of each time and of the per-round ratios.
 * Usage: sample_bench [N (1000000)] [ROUNDS (301)]
 * See bench/README-ingest.md ("htga_send of a large gradient").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sample.h"

enum { M = 65536, MAX_ROUNDS = 10001 };

static const size_t lens[] = {1, 16, 32, 64, 256, 1024};
#define NLENS (sizeof lens / sizeof lens[0])

/* Through a volatile pointer, so the copies are not optimised away. */
static void *(*volatile memcpy_fn)(void *, const void *, size_t) = memcpy;

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    size_t rounds = argc > 2 ? strtoull(argv[2], NULL, 10) : 301;
    float *x, *out, *dst, *whole;
    double *t_run[NLENS], *ratio[NLENS], *t_copy, *t_whole;
    smp_rng rng;

    if (n <= M || rounds == 0 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: sample_bench [N > %d] [ROUNDS <= %d]\n", M, MAX_ROUNDS);
        return 2;
    }
    x = malloc(n * sizeof *x);
    whole = malloc(n * sizeof *whole);
    out = malloc(M * sizeof *out);
    dst = malloc(M * sizeof *dst);
    t_copy = calloc(rounds, sizeof(double));
    t_whole = calloc(rounds, sizeof(double));
    if (!x || !whole || !out || !dst || !t_copy || !t_whole)
        return 1;
    for (size_t j = 0; j < NLENS; j++) {
        t_run[j] = calloc(rounds, sizeof(double));
        ratio[j] = calloc(rounds, sizeof(double));
        if (!t_run[j] || !ratio[j])
            return 1;
    }
    for (size_t i = 0; i < n; i++)
        x[i] = (float)i * 1e-3f;
    smp_seed(&rng, 1);
    for (size_t r = 0; r < rounds; r++) {
        for (size_t j = 0; j < NLENS; j++) {
            double t0 = now_us();
            smp_draw_runs(x, n, M, lens[j], &rng, out);
            double t1 = now_us();
            memcpy_fn(dst, x + (r * 4096) % (n - M), M * sizeof *x);
            double t2 = now_us();
            t_run[j][r] = t1 - t0;
            ratio[j][r] = (t1 - t0) / (t2 - t1);
            if (j == 0)
                t_copy[r] = t2 - t1;
        }
        double t0 = now_us();
        memcpy_fn(whole, x, n * sizeof *x);
        t_whole[r] = now_us() - t0;
    }
    printf("n %zu -> %d values, %zu rounds: memcpy of 256 KiB %.1f us, of the whole gradient "
           "%.1f us (medians)\n",
           n, M, rounds, median(t_copy, rounds), median(t_whole, rounds));
    for (size_t j = 0; j < NLENS; j++)
        printf("runs of %4zu: %7.1f us, median of per-round ratios to the 256 KiB memcpy %.2f\n",
               lens[j], median(t_run[j], rounds), median(ratio[j], rounds));
    return 0;
}
