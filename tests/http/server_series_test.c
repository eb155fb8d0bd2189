/*
 * Tests of GET .../series over real sockets (routes_series.c): raw rows,
 * step ranges, min/max downsampling that keeps extremes, CSV, bad
 * parameters, answers from rollup rows (packed or not) equal to answers
 * from the blocks, statements reused on a kept-alive connection, and the
 * cap without max_points (server_fixture.h builds the database).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollup.h"
#include "server_fixture.h"

TestSuite(server_series, .init = server_setup, .fini = server_teardown, .timeout = 60);

Test(server_series, series_raw_and_steps)
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

Test(server_series, series_downsampled_keeps_extremes)
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

Test(server_series, series_csv_and_bad_parameters)
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
Test(server_series, series_rollup_matches_blocks)
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
             " step_last" ROLLUP_FIELDS(
                 ROLLUP_AGG_COLS) " FROM series_rollup JOIN series_rollup_unpacked"
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
Test(server_series, series_packed_and_unpacked_rollup_rows_answer_the_same)
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
 * kept prepared (sql.c parks up to 16): more distinct statements
 * than that, interleaved and repeated, answer what the same requests answer
 * each on a new connection. */
Test(server_series, statements_reused_on_a_kept_alive_connection)
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
Test(server_series, series_without_max_points_is_capped)
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
