/*
 * Tests of GET and PUT .../policy over real sockets (routes_policy.c): the
 * stored policy and its history, the token, merging a partial PUT over the
 * current policy, the refusals of the policy validator and of the daemon
 * (server_fixture.h builds the database; its on_policy is a stub).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "server_fixture.h"

TestSuite(server_policy, .init = server_setup, .fini = server_teardown, .timeout = 60);

Test(server_policy, policy_get_put_token)
{
    start_server("s3cret");
    json_t *j = get_json("/api/v1/runs/run-1/policy", 200);
    json_t *p = json_object_get(j, "policy");
    cr_assert_float_eq(json_number_value(json_object_get(p, "ema")), 0.1, 1e-12);
    cr_assert_eq(json_array_size(json_object_get(p, "history")), 1);
    json_decref(j);
    j = get_json("/api/v1/runs/old%20run/policy", 200);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "policy"), "source")),
                     "default");
    json_decref(j);

    const char *body = "{\"kind\":\"power\",\"q\":2.5,\"lambda_max\":4}";
    const char *auth = "Authorization: Bearer s3cret\r\nContent-Type: application/json\r\n";
    expect_error("PUT", "/api/v1/runs/run-1/policy", NULL, body, 401);
    expect_error("PUT", "/api/v1/runs/run-1/policy", "Authorization: Bearer nope\r\n", body, 401);
    expect_error("PUT", "/api/v1/runs/run-1/policy", "Authorization: Bearer s3cret0\r\n", body,
                 401);
    cr_assert_eq(policy_calls, 0);
    expect_error("PUT", "/api/v1/runs/nope/policy", auth, body, 404);
    expect_error("PUT", "/api/v1/runs/run-1/policy", auth, "{\"kind\":\"power\",\"q\":0.5}", 400);
    expect_error("PUT", "/api/v1/runs/run-1/policy", auth, "{\"kind\":\"linear\"}", 400);
    expect_error("PUT", "/api/v1/runs/run-1/policy", auth, "{\"kind\":\"linear\",\"c\":1,\"x\":1}",
                 400);
    expect_error("PUT", "/api/v1/runs/run-1/policy", auth,
                 "{\"kind\":\"linear\",\"c\":1,\"ema\":1}", 400);
    expect_error("PUT", "/api/v1/runs/run-1/policy", auth, "not json", 400);
    cr_assert_eq(policy_calls, 0);

    struct hresp r;
    httpc(port, "PUT", "/api/v1/runs/run-1/policy", auth, body, strlen(body), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    hresp_free(&r);
    cr_assert_eq(policy_calls, 1);
    cr_assert_str_eq(last_run, "run-1");
    cr_assert_eq(last_policy.kind, POLICY_POWER);
    cr_assert_float_eq(last_policy.param, 2.5, 1e-12);
    cr_assert_float_eq(last_policy.lambda_min, 0.2, 1e-12, "kept from the stored policy");
    cr_assert_float_eq(last_policy.lambda_max, 4, 1e-12);
    cr_assert_float_eq(last_policy.ema, 0.1, 1e-12);

    /* A second partial PUT before the daemon stored the first (this stub
     * never stores anything): omitted members come from the first PUT,
     * which the daemon already applies, not from the stored policy. */
    const char *b2 = "{\"kind\":\"linear\",\"c\":3,\"ema\":0.5}";
    httpc(port, "PUT", "/api/v1/runs/run-1/policy", auth, b2, strlen(b2), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    hresp_free(&r);
    const char *b3 = "{\"kind\":\"linear\",\"c\":3,\"lambda_max\":7}";
    httpc(port, "PUT", "/api/v1/runs/run-1/policy", auth, b3, strlen(b3), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    hresp_free(&r);
    cr_assert_eq(policy_calls, 3);
    cr_assert_eq(last_policy.kind, POLICY_LINEAR);
    cr_assert_float_eq(last_policy.param, 3, 1e-12);
    cr_assert_float_eq(last_policy.ema, 0.5, 1e-12, "the first PUT's ema survives the second");
    cr_assert_float_eq(last_policy.lambda_max, 7, 1e-12);
    cr_assert_float_eq(last_policy.lambda_min, 0.2, 1e-12, "kept from the first PUT");

    char *big = malloc(100001);
    memset(big, ' ', 100000);
    big[100000] = '\0';
    expect_error("PUT", "/api/v1/runs/run-1/policy", auth, big, 413);
    free(big);
    cr_assert_eq(policy_calls, 3);
}

/* Values the policy validator refuses never reach the daemon and the 400
 * names the member; what the daemon refuses (HTTP_EINVAL) is a 400 with its
 * reason, not a 500; only a failure to apply is a 500. */
Test(server_policy, policy_refusals)
{
    start_server(NULL);
    const char *path = "/api/v1/runs/run-1/policy";
    expect_error_text("PUT", path, NULL, "{\"kind\":\"linear\",\"c\":1,\"lambda_max\":0.1}", 400,
                      "lambda_max must be >= lambda_min"); /* lambda_min 0.2 is kept */
    expect_error_text("PUT", path, NULL, "{\"kind\":\"power\",\"q\":1}", 400,
                      "power policy needs a finite q > 1");
    expect_error_text("PUT", path, NULL, "{\"kind\":\"linear\",\"c\":0}", 400,
                      "linear policy needs a finite c > 0");
    expect_error_text("PUT", path, NULL, "{\"kind\":\"linear\",\"c\":1,\"lambda_min\":-1}", 400,
                      "lambda_min must be finite and > 0");
    expect_error_text("PUT", path, NULL, "{\"kind\":\"quadratic\",\"c\":1}", 400,
                      "kind must be \"linear\" or \"power\"");
    cr_assert_eq(policy_calls, 0);

    const char *body = "{\"kind\":\"linear\",\"c\":2}";
    daemon_rc = HTTP_EINVAL;
    daemon_reason = "ema must be in [0, 1)";
    expect_error_text("PUT", path, NULL, body, 400, "ema must be in [0, 1)");
    daemon_reason = NULL;
    expect_error_text("PUT", path, NULL, body, 400, "policy rejected");
    daemon_rc = HTTP_EINTERNAL;
    daemon_reason = "the write failed";
    expect_error_text("PUT", path, NULL, body, 500, "the write failed");
    daemon_rc = HTTP_EBUSY;
    daemon_reason = "no room now";
    expect_error_text("PUT", path, NULL, body, 503, "no room now");
    struct hresp busy;
    httpc(port, "PUT", path, NULL, body, strlen(body), &busy);
    cr_assert_eq(busy.status, 503);
    cr_assert(strcasestr(busy.headers, "\r\nRetry-After: 1\r\n") != NULL, "%s", busy.headers);
    hresp_free(&busy);
    cr_assert_eq(policy_calls, 5);

    /* a refused change is not remembered: the next partial PUT merges over
     * the stored policy (lambda_min 0.2), not over the refused one */
    const char *b2 = "{\"kind\":\"linear\",\"c\":3,\"lambda_min\":0.3}";
    daemon_rc = HTTP_EINVAL;
    daemon_reason = NULL;
    expect_error("PUT", path, NULL, b2, 400);
    daemon_rc = HTTP_OK;
    struct hresp r;
    httpc(port, "PUT", path, NULL, body, strlen(body), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    hresp_free(&r);
    cr_assert_float_eq(last_policy.lambda_min, 0.2, 1e-12);
}

Test(server_policy, loopback_without_token_accepts_writes)
{
    start_server(NULL);
    const char *body = "{\"kind\":\"linear\",\"c\":2}";
    struct hresp r;
    httpc(port, "PUT", "/api/v1/runs/run-1/policy", NULL, body, strlen(body), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    hresp_free(&r);
    cr_assert_eq(policy_calls, 1);
}

/* A policy that cannot be read is a 500, not the default policy reported
 * (or merged under a partial PUT) as if none were stored. */
Test(server_policy, unreadable_policy_is_an_error_not_the_default)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    cr_assert_eq(
        sqlite3_exec(db, "ALTER TABLE policy_changes RENAME TO policy_gone", NULL, NULL, NULL),
        SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    start_server(NULL);
    expect_error("GET", "/api/v1/runs/run-1/policy", NULL, NULL, 500);
    expect_error("GET", "/api/v1/runs/run-1", NULL, NULL, 500);
    expect_error("PUT", "/api/v1/runs/run-1/policy", NULL, "{\"kind\":\"linear\",\"c\":2}", 500);
    cr_assert_eq(policy_calls, 0);
}
