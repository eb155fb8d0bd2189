/* Unit tests of the writer thread (daemon/store/writer.c, rows.c, rollup.c):
 * rows, policies, tops, rollups, shed rows. */
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

    old_database(5, old_rows);
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
