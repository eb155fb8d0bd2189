/*
 * open.c - the database's start: store_open (checks, pragmas), migrations
 * and the packing of rollup rows written by SQL. Run on the writer thread
 * at its start-up (store/writer.c), and by tools and tests. A database
 * htgad could not write is refused at open, not found out row by row.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "retention.h"
#include "rollup.h"
#include "schema.h"

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
