/*
 * feeder: a stand-in trainer for the dashboard test and screenshot. It sends
 * Student-t gradient samples for several groups of one run through the real
 * libhtga, paced in steps per second, and prints one JSON line per report
 * interval with the step reached and every lambda htgad pushed back, so a
 * test can watch a policy change reach the trainer's htga_lambda().
 *
 * Group g (named "layer.G.weight") draws from Student-t with nu drifting
 * from 1.5 + 0.5 g towards 1 + 0.5 g over the run, so the heat map of alpha
 * by group and step has structure to show.
 *
 * Usage: htga_web_feeder --endpoint E --run R [--groups G] [--samples S]
 *        [--steps N (0 = until killed)] [--rate STEPS_PER_S (0 = as fast as
 *        possible)] [--report-ms MS] [--seed X]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "htga.h"
#include "mix.h"
#include "opts.h"

typedef struct feeder_opts {
    const char *endpoint, *run;
    long groups, samples, steps, report_ms;
    double rate;
    uint64_t seed;
} feeder_opts;

static uint64_t rng;

static double uniform(void)
{
    return htga_uniform01(&rng);
}

static double gauss(void)
{
    return sqrt(-2.0 * log(uniform())) * cos(6.283185307179586 * uniform());
}

/* Student-t(nu) as Z * sqrt(nu / chi2), chi2 = 2 Gamma(nu/2) by
 * Marsaglia-Tsang (nu/2 < 1 boosted by U^(2/nu)). */
static double student_t(double nu)
{
    double a = nu / 2, boost = 1.0;
    if (a < 1) {
        boost = pow(uniform(), 1.0 / a);
        a += 1;
    }
    double d = a - 1.0 / 3, c = 1.0 / sqrt(9 * d), g;
    for (;;) {
        double z = gauss(), v = 1 + c * z;
        if (v <= 0)
            continue;
        v = v * v * v;
        if (log(uniform()) < 0.5 * z * z + d - d * v + d * log(v)) {
            g = d * v;
            break;
        }
    }
    return gauss() * sqrt(nu / (2 * g * boost));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static const char synopsis[] = "--endpoint E --run R [--groups G] [--samples S] [--steps N]"
                               " [--rate R] [--report-ms MS] [--seed X]";

/* The options and their defaults; 0 with o filled, 1 for --help, -1 on a
 * bad command line (said on stderr). */
static int parse_opts(int argc, char **argv, feeder_opts *o)
{
    const opt_spec specs[] = {
        {"--endpoint", OPT_STR, &o->endpoint, 0, -1, "E    htgad's ZeroMQ endpoint"},
        {"--run", OPT_STR, &o->run, 0, -1, "R    the run's name"},
        {"--groups", OPT_LONG, &o->groups, 1, 256, "G    groups layer.0.weight .."},
        {"--samples", OPT_LONG, &o->samples, 1, 1 << 26, "S    values per group and step"},
        {"--steps", OPT_LONG, &o->steps, 0, 1e12, "N    steps (0: until killed)"},
        {"--rate", OPT_DOUBLE, &o->rate, 0, 1e9, "R    steps per second (0: as fast as it can)"},
        {"--report-ms", OPT_LONG, &o->report_ms, 10, 1e9, "MS   between JSON report lines"},
        {"--seed", OPT_U64, &o->seed, 0, -1, "X    the draws' seed"},
    };
    const size_t n = sizeof specs / sizeof specs[0];
    char err[160];
    int rc;

    *o = (feeder_opts){"tcp://127.0.0.1:5555", "web-test", 4, 1024, 0, 200, 0, 42};
    rc = opts_parse(argc, argv, specs, n, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "htga_web_feeder: %s\n", err);
    if (rc != 0)
        opts_usage(rc < 0 ? stderr : stdout, "htga_web_feeder", synopsis, specs, n);
    return rc;
}

/* One JSON line: {"step": S, "queued": N, "dropped": D, "client_drops": C,
 * "lambda": {"g": x}}; dropped = refused by htga_send, client_drops = the
 * library's own count (queue full or daemon away/slow, see htga_stats). */
static void report(htga *h, const feeder_opts *o, long step, long sent, long dropped)
{
    char name[64];
    int first = 1;
    htga_stats st = {0};
    htga_stats_get(h, &st, sizeof st);
    printf("{\"step\":%ld,\"queued\":%ld,\"dropped\":%ld,\"client_drops\":%llu,\"lambda\":{", step,
           sent, dropped, (unsigned long long)(st.drops_queue + st.drops_offline));
    for (long g = 0; g < o->groups; g++) {
        double l;
        snprintf(name, sizeof name, "layer.%ld.weight", g);
        if (htga_lambda_get(h, name, &l) == HTGA_OK) {
            printf("%s\"%s\":%.17g", first ? "" : ",", name, l);
            first = 0;
        }
    }
    printf("}}\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    feeder_opts o;
    htga *h = NULL;
    int rc = parse_opts(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 2 : 0;
    rng = o.seed;
    rc = htga_create(&h, o.endpoint, o.run);
    if (rc != HTGA_OK) {
        fprintf(stderr, "htga_create: %s\n", htga_strerror(rc));
        return 1;
    }
    float *buf = malloc((size_t)o.samples * sizeof(float));
    if (!buf) {
        htga_destroy(&h);
        return 1;
    }
    double t0 = now_s(), next_report = t0;
    long sent = 0, dropped = 0, s;
    for (s = 0; o.steps == 0 || s < o.steps; s++) {
        double drift = o.steps ? (double)s / (double)o.steps : fmod((double)s / 2000.0, 1.0);
        for (long g = 0; g < o.groups; g++) {
            char name[64];
            double nu = 1.5 + 0.5 * (double)g - 0.5 * drift;
            for (long i = 0; i < o.samples; i++)
                buf[i] = (float)(1e-3 * student_t(nu));
            snprintf(name, sizeof name, "layer.%ld.weight", g);
            if (htga_send(h, name, s, buf, (size_t)o.samples) == HTGA_OK)
                sent++;
            else
                dropped++;
        }
        double t = now_s();
        if (t >= next_report) {
            report(h, &o, s, sent, dropped);
            next_report = t + (double)o.report_ms * 1e-3;
        }
        if (o.rate > 0)
            sleep_s(t0 + (double)(s + 1) / o.rate - now_s());
    }
    htga_flush(h, 5000);
    sleep_s(0.3);
    report(h, &o, s, sent, dropped);
    free(buf);
    htga_destroy(&h);
    return 0;
}
