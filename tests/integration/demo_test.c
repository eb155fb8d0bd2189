/* The demo trainer of examples/ against the real daemon: a few steps; the
 * lambda it prints as pushed by htgad is the one htgad stored for the last
 * block of its run, so the text alone cannot pass the test. */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "harness.h"

static testd d;

static void setup(void)
{
    testd_init(&d);
}

static void teardown(void)
{
    testd_cleanup(&d);
}

Test(demo, trainer_gets_lambdas_and_rows_are_stored, .init = setup, .fini = teardown, .timeout = 40)
{
    char cmd[512], line[256];
    FILE *p;
    int pushed = 0, steps = 0, st;
    double first_excess = NAN, last_excess = NAN;
    double final_lambda = NAN;

    cr_assert_eq(testd_start(&d, "--block-samples", "4096", NULL), 0);
    snprintf(cmd, sizeof(cmd), "%s --endpoint %s --run demo-test --steps 200 --wait-lambda-ms 5000",
             HTGA_DEMO_PATH, d.endpoint);
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    while (fgets(line, sizeof(line), p) != NULL) {
        long s;
        double mean_loss, excess, lam;
        if (sscanf(line, "%ld %lf %lf %lf", &s, &mean_loss, &excess, &lam) == 4) {
            if (steps++ == 0)
                first_excess = excess;
            last_excess = excess;
        }
        if (strstr(line, "final lambda") && strstr(line, "pushed by htgad"))
            pushed = sscanf(line, "final lambda %lf", &final_lambda) == 1;
    }
    st = pclose(p);
    cr_assert_eq(st, 0);
    cr_assert_geq(steps, 10);
    /* w starts at 0, so the excess loss starts at 0.5 |w*|^2 (about dim/2 =
     * 16) and SGD with lr * lambda ~ 0.02-0.2 takes it to the noise floor
     * (lr * var / (2 batch) ~ 1e-3) within 200 steps: the demo visibly trains */
    cr_assert_lt(last_excess, 0.1 * first_excess, "excess loss %g -> %g", first_excess,
                 last_excess);
    cr_assert(pushed, "the demo received no lambda (or printed none as a number)");
    /* 200 steps x 64 x 32 values = 100 blocks of 4096, fewer when the
     * client dropped sends (it never waits). */
    cr_assert_eq(testd_wait_query(
                     &d, "SELECT count(*) >= 20 FROM estimates WHERE run = 'demo-test'", 1, 10000),
                 0);
    /* SIGTERM flushes every block, a partial last window too: that one is
     * estimated after the demo exited, so the demo's lambda is the one of the
     * last block stored before the stop */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double t_stop = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
    int64_t blocks = testd_query(&d, "SELECT count(*) FROM estimates WHERE run = 'demo-test'"
                                     " AND group_name = 'linear.weight'");
    cr_assert_gt(blocks, 0, "no block stored for the demo's group");
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT lambda FROM estimates WHERE run = 'demo-test' AND group_name ="
             " 'linear.weight' AND created_at < %.3f ORDER BY block DESC LIMIT 1",
             t_stop);
    cr_assert_geq(testd_query(&d, sql), 0, "no block stored while the demo ran");
    double last = testd_query_double(&d, sql);
    /* printed with %.4f: half a unit of the 4th decimal */
    cr_assert(
        fabs(final_lambda - last) <= 0.5e-4 + 1e-12,
        "demo printed final lambda %.4f, the last block stored before the stop (of %lld) has %.6f",
        final_lambda, (long long)blocks, last);
}
