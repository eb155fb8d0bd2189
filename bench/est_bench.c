/*
 * est_bench.c - times est_block on a raw float32 file; see bench/README.md.
 *
 * DESIGN: a benchmark, not a test. It reads the whole file first (reading is
 * not timed), then runs est_block REPS times and prints one JSON line with
 * the best wall time, the best thread CPU time, and the estimates so the
 * numpy side of bench/run-est.sh can be checked against it.
 * Usage: est_bench FILE.f32 [REPS] [RULE] [TOP] [FLAGS] [RUN]
 * FLAGS: est_block_flags flags (1 = EST_TOP_ANY_ORDER, as htgad runs it).
 * RUN > 1: the block is taken as runs of RUN values (one message, as htgad
 * sees run sampling) and each repetition also times est_block followed by
 * est_hill_runs, alternating with est_block alone: "runs_wall_s" and
 * "runs_ratio" (best with runs / best without) are added to the line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "est.h"

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *read_f32(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    *n = bytes > 0 ? (size_t)bytes / sizeof(float) : 0;
    float *x = malloc(*n * sizeof *x + 1);
    if (x && fread(x, sizeof *x, *n, f) != *n) {
        free(x);
        x = NULL;
    }
    fclose(f);
    return x;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: est_bench FILE.f32 [REPS] [RULE] [TOP] [FLAGS]\n");
        return 2;
    }
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    est_k_rule rule = {EST_K_SQRT, 0, 0};
    if (argc > 3 && est_k_rule_parse(argv[3], &rule) != EST_OK) {
        fprintf(stderr, "est_bench: bad k rule '%s'\n", argv[3]);
        return 2;
    }
    /* TOP: also keep the TOP largest deviations, sorted, as htgad does for
     * the Hill plot (STORE_TOP_MIN = 1024); 0 (default) as numpy does */
    size_t top_len = argc > 4 ? (size_t)strtoull(argv[4], NULL, 10) : 0;
    unsigned flags = argc > 5 ? (unsigned)atoi(argv[5]) : 0;
    size_t run = argc > 6 ? (size_t)strtoull(argv[6], NULL, 10) : 0;
    size_t n;
    float *x = read_f32(argv[1], &n);
    if (!x) {
        fprintf(stderr, "est_bench: cannot read %s\n", argv[1]);
        return 2;
    }
    size_t bytes = est_scratch_bytes(n);
    void *scratch = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    double *top = top_len ? malloc(top_len * sizeof *top) : NULL;
    if (!scratch || (top_len && !top))
        return 2;
    est_result r;
    double best_wall = 1e300, best_cpu = 1e300, best_runs = 1e300;
    est_seg seg = {0, (uint32_t)run, 0};
    for (int i = 0; i < reps; i++) {
        if (run > 1) {
            double w0 = clock_s(CLOCK_MONOTONIC);
            size_t top_n;
            if (est_block_flags(x, n, flags, &rule, scratch, bytes, top, top_len, &top_n, &r) !=
                    EST_OK ||
                est_hill_runs(x, n, &seg, 1, &r) != EST_OK)
                return 1;
            double w1 = clock_s(CLOCK_MONOTONIC);
            if (w1 - w0 < best_runs)
                best_runs = w1 - w0;
        }
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        size_t top_n;
        if (est_block_flags(x, n, flags, &rule, scratch, bytes, top, top_len, &top_n, &r) != EST_OK)
            return 1;
        double c1 = clock_s(CLOCK_THREAD_CPUTIME_ID), w1 = clock_s(CLOCK_MONOTONIC);
        if (w1 - w0 < best_wall)
            best_wall = w1 - w0;
        if (c1 - c0 < best_cpu)
            best_cpu = c1 - c0;
    }
    printf("{\"n\": %zu, \"wall_s\": %.6g, \"cpu_s\": %.6g, \"median\": %.9g, \"mean\": %.12g, "
           "\"variance\": %.12g, \"kurtosis\": %.9g, \"k\": %zu, \"alpha\": %.9g, "
           "\"stable_alpha\": %.9g}\n",
           n, best_wall, best_cpu, r.median, r.mean, r.variance, r.kurtosis, r.hill.k, r.hill.alpha,
           r.stable_alpha);
    if (run > 1) {
        est_hill_runs(x, n, &seg, 1, &r);
        printf("{\"n\": %zu, \"run\": %zu, \"wall_s\": %.6g, \"runs_wall_s\": %.6g, "
               "\"runs_ratio\": %.4f, \"deff\": %.4g}\n",
               n, run, best_wall, best_runs, best_runs / best_wall, r.hill.deff);
    }
    free(top);
    free(scratch);
    free(x);
    return 0;
}
