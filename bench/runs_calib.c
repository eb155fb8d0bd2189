/*
 * runs_calib.c - calibration of the alpha interval htgad reports for blocks
 * of runs (est_hill_runs) against the spread of alpha over fresh draws.
 *
 *   runs_calib MODEL M DRAWS [L...]
 *
 * Each draw is a new block of M values made of G = M / L runs of L values,
 * as a block of client run sampling from a large gradient is: values of one
 * run share their row, runs come from different rows. MODEL says how a run
 * shares its tail (a, b: Pareto tail index 1.5 draws, signs at random):
 *   iid      x = a                          (runs carry no correlation)
 *   shared   x = s * e, one s ~ Pareto(1.5) per run, e ~ N(0, 1) per value
 *            (a Linear layer's row: delta_i x_j with heavy delta)
 *   half     x = s^0.5 * a, s and a Pareto(1.5)  (part shared)
 *   repeat   x = a repeated through the run  (deff = L)
 * Each block goes through est_block (k rule sqrt) and est_hill_runs with
 * its run segment, exactly as htgad estimates it. Per L it prints the
 * clusters G, those holding an exceedance (mean over draws), the mean and SD of alpha over the
 * draws, the mean reported alpha_se and its ratio to the SD (1 = calibrated)
 * with its Monte-Carlo standard error ("+-", from the draws' fourth moment)
 * and whether it meets issue 17's goal of 0.9-1.1 ("yes"; "~": within two
 * Monte-Carlo errors of it; "no"), the root mean square
 * se over the SD, the mean relative se (alpha_se / alpha) over the SD of
 * log alpha (the scale on which Hill's estimate is near symmetric: with few
 * clusters 1/gamma has a long right tail that the SD of alpha follows
 * more than any standard error can), the mean reported deff, and how
 * often the reported 95%
 * interval holds the mean alpha over the draws (its variance part only: the
 * target is the estimator's own centre, not the model's alpha). Not a test:
 * bench/run-sample-deff.sh runs it; figures in bench/README-ingest.md.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "est.h"
#include "sample.h"

enum { MAX_LENS = 16 };

static double uniform(smp_rng *r)
{
    return ((double)(smp_next(r) >> 11) + 0.5) * 0x1.0p-53;
}

static double pareto(smp_rng *r)
{
    return pow(uniform(r), -1.0 / 1.5);
}

static double sign(smp_rng *r)
{
    return (smp_next(r) >> 63) ? 1.0 : -1.0;
}

static double gauss(smp_rng *r)
{
    return sqrt(-2.0 * log(uniform(r))) * cos(2.0 * M_PI * uniform(r));
}

static int fill(const char *model, float *x, size_t m, size_t len, smp_rng *r)
{
    for (size_t i = 0; i < m; i += len) {
        size_t end = i + len < m ? i + len : m;
        double s = pareto(r), a = sign(r) * pareto(r);
        for (size_t j = i; j < end; j++) {
            if (strcmp(model, "iid") == 0)
                x[j] = (float)(sign(r) * pareto(r));
            else if (strcmp(model, "shared") == 0)
                x[j] = (float)(s * gauss(r));
            else if (strcmp(model, "half") == 0)
                x[j] = (float)(sqrt(s) * sign(r) * pareto(r));
            else if (strcmp(model, "repeat") == 0)
                x[j] = (float)a;
            else
                return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    size_t lens[MAX_LENS] = {1, 16, 32, 64, 256, 1024, 4096}, nlens = 7;
    if (argc < 4 || argc > 4 + MAX_LENS) {
        fprintf(stderr, "usage: runs_calib iid|shared|half|repeat M DRAWS [L...]\n");
        return 2;
    }
    size_t m = strtoull(argv[2], NULL, 10), draws = strtoull(argv[3], NULL, 10);
    if (argc > 4) {
        nlens = (size_t)argc - 4;
        for (size_t i = 0; i < nlens; i++)
            lens[i] = strtoull(argv[4 + i], NULL, 10);
    }
    size_t scratch_len = est_scratch_bytes(m);
    void *scratch = aligned_alloc(64, (scratch_len + 63) / 64 * 64);
    float *x = malloc(m * sizeof *x);
    double *alpha = malloc(draws * sizeof *alpha), *lo = malloc(draws * sizeof *lo),
           *hi = malloc(draws * sizeof *hi), *rel = malloc(draws * sizeof *rel),
           *sev = malloc(draws * sizeof *sev);
    if (!scratch || !x || !alpha || !lo || !hi || !rel || !sev)
        return 1;
    printf("model %s, blocks of %zu values, %zu draws\n", argv[1], m, draws);
    printf("%6s %6s %6s %8s %8s %8s %7s %6s %4s %7s %8s %7s %7s\n", "L", "G", "G exc", "alpha",
           "sd", "mean se", "se/sd", "+-", "goal", "rms/sd", "rel/sdl", "deff", "cover");
    for (size_t li = 0; li < nlens; li++) {
        size_t len = lens[li], got = 0;
        double se = 0, se2 = 0, deff = 0, gexc = 0;
        if (len < 1 || len > m)
            continue;
        for (size_t d = 0; d < draws; d++) {
            smp_rng rng;
            est_result r;
            est_seg seg = {0, (uint32_t)len, 0};
            smp_seed(&rng, (d + 1) * 0x9E3779B97F4A7C15ull + len);
            if (fill(argv[1], x, m, len, &rng) != 0) {
                fprintf(stderr, "runs_calib: unknown model %s\n", argv[1]);
                return 2;
            }
            if (est_block(x, m, NULL, scratch, scratch_len, NULL, 0, NULL, &r) != EST_OK ||
                !r.has_hill || (len > 1 && est_hill_runs(x, m, &seg, 1, &r) != EST_OK))
                continue;
            alpha[got] = r.hill.alpha;
            rel[got] = r.hill.se / r.hill.alpha;
            sev[got] = r.hill.se;
            for (size_t i = 0; i < m; i += len) { /* runs holding an exceedance */
                size_t hit = 0;
                for (size_t j = i; j < i + len && j < m; j++)
                    hit |= fabs((double)x[j] - r.median) > r.hill.u;
                gexc += (double)hit;
            }
            lo[got] = r.hill.ci_lo;
            hi[got] = r.hill.ci_hi;
            got++;
            se += r.hill.se;
            se2 += r.hill.se * r.hill.se;
            deff += r.hill.deff;
        }
        if (got < 2)
            continue;
        double mean = 0, var = 0, m4 = 0, lmean = 0, lvar = 0, rmean = 0, sevar = 0;
        size_t cover = 0;
        for (size_t i = 0; i < got; i++) {
            mean += alpha[i] / (double)got;
            lmean += log(alpha[i]) / (double)got;
            rmean += rel[i] / (double)got;
        }
        for (size_t i = 0; i < got; i++) {
            double dev2 = (alpha[i] - mean) * (alpha[i] - mean);
            var += dev2 / (double)(got - 1);
            m4 += dev2 * dev2 / (double)got;
            sevar += (sev[i] - se / (double)got) * (sev[i] - se / (double)got) / (double)(got - 1);
            lvar += (log(alpha[i]) - lmean) * (log(alpha[i]) - lmean) / (double)(got - 1);
            cover += lo[i] <= mean && mean <= hi[i];
        }
        double sd = sqrt(var), g = (double)got, ratio = se / g / sd;
        /* Monte-Carlo error of the ratio: the sample variance's own variance
         * is (m4 - var^2) / draws, so the SD's relative error is half its
         * relative one; the mean se's relative error adds in quadrature */
        double rel_sd = sqrt((m4 - var * var) / g) / (2.0 * var);
        double rel_se = sqrt(sevar / g) / (se / g),
               mc = ratio * sqrt(rel_sd * rel_sd + rel_se * rel_se);
        /* the goal 0.9-1.1: "yes" inside, "~" inside within two MC errors */
        double miss = fabs(ratio - 1.0) - 0.1;
        const char *goal = miss <= 0 ? "yes" : miss <= 2 * mc ? "~" : "no";
        printf("%6zu %6zu %6.1f %8.4f %8.4f %8.4f %7.3f %6.3f %4s %7.3f %8.3f %7.2f %7.3f\n", len,
               (m + len - 1) / len, gexc / g, mean, sd, se / g, ratio, mc, goal, sqrt(se2 / g) / sd,
               rmean / sqrt(lvar), deff / g, (double)cover / g);
    }
    free(x);
    free(alpha);
    free(lo);
    free(hi);
    free(rel);
    free(sev);
    free(scratch);
    return 0;
}
