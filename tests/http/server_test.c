/*
 * Tests of the HTTP server over real sockets: health, runs, run, latest,
 * Hill plot, static files, limits, stats and metrics, slow clients, each
 * status against a temporary database built with the daemon's migrations
 * (server_fixture.h). The series and policy routes have their own files
 * (server_series_test.c, server_policy_test.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "server_fixture.h"

TestSuite(server, .init = server_setup, .fini = server_teardown, .timeout = 60);

Test(server, health_runs_run_latest)
{
    start_server(NULL);
    json_t *j = get_json("/api/v1/health", 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
    cr_assert(json_is_integer(json_object_get(j, "uptime_s")));
    json_decref(j);

    j = get_json("/api/v1/runs", 200);
    json_t *runs = json_object_get(j, "runs");
    cr_assert_eq(json_array_size(runs), 2);
    json_t *r1 = json_array_get(runs, 1);
    cr_assert_str_eq(json_string_value(json_object_get(r1, "run")), "run-1");
    cr_assert_eq(json_integer_value(json_object_get(r1, "groups")), 3);
    cr_assert_eq(json_integer_value(json_object_get(r1, "blocks")), NBLOCKS + 10);
    cr_assert_eq(json_integer_value(json_object_get(r1, "first_step")), 0);
    cr_assert_eq(json_integer_value(json_object_get(r1, "last_step")), NBLOCKS * 10 - 1);
    json_decref(j);

    j = get_json("/api/v1/runs/run-1", 200);
    cr_assert_eq(json_array_size(json_object_get(j, "groups")), 3);
    json_t *pol = json_object_get(j, "policy");
    cr_assert_str_eq(json_string_value(json_object_get(pol, "kind")), "linear");
    cr_assert_float_eq(json_real_value(json_object_get(pol, "c")), 0.5, 1e-12);
    json_decref(j);

    j = get_json("/api/v1/runs/old%20run", 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "run")), "old run");
    json_decref(j);

    j = get_json("/api/v1/runs/run-1/latest", 200);
    json_t *groups = json_object_get(j, "groups");
    cr_assert_eq(json_array_size(groups), 2, "the group without blocks has no latest row");
    json_t *g = json_array_get(groups, 1);
    cr_assert_str_eq(json_string_value(json_object_get(g, "group_name")), "layer/1.w");
    cr_assert_eq(json_integer_value(json_object_get(g, "block")), NBLOCKS - 1);
    static const char *cols[] = {"run",          "group_name", "block",      "step_first",
                                 "step_last",    "n",          "n_used",     "median",
                                 "mean",         "variance",   "kurtosis",   "alpha",
                                 "alpha_se",     "alpha_lo",   "alpha_hi",   "k",
                                 "alpha_stable", "lambda",     "created_at", "alpha_deff"};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
        cr_assert_not_null(json_object_get(g, cols[i]), "missing %s", cols[i]);
    json_decref(j);

    expect_error("GET", "/api/v1/runs/nope", NULL, NULL, 404);
    expect_error("GET", "/api/v1/runs/nope/latest", NULL, NULL, 404);
    expect_error("GET", "/api/v1/runs/run-1/groups/nope/series", NULL, NULL, 404);
    expect_error("GET", "/api/v1/runs/Run-1", NULL, NULL, 404);
    expect_error("GET", "/api/v1/nothing", NULL, NULL, 404);
    expect_error("DELETE", "/api/v1/runs", NULL, NULL, 405);
    expect_error("GET", "/api/v1/runs?x=1", NULL, NULL, 400);
}

Test(server, hill)
{
    start_server(NULL);
    json_t *j = get_json("/api/v1/runs/run-1/groups/g2/hill", 200);
    json_t *k = json_object_get(j, "k"), *a = json_object_get(j, "alpha");
    cr_assert_eq(json_array_size(k), 3);
    cr_assert_eq(json_integer_value(json_array_get(k, 0)), 1);
    cr_assert_float_eq(json_number_value(json_array_get(a, 0)), 1.0 / log(2.0), 1e-9);
    /* top {8, 4, 2, 1}: k = 2 gives gamma = 1.5 ln 2 (DESIGN.md's check) */
    cr_assert_eq(json_integer_value(json_array_get(k, 1)), 2);
    cr_assert_float_eq(json_number_value(json_array_get(a, 1)), 1.0 / (1.5 * log(2.0)), 1e-9);
    json_decref(j);
    expect_error("GET", "/api/v1/runs/run-1/groups/layer%2F1.w/hill", NULL, NULL, 404);
}

Test(server, static_files_and_traversal)
{
    start_server(NULL);
    struct hresp r;
    char h[128];
    httpc(port, "GET", "/", NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "<title>htga</title>"));
    cr_assert_str_eq(hresp_header(&r, "Content-Type", h, sizeof h), "text/html; charset=utf-8");
    cr_assert_str_eq(hresp_header(&r, "Cache-Control", h, sizeof h), "no-cache");
    hresp_free(&r);
    const char *bad[] = {"/../t.db", "/%2e%2e/t.db", "/..%2Ft.db", "/web/../../t.db", "/.hidden"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char req[256];
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                         bad[i]);
        httpc_raw(port, req, (size_t)n, &r);
        cr_assert(r.status == 400 || r.status == 404, "%s: %d", bad[i], r.status);
        cr_assert_null(strstr(r.body, "SQLite"), "%s leaked the database", bad[i]);
        hresp_free(&r);
    }
    expect_error("GET", "/missing.js", NULL, NULL, 404);
    expect_error("PUT", "/index.html", NULL, "x", 405);
}

