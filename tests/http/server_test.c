/*
 * Tests of the HTTP server over real sockets: every endpoint and error
 * status against a temporary database built with the daemon's migrations.
 * Each test starts its own server on a free port (port 0).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "rollup.h"
#include "http.h"
#include "httpc.h"

#define NBLOCKS 25000
#define SPIKE   12345
#define DIP     555

static char dir[64], dbpath[128], webdir[128];
static http_server *srv;
static uint16_t port;
static int policy_calls;
static policy last_policy;
static char last_run[256];

static double alpha_of(int64_t b)
{
    return b == SPIKE ? 99.0 : b == DIP ? 0.01 : 2.0 + (double)(b % 17) * 0.01;
}

static int daemon_rc;             /* what on_policy answers */
static const char *daemon_reason; /* and the reason it gives, or NULL */

static int on_policy(void *ud, const char *run, const policy *p, char *err, size_t n)
{
    (void)ud;
    policy_calls++;
    last_policy = *p;
    snprintf(last_run, sizeof last_run, "%s", run);
    if (daemon_reason)
        snprintf(err, n, "%s", daemon_reason);
    return daemon_rc;
}

static size_t stats(void *ud, struct http_stat *out, size_t cap)
{
    (void)ud;
    static const struct http_stat st[] = {
        {"ingest_messages", "Messages received.", HTTP_STAT_COUNTER, NULL, NULL, 42},
        {"drops", "Data dropped, by reason.", HTTP_STAT_COUNTER, "reason", "queue_full", 3},
        {"drops", "Data dropped, by reason.", HTTP_STAT_COUNTER, "reason", "stream_limit", 0},
        {"queue_depth", "Items waiting, by queue.", HTTP_STAT_GAUGE, "queue", "writer", 7},
    };
    size_t n = sizeof st / sizeof st[0];
    memcpy(out, st, (n < cap ? n : cap) * sizeof st[0]);
    return n;
}

static unsigned timeout_s;

static void start_server(const char *token)
{
    struct http_config cfg = {
        .listen = "127.0.0.1:0",
        .db_path = dbpath,
        .token = token,
        .web_root = webdir,
        .default_policy = {POLICY_LINEAR, 1.0, 0.1, 10.0, 0.0},
        .on_policy = on_policy,
        .stats = stats,
        .metrics_expire_s = 3600,
        .timeout_s = timeout_s,
    };
    char err[128];
    cr_assert_eq(http_start(&srv, &cfg, err, sizeof err), HTTP_OK, "%s", err);
    port = http_port(srv);
    cr_assert_neq(port, 0);
}

