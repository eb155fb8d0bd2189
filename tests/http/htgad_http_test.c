/*
 * Tests of daemon/htgad_http.c, the glue between htgad and its HTTP server:
 * its policy callback (what a PUT of a run's policy hands to the ingest
 * thread through ingest_set_policy_stored) answers a policy the one
 * validator refuses with HTTP_EINVAL, which the server answers 400, and the
 * validator's reason; not with HTTP_EINTERNAL (500). The ingest is made but
 * not started: a refused policy never reaches its command queue, and once
 * that queue is full a valid one is HTTP_EBUSY (503), not a 500.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "htgad_http.h"

static ingest *ing;
static bqueue *est_q;

static void setup(void)
{
    htgad_config cfg;
    config_defaults(&cfg);
    est_q = bqueue_new(16);
    cr_assert_not_null(est_q);
    ing = ingest_new(NULL, &est_q, 1, &cfg);
    cr_assert_not_null(ing);
}

static void teardown(void)
{
    ingest_join(&ing);
    bqueue_destroy(&est_q);
}

TestSuite(htgad_http, .init = setup, .fini = teardown, .timeout = 30);

static void expect_refused(policy p, const char *reason)
{
    char err[160] = "";
    cr_assert_eq(htgad_http_policy(ing, "run-1", &p, err, sizeof err), HTTP_EINVAL,
                 "a refused policy is a 400, not a 500 (%s; got \"%s\")", reason, err);
    cr_assert_str_eq(err, reason);
}

Test(htgad_http, invalid_policy_is_refused_with_its_reason)
{
    policy p = policy_default();
    p.lambda_min = 5;
    p.lambda_max = 2;
    expect_refused(p, "lambda_max must be >= lambda_min");
    p = policy_default();
    p.kind = POLICY_POWER;
    expect_refused(p, "power policy needs a finite q > 1");
    p = policy_default();
    p.param = -1;
    expect_refused(p, "linear policy needs a finite c > 0");
    p = policy_default();
    p.ema = 1;
    expect_refused(p, "ema must be in [0, 1)");
    p = policy_default();
    p.lambda_min = NAN;
    expect_refused(p, "lambda_min must be finite and > 0");
    cr_assert_eq(bqueue_depth(est_q), 0, "nothing reached the estimator");
}

Test(htgad_http, full_command_queue_is_busy_not_internal)
{
    policy p = policy_default();
    char err[160] = "";
    int queued = 0;

    /* the thread is not running: nothing takes the commands */
    while (ingest_set_policy(ing, "run-1", 5, &p, "http") == 0)
        cr_assert_lt(++queued, 100000, "the command queue has no bound");
    cr_assert_gt(queued, 0);
    cr_assert_eq(htgad_http_policy(ing, "run-1", &p, err, sizeof err), HTTP_EBUSY, "%s", err);
    cr_assert(strstr(err, "try again") != NULL, "%s", err);
}
