/*
 * Read-your-writes for the lambda policy against the real htgad (issue
 * 13): a PUT .../policy answered 200 is visible to a GET sent right after
 * it, and the lambda the policy re-derived from each group's latest block
 * is the same in /latest, in /metrics and in the trainer's htga_lambda.
 * When the writer cannot store in time (an outside process holds the
 * database's write lock), the PUT answers 202 and says so, and the change
 * shows once the lock is gone.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "htga.h"
#include "httpc.h"

#define NBLOCK 1024

static testd d;
static uint16_t hport;
static htga *h;

/* htgad with HTTP; run "rw" has groups g0 and g1 with two blocks each. */
static void setup(void)
{
    char http[64];
    static float x[NBLOCK];
    testd_init(&d);
    hport = (uint16_t)testd_free_port();
    snprintf(http, sizeof http, "127.0.0.1:%u", hport);
    cr_assert_eq(testd_start(&d, "--block-samples", "1024", "--http", http, NULL), 0);
    cr_assert_eq(htga_create(&h, d.endpoint, "rw"), HTGA_OK);
    uint64_t seed = 11;
    for (int64_t step = 0; step < 2; step++) {
        for (int g = 0; g < 2; g++) {
            student_t(x, NBLOCK, 2.5 + g, &seed);
            cr_assert_eq(htga_send(h, g ? "g1" : "g0", step, x, NBLOCK), HTGA_OK);
        }
    }
    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) FROM estimates WHERE run = 'rw'", 4, 10000),
                 0);
}

static void teardown(void)
{
    htga_destroy(&h);
    testd_cleanup(&d);
}

TestSuite(policy_rw, .init = setup, .fini = teardown, .timeout = 60);

static json_t *get_json(const char *path)
{
    struct hresp r;
    httpc(hport, "GET", path, NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 200, "GET %s: %d %s", path, r.status, r.body ? r.body : "");
    json_error_t e;
    json_t *j = json_loads(r.body, 0, &e);
    hresp_free(&r);
    cr_assert_not_null(j, "GET %s: %s", path, e.text);
    return j;
}

static int put_policy(const char *body, char **reply)
{
    struct hresp r;
    httpc(hport, "PUT", "/api/v1/runs/rw/policy", NULL, body, strlen(body), &r);
    int status = r.status;
    if (reply)
        *reply = strdup(r.body ? r.body : "");
    hresp_free(&r);
    return status;
}

/* The policy's c as GET .../policy reports it right now. */
static double policy_c(void)
{
    json_t *j = get_json("/api/v1/runs/rw/policy");
    json_t *c = json_object_get(json_object_get(j, "policy"), "c");
    double v = json_is_number(c) ? json_number_value(c) : NAN;
    json_decref(j);
    return v;
}

/* The lambda /metrics reports for group g of run rw (NaN when absent). */
static double metrics_lambda(const char *g)
{
    struct hresp r;
    char key[128];
    httpc(hport, "GET", "/metrics", NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    snprintf(key, sizeof key, "htga_lambda{run=\"rw\",group=\"%s\"} ", g);
    const char *p = strstr(r.body, key);
    double v = p ? strtod(p + strlen(key), NULL) : NAN;
    hresp_free(&r);
    return v;
}

Test(policy_rw, a_get_right_after_a_200_sees_the_policy_and_its_lambdas)
{
    int64_t t = now_ms();
    cr_assert_eq(put_policy("{\"kind\":\"linear\",\"c\":0.5,\"lambda_min\":0.01}", NULL), 200);
    cr_log_info("PUT policy answered 200 after %lld ms (stored)", (long long)(now_ms() - t));
    /* no wait: read-your-writes */
    cr_assert_float_eq(policy_c(), 0.5, 1e-12, "GET policy right after the 200");
    json_t *j = get_json("/api/v1/runs/rw/latest");
    json_t *groups = json_object_get(j, "groups");
    cr_assert_eq(json_array_size(groups), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *g = json_array_get(groups, i);
        const char *name = json_string_value(json_object_get(g, "group"));
        if (!name)
            name = json_string_value(json_object_get(g, "group_name"));
        cr_assert_not_null(name);
        double alpha = json_number_value(json_object_get(g, "alpha"));
        double lam = json_number_value(json_object_get(g, "lambda"));
        /* linear c = 0.5 on the latest block's alpha, inside [0.01, 10] */
        cr_assert_float_eq(lam, 0.5 * alpha, 1e-9, "%s: /latest lambda %g, alpha %g", name, lam,
                           alpha);
        cr_assert_float_eq(metrics_lambda(name), lam, 1e-9 * lam, "%s: /metrics agrees", name);
        /* the trainer's lambda is pushed over the network: it arrives */
        double pushed = NAN;
        for (int64_t t = now_ms(); now_ms() - t < 5000; sleep_ms(10))
            if (htga_lambda_get(h, name, &pushed) == HTGA_OK && fabs(pushed - lam) < 1e-9 * lam)
                break;
        cr_assert_float_eq(pushed, lam, 1e-9 * lam, "%s: htga_lambda agrees", name);
    }
    json_decref(j);
    /* a new block estimated under the policy takes over from the re-derived one */
    static float x[NBLOCK];
    uint64_t seed = 99;
    student_t(x, NBLOCK, 2.5, &seed);
    cr_assert_eq(htga_send(h, "g0", 2, x, NBLOCK), HTGA_OK);
    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) FROM estimates WHERE run = 'rw'", 5, 10000),
                 0);
    double alpha2 = testd_query_double(
        &d, "SELECT alpha FROM estimates WHERE run = 'rw' AND group_name = 'g0' AND block = 2");
    cr_assert_float_eq(metrics_lambda("g0"), 0.5 * alpha2, 1e-9);
}

Test(policy_rw, a_put_the_writer_cannot_store_in_time_answers_202)
{
    sqlite3 *db;
    char *reply = NULL;
    cr_assert_eq(sqlite3_open(d.db, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    int64_t t = now_ms();
    int status = put_policy("{\"kind\":\"linear\",\"c\":0.25}", &reply);
    cr_assert_eq(status, 202, "%d %s", status, reply);
    cr_assert(strstr(reply, "\"applies\"") != NULL, "%s", reply);
    cr_assert_lt(now_ms() - t, 4000);
    free(reply);
    cr_assert_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    double c = NAN;
    for (int64_t t0 = now_ms(); now_ms() - t0 < 10000 && c != 0.25; sleep_ms(20))
        c = policy_c();
    cr_assert_float_eq(c, 0.25, 1e-12, "the change shows once stored");
}
