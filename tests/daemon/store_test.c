/* Unit tests of daemon/store/: the database's open and migrations (open.c),
 * the restart state (restore.c), the writer's start-up. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "estimator_thread.h"
#include "rollup.h"
#include "schema.h"
#include "stats.h"
#include "store.h"
#include "store_fixture.h"

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

    old_database(3, fill);
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

/* The writer opens the database on its own thread: a start-up that fails
 * there returns the reason as store_open words it, after the thread ended
 * and closed the connection (a file it created can then be removed), and a
 * writer that starts creates and migrates the database itself. */
Test(store, writer_start_up_opens_the_database_or_says_why)
{
    char err[1024], missing[96];
    bqueue *q = bqueue_new(4);
    store_item *stop = calloc(1, sizeof(*stop));
    store_writer *w;
    sqlite3 *db;

    snprintf(missing, sizeof(missing), "%s.d/no/such/dir.db", dbpath);
    w = store_writer_new(missing, q, 4);
    cr_assert_eq(store_writer_start(w, 4, err, sizeof(err)), -1);
    cr_assert_eq(strncmp(err, "database ", 9), 0, "%s", err);
    cr_assert_not_null(strstr(err, missing), "%s", err);
    store_writer_join(&w);
    cr_assert_null(w);

    w = store_writer_new(dbpath, q, 4);
    cr_assert_eq(store_writer_start(w, 4, err, sizeof(err)), 0, "%s", err);
    stop->kind = STORE_STOP;
    bqueue_push(q, stop);
    store_writer_join(&w);
    bqueue_destroy(&q);
    cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(query_int(db, "PRAGMA user_version"), schema_migration_count);
    sqlite3_close(db);
}
