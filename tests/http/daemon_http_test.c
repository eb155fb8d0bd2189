/*
 * The HTTP API of the real htgad, fed through the real libhtga: a trainer
 * sends Student-t gradients, then every read endpoint answers from the rows
 * the daemon wrote, /metrics carries the daemon's live counters and passes
 * promtool when it is installed, and a policy PUT with the --token reaches
 * the trainer's htga_lambda (and is refused without it).
 * Uses the integration harness (tests/integration/harness.c) to run htgad.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <unistd.h>

#include "harness.h"
#include "htga.h"
#include "httpc.h"

static testd d;
static uint16_t hport;

static uint16_t free_tcp_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void setup(void)
{
    testd_init(&d);
    hport = free_tcp_port();
    char http[64];
    snprintf(http, sizeof http, "127.0.0.1:%u", hport);
    cr_assert_eq(testd_start(&d, "--block-samples", "1024", "--http", http, "--token", "tok", NULL),
                 0);
}

static void teardown(void)
{
    testd_cleanup(&d);
}

TestSuite(daemon_http, .init = setup, .fini = teardown, .timeout = 60);

static json_t *get(const char *path)
{
    struct hresp r;
    httpc(hport, "GET", path, NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 200, "GET %s: %d %s", path, r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    cr_assert_not_null(j, "%s", r.body);
    hresp_free(&r);
    return j;
}

Test(daemon_http, endpoints_over_real_ingest)
{
    htga *h = NULL;
    cr_assert_eq(htga_create(&h, d.endpoint, "it run"), HTGA_OK);
    uint64_t seed = 7;
    float x[1024];
    for (int s = 0; s < 16; s++) {
        student_t(x, 1024, 3.0, &seed);
        int64_t deadline = now_ms() + 2000;
        while (htga_send(h, "layer/0", s, x, 1024) == HTGA_EDROPPED && now_ms() < deadline)
            sleep_ms(5);
    }
    cr_assert_eq(htga_flush(h, 5000), HTGA_OK);
    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) >= 8 FROM estimates", 1, 20000), 0);

    json_t *j = get("/api/v1/runs");
    json_t *run = json_array_get(json_object_get(j, "runs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(run, "run")), "it run");
    cr_assert_geq(json_integer_value(json_object_get(run, "blocks")), 8);
    json_decref(j);

    j = get("/api/v1/runs/it%20run/latest");
    json_t *g = json_array_get(json_object_get(j, "groups"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(g, "group_name")), "layer/0");
    cr_assert(json_is_number(json_object_get(g, "alpha")));
    json_decref(j);

    j = get("/api/v1/runs/it%20run/groups/layer%2F0/series?fields=alpha,lambda&max_points=3");
    cr_assert(json_is_true(json_object_get(j, "downsampled")));
    cr_assert_leq(json_array_size(json_object_get(j, "alpha_max")), 3);
    json_decref(j);

    j = get("/api/v1/runs/it%20run/groups/layer%2F0/hill");
    cr_assert_gt(json_array_size(json_object_get(j, "alpha")), 10);
    json_decref(j);

    j = get("/api/v1/runs/it%20run/policy");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "policy"), "kind")),
                     "linear");
    json_decref(j);

    j = get("/api/v1/stats");
    cr_assert_geq(json_integer_value(json_object_get(j, "ingest_messages")), 16);
    cr_assert_geq(json_integer_value(json_object_get(j, "rows_written")), 8);
    json_decref(j);

    struct hresp r;
    httpc(hport, "GET", "/metrics", NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "htga_ingest_messages_total "));
    cr_assert(strstr(r.body, "htga_drops_total{reason=\"est_queue\"} 0\n"));
    cr_assert(strstr(r.body, "htga_alpha{run=\"it run\",group=\"layer/0\"} "));
    if (system("command -v promtool >/dev/null 2>&1") == 0) {
        FILE *p = popen("promtool check metrics >/dev/null 2>&1", "w");
        fwrite(r.body, 1, r.body_len, p);
        cr_assert_eq(pclose(p), 0, "promtool rejected htgad's /metrics:\n%s", r.body);
    }
    hresp_free(&r);

    /* policy by token: stored, re-derived from the latest block, pushed to
     * the trainer's htga_lambda */
    double l1 = 0, l2 = 0;
    int64_t deadline = now_ms() + 5000;
    while (htga_lambda_get(h, "layer/0", &l1) != HTGA_OK && now_ms() < deadline)
        sleep_ms(10);
    sleep_ms(300); /* the lambda of the last block */
    htga_lambda_get(h, "layer/0", &l1);
    double alpha =
        testd_query_double(&d, "SELECT alpha FROM estimates ORDER BY block DESC LIMIT 1");
    cr_assert_float_eq(l1, alpha, 1e-9, "linear:1 gives lambda = alpha");

    const char *body = "{\"kind\":\"linear\",\"c\":3}";
    httpc(hport, "PUT", "/api/v1/runs/it%20run/policy", NULL, body, strlen(body), &r);
    cr_assert_eq(r.status, 401, "%s", r.body);
    hresp_free(&r);
    httpc(hport, "PUT", "/api/v1/runs/it%20run/policy", "Authorization: Bearer wrong\r\n", body,
          strlen(body), &r);
    cr_assert_eq(r.status, 401, "%s", r.body);
    hresp_free(&r);
    httpc(hport, "PUT", "/api/v1/runs/it%20run/policy", "Authorization: Bearer tok\r\n", body,
          strlen(body), &r);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    hresp_free(&r);
    deadline = now_ms() + 5000;
    do {
        sleep_ms(20);
        htga_lambda_get(h, "layer/0", &l2);
    } while (fabs(l2 - 3 * l1) > 1e-9 && now_ms() < deadline);
    cr_assert_float_eq(l2, 3 * l1, 1e-9, "the trainer's htga_lambda follows the new policy");
    cr_assert_eq(testd_wait_query(&d,
                                  "SELECT count(*) FROM policy_changes WHERE source = 'http'"
                                  " AND kind = 'linear' AND param = 3",
                                  1, 5000),
                 0);
    j = get("/api/v1/runs/it%20run/policy");
    json_t *pol = json_object_get(j, "policy");
    cr_assert_str_eq(json_string_value(json_object_get(pol, "source")), "http");
    cr_assert_float_eq(json_number_value(json_object_get(pol, "c")), 3, 1e-12);
    cr_assert(json_is_number(json_object_get(pol, "changed_at")));
    cr_assert_geq(json_array_size(json_object_get(pol, "history")), 2);
    json_decref(j);
    htga_destroy(&h);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0, "htgad exits 0 with the HTTP server running");
}