static void setup(void)
{
    cr_assert_not_null(fixture_tmpdir(dir, sizeof dir));
    snprintf(dbpath, sizeof dbpath, "%s/t.db", dir);
    snprintf(webdir, sizeof webdir, "%s/web", dir);
    mkdir(webdir, 0700);
    char p[192];
    snprintf(p, sizeof p, "%s/index.html", webdir);
    FILE *f = fopen(p, "w");
    fputs("<!doctype html><title>htga</title>", f);
    fclose(f);
    sqlite3 *db = fixture_db(dbpath);
    cr_assert_not_null(db);
    double now = (double)time(NULL);
    int64_t g1 = fixture_group(db, "run-1", "layer/1.w", now);
    int64_t g2 = fixture_group(db, "run-1", "g2", now);
    int64_t g3 = fixture_group(db, "old run", "g", now - 86400);
    fixture_group(db, "run-1", "empty", now);
    cr_assert_eq(fixture_blocks(db, g1, 0, NBLOCKS, alpha_of, now), 0);
    cr_assert_eq(fixture_blocks(db, g2, 0, 10, NULL, now), 0);
    cr_assert_eq(fixture_blocks(db, g3, 0, 5, NULL, now - 86400), 0);
    cr_assert_eq(fixture_rollup(db), 0);
    double y[4] = {8, 4, 2, 1};
    cr_assert_eq(fixture_top(db, g2, 9, y, 4), 0);
    cr_assert_eq(sqlite3_exec(db,
                              "INSERT INTO policy_changes(run_id, kind, param, lambda_min,"
                              " lambda_max, ema, source, created_at) SELECT id, 'linear', 0.5,"
                              " 0.2, 5, 0.1, 'default', 1000 FROM runs WHERE name = 'run-1'",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);
    policy_calls = 0;
    daemon_rc = HTTP_OK;
    daemon_reason = NULL;
    timeout_s = 0;
}

static void teardown(void)
{
    http_stop(&srv);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(server, .init = setup, .fini = teardown, .timeout = 60);

static json_t *get_json(const char *path, int want_status)
{
    struct hresp r;
    httpc(port, "GET", path, NULL, NULL, 0, &r);
    cr_assert_eq(r.status, want_status, "%s: %d %s", path, r.status, r.body);
    char ct[128];
    cr_assert_str_eq(hresp_header(&r, "Content-Type", ct, sizeof ct), "application/json");
    json_error_t e;
    json_t *j = json_loads(r.body, 0, &e);
    cr_assert_not_null(j, "%s: not JSON: %s", path, r.body);
    hresp_free(&r);
    return j;
}

/* Expects status and {"error": text} (any text when text is NULL). */
static void expect_error_text(const char *method, const char *path, const char *hdr,
                              const char *body, int status, const char *text)
{
    struct hresp r;
    httpc(port, method, path, hdr, body, body ? strlen(body) : 0, &r);
    cr_assert_eq(r.status, status, "%s %s: %d %s", method, path, r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    const char *msg = json_string_value(json_object_get(j, "error"));
    cr_assert_not_null(msg, "%s", r.body);
    if (text)
        cr_assert_str_eq(msg, text);
    json_decref(j);
    hresp_free(&r);
}

static void expect_error(const char *method, const char *path, const char *hdr, const char *body,
                         int status)
{
    expect_error_text(method, path, hdr, body, status, NULL);
}

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

Test(server, series_raw_and_steps)
{
    start_server(NULL);
    json_t *j = get_json("/api/v1/runs/run-1/groups/layer%2F1.w/"
                         "series?fields=alpha,kurtosis&from_step=100&to_step=199",
                         200);
    cr_assert_eq(json_is_false(json_object_get(j, "downsampled")), 1);
    json_t *blk = json_object_get(j, "block");
    cr_assert_eq(json_array_size(blk), 10);
    cr_assert_eq(json_integer_value(json_array_get(blk, 0)), 10);
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(j, "step"), 9)), 199);
    cr_assert_float_eq(json_number_value(json_array_get(json_object_get(j, "kurtosis"), 0)), 10,
                       1e-12);
    json_decref(j);

    j = get_json("/api/v1/runs/run-1/groups/g2/series?from_step=100000", 200);
    cr_assert_eq(json_array_size(json_object_get(j, "step")), 0);
    json_decref(j);
}

/* Checks every bucket of a downsampled response against alpha_of(). */
static void check_buckets(json_t *j, int64_t b0, int64_t b1, size_t max_points, size_t min_points)
{
    cr_assert(json_is_true(json_object_get(j, "downsampled")));
    size_t n = (size_t)json_integer_value(json_object_get(j, "buckets"));
    cr_assert_leq(n, max_points);
    cr_assert_geq(n, min_points);
    json_t *blk = json_object_get(j, "block"), *cnt = json_object_get(j, "count");
    json_t *mn = json_object_get(j, "alpha_min"), *mx = json_object_get(j, "alpha_max");
    cr_assert_eq(json_array_size(blk), n);
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t start = json_integer_value(json_array_get(blk, i));
        int64_t c = json_integer_value(json_array_get(cnt, i));
        double lo = INFINITY, hi = -INFINITY;
        for (int64_t b = start; b < start + c; b++) {
            lo = fmin(lo, alpha_of(b));
            hi = fmax(hi, alpha_of(b));
        }
        cr_assert_float_eq(json_number_value(json_array_get(mn, i)), lo, 1e-9, "bucket %zu", i);
        cr_assert_float_eq(json_number_value(json_array_get(mx, i)), hi, 1e-9, "bucket %zu", i);
        if (i == 0)
            cr_assert_eq(start, b0);
        total += c;
    }
    cr_assert_eq(total, b1 - b0 + 1, "every block is in exactly one bucket");
}

