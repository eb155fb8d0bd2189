/*
 * store.h - htgad's SQLite store: migrations, restart state, the writer.
 *
 * DESIGN: the writer thread owns the only write connection (WAL,
 * synchronous=NORMAL, foreign keys on) from open to close: it opens it at
 * its start-up (migrations, rollup packing, the restart state read there
 * too) and checkpoints and closes it when it stops. It pops items from a bounded queue
 * and writes them in batched transactions: it waits for one item, BEGINs,
 * then takes whatever else is queued or comes within STORE_LINGER_MS (up to
 * STORE_BATCH_MAX) and COMMITs. Without the linger a writer that keeps up
 * commits nearly every row alone, and the per-transaction work (locks, WAL
 * frame writes) cost it several times the rows' own (measured at full-rate
 * ingest: 1.9 rows per transaction). A row reaches readers about
 * STORE_LINGER_MS plus its write time after the writer takes it; SIGTERM's
 * STOP item ends a batch at once. A SIGKILL loses the open transaction and
 * whatever is still in memory (queued rows, estimator queues, open stream
 * windows); WAL keeps the file consistent. Run and group ids are
 * resolved by name once and cached per slot (the ingest thread's run and stream indexes). The
 * latest block's top order statistics are written once per group per batch (the last one wins).
 * Policy rows: a block carries the policy it was computed with; when that
 * differs from the run's last stored policy, a policy_changes row is added
 * first, so every stored lambda can be explained.
 */
#ifndef HTGAD_STORE_H
#define HTGAD_STORE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "estimators/est.h"
#include "policy.h"
#include "queue.h"
#include "wire.h"

#define STORE_TOP_MIN   1024 /* order statistics kept for the Hill plot, at least */
#define STORE_BATCH_MAX 1024 /* items per transaction at most */
#define STORE_LINGER_MS 10   /* a batch waits this long for company */

typedef enum store_item_kind {
    STORE_BLOCK = 1,
    STORE_POLICY = 2,
    STORE_STOP = 3,    /* the writer commits, closes the database and exits */
    STORE_BARRIER = 4, /* one estimator's part of a barrier (see ingest.h) */
    STORE_LOST = 5,    /* a block of run_slot the estimator could not estimate */
    STORE_LAMBDA = 6,  /* a lambda re-derived by a policy change (lambda_rederived) */
    STORE_SHED = 8,    /* a shed event ingest saw (shed_*): one row of table shed */
} store_item_kind;

/* One unit of work for the writer; pushing it hands it over (malloc'd; the
 * writer frees it). A block item is allocated with room for its top_n order
 * statistics (offsetof(store_item, top) + top_n * sizeof(double)). */
typedef struct store_item {
    store_item_kind kind;
    uint32_t run_slot;
    uint32_t stream_slot;
    char run[WIRE_NAME_MAX + 1];
    char group[WIRE_NAME_MAX + 1];
    policy pol;
    const char *source; /* static: "default", "flags", "http" */
    uint64_t block;
    int64_t step_first, step_last;
    est_result res;
    policy_out out;
    double created_at;
    uint64_t barrier; /* STORE_BARRIER: its id */
    uint32_t parts;   /* STORE_BARRIER: parts that make it whole (the estimators);
                         STORE_BLOCK: 1 once its row is written in the open batch */
    size_t top_n;
    int top_any_order; /* top past the Hill estimate's k + 1 values is unordered
                        * (EST_TOP_ANY_ORDER): the writer sorts the ones it stores */
    /* STORE_SHED: shed_count things of shed_unit lost for shed_reason
     * (static text, schema/008_shed.sql) between step_first and step_last,
     * in group `group` ("" = the whole run); STORE_LOST is one block of
     * `group`, reason "estimator" */
    uint64_t shed_count;
    const char *shed_unit, *shed_reason;
    double top[]; /* top_n values, descending (see top_any_order) */
} store_item;

/* What a restart carries on from: one row per known group. */
typedef struct store_state {
    char run[WIRE_NAME_MAX + 1];
    char group[WIRE_NAME_MAX + 1];
    int64_t run_id, group_id;
    int has_block;       /* 0: the group has no stored block yet */
    uint64_t last_block; /* valid when has_block */
    int64_t last_step;
    double lambda, alpha; /* alpha NaN when NULL */
    uint32_t reason;
    int has_ema;          /* 0: no reliable block yet */
    double ema_lambda;    /* the latest reliable block's lambda: the EMA goes on from it */
    est_result res;       /* the latest block's estimate (when has_block) */
    int has_before;       /* a reliable block precedes the latest one */
    double before_lambda; /* its lambda: the EMA state the latest block started from */
    int has_policy;
    policy pol; /* the run's latest stored policy */
    int64_t policy_id;
    char source[16];
} store_state;

