/*
 * est_bench.c - times est_block on a raw float32 file; see bench/README.md.
 *
 * DESIGN: a benchmark, not a test. It reads the whole file first (reading is
 * not timed), then runs est_block REPS times and prints one JSON line with
 * the best wall time, the best thread CPU time, and the estimates so the
 * numpy side of bench/run-est.sh can be checked against it.
 * Usage: est_bench FILE.f32 [REPS] [RULE] [TOP] [PIECE] [FLAGS]
 * PIECE > 0: the block is handed over in pieces of PIECE values
 * (est_block_segs, as htgad does with a block of several messages).
 * FLAGS (with PIECE): est_block_segs flags, 1 = EST_TOP_ANY_ORDER.
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
        fprintf(stderr, "usage: est_bench FILE.f32 [REPS] [RULE] [TOP] [PIECE] [FLAGS]\n");
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
    size_t piece = argc > 5 ? (size_t)strtoull(argv[5], NULL, 10) : 0;
    unsigned flags = argc > 6 ? (unsigned)atoi(argv[6]) : 0; /* 1: EST_TOP_ANY_ORDER */
    size_t n;
    float *x = read_f32(argv[1], &n);
    if (!x) {
        fprintf(stderr, "est_bench: cannot read %s\n", argv[1]);
        return 2;
    }
    size_t bytes = piece ? est_scratch_bytes_segs(n) : est_scratch_bytes(n);
    void *scratch = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    double *top = top_len ? malloc(top_len * sizeof *top) : NULL;
    size_t nsegs = piece ? (n + piece - 1) / piece : 0;
    est_seg *segs = malloc((nsegs ? nsegs : 1) * sizeof *segs);
    if (!scratch || (top_len && !top) || !segs)
        return 2;
    for (size_t i = 0; i < nsegs; i++)
        segs[i] = (est_seg){x + i * piece, n - i * piece < piece ? n - i * piece : piece};
    est_result r;
    double best_wall = 1e300, best_cpu = 1e300;
    for (int i = 0; i < reps; i++) {
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        size_t top_n;
        int rc = piece ? est_block_segs(segs, nsegs, flags, &rule, scratch, bytes, top, top_len,
                                        &top_n, &r)
                       : est_block(x, n, &rule, scratch, bytes, top, top_len, &top_n, &r);
        if (rc != EST_OK)
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
    free(segs);
    free(top);
    free(scratch);
    free(x);
    return 0;
}