Test(server, series_downsampled_keeps_extremes)
{
    start_server(NULL);
    const char *path = "/api/v1/runs/run-1/groups/layer%2F1.w/series?fields=alpha&max_points=10";
    json_t *j = get_json(path, 200);
    check_buckets(j, 0, NBLOCKS - 1, 10, 5);
    char *first = json_dumps(j, JSON_SORT_KEYS);
    cr_assert(strstr(first, "99"), "the spike is kept");
    cr_assert(strstr(first, "0.01"), "the dip is kept");
    json_decref(j);
    j = get_json(path, 200); /* the same again */
    char *second = json_dumps(j, JSON_SORT_KEYS);
    cr_assert_str_eq(first, second);
    free(first);
    free(second);
    json_decref(j);
    /* unaligned ends: head and tail rows around rollup chunks */
    j = get_json("/api/v1/runs/run-1/groups/layer%2F1.w/series?fields=alpha&max_points=9"
                 "&from_step=1005&to_step=149999",
                 200);
    check_buckets(j, 100, 14999, 9, 4);
    json_decref(j);
    /* small ranges bucket raw rows */
    j = get_json("/api/v1/runs/run-1/groups/layer%2F1.w/series?fields=alpha&max_points=50"
                 "&from_step=5000&to_step=6999",
                 200);
    check_buckets(j, 500, 699, 50, 25);
    json_decref(j);
    /* narrow buckets over a long range: whole 64-block chunks instead of
     * reading 25000 rows, hence fewer buckets than asked */
    j = get_json("/api/v1/runs/run-1/groups/layer%2F1.w/series?fields=alpha&max_points=1000", 200);
    check_buckets(j, 0, NBLOCKS - 1, 1000, NBLOCKS / 64);
    cr_assert_eq(
        json_integer_value(json_object_get(json_object_get(j, "downsampling"), "bucket_blocks")),
        64);
    json_decref(j);
}

