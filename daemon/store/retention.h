/*
 * retention.h - drops full-resolution blocks older than a bound, keeps the
 * rollups, and gives the space back to the file system in small steps.
 *
 * DESIGN: run by the writer thread between its batches (the only write
 * connection), a bounded piece at a time, so the rows the estimators send
 * keep flowing: ingest never touches SQLite and the writer's queue absorbs
 * the few milliseconds a piece takes. A block is dropped only when it lies
 * in a complete 64-block chunk that has its series_rollup row (level 64,
 * and every level above it is made from those): what the dashboard shows
 * of an old run at 64 blocks per point or coarser stays exact, and the
 * open chunk with a group's latest block (restart state, the writer's open
 * rollups) is never touched. Blocks of a group are append-only and
 * created_at grows with the block number, so a chunk is old when its last
 * block is; a piece walks each group from its first stored block, chunk by
 * chunk, through the primary key. Freed pages go back with PRAGMA
 * incremental_vacuum (the store opens new databases with auto_vacuum =
 * INCREMENTAL; an older file keeps its size and reuses the pages).
 */
#ifndef HTGAD_RETENTION_H
#define HTGAD_RETENTION_H

#include <sqlite3.h>
#include <stdint.h>

#define RETENTION_CHUNK 64 /* blocks per chunk of the smallest rollup level */

typedef struct retention {
    double keep_s;         /* blocks older than this many seconds go; 0 = off */
    double every_s;        /* a piece at most this often */
    int64_t max_rows;      /* blocks deleted per piece at most */
    int64_t vacuum_pages;  /* pages returned per piece at most */
    double next_at;        /* monotonic time of the next piece */
    int warned;            /* the auto_vacuum note was logged */
    uint64_t rows_deleted; /* since start */
    uint64_t pages_freed;  /* since start */
    uint64_t errors;       /* pieces that failed (rolled back) */
} retention;

/* Settings: keep_s 0 turns it off; the others take defaults when 0
 * (every_s 10, max_rows 4096, vacuum_pages 1024). */
void retention_init(retention *r, double keep_s, double every_s, int64_t max_rows,
                    int64_t vacuum_pages);

/* One piece when one is due at monotonic time `now_mono` (seconds): deletes
 * at most max_rows blocks created before wall time now_wall - keep_s, in
 * their own transaction, then frees at most vacuum_pages pages. Call it
 * outside a transaction. Returns the blocks deleted, or -1 on an error
 * (rolled back, logged, counted). */
int64_t retention_run(retention *r, sqlite3 *db, double now_mono, double now_wall);

/* On a new, empty database file: auto_vacuum = INCREMENTAL, so that the
 * pages retention frees can go back to the file system (the mode cannot be
 * set once a table exists, short of a VACUUM). Nothing on other files. */
void retention_prepare_db(sqlite3 *db);

/* retention_run() with the clocks read now. */
int64_t retention_tick(retention *r, sqlite3 *db);

#endif
