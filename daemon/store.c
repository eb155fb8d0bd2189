/*
 * store.c - migrations, restart state and the SQLite writer thread.
 *
 * DESIGN: see store.h. All statements are prepared once per connection and
 * every value from outside goes through a bound parameter. How the writer
 * meets failures is told at the top of writer.c. A database htgad could
 * not write is refused at open, not found out row by row.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "retention.h"
#include "rollup.h"
#include "schema.h"
#include "stats.h"

void store_remove_files(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[4200];

    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        unlink(p);
    }
}

double store_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000L) / 1000.0;
}

static int exec_sql(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int user_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

#define PACK_AGG_COLS(f) ", " #f "_min, " #f "_max, " #f "_sum, " #f "_cnt"
#define PACK_BATCH       256

struct packed_row {
    int64_t key[3]; /* group_id, level, chunk */
    unsigned char agg[ROLLUP_AGG_BYTES];
};

/* Packs the series_rollup rows marked in series_rollup_unpacked (rows
 * written by SQL: see schema/004_series_rollup_agg.sql) into
 * series_rollup_agg from their columns, and clears their marks, one
 * transaction per PACK_BATCH rows (the marks record progress, so a crash
 * or a failure keeps what was committed and the next open carries on);
 * takes no write lock when nothing is marked. Rows are read a batch at a
 * time and written after the read, not under its cursor. Returns the rows
 * packed, or -1 + err. */