Test(server, series_csv_and_bad_parameters)
{
    start_server(NULL);
    struct hresp r;
    httpc(port, "GET",
          "/api/v1/runs/run-1/groups/g2/series?fields=alpha,lambda&format=csv&to_step=29", NULL,
          NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    char ct[64];
    cr_assert_str_eq(hresp_header(&r, "Content-Type", ct, sizeof ct), "text/csv; charset=utf-8");
    cr_assert_str_eq(r.body, "block,step,alpha,lambda\r\n0,9,2,1\r\n1,19,2,1\r\n2,29,2,1\r\n");
    hresp_free(&r);
    const char *bad[] = {
        "?max_points=1",  "?max_points=abc",        "?fields=bogus",   "?fields=alpha%27--",
        "?format=xml",    "?from_step=9&to_step=1", "?from_step=1e3",  "?what=1",
        "?from_step=%zz", "?to_step=%zz",           "?max_points=%zz", "?format=%zz",
        "?fields=%zz",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/api/v1/runs/run-1/groups/g2/series%s", bad[i]);
        expect_error("GET", path, NULL, NULL, 400);
    }
}

/* Downsampled answers (rollup rows of every level, plus rows at the ends
 * and in the open chunks) equal the buckets computed from the blocks, for
 * random step ranges cutting chunks anywhere, in a group with holes too. */
Test(server, series_rollup_matches_blocks)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    /* a group with holes in its block numbers (blocks the estimator dropped) */
    int64_t g4 = fixture_group(db, "run-1", "gappy", 0);
    cr_assert_eq(fixture_blocks(db, g4, 0, 3000, alpha_of, 0), 0);
    cr_assert_eq(fixture_blocks(db, g4, 3130, 9000, alpha_of, 0), 0);
    /* ends with a full 64-block chunk, which has no rollup row until a
     * later block exists */
    cr_assert_eq(fixture_blocks(db, g4, 20000, 26048, alpha_of, 0), 0);
    cr_assert_eq(fixture_rollup(db), 0);
    sqlite3_close(db);
    start_server(NULL);
    cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    static const char *const groups[2] = {"layer%2F1.w", "gappy"};
    static const char *const names[2] = {"layer/1.w", "gappy"};
    uint64_t rnd = 0x9e3779b97f4a7c15u;
    int downsampled = 0;
    for (int it = 0; it < 80; it++) {
        rnd = rnd * 6364136223846793005u + 1442695040888963407u;
        int g = (int)(rnd >> 63);
        int64_t from = (int64_t)((rnd >> 20) % 270000) - 100;
        rnd = rnd * 6364136223846793005u + 1442695040888963407u;
        int64_t to = it % 4 == 0 ? INT64_MAX / 2 : from + (int64_t)((rnd >> 20) % 270000);
        int64_t mp = 2 + (int64_t)((rnd >> 8) % 4) * (int64_t)((rnd >> 40) % 1500);
        char q[256];
        snprintf(q, sizeof q,
                 "/api/v1/runs/run-1/groups/%s/series?fields=alpha,kurtosis,alpha_lo"
                 "&from_step=%lld&to_step=%lld&max_points=%lld",
                 groups[g], (long long)from, (long long)to, (long long)mp);
        json_t *j = get_json(q, 200);
        sqlite3_stmt *st;
        sqlite3_prepare_v2(db,
                           "SELECT g.id FROM groups g JOIN runs r ON r.id = g.run_id"
                           " WHERE r.name = 'run-1' AND g.name = ?1",
                           -1, &st, NULL);
        sqlite3_bind_text(st, 1, names[g], -1, SQLITE_STATIC);
        cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
        int64_t gid = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (json_is_true(json_object_get(j, "downsampled"))) {
            downsampled++;
            cr_assert_leq(json_integer_value(json_object_get(j, "buckets")), mp, "%s", q);
        }
        char err[512];
        cr_assert_eq(series_check(j, db, gid, from, to, err, sizeof err), 0, "%s: %s", q, err);
        json_decref(j);
    }
    cr_assert_geq(downsampled, 40, "most ranges are downsampled");
    sqlite3_close(db);
}

#define AGG_COLS(f) ", " #f "_min, " #f "_max, " #f "_sum, " #f "_cnt"

/* Packs the series_rollup rows matching `where` into series_rollup_agg
 * from their columns and clears their marks, as htgad does when it opens a
 * database (the fixture's rows, written by SQL, have none). Returns the
 * rows packed. */
