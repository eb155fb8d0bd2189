/* Unit tests of daemon/store.c and writer.c: migrations, rows, restore. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "estimator.h"
#include "rollup.h"
#include "schema.h"
#include "stats.h"
#include "store.h"

static char dbpath[64];

static void setup(void)
{
    int fd;

    strcpy(dbpath, "/tmp/htgad-store-XXXXXX");
    fd = mkstemp(dbpath);
    close(fd);
    unlink(dbpath);
}

static void teardown(void)
{
    char p[80];

    unlink(dbpath);
    snprintf(p, sizeof(p), "%s-wal", dbpath);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", dbpath);
    unlink(p);
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;

    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The first column of the first row as text (static buffer), for messages. */
static const char *query_text(sqlite3 *db, const char *sql)
{
    static char buf[4096];
    sqlite3_stmt *st;

    buf[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return sqlite3_errmsg(db);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        snprintf(buf, sizeof(buf), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return buf;
}

TestSuite(store, .init = setup, .fini = teardown);

/* Opening a migrated database with nothing to pack takes no write lock:
 * it opens at once while another connection holds one (the rollup pack
 * used to BEGIN IMMEDIATE at every start and wait out the busy timeout). */
Test(store, reopen_with_nothing_to_pack_takes_no_write_lock)
{
    sqlite3 *db, *other;
    char err[256];
    struct timespec t0, t1;

    cr_assert_eq(store_open(dbpath, &db, err, sizeof(err)), 0, "%s", err);
    sqlite3_close(db);
    cr_assert_eq(sqlite3_open(dbpath, &other), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(store_open(dbpath, &db, err, sizeof(err)), 0, "%s", err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_assert(s < 2.0, "store_open waited %.2f s for a write lock", s);
    sqlite3_close(db);
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
}

Test(store, fresh_database_gets_every_migration)
{
    sqlite3 *db;
    char err[256];
    sqlite3_stmt *st;
    const char *want[] = {
        "run",        "group_name", "block",         "step_first", "step_last",    "n",
        "n_used",     "median",     "mean",          "variance",   "kurtosis",     "alpha",
        "alpha_se",   "alpha_lo",   "alpha_hi",      "k",          "alpha_stable", "lambda",
        "created_at", "alpha_deff", "stable_centre", "shed_events"};

    cr_assert_eq(store_open(dbpath, &db, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(query_int(db, "PRAGMA user_version"), schema_migration_count);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM lambda_reasons"), 6);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT * FROM estimates", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_column_count(st), 22);
    for (int i = 0; i < 22; i++)
        cr_assert_str_eq(sqlite3_column_name(st, i), want[i]);
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* Re-open: nothing to apply, same version, data kept. */
    cr_assert_eq(store_open(dbpath, &db, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(query_int(db, "PRAGMA user_version"), schema_migration_count);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM lambda_reasons"), 6);
    cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    cr_assert_eq(store_open(dbpath, &db, err, sizeof(err)), -1);
    cr_assert(strstr(err, "newer") != NULL, "%s", err);
}

static store_item *block_item(uint32_t run_slot, uint32_t slot, const char *run, const char *group,
                              uint64_t block, double alpha, double lambda)
{
    store_item *it = calloc(1, sizeof(*it) + 3 * sizeof(double)); /* room for 3 tops */

    it->kind = STORE_BLOCK;
    it->run_slot = run_slot;
    it->stream_slot = slot;
    snprintf(it->run, sizeof(it->run), "%s", run);
    snprintf(it->group, sizeof(it->group), "%s", group);
    it->pol = policy_default();
    it->source = "default";
    it->block = block;
    it->step_first = (int64_t)block * 10;
    it->step_last = (int64_t)block * 10 + 9;
    it->res.n = it->res.n_used = it->res.n_pos = 1000;
    it->res.median = 0;
    it->res.mean = 0.5;
    it->res.variance = 2;
    it->res.kurtosis = NAN; /* stored as NULL */
    it->res.has_hill = 1;
    it->res.hill.alpha = alpha;
    it->res.hill.k = 31;
    it->out.lambda = lambda;
    it->out.raw = lambda;
    it->created_at = store_now();
    it->top_n = 3;
    it->top[0] = 8 + (double)block;
    it->top[1] = 4;
    it->top[2] = 2;
    return it;
}

Test(store, writer_stores_rows_policies_and_tops_then_restores)
{
    sqlite3 *db;
    char err[256];
    bqueue *q = bqueue_new(64);
    store_writer *w;
    store_item *stop;
    store_state *st;
    size_t n;

    w = store_writer_new(dbpath, q, 8);
    cr_assert_eq(store_writer_start(w, 0, err, sizeof(err)), 0, "%s", err);
    for (uint64_t b = 0; b < 5; b++)
        bqueue_push(q, block_item(0, 0, "run-a", "layer1", b, 2.0 + (double)b, 1.0 + (double)b));
    bqueue_push(q, block_item(0, 1, "run-a", "layer2", 0, 3.0, 3.0));
    {
        store_item *it = block_item(0, 1, "run-a", "layer2", 1, 3.0, 1.5);
        it->pol.kind = POLICY_POWER; /* a new policy: one more policy_changes row */
        it->pol.param = 2.0;
        it->source = "http";
        bqueue_push(q, it);
    }
    stop = calloc(1, sizeof(*stop));
    stop->kind = STORE_STOP;
    bqueue_push(q, stop);
    store_writer_join(&w);

    cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM estimates WHERE run = 'run-a'"), 7);
    cr_assert_eq(query_int(db, "SELECT max(block) FROM estimates WHERE group_name = 'layer1'"), 4);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM estimates WHERE kurtosis IS NULL"), 7);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM policy_changes"), 2);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM policy_changes WHERE source = 'http'"
                               " AND kind = 'power'"),
                 1);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM blocks WHERE policy_id IS NULL"), 0);
    cr_assert_eq(query_int(db, "SELECT block FROM latest_top JOIN groups g ON g.id = group_id"
                               " WHERE g.name = 'layer1'"),
                 4);
    cr_assert_eq(query_int(db, "SELECT length(y) FROM latest_top LIMIT 1"), 24);
    cr_assert_eq(STAT_GET(rows_written), 7);
    /* series_rollup: no chunk is complete yet (5 blocks), so no row */
    cr_assert_eq(query_int(db, "SELECT count(*) FROM series_rollup"), 0);

    cr_assert_eq(store_restore(db, 10, &st, &n, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(n, 2);
    for (size_t i = 0; i < n; i++) {
        cr_assert(st[i].has_block);
        cr_assert(st[i].has_policy);
        cr_assert_eq(st[i].pol.kind, POLICY_POWER); /* the run's latest */
        cr_assert_str_eq(st[i].source, "http");
        if (strcmp(st[i].group, "layer1") == 0) {
            cr_assert_eq(st[i].last_block, 4);
            cr_assert_eq(st[i].last_step, 49);
            cr_assert_float_eq(st[i].lambda, 5.0, 0);
            cr_assert_float_eq(st[i].alpha, 6.0, 0);
        } else {
            cr_assert_eq(st[i].last_block, 1);
            cr_assert_float_eq(st[i].lambda, 1.5, 0);
        }
    }
    free(st);
    sqlite3_close(db);
    bqueue_destroy(&q);
}

/* Writes items with a fresh writer, then stops it. */
static void write_items(store_item **items, size_t n)
{
    char err[256];
    bqueue *q = bqueue_new(64);
    store_writer *w;
    store_item *stop = calloc(1, sizeof(*stop));

    w = store_writer_new(dbpath, q, 8);
    cr_assert_eq(store_writer_start(w, 0, err, sizeof(err)), 0, "%s", err);
    for (size_t i = 0; i < n; i++)
        bqueue_push(q, items[i]);
    stop->kind = STORE_STOP;
    bqueue_push(q, stop);
    store_writer_join(&w);
    bqueue_destroy(&q);
}

/* A latest block without order statistics (top_n 0: no positive value)
 * removes the group's stored plot, so /hill answers 404 rather than an
 * older block's plot or empty arrays. */
Test(store, block_without_tops_removes_the_hill_plot)
{
    sqlite3 *db;
    store_item *it[1];

    it[0] = block_item(0, 0, "run-a", "layer1", 0, 2.0, 2.0);
    write_items(it, 1);
    it[0] = block_item(0, 0, "run-a", "layer1", 1, 2.0, 1.0);
    it[0]->top_n = 0;
    write_items(it, 1);
    cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM blocks"), 2);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM latest_top"), 0);
    sqlite3_close(db);
}

/* The stable estimator's centre (migration 6): rows stored before it
 * read 'mean' without being rewritten, rows htgad writes now 'median', and
 * a row without a stable estimate NULL. */
Test(store, stable_centre_says_which_convention)
{
    sqlite3 *db;
    char err[256];
    store_item *it[2];
    static const char old_rows[] =
        "INSERT INTO runs (name, created_at) VALUES ('old', 0);"
        "INSERT INTO groups (run_id, name, created_at) VALUES (1, 'g', 0);"
        "INSERT INTO blocks (group_id, block, step_first, step_last, n, n_used, n_nonfinite,"
        " n_zero, alpha_stable, lambda, lambda_reason, created_at) VALUES"
        " (1, 0, 0, 9, 1000, 1000, 0, 0, 0.98, 1, 0, 0), (1, 1, 10, 19, 3, 3, 0, 0, NULL, 1, 1, 0);"
        "PRAGMA user_version = 5;";

    cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(sqlite3_exec(db, schema_migrations[i].sql, NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, old_rows, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    cr_assert_eq(store_open(dbpath, &db, err, sizeof(err)), 0, "%s", err);
    sqlite3_close(db);
    it[0] = block_item(0, 0, "new", "g", 0, 2.0, 2.0);
    it[0]->res.has_stable = 1;
    it[0]->res.stable_alpha = 0.8;
    it[1] = block_item(0, 0, "new", "g", 1, 2.0, 2.0);
    write_items(it, 2);
    cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM estimates WHERE run = 'old' AND block = 0"
                               " AND stable_centre = 'mean'"),
                 1);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM estimates WHERE run = 'new' AND block = 0"
                               " AND stable_centre = '" EST_STABLE_CENTRE "'"),
                 1);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM estimates WHERE block = 1"
                               " AND stable_centre IS NULL"),
                 2);
    sqlite3_close(db);
}

