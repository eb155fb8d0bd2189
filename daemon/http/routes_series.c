/*
 * routes_series: GET /api/v1/runs/{run}/groups/{group}/series, a group's
 * fields per block (JSON columns or CSV), whole or downsampled to at most
 * max_points buckets, with the shed events of the range.
 *
 * Design: one read transaction per request, so the range, the rollup rows
 * and the block rows agree. A downsampled answer folds whole rollup chunks
 * (daemon/rollup.h: series_rollup, packed copies in series_rollup_agg) and
 * reads block rows only for the partial chunks at the ends; series.c does
 * the bucketing and writes the answer. Numbers go straight into an hbuf
 * (a series can hold millions of them; a DOM would triple the memory).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "queries.h"
#include "rollup.h"
#include "series.h"
#include "sql.h"

/* Longest block range a downsampled query reads as rows; longer ones read
 * whole rollup chunks (docs/http.md gives the cost of each). */
#define SERIES_RAW_MAX 20000
/* The most blocks a series answers without max_points: past it a full answer
 * (14 fields per block) would run to hundreds of MB, so the client must ask
 * for downsampling. The dashboard's "all blocks" stays well below. */
#define SERIES_FULL_MAX 200000

struct rows_ctx {
    sqlite3 *db;
    int64_t gid;
    const char *run, *group;
    const int *ids;
    int nfields;
};

/* Called for each row by read_rows: vals[i] is field ids[i] (NaN = NULL). */
typedef int (*row_fn)(void *ud, int64_t block, int64_t step_first, int64_t step_last,
                      const double *vals);

/* Reads rows of the group with block in [b0, b1], calling row() for each. */
static int read_rows(const struct rows_ctx *c, int64_t b0, int64_t b1, row_fn row, void *ud)
{
    hbuf sql = {0};
    hbuf_puts(&sql, "SELECT block, step_first, step_last");
    for (int f = 0; f < c->nfields; f++)
        hbuf_printf(&sql, ", %s", series_field_name(c->ids[f]));
    hbuf_puts(&sql, Q_SERIES_TAIL);
    sqlite3_stmt *st = sql_prep_built(c->db, &sql);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, c->gid);
    sqlite3_bind_int64(st, 2, b0);
    sqlite3_bind_int64(st, 3, b1);
    double vals[SF_COUNT_];
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int f = 0; f < c->nfields; f++)
            vals[f] = sqlite3_column_type(st, 3 + f) == SQLITE_NULL
                          ? NAN
                          : sqlite3_column_double(st, 3 + f);
        if (row(ud, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                sqlite3_column_int64(st, 2), vals) != 0) {
            rc = SQLITE_ABORT;
            break;
        }
    }
    sql_unprep(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int add_to_series(void *ud, int64_t block, int64_t step_first, int64_t step_last,
                         const double *vals)
{
    return series_add(ud, block, step_first, step_last, vals);
}

/* Parses a decimal int64 parameter; returns 0, or -1 when malformed. */
static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    if (!*s)
        return -1;
    long long v = strtoll(s, &end, 10);
    if (*end)
        return -1;
    *out = v;
    return 0;
}

struct series_q {
    int ids[SERIES_MAX_FIELDS];
    int nfields;
    int has_from, has_to, csv;
    int64_t from, to, max_points;
};

