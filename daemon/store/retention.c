/*
 * retention.c - see retention.h for the design.
 */
#include "retention.h"

#include <stdio.h>
#include <time.h>

#include "log.h"

/* The first stored block of group ?1 (primary key). */
#define Q_FIRST "SELECT min(block) FROM blocks WHERE group_id = ?1"
/* created_at of the last stored block of chunk [?2, ?3] of group ?1, and
 * whether that chunk has its level-64 rollup row (complete and summarised). */
#define Q_CHUNK                                                                                    \
    "SELECT (SELECT created_at FROM blocks WHERE group_id = ?1 AND block BETWEEN ?2 AND ?3"        \
    " ORDER BY block DESC LIMIT 1),"                                                               \
    " EXISTS (SELECT 1 FROM series_rollup WHERE group_id = ?1 AND level = 64 AND chunk = ?4)"
#define Q_DELETE "DELETE FROM blocks WHERE group_id = ?1 AND block BETWEEN ?2 AND ?3"

void retention_init(retention *r, double keep_s, double every_s, int64_t max_rows,
                    int64_t vacuum_pages)
{
    *r = (retention){
        .keep_s = keep_s > 0 ? keep_s : 0,
        .every_s = every_s > 0 ? every_s : 10,
        .max_rows = max_rows > 0 ? max_rows : 4096,
        .vacuum_pages = vacuum_pages > 0 ? vacuum_pages : 1024,
    };
}

struct stmts {
    sqlite3_stmt *groups, *first, *chunk, *del;
};

static void finalize(struct stmts *s)
{
    sqlite3_finalize(s->groups);
    sqlite3_finalize(s->first);
    sqlite3_finalize(s->chunk);
    sqlite3_finalize(s->del);
}

static int prepare(sqlite3 *db, struct stmts *s)
{
    return sqlite3_prepare_v2(db, "SELECT id FROM groups ORDER BY id", -1, &s->groups, NULL) |
           sqlite3_prepare_v2(db, Q_FIRST, -1, &s->first, NULL) |
           sqlite3_prepare_v2(db, Q_CHUNK, -1, &s->chunk, NULL) |
           sqlite3_prepare_v2(db, Q_DELETE, -1, &s->del, NULL);
}

/* Deletes the old, summarised chunks at the start of group gid, up to
 * *budget blocks. Returns the blocks deleted or -1. */
static int64_t prune_group(struct stmts *s, int64_t gid, double cutoff, int64_t *budget)
{
    int64_t deleted = 0;

    while (*budget > 0) {
        sqlite3_bind_int64(s->first, 1, gid);
        int rc = sqlite3_step(s->first);
        int has = rc == SQLITE_ROW && sqlite3_column_type(s->first, 0) != SQLITE_NULL;
        int64_t b = has ? sqlite3_column_int64(s->first, 0) : 0;
        sqlite3_reset(s->first);
        if (rc != SQLITE_ROW)
            return -1;
        if (!has)
            break;
        int64_t c = b / RETENTION_CHUNK, lo = c * RETENTION_CHUNK, hi = lo + RETENTION_CHUNK - 1;
        sqlite3_bind_int64(s->chunk, 1, gid);
        sqlite3_bind_int64(s->chunk, 2, lo);
        sqlite3_bind_int64(s->chunk, 3, hi);
        sqlite3_bind_int64(s->chunk, 4, c);
        rc = sqlite3_step(s->chunk);
        int old = rc == SQLITE_ROW && sqlite3_column_type(s->chunk, 0) != SQLITE_NULL &&
                  sqlite3_column_double(s->chunk, 0) < cutoff;
        int summarised = rc == SQLITE_ROW && sqlite3_column_int(s->chunk, 1) != 0;
        sqlite3_reset(s->chunk);
        if (rc != SQLITE_ROW)
            return -1;
        if (!old || !summarised)
            break;
        sqlite3_bind_int64(s->del, 1, gid);
        sqlite3_bind_int64(s->del, 2, lo);
        sqlite3_bind_int64(s->del, 3, hi);
        rc = sqlite3_step(s->del);
        sqlite3_reset(s->del);
        if (rc != SQLITE_DONE)
            return -1;
        int64_t n = sqlite3_changes64(sqlite3_db_handle(s->del));
        deleted += n;
        *budget -= n;
    }
    return deleted;
}