static int pack_rows(const char *where)
{
    sqlite3 *db;
    sqlite3_stmt *sel, *upd;
    char sql[2048];
    int n = 0;
    cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    snprintf(sql, sizeof sql,
             "SELECT group_id, level, chunk, block_first, n_blocks, step_first,"
             " step_last" ROLLUP_FIELDS(AGG_COLS) " FROM series_rollup JOIN series_rollup_unpacked"
                                                  " USING (group_id, level, chunk) WHERE %s",
             where);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &sel, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_prepare_v2(db, "INSERT INTO series_rollup_agg VALUES (?1, ?2, ?3, ?4)", -1,
                                    &upd, NULL),
                 SQLITE_OK);
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    while (sqlite3_step(sel) == SQLITE_ROW) {
        unsigned char agg[ROLLUP_AGG_BYTES];
        rollup_agg_put_head(agg, sqlite3_column_int64(sel, 3), sqlite3_column_int64(sel, 4),
                            sqlite3_column_int64(sel, 5), sqlite3_column_int64(sel, 6));
        for (int f = 0; f < ROLLUP_NFIELDS; f++) {
            int c = 7 + 4 * f;
            rollup_agg_put(agg, f, sqlite3_column_double(sel, c), sqlite3_column_double(sel, c + 1),
                           sqlite3_column_double(sel, c + 2), sqlite3_column_int64(sel, c + 3));
        }
        for (int i = 0; i < 3; i++)
            sqlite3_bind_int64(upd, i + 1, sqlite3_column_int64(sel, i));
        sqlite3_bind_blob(upd, 4, agg, sizeof agg, SQLITE_TRANSIENT);
        cr_assert_eq(sqlite3_step(upd), SQLITE_DONE);
        sqlite3_reset(upd);
        n++;
    }
    cr_assert_eq(sqlite3_exec(db,
                              "DELETE FROM series_rollup_unpacked WHERE EXISTS (SELECT 1 FROM"
                              " series_rollup_agg AS a WHERE a.group_id ="
                              " series_rollup_unpacked.group_id AND a.level ="
                              " series_rollup_unpacked.level AND a.chunk ="
                              " series_rollup_unpacked.chunk)",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    sqlite3_close(db);
    return n;
}

/* Rollup rows answer the same bytes whether their aggregates come packed
 * (series_rollup_agg, migration 4) or from their columns (a row written by
 * SQL), and in any mix of the two. */
Test(server, series_packed_and_unpacked_rollup_rows_answer_the_same)
{
    static const char *const q[] = {
        "fields=alpha,kurtosis,variance,lambda&max_points=1000",
        "fields=step_first,n,n_used,median,mean,variance,kurtosis,alpha,alpha_se,alpha_lo,"
        "alpha_hi,k,alpha_stable,lambda&max_points=100",
        "fields=alpha,alpha_lo,alpha_hi&max_points=77&from_step=1234&to_step=170000",
        "fields=alpha,kurtosis&max_points=300&format=csv",
        "max_points=9&from_step=30000",
    };
    enum { NQ = sizeof q / sizeof q[0] };
    char *first[NQ];
    start_server(NULL);
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 1)
            cr_assert_gt(pack_rows("chunk % 2 = 0"), 100);
        if (pass == 2)
            cr_assert_gt(pack_rows("1"), 100);
        for (int i = 0; i < NQ; i++) {
            char path[512];
            struct hresp r;
            snprintf(path, sizeof path, "/api/v1/runs/run-1/groups/layer%%2F1.w/series?%s", q[i]);
            httpc(port, "GET", path, NULL, NULL, 0, &r);
            cr_assert_eq(r.status, 200, "%s: %d %s", path, r.status, r.body);
            if (pass == 0) {
                first[i] = strdup(r.body);
                if (!strstr(q[i], "csv"))
                    cr_assert(strstr(r.body, "\"downsampled\":true"), "%s", path);
            } else {
                cr_assert_str_eq(r.body, first[i], "pass %d: %s", pass, path);
            }
            hresp_free(&r);
        }
    }
    for (int i = 0; i < NQ; i++)
        free(first[i]);
}

/* Requests on one kept-alive connection reuse the statements its thread
 * kept prepared (routes_runs.c parks up to 16): more distinct statements
 * than that, interleaved and repeated, answer what the same requests answer
 * each on a new connection. */
