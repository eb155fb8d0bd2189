/*
 * The HTTP API of the real htgad, fed through the real libhtga: a trainer
 * sends Student-t gradients, then every read endpoint answers from the rows
 * the daemon wrote, /metrics carries the daemon's live counters and passes
 * promtool (missing promtool is a failure), and a policy PUT with the
 * --token reaches the trainer's htga_lambda (and is refused without it).
 * A known spike (one Cauchy block scaled by 1000 among Student-t blocks) is
 * found in the downsampled series' bucket max exactly as stored; CSV, 4xx
 * answers and path traversal are checked on the same daemon.
 * Uses the integration harness (tests/integration/harness.c) to run htgad. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include "harness.h"
#include "htga.h"
#include "httpc.h"

static testd d;
static uint16_t hport;

static void setup(void)
{
    testd_init(&d);
    hport = (uint16_t)testd_free_port();
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

/* /api/v1/stats once its flow has run (with `streams` streams unless -1), *fl its entry. */
static json_t *wait_flow(const char *run, int64_t streams, json_t **fl)
{
    json_t *j = NULL;
    for (int64_t end = now_ms() + 10000; now_ms() < end; sleep_ms(20)) {
        json_decref(j);
        j = get("/api/v1/stats");
        *fl = json_object_get(json_object_get(j, "flow"), run);
        if (*fl && (streams < 0 || json_integer_value(json_object_get(*fl, "streams")) == streams))
            break;
    }
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

    /* flow control, per run: one rank asked for a whole block per send;
     * ingest publishes it on its flow tick (500 ms), which the estimates
     * may have beaten */
    json_t *fl;
    j = wait_flow("it run", -1, &fl);
    cr_assert_not_null(fl, "no flow for the run in /api/v1/stats");
    cr_assert_geq(json_integer_value(json_object_get(j, "ingest_messages")), 16);
    cr_assert_geq(json_integer_value(json_object_get(j, "rows_written")), 8);
    cr_assert_eq(json_integer_value(json_object_get(fl, "ranks")), 1);
    cr_assert_eq(json_integer_value(json_object_get(fl, "budget_values")), 1024);
    cr_assert_eq(json_integer_value(json_object_get(fl, "budget_every")), 1);
    cr_assert_eq(json_integer_value(json_object_get(fl, "client_drops")), 0);
    cr_assert_eq(json_integer_value(json_object_get(fl, "blocks_lost")), 0);
    cr_assert_float_eq(json_number_value(json_object_get(j, "budget_factor")), 1.0, 1e-9);
    cr_assert_eq(json_integer_value(json_object_get(j, "est_queue_bytes_limit")), 64 << 20);
    json_decref(j);

    struct hresp r;
    httpc(hport, "GET", "/metrics", NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "htga_ingest_messages_total "));
    cr_assert(strstr(r.body, "htga_drops_total{reason=\"est_queue\"} 0\n"));
    cr_assert(strstr(r.body, "htga_run_budget_values{run=\"it run\"} 1024\n"), "%s", r.body);
    cr_assert(strstr(r.body, "htga_run_client_drops_total{run=\"it run\"} 0\n"));
    cr_assert(strstr(r.body, "htga_backpressure_seconds_total "));
    cr_assert(strstr(r.body, "htga_alpha{run=\"it run\",group=\"layer/0\"} "));
    /* scripts/deps.sh test installs prometheus: no promtool is a failure */
    cr_assert_eq(system("command -v promtool >/dev/null 2>&1"), 0,
                 "promtool not found: run scripts/deps.sh test (package prometheus)");
    FILE *p = popen("promtool check metrics >/dev/null 2>&1", "w");
    cr_assert_not_null(p);
    fwrite(r.body, 1, r.body_len, p);
    cr_assert_eq(pclose(p), 0, "promtool rejected htgad's /metrics:\n%s", r.body);
    hresp_free(&r);

    /* policy by token: stored, re-derived from the latest block, pushed to
     * the trainer's htga_lambda */
    double l1 = 0, l2 = 0;
    double alpha =
        testd_query_double(&d, "SELECT alpha FROM estimates ORDER BY block DESC LIMIT 1");
    /* the lambda of the last block reaches the trainer (a condition, not a sleep) */
    int64_t deadline = now_ms() + 5000;
    while ((htga_lambda_get(h, "layer/0", &l1) != HTGA_OK || fabs(l1 - alpha) > 1e-9) &&
           now_ms() < deadline)
        sleep_ms(10);
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

    /* Two partial PUTs back to back: the second comes before htgad stored
     * the first, and must not revert it (omitted members come from the
     * policy htgad applies, not from the database). */
    const char *p1 = "{\"kind\":\"linear\",\"c\":2,\"ema\":0.5}";
    const char *p2 = "{\"kind\":\"linear\",\"c\":2,\"lambda_max\":7}";
    httpc(hport, "PUT", "/api/v1/runs/it%20run/policy", "Authorization: Bearer tok\r\n", p1,
          strlen(p1), &r);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    hresp_free(&r);
    httpc(hport, "PUT", "/api/v1/runs/it%20run/policy", "Authorization: Bearer tok\r\n", p2,
          strlen(p2), &r);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    hresp_free(&r);
    cr_assert_eq(testd_wait_query(&d,
                                  "SELECT count(*) FROM policy_changes WHERE source = 'http'"
                                  " AND lambda_max = 7",
                                  1, 5000),
                 0);
    j = get("/api/v1/runs/it%20run/policy");
    pol = json_object_get(j, "policy");
    cr_assert_float_eq(json_number_value(json_object_get(pol, "c")), 2, 1e-12);
    cr_assert_float_eq(json_number_value(json_object_get(pol, "lambda_max")), 7, 1e-12);
    cr_assert_float_eq(json_number_value(json_object_get(pol, "ema")), 0.5, 1e-12,
                       "the first PUT's ema survives the second PUT");
    json_decref(j);
    htga_destroy(&h);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0, "htgad exits 0 with the HTTP server running");
}