static int series_params(const struct request *r, struct series_q *q, struct reply *rep)
{
    static const char *const allowed[] = {"fields",     "from_step", "to_step",
                                          "max_points", "format",    NULL};
    if (req_only_params(r, allowed, rep))
        return -1;
    char buf[512], err[128];
    int bad = 0;
    memset(q, 0, sizeof *q);
    const char *v = req_query(r, "fields", buf, sizeof buf, &bad);
    if (bad || (q->nfields = series_parse_fields(v, q->ids, err, sizeof err)) < 0)
        return reply_error(rep, 400, bad ? "bad fields parameter" : err), -1;
    if ((v = req_query(r, "from_step", buf, sizeof buf, &bad)) && parse_i64(v, &q->from) == 0)
        q->has_from = 1;
    else if (v || bad)
        return reply_error(rep, 400, "from_step must be an integer"), -1;
    if ((v = req_query(r, "to_step", buf, sizeof buf, &bad)) && parse_i64(v, &q->to) == 0)
        q->has_to = 1;
    else if (v || bad)
        return reply_error(rep, 400, "to_step must be an integer"), -1;
    if ((v = req_query(r, "max_points", buf, sizeof buf, &bad)) &&
        (parse_i64(v, &q->max_points) != 0 || q->max_points < 2 || q->max_points > 1000000))
        return reply_error(rep, 400, "max_points must be an integer in [2, 1000000]"), -1;
    if (bad)
        return reply_error(rep, 400, "bad max_points"), -1;
    if ((v = req_query(r, "format", buf, sizeof buf, &bad))) {
        if (strcmp(v, "csv") == 0)
            q->csv = 1;
        else if (strcmp(v, "json") != 0)
            return reply_error(rep, 400, "format must be json or csv"), -1;
    } else if (bad) {
        return reply_error(rep, 400, "bad format"), -1;
    }
    if (q->has_from && q->has_to && q->from > q->to)
        return reply_error(rep, 400, "from_step is after to_step"), -1;
    return 0;
}

/* Finds the block range [*b0, *b1] for the step range; returns 1, 0 when
 * empty, -1 on error. */
static int block_range(sqlite3 *db, int64_t gid, const struct series_q *q, int64_t *b0, int64_t *b1)
{
    int rc = q->has_from ? sql_query_int(db, Q_BLOCK_FROM_STEP, gid, NULL, &q->from, b0)
                         : sql_query_int(db, Q_BLOCK_MIN, gid, NULL, NULL, b0);
    if (rc <= 0)
        return rc;
    rc = q->has_to ? sql_query_int(db, Q_BLOCK_TO_STEP, gid, NULL, &q->to, b1)
                   : sql_query_int(db, Q_BLOCK_MAX, gid, NULL, NULL, b1);
    if (rc <= 0)
        return rc;
    return *b0 <= *b1;
}

/* One rollup row: a run of blocks and the aggregates of the requested fields. */
struct chunk_row {
    int64_t block, count, step_first, step_last;
    double mn[SERIES_MAX_FIELDS], mx[SERIES_MAX_FIELDS], sum[SERIES_MAX_FIELDS];
    int64_t cnt[SERIES_MAX_FIELDS];
};

/* Binds group, level and the chunk range [c0, c1] to ?1-?4 of st. */
static void bind_chunks(sqlite3_stmt *st, int64_t gid, int64_t level, int64_t c0, int64_t c1)
{
    sqlite3_bind_int64(st, 1, gid);
    sqlite3_bind_int64(st, 2, level);
    sqlite3_bind_int64(st, 3, c0);
    sqlite3_bind_int64(st, 4, c1);
}

/* One rollup row of a query's current result into r: from the columns of
 * series_rollup (block_first, n_blocks, the steps, then min/max/sum/cnt of
 * each field asked for) or from the packed agg BLOB of series_rollup_agg.
 * Returns SQLITE_ROW, or an error code for a malformed row. */
static int row_from_cols(const struct rows_ctx *c, sqlite3_stmt *st, struct chunk_row *r)
{
    r->block = sqlite3_column_int64(st, 0);
    r->count = sqlite3_column_int64(st, 1);
    r->step_first = sqlite3_column_int64(st, 2);
    r->step_last = sqlite3_column_int64(st, 3);
    for (int f = 0; f < c->nfields; f++) {
        int col = 4 + 4 * f;
        r->mn[f] = sqlite3_column_double(st, col);
        r->mx[f] = sqlite3_column_double(st, col + 1);
        r->sum[f] = sqlite3_column_double(st, col + 2);
        r->cnt[f] = sqlite3_column_int64(st, col + 3);
    }
    return SQLITE_ROW;
}

static int row_from_agg(const struct rows_ctx *c, sqlite3_stmt *st, struct chunk_row *r)
{
    const unsigned char *agg = sqlite3_column_blob(st, 0);
    if (!agg || sqlite3_column_bytes(st, 0) != ROLLUP_AGG_BYTES)
        return SQLITE_CORRUPT;
    rollup_agg_get_head(agg, &r->block, &r->count, &r->step_first, &r->step_last);
    for (int f = 0; f < c->nfields; f++)
        rollup_agg_get(agg, c->ids[f], &r->mn[f], &r->mx[f], &r->sum[f], &r->cnt[f]);
    return SQLITE_ROW;
}