Test(server, statements_reused_on_a_kept_alive_connection)
{
    static const char *const fields[] = {"alpha",    "kurtosis", "alpha,kurtosis", "k,n",
                                         "lambda",   "median",   "mean,variance",  "n_used",
                                         "alpha_se", "alpha_hi", "alpha_lo,alpha", "step_first"};
    enum { NF = sizeof fields / sizeof fields[0], NREQ = 3 * NF + 3 };
    char *paths[NREQ];
    start_server(NULL);
    size_t cap = 65536, len = 0;
    char *req = malloc(cap);
    for (int i = 0; i < NREQ; i++) {
        char p[256];
        if (i % 13 == 12)
            snprintf(p, sizeof p, "/api/v1/runs/run-1/latest");
        else
            snprintf(p, sizeof p,
                     "/api/v1/runs/run-1/groups/layer%%2F1.w/series?fields=%s&max_points=%d%s",
                     fields[(i * 5) % NF], 50 + i, i % 2 ? "&from_step=3000&to_step=200000" : "");
        paths[i] = strdup(p);
        len +=
            (size_t)snprintf(req + len, cap - len, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n",
                             p, i == NREQ - 1 ? "Connection: close\r\n" : "");
    }
    struct hresp all;
    httpc_raw(port, req, len, &all);
    free(req);
    /* httpc_raw parsed the first response; the others follow its body */
    const char *at = all.headers;
    cr_assert_not_null(at);
    char *raw = all.body;
    size_t off = 0;
    for (int i = 0; i < NREQ; i++) {
        struct hresp one;
        httpc(port, "GET", paths[i], NULL, NULL, 0, &one);
        cr_assert_eq(one.status, 200, "%s: %d", paths[i], one.status);
        if (i == 0) {
            cr_assert_eq(all.status, 200);
            cr_assert_geq(all.body_len, one.body_len);
            cr_assert_eq(memcmp(raw, one.body, one.body_len), 0, "%s", paths[i]);
        } else {
            const char *h = strstr(raw + off, "HTTP/1.1 200");
            cr_assert_not_null(h, "response %d (%s) missing", i, paths[i]);
            const char *cl = strstr(h, "Content-Length: ");
            const char *e = strstr(h, "\r\n\r\n");
            cr_assert(cl && e && cl < e, "response %d: no Content-Length", i);
            size_t n = strtoul(cl + 16, NULL, 10);
            cr_assert_eq(n, one.body_len, "%s", paths[i]);
            cr_assert_eq(memcmp(e + 4, one.body, n), 0, "%s", paths[i]);
            off = (size_t)(e + 4 - raw) + n;
        }
        if (i == 0)
            off = one.body_len;
        hresp_free(&one);
        free(paths[i]);
    }
    hresp_free(&all);
}

/* A series without max_points is capped at 200000 blocks: past that the
 * answer is a 400 that says to pass max_points. */
Test(server, series_without_max_points_is_capped)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    int64_t g = fixture_group(db, "run-1", "big", (double)time(NULL));
    cr_assert_eq(fixture_blocks(db, g, 0, 200001, NULL, 0), 0);
    cr_assert_eq(fixture_rollup(db), 0);
    sqlite3_close(db);
    start_server(NULL);
    struct hresp r;
    httpc(port, "GET", "/api/v1/runs/run-1/groups/big/series?fields=alpha", NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 400, "%d %s", r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    const char *err = json_string_value(json_object_get(j, "error"));
    cr_assert(err && strstr(err, "max_points"), "%s", r.body);
    json_decref(j);
    hresp_free(&r);
    j = get_json("/api/v1/runs/run-1/groups/big/series?fields=alpha&max_points=1000", 200);
    cr_assert(json_is_true(json_object_get(j, "downsampled")));
    json_decref(j);
    /* A range of 200000 blocks (steps 10..2000009) is not refused. */
    j = get_json("/api/v1/runs/run-1/groups/big/series?fields=alpha&from_step=10", 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "blocks")), 200000);
    json_decref(j);
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

Test(server, policy_get_put_token)
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
Test(server, policy_refusals)
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
    cr_assert_eq(policy_calls, 3);

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

Test(server, loopback_without_token_accepts_writes)
{
    start_server(NULL);
    const char *body = "{\"kind\":\"linear\",\"c\":2}";
    struct hresp r;
    httpc(port, "PUT", "/api/v1/runs/run-1/policy", NULL, body, strlen(body), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    hresp_free(&r);
    cr_assert_eq(policy_calls, 1);
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