/* Sends `blocks` blocks of 1024 values to it run/layer.r, every one (the
 * client does not follow budgets, and waits for a barrier every 8 blocks
 * rather than let its queue overflow), and waits until htgad stored `want`
 * blocks of the group. */
static void feed_blocks(int64_t step0, int blocks, int64_t want)
{
    htga *h = NULL;
    float x[1024];
    uint64_t seed = (uint64_t)step0 + 7;
    cr_assert_eq(htga_create(&h, d.endpoint, "rr"), HTGA_OK);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_FOLLOW_BUDGET, 0), HTGA_OK);
    for (int i = 0; i < blocks; i++) {
        student_t(x, 1024, 2.0 + (double)(i % 5), &seed);
        int64_t deadline = now_ms() + 5000;
        while (htga_send(h, "layer.r", step0 + i, x, 1024) == HTGA_EDROPPED && now_ms() < deadline)
            sleep_ms(1);
        if (i % 8 == 7)
            cr_assert_eq(htga_flush(h, 5000), HTGA_OK);
    }
    cr_assert_eq(htga_flush(h, 5000), HTGA_OK);
    htga_destroy(&h);
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM blocks b JOIN groups g ON g.id = b.group_id"
             " WHERE g.name = 'layer.r'");
    cr_assert_eq(testd_wait_query(&d, sql, want, 10000), 0, "%lld blocks stored, want %lld",
                 (long long)testd_query(&d, sql), (long long)want);
}

/* The series of a group htgad stored across a restart in the middle of
 * chunks of every rollup level equals the buckets computed from its rows,
 * for ranges that cut chunks anywhere: the writer rebuilt its open chunks
 * from the stored blocks. */