Test(server, oversized_requests_refused)
{
    start_server(NULL);
    size_t n = 200000;
    char *path = malloc(n + 64);
    strcpy(path, "/api/v1/runs/");
    memset(path + 13, 'a', n);
    path[13 + n] = '\0';
    struct hresp r;
    httpc(port, "GET", path, NULL, NULL, 0, &r);
    cr_assert(r.status == 414 || r.status == 413 || r.status == 431 || r.status == 0, "status %d",
              r.status);
    hresp_free(&r);
    free(path);
    json_t *j = get_json("/api/v1/health", 200); /* still alive */
    json_decref(j);
}

Test(server, head_stats_metrics)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
                              "UPDATE blocks SET policy_id = (SELECT max(id) FROM policy_changes)"
                              " WHERE group_id = (SELECT id FROM groups WHERE name = 'g2')",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);
    start_server(NULL);
    struct hresp r;
    httpc(port, "HEAD", "/api/v1/health", NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, 0);
    hresp_free(&r);

    json_t *j = get_json("/api/v1/stats", 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "ingest_messages")), 42);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "drops"), "queue_full")), 3);
    json_decref(j);

    httpc(port, "GET", "/metrics", NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    char ct[128];
    cr_assert_str_eq(hresp_header(&r, "Content-Type", ct, sizeof ct),
                     "text/plain; version=0.0.4; charset=utf-8");
    cr_assert(strstr(r.body, "# TYPE htga_ingest_messages_total counter\n"));
    cr_assert(strstr(r.body, "htga_drops_total{reason=\"queue_full\"} 3\n"));
    cr_assert(strstr(r.body, "htga_queue_depth{queue=\"writer\"} 7\n"));
    cr_assert(strstr(r.body, "htga_alpha{run=\"run-1\",group=\"layer/1.w\"} "));
    cr_assert(strstr(r.body, "htga_lambda{run=\"run-1\",group=\"g2\"} 1\n"));
    cr_assert(strstr(r.body, "# TYPE htga_lambda_min gauge\n"));
    cr_assert(strstr(r.body, "htga_lambda_min{run=\"run-1\",group=\"g2\"} 0.20000000000000001\n"),
              "%s", r.body);
    cr_assert(strstr(r.body, "htga_lambda_max{run=\"run-1\",group=\"g2\"} 5\n"));
    cr_assert(strstr(r.body, "htga_lambda_max{run=\"run-1\",group=\"layer/1.w\"} NaN\n"));
    cr_assert_null(strstr(r.body, "old run"), "runs idle past the expiry leave /metrics");
    hresp_free(&r);
}

/* Opens a raw connection to the server and sends s (no end of request). */
static int stall(const char *s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
    return fd;
}

Test(server, slow_clients_do_not_stall_others)
{
    timeout_s = 4;
    start_server(NULL);
    int fds[6];
    for (int i = 0; i < 6; i++) /* stalled mid-header and mid-body */
        fds[i] = stall(i % 2 ? "GET /api/v1/health HTTP/1.1\r\nHo"
                             : "PUT /api/v1/runs/run-1/policy "
                               "HTTP/1.1\r\nContent-Length: 100\r\n\r\n{");
    json_t *j = get_json("/api/v1/runs/run-1/latest", 200);
    json_decref(j);
    /* answered while every stalled connection is still open, so it did not
     * wait for them to time out */
    char buf[256];
    for (int i = 0; i < 6; i++)
        cr_assert(recv(fds[i], buf, sizeof buf, MSG_DONTWAIT) < 0 && errno == EAGAIN,
                  "stalled connection %d was closed before the other request finished", i);
    /* the idle timeout (4 s here) closes the stalled connections */
    struct timeval tv = {20, 0};
    for (int i = 0; i < 6; i++) {
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssize_t n;
        while ((n = recv(fds[i], buf, sizeof buf, 0)) > 0)
            ;
        cr_assert_eq(n, 0, "stalled connection %d closed by the server's timeout", i);
        close(fds[i]);
    }
}

Test(server, taken_port_is_named)
{
    start_server(NULL);
    char listen[64], err[256] = "";
    snprintf(listen, sizeof listen, "127.0.0.1:%u", port);
    struct http_config cfg = {.listen = listen, .db_path = dbpath, .web_root = webdir};
    http_server *second = NULL;
    cr_assert_eq(http_start(&second, &cfg, err, sizeof err), HTTP_EBIND);
    cr_assert_null(second);
    char want[64];
    snprintf(want, sizeof want, "port %u of 127.0.0.1 is taken", port);
    cr_assert_not_null(strstr(err, want), "%s", err);
}
