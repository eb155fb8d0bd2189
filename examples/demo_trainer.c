/*
 * demo_trainer.c - a small trainer that embeds libhtga.
 *
 * DESIGN: linear regression y = <w*, x> + noise with Student-t(nu = 2.5)
 * noise, so the per-example gradients have heavy tails (finite variance,
 * infinite kurtosis). Minibatch SGD; every step sends the per-example
 * gradient components of the weight vector to htgad (group "linear.weight")
 * and scales its update by the lambda htgad pushed back:
 *
 *     w <- w - lr * lambda * mean_b grad_b
 *
 * It prints, ten times over the run, the mean minibatch loss since the last
 * line and the excess loss 0.5 |w - w*|^2, the part training can remove:
 * the expected loss is that plus half the noise variance (5/2 for nu =
 * 2.5), and a single minibatch loss is as heavy-tailed as the noise, so it
 * alone would hide the trend. It is built in the tree (it shares the
 * small programs' option parser and generator, proto/opts.h and mix.h);
 * examples/embed.c is the example that builds alone against the installed
 * library.
 *
 * Usage: htga_demo [--endpoint E] [--run R] [--steps N] [--batch B]
 *                  [--dim D] [--lr LR] [--wait-lambda-ms T]
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

typedef struct demo_opts {
    const char *endpoint;
    const char *run;
    long steps, batch, dim, wait_ms;
    double lr;
} demo_opts;

static uint64_t rng = 1;

static double uniform(void)
{
    return htga_uniform01(&rng);
}

static double gauss(void)
{
    return sqrt(-2.0 * log(uniform())) * cos(6.283185307179586 * uniform());
}

/* Student-t with nu degrees of freedom: Z / sqrt(Gamma(nu/2, 2)/nu), the
 * chi-square drawn as -2 log of uniforms (integer part) plus a normal square
 * for the half. */