Test(daemon_http, series_after_restart_mid_chunk)
{
    char http[64];
    snprintf(http, sizeof http, "127.0.0.1:%u", hport);
    feed_blocks(0, 150, 150); /* 150: mid-chunk at 64, 128, 256, ... */
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
    cr_assert_eq(testd_start(&d, "--block-samples", "1024", "--http", http, "--token", "tok", NULL),
                 0);
    feed_blocks(150, 300, 450);
    cr_assert_gt(testd_query(&d, "SELECT count(*) FROM series_rollup WHERE level = 128"), 2);
    int64_t gid = testd_query(&d, "SELECT id FROM groups WHERE name = 'layer.r'");
    sqlite3 *db;
    cr_assert_eq(sqlite3_open_v2(d.db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    static const int64_t ranges[][3] = {
        {0, 449, 3},   {0, 449, 7},  {37, 449, 5},  {70, 440, 2}, {100, 300, 4},
        {130, 449, 3}, {0, 200, 50}, {5, 449, 400}, {1, 448, 6},  {64, 191, 2},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        char path[256], err[512];
        snprintf(path, sizeof path,
                 "/api/v1/runs/rr/groups/layer.r/series?fields=alpha,kurtosis,alpha_lo"
                 "&from_step=%lld&to_step=%lld&max_points=%lld",
                 (long long)ranges[i][0], (long long)ranges[i][1], (long long)ranges[i][2]);
        json_t *j = get(path);
        cr_assert_eq(series_check(j, db, gid, ranges[i][0], ranges[i][1], err, sizeof err), 0,
                     "%s: %s", path, err);
        json_decref(j);
    }
    sqlite3_close(db);
}

/* --web-root: the dashboard comes from that directory; one without
 * index.html stops htgad at start-up. */
Test(daemon_http, web_root_flag)
{
    char http[64], web[160], index[200];
    snprintf(http, sizeof http, "127.0.0.1:%u", hport);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
    snprintf(web, sizeof web, "%s/webx", d.dir);
    cr_assert_eq(mkdir(web, 0700), 0);
    snprintf(index, sizeof index, "%s/index.html", web);
    FILE *f = fopen(index, "w");
    cr_assert_not_null(f);
    fputs("<!doctype html><title>webroot-marker</title>\n", f);
    fclose(f);
    cr_assert_eq(testd_start(&d, "--http", http, "--web-root", web, NULL), 0);
    struct hresp r;
    httpc(hport, "GET", "/", NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    cr_assert(strstr(r.body, "webroot-marker") != NULL, "%s", r.body);
    hresp_free(&r);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
    unlink(index);
    int rc = testd_start(&d, "--http", http, "--web-root", web, NULL);
    cr_assert(rc != 0 || testd_stop(&d, SIGTERM) != 0,
              "htgad started with a web root without index.html");
    rmdir(web);
}

static int status_of(const char *method, const char *path)
{
    struct hresp r;
    httpc(hport, method, path, NULL, NULL, 0, &r);
    int st = r.status;
    if (st >= 400)
        cr_assert(strstr(r.body, "root:") == NULL, "%s %s leaked a file: %s", method, path, r.body);
    hresp_free(&r);
    return st;
}

/* Sends one 1024-value block per step of group "spike/0": Student-t (nu 3)
 * except step spike, which is Cauchy (t with nu 1) scaled by 1000. */
static void feed_spike(htga *h, int nblocks, int spike)
{
    uint64_t seed = 11;
    float x[1024];
    for (int s = 0; s < nblocks; s++) {
        student_t(x, 1024, s == spike ? 1.0 : 3.0, &seed);
        if (s == spike)
            for (int i = 0; i < 1024; i++)
                x[i] *= 1000.0f;
        int64_t deadline = now_ms() + 2000;
        int rc;
        while ((rc = htga_send(h, "spike/0", s, x, 1024)) == HTGA_EDROPPED && now_ms() < deadline)
            sleep_ms(5);
        cr_assert_eq(rc, HTGA_OK, "send of step %d: %d", s, rc);
    }
    cr_assert_eq(htga_flush(h, 5000), HTGA_OK);
}

Test(daemon_http, spike_csv_and_errors_over_real_ingest)
{
    enum { NB = 24, SPIKE = 17 };
    htga *h = NULL;
    cr_assert_eq(htga_create(&h, d.endpoint, "sp run"), HTGA_OK);
    feed_spike(h, NB, SPIKE);
    cr_assert_eq(
        testd_wait_query(&d, "SELECT count(*) FROM estimates WHERE run = 'sp run'", NB, 20000), 0,
        "htgad stored one block per 1024-value send");

    /* the spike is the stored extreme, in the block that holds step SPIKE */
    int64_t spike_block = testd_query(&d, "SELECT block FROM estimates WHERE run = 'sp run'"
                                          " ORDER BY variance DESC LIMIT 1");
    int64_t spike_first = testd_query(&d, "SELECT step_first FROM estimates WHERE run = 'sp run'"
                                          " ORDER BY variance DESC LIMIT 1");
    cr_assert_eq(spike_first, SPIKE, "the largest stored variance is the Cauchy block");
    double vmax =
        testd_query_double(&d, "SELECT max(variance) FROM estimates WHERE run = 'sp run'");
    double vnext = testd_query_double(&d, "SELECT variance FROM estimates WHERE run = 'sp run'"
                                          " ORDER BY variance DESC LIMIT 1 OFFSET 1");
    cr_assert_gt(vmax, 1000 * vnext, "spike %g vs next %g", vmax, vnext);

    json_t *j = get("/api/v1/runs/sp%20run/groups/spike%2F0/series?fields=variance&max_points=3");
    cr_assert(json_is_true(json_object_get(j, "downsampled")));
    json_t *blk = json_object_get(j, "block"), *cnt = json_object_get(j, "count");
    json_t *vmx = json_object_get(j, "variance_max"), *vmn = json_object_get(j, "variance_min");
    size_t nb = json_array_size(blk);
    cr_assert(nb >= 2 && nb <= 3, "%zu buckets", nb);
    cr_assert_eq(json_array_size(vmx), nb);
    int64_t total = 0;
    int found = 0;
    for (size_t i = 0; i < nb; i++) {
        int64_t b0 = json_integer_value(json_array_get(blk, i));
        int64_t c = json_integer_value(json_array_get(cnt, i));
        total += c;
        double mx = json_number_value(json_array_get(vmx, i));
        /* every bucket's max and min are the extremes of its stored rows */
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT max(variance) FROM estimates WHERE run = 'sp run' AND block >= %lld"
                 " AND block < %lld",
                 (long long)b0, (long long)(b0 + c));
        double want = testd_query_double(&d, sql);
        cr_assert_float_eq(mx, want, 1e-11 * fabs(want), "bucket %zu max %.17g, stored %.17g", i,
                           mx, want);
        snprintf(sql, sizeof sql,
                 "SELECT min(variance) FROM estimates WHERE run = 'sp run' AND block >= %lld"
                 " AND block < %lld",
                 (long long)b0, (long long)(b0 + c));
        want = testd_query_double(&d, sql);
        cr_assert_float_eq(json_number_value(json_array_get(vmn, i)), want, 1e-11 * fabs(want));
        if (spike_block >= b0 && spike_block < b0 + c) {
            found = 1;
            cr_assert_float_eq(mx, vmax, 1e-11 * vmax, "spike bucket max %.17g, stored %.17g", mx,
                               vmax);
        } else
            cr_assert_lt(mx, vmax / 1000, "bucket %zu without the spike", i);
    }
    cr_assert(found, "no bucket holds block %lld", (long long)spike_block);
    cr_assert_eq(total, NB, "the buckets cover every block");
    json_decref(j);

    /* CSV: header + one row per stored block, the spike's value in its row */
    struct hresp r;
    httpc(hport, "GET",
          "/api/v1/runs/sp%20run/groups/spike%2F0/series?fields=alpha,variance&format=csv", NULL,
          NULL, 0, &r);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    char ct[128];
    cr_assert_not_null(hresp_header(&r, "Content-Type", ct, sizeof ct));
    cr_assert(strstr(ct, "text/csv"), "%s", ct);
    cr_assert(strncmp(r.body, "block,step,alpha,variance\r\n", 27) == 0, "%s", r.body);
    int rows = 0;
    int spike_row_ok = 0;
    for (char *line = strstr(r.body, "\r\n") + 2; *line; rows++) {
        char *end = strstr(line, "\r\n");
        cr_assert_not_null(end, "unterminated CSV line: %s", line);
        long long b, st;
        double a, v;
        cr_assert_eq(sscanf(line, "%lld,%lld,%lf,%lf", &b, &st, &a, &v), 4, "%.*s",
                     (int)(end - line), line);
        cr_assert_eq(b, rows, "rows in block order");
        if (b == spike_block)
            spike_row_ok = fabs(v - vmax) <= 1e-11 * vmax;
        line = end + 2;
    }
    cr_assert_eq(rows, NB, "CSV: %d rows for %d stored blocks", rows, NB);
    cr_assert(spike_row_ok, "the spike's row holds its stored variance %.17g", vmax);
    hresp_free(&r);

    /* errors */
    cr_assert_eq(status_of("GET", "/api/v1/runs/no%20such/groups/spike%2F0/series"), 404);
    cr_assert_eq(status_of("GET", "/api/v1/runs/no%20such/latest"), 404);
    cr_assert_eq(status_of("GET", "/api/v1/runs/sp%20run/groups/no%2Fsuch/series"), 404);
    cr_assert_eq(status_of("GET", "/api/v1/runs/sp%20run/groups/no%2Fsuch/hill"), 404);
    const char *bad[] = {"max_points=1",   "max_points=0",       "max_points=-5",
                         "max_points=abc", "max_points=1000001", "max_points="};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char path[160];
        snprintf(path, sizeof path, "/api/v1/runs/sp%%20run/groups/spike%%2F0/series?%s", bad[i]);
        cr_assert_eq(status_of("GET", path), 400, "%s", path);
    }
    struct hresp del;
    httpc(hport, "DELETE", "/api/v1/runs/sp%20run", NULL, NULL, 0, &del);
    cr_assert_eq(del.status, 405, "%d %s", del.status, del.body);
    cr_assert_not_null(hresp_header(&del, "Allow", ct, sizeof ct), "405 without Allow");
    hresp_free(&del);
    cr_assert_eq(status_of("DELETE", "/api/v1/runs/sp%20run/groups/spike%2F0/series"), 405);
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM estimates WHERE run = 'sp run'"), NB,
                 "DELETE removed nothing");

    const char *trav[] = {"/../../etc/passwd",           "/%2e%2e/%2e%2e/etc/passwd",
                          "/%2E%2E/%2E%2E/etc/passwd",   "/..%2f..%2fetc%2fpasswd",
                          "/static/../../../etc/passwd", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd"};
    for (size_t i = 0; i < sizeof trav / sizeof *trav; i++) {
        int st = status_of("GET", trav[i]);
        cr_assert_eq(st, 400, "%s answered %d (docs/http.md: traversal is 400)", trav[i], st);
    }
    htga_destroy(&h);
    /* a query parameter whose percent-escape is malformed is refused */
    cr_assert_eq(status_of("GET", "/api/v1/runs/sp%20run/groups/spike%2F0/series?format=%zz"), 400,
                 "a bad escape in the query string is 400");
}

/* --metrics-expire-s: a run with no new block for that long leaves /metrics
 * (it was fixed at 3600 s before the setting existed). */
Test(daemon_http, metrics_expire_setting)
{
    testd_stop(&d, SIGTERM);
    char http[64];
    snprintf(http, sizeof http, "127.0.0.1:%u", hport);
    cr_assert_eq(
        testd_start(&d, "--block-samples", "1024", "--http", http, "--metrics-expire-s", "1", NULL),
        0);
    htga *h = NULL;
    cr_assert_eq(htga_create(&h, d.endpoint, "short run"), HTGA_OK);
    uint64_t seed = 11;
    float x[1024];
    student_t(x, 1024, 3.0, &seed);
    int64_t deadline = now_ms() + 2000;
    while (htga_send(h, "g", 0, x, 1024) == HTGA_EDROPPED && now_ms() < deadline)
        sleep_ms(5);
    cr_assert_eq(htga_flush(h, 5000), HTGA_OK);
    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) FROM estimates", 1, 20000), 0);
    htga_destroy(&h);

    struct hresp r;
    httpc(hport, "GET", "/metrics", NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "htga_alpha{run=\"short run\",group=\"g\"} "), "%s", r.body);
    hresp_free(&r);
    /* --metrics-expire-s 1: the run leaves /metrics (polled, up to 10 s) */
    int gone = 0;
    for (int64_t dl = now_ms() + 10000; !gone && now_ms() < dl;) {
        httpc(hport, "GET", "/metrics", NULL, NULL, 0, &r);
        cr_assert_eq(r.status, 200);
        gone = strstr(r.body, "run=\"short run\"") == NULL;
        hresp_free(&r);
        if (!gone)
            sleep_ms(100);
    }
    cr_assert(gone, "the run never left /metrics");
}