static int pack_rollup(sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *sel = NULL, *ins = NULL, *del = NULL;
    struct packed_row *rows = malloc(PACK_BATCH * sizeof *rows);
    int n = 0, got, rc;

    if (!rows) {
        snprintf(err, errlen, "packing series_rollup: out of memory");
        return -1;
    }
    if (sqlite3_prepare_v2(db, "SELECT EXISTS (SELECT 1 FROM series_rollup_unpacked)", -1, &sel,
                           NULL) != SQLITE_OK ||
        sqlite3_step(sel) != SQLITE_ROW) {
        snprintf(err, errlen, "packing series_rollup: %s", sqlite3_errmsg(db));
        sqlite3_finalize(sel);
        free(rows);
        return -1;
    }
    got = sqlite3_column_int(sel, 0);
    sqlite3_finalize(sel);
    sel = NULL;
    if (!got) {
        free(rows);
        return 0;
    }
    if (exec_sql(db, "BEGIN IMMEDIATE", err, errlen) < 0) {
        free(rows);
        return -1;
    }
    /* a mark without its row (none unless edited by hand) has nothing to pack */
    if (sqlite3_exec(db,
                     "DELETE FROM series_rollup_unpacked WHERE NOT EXISTS (SELECT 1 FROM"
                     " series_rollup AS r WHERE r.group_id = series_rollup_unpacked.group_id"
                     " AND r.level = series_rollup_unpacked.level"
                     " AND r.chunk = series_rollup_unpacked.chunk)",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT r.group_id, r.level, r.chunk, block_first, n_blocks, step_first,"
                           " step_last" ROLLUP_FIELDS(
                               PACK_AGG_COLS) " FROM series_rollup_unpacked AS u JOIN series_rollup"
                                              " AS r USING (group_id, level, chunk) LIMIT ?1",
                           -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO series_rollup_agg (group_id, level, chunk, agg)"
                           " VALUES (?1, ?2, ?3, ?4)",
                           -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "DELETE FROM series_rollup_unpacked"
                           " WHERE group_id = ?1 AND level = ?2 AND chunk = ?3",
                           -1, &del, NULL) != SQLITE_OK)
        goto out_rollback;
    sqlite3_bind_int(sel, 1, PACK_BATCH);
    do {
        for (got = 0; got < PACK_BATCH && (rc = sqlite3_step(sel)) == SQLITE_ROW; got++) {
            struct packed_row *r = &rows[got];
            for (int i = 0; i < 3; i++)
                r->key[i] = sqlite3_column_int64(sel, i);
            rollup_agg_put_head(r->agg, sqlite3_column_int64(sel, 3), sqlite3_column_int64(sel, 4),
                                sqlite3_column_int64(sel, 5), sqlite3_column_int64(sel, 6));
            for (int f = 0; f < ROLLUP_NFIELDS; f++) {
                int col = 7 + 4 * f;
                rollup_agg_put(
                    r->agg, f, sqlite3_column_double(sel, col), sqlite3_column_double(sel, col + 1),
                    sqlite3_column_double(sel, col + 2), sqlite3_column_int64(sel, col + 3));
            }
        }
        if (got < PACK_BATCH && rc != SQLITE_DONE)
            goto out_rollback;
        sqlite3_reset(sel);
        for (int k = 0; k < got; k++) {
            for (int i = 0; i < 3; i++) {
                sqlite3_bind_int64(ins, i + 1, rows[k].key[i]);
                sqlite3_bind_int64(del, i + 1, rows[k].key[i]);
            }
            sqlite3_bind_blob(ins, 4, rows[k].agg, ROLLUP_AGG_BYTES, SQLITE_STATIC);
            rc = sqlite3_step(ins);
            sqlite3_reset(ins);
            if (rc == SQLITE_DONE) {
                rc = sqlite3_step(del);
                sqlite3_reset(del);
            }
            if (rc != SQLITE_DONE)
                goto out_rollback;
        }
        n += got;
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            goto out_rollback;
        if (got == PACK_BATCH && sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
            goto out_rollback;
    } while (got == PACK_BATCH);
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    sqlite3_finalize(del);
    free(rows);
    return n;

out_rollback:
    snprintf(err, errlen, "packing series_rollup: %s", sqlite3_errmsg(db));
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    sqlite3_finalize(del);
    free(rows);
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int store_migrate(sqlite3 *db, char *err, size_t errlen)
{
    char sql[64];
    char why[512];
    int v;

    if (user_version(db, &v) < 0) {
        snprintf(err, errlen, "reading user_version: %s", sqlite3_errmsg(db));
        return -1;
    }
    if (v > schema_migration_count) {
        snprintf(err, errlen, "database schema version %d is newer than this htgad (%d)", v,
                 schema_migration_count);
        return -1;
    }
    for (int i = v; i < schema_migration_count; i++) {
        if (exec_sql(db, "BEGIN IMMEDIATE", why, sizeof(why)) < 0)
            goto out_fail;
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", i + 1);
        if (exec_sql(db, schema_migrations[i].sql, why, sizeof(why)) < 0 ||
            exec_sql(db, sql, why, sizeof(why)) < 0 || exec_sql(db, "COMMIT", why, sizeof(why)) < 0)
            goto out_rollback;
        LOG(LOG_INFO, "schema: applied %s", schema_migrations[i].name);
        continue;
    out_rollback:
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    out_fail:
        snprintf(err, errlen, "migration %s: %s", schema_migrations[i].name, why);
        return -1;
    }
    /* not fatal: the series query reads a marked row's columns meanwhile */
    int packed = pack_rollup(db, why, sizeof(why));
    if (packed > 0)
        LOG(LOG_INFO, "schema: packed %d series_rollup rows", packed);
    else if (packed < 0)
        LOG(LOG_WARN, "schema: %s (the rest is packed at the next start)", why);
    return 0;
}

/* Whether htgad can write the database at path and create its -wal and
 * -shm files beside it, asked of the system (so root, a read-only mount and
 * an immutable file get the true answer) without taking any lock: SQLite
 * itself opens a file it cannot write read-only, and says so only at the
 * first write. 0, or -1 with err naming the path and the reason. */
static int check_writable(const char *path, char *err, size_t errlen)
{
    char dir[4096];
    int fd = open(path, O_RDWR | O_CLOEXEC);

    if (fd >= 0) {
        close(fd);
    } else if (errno != ENOENT) {
        snprintf(err, errlen, "%s: cannot write it (uid %u): %s", path, (unsigned)geteuid(),
                 strerror(errno));
        return -1;
    }
    snprintf(dir, sizeof(dir), "%s", path);
    const char *d = dirname(dir);
    if (access(d, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "%s: cannot create files in its directory %s (uid %u): %s", path, d,
                 (unsigned)geteuid(), strerror(errno));
        return -1;
    }
    return 0;
}

int store_open(const char *path, sqlite3 **db, char *err, size_t errlen)
{
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int sys;

    *db = NULL;
    if (check_writable(path, err, errlen) < 0)
        return -1;
    if (sqlite3_open_v2(path, db, flags, NULL) != SQLITE_OK) {
        sys = *db ? sqlite3_system_errno(*db) : 0;
        snprintf(err, errlen, "%s: %s%s%s", path, *db ? sqlite3_errmsg(*db) : "out of memory",
                 sys ? ": " : "", sys ? strerror(sys) : "");
        goto out_close_db;
    }
    if (sqlite3_db_readonly(*db, "main") == 1) {
        snprintf(err, errlen, "%s: cannot write it: SQLite opened it read-only", path);
        goto out_close_db;
    }
    sqlite3_busy_timeout(*db, 5000);
    retention_prepare_db(*db);
    if (exec_sql(*db,
                 "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                 "PRAGMA foreign_keys = ON;",
                 err, errlen) < 0 ||
        store_migrate(*db, err, errlen) < 0) {
        char why[512];
        snprintf(why, sizeof(why), "%s", err);
        snprintf(err, errlen, "%s: %s", path, why);
        goto out_close_db;
    }
    return 0;

out_close_db:
    sqlite3_close(*db);
    *db = NULL;
    return -1;
}

#define RESTORE_SELECT                                                                             \
    "SELECT r.id, r.name, g.id, g.name, b.block, b.step_last, b.lambda, b.alpha,"                  \
    "       b.lambda_reason,"                                                                      \
    "       p.kind, p.param, p.lambda_min, p.lambda_max, p.ema, p.source, p.id,"                   \
    "       (SELECT lambda FROM blocks WHERE group_id = g.id AND lambda_reason = 0"                \
    "         ORDER BY block DESC LIMIT 1),"                                                       \
    "       b.n, b.n_used, b.n_nonfinite, b.n_zero, b.median, b.mean, b.variance,"                 \
    "       b.kurtosis, b.alpha_se, b.alpha_lo, b.alpha_hi, b.k, b.alpha_stable,"                  \
    "       (SELECT lambda FROM blocks WHERE group_id = g.id AND lambda_reason = 0"                \
    "         AND block < b.block ORDER BY block DESC LIMIT 1),"                                   \
    "       b.alpha_deff"                                                                          \
    " FROM groups AS g JOIN runs AS r ON r.id = g.run_id"                                          \
    " LEFT JOIN blocks AS b ON b.group_id = g.id"                                                  \
    "   AND b.block = (SELECT MAX(block) FROM blocks WHERE group_id = g.id)"                       \
    " LEFT JOIN policy_changes AS p ON p.id ="                                                     \
    "   (SELECT MAX(id) FROM policy_changes WHERE run_id = r.id)"

static const char restore_sql[] =
    RESTORE_SELECT " ORDER BY COALESCE(b.created_at, g.created_at) DESC LIMIT ?";

static const char lookup_sql[] = RESTORE_SELECT " WHERE r.name = ?1 AND g.name = ?2";

static const char lookup_policy_sql[] =
    "SELECT r.id, p.kind, p.param, p.lambda_min, p.lambda_max, p.ema, p.source, p.id"
    " FROM runs AS r JOIN policy_changes AS p ON p.id ="
    "   (SELECT MAX(id) FROM policy_changes WHERE run_id = r.id)"
    " WHERE r.name = ?1";

static void copy_name(char *dst, const unsigned char *src)
{
    snprintf(dst, WIRE_NAME_MAX + 1, "%s", src ? (const char *)src : "");
}

static double column_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* The latest block's estimate as the estimator had it (columns 17..29), so
 * a policy change right after a restart can re-derive its lambda; NULL
 * columns come back as NaN and absent estimates, as est_block() left them. */
static void restore_result(sqlite3_stmt *st, const store_state *s, est_result *r)
{
    memset(r, 0, sizeof(*r));
    r->n = (size_t)sqlite3_column_int64(st, 17);
    r->n_used = (size_t)sqlite3_column_int64(st, 18);
    r->n_nonfinite = (size_t)sqlite3_column_int64(st, 19);
    r->n_zero = (size_t)sqlite3_column_int64(st, 20);
    r->n_pos = r->n_used >= r->n_zero ? r->n_used - r->n_zero : 0;
    r->median = column_real(st, 21);
    r->mean = column_real(st, 22);
    r->variance = column_real(st, 23);
    r->kurtosis = column_real(st, 24);
    r->has_hill = isfinite(s->alpha);
    if (r->has_hill) {
        r->hill.alpha = s->alpha;
        r->hill.gamma = 1.0 / s->alpha;
        r->hill.se = column_real(st, 25);
        r->hill.ci_lo = column_real(st, 26);
        r->hill.ci_hi = column_real(st, 27);
        r->hill.k = (size_t)sqlite3_column_int64(st, 28);
        r->hill.deff = sqlite3_column_type(st, 31) == SQLITE_NULL ? 1.0 : column_real(st, 31);
    }
    r->has_stable = sqlite3_column_type(st, 29) != SQLITE_NULL;
    r->stable_alpha = r->has_stable ? sqlite3_column_double(st, 29) : NAN;
}

static void restore_row(sqlite3_stmt *st, store_state *s)
{
    memset(s, 0, sizeof(*s));
    s->run_id = sqlite3_column_int64(st, 0);
    copy_name(s->run, sqlite3_column_text(st, 1));
    s->group_id = sqlite3_column_int64(st, 2);
    copy_name(s->group, sqlite3_column_text(st, 3));
    s->has_block = sqlite3_column_type(st, 4) != SQLITE_NULL;
    s->last_block = (uint64_t)sqlite3_column_int64(st, 4);
    s->last_step = sqlite3_column_int64(st, 5);
    s->lambda = s->has_block ? sqlite3_column_double(st, 6) : 1.0;
    s->alpha = sqlite3_column_type(st, 7) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 7);
    s->reason = (uint32_t)sqlite3_column_int(st, 8);
    s->has_ema = sqlite3_column_type(st, 16) != SQLITE_NULL;
    s->ema_lambda = s->has_ema ? sqlite3_column_double(st, 16) : 1.0;
    if (s->has_block) {
        restore_result(st, s, &s->res);
        s->has_before = sqlite3_column_type(st, 30) != SQLITE_NULL;
        s->before_lambda = s->has_before ? sqlite3_column_double(st, 30) : 1.0;
    }
    s->has_policy = sqlite3_column_type(st, 9) != SQLITE_NULL;
    if (s->has_policy) {
        const char *kind = (const char *)sqlite3_column_text(st, 9);
        s->pol.kind = strcmp(kind, "power") == 0 ? POLICY_POWER : POLICY_LINEAR;
        s->pol.param = sqlite3_column_double(st, 10);
        s->pol.lambda_min = sqlite3_column_double(st, 11);
        s->pol.lambda_max = sqlite3_column_double(st, 12);
        s->pol.ema = sqlite3_column_double(st, 13);
        snprintf(s->source, sizeof(s->source), "%s", sqlite3_column_text(st, 14));
        s->policy_id = sqlite3_column_int64(st, 15);
    }
}

int store_restore(sqlite3 *db, size_t max, store_state **out, size_t *n, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    store_state *v = NULL;
    size_t count = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if (max == 0)
        return 0;
    v = calloc(max, sizeof(*v));
    if (v == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (sqlite3_prepare_v2(db, restore_sql, -1, &st, NULL) != SQLITE_OK)
        goto out_error;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && count < max)
        restore_row(st, &v[count++]);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        goto out_error;
    sqlite3_finalize(st);
    *out = v;
    *n = count;
    return 0;

out_error:
    snprintf(err, errlen, "restoring state: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    free(v);
    return -1;
}

void store_state_policy(const store_state *st, policy *pol, const char **source)
{
    if (!st->has_policy)
        return;
    if (strcmp(st->source, "http") == 0) {
        *pol = st->pol;
        *source = "http";
    } else if (!policy_equal(&st->pol, pol)) {
        *source = "flags";
    }
}

/* The run's latest policy alone (a run whose group is not stored yet). */
static int lookup_policy(sqlite3 *db, const char *run, store_state *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(db, lookup_policy_sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(st, 1);
        out->run_id = sqlite3_column_int64(st, 0);
        out->has_policy = 1;
        out->pol.kind = kind && strcmp(kind, "power") == 0 ? POLICY_POWER : POLICY_LINEAR;
        out->pol.param = sqlite3_column_double(st, 2);
        out->pol.lambda_min = sqlite3_column_double(st, 3);
        out->pol.lambda_max = sqlite3_column_double(st, 4);
        out->pol.ema = sqlite3_column_double(st, 5);
        snprintf(out->source, sizeof(out->source), "%s", sqlite3_column_text(st, 6));
        out->policy_id = sqlite3_column_int64(st, 7);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_lookup(sqlite3 *db, const char *run, const char *group, store_state *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    snprintf(out->run, sizeof(out->run), "%s", run);
    snprintf(out->group, sizeof(out->group), "%s", group);
    out->lambda = 1.0;
    out->alpha = NAN;
    if (sqlite3_prepare_v2(db, lookup_sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        restore_row(st, out);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc != SQLITE_DONE)
        return -1;
    return lookup_policy(db, run, out) < 0 ? -1 : 0;
}
