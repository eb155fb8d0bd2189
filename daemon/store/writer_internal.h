/*
 * writer_internal.h - what the writer thread's files share (store/writer.c
 * the thread and its batches, store/rows.c the rows of each item,
 * store/rollup.c the series rollups); not API.
 */
#ifndef HTGAD_STORE_WRITER_INTERNAL_H
#define HTGAD_STORE_WRITER_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "log.h"
#include "retention.h"
#include "rollup.h"
#include "store.h"

enum {
    ST_RUN_INS,
    ST_RUN_SEL,
    ST_GROUP_INS,
    ST_GROUP_SEL,
    ST_BLOCK_INS,
    ST_TOP_UPSERT,
    ST_TOP_DELETE,
    ST_POLICY_INS,
    ST_MAX_BLOCK,
    ST_ROLLUP_LAST,
    ST_ROLLUP_LOAD,
    ST_ROLLUP_ROW,
    ST_ROLLUP_AGG_INS,
    ST_ROLLUP_MARK_DEL,
    ST_LAMBDA_UPSERT,
    ST_SHED_INS,
    ST__COUNT
};

typedef struct slot_cache {
    int64_t run_id;    /* 0 = not resolved yet */
    int64_t group_id;  /* for the stream slot of the same index */
    int64_t policy_id; /* the run's latest policy row (0 = none known) */
    int has_policy;
    policy pol;
    uint64_t top_batch; /* batch number the group's top was last written in */
    /* The names the ids above belong to: ingest reuses a freed slot for
     * another run or group, and a name that differs forgets the ids. */
    char run[WIRE_NAME_MAX + 1];
    char group[WIRE_NAME_MAX + 1];
    char group_run[WIRE_NAME_MAX + 1]; /* the run of `group`: the same group name in
                                          another run is another group */
} slot_cache;

/* Block numbering of a group whose estimator could not look it up (it
 * numbers its blocks from 0 again, estimator.h): its rows are shifted past
 * the stored ones. A group looked up continues the stored numbers and gets
 * no shift. Measured on a life's first block; kept apart from slot_cache
 * so a rollback, which forgets cached ids, does not recompute it. */
typedef struct slot_offset {
    int known;
    uint64_t offset;
} slot_offset;

/* The open chunk of one level (see rollup.h): the fold of its blocks. */
typedef struct rollup_acc {
    int64_t chunk; /* -1: none open */
    int64_t block_first, n_blocks, step_first, step_last;
    double min[ROLLUP_NFIELDS], max[ROLLUP_NFIELDS], sum[ROLLUP_NFIELDS];
    int64_t cnt[ROLLUP_NFIELDS];
} rollup_acc;

/* A stream slot's open chunks, for group_id, holding its blocks up to
 * last_block. Not loaded: rebuilt from the stored blocks on the next block
 * (start-up, a new group in the slot, a rollback, another slot that took
 * the group). */
typedef struct slot_rollup {
    int loaded;
    int64_t group_id;
    int64_t last_block;
    rollup_acc lv[ROLLUP_LEVELS];
} slot_rollup;

/* A barrier waiting for the parts of the other estimators. */
typedef struct bar_wait {
    uint64_t id;
    uint32_t run_slot, seen, parts;
    int lost; /* a part's batch was given up (stopping), not committed */
} bar_wait;

/* Blocks of a run slot stored and lost in this daemon's life. */
typedef struct run_count {
    char run[WIRE_NAME_MAX + 1];
    uint64_t stored, lost;
} run_count;

struct store_writer {
    sqlite3 *db;        /* opened, used and closed by the writer thread only */
    char *path;         /* the database */
    size_t restore_max; /* groups read at start-up for the restore */
    store_state *restored;
    size_t nrestored;
    /* start-up handshake */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int ready; /* 0 pending, 1 running, -1 failed (err says why) */
    char err[1024];
    void *zctx, *pipe; /* pipe: made and used in the writer thread only */
    run_count *counts; /* per run slot */
    bar_wait *waits;   /* barriers with parts missing */
    size_t nwaits, waits_cap;
    bar_wait *done; /* barriers whole in the last batch: told after its commit */
    size_t ndone, done_cap;
    bqueue *q;
    size_t slots;
    slot_cache *cache;
    slot_offset *offsets;
    slot_rollup *rollup;
    sqlite3_stmt *st[ST__COUNT];
    sqlite3_stmt *rollup_ins; /* INSERT OR REPLACE INTO series_rollup */
    store_item *batch[STORE_BATCH_MAX];
    unsigned char refused[STORE_BATCH_MAX]; /* the item's row was refused for good */
    size_t batch_len;
    uint64_t batch_no;
    uint64_t pending_rows;     /* block rows of the open transaction */
    uint64_t pending_policies; /* policy rows of the open transaction */
    /* the last failure: what failed, SQLite's extended code and text */
    const char *fail_what;
    int wr_fail_rc;
    char fail_msg[96];
    int failing; /* tries fail since failing_ms (health_now_ms) */
    int64_t failing_ms;
    uint64_t failed_tries;      /* in this episode */
    int disk_was_full;          /* in this episode: truncate the WAL */
    _Atomic int64_t stop_by_ms; /* stopping: give up failing batches after this (0: running) */
    pthread_t thread;
    int started;
    log_limit lim;
    retention ret; /* old blocks dropped between batches (retention.h) */
};

/* Records a failure (what failed, with SQLite code rc and its text) for
 * the caller to judge: wr_transient (the try is retried) or not (the row is
 * refused). Returns -1. */
int wr_fail_rc(store_writer *w, const char *what, int rc, const char *msg);

/* A failure of the last statement on the connection; -1. */
int wr_row_error(store_writer *w, const char *what);

/* Whether SQLite code rc may pass (the try is rolled back and retried). */
int wr_transient(int rc);

/* Steps a prepared statement to completion and resets it. 0 or -1. */
int wr_run_stmt(sqlite3_stmt *st);

/* Prepares the writer's statements on w->db. 0, or -1 with w->err set. */
int wr_prepare(store_writer *w);

/* Writes one item's rows. 0, or -1 with the failure recorded. */
int wr_write_item(store_writer *w, const store_item *it);

/* A row of table shed for item it (store/rows.c). 0 or -1. */
int wr_write_shed(store_writer *w, const store_item *it, uint64_t count, const char *unit,
                  const char *reason);

/* The latest top order statistics of each group of the batch. 0 or -1. */
int wr_write_tops(store_writer *w);

/* Forgets cached ids after a rollback: rows inserted by it are gone. */
void wr_forget_cache(store_writer *w);

/* Folds a stored block into its stream's open chunks (rollup.h); in the
 * caller's transaction. 0 or -1. */
int wr_write_rollup(store_writer *w, const store_item *it, int64_t group_id);

#endif /* HTGAD_STORE_WRITER_INTERNAL_H */
