/*
 * store_fixture.c - what the store and writer tests share: a temporary
 * database path, queries, block items and writers run over them.
 */
#include "store_fixture.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rollup.h"
#include "schema.h"

char dbpath[64];

void setup(void)
{
    int fd;

    strcpy(dbpath, "/tmp/htgad-store-XXXXXX");
    fd = mkstemp(dbpath);
    close(fd);
    unlink(dbpath);
}

void teardown(void)
{
    char p[80];

    unlink(dbpath);
    snprintf(p, sizeof(p), "%s-wal", dbpath);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", dbpath);
    unlink(p);
}

int64_t query_int(sqlite3 *db, const char *sql)
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
const char *query_text(sqlite3 *db, const char *sql)
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

store_item *block_item(uint32_t run_slot, uint32_t slot, const char *run, const char *group,
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

/* Writes items with a fresh writer, then stops it. */
void write_items(store_item **items, size_t n)
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

void run_writer(const char *run, const char *group, uint64_t first, int count)
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

/* A block whose fields vary (NULLs included) for the rollup test. */
store_item *varied_block(uint32_t slot, const char *group, uint64_t b)
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
void write_range(uint32_t slot, const char *g, uint64_t b0, uint64_t b1, uint64_t skip0,
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

#define AGG_COLS(f) ", " #f "_min, " #f "_max, " #f "_sum, " #f "_cnt"

static int same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Checks that every series_rollup row has its series_rollup_agg row, that
 * it holds exactly the row's columns (NULL F_min / F_max as 0), that no
 * agg row is left without its row and that no row is marked unpacked.
 * Returns the rows checked. */
int64_t check_agg_is_columns(sqlite3 *db)
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

void old_database(int migrations, const char *sql)
{
    sqlite3 *db;

    cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    for (int i = 0; i < migrations; i++)
        cr_assert_eq(sqlite3_exec(db, schema_migrations[i].sql, NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
}