/* Steps st (bound, prepared by prep) to its end, folding each row, read by
 * row_of, into s; unpreps st. 0, or -1 on an SQL error, a malformed row or
 * out of memory. */
static int fold_chunks(const struct rows_ctx *c, struct series *s, sqlite3_stmt *st,
                       int (*row_of)(const struct rows_ctx *, sqlite3_stmt *, struct chunk_row *))
{
    struct chunk_row r;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((rc = row_of(c, st, &r)) != SQLITE_ROW)
            break;
        if (series_add_summary(s, r.block, r.count, r.step_first, r.step_last, r.mn, r.mx, r.sum,
                               r.cnt) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sql_unprep(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The series_rollup columns of each field, by field id (rollup.h's order
 * is series.h's). */
#define AGG_COLS_OF(f) ROLLUP_AGG_COLS(f),
static const char *const agg_cols[SF_COUNT_] = {ROLLUP_FIELDS(AGG_COLS_OF)};

/* Folds the rollup rows of `level`, chunks [c0, c1], into s from their
 * columns: the range holds a row not packed yet (written by SQL). */
static int read_chunks_cols(const struct rows_ctx *c, struct series *s, int64_t level, int64_t c0,
                            int64_t c1)
{
    hbuf sql = {0};
    hbuf_puts(&sql, "SELECT block_first, n_blocks, step_first, step_last");
    for (int f = 0; f < c->nfields; f++)
        hbuf_puts(&sql, agg_cols[c->ids[f]]);
    hbuf_puts(&sql, Q_ROLLUP_TAIL);
    sqlite3_stmt *st = sql_prep_built(c->db, &sql);
    if (!st)
        return -1;
    bind_chunks(st, c->gid, level, c0, c1);
    return fold_chunks(c, s, st, row_from_cols);
}

/* Folds the series_rollup rows of level `level`, chunks [c0, c1] of the
 * group, into s (see daemon/rollup.h), from their packed copies in
 * series_rollup_agg: one BLOB column of a narrow row (8 a page, where the
 * wide rows fit 4; under ingest each request re-reads its pages). When a
 * row of the range is not packed yet, the whole range is read from the
 * columns of series_rollup instead. */
static int read_chunks(const struct rows_ctx *c, struct series *s, int64_t level, int64_t c0,
                       int64_t c1)
{
    sqlite3_stmt *st = sql_prep(c->db, Q_ROLLUP_UNPACKED);
    if (!st)
        return -1;
    bind_chunks(st, c->gid, level, c0, c1);
    int rc = sqlite3_step(st), unpacked = rc == SQLITE_ROW && sqlite3_column_int(st, 0);
    sql_unprep(st);
    if (rc != SQLITE_ROW)
        return -1;
    if (unpacked)
        return read_chunks_cols(c, s, level, c0, c1);
    if (!(st = sql_prep(c->db, Q_ROLLUP_AGG)))
        return -1;
    bind_chunks(st, c->gid, level, c0, c1);
    return fold_chunks(c, s, st, row_from_agg);
}

/* Folds blocks [p, q] into s with the chunks of level index li and below:
 * whole complete chunks of the level from series_rollup, the rest (the
 * partial chunks at both ends, the open chunk past `last`, the group's last
 * block) with the next level down, and rows below the smallest level. A
 * complete chunk without a row held no block. Every chunk of a level at or
 * below li must lie inside one bucket (the width is a multiple of it). */
static int fold_range(const struct rows_ctx *c, struct series *s, int64_t last, int64_t p,
                      int64_t q, int li)
{
    if (p > q)
        return 0;
    if (li < 0)
        return read_rows(c, p, q, add_to_series, s);
    int64_t level = ROLLUP_LEVEL(li);
    int64_t c0 = (p + level - 1) / level, c1 = (q + 1) / level - 1;
    int64_t done = last / level - 1; /* the last complete chunk: a later block exists */
    if (c1 > done)
        c1 = done;
    if (c0 > c1)
        return fold_range(c, s, last, p, q, li - 1);
    if (fold_range(c, s, last, p, c0 * level - 1, li - 1) != 0 ||
        read_chunks(c, s, level, c0, c1) != 0)
        return -1;
    return fold_range(c, s, last, (c1 + 1) * level, q, li - 1);
}

/* Fills s with blocks [b0, b1] of a group whose last block is `last`: as
 * rows, or, when the bucket width is a multiple of the smallest rollup
 * level, from the largest level dividing it (see fold_range). */
static int fill_series(const struct rows_ctx *c, struct series *s, int64_t b0, int64_t b1,
                       int64_t last)
{
    if (s->width == 0 || s->width % ROLLUP_LEVEL(0) != 0)
        return read_rows(c, b0, b1, add_to_series, s);
    int li = 0;
    while (li + 1 < ROLLUP_LEVELS && s->width % ROLLUP_LEVEL(li + 1) == 0)
        li++;
    return fold_range(c, s, last, b0, b1, li);
}

/* Bucket width for span blocks in at most max_points buckets: the smallest
 * that fits, then, when it is at least the smallest rollup level or the
 * range is too long to read as rows, rounded up to a multiple of half the
 * largest level not above it (of 64 at least), itself a level: a bucket
 * then folds 1 to 3 rollup rows, and the answer holds at least 2/3 of the
 * buckets asked for (half when they are under 128 blocks wide). */
static int64_t bucket_width(int64_t span, int64_t max_points)
{
    int64_t width = (span + max_points - 2) / (max_points - 1);
    if (width < ROLLUP_LEVEL(0) && span <= SERIES_RAW_MAX)
        return width;
    int li = 0;
    while (li + 1 < ROLLUP_LEVELS && ROLLUP_LEVEL(li + 1) <= width)
        li++;
    int64_t unit = ROLLUP_LEVEL(li > 0 ? li - 1 : 0);
    return (width + unit - 1) / unit * unit;
}

static int series_answer(const struct request *r, struct reply *rep, sqlite3 *db,
                         const struct series_q *qp, int64_t rid, int64_t gid);

/* The most shed events a series answer lists ("shed_truncated" past it). */
#define SERIES_SHED_MAX 1000

/* Appends ,"shed":[...] (and "shed_truncated") to b: the shed events of
 * the group or its whole run whose steps overlap the requested range (all
 * of them without one), first SERIES_SHED_MAX in step order. 0 or -1 on an
 * SQL error. */
static int shed_json(sqlite3 *db, const struct series_q *q, int64_t rid, int64_t gid, hbuf *b)
{
    sqlite3_stmt *st = sql_prep(db, Q_SERIES_SHED);
    int rc, n = 0;

    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, rid);
    sqlite3_bind_int64(st, 2, gid);
    sqlite3_bind_int64(st, 3, q->has_from ? q->from : INT64_MIN);
    sqlite3_bind_int64(st, 4, q->has_to ? q->to : INT64_MAX);
    sqlite3_bind_int(st, 5, SERIES_SHED_MAX + 1);
    hbuf_puts(b, ",\"shed\":[");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < SERIES_SHED_MAX) {
        const char *unit = (const char *)sqlite3_column_text(st, 3);
        const char *reason = (const char *)sqlite3_column_text(st, 4);
        hbuf_printf(b, "%s{\"step_first\":%lld,\"step_last\":%lld,\"count\":%lld,\"unit\":",
                    n++ ? "," : "", (long long)sqlite3_column_int64(st, 0),
                    (long long)sqlite3_column_int64(st, 1), (long long)sqlite3_column_int64(st, 2));
        hbuf_json_str(b, unit ? unit : "");
        hbuf_puts(b, ",\"reason\":");
        hbuf_json_str(b, reason ? reason : "");
        hbuf_printf(b, ",\"scope\":\"%s\"}", sqlite3_column_int(st, 5) ? "run" : "group");
    }
    hbuf_printf(b, "],\"shed_truncated\":%s", rc == SQLITE_ROW ? "true" : "false");
    sql_unprep(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int handle_series(const struct request *r, struct reply *rep)
{
    sqlite3 *db;
    struct series_q q;
    int64_t rid, gid;
    if (series_params(r, &q, rep) || req_run_ids(r, rep, &db, &rid, &gid))
        return 0;
    /* one read snapshot: the range, the rollup rows and the rows agree; a
     * read transaction left open would pin the WAL and fail this thread's
     * next BEGIN, so a COMMIT that fails is rolled back */
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    if (sql_exec(db, "BEGIN") != SQLITE_DONE)
        return reply_sql_error(rep, db);
    series_answer(r, rep, db, &q, rid, gid);
    if (sql_exec(db, "COMMIT") != SQLITE_DONE)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return 0;
}

/* The series answer of handle_series, inside its read transaction. */
static int series_answer(const struct request *r, struct reply *rep, sqlite3 *db,
                         const struct series_q *qp, int64_t rid, int64_t gid)
{
    const struct series_q q = *qp;
    const char *run = r->route->run, *group = r->route->group;
    int64_t b0 = 0, b1 = -1, last = -1;
    int rc = block_range(db, gid, &q, &b0, &b1);
    if (rc > 0 && sql_query_int(db, Q_BLOCK_MAX, gid, NULL, NULL, &last) <= 0)
        rc = -1;
    if (rc < 0)
        return reply_sql_error(rep, db);
    int64_t span = rc ? b1 - b0 + 1 : 0;
    int64_t width = 0;
    if (!q.max_points && span > SERIES_FULL_MAX)
        return reply_error(rep, 400,
                           "the range holds more than 200000 blocks: pass max_points (e.g. "
                           "max_points=4000) to downsample, or narrow it with from_step/to_step");
    if (q.max_points && span > q.max_points)
        width = bucket_width(span, q.max_points);
    /* blocks dropped by retention: only their 64-block rollups answer */
    int64_t first_row = b0;
    if (span > 0 && sql_query_int(db, Q_ROW_MIN, gid, NULL, NULL, &first_row) > 0 &&
        b0 < first_row && (width == 0 || width % ROLLUP_LEVEL(0) != 0))
        width = (width / ROLLUP_LEVEL(0) + 1) * ROLLUP_LEVEL(0);
    struct series s;
    struct rows_ctx c = {db, gid, run, group, q.ids, q.nfields};
    size_t hint = (size_t)(width ? span / width + 2 : (span < 1 ? 1 : span));
    if (series_init(&s, q.ids, q.nfields, width, 0, hint) != 0) {
        series_free(&s);
        return reply_error(rep, 500, "out of memory");
    }
    if (span > 0 && fill_series(&c, &s, b0, b1, last) != 0) {
        series_free(&s);
        return reply_sql_error(rep, db);
    }
    hbuf b = {0};
    if (q.csv) {
        series_csv(&s, &b);
        series_free(&s);
        return reply_buf(rep, &b, "text/csv; charset=utf-8");
    }
    hbuf_puts(&b, "{\"run\":");
    hbuf_json_str(&b, run);
    hbuf_puts(&b, ",\"group\":");
    hbuf_json_str(&b, group);
    hbuf_puts(&b, ",\"fields\":[");
    for (int f = 0; f < q.nfields; f++)
        hbuf_printf(&b, "%s\"%s\"", f ? "," : "", series_field_name(q.ids[f]));
    hbuf_printf(&b, "],\"blocks\":%lld,\"points\":%zu,\"downsampled\":%s", (long long)span, s.n,
                width ? "true" : "false");
    if (width)
        hbuf_printf(
            &b,
            ",\"buckets\":%zu,\"downsampling\":{\"method\":\"minmax\",\"bucket_blocks\":%lld,"
            "\"description\":\"blocks are grouped into buckets of bucket_blocks consecutive "
            "blocks (block / bucket_blocks); for each field F, F is the bucket mean and "
            "F_min / F_max its extremes over every block in the bucket; block and "
            "step_first are the bucket's first, step its last, count its blocks\"}",
            s.n, (long long)width);
    if (shed_json(db, &q, rid, gid, &b) != 0) {
        hbuf_free(&b);
        series_free(&s);
        return reply_sql_error(rep, db);
    }
    hbuf_put(&b, ",", 1);
    series_json(&s, &b);
    hbuf_puts(&b, "}\n");
    series_free(&s);
    return reply_buf(rep, &b, "application/json");
}