/* An int from a JSON object member (0 when missing). */
static long long jint(const json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

/* Steps [s0, s1) of all groups, one step every ms_per_step ms. */
static void send_steps(htga *h, int s0, int s1, int ms_per_step, int ng, const char **groups,
                       const float **grads, const size_t *ns)
{
    int64_t t0 = now_ms();

    for (int s = s0; s < s1; s++) {
        htga_send_many(h, s, (size_t)ng, groups, grads, ns, NULL);
        while (now_ms() < t0 + (int64_t)(s - s0 + 1) * ms_per_step)
            sleep_ms(1);
    }
}

/* A trainer whose own queue sheds (1 MiB, budgets ignored) against an
 * estimator slowed to about 200 blocks a second, each message one block:
 * two bursts 40 times what htgad takes, 7.5 s of steps it keeps up with
 * between them. Every message the client says it dropped is in a
 * client_queue row of its run in the `gaps` view (group NULL: the wire
 * says how many, not which groups), every (group, step) missing from the
 * stored blocks lies inside one of those rows' step ranges, and the quiet
 * steps the bursts are past lie in none; `estimates` marks blocks beside
 * them, and the series of a group lists the rows that overlap the
 * requested steps, and none past them. */
Test(daemon_http, client_drops_show_as_gaps_in_the_db_and_the_series)
{
    enum { G = 8, N = 1024, STEPS = 660 };
    char http[64], sql[1024], path[256];
    const char *groups[G];
    const float *grads[G];
    size_t ns[G];
    char names[G][8];
    float *x = malloc(N * sizeof(float));
    uint64_t seed = 3;
    htga *h = NULL;
    htga_stats st;
    htga_ack ack;

    snprintf(http, sizeof http, "127.0.0.1:%u", hport);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
    cr_assert_eq(testd_start(&d, "--block-samples", "1024", "--queue-bytes", "1M",
                             "--test-estimate-delay-us", "5000", "--estimators", "1", "--http",
                             http, NULL),
                 0);
    student_t(x, N, 3.0, &seed);
    for (int g = 0; g < G; g++) {
        snprintf(names[g], sizeof names[g], "g%d", g);
        groups[g] = names[g];
        grads[g] = x;
        ns[g] = N;
    }
    cr_assert_eq(htga_create(&h, d.endpoint, "shed"), HTGA_OK);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_QUEUE_BYTES, 256 << 10), HTGA_OK);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_FOLLOW_BUDGET, 0), HTGA_OK);
    /* a step a millisecond (8 blocks: 40x what htgad takes), then for
     * 7.5 s one every 125 ms (64 blocks/s) while the queues drain (about
     * 340 blocks, and what the loopback's socket buffers took: 3-4 s
     * here), then a burst again */
    send_steps(h, 0, 300, 1, G, groups, grads, ns);
    send_steps(h, 300, 360, 125, G, groups, grads, ns);
    send_steps(h, 360, STEPS, 1, G, groups, grads, ns);
    cr_assert_eq(htga_barrier(h, HTGA_BARRIER_CLOSE, 60000, &ack, sizeof ack), HTGA_OK);
    cr_assert_eq(htga_stats_get(h, &st, sizeof st), HTGA_OK);
    uint64_t drops = st.drops_queue + st.drops_offline;
    cr_assert_gt(drops, 0, "the client shed nothing: the test does not test");
    cr_assert_eq(st.msgs_sent + drops, (uint64_t)G * STEPS);
    cr_assert_eq(ack.msgs, ack.msgs_sent);
    cr_assert_eq(ack.blocks_lost, 0);
    cr_assert_eq(ack.values_refused, 0);

    /* the DB: every drop in a client_queue row of the run, within its steps */
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(count), 0) = %llu FROM gaps WHERE run = 'shed'"
             " AND reason = 'client_queue'",
             (unsigned long long)drops);
    cr_assert_eq(testd_wait_query(&d, sql, 1, 10000), 0, "%llu drops, %lld in gaps",
                 (unsigned long long)drops,
                 (long long)testd_query(&d, "SELECT sum(count) FROM gaps WHERE run = 'shed'"));
    char rows[512];
    testd_query_text(&d,
                     "SELECT group_concat(reason || ' ' || count || ' at ' || step_first || '..' "
                     "|| step_last, ', ')"
                     " FROM gaps WHERE run = 'shed'",
                     rows, sizeof rows);
    cr_log_info("client drops: %llu of %d messages, gaps rows: %s", (unsigned long long)drops,
                G * STEPS, rows);
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM gaps WHERE run = 'shed' AND NOT"
                                 " (group_name IS NULL AND unit = 'messages' AND step_first >= 0"
                                 " AND step_last < 660 AND step_first <= step_last)"),
                 0);
    /* what is missing is where the rows say: (group, step) pairs without a block */
    static const char missing[] =
        "WITH RECURSIVE s(step) AS (SELECT 0 UNION ALL SELECT step + 1 FROM s WHERE step < 659),"
        " g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < 7),"
        " m AS (SELECT 'g' || i AS grp, step FROM g, s WHERE NOT EXISTS (SELECT 1 FROM estimates e"
        " WHERE e.run = 'shed' AND e.group_name = 'g' || i AND e.step_last = s.step)) ";
    snprintf(sql, sizeof sql, "%s SELECT count(*) FROM m", missing);
    cr_assert_eq(testd_query(&d, sql), (int64_t)drops, "blocks missing vs drops");
    snprintf(sql, sizeof sql,
             "%s SELECT count(*) FROM m WHERE NOT EXISTS (SELECT 1 FROM gaps x WHERE"
             " x.run = 'shed' AND m.step BETWEEN x.step_first AND x.step_last)",
             missing);
    cr_assert_eq(testd_query(&d, sql), 0, "a missing block outside every shed row's steps");
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM gaps WHERE run = 'shed'"
                                 " AND step_last >= 350 AND step_first <= 359"),
                 0, "the last quiet steps (the queues long drained) in a shed row");
    cr_assert_eq(testd_query(&d, "SELECT count(*) > 0 FROM gaps WHERE run = 'shed'"
                                 " AND step_first < 300"),
                 1, "the first burst shed nothing: the check above does not test");
    cr_assert_eq(testd_query(&d, "SELECT count(*) > 0 FROM gaps WHERE run = 'shed'"
                                 " AND step_last >= 360"),
                 1, "the second burst shed nothing");
    cr_assert_gt(testd_query(&d, "SELECT count(*) FROM estimates WHERE run = 'shed'"
                                 " AND shed_events > 0"),
                 0);

    /* the series: all of them without a range ... */
    json_t *j = get("/api/v1/runs/shed/groups/g3/series?fields=alpha");
    json_t *shed = json_object_get(j, "shed");
    long long sum = 0;
    cr_assert(json_is_array(shed));
    cr_assert(json_is_false(json_object_get(j, "shed_truncated")));
    cr_assert_eq((int64_t)json_array_size(shed),
                 testd_query(&d, "SELECT count(*) FROM gaps WHERE run = 'shed'"));
    for (size_t i = 0; i < json_array_size(shed); i++) {
        json_t *e = json_array_get(shed, i);
        sum += jint(e, "count");
        cr_assert_str_eq(json_string_value(json_object_get(e, "reason")), "client_queue");
        cr_assert_str_eq(json_string_value(json_object_get(e, "unit")), "messages");
        cr_assert_str_eq(json_string_value(json_object_get(e, "scope")), "run");
    }
    cr_assert_eq(sum, (long long)drops);
    /* ... those overlapping a range (the steps of the first row) ... */
    json_t *e0 = json_array_get(shed, 0);
    long long a = jint(e0, "step_first"), b = jint(e0, "step_last");
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM gaps WHERE run = 'shed' AND step_last >= %lld"
             " AND step_first <= %lld",
             a, b);
    int64_t want = testd_query(&d, sql);
    snprintf(path, sizeof path,
             "/api/v1/runs/shed/groups/g3/series?fields=alpha&from_step=%lld"
             "&to_step=%lld&max_points=4",
             a, b);
    json_t *j2 = get(path);
    shed = json_object_get(j2, "shed");
    cr_assert_eq((int64_t)json_array_size(shed), want);
    cr_assert_eq(jint(json_array_get(shed, 0), "step_first"), a);
    cr_assert_eq(jint(json_array_get(shed, 0), "step_last"), b);
    for (size_t i = 0; i < json_array_size(shed); i++) {
        json_t *e = json_array_get(shed, i);
        cr_assert(jint(e, "step_last") >= a && jint(e, "step_first") <= b);
    }
    json_decref(j2);
    json_decref(j);
    /* ... and none past them */
    j = get("/api/v1/runs/shed/groups/g3/series?fields=alpha&from_step=700&to_step=800");
    cr_assert_eq(json_array_size(json_object_get(j, "shed")), 0);
    json_decref(j);
    htga_destroy(&h);
    free(x);
}

