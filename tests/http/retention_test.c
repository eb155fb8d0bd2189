/*
 * retention_test.c - daemon/store/retention.c on a store-made database, then the
 * HTTP server on what is left: old full-resolution blocks go in bounded
 * pieces, only in complete chunks that have their rollup, never a young
 * one; the space goes back to the file system; and the dashboard's coarse
 * series of the old run are the same answer, byte for byte, as before.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "http.h"
#include "httpc.h"
#include "retention.h"
#include "store.h"

static char dir[64], dbpath[128];

static double alpha_of(int64_t b)
{
    return 1.0 + (double)(b % 97) / 50.0;
}

static int64_t one(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static char *get(uint16_t port, const char *path)
{
    struct hresp r;
    httpc(port, "GET", path, NULL, NULL, 0, &r);
    cr_assert_eq(r.status, 200, "%s: %d %s", path, r.status, r.body);
    char *body = strdup(r.body);
    hresp_free(&r);
    return body;
}

static uint16_t serve(http_server **srv)
{
    struct http_config cfg = {
        .listen = "127.0.0.1:0", .db_path = dbpath, .web_root = dir, .metrics_expire_s = 3600};
    char err[256];
    cr_assert_eq(http_start(srv, &cfg, err, sizeof err), HTTP_OK, "%s", err);
    return http_port(*srv);
}

#define SERIES(g, q) "/api/v1/runs/r/groups/" g "/series?fields=alpha,kurtosis,lambda" q

Test(retention, drops_old_summarised_blocks_and_keeps_coarse_series, .timeout = 60)
{
    sqlite3 *db;
    char err[512];
    double now = (double)time(NULL), old = now - 86400;
    retention r;

    cr_assert_not_null(fixture_tmpdir(dir, sizeof dir));
    snprintf(dbpath, sizeof dbpath, "%s/t.db", dir);
    cr_assert_eq(store_open(dbpath, &db, err, sizeof err), 0, "%s", err);
    cr_assert_eq(one(db, "PRAGMA auto_vacuum"), 2, "a new store file vacuums incrementally");
    int64_t g1 = fixture_group(db, "r", "old", old);
    int64_t g2 = fixture_group(db, "r", "young", now);
    int64_t g3 = fixture_group(db, "r", "unsummarised", old);
    /* "old": blocks 0..999 a day old, 1000..1099 new; chunk 15 (960..1023)
     * ends with a new block, so 0..959 may go */
    cr_assert_eq(fixture_blocks(db, g1, 0, 1000, alpha_of, old), 0);
    cr_assert_eq(fixture_blocks(db, g1, 1000, 1100, alpha_of, now), 0);
    cr_assert_eq(fixture_blocks(db, g2, 0, 200, alpha_of, now), 0);
    cr_assert_eq(fixture_blocks(db, g3, 0, 200, alpha_of, old), 0);
    cr_assert_eq(fixture_rollup(db), 0);
    char sql[160];
    snprintf(sql, sizeof sql, "DELETE FROM series_rollup WHERE group_id = %lld", (long long)g3);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);

    http_server *srv = NULL;
    uint16_t port = serve(&srv);
    char *coarse = get(port, SERIES("old", "&max_points=10"));
    char *coarse_steps = get(port, SERIES("old", "&max_points=10&from_step=0&to_step=7679"));
    char *runs_before = get(port, "/api/v1/runs/r");
    int64_t pages = one(db, "PRAGMA page_count");

    /* bounded pieces: 256 blocks (4 chunks) each, oldest first */
    retention_init(&r, 3600, 1, 256, 100000);
    cr_assert_eq(retention_run(&r, db, 0, now), 256);
    cr_assert_eq(one(db, "SELECT min(block) FROM blocks WHERE group_id = 1"), 256);
    cr_assert_eq(retention_run(&r, db, 0, now), 256, "a full piece: the next one is due at once");
    int64_t total = 512, n;
    for (double t = 1; (n = retention_run(&r, db, t, now)) > 0; t += 1)
        total += n;
    cr_assert_eq(n, 0);
    cr_assert_eq(total, 960);
    snprintf(sql, sizeof sql, "SELECT min(block) FROM blocks WHERE group_id = %lld", (long long)g1);
    cr_assert_eq(one(db, sql), 960);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM blocks WHERE group_id IN (%lld, %lld)",
             (long long)g2, (long long)g3);
    cr_assert_eq(one(db, sql), 400, "young blocks and blocks without rollups stay");
    cr_assert_eq(r.rows_deleted, 960);
    cr_assert_eq(one(db, "PRAGMA freelist_count"), 0);
    cr_assert_lt(one(db, "PRAGMA page_count"), pages, "the file gave its pages back");
    cr_assert_gt(r.pages_freed, 0);

    /* the coarse series of the old run are unchanged: 128 blocks a point
     * come from the rollups alone */
    char *after = get(port, SERIES("old", "&max_points=10"));
    cr_assert_str_eq(after, coarse);
    char *after_steps = get(port, SERIES("old", "&max_points=10&from_step=0&to_step=7679"));
    cr_assert_str_eq(after_steps, coarse_steps);
    /* a finer request over the dropped range is answered at 64 blocks a point */
    char *fine = get(port, SERIES("old", "&max_points=2000"));
    json_t *j = json_loads(fine, 0, NULL);
    cr_assert_not_null(j);
    cr_assert(json_is_true(json_object_get(j, "downsampled")), "%s", fine);
    cr_assert_eq(
        json_integer_value(json_object_get(json_object_get(j, "downsampling"), "bucket_blocks")),
        64);
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(j, "block"), 0)), 0);
    json_decref(j);
    free(fine);
    free(after);
    free(after_steps);
    free(coarse);
    free(coarse_steps);
    free(runs_before);
    http_stop(&srv);
    sqlite3_close(db);
    snprintf(sql, sizeof sql, "rm -rf '%s'", dir);
    cr_assert_eq(system(sql), 0);
}