/* A block whose top the estimator left unsorted (top_any_order) is stored
 * sorted, descending: the same plot as a sorted one. */
Test(store, unsorted_top_is_stored_sorted)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    store_item *it[1];
    const double want[3] = {8, 4, 2};

    it[0] = block_item(0, 0, "run-a", "layer1", 0, 2.0, 2.0);
    it[0]->top[0] = 4;
    it[0]->top[1] = 2;
    it[0]->top[2] = 8;
    it[0]->top_any_order = 1;
    write_items(it, 1);
    cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT y FROM latest_top", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_bytes(st, 0), (int)sizeof(want));
    cr_assert_eq(memcmp(sqlite3_column_blob(st, 0), want, sizeof(want)), 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Restart: a HELLO gets the latest lambda (a fallback's 1), but the EMA goes
 * on from the latest reliable one. */
Test(store, restore_keeps_the_last_reliable_lambda_for_the_ema)
{
    sqlite3 *db;
    char err[256];
    store_item *it[3];
    store_state *st;
    size_t n;

    it[0] = block_item(0, 0, "run-a", "layer1", 0, 2.0, 2.0);
    it[1] = block_item(0, 0, "run-a", "layer1", 1, 2.5, 2.5);
    it[2] = block_item(0, 0, "run-a", "layer1", 2, 2.0, 1.0);
    it[2]->out.reason = POLICY_R_FEW_SAMPLES;
    write_items(it, 3);
    cr_assert_eq(store_open(dbpath, &db, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(store_restore(db, 10, &st, &n, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(n, 1);
    cr_assert_float_eq(st[0].lambda, 1.0, 0);
    cr_assert(st[0].has_ema);
    cr_assert_float_eq(st[0].ema_lambda, 2.5, 0);
    free(st);
    sqlite3_close(db);
}

Test(store, restore_of_empty_database)
{
    sqlite3 *db;
    char err[256];
    store_state *st;
    size_t n = 99;

    cr_assert_eq(store_open(dbpath, &db, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(store_restore(db, 10, &st, &n, err, sizeof(err)), 0);
    cr_assert_eq(n, 0);
    free(st);
    sqlite3_close(db);
}

static void run_writer(const char *run, const char *group, uint64_t first, int count)
{
    char err[256];
    bqueue *q = bqueue_new(16);
    store_writer *w;
    store_item *stop = calloc(1, sizeof(*stop));

    w = store_writer_new(dbpath, q, 4);
    cr_assert_eq(store_writer_start(w, 0, err, sizeof(err)), 0, "%s", err);
    for (int i = 0; i < count; i++)
        bqueue_push(q, block_item(0, 0, run, group, first + (uint64_t)i, 2.0, 2.0));
    stop->kind = STORE_STOP;
    bqueue_push(q, stop);
    store_writer_join(&w);
    bqueue_destroy(&q);
}

/* Blocks that trickle in (one every 2 ms, each alone in the queue) share
 * transactions: the writer lingers STORE_LINGER_MS for company instead of
 * committing every row by itself. Every row is still stored. */
Test(store, trickling_rows_share_transactions)
{
    sqlite3 *db;
    char err[256];
    bqueue *q = bqueue_new(16);
    store_writer *w;
    store_item *stop = calloc(1, sizeof(*stop));
    struct timespec gap = {0, 2 * 1000000L};
    uint64_t tx0 = STAT_GET(transactions), rows0 = STAT_GET(rows_written);

    w = store_writer_new(dbpath, q, 4);
    cr_assert_eq(store_writer_start(w, 0, err, sizeof(err)), 0, "%s", err);
    for (int i = 0; i < 40; i++) {
        bqueue_push(q, block_item(0, 0, "trickle", "g", (uint64_t)i, 2.0, 2.0));
        nanosleep(&gap, NULL);
    }
    stop->kind = STORE_STOP;
    bqueue_push(q, stop);
    store_writer_join(&w);
    bqueue_destroy(&q);
    cr_assert_eq(STAT_GET(rows_written) - rows0, 40);
    uint64_t tx = STAT_GET(transactions) - tx0;
    /* 41 without the linger; a loaded machine may stretch the 2 ms gaps */
    cr_assert(tx >= 1 && tx <= 30, "%llu transactions for 40 rows 2 ms apart",
              (unsigned long long)tx);
    cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM estimates WHERE run = 'trickle'"), 40);
    sqlite3_close(db);
}

Test(store, unrestored_group_continues_after_stored_blocks)
{
    sqlite3 *db;

    run_writer("r", "g", 0, 3); /* blocks 0, 1, 2 */
    run_writer("r", "g", 0, 2); /* not preloaded: numbered from 0 again by ingest */
    cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM blocks"), 5);
    cr_assert_eq(query_int(db, "SELECT max(block) FROM blocks"), 4);
    cr_assert_eq(query_int(db, "SELECT block FROM latest_top"), 4);
    sqlite3_close(db);
}

/* A freed stream slot taken by another run's group of the same name (every
 * run has an "emb"): its rows go to its own group, not to the first run's
 * (the cached group id was kept by name alone: UNIQUE failures, rows under
 * the wrong run; found by the experiments). */
Test(store, same_group_name_in_another_run_is_another_group)
{
    sqlite3 *db;
    store_item *it[4] = {
        block_item(0, 1, "run-a", "emb", 0, 2.0, 2.0),
        block_item(0, 1, "run-a", "emb", 1, 2.0, 2.0),
        /* run-a's slots freed; run-b takes both, its "emb" numbered from 0 */
        block_item(0, 1, "run-b", "emb", 0, 3.0, 3.0),
        block_item(0, 1, "run-b", "emb", 1, 3.0, 3.0),
    };

    write_items(it, 4);
    cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM estimates WHERE run = 'run-a'"), 2);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM estimates WHERE run = 'run-b'"), 2);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM estimates WHERE run = 'run-b' AND alpha = 3"),
                 2);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM groups"), 2);
    sqlite3_close(db);
}

Test(store, migration_3_summarises_existing_blocks)
{
    sqlite3 *db;
    char err[256];

    cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, schema_migrations[0].sql, NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, schema_migrations[1].sql, NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
                              "PRAGMA user_version = 2;"
                              "INSERT INTO runs VALUES (1, 'r', 0);"
                              "INSERT INTO groups VALUES (1, 1, 'g', 0);"
                              "WITH RECURSIVE i(b) AS (SELECT 0 UNION ALL SELECT b + 1 FROM i"
                              " WHERE b < 299) INSERT INTO blocks (group_id, block, step_first,"
                              " step_last, n, n_used, n_nonfinite, n_zero, alpha, lambda,"
                              " lambda_reason, created_at) SELECT 1, b, b, b, 10, 10, 0, 0,"
                              " b * 0.5, 1, 0, 0 FROM i;",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    cr_assert_eq(store_open(dbpath, &db, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(query_int(db, "PRAGMA user_version"), schema_migration_count);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'block_rollup'"),
                 0);
    /* complete chunks only (a later block exists): 0-63 .. 192-255 of 64
     * and 0-255 of 256, not 256-299 */
    cr_assert_eq(query_int(db, "SELECT count(*) FROM series_rollup WHERE level = 64"), 4);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM series_rollup WHERE level = 256"), 1);
    cr_assert_eq(query_int(db, "SELECT n_blocks FROM series_rollup WHERE level = 256"), 256);
    cr_assert_eq(query_int(db, "SELECT alpha_max * 2 FROM series_rollup WHERE level = 64"
                               " AND chunk = 3"),
                 255);
    cr_assert_eq(query_int(db, "SELECT alpha_sum * 2 FROM series_rollup WHERE level = 64"
                               " AND chunk = 1"),
                 (64 + 127) * 64 / 2);
    cr_assert_eq(query_int(db, "SELECT kurtosis_cnt FROM series_rollup WHERE level = 64"
                               " AND chunk = 1"),
                 0);
    cr_assert_eq(query_int(db, "SELECT step_last FROM series_rollup WHERE level = 64"
                               " AND chunk = 2"),
                 191);
    sqlite3_close(db);
}

/* A block whose fields vary (NULLs included) for the rollup test. */
static store_item *varied_block(uint32_t slot, const char *group, uint64_t b)
{
    store_item *it = block_item(0, slot, "r", group, b, 1 + (double)(b % 17) / 10, 1 + (b % 3));

    it->res.mean = sin((double)b);
    it->res.variance = (double)(b % 13);
    it->res.kurtosis = b % 5 == 0 ? NAN : (double)b * 0.1;
    it->res.has_hill = b % 7 != 0;
    it->res.hill.se = 0.01 * (double)(b % 11);
    it->res.hill.ci_lo = it->res.hill.alpha - 0.2;
    it->res.hill.ci_hi = it->res.hill.alpha + 0.3;
    it->res.hill.k = 10 + b % 9;
    it->res.has_stable = b % 4 != 0;
    it->res.stable_alpha = 1.5 + (double)(b % 5) * 0.1;
    it->res.median = -(double)b;
    it->res.n_used = 1000 - b % 10;
    return it;
}

/* Pushes blocks [b0, b1) of group g through a new writer (slot `slot`,
 * as after a restart), except those in [skip0, skip1). */
static void write_range(uint32_t slot, const char *g, uint64_t b0, uint64_t b1, uint64_t skip0,
                        uint64_t skip1)
{
    char err[256];
    bqueue *q = bqueue_new(4096);
    store_item *stop = calloc(1, sizeof(*stop));

    store_writer *w = store_writer_new(dbpath, q, 8);
    cr_assert_eq(store_writer_start(w, 0, err, sizeof(err)), 0, "%s", err);
    for (uint64_t b = b0; b < b1; b++) {
        if (b < skip0 || b >= skip1)
            bqueue_push(q, varied_block(slot, g, b));
        if (b % 97 == 0) /* another group between, in another slot */
            bqueue_push(q, varied_block(7, "other", b / 97));
    }
    stop->kind = STORE_STOP;
    bqueue_push(q, stop);
    store_writer_join(&w);
    bqueue_destroy(&q);
}

#define RU_MATCH(f)                                                                                \
    " AND a." #f "_min IS b." #f "_min AND a." #f "_max IS b." #f "_max AND a." #f "_cnt = b." #f  \
    "_cnt AND abs(a." #f "_sum - b." #f "_sum) <= 1e-9 * max(1, abs(b." #f "_sum))"

/* The writer's series_rollup rows equal the ones computed from the stored
 * blocks (the SQL of migration 3) after restarts in the middle of chunks of
 * every level, holes in the block numbers, and a group moving to another
 * stream slot; chunks not complete have no row yet. */
Test(store, writer_rollup_matches_the_blocks_across_restarts)
{
    sqlite3 *db;
    char err[256];
    const char *rebuild = strstr(schema_migrations[2].sql, "-- Level 64 from blocks");

    cr_assert_not_null(rebuild);
    write_range(0, "g", 0, 151, 0, 0);       /* stops mid-chunk at every level */
    write_range(0, "g", 151, 700, 260, 330); /* restart; a hole */
    write_range(3, "g", 700, 1100, 0, 0);    /* restart, another slot, looked up */
    write_range(3, "g", 1100, 1500, 1300, 1400);
    write_range(5, "g", 1500, 4200, 0, 0);
    cr_assert_eq(store_open(dbpath, &db, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM blocks WHERE group_id = 1"), 4200 - 70 - 100);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM series_rollup WHERE group_id = 1 AND"
                               " level = 1024"),
                 4);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM series_rollup WHERE level = 4096"), 1);
    cr_assert_eq(sqlite3_exec(db,
                              "CREATE TEMP TABLE w AS SELECT * FROM series_rollup;"
                              "DELETE FROM series_rollup;",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, rebuild, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    int64_t n = query_int(db, "SELECT count(*) FROM series_rollup");
    cr_assert_gt(n, 60);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM temp.w"), n, "the same chunks: %s",
                 query_text(db, "SELECT group_concat(group_id || '/' || level || '/' || chunk, ' ')"
                                " FROM (SELECT group_id, level, chunk FROM temp.w EXCEPT"
                                " SELECT group_id, level, chunk FROM main.series_rollup UNION ALL"
                                " SELECT group_id, level, chunk FROM main.series_rollup EXCEPT"
                                " SELECT group_id, level, chunk FROM temp.w)"));
    cr_assert_eq(query_int(db,
                           "SELECT count(*) FROM temp.w AS a JOIN main.series_rollup AS b"
                           " USING (group_id, level, chunk) WHERE a.block_first ="
                           " b.block_first AND a.n_blocks = b.n_blocks AND a.step_first ="
                           " b.step_first AND a.step_last = b.step_last" ROLLUP_FIELDS(RU_MATCH)),
                 n, "the same summaries");
    sqlite3_close(db);
}

#define AGG_COLS(f) ", " #f "_min, " #f "_max, " #f "_sum, " #f "_cnt"

static int same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Checks that every series_rollup row has its series_rollup_agg row, that
 * it holds exactly the row's columns (NULL F_min / F_max as 0), that no
 * agg row is left without its row and that no row is marked unpacked.
 * Returns the rows checked. */
static int64_t check_agg_is_columns(sqlite3 *db)
{
    sqlite3_stmt *st;
    int64_t n = 0;

    cr_assert_eq(
        sqlite3_prepare_v2(
            db,
            "SELECT level, chunk, agg, block_first, n_blocks, step_first, step_last" ROLLUP_FIELDS(
                AGG_COLS) " FROM series_rollup LEFT JOIN series_rollup_agg USING (group_id, level,"
                          " chunk)",
            -1, &st, NULL),
        SQLITE_OK, "%s", sqlite3_errmsg(db));
    while (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *agg = sqlite3_column_blob(st, 2);
        cr_assert_not_null(agg, "level %lld chunk %lld: agg is NULL",
                           (long long)sqlite3_column_int64(st, 0),
                           (long long)sqlite3_column_int64(st, 1));
        cr_assert_eq(sqlite3_column_bytes(st, 2), ROLLUP_AGG_BYTES);
        int64_t head[4];
        rollup_agg_get_head(agg, &head[0], &head[1], &head[2], &head[3]);
        for (int i = 0; i < 4; i++)
            cr_assert_eq(head[i], sqlite3_column_int64(st, 3 + i), "head %d", i);
        for (int f = 0; f < ROLLUP_NFIELDS; f++) {
            double mn, mx, sum;
            int64_t cnt;
            int col = 7 + 4 * f;
            rollup_agg_get(agg, f, &mn, &mx, &sum, &cnt);
            cr_assert(same_bits(mn, sqlite3_column_double(st, col)), "field %d min", f);
            cr_assert(same_bits(mx, sqlite3_column_double(st, col + 1)), "field %d max", f);
            cr_assert(same_bits(sum, sqlite3_column_double(st, col + 2)), "field %d sum", f);
            cr_assert_eq(cnt, sqlite3_column_int64(st, col + 3), "field %d cnt", f);
        }
        n++;
    }
    sqlite3_finalize(st);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM series_rollup_agg"), n,
                 "series_rollup_agg has rows without a series_rollup row");
    cr_assert_eq(query_int(db, "SELECT count(*) FROM series_rollup_unpacked"), 0);
    return n;
}

/* The writer packs each rollup row's aggregates into series_rollup_agg
 * (migration 4), bit for bit the values of its columns, across restarts
 * mid-chunk, and leaves no row marked unpacked. */
Test(store, writer_rollup_agg_is_its_columns)
{
    sqlite3 *db;
    char err[256];

    write_range(0, "g", 0, 1500, 300, 420);
    write_range(0, "g", 1500, 2600, 0, 0);
    cr_assert_eq(store_open(dbpath, &db, err, sizeof(err)), 0, "%s", err);
    cr_assert_gt(check_agg_is_columns(db), 70);
    sqlite3_close(db);
}

/* Rows written by SQL have no agg (SQL cannot pack doubles); opening the
 * database packs them, more than one batch of them, edge values included
 * (no value: NULL min/max; -0, huge, tiny, subnormal), and a second open
 * finds nothing left to pack. Rows changed or written by SQL later lose
 * their agg row and are marked (the triggers of migration 4), and the next
 * open packs them again; a deleted row takes its agg row with it. */
Test(store, open_packs_rows_written_by_sql)
{
    sqlite3 *db;
    char err[256];
    static const char fill[] =
        "INSERT INTO runs (name, created_at) VALUES ('r', 0);"
        "INSERT INTO groups (run_id, name, created_at) VALUES (1, 'g', 0);"
        "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < 999)"
        " INSERT INTO series_rollup (group_id, level, chunk, block_first, n_blocks, step_first,"
        " step_last, step_first_min, step_first_max, step_first_sum, step_first_cnt,"
        " n_sum, n_cnt, n_used_sum, n_used_cnt, median_min, median_max, median_sum, median_cnt,"
        " mean_sum, mean_cnt, variance_sum, variance_cnt, kurtosis_sum, kurtosis_cnt,"
        " alpha_min, alpha_max, alpha_sum, alpha_cnt, alpha_se_sum, alpha_se_cnt,"
        " alpha_lo_sum, alpha_lo_cnt, alpha_hi_sum, alpha_hi_cnt, k_sum, k_cnt,"
        " alpha_stable_sum, alpha_stable_cnt, lambda_min, lambda_max, lambda_sum, lambda_cnt)"
        " SELECT 1, 64, i, i * 64, 64, i * 640, i * 640 + 639, i * 640, i * 640 + 630,"
        " i * 640.5 * 64, 64, 0, 0, 0, 0, -0.0, 1e300 * i, -4.9e-324 * i, 64,"
        " 0, 0, 0, 0, 0, 0, 1.0 / (i + 1), 2 + i / 3.0, 123456.789 * i, 60, 0, 0,"
        " 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 64, 64 FROM c;"
        "PRAGMA user_version = 3;";

    cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(sqlite3_exec(db, schema_migrations[i].sql, NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, fill, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    /* migration 4 marks the rows unpacked; opening packs them */
    cr_assert_eq(store_open(dbpath, &db, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(query_int(db, "PRAGMA user_version"), schema_migration_count);
    cr_assert_eq(check_agg_is_columns(db), 1000);
    /* rows changed, rewritten or deleted by SQL later */
    cr_assert_eq(
        sqlite3_exec(db,
                     "UPDATE series_rollup SET alpha_sum = alpha_sum + 1 WHERE chunk % 3 = 0;"
                     "INSERT OR REPLACE INTO series_rollup SELECT * FROM series_rollup"
                     " WHERE chunk % 5 = 1;"
                     "DELETE FROM series_rollup WHERE chunk % 7 = 2;",
                     NULL, NULL, NULL),
        SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(query_int(db, "SELECT count(*) FROM series_rollup_unpacked"),
                 query_int(db, "SELECT count(*) FROM series_rollup"
                               " WHERE chunk % 3 = 0 OR chunk % 5 = 1"));
    cr_assert_eq(query_int(db, "SELECT count(*) FROM series_rollup_agg"),
                 query_int(db, "SELECT count(*) FROM series_rollup"
                               " WHERE chunk % 3 <> 0 AND chunk % 5 <> 1"));
    cr_assert_eq(store_migrate(db, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(check_agg_is_columns(db), 1000 - 143);
    cr_assert_eq(store_migrate(db, err, sizeof(err)), 0, "%s", err);
    sqlite3_close(db);
}

/* A block whose rollup row cannot be written is not stored either, and the
 * next block writes the missing row: no complete chunk reads as empty. */
Test(store, failed_rollup_write_stores_neither_and_is_repaired)
{
    sqlite3 *db;
    char err[256];

    write_range(0, "g", 0, 64, 0, 0); /* level-64 chunk 0 complete, no row yet */
    cr_assert_eq(store_open(dbpath, &db, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sqlite3_exec(db,
                              "CREATE TRIGGER fail_chunk0 BEFORE INSERT ON series_rollup"
                              " WHEN NEW.level = 64 AND NEW.chunk = 0"
                              " BEGIN SELECT RAISE(ABORT, 'test'); END;",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    write_range(0, "g", 64, 66, 0, 0); /* both need chunk 0's row: both refused */
    cr_assert_eq(query_int(db, "SELECT count(*) FROM blocks WHERE group_id = 1"), 64);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM series_rollup WHERE group_id = 1"), 0);
    cr_assert_eq(sqlite3_exec(db, "DROP TRIGGER fail_chunk0", NULL, NULL, NULL), SQLITE_OK);
    write_range(0, "g", 66, 366, 0, 0);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM blocks WHERE group_id = 1"), 364);
    for (int64_t level = 64; level <= 256; level *= 2) {
        char sql[256];
        snprintf(
            sql, sizeof sql,
            "SELECT (SELECT n_blocks FROM series_rollup WHERE group_id = 1 AND level = %lld"
            " AND chunk = 0) = (SELECT count(*) FROM blocks WHERE group_id = 1 AND block < %lld)",
            (long long)level, (long long)level);
        cr_assert_eq(query_int(db, sql), 1, "level %lld chunk 0", (long long)level);
    }
    sqlite3_close(db);
}

/* SQLite's messages name no file: the store's do, for a database in a
 * missing directory and for a file that is not a database. */
Test(store, open_errors_name_the_path)
{
    sqlite3 *db;
    char err[512], missing[128];
    FILE *f;

    snprintf(missing, sizeof missing, "%s.nodir/runs.db", dbpath);
    cr_assert_lt(store_open(missing, &db, err, sizeof(err)), 0);
    cr_assert_null(db);
    cr_assert_not_null(strstr(err, missing), "%s", err);
    cr_assert_not_null(strstr(err, "No such file or directory"), "%s", err);

    f = fopen(dbpath, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 512; i++)
        fputs("not a database ", f);
    fclose(f);
    cr_assert_lt(store_open(dbpath, &db, err, sizeof(err)), 0);
    cr_assert_eq(strncmp(err, dbpath, strlen(dbpath)), 0, "%s", err);
    cr_assert_not_null(strstr(err, "not a database"), "%s", err);
}

/* A block the estimator cannot estimate (here: larger than the block it
 * was sized for) and a client's drops that ingest reports (a SHED job) go
 * through the estimator to the writer and become rows of table shed: the
 * lost block in its group at its steps, the drops run-wide. The `gaps`
 * view names them, and `estimates` counts per block the events that
 * overlap its steps in its group or its run. */
Test(store, lost_block_and_client_drops_leave_shed_rows)
{
    enum { MAX_BLOCK = 64 };
    sqlite3 *db;
    char err[256];
    bqueue *in = bqueue_new(16), *out = bqueue_new(64);
    void *ctx = zmq_ctx_new();
    est_k_rule rule;
    estimator *e;
    store_writer *w;
    est_job *job;
    store_item *stop;
    uint64_t lost0 = STAT_GET(blocks_lost);

    w = store_writer_new(dbpath, out, 8);
    cr_assert_eq(store_writer_start(w, 0, err, sizeof(err)), 0, "%s", err);
    for (uint64_t b = 0; b < 5; b++) /* steps 10b .. 10b + 9 */
        bqueue_push(out, block_item(0, 0, "run-a", "layer1", b, 2.0, 1.0));
    cr_assert_eq(est_k_rule_parse("sqrt", &rule), EST_OK);
    e = estimator_new(in, out, ctx, MAX_BLOCK, &rule, 8, NULL);
    cr_assert_not_null(e);
    job = calloc(1, sizeof(*job)); /* the lost block: 5, steps 50..59 */
    job->kind = EST_JOB_BLOCK;
    snprintf(job->run, sizeof(job->run), "run-a");
    snprintf(job->group, sizeof(job->group), "layer1");
    job->block = 5;
    job->step_first = 50;
    job->step_last = 59;
    job->n = 2 * MAX_BLOCK;
    job->x = calloc(job->n, sizeof(float));
    job->pol = policy_default();
    bqueue_push(in, job);
    job = calloc(1, sizeof(*job)); /* 7 messages a client dropped around steps 20..35 */
    job->kind = EST_JOB_SHED;
    snprintf(job->run, sizeof(job->run), "run-a");
    job->step_first = 20;
    job->step_last = 35;
    job->shed_count = 7;
    job->shed_unit = "messages";
    job->shed_reason = "client_queue";
    bqueue_push(in, job);
    job = calloc(1, sizeof(*job));
    job->kind = EST_JOB_STOP;
    bqueue_push(in, job);
    cr_assert_eq(estimator_start(e), 0);
    estimator_join(&e);
    stop = calloc(1, sizeof(*stop));
    stop->kind = STORE_STOP;
    bqueue_push(out, stop);
    store_writer_join(&w);
    zmq_ctx_term(ctx);
    cr_assert_eq(STAT_GET(blocks_lost), lost0 + 1);

    cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM gaps"), 2);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM gaps WHERE run = 'run-a'"
                               " AND group_name = 'layer1' AND step_first = 50 AND step_last = 59"
                               " AND count = 1 AND unit = 'blocks' AND reason = 'estimator'"),
                 1);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM gaps WHERE run = 'run-a'"
                               " AND group_name IS NULL AND step_first = 20 AND step_last = 35"
                               " AND count = 7 AND unit = 'messages' AND reason = 'client_queue'"),
                 1);
    /* blocks 2 (steps 20..29) and 3 (30..39) overlap the drops; 0, 1 and 4 nothing */
    cr_assert_str_eq(query_text(db, "SELECT group_concat(block || ':' || shed_events, ' ')"
                                    " FROM (SELECT * FROM estimates ORDER BY block)"),
                     "0:0 1:0 2:1 3:1 4:0");
    sqlite3_close(db);
    bqueue_destroy(&in);
    bqueue_destroy(&out);
}