/* The deleting transaction of one piece. Returns the blocks deleted or -1. */
static int64_t prune(retention *r, sqlite3 *db, double cutoff)
{
    struct stmts s = {0};
    int64_t budget = r->max_rows, total = 0;

    if (prepare(db, &s) != SQLITE_OK) {
        finalize(&s);
        return -1;
    }
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        finalize(&s);
        return -1;
    }
    int rc;
    while (budget > 0 && (rc = sqlite3_step(s.groups)) == SQLITE_ROW) {
        int64_t n = prune_group(&s, sqlite3_column_int64(s.groups, 0), cutoff, &budget);
        if (n < 0) {
            total = -1;
            break;
        }
        total += n;
    }
    finalize(&s);
    if (total < 0 || sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return total;
}

static int64_t pragma_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Gives at most vacuum_pages free pages back (auto_vacuum = INCREMENTAL). */
static void vacuum(retention *r, sqlite3 *db)
{
    char sql[64];
    int64_t before = pragma_int(db, "PRAGMA freelist_count");

    if (before <= 0)
        return;
    if (pragma_int(db, "PRAGMA auto_vacuum") != 2) {
        if (!r->warned)
            LOG(LOG_INFO, "retention: this database has auto_vacuum off, so freed pages are "
                          "reused but the file does not shrink; to shrink it once, stop htgad "
                          "and run: sqlite3 DB 'PRAGMA auto_vacuum = INCREMENTAL; VACUUM'");
        r->warned = 1;
        return;
    }
    snprintf(sql, sizeof sql, "PRAGMA incremental_vacuum(%lld)", (long long)r->vacuum_pages);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        LOG(LOG_WARN, "retention: incremental_vacuum: %s", sqlite3_errmsg(db));
        return;
    }
    int64_t after = pragma_int(db, "PRAGMA freelist_count");
    if (after >= 0 && after < before)
        r->pages_freed += (uint64_t)(before - after);
}

void retention_prepare_db(sqlite3 *db)
{
    if (pragma_int(db, "PRAGMA page_count") == 0)
        sqlite3_exec(db, "PRAGMA auto_vacuum = INCREMENTAL", NULL, NULL, NULL);
}

int64_t retention_tick(retention *r, sqlite3 *db)
{
    struct timespec mono, wall;
    if (r->keep_s <= 0)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &wall);
    return retention_run(r, db, (double)mono.tv_sec + mono.tv_nsec / 1e9,
                         (double)wall.tv_sec + wall.tv_nsec / 1e9);
}

int64_t retention_run(retention *r, sqlite3 *db, double now_mono, double now_wall)
{
    if (r->keep_s <= 0 || now_mono < r->next_at)
        return 0;
    r->next_at = now_mono + r->every_s;
    int64_t n = prune(r, db, now_wall - r->keep_s);
    if (n < 0) {
        r->errors++;
        LOG(LOG_WARN, "retention: dropping old blocks failed, retried in %.0f s: %s", r->every_s,
            sqlite3_errmsg(db));
        return -1;
    }
    if (n > 0) {
        r->rows_deleted += (uint64_t)n;
        LOG(LOG_DEBUG, "retention: dropped %lld blocks older than %.0f s (rollups kept)",
            (long long)n, r->keep_s);
        /* more may be due: the next piece comes with the next batch */
        if (n >= r->max_rows)
            r->next_at = now_mono;
    }
    vacuum(r, db);
    return n;
}
