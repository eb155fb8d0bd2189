/* The demo trainer of examples/ against the real daemon: a few steps. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

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

    cr_assert_eq(testd_start(&d, "--block-samples", "4096", NULL), 0);
    snprintf(cmd, sizeof(cmd), "%s --endpoint %s --run demo-test --steps 200 --wait-lambda-ms 5000",
             HTGA_DEMO_PATH, d.endpoint);
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    while (fgets(line, sizeof(line), p) != NULL) {
        if (strncmp(line, "step ", 5) == 0 && strstr(line, "loss") && strstr(line, "lambda"))
            steps++;
        if (strstr(line, "final lambda") && strstr(line, "pushed by htgad"))
            pushed = 1;
    }
    st = pclose(p);
    cr_assert_eq(st, 0);
    cr_assert_geq(steps, 10);
    cr_assert(pushed, "the demo received no lambda");
    /* 200 steps x 64 x 32 values = 100 blocks of 4096, fewer when the
     * client dropped sends (it never waits). */
    cr_assert_eq(testd_wait_query(
                     &d, "SELECT count(*) >= 20 FROM estimates WHERE run = 'demo-test'", 1, 10000),
                 0);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
}
