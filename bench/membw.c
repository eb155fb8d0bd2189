/*
 * membw.c - what one pass over a block costs on this machine, for the
 * floor of est_block at large n (bench/README.md): the best time of a
 * streaming read of N float32 values (a four-lane vector sum, so the loop
 * is never the limit) and the bandwidth it implies.
 *
 *   membw [N (10000000)] [REPS (20)]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef float v8f __attribute__((vector_size(32)));

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float sum(const float *x, size_t n)
{
    v8f a = {0}, b = {0}, c = {0}, d = {0};
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        v8f p, q, r, s;
        memcpy(&p, x + i, sizeof p);
        memcpy(&q, x + i + 8, sizeof q);
        memcpy(&r, x + i + 16, sizeof r);
        memcpy(&s, x + i + 24, sizeof s);
        a += p;
        b += q;
        c += r;
        d += s;
    }
    v8f t = (a + b) + (c + d);
    float f = 0;
    for (int l = 0; l < 8; l++)
        f += t[l];
    for (; i < n; i++)
        f += x[i];
    return f;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
    int reps = argc > 2 ? atoi(argv[2]) : 20;
    float *x = malloc(n * sizeof *x);
    if (!x || n == 0)
        return 2;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(i % 1000);
    /* best wall time, and best thread CPU time: on a loaded machine the
     * wall time also counts waiting for a core, the CPU time only the
     * pass (stalls on memory included), as est_bench's cpu_s does */
    double best = 1e300, best_cpu = 1e300;
    volatile float sink = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        sink += sum(x, n);
        double t = clock_s(CLOCK_MONOTONIC) - t0, c = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
        best = t < best ? t : best;
        best_cpu = c < best_cpu ? c : best_cpu;
    }
    printf("{\"n\": %zu, \"pass_s\": %.6g, \"gb_per_s\": %.2f, \"ns_per_value\": %.3f, "
           "\"pass_cpu_s\": %.6g, \"gb_per_cpu_s\": %.2f}\n",
           n, best, (double)n * sizeof *x / best / 1e9, best / (double)n * 1e9, best_cpu,
           (double)n * sizeof *x / best_cpu / 1e9);
    free(x);
    return 0;
}