/*
 * Opens (creating if needed) the database at path for writing, sets WAL and
 * the pragmas above, and applies the missing migrations, each in its own
 * transaction with PRAGMA user_version. Returns 0 and *db, or -1 with err
 * naming the path and the reason: a file or directory this process cannot
 * write (mode, read-only mount, immutable file), not a database, a database
 * newer than this htgad. Takes no write lock when nothing is to migrate.
 */
int store_open(const char *path, sqlite3 **db, char *err, size_t errlen);

/* A policy_changes row's policy, from its columns kind, param, lambda_min,
 * lambda_max and ema at col .. col + 4 of a row of st. */
void store_column_policy(sqlite3_stmt *st, int col, policy *pol);

/* Removes the database at path and its -wal, -shm and -journal files
 * (a database a failed start-up created). */
void store_remove_files(const char *path);

/* Applies migrations after the database's user_version, then packs the
 * series_rollup rows whose agg is NULL (rows written by SQL, see
 * schema/004_series_rollup_agg.sql); 0 or -1 + err. */
int store_migrate(sqlite3 *db, char *err, size_t errlen);

/*
 * Reads at most max groups, most recently active first, with their latest
 * block and their run's latest policy. *out (malloc'd, caller frees) and
 * *n. Returns 0 or -1 + err.
 */
int store_restore(sqlite3 *db, size_t max, store_state **out, size_t *n, char *err, size_t errlen);

typedef struct store_writer store_writer;

/* A writer of the database at path reading q, with caches for `slots`
 * run and stream slots. Not started yet (nothing opened). NULL on out of
 * memory. */
store_writer *store_writer_new(const char *path, bqueue *q, size_t slots);

/*
 * One group's restart state, read on a connection of the caller's (a stream
 * that comes back after its slot was freed). Returns 1 when the group is
 * stored (out filled as by store_restore), 0 when it is not (out has only
 * its run's latest policy, if any), -1 on a database error.
 */
int store_lookup(sqlite3 *db, const char *run, const char *group, store_state *out);

/* Drops blocks older than keep_s seconds to their rollups, a bounded piece
 * between batches (retention.h); 0 keeps every block. Before start. */
void store_writer_set_retention(store_writer *w, double keep_s);

/* Before start: the zmq context in which the writer connects to the
 * estimators' pipe (ESTIMATOR_PIPE) to tell ingest of passed barriers. */
void store_writer_notify(store_writer *w, void *zmq_ctx);

/*
 * Starts the thread and waits for its start-up: it opens the database
 * (store_open: created if needed, migrated, packed), prepares its
 * statements and reads at most restore_max groups' restart state
 * (store_restore; store_writer_restored hands it over). Returns 0, or -1
 * with err saying why ("database PATH: reason", as store_open) after the
 * thread ended and closed the connection, so a failed start can remove
 * the file it created.
 */
int store_writer_start(store_writer *w, size_t restore_max, char *err, size_t errlen);

/* After start: the restart state read (malloc'd, the caller's; *n rows,
 * most recently active first). Once; NULL afterwards. */
store_state *store_writer_restored(store_writer *w, size_t *n);

/* htgad is stopping: a batch that still fails at deadline_ms (on
 * health_now_ms()'s clock) is given up and its rows counted in rows_lost,
 * and lock waits end there, so the stop ends. Any thread. */
void store_writer_stop_by(store_writer *w, int64_t deadline_ms);

/* Hands it to the writer's queue q, waiting while the queue is full (the
 * writer may be retrying a failed batch): nothing is dropped here, the wait
 * is the back-pressure on the caller. Counts the waits (writer_queue_full)
 * and marks them as waits, not stalls, in the caller's heartbeat. */
void store_push(bqueue *q, store_item *it);

/* Waits for the thread to end (push a STORE_STOP item first) and frees w;
 * NULLs *w. Accepts NULL. */
void store_writer_join(store_writer **w);

/* Seconds since the Unix epoch, ms precision (for created_at). */
double store_now(void);

#endif /* HTGAD_STORE_H */