static double student_t(double nu)
{
    double chi2 = 0;
    int whole = (int)(nu / 2);

    for (int i = 0; i < whole; i++)
        chi2 += -2.0 * log(uniform());
    if (nu / 2 - whole > 0.25) {
        double z = gauss();
        chi2 += z * z;
    }
    return gauss() / sqrt(chi2 / nu);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static const char synopsis[] = "[--endpoint E] [--run R] [--steps N] [--batch B] [--dim D]"
                               " [--lr LR] [--wait-lambda-ms T]";

/* The options and their defaults; 0 with o filled, 1 for --help, -1 on a
 * bad command line (said on stderr). */
static int parse_opts(int argc, char **argv, demo_opts *o)
{
    const opt_spec specs[] = {
        {"--endpoint", OPT_STR, &o->endpoint, 0, -1, "E    htgad's ZeroMQ endpoint"},
        {"--run", OPT_STR, &o->run, 0, -1, "R    the run's name"},
        {"--steps", OPT_LONG, &o->steps, 1, 1e9, "N    training steps"},
        {"--batch", OPT_LONG, &o->batch, 1, 1e6, "B    examples per step"},
        {"--dim", OPT_LONG, &o->dim, 1, 1e6, "D    weights"},
        {"--lr", OPT_DOUBLE, &o->lr, 1e-300, 1e6, "LR   learning rate"},
        {"--wait-lambda-ms", OPT_LONG, &o->wait_ms, 0, 1e9, "T    wait for the last lambda"},
    };
    const size_t n = sizeof specs / sizeof specs[0];
    char err[160];
    int rc;

    *o = (demo_opts){"tcp://127.0.0.1:5555", "demo", 2000, 64, 32, 3000, 0.02};
    rc = opts_parse(argc, argv, specs, n, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "htga_demo: %s\n", err);
    if (rc != 0)
        opts_usage(rc < 0 ? stderr : stdout, "htga_demo", synopsis, specs, n);
    if (rc == 0 && (uint64_t)o->batch * (uint64_t)o->dim > ((uint64_t)1 << 28)) {
        fprintf(stderr, "htga_demo: --batch x --dim is too large\n");
        rc = -1;
    }
    return rc;
}

/* One SGD step; fills g (dim) and per-example gradients pg (batch*dim);
 * returns the minibatch loss (mean squared error / 2). */
static double step(const demo_opts *o, const double *wstar, const double *w, double *x, double *g,
                   float *pg)
{
    double loss = 0;

    memset(g, 0, (size_t)o->dim * sizeof(double));
    for (long b = 0; b < o->batch; b++) {
        double pred = 0, y = student_t(2.5), r;
        for (long j = 0; j < o->dim; j++) {
            x[j] = gauss();
            y += wstar[j] * x[j];
            pred += w[j] * x[j];
        }
        r = pred - y;
        loss += 0.5 * r * r;
        for (long j = 0; j < o->dim; j++) {
            pg[b * o->dim + j] = (float)(r * x[j]);
            g[j] += r * x[j] / (double)o->batch;
        }
    }
    return loss / (double)o->batch;
}

int main(int argc, char **argv)
{
    demo_opts o;
    htga *h = NULL;
    double *wstar, *w, *x, *g, lambda = 1.0, loss_sum = 0;
    long loss_n = 0;
    float *pg;
    int rc;

    rc = parse_opts(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 2 : 0;
    rc = htga_create(&h, o.endpoint, o.run);
    if (rc != HTGA_OK) {
        fprintf(stderr, "htga_create: %s\n", htga_strerror(rc));
        return 1;
    }
    wstar = calloc((size_t)o.dim, sizeof(double));
    w = calloc((size_t)o.dim, sizeof(double));
    x = calloc((size_t)o.dim, sizeof(double));
    g = calloc((size_t)o.dim, sizeof(double));
    pg = calloc((size_t)(o.batch * o.dim), sizeof(float));
    for (long j = 0; j < o.dim; j++)
        wstar[j] = gauss();
    printf("demo: run %s, %ld steps, batch %ld, dim %ld, Student-t(2.5) noise, htgad at %s\n",
           o.run, o.steps, o.batch, o.dim, o.endpoint);
    printf("mean loss: of the minibatches since the last line, no lower than 2.5 (half the\n"
           "noise variance) on average; excess loss 0.5 |w - w*|^2: what training removes\n");
    printf("%6s  %12s  %12s  %8s\n", "step", "mean loss", "excess loss", "lambda");
    for (long s = 0; s < o.steps; s++) {
        loss_sum += step(&o, wstar, w, x, g, pg);
        loss_n++;
        htga_send(h, "linear.weight", s, pg, (size_t)(o.batch * o.dim));
        lambda = htga_lambda(h, "linear.weight");
        for (long j = 0; j < o.dim; j++)
            w[j] -= o.lr * lambda * g[j];
        if (s % (o.steps / 10 > 0 ? o.steps / 10 : 1) == 0 || s == o.steps - 1) {
            double excess = 0;
            for (long j = 0; j < o.dim; j++)
                excess += 0.5 * (w[j] - wstar[j]) * (w[j] - wstar[j]);
            printf("%6ld  %12.4f  %12.6f  %8.4f\n", s, loss_sum / (double)loss_n, excess, lambda);
            loss_sum = 0;
            loss_n = 0;
        }
    }
    htga_flush(h, 2000);
    /* htgad estimates the last blocks after the flush returns: wait (up to
     * --wait-lambda-ms) until its lambda has not changed for 500 ms, so the
     * final lambda is the one of the run's last block, not an older one. */
    double seen = NAN;
    for (long waited = 0, quiet = 0; waited < o.wait_ms && quiet < 500; waited += 20) {
        sleep_ms(20);
        if (htga_lambda_get(h, "linear.weight", &lambda) != HTGA_OK)
            continue;
        quiet = lambda == seen ? quiet + 20 : 0;
        seen = lambda;
    }
    rc = htga_lambda_get(h, "linear.weight", &lambda);
    printf("final lambda %.4f (%s)\n", lambda,
           rc == HTGA_OK ? "pushed by htgad" : "none received: 1.0");
    htga_destroy(&h);
    free(wstar);
    free(w);
    free(x);
    free(g);
    free(pg);
    return 0;
}
