/*
 * sample_deff.c - the design effect of libhtga's run (cluster) sampling:
 * how much more the estimates of a subsampled block spread than with one
 * value per stratum.
 *
 *   sample_deff FILE M DRAWS [LEN...]
 *
 * FILE holds raw little-endian float32 values (a gradient, or synthetic
 * data). For each run length LEN (default 1 16 32; 1 = one value per
 * stratum), DRAWS independent subsamples of M values are drawn exactly as
 * htga_send() draws them (smp_draw_runs, seeds 1..DRAWS) and estimated
 * exactly as htgad estimates a block (est_block, k rule sqrt). Prints per
 * LEN the mean and standard deviation over draws of alpha (Hill), log
 * variance and excess kurtosis, and the ratio of each SD to LEN 1's: the
 * design effect, as a ratio of standard deviations. Also prints the same
 * estimates for the whole file, for reference. And the calibration of the
 * reported uncertainty: each block of runs also goes through est_hill_runs
 * as htgad does (one message of runs of min(LEN, M) from offset 0), and a
 * second line per LEN gives the mean reported alpha_se against the SD of
 * alpha over the draws (their ratio should be about 1), and the mean
 * reported design effect against the measured one, (SD_LEN / SD_1)^2.
 * Not a test: a measurement (bench/README-ingest.md, "Run sampling").
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "est.h"
#include "sample.h"

enum { MAX_LENS = 8 };

struct spread {
    double sum[3], sum2[3];
    size_t n;
    double se, deff; /* sums of the reported alpha_se and design effect */
};

static float *read_f32(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    float *x = NULL;
    long bytes;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (bytes = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
        *n = (size_t)bytes / sizeof(float);
        x = malloc(*n * sizeof *x);
        if (x && fread(x, sizeof *x, *n, f) != *n) {
            free(x);
            x = NULL;
        }
    }
    fclose(f);
    return x;
}

/* alpha, log variance, kurtosis of one block, then its reported alpha_se
 * and design effect (the block being runs of run values when run > 1, as
 * htgad sees a message with that cluster field); 0 when Hill had no answer. */
static int estimate(const float *x, size_t n, void *scratch, size_t len, size_t run, double v[5])
{
    est_result r;
    est_seg seg = {0, (uint32_t)run, 0};

    if (est_block(x, n, NULL, scratch, len, NULL, 0, NULL, &r) != EST_OK || !r.has_hill)
        return 0;
    if (run > 1 && est_hill_runs(x, n, &seg, 1, &r) != EST_OK)
        return 0;
    v[0] = r.hill.alpha;
    v[1] = log(r.variance);
    v[2] = r.kurtosis;
    v[3] = r.hill.se;
    v[4] = r.hill.deff;
    return 1;
}

static void add(struct spread *s, const double v[3])
{
    for (int i = 0; i < 3; i++) {
        s->sum[i] += v[i];
        s->sum2[i] += v[i] * v[i];
    }
    s->n++;
    s->se += v[3];
    s->deff += v[4];
}

static double mean(const struct spread *s, int i)
{
    return s->sum[i] / (double)s->n;
}

static double sd(const struct spread *s, int i)
{
    double m = mean(s, i), var = (s->sum2[i] - (double)s->n * m * m) / (double)(s->n - 1);
    return var > 0 ? sqrt(var) : 0;
}

int main(int argc, char **argv)
{
    size_t n = 0, m, draws, lens[MAX_LENS] = {1, 16, 32}, nlens = 3, scratch_len;
    struct spread sp[MAX_LENS] = {{{0}, {0}, 0, 0, 0}};
    float *x, *out;
    void *scratch;
    double v[5];

    if (argc < 4 || argc > 4 + MAX_LENS) {
        fprintf(stderr, "usage: sample_deff FILE M DRAWS [LEN...]\n");
        return 2;
    }
    m = strtoull(argv[2], NULL, 10);
    draws = strtoull(argv[3], NULL, 10);
    if (argc > 4) {
        nlens = (size_t)argc - 4;
        for (size_t i = 0; i < nlens; i++)
            lens[i] = strtoull(argv[4 + i], NULL, 10);
    }
    x = read_f32(argv[1], &n);
    if (!x || m == 0 || m >= n || draws < 2) {
        fprintf(stderr, "sample_deff: cannot read %s, or not 0 < M < n, or DRAWS < 2\n", argv[1]);
        return 1;
    }
    scratch_len = est_scratch_bytes(n);
    scratch = aligned_alloc(64, (scratch_len + 63) / 64 * 64);
    out = malloc(m * sizeof *out);
    if (!scratch || !out)
        return 1;
    printf("file %s n %zu m %zu draws %zu\n", argv[1], n, m, draws);
    if (estimate(x, n, scratch, scratch_len, 1, v))
        printf("whole      alpha %.4f  log-variance %.4f  kurtosis %.4g\n", v[0], v[1], v[2]);
    for (size_t d = 1; d <= draws; d++) {
        for (size_t i = 0; i < nlens; i++) {
            smp_rng rng;
            smp_seed(&rng, d * 0x9E3779B97F4A7C15ull + i);
            smp_draw_runs(x, n, m, lens[i], &rng, out);
            if (estimate(out, m, scratch, scratch_len, lens[i] < m ? lens[i] : m, v))
                add(&sp[i], v);
        }
    }
    for (size_t i = 0; i < nlens; i++) {
        if (sp[i].n < 2 || sp[0].n < 2)
            continue;
        printf("len %4zu   alpha %.4f sd %.4f (x%.2f)  log-variance %.4f sd %.4f (x%.2f)  "
               "kurtosis %.4g sd %.4g (x%.2f)  [%zu draws]\n",
               lens[i], mean(&sp[i], 0), sd(&sp[i], 0), sd(&sp[i], 0) / sd(&sp[0], 0),
               mean(&sp[i], 1), sd(&sp[i], 1), sd(&sp[i], 1) / sd(&sp[0], 1), mean(&sp[i], 2),
               sd(&sp[i], 2), sd(&sp[i], 2) / sd(&sp[0], 2), sp[i].n);
        double se = sp[i].se / (double)sp[i].n, r = sd(&sp[i], 0) / sd(&sp[0], 0);
        printf("len %4zu   reported alpha_se %.4f vs sd %.4f (x%.2f)  reported deff %.2f vs "
               "measured (sd/sd1)^2 %.2f\n",
               lens[i], se, sd(&sp[i], 0), se / sd(&sp[i], 0), sp[i].deff / (double)sp[i].n, r * r);
    }
    free(x);
    free(out);
    free(scratch);
    return 0;
}