/* A run whose streams left memory (idle) while its client stays connected
 * keeps its flow families in /metrics, as a live run (metrics-expire-s
 * after its last samples). */
Test(daemon_http, idle_run_keeps_its_flow_metrics)
{
    char http[64];
    htga *h = NULL;
    static float x[1024] = {1, -2, 3};
    struct hresp r;

    snprintf(http, sizeof http, "127.0.0.1:%u", hport);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
    cr_assert_eq(
        testd_start(&d, "--block-samples", "1024", "--stream-idle-s", "1", "--http", http, NULL),
        0);
    cr_assert_eq(htga_create(&h, d.endpoint, "idle"), HTGA_OK);
    cr_assert_eq(htga_send(h, "g", 0, x, 1024), HTGA_OK);
    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) FROM estimates", 1, 10000), 0);
    json_t *fl, *j = wait_flow("idle", 0, &fl);
    cr_assert_eq(json_integer_value(json_object_get(fl, "streams")), 0, "the stream stayed");
    cr_assert_geq(json_number_value(json_object_get(fl, "idle_s")), 1.0);
    cr_assert_lt(json_number_value(json_object_get(fl, "idle_s")), 3600.0);
    json_decref(j);
    httpc(hport, "GET", "/metrics", NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "htga_run_ranks{run=\"idle\"} 1\n"), "%s", r.body);
    htga_destroy(&h);
}
